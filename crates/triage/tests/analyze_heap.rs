//! End to end: `triage analyze` on heap dumps taken from a real JVM with jcmd.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const PROGRAM: &str = r#"
import java.util.*;
public class CliHeapProgram {
    static Holder HOLDER;
    static final List<String> NAMES = new ArrayList<>();
    static class Holder { byte[] payload; }
    // Built in its own method: no local variable of main's frame (a GC root of its own) keeps the
    // holder, so its only path from a root is the static field.
    static void init() {
        Holder h = new Holder();
        h.payload = new byte[5 * 1024 * 1024];
        HOLDER = h;
    }
    public static void main(String[] args) throws Exception {
        init();
        for (int i = 0; i < 3000; i++) NAMES.add(new String("duplicated-name-" + (i % 3)));
        System.out.println("ready");
        Thread.sleep(600_000);
    }
}
"#;

fn triage(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .output()
        .expect("running triage")
}

fn json(args: &[&str]) -> serde_json::Value {
    let out = triage(args);
    assert!(
        out.status.success(),
        "triage {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn take_dump(test: &str, dir: &Path) -> Option<std::path::PathBuf> {
    let java = testkit::require_program("java", test)?;
    let jcmd = testkit::require_program("jcmd", test)?;
    let classes = testkit::compile_java(test, "CliHeapProgram", PROGRAM)?;
    let mut child = Command::new(java)
        .args(["-Xmx128m", "-cp"])
        .arg(classes.path())
        .arg("CliHeapProgram")
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting java");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line == "ready" {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .expect("the JVM did not get ready");
    let dump = dir.join("cli.hprof");
    let out = Command::new(jcmd)
        .arg(child.id().to_string())
        .arg("GC.heap_dump")
        .arg(&dump)
        .output()
        .expect("running jcmd");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        out.status.success() && dump.exists(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Some(dump)
}

#[test]
fn analyze_heap_dump_end_to_end() {
    let test = "analyze_heap_dump_end_to_end";
    let dir = tempfile::tempdir().unwrap();
    let Some(dump) = take_dump(test, dir.path()) else {
        return;
    };
    let dump_s = dump.to_str().unwrap();

    // The same dump zstd-compressed through a pipe (`-`): the same histogram as from the file.
    let from_file = json(&["analyze", dump_s, "--json", "--only", "histogram"]);
    let compressed = zstd::encode_all(std::fs::File::open(&dump).unwrap(), 3).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["analyze", "-", "--json", "--only", "histogram"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running triage");
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        use std::io::Write as _;
        stdin.write_all(&compressed).unwrap();
    });
    let piped = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(
        piped.status.success(),
        "{}",
        String::from_utf8_lossy(&piped.stderr)
    );
    let from_pipe: serde_json::Value = serde_json::from_slice(&piped.stdout).expect("JSON");
    assert!(
        from_file["histogram"]
            .as_array()
            .is_some_and(|h| !h.is_empty())
    );
    assert_eq!(from_pipe["histogram"], from_file["histogram"]);

    // Full analysis, JSON.
    let full = json(&["analyze", dump_s, "--json", "--top", "10"]);
    assert_eq!(full["schema"], "triage.heap/v1");
    let histogram = full["histogram"].as_array().unwrap();
    let row = |name: &str| {
        histogram
            .iter()
            .find(|r| r["class"] == name)
            .cloned()
            .unwrap()
    };
    let holder = row("CliHeapProgram$Holder");
    assert_eq!(holder["instances"], 1);
    assert_eq!(holder["shallow_bytes"], 16);
    assert!(row("byte[]")["shallow_bytes"].as_u64().unwrap() >= 5 * 1024 * 1024 + 16);
    assert!(
        histogram
            .iter()
            .all(|r| r["class"].as_str().is_some_and(|c| !c.starts_with('[')))
    );
    let doms = full["dominators"].as_array().unwrap();
    assert!(doms.len() <= 10);
    let h = doms
        .iter()
        .find(|d| d["class"] == "CliHeapProgram$Holder")
        .expect("holder dominates its array");
    assert_eq!(h["retained_bytes"], 16 + 16 + 5 * 1024 * 1024);
    assert!(h["object_id"].as_str().unwrap().starts_with("0x"));
    let paths = full["path_to_root"].as_array().unwrap();
    let p = paths
        .iter()
        .find(|p| p["class"] == "CliHeapProgram$Holder")
        .expect("path to the holder");
    let last = p["path"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["via"], "static HOLDER");
    let dups = full["duplicate_strings"].as_array().unwrap();
    let d = dups
        .iter()
        .find(|d| {
            d["preview"]
                .as_str()
                .is_some_and(|s| s.starts_with("duplicated-name-"))
        })
        .expect("the duplicated names are reported");
    assert_eq!(d["count"], 1000);
    // Each of the 1000 strings has its own byte[17] (16 + 17 -> 40 bytes; every concatenation
    // made a new array): keeping one copy frees 999 strings of 24 bytes and 999 arrays.
    assert_eq!(d["length"], 17);
    assert_eq!(d["wasted_bytes"], 999 * 24 + 999 * 40);
    assert!(
        full["threads"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "main")
    );

    // The stored analysis goes into the HTML report of a bundle of this machine, without the dump.
    let stored = dir.path().join("heap.json");
    std::fs::write(&stored, serde_json::to_vec(&full).unwrap()).unwrap();
    let bundle = dir.path().join("host.tar.zst");
    let out = triage(&[
        "snapshot",
        "--cpu-sample",
        "0",
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.path().join("report.html");
    let out = triage(&[
        "analyze",
        bundle.to_str().unwrap(),
        "--html",
        report.to_str().unwrap(),
        "--heap-analysis",
        stored.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&report).unwrap();
    let holder_id = h["object_id"].as_str().unwrap();
    assert!(
        page.contains(&format!("CliHeapProgram$Holder @ {holder_id}")),
        "the holder is not among the report's dominators"
    );
    let summary = &full["summary"];
    let objects: u64 = ["instances", "object_arrays", "primitive_arrays", "classes"]
        .iter()
        .map(|k| summary[k].as_u64().unwrap())
        .sum();
    let grouped = |n: u64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push('\u{202f}');
            }
            out.push(c);
        }
        out
    };
    assert!(
        page.contains(&format!(" in {} objects of ", grouped(objects))),
        "the report's object count is not the dump's {objects}"
    );

    // The shallow pass alone gives the same histogram, without a graph.
    let shallow = json(&["analyze", dump_s, "--json", "--only", "histogram"]);
    assert_eq!(shallow["analysis"], "histogram");
    assert_eq!(shallow["dominators"].as_array().unwrap().len(), 0);
    let mut a = shallow["histogram"].as_array().unwrap().clone();
    let mut b = histogram.clone();
    let key = |v: &serde_json::Value| v["class"].as_str().unwrap().to_string();
    a.sort_by_key(key);
    b.sort_by_key(key);
    assert_eq!(a, b);

    // The inferred layout can be overridden: without compressed oops the holder's one reference
    // takes 8 bytes (12 + 8 -> 24), and the layout is reported as given.
    let forced = json(&[
        "analyze",
        dump_s,
        "--json",
        "--only",
        "histogram",
        "--compressed-oops",
        "off",
    ]);
    let forced_holder = forced["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["class"] == "CliHeapProgram$Holder")
        .cloned()
        .expect("holder in the forced histogram");
    assert_eq!(forced_holder["instances"], 1);
    assert_eq!(forced_holder["shallow_bytes"], 24);
    let out = triage(&[
        "analyze",
        dump_s,
        "--only",
        "histogram",
        "--compressed-oops",
        "off",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("given on the command line"), "{text}");

    // Compressed dumps give the same answer.
    let zst = dir.path().join("cli.hprof.zst");
    std::fs::write(
        &zst,
        zstd::encode_all(std::fs::File::open(&dump).unwrap(), 3).unwrap(),
    )
    .unwrap();
    let z = json(&[
        "analyze",
        zst.to_str().unwrap(),
        "--json",
        "--only",
        "histogram",
    ]);
    assert_eq!(z["histogram"], shallow["histogram"]);

    // Human output has every section.
    let out = triage(&["analyze", dump_s, "--top", "5"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for section in [
        "Object layout: compressed oops",
        "GC roots:",
        "Class histogram",
        "Largest retained sizes",
        "Shortest paths from a GC root",
        "Threads (",
        "Duplicate strings",
    ] {
        assert!(text.contains(section), "missing {section:?} in:\n{text}");
    }

    // pprof export, read back by the real go tool pprof.
    let profile = dir.path().join("heap.pb.gz");
    let out = triage(&["analyze", dump_s, "--pprof", profile.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    if let Some(go) = testkit::require_program("go", test) {
        let top = Command::new(go)
            .args(["tool", "pprof", "-top", "-unit=B", "-sample_index=retained"])
            .arg(&profile)
            .env("HOME", dir.path())
            .output()
            .unwrap();
        assert!(
            top.status.success(),
            "{}",
            String::from_utf8_lossy(&top.stderr)
        );
        let text = String::from_utf8_lossy(&top.stdout);
        let line = text
            .lines()
            .find(|l| l.ends_with(" CliHeapProgram$Holder"))
            .expect("holder in pprof");
        assert_eq!(
            line.split_whitespace().nth(3),
            Some(format!("{}B", 16 + 16 + 5 * 1024 * 1024).as_str())
        );
    }

    // A corrupt dump fails with the offset in the message.
    let mut bytes = std::fs::read(&dump).unwrap();
    let at = b"JAVA PROFILE 1.0.2\0".len();
    bytes[at..at + 4].copy_from_slice(&3u32.to_be_bytes());
    let bad = dir.path().join("bad.hprof");
    std::fs::write(&bad, &bytes[..4096]).unwrap();
    let out = triage(&["analyze", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("identifier size 3 at byte 19"), "{err}");
}
