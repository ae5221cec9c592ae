//! The agent's figures and the per-container signals, rendered in the Prometheus text format
//! (0.0.4). Series names say what and in which unit; per-container series carry `cgroup` and,
//! when known, `namespace`, `pod`, `container`. Captured data never appears here.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::history::Sample;

/// Who a cgroup belongs to, as far as the node can tell.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Labels {
    /// The cgroup path (`/kubepods/burstable/pod…/…`).
    pub cgroup: String,
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub pod_uid: Option<String>,
    pub container_id: Option<String>,
}

/// The latest figures of one watched cgroup.
#[derive(Debug, Clone, Default)]
pub struct CgroupSeries {
    pub labels: Labels,
    pub latest: Sample,
    pub oom_kills: Option<u64>,
    pub jvm_processes: usize,
    pub go_processes: usize,
}

/// Everything `/metrics` shows; updated by the watcher and the capture threads.
#[derive(Debug, Default)]
pub struct Stats {
    pub started_unix_seconds: u64,
    /// Milliseconds since the epoch of the watcher's last completed pass (for `/healthz`).
    pub last_pass_unix_ms: u64,
    pub watched_cgroups: usize,
    pub watched_jvms: usize,
    pub watched_go: usize,
    /// Trigger registrations that failed (cgroup gone, notifications unsupported), by kind.
    pub registration_failures: BTreeMap<&'static str, u64>,
    pub triggers: BTreeMap<&'static str, u64>,
    /// (artifact, result) → count.
    pub captures: BTreeMap<(&'static str, &'static str), u64>,
    pub refusals: BTreeMap<&'static str, u64>,
    pub captures_in_flight: usize,
    pub capture_seconds_sum: f64,
    pub capture_seconds_count: u64,
    pub dump_start_latency_seconds_sum: f64,
    pub dump_start_latency_seconds_count: u64,
    pub dump_start_latency_seconds_last: Option<f64>,
    /// result → count.
    pub uploads: BTreeMap<&'static str, u64>,
    pub spool_files: u64,
    pub spool_bytes: u64,
    pub cgroups: Vec<CgroupSeries>,
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn label_set(labels: &Labels) -> String {
    let mut out = format!("cgroup=\"{}\"", escape(&labels.cgroup));
    for (name, value) in [
        ("namespace", &labels.namespace),
        ("pod", &labels.pod),
        ("container", &labels.container),
    ] {
        if let Some(v) = value {
            let _ = write!(out, ",{name}=\"{}\"", escape(v));
        }
    }
    out
}

fn number(v: f64) -> String {
    if v.is_finite() {
        format!("{v}")
    } else if v.is_nan() {
        "NaN".into()
    } else if v > 0.0 {
        "+Inf".into()
    } else {
        "-Inf".into()
    }
}

struct Family<'a> {
    out: &'a mut String,
}

impl Family<'_> {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }
    fn line(&mut self, name: &str, labels: &str, value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {}", number(value));
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {}", number(value));
        }
    }
}

/// Render `/metrics`.
pub fn render(stats: &Stats) -> String {
    let mut out = String::with_capacity(4096 + stats.cgroups.len() * 1024);
    let mut f = Family { out: &mut out };

    f.header(
        "triage_agent_build_info",
        "gauge",
        "Version of the running agent (always 1).",
    );
    f.line(
        "triage_agent_build_info",
        &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        1.0,
    );
    f.header(
        "triage_agent_start_time_seconds",
        "gauge",
        "When the agent started, seconds since the Unix epoch.",
    );
    f.line(
        "triage_agent_start_time_seconds",
        "",
        stats.started_unix_seconds as f64,
    );
    f.header(
        "triage_agent_watched_cgroups",
        "gauge",
        "Cgroups holding processes that the agent samples.",
    );
    f.line(
        "triage_agent_watched_cgroups",
        "",
        stats.watched_cgroups as f64,
    );
    f.header(
        "triage_agent_watched_processes",
        "gauge",
        "JVM and Go processes found on the node.",
    );
    f.line(
        "triage_agent_watched_processes",
        "kind=\"jvm\"",
        stats.watched_jvms as f64,
    );
    f.line(
        "triage_agent_watched_processes",
        "kind=\"go\"",
        stats.watched_go as f64,
    );
    f.header(
        "triage_agent_triggers_total",
        "counter",
        "Pre-OOM triggers that fired, by reason (working_set, memory_events_high, memory_events_max, memory_pressure, oom).",
    );
    for reason in crate::TRIGGER_REASONS {
        let n = stats.triggers.get(reason).copied().unwrap_or(0);
        f.line(
            "triage_agent_triggers_total",
            &format!("reason=\"{reason}\""),
            n as f64,
        );
    }
    f.header(
        "triage_agent_captures_total",
        "counter",
        "Captures finished, by artifact (heap_dump, snapshot) and result (ok, failed).",
    );
    for artifact in ["heap_dump", "snapshot"] {
        for result in ["ok", "failed"] {
            let n = stats
                .captures
                .get(&(artifact, result))
                .copied()
                .unwrap_or(0);
            f.line(
                "triage_agent_captures_total",
                &format!("artifact=\"{artifact}\",result=\"{result}\""),
                n as f64,
            );
        }
    }
    f.header(
        "triage_agent_capture_refusals_total",
        "counter",
        "Triggers that did not start a capture, by reason (cooldown, concurrency, disk_space, spool_full).",
    );
    for reason in ["cooldown", "concurrency", "disk_space", "spool_full"] {
        let n = stats.refusals.get(reason).copied().unwrap_or(0);
        f.line(
            "triage_agent_capture_refusals_total",
            &format!("reason=\"{reason}\""),
            n as f64,
        );
    }
    f.header(
        "triage_agent_captures_in_flight",
        "gauge",
        "Captures running now.",
    );
    f.line(
        "triage_agent_captures_in_flight",
        "",
        stats.captures_in_flight as f64,
    );
    f.header(
        "triage_agent_capture_duration_seconds",
        "summary",
        "Time from trigger to a finished capture (heap dump and snapshot in the spool).",
    );
    f.line(
        "triage_agent_capture_duration_seconds_sum",
        "",
        stats.capture_seconds_sum,
    );
    f.line(
        "triage_agent_capture_duration_seconds_count",
        "",
        stats.capture_seconds_count as f64,
    );
    f.header(
        "triage_agent_trigger_to_dump_start_seconds",
        "summary",
        "Time from the kernel notification (or sample) that fired a trigger to the heap dump command being sent.",
    );
    f.line(
        "triage_agent_trigger_to_dump_start_seconds_sum",
        "",
        stats.dump_start_latency_seconds_sum,
    );
    f.line(
        "triage_agent_trigger_to_dump_start_seconds_count",
        "",
        stats.dump_start_latency_seconds_count as f64,
    );
    f.header(
        "triage_agent_uploads_total",
        "counter",
        "Uploads of spooled captures to --out, by result (ok, failed; failed ones stay spooled and are retried).",
    );
    for result in ["ok", "failed"] {
        let n = stats.uploads.get(result).copied().unwrap_or(0);
        f.line(
            "triage_agent_uploads_total",
            &format!("result=\"{result}\""),
            n as f64,
        );
    }
    f.header(
        "triage_agent_spool_files",
        "gauge",
        "Finished captures kept locally (not yet uploaded, or no remote --out).",
    );
    f.line("triage_agent_spool_files", "", stats.spool_files as f64);
    f.header(
        "triage_agent_spool_bytes",
        "gauge",
        "Bytes of finished captures kept locally.",
    );
    f.line("triage_agent_spool_bytes", "", stats.spool_bytes as f64);
    f.header(
        "triage_agent_trigger_registration_failures_total",
        "counter",
        "Kernel notifications that could not be registered, by kind (the cgroup is still sampled).",
    );
    for (kind, n) in &stats.registration_failures {
        f.line(
            "triage_agent_trigger_registration_failures_total",
            &format!("kind=\"{kind}\""),
            *n as f64,
        );
    }

    type Getter = fn(&CgroupSeries) -> Option<f64>;
    let families: [(&str, &str, &str, Getter); 10] = [
        (
            "triage_container_memory_working_set_bytes",
            "gauge",
            "Memory usage minus inactive file pages (what kubelet evicts and the OOM killer weighs).",
            |c| Some(c.latest.working_set_bytes as f64),
        ),
        (
            "triage_container_memory_usage_bytes",
            "gauge",
            "Memory charged to the cgroup (v1 memory.usage_in_bytes, v2 memory.current).",
            |c| Some(c.latest.usage_bytes as f64),
        ),
        (
            "triage_container_memory_limit_bytes",
            "gauge",
            "Memory limit of the cgroup (absent when unlimited).",
            |c| c.latest.limit_bytes.map(|l| l as f64),
        ),
        (
            "triage_container_memory_working_set_ratio",
            "gauge",
            "Working set divided by the memory limit (the pre-OOM trigger compares this with --threshold).",
            |c| c.latest.working_set_ratio(),
        ),
        (
            "triage_container_cpu_throttled_ratio",
            "gauge",
            "Share of CFS periods throttled between the last two samples.",
            |c| c.latest.throttled_ratio,
        ),
        (
            "triage_container_memory_pressure_some_ratio",
            "gauge",
            "Memory PSI: share of the last 10 s some task of the cgroup was stalled on memory (0-1).",
            |c| c.latest.memory_pressure_some_avg10.map(|p| p / 100.0),
        ),
        (
            "triage_container_conntrack_entries",
            "gauge",
            "Entries in the conntrack table of the cgroup's network namespace.",
            |c| c.latest.conntrack_entries.map(|n| n as f64),
        ),
        (
            "triage_container_conntrack_usage_ratio",
            "gauge",
            "Conntrack entries of the cgroup's network namespace divided by nf_conntrack_max.",
            |c| match (c.latest.conntrack_entries, c.latest.conntrack_max) {
                (Some(n), Some(m)) if m > 0 => Some(n as f64 / m as f64),
                _ => None,
            },
        ),
        (
            "triage_container_oom_kills_total",
            "counter",
            "OOM kills the kernel counted in this cgroup.",
            |c| c.oom_kills.map(|n| n as f64),
        ),
        (
            "triage_container_jvm_processes",
            "gauge",
            "HotSpot JVMs running in the cgroup.",
            |c| Some(c.jvm_processes as f64),
        ),
    ];
    for (name, kind, help, get) in families {
        f.header(name, kind, help);
        for c in &stats.cgroups {
            if let Some(v) = get(c) {
                f.line(name, &label_set(&c.labels), v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_escaped_and_skips_unknown_values() {
        let stats = Stats {
            cgroups: vec![CgroupSeries {
                labels: Labels {
                    cgroup: "/a\"b\\c".into(),
                    namespace: Some("shop".into()),
                    pod: Some("cart".into()),
                    container: None,
                    ..Labels::default()
                },
                latest: Sample {
                    working_set_bytes: 90,
                    usage_bytes: 100,
                    limit_bytes: Some(100),
                    ..Sample::default()
                },
                ..CgroupSeries::default()
            }],
            ..Stats::default()
        };
        let text = render(&stats);
        assert!(text.contains(
            "triage_container_memory_working_set_ratio{cgroup=\"/a\\\"b\\\\c\",namespace=\"shop\",pod=\"cart\"} 0.9\n"
        ));
        assert!(!text.contains("triage_container_cpu_throttled_ratio{"));
        assert!(text.contains("triage_agent_triggers_total{reason=\"working_set\"} 0\n"));
        // Every sample line belongs to a family declared before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().expect("name").to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().expect("name");
                let family = name
                    .strip_suffix("_sum")
                    .or_else(|| name.strip_suffix("_count"))
                    .filter(|f| declared.contains(*f))
                    .unwrap_or(name);
                assert!(declared.contains(family), "{name} undeclared");
            }
        }
    }
}
