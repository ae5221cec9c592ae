//! Connection-tracking rules: table usage, drops, insert failures.

use hostprobe::{Conntrack, Snapshot};

use super::{Meta, above};
use crate::finding::fmt_value::{percent, ratio};
use crate::finding::{Evidence, Finding, Severity};
use crate::rule::{AnalysisInput, Input, Rule, SNAPSHOT_MEMBER, raw_member};

const CONNTRACK: &[Input] = &[Input::Collector("conntrack")];
const STAT_FILE: &str = "/proc/net/stat/nf_conntrack";

fn loaded(snapshot: &Snapshot) -> Option<&Conntrack> {
    snapshot.conntrack.as_ref().filter(|c| c.loaded)
}

/// CT-USAGE: nf_conntrack_count / nf_conntrack_max > 75 % warn, > 90 % crit.
pub struct Usage;

const USAGE: Meta = Meta {
    id: "CT-USAGE",
    explanation: "Every connection (and every UDP flow, e.g. each DNS query) through netfilter takes a \
                  conntrack entry. When the table is full the kernel drops new packets (\"nf_conntrack: table \
                  full, dropping packet\"): new connections time out and DNS lookups fail.",
    remedy: "Raise net.netfilter.nf_conntrack_max (and nf_conntrack_buckets = max/4), e.g. kube-proxy \
             --conntrack-max-per-core; find the source of short-lived connections (connection pooling, \
             keep-alive, NodeLocal DNSCache); lower nf_conntrack_tcp_timeout_time_wait if TIME_WAIT dominates.",
    reference: "node-mixin NodeHighNumberConntrackEntriesUsed (0.75)",
};

impl Rule for Usage {
    fn id(&self) -> &'static str {
        USAGE.id
    }
    fn summary(&self) -> &'static str {
        "nf_conntrack_count / nf_conntrack_max > 75 % (warn), > 90 % (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        CONNTRACK
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(ct) = input.snapshot.and_then(loaded) else {
            return vec![];
        };
        let (Some(count), Some(max)) = (ct.count, ct.max) else {
            return vec![];
        };
        let Some(used) = ratio(count, max) else {
            return vec![];
        };
        let Some(severity) = above(used, 0.75, 0.90) else {
            return vec![];
        };
        let count_file = raw_member("/proc/sys/net/netfilter/nf_conntrack_count");
        let max_file = raw_member("/proc/sys/net/netfilter/nf_conntrack_max");
        let mut evidence = vec![
            Evidence::new(
                "nf_conntrack_count / nf_conntrack_max",
                percent(used),
                "> 75 % warn, > 90 % crit",
                &count_file,
            ),
            Evidence::context("nf_conntrack_count", count.to_string(), &count_file),
            Evidence::context("nf_conntrack_max", max.to_string(), &max_file),
        ];
        if let Some(buckets) = ct.buckets {
            evidence.push(Evidence::context(
                "nf_conntrack_buckets",
                buckets.to_string(),
                raw_member("/proc/sys/net/netfilter/nf_conntrack_buckets"),
            ));
        }
        vec![USAGE.finding(
            severity,
            "conntrack table",
            format!(
                "Conntrack table {} full ({count} of {max} entries)",
                percent(used)
            ),
            evidence,
        )]
    }
}

/// CT-DROP: Σdrop + Σearly_drop > 0 (Δ > 0 with `--interval`) → crit.
pub struct Drop;

const DROP: Meta = Meta {
    id: "CT-DROP",
    explanation: "`drop` counts packets dropped because no conntrack entry could be allocated; `early_drop` \
                  counts entries evicted to make room in a full table. Either means the table overflowed: new \
                  connections and DNS queries were lost and clients saw timeouts.",
    remedy: "Raise net.netfilter.nf_conntrack_max and nf_conntrack_buckets; reduce connection churn (pooling, \
             keep-alive, NodeLocal DNSCache); see CT-USAGE for the current fill level.",
    reference: "node_exporter conntrack collector (node_nf_conntrack_stat_drop, _early_drop)",
};

impl Rule for Drop {
    fn id(&self) -> &'static str {
        DROP.id
    }
    fn summary(&self) -> &'static str {
        "Σdrop + Σearly_drop > 0 since boot, or Δ > 0 with --interval (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        CONNTRACK
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let Some(ct) = loaded(snapshot) else {
            return vec![];
        };
        let source = raw_member(STAT_FILE);
        if let Some(deltas) = snapshot.deltas.as_ref() {
            let Some(delta) = deltas.conntrack.as_ref() else {
                return vec![];
            };
            let drops = delta.drop.unwrap_or(0);
            let early = delta.early_drop.unwrap_or(0);
            if drops + early == 0 {
                return vec![];
            }
            return vec![DROP.finding(
                Severity::Crit,
                "conntrack table",
                format!(
                    "Conntrack dropped {} packets/entries during the {} ms interval",
                    drops + early,
                    deltas.interval_ms
                ),
                vec![
                    Evidence::new(
                        "Δ(Σdrop + Σearly_drop)",
                        (drops + early).to_string(),
                        "> 0",
                        &source,
                    ),
                    Evidence::context("Δ drop", drops.to_string(), &source),
                    Evidence::context("Δ early_drop", early.to_string(), &source),
                    Evidence::context(
                        "interval",
                        format!("{} ms", deltas.interval_ms),
                        SNAPSHOT_MEMBER,
                    ),
                ],
            )];
        }
        let Some(stats) = ct.stats.as_ref() else {
            return vec![];
        };
        let drops = stats.drop.unwrap_or(0);
        let early = stats.early_drop.unwrap_or(0);
        if drops + early == 0 {
            return vec![];
        }
        vec![DROP.finding(
            Severity::Crit,
            "conntrack table",
            format!(
                "Conntrack has dropped {} packets/entries since boot (table overflow)",
                drops + early
            ),
            vec![
                Evidence::new(
                    "Σdrop + Σearly_drop (all CPUs)",
                    (drops + early).to_string(),
                    "> 0",
                    &source,
                ),
                Evidence::context("Σ drop", drops.to_string(), &source),
                Evidence::context("Σ early_drop", early.to_string(), &source),
                Evidence::context(
                    "note",
                    "counters since boot; run with --interval to see whether it is still dropping",
                    &source,
                ),
            ],
        )]
    }
}

/// CT-INSERT-FAILED: ΔΣinsert_failed > 0 → warn (needs `--interval`).
pub struct InsertFailed;

const INSERT_FAILED: Meta = Meta {
    id: "CT-INSERT-FAILED",
    explanation: "`insert_failed` counts packets whose new conntrack entry lost a race with an identical one, \
                  typically two UDP packets of one socket sent at once from different CPUs — the parallel A and \
                  AAAA DNS queries of glibc. The losing packet is dropped and the lookup waits 5 s for a retry.",
    remedy: "Use NodeLocal DNSCache or TCP for DNS; set `options single-request-reopen` (or use-vc) in the pod's \
             resolv.conf via dnsConfig; upgrade the kernel (race fixes in 5.0+).",
    reference: "node_exporter conntrack collector; known UDP DNS conntrack race",
};

impl Rule for InsertFailed {
    fn id(&self) -> &'static str {
        INSERT_FAILED.id
    }
    fn summary(&self) -> &'static str {
        "Δ Σinsert_failed > 0 (warn; needs --interval)"
    }
    fn reads(&self) -> &'static [Input] {
        CONNTRACK
    }
    fn needs_interval(&self) -> bool {
        true
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(snapshot) = input.snapshot else {
            return vec![];
        };
        let Some(ct) = loaded(snapshot) else {
            return vec![];
        };
        let source = raw_member(STAT_FILE);
        if let Some(deltas) = snapshot.deltas.as_ref() {
            let Some(failed) = deltas
                .conntrack
                .as_ref()
                .and_then(|d| d.insert_failed)
                .filter(|n| *n > 0)
            else {
                return vec![];
            };
            return vec![INSERT_FAILED.finding(
                Severity::Warn,
                "conntrack table",
                format!(
                    "{failed} conntrack inserts failed during the {} ms interval",
                    deltas.interval_ms
                ),
                vec![
                    Evidence::new("Δ Σinsert_failed", failed.to_string(), "> 0", &source),
                    Evidence::context(
                        "interval",
                        format!("{} ms", deltas.interval_ms),
                        SNAPSHOT_MEMBER,
                    ),
                ],
            )];
        }
        let Some(failed) = ct
            .stats
            .as_ref()
            .and_then(|s| s.insert_failed)
            .filter(|n| *n > 0)
        else {
            return vec![];
        };
        vec![INSERT_FAILED.finding(
            Severity::Info,
            "conntrack table",
            format!("{failed} conntrack inserts failed since boot (needs --interval to judge now)"),
            vec![Evidence::new(
                "Σinsert_failed since boot",
                failed.to_string(),
                "Δ > 0 over an interval",
                &source,
            )],
        )]
    }
}

#[cfg(test)]
mod tests {
    use hostprobe::*;

    use super::*;

    fn with(count: u64, max: u64, drop: u64, early: u64, insert_failed: u64) -> Snapshot {
        Snapshot {
            conntrack: Some(Conntrack {
                loaded: true,
                count: Some(count),
                max: Some(max),
                buckets: Some(max / 4),
                stats: Some(ConntrackStats {
                    cpus: 2,
                    drop: Some(drop),
                    early_drop: Some(early),
                    insert_failed: Some(insert_failed),
                    ..Default::default()
                }),
            }),
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
    fn usage_thresholds() {
        assert!(severities(&Usage, &with(750, 1000, 0, 0, 0)).is_empty());
        assert_eq!(
            severities(&Usage, &with(751, 1000, 0, 0, 0)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Usage, &with(900, 1000, 0, 0, 0)),
            [Severity::Warn]
        );
        assert_eq!(
            severities(&Usage, &with(901, 1000, 0, 0, 0)),
            [Severity::Crit]
        );
        let mut s = with(901, 1000, 0, 0, 0);
        s.conntrack.as_mut().unwrap().loaded = false;
        assert!(
            severities(&Usage, &s).is_empty(),
            "not loaded: nothing to judge"
        );
        let f = &Usage.evaluate(&AnalysisInput::from_snapshot(&with(950, 1000, 0, 0, 0)))[0];
        assert_eq!(
            f.evidence[0].source,
            "raw/proc/sys/net/netfilter/nf_conntrack_count"
        );
    }

    #[test]
    fn drop_without_interval() {
        assert!(severities(&Drop, &with(1, 1000, 0, 0, 5)).is_empty());
        assert_eq!(severities(&Drop, &with(1, 1000, 1, 0, 0)), [Severity::Crit]);
        assert_eq!(severities(&Drop, &with(1, 1000, 0, 1, 0)), [Severity::Crit]);
    }

    fn with_delta(s: Snapshot, drop: u64, early: u64, insert_failed: u64) -> Snapshot {
        Snapshot {
            deltas: Some(Deltas {
                interval_ms: 2000,
                conntrack: Some(ConntrackDelta {
                    drop: Some(drop),
                    early_drop: Some(early),
                    insert_failed: Some(insert_failed),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..s
        }
    }

    #[test]
    fn drop_with_interval_judges_the_change() {
        // Old drops since boot, none during the interval: nothing now.
        assert!(severities(&Drop, &with_delta(with(1, 1000, 500, 0, 0), 0, 0, 0)).is_empty());
        assert_eq!(
            severities(&Drop, &with_delta(with(1, 1000, 500, 0, 0), 1, 0, 0)),
            [Severity::Crit]
        );
        assert_eq!(
            severities(&Drop, &with_delta(with(1, 1000, 0, 0, 0), 0, 1, 0)),
            [Severity::Crit]
        );
    }

    #[test]
    fn insert_failed_thresholds() {
        assert!(severities(&InsertFailed, &with(1, 1000, 0, 0, 0)).is_empty());
        assert_eq!(
            severities(&InsertFailed, &with(1, 1000, 0, 0, 1)),
            [Severity::Info]
        );
        assert!(
            severities(&InsertFailed, &with_delta(with(1, 1000, 0, 0, 90), 0, 0, 0)).is_empty()
        );
        assert_eq!(
            severities(&InsertFailed, &with_delta(with(1, 1000, 0, 0, 90), 0, 0, 1)),
            [Severity::Warn]
        );
    }
}
