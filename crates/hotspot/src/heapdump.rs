//! Heap dump orchestration: have the JVM write an HPROF file inside its own filesystem, read it
//! back through `/proc/<pid>/root`, compress it on the fly, hash it, and always delete the file in
//! the target afterwards.
//!
//! The dump goes to the target's /tmp (or another directory the caller names) because the path is
//! resolved inside the target's mount namespace; free space there is checked first, since filling
//! a pod's emptyDir can get it evicted.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::client::{ExecOptions, Jvm};
use crate::error::{AttachError, Result};
use crate::protocol::Patience;

/// More compression threads than this add memory, not speed: the copy is bound by the disk.
const MAX_ZSTD_WORKERS: u32 = 4;
/// zstd job size per worker.
const ZSTD_JOB_BYTES: u32 = 4 << 20;

/// How the copy is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain `.hprof`.
    None,
    /// zstd with `workers` compression threads.
    Zstd { level: i32, workers: u32 },
}

impl Compression {
    /// zstd (level 3, one worker per CPU up to 4) unless the path ends in `.hprof`.
    pub fn for_path(path: &Path) -> Compression {
        if path.extension().is_some_and(|e| e == "hprof") {
            Compression::None
        } else {
            let workers = std::thread::available_parallelism()
                .map(|n| (n.get() as u32).min(MAX_ZSTD_WORKERS))
                .unwrap_or(1);
            Compression::Zstd { level: 3, workers }
        }
    }
}

/// What to dump and how.
#[derive(Debug, Clone)]
pub struct HeapDumpOptions<'a> {
    /// Live objects only (the JVM runs a full GC first), like `jmap -dump:live`.
    pub live_only: bool,
    /// Directory as the JVM sees it where the dump is written (default `/tmp`).
    pub target_dir: PathBuf,
    /// Refuse to dump when free space in `target_dir` is below the heap in use.
    pub check_space: bool,
    /// Give up when the dump file stops growing (and the JVM stays silent) for this long.
    pub stall_timeout: Duration,
    /// Compression of the copy.
    pub compression: Compression,
    /// Set by a signal handler to abandon the dump (the in-target file is still removed).
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for HeapDumpOptions<'_> {
    fn default() -> Self {
        HeapDumpOptions {
            live_only: true,
            target_dir: PathBuf::from("/tmp"),
            check_space: true,
            stall_timeout: Duration::from_secs(300),
            compression: Compression::None,
            cancel: None,
        }
    }
}

/// Progress events, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// The JVM is writing the dump; this much is on disk so far.
    Dumping { written_bytes: u64 },
    /// The dump is complete and being copied out.
    Copying { copied_bytes: u64, total_bytes: u64 },
}

/// What a finished dump produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct HeapDumpReport {
    /// Where the JVM wrote it (path inside the target; already deleted).
    pub path_in_target: PathBuf,
    /// Size of the HPROF file as the JVM wrote it.
    pub dump_bytes: u64,
    /// Size of what was written to the output (after compression).
    pub output_bytes: u64,
    /// sha256 of the output bytes, lowercase hex.
    pub sha256: String,
    /// `"zstd"` or `"none"`.
    pub compression: &'static str,
    /// Time the JVM took to write the dump.
    pub dump_ms: u64,
    /// Time to copy (and compress) it out.
    pub copy_ms: u64,
}

/// Sum the heap in use from `GC.heap_info` output (every collector prints its own layout;
/// metaspace is excluded). `None` when nothing was recognised.
pub fn heap_used_bytes(heap_info: &str) -> Option<u64> {
    fn amount(token: &str) -> Option<u64> {
        let token = token.trim_end_matches([',', ';']);
        let split = token.find(|c: char| !c.is_ascii_digit())?;
        let (digits, unit) = token.split_at(split);
        let n: u64 = digits.parse().ok()?;
        let factor = match unit {
            "K" => 1 << 10,
            "M" => 1 << 20,
            "G" => 1 << 30,
            "B" => 1,
            _ => return None,
        };
        n.checked_mul(factor)
    }
    let mut total: Option<u64> = None;
    for line in heap_info.lines() {
        // Top-level lines are indented by at most one space; deeper ones detail the same memory.
        let indent = line.len() - line.trim_start().len();
        if indent > 1 || line.contains("Metaspace") || line.contains("class space") {
            continue;
        }
        let tokens: Vec<&str> = line.split_whitespace().collect();
        for (i, token) in tokens.iter().enumerate() {
            let value = match token.trim_end_matches(',') {
                // "used 5330K," (G1, Parallel, Serial, ZGC)
                "used" => tokens.get(i + 1).and_then(|t| amount(t)),
                _ => None,
            }
            .or_else(|| {
                // "2918K used" (Shenandoah)
                // ("total 397312K, used 5330K" must not count its total here: no comma allowed.)
                (!token.ends_with(',')
                    && tokens.get(i + 1).map(|t| t.trim_end_matches(',')) == Some("used"))
                .then(|| amount(token))
                .flatten()
            });
            if let Some(v) = value {
                total = Some(total.unwrap_or(0).saturating_add(v));
            }
        }
    }
    total
}

/// Deletes the dump file in the target when dropped: on success, on error, on cancel. Holds the
/// directory open so deletion works even after the target exited.
struct InTargetFile {
    dir: File,
    name: CString,
    shown: PathBuf,
}

impl InTargetFile {
    fn open(&self) -> std::io::Result<File> {
        // SAFETY: openat with a valid directory fd and a NUL-terminated name.
        let fd = unsafe {
            libc::openat(
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: fd was just returned by openat and is owned by nobody else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    fn size(&self) -> Option<u64> {
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid dirfd, NUL-terminated name, valid out pointer.
        let rc = unsafe {
            libc::fstatat(
                self.dir.as_raw_fd(),
                self.name.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        (rc == 0).then_some(st.st_size as u64)
    }
}

impl Drop for InTargetFile {
    fn drop(&mut self) {
        // SAFETY: valid dirfd and NUL-terminated name.
        let rc = unsafe { libc::unlinkat(self.dir.as_raw_fd(), self.name.as_ptr(), 0) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.shown.display(), error = %e, "could not remove the heap dump in the target; remove it by hand");
            }
        } else {
            tracing::debug!(path = %self.shown.display(), "removed the heap dump in the target");
        }
    }
}

/// Free bytes for unprivileged users on the filesystem of an open file or directory.
pub fn available_bytes(file: &File) -> std::io::Result<u64> {
    // SAFETY: zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd and out pointer.
    if unsafe { libc::fstatvfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// Counts and hashes what passes through.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn unique_dump_name(ns_pid: u32) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("triage-heap-{ns_pid}-{}-{nanos}.hprof", std::process::id())
}

/// Dump the heap and stream it to `sink` (named `sink_name` in messages). `before_copy` is called
/// with the dump's size once it is known, to refuse early (e.g. not enough room at the
/// destination).
pub fn dump_heap(
    jvm: &Jvm,
    options: &HeapDumpOptions<'_>,
    sink: &mut dyn Write,
    sink_name: &Path,
    before_copy: &mut dyn FnMut(u64) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<HeapDumpReport> {
    dump_heap_into(
        jvm,
        options,
        Sink::Writer(sink),
        sink_name,
        before_copy,
        progress,
    )
}

/// Where the copy goes: any writer, or a file (which allows an in-kernel copy of plain dumps).
enum Sink<'a> {
    Writer(&'a mut dyn Write),
    /// Opened for reading and writing, empty.
    File(&'a File),
}

/// Copy `src` to the start of `dst` in 8 MiB chunks with `copy_file_range(2)` (no round trip
/// through our memory; about a third of the CPU of read+write), hashing what landed in `dst` by
/// reading it back from the page cache on a second thread, one chunk behind the copy, so the hash
/// costs no wall time while a core is free. Falls back to plain writes where the kernel cannot
/// copy between the two filesystems. Returns the bytes copied.
fn copy_file_hashed(
    src: &File,
    dst: &File,
    hasher: &mut Sha256,
    on_chunk: &mut dyn FnMut(u64) -> Result<()>,
) -> std::result::Result<u64, (std::io::Error, bool, u64)> {
    use std::os::unix::fs::FileExt;
    // Chunks written but not hashed yet: at most two in flight.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, usize)>(2);
    std::thread::scope(|scope| {
        let hashing = scope.spawn(move || -> std::io::Result<()> {
            let mut buf = vec![0u8; COPY_CHUNK];
            for (offset, len) in rx {
                let mut got = 0usize;
                while got < len {
                    let n = dst.read_at(&mut buf[got..len], offset + got as u64)?;
                    if n == 0 {
                        return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
                    }
                    got += n;
                }
                hasher.update(&buf[..len]);
            }
            Ok(())
        });
        let copied = copy_chunks(src, dst, Some(&tx), on_chunk);
        drop(tx);
        let hashed = hashing
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the hashing thread panicked")));
        match (copied, hashed) {
            (Ok(n), Ok(())) => Ok(n),
            // The hashing thread stopped first: its error is the cause.
            (_, Err(e)) => Err((e, true, 0)),
            (Err(e), Ok(())) => Err(e),
        }
    })
}

const COPY_CHUNK: usize = 8 << 20;

/// Copy `src` to `dst` (in the kernel where it can); with `to_hash`, every chunk written is sent
/// to the hasher of [`copy_file_hashed`].
fn copy_chunks(
    src: &File,
    dst: &File,
    to_hash: Option<&std::sync::mpsc::SyncSender<(u64, usize)>>,
    on_chunk: &mut dyn FnMut(u64) -> Result<()>,
) -> std::result::Result<u64, (std::io::Error, bool, u64)> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = COPY_CHUNK;
    let mut buf = Vec::new();
    let mut offset = 0u64;
    let mut in_kernel = true;
    loop {
        let mut done = 0usize;
        if in_kernel {
            while done < CHUNK {
                let mut off_in = (offset + done as u64) as libc::loff_t;
                let mut off_out = off_in;
                // SAFETY: valid fds and offset pointers; the kernel reads/writes only the files.
                let n = unsafe {
                    libc::copy_file_range(
                        src.as_raw_fd(),
                        &mut off_in,
                        dst.as_raw_fd(),
                        &mut off_out,
                        CHUNK - done,
                        0,
                    )
                };
                if n > 0 {
                    done += n as usize;
                    continue;
                }
                if n == 0 {
                    break; // end of the source
                }
                let e = std::io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                        in_kernel = false;
                        break;
                    }
                    Some(libc::EINTR) => continue,
                    _ => return Err((e, true, offset + done as u64)),
                }
            }
        }
        if !in_kernel && done < CHUNK {
            // The rest of this chunk the ordinary way.
            buf.resize(CHUNK, 0);
            let want = CHUNK - done;
            let start = offset + done as u64;
            let mut got = 0usize;
            while got < want {
                let n = src
                    .read_at(&mut buf[got..want], start + got as u64)
                    .map_err(|e| (e, false, start))?;
                if n == 0 {
                    break;
                }
                got += n;
            }
            dst.write_all_at(&buf[..got], start)
                .map_err(|e| (e, true, start))?;
            done += got;
        }
        if done == 0 {
            return Ok(offset);
        }
        if to_hash.is_some_and(|tx| tx.send((offset, done)).is_err()) {
            // The hasher stopped (its error is reported by the caller).
            return Err((std::io::Error::other("hashing stopped"), true, offset));
        }
        offset += done as u64;
        on_chunk(offset).map_err(|e| (std::io::Error::other(e.to_string()), false, offset))?;
    }
}

fn dump_heap_into(
    jvm: &Jvm,
    options: &HeapDumpOptions<'_>,
    sink: Sink<'_>,
    sink_name: &Path,
    before_copy: &mut dyn FnMut(u64) -> Result<()>,
    progress: &mut dyn FnMut(Progress),
) -> Result<HeapDumpReport> {
    let target = jvm.target();
    let cancelled = || options.cancel.is_some_and(|c| c.load(Ordering::SeqCst));
    if !options.target_dir.is_absolute() {
        return Err(AttachError::InvalidRequest {
            command: "dumpheap".into(),
            reason: format!(
                "the target directory {} must be an absolute path (as the JVM sees it, e.g. /tmp)",
                options.target_dir.display()
            ),
        });
    }
    let dir_host = target.path_in_root(&options.target_dir);
    let dir = File::open(&dir_host).map_err(|source| AttachError::File {
        what: "opening the target's dump directory",
        path: dir_host.clone(),
        source,
    })?;
    if options.check_space {
        check_target_space(jvm, &dir, &dir_host, options)?;
    }
    let name = unique_dump_name(target.ns_pid);
    let path_in_target = options.target_dir.join(&name);
    let in_target = InTargetFile {
        dir,
        name: CString::new(name.as_bytes()).expect("generated name has no NUL"),
        shown: dir_host.join(&name),
    };
    if in_target.size().is_some() {
        // Not ours: never let the guard delete it.
        std::mem::forget(in_target);
        return Err(AttachError::DumpFailed {
            message: format!(
                "{} already exists in the target; retry",
                dir_host.join(&name).display()
            ),
        });
    }
    let path_arg = path_in_target
        .to_str()
        .ok_or_else(|| AttachError::InvalidRequest {
            command: "dumpheap".into(),
            reason: format!(
                "the target directory {} is not valid UTF-8",
                options.target_dir.display()
            ),
        })?;

    // 1. The JVM writes the dump; we watch the file grow. A plain copy into a file is hashed
    //    while the JVM writes, so the copy afterwards is only an in-kernel copy.
    let plain_file = matches!(
        (&sink, options.compression),
        (Sink::File(_), Compression::None)
    );
    let tail_hash = if plain_file {
        match crate::tailhash::TailHash::start(&in_target.dir, &in_target.name) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::debug!(error = %e, "hashing after the dump instead of during it");
                None
            }
        }
    } else {
        None
    };
    let started = Instant::now();
    let alive = || target.is_alive();
    let mut last_size = 0u64;
    let mut watch = || {
        let size = in_target.size().unwrap_or(0);
        if size > last_size {
            last_size = size;
            progress(Progress::Dumping {
                written_bytes: size,
            });
            true
        } else {
            false
        }
    };
    let mut patience = Patience::new(target.pid, "dumpheap", options.stall_timeout, &alive);
    patience.cancel = options.cancel;
    patience.during = "writing the heap dump";
    patience.on_tick = Some(&mut watch);
    let mut answer = Vec::new();
    tracing::info!(pid = target.pid, path = %path_in_target.display(), "asking the JVM for a heap dump");
    jvm.execute_patiently(
        "dumpheap",
        &[path_arg, if options.live_only { "-live" } else { "-all" }],
        &mut answer,
        &mut patience,
    )?;
    drop(patience);
    let answer = String::from_utf8_lossy(&answer);
    if !answer.contains("Heap dump file created") {
        return Err(AttachError::DumpFailed {
            message: format!("the JVM said: {}", answer.trim()),
        });
    }
    let dump_ms = started.elapsed().as_millis() as u64;
    if cancelled() {
        return Err(AttachError::Cancelled {
            during: "writing the heap dump",
        });
    }

    // 2. Copy it out.
    let mut file = in_target.open().map_err(|source| AttachError::File {
        what: "opening the finished dump",
        path: in_target.shown.clone(),
        source,
    })?;
    let total_bytes = file
        .metadata()
        .map_err(|source| AttachError::File {
            what: "reading the size of",
            path: in_target.shown.clone(),
            source,
        })?
        .len();
    before_copy(total_bytes)?;
    progress(Progress::Copying {
        copied_bytes: 0,
        total_bytes,
    });
    let copy_started = Instant::now();
    let sink_err = |source: std::io::Error, written_bytes: u64| {
        if source.raw_os_error() == Some(libc::ENOSPC) {
            AttachError::DestinationFull {
                path: sink_name.to_path_buf(),
                written_bytes,
            }
        } else {
            AttachError::File {
                what: "writing the heap dump to",
                path: sink_name.to_path_buf(),
                source,
            }
        }
    };
    let read_err = |source| AttachError::File {
        what: "reading the dump",
        path: in_target.shown.clone(),
        source,
    };
    // Plain dump into a file: in-kernel copy, hashed already (or, when the JVM rewrote bytes it
    // had written, hashed again from the copy).
    if let (Sink::File(dst), Compression::None) = (&sink, options.compression) {
        let tailed = match tail_hash.map(crate::tailhash::TailHash::finish) {
            Some(Ok(t)) => match t.still_matches() {
                Ok(true) => Some(t),
                Ok(false) => {
                    tracing::debug!("the JVM rewrote part of the dump: hashing the copy instead");
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %e, "hashing the copy instead");
                    None
                }
            },
            Some(Err(e)) => {
                tracing::debug!(error = %e, "hashing the copy instead");
                None
            }
            None => None,
        };
        let mut hasher = Sha256::new();
        let mut on_chunk = |copied: u64| -> Result<()> {
            progress(Progress::Copying {
                copied_bytes: copied,
                total_bytes,
            });
            if cancelled() {
                return Err(AttachError::Cancelled {
                    during: "copying the heap dump",
                });
            }
            Ok(())
        };
        let copy = match &tailed {
            Some(_) => copy_chunks(&file, dst, None, &mut on_chunk),
            None => copy_file_hashed(&file, dst, &mut hasher, &mut on_chunk),
        };
        let copied = match copy {
            Ok(n) => n,
            Err((_, false, _)) if cancelled() => {
                return Err(AttachError::Cancelled {
                    during: "copying the heap dump",
                });
            }
            Err((source, true, at)) => return Err(sink_err(source, at)),
            Err((source, false, _)) => return Err(read_err(source)),
        };
        if copied != total_bytes {
            return Err(AttachError::DumpFailed {
                message: format!(
                    "the dump was {total_bytes} bytes but {copied} could be read back from {}",
                    in_target.shown.display()
                ),
            });
        }
        let sha256 = match tailed {
            Some(t) if t.bytes == total_bytes => hex::encode(t.hasher.finalize()),
            Some(t) => {
                return Err(AttachError::DumpFailed {
                    message: format!(
                        "the dump was {total_bytes} bytes but {} were seen while it was written to {}",
                        t.bytes,
                        in_target.shown.display()
                    ),
                });
            }
            None => hex::encode(hasher.finalize()),
        };
        let report = HeapDumpReport {
            path_in_target,
            dump_bytes: total_bytes,
            output_bytes: copied,
            sha256,
            compression: "none",
            dump_ms,
            copy_ms: copy_started.elapsed().as_millis() as u64,
        };
        drop(in_target);
        return Ok(report);
    }
    let mut file_writer;
    let sink: &mut dyn Write = match sink {
        Sink::Writer(w) => w,
        Sink::File(f) => {
            file_writer = std::io::BufWriter::with_capacity(1 << 20, f);
            &mut file_writer
        }
    };
    let mut hashing = HashingWriter {
        inner: sink,
        hasher: Sha256::new(),
        written: 0,
    };
    let mut buf = vec![0u8; 1 << 20];
    let mut copied = 0u64;
    match options.compression {
        Compression::None => loop {
            let n = file.read(&mut buf).map_err(read_err)?;
            if n == 0 {
                break;
            }
            hashing
                .write_all(&buf[..n])
                .map_err(|e| sink_err(e, copied))?;
            copied += n as u64;
            progress(Progress::Copying {
                copied_bytes: copied,
                total_bytes,
            });
            if cancelled() {
                return Err(AttachError::Cancelled {
                    during: "copying the heap dump",
                });
            }
        },
        Compression::Zstd { level, workers } => {
            let mut encoder = zstd::stream::write::Encoder::new(&mut hashing, level)
                .map_err(|e| sink_err(e, 0))?;
            if workers > 1 {
                encoder.multithread(workers).map_err(|e| sink_err(e, 0))?;
                // Each worker buffers a job's input and output: small jobs keep our memory flat
                // (well under 64 MB) whatever the dump size.
                encoder
                    .set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_BYTES))
                    .map_err(|e| sink_err(e, 0))?;
            }
            encoder.include_checksum(true).map_err(|e| sink_err(e, 0))?;
            encoder
                .set_pledged_src_size(Some(total_bytes))
                .map_err(|e| sink_err(e, 0))?;
            loop {
                let n = file.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                encoder
                    .write_all(&buf[..n])
                    .map_err(|e| sink_err(e, copied))?;
                copied += n as u64;
                progress(Progress::Copying {
                    copied_bytes: copied,
                    total_bytes,
                });
                if cancelled() {
                    return Err(AttachError::Cancelled {
                        during: "copying the heap dump",
                    });
                }
            }
            encoder.finish().map_err(|e| sink_err(e, copied))?;
        }
    }
    hashing.flush().map_err(|e| sink_err(e, copied))?;
    if copied != total_bytes {
        return Err(AttachError::DumpFailed {
            message: format!(
                "the dump was {total_bytes} bytes but {copied} could be read back from {}",
                in_target.shown.display()
            ),
        });
    }
    let report = HeapDumpReport {
        path_in_target,
        dump_bytes: total_bytes,
        output_bytes: hashing.written,
        sha256: hex::encode(hashing.hasher.finalize()),
        compression: match options.compression {
            Compression::None => "none",
            Compression::Zstd { .. } => "zstd",
        },
        dump_ms,
        copy_ms: copy_started.elapsed().as_millis() as u64,
    };
    drop(in_target);
    Ok(report)
}

fn check_target_space(
    jvm: &Jvm,
    dir: &File,
    dir_host: &Path,
    options: &HeapDumpOptions<'_>,
) -> Result<()> {
    let available = available_bytes(dir).map_err(|source| AttachError::File {
        what: "checking free space in",
        path: dir_host.to_path_buf(),
        source,
    })?;
    let exec = ExecOptions {
        response_timeout: Duration::from_secs(30),
        cancel: options.cancel,
    };
    let used = match jvm.jcmd("GC.heap_info", &exec) {
        Ok(text) => heap_used_bytes(&text),
        Err(e) => {
            tracing::warn!(error = %e, "GC.heap_info failed; cannot estimate the dump size");
            None
        }
    };
    let Some(used) = used else {
        tracing::warn!("heap usage unknown; skipping the free-space check");
        return Ok(());
    };
    // HPROF ids are 8 bytes where the heap uses 4-byte compressed references, and every object gets
    // a record header: a dump is often larger than the heap in use.
    let needed = used.saturating_add(used / 4).saturating_add(8 << 20);
    tracing::debug!(available, needed, dir = %options.target_dir.display(), "free space in the target");
    if available < needed {
        return Err(AttachError::NotEnoughSpace {
            dir: options.target_dir.clone(),
            available_bytes: available,
            needed_bytes: needed,
        });
    }
    Ok(())
}

/// Removes a partially written destination file unless disarmed.
struct PartialFile {
    path: PathBuf,
    armed: bool,
}

impl Drop for PartialFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Dump the heap to `dest`: written under a temporary name next to it and renamed when complete,
/// so `dest` is either the whole dump or absent.
pub fn dump_heap_to_path(
    jvm: &Jvm,
    options: &HeapDumpOptions<'_>,
    dest: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<HeapDumpReport> {
    let file_name = dest.file_name().ok_or_else(|| AttachError::File {
        what: "the output path has no file name:",
        path: dest.to_path_buf(),
        source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
    })?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".partial-{}", std::process::id()));
    let temp_path = dir.join(&temp_name);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&temp_path)
        .map_err(|source| AttachError::File {
            what: "creating",
            path: temp_path.clone(),
            source,
        })?;
    let mut partial = PartialFile {
        path: temp_path.clone(),
        armed: true,
    };
    let compression = options.compression;
    let mut check = |dump_bytes: u64| -> Result<()> {
        // Compressed size is unknown in advance; a plain copy needs the whole dump's size.
        if compression != Compression::None {
            return Ok(());
        }
        let available = available_bytes(&file).map_err(|source| AttachError::File {
            what: "checking free space in",
            path: dir.clone(),
            source,
        })?;
        if available < dump_bytes {
            return Err(AttachError::DestinationFull {
                path: dest.to_path_buf(),
                written_bytes: 0,
            });
        }
        Ok(())
    };
    let report = dump_heap_into(jvm, options, Sink::File(&file), dest, &mut check, progress)?;
    drop(file);
    std::fs::rename(&temp_path, dest).map_err(|source| AttachError::File {
        what: "renaming the finished dump to",
        path: dest.to_path_buf(),
        source,
    })?;
    partial.armed = false;
    // Make the name stick: fsync the directory is cheap compared to the dump.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_used_for_each_collector() {
        let g1 = " garbage-first heap   total 397312K, used 5330K [0x0000000687400000, 0x0000000800000000)
  region size 4096K, 1 young (4096K), 0 survivors (0K)
 Metaspace       used 73K, committed 320K, reserved 1114112K
  class space    used 3K, committed 128K, reserved 1048576K
";
        assert_eq!(heap_used_bytes(g1), Some(5330 * 1024));
        let parallel = " PSYoungGen      total 76288K, used 3932K [0x, 0x, 0x)
  eden space 65536K, 6% used [0x,0x,0x)
  from space 10752K, 0% used [0x,0x,0x)
 ParOldGen       total 175104K, used 100K [0x,0x,0x)
  object space 175104K, 0% used [0x,0x,0x)
 Metaspace       used 150K, committed 384K, reserved 1056768K
";
        assert_eq!(heap_used_bytes(parallel), Some((3932 + 100) * 1024));
        let serial = " def new generation   total 78656K, used 4199K [0x, 0x, 0x)
  eden space 69952K,   6% used [0x, 0x, 0x)
 tenured generation   total 174784K, used 10K [0x, 0x, 0x)
";
        assert_eq!(heap_used_bytes(serial), Some((4199 + 10) * 1024));
        let zgc = " ZHeap           used 8M, capacity 16M, max capacity 256M\n Metaspace       used 96K, committed 320K\n";
        assert_eq!(heap_used_bytes(zgc), Some(8 << 20));
        let shenandoah = "Shenandoah Heap\n 262144K max, 262144K soft max, 262144K committed, 2918K used\n 1024 x 256K regions\n";
        assert_eq!(heap_used_bytes(shenandoah), Some(2918 * 1024));
        assert_eq!(
            heap_used_bytes("Native memory tracking is not enabled\n"),
            None
        );
        assert_eq!(heap_used_bytes(" used 99999999999999999999999G"), None);
    }

    #[test]
    fn compression_follows_the_extension() {
        assert_eq!(
            Compression::for_path(Path::new("/x/heap.hprof")),
            Compression::None
        );
        assert!(matches!(
            Compression::for_path(Path::new("heap.hprof.zst")),
            Compression::Zstd { level: 3, .. }
        ));
    }

    #[test]
    fn hashing_writer_counts_and_hashes() {
        let mut out = Vec::new();
        let mut w = HashingWriter {
            inner: &mut out,
            hasher: Sha256::new(),
            written: 0,
        };
        w.write_all(b"abc").expect("vec write");
        assert_eq!(w.written, 3);
        assert_eq!(
            hex::encode(w.hasher.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
