//! What goes wrong on a real node: processes that exit and cgroups that are removed while
//! watched, a JVM that refuses attach, a sink that is down when the trigger fires, a flood of
//! triggers. The agent keeps running, says why, and never loses a finished capture.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{GROW_SOURCE, TestCgroup, disk_dir, test_config, wait_for, wait_ready};

fn stat<T>(handle: &agent::AgentHandle, f: impl FnOnce(&agent::Stats) -> T) -> T {
    f(&handle.stats.lock().expect("stats lock"))
}

#[test]
fn processes_exiting_and_cgroups_removed_while_watched() {
    common::init_logs();
    let Some(first) = TestCgroup::create("gone", 64 << 20) else {
        return;
    };
    let Some(second) = TestCgroup::create("gone", 64 << 20) else {
        return;
    };
    let mut a = first.spawn(Path::new("/bin/sleep"), &["120"]);
    let mut b = second.spawn(Path::new("/bin/sleep"), &["120"]);
    let spool = disk_dir("agent-spool-");
    let prefix = first.path.trim_end_matches(char::is_numeric).to_string();
    let mut config = test_config(&prefix, spool.path(), spool.path());
    config.sample_interval = Duration::from_millis(200);
    let handle = agent::start(config, None).expect("starting the agent");
    wait_for(Duration::from_secs(20), "both cgroups watched", || {
        (stat(&handle, |s| s.cgroups.len()) == 2).then_some(())
    });
    // The process exits: the cgroup has nothing left to watch.
    let _ = a.kill();
    let _ = a.wait();
    wait_for(
        Duration::from_secs(20),
        "the emptied cgroup dropped",
        || (stat(&handle, |s| s.cgroups.len()) == 1).then_some(()),
    );
    // The cgroup itself is removed under the agent (its eventfds are signalled).
    let _ = b.kill();
    let _ = b.wait();
    drop(second);
    wait_for(
        Duration::from_secs(20),
        "the removed cgroup dropped",
        || (stat(&handle, |s| s.watched_cgroups) == 0).then_some(()),
    );
    assert!(!handle.is_finished(), "the agent keeps running");
    // And it still finds new work.
    let mut c = first.spawn(Path::new("/bin/sleep"), &["120"]);
    wait_for(Duration::from_secs(20), "a new process watched", || {
        (stat(&handle, |s| s.cgroups.len()) == 1).then_some(())
    });
    let _ = c.kill();
    let _ = c.wait();
    handle.stop();
    assert!(handle.join().is_empty(), "nothing was captured");
}

#[test]
fn a_jvm_refusing_attach_is_a_failed_capture_not_a_dead_agent() {
    let test = "a_jvm_refusing_attach_is_a_failed_capture_not_a_dead_agent";
    common::init_logs();
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Grow", GROW_SOURCE) else {
        return;
    };
    let Some(cgroup) = TestCgroup::create("refuse", 256 << 20) else {
        return;
    };
    let spool = disk_dir("agent-spool-");
    let mut config = test_config(&cgroup.path, spool.path(), spool.path());
    config.threshold = 0.3;
    let handle = agent::start(config, None).expect("starting the agent");
    let cp = classes.path().to_string_lossy().into_owned();
    let mut jvm = cgroup.spawn(
        &java,
        &[
            "-XX:+DisableAttachMechanism",
            "-Xmx1g",
            "-XX:+UseSerialGC",
            "-cp",
            &cp,
            "Grow",
            "4",
            "20",
        ],
    );
    wait_ready(&mut jvm);
    wait_for(Duration::from_secs(40), "a failed heap dump", || {
        (stat(&handle, |s| {
            s.captures
                .get(&("heap_dump", "failed"))
                .copied()
                .unwrap_or(0)
        }) == 1)
            .then_some(())
    });
    let _ = jvm.kill();
    let _ = jvm.wait();
    assert!(!handle.is_finished(), "the agent keeps running");
    handle.stop();
    let records = handle.join();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert!(records[0].heap_dumps.is_empty());
    let error = records[0].errors.join("\n");
    assert!(
        error.contains("DisableAttachMechanism"),
        "the record says why: {error}"
    );
    // The record of the failed capture is kept.
    assert!(
        std::fs::read_dir(spool.path())
            .expect("spool")
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().ends_with(".json"))
    );
}

#[test]
fn a_sink_that_is_down_keeps_the_capture_and_delivers_it_later() {
    let test = "a_sink_that_is_down_keeps_the_capture_and_delivers_it_later";
    common::init_logs();
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(moto) = testkit::require_program("moto_server", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Grow", GROW_SOURCE) else {
        return;
    };
    let Some(cgroup) = TestCgroup::create("sinkdown", 256 << 20) else {
        return;
    };
    // The store's port, with nothing listening yet: the sink is down.
    let port = testkit::servers::free_port();
    let destination = sink::Destination::parse(
        "s3://captures/node-1/",
        &sink::Env::from_pairs(testkit::servers::s3_env(port)),
        sink::RetrySettings {
            max_retries: 0,
            retry_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
        },
    )
    .expect("destination");
    let spool = disk_dir("agent-spool-");
    let mut config = test_config(&cgroup.path, spool.path(), spool.path());
    config.threshold = 0.3;
    config.destination = Some(destination);
    config.retry_interval = Duration::from_millis(300);
    let handle = agent::start(config, None).expect("starting the agent");
    let cp = classes.path().to_string_lossy().into_owned();
    let mut jvm = cgroup.spawn(
        &java,
        &["-Xmx1g", "-XX:+UseSerialGC", "-cp", &cp, "Grow", "4", "20"],
    );
    wait_ready(&mut jvm);
    wait_for(Duration::from_secs(40), "a heap dump in the spool", || {
        (stat(&handle, |s| {
            s.captures.get(&("heap_dump", "ok")).copied().unwrap_or(0)
        }) == 1)
            .then_some(())
    });
    let _ = jvm.kill();
    let _ = jvm.wait();
    wait_for(Duration::from_secs(30), "a failed upload", || {
        (stat(&handle, |s| s.uploads.get("failed").copied().unwrap_or(0)) >= 1).then_some(())
    });
    let spooled: Vec<String> = std::fs::read_dir(spool.path())
        .expect("spool")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    let dump_name = spooled
        .iter()
        .find(|n| n.ends_with(".hprof.zst"))
        .unwrap_or_else(|| {
            panic!("the dump stays in the spool while the sink is down: {spooled:?}")
        })
        .clone();
    let local_sha = {
        use sha2::Digest;
        let bytes = std::fs::read(spool.path().join(&dump_name)).expect("reading the spooled dump");
        hex::encode(sha2::Sha256::digest(&bytes))
    };

    // The store comes up; the shipper's next retry delivers everything and only then removes
    // the local copies.
    let store_dir = tempfile::tempdir().expect("tempdir");
    let mut server = std::process::Command::new(moto)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(store_dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting moto_server");
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    testkit::servers::wait_listening(port, &mut server, "moto_server");
    let _server = Reap(server);
    assert_eq!(testkit::servers::http(port, "PUT", "/captures").0, 200);
    wait_for(
        Duration::from_secs(60),
        "the spool emptied by uploads",
        || (agent::capture::spool_usage(spool.path()).0 == 0).then_some(()),
    );
    let (status, body) =
        testkit::servers::http(port, "GET", &format!("/captures/node-1/{dump_name}"));
    assert_eq!(status, 200, "the dump is in the store");
    use sha2::Digest;
    assert_eq!(
        hex::encode(sha2::Sha256::digest(&body)),
        local_sha,
        "the stored dump is the spooled one, byte for byte"
    );
    assert!(stat(&handle, |s| s.uploads.get("ok").copied().unwrap_or(0)) >= 2);
    handle.stop();
    handle.join();
}

/// Writes a small file after a pause and counts how many run at once.
struct SlowSnapshotter {
    running: AtomicUsize,
    most_at_once: AtomicUsize,
}

impl agent::Snapshotter for SlowSnapshotter {
    fn snapshot(&self, pid: u32, dest: &Path, _timeout: Duration) -> Result<(), String> {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most_at_once.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(400));
        let result =
            std::fs::write(dest, format!("snapshot of {pid}\n")).map_err(|e| e.to_string());
        self.running.fetch_sub(1, Ordering::SeqCst);
        result
    }
}

#[test]
fn a_flood_of_triggers_runs_one_capture_at_a_time_and_loses_none() {
    common::init_logs();
    let mut cgroups = Vec::new();
    for _ in 0..4 {
        let Some(c) = TestCgroup::create("flood", 64 << 20) else {
            return;
        };
        cgroups.push(c);
    }
    let mut sleepers: Vec<_> = cgroups
        .iter()
        .map(|c| c.spawn(Path::new("/bin/sleep"), &["120"]))
        .collect();
    let spool = disk_dir("agent-spool-");
    let prefix = format!("/triage-test-flood-{}-", std::process::id());
    let mut config = test_config(&prefix, spool.path(), spool.path());
    // Every cgroup is over this at once.
    config.threshold = 0.000_01;
    config.arm_margin = 0.0;
    let snapshotter = Arc::new(SlowSnapshotter {
        running: AtomicUsize::new(0),
        most_at_once: AtomicUsize::new(0),
    });
    let handle = agent::start(config, Some(snapshotter.clone())).expect("starting the agent");
    wait_for(
        Duration::from_secs(40),
        "a snapshot of every cgroup",
        || {
            (stat(&handle, |s| {
                s.captures.get(&("snapshot", "ok")).copied().unwrap_or(0)
            }) >= 4)
                .then_some(())
        },
    );
    let refused = stat(&handle, |s| {
        s.refusals.get("concurrency").copied().unwrap_or(0)
    });
    assert!(
        refused >= 1,
        "some triggers had to wait for the running capture"
    );
    assert_eq!(
        snapshotter.most_at_once.load(Ordering::SeqCst),
        1,
        "the node-wide limit of one capture at a time held"
    );
    for s in &mut sleepers {
        let _ = s.kill();
        let _ = s.wait();
    }
    handle.stop();
    let records = handle.join();
    let ours: Vec<_> = records
        .iter()
        .filter(|r| cgroups.iter().any(|c| c.path == r.cgroup))
        .collect();
    assert_eq!(
        ours.len(),
        4,
        "one capture per container (cooldown): {records:#?}"
    );
    let snapshots = std::fs::read_dir(spool.path())
        .expect("spool")
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("triage-snapshot-")
        })
        .count();
    assert_eq!(snapshots, 4, "every finished snapshot is in the spool");
}
