//! Classes, names and per-class sizes, shared by the histogram and the graph passes.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::layout::{self, ClassFields, ClassLayout, FieldSpec, Layout};
use crate::parser::{ClassDump, FieldDescriptor, StaticField};
use crate::types::{BasicType, java_class_name};

/// Hasher for object identifiers (heap addresses: multiples of 8, so the low bits carry nothing).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        let h = (self.0 ^ x ^ (x >> 29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 32);
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(x as u64);
    }
}

/// A hash map keyed by identifiers.
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The UTF8 records: symbol id to bytes, in one arena.
#[derive(Default)]
pub(crate) struct Utf8Table {
    spans: IdMap<(u64, u32)>,
    arena: Vec<u8>,
    limit: u64,
    pub(crate) dropped: u64,
}

impl Utf8Table {
    pub(crate) fn with_limit(limit: u64) -> Self {
        Utf8Table {
            limit,
            ..Default::default()
        }
    }

    pub(crate) fn insert(&mut self, id: u64, text: &[u8]) {
        if self.arena.len() as u64 + text.len() as u64 > self.limit {
            self.dropped += 1;
            return;
        }
        let start = self.arena.len() as u64;
        self.arena.extend_from_slice(text);
        self.spans.insert(id, (start, text.len() as u32));
    }

    pub(crate) fn get(&self, id: u64) -> Option<&[u8]> {
        self.spans
            .get(&id)
            .map(|&(start, len)| &self.arena[start as usize..start as usize + len as usize])
    }

    /// The symbol as text, or a placeholder naming the id.
    pub(crate) fn text(&self, id: u64) -> String {
        match self.get(id) {
            Some(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            None => format!("<symbol 0x{id:x}>"),
        }
    }
}

/// What the dump says about one class.
#[derive(Debug, Clone, Default)]
pub struct ClassInfo {
    /// Class object id (0 for the synthetic primitive-array classes).
    pub id: u64,
    /// Java source form: `java.util.HashMap$Node`, `byte[]`.
    pub name: String,
    pub super_id: u64,
    pub loader_id: u64,
    pub signers_id: u64,
    pub protection_domain_id: u64,
    /// Own instance fields in dump order.
    pub fields: Vec<FieldDescriptor>,
    pub field_names: Vec<String>,
    pub statics: Vec<StaticField>,
    pub static_names: Vec<String>,
    pub constant_pool_refs: Vec<u64>,
    pub hprof_instance_bytes: u32,
    /// A CLASS_DUMP record was seen (otherwise only referenced).
    pub dumped: bool,
    /// Element type for array classes.
    pub array_element: Option<BasicType>,
}

/// Per-class JVM sizes under one layout.
#[derive(Debug, Clone, Default)]
pub struct ClassSizes {
    /// Size of one instance (0 for array classes and classes without a dump).
    pub instance_bytes: Vec<u32>,
    /// Size of the class's `java.lang.Class` mirror with its static fields (0 for undumped).
    pub mirror_bytes: Vec<u64>,
    /// Byte offsets (in the dump's instance field data, class then super classes) of the
    /// reference fields of an instance, per class; computed on demand by the graph pass.
    pub layouts: Vec<Option<ClassLayout>>,
}

/// All classes of a dump, indexed densely. Indices 0..9 are the primitive array classes.
pub struct ClassTable {
    pub classes: Vec<ClassInfo>,
    index: IdMap<u32>,
    load_names: IdMap<u64>,
    pub(crate) serial_to_id: HashMap<u32, u64>,
    pub(crate) utf8: Utf8Table,
    pub id_size: u32,
    /// Class dumps seen.
    pub dumped_classes: u64,
    max_classes: usize,
    pub(crate) over_limit: u64,
}

impl ClassTable {
    pub(crate) fn new(utf8_limit: u64, max_classes: usize) -> Self {
        let classes = BasicType::ALL
            .iter()
            .map(|t| ClassInfo {
                name: t.array_class_name().to_string(),
                array_element: Some(*t),
                ..Default::default()
            })
            .collect();
        ClassTable {
            classes,
            index: IdMap::default(),
            load_names: IdMap::default(),
            serial_to_id: HashMap::new(),
            utf8: Utf8Table::with_limit(utf8_limit),
            id_size: 8,
            dumped_classes: 0,
            max_classes,
            over_limit: 0,
        }
    }

    /// Index of the synthetic class of primitive arrays of `t`.
    #[inline]
    pub fn primitive_array_class(t: BasicType) -> u32 {
        t.index() as u32
    }

    /// Dense index of class `id`, creating a placeholder when the class has not been seen.
    #[inline]
    pub(crate) fn class_index(&mut self, id: u64) -> u32 {
        if let Some(&i) = self.index.get(&id) {
            return i;
        }
        let i = self.classes.len() as u32;
        self.classes.push(ClassInfo {
            id,
            ..Default::default()
        });
        self.index.insert(id, i);
        i
    }

    /// Dense index of class `id` if known.
    pub fn index_of(&self, id: u64) -> Option<u32> {
        self.index.get(&id).copied()
    }

    pub(crate) fn load_class(&mut self, serial: u32, class_id: u64, name_id: u64) {
        self.load_names.insert(class_id, name_id);
        self.serial_to_id.insert(serial, class_id);
    }

    pub(crate) fn class_dump(&mut self, dump: &ClassDump) -> Option<u32> {
        if self.dumped_classes as usize >= self.max_classes {
            self.over_limit += 1;
            return None;
        }
        self.dumped_classes += 1;
        let i = self.class_index(dump.class_id);
        let c = &mut self.classes[i as usize];
        c.super_id = dump.super_id;
        c.loader_id = dump.loader_id;
        c.signers_id = dump.signers_id;
        c.protection_domain_id = dump.protection_domain_id;
        c.fields.clone_from(&dump.fields);
        c.statics.clone_from(&dump.statics);
        c.constant_pool_refs.clone_from(&dump.constant_pool_refs);
        c.hprof_instance_bytes = dump.hprof_instance_bytes;
        c.dumped = true;
        Some(i)
    }

    /// Resolve names once every record is in.
    pub(crate) fn finish(&mut self) {
        for i in BasicType::ALL.len()..self.classes.len() {
            let id = self.classes[i].id;
            let name = match self.load_names.get(&id).and_then(|&n| self.utf8.get(n)) {
                Some(bytes) => java_class_name(&String::from_utf8_lossy(bytes)),
                None => format!("<unknown class 0x{id:x}>"),
            };
            let array_element = if name.ends_with("[]") {
                let inner = &name[..name.len() - 2];
                Some(
                    BasicType::ALL
                        .iter()
                        .skip(1)
                        .copied()
                        .find(|t| t.java_name() == inner)
                        .unwrap_or(BasicType::Object),
                )
            } else {
                None
            };
            let field_names = self.classes[i]
                .fields
                .iter()
                .map(|f| self.utf8.text(f.name_id))
                .collect();
            let static_names = self.classes[i]
                .statics
                .iter()
                .map(|f| self.utf8.text(f.name_id))
                .collect();
            let c = &mut self.classes[i];
            c.name = name;
            c.array_element = array_element;
            c.field_names = field_names;
            c.static_names = static_names;
        }
    }

    /// The class's name as the dump spells it (`java/lang/String`), before names are resolved.
    pub(crate) fn raw_name(&self, class: u32) -> Option<&[u8]> {
        let id = self.classes.get(class as usize)?.id;
        self.load_names.get(&id).and_then(|&n| self.utf8.get(n))
    }

    /// Index of the first class with this name.
    pub fn find_by_name(&self, name: &str) -> Option<u32> {
        self.classes
            .iter()
            .position(|c| c.name == name && c.dumped)
            .map(|i| i as u32)
    }

    /// The super-class chain of `class`, nearest first, stopping at missing classes and cycles.
    pub fn super_chain(&self, class: u32) -> Vec<u32> {
        let mut chain = Vec::new();
        let mut current = self.classes[class as usize].super_id;
        while current != 0 && chain.len() < 1024 {
            match self.index_of(current) {
                Some(i) if self.classes[i as usize].dumped && !chain.contains(&i) && i != class => {
                    chain.push(i);
                    current = self.classes[i as usize].super_id;
                }
                _ => break,
            }
        }
        chain
    }

    fn own_fields(&self, class: u32, layout: &Layout) -> ClassFields {
        let c = &self.classes[class as usize];
        let (contended_class, contended_fields) = layout::contended(&c.name);
        let mut fields: Vec<FieldSpec> = c
            .fields
            .iter()
            .zip(&c.field_names)
            .map(|(f, name)| FieldSpec {
                ty: f.ty,
                contended_group: contended_fields
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, g)| *g),
            })
            .collect();
        for (name, ty) in layout::injected_fields(&c.name, layout.word_bytes) {
            if !c.field_names.iter().any(|n| n == name) {
                fields.push(FieldSpec {
                    ty: *ty,
                    contended_group: None,
                });
            }
        }
        ClassFields {
            fields,
            contended_class,
        }
    }

    /// Lay out every dumped class under `layout`.
    pub fn sizes(&self, layout: &Layout) -> ClassSizes {
        let n = self.classes.len();
        let mut layouts: Vec<Option<ClassLayout>> = vec![None; n];
        let root = layout::layout_class(layout, None, &ClassFields::default());
        for i in 0..n as u32 {
            let c = &self.classes[i as usize];
            if !c.dumped || c.array_element.is_some() || layouts[i as usize].is_some() {
                continue;
            }
            let chain = self.super_chain(i);
            // Lay out from the top of the hierarchy down.
            let mut parent: Option<ClassLayout> = None;
            for &k in chain.iter().rev() {
                let computed = match &layouts[k as usize] {
                    Some(l) => l.clone(),
                    None => {
                        let l = if self.classes[k as usize].super_id == 0 && parent.is_none() {
                            layout::layout_class(layout, None, &self.own_fields(k, layout))
                        } else {
                            layout::layout_class(
                                layout,
                                Some(parent.as_ref().unwrap_or(&root)),
                                &self.own_fields(k, layout),
                            )
                        };
                        layouts[k as usize] = Some(l.clone());
                        l
                    }
                };
                parent = Some(computed);
            }
            let own = self.own_fields(i, layout);
            let l = if c.super_id == 0 {
                layout::layout_class(layout, None, &own)
            } else {
                layout::layout_class(layout, Some(parent.as_ref().unwrap_or(&root)), &own)
            };
            layouts[i as usize] = Some(l);
        }
        let instance_bytes: Vec<u32> = layouts
            .iter()
            .map(|l| l.as_ref().map(|l| l.instance_bytes).unwrap_or(0))
            .collect();
        let class_instance = self
            .find_by_name("java.lang.Class")
            .map(|i| instance_bytes[i as usize])
            .filter(|&b| b > 0)
            .unwrap_or(layout.object_header_bytes);
        let mirror_bytes = self
            .classes
            .iter()
            .map(|c| {
                if !c.dumped {
                    return 0;
                }
                // Pseudo-statics such as `<resolved_references>` are the dumper's, not the class's.
                let statics: Vec<BasicType> = c
                    .statics
                    .iter()
                    .zip(&c.static_names)
                    .filter(|(_, name)| !name.starts_with('<'))
                    .map(|(s, _)| s.ty)
                    .collect();
                layout::mirror_bytes(layout, class_instance, &statics)
            })
            .collect();
        ClassSizes {
            instance_bytes,
            mirror_bytes,
            layouts,
        }
    }
}

/// The shape of an object, enough to compute its JVM size under any layout.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Instance(u32),
    ObjectArray(u32),
    PrimitiveArray(BasicType, u32),
}

/// Collects (object shape, distance to the next object's address) pairs to infer the layout.
pub(crate) struct LayoutSampler {
    previous: Option<(u64, Shape)>,
    samples: Vec<(Shape, u32)>,
    cap: usize,
}

impl LayoutSampler {
    pub(crate) fn new(cap: usize) -> Self {
        LayoutSampler {
            previous: None,
            samples: Vec::new(),
            cap,
        }
    }

    #[inline]
    pub(crate) fn observe(&mut self, id: u64, shape: Shape) {
        if self.samples.len() >= self.cap {
            return;
        }
        if let Some((prev_id, prev_shape)) = self.previous
            && id > prev_id
            && id - prev_id <= 1 << 20
        {
            self.samples.push((prev_shape, (id - prev_id) as u32));
        }
        self.previous = Some((id, shape));
    }

    /// Break the chain (a class dump or root between objects says nothing about spacing).
    #[inline]
    pub(crate) fn interrupt(&mut self) {
        self.previous = None;
    }

    /// The candidate under which most object sizes equal the gap to the next object.
    pub(crate) fn choose(&self, table: &ClassTable, id_size: u32, max_id: u64) -> LayoutChoice {
        let candidates = Layout::candidates(id_size);
        let mut best: Option<(usize, u64)> = None;
        for (k, candidate) in candidates.iter().enumerate() {
            let sizes = table.sizes(candidate);
            let score = self
                .samples
                .iter()
                .filter(|(shape, gap)| shape_bytes(candidate, &sizes, *shape) == *gap as u64)
                .count() as u64;
            if best.is_none_or(|(_, s)| score > s) {
                best = Some((k, score));
            }
        }
        match best {
            Some((k, score)) if score > 0 => LayoutChoice {
                layout: candidates[k],
                source: LayoutSource::Inferred,
                matched_gaps: score,
                sampled_gaps: self.samples.len() as u64,
            },
            _ => LayoutChoice {
                layout: if id_size == 4 {
                    Layout::BITS32
                } else if max_id >= 32 << 30 {
                    Layout::UNCOMPRESSED_OOPS
                } else {
                    Layout::COMPRESSED
                },
                source: LayoutSource::Default,
                matched_gaps: 0,
                sampled_gaps: self.samples.len() as u64,
            },
        }
    }
}

#[inline]
pub(crate) fn shape_bytes(layout: &Layout, sizes: &ClassSizes, shape: Shape) -> u64 {
    match shape {
        Shape::Instance(c) => sizes.instance_bytes[c as usize] as u64,
        Shape::ObjectArray(len) => layout.array_bytes(BasicType::Object, len),
        Shape::PrimitiveArray(t, len) => layout.array_bytes(t, len),
    }
}

/// Where the layout used for sizes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutSource {
    /// Object addresses in the dump agree with it.
    Inferred,
    /// Given by the caller.
    Override,
    /// Nothing in the dump decided it; a guess from identifier size and address range.
    Default,
}

/// The layout chosen for a dump and the evidence for it.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LayoutChoice {
    pub layout: Layout,
    pub source: LayoutSource,
    /// Address gaps between consecutive objects that equal the computed size of the first.
    pub matched_gaps: u64,
    /// Address gaps looked at.
    pub sampled_gaps: u64,
}

/// Exact total JVM bytes of a set of arrays from their count, summed lengths and lengths mod 16.
#[derive(Debug, Clone, Default)]
pub(crate) struct ArrayTally {
    pub(crate) count: u64,
    pub(crate) length_sum: u64,
    pub(crate) length_mod16: [u64; 16],
}

impl ArrayTally {
    #[inline]
    pub(crate) fn add(&mut self, length: u32) {
        self.count += 1;
        self.length_sum += length as u64;
        self.length_mod16[(length & 15) as usize] += 1;
    }

    /// Σ align(base + len·e, A) without visiting the arrays again: the padding of each array
    /// depends only on its length modulo 16 when A divides 16·e.
    pub(crate) fn bytes(&self, layout: &Layout, element: BasicType) -> u64 {
        let e = element.jvm_size(layout.reference_bytes) as u64;
        let base = layout.array_base(e as u32);
        let a = layout.alignment_bytes as u64;
        let mut total = self.count * base + self.length_sum * e;
        for (r, &n) in self.length_mod16.iter().enumerate() {
            if n > 0 {
                let end = base + r as u64 * e;
                total += n * ((a - end % a) % a);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_tally_matches_per_array_sum() {
        let lengths = [0u32, 1, 7, 8, 9, 15, 16, 17, 1000, 12345, 3];
        for layout in Layout::candidates(8)
            .iter()
            .chain(Layout::candidates(4).iter())
        {
            for t in BasicType::ALL {
                let mut tally = ArrayTally::default();
                let mut expected = 0;
                for &l in &lengths {
                    tally.add(l);
                    expected += layout.array_bytes(t, l);
                }
                assert_eq!(tally.bytes(layout, t), expected, "{layout:?} {t:?}");
            }
        }
    }
}
