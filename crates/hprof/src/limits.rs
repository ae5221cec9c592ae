//! Bounds on what a dump may make the parser allocate.

/// Caps on allocations whose size comes from the dump. The defaults accept any heap dump a
/// HotSpot JVM writes (up to billions of objects) while refusing lengths that could only come from
/// a corrupt or hostile file.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Total bytes of UTF8 (symbol) records kept for names.
    pub max_utf8_bytes: u64,
    /// Largest single piece the parser holds contiguously in memory: a UTF8 record, a stack
    /// trace, the field data of one instance. Arrays are streamed in chunks and never held whole.
    pub max_contiguous_bytes: usize,
    /// Objects (instances, arrays and classes) the graph may hold; ordinals are `u32`.
    pub max_objects: u64,
    /// Class dumps kept.
    pub max_classes: usize,
    /// Frames kept per stack trace.
    pub max_frames_per_trace: usize,
    /// Warnings kept verbatim; later ones are only counted.
    pub max_warnings: usize,
    /// Bytes of a string's content kept for display in the duplicate-strings report.
    pub max_string_preview_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_utf8_bytes: 2 << 30,
            max_contiguous_bytes: 64 << 20,
            max_objects: u32::MAX as u64 - 16,
            max_classes: 4_000_000,
            max_frames_per_trace: 65_536,
            max_warnings: 100,
            max_string_preview_bytes: 120,
        }
    }
}
