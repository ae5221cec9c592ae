//! `triage snapshot` writes a complete, verifiable bundle and prints tables on the terminal.

use std::process::Command;

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

#[test]
fn writes_a_bundle_with_manifest_collectors_and_raw_sources() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = triage()
        .args(["snapshot", "--cpu-sample", "0"])
        .current_dir(dir.path())
        .output()
        .expect("running triage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    for section in [
        "== system ==",
        "== memory ==",
        "-- top by CPU",
        "-- top by memory",
        "== filesystems ==",
        "== mounts ==",
        "== block devices ==",
        "== cgroups ==",
        "== conntrack ==",
        "== sockets ==",
        "== kernel log ==",
        "== collectors ==",
    ] {
        assert!(
            stdout.contains(section),
            "terminal view lacks {section}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("Mem:") && stdout.contains("Mounted on"),
        "{stdout}"
    );

    // The bundle: default name in the working directory, path printed on stderr.
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("bundle: "))
        .unwrap_or_else(|| panic!("no bundle path on stderr: {stderr}"));
    let name = line.trim_start_matches("bundle: ");
    assert!(
        name.starts_with("triage-host-") && name.ends_with("Z.tar.zst"),
        "{name}"
    );
    let path = dir.path().join(name);
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "only the finished bundle, no temporary file: {entries:?}"
    );

    let reader = bundle::BundleReader::open(&path).expect("open bundle");
    let manifest = reader.manifest().expect("manifest");
    assert_eq!(manifest.target, "host");
    let names: Vec<&str> = manifest
        .collectors
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "system",
            "memory",
            "processes",
            "mounts",
            "filesystems",
            "block_devices",
            "cgroups",
            "conntrack",
            "network",
            "kernel_log"
        ]
    );
    let memory = manifest.collector("memory").expect("memory collector");
    assert_eq!(memory.status, bundle::CollectorStatus::Ok);
    for member in [
        "snapshot.json",
        "collectors/memory.json",
        "collectors/cgroups.json",
        "raw/proc/meminfo",
        "raw/proc/self/mountinfo",
        "raw/proc/loadavg",
    ] {
        assert!(
            manifest.file(member).is_some(),
            "{member} missing from the bundle"
        );
    }
    // Raw copies are the files as read: the bundle's meminfo has this machine's MemTotal line.
    let meminfo =
        String::from_utf8(reader.read_member("raw/proc/meminfo").expect("meminfo")).expect("utf8");
    let live_total = std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .next()
        .expect("first line")
        .to_string();
    assert_eq!(meminfo.lines().next(), Some(live_total.as_str()));
    let snapshot: hostprobe::Snapshot =
        serde_json::from_slice(&reader.read_member("snapshot.json").expect("snapshot"))
            .expect("snapshot parses");
    assert_eq!(snapshot.schema, "triage.snapshot/v1");
    assert!(
        snapshot
            .collectors
            .iter()
            .all(|c| c.status != hostprobe::CollectorStatus::Failed),
        "{:?}",
        snapshot.collectors
    );
    let report = reader.verify().expect("verify");
    assert!(report.is_clean(), "{report:?}");

    let verify = triage()
        .args(["bundle", "verify"])
        .arg(&path)
        .output()
        .expect("triage bundle verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

#[test]
fn out_path_and_no_bundle() {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = dir.path().join("my.tar.zst");
    let out = triage()
        .args(["snapshot", "--json", "--cpu-sample", "0", "--out"])
        .arg(&target)
        .current_dir(dir.path())
        .output()
        .expect("running triage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("--json prints only JSON on stdout");
    assert!(target.is_file());
    assert!(String::from_utf8_lossy(&out.stderr).contains(&target.display().to_string()));

    let empty = tempfile::tempdir().expect("temp dir");
    let out = triage()
        .args(["snapshot", "--no-bundle", "--cpu-sample", "0"])
        .current_dir(empty.path())
        .output()
        .expect("running triage");
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_dir(empty.path()).expect("list").count(),
        0,
        "--no-bundle writes nothing"
    );
}

#[test]
fn interval_fills_deltas() {
    let out = triage()
        .args(["snapshot", "--json", "--no-bundle", "--interval", "300ms"])
        .output()
        .expect("running triage");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let interval = s["interval_ms"].as_u64().expect("interval_ms");
    assert!((280..3000).contains(&interval), "{interval}");
    assert_eq!(s["deltas"]["interval_ms"].as_u64(), Some(interval));
    assert!(
        !s["deltas"]["cgroups"]
            .as_array()
            .expect("cgroup deltas")
            .is_empty()
    );
    assert!(s["deltas"]["pgmajfault"].is_u64());
    assert_eq!(s["process_summary"]["cpu_percent_basis"], "sampled");
    assert!(s["system"]["cpu_busy_percent"].is_f64());
}
