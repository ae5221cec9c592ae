//! Kernel-log rules: conntrack "table full" messages and OOM kills (with `/proc/vmstat`).

use hostprobe::KernelLog;

use super::Meta;
use crate::finding::fmt_value::bytes;
use crate::finding::{Evidence, Finding, Severity};
use crate::rule::{AnalysisInput, Input, Rule, raw_member};

/// The bundle member holding the raw kernel log.
fn log_member(log: &KernelLog) -> String {
    raw_member(if log.source.is_empty() {
        "/dev/kmsg"
    } else {
        &log.source
    })
}

/// How many log lines a finding quotes.
const QUOTED_LINES: usize = 5;

/// CT-DMESG-FULL: kernel log `nf_conntrack: table full, dropping packet` → crit.
pub struct ConntrackTableFull;

const TABLE_FULL: Meta = Meta {
    id: "CT-DMESG-FULL",
    explanation: "The kernel logged that the conntrack table was full and it dropped packets: connections and DNS \
                  queries were lost at the time of these messages (the kernel rate-limits the message, so there \
                  were more drops than lines).",
    remedy: "Raise net.netfilter.nf_conntrack_max and nf_conntrack_buckets; reduce connection churn; check \
             CT-USAGE and CT-DROP for the current state.",
    reference: "net/netfilter/nf_conntrack_core.c (\"nf_conntrack: table full, dropping packet\")",
};

impl Rule for ConntrackTableFull {
    fn id(&self) -> &'static str {
        TABLE_FULL.id
    }
    fn summary(&self) -> &'static str {
        "kernel log \"nf_conntrack: table full\" (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("kernel_log")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(log) = input.snapshot.and_then(|s| s.kernel_log.as_ref()) else {
            return vec![];
        };
        // The collector keeps lines that start with the prefix; match it again so a bundle from a
        // looser collector cannot raise a false alarm.
        let lines: Vec<_> = log
            .conntrack_full_lines
            .iter()
            .filter(|l| l.message.contains("nf_conntrack: table full"))
            .collect();
        if lines.is_empty() {
            return vec![];
        }
        let source = log_member(log);
        let mut evidence = vec![Evidence::new(
            "\"nf_conntrack: table full\" lines",
            lines.len().to_string(),
            "any",
            &source,
        )];
        for line in lines.iter().rev().take(QUOTED_LINES) {
            evidence.push(Evidence::context(
                line_label(line),
                line.message.clone(),
                &source,
            ));
        }
        let newest = lines.last().map(|l| line_label(l)).unwrap_or_default();
        vec![TABLE_FULL.finding(
            Severity::Crit,
            "conntrack table",
            format!("Kernel dropped packets because the conntrack table was full ({} messages, newest {newest})", lines.len()),
            evidence,
        )]
    }
}

fn line_label(line: &hostprobe::KernelLogLine) -> String {
    match line.time.as_deref() {
        Some(t) => format!("kernel log at {t}"),
        None => format!(
            "kernel log at {:.3} s after boot",
            line.since_boot_usec as f64 / 1e6
        ),
    }
}

/// N-OOM: `/proc/vmstat oom_kill` > 0, or OOM lines in the kernel log → warn.
pub struct NodeOom;

const NODE_OOM: Meta = Meta {
    id: "N-OOM",
    explanation: "The kernel's OOM killer ended processes on this machine: either a cgroup reached its memory \
                  limit (constraint CONSTRAINT_MEMCG: see CG-OOM-KILL) or the whole node ran out of memory. The \
                  killed process lost its work and in-flight requests.",
    remedy: "Look at which task and cgroup were killed (evidence); raise that workload's memory limit or fix its \
             memory growth; if the node itself ran out (CONSTRAINT_NONE), reserve memory for the system \
             (kubelet --system-reserved) and set limits on every workload.",
    reference: "node_exporter vmstat (node_vmstat_oom_kill); cAdvisor oomparser",
};

impl Rule for NodeOom {
    fn id(&self) -> &'static str {
        NODE_OOM.id
    }
    fn summary(&self) -> &'static str {
        "/proc/vmstat oom_kill > 0, or OOM lines in the kernel log (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        &[Input::Collector("system"), Input::Collector("kernel_log")]
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let vmstat_kills = snapshot
            .system
            .as_ref()
            .and_then(|s| s.vmstat.as_ref())
            .and_then(|v| v.oom_kill);
        let log = snapshot.kernel_log.as_ref();
        let log_kills = log.map(|l| l.oom_kills.as_slice()).unwrap_or(&[]);
        let log_lines = log.map(|l| l.oom_lines.len()).unwrap_or(0);
        if vmstat_kills.unwrap_or(0) == 0 && log_kills.is_empty() && log_lines == 0 {
            return vec![];
        }
        let vmstat = raw_member("/proc/vmstat");
        let mut evidence = Vec::new();
        if let Some(kills) = vmstat_kills {
            evidence.push(Evidence::new(
                "/proc/vmstat oom_kill since boot",
                kills.to_string(),
                "> 0",
                &vmstat,
            ));
        }
        if let Some(delta) = snapshot.deltas.as_ref().and_then(|d| d.oom_kills) {
            evidence.push(Evidence::context(
                "OOM kills during the interval",
                delta.to_string(),
                &vmstat,
            ));
        }
        if let Some(log) = log {
            let source = log_member(log);
            evidence.push(Evidence::new(
                "OOM lines in the kernel log",
                log_lines.to_string(),
                "any",
                &source,
            ));
            for kill in log_kills.iter().rev().take(QUOTED_LINES) {
                let when = kill.time.clone().unwrap_or_else(|| {
                    format!("{:.3} s after boot", kill.since_boot_usec as f64 / 1e6)
                });
                let mut what = format!(
                    "killed {} (pid {})",
                    kill.task.as_deref().unwrap_or("?"),
                    kill.pid
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                if let Some(rss) = kill.anon_rss_bytes {
                    what.push_str(&format!(", anon-rss {}", bytes(rss)));
                }
                if let Some(c) = kill.constraint.as_deref() {
                    what.push_str(&format!(", {c}"));
                }
                if let Some(memcg) = kill.oom_memcg.as_deref() {
                    what.push_str(&format!(", oom_memcg {memcg}"));
                }
                evidence.push(Evidence::context(
                    format!("OOM kill at {when}"),
                    what,
                    &source,
                ));
            }
        }
        let total = vmstat_kills.unwrap_or(0).max(log_kills.len() as u64);
        let title = match log_kills.last() {
            Some(last) => format!(
                "{total} OOM kill(s) on this machine; the last killed {} (pid {})",
                last.task.as_deref().unwrap_or("?"),
                last.pid
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "?".into())
            ),
            None if total > 0 => format!("{total} OOM kill(s) on this machine since boot"),
            None => format!("{log_lines} OOM line(s) in the kernel log"),
        };
        vec![NODE_OOM.finding(Severity::Warn, "host", title, evidence)]
    }
}

#[cfg(test)]
mod tests {
    use hostprobe::*;

    use super::*;

    fn line(message: &str) -> KernelLogLine {
        KernelLogLine {
            sequence: 1,
            since_boot_usec: 5_000_000,
            time: None,
            priority: 4,
            message: message.into(),
        }
    }

    fn with_log(log: KernelLog, vmstat_oom: Option<u64>) -> Snapshot {
        Snapshot {
            system: Some(System {
                vmstat: Some(VmStat {
                    oom_kill: vmstat_oom,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            kernel_log: Some(log),
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
    fn table_full_any_line_is_crit() {
        let empty = KernelLog {
            source: "/dev/kmsg".into(),
            ..Default::default()
        };
        assert!(severities(&ConntrackTableFull, &with_log(empty.clone(), None)).is_empty());
        let full = KernelLog {
            conntrack_full_lines: vec![line(
                "nf_conntrack: table full, dropping packet in netns 4026531840",
            )],
            ..empty
        };
        let s = with_log(full, None);
        let found = ConntrackTableFull.evaluate(&AnalysisInput::from_snapshot(&s));
        assert_eq!(found[0].severity, Severity::Crit);
        assert_eq!(found[0].evidence[0].source, "raw/dev/kmsg");
        assert!(found[0].evidence[1].value.contains("in netns"));
    }

    #[test]
    fn node_oom_from_vmstat_or_log() {
        let empty = KernelLog {
            source: "/dev/kmsg".into(),
            ..Default::default()
        };
        assert!(severities(&NodeOom, &with_log(empty.clone(), Some(0))).is_empty());
        assert_eq!(
            severities(&NodeOom, &with_log(empty.clone(), Some(1))),
            [Severity::Warn]
        );
        let log = KernelLog {
            oom_lines: vec![line(
                "Memory cgroup out of memory: Killed process 4242 (java)",
            )],
            oom_kills: vec![OomKill {
                pid: Some(4242),
                task: Some("java".into()),
                constraint: Some("CONSTRAINT_MEMCG".into()),
                oom_memcg: Some("/kubepods/burstable/pod1/abc".into()),
                anon_rss_bytes: Some(300 << 20),
                ..Default::default()
            }],
            ..empty
        };
        // vmstat not available (old kernel): the log alone is enough.
        let s = with_log(log, None);
        let found = NodeOom.evaluate(&AnalysisInput::from_snapshot(&s));
        assert_eq!(found[0].severity, Severity::Warn);
        assert!(
            found[0].title.contains("java (pid 4242)"),
            "{}",
            found[0].title
        );
        assert!(
            found[0]
                .evidence
                .iter()
                .any(|e| e.value.contains("CONSTRAINT_MEMCG"))
        );
    }
}
