//! Test support shared by the triage crates (dev-dependency only).
//!
//! Tests that need an external program (java, go, node_exporter, prometheus, chromium, an S3 server)
//! call [`require_program`]. On a user's machine a missing program makes the test skip with a loud
//! reason on stderr; under `TRIAGE_REQUIRE_EXTERNAL=1` (set by `.ci/run`, which installs them) a
//! missing program fails the test instead, so CI can never pass by skipping.

pub mod servers;

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when CI asked for every external program to be present.
pub fn external_required() -> bool {
    std::env::var("TRIAGE_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Look `name` up on PATH (or take it as a path). `None` means: skip this test (already reported
/// on stderr). Panics under `TRIAGE_REQUIRE_EXTERNAL=1` when the program is missing.
pub fn require_program(name: &str, test: &str) -> Option<PathBuf> {
    match find_program(name) {
        Some(path) => Some(path),
        None => {
            skip_or_fail(
                test,
                &format!(
                    "the program `{name}` is not installed (see .ci/run for how CI installs it)"
                ),
            );
            None
        }
    }
}

/// Report a skipped test loudly, or fail it when external programs are required.
pub fn skip_or_fail(test: &str, reason: &str) {
    if external_required() {
        panic!("{test}: {reason}; TRIAGE_REQUIRE_EXTERNAL=1 forbids skipping");
    }
    eprintln!("\n*** SKIPPED {test}: {reason} ***\n");
}

/// Find an executable on PATH, or accept an existing absolute/relative path.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let candidate = Path::new(name);
    if candidate.components().count() > 1 {
        return is_executable(candidate).then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// True when this process runs as root (several live tests create cgroups or switch users).
pub fn is_root() -> bool {
    // SAFETY-free: read our own effective uid from /proc rather than calling libc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

/// Compile a single-file Java program into a fresh directory and return it (for `java -cp DIR`).
/// `None` when `javac` is missing (reported as for [`require_program`]).
pub fn compile_java(test: &str, class_name: &str, source: &str) -> Option<tempfile::TempDir> {
    let javac = require_program("javac", test)?;
    let dir = tempfile::Builder::new()
        .prefix("triage-java-")
        .tempdir()
        .expect("creating a temp dir");
    // World-readable so tests that run the JVM as another user can load the classes.
    let _ = std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
    let file = dir.path().join(format!("{class_name}.java"));
    std::fs::write(&file, source).expect("writing the Java source");
    let status = Command::new(javac)
        .arg("-d")
        .arg(dir.path())
        .arg(&file)
        .status()
        .expect("running javac");
    assert!(status.success(), "javac failed for {class_name}");
    Some(dir)
}

/// Remove a test's cgroup directory (v1 or v2), killing the processes still in it first; retried
/// for up to ten seconds while they exit. Never fails: a leftover is only a leftover.
pub fn remove_cgroup(dir: &std::path::Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let pids = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: plain kill(2) of a process in the test's own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if std::fs::remove_dir(dir).is_ok()
            || !dir.exists()
            || std::time::Instant::now() >= deadline
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Copy a directory tree (fixture trees into a scratch directory a test then alters); `to` is
/// created if needed.
pub fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift): incompressible, so nothing is accidentally
/// deduplicated or compressed away, and the same for the same seed.
pub fn pattern_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_not_nonsense() {
        assert!(find_program("sh").is_some());
        assert!(find_program("definitely-not-a-program-triage").is_none());
    }
}
