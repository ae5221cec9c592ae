//! `triage analyze BUNDLE` end to end: bundles built with the real writer from the snapshot
//! fixtures of the analyze crate, then intact, tampered, truncated, from other schema versions,
//! with a collector missing, and from a pod.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../analyze/tests/fixtures");

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(FIXTURES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn snapshot_value(name: &str) -> serde_json::Value {
    serde_json::from_slice(&fixture(name)).expect("fixture is JSON")
}

/// Write a bundle the way `triage snapshot` does: snapshot.json, collectors/<name>.json, raw files.
fn write_snapshot_bundle(
    dir: &Path,
    name: &str,
    snapshot: &serde_json::Value,
    raw_filler_bytes: usize,
) -> PathBuf {
    let path = dir.join(name);
    let mut writer = bundle::BundleWriter::create(&path, "host", jiff::Timestamp::now())
        .expect("creating the bundle");
    writer
        .add_json("snapshot.json", snapshot)
        .expect("adding snapshot.json");
    let sections = [
        ("system", "system"),
        ("memory", "memory"),
        ("filesystems", "filesystems"),
        ("mounts", "mounts"),
        ("block_devices", "block_devices"),
        ("cgroups", "cgroups"),
        ("conntrack", "conntrack"),
        ("network", "network"),
        ("kernel_log", "kernel_log"),
    ];
    let collectors = snapshot["collectors"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for run in &collectors {
        let collector = run["name"].as_str().unwrap_or_default();
        let data = match collector {
            "processes" => {
                serde_json::json!({"processes": snapshot["processes"], "process_summary": snapshot["process_summary"]})
            }
            other => sections
                .iter()
                .find(|(c, _)| *c == other)
                .map(|(_, key)| snapshot[*key].clone())
                .unwrap_or_default(),
        };
        writer
            .add_json(
                &format!("collectors/{collector}.json"),
                &serde_json::json!({"collector": run, "data": data}),
            )
            .expect("adding a collector member");
        writer.record_collector(bundle::CollectorRecord {
            name: collector.into(),
            status: bundle::CollectorStatus::Ok,
            error: None,
            duration_ms: 4,
        });
    }
    writer.add_text("raw/proc/meminfo", b"MemTotal:       33554432 kB\nMemFree:          624640 kB\nMemAvailable:    2201600 kB\n").expect("raw");
    // Raw files after the JSON members (as a real bundle has hundreds), so a cut archive loses
    // these and not the snapshot.
    let mut seed = 0x9e3779b97f4a7c15u64;
    let mut filler = String::with_capacity(raw_filler_bytes);
    while filler.len() < raw_filler_bytes {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        filler.push_str(&format!("{:016x} {}\n", seed, seed % 1000));
    }
    for i in 0..4 {
        writer
            .add_text(&format!("raw/proc/{}/stat", 1000 + i), filler.as_bytes())
            .expect("raw filler");
    }
    writer.finish().expect("finishing the bundle")
}

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .output()
        .expect("running triage")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn analyze_json(path: &Path) -> serde_json::Value {
    let out = triage(&["analyze", path.to_str().unwrap(), "--json"]);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints one JSON document")
}

fn ids(doc: &serde_json::Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

/// Rewrite the first occurrence of `from` (same length as `to`) inside the compressed tar.
fn tamper(bundle: &Path, from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "same length keeps the tar valid");
    let compressed = std::fs::read(bundle).unwrap();
    let mut tar = Vec::new();
    zstd::stream::read::Decoder::new(&compressed[..])
        .unwrap()
        .read_to_end(&mut tar)
        .unwrap();
    let at = tar
        .windows(from.len())
        .position(|w| w == from.as_bytes())
        .expect("text to tamper with");
    tar[at..at + to.len()].copy_from_slice(to.as_bytes());
    std::fs::write(bundle, zstd::encode_all(&tar[..], 3).unwrap()).unwrap();
}

#[test]
fn intact_bundle_prints_findings_most_severe_first_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_snapshot_bundle(
        dir.path(),
        "busy.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        1000,
    );
    let out = triage(&["analyze", bundle.to_str().unwrap()]);
    assert_eq!(code(&out), 0, "no --fail-on: exit 0 whatever is found");
    let text = stdout(&out);
    assert!(
        text.contains("checks  every member matches its sha256"),
        "{text}"
    );
    let first_crit = text.find("\nCRIT  ").expect("a crit finding");
    let first_warn = text.find("\nWARN  ").expect("a warn finding");
    let first_info = text.find("\nINFO  ").expect("an info finding");
    assert!(
        first_crit < first_warn && first_warn < first_info,
        "most severe first"
    );
    assert!(text.contains("CRIT  CG-MEM-WS-LIMIT"));
    // Evidence lines carry the value, threshold and bundle member.
    assert!(
        text.contains("working set / limit = 100.7 %  (threshold > 80 % warn, > 95 % crit)  [raw/sys/fs/cgroup/kubepods.slice/"),
        "{text}"
    );
    assert!(text.contains("fix: "));
}

#[test]
fn json_output_and_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let busy = write_snapshot_bundle(
        dir.path(),
        "busy.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        1000,
    );
    let idle = write_snapshot_bundle(
        dir.path(),
        "idle.tar.zst",
        &snapshot_value("snapshot-idle.json"),
        1000,
    );
    let doc = analyze_json(&busy);
    assert_eq!(doc["schema"], "triage.analysis/v1");
    assert_eq!(doc["integrity"]["verified"], true);
    assert_eq!(doc["worst"], "crit");
    let findings = doc["findings"].as_array().unwrap();
    assert_eq!(findings[0]["severity"], "crit");
    assert!(findings[0]["evidence"][0]["source"].as_str().unwrap().len() > 3);
    for id in [
        "CT-USAGE",
        "CT-DROP",
        "N-DISK",
        "CG-CPU-THROTTLE",
        "N-MAJFAULT",
    ] {
        assert!(
            ids(&doc).contains(&id.to_string()),
            "{id} missing from {:?}",
            ids(&doc)
        );
    }
    let p = busy.to_str().unwrap();
    assert_eq!(code(&triage(&["analyze", p, "--fail-on", "crit"])), 3);
    assert_eq!(
        code(&triage(&["analyze", p, "--fail-on", "warn", "--json"])),
        3
    );
    let i = idle.to_str().unwrap();
    assert_eq!(
        code(&triage(&["analyze", i, "--fail-on", "warn"])),
        0,
        "the idle host has info findings at most"
    );
    let idle_doc = analyze_json(&idle);
    assert!(
        idle_doc["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("need --interval"))
    );
    assert_eq!(
        code(&triage(&["analyze", i, "--fail-on", "bogus"])),
        2,
        "usage error"
    );
}

#[test]
fn tampered_snapshot_is_rebuilt_from_intact_collector_members() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_snapshot_bundle(
        dir.path(),
        "t.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        1000,
    );
    // snapshot.json is the first member: its first "max": 131072 is the conntrack max.
    tamper(&bundle, "\"max\": 131072", "\"max\": 999999");
    let out = triage(&["analyze", bundle.to_str().unwrap()]);
    assert_eq!(code(&out), 0);
    let text = stdout(&out);
    assert!(
        text.contains("checks  FAILED — 1 member(s) fail their checksum"),
        "{text}"
    );
    assert!(
        text.contains("snapshot.json does not match manifest.json (sha256"),
        "{text}"
    );
    assert!(
        text.contains("rebuilt from the intact collectors/*.json"),
        "{text}"
    );
    // The intact collectors/conntrack.json still says 131072: CT-USAGE is judged on it.
    assert!(text.contains("CRIT  CT-USAGE"), "{text}");
    assert!(!text.contains("999999"));
}

#[test]
fn tampered_collector_member_is_named_and_its_rules_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_snapshot_bundle(
        dir.path(),
        "t.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        1000,
    );
    tamper(&bundle, "\"max\": 131072", "\"max\": 999999"); // snapshot.json
    tamper(&bundle, "\"max\": 131072", "\"max\": 999998"); // collectors/conntrack.json (next occurrence)
    let doc = analyze_json(&bundle);
    let mismatched: Vec<&str> = doc["integrity"]["mismatched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m[0].as_str().unwrap())
        .collect();
    let mut mismatched = mismatched;
    mismatched.sort();
    assert_eq!(mismatched, ["collectors/conntrack.json", "snapshot.json"]);
    let skipped = doc["skipped"].as_array().unwrap();
    let ct = skipped
        .iter()
        .find(|s| s["id"] == "CT-USAGE")
        .expect("CT-USAGE skipped");
    assert!(
        ct["reason"]
            .as_str()
            .unwrap()
            .contains("collectors/conntrack.json failed its sha256 check"),
        "{ct}"
    );
    // Everything else is still analysed.
    assert!(ids(&doc).contains(&"CG-OOM-KILL".to_string()));
}

#[test]
fn truncated_bundle_is_analysed_up_to_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_snapshot_bundle(
        dir.path(),
        "cut.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        400_000,
    );
    let data = std::fs::read(&bundle).unwrap();
    std::fs::write(&bundle, &data[..data.len() * 2 / 3]).unwrap();
    let out = triage(&["analyze", bundle.to_str().unwrap()]);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("cut short"), "{text}");
    assert!(
        text.contains("CRIT  CG-OOM-KILL"),
        "the snapshot before the cut is analysed: {text}"
    );
    assert!(text.contains("no manifest: nothing could be verified"));
}

/// Remove the named collectors from a snapshot's collector list (as a writer without them would).
fn drop_collectors(snap: &mut serde_json::Value, names: &[&str]) {
    let kept: Vec<serde_json::Value> = snap["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !names.iter().any(|n| c["name"] == *n))
        .cloned()
        .collect();
    snap["collectors"] = kept.into();
}

/// The analysis notes of a `--json` document.
fn notes(doc: &serde_json::Value) -> Vec<String> {
    doc["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn newer_schema_and_missing_collector_are_said_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = snapshot_value("snapshot-busy-node.json");
    snap["schema"] = "triage.snapshot/v2".into();
    snap["gpu"] = serde_json::json!({"devices": 2});
    snap["memory"] = serde_json::json!({"total": {"value": 1, "unit": "GiB"}}); // reshaped in "v2"
    snap["conntrack"] = serde_json::Value::Null;
    drop_collectors(&mut snap, &["conntrack"]);
    let bundle = write_snapshot_bundle(dir.path(), "v2.tar.zst", &snap, 1000);
    let doc = analyze_json(&bundle);
    let notes = notes(&doc);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("triage.snapshot/v2, newer than the triage.snapshot/v1")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("sections memory do not match")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("collector conntrack is not in this snapshot")),
        "{notes:?}"
    );
    assert!(
        !ids(&doc).contains(&"N-MEMAVAIL".to_string()),
        "memory unreadable: no N-MEMAVAIL"
    );
    // The readable sections are still analysed.
    assert!(ids(&doc).contains(&"CG-MEM-WS-LIMIT".to_string()));
    assert!(ids(&doc).contains(&"N-DISK".to_string()));
}

#[test]
fn older_schema_without_later_sections_is_said_and_the_rest_analysed() {
    let dir = tempfile::tempdir().unwrap();
    let mut snap = snapshot_value("snapshot-busy-node.json");
    // An older writer: no conntrack or kernel-log collectors yet.
    snap["schema"] = "triage.snapshot/v0".into();
    let map = snap.as_object_mut().unwrap();
    map.remove("conntrack");
    map.remove("kernel_log");
    drop_collectors(&mut snap, &["conntrack", "kernel_log"]);
    let bundle = write_snapshot_bundle(dir.path(), "v0.tar.zst", &snap, 1000);
    let doc = analyze_json(&bundle);
    let notes = notes(&doc);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("triage.snapshot/v0, older than triage.snapshot/v1")),
        "{notes:?}"
    );
    let skipped: Vec<&str> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    for id in ["CT-USAGE", "CT-DROP", "CT-DMESG-FULL"] {
        assert!(skipped.contains(&id), "{id} not skipped: {skipped:?}");
        assert!(!ids(&doc).contains(&id.to_string()), "{id} raised");
    }
    // What the older snapshot has is analysed as usual.
    assert!(ids(&doc).contains(&"CG-MEM-WS-LIMIT".to_string()));
    assert!(ids(&doc).contains(&"N-DISK".to_string()));
}

#[test]
fn html_report_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = write_snapshot_bundle(
        dir.path(),
        "busy.tar.zst",
        &snapshot_value("snapshot-busy-node.json"),
        1000,
    );
    let html = dir.path().join("report.html");
    let heap = dir.path().join("heap.json");
    std::fs::write(
        &heap,
        r#"{"schema":"triage.heap/v1","summary":{"heap_bytes":419430400,"objects":5000000},
            "histogram":[{"class":"byte[]","instances":120000,"shallow_bytes":210000000}],
            "dominators":[{"object_id":"0x7f3a0010","class":"java.util.concurrent.ConcurrentHashMap","shallow_bytes":64,"retained_bytes":180000000,"retained_percent":42.9}]}"#,
    )
    .unwrap();
    let out = triage(&[
        "analyze",
        bundle.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
        "--heap-analysis",
        heap.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&out),
        0,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("CG-OOM-KILL")
            && page.contains("id=\"processes\"")
            && page.contains("id=\"cgroups\"")
    );
    assert!(page.contains("java.util.concurrent.ConcurrentHashMap @ 0x7f3a0010"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("report: "));
}

#[test]
fn pod_bundle_runs_the_pod_and_log_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pod.tar.zst");
    let mut writer =
        bundle::BundleWriter::create(&path, "deploy/checkout", jiff::Timestamp::now()).unwrap();
    for (member, file) in [
        ("kubernetes/pods.json", "kubernetes/pods.json"),
        ("kubernetes/services.json", "kubernetes/services.json"),
        ("kubernetes/pdbs.json", "kubernetes/pdbs.json"),
    ] {
        let value: serde_json::Value = serde_json::from_slice(&fixture(file)).unwrap();
        writer.add_json(member, &value).unwrap();
    }
    writer
        .add_text(
            "logs/shop/checkout-7d9f8b6c4-x2k9p/checkout.log",
            &fixture("kubernetes/checkout.log"),
        )
        .unwrap();
    let snapshot = snapshot_value("snapshot-busy-node.json");
    writer
        .add_json(
            "pods/shop/checkout-7d9f8b6c4-x2k9p/checkout/snapshot.json",
            &snapshot,
        )
        .unwrap();
    writer.finish().unwrap();
    let doc = analyze_json(&path);
    let found = ids(&doc);
    for id in [
        "P-RESTARTS",
        "P-DIGEST-DRIFT",
        "P-PDB",
        "P-NO-PRESTOP",
        "P-ROOT-PRIV",
        "L-DNS",
        "CG-OOM-KILL",
    ] {
        assert!(
            found.contains(&id.to_string()),
            "{id} missing from {found:?}"
        );
    }
    let findings = doc["findings"].as_array().unwrap();
    let dns = findings.iter().find(|f| f["id"] == "L-DNS").unwrap();
    assert_eq!(
        dns["subject"],
        "pod shop/checkout-7d9f8b6c4-x2k9p container checkout"
    );
    let oom = findings.iter().find(|f| f["id"] == "CG-OOM-KILL").unwrap();
    assert!(
        oom["subject"]
            .as_str()
            .unwrap()
            .starts_with("pod shop/checkout-7d9f8b6c4-x2k9p container checkout: cgroup ")
    );
    // No host snapshot: no "not evaluated" noise for the host rules.
    assert!(
        doc["skipped"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| !s["id"].as_str().unwrap().starts_with("N-")),
        "{}",
        doc["skipped"]
    );
}
