//! What one collector read: the files it opened (for evidence) and, bounded, their raw bytes
//! (copied into the bundle beside the JSON so the analysis can be redone).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use crate::{Limits, Result, Root};

/// A raw copy of a source file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFile {
    /// The path inside the target (`/proc/meminfo`).
    pub path: String,
    pub data: Vec<u8>,
    /// Why the copy is incomplete, when it is (cut at [`Limits::raw_max_file_bytes`]).
    pub truncated: Option<String>,
}

/// The reading context of one collector: root, limits, what it read.
#[derive(Debug)]
pub struct Sources {
    root: Root,
    limits: Limits,
    capture_raw: bool,
    files_read: Vec<String>,
    seen: HashSet<String>,
    raw: Vec<RawFile>,
    raw_seen: HashSet<String>,
    raw_bytes: u64,
    raw_dropped: u64,
    warnings: Vec<String>,
    progress: Arc<Mutex<String>>,
}

impl Sources {
    /// A context reading under `root`; `capture_raw` keeps copies of the files read.
    pub fn new(root: Root, limits: Limits, capture_raw: bool) -> Self {
        Self {
            root,
            limits,
            capture_raw,
            files_read: Vec::new(),
            seen: HashSet::new(),
            raw: Vec::new(),
            raw_seen: HashSet::new(),
            raw_bytes: 0,
            raw_dropped: 0,
            warnings: Vec::new(),
            progress: Arc::new(Mutex::new(String::new())),
        }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// True when raw copies are kept.
    pub fn capture_raw(&self) -> bool {
        self.capture_raw
    }

    /// A handle on the path being read right now, so a supervisor can say where a collector
    /// hung when it runs out of time.
    pub fn progress_handle(&self) -> Arc<Mutex<String>> {
        Arc::clone(&self.progress)
    }

    /// Say what is being read (for the timeout message); used for non-file work like statvfs.
    pub fn set_progress(&self, what: &str) {
        if let Ok(mut guard) = self.progress.lock() {
            guard.clear();
            guard.push_str(what);
        }
    }

    /// Read a whole text file, record it as a source and keep a raw copy.
    pub fn text(&mut self, path: &str) -> Result<String> {
        self.set_progress(path);
        let text = self.root.read_text(path, self.limits.max_file_bytes)?;
        self.record(path, text.as_bytes(), None);
        Ok(text)
    }

    /// Like [`Sources::text`], but a missing file is `Ok(None)` (and not recorded).
    pub fn text_opt(&mut self, path: &str) -> Result<Option<String>> {
        match self.text(path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read a text file without recording or copying it (per-process files: thousands of them).
    pub fn text_uncaptured(&self, path: &str) -> Result<String> {
        self.root.read_text(path, self.limits.max_file_bytes)
    }

    /// Record a source without its content (a pattern like `/proc/[pid]/stat`, a directory).
    pub fn note(&mut self, path: &str) {
        if self.seen.insert(path.to_string()) {
            self.files_read.push(path.to_string());
        }
    }

    /// Record a source and keep a raw copy of `data` (cut to the raw limits).
    pub fn record(&mut self, path: &str, data: &[u8], truncated: Option<String>) {
        self.note(path);
        if !self.capture_raw || self.raw_seen.contains(path) {
            return;
        }
        if self.raw.len() >= self.limits.raw_max_files {
            self.raw_dropped += 1;
            return;
        }
        let room = self
            .limits
            .raw_max_total_bytes
            .saturating_sub(self.raw_bytes);
        let keep = (data.len() as u64)
            .min(self.limits.raw_max_file_bytes)
            .min(room);
        if keep == 0 && !data.is_empty() {
            self.raw_dropped += 1;
            return;
        }
        let truncated = if (keep as usize) < data.len() {
            Some(format!(
                "cut at {keep} of {} bytes (raw copy size limit)",
                data.len()
            ))
        } else {
            truncated
        };
        self.raw_bytes += keep;
        self.raw_seen.insert(path.to_string());
        self.raw.push(RawFile {
            path: path.to_string(),
            data: data[..keep as usize].to_vec(),
            truncated,
        });
    }

    /// Note a partial failure: the collector goes on, and the note ends up in its `error`.
    pub fn warn(&mut self, message: impl Into<String>) {
        const MAX_WARNINGS: usize = 50;
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(message.into());
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings
                .push("further problems not listed".to_string());
        }
    }

    /// Partial failures noted so far.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Files read, in order.
    pub fn files_read(&self) -> &[String] {
        &self.files_read
    }

    /// Consume the context.
    pub fn finish(self) -> SourcesReport {
        SourcesReport {
            files_read: self.files_read,
            raw: self.raw,
            raw_dropped: self.raw_dropped,
            warnings: self.warnings,
        }
    }
}

/// What a finished collector read.
#[derive(Debug, Default)]
pub struct SourcesReport {
    pub files_read: Vec<String>,
    pub raw: Vec<RawFile>,
    /// Raw copies dropped because the per-collector total was reached.
    pub raw_dropped: u64,
    pub warnings: Vec<String>,
}
