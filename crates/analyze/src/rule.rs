//! The rule interface, the input rules read, and the engine that runs every registered rule.

use hostprobe::{CollectorStatus, Snapshot};
use serde::{Deserialize, Serialize};

use crate::finding::{Finding, Severity, sort_findings};
use crate::pod::PodInventory;

/// Where the raw copy of a file read under the snapshot's root is stored in a bundle:
/// `/proc/meminfo` → `raw/proc/meminfo`. Evidence names these members so a reader can open the
/// exact bytes a value was computed from (`triage bundle cat BUNDLE raw/proc/meminfo`).
pub fn raw_member(path_under_root: &str) -> String {
    format!("{RAW_PREFIX}/{}", path_under_root.trim_start_matches('/'))
}

/// Directory of a bundle that holds the raw source files, mirroring the target's paths.
pub const RAW_PREFIX: &str = "raw";

/// The member of a bundle that holds the whole [`Snapshot`] as JSON.
pub const SNAPSHOT_MEMBER: &str = "snapshot.json";

/// A block of log text (a container's log, a file) searched by the log rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogText {
    /// What produced it: `pod default/web-0 container app`, `host /var/log/syslog`.
    pub subject: String,
    /// The bundle member it was read from (`logs/default/web-0/app.log`).
    pub source: String,
    pub text: String,
}

/// Everything a rule may read. Absent parts (`None`, empty) make the rules that need them skip,
/// with the reason recorded in [`Analysis::skipped`].
#[derive(Debug, Clone, Copy, Default)]
pub struct AnalysisInput<'a> {
    /// The host or process snapshot (`snapshot.json`).
    pub snapshot: Option<&'a Snapshot>,
    /// Kubernetes objects of the target (pods, the services selecting them, PDBs).
    pub pods: Option<&'a PodInventory>,
    /// Log text to search.
    pub logs: &'a [LogText],
}

impl<'a> AnalysisInput<'a> {
    /// Input holding a snapshot only.
    pub fn from_snapshot(snapshot: &'a Snapshot) -> Self {
        Self {
            snapshot: Some(snapshot),
            pods: None,
            logs: &[],
        }
    }

    /// True when the snapshot carries `--interval` deltas.
    pub fn has_interval(&self) -> bool {
        self.snapshot.is_some_and(|s| s.deltas.is_some())
    }
}

/// A part of the input a rule reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Input {
    /// A snapshot collector's section, by collector name (`memory`, `cgroups`, `kernel_log`, …).
    Collector(&'static str),
    /// Kubernetes pods, services and PDBs.
    Pods,
    /// Log text.
    Logs,
}

impl std::fmt::Display for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Collector(name) => write!(f, "collector {name}"),
            Self::Pods => f.write_str("Kubernetes pods"),
            Self::Logs => f.write_str("logs"),
        }
    }
}

/// One rule of `rules.md`: a small unit that turns input into findings.
pub trait Rule: Send + Sync {
    /// Stable id (`CG-MEM-WS-LIMIT`).
    fn id(&self) -> &'static str;
    /// One line saying what the rule checks.
    fn summary(&self) -> &'static str;
    /// The parts of the input it reads; the rule is skipped when none of them is available.
    fn reads(&self) -> &'static [Input];
    /// True when the rule judges a change between two samples: without `--interval` it only
    /// looks at counters since boot or cgroup creation and says so.
    fn needs_interval(&self) -> bool {
        false
    }
    /// Evaluate. Never panics on any input value.
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding>;
}

/// Why a rule did not run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkippedRule {
    pub id: String,
    pub reason: String,
}

/// The result of running every rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Most severe first.
    pub findings: Vec<Finding>,
    /// Ids of the rules that ran.
    pub rules_evaluated: Vec<String>,
    /// Rules that could not run, with the reason (collector failed, no pod data, …).
    pub skipped: Vec<SkippedRule>,
    /// Remarks about the analysis as a whole (missing interval, partial inputs).
    pub notes: Vec<String>,
}

impl Analysis {
    /// The most severe finding's severity.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// Findings at `severity` or above.
    pub fn count_at_least(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity >= severity)
            .count()
    }
}

/// Whether a part of the input can be read; `Err` says why not.
pub fn availability(input: &AnalysisInput<'_>, part: Input) -> Result<(), String> {
    match part {
        Input::Pods => match input.pods {
            Some(p) if !p.pods.is_empty() => Ok(()),
            Some(_) => Err("the bundle holds no pods".into()),
            None => {
                Err("no Kubernetes objects were collected (target is not a pod or workload)".into())
            }
        },
        Input::Logs => {
            if input.logs.is_empty() {
                Err("no logs were collected".into())
            } else {
                Ok(())
            }
        }
        Input::Collector(name) => {
            let Some(snapshot) = input.snapshot else {
                return Err("no snapshot in the input".into());
            };
            if let Some(run) = snapshot.collector(name) {
                // A collector that ran may legitimately find nothing (no cgroups, no filesystems).
                return match run.status {
                    CollectorStatus::Ok | CollectorStatus::TimedOut => Ok(()),
                    status => Err(format!(
                        "collector {name} {status}{}",
                        run.error
                            .as_deref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )),
                };
            }
            if section_present(snapshot, name) {
                Ok(())
            } else {
                Err(format!(
                    "the snapshot has no {name} section (collector {name} did not run or is unknown to the version that wrote it)"
                ))
            }
        }
    }
}

/// True when the snapshot carries data for collector `name`.
fn section_present(snapshot: &Snapshot, name: &str) -> bool {
    match name {
        "system" => snapshot.system.is_some(),
        "memory" => snapshot.memory.is_some(),
        "processes" => !snapshot.processes.is_empty() || snapshot.process_summary.total > 0,
        "filesystems" => !snapshot.filesystems.is_empty(),
        "mounts" => !snapshot.mounts.is_empty(),
        "block_devices" => !snapshot.block_devices.is_empty(),
        "cgroups" => !snapshot.cgroups.is_empty(),
        "conntrack" => snapshot.conntrack.is_some(),
        "network" => snapshot.network.is_some(),
        "kernel_log" => snapshot.kernel_log.is_some(),
        _ => false,
    }
}

/// Run every rule in `rules` over `input`.
pub fn run_rules(rules: &[&dyn Rule], input: &AnalysisInput<'_>) -> Analysis {
    let mut analysis = Analysis::default();
    let mut interval_rules = Vec::new();
    for rule in rules {
        let mut missing = Vec::new();
        let mut available = 0;
        for part in rule.reads() {
            match availability(input, *part) {
                Ok(()) => available += 1,
                Err(reason) => missing.push(reason),
            }
        }
        if available == 0 {
            analysis.skipped.push(SkippedRule {
                id: rule.id().to_string(),
                reason: missing.join("; "),
            });
            continue;
        }
        if !missing.is_empty() {
            analysis.notes.push(format!(
                "{} ran on partial input: {}",
                rule.id(),
                missing.join("; ")
            ));
        }
        if rule.needs_interval() && !input.has_interval() {
            interval_rules.push(rule.id());
        }
        analysis.rules_evaluated.push(rule.id().to_string());
        analysis.findings.extend(rule.evaluate(input));
    }
    if !interval_rules.is_empty() {
        analysis.notes.push(format!(
            "{} need --interval: this snapshot has one sample, so they judged counters since boot or cgroup \
             creation only (at most info); run `triage snapshot --interval 10s` to see what is happening now",
            interval_rules.join(", ")
        ));
    }
    sort_findings(&mut analysis.findings);
    analysis
}
