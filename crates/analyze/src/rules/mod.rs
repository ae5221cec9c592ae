//! The registered rules, one module per data source. Adding a rule: write a unit struct that
//! implements [`Rule`](crate::Rule) in the module of the data it reads, then list it in [`ALL`].

pub mod cgroup;
pub mod conntrack;
pub mod host;
pub mod kernel_log;
pub mod logs;
pub mod pod;

use crate::finding::{Evidence, Finding, Severity};
use crate::rule::Rule;

/// Every rule, in the order of `rules.md`.
pub static ALL: &[&dyn Rule] = &[
    &cgroup::OomKill,
    &cgroup::MemWorkingSetLimit,
    &cgroup::MemMaxEvents,
    &cgroup::MemPressure,
    &cgroup::CpuThrottle,
    &cgroup::CpuPressure,
    &cgroup::NoMemLimit,
    &conntrack::Usage,
    &conntrack::Drop,
    &conntrack::InsertFailed,
    &kernel_log::ConntrackTableFull,
    &host::MemAvailable,
    &kernel_log::NodeOom,
    &host::Load,
    &host::FileDescriptors,
    &host::Disk,
    &host::Inodes,
    &host::MajorFaults,
    &host::Zombies,
    &pod::Probes,
    &pod::Resources,
    &pod::ImageTag,
    &pod::DigestDrift,
    &pod::NoPreStop,
    &pod::Grace,
    &pod::StopSignal,
    &pod::Pdb,
    &pod::RootPrivileged,
    &pod::Restarts,
    &logs::Dns,
];

/// The fixed text of a rule: what it means, what to do, where the threshold comes from.
pub(crate) struct Meta {
    pub id: &'static str,
    pub explanation: &'static str,
    pub remedy: &'static str,
    pub reference: &'static str,
}

impl Meta {
    /// A finding of this rule.
    pub(crate) fn finding(
        &self,
        severity: Severity,
        subject: impl Into<String>,
        title: impl Into<String>,
        evidence: Vec<Evidence>,
    ) -> Finding {
        Finding {
            id: self.id.to_string(),
            severity,
            title: title.into(),
            subject: subject.into(),
            evidence,
            explanation: self.explanation.to_string(),
            remedy: self.remedy.to_string(),
            reference: self.reference.to_string(),
        }
    }
}

/// Severity for a value that is bad when high: `> crit` → crit, `> warn` → warn.
pub(crate) fn above(value: f64, warn: f64, crit: f64) -> Option<Severity> {
    if value > crit {
        Some(Severity::Crit)
    } else if value > warn {
        Some(Severity::Warn)
    } else {
        None
    }
}

/// Severity for a value that is bad when low: `< crit` → crit, `< warn` → warn.
pub(crate) fn below(value: f64, warn: f64, crit: f64) -> Option<Severity> {
    if value < crit {
        Some(Severity::Crit)
    } else if value < warn {
        Some(Severity::Warn)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_match_rules_md() {
        let mut ids: Vec<&str> = ALL.iter().map(|r| r.id()).collect();
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "duplicate rule id");
        for expected in [
            "CG-OOM-KILL",
            "CG-MEM-WS-LIMIT",
            "CG-MEM-MAX-EVENTS",
            "CG-MEM-PSI",
            "CG-CPU-THROTTLE",
            "CG-CPU-PSI",
            "CG-NO-MEM-LIMIT",
            "CT-USAGE",
            "CT-DROP",
            "CT-INSERT-FAILED",
            "CT-DMESG-FULL",
            "N-MEMAVAIL",
            "N-OOM",
            "N-LOAD",
            "N-FD",
            "N-DISK",
            "N-INODES",
            "N-MAJFAULT",
            "N-ZOMBIES",
            "P-PROBES",
            "P-RESOURCES",
            "P-IMAGE-TAG",
            "P-DIGEST-DRIFT",
            "P-NO-PRESTOP",
            "P-GRACE",
            "P-STOPSIGNAL",
            "P-PDB",
            "P-ROOT-PRIV",
            "P-RESTARTS",
            "L-DNS",
        ] {
            assert!(ids.contains(&expected), "{expected} is not registered");
        }
        assert_eq!(count, 30);
    }

    #[test]
    fn grading_is_strict_at_the_threshold() {
        assert_eq!(above(0.80, 0.80, 0.95), None);
        assert_eq!(above(0.8001, 0.80, 0.95), Some(Severity::Warn));
        assert_eq!(above(0.95, 0.80, 0.95), Some(Severity::Warn));
        assert_eq!(above(0.9501, 0.80, 0.95), Some(Severity::Crit));
        assert_eq!(below(0.05, 0.05, 0.03), None);
        assert_eq!(below(0.0499, 0.05, 0.03), Some(Severity::Warn));
        assert_eq!(below(0.0299, 0.05, 0.03), Some(Severity::Crit));
    }
}
