//! The replicas of one workload side by side, and which of them is the outlier: restarts, memory
//! working set, CPU throttling, image digest, and whether it could be collected at all. A pod is
//! compared with the median of the *other* replicas, so one bad replica out of two still stands out.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::output::{human_bytes, table};

/// What is known of one pod, from its status and its container snapshot.
#[derive(Debug, Clone, Default)]
pub struct ReplicaFacts {
    /// `namespace/name`.
    pub pod: String,
    /// The top-level owner (`Deployment/web`); pods without one are not compared.
    pub owner: Option<String>,
    /// `complete`, `partial` or `timed out`.
    pub status: String,
    /// Why the pod is not complete.
    pub problem: Option<String>,
    /// Restarts of all its containers.
    pub restarts: i64,
    /// Last termination reasons (`OOMKilled`, `Error`) of its containers.
    pub last_terminations: Vec<String>,
    pub working_set_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    /// nr_throttled / nr_periods since the container started.
    pub throttled_ratio: Option<f64>,
    /// Container name → image digest.
    pub digests: BTreeMap<String, String>,
}

/// One workload's replicas.
#[derive(Debug, Clone, Serialize)]
pub struct ReplicaGroup {
    pub owner: String,
    pub replicas: Vec<ReplicaRow>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReplicaRow {
    pub pod: String,
    pub status: String,
    pub restarts: i64,
    pub working_set_bytes: Option<u64>,
    pub memory_limit_bytes: Option<u64>,
    pub throttled_ratio: Option<f64>,
    pub digests: BTreeMap<String, String>,
    /// Why this replica stands out; empty when it looks like the others.
    pub outlier: Vec<String>,
}

const MIB: u64 = 1 << 20;

fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

/// The median of a figure over every replica but `skip`.
fn others<T: Copy>(
    facts: &[ReplicaFacts],
    skip: usize,
    f: impl Fn(&ReplicaFacts) -> Option<T>,
) -> Option<f64>
where
    f64: From<T>,
{
    median(
        facts
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .filter_map(|(_, r)| f(r).map(f64::from))
            .collect(),
    )
}

fn outliers(group: &[ReplicaFacts]) -> Vec<Vec<String>> {
    let mut notes = vec![Vec::new(); group.len()];
    for (i, r) in group.iter().enumerate() {
        if let Some(problem) = &r.problem {
            notes[i].push(format!("{}: {problem}", r.status));
        }
        if group.len() < 2 {
            continue;
        }
        let n_others = group.len() - 1;
        if let Some(m) = others(group, i, |o| Some(o.restarts as f64)) {
            let x = r.restarts as f64;
            if (m == 0.0 && x > 0.0) || (m > 0.0 && x >= (2.0 * m).max(m + 3.0)) {
                notes[i].push(format!(
                    "restarted {} times, the other replicas a median of {m}",
                    r.restarts
                ));
            }
        }
        for reason in &r.last_terminations {
            let shared = group
                .iter()
                .enumerate()
                .filter(|(j, o)| *j != i && o.last_terminations.contains(reason))
                .count();
            if shared * 2 < n_others {
                notes[i].push(format!(
                    "last terminated {reason} ({shared} of {n_others} other replicas too)"
                ));
            }
        }
        if let (Some(ws), Some(m)) = (
            r.working_set_bytes,
            others(group, i, |o| o.working_set_bytes.map(|v| v as f64)),
        ) {
            let x = ws as f64;
            if x > 1.5 * m && x - m > 16.0 * MIB as f64 {
                notes[i].push(format!(
                    "working set {} against a median of {} for the other replicas",
                    human_bytes(ws),
                    human_bytes(m as u64)
                ));
            }
        }
        if let (Some(ws), Some(limit)) = (r.working_set_bytes, r.memory_limit_bytes) {
            if limit > 0 && ws as f64 >= 0.9 * limit as f64 {
                notes[i].push(format!(
                    "working set at {:.0}% of its memory limit",
                    ws as f64 * 100.0 / limit as f64
                ));
            }
        }
        if let (Some(t), Some(m)) = (r.throttled_ratio, others(group, i, |o| o.throttled_ratio)) {
            if t >= 0.10 && t >= 2.0 * m && t - m >= 0.05 {
                notes[i].push(format!(
                    "CPU throttled in {:.0}% of periods, the other replicas a median of {:.0}%",
                    t * 100.0,
                    m * 100.0
                ));
            }
        }
    }
    // Image digests: per container, the replicas off the most common digest; all of them when
    // there is no single most common one.
    let containers: std::collections::BTreeSet<&String> =
        group.iter().flat_map(|r| r.digests.keys()).collect();
    for c in containers {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for r in group {
            if let Some(d) = r.digests.get(c) {
                *counts.entry(d.as_str()).or_default() += 1;
            }
        }
        if counts.len() < 2 {
            continue;
        }
        let top = counts.values().copied().max().unwrap_or(0);
        let leaders: Vec<&str> = counts
            .iter()
            .filter(|(_, n)| **n == top)
            .map(|(d, _)| *d)
            .collect();
        for (i, r) in group.iter().enumerate() {
            let Some(d) = r.digests.get(c) else { continue };
            if leaders.len() > 1 {
                notes[i].push(format!(
                    "container {c} runs {} while other replicas run other digests",
                    short_digest(d)
                ));
            } else if d != leaders[0] {
                notes[i].push(format!(
                    "container {c} runs {}, {} of {} replicas run {}",
                    short_digest(d),
                    top,
                    group.len(),
                    short_digest(leaders[0])
                ));
            }
        }
    }
    notes
}

fn short_digest(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

/// Group pods by owner and compare each group's replicas. Pods without an owner form one group
/// each (they are listed, never compared).
pub fn compare(facts: Vec<ReplicaFacts>) -> Vec<ReplicaGroup> {
    let mut groups: BTreeMap<String, Vec<ReplicaFacts>> = BTreeMap::new();
    for f in facts {
        let key = f.owner.clone().unwrap_or_else(|| format!("pod {}", f.pod));
        groups.entry(key).or_default().push(f);
    }
    groups
        .into_iter()
        .map(|(owner, group)| {
            let notes = outliers(&group);
            ReplicaGroup {
                owner,
                replicas: group
                    .into_iter()
                    .zip(notes)
                    .map(|(r, outlier)| ReplicaRow {
                        pod: r.pod,
                        status: r.status,
                        restarts: r.restarts,
                        working_set_bytes: r.working_set_bytes,
                        memory_limit_bytes: r.memory_limit_bytes,
                        throttled_ratio: r.throttled_ratio,
                        digests: r.digests,
                        outlier,
                    })
                    .collect(),
            }
        })
        .collect()
}

/// The comparison as terminal tables, one per workload with more than one replica.
pub fn render(groups: &[ReplicaGroup]) -> String {
    let mut out = String::new();
    for g in groups.iter().filter(|g| g.replicas.len() > 1) {
        let odd = g.replicas.iter().filter(|r| !r.outlier.is_empty()).count();
        out.push_str(&format!(
            "\n== replicas of {} ({} pods, {}) ==\n",
            g.owner,
            g.replicas.len(),
            match odd {
                0 => "none stands out".to_string(),
                1 => "1 stands out".to_string(),
                n => format!("{n} stand out"),
            }
        ));
        let rows: Vec<Vec<String>> = g
            .replicas
            .iter()
            .map(|r| {
                vec![
                    r.pod.clone(),
                    r.status.clone(),
                    r.restarts.to_string(),
                    r.working_set_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "-".into()),
                    r.memory_limit_bytes
                        .map(human_bytes)
                        .unwrap_or_else(|| "-".into()),
                    r.throttled_ratio
                        .map(|t| format!("{:.0}%", t * 100.0))
                        .unwrap_or_else(|| "-".into()),
                    r.digests
                        .values()
                        .map(|d| short_digest(d))
                        .collect::<Vec<_>>()
                        .join(","),
                    if r.outlier.is_empty() {
                        "-".into()
                    } else {
                        r.outlier.join("; ")
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "POD",
                "STATUS",
                "RESTARTS",
                "WORKING SET",
                "LIMIT",
                "THROTTLED",
                "DIGEST",
                "STANDS OUT",
            ],
            &rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(name: &str) -> ReplicaFacts {
        ReplicaFacts {
            pod: format!("prod/{name}"),
            owner: Some("Deployment/web".into()),
            status: "complete".into(),
            restarts: 0,
            working_set_bytes: Some(200 * MIB),
            memory_limit_bytes: Some(1024 * MIB),
            throttled_ratio: Some(0.01),
            digests: BTreeMap::from([("app".into(), "sha256:aaaaaaaaaaaaaaaa".into())]),
            ..Default::default()
        }
    }

    fn notes_of<'a>(groups: &'a [ReplicaGroup], pod: &str) -> &'a [String] {
        &groups
            .iter()
            .flat_map(|g| &g.replicas)
            .find(|r| r.pod == pod)
            .unwrap()
            .outlier
    }

    #[test]
    fn identical_replicas_have_no_outlier() {
        let groups = compare((0..5).map(|i| replica(&format!("web-{i}"))).collect());
        assert_eq!(groups.len(), 1);
        assert!(groups[0].replicas.iter().all(|r| r.outlier.is_empty()));
        assert!(render(&groups).contains("none stands out"));
    }

    #[test]
    fn each_kind_of_outlier_is_named_on_its_replica_only() {
        let mut pods: Vec<ReplicaFacts> = (0..6).map(|i| replica(&format!("web-{i}"))).collect();
        pods[1].restarts = 7;
        pods[1].last_terminations = vec!["OOMKilled".into()];
        pods[2].working_set_bytes = Some(960 * MIB);
        pods[3].throttled_ratio = Some(0.4);
        pods[4]
            .digests
            .insert("app".into(), "sha256:bbbbbbbbbbbbbbbb".into());
        pods[5].status = "timed out".into();
        pods[5].problem = Some("did not finish within --timeout 3s".into());
        let groups = compare(pods);
        assert!(notes_of(&groups, "prod/web-0").is_empty());
        let n1 = notes_of(&groups, "prod/web-1").join("|");
        assert!(
            n1.contains("restarted 7 times") && n1.contains("OOMKilled"),
            "{n1}"
        );
        let n2 = notes_of(&groups, "prod/web-2").join("|");
        assert!(
            n2.contains("working set 960") && n2.contains("94% of its memory limit"),
            "{n2}"
        );
        assert!(notes_of(&groups, "prod/web-3")[0].contains("throttled in 40%"));
        let n4 = notes_of(&groups, "prod/web-4").join("|");
        assert!(
            n4.contains("sha256:bbbbbbbbbbbb")
                && n4.contains("5 of 6 replicas run sha256:aaaaaaaaaaaa"),
            "{n4}"
        );
        assert!(notes_of(&groups, "prod/web-5")[0].starts_with("timed out: did not finish"));
        assert!(render(&groups).contains("5 stand out"));
    }

    #[test]
    fn two_replicas_with_different_digests_are_both_named() {
        let mut pods = vec![replica("web-0"), replica("web-1")];
        pods[1]
            .digests
            .insert("app".into(), "sha256:cccccccccccccccc".into());
        let groups = compare(pods);
        for pod in ["prod/web-0", "prod/web-1"] {
            assert!(notes_of(&groups, pod)[0].contains("other replicas run other digests"));
        }
    }

    #[test]
    fn pods_of_different_owners_are_not_compared() {
        let mut a = replica("web-0");
        a.restarts = 9;
        let mut b = replica("api-0");
        b.owner = Some("Deployment/api".into());
        let groups = compare(vec![a, b]);
        assert_eq!(groups.len(), 2);
        assert!(groups.iter().all(|g| g.replicas[0].outlier.is_empty()));
        assert_eq!(
            render(&groups),
            "",
            "single replicas get no comparison table"
        );
    }
}
