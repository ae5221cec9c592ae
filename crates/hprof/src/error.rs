//! What can go wrong while reading a heap dump, and the warnings a best-effort parse collects.

use serde::Serialize;

/// A failure that stops the analysis. Every variant says where in the (decompressed) dump it
/// happened, so a corrupt dump can be inspected with `xxd -s OFFSET`.
#[derive(Debug, thiserror::Error)]
pub enum HprofError {
    /// The underlying file, pipe or decompressor failed.
    #[error("reading the heap dump failed at byte {offset}: {source}")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
    /// The first bytes are not an HPROF header.
    #[error("not an HPROF heap dump: {reason} (at byte {offset}); expected 'JAVA PROFILE 1.0.x'")]
    BadHeader { offset: u64, reason: String },
    /// Identifiers must be 4 or 8 bytes wide.
    #[error(
        "unsupported identifier size {size} at byte {offset}: HPROF dumps use 4 or 8; the file is corrupt or not a heap dump"
    )]
    BadIdentifierSize { offset: u64, size: u32 },
    /// A record whose content contradicts the format and cannot be skipped safely.
    #[error("malformed {record} record at byte {offset}: {what}")]
    Malformed {
        offset: u64,
        record: &'static str,
        what: String,
    },
    /// A length or count from the dump is larger than the configured [`crate::Limits`].
    #[error(
        "{what} at byte {offset} is {value}, above the limit of {limit}; if the dump is genuine raise Limits::{field}"
    )]
    LimitExceeded {
        offset: u64,
        what: &'static str,
        value: u64,
        limit: u64,
        field: &'static str,
    },
    /// The analysis needs to re-read objects but the input could not be kept (temp file failure).
    #[error(
        "keeping a copy of the decompressed dump in {path}: {source}; set TMPDIR to a filesystem with free space"
    )]
    Spool {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An object or class the caller asked about is not in the dump.
    #[error("no object with id 0x{id:x} in the dump")]
    NoSuchObject { id: u64 },
}

impl HprofError {
    pub(crate) fn io(offset: u64, source: std::io::Error) -> Self {
        HprofError::Io { offset, source }
    }

    pub(crate) fn malformed(offset: u64, record: &'static str, what: impl Into<String>) -> Self {
        HprofError::Malformed {
            offset,
            record,
            what: what.into(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = HprofError> = std::result::Result<T, E>;

/// Something odd that did not stop the analysis: the result is best effort past this point.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Byte offset in the decompressed dump.
    pub offset: u64,
    /// The record being read (`HEAP_DUMP_SEGMENT`, `INSTANCE_DUMP`, …).
    pub record: &'static str,
    /// What happened and what it means for the result.
    pub message: String,
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at byte {}: {}",
            self.record, self.offset, self.message
        )
    }
}

/// Collects warnings up to a cap, counting the ones it drops.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Warnings {
    /// The first warnings, in the order they happened.
    pub kept: Vec<Warning>,
    /// How many more were dropped after the cap.
    pub dropped: u64,
    #[serde(skip)]
    cap: usize,
}

impl Warnings {
    pub(crate) fn with_cap(cap: usize) -> Self {
        Warnings {
            kept: Vec::new(),
            dropped: 0,
            cap,
        }
    }

    pub(crate) fn push(&mut self, warning: Warning) {
        tracing::warn!("{warning}");
        if self.kept.len() < self.cap {
            self.kept.push(warning);
        } else {
            self.dropped += 1;
        }
    }

    /// True when nothing odd was seen.
    pub fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.dropped == 0
    }
}
