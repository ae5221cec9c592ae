//! Synthetic dumps whose answers are known by construction: dominators against a brute-force
//! definition, and every kind of bad input the parser must survive with a clear error or warning.

mod common;

use common::writer::{DumpWriter, INT, OBJECT};
use hprof::{
    Dominators, GraphOptions, HistogramOptions, HprofError, Layout, NodeKind, RandomAccess,
};

const ARRAY_CLASS: u64 = 0x100;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn node_id(i: usize) -> u64 {
    0x10_0000 + i as u64 * 0x40
}

/// A random graph of object arrays: (dump bytes, adjacency, roots).
fn random_graph(seed: u64, n: usize, id_size: u32) -> (Vec<u8>, Vec<Vec<usize>>, Vec<usize>) {
    let mut rng = Rng(seed | 1);
    let mut adjacency = vec![Vec::new(); n];
    for (i, adj) in adjacency.iter_mut().enumerate() {
        let degree = rng.below(4);
        for _ in 0..degree {
            let t = rng.below(n as u64) as usize;
            // Mostly forward edges (tree-like heaps) with some back edges (cycles).
            if t > i || rng.below(4) == 0 {
                adj.push(t);
            }
        }
    }
    let roots: Vec<usize> = (0..n).filter(|_| rng.below(10) == 0).chain([0]).collect();
    let mut w = DumpWriter::new(id_size);
    w.class(ARRAY_CLASS, "[Ljava/lang/Object;", 0, &[], &[]);
    for (i, adj) in adjacency.iter().enumerate() {
        let elements: Vec<u64> = adj.iter().map(|&t| node_id(t)).collect();
        w.object_array(node_id(i), ARRAY_CLASS, &elements);
    }
    for &r in &roots {
        w.root_unknown(node_id(r));
    }
    (w.finish(), adjacency, roots)
}

fn reachable(adjacency: &[Vec<usize>], roots: &[usize], removed: Option<usize>) -> Vec<bool> {
    let mut seen = vec![false; adjacency.len()];
    let mut stack: Vec<usize> = roots
        .iter()
        .copied()
        .filter(|&r| Some(r) != removed)
        .collect();
    while let Some(v) = stack.pop() {
        if seen[v] {
            continue;
        }
        seen[v] = true;
        for &w in &adjacency[v] {
            if !seen[w] && Some(w) != removed {
                stack.push(w);
            }
        }
    }
    seen
}

fn graph_of(bytes: &[u8]) -> hprof::HeapGraph {
    hprof::build_graph(
        bytes,
        None,
        &GraphOptions {
            layout: Some(Layout::COMPRESSED),
            ..Default::default()
        },
    )
    .expect("synthetic dump parses")
}

#[test]
fn dominators_match_brute_force_definition() {
    for (seed, id_size) in [(1u64, 8u32), (2, 4), (3, 8), (4, 8), (5, 4), (6, 8)] {
        let n = 150;
        let (bytes, adjacency, roots) = random_graph(seed * 7919, n, id_size);
        let graph = graph_of(&bytes);
        let doms = Dominators::compute(&graph).unwrap();
        let shallow: Vec<u64> = (0..n)
            .map(|i| {
                Layout::COMPRESSED.array_bytes(hprof::BasicType::Object, adjacency[i].len() as u32)
            })
            .collect();
        let base = reachable(&adjacency, &roots, None);
        for v in 0..n {
            let ord = graph.ordinal(node_id(v)).unwrap();
            assert_eq!(graph.kind(ord), NodeKind::ObjectArray);
            assert_eq!(graph.shallow_bytes(ord), shallow[v]);
            if !base[v] {
                assert_eq!(doms.retained_bytes(ord), 0);
                continue;
            }
            let without = reachable(&adjacency, &roots, Some(v));
            let expected: u64 = (0..n)
                .filter(|&u| base[u] && (u == v || !without[u]))
                .map(|u| shallow[u])
                .sum();
            assert_eq!(doms.retained_bytes(ord), expected, "seed {seed} node {v}");
        }
    }
}

/// Holder -> byte[50] and a 1000-node linked list: retained sizes known by construction.
fn known_dump(id_size: u32) -> Vec<u8> {
    known_dump_in(DumpWriter::new(id_size))
}

fn known_dump_in(mut w: DumpWriter) -> Vec<u8> {
    w.class(0x10, "java/lang/Object", 0, &[], &[]);
    w.class(0x20, "Holder", 0x10, &[("payload", OBJECT)], &[]);
    w.class(0x30, "Node", 0x10, &[("next", OBJECT), ("id", INT)], &[]);
    w.class(
        0x40,
        "Main",
        0x10,
        &[],
        &[("HOLDER", OBJECT, 0x1000), ("HEAD", OBJECT, 0x2000)],
    );
    w.instance(0x1000, 0x20, &[(OBJECT, 0x1008)]);
    w.byte_array(0x1008, &[7u8; 50]);
    for i in 0..1000u64 {
        // 24 bytes apart, as HotSpot would place 24-byte nodes.
        let next = if i + 1 < 1000 {
            0x2000 + (i + 1) * 0x18
        } else {
            0
        };
        w.instance(0x2000 + i * 0x18, 0x30, &[(OBJECT, next), (INT, i)]);
    }
    w.root_jni_global(0x1000);
    w.finish()
}

#[test]
fn retained_sizes_known_by_construction() {
    for id_size in [4, 8] {
        let bytes = known_dump(id_size);
        let graph = graph_of(&bytes);
        let doms = Dominators::compute(&graph).unwrap();
        let holder = graph.ordinal(0x1000).unwrap();
        // Holder: 12-byte header + 4-byte reference = 16; byte[50]: 16 + 50 -> 72.
        assert_eq!(graph.shallow_bytes(holder), 16);
        assert_eq!(doms.retained_bytes(holder), 16 + 72);
        let head = graph.ordinal(0x2000).unwrap();
        // Node: header 12 + next 4 + id 4 = 20 -> 24 bytes, 1000 of them.
        assert_eq!(doms.retained_bytes(head), 24 * 1000);
        let tail = graph.ordinal(0x2000 + 999 * 0x18).unwrap();
        assert_eq!(doms.retained_bytes(tail), 24);
        let main = graph.ordinal(0x40).unwrap();
        assert_eq!(graph.kind(main), NodeKind::Class);
        // The class holds both through statics but the JNI global also roots the holder.
        assert_eq!(doms.immediate_dominator(head), Some(main));
        assert_eq!(doms.immediate_dominator(holder), None);
    }
}

#[test]
fn hprof_versions_and_identifier_sizes_give_the_same_answers() {
    let row = |h: &hprof::Histogram, class: &str| {
        h.entries
            .iter()
            .find(|e| e.class == class)
            .map(|e| (e.instances, e.shallow_bytes))
    };
    for (format, segmented) in [
        ("JAVA PROFILE 1.0.1", false),
        ("JAVA PROFILE 1.0.2", true),
        ("JAVA PROFILE 1.0.3", true),
    ] {
        for id_size in [4, 8] {
            let what = format!("{format}, {id_size}-byte ids");
            let bytes = known_dump_in(DumpWriter::with_format(id_size, format, segmented));
            let h = histogram_of(&bytes).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(h.parse.header.format, format, "{what}");
            assert_eq!(h.parse.header.id_size, id_size, "{what}");
            assert!(!h.parse.truncated, "{what}");
            assert!(
                h.parse.warnings.kept.is_empty(),
                "{what}: {:?}",
                h.parse.warnings.kept
            );
            let heap_record = if segmented {
                "HEAP_DUMP_SEGMENT"
            } else {
                "HEAP_DUMP"
            };
            assert!(
                h.parse
                    .records
                    .iter()
                    .any(|&(name, n)| name == heap_record && n == 1),
                "{what}: {:?}",
                h.parse.records
            );
            // Without addresses to infer from, 8-byte ids mean 64-bit HotSpot with compressed
            // oops (header 12) and 4-byte ids a 32-bit JVM (header 8, byte[] header 12).
            let expected = if id_size == 8 {
                [
                    ("Holder", (1, 16)),
                    ("Node", (1000, 24_000)),
                    ("byte[]", (1, 72)),
                ]
            } else {
                [
                    ("Holder", (1, 16)),
                    ("Node", (1000, 16_000)),
                    ("byte[]", (1, 64)),
                ]
            };
            for (class, want) in expected {
                assert_eq!(row(&h, class), Some(want), "{what}: {class}");
            }
            assert_eq!(h.total_instances, 1002 + 4, "{what}");

            let graph = graph_of(&bytes);
            let doms = Dominators::compute(&graph).unwrap();
            let head = graph.ordinal(0x2000).unwrap();
            assert_eq!(doms.retained_bytes(head), 24 * 1000, "{what}");
            let holder = graph.ordinal(0x1000).unwrap();
            assert_eq!(doms.retained_bytes(holder), 16 + 72, "{what}");
        }
    }
}

#[test]
fn report_lists_biggest_dominators_and_paths() {
    let bytes = known_dump(8);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("known.hprof");
    std::fs::write(&path, &bytes).unwrap();
    let graph = hprof::load_graph(&path, &GraphOptions::default(), None).unwrap();
    let doms = Dominators::compute(&graph).unwrap();
    let report = hprof::report(&graph, &doms, &Default::default()).unwrap();
    let top = &report.dominators[0];
    assert_eq!(top.class, "class Main");
    let head = report
        .dominators
        .iter()
        .find(|d| d.class == "Node")
        .unwrap();
    assert_eq!(head.object_id, "0x2000");
    assert_eq!(head.retained_bytes, 24_000);
    let path_to_head = report
        .path_to_root
        .iter()
        .find(|p| p.object_id == "0x2000")
        .unwrap();
    let steps: Vec<(&str, Option<&str>)> = path_to_head
        .path
        .iter()
        .map(|s| (s.class.as_str(), s.via.as_deref()))
        .collect();
    assert_eq!(
        steps,
        vec![("class Main", None), ("Node", Some("static HEAD"))]
    );
    let node_row = report
        .retained_by_class
        .iter()
        .find(|c| c.class == "Node")
        .unwrap();
    assert_eq!(
        (node_row.instances, node_row.retained_bytes),
        (1000, 24_000)
    );
}

#[test]
fn compressed_and_plain_input_agree() {
    let bytes = known_dump(8);
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("d.hprof");
    std::fs::write(&plain, &bytes).unwrap();
    let gz = dir.path().join("d.hprof.gz");
    let mut e = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::Write::write_all(&mut e, &bytes).unwrap();
    e.finish().unwrap();
    let zst = dir.path().join("d.hprof.zst");
    std::fs::write(&zst, zstd::encode_all(&bytes[..], 3).unwrap()).unwrap();
    let expected = hprof::histogram_of_path(&plain, &HistogramOptions::default())
        .unwrap()
        .entries;
    for p in [&gz, &zst] {
        assert_eq!(
            hprof::histogram_of_path(p, &HistogramOptions::default())
                .unwrap()
                .entries,
            expected
        );
        let g = hprof::load_graph(p, &GraphOptions::default(), Some(dir.path())).unwrap();
        let doms = Dominators::compute(&g).unwrap();
        let r = hprof::report(&g, &doms, &Default::default()).unwrap();
        // Field names on paths need the spooled copy: present for compressed input too.
        assert!(r.path_to_root.iter().any(|p| {
            p.path
                .iter()
                .any(|s| s.via.as_deref() == Some("static HEAD"))
        }));
    }
}

#[test]
fn spilled_tables_give_the_same_answers() {
    let (bytes, _, _) = random_graph(42, 500, 8);
    let dir = tempfile::tempdir().unwrap();
    let memory = graph_of(&bytes);
    let spilled = hprof::build_graph(
        &bytes[..],
        None,
        &GraphOptions {
            layout: Some(Layout::COMPRESSED),
            spill_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(spilled.is_spilled());
    let a = Dominators::compute(&memory).unwrap();
    let b = Dominators::compute(&spilled).unwrap();
    for ord in 0..memory.node_count() as u32 {
        assert_eq!(memory.references(ord), spilled.references(ord));
        assert_eq!(a.retained_bytes(ord), b.retained_bytes(ord));
    }
}

fn histogram_of(bytes: &[u8]) -> hprof::Result<hprof::Histogram> {
    hprof::histogram(bytes, &HistogramOptions::default())
}

#[test]
fn not_a_heap_dump_is_refused_with_a_reason() {
    let err = histogram_of(b"PK\x03\x04 a zip file").unwrap_err();
    assert!(matches!(err, HprofError::BadHeader { .. }), "{err}");
    assert!(err.to_string().contains("JAVA PROFILE"), "{err}");
}

#[test]
fn wrong_identifier_size_names_the_offset() {
    let mut bytes = known_dump(8);
    let at = b"JAVA PROFILE 1.0.2\0".len();
    bytes[at..at + 4].copy_from_slice(&5u32.to_be_bytes());
    let err = histogram_of(&bytes).unwrap_err();
    assert!(
        matches!(
            err,
            HprofError::BadIdentifierSize {
                offset: 19,
                size: 5
            }
        ),
        "{err}"
    );
}

#[test]
fn truncation_anywhere_gives_a_partial_result_or_an_error_never_a_panic() {
    let bytes = known_dump(8);
    let header = b"JAVA PROFILE 1.0.2\0".len() + 12;
    let full = histogram_of(&bytes).unwrap();
    assert!(!full.parse.truncated);
    for cut in header..bytes.len() {
        match histogram_of(&bytes[..cut]) {
            Ok(h) => {
                // Cut exactly between records is a clean end; anywhere else must say truncated.
                if h.parse.truncated {
                    let w = &h.parse.warnings.kept[0];
                    assert!(w.message.contains("ends at byte"), "{w}");
                    assert!(w.offset <= cut as u64);
                }
                assert!(h.total_instances <= full.total_instances);
            }
            Err(e) => panic!("cut at {cut}: {e}"),
        }
        // The graph pass survives the same cuts.
        let g = hprof::build_graph(&bytes[..cut], None, &GraphOptions::default()).unwrap();
        Dominators::compute(&g).unwrap();
    }
    for cut in 0..header {
        assert!(histogram_of(&bytes[..cut]).is_err());
    }
}

#[test]
fn a_4gb_length_in_a_small_file_is_refused_without_allocating() {
    let mut w = DumpWriter::new(8);
    w.symbol("x");
    let mut bytes = w.finish();
    let header = b"JAVA PROFILE 1.0.2\0".len() + 12;
    // The UTF8 record's length field.
    bytes[header + 5..header + 9].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = histogram_of(&bytes).unwrap_err();
    match &err {
        HprofError::LimitExceeded { offset, value, .. } => {
            assert_eq!(*offset, header as u64);
            assert_eq!(*value, u32::MAX as u64);
        }
        other => panic!("unexpected {other}"),
    }
    assert!(err.to_string().contains("UTF8"), "{err}");

    // The same length on a heap-dump segment: read what is there, warn about the rest.
    let mut w = DumpWriter::new(8);
    w.class(0x10, "java/lang/Object", 0, &[], &[]);
    w.instance(0x100, 0x10, &[]);
    let mut bytes = w.finish();
    let seg = bytes.iter().rposition(|&b| b == 0x1C).unwrap();
    let seg = (header..bytes.len())
        .find(|&i| bytes[i] == 0x1C && i <= seg)
        .unwrap();
    bytes[seg + 5..seg + 9].copy_from_slice(&u32::MAX.to_be_bytes());
    let h = histogram_of(&bytes).unwrap();
    assert!(h.parse.truncated);
    assert_eq!(
        h.entries
            .iter()
            .find(|e| e.class == "java.lang.Object")
            .map(|e| e.instances),
        Some(1)
    );
}

#[test]
fn sub_record_past_its_segment_is_an_error_naming_record_and_offset() {
    let mut w = DumpWriter::new(8);
    w.class(0x10, "java/lang/Object", 0, &[], &[]);
    w.instance(0x100, 0x10, &[(INT, 1)]);
    let mut bytes = w.finish();
    // Make the instance claim 1000 bytes of fields: past the end of its segment.
    let at = bytes
        .windows(9)
        .position(|win| win[0] == 0x21 && win[1..9] == 0x100u64.to_be_bytes())
        .unwrap();
    let len_at = at + 1 + 8 + 4 + 8;
    bytes[len_at..len_at + 4].copy_from_slice(&1000u32.to_be_bytes());
    let err = histogram_of(&bytes).unwrap_err();
    match &err {
        HprofError::Malformed { offset, record, .. } => {
            assert_eq!(*offset, at as u64);
            assert_eq!(*record, "INSTANCE_DUMP");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn unknown_tags_are_skipped_with_a_warning() {
    let mut w = DumpWriter::new(8);
    w.record(0x55, b"whatever");
    w.class(0x10, "java/lang/Object", 0, &[], &[]);
    w.instance(0x100, 0x10, &[]);
    w.flush_segment();
    // A segment with an unknown sub-record after one good instance.
    let mut seg = vec![0x21];
    seg.extend_from_slice(&0x200u64.to_be_bytes());
    seg.extend_from_slice(&0u32.to_be_bytes());
    seg.extend_from_slice(&0x10u64.to_be_bytes());
    seg.extend_from_slice(&0u32.to_be_bytes());
    seg.extend_from_slice(&[0x77, 1, 2, 3]);
    w.record(0x1C, &seg);
    let bytes = w.finish();
    let h = histogram_of(&bytes).unwrap();
    let messages: Vec<String> = h
        .parse
        .warnings
        .kept
        .iter()
        .map(|w| w.to_string())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("tag 0x55")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("sub-record tag 0x77")),
        "{messages:?}"
    );
    assert_eq!(
        h.entries
            .iter()
            .find(|e| e.class == "java.lang.Object")
            .map(|e| e.instances),
        Some(2)
    );
}

#[test]
fn references_to_missing_objects_and_cycles() {
    let mut w = DumpWriter::new(8);
    w.class(0x10, "java/lang/Object", 0, &[], &[]);
    w.class(0x20, "Pair", 0x10, &[("a", OBJECT), ("b", OBJECT)], &[]);
    // A <-> B cycle, A also points at an object that is not in the dump.
    w.instance(0x100, 0x20, &[(OBJECT, 0x200), (OBJECT, 0xdead0)]);
    w.instance(0x200, 0x20, &[(OBJECT, 0x100), (OBJECT, 0)]);
    w.root_unknown(0x100);
    w.root_unknown(0xbeef0);
    let bytes = w.finish();
    let g = graph_of(&bytes);
    assert_eq!(g.dangling_references, 1);
    let doms = Dominators::compute(&g).unwrap();
    let a = g.ordinal(0x100).unwrap();
    let b = g.ordinal(0x200).unwrap();
    assert_eq!(doms.retained_bytes(a), 2 * 24);
    assert_eq!(doms.immediate_dominator(b), Some(a));
}

#[test]
fn a_reference_near_the_top_of_the_id_space_is_dangling_not_a_panic() {
    // Two objects with adjacent ids from 0 make the id index use one id per bucket; a root naming
    // the largest id then lands far past the directory (found by cargo fuzz).
    let mut w = DumpWriter::new(8);
    w.class(0, "java/lang/Object", 0, &[], &[]);
    w.instance(1, 0, &[]);
    w.root_unknown(1);
    w.root_unknown(u64::MAX);
    w.root_unknown(u64::MAX - 1);
    let bytes = w.finish();
    let g = hprof::build_graph(&bytes[..], None, &GraphOptions::default()).unwrap();
    assert_eq!(g.node_count(), 2);
    assert!(g.ordinal(1).is_some());
    assert_eq!(g.ordinal(u64::MAX), None);
    assert_eq!(g.ordinal(u64::MAX - 1), None);
    let doms = Dominators::compute(&g).unwrap();
    assert_eq!(doms.retained_bytes(g.ordinal(1).unwrap()), 16);
    hprof::fuzz_entry(&bytes);
}

#[test]
fn mutated_dumps_never_panic() {
    let seeds: Vec<Vec<u8>> = vec![known_dump(8), known_dump(4), random_graph(9, 60, 8).0];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let dir = tempfile::tempdir().unwrap();
    // CI runs 1,500 iterations; FUZZING.md records a longer run (HPROF_FUZZ_ITERATIONS=N).
    let iterations: usize = std::env::var("HPROF_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    for i in 0..iterations {
        let mut bytes = seeds[i % seeds.len()].clone();
        let mutations = 1 + rng.below(8);
        for _ in 0..mutations {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(4) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes[at] ^= 1 << rng.below(8),
                2 => {
                    let end = (at + 4).min(bytes.len());
                    for b in &mut bytes[at..end] {
                        *b = 0xFF;
                    }
                }
                _ => bytes.truncate(at.max(1)),
            }
        }
        hprof::fuzz_entry(&bytes);
        if i % 100 == 0 {
            // Through a file too, so random access is exercised.
            let p = dir.path().join("m.hprof");
            std::fs::write(&p, &bytes).unwrap();
            if let Ok(g) = hprof::load_graph(&p, &GraphOptions::default(), None)
                && let Ok(d) = Dominators::compute(&g)
            {
                let _ = hprof::report(&g, &d, &Default::default());
            }
        }
    }
    let _ = RandomAccess::len;
}
