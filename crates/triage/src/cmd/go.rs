//! `triage go profile SOURCE`: fetch a Go service's pprof profiles over HTTP, all at once (the CPU
//! profile runs while the others are taken), keep them exactly as they came plus a parsed summary of
//! each, in a directory or a bundle (`.tar.zst`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde::Serialize;

use super::analyze_profile;

#[derive(Subcommand, Debug)]
pub enum GoCommand {
    /// Capture pprof profiles from a Go service that imports net/http/pprof.
    ///
    /// With no profile flag, captures everything: a 30 s CPU profile plus heap, allocs, goroutine,
    /// block, mutex and threadcreate, all fetched concurrently. Services usually serve pprof on a
    /// localhost-only port: name the pod (`pod/NAME --port 6060`) and triage reaches it through
    /// port-forward; never expose it.
    Profile(ProfileArgs),
}

#[derive(Args, Debug)]
pub struct ProfileArgs {
    /// Base URL of the service's pprof server, e.g. http://127.0.0.1:6060 (the /debug/pprof/ prefix
    /// is added), or a pod (`pod/NAME`, `deploy/NAME`… with -n) reached through port-forward.
    pub source: String,
    /// For pods: the port the pprof server listens on [default: the prometheus.io/port annotation,
    /// or the container port named `metrics`].
    #[arg(long)]
    pub port: Option<u16>,
    /// CPU profile of this length (`30s`, `1m`, whole seconds; Go's endpoint takes seconds).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub cpu: Option<Duration>,
    /// In-use and allocated heap at the last GC.
    #[arg(long)]
    pub heap: bool,
    /// Allocations since the program started.
    #[arg(long)]
    pub allocs: bool,
    /// Stacks of all goroutines (grouped by stack in the summary: leaks show as one big group).
    #[arg(long)]
    pub goroutine: bool,
    /// Where goroutines blocked (needs runtime.SetBlockProfileRate in the service).
    #[arg(long)]
    pub block: bool,
    /// Mutex contention (needs runtime.SetMutexProfileFraction in the service).
    #[arg(long)]
    pub mutex: bool,
    /// Stacks that created OS threads.
    #[arg(long)]
    pub threadcreate: bool,
    /// Where to store the capture: a directory, or a bundle when the name ends in `.tar.zst`
    /// (default: a new directory go-profiles-YYYYMMDD-HHMMSS).
    #[arg(long, value_name = "DIR|BUNDLE.tar.zst")]
    pub out: Option<PathBuf>,
    /// Give up on a profile after this long, on top of the CPU profile's own duration.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Largest profile accepted, in MiB (the transfer stops there).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub max_profile_mib: u64,
    /// Do not verify the server's TLS certificate (https:// sources only).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    #[command(flatten)]
    pub kube: super::pod::KubeArgs,
    /// Bundles only: the text members (summaries, top tables) and the manifest are redacted.
    #[command(flatten)]
    pub redact: super::redaction::RedactFlags,
}

pub fn run(command: GoCommand) -> anyhow::Result<u8> {
    match command {
        GoCommand::Profile(args) => profile(args),
    }
}

/// One profile to fetch.
#[derive(Debug, Clone)]
struct Wanted {
    name: &'static str,
    path: String,
    timeout: Duration,
}

/// The outcome of one fetch, as recorded in `summary.json`.
#[derive(Debug, Serialize)]
struct Captured {
    name: &'static str,
    url: String,
    file: Option<String>,
    bytes: u64,
    sha256: Option<String>,
    duration_ms: u64,
    error: Option<String>,
    summary: Option<ProfileSummary>,
}

#[derive(Debug, Serialize)]
struct ProfileSummary {
    sample_types: Vec<pprofile::SampleType>,
    sample_type: pprofile::SampleType,
    samples: usize,
    total: i64,
    total_text: String,
    top: Vec<pprofile::TopRow>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    goroutine_groups: Vec<pprofile::StackGroup>,
}

fn wanted_profiles(args: &ProfileArgs) -> Vec<Wanted> {
    let everything = args.cpu.is_none()
        && !(args.heap
            || args.allocs
            || args.goroutine
            || args.block
            || args.mutex
            || args.threadcreate);
    let mut wanted = Vec::new();
    let cpu = if everything {
        Some(Duration::from_secs(30))
    } else {
        args.cpu
    };
    if let Some(cpu) = cpu {
        let seconds = cpu.as_secs_f64().ceil().max(1.0) as u64;
        wanted.push(Wanted {
            name: "cpu",
            path: format!("/debug/pprof/profile?seconds={seconds}"),
            timeout: Duration::from_secs(seconds) + args.timeout,
        });
    }
    for (name, on) in [
        ("heap", args.heap),
        ("allocs", args.allocs),
        ("goroutine", args.goroutine),
        ("block", args.block),
        ("mutex", args.mutex),
        ("threadcreate", args.threadcreate),
    ] {
        if everything || on {
            wanted.push(Wanted {
                name,
                path: format!("/debug/pprof/{name}"),
                timeout: args.timeout,
            });
        }
    }
    wanted
}

fn profile(args: ProfileArgs) -> anyhow::Result<u8> {
    let from_pod = super::pod::is_kube_target(&args.source);
    let base = args.source.trim_end_matches('/').to_string();
    let base = base
        .strip_suffix("/debug/pprof")
        .unwrap_or(&base)
        .to_string();
    if !from_pod && args.port.is_some() {
        bail!("--port applies to pod sources; put the port in the URL instead");
    }
    if !(from_pod || base.starts_with("http://") || base.starts_with("https://")) {
        bail!(
            "SOURCE must be an http:// or https:// base URL such as http://127.0.0.1:6060, not {:?}",
            args.source
        );
    }
    if args.insecure_skip_verify && (from_pod || !base.starts_with("https://")) {
        bail!("--insecure-skip-verify only applies to https:// sources");
    }
    let started_at = jiff::Timestamp::now();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(format!(
            "go-profiles-{}",
            started_at.strftime("%Y%m%d-%H%M%S")
        ))
    });
    let as_bundle = out.to_string_lossy().ends_with(".tar.zst");
    if out.exists() {
        bail!("{} already exists; choose another --out", out.display());
    }
    // Built before anything is fetched, so a bad --redact-regex fails at once. The source URL
    // may carry a password (http://user:pass@host:6060): it is shown redacted.
    let redactor = args.redact.redactor()?;
    let wanted = wanted_profiles(&args);
    let max_bytes = args.max_profile_mib.saturating_mul(1 << 20);
    eprintln!(
        "triage: fetching {} from {} concurrently",
        wanted.iter().map(|w| w.name).collect::<Vec<_>>().join(", "),
        super::redaction::redact_text(redactor.as_deref(), &base)
    );
    let (base, results) = if from_pod {
        fetch_from_pod(&args, &wanted, max_bytes)?
    } else {
        let results = fetch_over_http(&base, &wanted, args.insecure_skip_verify, max_bytes)?;
        (base, results)
    };

    let mut captured = Vec::new();
    let mut files: Vec<(String, Vec<u8>, Option<String>)> = Vec::new();
    let limits = pprofile::Limits {
        max_decompressed_bytes: max_bytes.saturating_mul(8),
        ..pprofile::Limits::default()
    };
    for (w, body, elapsed) in results {
        let url = format!("{base}{}", w.path);
        match body {
            Ok(bytes) => {
                let file = format!("{}.pb.gz", w.name);
                let (summary, text, error) = match pprofile::parse_profile(&bytes, &limits) {
                    Ok(mut profile) => match summarize(&mut profile) {
                        Ok((summary, text)) => (Some(summary), Some(text), None),
                        Err(err) => (None, None, Some(format!("{err:#}"))),
                    },
                    Err(err) => (
                        None,
                        None,
                        Some(format!("stored as received, but it does not parse: {err}")),
                    ),
                };
                eprintln!(
                    "triage: {:<12} {} in {:.1}s{}",
                    w.name,
                    crate::output::human_bytes(bytes.len() as u64),
                    elapsed.as_secs_f64(),
                    error
                        .as_ref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                );
                captured.push(Captured {
                    name: w.name,
                    url,
                    file: Some(file.clone()),
                    bytes: bytes.len() as u64,
                    sha256: Some(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes))),
                    duration_ms: elapsed.as_millis() as u64,
                    error,
                    summary,
                });
                files.push((file, bytes, text));
            }
            Err(err) => {
                eprintln!(
                    "triage: {:<12} FAILED: {}",
                    w.name,
                    super::redaction::redact_text(redactor.as_deref(), &format!("{err:#}"))
                );
                captured.push(Captured {
                    name: w.name,
                    url,
                    file: None,
                    bytes: 0,
                    sha256: None,
                    duration_ms: elapsed.as_millis() as u64,
                    error: Some(format!("{err:#}")),
                    summary: None,
                });
            }
        }
    }
    let index = serde_json::json!({
        "schema": "triage.go-profiles/v1",
        "source": base,
        "started_at": started_at.to_string(),
        "profiles": captured,
    });

    if as_bundle {
        write_bundle(&out, &base, started_at, &files, &captured, &index, redactor)?;
    } else {
        write_directory(&out, &files, &index)?;
    }
    let failed = captured.iter().filter(|c| c.file.is_none()).count();
    eprintln!("triage: wrote {}", out.display());
    if failed > 0 {
        eprintln!(
            "triage: {failed} of {} profiles could not be fetched (see summary.json)",
            captured.len()
        );
        return Ok(crate::exit::FAILURE);
    }
    Ok(crate::exit::OK)
}

type Fetched = Vec<(Wanted, anyhow::Result<Vec<u8>>, Duration)>;

/// One thread per profile: the CPU profile blocks for its whole duration server-side, the others
/// return at once, so they are all taken while the CPU profile runs.
fn fetch_over_http(
    base: &str,
    wanted: &[Wanted],
    insecure_skip_verify: bool,
    max_bytes: u64,
) -> anyhow::Result<Fetched> {
    let agent = http_agent(insecure_skip_verify)?;
    Ok(std::thread::scope(|scope| {
        let handles: Vec<_> = wanted
            .iter()
            .map(|w| {
                let agent = agent.clone();
                let url = format!("{base}{}", w.path);
                let w = w.clone();
                scope.spawn(move || {
                    let started = Instant::now();
                    let body = fetch(&agent, &url, w.timeout, max_bytes);
                    (w, body, started.elapsed())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a fetch thread does not panic"))
            .collect()
    }))
}

/// The same requests through port-forward to a pod, each on its own connection, all at once.
fn fetch_from_pod(
    args: &ProfileArgs,
    wanted: &[Wanted],
    max_bytes: u64,
) -> anyhow::Result<(String, Fetched)> {
    let requests: Vec<(String, Duration)> =
        wanted.iter().map(|w| (w.path.clone(), w.timeout)).collect();
    let (source, answers) = super::pod::http_get_pod_many(
        &args.source,
        args.port,
        &requests,
        usize::try_from(max_bytes).unwrap_or(usize::MAX),
        &args.kube,
    )?;
    let results = wanted
        .iter()
        .zip(answers)
        .map(|(w, answer)| match answer {
            Ok((body, took)) => (w.clone(), Ok(body), took),
            Err(e) => (w.clone(), Err(e), Duration::ZERO),
        })
        .collect();
    Ok((source, results))
}

/// The parsed summary of one profile and its text report.
fn summarize(profile: &mut pprofile::Profile) -> anyhow::Result<(ProfileSummary, String)> {
    profile.prune_dropped_frames()?;
    let index = profile.sample_index(None)?;
    let mut options = pprofile::TopOptions::new(index);
    options.node_count = 25;
    let report = pprofile::top_functions(profile, &options);
    let groups = if profile.is_goroutine_profile() {
        pprofile::group_by_stack(profile, index)
    } else {
        Vec::new()
    };
    let mut text = Vec::new();
    for line in analyze_profile::header_lines(profile, &report) {
        text.extend_from_slice(line.as_bytes());
        text.push(b'\n');
    }
    analyze_profile::write_top_table(&report, &mut text)?;
    for group in groups.iter().take(10) {
        use std::io::Write;
        writeln!(text, "\n{} goroutines:", group.count)?;
        for frame in &group.frames {
            writeln!(
                text,
                "    {}\n        {}:{}",
                frame.function, frame.file, frame.line
            )?;
        }
    }
    let summary = ProfileSummary {
        sample_types: profile.sample_types(),
        sample_type: report.sample_type.clone(),
        samples: profile.sample_count(),
        total: report.total,
        total_text: report.format_value(report.total),
        top: report.rows.clone(),
        goroutine_groups: groups.into_iter().take(10).collect(),
    };
    Ok((summary, String::from_utf8_lossy(&text).into_owned()))
}

fn write_directory(
    out: &Path,
    files: &[(String, Vec<u8>, Option<String>)],
    index: &serde_json::Value,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, bytes, text) in files {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        if let Some(text) = text {
            let path = out.join(format!("{}.top.txt", name.trim_end_matches(".pb.gz")));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    let path = out.join("summary.json");
    std::fs::write(&path, serde_json::to_vec_pretty(index)?)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_bundle(
    out: &Path,
    base: &str,
    started_at: jiff::Timestamp,
    files: &[(String, Vec<u8>, Option<String>)],
    captured: &[Captured],
    index: &serde_json::Value,
    redactor: Option<Arc<redact::Redactor>>,
) -> anyhow::Result<()> {
    let mut writer = bundle::BundleWriter::create(out, base, started_at)
        .with_context(|| format!("creating the bundle {}", out.display()))?;
    // Profiles are binary (stored as they came, marked sensitive); the summaries, top tables and
    // the manifest (its target is the source URL) are redacted.
    super::redaction::install(redactor, &mut writer);
    for c in captured {
        writer.record_collector(bundle::manifest::CollectorRecord {
            name: format!("go/pprof/{}", c.name),
            status: if c.file.is_some() {
                bundle::manifest::CollectorStatus::Ok
            } else {
                bundle::manifest::CollectorStatus::Failed
            },
            error: c.error.clone(),
            duration_ms: c.duration_ms,
        });
    }
    for (name, bytes, text) in files {
        writer
            .add_member(
                &format!("go/pprof/{name}"),
                bytes,
                bundle::writer::MemberOptions {
                    kind: bundle::manifest::FileKind::Binary,
                    sensitive: true,
                    truncated: None,
                },
            )
            .with_context(|| format!("adding {name} to the bundle"))?;
        if let Some(text) = text {
            writer
                .add_text(
                    &format!("go/pprof/{}.top.txt", name.trim_end_matches(".pb.gz")),
                    text.as_bytes(),
                )
                .with_context(|| format!("adding the summary of {name} to the bundle"))?;
        }
    }
    writer
        .add_json("go/pprof/summary.json", index)
        .context("adding summary.json to the bundle")?;
    writer
        .finish()
        .with_context(|| format!("finishing the bundle {}", out.display()))?;
    Ok(())
}

fn http_agent(insecure: bool) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{TlsConfig, TlsProvider};
    // aws-lc-rs only, like every other HTTP client in this binary.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .disable_verification(insecure)
        .build();
    let config = ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.into())
}

/// GET `url` within `timeout`, refusing bodies over `max_bytes`.
fn fetch(
    agent: &ureq::Agent,
    url: &str,
    timeout: Duration,
    max_bytes: u64,
) -> anyhow::Result<Vec<u8>> {
    let mut response = agent
        .get(url)
        .config()
        .timeout_global(Some(timeout))
        .build()
        .call()
        .map_err(|err| match err {
            ureq::Error::Timeout(_) => anyhow::anyhow!(
                "GET {url}: no complete answer within {:.0}s; is the address right and the port open? (--timeout)",
                timeout.as_secs_f64()
            ),
            other => anyhow::Error::new(other).context(format!("GET {url}")),
        })?;
    let status = response.status();
    if !status.is_success() {
        let mut text = String::new();
        let _ = response
            .body_mut()
            .as_reader()
            .take(512)
            .read_to_string(&mut text);
        bail!(
            "GET {url} returned HTTP {}: {}; does the service import net/http/pprof on this port?",
            status.as_u16(),
            text.trim()
        );
    }
    let mut body = Vec::new();
    let mut reader = response
        .body_mut()
        .as_reader()
        .take(max_bytes.saturating_add(1));
    if let Err(err) = reader.read_to_end(&mut body) {
        let timed_out = err.kind() == std::io::ErrorKind::TimedOut
            || err
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
        if timed_out {
            bail!(
                "GET {url}: the body did not end within {:.0}s ({} received); the server may stream without end (--timeout)",
                timeout.as_secs_f64(),
                body.len()
            );
        }
        return Err(anyhow::Error::new(err).context(format!(
            "GET {url}: reading the body after {} bytes",
            body.len()
        )));
    }
    if body.len() as u64 > max_bytes {
        bail!(
            "GET {url}: the profile exceeds --max-profile-mib ({max_bytes} bytes); raise it if the profile is genuine"
        );
    }
    Ok(body)
}

/// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 30s or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    if !(seconds > 0.0 && seconds < 1e7) {
        return Err(format!("{text:?} must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("3 weeks").is_err());
    }
}
