//! Readers for /proc, /sys, cgroups (v1 and v2) and conntrack, rooted at any directory.
//!
//! What it is for: turning the files of a Linux machine into the plain values of
//! [`model::Snapshot`] — the `ps`/`top`/`free`/`df`/`lsblk`/`findmnt` views plus cgroup limits and
//! throttling, conntrack, sockets and the kernel log's OOM lines. Every reader takes a [`Root`]:
//! `/` for the live machine, `/proc/<pid>/root` for a container's files, or a fixture tree in
//! tests, so the code that reads a real host is the code the fixtures test. [`collect::collect`]
//! runs one collector per data source, each in its own thread under a time budget; a collector
//! that fails or hangs (a dead NFS mount under `statvfs`) is recorded and the others go on.
//!
//! What it is not for: writing bundles (the `bundle` crate), redaction (`redact`), judging the
//! values (`analyze`), or printing (the CLI). [`model`] has no I/O so rules are tested on plain
//! values.
//!
//! Why hand-written parsers instead of the `procfs` crate: `procfs` reads `/proc` of the running
//! system (its `Current*` and `Process` APIs are tied to a mounted procfs, and it has no notion
//! of sysfs, cgroup hierarchies or a fixture root), so it cannot read a container's root or a
//! fixture tree and would leave cgroups, conntrack-by-header and kmsg to be written anyway. The
//! formats needed here are small line formats; each parser is a few dozen lines, bounded by
//! [`Limits`], never panics on malformed input (the fixtures under `tests/fixtures/malformed`
//! prove it) and reports the file and line it stopped at.

pub mod block;
pub mod cgroup_path;
pub mod cgroups;
pub mod collect;
pub mod conntrack;
pub mod filesystems;
pub mod kmsg;
pub mod memory;
pub mod model;
pub mod mounts;
pub mod network;
pub mod processes;
pub mod root;
pub mod sock_diag;
pub mod source;
pub mod system;

use std::path::{Path, PathBuf};

pub use collect::{CollectOptions, Collection, RawFile, Target, collect};
pub use model::*;
pub use root::Root;
pub use source::Sources;

/// Bounds on what a collection reads, so a hostile or enormous input cannot exhaust memory.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest single /proc, /sys or cgroup file parsed whole.
    pub max_file_bytes: u64,
    /// Largest socket table (`/proc/net/tcp` …) streamed, in lines.
    pub max_socket_lines: u64,
    /// Most processes read.
    pub max_processes: usize,
    /// Most distinct cgroups read.
    pub max_cgroups: usize,
    /// Most mountinfo lines parsed.
    pub max_mounts: usize,
    /// Most kernel log records read.
    pub kmsg_max_records: u64,
    /// Most kernel log bytes read.
    pub kmsg_max_bytes: u64,
    /// Most matching kernel log lines kept per kind (the newest are kept).
    pub kmsg_max_matches: usize,
    /// Largest raw copy of one file kept for the bundle (longer copies are cut, and say so).
    pub raw_max_file_bytes: u64,
    /// Total raw bytes kept per collector.
    pub raw_max_total_bytes: u64,
    /// Most raw copies kept per collector.
    pub raw_max_files: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 4 << 20,
            max_socket_lines: 2_000_000,
            max_processes: 200_000,
            max_cgroups: 20_000,
            max_mounts: 100_000,
            kmsg_max_records: 200_000,
            kmsg_max_bytes: 16 << 20,
            kmsg_max_matches: 200,
            raw_max_file_bytes: 8 << 20,
            raw_max_total_bytes: 64 << 20,
            raw_max_files: 2_000,
        }
    }
}

/// Everything that can go wrong reading a source.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory could not be opened or read.
    #[error("{action} {}: {source}{}", path.display(), io_hint(source))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but its content is not in the expected format.
    #[error("{} line {line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A file is larger than [`Limits::max_file_bytes`].
    #[error("{} is larger than the {limit_bytes}-byte limit for this kind of file; not parsed", path.display())]
    TooLarge { path: PathBuf, limit_bytes: u64 },
    /// The target process does not exist.
    #[error("process {pid} does not exist under {} (check the pid; inside a container use the pid the host sees)", root.display())]
    NoSuchProcess { pid: u32, root: PathBuf },
    /// A system call failed.
    #[error("{call} on {}: {source}{}", path.display(), io_hint(source))]
    Syscall {
        call: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub(crate) fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn parse(path: &Path, line: usize, message: impl Into<String>) -> Self {
        Error::Parse {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }

    /// True when the error is a missing file or directory (or a process that exited: /proc
    /// answers ESRCH for files of a dying process).
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Io { source, .. } | Error::Syscall { source, .. } => {
                source.kind() == std::io::ErrorKind::NotFound
                    || source.raw_os_error() == Some(libc::ESRCH)
            }
            Error::NoSuchProcess { .. } => true,
            _ => false,
        }
    }

    /// True when the error is a permission problem.
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, Error::Io { source, .. } | Error::Syscall { source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied)
    }
}

fn io_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::PermissionDenied => {
            " (run as root, or grant CAP_SYS_PTRACE / CAP_SYSLOG / CAP_DAC_READ_SEARCH)"
        }
        std::io::ErrorKind::NotFound => " (not present on this kernel or in this namespace)",
        _ => "",
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`), 100 when sysconf fails.
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as u64 } else { 100 }
}

/// Page size in bytes (`sysconf(_SC_PAGESIZE)`), 4096 when sysconf fails.
pub fn page_size_bytes() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}
