//! The shallow pass: one streaming read that counts instances and JVM bytes per class. No object
//! graph, no per-object memory: what it holds grows with the number of classes only.

use serde::Serialize;

use crate::classes::{ArrayTally, ClassTable, LayoutChoice, LayoutSampler, LayoutSource, Shape};
use crate::error::Result;
use crate::layout::Layout;
use crate::limits::Limits;
use crate::parser::{self, ClassDump, GcRoot, Header, LoadClass, ParseSummary, Visitor};
use crate::source::ByteStream;
use crate::types::{BasicType, RootKind};

/// One row of a class histogram.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistogramEntry {
    /// Class name in Java source form (`byte[]`, `java.util.HashMap$Node`).
    pub class: String,
    pub instances: u64,
    /// Sum of the JVM sizes of the instances.
    pub shallow_bytes: u64,
}

/// Counts of GC roots by kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RootCounts {
    /// (kind, count) for the kinds present.
    pub by_kind: Vec<(&'static str, u64)>,
    pub total: u64,
}

impl RootCounts {
    pub(crate) fn from_array(counts: &[u64; 10]) -> Self {
        let by_kind: Vec<(&'static str, u64)> = RootKind::ALL
            .iter()
            .filter(|k| counts[k.index()] > 0)
            .map(|k| (k.name(), counts[k.index()]))
            .collect();
        RootCounts {
            total: counts.iter().sum(),
            by_kind,
        }
    }
}

/// The result of the shallow pass.
#[derive(Debug, Clone, Serialize)]
pub struct Histogram {
    /// Rows sorted by shallow bytes, largest first; classes of the same name are merged.
    pub entries: Vec<HistogramEntry>,
    pub total_instances: u64,
    pub total_shallow_bytes: u64,
    /// Classes defined in the dump (class dumps).
    pub classes: u64,
    pub gc_roots: RootCounts,
    pub layout: LayoutChoice,
    pub parse: ParseSummary,
}

/// What the histogram and graph passes both gather from the records.
pub(crate) struct Common {
    pub(crate) classes: ClassTable,
    pub(crate) sampler: LayoutSampler,
    pub(crate) roots: [u64; 10],
    pub(crate) id_size: u32,
    pub(crate) max_id: u64,
    last_class: (u64, u32),
}

impl Common {
    pub(crate) fn new(limits: &Limits) -> Self {
        Common {
            classes: ClassTable::new(limits.max_utf8_bytes, limits.max_classes),
            sampler: LayoutSampler::new(200_000),
            roots: [0; 10],
            id_size: 8,
            max_id: 0,
            last_class: (u64::MAX, 0),
        }
    }

    #[inline]
    pub(crate) fn class_index(&mut self, class_id: u64) -> u32 {
        if self.last_class.0 == class_id {
            return self.last_class.1;
        }
        let i = self.classes.class_index(class_id);
        self.last_class = (class_id, i);
        i
    }

    #[inline]
    pub(crate) fn saw_object(&mut self, id: u64, shape: Shape) {
        if id > self.max_id {
            self.max_id = id;
        }
        self.sampler.observe(id, shape);
    }

    pub(crate) fn header(&mut self, header: &Header) {
        self.id_size = header.id_size;
        self.classes.id_size = header.id_size;
    }

    pub(crate) fn load_class(&mut self, record: &LoadClass) {
        self.classes
            .load_class(record.serial, record.class_id, record.name_id);
    }

    pub(crate) fn class_dump(&mut self, class: &ClassDump) -> Option<u32> {
        self.sampler.interrupt();
        self.classes.class_dump(class)
    }

    pub(crate) fn gc_root(&mut self, root: &GcRoot) {
        self.roots[root.kind.index()] += 1;
    }

    /// Resolve names and settle the layout.
    pub(crate) fn finish(&mut self, layout_override: Option<Layout>) -> LayoutChoice {
        self.classes.finish();
        match layout_override {
            Some(layout) => LayoutChoice {
                layout,
                source: LayoutSource::Override,
                matched_gaps: 0,
                sampled_gaps: 0,
            },
            None => self
                .sampler
                .choose(&self.classes, self.id_size, self.max_id),
        }
    }
}

struct Counter {
    common: Common,
    instances: Vec<u64>,
    arrays: Vec<ArrayTally>,
}

impl Counter {
    #[inline]
    fn grow(&mut self, class: u32) {
        let n = class as usize + 1;
        if self.instances.len() < n {
            self.instances.resize(n.max(self.instances.len() * 2), 0);
        }
    }

    #[inline]
    fn grow_arrays(&mut self, class: u32) {
        let n = class as usize + 1;
        if self.arrays.len() < n {
            self.arrays
                .resize(n.max(self.arrays.len() * 2), ArrayTally::default());
        }
    }
}

impl Visitor for Counter {
    fn header(&mut self, header: &Header) {
        self.common.header(header);
    }

    fn utf8(&mut self, id: u64, text: &[u8]) {
        self.common.classes.utf8.insert(id, text);
    }

    fn load_class(&mut self, record: &LoadClass) {
        self.common.load_class(record);
    }

    fn gc_root(&mut self, root: &GcRoot) {
        self.common.gc_root(root);
    }

    fn class_dump(&mut self, _offset: u64, class: &ClassDump) {
        self.common.class_dump(class);
    }

    #[inline]
    fn instance(&mut self, _offset: u64, id: u64, class_id: u64, _fields: &[u8]) {
        let class = self.common.class_index(class_id);
        self.common.saw_object(id, Shape::Instance(class));
        self.grow(class);
        self.instances[class as usize] += 1;
    }

    #[inline]
    fn object_array(&mut self, _offset: u64, id: u64, class_id: u64, length: u32) -> bool {
        let class = self.common.class_index(class_id);
        self.common.saw_object(id, Shape::ObjectArray(length));
        self.grow_arrays(class);
        self.arrays[class as usize].add(length);
        false
    }

    #[inline]
    fn primitive_array(&mut self, _offset: u64, id: u64, element: BasicType, length: u32) -> bool {
        self.common
            .saw_object(id, Shape::PrimitiveArray(element, length));
        let class = ClassTable::primitive_array_class(element);
        self.grow_arrays(class);
        self.arrays[class as usize].add(length);
        false
    }
}

/// Options of the shallow pass.
#[derive(Debug, Clone, Default)]
pub struct HistogramOptions {
    /// Use this layout instead of inferring one.
    pub layout: Option<Layout>,
    pub limits: Limits,
}

/// Read a dump once and build its class histogram.
pub fn histogram<R: ByteStream>(stream: R, options: &HistogramOptions) -> Result<Histogram> {
    let mut counter = Counter {
        common: Common::new(&options.limits),
        instances: Vec::new(),
        arrays: Vec::new(),
    };
    let parse = parser::parse(stream, &options.limits, &mut counter)?;
    let choice = counter.common.finish(options.layout);
    let layout = choice.layout;
    let table = &counter.common.classes;
    let sizes = table.sizes(&layout);
    let mut rows: Vec<HistogramEntry> = Vec::new();
    for (i, &n) in counter.instances.iter().enumerate() {
        if n > 0 {
            rows.push(HistogramEntry {
                class: table.classes[i].name.clone(),
                instances: n,
                shallow_bytes: n * sizes.instance_bytes[i] as u64,
            });
        }
    }
    for (i, tally) in counter.arrays.iter().enumerate() {
        if tally.count > 0 {
            let element = table.classes[i].array_element.unwrap_or(BasicType::Object);
            rows.push(HistogramEntry {
                class: table.classes[i].name.clone(),
                instances: tally.count,
                shallow_bytes: tally.bytes(&layout, element),
            });
        }
    }
    // Every loaded class is a java.lang.Class instance (its mirror) that the dump stores as a
    // class dump rather than an instance.
    let mirrors: u64 = table.classes.iter().filter(|c| c.dumped).count() as u64;
    if mirrors > 0 {
        rows.push(HistogramEntry {
            class: "java.lang.Class".into(),
            instances: mirrors,
            shallow_bytes: sizes.mirror_bytes.iter().sum(),
        });
    }
    let entries = merge_by_name(rows);
    Ok(Histogram {
        total_instances: entries.iter().map(|e| e.instances).sum(),
        total_shallow_bytes: entries.iter().map(|e| e.shallow_bytes).sum(),
        entries,
        classes: table.dumped_classes,
        gc_roots: RootCounts::from_array(&counter.common.roots),
        layout: choice,
        parse,
    })
}

/// Open `path` (plain, gzip, zstd or a pipe) and build its class histogram in one streaming pass.
pub fn histogram_of_path(path: &std::path::Path, options: &HistogramOptions) -> Result<Histogram> {
    let opened = crate::source::open_stream(path).map_err(|e| crate::HprofError::Io {
        offset: 0,
        source: e,
    })?;
    histogram(opened.stream, options)
}

/// Merge rows of equal class name (same name, several class loaders) and sort by bytes.
pub(crate) fn merge_by_name(rows: Vec<HistogramEntry>) -> Vec<HistogramEntry> {
    let mut by_name: std::collections::HashMap<String, HistogramEntry> =
        std::collections::HashMap::new();
    for row in rows {
        by_name
            .entry(row.class.clone())
            .and_modify(|e| {
                e.instances += row.instances;
                e.shallow_bytes += row.shallow_bytes;
            })
            .or_insert(row);
    }
    let mut entries: Vec<HistogramEntry> = by_name.into_values().collect();
    entries.sort_by(|a, b| {
        b.shallow_bytes
            .cmp(&a.shallow_bytes)
            .then(b.instances.cmp(&a.instances))
            .then(a.class.cmp(&b.class))
    });
    entries
}
