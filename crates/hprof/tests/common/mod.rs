//! Running real JVMs for the tests: compile a program, start it, wait until it is ready, take
//! class histograms and heap dumps with `jcmd`.

#![allow(dead_code)]

pub mod writer;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running test JVM, killed on drop.
pub struct Jvm {
    pub child: Child,
    pub pid: u32,
    pub classes: tempfile::TempDir,
    jcmd: PathBuf,
}

impl Drop for Jvm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Compile `source` (public class `class_name`) and start it with `jvm_flags`; the program must
/// print `ready` on stdout once its heap is built. `None` when Java is not installed (skipped).
pub fn start_jvm(test: &str, class_name: &str, source: &str, jvm_flags: &[&str]) -> Option<Jvm> {
    let java = testkit::require_program("java", test)?;
    let jcmd = testkit::require_program("jcmd", test)?;
    let classes = testkit::compile_java(test, class_name, source)?;
    let mut child = Command::new(java)
        .args(jvm_flags)
        .arg("-XX:+UseG1GC")
        .arg("-cp")
        .arg(classes.path())
        .arg(class_name)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("starting java");
    let pid = child.id();
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim() == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{class_name} did not print 'ready' within 120 s"));
    let jvm = Jvm {
        child,
        pid,
        classes,
        jcmd,
    };
    // The first attach starts the JVM's attach listener, which allocates: do it before measuring.
    jvm.jcmd(&["VM.version"]);
    Some(jvm)
}

impl Jvm {
    pub fn jcmd(&self, args: &[&str]) -> String {
        let out = Command::new(&self.jcmd)
            .arg(self.pid.to_string())
            .args(args)
            .output()
            .expect("running jcmd");
        assert!(
            out.status.success(),
            "jcmd {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `GC.class_histogram` as class name (Java source form) -> (instances, bytes).
    pub fn class_histogram(&self) -> HashMap<String, (u64, u64)> {
        parse_class_histogram(&self.jcmd(&["GC.class_histogram"]))
    }

    /// Dump the heap (live objects) to `path`.
    pub fn heap_dump(&self, path: &Path, extra: &[&str]) {
        let mut args = vec!["GC.heap_dump"];
        args.extend_from_slice(extra);
        let p = path.to_str().expect("utf-8 path");
        args.push(p);
        let out = self.jcmd(&args);
        assert!(
            out.contains("Heap dump file created"),
            "heap dump failed: {out}"
        );
    }

    /// A histogram, a dump, a histogram again: classes whose two histograms agree were quiet while
    /// the dump was taken, and the dump must match them exactly.
    pub fn stable_histogram_and_dump(&self, path: &Path) -> HashMap<String, (u64, u64)> {
        for _attempt in 0..3 {
            let before = self.class_histogram();
            self.heap_dump(path, &[]);
            let after = self.class_histogram();
            let stable: HashMap<String, (u64, u64)> = before
                .iter()
                .filter(|(k, v)| after.get(*k) == Some(v))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            if stable.len() * 10 >= before.len() * 9 {
                return stable;
            }
            std::fs::remove_file(path).ok();
        }
        panic!("the test JVM kept allocating: its histograms never agreed");
    }
}

/// Parse `jcmd PID GC.class_histogram` output, merging classes of the same name.
pub fn parse_class_histogram(text: &str) -> HashMap<String, (u64, u64)> {
    let mut out: HashMap<String, (u64, u64)> = HashMap::new();
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let (Some(num), Some(instances), Some(bytes), Some(name)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if !num.ends_with(':') {
            continue;
        }
        let (Ok(instances), Ok(bytes)) = (instances.parse::<u64>(), bytes.parse::<u64>()) else {
            continue;
        };
        let entry = out.entry(hprof::java_class_name(name)).or_default();
        entry.0 += instances;
        entry.1 += bytes;
    }
    out
}

/// Wait for a child to exit, up to `limit`.
pub fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}
