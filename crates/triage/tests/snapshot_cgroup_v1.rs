//! Real cgroup v1 groups created by the tests (root only): a memory limit with a process using
//! 50 MB, an OOM kill inside a small limit, and a 10 ms / 100 ms CPU quota with a busy loop. The
//! snapshot of `pid:N` must report what the kernel enforces. Every cgroup is removed when the
//! test ends, pass or fail (the guard kills the processes first).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const MIB: u64 = 1024 * 1024;

/// A v1 cgroup directory with the processes started in it; dropping it kills them and removes
/// the directory.
struct TestCgroup {
    dir: PathBuf,
    children: Vec<Child>,
}

impl TestCgroup {
    /// `None` (test skipped, said loudly) when not root or the controller is not mounted.
    fn create(controller: &str, test: &str) -> Option<Self> {
        if !testkit::is_root() {
            testkit::skip_or_fail(test, "creating cgroups needs root");
            return None;
        }
        let hierarchy = Path::new("/sys/fs/cgroup").join(controller);
        if !hierarchy.join("cgroup.procs").exists() || !hierarchy.join("tasks").exists() {
            testkit::skip_or_fail(
                test,
                &format!(
                    "no cgroup v1 `{controller}` hierarchy at {}",
                    hierarchy.display()
                ),
            );
            return None;
        }
        let dir = hierarchy.join(format!("triage-test-{}-{test}", std::process::id()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Some(Self {
            dir,
            children: Vec::new(),
        })
    }

    /// The cgroup path as `/proc/<pid>/cgroup` shows it.
    fn path(&self) -> String {
        format!("/{}", self.dir.file_name().expect("name").to_string_lossy())
    }

    fn write(&self, file: &str, value: &str) {
        std::fs::write(self.dir.join(file), value)
            .unwrap_or_else(|e| panic!("writing {value} to {file}: {e}"));
    }

    fn read_u64(&self, file: &str) -> u64 {
        std::fs::read_to_string(self.dir.join(file))
            .expect("read")
            .trim()
            .parse()
            .expect("number")
    }

    /// Start `sh -c SCRIPT` already inside the cgroup (v1 does not move existing memory charges).
    fn spawn(&mut self, script: &str) -> u32 {
        let procs = self.dir.join("cgroup.procs");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > '{}' && {script}", procs.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning sh");
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Grandchildren (sleep, python) may linger for a moment: kill what is left, then rmdir.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(text) = std::fs::read_to_string(self.dir.join("cgroup.procs")) {
                for pid in text.split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).status();
                }
            }
            if std::fs::remove_dir(&self.dir).is_ok()
                || !self.dir.exists()
                || Instant::now() > deadline
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn snapshot(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .arg("snapshot")
        .args(args)
        .args(["--json", "--no-bundle"])
        .output()
        .expect("running triage");
    assert!(
        out.status.success(),
        "triage failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn cgroup_entry<'a>(s: &'a Value, path: &str) -> &'a Value {
    s["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .find(|c| c["path"] == path && (!c["memory"].is_null() || !c["cpu"].is_null()))
        .unwrap_or_else(|| panic!("cgroup {path} not in the snapshot: {}", s["cgroups"]))
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn memory_limit_and_usage_of_a_real_v1_cgroup() {
    let test = "memory_limit";
    let Some(python) = testkit::require_program("python3", test) else {
        return;
    };
    let Some(mut cg) = TestCgroup::create("memory", test) else {
        return;
    };
    cg.write("memory.limit_in_bytes", &(200 * MIB).to_string());
    let script = format!(
        "exec {} -c 'import sys,time\nb=bytearray(50<<20)\nfor i in range(0,len(b),4096): b[i]=1\nprint(\"ready\",flush=True)\ntime.sleep(60)'",
        python.display()
    );
    let pid = cg.spawn(&script);
    wait_until(
        "50 MB charged to the cgroup",
        Duration::from_secs(20),
        || cg.read_u64("memory.usage_in_bytes") >= 50 * MIB,
    );

    let s = snapshot(&[&format!("pid:{pid}"), "--cpu-sample", "0"]);
    let usage_now = cg.read_u64("memory.usage_in_bytes");
    let entry = cgroup_entry(&s, &cg.path());
    assert_eq!(entry["version"], "v1");
    assert_eq!(entry["memory"]["limit_bytes"].as_u64(), Some(200 * MIB));
    let usage = entry["memory"]["usage_bytes"].as_u64().expect("usage");
    assert!(
        usage >= 50 * MIB,
        "usage {usage} below the 50 MB the process touched"
    );
    assert!(
        usage.abs_diff(usage_now) <= 4 * MIB,
        "snapshot {usage} vs kernel {usage_now}"
    );
    let ws = entry["memory"]["working_set_bytes"]
        .as_u64()
        .expect("working set");
    assert!(
        ws <= usage && ws >= 45 * MIB,
        "working set {ws} of usage {usage}"
    );
    assert_eq!(
        entry["memory"]["source_dir"],
        format!("/sys/fs/cgroup/memory{}", cg.path())
    );
    assert_eq!(entry["pids"], serde_json::json!([pid]));
    let process = s["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the process");
    assert_eq!(process["cgroup"], cg.path());
    assert!(process["rss_bytes"].as_u64().expect("rss") >= 50 * MIB);
}

#[test]
fn oom_kill_in_a_real_v1_cgroup_shows_in_counters_and_kernel_log() {
    let test = "oom_kill";
    let Some(python) = testkit::require_program("python3", test) else {
        return;
    };
    let Some(mut cg) = TestCgroup::create("memory", test) else {
        return;
    };
    cg.write("memory.limit_in_bytes", &(32 * MIB).to_string());
    // The shell stays in the cgroup (and in the snapshot) after python is killed.
    let script = format!(
        "{} -c 'b=bytearray(200<<20)\nfor i in range(0,len(b),4096): b[i]=1'; exec sleep 60",
        python.display()
    );
    let pid = cg.spawn(&script);
    wait_until("the kernel's OOM kill", Duration::from_secs(30), || {
        std::fs::read_to_string(cg.dir.join("memory.oom_control")).is_ok_and(|t| {
            t.lines().any(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|v| v >= 1)
            })
        })
    });
    let kernel_count = std::fs::read_to_string(cg.dir.join("memory.oom_control"))
        .expect("oom_control")
        .lines()
        .find_map(|l| {
            l.strip_prefix("oom_kill ")
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .expect("oom_kill line");
    let s = snapshot(&[&format!("pid:{pid}"), "--cpu-sample", "0"]);
    let entry = cgroup_entry(&s, &cg.path());
    assert_eq!(entry["memory"]["oom_kills"].as_u64(), Some(kernel_count));
    assert_eq!(
        entry["memory"]["oom_control"]["oom_kill"].as_u64(),
        Some(kernel_count)
    );
    assert!(entry["memory"]["failcnt"].as_u64().expect("failcnt") > 0);
    let kills = s["kernel_log"]["oom_kills"]
        .as_array()
        .expect("kernel log OOM kills");
    let ours = kills
        .iter()
        .find(|k| k["oom_memcg"] == cg.path())
        .unwrap_or_else(|| panic!("no OOM kill for {} in {kills:?}", cg.path()));
    assert!(
        ours["task"]
            .as_str()
            .is_some_and(|t| t.starts_with("python")),
        "{ours}"
    );
    assert!(
        ours["anon_rss_bytes"].as_u64().expect("anon rss") > 16 * MIB,
        "{ours}"
    );
}

#[test]
fn cpu_quota_throttling_of_a_real_v1_cgroup() {
    let test = "cpu_throttle";
    let Some(mut cg) = TestCgroup::create("cpu", test) else {
        return;
    };
    cg.write("cpu.cfs_period_us", "100000");
    cg.write("cpu.cfs_quota_us", "10000");
    let pid = cg.spawn("exec sh -c 'while :; do :; done'");
    wait_until("throttled periods", Duration::from_secs(20), || {
        std::fs::read_to_string(cg.dir.join("cpu.stat")).is_ok_and(|t| {
            t.lines().any(|l| {
                l.strip_prefix("nr_throttled ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .is_some_and(|v| v >= 3)
            })
        })
    });
    let s = snapshot(&[&format!("pid:{pid}"), "--interval", "1s"]);
    let entry = cgroup_entry(&s, &cg.path());
    let cpu = &entry["cpu"];
    assert_eq!(cpu["quota_usec"].as_u64(), Some(10_000));
    assert_eq!(cpu["period_usec"].as_u64(), Some(100_000));
    assert_eq!(cpu["limit_cores"].as_f64(), Some(0.1));
    assert!(
        cpu["nr_throttled"].as_u64().expect("nr_throttled") > 0,
        "{cpu}"
    );
    assert!(
        cpu["throttled_usec"].as_u64().expect("throttled time") > 0,
        "{cpu}"
    );
    let delta = s["deltas"]["cgroups"]
        .as_array()
        .expect("deltas")
        .iter()
        .find(|d| d["path"] == cg.path())
        .unwrap_or_else(|| panic!("no delta for {}: {}", cg.path(), s["deltas"]));
    assert!(
        delta["nr_throttled"].as_u64().expect("Δthrottled") > 0,
        "{delta}"
    );
    // A busy loop under a 10 % quota is throttled in most periods it runs in.
    assert!(
        delta["throttled_ratio"].as_f64().expect("ratio") > 0.5,
        "{delta}"
    );
    // The process never gets more than its quota (with slack for the shared, loaded machine).
    let process = s["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("busy process");
    assert!(
        process["cpu_percent"].as_f64().expect("cpu") <= 15.0,
        "{process}"
    );
}
