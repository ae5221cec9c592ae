//! The agent's reason to exist, on a real kernel: a JVM in a 256 MB v1 memory cgroup whose heap
//! (-Xmx1g, far above the limit) grows until the kernel OOM-kills it. The agent must capture a
//! complete, parseable heap dump before the kill, and the kill must happen afterwards.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use common::{GROW_SOURCE, TestCgroup, disk_dir, test_config, wait_for, wait_ready};

#[test]
fn heap_is_dumped_before_the_kernel_oom_kills_the_jvm() {
    let test = "heap_is_dumped_before_the_kernel_oom_kills_the_jvm";
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Grow", GROW_SOURCE) else {
        return;
    };
    common::init_logs();
    let Some(cgroup) = TestCgroup::create("oom", 256 << 20) else {
        return;
    };
    let spool = disk_dir("agent-spool-");
    let dumps = disk_dir("agent-dumps-");
    let handle = agent::start(test_config(&cgroup.path, spool.path(), dumps.path()), None)
        .expect("starting the agent");

    // 1 MiB retained every 20 ms (~50 MB/s): from 90 % of 256 MB to the limit is about half a
    // second, so only a prompt trigger wins the race.
    let classpath = classes.path().to_string_lossy().into_owned();
    let mut jvm = cgroup.spawn(
        &java,
        &[
            "-Xmx1g",
            "-XX:+UseSerialGC",
            "-Xss512k",
            "-cp",
            &classpath,
            "Grow",
            "16",
            "20",
        ],
    );
    wait_ready(&mut jvm);

    let status = wait_for(
        Duration::from_secs(50),
        "the kernel to kill the JVM",
        || jvm.try_wait().expect("waiting for the JVM"),
    );
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the JVM must die by SIGKILL (the kernel's OOM killer), not {status}"
    );
    assert!(
        cgroup.oom_kills() >= 1,
        "memory.oom_control counts no OOM kill"
    );

    handle.stop();
    let records = handle.join();
    assert_eq!(
        records.len(),
        1,
        "exactly one capture (cooldown): {records:#?}"
    );
    let record = &records[0];
    assert_eq!(record.reason, "working_set", "{record:#?}");
    assert_eq!(record.heap_dumps.len(), 1, "one heap dump: {record:#?}");
    let dump = &record.heap_dumps[0];
    assert!(
        dump.target_alive_after,
        "the JVM must still be alive when its dump is complete: {dump:#?}"
    );
    assert_eq!(
        dump.oom_kills_after,
        Some(0),
        "no OOM kill may have happened before the dump was complete: {dump:#?}"
    );
    eprintln!(
        "trigger to dump start: {} µs, dump written in {} ms, {} bytes ({} compressed)",
        dump.trigger_to_dump_start_us, dump.dump_ms, dump.dump_bytes, dump.output_bytes
    );

    // The record carries the cgroup's history up to the sample that fired.
    let last = record.history.last().expect("a history");
    assert!(
        last.working_set_ratio().is_some_and(|r| r >= 0.9),
        "the last sample is the one over the threshold: {last:?}"
    );
    assert!(record.history.len() >= 2, "{:?}", record.history);

    let path = spool.path().join(&dump.file);
    assert!(
        path.is_file(),
        "the dump is in the spool: {}",
        path.display()
    );
    let histogram = hprof::histogram_of_path(&path, &hprof::HistogramOptions::default())
        .expect("the dump parses");
    assert!(!histogram.parse.truncated, "the dump is complete");
    let retained = histogram
        .entries
        .iter()
        .find(|e| e.class == "Grow$TriageRetained")
        .expect("the retained class is in the histogram");
    // At 90 % of 256 MB, well over 100 MB of 64 KiB objects were retained.
    assert!(
        retained.instances >= 1500,
        "only {} retained objects in the dump",
        retained.instances
    );
    // The capture record is in the spool too.
    let has_record = std::fs::read_dir(spool.path())
        .expect("spool")
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().ends_with(".json"));
    assert!(has_record, "the capture record is written beside the dump");
}
