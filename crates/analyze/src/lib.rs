//! Rules over collected data that produce findings with evidence and remedies, and the
//! self-contained HTML report that shows them.
//!
//! Each rule of the design's rule table is a small unit (a type implementing [`Rule`]) in the
//! module of the data it reads (`rules::host`, `rules::cgroup`, `rules::conntrack`,
//! `rules::kernel_log`, `rules::pod`, `rules::logs`), registered in [`rules::ALL`]. A rule reads
//! plain values — a [`hostprobe::Snapshot`], a [`pod::PodInventory`] of Kubernetes objects, log
//! text — and returns [`Finding`]s: id, severity, title, the evidence values with their thresholds
//! and the bundle member each came from, an explanation, a remedy and where the threshold comes
//! from. [`report::report_html`] renders a snapshot and its findings (plus optional heap and
//! profile analyses) as one HTML file with inline CSS, JS and SVG.
//!
//! Not for: reading bundles or /proc (the CLI and `hostprobe` do that: there is no I/O here, so
//! every rule is tested on hand-made values), parsing heap dumps or profiles (`hprof`,
//! `pprofile` — the report takes their results as plain rows), or terminal formatting.
//!
//! Rules that judge a change (Δ) read `snapshot.deltas`, filled when the snapshot was taken with
//! `--interval`. Without it they look at the counters since boot or cgroup creation, report at
//! most an `info` finding that says "needs --interval", and the analysis carries a note naming them.

pub mod finding;
pub mod pod;
pub mod report;
pub mod rule;
pub mod rules;

pub use finding::{Evidence, Finding, Severity, sort_findings};
pub use pod::PodInventory;
pub use report::{ReportExtras, report_html};
pub use rule::{
    Analysis, AnalysisInput, Input, LogText, RAW_PREFIX, Rule, SNAPSHOT_MEMBER, SkippedRule,
    raw_member, run_rules,
};

use hostprobe::{CollectorStatus, Snapshot};

/// Run every registered rule over `input`.
pub fn analyze(input: &AnalysisInput<'_>) -> Analysis {
    run_rules(rules::ALL, input)
}

/// Run every rule that reads a snapshot (the end of `triage snapshot`).
pub fn analyze_snapshot(snapshot: &Snapshot) -> Analysis {
    let mut analysis = analyze(&AnalysisInput::from_snapshot(snapshot));
    // Pod and log rules have nothing to read in a host snapshot: that is not worth a remark.
    analysis.skipped.retain(|s| {
        !rules::ALL
            .iter()
            .any(|r| r.id() == s.id && r.reads().iter().all(|i| !matches!(i, Input::Collector(_))))
    });
    analysis
}

/// The findings for a snapshot, most severe first.
pub fn findings_for(snapshot: &Snapshot) -> Vec<Finding> {
    analyze_snapshot(snapshot).findings
}

/// Collector names and the snapshot sections they fill.
pub const COLLECTORS: &[&str] = &[
    "system",
    "memory",
    "processes",
    "filesystems",
    "mounts",
    "block_devices",
    "cgroups",
    "conntrack",
    "network",
    "kernel_log",
];

/// Drop a collector's section from `snapshot` because it cannot be trusted (e.g. its bundle member
/// failed its checksum), and record why in the collector's entry, so the rules that read it skip
/// with that reason. Returns false for an unknown collector name.
pub fn distrust_collector(snapshot: &mut Snapshot, collector: &str, why: &str) -> bool {
    match collector {
        "system" => snapshot.system = None,
        "memory" => snapshot.memory = None,
        "processes" => {
            snapshot.processes.clear();
            snapshot.process_summary = Default::default();
        }
        "filesystems" => snapshot.filesystems.clear(),
        "mounts" => snapshot.mounts.clear(),
        "block_devices" => snapshot.block_devices.clear(),
        "cgroups" => snapshot.cgroups.clear(),
        "conntrack" => snapshot.conntrack = None,
        "network" => snapshot.network = None,
        "kernel_log" => snapshot.kernel_log = None,
        _ => return false,
    }
    match snapshot.collectors.iter_mut().find(|c| c.name == collector) {
        Some(run) => {
            run.status = CollectorStatus::Failed;
            run.error = Some(why.to_string());
        }
        None => snapshot.collectors.push(hostprobe::CollectorRun {
            name: collector.to_string(),
            status: CollectorStatus::Failed,
            error: Some(why.to_string()),
            ..Default::default()
        }),
    }
    true
}
