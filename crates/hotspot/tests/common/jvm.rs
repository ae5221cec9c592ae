//! Starting real JVMs for the attach tests: plain, as another user, inside fresh pid and mount
//! namespaces. The JVM exits when its stdin closes, so a crashed test leaves no JVM behind.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The test program: `TriageTestApp <markers> [filler_mib]`. Keeps `markers` instances of
/// `TriageMarker` (each with a 64-byte payload) and about `filler_mib` MiB of small arrays alive,
/// holds a monitor in a thread named `triage-lock-holder`, prints `ready`, and exits when stdin
/// closes.
pub const APP_SOURCE: &str = r#"
import java.util.*;

public class TriageTestApp {
    static final List<Object> keep = new ArrayList<>();
    static final Object lock = new Object();

    public static void main(String[] args) throws Exception {
        int markers = Integer.parseInt(args[0]);
        int fillerMib = args.length > 1 ? Integer.parseInt(args[1]) : 0;
        for (int i = 0; i < markers; i++) keep.add(new TriageMarker(i));
        for (long i = 0; i < fillerMib * 1024L * 1024L / 48; i++) keep.add(new long[3]);
        Thread holder = new Thread(() -> {
            synchronized (lock) {
                try { Thread.sleep(Long.MAX_VALUE); } catch (InterruptedException e) { }
            }
        }, "triage-lock-holder");
        holder.setDaemon(true);
        holder.start();
        System.out.println("ready");
        System.out.flush();
        while (System.in.read() != -1) { }
        System.exit(0);
    }
}

class TriageMarker {
    final int id;
    final byte[] payload = new byte[64];
    TriageMarker(int id) { this.id = id; }
}
"#;

/// Shell tail for a JVM started under a fresh tmpfs on /tmp: the classes (in the host's /tmp, now
/// hidden) are copied from the still-open working directory into the new /tmp first.
pub const COPY_CLASSES_AND_EXEC: &str =
    "mkdir /tmp/app && cp ./*.class /tmp/app/ && cd /tmp/app && exec \"$@\"";

/// A running test JVM; killed and reaped on drop.
pub struct TestJvm {
    /// The process we started (java itself, or `unshare` for the namespaced case).
    pub child: Child,
    /// Host pid of the java process.
    pub pid: u32,
}

impl Drop for TestJvm {
    fn drop(&mut self) {
        // SAFETY: plain kill(2) on pids we started.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
            libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl TestJvm {
    /// Kill the JVM now (SIGKILL) without reaping it: it stays a zombie until drop.
    pub fn kill(&self) {
        // SAFETY: as above.
        unsafe {
            libc::kill(self.pid as libc::pid_t, libc::SIGKILL);
        }
    }
}

/// Compile the test app once per test (javac is quick enough and keeps tests independent).
pub fn compile(test: &str) -> Option<tempfile::TempDir> {
    testkit::require_program("java", test)?;
    testkit::compile_java(test, "TriageTestApp", APP_SOURCE)
}

/// JVM options that start fast and keep the heap small.
pub fn jvm_options(max_heap_mib: u32) -> Vec<String> {
    vec![
        format!("-Xmx{max_heap_mib}m"),
        "-XX:+UseSerialGC".into(),
        "-XX:TieredStopAtLevel=1".into(),
        "-Xss512k".into(),
    ]
}

/// Start `prefix... java <options> -cp <classes> TriageTestApp <app_args>` in `classes` as cwd,
/// wait for `ready`, and find the java process's host pid.
pub fn start(
    prefix: &[&str],
    extra_jvm_options: &[&str],
    classes: &Path,
    app_args: &[&str],
    env: &[(&str, &str)],
) -> TestJvm {
    let (program, rest): (&str, Vec<&str>) = match prefix.split_first() {
        Some((first, rest)) => (first, rest.to_vec()),
        None => ("java", Vec::new()),
    };
    let mut command = Command::new(program);
    command.args(&rest);
    if !prefix.is_empty() {
        command.arg("java");
    }
    command
        .args(jvm_options(256))
        .args(extra_jvm_options)
        .arg("-cp")
        .arg(".")
        .arg("TriageTestApp")
        .args(app_args)
        .current_dir(classes)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("starting java");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == "ready" {
                let _ = tx.send(());
            }
        }
    });
    let mut jvm = TestJvm {
        pid: child.id(),
        child,
    };
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        panic!("the test JVM did not print `ready` within 60 s");
    }
    jvm.pid = find_java_pid(jvm.child.id()).expect("locating the java process");
    jvm
}

/// The java process: `pid` itself, or its descendant when started through `unshare --fork`.
fn find_java_pid(pid: u32) -> Option<u32> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() == "java" {
        return Some(pid);
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .find_map(find_java_pid)
}

/// Ensure the unprivileged test user exists (root only); returns its uid and gid.
pub fn ensure_test_user() -> Option<(u32, u32)> {
    const USER: &str = "triage-test";
    let lookup = || {
        let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
        passwd.lines().find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.first() == Some(&USER))
                .then(|| Some((f.get(2)?.parse().ok()?, f.get(3)?.parse().ok()?)))?
        })
    };
    if let Some(ids) = lookup() {
        return Some(ids);
    }
    let useradd = testkit::require_program("useradd", "ensure_test_user")?;
    // Exit code 9 means another test created it meanwhile.
    let _ = Command::new(useradd)
        .args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            USER,
        ])
        .status();
    lookup()
}

/// Names of entries in a directory (empty when it cannot be read).
pub fn list_dir(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Root and `unshare` for the container case; skips (or, under CI, fails) when either is missing.
pub fn namespaces_available(test: &str) -> bool {
    if !testkit::is_root() {
        testkit::skip_or_fail(test, "needs root for unshare --pid --mount");
        return false;
    }
    testkit::require_program("unshare", test).is_some()
}

/// The container case: `unshare --pid --mount --fork --mount-proc` with a `tmpfs_size` tmpfs on
/// /tmp, so java is pid 1 of its namespace and its /tmp is not the host's.
pub fn start_namespaced(
    classes: &Path,
    tmpfs_size: &str,
    extra_jvm_options: &[&str],
    app_args: &[&str],
) -> TestJvm {
    let script =
        format!("mount -t tmpfs -o size={tmpfs_size} tmpfs /tmp && {COPY_CLASSES_AND_EXEC}");
    let prefix = [
        "unshare",
        "--pid",
        "--mount",
        "--fork",
        "--mount-proc",
        "sh",
        "-c",
        script.as_str(),
        "sh",
    ];
    start(&prefix, extra_jvm_options, classes, app_args, &[])
}
