//! The stored snapshot fixtures match what `tests/common` builds, and the whole rule set gives the
//! expected findings on them.
//!
//! Regenerate the JSON after a model change: `TRIAGE_UPDATE_FIXTURES=1 cargo test -p analyze --test snapshot_fixtures`.

mod common;

use std::path::PathBuf;

use analyze::{Severity, analyze_snapshot};

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn check_fixture(name: &str, built: &hostprobe::Snapshot) {
    let path = fixture_path(name);
    let json = serde_json::to_string_pretty(built).expect("snapshot serialises") + "\n";
    if std::env::var_os("TRIAGE_UPDATE_FIXTURES").is_some() || !path.exists() {
        std::fs::write(&path, &json).expect("writing the fixture");
    }
    let stored = std::fs::read_to_string(&path).expect("reading the fixture");
    let parsed: hostprobe::Snapshot =
        serde_json::from_str(&stored).expect("the stored fixture parses as a Snapshot");
    assert_eq!(
        &parsed, built,
        "{name} is stale: rerun with TRIAGE_UPDATE_FIXTURES=1"
    );
}

#[test]
fn fixtures_are_current() {
    check_fixture("snapshot-busy-node.json", &common::busy_node());
    check_fixture("snapshot-idle.json", &common::idle_host());
}

fn ids_at(analysis: &analyze::Analysis, severity: Severity) -> Vec<String> {
    let mut ids: Vec<String> = analysis
        .findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.id.clone())
        .collect();
    ids.dedup();
    ids
}

#[test]
fn busy_node_raises_the_incident_findings() {
    let analysis = analyze_snapshot(&common::busy_node());
    let crit = ids_at(&analysis, Severity::Crit);
    let warn = ids_at(&analysis, Severity::Warn);
    for id in [
        "CG-OOM-KILL",
        "CG-MEM-WS-LIMIT",
        "CG-MEM-PSI",
        "CT-USAGE",
        "CT-DROP",
        "CT-DMESG-FULL",
        "N-DISK",
    ] {
        assert!(
            crit.contains(&id.to_string()),
            "{id} should be crit; crit = {crit:?}"
        );
    }
    for id in [
        "CG-CPU-THROTTLE",
        "CG-MEM-MAX-EVENTS",
        "CT-INSERT-FAILED",
        "N-MEMAVAIL",
        "N-OOM",
        "N-LOAD",
        "N-FD",
        "N-MAJFAULT",
        "N-ZOMBIES",
        "N-INODES",
    ] {
        assert!(
            warn.contains(&id.to_string()),
            "{id} should be warn; warn = {warn:?}"
        );
    }
    // The node.js cgroup was throttled 21 % of periods during the interval: under the 25 % line.
    let throttled: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.id == "CG-CPU-THROTTLE")
        .collect();
    assert_eq!(throttled.len(), 1);
    assert!(
        throttled[0].subject.contains("9d2f4b1a7c3e"),
        "{}",
        throttled[0].subject
    );
    // Sorted most severe first.
    let order: Vec<Severity> = analysis.findings.iter().map(|f| f.severity).collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, sorted);
    // The interval was given: no "needs --interval" note.
    assert!(
        !analysis.notes.iter().any(|n| n.contains("need --interval")),
        "{:?}",
        analysis.notes
    );
    // Pod and log rules are not reported as skipped for a host snapshot.
    assert!(analysis.skipped.is_empty(), "{:?}", analysis.skipped);
}

#[test]
fn idle_host_raises_nothing_above_info_and_names_the_interval_rules() {
    let analysis = analyze_snapshot(&common::idle_host());
    let above_info: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.severity > Severity::Info)
        .collect();
    assert!(above_info.is_empty(), "{above_info:#?}");
    let note = analysis
        .notes
        .iter()
        .find(|n| n.contains("need --interval"))
        .expect("a needs --interval note");
    for id in [
        "CG-MEM-MAX-EVENTS",
        "CG-CPU-THROTTLE",
        "CT-INSERT-FAILED",
        "N-MAJFAULT",
    ] {
        assert!(note.contains(id), "{note}");
    }
}

#[test]
fn a_failed_collector_skips_its_rules_with_the_reason() {
    let mut snapshot = common::busy_node();
    assert!(analyze::distrust_collector(
        &mut snapshot,
        "conntrack",
        "member conntrack.json failed its sha256 check"
    ));
    let analysis = analyze_snapshot(&snapshot);
    for id in ["CT-USAGE", "CT-DROP", "CT-INSERT-FAILED"] {
        let skipped = analysis
            .skipped
            .iter()
            .find(|s| s.id == id)
            .unwrap_or_else(|| panic!("{id} not skipped"));
        assert!(skipped.reason.contains("sha256"), "{}", skipped.reason);
        assert!(!analysis.findings.iter().any(|f| f.id == id));
    }
    // The kernel log is still trusted: its conntrack finding stays.
    assert!(analysis.findings.iter().any(|f| f.id == "CT-DMESG-FULL"));
}
