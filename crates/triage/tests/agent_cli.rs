//! `triage agent` end to end, as a DaemonSet would run it: the real binary watches a real v1
//! memory cgroup in which a JVM grows until the kernel OOM-kills it; before the kill it writes a
//! heap dump, a snapshot bundle of the container (through `triage snapshot pid:N`) and a capture
//! record to `--out`, serves /metrics and /healthz meanwhile, and prints the capture on stdout.

use std::io::{BufRead, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GROW: &str = r#"
import java.util.ArrayList;
public class Grow {
    static final class TriageRetained {
        final byte[] payload;
        TriageRetained(int n) { payload = new byte[n]; for (int i = 0; i < n; i += 4096) payload[i] = (byte) (i + 1); }
    }
    public static void main(String[] a) throws Exception {
        ArrayList<TriageRetained> keep = new ArrayList<>();
        System.out.println("ready");
        System.out.flush();
        while (true) {
            for (int i = 0; i < 16; i++) keep.add(new TriageRetained(64 * 1024));
            Thread.sleep(20);
        }
    }
}
"#;

struct Cgroup(PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        testkit::remove_cgroup(&self.0);
    }
}

struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((
        head.split_whitespace().nth(1)?.parse().ok()?,
        body.to_string(),
    ))
}

fn wait_for<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn agent_cli_captures_heap_and_snapshot_before_the_oom_kill() {
    let test = "agent_cli_captures_heap_and_snapshot_before_the_oom_kill";
    if !testkit::is_root() || !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists() {
        testkit::skip_or_fail(test, "needs root and a cgroup v1 memory hierarchy");
        return;
    }
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Grow", GROW) else {
        return;
    };
    let name = format!("triage-test-agentcli-{}", std::process::id());
    let cgroup = Cgroup(Path::new("/sys/fs/cgroup/memory").join(&name));
    std::fs::create_dir(&cgroup.0).expect("creating the cgroup");
    std::fs::write(
        cgroup.0.join("memory.limit_in_bytes"),
        (256u64 << 20).to_string(),
    )
    .expect("limit");
    // On disk, never tmpfs: the JVM's dump pages are charged to its cgroup.
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("tmp dir");
    let out = tempfile::tempdir_in(&base).expect("out dir");
    let dumps = tempfile::tempdir_in(&base).expect("dump dir");
    let port = testkit::servers::free_port();
    let agent = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["agent", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--out")
        .arg(out.path())
        .arg("--dump-dir")
        .arg(dumps.path())
        .args(["--cgroup-prefix", &format!("/{name}")])
        .args(["--discovery-interval", "200ms", "--sample-interval", "1s"])
        .args(["--min-free", "256MiB", "--min-free-share", "0%"])
        .args(["--exit-after", "50s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting triage agent");
    let mut agent = Reap(agent);
    wait_for(Duration::from_secs(20), "/healthz", || {
        get(port, "/healthz").filter(|(s, _)| *s == 200)
    });

    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} -Xmx1g -XX:+UseSerialGC -cp {} Grow",
        cgroup.0.display(),
        java.display(),
        classes.path().display()
    );
    let mut jvm = Reap(
        Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the JVM"),
    );
    let mut line = String::new();
    std::io::BufReader::new(jvm.0.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("reading the JVM");
    assert_eq!(line.trim(), "ready");
    let status = wait_for(Duration::from_secs(40), "the OOM kill", || {
        jvm.0.try_wait().expect("wait")
    });
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "killed by the kernel: {status}"
    );

    // The copy out of the container may still run when the JVM is gone.
    wait_for(
        Duration::from_secs(30),
        "the finished capture in /metrics",
        || {
            get(port, "/metrics").filter(|(_, m)| {
                m.contains("triage_agent_captures_total{artifact=\"heap_dump\",result=\"ok\"} 1\n")
                    && m.contains("triage_agent_captures_in_flight 0\n")
            })
        },
    );
    // SIGTERM: the agent finishes what is running and prints its captures.
    // SAFETY: kill(2) of our own child.
    unsafe { libc::kill(agent.0.id() as i32, libc::SIGTERM) };
    let status = wait_for(Duration::from_secs(30), "the agent to stop", || {
        agent.0.try_wait().expect("wait")
    });
    assert!(status.success(), "triage agent exited with {status}");
    let mut stdout = String::new();
    agent
        .0
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut stdout)
        .expect("reading stdout");
    let record: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("one capture line")).expect("JSON");
    let dump = &record["heap_dumps"][0];
    assert_eq!(dump["target_alive_after"], true, "{record}");
    assert_eq!(dump["oom_kills_after"], 0, "{record}");
    let dump_file = out.path().join(dump["file"].as_str().expect("file"));
    assert!(dump_file.is_file());
    let snapshot = record["snapshot"].as_str().expect("a snapshot bundle");
    let bundle = out.path().join(snapshot);
    let verify = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["bundle", "verify"])
        .arg(&bundle)
        .output()
        .expect("verifying the bundle");
    assert!(
        verify.status.success(),
        "the snapshot bundle verifies: {}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let analysis = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["analyze", "--json", "--only", "histogram"])
        .arg(&dump_file)
        .output()
        .expect("analysing the dump");
    assert!(
        analysis.status.success(),
        "{}",
        String::from_utf8_lossy(&analysis.stderr)
    );
    assert!(
        String::from_utf8_lossy(&analysis.stdout).contains("Grow$TriageRetained"),
        "the dump's histogram names the retained class"
    );
}
