//! The plain data of a snapshot: what the readers produce and what analyzer rules consume.
//!
//! No I/O here. Every type is `Serialize + Deserialize`, so a rule can be tested on a value built
//! in code or read back from a bundle's `snapshot.json`. Names carry their units (`_bytes`,
//! `_usec`, `_ms`, `_percent`); a value that can be absent on some kernel, some cgroup version or
//! some target is an `Option` and serialises as `null` — never a made-up zero.
//!
//! Where a value came from (for a finding's evidence): every collector lists the files it read in
//! [`CollectorRun::source_files`]; cgroup sections record the directory they were read from
//! ([`CgroupMemory::source_dir`], [`CgroupCpu::source_dir`]); everything else comes from the fixed
//! path documented on the field (relative to [`Snapshot::root`], which is `/` for a live host).
//! `docs/snapshot-schema.md` lists every field with its type, unit and source file.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The value of [`Snapshot::schema`] written by this version.
pub const SNAPSHOT_SCHEMA: &str = "triage.snapshot/v1";

/// One collection of a host or a process tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Always [`SNAPSHOT_SCHEMA`] (`triage.snapshot/v1`).
    pub schema: String,
    /// Version of the tool that collected it.
    pub tool_version: String,
    /// What was diagnosed: `host` or `pid:N`.
    pub target: String,
    /// The directory every path was read under (`/` for a live host; a fixture tree in tests).
    pub root: String,
    /// RFC 3339 UTC time collection started.
    pub started_at: String,
    /// RFC 3339 UTC time collection finished.
    pub finished_at: String,
    /// Time between the two samples when `--interval` was given; `deltas` is then filled.
    pub interval_ms: Option<u64>,
    /// Hostname, kernel, uptime, CPUs, load, pressure, vmstat, file handles. `null` when the
    /// `system` collector failed (see `collectors`).
    pub system: Option<System>,
    /// The `free` view from `/proc/meminfo`. `null` when the `memory` collector failed.
    pub memory: Option<Memory>,
    /// The `ps aux` view: every process of the target (the host, or `pid:N` and its descendants).
    pub processes: Vec<Process>,
    /// Counts and orderings over `processes`.
    pub process_summary: ProcessSummary,
    /// The `df` view (real and tmpfs/overlay filesystems; pseudo filesystems left out).
    pub filesystems: Vec<Filesystem>,
    /// The `findmnt` view: every line of mountinfo.
    pub mounts: Vec<Mount>,
    /// The `lsblk` view: disks and their partitions, flat, children naming their `parent`.
    pub block_devices: Vec<BlockDevice>,
    /// Every distinct cgroup holding a process of the target, v1 or v2.
    pub cgroups: Vec<Cgroup>,
    /// Connection tracking in the target's network namespace. `null` when the collector failed;
    /// `loaded: false` when nf_conntrack is not loaded there.
    pub conntrack: Option<Conntrack>,
    /// Sockets by state and interface counters in the target's network namespace.
    pub network: Option<Network>,
    /// OOM and conntrack "table full" lines found in the kernel log buffer.
    pub kernel_log: Option<KernelLog>,
    /// Counter changes between two samples; only with `--interval`.
    pub deltas: Option<Deltas>,
    /// Every collector's outcome, in a fixed order.
    pub collectors: Vec<CollectorRun>,
}

impl Snapshot {
    /// Look a collector's outcome up by name.
    pub fn collector(&self, name: &str) -> Option<&CollectorRun> {
        self.collectors.iter().find(|c| c.name == name)
    }

    /// Look a process up by pid.
    pub fn process(&self, pid: u32) -> Option<&Process> {
        self.processes.iter().find(|p| p.pid == pid)
    }

    /// Look a cgroup up by its path (as written in `/proc/<pid>/cgroup`).
    pub fn cgroup(&self, path: &str) -> Option<&Cgroup> {
        self.cgroups.iter().find(|c| c.path == path)
    }
}

// ---------------------------------------------------------------------------------------------
// Collectors
// ---------------------------------------------------------------------------------------------

/// How a collector ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CollectorStatus {
    /// Collected; `error` may still hold a partial-failure note.
    #[default]
    Ok,
    /// The collector failed; its section is `null` or empty.
    Failed,
    /// The collector exceeded its time budget; what it had gathered may be partial.
    TimedOut,
    /// Not applicable to this target or machine (e.g. no `/dev/kmsg` access).
    Skipped,
}

impl std::fmt::Display for CollectorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed-out",
            Self::Skipped => "skipped",
        })
    }
}

/// One collector's outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectorRun {
    /// `system`, `memory`, `processes`, `filesystems`, `mounts`, `block_devices`, `cgroups`,
    /// `conntrack`, `network`, `kernel_log`.
    pub name: String,
    pub status: CollectorStatus,
    /// What failed, where and what to do; also set on `ok` for partial failures (e.g. one
    /// unreadable cgroup file).
    pub error: Option<String>,
    pub duration_ms: u64,
    /// Files read, as paths under [`Snapshot::root`]. Per-process files are listed as patterns
    /// (`/proc/[pid]/stat`) rather than one entry per process.
    pub source_files: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// System
// ---------------------------------------------------------------------------------------------

/// Machine-wide facts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct System {
    /// `/proc/sys/kernel/hostname`.
    pub hostname: Option<String>,
    /// `/proc/sys/kernel/osrelease`, e.g. `6.1.0-18-amd64`.
    pub kernel_release: Option<String>,
    /// `/proc/sys/kernel/version`.
    pub kernel_version: Option<String>,
    /// `PRETTY_NAME` from `/etc/os-release` (or `/usr/lib/os-release`).
    pub os_pretty_name: Option<String>,
    /// First field of `/proc/uptime`.
    pub uptime_seconds: Option<f64>,
    /// `btime` of `/proc/stat`: boot time in seconds since the Unix epoch.
    pub boot_time_unix_seconds: Option<u64>,
    /// Online CPUs: the `cpuN` lines of `/proc/stat`.
    pub cpu_count: u32,
    /// `/proc/loadavg`.
    pub load: Option<LoadAverage>,
    /// Aggregate CPU time from the `cpu` line of `/proc/stat`.
    pub cpu_times: Option<CpuTimes>,
    /// Share of CPU time that was busy (not idle or iowait) over the CPU sample; `null` when no
    /// sample was taken.
    pub cpu_busy_percent: Option<f64>,
    /// `/proc/pressure/{cpu,memory,io}`; `null` members when PSI is off in the kernel.
    pub pressure: Pressure,
    /// Selected counters of `/proc/vmstat`.
    pub vmstat: Option<VmStat>,
    /// `/proc/sys/fs/file-nr`.
    pub file_handles: Option<FileHandles>,
    /// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), used to turn jiffies into time.
    pub clock_ticks_per_second: u64,
    /// Page size in bytes (`sysconf(_SC_PAGESIZE)`).
    pub page_size_bytes: u64,
}

/// Load averages and task counts from `/proc/loadavg`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadAverage {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
    /// Currently runnable scheduling entities.
    pub runnable_tasks: u64,
    /// Scheduling entities that exist.
    pub total_tasks: u64,
}

/// Cumulative CPU time over all CPUs since boot, from the `cpu` line of `/proc/stat`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTimes {
    pub user_ms: u64,
    pub nice_ms: u64,
    pub system_ms: u64,
    pub idle_ms: u64,
    pub iowait_ms: u64,
    pub irq_ms: u64,
    pub softirq_ms: u64,
    pub steal_ms: u64,
}

/// Pressure stall information for CPU, memory and I/O (system-wide or one cgroup).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pressure {
    pub cpu: Option<PressureFile>,
    pub memory: Option<PressureFile>,
    pub io: Option<PressureFile>,
}

/// One PSI file: the `some` and `full` lines (older kernels have no `full` line for CPU).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureFile {
    pub some: Option<PressureLine>,
    pub full: Option<PressureLine>,
}

/// One PSI line: `some avg10=0.00 avg60=0.00 avg300=0.00 total=0`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PressureLine {
    /// Share of wall time stalled, averaged over 10 s, in percent (0–100).
    pub avg10_percent: f64,
    /// The same over 60 s.
    pub avg60_percent: f64,
    /// The same over 300 s.
    pub avg300_percent: f64,
    /// Total stall time since boot (or cgroup creation), microseconds.
    pub total_usec: u64,
}

/// Counters from `/proc/vmstat` the rules read; `null` when the kernel does not have the key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VmStat {
    /// OOM kills since boot (kernel ≥ 4.13).
    pub oom_kill: Option<u64>,
    /// Major page faults since boot.
    pub pgmajfault: Option<u64>,
    /// All page faults since boot.
    pub pgfault: Option<u64>,
    /// Pages swapped in since boot.
    pub pswpin: Option<u64>,
    /// Pages swapped out since boot.
    pub pswpout: Option<u64>,
}

/// `/proc/sys/fs/file-nr`: allocated, unused and maximum file handles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FileHandles {
    pub allocated: u64,
    pub unused: u64,
    pub max: u64,
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

/// The `free` view, from `/proc/meminfo` (kB there, bytes here).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// `MemTotal`.
    pub total_bytes: u64,
    /// `MemFree`.
    pub free_bytes: u64,
    /// `MemAvailable`; `null` on kernels before 3.14.
    pub available_bytes: Option<u64>,
    /// As procps-ng 4 `free` computes it: total − available; without `MemAvailable`,
    /// total − free − buffers − cache (never below 0).
    pub used_bytes: u64,
    /// `Buffers`.
    pub buffers_bytes: u64,
    /// `Cached` + `SReclaimable` (the `buff/cache` column of `free` without buffers).
    pub cache_bytes: u64,
    /// `Cached` alone.
    pub cached_bytes: u64,
    /// `Shmem` (tmpfs and shared memory).
    pub shared_bytes: Option<u64>,
    /// `SReclaimable`.
    pub slab_reclaimable_bytes: Option<u64>,
    /// `SUnreclaim`.
    pub slab_unreclaimable_bytes: Option<u64>,
    /// `AnonPages`.
    pub anon_bytes: Option<u64>,
    /// `Dirty`.
    pub dirty_bytes: Option<u64>,
    /// `Committed_AS`.
    pub committed_bytes: Option<u64>,
    /// `CommitLimit`.
    pub commit_limit_bytes: Option<u64>,
    /// `SwapTotal`.
    pub swap_total_bytes: u64,
    /// `SwapFree`.
    pub swap_free_bytes: u64,
    /// `SwapTotal − SwapFree`.
    pub swap_used_bytes: u64,
    /// `HugePages_Total` (pages, not bytes).
    pub huge_pages_total: Option<u64>,
    /// `HugePages_Free` (pages).
    pub huge_pages_free: Option<u64>,
    /// `Hugepagesize`.
    pub huge_page_size_bytes: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// One process, from `/proc/<pid>/{stat,status,cmdline,cgroup}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The pid inside the innermost pid namespace (last value of `NStgid`), when it differs
    /// from `pid` (i.e. the process runs in a container's pid namespace).
    pub namespace_pid: Option<u32>,
    /// Effective uid (`Uid:` second value of `status`), the one `ps` shows as USER.
    pub uid: Option<u32>,
    /// User name for `uid` from the root's `/etc/passwd`; `null` when not listed there.
    pub user: Option<String>,
    /// One-letter state as in `ps`: R, S, D, Z, T, t, X, I.
    pub state: String,
    /// `comm`: the executable name, at most 15 bytes.
    pub comm: String,
    /// The command line, arguments joined by spaces; `[comm]` for kernel threads and zombies
    /// (as `ps` shows them). May hold secrets: redacted before it is written to a bundle.
    pub command: String,
    /// %CPU: over the CPU sample when one was taken (see `process_summary.cpu_percent_basis`),
    /// otherwise CPU time divided by lifetime as `ps` does. 100 = one CPU fully busy.
    pub cpu_percent: f64,
    /// user + system CPU time since the process started.
    pub cpu_time_ms: u64,
    /// Resident set size: `VmRSS` of `status` (what `ps` shows); `rss` pages of `stat` × page
    /// size when `status` has no `VmRSS`.
    pub rss_bytes: u64,
    /// Virtual size (`vsize` of `stat`).
    pub vsz_bytes: u64,
    /// RSS / MemTotal in percent.
    pub mem_percent: f64,
    /// Thread count (`num_threads`).
    pub threads: u32,
    /// Nice value.
    pub nice: i32,
    /// RFC 3339 UTC start time (boot time + `starttime`); `null` when boot time is unknown.
    pub start_time: Option<String>,
    /// Milliseconds since boot at which the process started (`starttime`).
    pub start_after_boot_ms: u64,
    /// The path of the cgroup holding this process's memory accounting (the v2 path on a
    /// unified host, the v1 memory controller's path otherwise); a key into `cgroups[].path`.
    pub cgroup: Option<String>,
}

/// How `processes[].cpu_percent` was computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CpuPercentBasis {
    /// Over a sample of `cpu_sample_ms` (like `top`).
    Sampled,
    /// CPU time over lifetime (like `ps`), because no sample was taken.
    #[default]
    Lifetime,
}

/// Counts and orderings over the collected processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessSummary {
    /// Processes collected.
    pub total: u64,
    /// Sum of their thread counts.
    pub threads_total: u64,
    /// Processes in state R.
    pub running: u64,
    /// Processes in state D (uninterruptible, usually I/O).
    pub uninterruptible: u64,
    /// Processes in state Z.
    pub zombies: u64,
    /// State letter → count.
    pub by_state: BTreeMap<String, u64>,
    /// Processes that disappeared between listing `/proc` and reading them (skipped, counted).
    pub vanished: u64,
    /// Processes whose files could not be read for another reason (e.g. permissions).
    pub unreadable: u64,
    pub cpu_percent_basis: CpuPercentBasis,
    /// Length of the CPU sample; `null` when none was taken.
    pub cpu_sample_ms: Option<u64>,
    /// All pids, highest `cpu_percent` first (ties: higher `cpu_time_ms`, then lower pid).
    pub pids_by_cpu: Vec<u32>,
    /// All pids, highest `rss_bytes` first (ties: lower pid).
    pub pids_by_memory: Vec<u32>,
}

// ---------------------------------------------------------------------------------------------
// Filesystems, mounts, block devices
// ---------------------------------------------------------------------------------------------

/// One mounted filesystem with its statvfs figures (the `df -B1` and `df -i` view).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Filesystem {
    /// Where it is mounted, as seen by the target.
    pub mount_point: String,
    /// Mount source (`/dev/vda1`, `overlay`, `tmpfs`).
    pub source: String,
    pub fs_type: String,
    /// `f_blocks × f_frsize`.
    pub size_bytes: u64,
    /// `(f_blocks − f_bfree) × f_frsize`.
    pub used_bytes: u64,
    /// `f_bavail × f_frsize`: what an unprivileged user can still write.
    pub available_bytes: u64,
    /// used / (used + available) rounded up, as `df` prints `Use%`.
    pub use_percent: Option<f64>,
    /// `f_files`; 0 on filesystems without a fixed inode table (btrfs).
    pub inodes_total: u64,
    /// `f_files − f_ffree`.
    pub inodes_used: u64,
    /// `f_ffree`.
    pub inodes_free: u64,
    pub read_only: bool,
}

/// One line of `/proc/<pid>/mountinfo` (the `findmnt` view).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Mount {
    pub mount_id: u32,
    pub parent_id: u32,
    /// `major:minor` of the device.
    pub major_minor: String,
    /// Root of the mount within its filesystem (e.g. a bind mount's subdirectory).
    pub root: String,
    /// Mount point, octal escapes (`\040`) decoded.
    pub mount_point: String,
    /// Per-mount options (`rw,relatime`).
    pub options: String,
    /// Optional fields (`shared:1`, `master:2`).
    pub propagation: Vec<String>,
    pub fs_type: String,
    pub source: String,
    /// Per-superblock options.
    pub super_options: String,
}

/// One block device or partition from `/sys/block` (the `lsblk` view).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// Kernel name: `vda`, `vda1`, `nvme0n1p2`, `loop0`.
    pub name: String,
    /// `disk`, `part`, `loop`, `rom`, `dm`, `md`, `zram`.
    pub kind: String,
    /// The disk a partition belongs to.
    pub parent: Option<String>,
    /// `dev` file: `major:minor`.
    pub major_minor: Option<String>,
    /// `size` (512-byte sectors) × 512.
    pub size_bytes: u64,
    /// `queue/rotational`.
    pub rotational: Option<bool>,
    /// `ro`.
    pub read_only: Option<bool>,
    /// `removable`.
    pub removable: Option<bool>,
    /// `device/model`, trimmed.
    pub model: Option<String>,
    /// Where the device is mounted (matched through `major_minor` with the mounts).
    pub mount_points: Vec<String>,
}

// ---------------------------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------------------------

/// Which cgroup hierarchy a [`Cgroup`] entry was read from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CgroupVersion {
    V1,
    #[default]
    V2,
}

/// One distinct cgroup holding processes of the target.
///
/// On a unified (v2) host there is one entry per path. On v1, controllers live in separate
/// hierarchies: the memory, cpu and cpuacct paths of a process are usually equal and form one
/// entry; when they differ, each path gets its own entry with the controllers found there.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cgroup {
    /// The path as written in `/proc/<pid>/cgroup` (e.g. `/kubepods.slice/…/cri-containerd-….scope`).
    pub path: String,
    pub version: CgroupVersion,
    /// Collected processes in this cgroup (any controller).
    pub pids: Vec<u32>,
    /// Pod and container identity parsed from a kubelet-style path.
    pub container: Option<ContainerIdentity>,
    /// Memory controller values; `null` when the controller is not available for this path.
    pub memory: Option<CgroupMemory>,
    /// CPU controller values; `null` when the controller is not available for this path.
    pub cpu: Option<CgroupCpu>,
    /// `cpu.pressure`, `memory.pressure`, `io.pressure` (v2; v1 has no per-cgroup PSI).
    pub pressure: Option<Pressure>,
    /// Files of this cgroup that exist but could not be parsed or read, with the reason.
    pub errors: Vec<String>,
}

/// Pod UID, container ID and runtime parsed from a cgroup path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerIdentity {
    /// Pod UID with dashes (`0c3ab2e4-…`); the systemd driver writes it with underscores.
    pub pod_uid: Option<String>,
    /// Container ID (64 hex digits for containerd and docker; CRI-O also).
    pub container_id: Option<String>,
    /// `containerd`, `cri-o`, `docker`; `null` when the leaf carries no prefix.
    pub runtime: Option<String>,
    /// `guaranteed`, `burstable`, `besteffort`; `null` outside a kubepods hierarchy.
    pub qos_class: Option<String>,
    /// `systemd` (`….slice` / `….scope`) or `cgroupfs`.
    pub cgroup_driver: Option<String>,
}

/// Memory controller of one cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupMemory {
    /// Directory the files were read from (under [`Snapshot::root`]), e.g.
    /// `/sys/fs/cgroup/memory/kubepods/pod…/…`; file = this + `/memory.limit_in_bytes`.
    pub source_dir: String,
    /// v2 `memory.max`, v1 `memory.limit_in_bytes`; `null` when unlimited (`max`, or a v1 value
    /// at or above 2^62, the kernel's "no limit" rounded to pages).
    pub limit_bytes: Option<u64>,
    /// v2 `memory.high`; `null` when `max` or v1.
    pub high_bytes: Option<u64>,
    /// v2 `memory.current`, v1 `memory.usage_in_bytes`.
    pub usage_bytes: u64,
    /// usage − inactive_file, floored at 0 (kubelet and cAdvisor's working set).
    pub working_set_bytes: u64,
    /// v2 `memory.stat inactive_file`, v1 `memory.stat total_inactive_file`.
    pub inactive_file_bytes: Option<u64>,
    /// v2 `anon`, v1 `total_rss`.
    pub anon_bytes: Option<u64>,
    /// v2 `file`, v1 `total_cache`.
    pub file_bytes: Option<u64>,
    /// v2 `memory.swap.current`, v1 `memory.memsw.usage_in_bytes − usage`.
    pub swap_bytes: Option<u64>,
    /// v2 `memory.peak`, v1 `memory.max_usage_in_bytes`.
    pub peak_bytes: Option<u64>,
    /// v1 `memory.failcnt`: times usage hit the limit.
    pub failcnt: Option<u64>,
    /// v2 `memory.events` (hierarchical: includes descendants).
    pub events: Option<MemoryEvents>,
    /// v2 `memory.events.local` (this cgroup only; use it per container).
    pub events_local: Option<MemoryEvents>,
    /// v1 `memory.oom_control`.
    pub oom_control: Option<OomControl>,
    /// OOM kills in this cgroup: v2 `memory.events.local oom_kill` (else `memory.events`),
    /// v1 `memory.oom_control oom_kill`; `null` when the kernel does not count them.
    pub oom_kills: Option<u64>,
}

/// v2 `memory.events` / `memory.events.local`; keys absent on older kernels are `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryEvents {
    pub low: Option<u64>,
    pub high: Option<u64>,
    pub max: Option<u64>,
    pub oom: Option<u64>,
    pub oom_kill: Option<u64>,
    pub oom_group_kill: Option<u64>,
}

/// v1 `memory.oom_control`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OomControl {
    pub oom_kill_disable: bool,
    pub under_oom: bool,
    /// OOM kills in this cgroup (kernel ≥ 4.13).
    pub oom_kill: Option<u64>,
}

/// CPU controller (and v1 cpuacct) of one cgroup.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupCpu {
    /// Directory the files were read from (under [`Snapshot::root`]).
    pub source_dir: String,
    /// v2 `cpu.max` first field, v1 `cpu.cfs_quota_us`; `null` when unlimited.
    pub quota_usec: Option<u64>,
    /// v2 `cpu.max` second field, v1 `cpu.cfs_period_us`.
    pub period_usec: Option<u64>,
    /// quota / period: the CPU limit in cores; `null` when unlimited.
    pub limit_cores: Option<f64>,
    /// v2 `cpu.weight` (1–10000).
    pub weight: Option<u64>,
    /// v1 `cpu.shares`.
    pub shares: Option<u64>,
    /// v2 `cpu.stat usage_usec`, v1 `cpuacct.usage` (ns there) / 1000.
    pub usage_usec: Option<u64>,
    /// v2 `user_usec`, v1 `cpuacct.stat user` (ticks there) in µs.
    pub user_usec: Option<u64>,
    /// v2 `system_usec`, v1 `cpuacct.stat system` in µs.
    pub system_usec: Option<u64>,
    /// `cpu.stat nr_periods`: enforcement periods elapsed.
    pub nr_periods: Option<u64>,
    /// `cpu.stat nr_throttled`: periods in which the cgroup was throttled.
    pub nr_throttled: Option<u64>,
    /// v2 `throttled_usec`, v1 `throttled_time` (ns there) / 1000.
    pub throttled_usec: Option<u64>,
    /// `nr_bursts` (kernel ≥ 5.14).
    pub nr_bursts: Option<u64>,
    /// v2 `burst_usec`, v1 `burst_time` (ns) / 1000.
    pub burst_usec: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// conntrack and network
// ---------------------------------------------------------------------------------------------

/// Connection tracking of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Conntrack {
    /// False when nf_conntrack is not loaded in this namespace (the sysctl files are missing).
    pub loaded: bool,
    /// `/proc/sys/net/netfilter/nf_conntrack_count`.
    pub count: Option<u64>,
    /// `/proc/sys/net/netfilter/nf_conntrack_max`.
    pub max: Option<u64>,
    /// `/proc/sys/net/netfilter/nf_conntrack_buckets`.
    pub buckets: Option<u64>,
    /// `/proc/net/stat/nf_conntrack`, summed over CPUs; `null` when the file is missing.
    pub stats: Option<ConntrackStats>,
}

/// `/proc/net/stat/nf_conntrack` with columns mapped by header name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConntrackStats {
    /// Per-CPU lines read.
    pub cpus: u32,
    /// The header, in order (differs across kernels).
    pub header: Vec<String>,
    /// Column name → value summed over CPUs; `entries` is global and taken from the first line.
    pub columns: BTreeMap<String, u64>,
    /// Packets dropped because no entry could be allocated (Σ `drop`).
    pub drop: Option<u64>,
    /// Entries evicted because the table was full (Σ `early_drop`).
    pub early_drop: Option<u64>,
    /// Inserts that lost a race with an identical entry (Σ `insert_failed`; UDP DNS races).
    pub insert_failed: Option<u64>,
    /// Σ `invalid`.
    pub invalid: Option<u64>,
    /// Σ `search_restart`.
    pub search_restart: Option<u64>,
}

/// Sockets and interfaces of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub sockets: Sockets,
    /// `/proc/net/dev`.
    pub interfaces: Vec<Interface>,
}

/// Socket counts per protocol (`ss -s`); `null` when the file is missing (e.g. no IPv6).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sockets {
    /// `/proc/net/tcp`.
    pub tcp: Option<SocketTable>,
    /// `/proc/net/tcp6`.
    pub tcp6: Option<SocketTable>,
    /// `/proc/net/udp`.
    pub udp: Option<SocketTable>,
    /// `/proc/net/udp6`.
    pub udp6: Option<SocketTable>,
}

/// Socket count by state of one `/proc/net/{tcp,udp}{,6}` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SocketTable {
    pub total: u64,
    /// TCP state name (`ESTABLISHED`, `LISTEN`, `TIME_WAIT`, …; UDP uses `ESTABLISHED` for
    /// connected and `CLOSE` for unconnected sockets) → count.
    pub by_state: BTreeMap<String, u64>,
}

/// One line of `/proc/net/dev`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interface {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errors: u64,
    pub rx_dropped: u64,
    pub rx_fifo_errors: u64,
    pub rx_frame_errors: u64,
    pub rx_compressed: u64,
    pub rx_multicast: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errors: u64,
    pub tx_dropped: u64,
    pub tx_fifo_errors: u64,
    pub tx_collisions: u64,
    pub tx_carrier_errors: u64,
    pub tx_compressed: u64,
}

// ---------------------------------------------------------------------------------------------
// Kernel log
// ---------------------------------------------------------------------------------------------

/// What the kernel log buffer says about OOM kills and conntrack overflow.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelLog {
    /// Where it was read: `/dev/kmsg`.
    pub source: String,
    /// Records read from the buffer.
    pub records_read: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// True when the read stopped at the record or byte bound before the buffer's end, or when
    /// the kernel reported records overwritten before they could be read.
    pub truncated: bool,
    /// Lines about OOM: `invoked oom-killer:`, `oom-kill:…`, `Killed process …`,
    /// `Memory cgroup out of memory: …` (at most a bounded number, the newest kept).
    pub oom_lines: Vec<KernelLogLine>,
    /// Lines starting `nf_conntrack: table full` (bounded, newest kept).
    pub conntrack_full_lines: Vec<KernelLogLine>,
    /// OOM kills parsed from `oom-kill:` and `Killed process` lines.
    pub oom_kills: Vec<OomKill>,
}

/// One kernel log record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct KernelLogLine {
    /// Sequence number in the kernel buffer.
    pub sequence: u64,
    /// Microseconds since boot.
    pub since_boot_usec: u64,
    /// RFC 3339 UTC wall time (boot time + `since_boot_usec`); `null` when boot time is unknown.
    pub time: Option<String>,
    /// Syslog priority 0 (emerg) – 7 (debug).
    pub priority: u8,
    pub message: String,
}

/// One OOM kill reported by the kernel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OomKill {
    /// Microseconds since boot of the record.
    pub since_boot_usec: u64,
    /// RFC 3339 UTC wall time, when boot time is known.
    pub time: Option<String>,
    /// Killed pid.
    pub pid: Option<u32>,
    /// Killed task's `comm`.
    pub task: Option<String>,
    /// `constraint=` (`CONSTRAINT_NONE`, `CONSTRAINT_MEMCG`, …).
    pub constraint: Option<String>,
    /// `oom_memcg=`: the cgroup whose limit was hit.
    pub oom_memcg: Option<String>,
    /// `task_memcg=`: the cgroup of the killed task.
    pub task_memcg: Option<String>,
    /// `uid=`.
    pub uid: Option<u32>,
    /// `anon-rss:` of the `Killed process` line.
    pub anon_rss_bytes: Option<u64>,
    /// `total-vm:` of the `Killed process` line.
    pub total_vm_bytes: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Deltas
// ---------------------------------------------------------------------------------------------

/// Counter changes between the first and second sample of an `--interval` snapshot. A counter
/// that went backwards (cgroup re-created, counter reset) gives `null`, not a negative number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Deltas {
    /// Time between the two samples.
    pub interval_ms: u64,
    /// Per cgroup present in both samples.
    pub cgroups: Vec<CgroupDelta>,
    /// Δ`/proc/vmstat oom_kill`: OOM kills during the interval.
    pub oom_kills: Option<u64>,
    /// Δ`/proc/vmstat pgmajfault`.
    pub pgmajfault: Option<u64>,
    /// Δpgmajfault per second.
    pub pgmajfault_per_second: Option<f64>,
    /// conntrack counter changes; `null` when conntrack is not loaded.
    pub conntrack: Option<ConntrackDelta>,
}

/// Changes of one cgroup's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CgroupDelta {
    pub path: String,
    pub version: CgroupVersion,
    pub nr_periods: Option<u64>,
    pub nr_throttled: Option<u64>,
    pub throttled_usec: Option<u64>,
    /// Δnr_throttled / Δnr_periods (0–1); `null` when no period elapsed.
    pub throttled_ratio: Option<f64>,
    /// ΔCPU usage.
    pub usage_usec: Option<u64>,
    /// ΔCPU usage in cores (usage / interval).
    pub usage_cores: Option<f64>,
    /// Δ`memory.events{,.local}` high (v2).
    pub memory_high_events: Option<u64>,
    /// Δ`memory.events{,.local}` max (v2).
    pub memory_max_events: Option<u64>,
    /// Δ`memory.failcnt` (v1).
    pub memory_failcnt: Option<u64>,
    /// ΔOOM kills (`oom_kills` of [`CgroupMemory`]).
    pub oom_kills: Option<u64>,
}

/// Changes of the conntrack counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConntrackDelta {
    pub drop: Option<u64>,
    pub early_drop: Option<u64>,
    pub insert_failed: Option<u64>,
    pub invalid: Option<u64>,
    /// Change of `nf_conntrack_count` (may be negative).
    pub count_change: Option<i64>,
}
