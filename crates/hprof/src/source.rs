//! Byte sources: a buffered forward reader over any `Read` (file, pipe, decompressor) that hands
//! out contiguous slices of bounded size, and the ways of opening a dump.
//!
//! The parse pass reads with `read(2)` into one reusable buffer instead of mapping the file: the
//! pass touches every byte once, the copy from the page cache is cheap next to parsing, and the
//! process's resident size stays at the buffer size instead of growing by the whole dump (mapped
//! file pages count as resident). Random access afterwards (a thread's name, a string's text, the
//! field that links two objects) uses `pread` on the file, or on a spooled copy when the input was
//! compressed or a pipe.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{HprofError, Result};

/// A readable stream that may be able to jump forward cheaply.
pub trait ByteStream: Read {
    /// Skip up to `n` bytes without reading them when the stream can seek, returning how many
    /// were skipped (fewer at the end); `Ok(None)` when it cannot seek.
    fn seek_forward(&mut self, _n: u64) -> io::Result<Option<u64>> {
        Ok(None)
    }
}

impl ByteStream for File {
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let position = self.stream_position()?;
        let len = self.metadata()?.len();
        let k = n.min(len.saturating_sub(position));
        let step = i64::try_from(k).map_err(|_| io::Error::other("skip too large"))?;
        self.seek(SeekFrom::Current(step))?;
        Ok(Some(k))
    }
}

impl ByteStream for &[u8] {
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        let k = usize::try_from(n).unwrap_or(usize::MAX).min(self.len());
        *self = &self[k..];
        Ok(Some(k as u64))
    }
}

impl<R: Read> ByteStream for flate2::read::MultiGzDecoder<R> {}
impl<R: io::BufRead> ByteStream for zstd::stream::read::Decoder<'_, R> {}
impl ByteStream for io::Stdin {}
impl<T: ByteStream + ?Sized> ByteStream for Box<T> {
    fn seek_forward(&mut self, n: u64) -> io::Result<Option<u64>> {
        (**self).seek_forward(n)
    }
}

/// Buffered forward reader that tracks the absolute offset and can hand out contiguous slices.
pub(crate) struct Source<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// Offset in the stream of `buf[0]`.
    base: u64,
    eof: bool,
}

const DEFAULT_BUFFER: usize = 1 << 20;

impl<R: ByteStream> Source<R> {
    pub(crate) fn new(inner: R) -> Self {
        Source {
            inner,
            buf: vec![0; DEFAULT_BUFFER],
            pos: 0,
            end: 0,
            base: 0,
            eof: false,
        }
    }

    /// Absolute offset of the next unread byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Make `n` contiguous bytes available; `false` when the stream ends first.
    #[inline]
    pub(crate) fn ensure(&mut self, n: usize) -> Result<bool> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        self.fill(n)
    }

    #[cold]
    fn fill(&mut self, n: usize) -> Result<bool> {
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.base += self.pos as u64;
            self.end -= self.pos;
            self.pos = 0;
        }
        if n > self.buf.len() {
            // Callers bound `n` by Limits::max_contiguous_bytes.
            self.buf.resize(n.next_power_of_two(), 0);
        }
        while self.end < n && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(HprofError::io(self.base + self.end as u64, e)),
            }
        }
        Ok(self.end >= n)
    }

    /// Everything buffered and not yet consumed.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// The next `n` bytes; only valid after `ensure(n)` returned true.
    #[inline]
    pub(crate) fn peek(&self, n: usize) -> &[u8] {
        &self.buf[self.pos..self.pos + n]
    }

    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(self.pos + n <= self.end);
        self.pos += n;
    }

    /// Up to `max` bytes that are available without waiting beyond one read (at least one byte
    /// unless the stream ended). Used to stream large arrays in chunks.
    pub(crate) fn chunk(&mut self, max: u64) -> Result<&[u8]> {
        if self.pos == self.end {
            self.ensure(1)?;
        }
        let n = (self.end - self.pos).min(usize::try_from(max).unwrap_or(usize::MAX));
        Ok(&self.buf[self.pos..self.pos + n])
    }

    /// Skip `n` bytes; returns how many were skipped (fewer only at the end of the stream).
    pub(crate) fn skip(&mut self, n: u64) -> Result<u64> {
        let buffered = (self.end - self.pos) as u64;
        if n <= buffered {
            self.pos += n as usize;
            return Ok(n);
        }
        let mut remaining = n - buffered;
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        if remaining > self.buf.len() as u64 {
            let offset = self.base;
            match self.inner.seek_forward(remaining) {
                Ok(Some(skipped)) => {
                    self.base += skipped;
                    if skipped < remaining {
                        self.eof = true;
                    }
                    return Ok(n - (remaining - skipped));
                }
                Ok(None) => {}
                Err(e) => return Err(HprofError::io(offset, e)),
            }
        }
        while remaining > 0 {
            if !self.ensure(1)? {
                return Ok(n - remaining);
            }
            let take = ((self.end - self.pos) as u64).min(remaining);
            self.pos += take as usize;
            remaining -= take;
        }
        Ok(n)
    }

    /// True when no byte is left.
    pub(crate) fn at_end(&mut self) -> Result<bool> {
        Ok(!self.ensure(1)?)
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }
}

/// How the bytes of a dump are stored on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Look at the first bytes of a file to see whether it is compressed.
pub fn detect_compression(path: &Path) -> io::Result<Compression> {
    let mut head = [0u8; 4];
    let mut file = File::open(path)?;
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(compression_of(&head[..filled]))
}

/// Compression of a stream from its first bytes.
pub fn compression_of(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Bytes already read from a non-seekable stream (to sniff compression), then the rest of it.
struct Prefixed<R> {
    head: Vec<u8>,
    at: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at < self.head.len() {
            let n = buf.len().min(self.head.len() - self.at);
            buf[..n].copy_from_slice(&self.head[self.at..self.at + n]);
            self.at += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

impl<R: Read> ByteStream for Prefixed<R> {}

/// An opened dump: the stream of its decompressed bytes and what it came from.
pub struct OpenedDump {
    pub stream: Box<dyn ByteStream + Send>,
    pub compression: Compression,
    /// A regular uncompressed file: it can be re-read at random without a copy.
    pub seekable_file: bool,
}

/// Open a dump (a file, a FIFO or a character device such as `/dev/stdin`) for one forward pass,
/// decompressing gzip or zstd transparently. The path is opened once, so pipes work.
pub fn open_stream(path: &Path) -> io::Result<OpenedDump> {
    let mut file = File::open(path)?;
    let regular = file.metadata()?.is_file();
    let mut head = vec![0u8; 4];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    head.truncate(filled);
    let compression = compression_of(&head);
    let raw: Box<dyn ByteStream + Send> = if regular {
        file.seek(SeekFrom::Start(0))?;
        Box::new(file)
    } else {
        Box::new(Prefixed {
            head,
            at: 0,
            inner: file,
        })
    };
    let stream: Box<dyn ByteStream + Send> = match compression {
        Compression::None => raw,
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(1 << 20, raw),
        )),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(raw)?),
    };
    Ok(OpenedDump {
        stream,
        compression,
        seekable_file: regular && compression == Compression::None,
    })
}

/// Random access to the decompressed bytes of a dump, for the few objects looked at after the
/// pass.
#[derive(Debug)]
pub struct RandomAccess {
    file: File,
    len: u64,
    /// Keeps a spooled copy alive (and deletes it on drop).
    _spool: Option<tempfile::TempPath>,
}

impl RandomAccess {
    /// Read up to `max` bytes at `offset` (fewer at the end of the file).
    pub fn read_at(&self, offset: u64, max: usize) -> io::Result<Vec<u8>> {
        let available = self.len.saturating_sub(offset);
        let n = (max as u64).min(available) as usize;
        let mut buf = vec![0; n];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
    }

    /// Length of the decompressed dump.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty dump.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub(crate) fn from_file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(RandomAccess {
            file,
            len,
            _spool: None,
        })
    }
}

/// A stream that copies everything it reads into a temporary file, so a compressed dump or a pipe
/// can be re-read at random afterwards while being decompressed only once.
pub(crate) struct Spooling<R> {
    inner: R,
    out: BufWriter<File>,
    path: tempfile::TempPath,
    error: Option<io::Error>,
}

impl<R: Read> Spooling<R> {
    pub(crate) fn new(inner: R, dir: Option<&Path>) -> Result<Self> {
        let dir: PathBuf = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let named = tempfile::Builder::new()
            .prefix("triage-hprof-spool-")
            .tempfile_in(&dir)
            .map_err(|source| HprofError::Spool {
                path: dir.display().to_string(),
                source,
            })?;
        let (file, path) = named.into_parts();
        Ok(Spooling {
            inner,
            out: BufWriter::with_capacity(1 << 20, file),
            path,
            error: None,
        })
    }

    /// Finish writing and open the copy for random access.
    pub(crate) fn finish(self) -> Result<RandomAccess> {
        let path_text = self.path.display().to_string();
        let spool_err = |source| HprofError::Spool {
            path: path_text.clone(),
            source,
        };
        if let Some(e) = self.error {
            return Err(spool_err(e));
        }
        let file = self
            .out
            .into_inner()
            .map_err(|e| spool_err(e.into_error()))?;
        let len = file.metadata().map_err(spool_err)?.len();
        Ok(RandomAccess {
            file,
            len,
            _spool: Some(self.path),
        })
    }
}

impl<R: Read> Read for Spooling<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&buf[..n])
        {
            self.error = Some(e);
        }
        Ok(n)
    }
}

impl<R: Read> ByteStream for Spooling<R> {}
