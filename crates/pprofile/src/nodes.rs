//! Function-granularity nodes, as `go tool pprof` builds them by default (`-granularity=functions`,
//! inlined frames kept): one node per function name; frames without a name become `[binary]` or
//! `<unknown>` nodes keyed by their binary and start line.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::profile::Profile;

/// A small multiplicative hasher (the Fx hash used inside rustc): the keys here are indices and
/// interned names, not attacker-chosen in a way that collisions could exploit beyond slowing one run.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What identifies a node: the function name, or for nameless frames the binary and start line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeKey<'a> {
    pub name: &'a str,
    pub objfile: &'a str,
    pub start_line: i64,
}

impl NodeKey<'_> {
    /// The name pprof prints for this node.
    pub fn printable(&self) -> String {
        if !self.name.is_empty() {
            self.name.to_string()
        } else if !self.objfile.is_empty() {
            format!(
                "[{}]",
                self.objfile.rsplit('/').next().unwrap_or(self.objfile)
            )
        } else {
            "<unknown>".to_string()
        }
    }
}

/// Nodes and, per location, the nodes of its lines (leaf-most inlined frame first).
pub(crate) struct NodeTable<'a> {
    pub keys: Vec<NodeKey<'a>>,
    /// `location_nodes[location_starts[l]..location_starts[l + 1]]` are location `l`'s nodes.
    pub location_starts: Vec<u32>,
    pub location_nodes: Vec<u32>,
}

impl<'a> NodeTable<'a> {
    pub fn new(profile: &'a Profile) -> NodeTable<'a> {
        let p = &profile.proto;
        let mut index: FxMap<NodeKey<'a>, u32> = FxMap::default();
        let mut keys: Vec<NodeKey<'a>> = Vec::new();
        let mut intern = |key: NodeKey<'a>, keys: &mut Vec<NodeKey<'a>>| -> u32 {
            *index.entry(key).or_insert_with(|| {
                keys.push(key);
                (keys.len() - 1) as u32
            })
        };
        // Named functions map to the same node wherever they appear: resolve each function once.
        let mut by_function: Vec<u32> = vec![u32::MAX; p.function.len()];
        let mut location_starts = Vec::with_capacity(p.location.len() + 1);
        let mut location_nodes = Vec::with_capacity(p.location.len() + p.location.len() / 2);
        for loc in &p.location {
            location_starts.push(location_nodes.len() as u32);
            if loc.line.is_empty() {
                let key = NodeKey {
                    name: "",
                    objfile: profile.mapping_file(loc),
                    start_line: 0,
                };
                location_nodes.push(intern(key, &mut keys));
                continue;
            }
            for line in &loc.line {
                let node = if line.function_id == 0 {
                    intern(
                        NodeKey {
                            name: "",
                            objfile: profile.mapping_file(loc),
                            start_line: 0,
                        },
                        &mut keys,
                    )
                } else {
                    let fi = (line.function_id - 1) as usize;
                    let f = &p.function[fi];
                    let name = profile.str(f.name);
                    if name.is_empty() {
                        intern(
                            NodeKey {
                                name: "",
                                objfile: profile.mapping_file(loc),
                                start_line: f.start_line,
                            },
                            &mut keys,
                        )
                    } else if by_function[fi] != u32::MAX {
                        by_function[fi]
                    } else {
                        let node = intern(
                            NodeKey {
                                name,
                                objfile: "",
                                start_line: 0,
                            },
                            &mut keys,
                        );
                        by_function[fi] = node;
                        node
                    }
                };
                location_nodes.push(node);
            }
        }
        location_starts.push(location_nodes.len() as u32);
        NodeTable {
            keys,
            location_starts,
            location_nodes,
        }
    }

    #[inline]
    pub fn nodes_of(&self, location: u64) -> &[u32] {
        let l = location as usize;
        &self.location_nodes[self.location_starts[l] as usize..self.location_starts[l + 1] as usize]
    }
}
