//! `triage snapshot [TARGET]`: collect the host or a process tree, print it, write a bundle.
//!
//! Collection is `hostprobe::collect`; this module only turns arguments into options, renders
//! the result as terminal tables or JSON, and writes the bundle through the `bundle` crate.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use hostprobe::model::*;
use hostprobe::{CollectOptions, Collection, Root, Target};

use crate::output::{human_bytes, table};

#[derive(Args, Debug)]
#[command(
    after_help = "TARGETS:\n  host     this machine (default)\n  pid:N    process N, its descendants and its cgroup, seen through its mount and network namespaces\n\nDURATIONS: 500ms, 2s, 1m, or 0.\n\nThe bundle is written to triage-<target>-<UTC time>.tar.zst in the current directory (or --out);\nits path is printed on stderr. `triage bundle ls PATH` lists it."
)]
pub struct SnapshotArgs {
    /// `host` (default), `pid:N`, or a Kubernetes target: `pod/NAME`, `deploy/NAME`,
    /// `sts/NAME`, `ds/NAME` (or `-l SELECTOR`) with `-n NAMESPACE`.
    #[arg(default_value = "host", value_parser = parse_target)]
    pub target: String,
    /// Print one JSON document (schema triage.snapshot/v1) on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Do not write a bundle.
    #[arg(long)]
    pub no_bundle: bool,
    /// Where to write the bundle: a file, a directory, or an s3://, gs://, az:// or file:// URL
    /// (a URL ending in / gets the default name inside) [default: triage-<target>-<UTC time>.tar.zst
    /// here]. Uploads use this machine's AWS_/GOOGLE_/AZURE_ credentials.
    #[arg(long, value_name = "PATH|URL", conflicts_with = "no_bundle")]
    pub out: Option<String>,
    /// Take two samples this far apart and record counter deltas (throttling, OOM kills,
    /// conntrack drops); the interval is also the %CPU sample.
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Length of the %CPU sample; 0 gives lifetime %CPU like `ps` and the fastest snapshot.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "200ms")]
    pub cpu_sample: Duration,
    /// Time budget of each collector; one that needs longer is recorded as timed out.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "10s")]
    pub collector_timeout: Duration,
    /// Read every file under DIR instead of / (a mounted disk image, a fixture tree).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Rows per process and cgroup table in the terminal view.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Exit with code 3 when a finding at or above this severity is found (default: exit 0).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<super::analyze_bundle::FailOn>,
    /// Encrypt the bundle for this age recipient (`age1…`; repeat for several): the bundle is
    /// written as <name>.age and the unencrypted file removed. Decrypt with `age -d -i KEY`.
    #[arg(long, value_name = "RECIPIENT", conflicts_with = "no_bundle")]
    pub encrypt_to: Vec<String>,
    /// For `pid:N`: time for the JVM diagnostics (thread dump, class histogram, VM flags, heap
    /// and native memory summaries) of the HotSpot JVMs in the process tree; 0 skips them.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    pub jvm_timeout: Duration,
    /// Pods: give up on one pod after this long (its API reads and its container collectors
    /// each); what was collected is kept and the other pods go on.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    #[command(flatten)]
    pub redact: super::redaction::RedactFlags,
    #[command(flatten)]
    pub kube: super::pod::KubeArgs,
}

fn parse_target(s: &str) -> Result<String, String> {
    if super::pod::is_kube_target(s) {
        return Ok(s.to_string());
    }
    s.parse::<Target>()
        .map(|_| s.to_string())
        .map_err(|e| format!("{e}; or pod/NAME, deploy/NAME, sts/NAME, ds/NAME for Kubernetes"))
}

/// A snapshot of pods: reached through the Kubernetes API (see `cmd::pod`), delivered and
/// encrypted like a host snapshot.
fn run_kube(args: &SnapshotArgs) -> anyhow::Result<u8> {
    let target = (args.target != "host").then_some(args.target.as_str());
    if args.root != Path::new("/") || args.interval.is_some() {
        anyhow::bail!("--root and --interval apply to host and pid:N snapshots, not to pods");
    }
    if args.no_bundle {
        anyhow::bail!(
            "--no-bundle applies to host and pid:N snapshots; a pod snapshot is its bundle"
        );
    }
    let recipients = super::encrypt::Recipients::parse(&args.encrypt_to)?;
    let name = sink::artifact_name(
        "triage",
        target.unwrap_or("selector"),
        jiff::Timestamp::now(),
        "tar.zst",
    );
    let out = super::out::Out::resolve(args.out.as_deref(), &name)?;
    let local = matches!(out, super::out::Out::Local(_));
    let mut code = crate::exit::OK;
    let shown = out.deliver(|path| {
        code = super::pod::snapshot_pod(
            target,
            &args.kube,
            Some(path),
            args.json,
            args.timeout,
            &args.redact,
        )?;
        match &recipients {
            Some(r) => r.encrypt_file(path),
            None => Ok(path.to_path_buf()),
        }
    })?;
    // The pod snapshot already named a local, unencrypted bundle; name the final one otherwise.
    if !local || recipients.is_some() {
        eprintln!("bundle: {shown}");
    }
    Ok(code)
}

/// Parse `500ms`, `2s`, `1.5s`, `1m`, `1h`, `0`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration: use e.g. 500ms, 2s, 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        "" => return Err(format!("`{s}` needs a unit: ms, s, m or h")),
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`: use ms, s, m or h"
            ));
        }
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("`{s}` is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<u8> {
    if args.kube.selector.is_some() || super::pod::is_kube_target(&args.target) {
        return run_kube(&args);
    }
    let target: Target = args
        .target
        .parse()
        .map_err(|e: String| anyhow::anyhow!("{e}"))?;
    let started_at = jiff::Timestamp::now();
    // Where the bundle goes is settled before collecting, so a bad --out costs nothing.
    let recipients = super::encrypt::Recipients::parse(&args.encrypt_to)?;
    let out = if args.no_bundle {
        None
    } else {
        let default_name = default_bundle_name(&target, started_at);
        Some(super::out::Out::resolve(
            args.out.as_deref(),
            &default_name.to_string_lossy(),
        )?)
    };
    let options = CollectOptions {
        root: Root::new(&args.root),
        target,
        cpu_sample: args.cpu_sample,
        interval: args.interval,
        collector_timeout: args.collector_timeout,
        capture_raw: !args.no_bundle,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        ..CollectOptions::default()
    };
    if let Some(interval) = args.interval {
        tracing::info!("sampling twice, {} ms apart", interval.as_millis());
    }
    let mut collection = hostprobe::collect(&options)
        .with_context(|| format!("collecting a snapshot of {target}"))?;
    // A process tree on this machine: the JVMs in it give their own diagnostics.
    let mut jvms = Vec::new();
    if let Target::Pid(pid) = target
        && args.root == Path::new("/")
        && !args.jvm_timeout.is_zero()
    {
        let (captures, run) =
            super::snapshot_jvm::capture(&collection.snapshot, pid, args.jvm_timeout);
        jvms = captures;
        collection.snapshot.collectors.push(run);
    }

    // ---------------------------------------------------------------------------------------
    // The snapshot is complete here: `collection.snapshot` holds every section and every
    // collector's status, `collection.raw_files` the raw sources. Findings (analyze) and
    // redaction hook in at this point; everything below only renders and writes.
    // ---------------------------------------------------------------------------------------

    let analysis = super::analyze_bundle::findings_for(&collection.snapshot);
    let mut stdout = std::io::stdout().lock();
    if args.json {
        // The snapshot document with the findings beside it (`findings[]`, most severe first).
        let mut document =
            serde_json::to_value(&collection.snapshot).context("encoding the snapshot as JSON")?;
        if let serde_json::Value::Object(map) = &mut document {
            if !jvms.is_empty() {
                map.insert(
                    "jvms".into(),
                    serde_json::to_value(&jvms).context("encoding JVM diagnostics")?,
                );
            }
            map.insert(
                "findings".into(),
                serde_json::to_value(&analysis.findings).context("encoding findings")?,
            );
        }
        // Serialised whole, then written at once: stdout is line-buffered, and a write per line
        // costs thousands of system calls.
        let mut text =
            serde_json::to_vec_pretty(&document).context("encoding the snapshot as JSON")?;
        text.push(b'\n');
        stdout.write_all(&text).context("writing JSON to stdout")?;
    } else {
        let mut text = render(&collection.snapshot, args.top);
        super::snapshot_jvm::render(&mut text, &jvms);
        stdout
            .write_all(text.as_bytes())
            .context("writing to stdout")?;
        stdout.write_all(b"\n").context("writing to stdout")?;
        stdout
            .write_all(super::analyze_bundle::render_analysis(&analysis).as_bytes())
            .context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")?;
    drop(stdout);

    if let Some(out) = out {
        let shown = out.deliver(|path| {
            let written = write_bundle(
                &collection,
                &jvms,
                path,
                started_at,
                &args.redact,
                &analysis,
            )
            .with_context(|| format!("writing the bundle {}", path.display()))?;
            match &recipients {
                Some(r) => r.encrypt_file(&written),
                None => Ok(written),
            }
        })?;
        eprintln!("bundle: {shown}");
    }
    Ok(super::analyze_bundle::exit_code(&analysis, args.fail_on))
}

/// `triage-host-20240102T030405Z.tar.zst`, `triage-pid-123-….tar.zst`.
pub fn default_bundle_name(target: &Target, at: jiff::Timestamp) -> PathBuf {
    let target = target.to_string().replace(':', "-");
    let stamp = at.strftime("%Y%m%dT%H%M%SZ").to_string();
    PathBuf::from(format!("triage-{target}-{stamp}.tar.zst"))
}

/// Write `snapshot.json`, one JSON per collector under `collectors/`, and the raw sources
/// under `raw/` (their path inside the target), with every collector's status in the manifest.
pub fn write_bundle(
    collection: &Collection,
    jvms: &[super::snapshot_jvm::JvmCapture],
    path: &Path,
    started_at: jiff::Timestamp,
    redact: &super::redaction::RedactFlags,
    analysis: &analyze::Analysis,
) -> anyhow::Result<PathBuf> {
    let snapshot = &collection.snapshot;
    let mut writer = bundle::BundleWriter::create(path, &snapshot.target, started_at)?;
    writer.set_tool(bundle::ToolInfo {
        name: "triage".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        git_revision: Some(env!("TRIAGE_GIT_REVISION").into()),
    });
    // Every JSON and text member below goes through the redactor (command lines, kernel log, raw files).
    redact.apply(&mut writer)?;
    writer.add_json("snapshot.json", snapshot)?;
    writer.add_json(
        "findings.json",
        &serde_json::json!({ "schema": "triage.analysis/v1", "findings": analysis.findings }),
    )?;
    for run in &snapshot.collectors {
        let name = format!("collectors/{}.json", run.name);
        let section = collector_section(snapshot, &run.name);
        writer.add_json(
            &name,
            &serde_json::json!({ "collector": run, "data": section }),
        )?;
        writer.record_collector(bundle::CollectorRecord {
            name: run.name.clone(),
            status: match run.status {
                CollectorStatus::Ok => bundle::CollectorStatus::Ok,
                CollectorStatus::Failed => bundle::CollectorStatus::Failed,
                CollectorStatus::TimedOut => bundle::CollectorStatus::TimedOut,
                CollectorStatus::Skipped => bundle::CollectorStatus::Skipped,
            },
            error: run.error.clone(),
            duration_ms: run.duration_ms,
        });
    }
    super::snapshot_jvm::add_to_bundle(&mut writer, jvms)?;
    for (collector, raw) in &collection.raw_files {
        let member = format!("raw{}", sanitize_member_path(&raw.path));
        if let Err(e) = writer.add_member(
            &member,
            &raw.data,
            bundle::writer::MemberOptions {
                kind: bundle::FileKind::Text,
                sensitive: false,
                truncated: raw.truncated.as_deref(),
            },
        ) {
            tracing::warn!("{collector}: raw copy of {} not added: {e}", raw.path);
        }
    }
    Ok(writer.finish()?)
}

/// Turn a target path into a safe member path (`/proc/1/stat` → `/proc/1/stat`; empty, `.` and
/// `..` components dropped).
fn sanitize_member_path(path: &str) -> String {
    let mut out = String::new();
    for component in path
        .split('/')
        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
    {
        out.push('/');
        out.push_str(&component.replace('\0', "_"));
    }
    if out.is_empty() {
        "/unnamed".into()
    } else {
        out
    }
}

/// The part of the snapshot one collector produced.
fn collector_section(s: &Snapshot, name: &str) -> serde_json::Value {
    let value = match name {
        "system" => serde_json::to_value(&s.system),
        "memory" => serde_json::to_value(&s.memory),
        "processes" => serde_json::to_value(
            serde_json::json!({ "processes": s.processes, "process_summary": s.process_summary }),
        ),
        "mounts" => serde_json::to_value(&s.mounts),
        "filesystems" => serde_json::to_value(&s.filesystems),
        "block_devices" => serde_json::to_value(&s.block_devices),
        "cgroups" => serde_json::to_value(&s.cgroups),
        "conntrack" => serde_json::to_value(&s.conntrack),
        "network" => serde_json::to_value(&s.network),
        "kernel_log" => serde_json::to_value(&s.kernel_log),
        _ => Ok(serde_json::Value::Null),
    };
    value.unwrap_or(serde_json::Value::Null)
}

// ---------------------------------------------------------------------------------------------
// Terminal view
// ---------------------------------------------------------------------------------------------

fn opt_bytes(v: Option<u64>) -> String {
    v.map(human_bytes).unwrap_or_else(|| "-".into())
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// Keep the end of a long path (`…/pod1234/cri-containerd-abc.scope`).
fn shorten_left(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        s.to_string()
    } else {
        let tail: String = s.chars().skip(count - max.saturating_sub(1)).collect();
        format!("…{tail}")
    }
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n== {title} ==");
}

/// Render the whole snapshot as terminal tables.
pub fn render(s: &Snapshot, top: usize) -> String {
    let mut out = String::new();
    render_system(&mut out, s);
    render_memory(&mut out, s);
    render_processes(&mut out, s, top);
    render_filesystems(&mut out, s);
    render_mounts(&mut out, s);
    render_block_devices(&mut out, s);
    render_cgroups(&mut out, s, top);
    render_conntrack(&mut out, s);
    render_network(&mut out, s);
    render_kernel_log(&mut out, s);
    render_deltas(&mut out, s);
    render_collectors(&mut out, s);
    out
}

fn render_system(out: &mut String, s: &Snapshot) {
    let _ = writeln!(
        out,
        "triage snapshot of {} at {} ({})",
        s.target, s.finished_at, s.schema
    );
    heading(out, "system");
    let Some(sys) = &s.system else {
        let _ = writeln!(out, "(not collected: see collector failures)");
        return;
    };
    let uptime = sys.uptime_seconds.map(|u| {
        let u = u as u64;
        format!(
            "{}d {:02}:{:02}",
            u / 86_400,
            u % 86_400 / 3600,
            u % 3600 / 60
        )
    });
    let _ = writeln!(
        out,
        "host {}  kernel {}  os {}  up {}",
        sys.hostname.as_deref().unwrap_or("?"),
        sys.kernel_release.as_deref().unwrap_or("?"),
        sys.os_pretty_name.as_deref().unwrap_or("?"),
        uptime.as_deref().unwrap_or("?")
    );
    let load = sys.load.as_ref().map_or("?".to_string(), |l| {
        format!(
            "{:.2} {:.2} {:.2} ({}/{} tasks)",
            l.load1, l.load5, l.load15, l.runnable_tasks, l.total_tasks
        )
    });
    let busy = sys
        .cpu_busy_percent
        .map_or(String::new(), |b| format!("  busy {b:.1}%"));
    let _ = writeln!(out, "cpus {}  load {load}{busy}", sys.cpu_count);
    let psi = |name: &str, f: &Option<PressureFile>| -> String {
        match f.as_ref().and_then(|f| f.some.as_ref()) {
            Some(l) => {
                let full = f
                    .as_ref()
                    .and_then(|f| f.full.as_ref())
                    .map_or(String::new(), |x| {
                        format!(" full {:.2}/{:.2}", x.avg10_percent, x.avg60_percent)
                    });
                format!(
                    "{name} some {:.2}/{:.2}{full}",
                    l.avg10_percent, l.avg60_percent
                )
            }
            None => format!("{name} -"),
        }
    };
    let _ = writeln!(
        out,
        "pressure avg10/avg60 %: {}  {}  {}",
        psi("cpu", &sys.pressure.cpu),
        psi("memory", &sys.pressure.memory),
        psi("io", &sys.pressure.io)
    );
    let vm = sys.vmstat.clone().unwrap_or_default();
    let fd = sys.file_handles.as_ref().map_or("-".to_string(), |f| {
        format!("{}/{} ({})", f.allocated, f.max, pct(f.allocated, f.max))
    });
    let _ = writeln!(
        out,
        "oom kills since boot {}  major faults {}  file handles {fd}",
        vm.oom_kill.map_or("-".into(), |v| v.to_string()),
        vm.pgmajfault.map_or("-".into(), |v| v.to_string())
    );
}

fn render_memory(out: &mut String, s: &Snapshot) {
    heading(out, "memory");
    let Some(m) = &s.memory else {
        let _ = writeln!(out, "(not collected)");
        return;
    };
    let rows = vec![
        vec![
            "Mem:".into(),
            human_bytes(m.total_bytes),
            human_bytes(m.used_bytes),
            human_bytes(m.free_bytes),
            opt_bytes(m.shared_bytes),
            human_bytes(m.buffers_bytes + m.cache_bytes),
            opt_bytes(m.available_bytes),
        ],
        vec![
            "Swap:".into(),
            human_bytes(m.swap_total_bytes),
            human_bytes(m.swap_used_bytes),
            human_bytes(m.swap_free_bytes),
            String::new(),
            String::new(),
            String::new(),
        ],
    ];
    out.push_str(&table(
        &[
            "",
            "total",
            "used",
            "free",
            "shared",
            "buff/cache",
            "available",
        ],
        &rows,
    ));
}

fn render_processes(out: &mut String, s: &Snapshot, top: usize) {
    let ps = &s.process_summary;
    let basis = match (ps.cpu_percent_basis, ps.cpu_sample_ms) {
        (CpuPercentBasis::Sampled, Some(ms)) => format!("%CPU over {ms} ms"),
        _ => "%CPU over lifetime".to_string(),
    };
    heading(out, "processes");
    let _ = writeln!(
        out,
        "{} processes, {} threads: {} running, {} uninterruptible, {} zombie; {} vanished while read; {basis}",
        ps.total, ps.threads_total, ps.running, ps.uninterruptible, ps.zombies, ps.vanished
    );
    let by_pid: std::collections::HashMap<u32, &Process> =
        s.processes.iter().map(|p| (p.pid, p)).collect();
    let row = |p: &Process| -> Vec<String> {
        vec![
            p.pid.to_string(),
            shorten(
                p.user
                    .as_deref()
                    .unwrap_or(&p.uid.map_or("?".into(), |u| u.to_string())),
                10,
            ),
            format!("{:.1}", p.cpu_percent),
            format!("{:.1}", p.mem_percent),
            human_bytes(p.rss_bytes),
            human_bytes(p.vsz_bytes),
            p.state.clone(),
            p.threads.to_string(),
            p.start_time
                .as_deref()
                .map(|t| t.get(..16).unwrap_or(t).replace('T', " "))
                .unwrap_or_default(),
            shorten(&p.command, 70),
        ]
    };
    let header = [
        "PID", "USER", "%CPU", "%MEM", "RSS", "VSZ", "S", "THR", "START", "COMMAND",
    ];
    for (title, order) in [
        ("top by CPU", &ps.pids_by_cpu),
        ("top by memory", &ps.pids_by_memory),
    ] {
        let rows: Vec<Vec<String>> = order
            .iter()
            .filter_map(|pid| by_pid.get(pid))
            .take(top)
            .map(|p| row(p))
            .collect();
        let _ = writeln!(out, "-- {title}");
        out.push_str(&table(&header, &rows));
    }
}

fn render_filesystems(out: &mut String, s: &Snapshot) {
    heading(out, "filesystems");
    let rows: Vec<Vec<String>> = s
        .filesystems
        .iter()
        .map(|f| {
            vec![
                shorten(&f.source, 24),
                f.fs_type.clone(),
                human_bytes(f.size_bytes),
                human_bytes(f.used_bytes),
                human_bytes(f.available_bytes),
                f.use_percent.map_or("-".into(), |p| format!("{p:.0}%")),
                f.inodes_total.to_string(),
                f.inodes_used.to_string(),
                pct(f.inodes_used, f.inodes_total),
                f.mount_point.clone(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "Filesystem",
            "Type",
            "Size",
            "Used",
            "Avail",
            "Use%",
            "Inodes",
            "IUsed",
            "IUse%",
            "Mounted on",
        ],
        &rows,
    ));
}

fn render_mounts(out: &mut String, s: &Snapshot) {
    const MAX: usize = 60;
    heading(out, "mounts");
    let rows: Vec<Vec<String>> = s
        .mounts
        .iter()
        .take(MAX)
        .map(|m| {
            let source = if m.root != "/" {
                format!("{}[{}]", m.source, m.root)
            } else {
                m.source.clone()
            };
            vec![
                shorten(&m.mount_point, 50),
                shorten(&source, 40),
                m.fs_type.clone(),
                shorten(&m.options, 40),
            ]
        })
        .collect();
    out.push_str(&table(&["TARGET", "SOURCE", "FSTYPE", "OPTIONS"], &rows));
    if s.mounts.len() > MAX {
        let _ = writeln!(out, "… {} more (see --json)", s.mounts.len() - MAX);
    }
}

fn render_block_devices(out: &mut String, s: &Snapshot) {
    heading(out, "block devices");
    let flag = |b: Option<bool>| {
        b.map_or("-".into(), |b| {
            if b { "1".to_string() } else { "0".to_string() }
        })
    };
    let rows: Vec<Vec<String>> = s
        .block_devices
        .iter()
        .map(|b| {
            let name = if b.parent.is_some() {
                format!("└─{}", b.name)
            } else {
                b.name.clone()
            };
            vec![
                name,
                b.major_minor.clone().unwrap_or_default(),
                flag(b.removable),
                human_bytes(b.size_bytes),
                flag(b.read_only),
                b.kind.clone(),
                b.mount_points.join(","),
            ]
        })
        .collect();
    out.push_str(&table(
        &["NAME", "MAJ:MIN", "RM", "SIZE", "RO", "TYPE", "MOUNTPOINTS"],
        &rows,
    ));
}

fn render_cgroups(out: &mut String, s: &Snapshot, top: usize) {
    heading(out, "cgroups");
    let mut groups: Vec<&Cgroup> = s.cgroups.iter().collect();
    groups.sort_by_key(|c| std::cmp::Reverse(c.memory.as_ref().map_or(0, |m| m.working_set_bytes)));
    let rows: Vec<Vec<String>> = groups
        .iter()
        .take(top.max(1) * 2)
        .map(|c| {
            let m = c.memory.as_ref();
            let cpu = c.cpu.as_ref();
            let limit = m.and_then(|m| m.limit_bytes);
            let ws = m.map(|m| m.working_set_bytes);
            let ws_pct = match (ws, limit) {
                (Some(w), Some(l)) => pct(w, l),
                _ => "-".into(),
            };
            let oom = m
                .and_then(|m| m.oom_kills)
                .map_or("-".into(), |v| v.to_string());
            let events = m
                .and_then(|m| {
                    m.failcnt.or_else(|| {
                        m.events_local
                            .as_ref()
                            .or(m.events.as_ref())
                            .and_then(|e| e.max)
                    })
                })
                .map_or("-".into(), |v| v.to_string());
            let cpu_limit = cpu
                .and_then(|c| c.limit_cores)
                .map_or("-".into(), |v| format!("{v:.2}"));
            let throttled = match cpu.map(|c| (c.nr_throttled, c.nr_periods)) {
                Some((Some(t), Some(p))) => format!("{t}/{p}"),
                _ => "-".into(),
            };
            let throttled_time = cpu
                .and_then(|c| c.throttled_usec)
                .map_or("-".into(), |u| format!("{:.1}s", u as f64 / 1e6));
            let psi = c
                .pressure
                .as_ref()
                .and_then(|p| p.memory.as_ref())
                .and_then(|m| m.some.as_ref())
                .map_or("-".into(), |l| format!("{:.1}", l.avg10_percent));
            let who = c.container.as_ref().map_or(String::new(), |id| {
                let mut parts = Vec::new();
                if let Some(pod) = &id.pod_uid {
                    parts.push(format!("pod {}", pod.get(..8).unwrap_or(pod)));
                }
                if let Some(ctr) = &id.container_id {
                    parts.push(format!(
                        "{} {}",
                        id.runtime.as_deref().unwrap_or("ctr"),
                        ctr.get(..12).unwrap_or(ctr)
                    ));
                }
                parts.join(" ")
            });
            vec![
                shorten_left(&c.path, 40),
                match c.version {
                    CgroupVersion::V1 => "v1".into(),
                    CgroupVersion::V2 => "v2".into(),
                },
                c.pids.len().to_string(),
                opt_bytes(limit),
                opt_bytes(ws),
                ws_pct,
                oom,
                events,
                cpu_limit,
                throttled,
                throttled_time,
                psi,
                who,
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "CGROUP",
            "VER",
            "PIDS",
            "MEM LIMIT",
            "WORKING SET",
            "WS/LIM",
            "OOM",
            "MAX EV",
            "CPU LIM",
            "THROTTLED/PERIODS",
            "THR TIME",
            "MEM PSI10",
            "CONTAINER",
        ],
        &rows,
    ));
    if groups.len() > top.max(1) * 2 {
        let _ = writeln!(out, "… {} more (see --json)", groups.len() - top.max(1) * 2);
    }
}

fn render_conntrack(out: &mut String, s: &Snapshot) {
    heading(out, "conntrack");
    match &s.conntrack {
        None => {
            let _ = writeln!(out, "(not collected)");
        }
        Some(c) if !c.loaded => {
            let _ = writeln!(out, "nf_conntrack is not loaded in this network namespace");
        }
        Some(c) => {
            let usage = match (c.count, c.max) {
                (Some(n), Some(m)) => format!("{n}/{m} ({})", pct(n, m)),
                (Some(n), None) => format!("{n}/?"),
                _ => "?".into(),
            };
            let _ = write!(
                out,
                "entries {usage}  buckets {}",
                c.buckets.map_or("-".into(), |b| b.to_string())
            );
            if let Some(st) = &c.stats {
                let v = |x: Option<u64>| x.map_or("-".into(), |v| v.to_string());
                let _ = write!(
                    out,
                    "  drop {}  early_drop {}  insert_failed {}  invalid {}  ({} CPUs)",
                    v(st.drop),
                    v(st.early_drop),
                    v(st.insert_failed),
                    v(st.invalid),
                    st.cpus
                );
            }
            out.push('\n');
        }
    }
}

fn render_network(out: &mut String, s: &Snapshot) {
    heading(out, "sockets");
    let Some(n) = &s.network else {
        let _ = writeln!(out, "(not collected)");
        return;
    };
    let mut rows = Vec::new();
    for (name, t) in [
        ("tcp", &n.sockets.tcp),
        ("tcp6", &n.sockets.tcp6),
        ("udp", &n.sockets.udp),
        ("udp6", &n.sockets.udp6),
    ] {
        let Some(t) = t else {
            rows.push(vec![name.to_string(), "-".into(), "absent".into()]);
            continue;
        };
        let states = t
            .by_state
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push(vec![name.to_string(), t.total.to_string(), states]);
    }
    out.push_str(&table(&["PROTO", "TOTAL", "BY STATE"], &rows));
    heading(out, "interfaces");
    let rows: Vec<Vec<String>> = n
        .interfaces
        .iter()
        .map(|i| {
            vec![
                i.name.clone(),
                human_bytes(i.rx_bytes),
                i.rx_packets.to_string(),
                i.rx_errors.to_string(),
                i.rx_dropped.to_string(),
                human_bytes(i.tx_bytes),
                i.tx_packets.to_string(),
                i.tx_errors.to_string(),
                i.tx_dropped.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "IFACE", "RX", "RX PKTS", "RX ERRS", "RX DROP", "TX", "TX PKTS", "TX ERRS", "TX DROP",
        ],
        &rows,
    ));
}

fn render_kernel_log(out: &mut String, s: &Snapshot) {
    heading(out, "kernel log");
    let Some(k) = &s.kernel_log else {
        let _ = writeln!(out, "(not read: see collector failures)");
        return;
    };
    let _ = writeln!(
        out,
        "{} records read from {}{}: {} OOM kills, {} conntrack \"table full\" lines",
        k.records_read,
        k.source,
        if k.truncated { " (incomplete)" } else { "" },
        k.oom_kills.len(),
        k.conntrack_full_lines.len()
    );
    for kill in k.oom_kills.iter().rev().take(5) {
        let _ = writeln!(
            out,
            "  OOM kill {} pid {} ({}) anon-rss {} memcg {}",
            kill.time.as_deref().unwrap_or("?"),
            kill.pid.map_or("?".into(), |p| p.to_string()),
            kill.task.as_deref().unwrap_or("?"),
            opt_bytes(kill.anon_rss_bytes),
            kill.oom_memcg
                .as_deref()
                .or(kill.task_memcg.as_deref())
                .unwrap_or("-")
        );
    }
    for line in k.conntrack_full_lines.iter().rev().take(3) {
        let _ = writeln!(
            out,
            "  {} {}",
            line.time.as_deref().unwrap_or("?"),
            line.message
        );
    }
}

fn render_deltas(out: &mut String, s: &Snapshot) {
    let Some(d) = &s.deltas else { return };
    heading(out, &format!("changes over {} ms", d.interval_ms));
    let v = |x: Option<u64>| x.map_or("-".into(), |v| v.to_string());
    let _ = writeln!(
        out,
        "OOM kills {}  major faults {} ({}/s)",
        v(d.oom_kills),
        v(d.pgmajfault),
        d.pgmajfault_per_second
            .map_or("-".into(), |r| format!("{r:.0}"))
    );
    if let Some(c) = &d.conntrack {
        let _ = writeln!(
            out,
            "conntrack drop {}  early_drop {}  insert_failed {}",
            v(c.drop),
            v(c.early_drop),
            v(c.insert_failed)
        );
    }
    let rows: Vec<Vec<String>> = d
        .cgroups
        .iter()
        .filter(|c| {
            c.nr_throttled.unwrap_or(0) > 0
                || c.oom_kills.unwrap_or(0) > 0
                || c.memory_max_events.unwrap_or(0) > 0
                || c.memory_failcnt.unwrap_or(0) > 0
        })
        .map(|c| {
            vec![
                shorten_left(&c.path, 40),
                c.throttled_ratio
                    .map_or("-".into(), |r| format!("{:.0}%", r * 100.0)),
                v(c.nr_throttled),
                v(c.nr_periods),
                c.usage_cores.map_or("-".into(), |u| format!("{u:.2}")),
                v(c.oom_kills),
                v(c.memory_max_events.or(c.memory_failcnt)),
            ]
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "no cgroup was throttled, hit its memory limit or OOM-killed during the interval"
        );
    } else {
        out.push_str(&table(
            &[
                "CGROUP",
                "THROTTLED",
                "ΔTHROTTLED",
                "ΔPERIODS",
                "CORES",
                "ΔOOM",
                "ΔMAX/FAILCNT",
            ],
            &rows,
        ));
    }
}

fn render_collectors(out: &mut String, s: &Snapshot) {
    let problems: Vec<&CollectorRun> = s
        .collectors
        .iter()
        .filter(|c| c.status != CollectorStatus::Ok || c.error.is_some())
        .collect();
    heading(out, "collectors");
    if problems.is_empty() {
        let _ = writeln!(out, "all {} collectors ok", s.collectors.len());
        return;
    }
    for c in problems {
        let _ = writeln!(
            out,
            "{} {} ({} ms): {}",
            c.name,
            c.status,
            c.duration_ms,
            c.error.as_deref().unwrap_or("")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("ms").is_err());
        assert!(parse_duration("100h").is_err());
    }

    #[test]
    fn bundle_names_and_member_paths() {
        let at: jiff::Timestamp = "2024-01-02T03:04:05Z".parse().expect("timestamp");
        assert_eq!(
            default_bundle_name(&Target::Pid(12), at),
            PathBuf::from("triage-pid-12-20240102T030405Z.tar.zst")
        );
        assert_eq!(sanitize_member_path("/proc/../etc//x"), "/proc/etc/x");
        assert_eq!(sanitize_member_path(""), "/unnamed");
    }

    #[test]
    fn renders_an_empty_snapshot_without_panicking() {
        let text = render(&Snapshot::default(), 5);
        assert!(text.contains("== memory =="));
    }
}
