//! `triage snapshot` on this machine, compared with the tools an engineer would use: `free -b`,
//! `ps -o rss=`, `df -B1`, the conntrack sysctl.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

/// Run `triage snapshot ARGS --json --no-bundle` and parse its stdout as one JSON document.
fn snapshot_json(args: &[&str]) -> Value {
    let out = triage()
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
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn run_tool(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A child process killed, with its own children, when dropped (a busy child left behind would
/// load the machine for every later test and benchmark).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let pid = self.0.id();
        let children =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        for child in children
            .split_whitespace()
            .filter_map(|c| c.parse::<i32>().ok())
        {
            // SAFETY: plain kill(2) on a process this test started (through its shell).
            unsafe { libc::kill(child, libc::SIGKILL) };
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(script: &str) -> Reaped {
    Reaped(
        Command::new("sh")
            .args(["-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawning sh"),
    )
}

#[test]
fn json_has_the_documented_names() {
    let s = snapshot_json(&["--cpu-sample", "0"]);
    assert_eq!(s["schema"], "triage.snapshot/v1");
    assert!(s["memory"]["total_bytes"].as_u64().is_some_and(|v| v > 0));
    assert!(s["memory"]["available_bytes"].as_u64().is_some());
    let p = &s["processes"][0];
    for key in ["pid", "rss_bytes", "cpu_percent", "command"] {
        assert!(!p[key].is_null(), "processes[].{key} missing: {p}");
    }
    let f = &s["filesystems"][0];
    for key in ["mount_point", "size_bytes", "available_bytes"] {
        assert!(!f[key].is_null(), "filesystems[].{key} missing: {f}");
    }
    let c = s["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .find(|c| !c["memory"].is_null() && !c["cpu"].is_null())
        .expect("a cgroup with memory and cpu");
    assert!(c["path"].is_string());
    assert!(
        c["memory"]
            .as_object()
            .expect("memory")
            .contains_key("limit_bytes")
    );
    assert!(c["memory"]["working_set_bytes"].is_u64());
    assert!(
        c["cpu"]
            .as_object()
            .expect("cpu")
            .contains_key("nr_periods")
    );
    assert!(
        c["cpu"]
            .as_object()
            .expect("cpu")
            .contains_key("nr_throttled")
    );
    let ct = s["conntrack"].as_object().expect("conntrack object");
    assert!(ct.contains_key("count") && ct.contains_key("max"));
    let names: Vec<&str> = s["collectors"]
        .as_array()
        .expect("collectors")
        .iter()
        .filter_map(|c| c["name"].as_str())
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
}

#[test]
fn mem_total_matches_free() {
    let s = snapshot_json(&["--cpu-sample", "0"]);
    let free = run_tool("free", &["-b"]);
    let total: u64 = free
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("the Mem: line of free -b");
    assert_eq!(s["memory"]["total_bytes"].as_u64(), Some(total));
}

#[test]
fn child_rss_matches_ps() {
    let child = spawn("exec sleep 30");
    let pid = child.0.id();
    // Wait until the exec is done and the RSS is steady (the machine may be busy).
    let ps_rss = || run_tool("ps", &["-o", "rss=,comm=", "-p", &pid.to_string()]);
    let mut last = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        let now = ps_rss();
        if now == last && now.contains("sleep") {
            break;
        }
        last = now;
    }
    let s = snapshot_json(&[&format!("pid:{pid}"), "--cpu-sample", "0"]);
    let ps = run_tool("ps", &["-o", "rss=", "-p", &pid.to_string()]);
    let ps_rss_bytes = ps.trim().parse::<u64>().expect("ps rss in KiB") * 1024;
    let process = s["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the child is in the snapshot");
    let ours = process["rss_bytes"].as_u64().expect("rss_bytes");
    assert!(ours > 0);
    assert_eq!(ours, ps_rss_bytes, "snapshot vs ps -o rss= (KiB × 1024)");
    assert_eq!(process["command"], "sleep 30");
}

#[test]
fn pid_target_covers_descendants_and_samples_cpu() {
    let parent = spawn("sh -c 'while :; do :; done' & exec sleep 30");
    let pid = parent.0.id();
    for _ in 0..100 {
        if std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "sleep") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let s = snapshot_json(&[&format!("pid:{pid}"), "--cpu-sample", "500ms"]);
    assert_eq!(s["target"], format!("pid:{pid}"));
    assert_eq!(s["process_summary"]["cpu_percent_basis"], "sampled");
    let sample = s["process_summary"]["cpu_sample_ms"]
        .as_u64()
        .expect("sample length");
    assert!((450..5000).contains(&sample), "sample of {sample} ms");
    let procs = s["processes"].as_array().expect("processes");
    assert_eq!(
        procs.len(),
        2,
        "the target (sleep) and its busy child: {procs:?}"
    );
    assert!(
        procs
            .iter()
            .all(|p| p["pid"] == pid || p["ppid"].as_u64().is_some())
    );
    let busy = procs
        .iter()
        .find(|p| p["command"] == "sh -c while :; do :; done")
        .unwrap_or_else(|| panic!("busy child in {procs:?}"));
    let sleeper = procs
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the target itself");
    assert_eq!(sleeper["command"], "sleep 30");
    assert_eq!(busy["ppid"], pid);
    assert!(
        busy["cpu_percent"].as_f64().expect("cpu") > 1.0,
        "a busy loop uses CPU: {busy}"
    );
    assert_eq!(sleeper["cpu_percent"].as_f64(), Some(0.0));
}

#[test]
fn filesystem_sizes_match_df() {
    let s = snapshot_json(&["--cpu-sample", "0"]);
    let df = run_tool("df", &["-B1", "--output=target,size,avail"]);
    let ours = s["filesystems"].as_array().expect("filesystems");
    let mut compared = 0;
    for line in df.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [target, size, avail] = fields[..] else {
            continue;
        };
        let (size, avail): (u64, u64) =
            (size.parse().expect("size"), avail.parse().expect("avail"));
        let fs = ours
            .iter()
            .find(|f| f["mount_point"] == target)
            .unwrap_or_else(|| panic!("df shows {target}, the snapshot does not: {ours:?}"));
        assert_eq!(fs["size_bytes"].as_u64(), Some(size), "{target} size");
        // Free space moves while other processes write: allow 1 % or 256 MiB.
        let ours_avail = fs["available_bytes"].as_u64().expect("avail");
        assert!(
            ours_avail.abs_diff(avail) <= (avail / 100).max(256 << 20),
            "{target}: {ours_avail} vs df {avail}"
        );
        compared += 1;
    }
    assert!(
        compared >= 1 && ours.iter().any(|f| f["mount_point"] == "/"),
        "nothing compared"
    );
    for pseudo in ["proc", "sysfs", "cgroup", "cgroup2", "devpts"] {
        assert!(
            ours.iter().all(|f| f["fs_type"] != pseudo),
            "{pseudo} listed as a filesystem"
        );
    }
    let inodes = ours.iter().find(|f| f["mount_point"] == "/").expect("/")["inodes_total"]
        .as_u64()
        .expect("inodes");
    let df_i = run_tool("df", &["--output=itotal", "/"]);
    assert_eq!(
        df_i.lines().nth(1).and_then(|l| l.trim().parse().ok()),
        Some(inodes)
    );
}

#[test]
fn conntrack_count_matches_the_sysctl() {
    let sysctl = "/proc/sys/net/netfilter/nf_conntrack_count";
    if std::fs::metadata(sysctl).is_err() && testkit::is_root() {
        let _ = Command::new("modprobe").arg("nf_conntrack").status();
    }
    let s = snapshot_json(&["--cpu-sample", "0"]);
    match std::fs::read_to_string(sysctl) {
        Ok(text) => {
            let expected: u64 = text.trim().parse().expect("count");
            let ours = s["conntrack"]["count"].as_u64().expect("conntrack.count");
            assert!(s["conntrack"]["loaded"].as_bool() == Some(true));
            assert!(
                ours.abs_diff(expected) <= (expected / 20).max(5),
                "snapshot {ours} vs sysctl {expected}"
            );
            let max: u64 = std::fs::read_to_string("/proc/sys/net/netfilter/nf_conntrack_max")
                .expect("max")
                .trim()
                .parse()
                .expect("max");
            assert_eq!(s["conntrack"]["max"].as_u64(), Some(max));
            let header = std::fs::read_to_string("/proc/net/stat/nf_conntrack").expect("stat file");
            let columns = header
                .lines()
                .next()
                .expect("header")
                .split_whitespace()
                .count();
            assert_eq!(
                s["conntrack"]["stats"]["header"].as_array().map(Vec::len),
                Some(columns)
            );
        }
        Err(_) => {
            eprintln!(
                "nf_conntrack is not loaded on this machine: checking that the snapshot says so"
            );
            assert_eq!(s["conntrack"]["loaded"], false);
            assert!(s["conntrack"]["count"].is_null());
            let run = s["collectors"]
                .as_array()
                .expect("collectors")
                .iter()
                .find(|c| c["name"] == "conntrack")
                .expect("run")
                .clone();
            assert_eq!(run["status"], "skipped");
            // The comparison with the sysctl did not happen: under CI that is a failure.
            testkit::skip_or_fail(
                "conntrack_count_matches_the_sysctl",
                "nf_conntrack is not loaded (modprobe nf_conntrack), so there is no sysctl to compare with",
            );
        }
    }
}

#[test]
fn a_missing_pid_fails_with_a_clear_message() {
    let out = triage()
        .args(["snapshot", "pid:4000000", "--no-bundle"])
        .output()
        .expect("running triage");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("process 4000000 does not exist"),
        "{stderr}"
    );
    let out = triage()
        .args(["snapshot", "container:x", "--no-bundle"])
        .output()
        .expect("running triage");
    assert_eq!(out.status.code(), Some(2), "a bad target is a usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("container:x") && stderr.contains("pod/NAME"),
        "the message names the target and the forms that work: {stderr}"
    );
}

#[test]
fn socket_counts_match_ss() {
    let Some(ss) = testkit::require_program("ss", "socket_counts_match_ss") else {
        return;
    };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let ss_count =
        |args: &[&str]| run_tool(ss.to_str().expect("path"), args).lines().count() as u64;
    let before = ss_count(&["-tanH"]);
    let s = snapshot_json(&["--cpu-sample", "0"]);
    let after = ss_count(&["-tanH"]);
    let tcp = &s["network"]["sockets"];
    let ours =
        tcp["tcp"]["total"].as_u64().expect("tcp") + tcp["tcp6"]["total"].as_u64().unwrap_or(0);
    // Other processes open and close sockets meanwhile: ours must lie within what ss saw, ± 5.
    let (low, high) = (before.min(after), before.max(after));
    assert!(
        ours + 5 >= low && ours <= high + 5,
        "snapshot {ours} TCP sockets, ss {before}..{after}"
    );
    assert!(
        tcp["tcp"]["by_state"]["LISTEN"]
            .as_u64()
            .expect("listeners")
            >= 1
    );
    drop(listener);
}
