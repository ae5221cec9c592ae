//! `agent`: the long-running node agent behind `triage agent`. It discovers the cgroups of a
//! node and the JVM and Go processes in them, keeps a bounded history of their memory, CPU
//! throttling, memory pressure and conntrack figures, and catches a JVM's heap *before* the
//! kernel OOM-kills its container at the cgroup limit — the case `-XX:+HeapDumpOnOutOfMemoryError`
//! never sees. It serves its own figures and the per-container signals on a Prometheus
//! `/metrics` endpoint (and `/healthz`), bound to localhost unless told otherwise.
//!
//! Triggers use kernel notifications where they exist (v1 `cgroup.event_control` eventfds on
//! `memory.usage_in_bytes` thresholds and `memory.oom_control`; v2 PSI triggers on
//! `memory.pressure` and inotify on `memory.events`) rather than busy polling. Captures go
//! through the native HotSpot attach (`hotspot`), are written to a local spool only when
//! complete, and shipped to the `sink` destination with retries; a cooldown per container, a
//! node-wide concurrency limit and a disk-space guard keep a capture from making things worse.
//!
//! Not for: one-shot collection (`triage snapshot`, `triage jvm`), analysis, or anything that
//! serves captured data over HTTP. Figures are read with `hostprobe`; this crate only decides
//! when to read them and what to do about them. The HTTP server is a few dozen lines written by
//! hand because it answers two GET paths and nothing else.

pub mod capture;
pub mod cgroupfs;
pub mod history;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod procs;
pub mod watcher;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use capture::{CaptureRecord, CaptureSettings, CommandSnapshotter, Snapshotter};
pub use metrics::Stats;

/// The `reason` values of triggers.
pub const TRIGGER_REASONS: [&str; 5] = [
    "working_set",
    "memory_events_high",
    "memory_events_max",
    "memory_pressure",
    "oom",
];

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// What can stop the agent from starting.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "no cgroup hierarchy with a memory controller under {root}: mount the host's /sys/fs/cgroup there (read-only is enough) or pass --cgroup-root"
    )]
    NoCgroups { root: PathBuf },
    #[error("{what}: {source}")]
    Setup {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("listening on {addr} for /metrics: {source}; pick another --listen address")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the spool directory {dir}: {source}")]
    Spool {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Everything the agent is told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the host's cgroup hierarchies are (`/sys/fs/cgroup`).
    pub cgroup_root: PathBuf,
    /// The host's /proc (the agent needs the host pid namespace to attach).
    pub proc_root: PathBuf,
    /// Where container runtimes keep their state (`/run`), for pod and container names.
    pub runtime_root: PathBuf,
    /// Only watch cgroups whose path starts with one of these (empty: all).
    pub cgroup_prefixes: Vec<String>,
    /// Working set / limit at which a capture starts (0.9).
    pub threshold: f64,
    /// Below the threshold by this much, a cgroup is re-read fast and its JVMs' attach
    /// listeners are started ahead of the trigger.
    pub arm_margin: f64,
    /// PSI trigger on memory.pressure: (stall, window); `None` disables it. The window is 2 s
    /// by default because the kernel accepts nothing else from a process without
    /// CAP_SYS_RESOURCE.
    pub psi: Option<(Duration, Duration)>,
    pub sample_interval: Duration,
    pub hot_interval: Duration,
    pub discovery_interval: Duration,
    /// Samples kept per cgroup.
    pub history_len: usize,
    /// A container is captured at most once per cooldown.
    pub cooldown: Duration,
    pub max_cgroups: usize,
    pub max_processes: usize,
    pub capture: CaptureSettings,
    /// `/metrics` and `/healthz` (None: no HTTP server).
    pub listen: Option<SocketAddr>,
    /// Where finished captures are shipped; `None` keeps them in the spool.
    pub destination: Option<sink::Destination>,
    /// First wait before re-trying a failed upload (doubles up to 10 minutes).
    pub retry_interval: Duration,
    /// Stop by itself after this long (tests, benchmarks).
    pub exit_after: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            cgroup_root: PathBuf::from("/sys/fs/cgroup"),
            proc_root: PathBuf::from("/proc"),
            runtime_root: PathBuf::from("/run"),
            cgroup_prefixes: Vec::new(),
            threshold: 0.9,
            arm_margin: 0.1,
            psi: Some((Duration::from_millis(300), Duration::from_secs(2))),
            sample_interval: Duration::from_secs(10),
            hot_interval: Duration::from_millis(100),
            discovery_interval: Duration::from_secs(10),
            history_len: 60,
            cooldown: Duration::from_secs(30 * 60),
            max_cgroups: 5000,
            max_processes: 200_000,
            capture: CaptureSettings::default(),
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            destination: None,
            retry_interval: Duration::from_secs(30),
            exit_after: None,
        }
    }
}

impl Config {
    /// The usage ratio at which a cgroup becomes "hot" and its JVMs are prepared.
    pub fn arm_ratio(&self) -> f64 {
        (self.threshold - self.arm_margin).max(0.0)
    }
}

/// A running agent.
pub struct AgentHandle {
    /// Where `/metrics` is served (the real port when 0 was asked for).
    pub metrics_addr: Option<SocketAddr>,
    pub stats: Arc<Mutex<Stats>>,
    stop: Arc<AtomicBool>,
    watcher: Option<std::thread::JoinHandle<Vec<CaptureRecord>>>,
    shipper: Option<std::thread::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl AgentHandle {
    /// Ask the agent to stop (it finishes running captures first).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    /// The flag that stops the agent (for signal handlers).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// True once the watcher returned (stopped, or `exit_after` passed).
    pub fn is_finished(&self) -> bool {
        self.watcher.as_ref().is_none_or(|w| w.is_finished())
    }

    /// Wait for the watcher to stop; returns the captures it finished.
    pub fn join(mut self) -> Vec<CaptureRecord> {
        let records = self
            .watcher
            .take()
            .and_then(|w| w.join().ok())
            .unwrap_or_default();
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = self.shipper.take() {
            let _ = s.join();
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        records
    }
}

impl Drop for AgentHandle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Start the agent: the watcher thread, the shipper thread (with a destination) and the HTTP
/// server (with `listen`).
pub fn start(
    config: Config,
    snapshotter: Option<Arc<dyn Snapshotter>>,
) -> Result<AgentHandle, Error> {
    let stats = Arc::new(Mutex::new(Stats {
        started_unix_seconds: unix_ms() / 1000,
        ..Stats::default()
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .thread_name("agent-io")
        .enable_all()
        .build()
        .map_err(|source| Error::Setup {
            what: "starting the async runtime",
            source,
        })?;
    let kick = Arc::new(capture::Kick::default());
    let capturer = capture::Capturer::new(
        config.capture.clone(),
        Arc::clone(&stats),
        snapshotter,
        config.destination.as_ref().map(|_| Arc::clone(&kick)),
    )
    .map_err(|source| Error::Spool {
        dir: config.capture.spool_dir.clone(),
        source,
    })?;
    let metrics_addr = match config.listen {
        Some(addr) => {
            let health = http::Health {
                max_pass_age: config.sample_interval.max(Duration::from_secs(1)) * 3
                    + Duration::from_secs(10),
            };
            let (bound, _task) = runtime
                .block_on(http::serve(addr, Arc::clone(&stats), health))
                .map_err(|source| Error::Listen { addr, source })?;
            tracing::info!(addr = %bound, "serving /metrics and /healthz");
            Some(bound)
        }
        None => None,
    };
    let shipper = match &config.destination {
        Some(dest) => {
            let shipper = capture::Shipper {
                destination: dest.clone(),
                spool_dir: config.capture.spool_dir.clone(),
                stats: Arc::clone(&stats),
                kick: Arc::clone(&kick),
                retry_interval: config.retry_interval,
                max_backoff: Duration::from_secs(600),
            };
            let handle = runtime.handle().clone();
            let stop = Arc::clone(&stop);
            Some(
                std::thread::Builder::new()
                    .name("agent-shipper".into())
                    .spawn(move || shipper.run(handle, stop))
                    .map_err(|source| Error::Setup {
                        what: "starting the shipper thread",
                        source,
                    })?,
            )
        }
        None => None,
    };
    let watcher = watcher::Watcher::new(config, Arc::clone(&stats), capturer)?;
    let watcher_stop = Arc::clone(&stop);
    let watcher = std::thread::Builder::new()
        .name("agent-watcher".into())
        .spawn(move || watcher.run(&watcher_stop))
        .map_err(|source| Error::Setup {
            what: "starting the watcher thread",
            source,
        })?;
    Ok(AgentHandle {
        metrics_addr,
        stats,
        stop,
        watcher: Some(watcher),
        shipper,
        runtime: Some(runtime),
    })
}
