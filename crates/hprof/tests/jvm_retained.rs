//! Retained sizes on real JVM dumps, for programs whose answer is known by construction, and the
//! pprof export read back by the real `go tool pprof`.

mod common;

use hprof::{Dominators, GraphOptions};

const PROGRAM: &str = r#"
public class RetainedProgram {
    static Holder HOLDER;
    static Node HEAD;
    static class Holder { byte[] payload; }
    static class Node { Node next; byte[] data; int id; }

    public static void main(String[] args) throws Exception {
        Holder holder = new Holder();
        holder.payload = new byte[50 * 1024 * 1024];
        HOLDER = holder;
        Node head = null;
        for (int i = 19_999; i >= 0; i--) {
            Node n = new Node();
            n.next = head;
            n.data = new byte[16];
            n.id = i;
            head = n;
        }
        HEAD = head;
        head = null;
        holder = null;
        System.out.println("ready");
        Thread.sleep(600_000);
    }
}
"#;

struct Expected {
    holder_bytes: u64,
    node_bytes: u64,
}

fn run(test: &str, flags: &[&str], expected: Expected) {
    let Some(jvm) = common::start_jvm(test, "RetainedProgram", PROGRAM, flags) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("retained.hprof");
    jvm.heap_dump(&dump, &[]);
    drop(jvm);

    let graph = hprof::load_graph(&dump, &GraphOptions::default(), None).expect("reading the dump");
    let doms = Dominators::compute(&graph).expect("dominators");
    let report = hprof::report(&graph, &doms, &Default::default()).expect("report");

    // byte[50 MiB]: 16-byte array header + 50 MiB; the holder adds its own size.
    let array_bytes = 16 + 50 * 1024 * 1024;
    let holder = report
        .dominators
        .iter()
        .find(|d| d.class == "RetainedProgram$Holder")
        .expect("the holder is among the largest dominators");
    assert_eq!(holder.shallow_bytes, expected.holder_bytes);
    assert_eq!(holder.retained_bytes, expected.holder_bytes + array_bytes);

    // The head of the list retains every node and its 16-byte payload (16 + 16 bytes).
    let head = report
        .dominators
        .iter()
        .find(|d| d.class == "RetainedProgram$Node")
        .expect("the list head is among the largest dominators");
    assert_eq!(head.retained_bytes, 20_000 * (expected.node_bytes + 32));

    // Both are reached through their static fields.
    let holder_path = report
        .path_to_root
        .iter()
        .find(|p| p.class == "RetainedProgram$Holder")
        .expect("a path to the holder");
    let steps: Vec<(&str, Option<&str>)> = holder_path
        .path
        .iter()
        .map(|s| (s.class.as_str(), s.via.as_deref()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("class RetainedProgram", None),
            ("RetainedProgram$Holder", Some("static HOLDER"))
        ]
    );
    let node_class = report
        .retained_by_class
        .iter()
        .find(|c| c.class == "RetainedProgram$Node")
        .expect("retained by class");
    assert_eq!(node_class.instances, 20_000);
    assert_eq!(node_class.retained_bytes, head.retained_bytes);

    // Threads: the main thread sleeps in main().
    let main = report
        .threads
        .iter()
        .find(|t| t.name == "main")
        .expect("main thread");
    assert!(
        main.frames
            .iter()
            .any(|f| f.starts_with("RetainedProgram.main(RetainedProgram.java:")),
        "{:?}",
        main.frames
    );

    // pprof: retained bytes by ownership, checked with the real go tool pprof.
    let profile = dir.path().join("heap.pb.gz");
    let file = std::fs::File::create(&profile).unwrap();
    hprof::write_pprof(&graph, &doms, &Default::default(), file).expect("writing pprof");
    let Some(go) = testkit::require_program("go", test) else {
        return;
    };
    let out = std::process::Command::new(go)
        .args([
            "tool",
            "pprof",
            "-top",
            "-nodecount=1000",
            "-sample_index=retained",
            "-unit=B",
        ])
        .arg(&profile)
        .env("HOME", dir.path())
        .output()
        .expect("running go tool pprof");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let cum_of = |name: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().last() == Some(name))
            .unwrap_or_else(|| panic!("{name} not in pprof -top:\n{text}"));
        let cum = line.split_whitespace().nth(3).expect("cum column");
        cum.trim_end_matches('B').parse().expect("bytes")
    };
    assert_eq!(
        cum_of("RetainedProgram$Holder"),
        expected.holder_bytes + array_bytes
    );
    assert_eq!(cum_of("RetainedProgram$Node"), head.retained_bytes);
}

#[test]
fn retained_sizes_known_by_construction_compressed_oops() {
    run(
        "retained_sizes_known_by_construction_compressed_oops",
        &["-Xmx256m"],
        // Holder: 12 + 4 -> 16. Node: 12 + 4 + 4 + 4 -> 24.
        Expected {
            holder_bytes: 16,
            node_bytes: 24,
        },
    );
}

#[test]
fn retained_sizes_known_by_construction_uncompressed_oops() {
    run(
        "retained_sizes_known_by_construction_uncompressed_oops",
        &["-Xmx33g", "-XX:-UseCompressedOops"],
        // Holder: 12 + 8 -> 24. Node: 12 + int 4 + 8 + 8 -> 32.
        Expected {
            holder_bytes: 24,
            node_bytes: 32,
        },
    );
}
