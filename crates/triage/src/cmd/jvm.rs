//! `triage jvm …`: thread dumps, class histograms, any diagnostic command and heap dumps from a
//! HotSpot JVM, spoken natively over its attach socket (no JDK needed in the target or here).
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use hotspot::{AttachOptions, Compression, ExecOptions, HeapDumpOptions, Jvm, Progress};
use indicatif::{ProgressBar, ProgressStyle};

use crate::exit;
use crate::output::{human_bytes, table};

const TARGET_HELP: &str = "The JVM: pid:N (host pid; containers are reached through /proc/N/root), or pod/NAME, deploy/NAME, sts/NAME, ds/NAME with -n NAMESPACE (jcmd in the container, or --via ephemeral --image IMAGE)";

#[derive(Subcommand, Debug)]
pub enum JvmCommand {
    /// Thread dump with lock information (like `jstack -l`), as the JVM prints it.
    Threads(ThreadsArgs),
    /// Class histogram: instances and shallow bytes per class (live objects after a full GC,
    /// or every object with --all).
    Histogram(HistogramArgs),
    /// Run any diagnostic command, e.g. `triage jvm jcmd pid:42 -- GC.heap_info`; the output is
    /// the JVM's, unchanged.
    Jcmd(JcmdArgs),
    /// Heap dump: written in the target's own /tmp, streamed out through /proc/<pid>/root
    /// (compressed with zstd unless the output ends in .hprof), then deleted in the target.
    Heapdump(HeapdumpArgs),
}

/// `pid:N`, or a Kubernetes target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JvmTarget {
    Pid(u32),
    Kube(String),
}

fn parse_target(s: &str) -> Result<JvmTarget, String> {
    if super::pod::is_kube_target(s) {
        return Ok(JvmTarget::Kube(s.to_string()));
    }
    let pid = s.strip_prefix("pid:").ok_or_else(|| {
        format!("`{s}` is not a JVM target: use pid:N (e.g. pid:1234) or pod/NAME")
    })?;
    match pid.parse::<u32>() {
        Ok(pid) if pid > 0 => Ok(JvmTarget::Pid(pid)),
        _ => Err(format!(
            "`{pid}` is not a process id: use pid:N (e.g. pid:1234)"
        )),
    }
}

#[derive(Args, Debug)]
pub struct Waits {
    /// Seconds to wait for the JVM to answer (for heapdump: for the dump file to grow) before
    /// giving up.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
    /// Seconds to wait for the attach listener to start after SIGQUIT.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    attach_timeout: u64,
}

#[derive(Args, Debug)]
pub struct ThreadsArgs {
    #[arg(value_parser = parse_target, help = TARGET_HELP)]
    target: JvmTarget,
    #[command(flatten)]
    waits: Waits,
    #[command(flatten)]
    kube: super::pod::KubeArgs,
}

#[derive(Args, Debug)]
pub struct HistogramArgs {
    #[arg(value_parser = parse_target, help = TARGET_HELP)]
    target: JvmTarget,
    /// Count every object, reachable or not, and skip the full GC a live histogram costs.
    #[arg(long)]
    all: bool,
    /// Print JSON: {"histogram": [{"class", "instances", "bytes"}…], totals}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    waits: Waits,
    #[command(flatten)]
    kube: super::pod::KubeArgs,
}

#[derive(Args, Debug)]
pub struct JcmdArgs {
    #[arg(value_parser = parse_target, help = TARGET_HELP)]
    target: JvmTarget,
    /// The diagnostic command and its arguments, after `--` (e.g. `-- VM.flags -all`; `help`
    /// lists them).
    #[arg(last = true, required = true, value_name = "COMMAND")]
    command: Vec<String>,
    #[command(flatten)]
    waits: Waits,
    #[command(flatten)]
    kube: super::pod::KubeArgs,
}

#[derive(Args, Debug)]
pub struct HeapdumpArgs {
    #[arg(value_parser = parse_target, help = TARGET_HELP)]
    target: JvmTarget,
    /// Dump every object, reachable or not (no full GC before the dump).
    #[arg(long)]
    all: bool,
    /// Output file, directory, or s3://, gs://, az://, file:// URL (ending in / for the default
    /// name inside) [default: heap-<process name>-<UTC time>.hprof.zst]; plain HPROF when it ends
    /// in .hprof, zstd otherwise. Uploads stream as the dump is read (nothing on the local disk).
    #[arg(long, short = 'o', value_name = "PATH|URL")]
    out: Option<String>,
    /// Directory, as the JVM sees it, where the JVM writes the dump before it is copied out.
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    target_dir: PathBuf,
    /// Dump even if the target directory looks too small for the heap in use.
    #[arg(long)]
    no_space_check: bool,
    /// Print the result (path, sizes, sha256) as JSON.
    #[arg(long)]
    json: bool,
    /// Pods: also compute the class histogram, on the stream while it uploads (one pass), and
    /// store it next to the dump as <name>.histogram.json; the top classes are printed.
    #[arg(long)]
    analyze: bool,
    #[command(flatten)]
    waits: Waits,
    #[command(flatten)]
    kube: super::pod::KubeArgs,
}

pub fn run(command: JvmCommand) -> anyhow::Result<u8> {
    match command {
        JvmCommand::Threads(args) => threads(args),
        JvmCommand::Histogram(args) => histogram(args),
        JvmCommand::Jcmd(args) => jcmd(args),
        JvmCommand::Heapdump(args) => heapdump(args),
    }
}

/// Set by SIGINT/SIGTERM/SIGHUP so long operations stop and clean up the target.
static CANCEL: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    CANCEL.store(true, Ordering::SeqCst);
}

/// Route Ctrl-C (and termination) to [`CANCEL`]. No SA_RESTART: blocking reads return early.
fn install_cancel_handler() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction with a handler that only stores to an atomic (async-signal
        // safe) and an empty mask is valid.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

fn attach(pid: u32, waits: &Waits) -> anyhow::Result<Jvm> {
    let options = AttachOptions {
        attach_timeout: Duration::from_secs(waits.attach_timeout),
    };
    Jvm::attach_with(pid, &options).with_context(|| format!("attaching to the JVM pid:{pid}"))
}

/// Run a diagnostic command in a JVM of a pod and write its output to stdout.
fn jcmd_in_pod(target: &str, command: &[&str], kube: &super::pod::KubeArgs) -> anyhow::Result<u8> {
    let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    let output = super::pod::jcmd_pod(target, None, &command, kube)?;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(&output).context("writing to stdout")?;
    stdout.flush().context("writing to stdout")?;
    Ok(exit::OK)
}

fn exec_options(waits: &Waits) -> ExecOptions<'static> {
    ExecOptions {
        response_timeout: Duration::from_secs(waits.timeout),
        cancel: Some(&CANCEL),
    }
}

fn threads(args: ThreadsArgs) -> anyhow::Result<u8> {
    let pid = match &args.target {
        JvmTarget::Pid(pid) => *pid,
        JvmTarget::Kube(t) => return jcmd_in_pod(t, &["Thread.print", "-l"], &args.kube),
    };
    install_cancel_handler();
    let jvm = attach(pid, &args.waits)?;
    let mut stdout = std::io::stdout().lock();
    jvm.execute(
        "threaddump",
        &["-l"],
        &mut stdout,
        &exec_options(&args.waits),
    )
    .with_context(|| format!("thread dump of pid:{pid}"))?;
    stdout.flush().context("writing to stdout")?;
    Ok(exit::OK)
}

fn jcmd(args: JcmdArgs) -> anyhow::Result<u8> {
    install_cancel_handler();
    let line = args.command.join(" ");
    let pid = match &args.target {
        JvmTarget::Pid(pid) => *pid,
        JvmTarget::Kube(t) => {
            let words: Vec<&str> = args.command.iter().map(String::as_str).collect();
            return jcmd_in_pod(t, &words, &args.kube);
        }
    };
    let jvm = attach(pid, &args.waits)?;
    let mut stdout = std::io::stdout().lock();
    jvm.execute("jcmd", &[&line], &mut stdout, &exec_options(&args.waits))
        .with_context(|| format!("running `{line}` in pid:{pid}"))?;
    stdout.flush().context("writing to stdout")?;
    Ok(exit::OK)
}

fn histogram(args: HistogramArgs) -> anyhow::Result<u8> {
    install_cancel_handler();
    let (pid, histogram) = match &args.target {
        JvmTarget::Pid(pid) => {
            let jvm = attach(*pid, &args.waits)?;
            let histogram = jvm
                .class_histogram(args.all, &exec_options(&args.waits))
                .with_context(|| format!("class histogram of pid:{pid}"))?;
            (Some(*pid), histogram)
        }
        JvmTarget::Kube(t) => {
            let mut command = vec!["GC.class_histogram".to_string()];
            if args.all {
                command.push("-all".into());
            }
            let output = super::pod::jcmd_pod(t, None, &command, &args.kube)?;
            let histogram = hotspot::parse_histogram(
                &String::from_utf8_lossy(&output),
                &hotspot::histogram::Limits::default(),
            );
            if histogram.histogram.is_empty() {
                bail!(
                    "{t}: GC.class_histogram gave no classes: {}",
                    String::from_utf8_lossy(&output)
                        .chars()
                        .take(300)
                        .collect::<String>()
                );
            }
            (None, histogram)
        }
    };
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "pid": pid,
            "live_only": !args.all,
            "histogram": histogram.histogram,
            "total_instances": histogram.total_instances,
            "total_bytes": histogram.total_bytes,
        });
        serde_json::to_writer_pretty(&mut stdout, &value).context("writing JSON to stdout")?;
        writeln!(stdout).context("writing to stdout")?;
    } else {
        let mut rows: Vec<Vec<String>> = histogram
            .histogram
            .iter()
            .enumerate()
            .map(|(i, e)| {
                vec![
                    (i + 1).to_string(),
                    e.instances.to_string(),
                    human_bytes(e.bytes),
                    e.class.clone(),
                ]
            })
            .collect();
        rows.push(vec![
            "Total".into(),
            histogram.total_instances.to_string(),
            human_bytes(histogram.total_bytes),
            String::new(),
        ]);
        stdout
            .write_all(table(&["#", "INSTANCES", "BYTES", "CLASS"], &rows).as_bytes())
            .context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")?;
    Ok(exit::OK)
}

/// `heap-<name>-<UTC timestamp>.hprof.zst` in the current directory.
fn default_output_name(process_name: &str) -> PathBuf {
    let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ");
    PathBuf::from(format!("heap-{process_name}-{stamp}.hprof.zst"))
}

fn heapdump(args: HeapdumpArgs) -> anyhow::Result<u8> {
    let pid = match &args.target {
        JvmTarget::Pid(pid) => *pid,
        JvmTarget::Kube(t) => return heapdump_in_pod(t, &args),
    };
    if args.analyze {
        bail!(
            "--analyze applies to pod targets (the histogram is read off the stream); \
             for a dump of pid:{pid} run `triage analyze FILE` on it"
        );
    }
    install_cancel_handler();
    let jvm = attach(pid, &args.waits)?;
    let default_name = default_output_name(&jvm.target().name);
    let out = super::out::Out::resolve(args.out.as_deref(), &default_name.to_string_lossy())?;
    if let super::out::Out::Local(path) = &out
        && path.exists()
    {
        bail!(
            "{} already exists: choose another --out (triage never overwrites a dump)",
            path.display()
        );
    }
    let options = HeapDumpOptions {
        live_only: !args.all,
        target_dir: args.target_dir.clone(),
        check_space: !args.no_space_check,
        stall_timeout: Duration::from_secs(args.waits.timeout),
        compression: Compression::for_path(&out.name_hint()),
        cancel: Some(&CANCEL),
    };
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} JVM pid {msg} writing the heap dump: {bytes} ({elapsed})",
        )
        .expect("valid progress template"),
    );
    bar.set_message(pid.to_string());
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut copying = false;
    let mut on_progress = |p: Progress| match p {
        Progress::Dumping { written_bytes } => bar.set_position(written_bytes),
        Progress::Copying {
            copied_bytes,
            total_bytes,
        } => {
            if !copying {
                copying = true;
                bar.set_length(total_bytes);
                bar.set_position(0);
                bar.reset_eta();
                bar.set_style(
                    ProgressStyle::with_template(
                        "{bar:30} copying out {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                    )
                    .expect("valid progress template"),
                );
            }
            bar.set_position(copied_bytes);
        }
    };
    let location = out.location();
    let result = match &out {
        super::out::Out::Local(path) => {
            hotspot::dump_heap_to_path(&jvm, &options, path, &mut on_progress)
                .map_err(anyhow::Error::from)
        }
        super::out::Out::Remote { dest, file_name } => {
            super::out::stream_to(dest, file_name, |writer| {
                hotspot::dump_heap(
                    &jvm,
                    &options,
                    writer,
                    Path::new(&location),
                    &mut |_| Ok(()),
                    &mut on_progress,
                )
                .map_err(anyhow::Error::from)
            })
            .and_then(|(report, receipt)| {
                // The store saw exactly the bytes that were hashed while they were produced.
                if receipt.sha256 != report.sha256 || receipt.size_bytes != report.output_bytes {
                    bail!(
                        "{location} holds {} bytes with sha256 {}, but {} bytes with sha256 {} were sent",
                        receipt.size_bytes,
                        receipt.sha256,
                        report.output_bytes,
                        report.sha256
                    );
                }
                Ok(report)
            })
        }
    };
    bar.finish_and_clear();
    let report = result.with_context(|| format!("heap dump of pid:{pid} to {location}"))?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let value = serde_json::json!({
            "pid": pid,
            "path": location,
            "live_only": !args.all,
            "report": report,
        });
        serde_json::to_writer_pretty(&mut stdout, &value).context("writing JSON to stdout")?;
        writeln!(stdout).context("writing to stdout")?;
    } else {
        writeln!(
            stdout,
            "{}\n  size    {} ({} bytes; dump {} bytes, {})\n  sha256  {}\n  time    dump {:.1} s, copy {:.1} s",
            location,
            human_bytes(report.output_bytes),
            report.output_bytes,
            report.dump_bytes,
            if report.compression == "zstd" { "zstd" } else { "uncompressed" },
            report.sha256,
            report.dump_ms as f64 / 1000.0,
            report.copy_ms as f64 / 1000.0,
        )
        .context("writing to stdout")?;
    }
    Ok(exit::OK)
}

/// `triage jvm heapdump pod/NAME`: dump in the container, then copied to a local file or
/// streamed pod → triage → store (zstd on the way unless the object name ends in .hprof), size
/// and sha256 verified against the pod's own; with `--analyze`, the class histogram is computed
/// on the same stream and stored next to the dump.
fn heapdump_in_pod(target: &str, args: &HeapdumpArgs) -> anyhow::Result<u8> {
    use super::pod::HeapDest;
    let now = jiff::Timestamp::now();
    let plain_name = sink::artifact_name("heap", target, now, "hprof");
    let out = args
        .out
        .as_deref()
        .map(|spec| super::out::Out::resolve(Some(spec), &plain_name))
        .transpose()?;
    let remote_name = match &out {
        // A prefix gets the default name, compressed on the way up; an object named in the URL
        // is stored under that name, compressed when it ends in .zst.
        Some(super::out::Out::Remote { dest, file_name })
            if dest
                .location_of(file_name)
                .ends_with(&format!("/{plain_name}")) =>
        {
            Some(format!("{plain_name}.zst"))
        }
        Some(super::out::Out::Remote { file_name, .. }) => Some(file_name.clone()),
        _ => None,
    };
    let dest = match (&out, &remote_name) {
        (Some(super::out::Out::Remote { dest, .. }), Some(name)) => HeapDest::Remote {
            dest,
            file_name: name,
        },
        (Some(super::out::Out::Local(path)), _) => HeapDest::Local(Some(path)),
        _ => HeapDest::Local(None),
    };
    let remote = matches!(dest, HeapDest::Remote { .. });
    let dump = super::pod::heapdump_pod_to(target, None, dest, args.analyze, &args.kube)?;
    // The small report goes next to the dump.
    let report_location = match (&dump.histogram, &out, &remote_name) {
        (Some(h), Some(super::out::Out::Remote { .. }), Some(_)) => {
            let doc = super::analyze_heap::histogram_doc(&dump.location, h);
            // Beside the dump: its own URL plus a suffix (the dump's URL may name the object).
            let report = format!("{}.histogram.json", dump.location);
            let super::out::Out::Remote { dest, file_name } =
                super::out::Out::resolve(Some(&report), "histogram.json")?
            else {
                bail!("{report}: not an object store location");
            };
            let (_, receipt) = super::out::stream_to(&dest, &file_name, |w| {
                serde_json::to_writer_pretty(&mut *w, &doc).context("writing the histogram")?;
                Ok(())
            })
            .with_context(|| format!("storing the histogram of {}", dump.location))?;
            Some(receipt.location)
        }
        (Some(h), _, _) => {
            let path = dump
                .local_path
                .as_ref()
                .map(|p| PathBuf::from(format!("{}.histogram.json", p.display())))
                .expect("a local dump has a path");
            let doc = super::analyze_heap::histogram_doc(&dump.location, h);
            std::fs::write(
                &path,
                serde_json::to_vec_pretty(&doc).context("encoding the histogram")?,
            )
            .with_context(|| format!("writing {}", path.display()))?;
            Some(path.display().to_string())
        }
        _ => None,
    };
    let verified = match &dump.dump.verification {
        kube_reach::copy::Verification::Verified => {
            "verified against the sha256 computed in the pod".to_string()
        }
        kube_reach::copy::Verification::Unverified(why) => format!("not verified: {why}"),
    };
    if args.json {
        let value = serde_json::json!({
            "target": target,
            "pod": dump.pod,
            "path": dump.location,
            "dump": dump.dump,
            "object": dump.object.as_ref().map(|r| serde_json::json!({
                "location": r.location,
                "size_bytes": r.size_bytes,
                "sha256": r.sha256,
            })),
            "histogram": report_location,
            "top_classes": dump.histogram.as_ref().map(|h| h.entries.iter().take(20).collect::<Vec<_>>()),
        });
        println!("{value}");
    } else {
        let mut text = format!("{}\n", dump.location);
        text.push_str(&format!(
            "  dump    {} ({} bytes), sha256 {}, {verified}\n",
            human_bytes(dump.dump.size_bytes),
            dump.dump.size_bytes,
            dump.dump.sha256
        ));
        if let Some(r) = &dump.object {
            text.push_str(&format!(
                "  object  {} ({} bytes{}), sha256 {}\n",
                human_bytes(r.size_bytes),
                r.size_bytes,
                if r.location.ends_with(".zst") {
                    ", zstd"
                } else {
                    ""
                },
                r.sha256
            ));
        }
        if let (Some(h), Some(loc)) = (&dump.histogram, &report_location) {
            text.push_str(&format!("  report  {loc}\n\n"));
            text.push_str(&super::analyze_heap::histogram_text(&dump.location, 20, h));
        }
        print!("{text}");
    }
    if remote {
        tracing::info!("the dump went straight to the store; nothing was written locally");
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_must_be_pid_colon_number() {
        assert_eq!(parse_target("pid:42"), Ok(JvmTarget::Pid(42)));
        assert_eq!(
            parse_target("pod/web-0"),
            Ok(JvmTarget::Kube("pod/web-0".into()))
        );
        assert!(parse_target("42").unwrap_err().contains("pid:N"));
        assert!(parse_target("pid:x").is_err());
        assert!(parse_target("pid:0").is_err());
        assert!(parse_target("pod:web-0").is_err());
    }

    #[test]
    fn default_name_has_process_name_and_utc_stamp() {
        let name = default_output_name("orders").to_string_lossy().into_owned();
        assert!(
            name.starts_with("heap-orders-") && name.ends_with("Z.hprof.zst"),
            "{name}"
        );
        let stamp = &name["heap-orders-".len()..name.len() - ".hprof.zst".len()];
        assert_eq!(stamp.len(), 16, "{stamp}");
        assert_eq!(&stamp[8..9], "T");
    }
}
