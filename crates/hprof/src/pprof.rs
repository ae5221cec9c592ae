//! Retained bytes by ownership as a pprof `profile.proto`, so `go tool pprof` and flame-graph
//! tools can browse a heap by what holds it.
//!
//! Each reachable object contributes its shallow size (and a count of 1) to a sample whose stack
//! is its chain of dominators, root first: the cumulative value of a frame is then the retained
//! size of the objects under it. Frames are class names; a run of dominators of the same class
//! (the nodes of a linked list) collapses into one frame so stacks stay short, and stacks deeper
//! than `max_depth` end in a `…` frame. Samples with the same stack are merged.
//!
//! The encoding is written by hand (a few dozen lines of protobuf varints) rather than through a
//! code generator, to keep this crate free of build scripts.

use std::collections::HashMap;
use std::io::Write;

use crate::analysis::walk_dominator_tree;
use crate::dominators::Dominators;
use crate::graph::HeapGraph;

/// Options of the profile export.
#[derive(Debug, Clone)]
pub struct PprofOptions {
    /// Deepest stack kept (frames past it are folded into `…`).
    pub max_depth: usize,
}

impl Default for PprofOptions {
    fn default() -> Self {
        PprofOptions { max_depth: 64 }
    }
}

/// Write the gzip-compressed profile to `out`.
pub fn write_pprof(
    graph: &HeapGraph,
    doms: &Dominators,
    options: &PprofOptions,
    out: impl Write,
) -> crate::Result<()> {
    let profile = encode_profile(graph, doms, options)?;
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::default());
    gz.write_all(&profile)
        .map_err(|e| crate::HprofError::io(0, e))?;
    gz.finish().map_err(|e| crate::HprofError::io(0, e))?;
    Ok(())
}

/// A trie of collapsed dominator paths: node -> (parent, function) and accumulated values.
struct Trie {
    parent: Vec<u32>,
    function: Vec<u32>,
    objects: Vec<i64>,
    bytes: Vec<i64>,
    children: HashMap<(u32, u32), u32>,
}

impl Trie {
    fn child(&mut self, parent: u32, function: u32) -> u32 {
        if let Some(&c) = self.children.get(&(parent, function)) {
            return c;
        }
        let c = self.parent.len() as u32;
        self.parent.push(parent);
        self.function.push(function);
        self.objects.push(0);
        self.bytes.push(0);
        self.children.insert((parent, function), c);
        c
    }
}

/// The uncompressed protobuf bytes.
pub fn encode_profile(
    graph: &HeapGraph,
    doms: &Dominators,
    options: &PprofOptions,
) -> crate::Result<Vec<u8>> {
    let mut strings: Vec<String> = vec![String::new()];
    let mut string_index: HashMap<String, i64> = HashMap::new();
    let mut intern = |s: &str, strings: &mut Vec<String>| -> i64 {
        if let Some(&i) = string_index.get(s) {
            return i;
        }
        let i = strings.len() as i64;
        strings.push(s.to_string());
        string_index.insert(s.to_string(), i);
        i
    };
    // Function ids are 1-based; 0 in the trie means the root.
    let mut functions: Vec<i64> = Vec::new(); // name string index per function id - 1
    let mut function_of_name: HashMap<String, u32> = HashMap::new();
    let mut function_for =
        |name: String, strings: &mut Vec<String>, functions: &mut Vec<i64>| -> u32 {
            if let Some(&f) = function_of_name.get(&name) {
                return f;
            }
            let idx = intern(&name, strings);
            functions.push(idx);
            let f = functions.len() as u32;
            function_of_name.insert(name, f);
            f
        };
    let ellipsis = function_for("…".to_string(), &mut strings, &mut functions);

    let mut trie = Trie {
        parent: vec![0],
        function: vec![0],
        objects: vec![0],
        bytes: vec![0],
        children: HashMap::new(),
    };
    let (start, children) = doms.children(graph.storage())?;
    // Per dominator-tree depth: the trie node, the function and the depth in frames.
    let mut stack: Vec<(u32, u32, usize)> = Vec::new();
    let mut class_function: HashMap<u32, u32> = HashMap::new();
    walk_dominator_tree(doms, &start, &children, |p, entering| {
        if p == 0 {
            return;
        }
        if !entering {
            stack.pop();
            return;
        }
        let ord = doms.vertex[p as usize];
        let key =
            graph.class_of(ord) | ((graph.kind(ord) == crate::graph::NodeKind::Class) as u32) << 31;
        let function = match class_function.get(&key) {
            Some(&f) => f,
            None => {
                let f = function_for(graph.type_name(ord), &mut strings, &mut functions);
                class_function.insert(key, f);
                f
            }
        };
        let (parent_node, parent_function, depth) = stack.last().copied().unwrap_or((0, 0, 0));
        let (node, depth) =
            if parent_node != 0 && (parent_function == function || parent_function == ellipsis) {
                (parent_node, depth)
            } else if depth >= options.max_depth {
                (trie.child(parent_node, ellipsis), depth)
            } else {
                (trie.child(parent_node, function), depth + 1)
            };
        let f = trie.function[node as usize];
        trie.objects[node as usize] += 1;
        trie.bytes[node as usize] += graph.shallow_bytes(ord) as i64;
        stack.push((node, f, depth));
    });
    drop(start);
    drop(children);

    let objects_type = (
        intern("objects", &mut strings),
        intern("count", &mut strings),
    );
    let space_type = (
        intern("retained", &mut strings),
        intern("bytes", &mut strings),
    );
    let comment = intern(
        "retained bytes by dominator path: flat = shallow size, cum = retained size",
        &mut strings,
    );

    let mut out = Vec::new();
    for t in [objects_type, space_type] {
        let mut vt = Vec::new();
        field_varint(&mut vt, 1, t.0 as u64);
        field_varint(&mut vt, 2, t.1 as u64);
        field_bytes(&mut out, 1, &vt);
    }
    // Samples: one per trie node with values, stack leaf first.
    for node in 1..trie.parent.len() {
        if trie.objects[node] == 0 {
            continue;
        }
        let mut locations = Vec::new();
        let mut x = node as u32;
        while x != 0 {
            locations.push(trie.function[x as usize] as u64);
            x = trie.parent[x as usize];
        }
        let mut sample = Vec::new();
        let mut packed = Vec::new();
        for l in &locations {
            varint(&mut packed, *l);
        }
        field_bytes(&mut sample, 1, &packed);
        let mut values = Vec::new();
        varint(&mut values, trie.objects[node] as u64);
        varint(&mut values, trie.bytes[node] as u64);
        field_bytes(&mut sample, 2, &values);
        field_bytes(&mut out, 2, &sample);
    }
    // One location per function, same id.
    for f in 1..=functions.len() as u64 {
        let mut line = Vec::new();
        field_varint(&mut line, 1, f);
        let mut location = Vec::new();
        field_varint(&mut location, 1, f);
        field_bytes(&mut location, 4, &line);
        field_bytes(&mut out, 4, &location);
    }
    for (i, &name) in functions.iter().enumerate() {
        let mut function = Vec::new();
        field_varint(&mut function, 1, i as u64 + 1);
        field_varint(&mut function, 2, name as u64);
        field_varint(&mut function, 3, name as u64);
        field_bytes(&mut out, 5, &function);
    }
    for s in &strings {
        field_bytes(&mut out, 6, s.as_bytes());
    }
    field_varint(
        &mut out,
        9,
        graph.header.timestamp_ms.saturating_mul(1_000_000),
    );
    let mut period_type = Vec::new();
    field_varint(&mut period_type, 1, space_type.0 as u64);
    field_varint(&mut period_type, 2, space_type.1 as u64);
    field_bytes(&mut out, 11, &period_type);
    field_varint(&mut out, 12, 1);
    field_varint(&mut out, 13, comment as u64);
    field_varint(&mut out, 14, space_type.0 as u64);
    Ok(out)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(out: &mut Vec<u8>, field: u32, v: u64) {
    varint(out, (field as u64) << 3);
    varint(out, v);
}

fn field_bytes(out: &mut Vec<u8>, field: u32, bytes: &[u8]) {
    varint(out, ((field as u64) << 3) | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, vec![0xac, 0x02]);
        let mut f = Vec::new();
        field_bytes(&mut f, 6, b"ab");
        assert_eq!(f, vec![0x32, 2, b'a', b'b']);
    }
}
