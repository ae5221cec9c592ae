//! What a rule reports: a finding with its severity, the evidence it was computed from, why it
//! matters and what to do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How bad a finding is. Ordered: `Info < Warn < Crit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing; nothing is wrong yet (or it cannot be judged from one sample).
    Info,
    /// Something is wrong or about to be; look at it soon.
    Warn,
    /// Something is failing now (kills, drops, a full disk); act now.
    Crit,
}

impl Severity {
    /// `info`, `warn` or `crit`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Crit => "crit",
        }
    }

    /// Parse `info`, `warn`/`warning` or `crit`/`critical` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "crit" | "critical" => Some(Self::Crit),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One value a finding was computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// What the value is, e.g. `working set / memory limit`.
    pub label: String,
    /// The value as measured, with its unit (`96.1 % (1006632960 / 1048576000 bytes)`).
    pub value: String,
    /// The threshold it was compared with (`> 95 %`); `null` for context values.
    pub threshold: Option<String>,
    /// The file in the bundle it came from (`raw/proc/meminfo`,
    /// `raw/sys/fs/cgroup/memory/…/memory.usage_in_bytes`).
    pub source: String,
}

impl Evidence {
    /// Evidence compared with a threshold.
    pub fn new(
        label: impl Into<String>,
        value: impl Into<String>,
        threshold: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            threshold: Some(threshold.into()),
            source: source.into(),
        }
    }

    /// A value shown for context, not compared with anything.
    pub fn context(
        label: impl Into<String>,
        value: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            label: label.into(),
            value: value.into(),
            threshold: None,
            source: source.into(),
        }
    }
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule id (`CG-MEM-WS-LIMIT`).
    pub id: String,
    pub severity: Severity,
    /// One line naming the problem and where it is.
    pub title: String,
    /// What the thing is a finding about (`cgroup /kubepods/…`, `/var`, `host`,
    /// `pod default/web-0 container nginx`), so two findings of one rule can be told apart.
    pub subject: String,
    /// The values it was computed from, with thresholds and source files.
    pub evidence: Vec<Evidence>,
    /// Why it matters.
    pub explanation: String,
    /// What to do.
    pub remedy: String,
    /// Where the threshold comes from.
    pub reference: String,
}

/// Sort findings most severe first; within one severity by rule id, then subject.
pub fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.subject.cmp(&b.subject))
    });
}

/// Formatting helpers shared by the rules, so every finding prints numbers the same way.
pub(crate) mod fmt_value {
    /// `96.1 %`.
    pub fn percent(ratio: f64) -> String {
        format!("{:.1} %", ratio * 100.0)
    }

    /// Binary size with one decimal (`1.5 GiB`), exact bytes below 1 KiB.
    pub fn bytes(bytes: u64) -> String {
        const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        let mut value = bytes as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit < UNITS.len() - 1 {
            value /= 1024.0;
            unit += 1;
        }
        if unit == 0 {
            format!("{bytes} B")
        } else {
            format!("{value:.1} {}", UNITS[unit])
        }
    }

    /// `a / b` as a ratio; `None` when `b` is zero.
    pub fn ratio(a: u64, b: u64) -> Option<f64> {
        (b > 0).then(|| a as f64 / b as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, severity: Severity, subject: &str) -> Finding {
        Finding {
            id: id.into(),
            severity,
            title: String::new(),
            subject: subject.into(),
            evidence: vec![],
            explanation: String::new(),
            remedy: String::new(),
            reference: String::new(),
        }
    }

    #[test]
    fn most_severe_first_then_by_id() {
        let mut list = vec![
            finding("N-LOAD", Severity::Warn, "host"),
            finding("CG-CPU-PSI", Severity::Info, "a"),
            finding("N-DISK", Severity::Crit, "/"),
            finding("CT-USAGE", Severity::Warn, "host"),
        ];
        sort_findings(&mut list);
        let ids: Vec<&str> = list.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["N-DISK", "CT-USAGE", "N-LOAD", "CG-CPU-PSI"]);
    }

    #[test]
    fn severity_parses_and_orders() {
        assert_eq!(Severity::parse("WARN"), Some(Severity::Warn));
        assert_eq!(Severity::parse("critical"), Some(Severity::Crit));
        assert_eq!(Severity::parse("bad"), None);
        assert!(Severity::Crit > Severity::Warn && Severity::Warn > Severity::Info);
        assert_eq!(serde_json::to_string(&Severity::Crit).unwrap(), "\"crit\"");
    }
}
