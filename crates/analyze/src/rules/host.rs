//! Node rules: memory available, load, file handles, disk space and inodes, major faults, zombies.

use std::collections::BTreeMap;

use hostprobe::Snapshot;

use super::{Meta, above, below};
use crate::finding::fmt_value::{bytes, percent, ratio};
use crate::finding::{Evidence, Finding, Severity};
use crate::rule::{AnalysisInput, Input, Rule, SNAPSHOT_MEMBER, raw_member};

const MIB: u64 = 1024 * 1024;

/// N-MEMAVAIL: MemAvailable / MemTotal < 10 % warn; MemAvailable < 100 MiB crit.
pub struct MemAvailable;

/// Warn below this share of MemTotal available.
pub const MEMAVAIL_WARN_RATIO: f64 = 0.10;
/// Crit below this many bytes available (kubelet's default `memory.available<100Mi`).
pub const MEMAVAIL_CRIT_BYTES: u64 = 100 * MIB;

const MEMAVAIL: Meta = Meta {
    id: "N-MEMAVAIL",
    explanation: "MemAvailable is the kernel's estimate of memory that can be given to programs without swapping. \
                  Below 10 % the page cache is being squeezed and latency rises; below 100 MiB the kubelet starts \
                  evicting pods and the kernel's OOM killer is close.",
    remedy: "Find the largest consumers (process table by memory, per-cgroup usage); lower their limits or move \
             workloads away; add memory or nodes. Check for a leak if usage only grows.",
    reference: "node-mixin NodeMemoryHighUtilization; kubelet hard eviction memory.available<100Mi",
};

impl Rule for MemAvailable {
    fn id(&self) -> &'static str {
        MEMAVAIL.id
    }
    fn summary(&self) -> &'static str {
        "MemAvailable / MemTotal < 10 % (warn), MemAvailable < 100 MiB (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("memory")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(memory) = input.snapshot.and_then(|s| s.memory.as_ref()) else {
            return vec![];
        };
        let Some(available) = memory.available_bytes else {
            return vec![];
        };
        let Some(share) = ratio(available, memory.total_bytes) else {
            return vec![];
        };
        let severity = if available < MEMAVAIL_CRIT_BYTES {
            Severity::Crit
        } else if share < MEMAVAIL_WARN_RATIO {
            Severity::Warn
        } else {
            return vec![];
        };
        let source = raw_member("/proc/meminfo");
        vec![MEMAVAIL.finding(
            severity,
            "host",
            format!(
                "Only {} of {} memory available ({})",
                bytes(available),
                bytes(memory.total_bytes),
                percent(share)
            ),
            vec![
                Evidence::new(
                    "MemAvailable / MemTotal",
                    percent(share),
                    "< 10 % warn",
                    &source,
                ),
                Evidence::new("MemAvailable", bytes(available), "< 100 MiB crit", &source),
                Evidence::context("MemTotal", bytes(memory.total_bytes), &source),
                Evidence::context("swap used", bytes(memory.swap_used_bytes), &source),
            ],
        )]
    }
}

/// N-LOAD: load1 / CPUs > 2 warn.
pub struct Load;

/// Warn above this many runnable-or-waiting tasks per CPU.
pub const LOAD_PER_CPU_WARN: f64 = 2.0;

const LOAD: Meta = Meta {
    id: "N-LOAD",
    explanation: "The 1-minute load average counts tasks running, waiting for a CPU or in uninterruptible sleep \
                  (usually disk I/O). More than two per CPU means work is queueing: requests wait for CPU or I/O.",
    remedy: "Look at the process table sorted by CPU and at processes in state D; check CPU pressure and I/O. \
             Spread the load over more CPUs or nodes, or cap the noisy workload with a CPU limit.",
    reference: "node-mixin NodeSystemSaturation (load1 per CPU > 2)",
};

impl Rule for Load {
    fn id(&self) -> &'static str {
        LOAD.id
    }
    fn summary(&self) -> &'static str {
        "load1 / CPUs > 2 (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("system")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(system) = input.snapshot.and_then(|s| s.system.as_ref()) else {
            return vec![];
        };
        let Some(load) = system.load.as_ref() else {
            return vec![];
        };
        if system.cpu_count == 0 {
            return vec![];
        }
        let per_cpu = load.load1 / f64::from(system.cpu_count);
        if per_cpu <= LOAD_PER_CPU_WARN || per_cpu.is_nan() {
            return vec![];
        }
        vec![LOAD.finding(
            Severity::Warn,
            "host",
            format!(
                "Load {:.2} on {} CPUs: {:.2} per CPU",
                load.load1, system.cpu_count, per_cpu
            ),
            vec![
                Evidence::new(
                    "load1 / CPUs",
                    format!("{per_cpu:.2}"),
                    "> 2",
                    raw_member("/proc/loadavg"),
                ),
                Evidence::context(
                    "load1, load5, load15",
                    format!("{:.2} {:.2} {:.2}", load.load1, load.load5, load.load15),
                    raw_member("/proc/loadavg"),
                ),
                Evidence::context(
                    "online CPUs",
                    system.cpu_count.to_string(),
                    raw_member("/proc/stat"),
                ),
            ],
        )]
    }
}

/// N-FD: file-nr allocated / max > 70 % warn, > 90 % crit.
pub struct FileDescriptors;

const FD: Meta = Meta {
    id: "N-FD",
    explanation: "The kernel allocates file handles from a system-wide pool (fs.file-max). When it is exhausted, \
                  every open(), socket() and accept() fails with ENFILE: services stop accepting connections.",
    remedy: "Find the process holding the most descriptors (ls /proc/*/fd | wc -l, or lsof); fix a descriptor \
             leak, or raise fs.file-max (sysctl -w fs.file-max=…) if the load is legitimate.",
    reference: "node-mixin NodeFileDescriptorLimit (70 % / 90 %)",
};

impl Rule for FileDescriptors {
    fn id(&self) -> &'static str {
        FD.id
    }
    fn summary(&self) -> &'static str {
        "file handles allocated / max > 70 % (warn), > 90 % (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("system")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(handles) = input
            .snapshot
            .and_then(|s| s.system.as_ref())
            .and_then(|s| s.file_handles.as_ref())
        else {
            return vec![];
        };
        let Some(used) = ratio(handles.allocated, handles.max) else {
            return vec![];
        };
        let Some(severity) = above(used, 0.70, 0.90) else {
            return vec![];
        };
        let source = raw_member("/proc/sys/fs/file-nr");
        vec![FD.finding(
            severity,
            "host",
            format!(
                "{} of {} file handles allocated ({})",
                handles.allocated,
                handles.max,
                percent(used)
            ),
            vec![
                Evidence::new(
                    "allocated / max",
                    percent(used),
                    "> 70 % warn, > 90 % crit",
                    &source,
                ),
                Evidence::context("allocated", handles.allocated.to_string(), &source),
                Evidence::context("max (fs.file-max)", handles.max.to_string(), &source),
            ],
        )]
    }
}

/// True for filesystems whose space is not a resource to watch: read-only ones (squashfs, ISO
/// images, snaps are always "full") and those of size 0 (pseudo filesystems).
fn ignored_filesystem(fs: &hostprobe::Filesystem) -> bool {
    fs.read_only || fs.size_bytes == 0
}

/// N-DISK: statvfs available / size < 5 % warn, < 3 % crit.
pub struct Disk;

const DISK: Meta = Meta {
    id: "N-DISK",
    explanation: "When a filesystem fills up, writes fail with ENOSPC: databases stop, logs are lost, container \
                  images cannot be pulled and the kubelet evicts pods (nodefs). Reserved blocks let root write a \
                  little longer than everyone else, which hides the problem until it is too late.",
    remedy: "Find what grew (du -xh --max-depth=2 MOUNT | sort -h); rotate or delete logs, prune images \
             (crictl rmi --prune), remove core dumps; grow the volume.",
    reference: "node-mixin NodeFilesystemAlmostOutOfSpace (5 % / 3 %)",
};

impl Rule for Disk {
    fn id(&self) -> &'static str {
        DISK.id
    }
    fn summary(&self) -> &'static str {
        "filesystem available / size < 5 % (warn), < 3 % (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("filesystems")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let mut out = Vec::new();
        for (index, fs) in snapshot.filesystems.iter().enumerate() {
            if ignored_filesystem(fs) {
                continue;
            }
            let Some(free) = ratio(fs.available_bytes, fs.size_bytes) else {
                continue;
            };
            let Some(severity) = below(free, 0.05, 0.03) else {
                continue;
            };
            let source = format!("{SNAPSHOT_MEMBER}#/filesystems/{index}");
            out.push(DISK.finding(
                severity,
                fs.mount_point.clone(),
                format!(
                    "{} has {} of {} left ({})",
                    fs.mount_point,
                    bytes(fs.available_bytes),
                    bytes(fs.size_bytes),
                    percent(free)
                ),
                vec![
                    Evidence::new(
                        "available / size (statvfs)",
                        percent(free),
                        "< 5 % warn, < 3 % crit",
                        &source,
                    ),
                    Evidence::context("available", bytes(fs.available_bytes), &source),
                    Evidence::context("used", bytes(fs.used_bytes), &source),
                    Evidence::context(
                        "device, type",
                        format!("{} ({})", fs.source, fs.fs_type),
                        &source,
                    ),
                ],
            ));
        }
        out
    }
}

/// N-INODES: statvfs free inodes / inodes < 5 % warn, < 3 % crit.
pub struct Inodes;

const INODES: Meta = Meta {
    id: "N-INODES",
    explanation: "Every file needs an inode; when a filesystem runs out, creating files fails with ENOSPC even \
                  though `df -h` shows free space. Millions of small files (caches, session files, mail queues) \
                  are the usual cause.",
    remedy: "Find the directories with the most entries (du --inodes -x MOUNT | sort -n | tail) and clean them up; \
             recreate the filesystem with more inodes if the workload needs them.",
    reference: "node-mixin NodeFilesystemAlmostOutOfFiles; kubelet nodefs.inodesFree<5%",
};

impl Rule for Inodes {
    fn id(&self) -> &'static str {
        INODES.id
    }
    fn summary(&self) -> &'static str {
        "free inodes / inodes < 5 % (warn), < 3 % (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("filesystems")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let mut out = Vec::new();
        for (index, fs) in snapshot.filesystems.iter().enumerate() {
            // inodes_total 0: the filesystem allocates inodes dynamically (btrfs, some tmpfs).
            if ignored_filesystem(fs) || fs.inodes_total == 0 {
                continue;
            }
            let Some(free) = ratio(fs.inodes_free, fs.inodes_total) else {
                continue;
            };
            let Some(severity) = below(free, 0.05, 0.03) else {
                continue;
            };
            let source = format!("{SNAPSHOT_MEMBER}#/filesystems/{index}");
            out.push(INODES.finding(
                severity,
                fs.mount_point.clone(),
                format!(
                    "{} has {} of {} inodes free ({})",
                    fs.mount_point,
                    fs.inodes_free,
                    fs.inodes_total,
                    percent(free)
                ),
                vec![
                    Evidence::new(
                        "free inodes / inodes (statvfs)",
                        percent(free),
                        "< 5 % warn, < 3 % crit",
                        &source,
                    ),
                    Evidence::context("inodes used", fs.inodes_used.to_string(), &source),
                    Evidence::context(
                        "device, type",
                        format!("{} ({})", fs.source, fs.fs_type),
                        &source,
                    ),
                ],
            ));
        }
        out
    }
}

/// N-MAJFAULT: Δpgmajfault / s > 500 warn (needs `--interval`).
pub struct MajorFaults;

/// Warn above this many major faults per second.
pub const MAJFAULT_PER_SECOND_WARN: f64 = 500.0;

const MAJFAULT: Meta = Meta {
    id: "N-MAJFAULT",
    explanation: "A major page fault reads a page from disk: the memory it needed had been evicted (page cache \
                  thrashing) or swapped out. Hundreds per second mean the working set does not fit in memory and \
                  every such access waits for the disk.",
    remedy: "Give the workload more memory (or a higher limit), reduce its working set, or move co-located memory \
             hogs away; check swap activity (pswpin/pswpout).",
    reference: "node-mixin NodeMemoryMajorPagesFaults (> 500/s)",
};

impl Rule for MajorFaults {
    fn id(&self) -> &'static str {
        MAJFAULT.id
    }
    fn summary(&self) -> &'static str {
        "Δpgmajfault per second > 500 (warn; needs --interval)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("system")]
    }
    fn needs_interval(&self) -> bool {
        true
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let source = raw_member("/proc/vmstat");
        if let Some(deltas) = snapshot.deltas.as_ref() {
            let rate = deltas.pgmajfault_per_second.or_else(|| {
                let faults = deltas.pgmajfault?;
                (deltas.interval_ms > 0).then(|| faults as f64 * 1000.0 / deltas.interval_ms as f64)
            });
            let Some(rate) = rate else { return vec![] };
            if rate <= MAJFAULT_PER_SECOND_WARN {
                return vec![];
            }
            return vec![MAJFAULT.finding(
                Severity::Warn,
                "host",
                format!("{rate:.0} major page faults per second"),
                vec![
                    Evidence::new("Δpgmajfault / s", format!("{rate:.1}"), "> 500", &source),
                    Evidence::context(
                        "interval",
                        format!("{} ms", deltas.interval_ms),
                        SNAPSHOT_MEMBER,
                    ),
                ],
            )];
        }
        // One sample: the average since boot is all there is; it can hint, not judge.
        let Some(system) = snapshot.system.as_ref() else {
            return vec![];
        };
        let (Some(faults), Some(uptime)) = (
            system.vmstat.as_ref().and_then(|v| v.pgmajfault),
            system.uptime_seconds,
        ) else {
            return vec![];
        };
        if uptime <= 0.0 {
            return vec![];
        }
        let rate = faults as f64 / uptime;
        if rate <= MAJFAULT_PER_SECOND_WARN {
            return vec![];
        }
        vec![MAJFAULT.finding(
            Severity::Info,
            "host",
            format!("{rate:.0} major page faults per second on average since boot (needs --interval to judge now)"),
            vec![
                Evidence::new("pgmajfault / uptime", format!("{rate:.1} /s"), "> 500 /s over an interval", &source),
                Evidence::context("pgmajfault since boot", faults.to_string(), &source),
                Evidence::context("uptime", format!("{uptime:.0} s"), raw_member("/proc/uptime")),
            ],
        )]
    }
}

/// N-ZOMBIES: processes in state Z > 0 warn, > 100 crit.
pub struct Zombies;

/// Crit above this many zombies.
pub const ZOMBIES_CRIT: usize = 100;

const ZOMBIES: Meta = Meta {
    id: "N-ZOMBIES",
    explanation: "A zombie is a process that exited but whose parent has not collected its exit status (wait()). \
                  Zombies hold a pid each; many of them point at a parent that never reaps its children (often \
                  PID 1 of a container that is not an init) and can exhaust pid_max or the pids cgroup limit.",
    remedy: "Fix or restart the parent named in the evidence; in containers run a real init as PID 1 \
             (tini, dumb-init, `docker run --init`, or shareProcessNamespace in Kubernetes).",
    reference: "procps (state Z); N-ZOMBIES thresholds 0 / 100",
};

impl Rule for Zombies {
    fn id(&self) -> &'static str {
        ZOMBIES.id
    }
    fn summary(&self) -> &'static str {
        "processes in state Z > 0 (warn), > 100 (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("processes")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        zombie_finding(snapshot).into_iter().collect()
    }
}

fn zombie_finding(snapshot: &Snapshot) -> Option<Finding> {
    let zombies: Vec<(usize, &hostprobe::Process)> = snapshot
        .processes
        .iter()
        .enumerate()
        .filter(|(_, p)| p.state == "Z")
        .collect();
    if zombies.is_empty() {
        return None;
    }
    let severity = if zombies.len() > ZOMBIES_CRIT {
        Severity::Crit
    } else {
        Severity::Warn
    };
    let mut by_parent: BTreeMap<u32, usize> = BTreeMap::new();
    for (_, p) in &zombies {
        *by_parent.entry(p.ppid).or_default() += 1;
    }
    let mut parents: Vec<(u32, usize)> = by_parent.into_iter().collect();
    parents.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut evidence = vec![Evidence::new(
        "processes in state Z",
        zombies.len().to_string(),
        "> 0 warn, > 100 crit",
        format!("{SNAPSHOT_MEMBER}#/processes"),
    )];
    for (ppid, count) in parents.iter().take(5) {
        let parent = snapshot.process(*ppid);
        let name = parent.map(|p| p.comm.as_str()).unwrap_or("?");
        let source = snapshot
            .processes
            .iter()
            .position(|p| p.pid == *ppid)
            .map(|i| format!("{SNAPSHOT_MEMBER}#/processes/{i}"))
            .unwrap_or_else(|| raw_member(&format!("/proc/{ppid}/stat")));
        evidence.push(Evidence::context(
            format!("zombies of parent {ppid} ({name})"),
            count.to_string(),
            source,
        ));
    }
    for (index, p) in zombies.iter().take(5) {
        evidence.push(Evidence::context(
            format!("zombie {}", p.pid),
            format!("{} (ppid {})", p.comm, p.ppid),
            format!("{SNAPSHOT_MEMBER}#/processes/{index}"),
        ));
    }
    let (top_parent, top_count) = parents[0];
    Some(ZOMBIES.finding(
        severity,
        "host",
        format!(
            "{} zombie processes; {} of them children of pid {}",
            zombies.len(),
            top_count,
            top_parent
        ),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use hostprobe::*;

    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            schema: SNAPSHOT_SCHEMA.into(),
            target: "host".into(),
            root: "/".into(),
            ..Default::default()
        }
    }

    fn run(rule: &dyn Rule, s: &Snapshot) -> Vec<Finding> {
        rule.evaluate(&AnalysisInput::from_snapshot(s))
    }

    fn severities(rule: &dyn Rule, s: &Snapshot) -> Vec<Severity> {
        run(rule, s).into_iter().map(|f| f.severity).collect()
    }

    fn with_memory(total: u64, available: u64) -> Snapshot {
        Snapshot {
            memory: Some(Memory {
                total_bytes: total,
                available_bytes: Some(available),
                ..Default::default()
            }),
            ..snapshot()
        }
    }

    #[test]
    fn memavail_thresholds() {
        let gib = 1024 * MIB;
        // 10 % of 8 GiB is 819.2 MiB: exactly 10 % is fine, just below warns.
        assert!(severities(&MemAvailable, &with_memory(10 * gib, gib)).is_empty());
        assert_eq!(
            severities(&MemAvailable, &with_memory(10 * gib, gib - 1)),
            [Severity::Warn]
        );
        // 100 MiB is the crit line, whatever the share.
        assert_eq!(
            severities(&MemAvailable, &with_memory(gib, 100 * MIB)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&MemAvailable, &with_memory(gib, 100 * MIB - 1)),
            [Severity::Crit]
        );
        // A small VM with 150 MiB total, 90 MiB available: above 10 % but under 100 MiB.
        assert_eq!(
            severities(&MemAvailable, &with_memory(150 * MIB, 90 * MIB)),
            [Severity::Crit]
        );
        let f = &run(&MemAvailable, &with_memory(10 * gib, gib / 2))[0];
        assert_eq!(f.evidence[0].source, "raw/proc/meminfo");
        assert_eq!(f.evidence[0].value, "5.0 %");
        // Kernels without MemAvailable: no judgement rather than a made-up one.
        let mut s = with_memory(gib, 0);
        s.memory.as_mut().unwrap().available_bytes = None;
        assert!(run(&MemAvailable, &s).is_empty());
    }

    fn with_load(load1: f64, cpus: u32) -> Snapshot {
        Snapshot {
            system: Some(System {
                cpu_count: cpus,
                load: Some(LoadAverage {
                    load1,
                    load5: 1.0,
                    load15: 1.0,
                    runnable_tasks: 1,
                    total_tasks: 100,
                }),
                ..Default::default()
            }),
            ..snapshot()
        }
    }

    #[test]
    fn load_thresholds() {
        assert!(severities(&Load, &with_load(8.0, 4)).is_empty());
        assert_eq!(severities(&Load, &with_load(8.01, 4)), [Severity::Warn]);
        assert!(
            severities(&Load, &with_load(100.0, 0)).is_empty(),
            "unknown CPU count must not divide by zero"
        );
        assert_eq!(run(&Load, &with_load(9.0, 4))[0].evidence[0].value, "2.25");
    }

    fn with_fds(allocated: u64, max: u64) -> Snapshot {
        Snapshot {
            system: Some(System {
                file_handles: Some(FileHandles {
                    allocated,
                    unused: 0,
                    max,
                }),
                ..Default::default()
            }),
            ..snapshot()
        }
    }

    #[test]
    fn fd_thresholds() {
        assert!(severities(&FileDescriptors, &with_fds(700, 1000)).is_empty());
        assert_eq!(
            severities(&FileDescriptors, &with_fds(701, 1000)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&FileDescriptors, &with_fds(900, 1000)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&FileDescriptors, &with_fds(901, 1000)),
            [Severity::Crit]
        );
        assert!(severities(&FileDescriptors, &with_fds(5, 0)).is_empty());
    }

    fn with_fs(size: u64, available: u64, inodes_total: u64, inodes_free: u64) -> Snapshot {
        Snapshot {
            filesystems: vec![Filesystem {
                mount_point: "/var/lib/docker".into(),
                source: "/dev/vdb".into(),
                fs_type: "ext4".into(),
                size_bytes: size,
                used_bytes: size - available,
                available_bytes: available,
                inodes_total,
                inodes_used: inodes_total - inodes_free,
                inodes_free,
                ..Default::default()
            }],
            ..snapshot()
        }
    }

    #[test]
    fn disk_thresholds() {
        assert!(severities(&Disk, &with_fs(10_000, 500, 0, 0)).is_empty());
        assert_eq!(
            severities(&Disk, &with_fs(10_000, 499, 0, 0)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Disk, &with_fs(10_000, 300, 0, 0)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Disk, &with_fs(10_000, 299, 0, 0)),
            [Severity::Crit]
        );
        let f = &run(&Disk, &with_fs(10_000, 100, 0, 0))[0];
        assert_eq!(f.subject, "/var/lib/docker");
        assert_eq!(f.evidence[0].source, "snapshot.json#/filesystems/0");
        // A read-only image is always full: not a finding.
        let mut s = with_fs(10_000, 0, 0, 0);
        s.filesystems[0].read_only = true;
        assert!(run(&Disk, &s).is_empty());
    }

    #[test]
    fn inode_thresholds() {
        assert!(severities(&Inodes, &with_fs(10_000, 9_000, 1000, 50)).is_empty());
        assert_eq!(
            severities(&Inodes, &with_fs(10_000, 9_000, 1000, 49)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Inodes, &with_fs(10_000, 9_000, 1000, 30)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Inodes, &with_fs(10_000, 9_000, 1000, 29)),
            [Severity::Crit]
        );
        assert!(
            severities(&Inodes, &with_fs(10_000, 9_000, 0, 0)).is_empty(),
            "btrfs has no inode table"
        );
    }

    fn with_majfault_delta(faults: u64, interval_ms: u64) -> Snapshot {
        Snapshot {
            interval_ms: Some(interval_ms),
            deltas: Some(Deltas {
                interval_ms,
                pgmajfault: Some(faults),
                pgmajfault_per_second: Some(faults as f64 * 1000.0 / interval_ms as f64),
                ..Default::default()
            }),
            ..snapshot()
        }
    }

    #[test]
    fn majfault_thresholds_with_interval() {
        assert!(severities(&MajorFaults, &with_majfault_delta(5000, 10_000)).is_empty());
        assert_eq!(
            severities(&MajorFaults, &with_majfault_delta(5010, 10_000)),
            [Severity::Warn]
        );
        // Rate computed from the raw delta when the per-second figure is absent.
        let mut s = with_majfault_delta(5010, 10_000);
        s.deltas.as_mut().unwrap().pgmajfault_per_second = None;
        assert_eq!(severities(&MajorFaults, &s), [Severity::Warn]);
    }

    #[test]
    fn majfault_without_interval_is_info_at_most() {
        let mut s = snapshot();
        s.system = Some(System {
            uptime_seconds: Some(100.0),
            vmstat: Some(VmStat {
                pgmajfault: Some(50_000),
                ..Default::default()
            }),
            ..Default::default()
        });
        assert!(severities(&MajorFaults, &s).is_empty());
        s.system
            .as_mut()
            .unwrap()
            .vmstat
            .as_mut()
            .unwrap()
            .pgmajfault = Some(50_100);
        let found = run(&MajorFaults, &s);
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].title.contains("needs --interval"));
    }

    fn with_zombies(n: usize) -> Snapshot {
        let mut processes = vec![Process {
            pid: 1,
            ppid: 0,
            state: "S".into(),
            comm: "init".into(),
            ..Default::default()
        }];
        processes.push(Process {
            pid: 50,
            ppid: 1,
            state: "S".into(),
            comm: "leaky".into(),
            ..Default::default()
        });
        for i in 0..n {
            processes.push(Process {
                pid: 100 + i as u32,
                ppid: 50,
                state: "Z".into(),
                comm: "worker".into(),
                ..Default::default()
            });
        }
        Snapshot {
            processes,
            ..snapshot()
        }
    }

    #[test]
    fn zombie_thresholds() {
        assert!(severities(&Zombies, &with_zombies(0)).is_empty());
        assert_eq!(severities(&Zombies, &with_zombies(1)), [Severity::Warn]);
        assert_eq!(severities(&Zombies, &with_zombies(100)), [Severity::Warn]);
        assert_eq!(severities(&Zombies, &with_zombies(101)), [Severity::Crit]);
        let f = &run(&Zombies, &with_zombies(3))[0];
        assert!(f.title.contains("children of pid 50"), "{}", f.title);
        assert_eq!(f.evidence[1].label, "zombies of parent 50 (leaky)");
        assert_eq!(f.evidence[1].source, "snapshot.json#/processes/1");
    }
}
