//! What the graph and its dominators say, as plain values ready to print or serialise: the
//! summary, the histogram with retained bytes per class, the biggest objects, their shortest paths
//! from a GC root, threads with stacks, and duplicate strings.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::classes::LayoutChoice;
use crate::column::Column;
use crate::dominators::Dominators;
use crate::graph::{self, HeapGraph, NONE, NodeKind};
use crate::histogram::{HistogramEntry, RootCounts, merge_by_name};
use crate::types::{BasicType, RootKind};

/// How much of each list to report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Rows of the dominator, duplicate-string and retained-by-class lists.
    pub top: usize,
    /// Objects (the largest dominators) to find a path from a GC root for.
    pub paths: usize,
    /// Frames shown per thread.
    pub max_frames: usize,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            top: 20,
            paths: 5,
            max_frames: 64,
        }
    }
}

/// Counts describing the dump as a whole.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub format: String,
    pub id_size: u32,
    pub timestamp_ms: u64,
    /// Bytes of the (decompressed) dump.
    pub dump_bytes: u64,
    pub records: Vec<(&'static str, u64)>,
    pub heap_records: Vec<(&'static str, u64)>,
    pub classes: u64,
    pub instances: u64,
    pub object_arrays: u64,
    pub primitive_arrays: u64,
    pub references: u64,
    pub gc_roots: RootCounts,
    /// Sum of the JVM sizes of every object (class mirrors included).
    pub heap_bytes: u64,
    /// Bytes reachable from GC roots.
    pub reachable_bytes: u64,
    pub unreachable_objects: u64,
    pub unreachable_bytes: u64,
    pub dangling_references: u64,
    pub layout: LayoutChoice,
    pub layout_description: String,
    pub truncated: bool,
}

/// One of the objects retaining the most memory.
#[derive(Debug, Clone, Serialize)]
pub struct DominatorEntry {
    pub object_id: String,
    pub class: String,
    pub shallow_bytes: u64,
    pub retained_bytes: u64,
    /// Share of the reachable heap, 0..=100.
    pub retained_percent: f64,
}

/// Retained bytes of all instances of a class together.
#[derive(Debug, Clone, Serialize)]
pub struct ClassRetained {
    pub class: String,
    pub instances: u64,
    pub shallow_bytes: u64,
    /// Bytes freed if every instance of the class went away: the sum of the retained sizes of
    /// the instances not dominated by another instance of the same class.
    pub retained_bytes: u64,
}

/// One step of a path from a GC root.
#[derive(Debug, Clone, Serialize)]
pub struct PathStep {
    pub object_id: String,
    pub class: String,
    /// How the previous step refers to this one: a field name, `[index]`, or a static field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<String>,
    /// For the first step: the kind of GC root.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_kind: Option<&'static str>,
}

/// A shortest path from a GC root to a suspect.
#[derive(Debug, Clone, Serialize)]
pub struct PathToRoot {
    pub object_id: String,
    pub class: String,
    pub retained_bytes: u64,
    /// From the root to the object.
    pub path: Vec<PathStep>,
}

/// A thread with its stack.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadInfo {
    pub name: String,
    pub object_id: String,
    pub retained_bytes: u64,
    pub frames: Vec<String>,
    /// Objects held by local variables of the thread's frames.
    pub locals: u64,
}

/// Strings with the same content held more than once.
#[derive(Debug, Clone, Serialize)]
pub struct DuplicateString {
    /// The beginning of the content.
    pub preview: String,
    /// Length in characters.
    pub length: u64,
    pub count: u64,
    /// Bytes that would be freed by keeping one copy.
    pub wasted_bytes: u64,
}

/// Everything an analysis reports.
#[derive(Debug, Clone, Serialize)]
pub struct HeapReport {
    pub summary: Summary,
    pub histogram: Vec<HistogramEntry>,
    pub retained_by_class: Vec<ClassRetained>,
    pub dominators: Vec<DominatorEntry>,
    pub path_to_root: Vec<PathToRoot>,
    pub threads: Vec<ThreadInfo>,
    pub duplicate_strings: Vec<DuplicateString>,
    pub warnings: Vec<String>,
}

fn hex(id: u64) -> String {
    format!("0x{id:x}")
}

/// Walk the dominator tree depth first, calling `enter` and `exit` with preorder numbers.
pub(crate) fn walk_dominator_tree(
    doms: &Dominators,
    start: &Column<u32>,
    children: &Column<u32>,
    mut visit: impl FnMut(u32, bool),
) {
    let mut stack: Vec<(u32, u32)> = vec![(0, start[0])];
    visit(0, true);
    while let Some(top) = stack.last_mut() {
        let (v, cursor) = *top;
        if cursor < start[v as usize + 1] {
            top.1 += 1;
            let c = children[cursor as usize];
            visit(c, true);
            stack.push((c, start[c as usize]));
        } else {
            visit(v, false);
            stack.pop();
        }
    }
    let _ = doms;
}

/// Build the report.
pub fn report(
    graph: &HeapGraph,
    doms: &Dominators,
    options: &ReportOptions,
) -> crate::Result<HeapReport> {
    let n = graph.node_count();
    let mut warnings: Vec<String> = graph
        .parse
        .warnings
        .kept
        .iter()
        .map(|w| w.to_string())
        .collect();
    if graph.parse.warnings.dropped > 0 {
        warnings.push(format!(
            "{} more warnings not shown",
            graph.parse.warnings.dropped
        ));
    }
    if graph.dangling_references > 0 {
        warnings.push(format!(
            "{} references point to objects that are not in the dump; they were ignored",
            graph.dangling_references
        ));
    }

    // Histogram and kinds.
    let classes = &graph.classes.classes;
    // One extra key for class mirrors when the dump has no java.lang.Class.
    let mirror_key = classes.len();
    let mut per_class: Vec<(u64, u64)> = vec![(0, 0); classes.len() + 1];
    let class_class = graph.classes.find_by_name("java.lang.Class");
    let (mut instances, mut object_arrays, mut primitive_arrays) = (0u64, 0u64, 0u64);
    let mut heap_bytes = 0u64;
    let key_of = |ord: u32| -> usize {
        match graph.kind(ord) {
            NodeKind::Class => class_class.map(|c| c as usize).unwrap_or(mirror_key),
            _ => graph.class_of(ord) as usize,
        }
    };
    for ord in 0..n as u32 {
        let bytes = graph.shallow_bytes(ord);
        heap_bytes += bytes;
        match graph.kind(ord) {
            NodeKind::Instance => instances += 1,
            NodeKind::ObjectArray => object_arrays += 1,
            NodeKind::PrimitiveArray => primitive_arrays += 1,
            NodeKind::Class => {}
        }
        let e = &mut per_class[key_of(ord)];
        e.0 += 1;
        e.1 += bytes;
    }
    let class_name = |k: usize| -> String {
        if Some(k as u32) == class_class || k == mirror_key {
            "java.lang.Class".to_string()
        } else {
            classes[k].name.clone()
        }
    };
    let rows: Vec<HistogramEntry> = per_class
        .iter()
        .enumerate()
        .filter(|(_, e)| e.0 > 0)
        .map(|(k, e)| HistogramEntry {
            class: class_name(k),
            instances: e.0,
            shallow_bytes: e.1,
        })
        .collect();
    let histogram = merge_by_name(rows);

    // Retained bytes per class: instances not dominated by another instance of their class.
    let (start, children) = doms.children(graph.storage())?;
    let mut active: Vec<u32> = vec![0; classes.len() + 1];
    let mut class_retained: Vec<u64> = vec![0; classes.len() + 1];
    walk_dominator_tree(doms, &start, &children, |p, entering| {
        if p == 0 {
            return;
        }
        let k = key_of(doms.vertex[p as usize]);
        if entering {
            if active[k] == 0 {
                class_retained[k] += doms.retained[p as usize];
            }
            active[k] += 1;
        } else {
            active[k] -= 1;
        }
    });
    drop(start);
    drop(children);
    let mut by_name: HashMap<String, ClassRetained> = HashMap::new();
    for (k, e) in per_class.iter().enumerate() {
        if e.0 == 0 {
            continue;
        }
        let name = class_name(k);
        let entry = by_name.entry(name.clone()).or_insert(ClassRetained {
            class: name,
            instances: 0,
            shallow_bytes: 0,
            retained_bytes: 0,
        });
        entry.instances += e.0;
        entry.shallow_bytes += e.1;
        entry.retained_bytes += class_retained[k];
    }
    let mut retained_by_class: Vec<ClassRetained> = by_name.into_values().collect();
    retained_by_class.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then(a.class.cmp(&b.class))
    });
    retained_by_class.truncate(options.top);

    // Largest retained sizes.
    let total = doms.total_bytes().max(1);
    let mut best: Vec<(u64, u32)> = Vec::new();
    for p in 1..doms.count() {
        let r = doms.retained[p];
        if best.len() < options.top || r > best.last().map(|b| b.0).unwrap_or(0) {
            let ord = doms.vertex[p];
            let at = best.partition_point(|b| b.0 >= r);
            best.insert(at, (r, ord));
            best.truncate(options.top);
        }
    }
    let dominators: Vec<DominatorEntry> = best
        .iter()
        .map(|&(r, ord)| DominatorEntry {
            object_id: hex(graph.id(ord)),
            class: graph.type_name(ord),
            shallow_bytes: graph.shallow_bytes(ord),
            retained_bytes: r,
            retained_percent: (r as f64 * 10000.0 / total as f64).round() / 100.0,
        })
        .collect();

    // Shortest paths from a GC root: one breadth-first search from all roots.
    let suspects: Vec<u32> = best.iter().map(|b| b.1).take(options.paths).collect();
    let path_to_root = if suspects.is_empty() {
        Vec::new()
    } else {
        shortest_paths(graph, &suspects, doms)?
    };

    let threads = threads(graph, doms, options);
    let duplicate_strings = duplicate_strings(graph, options);

    let summary = Summary {
        format: graph.header.format.clone(),
        id_size: graph.header.id_size,
        timestamp_ms: graph.header.timestamp_ms,
        dump_bytes: graph.parse.bytes,
        records: graph.parse.records.clone(),
        heap_records: graph.parse.heap_records.clone(),
        classes: graph.classes.dumped_classes,
        instances,
        object_arrays,
        primitive_arrays,
        references: graph.edge_count() as u64,
        gc_roots: RootCounts::from_array(&graph.root_counts),
        heap_bytes,
        reachable_bytes: doms.total_bytes(),
        unreachable_objects: doms.unreachable_objects,
        unreachable_bytes: doms.unreachable_bytes,
        dangling_references: graph.dangling_references,
        layout: graph.layout,
        layout_description: graph.layout.layout.describe(),
        truncated: graph.parse.truncated,
    };
    Ok(HeapReport {
        summary,
        histogram,
        retained_by_class,
        dominators,
        path_to_root,
        threads,
        duplicate_strings,
        warnings,
    })
}

fn shortest_paths(
    graph: &HeapGraph,
    suspects: &[u32],
    doms: &Dominators,
) -> crate::Result<Vec<PathToRoot>> {
    let n = graph.node_count();
    let mut parent: Column<u32> =
        Column::filled(graph.storage(), n, NONE).map_err(|e| crate::HprofError::Spool {
            path: "path tables".into(),
            source: e,
        })?;
    let mut root_kind: HashMap<u32, RootKind> = HashMap::new();
    let mut queue: VecDeque<u32> = VecDeque::new();
    // Real GC roots first so a path starts at a thread or JNI reference when one exists at the same
    // distance as a class.
    let mut ordered: Vec<(u32, RootKind)> = graph.roots().to_vec();
    ordered.sort_by_key(|r| (graph.kind(r.0) == NodeKind::Class) as u8);
    for &(o, kind) in &ordered {
        if parent[o as usize] == NONE {
            parent[o as usize] = o;
            root_kind.insert(o, kind);
            queue.push_back(o);
        }
    }
    let mut remaining: usize = suspects.len();
    let mut wanted: HashMap<u32, ()> = suspects.iter().map(|&s| (s, ())).collect();
    while let Some(v) = queue.pop_front() {
        if wanted.remove(&v).is_some() {
            remaining -= 1;
            if remaining == 0 {
                break;
            }
        }
        for &w in graph.references(v) {
            if parent[w as usize] == NONE {
                parent[w as usize] = v;
                queue.push_back(w);
            }
        }
    }
    let mut out = Vec::new();
    for &s in suspects {
        if parent[s as usize] == NONE {
            continue;
        }
        let mut chain = vec![s];
        let mut x = s;
        while parent[x as usize] != x && chain.len() < 10_000 {
            x = parent[x as usize];
            chain.push(x);
        }
        chain.reverse();
        let mut path = Vec::with_capacity(chain.len());
        for (i, &ord) in chain.iter().enumerate() {
            path.push(PathStep {
                object_id: hex(graph.id(ord)),
                class: graph.type_name(ord),
                via: if i == 0 {
                    None
                } else {
                    describe_reference(graph, chain[i - 1], ord)
                },
                root_kind: if i == 0 {
                    root_kind.get(&ord).map(|k| k.name())
                } else {
                    None
                },
            });
        }
        out.push(PathToRoot {
            object_id: hex(graph.id(s)),
            class: graph.type_name(s),
            retained_bytes: doms.retained_bytes(s),
            path,
        });
    }
    Ok(out)
}

/// How `from` refers to `to`: the field, static field or array index.
pub fn describe_reference(graph: &HeapGraph, from: u32, to: u32) -> Option<String> {
    let target = graph.id(to);
    let id_size = graph.header.id_size;
    let class = graph.class_of(from);
    let info = &graph.classes.classes[class as usize];
    match graph.kind(from) {
        NodeKind::Class => {
            for (s, name) in info.statics.iter().zip(&info.static_names) {
                if s.ty == BasicType::Object && s.value == target {
                    return Some(format!("static {name}"));
                }
            }
            if info.loader_id == target {
                return Some("<class loader>".into());
            }
            if info.super_id == target {
                return Some("<super class>".into());
            }
            None
        }
        NodeKind::Instance => {
            let input = graph.input()?;
            let fields =
                graph::read_instance_fields(input, graph.record_offset(from), id_size).ok()?;
            let mut offset = 0usize;
            let mut chain = vec![class];
            chain.extend(graph.classes.super_chain(class));
            for k in chain {
                let c = &graph.classes.classes[k as usize];
                for (f, name) in c.fields.iter().zip(&c.field_names) {
                    let size = f.ty.hprof_size(id_size) as usize;
                    if f.ty == BasicType::Object
                        && offset + size <= fields.len()
                        && crate::parser::id_at(&fields[offset..], id_size) == target
                    {
                        return Some(name.clone());
                    }
                    offset += size;
                }
            }
            None
        }
        NodeKind::ObjectArray => {
            let input = graph.input()?;
            let offset = graph.record_offset(from);
            let head = 1 + id_size as usize + 8 + id_size as usize;
            let length = graph.length(from) as usize;
            let bytes = input
                .read_at(offset + head as u64, length.min(1 << 22) * id_size as usize)
                .ok()?;
            bytes
                .chunks_exact(id_size as usize)
                .position(|c| crate::parser::id_at(c, id_size) == target)
                .map(|i| format!("[{i}]"))
        }
        NodeKind::PrimitiveArray => None,
    }
}

/// Read a reference field of an instance.
fn field_reference(graph: &HeapGraph, ord: u32, name: &[u8]) -> Option<u64> {
    let input = graph.input()?;
    let (offset, ty) = graph::dump_field(
        &graph.classes,
        graph.class_of(ord),
        name,
        graph.header.id_size,
    )?;
    if ty != BasicType::Object {
        return None;
    }
    let fields =
        graph::read_instance_fields(input, graph.record_offset(ord), graph.header.id_size).ok()?;
    let o = offset as usize;
    (o + graph.header.id_size as usize <= fields.len())
        .then(|| crate::parser::id_at(&fields[o..], graph.header.id_size))
}

/// Read a `byte` field of an instance.
fn field_byte(graph: &HeapGraph, ord: u32, name: &[u8]) -> Option<u8> {
    let input = graph.input()?;
    let (offset, ty) = graph::dump_field(
        &graph.classes,
        graph.class_of(ord),
        name,
        graph.header.id_size,
    )?;
    if ty != BasicType::Byte {
        return None;
    }
    let fields =
        graph::read_instance_fields(input, graph.record_offset(ord), graph.header.id_size).ok()?;
    fields.get(offset as usize).copied()
}

/// The text of the `java.lang.String` at `ord`, up to `max_chars`.
pub fn string_value(graph: &HeapGraph, ord: u32, max_chars: usize) -> Option<String> {
    let value = field_reference(graph, ord, b"value")?;
    let array = graph.ordinal(value)?;
    let coder = field_byte(graph, ord, b"coder");
    decode_array(graph, array, coder, max_chars)
}

fn decode_array(
    graph: &HeapGraph,
    array: u32,
    coder: Option<u8>,
    max_chars: usize,
) -> Option<String> {
    let input = graph.input()?;
    let (ty, _, bytes) = graph::read_primitive_array(
        input,
        graph.record_offset(array),
        graph.header.id_size,
        max_chars * 2,
    )
    .ok()?;
    Some(match (ty, coder) {
        (BasicType::Char, _) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
                .chars()
                .take(max_chars)
                .collect()
        }
        // Compact strings: coder 1 stores UTF-16 in the byte array in the JVM's (little-endian)
        // byte order.
        (BasicType::Byte, Some(1)) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
                .chars()
                .take(max_chars)
                .collect()
        }
        (BasicType::Byte, _) => bytes.iter().take(max_chars).map(|&b| b as char).collect(),
        _ => return None,
    })
}

fn threads(graph: &HeapGraph, doms: &Dominators, options: &ReportOptions) -> Vec<ThreadInfo> {
    let stacks = &graph.stacks;
    let mut locals_per_thread: HashMap<u32, u64> = HashMap::new();
    for &(thread, _, _) in &stacks.frame_roots {
        *locals_per_thread.entry(thread).or_default() += 1;
    }
    let mut out = Vec::new();
    for t in &stacks.threads {
        let ord = graph.ordinal(t.object_id);
        let name = t
            .name_id
            .map(|id| graph.classes.utf8.text(id))
            .or_else(|| {
                let ord = ord?;
                let name_ref = field_reference(graph, ord, b"name")?;
                string_value(graph, graph.ordinal(name_ref)?, 200)
            })
            .unwrap_or_else(|| format!("<thread {}>", t.serial));
        let mut frames = Vec::new();
        if let Some((_, frame_ids)) = stacks.traces.get(&t.trace_serial) {
            for fid in frame_ids.iter().take(options.max_frames) {
                let Some(f) = stacks.frames.get(fid) else {
                    frames.push(format!("<frame 0x{fid:x}>"));
                    continue;
                };
                let class = graph
                    .classes
                    .serial_to_id
                    .get(&f.class_serial)
                    .and_then(|&id| graph.classes.index_of(id))
                    .map(|i| graph.classes.classes[i as usize].name.clone())
                    .unwrap_or_else(|| "<unknown class>".into());
                let method = graph.classes.utf8.text(f.method_name_id);
                let source = graph
                    .classes
                    .utf8
                    .get(f.source_file_id)
                    .map(|b| String::from_utf8_lossy(b).into_owned());
                let location = match (source, f.line) {
                    (Some(s), l) if l > 0 => format!("{s}:{l}"),
                    (Some(s), _) => s,
                    (None, -2) => "compiled code".into(),
                    (None, -3) => "Native Method".into(),
                    (None, _) => "Unknown Source".into(),
                };
                frames.push(format!("{class}.{method}({location})"));
            }
        }
        out.push(ThreadInfo {
            name,
            object_id: hex(t.object_id),
            retained_bytes: ord.map(|o| doms.retained_bytes(o)).unwrap_or(0),
            frames,
            locals: locals_per_thread.get(&t.serial).copied().unwrap_or(0),
        });
    }
    out.sort_by(|a, b| {
        b.retained_bytes
            .cmp(&a.retained_bytes)
            .then(a.name.cmp(&b.name))
    });
    out
}

fn duplicate_strings(graph: &HeapGraph, options: &ReportOptions) -> Vec<DuplicateString> {
    let hashes = &graph.strings.array_hashes;
    let hash_of = |array: u32| -> Option<u64> {
        hashes
            .binary_search_by_key(&array, |e| e.0)
            .ok()
            .map(|i| hashes[i].1)
    };
    // hash -> (strings, distinct arrays, a string ordinal, string bytes, array bytes)
    struct Group {
        strings: u64,
        /// Distinct backing arrays: strings made with `new String(s)` share one.
        arrays: u64,
        first_array: u32,
        example: u32,
        string_bytes: u64,
        array_bytes: u64,
        length: u32,
    }
    let mut groups: HashMap<u64, Group> = HashMap::new();
    // One bit per node: has this array been counted already (it has one hash, so one group)?
    let mut counted = vec![0u64; graph.node_count().div_ceil(64)];
    for &(s, value) in &graph.strings.strings {
        let Some(array) = graph.ordinal(value) else {
            continue;
        };
        if graph.kind(array) != NodeKind::PrimitiveArray {
            continue;
        }
        let Some(h) = hash_of(array) else { continue };
        let g = groups.entry(h).or_insert(Group {
            strings: 0,
            arrays: 0,
            first_array: array,
            example: s,
            string_bytes: graph.shallow_bytes(s),
            array_bytes: graph.shallow_bytes(array),
            length: graph.length(array),
        });
        g.strings += 1;
        let (word, bit) = (array as usize / 64, 1u64 << (array % 64));
        if counted[word] & bit == 0 {
            counted[word] |= bit;
            g.arrays += 1;
        }
    }
    let mut dups: Vec<(u64, &Group)> = groups
        .values()
        .filter(|g| g.strings > 1)
        .map(|g| {
            let wasted = (g.strings - 1) * g.string_bytes + (g.arrays - 1) * g.array_bytes;
            (wasted, g)
        })
        .collect();
    dups.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.strings.cmp(&a.1.strings)));
    dups.truncate(options.top);
    dups.into_iter()
        .map(|(wasted, g)| {
            let preview = string_value(graph, g.example, 80)
                .unwrap_or_else(|| "<content not available>".into());
            let is_char = graph.classes.classes[graph.class_of(g.first_array) as usize]
                .array_element
                == Some(BasicType::Char);
            let coder = if is_char {
                None
            } else {
                field_byte(graph, g.example, b"coder")
            };
            let length = if coder == Some(1) {
                g.length as u64 / 2
            } else {
                g.length as u64
            };
            DuplicateString {
                preview,
                length,
                count: g.strings,
                wasted_bytes: wasted,
            }
        })
        .collect()
}
