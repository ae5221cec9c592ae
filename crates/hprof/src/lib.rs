//! Reads Java heap dumps (HPROF 1.0.1/1.0.2/1.0.3, 4- or 8-byte identifiers) and answers what
//! holds the memory: a class histogram whose sizes match the JVM's own `GC.class_histogram`, the
//! dominator tree with retained sizes, shortest paths from GC roots, duplicate strings, threads with
//! their stacks, and a pprof profile of retained bytes by ownership.
//!
//! It is for post-mortem analysis of a dump file or stream; it does not talk to JVMs (that is the
//! `hotspot` crate) and knows nothing of the command line or bundles.
//!
//! Written by hand rather than on an existing HPROF crate for speed and memory: the dump is read
//! once as a stream (plain, gzip, zstd or a pipe) into dense arrays indexed by object ordinal
//! (about 50 bytes per object and 4 per reference at peak, instead of a hash map per object), and
//! sizes are computed with HotSpot's real field layout, which no existing crate reproduces.
//!
//! # Memory
//!
//! The shallow pass ([`histogram`]) holds per-class counters only: its memory does not grow with
//! the dump. The graph pass ([`build_graph`]) keeps, per object: id 8 bytes, class and kind 4,
//! array length 4, record offset 8, reference-table start 8 (32 bytes), plus 4 bytes per
//! reference; while building it also holds each reference's 8-byte target id until ids are
//! resolved through a sorted id table (12 bytes per object) with a bucket directory (about 2). The
//! dominator pass adds 8 bytes per reference and 28 bytes per node while it runs and keeps 20
//! (preorder, vertex, idom, retained). Peak is therefore about 70 bytes per object plus 12 per
//! reference, whatever the size of the objects themselves.
//!
//! # Dumps larger than memory
//!
//! With [`GraphOptions::spill_dir`] every one of those tables is a [`column::Column`] backed by an
//! unlinked temporary file mapped into memory: the kernel pages cold parts out to that file instead
//! of the process running out of memory. The dump itself is never held in memory: it is read as a
//! stream and re-read with `pread` for the few objects a report shows.

pub mod analysis;
pub mod classes;
pub mod column;
pub mod dominators;
pub mod error;
pub mod graph;
pub mod histogram;
pub mod layout;
pub mod limits;
pub mod parser;
pub mod pprof;
pub mod source;
pub mod types;

pub use analysis::{HeapReport, ReportOptions, report};
pub use classes::{ClassInfo, ClassTable, LayoutChoice, LayoutSource};
pub use dominators::Dominators;
pub use error::{HprofError, Result, Warning, Warnings};
pub use graph::{GraphOptions, HeapGraph, NodeKind, build_graph, load_graph};
pub use histogram::{
    Histogram, HistogramEntry, HistogramOptions, RootCounts, histogram, histogram_of_path,
};
pub use layout::Layout;
pub use limits::Limits;
pub use parser::{Header, ParseSummary, Visitor, parse};
pub use pprof::{PprofOptions, write_pprof};
pub use source::{
    ByteStream, Compression, OpenedDump, RandomAccess, detect_compression, open_stream,
};
pub use types::{BasicType, RootKind, java_class_name};

/// Run every pass over `bytes` and discard the results: the entry point of the fuzz target and
/// of the bounded mutation test. Errors are expected; panics and unbounded allocations are bugs.
pub fn fuzz_entry(bytes: &[u8]) {
    let limits = Limits {
        max_contiguous_bytes: 1 << 20,
        max_utf8_bytes: 1 << 20,
        ..Limits::default()
    };
    let _ = histogram(
        bytes,
        &HistogramOptions {
            layout: None,
            limits: limits.clone(),
        },
    );
    if let Ok(graph) = build_graph(
        bytes,
        None,
        &GraphOptions {
            limits,
            ..Default::default()
        },
    ) && let Ok(doms) = Dominators::compute(&graph)
    {
        let _ = report(&graph, &doms, &ReportOptions::default());
        let _ = pprof::encode_profile(&graph, &doms, &Default::default());
    }
}
