//! `triage agent`: the long-running node agent (see the `agent` crate). This module only turns
//! flags into an `agent::Config`, resolves `--out` like every other verb, and waits for SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::snapshot::parse_duration;

#[derive(Args, Debug)]
#[command(
    about = "Watch every cgroup of this node; dump a JVM's heap before the kernel OOM-kills its container; serve Prometheus metrics.",
    after_help = "Runs until SIGTERM or SIGINT (or --exit-after). Captures (heap dumps, snapshot bundles, a JSON record each) are written to the spool only when complete and shipped to --out; a sink that is down keeps them in the spool, retried with backoff. On Kubernetes, deploy it as the DaemonSet in deploy/ (hostPID, read-only host /proc and /sys/fs/cgroup)."
)]
pub struct AgentArgs {
    /// Where captures go: a local directory (captures stay there), or file://, s3://, gs://,
    /// az:// (captures wait in --spool until uploaded).
    #[arg(long, value_name = "PATH|URL")]
    pub out: Option<String>,
    /// Local directory for finished captures waiting for upload (on the node's disk).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/var/lib/triage-agent/spool"
    )]
    pub spool: PathBuf,
    /// Serve /metrics and /healthz here (`off` for no server). Keep it on localhost unless a
    /// scraper on another host needs it; captured data is never served.
    #[arg(long, value_name = "ADDR:PORT|off", default_value = "127.0.0.1:9464")]
    pub listen: String,
    /// Working set as a share of the memory limit at which a capture starts (`90%` or `0.9`).
    #[arg(long, value_name = "PERCENT", default_value = "90%", value_parser = parse_ratio)]
    pub threshold: f64,
    /// Start JVMs' attach listeners (and re-read fast) this far below the threshold.
    #[arg(long, value_name = "PERCENT", default_value = "10%", value_parser = parse_ratio)]
    pub arm_margin: f64,
    /// Capture a container at most once per this long.
    #[arg(long, value_name = "DUR", default_value = "30m", value_parser = parse_duration)]
    pub cooldown: Duration,
    /// Captures running at once on this node.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_concurrent: usize,
    /// Bytes that must stay free on the spool's filesystem (a capture that would eat into them
    /// is refused); the larger of this and --min-free-share applies.
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_bytes)]
    pub min_free: u64,
    /// Share of the spool's filesystem that must stay free.
    #[arg(long, value_name = "PERCENT", default_value = "5%", value_parser = parse_ratio)]
    pub min_free_share: f64,
    /// The spool never grows past this; new captures are refused instead of deleting old ones.
    #[arg(long, value_name = "BYTES", default_value = "20GiB", value_parser = parse_bytes)]
    pub spool_max: u64,
    /// Memory PSI trigger: fire when tasks of a cgroup stalled this long within --psi-window.
    #[arg(long, value_name = "DUR", default_value = "300ms", value_parser = parse_duration)]
    pub psi_stall: Duration,
    /// The PSI window: 0.5 to 10 s, and a multiple of 2 s unless the agent has CAP_SYS_RESOURCE.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = parse_duration)]
    pub psi_window: Duration,
    /// No PSI triggers.
    #[arg(long)]
    pub no_psi: bool,
    /// Sample every watched cgroup this often (hot ones every 100 ms).
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub sample_interval: Duration,
    /// Look for new processes and cgroups this often.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    pub discovery_interval: Duration,
    /// Where the JVM writes the dump, as the JVM sees it (read back through /proc/<pid>/root).
    #[arg(long, value_name = "DIR", default_value = "/tmp")]
    pub dump_dir: PathBuf,
    /// Dump live objects only (a full GC first: slower, and it can need memory the container
    /// no longer has).
    #[arg(long)]
    pub live: bool,
    /// No snapshot bundle beside the heap dump.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Only watch cgroups whose path starts with this (repeatable), e.g. /kubepods.
    #[arg(long, value_name = "PATH")]
    pub cgroup_prefix: Vec<String>,
    /// The host's cgroup hierarchies.
    #[arg(long, value_name = "DIR", default_value = "/sys/fs/cgroup")]
    pub cgroup_root: PathBuf,
    /// The host's /proc (needs the host pid namespace).
    #[arg(long, value_name = "DIR", default_value = "/proc")]
    pub proc_root: PathBuf,
    /// Container runtimes' state, for pod and container names (containerd, CRI-O).
    #[arg(long, value_name = "DIR", default_value = "/run")]
    pub runtime_root: PathBuf,
    /// Stop by itself after this long (for tests and benchmarks).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub exit_after: Option<Duration>,
}

/// `90%` → 0.9, `0.9` → 0.9.
fn parse_ratio(s: &str) -> Result<f64, String> {
    let value = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => s.trim().parse::<f64>(),
    }
    .map_err(|_| format!("`{s}` is not a percentage (like 90% or 0.9)"))?;
    if !(0.0..=1.0).contains(&value) {
        return Err(format!("`{s}` is outside 0 to 100 %"));
    }
    Ok(value)
}

/// `1GiB`, `500M`, `1048576`.
fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("`{s}` is not a size (like 1GiB or 500M)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("`{s}`: unknown unit {unit:?} (use K, M, G or T)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("`{s}` is too large"))
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, std::ptr::null_mut());
        }
    }
}

pub fn run(args: AgentArgs) -> anyhow::Result<u8> {
    let (spool_dir, destination) = match &args.out {
        None => (args.spool.clone(), None),
        Some(spec) => {
            let dest = sink::Destination::parse(
                spec,
                &sink::Env::from_process(),
                sink::RetrySettings::default(),
            )
            .with_context(|| format!("--out {spec}"))?;
            match dest {
                // A local directory is the final place: captures are spooled right there.
                sink::Destination::Local { path, .. } => (path, None),
                remote => (args.spool.clone(), Some(remote)),
            }
        }
    };
    let listen = if args.listen == "off" {
        None
    } else {
        Some(args.listen.parse::<SocketAddr>().with_context(|| {
            format!(
                "--listen {}: expected ADDR:PORT like 127.0.0.1:9464, or off",
                args.listen
            )
        })?)
    };
    let config = agent::Config {
        cgroup_root: args.cgroup_root,
        proc_root: args.proc_root,
        runtime_root: args.runtime_root,
        cgroup_prefixes: args.cgroup_prefix,
        threshold: args.threshold,
        arm_margin: args.arm_margin,
        psi: (!args.no_psi).then_some((args.psi_stall, args.psi_window)),
        sample_interval: args.sample_interval,
        discovery_interval: args.discovery_interval,
        cooldown: args.cooldown,
        listen,
        destination,
        exit_after: args.exit_after,
        capture: agent::CaptureSettings {
            spool_dir,
            dump_dir_in_target: args.dump_dir,
            max_concurrent: args.max_concurrent.max(1),
            min_free_bytes: args.min_free,
            min_free_ratio: args.min_free_share,
            spool_max_bytes: args.spool_max,
            live_only: args.live,
            ..agent::CaptureSettings::default()
        },
        ..agent::Config::default()
    };
    let snapshotter: Option<Arc<dyn agent::Snapshotter>> = if args.no_snapshot {
        None
    } else {
        let program = std::env::current_exe().context("finding this program for snapshots")?;
        Some(Arc::new(agent::CommandSnapshotter { program }))
    };
    install_signal_handlers();
    let handle = agent::start(config, snapshotter).context("starting the agent")?;
    if let Some(addr) = handle.metrics_addr {
        eprintln!("triage agent: serving http://{addr}/metrics and /healthz");
    }
    while !handle.is_finished() {
        if SIGNALLED.load(Ordering::SeqCst) {
            tracing::info!("stopping: finishing running captures");
            handle.stop();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let records = handle.join();
    // One JSON line per capture made during this run, on stdout.
    let mut stdout = std::io::stdout().lock();
    for record in &records {
        use std::io::Write;
        let line = serde_json::to_string(record).context("encoding a capture record")?;
        writeln!(stdout, "{line}").context("writing to stdout")?;
    }
    Ok(crate::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_sizes() {
        assert_eq!(parse_ratio("90%"), Ok(0.9));
        assert_eq!(parse_ratio("0.85"), Ok(0.85));
        assert!(parse_ratio("120%").is_err());
        assert!(parse_ratio("x").is_err());
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("500M"), Ok(500 << 20));
        assert_eq!(parse_bytes("42"), Ok(42));
        assert!(parse_bytes("12 parsecs").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
