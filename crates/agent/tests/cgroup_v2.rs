//! The cgroup v2 path. This machine keeps its memory controller on v1, so v2's memory files
//! (`memory.current`, `memory.max`, `memory.events`) are a fixture tree laid out like a
//! kubelet node (systemd driver, containerd), with a fixture /proc and runtime state — read by
//! the real agent, with real inotify on the fixture's `memory.events`. PSI triggers are tested on
//! the real v2 hierarchy this host mounts at /sys/fs/cgroup/unified, with a real memory stall.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestCgroup, disk_dir, wait_for};

const CONTAINER_ID: &str = "4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a4f1c2b3a";
const POD_SLICE: &str = "kubepods-burstable-pod0c3ab2e4_7d1e_4c59_9a53_2f4c8d6e1b70.slice";

struct Fixture {
    _dir: tempfile::TempDir,
    cgroup_root: PathBuf,
    proc_root: PathBuf,
    runtime_root: PathBuf,
    container_dir: PathBuf,
    cgroup_path: String,
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("writing a fixture file");
}

/// A v2 node: one burstable pod with one containerd container holding pid 4242.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let cgroup_root = dir.path().join("sys/fs/cgroup");
    let cgroup_path = format!(
        "/kubepods.slice/kubepods-burstable.slice/{POD_SLICE}/cri-containerd-{CONTAINER_ID}.scope"
    );
    let container_dir = cgroup_root.join(cgroup_path.trim_start_matches('/'));
    write(
        &cgroup_root.join("cgroup.controllers"),
        "cpuset cpu io memory pids\n",
    );
    write(&container_dir.join("memory.current"), "100000000\n");
    write(&container_dir.join("memory.max"), "1000000000\n");
    write(
        &container_dir.join("memory.stat"),
        "anon 90000000\nfile 10000000\ninactive_file 0\nactive_file 10000000\n",
    );
    write(
        &container_dir.join("memory.events"),
        "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    );
    write(&container_dir.join("cpu.max"), "50000 100000\n");
    write(
        &container_dir.join("cpu.stat"),
        "usage_usec 1000\nuser_usec 600\nsystem_usec 400\nnr_periods 10\nnr_throttled 5\nthrottled_usec 900\n",
    );
    let proc_root = dir.path().join("proc");
    // Field 22 (start time) is the 20th after the command name.
    let mut stat = String::from("4242 (app) S");
    for i in 0..25 {
        stat.push_str(if i == 19 { " 12345" } else { " 0" });
    }
    write(&proc_root.join("4242/stat"), &format!("{stat}\n"));
    write(
        &proc_root.join("4242/cgroup"),
        &format!("0::{cgroup_path}\n"),
    );
    write(&proc_root.join("4242/maps"), "");
    let runtime_root = dir.path().join("run");
    write(
        &runtime_root.join(format!(
            "containerd/io.containerd.runtime.v2.task/k8s.io/{CONTAINER_ID}/config.json"
        )),
        r#"{"ociVersion":"1.1.0","annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"cart-7d9f8c","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
    );
    Fixture {
        _dir: dir,
        cgroup_root,
        proc_root,
        runtime_root,
        container_dir,
        cgroup_path,
    }
}

/// Records snapshot requests and writes a small file for each.
#[derive(Default)]
struct CountingSnapshotter {
    calls: AtomicUsize,
}

impl agent::Snapshotter for CountingSnapshotter {
    fn snapshot(&self, pid: u32, dest: &Path, _timeout: Duration) -> Result<(), String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::fs::write(dest, format!("snapshot of {pid}\n")).map_err(|e| e.to_string())
    }
}

fn config(f: &Fixture, spool: &Path) -> agent::Config {
    agent::Config {
        cgroup_root: f.cgroup_root.clone(),
        proc_root: f.proc_root.clone(),
        runtime_root: f.runtime_root.clone(),
        // PSI triggers need the kernel's pressure files, not a fixture.
        psi: None,
        discovery_interval: Duration::from_millis(200),
        sample_interval: Duration::from_millis(200),
        listen: Some("127.0.0.1:0".parse().expect("address")),
        capture: agent::CaptureSettings {
            spool_dir: spool.to_path_buf(),
            min_free_bytes: 64 << 20,
            min_free_ratio: 0.0,
            ..agent::CaptureSettings::default()
        },
        ..agent::Config::default()
    }
}

fn metrics(port: u16) -> String {
    let (status, body) = testkit::servers::http(port, "GET", "/metrics");
    assert_eq!(status, 200);
    String::from_utf8(body).expect("utf-8 metrics")
}

#[test]
fn v2_fixture_node_gives_pod_labels_ratios_and_a_working_set_trigger() {
    common::init_logs();
    let f = fixture();
    let spool = disk_dir("agent-spool-");
    let snapshotter = Arc::new(CountingSnapshotter::default());
    let handle =
        agent::start(config(&f, spool.path()), Some(snapshotter.clone())).expect("starting");
    let port = handle.metrics_addr.expect("listening").port();
    let labels = format!(
        "cgroup=\"{}\",namespace=\"shop\",pod=\"cart-7d9f8c\",container=\"app\"",
        f.cgroup_path
    );
    let ratio = format!("triage_container_memory_working_set_ratio{{{labels}}} 0.1\n");
    wait_for(Duration::from_secs(20), "the container's series", || {
        metrics(port).contains(&ratio).then_some(())
    });
    // A second cpu.stat reading: 5 of the 10 new periods were throttled.
    write(
        &f.container_dir.join("cpu.stat"),
        "usage_usec 2000\nuser_usec 1200\nsystem_usec 800\nnr_periods 20\nnr_throttled 10\nthrottled_usec 1900\n",
    );
    let throttled = format!("triage_container_cpu_throttled_ratio{{{labels}}} 0.5\n");
    wait_for(Duration::from_secs(20), "the throttling ratio", || {
        metrics(port).contains(&throttled).then_some(())
    });
    // The working set crosses 90 % of memory.max.
    write(&f.container_dir.join("memory.current"), "950000000\n");
    wait_for(Duration::from_secs(20), "a snapshot capture", || {
        (snapshotter.calls.load(Ordering::SeqCst) == 1).then_some(())
    });
    let text = metrics(port);
    assert!(
        text.contains("triage_agent_triggers_total{reason=\"working_set\"} 1\n"),
        "{text}"
    );
    handle.stop();
    let records = handle.join();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason, "working_set");
    assert_eq!(records[0].labels.pod.as_deref(), Some("cart-7d9f8c"));
    assert_eq!(
        records[0].labels.pod_uid.as_deref(),
        Some("0c3ab2e4-7d1e-4c59-9a53-2f4c8d6e1b70")
    );
    let snapshot = records[0].snapshot.as_deref().expect("a snapshot");
    assert!(
        snapshot.starts_with("triage-snapshot-shop_cart-7d9f8c_app-"),
        "named after the pod: {snapshot}"
    );
    assert!(spool.path().join(snapshot).is_file());
}

#[test]
fn v2_memory_events_wake_the_agent_through_inotify() {
    common::init_logs();
    let f = fixture();
    let spool = disk_dir("agent-spool-");
    let snapshotter = Arc::new(CountingSnapshotter::default());
    let mut config = config(&f, spool.path());
    // No periodic re-read within the test: only the notification can show the change.
    config.sample_interval = Duration::from_secs(600);
    let handle = agent::start(config, Some(snapshotter.clone())).expect("starting");
    let port = handle.metrics_addr.expect("listening").port();
    wait_for(Duration::from_secs(20), "the container watched", || {
        metrics(port)
            .contains("triage_container_memory_working_set_ratio{")
            .then_some(())
    });
    // The kernel bumps `max` when the limit was hit (and reclaim had to run).
    write(
        &f.container_dir.join("memory.events"),
        "low 0\nhigh 0\nmax 1\noom 0\noom_kill 0\noom_group_kill 0\n",
    );
    wait_for(Duration::from_secs(10), "the memory.events trigger", || {
        (snapshotter.calls.load(Ordering::SeqCst) == 1).then_some(())
    });
    let text = metrics(port);
    assert!(
        text.contains("triage_agent_triggers_total{reason=\"memory_events_max\"} 1\n"),
        "{text}"
    );
    handle.stop();
    let records = handle.join();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].reason, "memory_events_max");
}

const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// A cgroup in the real unified hierarchy, removed on drop (its processes killed first).
struct UnifiedCgroup(PathBuf);

impl Drop for UnifiedCgroup {
    fn drop(&mut self) {
        testkit::remove_cgroup(&self.0);
    }
}

#[test]
fn psi_trigger_fires_on_a_real_v2_cgroup_under_memory_stall() {
    let test = "psi_trigger_fires_on_a_real_v2_cgroup_under_memory_stall";
    common::init_logs();
    if !Path::new(UNIFIED).join("cgroup.procs").is_file()
        || !Path::new(UNIFIED).join("memory.pressure").is_file()
    {
        testkit::skip_or_fail(
            test,
            "no cgroup v2 hierarchy with PSI at /sys/fs/cgroup/unified",
        );
        return;
    }
    // A tight v1 memory limit makes page-cache writes stall in reclaim; PSI accounts the stall
    // to the process's v2 cgroup.
    let Some(memory) = TestCgroup::create("psi", 16 << 20) else {
        return;
    };
    let unified = UnifiedCgroup(Path::new(UNIFIED).join(memory.path.trim_start_matches('/')));
    std::fs::create_dir(&unified.0).expect("creating the v2 cgroup");
    let work = disk_dir("agent-psi-");
    let go = work.path().join("go");
    let data = work.path().join("data");
    let script = format!(
        "echo $$ > {u}/cgroup.procs; while [ ! -e {go} ]; do sleep 0.05; done; \
         for i in 1 2 3 4 5; do dd if=/dev/zero of={data} bs=1M count=200 conv=fsync 2>/dev/null; cat {data} > /dev/null; done; sleep 30",
        u = unified.0.display(),
        go = go.display(),
        data = data.display()
    );
    let mut child = memory.spawn(Path::new("/bin/sh"), &["-c", &script]);
    // In both hierarchies before the agent looks (it finds the v2 cgroup through the process).
    wait_for(
        Duration::from_secs(10),
        "the writer in the v2 cgroup",
        || {
            std::fs::read_to_string(unified.0.join("cgroup.procs"))
                .ok()
                .filter(|t| !t.trim().is_empty())
        },
    );
    let spool = disk_dir("agent-spool-");
    let mut config = common::test_config(&memory.path, spool.path(), spool.path());
    config.psi = Some((Duration::from_millis(50), Duration::from_secs(2)));
    // Only PSI may fire: the working-set trigger is out of reach.
    config.threshold = 1.5;
    config.arm_margin = 0.0;
    config.sample_interval = Duration::from_secs(600);
    let handle = agent::start(config, None).expect("starting the agent");
    wait_for(Duration::from_secs(20), "the cgroup watched", || {
        handle
            .stats
            .lock()
            .expect("stats")
            .cgroups
            .iter()
            .any(|c| c.labels.cgroup == memory.path)
            .then_some(())
    });
    let failures = handle
        .stats
        .lock()
        .expect("stats")
        .registration_failures
        .clone();
    assert!(failures.is_empty(), "registrations failed: {failures:?}");
    std::fs::write(&go, b"").expect("starting the writer");
    wait_for(Duration::from_secs(40), "a memory-pressure trigger", || {
        handle
            .stats
            .lock()
            .expect("stats")
            .triggers
            .get("memory_pressure")
            .copied()
            .filter(|n| *n >= 1)
    });
    let _ = child.kill();
    let _ = child.wait();
    handle.stop();
    let records = handle.join();
    assert_eq!(records.len(), 1, "{records:#?}");
    assert_eq!(records[0].reason, "memory_pressure");
}
