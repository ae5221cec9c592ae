//! Write bundles, read them back, and check that verification catches tampering and truncation.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use bundle::{
    BundleReader, BundleWriter, CollectorRecord, CollectorStatus, FileKind, FilterOutput,
    RedactionSummary, TextFilter,
};

fn started() -> jiff::Timestamp {
    "2026-11-23T10:00:00Z".parse().unwrap()
}

fn write_sample(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("triage-host-test.tar.zst");
    let mut writer = BundleWriter::create(&path, "host", started()).unwrap();
    writer
        .add_json(
            "collectors/memory.json",
            &serde_json::json!({"total_bytes": 1024}),
        )
        .unwrap();
    writer
        .add_text("raw/proc/meminfo", b"MemTotal:  1 kB\n")
        .unwrap();
    let big = dir.join("big.bin");
    let mut f = std::fs::File::create(&big).unwrap();
    for i in 0..300_000u32 {
        f.write_all(&i.to_le_bytes()).unwrap();
    }
    drop(f);
    writer.add_binary_file("jvm/heap.hprof", &big).unwrap();
    writer.record_collector(CollectorRecord {
        name: "memory".into(),
        status: CollectorStatus::Ok,
        error: None,
        duration_ms: 3,
    });
    writer.record_collector(CollectorRecord {
        name: "conntrack".into(),
        status: CollectorStatus::Failed,
        error: Some("reading /proc/sys/net/netfilter/nf_conntrack_count: not found".into()),
        duration_ms: 1,
    });
    writer.finish().unwrap()
}

#[test]
fn roundtrip_lists_reads_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    assert!(path.exists());
    // No temporary file is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty());

    let reader = BundleReader::open(&path).unwrap();
    let names: Vec<String> = reader.list().unwrap().into_iter().map(|m| m.path).collect();
    assert_eq!(
        names,
        [
            "collectors/memory.json",
            "raw/proc/meminfo",
            "jvm/heap.hprof",
            "manifest.json"
        ]
    );
    assert_eq!(
        reader.read_member("raw/proc/meminfo").unwrap(),
        b"MemTotal:  1 kB\n"
    );

    let manifest = reader.manifest().unwrap();
    assert_eq!(manifest.schema, "triage.bundle/v1");
    assert_eq!(manifest.target, "host");
    assert_eq!(manifest.started_at, "2026-11-23T10:00:00Z");
    assert_eq!(manifest.collectors.len(), 2);
    assert_eq!(
        manifest.collector("conntrack").unwrap().status,
        CollectorStatus::Failed
    );
    let heap = manifest.file("jvm/heap.hprof").unwrap();
    assert_eq!(heap.size_bytes, 1_200_000);
    assert!(heap.sensitive);
    assert_eq!(heap.kind, FileKind::Binary);
    let raw = manifest.file("raw/proc/meminfo").unwrap();
    assert_eq!(raw.sha256, bundle::sha256_hex(b"MemTotal:  1 kB\n"));

    let report = reader.verify().unwrap();
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.ok.len(), 3);
}

#[test]
fn refuses_to_overwrite_and_bad_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    assert!(BundleWriter::create(&path, "host", started()).is_err());
    let mut writer =
        BundleWriter::create(&dir.path().join("other.tar.zst"), "host", started()).unwrap();
    assert!(writer.add_text("../escape", b"x").is_err());
    assert!(writer.add_text("/abs", b"x").is_err());
    assert!(writer.add_text("manifest.json", b"x").is_err());
    writer.add_text("a", b"x").unwrap();
    assert!(writer.add_text("a", b"y").is_err());
}

#[test]
fn abandoned_writer_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let final_path = dir.path().join("never.tar.zst");
    {
        let mut writer = BundleWriter::create(&final_path, "host", started()).unwrap();
        writer.add_text("a", b"x").unwrap();
    }
    assert!(!final_path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// While a bundle is being written only a `.partial` file exists beside the destination; the
/// final name appears, complete, at `finish`.
#[test]
fn written_under_a_temporary_name_and_renamed_when_complete() {
    let dir = tempfile::tempdir().unwrap();
    let final_path = dir.path().join("b.tar.zst");
    let names = || -> Vec<String> {
        std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let mut writer = BundleWriter::create(&final_path, "host", started()).unwrap();
    writer
        .add_text("raw/proc/meminfo", &vec![b'x'; 4 << 20])
        .unwrap();
    let during = names();
    assert_eq!(during.len(), 1, "{during:?}");
    assert!(
        during[0].starts_with(".triage-bundle-") && during[0].ends_with(".partial"),
        "{during:?}"
    );
    assert!(
        !final_path.exists(),
        "the final name appears only when complete"
    );
    assert_eq!(writer.finish().unwrap(), final_path);
    assert_eq!(names(), ["b.tar.zst"]);
    let reader = BundleReader::open(&final_path).unwrap();
    assert!(reader.verify().unwrap().is_clean());
    assert_eq!(
        reader.read_member("raw/proc/meminfo").unwrap().len(),
        4 << 20
    );
}

/// Rewrite the bundle's tar with one member's content changed but the old manifest kept.
fn tamper(path: &std::path::Path, member: &str, new_content: &[u8]) {
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(std::fs::File::open(path).unwrap())
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    let mut archive = tar::Archive::new(&raw[..]);
    let mut out = tar::Builder::new(Vec::new());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        if name == member {
            data = new_content.to_vec();
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        out.append_data(&mut header, &name, &data[..]).unwrap();
    }
    let tar_bytes = out.into_inner().unwrap();
    std::fs::write(path, zstd::encode_all(&tar_bytes[..], 3).unwrap()).unwrap();
}

#[test]
fn verify_reports_tampered_member() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    tamper(&path, "raw/proc/meminfo", b"MemTotal:  2 kB\n");
    let report = BundleReader::open(&path).unwrap().verify().unwrap();
    assert!(!report.is_clean());
    assert_eq!(report.mismatched.len(), 1);
    assert_eq!(report.mismatched[0].0, "raw/proc/meminfo");
    assert!(
        report.mismatched[0].1.contains("sha256"),
        "{}",
        report.mismatched[0].1
    );
    assert_eq!(report.ok.len(), 2);
}

#[test]
fn verify_reports_truncated_archive() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_sample(dir.path());
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let reader = BundleReader::open(&path).unwrap();
    match reader.verify() {
        Ok(report) => {
            assert!(report.archive_error.is_some(), "{report:?}");
            assert!(!report.is_clean());
        }
        Err(e) => assert!(
            matches!(e, bundle::Error::NoManifest | bundle::Error::Io { .. }),
            "{e}"
        ),
    }
    assert!(reader.manifest().is_err());
}

struct Upper;
impl TextFilter for Upper {
    fn filter(&mut self, _member: &str, data: &[u8]) -> FilterOutput {
        let count = data.iter().filter(|b| b.is_ascii_lowercase()).count() as u64;
        let mut counts = BTreeMap::new();
        if count > 0 {
            counts.insert("lowercase".to_string(), count);
        }
        FilterOutput {
            bytes: data.to_ascii_uppercase(),
            counts,
            note: None,
        }
    }
    fn describe(&self) -> RedactionSummary {
        RedactionSummary {
            enabled: true,
            mode: "replace".into(),
            rules: vec!["lowercase".into()],
            ..Default::default()
        }
    }
}

#[test]
fn filter_applies_to_text_and_json_not_binary() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.tar.zst");
    let mut writer = BundleWriter::create(&path, "host", started()).unwrap();
    writer.set_filter(Box::new(Upper));
    writer.record_collector(bundle::CollectorRecord {
        name: "probe".into(),
        status: bundle::CollectorStatus::Failed,
        error: Some("got no".into()),
        duration_ms: 1,
    });
    writer.note("Ok");
    writer.add_text("t", b"abc").unwrap();
    writer.add_json("j", &"xy").unwrap();
    writer
        .add_member(
            "b",
            b"raw",
            bundle::writer::MemberOptions {
                kind: FileKind::Binary,
                sensitive: true,
                truncated: None,
            },
        )
        .unwrap();
    writer.finish().unwrap();
    let reader = BundleReader::open(&path).unwrap();
    assert_eq!(reader.read_member("t").unwrap(), b"ABC");
    assert_eq!(reader.read_member("j").unwrap(), b"\"XY\"\n");
    assert_eq!(reader.read_member("b").unwrap(), b"raw");
    let manifest = reader.manifest().unwrap();
    assert_eq!(manifest.file("t").unwrap().redactions["lowercase"], 3);
    // The manifest's own free text is filtered too: target, collector errors, notes (the
    // collector's name is not: it is ours); their counts are in the totals only.
    assert_eq!(manifest.target, "HOST");
    assert_eq!(manifest.collectors[0].error.as_deref(), Some("GOT NO"));
    assert_eq!(manifest.collectors[0].name, "probe");
    assert_eq!(manifest.notes, ["OK"]);
    assert_eq!(manifest.redaction.totals["lowercase"], 3 + 2 + 4 + 5 + 1);
    assert!(manifest.redaction.enabled);
    assert!(reader.verify().unwrap().is_clean());
}
