//! The histogram agrees with the JVM's own `GC.class_histogram`, class by class, on dumps taken
//! from real JVMs with different heap layouts.

mod common;

use std::collections::HashMap;

use hprof::{HistogramOptions, Layout, LayoutSource};

const PROGRAM: &str = r#"
import java.util.*;
import java.util.concurrent.*;

public class HistogramProgram {
    static final List<Object> KEEP = new ArrayList<>();
    static class Point { int x; long y; byte z; Object ref; }
    static class Point3 extends Point { short s; boolean b; }
    static class Wide { long a, b, c; double d; float f; char c1, c2; Object o1, o2, o3; }
    static class Empty {}

    public static void main(String[] args) throws Exception {
        Map<String, Object> map = new HashMap<>();
        for (int i = 0; i < 20000; i++) {
            map.put("key-" + i, new byte[i % 97]);
        }
        KEEP.add(map);
        Map<Integer, String> concurrent = new ConcurrentHashMap<>();
        for (int i = 0; i < 5000; i++) concurrent.put(i, "v" + (i % 50));
        KEEP.add(concurrent);
        for (int i = 0; i < 3000; i++) {
            KEEP.add(new Point());
            KEEP.add(new Point3());
            KEEP.add(new Wide());
            KEEP.add(new Empty());
        }
        KEEP.add(new long[12345]);
        KEEP.add(new int[7][9]);
        KEEP.add(new char[333]);
        KEEP.add(new double[17]);
        KEEP.add(new short[5]);
        KEEP.add(new boolean[3]);
        KEEP.add(new float[11]);
        KEEP.add(new Object[1001]);
        KEEP.add(new String[] {"a", "b"});
        KEEP.add(new LinkedList<>(List.of(1, 2, 3)));
        KEEP.add(new TreeMap<>(Map.of("x", 1, "y", 2)));
        java.util.concurrent.atomic.LongAdder adder = new java.util.concurrent.atomic.LongAdder();
        adder.add(5);
        KEEP.add(adder);
        Runnable lambda = () -> System.out.println(KEEP.size());
        KEEP.add(lambda);
        System.out.println("ready");
        Thread.sleep(600_000);
    }
}
"#;

/// `class_data_sharing`: the JVM runs with the default CDS archive. Its heap then also holds the
/// archived `java.lang.Class` mirrors of classes not loaded yet ("dormant" archived objects), which
/// `GC.class_histogram` counts but HotSpot leaves out of heap dumps, so only `java.lang.Class` is
/// compared loosely in that case.
fn check_layout(test: &str, flags: &[&str], expect_reference_bytes: u32, class_data_sharing: bool) {
    let Some(jvm) = common::start_jvm(test, "HistogramProgram", PROGRAM, flags) else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("heap.hprof");
    let jvm_histogram = jvm.stable_histogram_and_dump(&dump);
    drop(jvm);

    let ours =
        hprof::histogram_of_path(&dump, &HistogramOptions::default()).expect("parsing the dump");
    assert_eq!(
        ours.layout.source,
        LayoutSource::Inferred,
        "{:?}",
        ours.layout
    );
    assert_eq!(
        ours.layout.layout.reference_bytes, expect_reference_bytes,
        "{:?}",
        ours.layout
    );
    assert!(!ours.parse.truncated);

    let ours_by_class: HashMap<&str, (u64, u64)> = ours
        .entries
        .iter()
        .map(|e| (e.class.as_str(), (e.instances, e.shallow_bytes)))
        .collect();
    let mut mismatches = Vec::new();
    for (class, &(instances, bytes)) in &jvm_histogram {
        if class_data_sharing && class == "java.lang.Class" {
            let got = ours_by_class.get(class.as_str()).copied().unwrap_or((0, 0));
            assert!(
                got.0 > 0 && got.0 <= instances,
                "java.lang.Class: JVM {instances}, ours {}",
                got.0
            );
            continue;
        }
        let got = ours_by_class.get(class.as_str()).copied().unwrap_or((0, 0));
        if got != (instances, bytes) {
            mismatches.push(format!(
                "{class}: JVM {instances} / {bytes} B, ours {} / {} B",
                got.0, got.1
            ));
        }
    }
    mismatches.sort();
    assert!(
        mismatches.is_empty(),
        "{} of {} classes differ from GC.class_histogram ({}):\n{}",
        mismatches.len(),
        jvm_histogram.len(),
        ours.layout.layout.describe(),
        mismatches.join("\n")
    );
    // The classes that matter for the comparison were all part of it.
    for class in [
        "byte[]",
        "java.lang.String",
        "java.util.HashMap$Node",
        "java.lang.Object[]",
        "HistogramProgram$Point3",
        "HistogramProgram$Wide",
        "java.util.concurrent.ConcurrentHashMap$Node",
        "java.lang.Class",
    ] {
        assert!(
            jvm_histogram.contains_key(class),
            "{class} was not stable across the dump"
        );
    }
    assert!(
        jvm_histogram.len() > 200,
        "only {} classes compared",
        jvm_histogram.len()
    );

    // An explicit layout overrides the inferred one: the right one gives the same answer, the
    // wrong one changes the sizes of objects holding references (HashMap$Node: 4 references).
    let inferred = ours.layout.layout;
    let wrong = if inferred.reference_bytes == 4 {
        Layout::UNCOMPRESSED_OOPS
    } else {
        Layout::COMPRESSED
    };
    let node_of = |layout: Layout| {
        let h = hprof::histogram_of_path(
            &dump,
            &HistogramOptions {
                layout: Some(layout),
                ..Default::default()
            },
        )
        .expect("parsing the dump with an explicit layout");
        assert_eq!(h.layout.source, LayoutSource::Override);
        assert_eq!(h.layout.layout, layout);
        let row = h
            .entries
            .iter()
            .find(|e| e.class == "java.util.HashMap$Node")
            .map(|e| (e.instances, e.shallow_bytes))
            .expect("HashMap$Node in the histogram");
        (row, h.entries)
    };
    let (right_node, right_entries) = node_of(inferred);
    assert_eq!(right_entries, ours.entries);
    let jvm_node = jvm_histogram["java.util.HashMap$Node"];
    assert_eq!(right_node, jvm_node);
    let (wrong_node, _) = node_of(wrong);
    assert_eq!(wrong_node.0, jvm_node.0);
    // 32 bytes per node with compressed oops, 40 without.
    let (per_node_right, per_node_wrong) = if inferred.reference_bytes == 4 {
        (32, 40)
    } else {
        (40, 32)
    };
    assert_eq!(right_node.1, jvm_node.0 * per_node_right);
    assert_eq!(wrong_node.1, jvm_node.0 * per_node_wrong);
}

#[test]
fn histogram_matches_jvm_small_heap_compressed_oops() {
    check_layout(
        "histogram_matches_jvm_small_heap_compressed_oops",
        &["-Xmx64m", "-Xshare:off"],
        4,
        false,
    );
}

#[test]
fn histogram_matches_jvm_1g_heap() {
    check_layout(
        "histogram_matches_jvm_1g_heap",
        &["-Xms256m", "-Xmx1g"],
        4,
        true,
    );
}

#[test]
fn histogram_matches_jvm_33g_reserved_heap_without_compressed_oops() {
    check_layout(
        "histogram_matches_jvm_33g_reserved_heap_without_compressed_oops",
        &["-Xmx33g", "-XX:-UseCompressedOops"],
        8,
        false,
    );
}
