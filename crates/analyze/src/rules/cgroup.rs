//! cgroup rules: OOM kills, working set against the limit, limit hits, memory and CPU pressure,
//! CPU throttling, containers without a memory limit.

use hostprobe::{Cgroup, CgroupDelta, CgroupVersion, PressureLine, Snapshot};

use super::{Meta, above};
use crate::finding::fmt_value::{bytes, percent, ratio};
use crate::finding::{Evidence, Finding, Severity};
use crate::rule::{AnalysisInput, Input, Rule, SNAPSHOT_MEMBER, raw_member};

const CGROUPS: &[Input] = &[Input::Collector("cgroups")];

/// What a cgroup finding is about: its path, and the pod/container when the path says so.
pub(crate) fn cgroup_subject(cgroup: &Cgroup) -> String {
    let mut subject = format!("cgroup {}", cgroup.path);
    if let Some(id) = cgroup.container.as_ref() {
        let mut parts = Vec::new();
        if let Some(pod) = id.pod_uid.as_deref() {
            parts.push(format!("pod {pod}"));
        }
        if let Some(container) = id.container_id.as_deref() {
            parts.push(format!(
                "container {}",
                &container[..container.len().min(12)]
            ));
        }
        if !parts.is_empty() {
            subject.push_str(&format!(" ({})", parts.join(", ")));
        }
    }
    subject
}

/// A cgroup's name for titles: the last path component, long container ids cut
/// (`cri-containerd-9d2f4b1a7c3e….scope`); the full path is in the subject.
pub(crate) fn short_name(cgroup: &Cgroup) -> String {
    let leaf = cgroup
        .path
        .rsplit('/')
        .find(|c| !c.is_empty())
        .unwrap_or("/");
    if leaf.chars().count() <= 40 {
        return leaf.to_string();
    }
    let (stem, suffix) = match leaf.rsplit_once('.') {
        Some((stem, suffix)) if suffix.len() <= 6 => (stem, format!(".{suffix}")),
        _ => (leaf, String::new()),
    };
    let head: String = stem.chars().take(27).collect();
    format!("{head}…{suffix}")
}

/// The bundle member of one file of a cgroup's memory controller.
fn memory_file(cgroup: &Cgroup, file: &str) -> String {
    let dir = cgroup
        .memory
        .as_ref()
        .map(|m| m.source_dir.clone())
        .unwrap_or_else(|| default_dir(cgroup, "memory"));
    raw_member(&format!("{}/{file}", dir.trim_end_matches('/')))
}

/// The bundle member of one file of a cgroup's cpu controller.
fn cpu_file(cgroup: &Cgroup, file: &str) -> String {
    let dir = cgroup
        .cpu
        .as_ref()
        .map(|c| c.source_dir.clone())
        .unwrap_or_else(|| default_dir(cgroup, "cpu"));
    raw_member(&format!("{}/{file}", dir.trim_end_matches('/')))
}

/// Where the files of `controller` live when the collector did not record it.
fn default_dir(cgroup: &Cgroup, controller: &str) -> String {
    match cgroup.version {
        CgroupVersion::V2 => format!("/sys/fs/cgroup{}", cgroup.path),
        CgroupVersion::V1 => format!("/sys/fs/cgroup/{controller}{}", cgroup.path),
    }
}

/// The delta of `cgroup` in an `--interval` snapshot.
fn delta_of<'a>(snapshot: &'a Snapshot, cgroup: &Cgroup) -> Option<&'a CgroupDelta> {
    snapshot
        .deltas
        .as_ref()?
        .cgroups
        .iter()
        .find(|d| d.path == cgroup.path && d.version == cgroup.version)
}

fn cgroups<'a>(input: &AnalysisInput<'a>) -> &'a [Cgroup] {
    input.snapshot.map(|s| s.cgroups.as_slice()).unwrap_or(&[])
}

/// CG-OOM-KILL: v2 `memory.events.local oom_kill`, v1 `memory.oom_control oom_kill` > 0 → crit.
pub struct OomKill;

const OOM_KILL: Meta = Meta {
    id: "CG-OOM-KILL",
    explanation: "The kernel killed a process of this cgroup because the cgroup reached its memory limit. In a \
                  container the killed process is usually the main one: the container restarts (OOMKilled) and \
                  every request in flight fails.",
    remedy: "Compare the limit with what the workload needs at peak (working set, heap size + off-heap for JVMs: \
             -XX:MaxRAMPercentage); raise the limit or reduce memory use; for a leak take a heap dump \
             (`triage jvm heap`) before the next kill.",
    reference: "cgroup-v2 docs (memory.events.local oom_kill); cgroup-v1 docs (memory.oom_control)",
};

impl Rule for OomKill {
    fn id(&self) -> &'static str {
        OOM_KILL.id
    }
    fn summary(&self) -> &'static str {
        "OOM kills counted by the cgroup > 0 (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let mut out = Vec::new();
        for cgroup in &snapshot.cgroups {
            let Some(memory) = cgroup.memory.as_ref() else {
                continue;
            };
            let (kills, file) =
                if let Some(k) = memory.events_local.as_ref().and_then(|e| e.oom_kill) {
                    (k, "memory.events.local")
                } else if let Some(k) = memory.events.as_ref().and_then(|e| e.oom_kill) {
                    (k, "memory.events")
                } else if let Some(k) = memory.oom_control.as_ref().and_then(|o| o.oom_kill) {
                    (k, "memory.oom_control")
                } else if let Some(k) = memory.oom_kills {
                    (
                        k,
                        if cgroup.version == CgroupVersion::V1 {
                            "memory.oom_control"
                        } else {
                            "memory.events.local"
                        },
                    )
                } else {
                    continue;
                };
            if kills == 0 {
                continue;
            }
            let source = memory_file(cgroup, file);
            let mut evidence = vec![Evidence::new(
                format!("{file} oom_kill"),
                kills.to_string(),
                "> 0",
                &source,
            )];
            let delta = delta_of(snapshot, cgroup).and_then(|d| d.oom_kills);
            if let Some(d) = delta {
                evidence.push(Evidence::context(
                    "OOM kills during the interval",
                    d.to_string(),
                    &source,
                ));
            }
            if let Some(limit) = memory.limit_bytes {
                evidence.push(Evidence::context(
                    "memory limit",
                    bytes(limit),
                    limit_file(cgroup),
                ));
            }
            let when = match delta {
                Some(d) if d > 0 => format!("{d} during the interval"),
                _ => "since the cgroup was created".to_string(),
            };
            out.push(OOM_KILL.finding(
                Severity::Crit,
                cgroup_subject(cgroup),
                format!("{kills} OOM kill(s) in {} ({when})", short_name(cgroup)),
                evidence,
            ));
        }
        out
    }
}

fn limit_file(cgroup: &Cgroup) -> String {
    memory_file(
        cgroup,
        if cgroup.version == CgroupVersion::V1 {
            "memory.limit_in_bytes"
        } else {
            "memory.max"
        },
    )
}

fn usage_file(cgroup: &Cgroup) -> String {
    memory_file(
        cgroup,
        if cgroup.version == CgroupVersion::V1 {
            "memory.usage_in_bytes"
        } else {
            "memory.current"
        },
    )
}

/// CG-MEM-WS-LIMIT: working set / memory limit > 80 % warn, > 95 % crit.
pub struct MemWorkingSetLimit;

const WS_LIMIT: Meta = Meta {
    id: "CG-MEM-WS-LIMIT",
    explanation: "The working set (usage minus inactive file cache) is the memory the kernel cannot easily \
                  reclaim; it is what the kubelet and cAdvisor compare with the limit. Close to the limit the \
                  kernel reclaims hard (latency) and then OOM-kills a process of the cgroup.",
    remedy: "Raise the memory limit to the peak working set plus headroom, or reduce the workload's memory \
             (heap size, caches, connection pools); check CG-OOM-KILL and the container's restart history.",
    reference: "cAdvisor working set (usage − inactive_file); common 80 % alert; kubelet eviction",
};

impl Rule for MemWorkingSetLimit {
    fn id(&self) -> &'static str {
        WS_LIMIT.id
    }
    fn summary(&self) -> &'static str {
        "working set / memory limit > 80 % (warn), > 95 % (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for cgroup in cgroups(input) {
            let Some(memory) = cgroup.memory.as_ref() else {
                continue;
            };
            let Some(limit) = memory.limit_bytes else {
                continue;
            };
            let Some(used) = ratio(memory.working_set_bytes, limit) else {
                continue;
            };
            let Some(severity) = above(used, 0.80, 0.95) else {
                continue;
            };
            let stat = memory_file(cgroup, "memory.stat");
            let mut evidence = vec![
                Evidence::new(
                    "working set / limit",
                    percent(used),
                    "> 80 % warn, > 95 % crit",
                    usage_file(cgroup),
                ),
                Evidence::context(
                    "working set (usage − inactive_file)",
                    bytes(memory.working_set_bytes),
                    usage_file(cgroup),
                ),
                Evidence::context("memory limit", bytes(limit), limit_file(cgroup)),
                Evidence::context("usage", bytes(memory.usage_bytes), usage_file(cgroup)),
            ];
            if let Some(inactive) = memory.inactive_file_bytes {
                let key = if cgroup.version == CgroupVersion::V1 {
                    "total_inactive_file"
                } else {
                    "inactive_file"
                };
                evidence.push(Evidence::context(key, bytes(inactive), &stat));
            }
            out.push(WS_LIMIT.finding(
                severity,
                cgroup_subject(cgroup),
                format!(
                    "Working set {} is {} of the {} limit of {}",
                    bytes(memory.working_set_bytes),
                    percent(used),
                    bytes(limit),
                    short_name(cgroup)
                ),
                evidence,
            ));
        }
        out
    }
}

/// CG-MEM-MAX-EVENTS: Δ`memory.events` max/high (v2), Δ`memory.failcnt` (v1) > 0 → warn.
pub struct MemMaxEvents;

const MAX_EVENTS: Meta = Meta {
    id: "CG-MEM-MAX-EVENTS",
    explanation: "The cgroup hit its memory limit (max, v1 failcnt) or its high watermark (high) and the kernel \
                  had to reclaim memory synchronously before the allocation could go on: the workload stalls, and \
                  an OOM kill is the next step if reclaim fails.",
    remedy: "Raise memory.max / the container memory limit (or memory.high) above the working set at peak, or \
             reduce the workload's memory; watch CG-MEM-WS-LIMIT and CG-MEM-PSI.",
    reference: "cgroup-v2 docs (memory.events max, high); cgroup-v1 docs (memory.failcnt)",
};

impl Rule for MemMaxEvents {
    fn id(&self) -> &'static str {
        MAX_EVENTS.id
    }
    fn summary(&self) -> &'static str {
        "Δ memory.events max/high, Δ memory.failcnt > 0 (warn; needs --interval)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn needs_interval(&self) -> bool {
        true
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let mut out = Vec::new();
        for cgroup in &snapshot.cgroups {
            let Some(memory) = cgroup.memory.as_ref() else {
                continue;
            };
            let v1 = cgroup.version == CgroupVersion::V1;
            let events_file = memory_file(cgroup, "memory.events");
            let failcnt_file = memory_file(cgroup, "memory.failcnt");
            if let Some(interval_ms) = snapshot.deltas.as_ref().map(|d| d.interval_ms) {
                let Some(delta) = delta_of(snapshot, cgroup) else {
                    continue;
                };
                let mut evidence = Vec::new();
                if let Some(d) = delta.memory_max_events.filter(|d| *d > 0) {
                    evidence.push(Evidence::new(
                        "Δ memory.events max",
                        d.to_string(),
                        "> 0",
                        &events_file,
                    ));
                }
                if let Some(d) = delta.memory_high_events.filter(|d| *d > 0) {
                    evidence.push(Evidence::new(
                        "Δ memory.events high",
                        d.to_string(),
                        "> 0",
                        &events_file,
                    ));
                }
                if let Some(d) = delta.memory_failcnt.filter(|d| *d > 0) {
                    evidence.push(Evidence::new(
                        "Δ memory.failcnt",
                        d.to_string(),
                        "> 0",
                        &failcnt_file,
                    ));
                }
                if evidence.is_empty() {
                    continue;
                }
                evidence.push(Evidence::context(
                    "interval",
                    format!("{interval_ms} ms"),
                    SNAPSHOT_MEMBER,
                ));
                if let Some(limit) = memory.limit_bytes {
                    evidence.push(Evidence::context(
                        "memory limit",
                        bytes(limit),
                        limit_file(cgroup),
                    ));
                }
                out.push(MAX_EVENTS.finding(
                    Severity::Warn,
                    cgroup_subject(cgroup),
                    format!(
                        "{} hit its memory limit during the {interval_ms} ms interval",
                        short_name(cgroup)
                    ),
                    evidence,
                ));
                continue;
            }
            // One sample: counters since the cgroup was created say it happened, not that it happens.
            let mut evidence = Vec::new();
            if v1 {
                if let Some(n) = memory.failcnt.filter(|n| *n > 0) {
                    evidence.push(Evidence::new(
                        "memory.failcnt since creation",
                        n.to_string(),
                        "Δ > 0 over an interval",
                        &failcnt_file,
                    ));
                }
            } else if let Some(events) = memory.events.as_ref() {
                if let Some(n) = events.max.filter(|n| *n > 0) {
                    evidence.push(Evidence::new(
                        "memory.events max since creation",
                        n.to_string(),
                        "Δ > 0 over an interval",
                        &events_file,
                    ));
                }
                if let Some(n) = events.high.filter(|n| *n > 0) {
                    evidence.push(Evidence::new(
                        "memory.events high since creation",
                        n.to_string(),
                        "Δ > 0 over an interval",
                        &events_file,
                    ));
                }
            }
            if evidence.is_empty() {
                continue;
            }
            out.push(MAX_EVENTS.finding(
                Severity::Info,
                cgroup_subject(cgroup),
                format!("{} has hit its memory limit since it was created (needs --interval to tell if it still does)", short_name(cgroup)),
                evidence,
            ));
        }
        out
    }
}

fn pressure_file(cgroup: &Cgroup, resource: &str) -> String {
    let file = format!("{resource}.pressure");
    match resource {
        "cpu" if cgroup.cpu.is_some() => cpu_file(cgroup, &file),
        _ if cgroup.memory.is_some() => memory_file(cgroup, &file),
        _ => raw_member(&format!("{}/{file}", default_dir(cgroup, resource))),
    }
}

/// CG-MEM-PSI: memory.pressure some avg10 ≥ 60 % crit; avg60 > 10 % warn.
pub struct MemPressure;

const MEM_PSI: Meta = Meta {
    id: "CG-MEM-PSI",
    explanation: "Memory pressure (PSI) is the share of wall time in which at least one task of the cgroup was \
                  stalled waiting for memory (reclaim, refaults, swap-in). At 60 % over 10 s systemd-oomd kills \
                  the cgroup; sustained pressure over a minute means the workload runs slowed down by memory.",
    remedy: "Give the cgroup more memory (limit or node), reduce its working set, or stop the co-located workload \
             competing for memory; check CG-MEM-WS-LIMIT and N-MAJFAULT.",
    reference: "psi docs; systemd-oomd ManagedOOMMemoryPressureLimit default 60 %",
};

impl Rule for MemPressure {
    fn id(&self) -> &'static str {
        MEM_PSI.id
    }
    fn summary(&self) -> &'static str {
        "memory.pressure some avg10 ≥ 60 % (crit), avg60 > 10 % (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for cgroup in cgroups(input) {
            let Some(some) = some_line(cgroup, |p| p.memory.as_ref()) else {
                continue;
            };
            let severity = if some.avg10_percent >= 60.0 {
                Severity::Crit
            } else if some.avg60_percent > 10.0 {
                Severity::Warn
            } else {
                continue;
            };
            let source = pressure_file(cgroup, "memory");
            out.push(MEM_PSI.finding(
                severity,
                cgroup_subject(cgroup),
                format!(
                    "{} stalled on memory {:.1} % of the last 10 s, {:.1} % of the last 60 s",
                    short_name(cgroup),
                    some.avg10_percent,
                    some.avg60_percent
                ),
                vec![
                    Evidence::new(
                        "memory some avg10",
                        format!("{:.2} %", some.avg10_percent),
                        "≥ 60 % crit",
                        &source,
                    ),
                    Evidence::new(
                        "memory some avg60",
                        format!("{:.2} %", some.avg60_percent),
                        "> 10 % warn",
                        &source,
                    ),
                    Evidence::context(
                        "memory some avg300",
                        format!("{:.2} %", some.avg300_percent),
                        &source,
                    ),
                ],
            ));
        }
        out
    }
}

fn some_line(
    cgroup: &Cgroup,
    pick: impl Fn(&hostprobe::Pressure) -> Option<&hostprobe::PressureFile>,
) -> Option<&PressureLine> {
    cgroup
        .pressure
        .as_ref()
        .and_then(pick)
        .and_then(|f| f.some.as_ref())
}

/// CG-CPU-THROTTLE: Δnr_throttled / Δnr_periods > 25 % → warn.
pub struct CpuThrottle;

/// Warn above this share of throttled periods.
pub const THROTTLE_RATIO_WARN: f64 = 0.25;

const THROTTLE: Meta = Meta {
    id: "CG-CPU-THROTTLE",
    explanation: "The cgroup used up its CPU quota before the end of an enforcement period in more than a quarter \
                  of the periods, and its threads were paused until the next period. Throttling adds latency in \
                  steps of the period (100 ms by default) even when average CPU use looks low, e.g. for GC or \
                  request bursts of multi-threaded runtimes.",
    remedy: "Raise or remove the CPU limit (keep the request); size thread pools and GC threads to the limit \
             (-XX:ActiveProcessorCount, GOMAXPROCS via automaxprocs); check usage_cores against limit_cores.",
    reference: "kubernetes-mixin CPUThrottlingHigh (> 25 %)",
};

impl Rule for CpuThrottle {
    fn id(&self) -> &'static str {
        THROTTLE.id
    }
    fn summary(&self) -> &'static str {
        "Δnr_throttled / Δnr_periods > 25 % (warn; needs --interval)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn needs_interval(&self) -> bool {
        true
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let mut out = Vec::new();
        for cgroup in &snapshot.cgroups {
            let Some(cpu) = cgroup.cpu.as_ref() else {
                continue;
            };
            let stat = cpu_file(cgroup, "cpu.stat");
            let quota_file = cpu_file(
                cgroup,
                if cgroup.version == CgroupVersion::V1 {
                    "cpu.cfs_quota_us"
                } else {
                    "cpu.max"
                },
            );
            let limit = cpu
                .limit_cores
                .map(|c| format!("{c:.2} cores"))
                .unwrap_or_else(|| "none".into());
            if let Some(interval_ms) = snapshot.deltas.as_ref().map(|d| d.interval_ms) {
                let Some(delta) = delta_of(snapshot, cgroup) else {
                    continue;
                };
                let (Some(periods), Some(throttled)) = (delta.nr_periods, delta.nr_throttled)
                else {
                    continue;
                };
                let Some(share) = delta.throttled_ratio.or_else(|| ratio(throttled, periods))
                else {
                    continue;
                };
                if share <= THROTTLE_RATIO_WARN {
                    continue;
                }
                let mut evidence = vec![
                    Evidence::new(
                        "Δnr_throttled / Δnr_periods",
                        percent(share),
                        "> 25 %",
                        &stat,
                    ),
                    Evidence::context(
                        "Δnr_throttled, Δnr_periods",
                        format!("{throttled} of {periods}"),
                        &stat,
                    ),
                    Evidence::context("CPU limit", limit.clone(), &quota_file),
                    Evidence::context("interval", format!("{interval_ms} ms"), SNAPSHOT_MEMBER),
                ];
                if let Some(usec) = delta.throttled_usec {
                    evidence.push(Evidence::context(
                        "Δ throttled time",
                        format!("{:.1} ms", usec as f64 / 1000.0),
                        &stat,
                    ));
                }
                if let Some(cores) = delta.usage_cores {
                    evidence.push(Evidence::context(
                        "CPU used during the interval",
                        format!("{cores:.2} cores"),
                        &stat,
                    ));
                }
                out.push(THROTTLE.finding(
                    Severity::Warn,
                    cgroup_subject(cgroup),
                    format!(
                        "{} throttled in {} of CPU periods (limit {limit})",
                        short_name(cgroup),
                        percent(share)
                    ),
                    evidence,
                ));
                continue;
            }
            let (Some(periods), Some(throttled)) = (cpu.nr_periods, cpu.nr_throttled) else {
                continue;
            };
            let Some(share) = ratio(throttled, periods) else {
                continue;
            };
            if share <= THROTTLE_RATIO_WARN {
                continue;
            }
            out.push(THROTTLE.finding(
                Severity::Info,
                cgroup_subject(cgroup),
                format!(
                    "{} was throttled in {} of CPU periods since it was created (needs --interval to judge now)",
                    short_name(cgroup),
                    percent(share)
                ),
                vec![
                    Evidence::new("nr_throttled / nr_periods since creation", percent(share), "> 25 % over an interval", &stat),
                    Evidence::context("nr_throttled, nr_periods", format!("{throttled} of {periods}"), &stat),
                    Evidence::context("CPU limit", limit, &quota_file),
                ],
            ));
        }
        out
    }
}

/// CG-CPU-PSI: cpu.pressure some avg60 > 25 % → info.
pub struct CpuPressure;

const CPU_PSI: Meta = Meta {
    id: "CG-CPU-PSI",
    explanation: "CPU pressure (PSI) is the share of time in which runnable tasks of the cgroup waited for a CPU. \
                  A quarter of the last minute means the workload is CPU-starved: by its own limit (see \
                  CG-CPU-THROTTLE) or by neighbours on a busy node.",
    remedy: "Check throttling and node load; raise the CPU limit or request, or move the workload to a less \
             busy node.",
    reference: "psi docs (heuristic threshold)",
};

impl Rule for CpuPressure {
    fn id(&self) -> &'static str {
        CPU_PSI.id
    }
    fn summary(&self) -> &'static str {
        "cpu.pressure some avg60 > 25 % (info)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for cgroup in cgroups(input) {
            let Some(some) = some_line(cgroup, |p| p.cpu.as_ref()) else {
                continue;
            };
            if some.avg60_percent <= 25.0 {
                continue;
            }
            let source = pressure_file(cgroup, "cpu");
            out.push(CPU_PSI.finding(
                Severity::Info,
                cgroup_subject(cgroup),
                format!(
                    "{} waited for CPU {:.1} % of the last minute",
                    short_name(cgroup),
                    some.avg60_percent
                ),
                vec![
                    Evidence::new(
                        "cpu some avg60",
                        format!("{:.2} %", some.avg60_percent),
                        "> 25 %",
                        &source,
                    ),
                    Evidence::context(
                        "cpu some avg10",
                        format!("{:.2} %", some.avg10_percent),
                        &source,
                    ),
                ],
            ));
        }
        out
    }
}

/// CG-NO-MEM-LIMIT: a container cgroup with no memory limit → info.
pub struct NoMemLimit;

const NO_LIMIT: Meta = Meta {
    id: "CG-NO-MEM-LIMIT",
    explanation: "Without a memory limit a container can use all of the node's memory: a leak then ends in a \
                  node-wide OOM kill or kubelet evictions that hit other workloads, instead of a restart of the \
                  leaking container.",
    remedy: "Set resources.limits.memory (and a matching request) for the container.",
    reference: "cgroup docs (memory.max = max); Kubernetes resource management",
};

impl Rule for NoMemLimit {
    fn id(&self) -> &'static str {
        NO_LIMIT.id
    }
    fn summary(&self) -> &'static str {
        "container cgroup with no memory limit (info)"
    }
    fn reads(&self) -> &'static [Input] {
        CGROUPS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for cgroup in cgroups(input) {
            let is_container = cgroup
                .container
                .as_ref()
                .is_some_and(|c| c.container_id.is_some());
            let Some(memory) = cgroup.memory.as_ref() else {
                continue;
            };
            if !is_container || memory.limit_bytes.is_some() {
                continue;
            }
            out.push(NO_LIMIT.finding(
                Severity::Info,
                cgroup_subject(cgroup),
                format!(
                    "Container cgroup {} has no memory limit",
                    short_name(cgroup)
                ),
                vec![
                    Evidence::new("memory limit", "unlimited", "present", limit_file(cgroup)),
                    Evidence::context("usage", bytes(memory.usage_bytes), usage_file(cgroup)),
                ],
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use hostprobe::*;

    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn v1_memory_cgroup(limit: Option<u64>, working_set: u64) -> Cgroup {
        Cgroup {
            path: "/triage-test".into(),
            version: CgroupVersion::V1,
            pids: vec![42],
            memory: Some(CgroupMemory {
                source_dir: "/sys/fs/cgroup/memory/triage-test".into(),
                limit_bytes: limit,
                usage_bytes: working_set + 10 * MIB,
                working_set_bytes: working_set,
                inactive_file_bytes: Some(10 * MIB),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn with(cgroups: Vec<Cgroup>) -> Snapshot {
        Snapshot {
            schema: SNAPSHOT_SCHEMA.into(),
            cgroups,
            ..Default::default()
        }
    }

    fn severities(rule: &dyn Rule, s: &Snapshot) -> Vec<Severity> {
        rule.evaluate(&AnalysisInput::from_snapshot(s))
            .into_iter()
            .map(|f| f.severity)
            .collect()
    }

    #[test]
    fn working_set_thresholds() {
        let limit = 1000 * MIB;
        assert!(
            severities(
                &MemWorkingSetLimit,
                &with(vec![v1_memory_cgroup(Some(limit), 800 * MIB)])
            )
            .is_empty()
        );
        assert_eq!(
            severities(
                &MemWorkingSetLimit,
                &with(vec![v1_memory_cgroup(Some(limit), 800 * MIB + 1)])
            ),
            [Severity::Warn]
        );
        assert_eq!(
            severities(
                &MemWorkingSetLimit,
                &with(vec![v1_memory_cgroup(Some(limit), 950 * MIB)])
            ),
            [Severity::Warn]
        );
        assert_eq!(
            severities(
                &MemWorkingSetLimit,
                &with(vec![v1_memory_cgroup(Some(limit), 950 * MIB + 1)])
            ),
            [Severity::Crit]
        );
        assert!(
            severities(
                &MemWorkingSetLimit,
                &with(vec![v1_memory_cgroup(None, 800 * MIB)])
            )
            .is_empty()
        );
        let s = with(vec![v1_memory_cgroup(Some(limit), 960 * MIB)]);
        let f = &MemWorkingSetLimit.evaluate(&AnalysisInput::from_snapshot(&s))[0];
        assert_eq!(f.evidence[0].value, "96.0 %");
        assert_eq!(
            f.evidence[0].source,
            "raw/sys/fs/cgroup/memory/triage-test/memory.usage_in_bytes"
        );
        assert_eq!(
            f.evidence[2].source,
            "raw/sys/fs/cgroup/memory/triage-test/memory.limit_in_bytes"
        );
        assert_eq!(f.evidence[4].label, "total_inactive_file");
    }

    #[test]
    fn oom_kill_from_v1_and_v2_files() {
        let mut v1 = v1_memory_cgroup(Some(300 * MIB), 10 * MIB);
        v1.memory.as_mut().unwrap().oom_control = Some(OomControl {
            oom_kill: Some(0),
            ..Default::default()
        });
        assert!(severities(&OomKill, &with(vec![v1.clone()])).is_empty());
        v1.memory.as_mut().unwrap().oom_control = Some(OomControl {
            oom_kill: Some(1),
            ..Default::default()
        });
        let s = with(vec![v1]);
        let found = OomKill.evaluate(&AnalysisInput::from_snapshot(&s));
        assert_eq!(found[0].severity, Severity::Crit);
        assert_eq!(
            found[0].evidence[0].source,
            "raw/sys/fs/cgroup/memory/triage-test/memory.oom_control"
        );

        let v2 = Cgroup {
            path: "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope".into(),
            memory: Some(CgroupMemory {
                source_dir:
                    "/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope"
                        .into(),
                // Hierarchical events count a child's kill; the local file says this one had none.
                events: Some(MemoryEvents {
                    oom_kill: Some(3),
                    ..Default::default()
                }),
                events_local: Some(MemoryEvents {
                    oom_kill: Some(0),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(severities(&OomKill, &with(vec![v2.clone()])).is_empty());
        let mut v2_killed = v2;
        v2_killed.memory.as_mut().unwrap().events_local = Some(MemoryEvents {
            oom_kill: Some(2),
            ..Default::default()
        });
        let s = with(vec![v2_killed]);
        let found = OomKill.evaluate(&AnalysisInput::from_snapshot(&s));
        assert_eq!(found.len(), 1);
        assert!(
            found[0].evidence[0]
                .source
                .ends_with("cri-containerd-abc.scope/memory.events.local")
        );
    }

    fn cpu_cgroup(periods: u64, throttled: u64) -> Cgroup {
        Cgroup {
            path: "/busy".into(),
            version: CgroupVersion::V1,
            cpu: Some(CgroupCpu {
                source_dir: "/sys/fs/cgroup/cpu,cpuacct/busy".into(),
                quota_usec: Some(10_000),
                period_usec: Some(100_000),
                limit_cores: Some(0.1),
                nr_periods: Some(periods),
                nr_throttled: Some(throttled),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn with_throttle_delta(periods: u64, throttled: u64) -> Snapshot {
        let mut s = with(vec![cpu_cgroup(1000, 0)]);
        s.interval_ms = Some(2000);
        s.deltas = Some(Deltas {
            interval_ms: 2000,
            cgroups: vec![CgroupDelta {
                path: "/busy".into(),
                version: CgroupVersion::V1,
                nr_periods: Some(periods),
                nr_throttled: Some(throttled),
                throttled_ratio: ratio(throttled, periods),
                ..Default::default()
            }],
            ..Default::default()
        });
        s
    }

    #[test]
    fn throttle_thresholds_with_interval() {
        assert!(severities(&CpuThrottle, &with_throttle_delta(20, 5)).is_empty());
        assert_eq!(
            severities(&CpuThrottle, &with_throttle_delta(100, 26)),
            [Severity::Warn]
        );
        assert!(
            severities(&CpuThrottle, &with_throttle_delta(0, 0)).is_empty(),
            "no period elapsed"
        );
        let s = with_throttle_delta(20, 19);
        let f = &CpuThrottle.evaluate(&AnalysisInput::from_snapshot(&s))[0];
        assert_eq!(
            f.evidence[0].source,
            "raw/sys/fs/cgroup/cpu,cpuacct/busy/cpu.stat"
        );
        assert_eq!(f.evidence[0].value, "95.0 %");
    }

    #[test]
    fn throttle_without_interval_is_info() {
        assert!(severities(&CpuThrottle, &with(vec![cpu_cgroup(100, 25)])).is_empty());
        let s = with(vec![cpu_cgroup(100, 26)]);
        let found = CpuThrottle.evaluate(&AnalysisInput::from_snapshot(&s));
        assert_eq!(found[0].severity, Severity::Info);
        assert!(found[0].title.contains("needs --interval"));
    }

    #[test]
    fn max_events_with_and_without_interval() {
        let mut cg = v1_memory_cgroup(Some(100 * MIB), 50 * MIB);
        cg.memory.as_mut().unwrap().failcnt = Some(0);
        assert!(severities(&MemMaxEvents, &with(vec![cg.clone()])).is_empty());
        cg.memory.as_mut().unwrap().failcnt = Some(7);
        assert_eq!(
            severities(&MemMaxEvents, &with(vec![cg.clone()])),
            [Severity::Info]
        );
        let mut s = with(vec![cg]);
        let delta = |failcnt| Deltas {
            interval_ms: 5000,
            cgroups: vec![CgroupDelta {
                path: "/triage-test".into(),
                version: CgroupVersion::V1,
                memory_failcnt: Some(failcnt),
                ..Default::default()
            }],
            ..Default::default()
        };
        s.deltas = Some(delta(0));
        assert!(
            severities(&MemMaxEvents, &s).is_empty(),
            "old failures, none during the interval"
        );
        s.deltas = Some(delta(1));
        assert_eq!(severities(&MemMaxEvents, &s), [Severity::Warn]);
    }

    fn psi_cgroup(memory_avg10: f64, memory_avg60: f64, cpu_avg60: f64) -> Cgroup {
        let line = |avg10, avg60| PressureLine {
            avg10_percent: avg10,
            avg60_percent: avg60,
            ..Default::default()
        };
        Cgroup {
            path: "/system.slice/app.service".into(),
            pressure: Some(Pressure {
                memory: Some(PressureFile {
                    some: Some(line(memory_avg10, memory_avg60)),
                    full: None,
                }),
                cpu: Some(PressureFile {
                    some: Some(line(0.0, cpu_avg60)),
                    full: None,
                }),
                io: None,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn memory_psi_thresholds() {
        assert!(severities(&MemPressure, &with(vec![psi_cgroup(59.99, 10.0, 0.0)])).is_empty());
        assert_eq!(
            severities(&MemPressure, &with(vec![psi_cgroup(60.0, 0.0, 0.0)])),
            [Severity::Crit]
        );
        assert_eq!(
            severities(&MemPressure, &with(vec![psi_cgroup(0.0, 10.01, 0.0)])),
            [Severity::Warn]
        );
        let s = with(vec![psi_cgroup(60.0, 0.0, 0.0)]);
        let f = &MemPressure.evaluate(&AnalysisInput::from_snapshot(&s))[0];
        assert_eq!(
            f.evidence[0].source,
            "raw/sys/fs/cgroup/system.slice/app.service/memory.pressure"
        );
    }

    #[test]
    fn cpu_psi_threshold() {
        assert!(severities(&CpuPressure, &with(vec![psi_cgroup(0.0, 0.0, 25.0)])).is_empty());
        assert_eq!(
            severities(&CpuPressure, &with(vec![psi_cgroup(0.0, 0.0, 25.01)])),
            [Severity::Info]
        );
    }

    #[test]
    fn no_memory_limit_only_for_containers() {
        let mut cg = v1_memory_cgroup(None, 10 * MIB);
        assert!(
            severities(&NoMemLimit, &with(vec![cg.clone()])).is_empty(),
            "not a container"
        );
        cg.container = Some(ContainerIdentity {
            container_id: Some("a".repeat(64)),
            ..Default::default()
        });
        assert_eq!(
            severities(&NoMemLimit, &with(vec![cg.clone()])),
            [Severity::Info]
        );
        cg.memory.as_mut().unwrap().limit_bytes = Some(MIB * 512);
        assert!(severities(&NoMemLimit, &with(vec![cg])).is_empty());
    }
}
