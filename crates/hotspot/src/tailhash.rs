//! Hashing a heap dump while the JVM writes it, so that a plain `.hprof` copy needs no second pass.
//!
//! The JVM appends to the dump file; a thread reads behind it and hashes. Older HotSpot versions
//! (JDK ≤ 14) seek back to patch the length field of each heap-dump segment once the segment is
//! complete, which would make a hash of the bytes as first written wrong. So the thread also walks
//! the top-level HPROF records as they stream past and notes each record's length field; when the
//! dump is complete those fields are read again, and if any of them changed (or there were too
//! many to track) the caller hashes the finished file instead. The hash is never of bytes that
//! are not the final file's.

use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

const RUNNING: u8 = 0;
const FINISH: u8 = 1;
const ABORT: u8 = 2;

/// Length fields tracked at most (a dump has one per record: a few thousand in practice).
const MAX_TRACKED: usize = 1 << 20;

/// What the reading thread saw.
pub(crate) struct Tailed {
    /// The hash of every byte of the file, in order, as read while it grew.
    pub(crate) hasher: Sha256,
    pub(crate) bytes: u64,
    file: File,
    walker: RecordWalker,
}

impl Tailed {
    /// True when the record length fields read while streaming still hold the same values, so the
    /// hash is of the file as it is now.
    pub(crate) fn still_matches(&self) -> std::io::Result<bool> {
        if self.walker.overflow {
            return Ok(false);
        }
        let size = self.file.metadata()?.len();
        if size != self.bytes {
            return Ok(false);
        }
        let mut now = [0u8; 4];
        for (offset, seen) in &self.walker.lengths {
            if offset + 4 > size {
                continue;
            }
            self.file.read_exact_at(&mut now, *offset)?;
            if now != *seen {
                tracing::debug!(offset, "a record length was patched after it was written");
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// A running tail hash; dropping it without [`TailHash::finish`] stops the thread.
pub(crate) struct TailHash {
    state: Arc<AtomicU8>,
    handle: Option<std::thread::JoinHandle<std::io::Result<Tailed>>>,
}

impl TailHash {
    /// Start hashing `name` in `dir` (opened without following symlinks) as soon as it appears.
    pub(crate) fn start(dir: &File, name: &CString) -> std::io::Result<TailHash> {
        let dir = dir.try_clone()?;
        let name = name.clone();
        let state = Arc::new(AtomicU8::new(RUNNING));
        let shared = state.clone();
        let handle = std::thread::Builder::new()
            .name("dump-hash".into())
            .spawn(move || tail(&dir, &name, &shared))?;
        Ok(TailHash {
            state,
            handle: Some(handle),
        })
    }

    /// The writer is done: read to the end and return what was hashed.
    pub(crate) fn finish(mut self) -> std::io::Result<Tailed> {
        self.state.store(FINISH, Ordering::SeqCst);
        let handle = self.handle.take().expect("finish is called once");
        handle
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the dump hashing thread panicked")))
    }
}

impl Drop for TailHash {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            self.state.store(ABORT, Ordering::SeqCst);
            let _ = handle.join();
        }
    }
}

fn open_nofollow(dir: &File, name: &CString) -> std::io::Result<File> {
    // SAFETY: openat with a valid directory fd and a NUL-terminated name.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by openat and is owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn tail(dir: &File, name: &CString, state: &AtomicU8) -> std::io::Result<Tailed> {
    let stopped = || std::io::Error::other("stopped");
    let mut file = loop {
        match open_nofollow(dir, name) {
            Ok(f) => break f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if state.load(Ordering::SeqCst) != RUNNING {
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    };
    let mut hasher = Sha256::new();
    let mut walker = RecordWalker::default();
    let mut buf = vec![0u8; 4 << 20];
    let mut bytes = 0u64;
    let mut last_pass = false;
    loop {
        if state.load(Ordering::SeqCst) == ABORT {
            return Err(stopped());
        }
        let n = file.read(&mut buf)?;
        if n == 0 {
            if last_pass {
                break;
            }
            // The writer finished before FINISH was set: one more read to the end sees it all.
            if state.load(Ordering::SeqCst) == FINISH {
                last_pass = true;
                continue;
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        }
        hasher.update(&buf[..n]);
        walker.feed(&buf[..n]);
        bytes += n as u64;
    }
    Ok(Tailed {
        hasher,
        bytes,
        file,
        walker,
    })
}

/// Follows the top-level HPROF records (`u1 tag, u4 time, u4 length, body`) after the header
/// (`"JAVA PROFILE 1.0.x\0"`, `u4` id size, `u8` timestamp), noting where each length field is and
/// what it held.
#[derive(Default)]
struct RecordWalker {
    /// Bytes fed so far.
    pos: u64,
    /// The header while it is incomplete; `None` once records start.
    header: Option<Vec<u8>>,
    header_done: bool,
    /// Offset of the next record header.
    next: u64,
    /// The part of the next record header seen so far.
    pending: Vec<u8>,
    lengths: Vec<(u64, [u8; 4])>,
    /// Not an HPROF stream as expected, or too many records to track: the caller re-hashes.
    overflow: bool,
}

impl RecordWalker {
    fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && !self.overflow {
            if !self.header_done {
                let header = self.header.get_or_insert_with(Vec::new);
                let take = chunk.len().min(64 - header.len().min(64));
                header.extend_from_slice(&chunk[..take]);
                self.pos += take as u64;
                chunk = &chunk[take..];
                if let Some(nul) = header.iter().position(|&b| b == 0) {
                    let end = nul + 1 + 4 + 8;
                    if header.len() >= end {
                        // Bytes of the first records taken with the header go back in.
                        let extra = header.split_off(end);
                        self.header_done = true;
                        self.next = end as u64;
                        self.pos -= extra.len() as u64;
                        self.header = None;
                        self.feed(&extra);
                    }
                } else if header.len() >= 64 {
                    self.overflow = true;
                }
                continue;
            }
            if self.pos < self.next {
                let skip = (self.next - self.pos).min(chunk.len() as u64) as usize;
                self.pos += skip as u64;
                chunk = &chunk[skip..];
                continue;
            }
            let take = (9 - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            self.pos += take as u64;
            chunk = &chunk[take..];
            if self.pending.len() == 9 {
                let field: [u8; 4] = self.pending[5..9].try_into().expect("4 bytes");
                if self.lengths.len() >= MAX_TRACKED {
                    self.overflow = true;
                    return;
                }
                self.lengths.push((self.next + 5, field));
                self.next = self.next + 9 + u64::from(u32::from_be_bytes(field));
                self.pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![tag, 0, 0, 0, 0];
        r.extend_from_slice(&(body.len() as u32).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    fn dump() -> Vec<u8> {
        let mut d = b"JAVA PROFILE 1.0.2\0".to_vec();
        d.extend_from_slice(&8u32.to_be_bytes());
        d.extend_from_slice(&0u64.to_be_bytes());
        d.extend(record(0x01, b"some string"));
        d.extend(record(0x1c, &[7u8; 1000]));
        d.extend(record(0x2c, &[]));
        d
    }

    #[test]
    fn walker_finds_every_length_field_whatever_the_chunking() {
        let d = dump();
        let header = 19 + 12;
        let want = vec![
            ((header + 5) as u64, 11u32.to_be_bytes()),
            ((header + 9 + 11 + 5) as u64, 1000u32.to_be_bytes()),
            ((header + 9 + 11 + 9 + 1000 + 5) as u64, 0u32.to_be_bytes()),
        ];
        for chunk in [1, 2, 3, 7, 9, 64, 100, 4096] {
            let mut w = RecordWalker::default();
            for c in d.chunks(chunk) {
                w.feed(c);
            }
            assert!(!w.overflow, "chunk {chunk}");
            assert_eq!(w.lengths, want, "chunk {chunk}");
        }
    }

    #[test]
    fn a_patched_length_is_noticed_and_an_appended_file_hashes_like_the_whole() {
        let dir = tempfile::tempdir().unwrap();
        let dir_file = File::open(dir.path()).unwrap();
        let name = CString::new("d.hprof").unwrap();
        let d = dump();
        // Append-only: the tail hash is the file's hash.
        let tail = TailHash::start(&dir_file, &name).unwrap();
        std::fs::write(dir.path().join("d.hprof"), &d).unwrap();
        let tailed = tail.finish().unwrap();
        assert!(tailed.still_matches().unwrap());
        assert_eq!(
            hex::encode(tailed.hasher.clone().finalize()),
            hex::encode(Sha256::digest(&d))
        );
        // A segment length written as 0 first and patched later (JDK 8 and 11 do that): what
        // the thread saw is replayed here, so the order of writes and reads is fixed.
        let at = 19 + 12 + 9 + 11 + 5;
        let mut first = d.clone();
        first[at..at + 4].copy_from_slice(&[0, 0, 0, 0]);
        let mut walker = RecordWalker::default();
        walker.feed(&first);
        let path = dir.path().join("p.hprof");
        std::fs::write(&path, &d).unwrap();
        let seen = Tailed {
            hasher: Sha256::new_with_prefix(&first),
            bytes: first.len() as u64,
            file: File::open(&path).unwrap(),
            walker,
        };
        assert!(!seen.still_matches().unwrap(), "the patch went unnoticed");
        // Unpatched, the same replay matches.
        let mut walker = RecordWalker::default();
        walker.feed(&d);
        let seen = Tailed {
            hasher: Sha256::new_with_prefix(&d),
            bytes: d.len() as u64,
            file: File::open(&path).unwrap(),
            walker,
        };
        assert!(seen.still_matches().unwrap());
    }

    #[test]
    fn garbage_is_not_tracked_forever() {
        let mut w = RecordWalker::default();
        w.feed(&[b'x'; 200]);
        assert!(w.overflow);
    }
}
