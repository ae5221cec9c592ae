//! The object graph: one streaming pass turns a dump into dense columns indexed by object
//! ordinal (the order objects appear in the dump) and a compressed sparse row table of references.
//!
//! Memory per object while building: id 8, class+kind 4, array length 4, record offset 8, edge
//! start 8 = 32 bytes, plus 8 bytes per reference (its target id) until references are resolved
//! to 4-byte ordinals. Resolving ids uses a sorted copy of the ids (12 bytes per object) and a
//! bucket directory over the address range instead of a hash map. Classes are nodes too: their
//! static fields, class loader, signers and protection domain are their references.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::classes::{ClassSizes, ClassTable, IdMap, LayoutChoice, Shape};
use crate::column::{Column, Storage};
use crate::error::{HprofError, Result, Warning};
use crate::histogram::Common;
use crate::layout::Layout;
use crate::limits::Limits;
use crate::parser::{
    self, ClassDump, FrameRecord, GcRoot, Header, LoadClass, ParseSummary, ThreadStart, Visitor,
};
use crate::source::{ByteStream, RandomAccess};
use crate::types::{BasicType, RootKind};

/// No ordinal.
pub const NONE: u32 = u32::MAX;

/// What a node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Instance,
    ObjectArray,
    PrimitiveArray,
    /// A class (its `java.lang.Class` mirror, holding the statics).
    Class,
}

const KIND_SHIFT: u32 = 30;
const CLASS_MASK: u32 = (1 << KIND_SHIFT) - 1;

impl NodeKind {
    fn bits(self) -> u32 {
        match self {
            NodeKind::Instance => 0,
            NodeKind::ObjectArray => 1,
            NodeKind::PrimitiveArray => 2,
            NodeKind::Class => 3,
        }
    }

    fn from_bits(bits: u32) -> Self {
        match bits {
            0 => NodeKind::Instance,
            1 => NodeKind::ObjectArray,
            2 => NodeKind::PrimitiveArray,
            _ => NodeKind::Class,
        }
    }
}

/// Options of the graph pass.
#[derive(Debug, Clone, Default)]
pub struct GraphOptions {
    /// Use this layout instead of inferring one.
    pub layout: Option<Layout>,
    pub limits: Limits,
    /// Keep per-object tables in memory-mapped temp files in this directory (for dumps whose
    /// graph does not fit in RAM).
    pub spill_dir: Option<PathBuf>,
}

/// A thread as the dump records it.
#[derive(Debug, Clone)]
pub struct ThreadRecord {
    pub object_id: u64,
    pub serial: u32,
    pub trace_serial: u32,
    pub name_id: Option<u64>,
}

/// Strings and their value arrays, for the duplicate-strings report.
#[derive(Debug, Default)]
pub(crate) struct StringTables {
    /// (String ordinal, value array id).
    pub(crate) strings: Vec<(u32, u64)>,
    /// (byte[]/char[] ordinal, content hash) sorted by ordinal.
    pub(crate) array_hashes: Vec<(u32, u64)>,
}

/// Stack traces and frames of the dump.
#[derive(Debug, Default)]
pub struct StackTables {
    pub frames: IdMap<FrameRecord>,
    /// trace serial -> (thread serial, frame ids).
    pub traces: HashMap<u32, (u32, Vec<u64>)>,
    pub threads: Vec<ThreadRecord>,
    /// (thread serial, frame depth, object id) for Java-frame and JNI-local roots.
    pub frame_roots: Vec<(u32, u32, u64)>,
}

/// The parsed heap as dense columns.
pub struct HeapGraph {
    pub header: Header,
    pub parse: ParseSummary,
    pub classes: ClassTable,
    pub sizes: ClassSizes,
    pub layout: LayoutChoice,
    pub(crate) storage: Storage,
    pub(crate) ids: Column<u64>,
    pub(crate) class_kind: Column<u32>,
    pub(crate) lengths: Column<u32>,
    pub(crate) offsets: Column<u64>,
    /// CSR: references of node `i` are `edges[edge_start[i]..edge_start[i + 1]]`.
    pub(crate) edge_start: Column<u64>,
    pub(crate) edges: Column<u32>,
    /// Distinct root ordinals with the kind first seen.
    pub(crate) roots: Vec<(u32, RootKind)>,
    pub(crate) root_counts: [u64; 10],
    pub(crate) strings: StringTables,
    pub stacks: StackTables,
    /// Random access to the dump for reading single objects again.
    pub(crate) input: Option<RandomAccess>,
    pub(crate) index: Option<IdIndex>,
    /// References to ids that are not in the dump (dropped).
    pub dangling_references: u64,
}

/// id -> ordinal lookup: ids sorted, with a bucket directory over the address range.
pub(crate) struct IdIndex {
    sorted_ids: Column<u64>,
    /// Ordinal of each sorted id; `None` when the dump order is already sorted.
    sorted_ords: Option<Column<u32>>,
    directory: Vec<u32>,
    min: u64,
    shift: u32,
}

impl IdIndex {
    fn build(ids: &[u64], storage: &Storage) -> std::io::Result<IdIndex> {
        let n = ids.len();
        let already_sorted = ids.windows(2).all(|w| w[0] < w[1]);
        let (sorted_ids, sorted_ords) = if already_sorted {
            let mut s = Column::new(storage)?;
            for &id in ids {
                s.push(id)?;
            }
            (s, None)
        } else {
            let mut perm: Column<u32> = Column::new(storage)?;
            for i in 0..n as u32 {
                perm.push(i)?;
            }
            perm.sort_unstable_by_key(|&p| ids[p as usize]);
            let mut s = Column::new(storage)?;
            for &p in perm.iter() {
                s.push(ids[p as usize])?;
            }
            (s, Some(perm))
        };
        let (min, max) = match (sorted_ids.first(), sorted_ids.last()) {
            (Some(&a), Some(&b)) => (a, b),
            _ => (0, 0),
        };
        // About two ids per bucket.
        let span = max - min;
        let buckets_wanted = (n as u64 / 2).max(1);
        let mut shift = 0;
        while (span >> shift) > buckets_wanted {
            shift += 1;
        }
        let buckets = (span >> shift) as usize + 2;
        let mut directory = vec![0u32; buckets + 1];
        let mut b = 0usize;
        for (i, &id) in sorted_ids.iter().enumerate() {
            let bucket = ((id - min) >> shift) as usize;
            while b <= bucket {
                directory[b] = i as u32;
                b += 1;
            }
        }
        while b < directory.len() {
            directory[b] = n as u32;
            b += 1;
        }
        Ok(IdIndex {
            sorted_ids,
            sorted_ords,
            directory,
            min,
            shift,
        })
    }

    /// Ordinal of `id`.
    #[inline]
    pub(crate) fn get(&self, id: u64) -> Option<u32> {
        if id < self.min {
            return None;
        }
        // Ids far above the largest one (a corrupt reference) give a bucket past the directory;
        // compare without adding to it, so such an id cannot overflow.
        let bucket = usize::try_from((id - self.min) >> self.shift).ok()?;
        if bucket >= self.directory.len().saturating_sub(1) {
            return None;
        }
        let lo = self.directory[bucket] as usize;
        let hi = self.directory[bucket + 1] as usize;
        let slice = &self.sorted_ids[lo..hi];
        let pos = if slice.len() <= 8 {
            slice.iter().position(|&x| x == id)?
        } else {
            slice.binary_search(&id).ok()?
        };
        let sorted_pos = lo + pos;
        Some(match &self.sorted_ords {
            Some(ords) => ords[sorted_pos],
            None => sorted_pos as u32,
        })
    }
}

/// Streaming 64-bit content hash for array contents (not cryptographic; collisions between
/// distinct strings are astronomically unlikely at heap sizes).
#[derive(Clone, Copy)]
pub(crate) struct ContentHasher {
    state: u64,
    pending: u64,
    pending_len: u32,
    total: u64,
}

impl ContentHasher {
    pub(crate) fn new() -> Self {
        ContentHasher {
            state: 0x243F_6A88_85A3_08D3,
            pending: 0,
            pending_len: 0,
            total: 0,
        }
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state ^ word)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .rotate_left(29);
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len() as u64;
        while self.pending_len > 0 && !bytes.is_empty() {
            self.pending |= (bytes[0] as u64) << (8 * self.pending_len);
            self.pending_len += 1;
            bytes = &bytes[1..];
            if self.pending_len == 8 {
                let w = self.pending;
                self.mix(w);
                self.pending = 0;
                self.pending_len = 0;
            }
        }
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes([
                c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
            ]));
        }
        for &b in chunks.remainder() {
            self.pending |= (b as u64) << (8 * self.pending_len);
            self.pending_len += 1;
        }
    }

    pub(crate) fn finish(mut self) -> u64 {
        let tail = self.pending ^ ((self.pending_len as u64) << 56);
        self.mix(tail);
        self.mix(self.total);
        let mut h = self.state;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h
    }
}

struct Builder {
    common: Common,
    storage: Storage,
    id_size: u32,
    ids: Column<u64>,
    class_kind: Column<u32>,
    lengths: Column<u32>,
    offsets: Column<u64>,
    edge_start: Column<u64>,
    edge_ids: Column<u64>,
    roots: Vec<(u64, RootKind)>,
    /// Per class: offsets of reference fields in the dump's instance data.
    ref_offsets: Vec<Option<Box<[u32]>>>,
    /// Per class: 0 unknown, 1 java.lang.String, 2 other.
    string_class: Vec<u8>,
    string_value_offset: Option<u32>,
    strings: Vec<(u32, u64)>,
    array_hashes: Vec<(u32, u64)>,
    hashing: Option<(u32, ContentHasher)>,
    deferred: Vec<u32>,
    stacks: StackTables,
    error: Option<HprofError>,
    max_objects: u64,
}

impl Builder {
    #[inline]
    fn new_node(
        &mut self,
        id: u64,
        kind: NodeKind,
        class: u32,
        length: u32,
        offset: u64,
    ) -> Option<u32> {
        let ord = self.ids.len() as u64;
        if ord >= self.max_objects {
            if self.error.is_none() {
                self.error = Some(HprofError::LimitExceeded {
                    offset,
                    what: "number of objects",
                    value: ord + 1,
                    limit: self.max_objects,
                    field: "max_objects",
                });
            }
            return None;
        }
        let r = (|| -> std::io::Result<()> {
            self.ids.push(id)?;
            self.class_kind
                .push((kind.bits() << KIND_SHIFT) | (class & CLASS_MASK))?;
            self.lengths.push(length)?;
            self.offsets.push(offset)?;
            self.edge_start.push(self.edge_ids.len() as u64)?;
            Ok(())
        })();
        if let Err(e) = r {
            self.io_error(offset, e);
            return None;
        }
        Some(ord as u32)
    }

    #[cold]
    fn io_error(&mut self, offset: u64, e: std::io::Error) {
        if self.error.is_none() {
            self.error = Some(HprofError::Spool {
                path: format!("column storage ({:?}) at dump byte {offset}", self.storage),
                source: e,
            });
        }
    }

    #[inline]
    fn edge(&mut self, target: u64) {
        if target != 0
            && let Err(e) = self.edge_ids.push(target)
        {
            self.io_error(0, e);
        }
    }

    /// Offsets of the reference fields of instances of `class` in the dump's field data.
    fn refs_for(&mut self, class: u32) -> Option<&[u32]> {
        let c = class as usize;
        if self.ref_offsets.len() <= c {
            self.ref_offsets.resize(c + 1, None);
        }
        if self.ref_offsets[c].is_none() {
            let offsets = reference_offsets(&self.common.classes, class, self.id_size)?;
            self.ref_offsets[c] = Some(offsets.into_boxed_slice());
        }
        self.ref_offsets[c].as_deref()
    }

    fn is_string(&mut self, class: u32) -> bool {
        let c = class as usize;
        if self.string_class.len() <= c {
            self.string_class.resize(c + 1, 0);
        }
        if self.string_class[c] == 0 {
            let table = &self.common.classes;
            let is = table
                .raw_name(class)
                .is_some_and(|n| n == b"java/lang/String" || n == b"java.lang.String");
            self.string_class[c] = if is { 1 } else { 2 };
            if is && self.string_value_offset.is_none() {
                self.string_value_offset = dump_field_offset(table, class, b"value", self.id_size);
            }
        }
        self.string_class[c] == 1
    }
}

/// Offsets (in an instance's dump field data: the class's fields, then its super-class's, …) of
/// its reference fields. `None` when the class has not been dumped (yet).
pub(crate) fn reference_offsets(table: &ClassTable, class: u32, id_size: u32) -> Option<Vec<u32>> {
    let c = &table.classes[class as usize];
    if !c.dumped {
        return None;
    }
    let mut out = Vec::new();
    let mut offset = 0u32;
    let mut chain = vec![class];
    chain.extend(table.super_chain(class));
    for k in chain {
        for f in &table.classes[k as usize].fields {
            if f.ty == BasicType::Object {
                out.push(offset);
            }
            offset += f.ty.hprof_size(id_size);
        }
    }
    Some(out)
}

/// Offset and type of the instance field `name` in the dump's field data of `class`.
pub(crate) fn dump_field_offset(
    table: &ClassTable,
    class: u32,
    name: &[u8],
    id_size: u32,
) -> Option<u32> {
    dump_field(table, class, name, id_size).map(|(o, _)| o)
}

/// Offset and type of the instance field `name` (nearest declaration first).
pub(crate) fn dump_field(
    table: &ClassTable,
    class: u32,
    name: &[u8],
    id_size: u32,
) -> Option<(u32, BasicType)> {
    let mut offset = 0u32;
    let mut chain = vec![class];
    chain.extend(table.super_chain(class));
    for k in chain {
        for f in &table.classes[k as usize].fields {
            if table.utf8.get(f.name_id) == Some(name) {
                return Some((offset, f.ty));
            }
            offset += f.ty.hprof_size(id_size);
        }
    }
    None
}

impl Visitor for Builder {
    const INSTANCE_FIELDS: bool = true;

    fn header(&mut self, header: &Header) {
        self.common.header(header);
        self.id_size = header.id_size;
    }

    fn utf8(&mut self, id: u64, text: &[u8]) {
        self.common.classes.utf8.insert(id, text);
    }

    fn load_class(&mut self, record: &LoadClass) {
        self.common.load_class(record);
    }

    fn frame(&mut self, record: &FrameRecord) {
        self.stacks.frames.insert(record.frame_id, *record);
    }

    fn trace(&mut self, serial: u32, thread_serial: u32, frame_ids: &[u64]) {
        self.stacks
            .traces
            .insert(serial, (thread_serial, frame_ids.to_vec()));
    }

    fn thread_start(&mut self, record: &ThreadStart) {
        self.stacks.threads.push(ThreadRecord {
            object_id: record.thread_object_id,
            serial: record.thread_serial,
            trace_serial: record.stack_serial,
            name_id: Some(record.name_id),
        });
    }

    fn gc_root(&mut self, root: &GcRoot) {
        self.common.gc_root(root);
        self.roots.push((root.object_id, root.kind));
        match root.kind {
            RootKind::ThreadObject
                if !self
                    .stacks
                    .threads
                    .iter()
                    .any(|t| t.object_id == root.object_id) =>
            {
                self.stacks.threads.push(ThreadRecord {
                    object_id: root.object_id,
                    serial: root.thread_serial.unwrap_or(0),
                    trace_serial: root.frame_or_trace.unwrap_or(0),
                    name_id: None,
                });
            }
            RootKind::JavaFrame | RootKind::JniLocal => {
                if let (Some(thread), Some(depth)) = (root.thread_serial, root.frame_or_trace) {
                    self.stacks
                        .frame_roots
                        .push((thread, depth, root.object_id));
                }
            }
            _ => {}
        }
    }

    fn class_dump(&mut self, offset: u64, class: &ClassDump) {
        let Some(index) = self.common.class_dump(class) else {
            return;
        };
        if self
            .new_node(class.class_id, NodeKind::Class, index, 0, offset)
            .is_none()
        {
            return;
        }
        for id in [
            class.super_id,
            class.loader_id,
            class.signers_id,
            class.protection_domain_id,
        ] {
            self.edge(id);
        }
        for s in &class.statics {
            if s.ty == BasicType::Object {
                self.edge(s.value);
            }
        }
        for &r in &class.constant_pool_refs {
            self.edge(r);
        }
    }

    #[inline]
    fn instance(&mut self, offset: u64, id: u64, class_id: u64, fields: &[u8]) {
        let class = self.common.class_index(class_id);
        self.common.saw_object(id, Shape::Instance(class));
        let Some(ord) = self.new_node(id, NodeKind::Instance, class, 0, offset) else {
            return;
        };
        let id_size = self.id_size;
        if self.refs_for(class).is_some() {
            let refs = self.ref_offsets[class as usize].take();
            if let Some(refs) = &refs {
                for &o in refs.iter() {
                    let o = o as usize;
                    if o + id_size as usize <= fields.len() {
                        let t = parser::id_at(&fields[o..], id_size);
                        self.edge(t);
                    }
                }
            }
            self.ref_offsets[class as usize] = refs;
        } else {
            self.deferred.push(ord);
        }
        if self.is_string(class)
            && let Some(o) = self.string_value_offset
        {
            let o = o as usize;
            if o + id_size as usize <= fields.len() {
                let value = parser::id_at(&fields[o..], id_size);
                self.strings.push((ord, value));
            }
        }
    }

    fn object_array(&mut self, offset: u64, id: u64, class_id: u64, length: u32) -> bool {
        let class = self.common.class_index(class_id);
        self.common.saw_object(id, Shape::ObjectArray(length));
        self.new_node(id, NodeKind::ObjectArray, class, length, offset)
            .is_some()
    }

    fn object_array_elements(&mut self, ids: &[u8]) {
        let id_size = self.id_size as usize;
        for chunk in ids.chunks_exact(id_size) {
            let t = parser::id_at(chunk, self.id_size);
            self.edge(t);
        }
    }

    fn primitive_array(&mut self, offset: u64, id: u64, element: BasicType, length: u32) -> bool {
        self.common
            .saw_object(id, Shape::PrimitiveArray(element, length));
        let class = ClassTable::primitive_array_class(element);
        let Some(ord) = self.new_node(id, NodeKind::PrimitiveArray, class, length, offset) else {
            return false;
        };
        if matches!(element, BasicType::Byte | BasicType::Char) {
            self.hashing = Some((ord, ContentHasher::new()));
            true
        } else {
            false
        }
    }

    fn primitive_array_data(&mut self, bytes: &[u8]) {
        if let Some((_, h)) = &mut self.hashing {
            h.update(bytes);
        }
    }

    fn primitive_array_end(&mut self) {
        if let Some((ord, h)) = self.hashing.take() {
            self.array_hashes.push((ord, h.finish()));
        }
    }

    fn warning(&mut self, _warning: &Warning) {}
}

/// Read a dump once and build its object graph. `input` gives random access to the same bytes
/// for re-reading objects later (thread names, string contents, field names on paths); without it
/// those parts of the report are missing.
pub fn build_graph<R: ByteStream>(
    stream: R,
    input: Option<RandomAccess>,
    options: &GraphOptions,
) -> Result<HeapGraph> {
    build_graph_then(stream, |_| Ok(input), options)
}

/// Open `path` (plain, gzip, zstd, or a pipe) and build its graph. Compressed and piped input is
/// copied to a temporary file while it is decompressed (in `spool_dir`, else `$TMPDIR`) so objects
/// can be re-read later without decompressing twice; a plain file is re-read in place.
pub fn load_graph(
    path: &std::path::Path,
    options: &GraphOptions,
    spool_dir: Option<&std::path::Path>,
) -> Result<HeapGraph> {
    let opened = crate::source::open_stream(path).map_err(|e| HprofError::io(0, e))?;
    if opened.seekable_file {
        let file = std::fs::File::open(path).map_err(|e| HprofError::io(0, e))?;
        let input = RandomAccess::from_file(file).map_err(|e| HprofError::io(0, e))?;
        build_graph(opened.stream, Some(input), options)
    } else {
        let spool = crate::source::Spooling::new(opened.stream, spool_dir)?;
        build_graph_then(spool, |s| s.finish().map(Some), options)
    }
}

/// As [`build_graph`], with random access made from the stream once it has been read.
fn build_graph_then<R: ByteStream>(
    stream: R,
    finish: impl FnOnce(R) -> Result<Option<RandomAccess>>,
    options: &GraphOptions,
) -> Result<HeapGraph> {
    let storage = match &options.spill_dir {
        Some(dir) => Storage::Spill(dir.clone()),
        None => Storage::Memory,
    };
    let col_err = |e: std::io::Error| HprofError::Spool {
        path: format!("{storage:?}"),
        source: e,
    };
    let mut b = Builder {
        common: Common::new(&options.limits),
        storage: storage.clone(),
        id_size: 8,
        ids: Column::new(&storage).map_err(col_err)?,
        class_kind: Column::new(&storage).map_err(col_err)?,
        lengths: Column::new(&storage).map_err(col_err)?,
        offsets: Column::new(&storage).map_err(col_err)?,
        edge_start: Column::new(&storage).map_err(col_err)?,
        edge_ids: Column::new(&storage).map_err(col_err)?,
        roots: Vec::new(),
        ref_offsets: Vec::new(),
        string_class: Vec::new(),
        string_value_offset: None,
        strings: Vec::new(),
        array_hashes: Vec::new(),
        hashing: None,
        deferred: Vec::new(),
        stacks: StackTables::default(),
        error: None,
        max_objects: options.limits.max_objects.min(NONE as u64 - 2),
    };
    let (parse, stream) = parser::parse_returning_stream(stream, &options.limits, &mut b)?;
    if let Some(e) = b.error.take() {
        return Err(e);
    }
    let input = finish(stream)?;
    b.edge_start
        .push(b.edge_ids.len() as u64)
        .map_err(col_err)?;
    let layout = b.common.finish(options.layout);
    tracing::debug!(
        objects = b.ids.len(),
        references = b.edge_ids.len(),
        "graph pass done"
    );

    // References of instances whose class came later in the dump: read them again.
    let mut late_edges: Vec<(u32, u64)> = Vec::new();
    if !b.deferred.is_empty() {
        let deferred = std::mem::take(&mut b.deferred);
        let mut missing_class = 0u64;
        for ord in deferred {
            let class = b.class_kind[ord as usize] & CLASS_MASK;
            let Some(refs) = reference_offsets(&b.common.classes, class, b.id_size) else {
                missing_class += 1;
                continue;
            };
            if let Some(input) = &input
                && let Ok(fields) = read_instance_fields(input, b.offsets[ord as usize], b.id_size)
            {
                for o in refs {
                    let o = o as usize;
                    if o + b.id_size as usize <= fields.len() {
                        let t = parser::id_at(&fields[o..], b.id_size);
                        if t != 0 {
                            late_edges.push((ord, t));
                        }
                    }
                }
            }
        }
        if missing_class > 0 {
            tracing::warn!(
                missing_class,
                "instances whose class has no CLASS_DUMP: their references are unknown"
            );
        }
    }

    let index = IdIndex::build(&b.ids, &storage).map_err(col_err)?;
    let mut dangling = 0u64;
    let mut edges: Column<u32> = Column::new(&storage).map_err(col_err)?;
    for &t in b.edge_ids.iter() {
        match index.get(t) {
            Some(o) => edges.push(o).map_err(col_err)?,
            None => {
                dangling += 1;
                edges.push(NONE).map_err(col_err)?;
            }
        }
    }
    drop(b.edge_ids);
    let mut edge_start = b.edge_start;
    // Drop dangling references and merge late ones, keeping CSR order.
    if dangling > 0 || !late_edges.is_empty() {
        late_edges.sort_unstable_by_key(|e| e.0);
        let n = b.ids.len();
        let mut new_start: Column<u64> = Column::new(&storage).map_err(col_err)?;
        let mut new_edges: Column<u32> = Column::new(&storage).map_err(col_err)?;
        let mut late = late_edges.iter().peekable();
        for i in 0..n {
            new_start.push(new_edges.len() as u64).map_err(col_err)?;
            for &t in &edges[edge_start[i] as usize..edge_start[i + 1] as usize] {
                if t != NONE {
                    new_edges.push(t).map_err(col_err)?;
                }
            }
            while let Some(&&(src, target)) = late.peek() {
                if src as usize != i {
                    break;
                }
                late.next();
                match index.get(target) {
                    Some(o) => new_edges.push(o).map_err(col_err)?,
                    None => dangling += 1,
                }
            }
        }
        new_start.push(new_edges.len() as u64).map_err(col_err)?;
        edges = new_edges;
        edge_start = new_start;
    }
    edges.shrink_to_fit();

    let mut roots: Vec<(u32, RootKind)> = Vec::with_capacity(b.roots.len());
    let mut seen_root: HashMap<u32, ()> = HashMap::new();
    let mut root_missing = 0u64;
    for &(id, kind) in &b.roots {
        match index.get(id) {
            Some(o) => {
                if seen_root.insert(o, ()).is_none() {
                    roots.push((o, kind));
                }
            }
            None => root_missing += 1,
        }
    }
    // Classes are roots too (their statics live as long as their class loader, which the JVM
    // keeps reachable through the loaded classes).
    for (o, &ck) in b.class_kind.iter().enumerate() {
        if NodeKind::from_bits(ck >> KIND_SHIFT) == NodeKind::Class
            && seen_root.insert(o as u32, ()).is_none()
        {
            roots.push((o as u32, RootKind::StickyClass));
        }
    }
    if root_missing > 0 {
        tracing::debug!(root_missing, "GC roots naming objects not in the dump");
    }
    let sizes = b.common.classes.sizes(&layout.layout);
    b.array_hashes.sort_unstable_by_key(|e| e.0);
    let root_counts = b.common.roots;
    Ok(HeapGraph {
        header: parse.header.clone(),
        parse,
        classes: b.common.classes,
        sizes,
        layout,
        storage,
        ids: b.ids,
        class_kind: b.class_kind,
        lengths: b.lengths,
        offsets: b.offsets,
        edge_start,
        edges,
        roots,
        root_counts,
        strings: StringTables {
            strings: b.strings,
            array_hashes: b.array_hashes,
        },
        stacks: b.stacks,
        input,
        index: Some(index),
        dangling_references: dangling,
    })
}

/// Read the field data of the INSTANCE_DUMP at `offset`.
pub(crate) fn read_instance_fields(
    input: &RandomAccess,
    offset: u64,
    id_size: u32,
) -> std::io::Result<Vec<u8>> {
    let head = 1 + 2 * id_size as usize + 8;
    let h = input.read_at(offset, head)?;
    if h.len() < head || h[0] != crate::types::sub::INSTANCE_DUMP {
        return Err(std::io::Error::other("not an instance record"));
    }
    let n = u32::from_be_bytes([h[head - 4], h[head - 3], h[head - 2], h[head - 1]]) as usize;
    input.read_at(offset + head as u64, n.min(16 << 20))
}

/// Read the content of the PRIM_ARRAY_DUMP at `offset` (up to `max` bytes) and its type.
pub(crate) fn read_primitive_array(
    input: &RandomAccess,
    offset: u64,
    id_size: u32,
    max: usize,
) -> std::io::Result<(BasicType, u32, Vec<u8>)> {
    let head = 1 + id_size as usize + 9;
    let h = input.read_at(offset, head)?;
    if h.len() < head || h[0] != crate::types::sub::PRIMITIVE_ARRAY_DUMP {
        return Err(std::io::Error::other("not a primitive array record"));
    }
    let length = u32::from_be_bytes([h[head - 5], h[head - 4], h[head - 3], h[head - 2]]);
    let ty =
        BasicType::from_u8(h[head - 1]).ok_or_else(|| std::io::Error::other("bad array type"))?;
    let bytes = (length as usize)
        .saturating_mul(ty.hprof_size(id_size) as usize)
        .min(max);
    Ok((ty, length, input.read_at(offset + head as u64, bytes)?))
}

impl HeapGraph {
    /// Number of nodes (objects, arrays and classes).
    pub fn node_count(&self) -> usize {
        self.ids.len()
    }

    /// Number of resolved references.
    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// The id (address) of node `ord`.
    pub fn id(&self, ord: u32) -> u64 {
        self.ids[ord as usize]
    }

    /// The node with id `id`.
    pub fn ordinal(&self, id: u64) -> Option<u32> {
        self.index.as_ref().and_then(|i| i.get(id))
    }

    /// What node `ord` is.
    pub fn kind(&self, ord: u32) -> NodeKind {
        NodeKind::from_bits(self.class_kind[ord as usize] >> KIND_SHIFT)
    }

    /// Class index of node `ord` (for a class node: the class itself).
    pub fn class_of(&self, ord: u32) -> u32 {
        self.class_kind[ord as usize] & CLASS_MASK
    }

    /// Array length (0 for instances and classes).
    pub fn length(&self, ord: u32) -> u32 {
        self.lengths[ord as usize]
    }

    /// Offset of the node's record in the decompressed dump.
    pub fn record_offset(&self, ord: u32) -> u64 {
        self.offsets[ord as usize]
    }

    /// References from node `ord`.
    pub fn references(&self, ord: u32) -> &[u32] {
        let i = ord as usize;
        &self.edges[self.edge_start[i] as usize..self.edge_start[i + 1] as usize]
    }

    /// Distinct root nodes with a kind each (classes included as sticky-class roots).
    pub fn roots(&self) -> &[(u32, RootKind)] {
        &self.roots
    }

    /// JVM size of node `ord`.
    #[inline]
    pub fn shallow_bytes(&self, ord: u32) -> u64 {
        let class = self.class_of(ord) as usize;
        let layout = &self.layout.layout;
        match self.kind(ord) {
            NodeKind::Instance => self.sizes.instance_bytes[class] as u64,
            NodeKind::Class => self.sizes.mirror_bytes[class],
            NodeKind::ObjectArray => layout.array_bytes(BasicType::Object, self.length(ord)),
            NodeKind::PrimitiveArray => {
                let t = self.classes.classes[class]
                    .array_element
                    .unwrap_or(BasicType::Byte);
                layout.array_bytes(t, self.length(ord))
            }
        }
    }

    /// Display name of the node's type: `java.util.HashMap`, `byte[]`, `class java.lang.System`.
    pub fn type_name(&self, ord: u32) -> String {
        let name = &self.classes.classes[self.class_of(ord) as usize].name;
        match self.kind(ord) {
            NodeKind::Class => format!("class {name}"),
            _ => name.clone(),
        }
    }

    /// Where the per-object tables live.
    pub fn is_spilled(&self) -> bool {
        self.ids.is_spilled()
    }

    /// Random access to the dump, when available.
    pub fn input(&self) -> Option<&RandomAccess> {
        self.input.as_ref()
    }

    pub(crate) fn storage(&self) -> &Storage {
        &self.storage
    }
}
