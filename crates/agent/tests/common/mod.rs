//! Shared helpers of the agent's live tests: real v1 memory cgroups (created as root, removed
//! on drop with everything in them killed), a JVM whose heap grows until the kernel kills it,
//! and bounded waits.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const V1_MEMORY: &str = "/sys/fs/cgroup/memory";

/// A fresh v1 memory cgroup with a limit; its processes are killed and it is removed on drop.
pub struct TestCgroup {
    /// Path as `/proc/<pid>/cgroup` shows it (`/triage-test-…`).
    pub path: String,
    pub dir: PathBuf,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestCgroup {
    /// `None` (skipped, or failed under TRIAGE_REQUIRE_EXTERNAL=1) when not root or no v1 memory
    /// hierarchy.
    pub fn create(test: &str, limit_bytes: u64) -> Option<TestCgroup> {
        if !testkit::is_root() {
            testkit::skip_or_fail(test, "creating a memory cgroup needs root");
            return None;
        }
        if !Path::new(V1_MEMORY).join("memory.limit_in_bytes").is_file() {
            testkit::skip_or_fail(
                test,
                "no cgroup v1 memory hierarchy at /sys/fs/cgroup/memory",
            );
            return None;
        }
        let name = format!(
            "triage-test-{test}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = Path::new(V1_MEMORY).join(&name);
        std::fs::create_dir(&dir).expect("creating the test memory cgroup");
        std::fs::write(dir.join("memory.limit_in_bytes"), limit_bytes.to_string())
            .expect("setting memory.limit_in_bytes");
        Some(TestCgroup {
            path: format!("/{name}"),
            dir,
        })
    }

    /// `memory.oom_control`'s `oom_kill` count.
    pub fn oom_kills(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.oom_control"))
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("oom_kill "))
                    .and_then(|v| v.trim().parse().ok())
            })
            .unwrap_or(0)
    }

    pub fn failcnt(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("memory.failcnt"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Run `program args…` inside this cgroup (moved in before exec, so every page is charged here).
    pub fn spawn(&self, program: &Path, args: &[&str]) -> Child {
        let mut script = format!("echo $$ > {}/cgroup.procs && exec", self.dir.display());
        script.push(' ');
        script.push_str(&shell_quote(&program.to_string_lossy()));
        for a in args {
            script.push(' ');
            script.push_str(&shell_quote(a));
        }
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting a process in the test cgroup")
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        testkit::remove_cgroup(&self.dir);
    }
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A Java program that keeps `TriageRetained` objects of 64 KiB (every page touched) in a list,
/// `STEP` of them every `MS` milliseconds, until it is killed. Prints `ready` first.
pub const GROW_SOURCE: &str = r#"
import java.util.ArrayList;
public class Grow {
    static final class TriageRetained {
        final byte[] payload;
        TriageRetained(int n) { payload = new byte[n]; for (int i = 0; i < n; i += 4096) payload[i] = (byte) (i + 1); }
    }
    public static void main(String[] a) throws Exception {
        int step = Integer.parseInt(a[0]);
        int ms = Integer.parseInt(a[1]);
        ArrayList<TriageRetained> keep = new ArrayList<>();
        System.out.println("ready");
        System.out.flush();
        while (true) {
            for (int i = 0; i < step; i++) keep.add(new TriageRetained(64 * 1024));
            Thread.sleep(ms);
        }
    }
}
"#;

/// A directory on a real disk (never tmpfs: tmpfs pages written by the JVM would be charged to
/// its cgroup), under the target directory.
pub fn disk_dir(prefix: &str) -> tempfile::TempDir {
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    std::fs::create_dir_all(&base).expect("creating the target tmp dir");
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir_in(&base)
        .expect("creating a directory on disk");
    // The JVM may run as another user in some tests: let it write there.
    let _ = std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    );
    dir
}

/// Poll `check` every 20 ms until it returns `Some`, or panic with `what` after `limit`.
pub fn wait_for<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait for the child's first stdout line to be `ready`.
pub fn wait_ready(child: &mut Child) {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the JVM did not print `ready` within 30 s");
    assert_eq!(line.trim(), "ready", "unexpected first line from the JVM");
}

/// An agent configuration watching only `prefix`, quick to discover, with its spool in `spool`.
pub fn test_config(prefix: &str, spool: &Path, dump_dir: &Path) -> agent::Config {
    agent::Config {
        cgroup_prefixes: vec![prefix.to_string()],
        discovery_interval: Duration::from_millis(200),
        sample_interval: Duration::from_secs(1),
        listen: None,
        capture: agent::CaptureSettings {
            spool_dir: spool.to_path_buf(),
            dump_dir_in_target: dump_dir.to_path_buf(),
            min_free_bytes: 256 << 20,
            min_free_ratio: 0.0,
            ..agent::CaptureSettings::default()
        },
        ..agent::Config::default()
    }
}

/// Agent logs on the test's stderr (shown for failing tests), at `RUST_LOG` or info.
pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}
