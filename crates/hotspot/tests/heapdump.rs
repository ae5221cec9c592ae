//! Heap dumps of real JVMs: framing end to end, compression and hash, the JVM dying mid-dump, no
//! room in the target's /tmp, and the snapshot diagnostics set.

mod common;

use std::path::Path;
use std::time::Duration;

use common::jvm;
use hotspot::diagnostics::{self, DiagnosticStatus};
use hotspot::{AttachError, Compression, HeapDumpOptions, Jvm, Progress};
use sha2::{Digest, Sha256};

const MARKERS: u64 = 2500;

fn dumps_of(dir: &Path, ns_pid: u32) -> Vec<String> {
    let prefix = format!("triage-heap-{ns_pid}-");
    jvm::list_dir(dir)
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn zstd_heap_dump_parses_end_to_end_with_size_and_sha256() {
    let test = "zstd_heap_dump_parses_end_to_end_with_size_and_sha256";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let jvm = Jvm::attach(test_jvm.pid).expect("attach");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("heap.hprof.zst");
    let options = HeapDumpOptions {
        compression: Compression::for_path(&dest),
        ..HeapDumpOptions::default()
    };
    assert!(matches!(options.compression, Compression::Zstd { .. }));
    let mut last_copy = None;
    let report = hotspot::dump_heap_to_path(&jvm, &options, &dest, &mut |p| {
        if let Progress::Copying {
            copied_bytes,
            total_bytes,
        } = p
        {
            last_copy = Some((copied_bytes, total_bytes));
        }
    })
    .expect("heap dump");

    let compressed = std::fs::read(&dest).expect("output");
    assert_eq!(report.output_bytes, compressed.len() as u64);
    assert_eq!(report.sha256, hex::encode(Sha256::digest(&compressed)));
    assert_eq!(report.compression, "zstd");
    let hprof = zstd::decode_all(&compressed[..]).expect("valid zstd");
    assert_eq!(report.dump_bytes, hprof.len() as u64);
    assert_eq!(
        last_copy,
        Some((report.dump_bytes, report.dump_bytes)),
        "progress reached the end"
    );
    assert!(
        compressed.len() * 2 < hprof.len(),
        "compressed: {} of {}",
        compressed.len(),
        hprof.len()
    );

    assert!(hprof.starts_with(b"JAVA PROFILE 1.0.2\0"));
    let walked = common::hprof_walk::walk(&hprof).expect("well-formed HPROF");
    assert!(walked.ended_with_heap_dump_end);
    assert!(walked.heap_dump_segments >= 1);
    assert_eq!(walked.id_size, 8);
    // A live dump on a quiet JVM has exactly the instances the program keeps.
    assert_eq!(
        walked.instances_by_class.get("TriageMarker"),
        Some(&MARKERS)
    );
    assert!(
        walked
            .instances_by_class
            .get("java/lang/String")
            .copied()
            .unwrap_or(0)
            > 100
    );

    assert!(
        dumps_of(Path::new("/tmp"), test_jvm.pid).is_empty(),
        "in-target dump deleted"
    );
    let names = jvm::list_dir(out.path());
    assert_eq!(
        names,
        ["heap.hprof.zst"],
        "no temporary file left next to the output"
    );
}

#[test]
fn jvm_exiting_during_the_dump_leaves_no_files() {
    let test = "jvm_exiting_during_the_dump_leaves_no_files";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    // ~160 MiB of small arrays: the dump takes long enough to kill the JVM in the middle.
    let test_jvm = jvm::start(&[], &["-Xmx400m"], classes.path(), &["1", "160"], &[]);
    let jvm = Jvm::attach(test_jvm.pid).expect("attach");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("heap.hprof");
    let pid = test_jvm.pid;
    let killer = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if !dumps_of(Path::new("/tmp"), pid).is_empty() {
                // SAFETY: plain kill(2) on the test's own child.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    });
    let options = HeapDumpOptions {
        check_space: false,
        ..HeapDumpOptions::default()
    };
    let result = hotspot::dump_heap_to_path(&jvm, &options, &dest, &mut |_| {});
    assert!(
        killer.join().expect("killer thread"),
        "the dump file never appeared"
    );
    match result {
        Err(e @ AttachError::ProcessExited { .. }) => assert!(
            e.to_string().contains("exited while writing the heap dump"),
            "{e}"
        ),
        other => panic!("expected ProcessExited, got {other:?}"),
    }
    assert!(
        dumps_of(Path::new("/tmp"), pid).is_empty(),
        "partial dump left in the target's /tmp"
    );
    assert!(
        jvm::list_dir(out.path()).is_empty(),
        "nothing at the destination: {:?}",
        jvm::list_dir(out.path())
    );
}

#[test]
fn no_room_in_the_target_tmp_is_refused_before_dumping() {
    let test = "no_room_in_the_target_tmp_is_refused_before_dumping";
    if !jvm::namespaces_available(test) {
        return;
    }
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start_namespaced(classes.path(), "1m", &[], &["1000"]);
    let jvm = Jvm::attach(test_jvm.pid).expect("attach");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("heap.hprof.zst");
    let options = HeapDumpOptions {
        compression: Compression::for_path(&dest),
        ..HeapDumpOptions::default()
    };
    match hotspot::dump_heap_to_path(&jvm, &options, &dest, &mut |_| {}) {
        Err(e @ AttachError::NotEnoughSpace { .. }) => {
            let message = e.to_string();
            assert!(
                message.contains("/tmp") && message.contains("--target-dir"),
                "{message}"
            );
        }
        other => panic!("expected NotEnoughSpace, got {other:?}"),
    }
    let tmp = jvm.target().path_in_root(Path::new("/tmp"));
    assert!(dumps_of(&tmp, 1).is_empty());
    assert!(jvm::list_dir(out.path()).is_empty());
}

#[test]
fn snapshot_diagnostics_report_each_command() {
    let test = "snapshot_diagnostics_report_each_command";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &["700"], &[]);
    let results = diagnostics::collect(test_jvm.pid, Duration::from_secs(60)).expect("collect");
    let by_name = |name: &str| {
        results
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    let threads = by_name("threads.txt");
    assert_eq!(threads.status, DiagnosticStatus::Ok);
    assert!(String::from_utf8_lossy(&threads.output).contains("triage-lock-holder"));
    let flags = by_name("vm_flags.txt");
    assert!(String::from_utf8_lossy(&flags.output).contains("-XX:+UseSerialGC"));
    assert!(
        String::from_utf8_lossy(&by_name("heap_info.txt").output).contains("def new generation")
    );
    // Native memory tracking is off unless -XX:NativeMemoryTracking is given.
    assert!(
        matches!(&by_name("native_memory.txt").status, DiagnosticStatus::NotEnabled { reason } if reason.contains("not enabled"))
    );
    let histogram = by_name("class_histogram.txt");
    let parsed = histogram.histogram.as_ref().expect("parsed histogram");
    assert_eq!(
        parsed
            .histogram
            .iter()
            .find(|e| e.class == "TriageMarker")
            .map(|e| e.instances),
        Some(700)
    );

    // With NMT on, the summary is recorded.
    let nmt = jvm::start(
        &[],
        &["-XX:NativeMemoryTracking=summary"],
        classes.path(),
        &["1"],
        &[],
    );
    let results = diagnostics::collect(nmt.pid, Duration::from_secs(60)).expect("collect");
    let native = results
        .iter()
        .find(|d| d.name == "native_memory.txt")
        .expect("native memory");
    assert_eq!(native.status, DiagnosticStatus::Ok);
    assert!(String::from_utf8_lossy(&native.output).contains("Total: reserved="));

    // Not a JVM: the caller learns it from the error kind.
    let mut sleeper = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("sleep");
    let err = diagnostics::collect(sleeper.id(), Duration::from_secs(5)).expect_err("not a JVM");
    assert!(err.is_not_attachable());
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}
