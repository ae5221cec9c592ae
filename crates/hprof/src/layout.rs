//! How big objects are inside the JVM, as opposed to how many bytes they take in the dump.
//!
//! `GC.class_histogram` counts an object's real size: object header (12 bytes with compressed
//! class pointers, 16 without, 8 with compact headers), references of 4 bytes under compressed
//! oops (8 otherwise), fields packed by HotSpot's field layout algorithm, and the whole rounded to
//! the object alignment. An HPROF dump records none of this: it writes every reference as a full
//! identifier and fields back to back. This module re-creates the layout: it replays HotSpot's
//! field layout (JDK 15 and later, `FieldLayoutBuilder`: largest primitives first into the smallest
//! hole that fits, then references, sub-classes filling holes their super-classes left, `@Contended`
//! padding for the JDK classes that use it, the fields the VM injects), and picks the header, oop
//! and alignment parameters that make computed sizes agree with the spacing of object addresses in
//! the dump (HotSpot uses addresses as identifiers and dumps each heap region in address order).

use serde::Serialize;

use crate::types::BasicType;

/// Parameters of the JVM's object layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Layout {
    /// Machine word: 8 on 64-bit JVMs, 4 on 32-bit ones.
    pub word_bytes: u32,
    /// Bytes of an object header before the first field (mark word + class pointer).
    pub object_header_bytes: u32,
    /// Bytes of a reference field or array element (4 with compressed oops).
    pub reference_bytes: u32,
    /// Array elements start at a word boundary (HotSpot up to JDK 21); otherwise only at the
    /// element size (JDK 22 and later).
    pub array_base_word_aligned: bool,
    /// Every object's size is a multiple of this (`-XX:ObjectAlignmentInBytes`, default 8).
    pub alignment_bytes: u32,
}

/// Padding HotSpot puts around `@Contended` fields (`-XX:ContendedPaddingWidth`).
const CONTENDED_PADDING: u32 = 128;

#[inline]
pub(crate) fn align_up(value: u64, to: u64) -> u64 {
    value.div_ceil(to) * to
}

impl Layout {
    /// 64-bit HotSpot with compressed oops and compressed class pointers: heaps under 32 GB.
    pub const COMPRESSED: Layout = Layout {
        word_bytes: 8,
        object_header_bytes: 12,
        reference_bytes: 4,
        array_base_word_aligned: true,
        alignment_bytes: 8,
    };
    /// 64-bit HotSpot without compressed oops but with compressed class pointers (JDK 15+,
    /// `-XX:-UseCompressedOops` or heaps of 32 GB and more).
    pub const UNCOMPRESSED_OOPS: Layout = Layout {
        reference_bytes: 8,
        ..Layout::COMPRESSED
    };
    /// 64-bit HotSpot with neither (JDK 8–14 without compressed oops).
    pub const UNCOMPRESSED: Layout = Layout {
        object_header_bytes: 16,
        reference_bytes: 8,
        ..Layout::COMPRESSED
    };
    /// 32-bit HotSpot.
    pub const BITS32: Layout = Layout {
        word_bytes: 4,
        object_header_bytes: 8,
        reference_bytes: 4,
        array_base_word_aligned: true,
        alignment_bytes: 8,
    };

    /// The layouts worth trying for a dump with identifiers of `id_size` bytes.
    pub fn candidates(id_size: u32) -> Vec<Layout> {
        if id_size == 4 {
            return vec![Layout::BITS32];
        }
        let mut out = Vec::new();
        for alignment_bytes in [8, 16] {
            for (object_header_bytes, reference_bytes, array_base_word_aligned) in [
                (12, 4, true),
                (12, 8, true),
                (16, 8, true),
                (16, 8, false),
                (16, 4, true),
                (16, 4, false),
                (8, 4, false),
                (8, 8, false),
            ] {
                out.push(Layout {
                    word_bytes: 8,
                    object_header_bytes,
                    reference_bytes,
                    array_base_word_aligned,
                    alignment_bytes,
                });
            }
        }
        out
    }

    /// One line for humans.
    pub fn describe(&self) -> String {
        let header = match self.object_header_bytes {
            8 if self.word_bytes == 8 => "compact object headers (8 bytes)".to_string(),
            12 => "compressed class pointers (12-byte header)".to_string(),
            n => format!("{n}-byte object header"),
        };
        let oops = if self.reference_bytes == 4 && self.word_bytes == 8 {
            "compressed oops (4-byte references)"
        } else if self.word_bytes == 4 {
            "32-bit JVM (4-byte references)"
        } else {
            "uncompressed oops (8-byte references)"
        };
        format!("{oops}, {header}, {}-byte alignment", self.alignment_bytes)
    }

    /// Offset of the first element of an array of `element_bytes`-sized elements.
    #[inline]
    pub fn array_base(&self, element_bytes: u32) -> u64 {
        let length_end = (self.object_header_bytes + 4) as u64;
        if self.array_base_word_aligned {
            let base = align_up(length_end, self.word_bytes as u64);
            // On 32-bit JVMs 8-byte elements still start 8-aligned.
            if element_bytes == 8 {
                align_up(base, 8)
            } else {
                base
            }
        } else {
            align_up(length_end, element_bytes.max(1) as u64)
        }
    }

    /// JVM size of an array.
    #[inline]
    pub fn array_bytes(&self, element: BasicType, length: u32) -> u64 {
        let element_bytes = element.jvm_size(self.reference_bytes);
        align_up(
            self.array_base(element_bytes) + length as u64 * element_bytes as u64,
            self.alignment_bytes as u64,
        )
    }

    /// Round an object end offset to a whole object size.
    #[inline]
    pub fn object_bytes(&self, end_offset: u64) -> u64 {
        align_up(
            align_up(end_offset, self.word_bytes as u64),
            self.alignment_bytes as u64,
        )
    }
}

/// One instance field as the layout algorithm sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSpec {
    pub ty: BasicType,
    /// `@Contended` group: `None` for ordinary fields.
    pub contended_group: Option<&'static str>,
}

/// A class's fields as the layout algorithm needs them.
#[derive(Debug, Clone, Default)]
pub struct ClassFields {
    /// Own non-static fields (declared and injected).
    pub fields: Vec<FieldSpec>,
    /// The class itself carries `@Contended`.
    pub contended_class: bool,
}

/// Result of laying out one class.
#[derive(Debug, Clone, Default)]
pub struct ClassLayout {
    /// (offset, size) of every instance field, inherited ones included, sorted by offset.
    pub fields: Vec<(u32, u32)>,
    /// Offset just past the last field or padding.
    pub end: u32,
    /// The class has `@Contended` annotations (changes how sub-classes are laid out).
    pub has_contended: bool,
    /// JVM size of an instance.
    pub instance_bytes: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Empty,
    Reserved,
    Field,
    Padding,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    offset: u32,
    size: u32,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    /// Allocation may not go before the last (open-ended) block.
    Last,
    /// Allocation may use holes after this block.
    After(usize),
}

/// HotSpot's `FieldLayout`: a list of blocks, the last one an open-ended empty block.
struct Blocks {
    blocks: Vec<Block>,
    start: Start,
}

impl Blocks {
    fn last(&self) -> usize {
        self.blocks.len() - 1
    }

    fn fits(block: &Block, size: u32, alignment: u32) -> bool {
        let adjustment = if block.offset % alignment != 0 {
            alignment - block.offset % alignment
        } else {
            0
        };
        block.size as u64 >= size as u64 + adjustment as u64
    }

    /// Put a block of `size` at the start of empty block `slot` (which shrinks).
    fn insert(&mut self, slot: usize, size: u32, kind: Kind) -> usize {
        let offset = self.blocks[slot].offset;
        self.blocks[slot].offset += size;
        self.blocks[slot].size -= size;
        self.blocks.insert(slot, Block { offset, size, kind });
        slot
    }

    /// `FieldLayout::insert_field_block`: align inside `slot`, then insert; drop emptied slots.
    fn insert_field(&mut self, mut slot: usize, size: u32, alignment: u32) {
        let offset = self.blocks[slot].offset;
        if offset % alignment != 0 {
            let adjustment = alignment - offset % alignment;
            self.insert(slot, adjustment, Kind::Empty);
            slot += 1;
        }
        self.insert(slot, size, Kind::Field);
        slot += 1;
        if self.blocks[slot].size == 0 && slot != self.last() {
            self.blocks.remove(slot);
        }
    }

    /// `FieldLayout::add`: best fit (smallest empty block after `start`), else append.
    fn add(&mut self, fields: &[(u32, u32)], start: Start) {
        let mut last_search_success = false;
        let mut last_size = 0;
        let mut last_alignment = 0;
        for &(size, alignment) in fields {
            let candidate = match start {
                Start::Last => self.last(),
                Start::After(_)
                    if size == last_size && alignment == last_alignment && !last_search_success =>
                {
                    self.last()
                }
                Start::After(start) => {
                    last_size = size;
                    last_alignment = alignment;
                    last_search_success = true;
                    let mut candidate: Option<usize> = None;
                    let mut cursor = self.last() - 1;
                    while cursor != start && cursor > 0 {
                        let b = &self.blocks[cursor];
                        if b.kind == Kind::Empty
                            && Self::fits(b, size, alignment)
                            && candidate.is_none_or(|c| b.size < self.blocks[c].size)
                        {
                            candidate = Some(cursor);
                        }
                        cursor -= 1;
                    }
                    match candidate {
                        Some(c) => c,
                        None => {
                            last_search_success = false;
                            self.last()
                        }
                    }
                }
            };
            self.insert_field(candidate, size, alignment);
        }
    }

    fn pad_before_last(&mut self) {
        let last = self.last();
        self.insert(last, CONTENDED_PADDING, Kind::Padding);
    }

    fn end(&self) -> u32 {
        self.blocks[self.last()].offset
    }
}

/// Lay out a class given its super-class's layout (`None` for `java.lang.Object`).
pub fn layout_class(
    layout: &Layout,
    parent: Option<&ClassLayout>,
    own: &ClassFields,
) -> ClassLayout {
    let header = layout.object_header_bytes;
    let mut blocks = match parent {
        None => Blocks {
            blocks: vec![
                Block {
                    offset: 0,
                    size: header,
                    kind: Kind::Reserved,
                },
                Block {
                    offset: header,
                    size: u32::MAX - header,
                    kind: Kind::Empty,
                },
            ],
            start: Start::Last,
        },
        Some(parent) => {
            let hole = if parent.has_contended {
                Kind::Padding
            } else {
                Kind::Empty
            };
            let mut list = vec![Block {
                offset: 0,
                size: header,
                kind: Kind::Reserved,
            }];
            for &(offset, size) in &parent.fields {
                let prev = list.last().expect("list starts with the header");
                let prev_end = prev.offset + prev.size;
                if offset > prev_end {
                    list.push(Block {
                        offset: prev_end,
                        size: offset - prev_end,
                        kind: hole,
                    });
                }
                list.push(Block {
                    offset,
                    size,
                    kind: Kind::Field,
                });
            }
            let mut end = {
                let prev = list.last().expect("non-empty");
                prev.offset + prev.size
            };
            if parent.has_contended {
                list.push(Block {
                    offset: end,
                    size: CONTENDED_PADDING,
                    kind: Kind::Padding,
                });
                end += CONTENDED_PADDING;
            }
            list.push(Block {
                offset: end,
                size: u32::MAX - end,
                kind: Kind::Empty,
            });
            let has_fields = !parent.fields.is_empty();
            let start = if !parent.has_contended || !has_fields {
                Start::After(0)
            } else {
                Start::Last
            };
            Blocks {
                blocks: list,
                start,
            }
        }
    };

    let spec = |f: &FieldSpec| {
        let size = f.ty.jvm_size(layout.reference_bytes);
        (size, size)
    };
    let mut primitives: Vec<(u32, u32)> = own
        .fields
        .iter()
        .filter(|f| f.contended_group.is_none() && f.ty != BasicType::Object)
        .map(spec)
        .collect();
    primitives.sort_by_key(|p| std::cmp::Reverse(p.0));
    let oops: Vec<(u32, u32)> = own
        .fields
        .iter()
        .filter(|f| f.contended_group.is_none() && f.ty == BasicType::Object)
        .map(spec)
        .collect();

    let mut need_tail_padding = false;
    if own.contended_class {
        blocks.start = Start::Last;
        blocks.pad_before_last();
        need_tail_padding = true;
    }
    let start = blocks.start;
    blocks.add(&primitives, start);
    blocks.add(&oops, start);

    let mut groups: Vec<&'static str> = Vec::new();
    for f in &own.fields {
        if let Some(g) = f.contended_group
            && !groups.contains(&g)
        {
            groups.push(g);
        }
    }
    for g in &groups {
        blocks.pad_before_last();
        let mut group_primitives: Vec<(u32, u32)> = own
            .fields
            .iter()
            .filter(|f| f.contended_group == Some(g) && f.ty != BasicType::Object)
            .map(spec)
            .collect();
        group_primitives.sort_by_key(|p| std::cmp::Reverse(p.0));
        let group_oops: Vec<(u32, u32)> = own
            .fields
            .iter()
            .filter(|f| f.contended_group == Some(g) && f.ty == BasicType::Object)
            .map(spec)
            .collect();
        blocks.add(&group_primitives, Start::Last);
        blocks.add(&group_oops, Start::Last);
        need_tail_padding = true;
    }
    if need_tail_padding {
        blocks.pad_before_last();
    }

    let end = blocks.end();
    let fields: Vec<(u32, u32)> = blocks
        .blocks
        .iter()
        .filter(|b| b.kind == Kind::Field)
        .map(|b| (b.offset, b.size))
        .collect();
    ClassLayout {
        instance_bytes: u32::try_from(layout.object_bytes(end as u64)).unwrap_or(u32::MAX),
        fields,
        end,
        has_contended: own.contended_class || !groups.is_empty(),
    }
}

/// Bytes of a `java.lang.Class` instance holding a class's static fields: the mirror.
/// `class_instance_bytes` is the size of a plain `java.lang.Class` instance.
pub fn mirror_bytes(layout: &Layout, class_instance_bytes: u32, statics: &[BasicType]) -> u64 {
    // HotSpot lays static fields after the java.lang.Class fields: references contiguously
    // first, then primitives from the largest, each appended with its alignment.
    let mut offset = class_instance_bytes as u64;
    for ty in statics.iter().filter(|t| **t == BasicType::Object) {
        let size = ty.jvm_size(layout.reference_bytes) as u64;
        offset = align_up(offset, size) + size;
    }
    let mut primitives: Vec<u64> = statics
        .iter()
        .filter(|t| **t != BasicType::Object)
        .map(|t| t.jvm_size(layout.reference_bytes) as u64)
        .collect();
    primitives.sort_by(|a, b| b.cmp(a));
    for size in primitives {
        offset = align_up(offset, size) + size;
    }
    layout.object_bytes(offset)
}

/// Fields HotSpot injects into JDK classes: in the object, not in the dump's field list.
/// `intptr_t` fields are `long` on 64-bit JVMs and `int` on 32-bit ones.
pub(crate) fn injected_fields(
    class_name: &str,
    word_bytes: u32,
) -> &'static [(&'static str, BasicType)] {
    use BasicType::*;
    let wide = word_bytes == 8;
    match class_name {
        "java.lang.String" => &[("flags", Byte)],
        "java.lang.Class" if wide => &[
            ("klass", Long),
            ("array_klass", Long),
            ("oop_size", Int),
            ("static_oop_field_count", Int),
            ("protection_domain", Object),
            ("signers", Object),
            ("source_file", Object),
        ],
        "java.lang.Class" => &[
            ("klass", Int),
            ("array_klass", Int),
            ("oop_size", Int),
            ("static_oop_field_count", Int),
            ("protection_domain", Object),
            ("signers", Object),
            ("source_file", Object),
        ],
        "java.lang.ClassLoader" if wide => &[("loader_data", Long)],
        "java.lang.ClassLoader" => &[("loader_data", Int)],
        "java.lang.invoke.ResolvedMethodName" if wide => {
            &[("vmholder", Object), ("vmtarget", Long)]
        }
        "java.lang.invoke.ResolvedMethodName" => &[("vmholder", Object), ("vmtarget", Int)],
        "java.lang.invoke.MemberName" if wide => &[("vmindex", Long)],
        "java.lang.invoke.MemberName" => &[("vmindex", Int)],
        "java.lang.invoke.MethodHandleNatives$CallSiteContext" if wide => {
            &[("vmdependencies", Long), ("last_cleanup", Long)]
        }
        "java.lang.invoke.MethodHandleNatives$CallSiteContext" => {
            &[("vmdependencies", Int), ("last_cleanup", Long)]
        }
        "java.lang.StackFrameInfo" => &[("version", Short)],
        "java.lang.Module" if wide => &[("module_entry", Long)],
        "java.lang.Module" => &[("module_entry", Int)],
        "java.lang.InternalError" => &[("during_unsafe_access", Boolean)],
        _ => &[],
    }
}

/// `@Contended` in the JDK: (class, class-level annotation, [(field, group)]).
pub(crate) fn contended(class_name: &str) -> (bool, &'static [(&'static str, &'static str)]) {
    match class_name {
        "java.lang.Thread" => (
            false,
            &[
                ("threadLocalRandomSeed", "tlr"),
                ("threadLocalRandomProbe", "tlr"),
                ("threadLocalRandomSecondarySeed", "tlr"),
            ],
        ),
        "java.util.concurrent.ConcurrentHashMap$CounterCell"
        | "java.util.concurrent.atomic.Striped64$Cell"
        | "java.util.concurrent.Exchanger$Node" => (true, &[]),
        "java.util.concurrent.SubmissionPublisher$BufferedSubscription" => {
            (true, &[("demand", "c"), ("waiting", "c")])
        }
        "java.util.concurrent.ForkJoinPool" => (false, &[("ctl", "fjpctl")]),
        "java.util.concurrent.ForkJoinPool$WorkQueue" => {
            (false, &[("top", "w"), ("source", "w"), ("nsteals", "w")])
        }
        _ => (false, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use BasicType::*;

    fn fields(types: &[BasicType]) -> ClassFields {
        ClassFields {
            fields: types
                .iter()
                .map(|&ty| FieldSpec {
                    ty,
                    contended_group: None,
                })
                .collect(),
            contended_class: false,
        }
    }

    fn object(layout: &Layout) -> ClassLayout {
        layout_class(layout, None, &ClassFields::default())
    }

    #[test]
    fn hashmap_node_is_32_bytes_compressed_and_40_without_compressed_oops() {
        // HashMap$Node: int hash; K key; V value; Node next.
        let node = fields(&[Int, Object, Object, Object]);
        let c = Layout::COMPRESSED;
        assert_eq!(
            layout_class(&c, Some(&object(&c)), &node).instance_bytes,
            32
        );
        let u = Layout::UNCOMPRESSED_OOPS;
        assert_eq!(
            layout_class(&u, Some(&object(&u)), &node).instance_bytes,
            40
        );
        let old = Layout::UNCOMPRESSED;
        assert_eq!(
            layout_class(&old, Some(&object(&old)), &node).instance_bytes,
            48
        );
    }

    #[test]
    fn plain_object_is_16_bytes() {
        assert_eq!(object(&Layout::COMPRESSED).instance_bytes, 16);
        assert_eq!(object(&Layout::UNCOMPRESSED).instance_bytes, 16);
    }

    #[test]
    fn long_field_leaves_a_hole_that_an_int_fills() {
        let c = Layout::COMPRESSED;
        // long at 16 (header 12 is not 8-aligned); the int goes into the 12..16 hole.
        let l = layout_class(&c, Some(&object(&c)), &fields(&[Long, Int]));
        assert_eq!(l.fields, vec![(12, 4), (16, 8)]);
        assert_eq!(l.instance_bytes, 24);
    }

    #[test]
    fn subclass_fields_fill_super_class_holes() {
        let c = Layout::COMPRESSED;
        let base = layout_class(&c, Some(&object(&c)), &fields(&[Long]));
        assert_eq!(base.fields, vec![(16, 8)]);
        let sub = layout_class(&c, Some(&base), &fields(&[Int, Byte]));
        // The int takes the 12..16 hole, the byte goes after the long.
        assert_eq!(sub.fields, vec![(12, 4), (16, 8), (24, 1)]);
        assert_eq!(sub.instance_bytes, 32);
    }

    #[test]
    fn arrays() {
        let c = Layout::COMPRESSED;
        assert_eq!(c.array_bytes(Byte, 1000), 1016);
        assert_eq!(c.array_bytes(Byte, 0), 16);
        assert_eq!(c.array_bytes(Object, 3), 32);
        assert_eq!(c.array_bytes(Long, 1), 24);
        let u = Layout::UNCOMPRESSED_OOPS;
        assert_eq!(u.array_bytes(Object, 3), 40);
        let old = Layout::UNCOMPRESSED;
        assert_eq!(old.array_bytes(Byte, 1), 32);
        let new_unaligned = Layout {
            array_base_word_aligned: false,
            ..old
        };
        assert_eq!(new_unaligned.array_bytes(Byte, 1), 24);
        assert_eq!(new_unaligned.array_bytes(Long, 1), 32);
        let b32 = Layout::BITS32;
        assert_eq!(b32.array_bytes(Byte, 1), 16);
        assert_eq!(b32.array_bytes(Long, 1), 24);
    }

    #[test]
    fn contended_class_is_padded_on_both_sides() {
        let c = Layout::COMPRESSED;
        let cell = ClassFields {
            fields: vec![FieldSpec {
                ty: Long,
                contended_group: None,
            }],
            contended_class: true,
        };
        let l = layout_class(&c, Some(&object(&c)), &cell);
        // header 12, padding 128 -> 140, long aligned to 144..152, tail padding 128 -> 280.
        assert_eq!(l.instance_bytes, 280);
    }

    #[test]
    fn mirror_holds_statics_after_class_fields() {
        let c = Layout::COMPRESSED;
        assert_eq!(mirror_bytes(&c, 96, &[]), 96);
        assert_eq!(mirror_bytes(&c, 96, &[Object]), 104);
        // Statics are appended in order (references, then largest first): no hole filling.
        assert_eq!(mirror_bytes(&c, 96, &[Object, Long, Int]), 120);
    }
}
