//! Findings from real cgroups on this machine (root, cgroup v1 memory and cpu hierarchies):
//! `triage snapshot pid:N` writes a bundle, `triage analyze` must raise the expected finding.
//!
//! - a v1 memory cgroup filled to 96 % of its limit → CG-MEM-WS-LIMIT crit;
//! - a v1 cpu cgroup with a 10 ms / 100 ms quota and a busy loop, `--interval 2s` → CG-CPU-THROTTLE;
//! - an idle process → nothing above info, except machine-wide conditions the test confirms
//!   itself from /proc (the CI machine is shared: its load or OOM history are real findings).
//!
//! The tests run one at a time (a mutex) so one's cgroup never shows up in another's snapshot,
//! and every cgroup is removed by a Drop guard, also when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

/// A v1 cgroup directory, removed (after its processes are killed) on drop.
struct CgroupGuard {
    dir: PathBuf,
    children: Vec<Child>,
}

impl CgroupGuard {
    fn create(controller: &str, name: &str) -> Option<Self> {
        let hierarchy = Path::new("/sys/fs/cgroup").join(controller);
        if !hierarchy.join("cgroup.procs").exists() {
            testkit::skip_or_fail(
                name,
                &format!(
                    "no cgroup v1 {controller} hierarchy at {}",
                    hierarchy.display()
                ),
            );
            return None;
        }
        let dir = hierarchy.join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Some(Self {
            dir,
            children: Vec::new(),
        })
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .unwrap_or_else(|e| panic!("writing {value} to {}: {e}", path.display()));
    }

    /// Start `script` (sh) as the first process of the cgroup, so its memory is charged here.
    fn spawn(&mut self, script: &str) -> u32 {
        let procs = self.dir.join("cgroup.procs");
        let child = Command::new("sh")
            .arg("-c")
            .arg(format!("echo $$ > '{}' && exec {script}", procs.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting the cgroup's process");
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for CgroupGuard {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The kernel removes an empty cgroup directory with rmdir; retry while the killed tasks exit.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::remove_dir(&self.dir).is_err() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn root_required(test: &str) -> bool {
    if !testkit::is_root() {
        testkit::skip_or_fail(test, "needs root to create cgroups");
        return false;
    }
    true
}

/// `triage snapshot pid:N [extra…]` into a bundle, then `triage analyze --json` on it.
fn snapshot_and_analyse(pid: u32, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let bundle = dir.path().join("live.tar.zst");
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "snapshot",
            &format!("pid:{pid}"),
            "--out",
            bundle.to_str().unwrap(),
        ])
        .args(extra)
        .output()
        .expect("running triage snapshot");
    assert!(
        out.status.success(),
        "triage snapshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["analyze", bundle.to_str().unwrap(), "--json"])
        .output()
        .expect("running triage analyze");
    assert!(
        out.status.success(),
        "triage analyze failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("analysis JSON")
}

fn findings<'a>(doc: &'a serde_json::Value, id: &str) -> Vec<&'a serde_json::Value> {
    doc["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

fn read_u64(path: &Path) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn memory_cgroup_at_96_percent_of_its_limit_is_critical() {
    const TEST: &str = "memory_cgroup_at_96_percent_of_its_limit_is_critical";
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root_required(TEST) {
        return;
    }
    let Some(python) = testkit::require_program("python3", TEST) else {
        return;
    };
    let Some(mut cg) = CgroupGuard::create("memory", "triage-live-mem") else {
        return;
    };
    let limit: u64 = 64 << 20;
    cg.write("memory.limit_in_bytes", &limit.to_string());
    let dir = cg.dir.display().to_string();
    // Grow anonymous memory in 256 KiB steps until the working set (usage − total_inactive_file)
    // is between 96 and 97 % of the limit, then hold it.
    let script = format!(
        r#"{python} -c '
import sys, time
d = "{dir}"
lim = int(open(d + "/memory.limit_in_bytes").read())
hold = []
def ws():
    u = int(open(d + "/memory.usage_in_bytes").read())
    st = dict(l.split() for l in open(d + "/memory.stat"))
    return u - int(st["total_inactive_file"])
while ws() < 0.962 * lim:
    hold.append(b"\x01" * (256 * 1024))
print("ready", ws(), lim, flush=True)
time.sleep(120)
'"#,
        python = python.display()
    );
    let pid = cg.spawn(&script);
    // Wait for "ready".
    let stdout = cg.children[0].stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
        .expect("reading the filler's output");
    assert!(
        line.starts_with("ready"),
        "the filler did not reach 96 %: {line:?}"
    );
    let usage = read_u64(&cg.dir.join("memory.usage_in_bytes"));
    assert!(
        usage < limit,
        "the cgroup must stay under its limit (usage {usage})"
    );

    let doc = snapshot_and_analyse(pid, &[]);
    let found = findings(&doc, "CG-MEM-WS-LIMIT");
    let ours: Vec<_> = found
        .iter()
        .filter(|f| {
            f["subject"]
                .as_str()
                .unwrap_or("")
                .contains("triage-live-mem")
        })
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "expected CG-MEM-WS-LIMIT for our cgroup, got {}",
        serde_json::to_string_pretty(&doc["findings"]).unwrap()
    );
    assert_eq!(ours[0]["severity"], "crit", "{}", ours[0]);
    let source = ours[0]["evidence"][0]["source"].as_str().unwrap();
    assert!(
        source.starts_with("raw/sys/fs/cgroup/memory/triage-live-mem-"),
        "{source}"
    );
    assert!(source.ends_with("/memory.usage_in_bytes"), "{source}");

    // The end of `triage snapshot` itself: findings in the text and in the JSON, and --fail-on.
    let snap = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_triage"))
            .args([
                "snapshot",
                &format!("pid:{pid}"),
                "--no-bundle",
                "--cpu-sample",
                "0",
            ])
            .args(args)
            .output()
            .expect("running triage snapshot")
    };
    let out = snap(&[]);
    assert_eq!(out.status.code(), Some(0), "no --fail-on: exit 0");
    let text = String::from_utf8_lossy(&out.stdout);
    let findings_at = text.find("FINDINGS  ").expect("a FINDINGS section");
    let ours = text[findings_at..]
        .find("CRIT  CG-MEM-WS-LIMIT")
        .expect("the crit finding after the FINDINGS header");
    assert!(
        text[findings_at + ours..].contains("memory.usage_in_bytes"),
        "the finding's evidence names its source: {text}"
    );
    let out = snap(&["--json", "--fail-on", "crit"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "--fail-on crit with a crit finding"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    let crit: Vec<_> = findings(&doc, "CG-MEM-WS-LIMIT")
        .into_iter()
        .filter(|f| f["severity"] == "crit")
        .filter(|f| {
            f["subject"]
                .as_str()
                .unwrap_or("")
                .contains("triage-live-mem")
        })
        .collect();
    assert_eq!(crit.len(), 1, "{}", doc["findings"]);
    let severities: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    let rank = |s: &str| match s {
        "crit" => 0,
        "warn" => 1,
        _ => 2,
    };
    assert!(
        severities.windows(2).all(|w| rank(w[0]) <= rank(w[1])),
        "most severe first: {severities:?}"
    );
}

#[test]
fn cpu_cgroup_with_a_small_quota_is_throttled() {
    const TEST: &str = "cpu_cgroup_with_a_small_quota_is_throttled";
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !root_required(TEST) {
        return;
    }
    let Some(mut cg) = CgroupGuard::create("cpu", "triage-live-cpu") else {
        return;
    };
    cg.write("cpu.cfs_period_us", "100000");
    cg.write("cpu.cfs_quota_us", "10000");
    let pid = cg.spawn("sh -c 'while :; do :; done'");
    std::thread::sleep(Duration::from_millis(500));
    let doc = snapshot_and_analyse(pid, &["--interval", "2s"]);
    let found = findings(&doc, "CG-CPU-THROTTLE");
    let ours: Vec<_> = found
        .iter()
        .filter(|f| {
            f["subject"]
                .as_str()
                .unwrap_or("")
                .contains("triage-live-cpu")
        })
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "expected CG-CPU-THROTTLE for our cgroup, got {}",
        serde_json::to_string_pretty(&doc["findings"]).unwrap()
    );
    assert_eq!(
        ours[0]["severity"], "warn",
        "with --interval the change is judged: {}",
        ours[0]
    );
    let ratio = ours[0]["evidence"][0]["value"].as_str().unwrap();
    let percent: f64 = ratio.trim_end_matches(" %").parse().expect("a percentage");
    assert!(
        percent > 25.0,
        "a busy loop under a 10 % quota is throttled in most periods, got {ratio}"
    );
    assert!(
        ours[0]["evidence"][0]["source"]
            .as_str()
            .unwrap()
            .ends_with("/cpu.stat")
    );
}

#[test]
fn idle_process_raises_nothing_above_info() {
    const TEST: &str = "idle_process_raises_nothing_above_info";
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut sleeper = Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("starting sleep");
    let doc = snapshot_and_analyse(sleeper.id(), &[]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as f64;
    let load1: f64 = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0);
    let vmstat_oom = std::fs::read_to_string("/proc/vmstat")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("oom_kill ")
                    .and_then(|v| v.trim().parse::<u64>().ok())
            })
        })
        .unwrap_or(0);
    for f in doc["findings"].as_array().expect("findings") {
        if f["severity"] == "info" {
            continue;
        }
        // Machine-wide conditions of a shared machine are real findings when /proc agrees.
        let confirmed = match f["id"].as_str().unwrap() {
            "N-LOAD" => load1 / cpus > 1.5,
            "N-OOM" => vmstat_oom > 0 || f["title"].as_str().unwrap_or("").contains("OOM line"),
            // A filesystem of the shared machine really is nearly full: `df` must agree.
            "N-DISK" => f["subject"]
                .as_str()
                .and_then(df_available_percent)
                .is_some_and(|pct| pct < 5.0),
            _ => false,
        };
        if confirmed {
            eprintln!(
                "{TEST}: {} is a real condition of this machine: {}",
                f["id"], f["title"]
            );
            continue;
        }
        panic!(
            "an idle process raised {}: {}",
            f["severity"],
            serde_json::to_string_pretty(f).unwrap()
        );
    }
}

/// `df`'s view of a mount point: available bytes as a percentage of its size.
fn df_available_percent(mount_point: &str) -> Option<f64> {
    let out = Command::new("df")
        .args(["-B1", "--output=avail,size", mount_point])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut fields = text.lines().nth(1)?.split_whitespace();
    let avail: f64 = fields.next()?.parse().ok()?;
    let size: f64 = fields.next()?.parse().ok()?;
    (size > 0.0).then(|| avail * 100.0 / size)
}
