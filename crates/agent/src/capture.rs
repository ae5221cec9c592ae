//! Capture orchestration: on a trigger, a heap dump of every JVM of the cgroup through the
//! native attach, and a snapshot bundle of the container — limited so the capture itself never
//! pushes the node over: a node-wide concurrency limit, a disk-space guard on the spool, and a
//! cap on the spool's size. (The per-container cooldown is the watcher's, which knows the
//! containers.)
//!
//! Finished artifacts are renamed into the spool directory only when complete (work happens in
//! `<spool>/.work`), so anything in the spool is a whole capture. The [`Shipper`] uploads them to
//! `--out` and deletes a local copy only after its upload succeeded: a sink that is down keeps
//! captures in the spool, retried with backoff, across agent restarts too.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::{Labels, Stats};

/// What a trigger asks for.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    pub cgroup: String,
    pub labels: Labels,
    /// HotSpot JVMs in the cgroup (host pids).
    pub jvm_pids: Vec<u32>,
    /// A process of the cgroup for the snapshot bundle.
    pub snapshot_pid: Option<u32>,
    pub reason: &'static str,
    /// When the notification (or sample) that fired the trigger arrived.
    pub triggered_at: Instant,
    pub working_set_bytes: u64,
    pub limit_bytes: Option<u64>,
    /// The memory cgroup's directory and version, to read its OOM-kill count after the dump.
    pub memory_dir: Option<(crate::cgroupfs::Version, PathBuf)>,
    /// The cgroup's recent samples, oldest first, ending with the one that fired.
    pub history: Vec<crate::history::Sample>,
}

/// Makes the snapshot bundle of a process's container (the CLI runs `triage snapshot pid:N`).
pub trait Snapshotter: Send + Sync {
    /// Write a complete bundle to `dest` within `timeout`.
    fn snapshot(&self, pid: u32, dest: &Path, timeout: Duration) -> Result<(), String>;
}

/// Runs `<program> snapshot pid:N --out DEST --jvm-timeout 0s -q` in a child process, so a
/// snapshot that hangs or crashes never takes the agent with it; killed at the timeout. The heap
/// dump already holds the threads' stacks, so the bundle does not attach to the JVM again.
#[derive(Debug, Clone)]
pub struct CommandSnapshotter {
    pub program: PathBuf,
}

impl Snapshotter for CommandSnapshotter {
    fn snapshot(&self, pid: u32, dest: &Path, timeout: Duration) -> Result<(), String> {
        let mut child = std::process::Command::new(&self.program)
            .arg("-q")
            .arg("snapshot")
            .arg(format!("pid:{pid}"))
            .arg("--out")
            .arg(dest)
            .args(["--jvm-timeout", "0s", "--cpu-sample", "100ms"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.program.display()))?;
        let deadline = Instant::now() + timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    let mut err = String::new();
                    if let Some(mut s) = child.stderr.take() {
                        use std::io::Read;
                        let _ = (&mut s).take(4096).read_to_string(&mut err);
                    }
                    return if status.success() && dest.is_file() {
                        Ok(())
                    } else {
                        Err(format!("snapshot exited with {status}: {}", err.trim()))
                    };
                }
                Ok(None) if Instant::now() >= deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("snapshot took longer than {timeout:?}; stopped"));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(e) => return Err(format!("waiting for the snapshot: {e}")),
            }
        }
    }
}

/// Limits and places of the captures.
#[derive(Debug, Clone)]
pub struct CaptureSettings {
    /// Finished captures wait here (for upload, or for good when `--out` is this directory).
    pub spool_dir: PathBuf,
    /// Where the JVM writes the dump, as the JVM sees it (its own /tmp by default).
    pub dump_dir_in_target: PathBuf,
    /// Captures running at once on this node.
    pub max_concurrent: usize,
    /// Keep at least this many bytes free on the spool's filesystem after the capture.
    pub min_free_bytes: u64,
    /// …and at least this share of it.
    pub min_free_ratio: f64,
    /// The spool never grows past this (finished captures are never deleted to make room:
    /// new captures are refused instead).
    pub spool_max_bytes: u64,
    pub attach_timeout: Duration,
    /// A dump whose file stops growing this long is abandoned.
    pub dump_stall_timeout: Duration,
    pub snapshot_timeout: Duration,
    /// zstd level of the dump copy (0: plain `.hprof`).
    pub zstd_level: i32,
    /// Dump live objects only (a full GC first). Off by default: near the limit, the full GC
    /// itself needs fresh pages (survivors promoted into the old generation) and can push the
    /// container over before a single byte is written; the dump of every object is the safe one.
    pub live_only: bool,
}

impl Default for CaptureSettings {
    fn default() -> Self {
        CaptureSettings {
            spool_dir: PathBuf::from("/var/lib/triage-agent/spool"),
            dump_dir_in_target: PathBuf::from("/tmp"),
            max_concurrent: 1,
            min_free_bytes: 1 << 30,
            min_free_ratio: 0.05,
            spool_max_bytes: 20 << 30,
            attach_timeout: Duration::from_secs(10),
            dump_stall_timeout: Duration::from_secs(120),
            snapshot_timeout: Duration::from_secs(60),
            zstd_level: 1,
            live_only: false,
        }
    }
}

/// Why a trigger did not start a capture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{running} captures already running (limit {limit})")]
    Concurrency { running: usize, limit: usize },
    #[error(
        "not enough disk space in {dir}: {free_bytes} bytes free, the capture needs up to {needed_bytes} and {reserve_bytes} must stay free"
    )]
    DiskSpace {
        dir: String,
        free_bytes: u64,
        needed_bytes: u64,
        reserve_bytes: u64,
    },
    #[error(
        "the spool {dir} holds {spool_bytes} bytes of captures not yet shipped (limit {limit_bytes})"
    )]
    SpoolFull {
        dir: String,
        spool_bytes: u64,
        limit_bytes: u64,
    },
}

impl Refusal {
    /// The `reason` label of `triage_agent_capture_refusals_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::Concurrency { .. } => "concurrency",
            Refusal::DiskSpace { .. } => "disk_space",
            Refusal::SpoolFull { .. } => "spool_full",
        }
    }
}

/// What one capture produced (also written beside the artifacts as `<name>.json`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CaptureRecord {
    pub cgroup: String,
    pub labels: Labels,
    pub reason: String,
    pub working_set_bytes: u64,
    pub limit_bytes: Option<u64>,
    pub started_at: String,
    pub heap_dumps: Vec<HeapDumpRecord>,
    pub snapshot: Option<String>,
    pub errors: Vec<String>,
    pub duration_ms: u64,
    /// How the cgroup got here: its recent samples, oldest first.
    pub history: Vec<crate::history::Sample>,
}

/// One heap dump of a capture.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HeapDumpRecord {
    pub pid: u32,
    /// File name in the spool.
    pub file: String,
    pub dump_bytes: u64,
    pub output_bytes: u64,
    pub sha256: String,
    /// Trigger (the notification or sample that fired) to the dump command being sent, µs.
    pub trigger_to_dump_start_us: u64,
    pub dump_ms: u64,
    /// The JVM was still running when it reported its dump complete.
    pub target_alive_after: bool,
    /// OOM kills the kernel had counted in the cgroup when the JVM reported the dump complete.
    pub oom_kills_after: Option<u64>,
}

/// Free and total bytes of the filesystem holding `dir`.
pub fn disk_space(dir: &Path) -> std::io::Result<(u64, u64)> {
    let st = hostprobe::filesystems::statvfs(dir).map_err(std::io::Error::other)?;
    Ok((
        st.blocks_available.saturating_mul(st.fragment_size),
        st.blocks.saturating_mul(st.fragment_size),
    ))
}

/// Total size of the finished captures in `dir` (dot-names are work in progress).
pub fn spool_usage(dir: &Path) -> (u64, u64) {
    let mut files = 0;
    let mut bytes = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if let Ok(m) = e.metadata()
                && m.is_file()
            {
                files += 1;
                bytes += m.len();
            }
        }
    }
    (files, bytes)
}

fn file_safe(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches(['_', '.']);
    trimmed.chars().take(80).collect()
}

/// The name stem of a capture: `<namespace>_<pod>_<container>` when known, else the cgroup's
/// last component.
pub fn capture_stem(labels: &Labels) -> String {
    match (&labels.namespace, &labels.pod) {
        (Some(ns), Some(pod)) => {
            let mut s = format!("{ns}_{pod}");
            if let Some(c) = &labels.container {
                s.push('_');
                s.push_str(c);
            }
            file_safe(&s)
        }
        _ => {
            let last = labels.cgroup.rsplit('/').find(|c| !c.is_empty());
            file_safe(last.unwrap_or("root"))
        }
    }
}

/// Starts and tracks captures.
pub struct Capturer {
    settings: CaptureSettings,
    stats: Arc<Mutex<Stats>>,
    in_flight: Arc<AtomicUsize>,
    snapshotter: Option<Arc<dyn Snapshotter>>,
    /// JVMs whose attach listener was started ahead of a likely trigger.
    armed: Arc<Mutex<HashMap<u32, hotspot::Jvm>>>,
    arming: Arc<Mutex<std::collections::HashSet<u32>>>,
    shipper_kick: Option<Arc<Kick>>,
}

/// Wakes the shipper when a capture finished.
#[derive(Debug, Default)]
pub struct Kick {
    pending: Mutex<bool>,
    cond: Condvar,
}

impl Kick {
    pub fn notify(&self) {
        if let Ok(mut p) = self.pending.lock() {
            *p = true;
            self.cond.notify_all();
        }
    }

    /// Wait until notified or `timeout` passed.
    pub fn wait(&self, timeout: Duration) {
        let Ok(guard) = self.pending.lock() else {
            return;
        };
        if let Ok((mut guard, _)) = self.cond.wait_timeout_while(guard, timeout, |p| !*p) {
            *guard = false;
        }
    }
}

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|p| p.into_inner())
}

impl Capturer {
    pub fn new(
        settings: CaptureSettings,
        stats: Arc<Mutex<Stats>>,
        snapshotter: Option<Arc<dyn Snapshotter>>,
        shipper_kick: Option<Arc<Kick>>,
    ) -> std::io::Result<Capturer> {
        std::fs::create_dir_all(settings.spool_dir.join(".work"))?;
        // A crash mid-capture leaves partial files in .work: they were never finished captures.
        if let Ok(entries) = std::fs::read_dir(settings.spool_dir.join(".work")) {
            for e in entries.filter_map(|e| e.ok()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
        Ok(Capturer {
            settings,
            stats,
            in_flight: Arc::new(AtomicUsize::new(0)),
            snapshotter,
            armed: Arc::default(),
            arming: Arc::default(),
            shipper_kick,
        })
    }

    pub fn settings(&self) -> &CaptureSettings {
        &self.settings
    }

    /// Captures running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Start the attach listener of JVM `pid` in the background, so a trigger that follows
    /// costs only the dump command. Harmless to the JVM (it is what `jcmd` does) and done once.
    pub fn arm(&self, pid: u32) {
        {
            let mut arming = self.arming.lock().unwrap_or_else(|p| p.into_inner());
            if !arming.insert(pid) {
                return;
            }
        }
        let armed = Arc::clone(&self.armed);
        let timeout = self.settings.attach_timeout;
        let spawned = std::thread::Builder::new()
            .name(format!("arm-{pid}"))
            .spawn(move || {
                match hotspot::Jvm::attach_with(
                    pid,
                    &hotspot::client::AttachOptions {
                        attach_timeout: timeout,
                    },
                ) {
                    Ok(jvm) => {
                        tracing::info!(pid, "attach listener ready ahead of a possible trigger");
                        armed.lock().unwrap_or_else(|p| p.into_inner()).insert(pid, jvm);
                    }
                    Err(e) => {
                        tracing::warn!(pid, error = %e.full_message(), "could not prepare the JVM for a heap dump")
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(pid, error = %e, "could not start the arming thread");
        }
    }

    /// Forget processes that are gone.
    pub fn forget(&self, pid: u32) {
        self.armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid);
        self.arming
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&pid);
    }

    /// Check the limits and start the capture on its own thread.
    pub fn start(
        &self,
        request: CaptureRequest,
    ) -> Result<std::thread::JoinHandle<CaptureRecord>, Refusal> {
        let running = self.in_flight.load(Ordering::SeqCst);
        if running >= self.settings.max_concurrent {
            return Err(Refusal::Concurrency {
                running,
                limit: self.settings.max_concurrent,
            });
        }
        let dir = &self.settings.spool_dir;
        let (_, spool_bytes) = spool_usage(dir);
        // A dump is at most the heap, which is at most the working set (compression only helps).
        let needed_bytes = if request.jvm_pids.is_empty() {
            64 << 20
        } else {
            request
                .working_set_bytes
                .saturating_mul(request.jvm_pids.len() as u64)
                + (64 << 20)
        };
        if spool_bytes.saturating_add(needed_bytes) > self.settings.spool_max_bytes {
            return Err(Refusal::SpoolFull {
                dir: dir.display().to_string(),
                spool_bytes,
                limit_bytes: self.settings.spool_max_bytes,
            });
        }
        let (free_bytes, total_bytes) = disk_space(dir).unwrap_or((0, 0));
        let reserve_bytes = self
            .settings
            .min_free_bytes
            .max((total_bytes as f64 * self.settings.min_free_ratio) as u64);
        if free_bytes < needed_bytes.saturating_add(reserve_bytes) {
            return Err(Refusal::DiskSpace {
                dir: dir.display().to_string(),
                free_bytes,
                needed_bytes,
                reserve_bytes,
            });
        }
        // Claimed before the thread starts, so a flood of triggers cannot overshoot the limit.
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        lock(&self.stats).captures_in_flight = self.in_flight.load(Ordering::SeqCst);
        let job = Job {
            settings: self.settings.clone(),
            stats: Arc::clone(&self.stats),
            in_flight: Arc::clone(&self.in_flight),
            snapshotter: self.snapshotter.clone(),
            armed: Arc::clone(&self.armed),
            kick: self.shipper_kick.clone(),
        };
        let name = format!("capture-{}", capture_stem(&request.labels));
        std::thread::Builder::new()
            .name(name)
            .spawn(move || job.run(request))
            .map_err(|_| {
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                Refusal::Concurrency {
                    running,
                    limit: self.settings.max_concurrent,
                }
            })
    }
}

struct Job {
    settings: CaptureSettings,
    stats: Arc<Mutex<Stats>>,
    in_flight: Arc<AtomicUsize>,
    snapshotter: Option<Arc<dyn Snapshotter>>,
    armed: Arc<Mutex<HashMap<u32, hotspot::Jvm>>>,
    kick: Option<Arc<Kick>>,
}

/// Decrements the in-flight count however the capture ends (a panic included).
struct InFlight(Arc<AtomicUsize>, Arc<Mutex<Stats>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
        lock(&self.1).captures_in_flight = self.0.load(Ordering::SeqCst);
    }
}

impl Job {
    fn run(self, request: CaptureRequest) -> CaptureRecord {
        let _guard = InFlight(Arc::clone(&self.in_flight), Arc::clone(&self.stats));
        let started = jiff::Timestamp::now();
        let stamp = started.strftime("%Y%m%dT%H%M%S%.3fZ").to_string();
        let stem = capture_stem(&request.labels);
        let work = self.settings.spool_dir.join(".work");
        let mut record = CaptureRecord {
            cgroup: request.cgroup.clone(),
            labels: request.labels.clone(),
            reason: request.reason.to_string(),
            working_set_bytes: request.working_set_bytes,
            limit_bytes: request.limit_bytes,
            started_at: started.to_string(),
            history: request.history.clone(),
            ..CaptureRecord::default()
        };
        tracing::warn!(cgroup = %request.cgroup, reason = request.reason, jvms = request.jvm_pids.len(), "capture started");

        // The snapshot runs beside the dump: it reads /proc and the cgroup while the JVM is
        // stopped at the dump's safepoint.
        let snapshot = match (&self.snapshotter, request.snapshot_pid) {
            (Some(s), Some(pid)) => {
                let s = Arc::clone(s);
                let name = format!("triage-snapshot-{stem}-{stamp}.tar.zst");
                let work_path = work.join(&name);
                let timeout = self.settings.snapshot_timeout;
                Some((
                    name,
                    work_path.clone(),
                    std::thread::spawn(move || s.snapshot(pid, &work_path, timeout)),
                ))
            }
            _ => None,
        };

        for &pid in &request.jvm_pids {
            match self.dump_one(pid, &request, &stem, &stamp, &work) {
                Ok(dump) => {
                    let mut stats = lock(&self.stats);
                    *stats.captures.entry(("heap_dump", "ok")).or_default() += 1;
                    let latency = dump.trigger_to_dump_start_us as f64 / 1e6;
                    stats.dump_start_latency_seconds_sum += latency;
                    stats.dump_start_latency_seconds_count += 1;
                    stats.dump_start_latency_seconds_last = Some(latency);
                    drop(stats);
                    tracing::warn!(pid, file = %dump.file, bytes = dump.output_bytes, trigger_to_dump_start_us = dump.trigger_to_dump_start_us, "heap dump captured");
                    record.heap_dumps.push(dump);
                }
                Err(e) => {
                    *lock(&self.stats)
                        .captures
                        .entry(("heap_dump", "failed"))
                        .or_default() += 1;
                    tracing::error!(pid, error = %e, "heap dump failed");
                    record.errors.push(format!("heap dump of pid {pid}: {e}"));
                }
            }
        }

        if let Some((name, work_path, handle)) = snapshot {
            let result = handle
                .join()
                .unwrap_or_else(|_| Err("the snapshot thread panicked".into()))
                .and_then(|()| {
                    std::fs::rename(&work_path, self.settings.spool_dir.join(&name))
                        .map_err(|e| format!("moving the snapshot into the spool: {e}"))
                });
            let _ = std::fs::remove_file(&work_path);
            match result {
                Ok(()) => {
                    *lock(&self.stats)
                        .captures
                        .entry(("snapshot", "ok"))
                        .or_default() += 1;
                    record.snapshot = Some(name);
                }
                Err(e) => {
                    *lock(&self.stats)
                        .captures
                        .entry(("snapshot", "failed"))
                        .or_default() += 1;
                    tracing::error!(cgroup = %request.cgroup, error = %e, "snapshot failed");
                    record.errors.push(format!("snapshot: {e}"));
                }
            }
        }

        record.duration_ms = request.triggered_at.elapsed().as_millis() as u64;
        {
            let mut stats = lock(&self.stats);
            stats.capture_seconds_sum += record.duration_ms as f64 / 1000.0;
            stats.capture_seconds_count += 1;
        }
        let meta_name = format!("triage-capture-{stem}-{stamp}.json");
        let meta_work = work.join(&meta_name);
        let written = serde_json::to_vec_pretty(&record)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&meta_work, bytes))
            .and_then(|()| std::fs::rename(&meta_work, self.settings.spool_dir.join(&meta_name)));
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not write the capture record");
        }
        if let Some(kick) = &self.kick {
            kick.notify();
        }
        record
    }

    fn dump_one(
        &self,
        pid: u32,
        request: &CaptureRequest,
        stem: &str,
        stamp: &str,
        work: &Path,
    ) -> Result<HeapDumpRecord, String> {
        let armed = self
            .armed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&pid)
            .cloned()
            .filter(|j| j.target().is_alive());
        let jvm = match armed {
            Some(jvm) => jvm,
            None => hotspot::Jvm::attach_with(
                pid,
                &hotspot::client::AttachOptions {
                    attach_timeout: self.settings.attach_timeout,
                },
            )
            .map_err(|e| e.full_message())?,
        };
        let extension = if self.settings.zstd_level > 0 {
            "hprof.zst"
        } else {
            "hprof"
        };
        let name = format!("triage-heap-{stem}-{pid}-{stamp}.{extension}");
        let work_path = work.join(&name);
        let options = hotspot::heapdump::HeapDumpOptions {
            live_only: self.settings.live_only,
            target_dir: self.settings.dump_dir_in_target.clone(),
            // The heap-in-use query costs a round trip while the cgroup is about to be killed;
            // the agent's own disk guard has already run.
            check_space: false,
            stall_timeout: self.settings.dump_stall_timeout,
            compression: if self.settings.zstd_level > 0 {
                hotspot::heapdump::Compression::Zstd {
                    level: self.settings.zstd_level,
                    workers: 1,
                }
            } else {
                hotspot::heapdump::Compression::None
            },
            cancel: None,
        };
        let dump_start = request.triggered_at.elapsed();
        // The moment the JVM says the dump is written (the copy starts): was it still alive,
        // and had the kernel killed anything in the cgroup yet?
        let mut at_dump_end: Option<(bool, Option<u64>)> = None;
        let target = jvm.target().clone();
        let mut on_progress = |p: hotspot::heapdump::Progress| {
            if at_dump_end.is_none()
                && let hotspot::heapdump::Progress::Copying { .. } = p
            {
                let oom_kills = request.memory_dir.as_ref().and_then(|(version, dir)| {
                    crate::cgroupfs::read_memory(*version, dir)
                        .ok()
                        .flatten()
                        .and_then(|m| m.oom_kills)
                });
                at_dump_end = Some((target.is_alive(), oom_kills));
            }
        };
        let report =
            hotspot::heapdump::dump_heap_to_path(&jvm, &options, &work_path, &mut on_progress)
                .map_err(|e| e.full_message())?;
        let (target_alive_after, oom_kills_after) = at_dump_end.unwrap_or((false, None));
        std::fs::rename(&work_path, self.settings.spool_dir.join(&name)).map_err(|e| {
            let _ = std::fs::remove_file(&work_path);
            format!("moving the dump into the spool: {e}")
        })?;
        Ok(HeapDumpRecord {
            pid,
            file: name,
            dump_bytes: report.dump_bytes,
            output_bytes: report.output_bytes,
            sha256: report.sha256,
            trigger_to_dump_start_us: dump_start.as_micros() as u64,
            dump_ms: report.dump_ms,
            target_alive_after,
            oom_kills_after,
        })
    }
}

/// Uploads finished captures from the spool to the destination, oldest first; a failed upload
/// keeps the file and is retried with doubling backoff (up to `max_backoff`).
pub struct Shipper {
    pub destination: sink::Destination,
    pub spool_dir: PathBuf,
    pub stats: Arc<Mutex<Stats>>,
    pub kick: Arc<Kick>,
    pub retry_interval: Duration,
    pub max_backoff: Duration,
}

impl Shipper {
    /// Ship until `stop` is set.
    pub fn run(self, runtime: tokio::runtime::Handle, stop: Arc<std::sync::atomic::AtomicBool>) {
        let mut backoff = self.retry_interval;
        while !stop.load(Ordering::SeqCst) {
            let (files, bytes) = spool_usage(&self.spool_dir);
            {
                let mut s = lock(&self.stats);
                s.spool_files = files;
                s.spool_bytes = bytes;
            }
            let wait = match self.pass(&runtime) {
                Ok(()) => {
                    backoff = self.retry_interval;
                    self.retry_interval
                }
                Err(_) => {
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.max_backoff);
                    wait
                }
            };
            self.kick.wait(wait);
        }
    }

    /// Try every spooled file once; stop at the first failure (the sink is probably down) and
    /// return its message.
    pub fn pass(&self, runtime: &tokio::runtime::Handle) -> Result<(), String> {
        let mut names: Vec<(std::time::SystemTime, String)> =
            match std::fs::read_dir(&self.spool_dir) {
                Ok(entries) => entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                    .filter_map(|e| {
                        let name = e.file_name().to_str()?.to_string();
                        if name.starts_with('.') {
                            return None;
                        }
                        let modified = e.metadata().ok()?.modified().ok()?;
                        Some((modified, name))
                    })
                    .collect(),
                Err(_) => return Ok(()),
            };
        names.sort();
        for (_, name) in names {
            let path = self.spool_dir.join(&name);
            let options = sink::UploadOptions::default();
            let result = runtime.block_on(async {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| format!("opening {}: {e}", path.display()))?;
                sink::write_stream(&self.destination, &name, file, &options)
                    .await
                    .map_err(|e| e.to_string())
            });
            match result {
                Ok(receipt) => {
                    // Only now may the local copy go.
                    if let Err(e) = std::fs::remove_file(&path) {
                        tracing::warn!(path = %path.display(), error = %e, "uploaded, but could not remove the spooled copy");
                    }
                    *lock(&self.stats).uploads.entry("ok").or_default() += 1;
                    tracing::info!(location = %receipt.location, bytes = receipt.size_bytes, sha256 = %receipt.sha256, "capture uploaded");
                }
                Err(e) => {
                    *lock(&self.stats).uploads.entry("failed").or_default() += 1;
                    tracing::warn!(file = %name, error = %e, "upload failed; the capture stays in the spool and is retried");
                    return Err(e);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_file_safe() {
        let labels = Labels {
            cgroup: "/kubepods/burstable/pod1/abc".into(),
            namespace: Some("shop".into()),
            pod: Some("cart/../x".into()),
            container: Some("app".into()),
            ..Labels::default()
        };
        assert_eq!(capture_stem(&labels), "shop_cart_.._x_app");
        assert!(!capture_stem(&labels).contains('/'));
        let bare = Labels {
            cgroup: "/triage-test-1/".into(),
            ..Labels::default()
        };
        assert_eq!(capture_stem(&bare), "triage-test-1");
    }

    #[test]
    fn disk_guard_refuses_when_the_reserve_would_be_eaten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (free, _) = disk_space(dir.path()).expect("statvfs");
        let capturer = Capturer::new(
            CaptureSettings {
                spool_dir: dir.path().join("spool"),
                min_free_bytes: free, // nothing may be written
                ..CaptureSettings::default()
            },
            Arc::default(),
            None,
            None,
        )
        .expect("capturer");
        let request = CaptureRequest {
            cgroup: "/x".into(),
            labels: Labels::default(),
            jvm_pids: vec![1],
            snapshot_pid: None,
            reason: "working_set",
            triggered_at: Instant::now(),
            working_set_bytes: 1 << 20,
            limit_bytes: Some(2 << 20),
            memory_dir: None,
            history: Vec::new(),
        };
        let refused = capturer.start(request.clone()).expect_err("refused");
        assert_eq!(refused.label(), "disk_space");
        let capturer = Capturer::new(
            CaptureSettings {
                spool_dir: dir.path().join("spool2"),
                min_free_bytes: 0,
                min_free_ratio: 0.0,
                spool_max_bytes: 1 << 20,
                ..CaptureSettings::default()
            },
            Arc::default(),
            None,
            None,
        )
        .expect("capturer");
        assert_eq!(
            capturer.start(request).expect_err("refused").label(),
            "spool_full"
        );
    }
}
