//! Run every collector, each in its own thread under a time budget, and assemble a [`Snapshot`].
//!
//! A collector that returns an error is recorded as `failed`, one that does not finish within
//! the budget as `timed_out` (its thread is left to finish on its own: a hung `statvfs` on a dead
//! network mount cannot be interrupted), one that panics as `failed` with the panic text. The
//! others go on; the snapshot is always produced.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cgroups::{CgroupReport, find_hierarchies, read_cgroups};
use crate::model::*;
use crate::mounts::read_mounts;
use crate::processes::{
    CpuSample, Membership, ProcessOptions, ProcessScope, ProcessTable, read_processes,
};
pub use crate::source::RawFile;
use crate::source::SourcesReport;
use crate::{Error, Limits, Result, Root, Sources};

/// What is diagnosed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The whole machine.
    Host,
    /// One process, its descendants and its cgroup; its mount, network and pid views.
    Pid(u32),
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if s == "host" {
            return Ok(Target::Host);
        }
        if let Some(pid) = s.strip_prefix("pid:") {
            return pid
                .parse::<u32>()
                .ok()
                .filter(|&p| p > 0)
                .map(Target::Pid)
                .ok_or_else(|| format!("`{s}`: the pid after `pid:` must be a positive number"));
        }
        Err(format!(
            "`{s}` is not a target this command understands: use `host` or `pid:N`"
        ))
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Host => f.write_str("host"),
            Target::Pid(pid) => write!(f, "pid:{pid}"),
        }
    }
}

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Where `/` is (the live root, or a fixture tree).
    pub root: Root,
    pub target: Target,
    /// %CPU sample length; zero for lifetime %CPU. Ignored with `interval` (the interval is the sample).
    pub cpu_sample: Duration,
    /// Take two samples this far apart and fill `deltas`.
    pub interval: Option<Duration>,
    /// Time budget of each collector.
    pub collector_timeout: Duration,
    pub limits: Limits,
    /// Keep raw copies of the files parsed (for the bundle).
    pub capture_raw: bool,
    /// Written into the snapshot.
    pub tool_version: String,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            root: Root::live(),
            target: Target::Host,
            cpu_sample: Duration::from_millis(200),
            interval: None,
            collector_timeout: Duration::from_secs(10),
            limits: Limits::default(),
            capture_raw: false,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A finished collection: the snapshot and the raw files behind it.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub snapshot: Snapshot,
    /// (collector name, raw copy), in collector order.
    pub raw_files: Vec<(String, RawFile)>,
}

/// Collector names, in the order they appear in `Snapshot::collectors`.
pub const COLLECTORS: &[&str] = &[
    "system",
    "memory",
    "processes",
    "mounts",
    "filesystems",
    "block_devices",
    "cgroups",
    "conntrack",
    "network",
    "kernel_log",
];

enum Section {
    System(Box<System>),
    Memory(Memory),
    Processes(ProcessTable),
    Mounts(Vec<Mount>),
    Filesystems(Vec<Filesystem>),
    BlockDevices(Vec<BlockDevice>),
    Cgroups(CgroupReport),
    Conntrack(Conntrack),
    Network(Network),
    KernelLog(KernelLog),
}

struct Outcome {
    name: &'static str,
    result: Result<Section, String>,
    report: SourcesReport,
    duration: Duration,
}

/// Collect a snapshot. Fails only when the target itself does not exist; every other problem
/// is recorded in `collectors`.
pub fn collect(options: &CollectOptions) -> Result<Collection> {
    if let Target::Pid(pid) = options.target {
        if !options.root.exists(&format!("/proc/{pid}/stat")) {
            return Err(Error::NoSuchProcess {
                pid,
                root: options.root.dir().to_path_buf(),
            });
        }
    }
    let started_at = now_rfc3339();
    let Some(interval) = options.interval else {
        let (mut snapshot, raw, _) = collect_once(options, Mode::Full { previous: None });
        snapshot.started_at = started_at;
        snapshot.finished_at = now_rfc3339();
        return Ok(Collection {
            snapshot,
            raw_files: raw,
        });
    };
    // First sample: counters only, no raw copies.
    let first_options = CollectOptions {
        capture_raw: false,
        ..options.clone()
    };
    let (first, _, first_sample) = collect_once(&first_options, Mode::Counters);
    let first_at = first_sample
        .as_ref()
        .map(|s| s.taken_at)
        .unwrap_or_else(Instant::now);
    let remaining = interval.saturating_sub(first_at.elapsed());
    std::thread::sleep(remaining);
    let (mut second, raw, second_sample) = collect_once(
        options,
        Mode::Full {
            previous: first_sample,
        },
    );
    let interval_ms = match &second_sample {
        Some(s) => s.taken_at.duration_since(first_at).as_millis() as u64,
        None => interval.as_millis() as u64,
    };
    second.interval_ms = Some(interval_ms);
    second.deltas = Some(compute_deltas(&first, &second, interval_ms));
    let times = |s: &Snapshot| s.system.as_ref().and_then(|s| s.cpu_times.clone());
    if let (Some(a), Some(b), Some(system)) =
        (times(&first), times(&second), second.system.as_mut())
    {
        system.cpu_busy_percent = crate::system::busy_percent(&a, &b);
    }
    second.started_at = started_at;
    second.finished_at = now_rfc3339();
    Ok(Collection {
        snapshot: second,
        raw_files: raw,
    })
}

fn now_rfc3339() -> String {
    let now = jiff::Timestamp::now();
    now.round(jiff::Unit::Millisecond)
        .unwrap_or(now)
        .to_string()
}

enum Mode {
    /// Everything; %CPU against `previous` when given.
    Full { previous: Option<CpuSample> },
    /// The counters deltas need (first sample of an interval).
    Counters,
}

type Job = Box<dyn FnOnce(&mut Sources) -> Result<Section> + Send>;

fn collect_once(
    options: &CollectOptions,
    mode: Mode,
) -> (Snapshot, Vec<(String, RawFile)>, Option<CpuSample>) {
    let start = Instant::now();
    let deadline = start + options.collector_timeout;
    let target = options.target;
    let (tx, rx) = mpsc::channel::<Outcome>();
    let mut progress: HashMap<&'static str, Arc<Mutex<String>>> = HashMap::new();
    let (membership_tx, membership_rx) = mpsc::channel::<Membership>();
    let counters_only = matches!(mode, Mode::Counters);
    let previous = match mode {
        Mode::Full { previous } => previous,
        Mode::Counters => None,
    };
    let own_mountinfo_pid = match target {
        Target::Host => "self".to_string(),
        Target::Pid(pid) => pid.to_string(),
    };

    let mut jobs: Vec<(&'static str, Job)> = Vec::new();
    let busy_sample = if counters_only || options.interval.is_some() {
        Duration::ZERO
    } else {
        options.cpu_sample
    };
    jobs.push((
        "system",
        Box::new(move |src| {
            let mut system = crate::system::read_system(src)?;
            if !busy_sample.is_zero() {
                // Second reading of /proc/stat over the same sample as %CPU of processes.
                src.set_progress("sleeping for the CPU busy sample");
                std::thread::sleep(busy_sample);
                let ticks = system.clock_ticks_per_second;
                let later = src.text_uncaptured("/proc/stat").ok().and_then(|t| {
                    crate::system::parse_proc_stat(&t, std::path::Path::new("/proc/stat"), ticks)
                        .ok()
                });
                system.cpu_busy_percent = match (&system.cpu_times, later.and_then(|l| l.cpu_times))
                {
                    (Some(a), Some(b)) => crate::system::busy_percent(a, &b),
                    _ => None,
                };
            }
            Ok(Section::System(Box::new(system)))
        }),
    ));
    if !counters_only {
        jobs.push((
            "memory",
            Box::new(|src| crate::memory::read_memory(src).map(Section::Memory)),
        ));
    }
    {
        let process_options = ProcessOptions {
            scope: match target {
                Target::Host => ProcessScope::All,
                Target::Pid(pid) => ProcessScope::Tree(pid),
            },
            cpu_sample: if counters_only || options.interval.is_some() {
                Duration::ZERO
            } else {
                options.cpu_sample
            },
            previous,
            passwd_root: match target {
                Target::Host => options.root.clone(),
                Target::Pid(pid) => Root::new(options.root.path(&format!("/proc/{pid}/root"))),
            },
        };
        jobs.push((
            "processes",
            Box::new(move |src| {
                let mut send = |m: &Membership| {
                    let _ = membership_tx.send(m.clone());
                };
                read_processes(src, &process_options, &mut send).map(Section::Processes)
            }),
        ));
    }
    if !counters_only {
        let pid = own_mountinfo_pid.clone();
        jobs.push((
            "mounts",
            Box::new(move |src| read_mounts(src, &pid).map(Section::Mounts)),
        ));
        let pid = own_mountinfo_pid.clone();
        let prefix = match target {
            Target::Host => String::new(),
            Target::Pid(p) => format!("/proc/{p}/root"),
        };
        jobs.push((
            "filesystems",
            Box::new(move |src| {
                let mounts = uncaptured_mounts(src, &pid)?;
                crate::filesystems::read_filesystems(src, &mounts, &prefix)
                    .map(Section::Filesystems)
            }),
        ));
        jobs.push((
            "block_devices",
            Box::new(|src| {
                let mounts = uncaptured_mounts(src, "self").unwrap_or_default();
                crate::block::read_block_devices(src, &mounts).map(Section::BlockDevices)
            }),
        ));
    }
    jobs.push((
        "cgroups",
        Box::new(move |src| {
            let mounts = uncaptured_mounts(src, "self")?;
            let hierarchies = find_hierarchies(src, &mounts);
            src.set_progress("waiting for the process list");
            let wait = deadline.saturating_duration_since(Instant::now());
            let membership = membership_rx.recv_timeout(wait).map_err(|_| Error::Parse {
                path: src.root().path("/proc"),
                line: 0,
                message: "the process list (processes collector) was not available, so no cgroup is known".into(),
            })?;
            if hierarchies.is_empty() {
                src.warn("no cgroup filesystem is mounted");
            }
            read_cgroups(src, &hierarchies, &membership).map(Section::Cgroups)
        }),
    ));
    jobs.push((
        "conntrack",
        Box::new(move |src| {
            crate::conntrack::read_conntrack(
                src,
                match target {
                    Target::Host => None,
                    Target::Pid(p) => Some(p),
                },
            )
            .map(Section::Conntrack)
        }),
    ));
    if !counters_only {
        // Netlink answers for the collector's own network namespace only.
        let netlink = target == Target::Host && options.root.is_live();
        let net_dir = match target {
            Target::Host => "/proc/net".to_string(),
            Target::Pid(p) => format!("/proc/{p}/net"),
        };
        jobs.push((
            "network",
            Box::new(move |src| {
                crate::network::read_network(src, &net_dir, netlink).map(Section::Network)
            }),
        ));
        jobs.push((
            "kernel_log",
            Box::new(move |src| {
                let boot = src
                    .text_uncaptured("/proc/stat")
                    .ok()
                    .and_then(|t| {
                        crate::system::parse_proc_stat(&t, std::path::Path::new("/proc/stat"), 100)
                            .ok()
                    })
                    .and_then(|s| s.boot_time_unix_seconds);
                crate::kmsg::read_kernel_log(src, boot, deadline).map(Section::KernelLog)
            }),
        ));
    }

    let expected: Vec<&'static str> = jobs.iter().map(|(n, _)| *n).collect();
    for (name, job) in jobs {
        let src = Sources::new(
            options.root.clone(),
            options.limits.clone(),
            options.capture_raw && !counters_only,
        );
        progress.insert(name, src.progress_handle());
        let thread_tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("collect-{name}"))
            .spawn(move || {
                let mut src = src;
                let began = Instant::now();
                let result = match std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut src))) {
                    Ok(Ok(section)) => Ok(section),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(panic) => Err(format!(
                        "internal error (a bug in triage; please report it): {}",
                        panic
                            .downcast_ref::<&str>()
                            .map(|s| s.to_string())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_default()
                    )),
                };
                let _ = thread_tx.send(Outcome {
                    name,
                    result,
                    report: src.finish(),
                    duration: began.elapsed(),
                });
            });
        if let Err(e) = spawned {
            let _ = tx.send(Outcome {
                name,
                result: Err(format!("could not start a thread: {e}")),
                report: SourcesReport::default(),
                duration: Duration::ZERO,
            });
        }
    }
    drop(tx);

    let mut outcomes: HashMap<&'static str, Outcome> = HashMap::new();
    while outcomes.len() < expected.len() {
        let wait = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(wait) {
            Ok(outcome) => {
                outcomes.insert(outcome.name, outcome);
            }
            Err(_) => break,
        }
    }

    let mut snapshot = Snapshot {
        schema: SNAPSHOT_SCHEMA.to_string(),
        tool_version: options.tool_version.clone(),
        target: target.to_string(),
        root: options.root.dir().display().to_string(),
        ..Snapshot::default()
    };
    let mut raw_files = Vec::new();
    let mut sample = None;
    let mut memory_path_of_pid = HashMap::new();
    for &name in COLLECTORS {
        if !expected.contains(&name) {
            continue;
        }
        let Some(outcome) = outcomes.remove(name) else {
            let doing = progress
                .get(name)
                .and_then(|p| p.lock().ok().map(|s| s.clone()))
                .unwrap_or_default();
            snapshot.collectors.push(CollectorRun {
                name: name.to_string(),
                status: CollectorStatus::TimedOut,
                error: Some(format!(
                    "did not finish within {} ms{}; the other collectors went on",
                    options.collector_timeout.as_millis(),
                    if doing.is_empty() {
                        String::new()
                    } else {
                        format!(" (stuck at: {doing})")
                    }
                )),
                duration_ms: options.collector_timeout.as_millis() as u64,
                source_files: Vec::new(),
            });
            continue;
        };
        let mut status = CollectorStatus::Ok;
        let mut error = None;
        match outcome.result {
            Ok(Section::System(s)) => snapshot.system = Some(*s),
            Ok(Section::Memory(m)) => snapshot.memory = Some(m),
            Ok(Section::Processes(table)) => {
                snapshot.processes = table.processes;
                snapshot.process_summary = table.summary;
                sample = table.sample;
            }
            Ok(Section::Mounts(m)) => snapshot.mounts = m,
            Ok(Section::Filesystems(f)) => snapshot.filesystems = f,
            Ok(Section::BlockDevices(b)) => snapshot.block_devices = b,
            Ok(Section::Cgroups(report)) => {
                snapshot.cgroups = report.cgroups;
                memory_path_of_pid = report.memory_path_of_pid;
            }
            Ok(Section::Conntrack(c)) => {
                if !c.loaded {
                    status = CollectorStatus::Skipped;
                    error = Some("nf_conntrack is not loaded in this network namespace (no /proc/sys/net/netfilter/nf_conntrack_* and no /proc/net/stat/nf_conntrack)".to_string());
                }
                snapshot.conntrack = Some(c);
            }
            Ok(Section::Network(n)) => snapshot.network = Some(n),
            Ok(Section::KernelLog(k)) => snapshot.kernel_log = Some(k),
            Err(e) => {
                status = if name == "kernel_log" && e.contains("(not present") {
                    CollectorStatus::Skipped
                } else {
                    CollectorStatus::Failed
                };
                error = Some(e);
            }
        }
        if !outcome.report.warnings.is_empty() {
            let joined = outcome.report.warnings.join("; ");
            error = Some(match error {
                Some(e) => format!("{e}; {joined}"),
                None => joined,
            });
        }
        if outcome.report.raw_dropped > 0 {
            let note = format!(
                "{} raw copies not kept (bundle size limits)",
                outcome.report.raw_dropped
            );
            error = Some(match error {
                Some(e) => format!("{e}; {note}"),
                None => note,
            });
        }
        snapshot.collectors.push(CollectorRun {
            name: name.to_string(),
            status,
            error,
            duration_ms: outcome.duration.as_millis() as u64,
            source_files: outcome.report.files_read,
        });
        raw_files.extend(
            outcome
                .report
                .raw
                .into_iter()
                .map(|r| (name.to_string(), r)),
        );
    }
    for process in &mut snapshot.processes {
        process.cgroup = memory_path_of_pid.get(&process.pid).cloned();
    }
    (snapshot, raw_files, sample)
}

/// Read a mount table without recording a raw copy (the `mounts` collector keeps that one).
fn uncaptured_mounts(src: &mut Sources, pid: &str) -> Result<Vec<Mount>> {
    let path = format!("/proc/{pid}/mountinfo");
    let text = src.text_uncaptured(&path)?;
    src.note(&path);
    Ok(crate::mounts::mounts_or_warn(src, &text, &path))
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    b?.checked_sub(a?)
}

/// Counter changes from `first` to `second`.
pub fn compute_deltas(first: &Snapshot, second: &Snapshot, interval_ms: u64) -> Deltas {
    let seconds = interval_ms as f64 / 1000.0;
    let vm = |s: &Snapshot| {
        s.system
            .as_ref()
            .and_then(|s| s.vmstat.clone())
            .unwrap_or_default()
    };
    let (vm_a, vm_b) = (vm(first), vm(second));
    let pgmajfault = delta(vm_a.pgmajfault, vm_b.pgmajfault);
    let mut cgroups = Vec::new();
    for b in &second.cgroups {
        let Some(a) = first
            .cgroups
            .iter()
            .find(|a| a.path == b.path && a.version == b.version)
        else {
            continue;
        };
        let cpu = |c: &Cgroup| c.cpu.clone().unwrap_or_default();
        let mem = |c: &Cgroup| c.memory.clone().unwrap_or_default();
        let (ca, cb, ma, mb) = (cpu(a), cpu(b), mem(a), mem(b));
        let nr_periods = delta(ca.nr_periods, cb.nr_periods);
        let nr_throttled = delta(ca.nr_throttled, cb.nr_throttled);
        let usage_usec = delta(ca.usage_usec, cb.usage_usec);
        let events = |m: &CgroupMemory| {
            m.events_local
                .clone()
                .or_else(|| m.events.clone())
                .unwrap_or_default()
        };
        let (ea, eb) = (events(&ma), events(&mb));
        cgroups.push(CgroupDelta {
            path: b.path.clone(),
            version: b.version,
            nr_periods,
            nr_throttled,
            throttled_usec: delta(ca.throttled_usec, cb.throttled_usec),
            throttled_ratio: match (nr_throttled, nr_periods) {
                (Some(t), Some(p)) if p > 0 => Some(t as f64 / p as f64),
                _ => None,
            },
            usage_usec,
            usage_cores: usage_usec
                .filter(|_| seconds > 0.0)
                .map(|u| u as f64 / 1e6 / seconds),
            memory_high_events: delta(ea.high, eb.high),
            memory_max_events: delta(ea.max, eb.max),
            memory_failcnt: delta(ma.failcnt, mb.failcnt),
            oom_kills: delta(ma.oom_kills, mb.oom_kills),
        });
    }
    let conntrack = match (&first.conntrack, &second.conntrack) {
        (Some(a), Some(b)) if a.loaded && b.loaded => {
            let sa = a.stats.clone().unwrap_or_default();
            let sb = b.stats.clone().unwrap_or_default();
            Some(ConntrackDelta {
                drop: delta(sa.drop, sb.drop),
                early_drop: delta(sa.early_drop, sb.early_drop),
                insert_failed: delta(sa.insert_failed, sb.insert_failed),
                invalid: delta(sa.invalid, sb.invalid),
                count_change: match (a.count, b.count) {
                    (Some(x), Some(y)) => i64::try_from(y)
                        .ok()
                        .zip(i64::try_from(x).ok())
                        .map(|(y, x)| y - x),
                    _ => None,
                },
            })
        }
        _ => None,
    };
    Deltas {
        interval_ms,
        cgroups,
        oom_kills: delta(vm_a.oom_kill, vm_b.oom_kill),
        pgmajfault,
        pgmajfault_per_second: pgmajfault
            .filter(|_| seconds > 0.0)
            .map(|d| d as f64 / seconds),
        conntrack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!("host".parse::<Target>(), Ok(Target::Host));
        assert_eq!("pid:42".parse::<Target>(), Ok(Target::Pid(42)));
        assert!("pid:0".parse::<Target>().is_err());
        assert!("pid:x".parse::<Target>().is_err());
        assert!("pod/x".parse::<Target>().is_err());
        assert_eq!(Target::Pid(7).to_string(), "pid:7");
    }

    #[test]
    fn deltas_of_counters_and_resets() {
        let cg = |periods, throttled, failcnt| Cgroup {
            path: "/a".into(),
            version: CgroupVersion::V1,
            cpu: Some(CgroupCpu {
                nr_periods: Some(periods),
                nr_throttled: Some(throttled),
                ..CgroupCpu::default()
            }),
            memory: Some(CgroupMemory {
                failcnt: Some(failcnt),
                ..CgroupMemory::default()
            }),
            ..Cgroup::default()
        };
        let a = Snapshot {
            cgroups: vec![cg(100, 10, 5)],
            ..Snapshot::default()
        };
        let b = Snapshot {
            cgroups: vec![cg(120, 15, 4)],
            ..Snapshot::default()
        };
        let d = compute_deltas(&a, &b, 2000);
        let c = &d.cgroups[0];
        assert_eq!((c.nr_periods, c.nr_throttled), (Some(20), Some(5)));
        assert_eq!(c.throttled_ratio, Some(0.25));
        assert_eq!(
            c.memory_failcnt, None,
            "a counter that went down is a reset, not a negative delta"
        );
    }
}
