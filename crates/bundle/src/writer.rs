//! Streaming bundle writer: members go straight into a zstd-compressed tar in a temporary file
//! beside the destination; `finish` appends the manifest and renames the file into place.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::manifest::{
    CollectorRecord, FileEntry, FileKind, MANIFEST_NAME, Manifest, RedactionSummary, SCHEMA,
    ToolInfo,
};
use crate::{Error, Result, io_err, validate_member_name};

/// What a [`TextFilter`] returns for one member.
#[derive(Debug, Default, Clone)]
pub struct FilterOutput {
    /// The bytes to store.
    pub bytes: Vec<u8>,
    /// Rule name → number of replacements made.
    pub counts: BTreeMap<String, u64>,
    /// Set when the filter had to cut or alter content beyond replacing matches (why, for the manifest).
    pub note: Option<String>,
}

/// Applied to every JSON and text member before it is written (redaction lives behind this).
pub trait TextFilter: Send {
    /// Filter one member's content.
    fn filter(&mut self, member: &str, data: &[u8]) -> FilterOutput;
    /// How the filter is configured, for the manifest (rules, mode; totals are filled in here).
    fn describe(&self) -> RedactionSummary;
}

type Encoder = zstd::stream::write::Encoder<'static, BufWriter<File>>;

/// Writes one bundle. Dropping it without [`BundleWriter::finish`] deletes the temporary file.
pub struct BundleWriter {
    final_path: PathBuf,
    temp_path: Option<tempfile::TempPath>,
    builder: Option<tar::Builder<Encoder>>,
    manifest: Manifest,
    names: HashSet<String>,
    filter: Option<Box<dyn TextFilter>>,
    mtime: u64,
}

/// Options for one member.
#[derive(Debug, Clone, Copy)]
pub struct MemberOptions<'a> {
    pub kind: FileKind,
    pub sensitive: bool,
    /// Why the content is incomplete, when it is.
    pub truncated: Option<&'a str>,
}

impl BundleWriter {
    /// Start a bundle that will appear at `final_path` when finished. Fails if that file exists.
    pub fn create(final_path: &Path, target: &str, started_at: jiff::Timestamp) -> Result<Self> {
        if final_path.exists() {
            return Err(Error::Io {
                action: "creating bundle",
                path: final_path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the file already exists; choose another --out",
                ),
            });
        }
        let dir = match final_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".triage-bundle-")
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(io_err("creating a temporary bundle file in", dir.display()))?;
        let (file, temp_path) = temp.into_parts();
        let mut encoder =
            zstd::stream::write::Encoder::new(BufWriter::with_capacity(1 << 20, file), 6)
                .map_err(io_err("starting zstd for", final_path.display()))?;
        // Multithreaded compression where available; silently single-threaded otherwise.
        let threads = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        if threads > 1 {
            let _ = encoder.multithread(threads);
        }
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        let now = jiff::Timestamp::now();
        Ok(Self {
            final_path: final_path.to_path_buf(),
            temp_path: Some(temp_path),
            builder: Some(builder),
            manifest: Manifest {
                schema: SCHEMA.to_string(),
                tool: ToolInfo {
                    name: "triage".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    git_revision: None,
                },
                target: target.to_string(),
                started_at: started_at.to_string(),
                finished_at: String::new(),
                collectors: Vec::new(),
                files: Vec::new(),
                redaction: RedactionSummary::default(),
                notes: Vec::new(),
            },
            names: HashSet::new(),
            filter: None,
            mtime: now.as_second().max(0) as u64,
        })
    }

    /// Where the finished bundle will be.
    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    /// Set the tool name, version and revision recorded in the manifest.
    pub fn set_tool(&mut self, tool: ToolInfo) {
        self.manifest.tool = tool;
    }

    /// Filter (redact) every JSON and text member from now on.
    pub fn set_filter(&mut self, filter: Box<dyn TextFilter>) {
        self.manifest.redaction = filter.describe();
        self.filter = Some(filter);
    }

    /// Record that redaction is off, with a warning every reader will see.
    pub fn set_redaction_disabled(&mut self, warning: &str) {
        self.manifest.redaction = RedactionSummary {
            enabled: false,
            mode: "none".into(),
            rules: Vec::new(),
            totals: BTreeMap::new(),
            warning: Some(warning.to_string()),
        };
    }

    /// Record a collector's outcome.
    pub fn record_collector(&mut self, record: CollectorRecord) {
        self.manifest.collectors.push(record);
    }

    /// Add a remark to the manifest.
    pub fn note(&mut self, note: impl Into<String>) {
        self.manifest.notes.push(note.into());
    }

    /// Serialize `value` as pretty JSON and add it (filtered).
    pub fn add_json<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
            what: name.to_string(),
            source,
        })?;
        bytes.push(b'\n');
        self.add_member(
            name,
            &bytes,
            MemberOptions {
                kind: FileKind::Json,
                sensitive: false,
                truncated: None,
            },
        )
    }

    /// Add text collected from the target (filtered).
    pub fn add_text(&mut self, name: &str, data: &[u8]) -> Result<()> {
        self.add_member(
            name,
            data,
            MemberOptions {
                kind: FileKind::Text,
                sensitive: false,
                truncated: None,
            },
        )
    }

    /// Add a member with explicit options. JSON and text members go through the filter; binary
    /// members are stored as they are.
    pub fn add_member(
        &mut self,
        name: &str,
        data: &[u8],
        options: MemberOptions<'_>,
    ) -> Result<()> {
        self.claim_name(name)?;
        let (bytes, counts, note) = match (options.kind, self.filter.as_mut()) {
            (FileKind::Json | FileKind::Text, Some(filter)) => {
                let out = filter.filter(name, data);
                (std::borrow::Cow::Owned(out.bytes), out.counts, out.note)
            }
            _ => (std::borrow::Cow::Borrowed(data), BTreeMap::new(), None),
        };
        let sha256 = crate::sha256_hex(&bytes);
        self.append(name, bytes.len() as u64, &mut &bytes[..])?;
        let truncated = match (options.truncated, note) {
            (Some(t), Some(n)) => Some(format!("{t}; {n}")),
            (Some(t), None) => Some(t.to_string()),
            (None, n) => n,
        };
        for (rule, count) in &counts {
            *self
                .manifest
                .redaction
                .totals
                .entry(rule.clone())
                .or_default() += count;
        }
        self.manifest.files.push(FileEntry {
            path: name.to_string(),
            size_bytes: bytes.len() as u64,
            sha256,
            kind: options.kind,
            sensitive: options.sensitive || options.kind == FileKind::Binary,
            redactions: counts,
            truncated,
        });
        Ok(())
    }

    /// Stream a binary file into the bundle without holding it in memory (heap dumps, profiles).
    /// Binary members are never filtered and always marked sensitive.
    pub fn add_binary_file(&mut self, name: &str, path: &Path) -> Result<()> {
        self.claim_name(name)?;
        let file = File::open(path).map_err(io_err("opening", path.display()))?;
        let size = file
            .metadata()
            .map_err(io_err("reading the size of", path.display()))?
            .len();
        let mut hashing = HashingReader {
            inner: file.take(size),
            hasher: Sha256::new(),
            count: 0,
        };
        self.append(name, size, &mut hashing)?;
        if hashing.count != size {
            return Err(Error::Io {
                action: "reading",
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file shrank while it was copied ({} of {size} bytes)",
                        hashing.count
                    ),
                ),
            });
        }
        self.manifest.files.push(FileEntry {
            path: name.to_string(),
            size_bytes: size,
            sha256: hex::encode(hashing.hasher.finalize()),
            kind: FileKind::Binary,
            sensitive: true,
            redactions: BTreeMap::new(),
            truncated: None,
        });
        Ok(())
    }

    /// Write the manifest, complete the archive and move it to its final name.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.manifest.finished_at = jiff::Timestamp::now().to_string();
        self.filter_manifest_text();
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(|source| Error::Json {
            what: MANIFEST_NAME.to_string(),
            source,
        })?;
        self.append(MANIFEST_NAME, manifest.len() as u64, &mut &manifest[..])?;
        let path_text = self.final_path.display().to_string();
        let builder = self
            .builder
            .take()
            .expect("builder is present until finish");
        let encoder = builder
            .into_inner()
            .map_err(io_err("completing the tar archive of", &path_text))?;
        let buffered = encoder
            .finish()
            .map_err(io_err("completing zstd compression of", &path_text))?;
        let file = buffered.into_inner().map_err(|e| Error::Io {
            action: "flushing",
            path: path_text.clone(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err("syncing", &path_text))?;
        // Bundles are shared artefacts, but may contain sensitive material: owner-only by default.
        let temp_path = self
            .temp_path
            .take()
            .expect("temp path is present until finish");
        let _ = std::fs::set_permissions(
            &temp_path,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        );
        temp_path
            .persist_noclobber(&self.final_path)
            .map_err(|e| Error::Io {
                action: "renaming the finished bundle to",
                path: path_text,
                source: e.error,
            })?;
        Ok(self.final_path.clone())
    }

    /// The manifest's free text (target, collector errors, notes) comes from the command line and
    /// the target too (a URL with a password, an error quoting it): it goes through the filter
    /// like every member. What it replaces counts in the totals (the manifest has no file entry).
    fn filter_manifest_text(&mut self) {
        let Some(filter) = self.filter.as_mut() else {
            return;
        };
        let manifest = &mut self.manifest;
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        let mut clean = |text: &mut String| {
            let out = filter.filter(MANIFEST_NAME, text.as_bytes());
            if out.counts.is_empty() {
                return;
            }
            *text = String::from_utf8_lossy(&out.bytes).into_owned();
            for (rule, count) in out.counts {
                *totals.entry(rule).or_default() += count;
            }
        };
        clean(&mut manifest.target);
        for record in &mut manifest.collectors {
            if let Some(error) = record.error.as_mut() {
                clean(error);
            }
        }
        for note in &mut manifest.notes {
            clean(note);
        }
        for (rule, count) in totals {
            *manifest.redaction.totals.entry(rule).or_default() += count;
        }
    }

    /// The manifest as it stands (collectors and files so far).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    fn claim_name(&mut self, name: &str) -> Result<()> {
        validate_member_name(name)?;
        if name == MANIFEST_NAME {
            return Err(Error::BadMemberName {
                name: name.into(),
                why: "reserved for the manifest",
            });
        }
        if !self.names.insert(name.to_string()) {
            return Err(Error::DuplicateMember(name.to_string()));
        }
        Ok(())
    }

    fn append(&mut self, name: &str, size: u64, data: &mut dyn Read) -> Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(self.mtime);
        header.set_entry_type(tar::EntryType::Regular);
        let builder = self
            .builder
            .as_mut()
            .expect("builder is present until finish");
        builder.append_data(&mut header, name, data).map_err(io_err(
            "writing member into bundle",
            format!("{} ({name})", self.final_path.display()),
        ))
    }
}

struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    count: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
}
