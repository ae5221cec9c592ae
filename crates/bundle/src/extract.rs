//! Safe extraction of a tar or tar.zst stream produced elsewhere (a bundle from another
//! machine, a tar stream out of a container): everything in it is treated as hostile.
//!
//! The rules, from the kubectl cp CVE history (CVE-2018-1002100, CVE-2019-1002101,
//! CVE-2019-11246, CVE-2019-11249, CVE-2019-11251):
//! - extract only into a destination this call creates, private (0700) and empty, so nobody
//!   else can plant a symlink in it while we work;
//! - accept regular files and directories only: symlinks, hard links, devices, FIFOs and sparse
//!   files are refused, so no entry can ever redirect a later one;
//! - refuse absolute paths and `..` components outright (no stripping, no "cleaning": a stream
//!   that tries is hostile), in the plain name, the ustar prefix, GNU long names and PAX `path`
//!   records alike — the `tar` crate merges those before we look;
//! - open every path component relative to the already-opened parent directory with
//!   `O_NOFOLLOW`, and create files with `O_CREAT | O_EXCL` (mode 0600), so a path can only
//!   resolve inside the destination, whatever the destination path itself looks like;
//! - cap per-file bytes, total bytes, the number of entries, and the decompressed stream itself:
//!   between two files' data at most 64 KiB may be read (headers, long names, PAX records — which
//!   the `tar` crate holds in memory — and the data of skipped entries), so a small `.tar.zst`
//!   can fill neither the disk nor memory, nor keep a CPU busy decompressing what is thrown away.
//!
//! On error the destination keeps the entries extracted before the failing one (nothing ever
//! lands outside it); the error names the entry. `tar::Entry::unpack` is never used: it has no
//! protection at all.

use std::cell::Cell;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// Caps applied while extracting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest single file.
    pub max_file_bytes: u64,
    /// Sum of all files.
    pub max_total_bytes: u64,
    /// Entries of any kind (directories and skipped headers count).
    pub max_entries: u64,
}

impl Default for Limits {
    /// Generous enough for a bundle holding heap dumps: 8 GiB per file, 32 GiB in all, 100 000
    /// entries.
    fn default() -> Self {
        Limits {
            max_file_bytes: 8 << 30,
            max_total_bytes: 32 << 30,
            max_entries: 100_000,
        }
    }
}

/// What an extraction created.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtractReport {
    pub files: u64,
    pub directories: u64,
    /// Bytes written to files.
    pub bytes: u64,
    /// PAX global headers seen and ignored (they carry metadata, never a file).
    pub skipped_headers: u64,
}

/// Why an extraction stopped. Entry names are shown escaped, so a hostile name cannot move the
/// terminal's cursor.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error(
        "destination {path} already exists: extraction only goes into a new, private directory"
    )]
    DestinationExists { path: PathBuf },
    #[error("creating destination {path}: {source}")]
    CreateDestination {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("entry {entry:?}: absolute path refused")]
    AbsolutePath { entry: String },
    #[error("entry {entry:?}: `..` component refused (it would leave the destination)")]
    ParentDirectory { entry: String },
    #[error("entry {entry:?}: invalid path: {reason}")]
    InvalidPath { entry: String, reason: &'static str },
    #[error("entry {entry:?}: {kind} refused (only regular files and directories are extracted)")]
    ForbiddenType { entry: String, kind: &'static str },
    #[error("entry {entry:?}: {size} bytes exceeds the per-file limit of {limit} bytes")]
    FileTooLarge {
        entry: String,
        size: u64,
        limit: u64,
    },
    #[error("entry {entry:?}: total extracted size would exceed the limit of {limit} bytes")]
    TotalTooLarge { entry: String, limit: u64 },
    #[error("entry {entry:?}: more than {limit} entries in the archive")]
    TooManyEntries { entry: String, limit: u64 },
    #[error(
        "after entry {after_entry:?}: more than {limit} bytes of headers, extension records or skipped data before the next file: a decompression or header bomb"
    )]
    StreamTooLarge { after_entry: String, limit: u64 },
    #[error(
        "entry {entry:?}: already exists in the destination (duplicate entry, or a file where a directory is needed)"
    )]
    Duplicate { entry: String },
    #[error("entry {entry:?}: {action}: {source}")]
    Io {
        entry: String,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("reading the archive after entry {after_entry:?}: {source}")]
    Archive {
        after_entry: String,
        #[source]
        source: io::Error,
    },
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// Largest zstd window accepted (128 MiB, libzstd's own default): a frame asking for more is a
/// memory bomb, not a bundle.
const ZSTD_WINDOW_LOG_MAX: u32 = 27;
/// Stream bytes allowed between two entries' file data: the header, padding, GNU long names,
/// PAX records and the data of entries that are skipped (directories, PAX global headers). The
/// `tar` crate reads long names and PAX records into memory, so this is also its memory bound.
const HEADER_BUDGET: u64 = 64 << 10;
const PATH_MAX: usize = 4096;
const NAME_MAX: usize = 255;

/// Extracts a tar stream (zstd-compressed or not: detected from its first bytes) into `dest`,
/// which must not exist yet; it is created with mode 0700. See the module docs for what is
/// refused.
pub fn extract<R: Read>(
    reader: R,
    dest: &Path,
    limits: Limits,
) -> Result<ExtractReport, ExtractError> {
    let dest_fd = create_destination(dest)?;
    let budget = Rc::new(Budget::default());
    let mut buffered = BufReader::new(reader);
    let head = buffered
        .fill_buf()
        .map_err(|source| ExtractError::Archive {
            after_entry: String::new(),
            source,
        })?;
    let decompressed: Box<dyn Read> = if head.starts_with(&ZSTD_MAGIC) {
        let mut decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|source| {
            ExtractError::Archive {
                after_entry: String::new(),
                source,
            }
        })?;
        decoder
            .window_log_max(ZSTD_WINDOW_LOG_MAX)
            .map_err(|source| ExtractError::Archive {
                after_entry: String::new(),
                source,
            })?;
        Box::new(decoder)
    } else {
        Box::new(buffered)
    };
    let capped = CappedReader {
        inner: decompressed,
        budget: Rc::clone(&budget),
    };
    let mut archive = tar::Archive::new(capped);
    let mut report = ExtractReport::default();
    let mut total: u64 = 0;
    let mut entries_seen: u64 = 0;
    let mut last_entry = String::new();
    let stream_error = |after_entry: &str, source: io::Error| {
        if budget.exceeded.get() {
            ExtractError::StreamTooLarge {
                after_entry: after_entry.to_string(),
                limit: HEADER_BUDGET,
            }
        } else {
            ExtractError::Archive {
                after_entry: after_entry.to_string(),
                source,
            }
        }
    };
    let mut entries = archive.entries().map_err(|e| stream_error("", e))?;
    loop {
        // Up to the next entry's data, only headers (and skipped data) may be read.
        budget.allow(HEADER_BUDGET);
        let Some(entry) = entries.next() else { break };
        let mut entry = entry.map_err(|e| stream_error(&last_entry, e))?;
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        last_entry.clone_from(&name);
        entries_seen += 1;
        if entries_seen > limits.max_entries {
            return Err(ExtractError::TooManyEntries {
                entry: name,
                limit: limits.max_entries,
            });
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            report.skipped_headers += 1;
            continue;
        }
        let components = validate_path(&raw_path, &name)?;
        if kind.is_dir() {
            if !components.is_empty() {
                let dir = open_parents(&dest_fd, &components, &name)?;
                drop(dir);
            }
            report.directories += 1;
            continue;
        }
        if !(kind.is_file() || kind.is_contiguous()) {
            return Err(ExtractError::ForbiddenType {
                entry: name,
                kind: describe(kind),
            });
        }
        let Some((file_name, parents)) = components.split_last() else {
            return Err(ExtractError::InvalidPath {
                entry: name,
                reason: "a file entry needs a name",
            });
        };
        let size = entry.size();
        if size > limits.max_file_bytes {
            return Err(ExtractError::FileTooLarge {
                entry: name,
                size,
                limit: limits.max_file_bytes,
            });
        }
        if total.saturating_add(size) > limits.max_total_bytes {
            return Err(ExtractError::TotalTooLarge {
                entry: name,
                limit: limits.max_total_bytes,
            });
        }
        budget.allow(size.saturating_add(HEADER_BUDGET));
        let parent_fd = open_parents(&dest_fd, parents, &name)?;
        let mut file = create_file(parent_fd.as_ref().unwrap_or(&dest_fd), file_name, &name)?;
        // The entry reader yields at most `size` bytes; the extra byte of `take` is a guard in
        // case that ever changes.
        let written = io::copy(&mut (&mut entry).take(limits.max_file_bytes + 1), &mut file)
            .map_err(|source| {
                if budget.exceeded.get() {
                    ExtractError::StreamTooLarge {
                        after_entry: name.clone(),
                        limit: HEADER_BUDGET,
                    }
                } else {
                    ExtractError::Io {
                        entry: name.clone(),
                        action: "writing",
                        source,
                    }
                }
            })?;
        if written > limits.max_file_bytes {
            return Err(ExtractError::FileTooLarge {
                entry: name,
                size: written,
                limit: limits.max_file_bytes,
            });
        }
        file.flush().map_err(|source| ExtractError::Io {
            entry: name.clone(),
            action: "writing",
            source,
        })?;
        total += written;
        report.files += 1;
        report.bytes += written;
    }
    Ok(report)
}

/// The path's components, or the reason it is refused.
fn validate_path(raw: &[u8], name: &str) -> Result<Vec<CString>, ExtractError> {
    if raw.is_empty() {
        return Err(ExtractError::InvalidPath {
            entry: name.to_string(),
            reason: "empty name",
        });
    }
    if raw.len() > PATH_MAX {
        return Err(ExtractError::InvalidPath {
            entry: name.to_string(),
            reason: "longer than 4096 bytes",
        });
    }
    if raw[0] == b'/' {
        return Err(ExtractError::AbsolutePath {
            entry: name.to_string(),
        });
    }
    let mut components = Vec::new();
    for part in raw.split(|&b| b == b'/') {
        match part {
            b"" | b"." => continue,
            b".." => {
                return Err(ExtractError::ParentDirectory {
                    entry: name.to_string(),
                });
            }
            _ if part.len() > NAME_MAX => {
                return Err(ExtractError::InvalidPath {
                    entry: name.to_string(),
                    reason: "a component is longer than 255 bytes",
                });
            }
            _ => {
                let c = CString::new(part).map_err(|_| ExtractError::InvalidPath {
                    entry: name.to_string(),
                    reason: "NUL byte in name",
                })?;
                components.push(c);
            }
        }
    }
    Ok(components)
}

fn create_destination(dest: &Path) -> Result<OwnedFd, ExtractError> {
    if std::fs::symlink_metadata(dest).is_ok() {
        return Err(ExtractError::DestinationExists {
            path: dest.to_path_buf(),
        });
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dest)
        .map_err(|source| {
            if source.kind() == io::ErrorKind::AlreadyExists {
                ExtractError::DestinationExists {
                    path: dest.to_path_buf(),
                }
            } else {
                ExtractError::CreateDestination {
                    path: dest.to_path_buf(),
                    source,
                }
            }
        })?;
    let c = CString::new(dest.as_os_str().as_encoded_bytes()).map_err(|_| {
        ExtractError::CreateDestination {
            path: dest.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in path"),
        }
    })?;
    // O_NOFOLLOW: if the directory we just made was swapped for a symlink, refuse it.
    // SAFETY: `c` is a valid NUL-terminated string; the returned fd is owned below.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(ExtractError::CreateDestination {
            path: dest.to_path_buf(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` is a freshly opened descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates (0700) and opens each directory of `parents` below `root`, never following a
/// symlink. `None` when `parents` is empty (the root itself is the parent).
fn open_parents(
    root: &OwnedFd,
    parents: &[CString],
    entry: &str,
) -> Result<Option<OwnedFd>, ExtractError> {
    let mut current: Option<OwnedFd> = None;
    for component in parents {
        let dir_fd = current.as_ref().unwrap_or(root).as_raw_fd();
        // SAFETY: valid fd and NUL-terminated name.
        let rc = unsafe { libc::mkdirat(dir_fd, component.as_ptr(), 0o700) };
        if rc < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::AlreadyExists {
                return Err(ExtractError::Io {
                    entry: entry.to_string(),
                    action: "creating a directory",
                    source: err,
                });
            }
        }
        // SAFETY: valid fd and NUL-terminated name; the result is owned below.
        let fd = unsafe {
            libc::openat(
                dir_fd,
                component.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let err = io::Error::last_os_error();
            return Err(match err.raw_os_error() {
                Some(libc::ENOTDIR) | Some(libc::ELOOP) => ExtractError::Duplicate {
                    entry: entry.to_string(),
                },
                _ => ExtractError::Io {
                    entry: entry.to_string(),
                    action: "opening a directory",
                    source: err,
                },
            });
        }
        // SAFETY: freshly opened descriptor.
        current = Some(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(current)
}

/// Creates a new file (0600) in `dir`; an existing name (or a symlink) is an error.
fn create_file(dir: &OwnedFd, name: &CString, entry: &str) -> Result<File, ExtractError> {
    // SAFETY: valid fd and NUL-terminated name; the result is owned below.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return Err(if err.kind() == io::ErrorKind::AlreadyExists {
            ExtractError::Duplicate {
                entry: entry.to_string(),
            }
        } else {
            ExtractError::Io {
                entry: entry.to_string(),
                action: "creating the file",
                source: err,
            }
        });
    }
    // SAFETY: freshly opened descriptor.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn describe(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::GNUSparse => "sparse file",
        tar::EntryType::GNULongName | tar::EntryType::GNULongLink | tar::EntryType::XHeader => {
            "stray extension header"
        }
        _ => "unknown entry type",
    }
}

/// How many more bytes of the (decompressed) tar stream may be read, set before each step.
#[derive(Default)]
struct Budget {
    read: Cell<u64>,
    limit: Cell<u64>,
    exceeded: Cell<bool>,
}

impl Budget {
    /// From here on, at most `bytes` more may be read.
    fn allow(&self, bytes: u64) {
        self.limit.set(self.read.get().saturating_add(bytes));
    }
}

/// Fails reads past the budget, and says so in it.
struct CappedReader<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let remaining = self
            .budget
            .limit
            .get()
            .saturating_sub(self.budget.read.get());
        if remaining == 0 {
            // One probe byte tells a stream that ends exactly here from one that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.budget.exceeded.set(true);
                    Err(io::Error::other("archive stream exceeds its budget"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.read.set(self.budget.read.get() + n as u64);
        Ok(n)
    }
}
