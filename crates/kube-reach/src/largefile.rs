//! Writing a large copy (a heap dump, a core file) to a local file without the page cache.
//!
//! A buffered `write` copies every byte into page-cache pages first; for a gigabyte that copy is
//! the largest single cost of a copy-out (half of the profile, several seconds of system time on
//! a virtual machine whose free pages must be faulted back in), and it evicts the page cache the
//! rest of the machine was using. [`LargeFileWriter`] opens the file with `O_DIRECT` and writes
//! aligned 8 MiB blocks straight to the device; the unaligned tail is written through the page
//! cache after `O_DIRECT` is cleared. A filesystem without direct I/O (tmpfs, some FUSE and
//! network filesystems) refuses `O_DIRECT` at open or at the first write: the writer then goes on
//! with ordinary buffered writes, so the result is the same file either way.
//!
//! [`ThreadWriter`] runs one on its own thread behind an `AsyncWrite`, so the disk never waits
//! on the network and the other way round; a bounded queue between them is the back-pressure.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Direct-I/O alignment of buffer addresses, offsets and lengths (the largest logical block
/// size in use; 512-byte devices accept it too).
const ALIGN: usize = 4096;
/// Bytes gathered before one direct write.
const BLOCK: usize = 8 << 20;

/// A sequential writer of a new file, direct I/O where the filesystem allows it.
pub struct LargeFileWriter {
    file: File,
    path: PathBuf,
    /// `BLOCK + ALIGN` bytes; the block starts at `start`, aligned to `ALIGN`.
    buf: Vec<u8>,
    start: usize,
    filled: usize,
    direct: bool,
    written: u64,
}

impl LargeFileWriter {
    /// Create `path`, which must not exist (`O_EXCL`), mode 0600.
    pub fn create(path: &Path) -> io::Result<LargeFileWriter> {
        Self::open(path, true)
    }

    fn open(path: &Path, try_direct: bool) -> io::Result<LargeFileWriter> {
        let open = |flags: i32| {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(flags)
                .open(path)
        };
        let (file, direct) = match open(if try_direct { libc::O_DIRECT } else { 0 }) {
            Ok(f) => (f, try_direct),
            // No direct I/O on this filesystem: open it plainly.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => (open(0)?, false),
            Err(e) => return Err(e),
        };
        let buf = vec![0u8; BLOCK + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Ok(LargeFileWriter {
            file,
            path: path.to_path_buf(),
            buf,
            start,
            filled: 0,
            direct,
            written: 0,
        })
    }

    /// Whether the file is (still) written with direct I/O.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// Bytes accepted so far.
    pub fn len(&self) -> u64 {
        self.written + self.filled as u64
    }

    /// True before the first byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Append `data`. An aligned run of whole blocks (what [`ThreadWriter`] hands over) goes to
    /// the device as it is; anything else is gathered into the writer's own block first.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        if self.direct
            && self.filled == 0
            && data.len() % ALIGN == 0
            && (data.as_ptr() as usize) % ALIGN == 0
        {
            while !data.is_empty() {
                match self.file.write(data) {
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the device accepted no more bytes",
                        ));
                    }
                    Ok(n) => {
                        self.written += n as u64;
                        data = &data[n..];
                        if n % ALIGN != 0 {
                            // A short write broke the alignment: the rest goes buffered.
                            self.clear_direct()?;
                            break;
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                        self.clear_direct()?;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        while !data.is_empty() {
            let room = BLOCK - self.filled;
            let n = room.min(data.len());
            let at = self.start + self.filled;
            self.buf[at..at + n].copy_from_slice(&data[..n]);
            self.filled += n;
            data = &data[n..];
            if self.filled == BLOCK {
                self.flush_block(BLOCK)?;
            }
        }
        Ok(())
    }

    /// Write the first `len` bytes of the block (a multiple of `ALIGN` while direct) and keep
    /// the rest at the front.
    fn flush_block(&mut self, len: usize) -> io::Result<()> {
        let mut done = 0;
        while done < len {
            let from = self.start + done;
            match self.file.write(&self.buf[from..self.start + len]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "the device accepted no more bytes",
                    ));
                }
                // A short direct write that breaks the alignment: finish buffered.
                Ok(n) if self.direct && n % ALIGN != 0 => {
                    self.clear_direct()?;
                    done += n;
                }
                Ok(n) => done += n,
                // The filesystem opened the file for direct I/O but refuses the write itself.
                Err(e) if self.direct && e.raw_os_error() == Some(libc::EINVAL) => {
                    self.clear_direct()?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf
            .copy_within(self.start + len..self.start + self.filled, self.start);
        self.filled -= len;
        self.written += len as u64;
        Ok(())
    }

    fn clear_direct(&mut self) -> io::Result<()> {
        let fd = self.file.as_raw_fd();
        // SAFETY: fcntl on a descriptor this struct owns; no memory is passed.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: as above.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_DIRECT) } < 0 {
            return Err(io::Error::last_os_error());
        }
        self.direct = false;
        Ok(())
    }

    /// Write what is left (the aligned part directly, the tail buffered) and return the file.
    pub fn finish(mut self) -> io::Result<File> {
        if self.direct {
            let aligned = self.filled - self.filled % ALIGN;
            if aligned > 0 {
                self.flush_block(aligned)?;
            }
            if self.filled > 0 {
                self.clear_direct()?;
            }
        }
        let rest = self.filled;
        if rest > 0 {
            self.flush_block(rest)?;
        }
        Ok(self.file)
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// A block of the pool [`ThreadWriter`] fills: `BLOCK_BYTES` at an `ALIGN`ed address, so a full
/// block goes to the device as it is.
struct Block {
    buf: Vec<u8>,
    start: usize,
    len: usize,
}

/// Size of a pool block, and how many blocks exist at most (the writer's memory: 16 MiB).
const BLOCK_BYTES: usize = 4 << 20;
const POOL: usize = 4;

impl Block {
    fn new() -> Block {
        let buf = vec![0u8; BLOCK_BYTES + ALIGN];
        let start = buf.as_ptr().align_offset(ALIGN);
        Block { buf, start, len: 0 }
    }

    fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    fn push(&mut self, data: &[u8]) -> usize {
        let n = (BLOCK_BYTES - self.len).min(data.len());
        let at = self.start + self.len;
        self.buf[at..at + n].copy_from_slice(&data[..n]);
        self.len += n;
        n
    }

    fn is_full(&self) -> bool {
        self.len == BLOCK_BYTES
    }
}

/// Where the writing thread takes its blocks from: the stream, or the hashing thread.
enum Source {
    Stream(tokio::sync::mpsc::Receiver<Block>),
    Hashed(std::sync::mpsc::Receiver<Block>),
}

impl Source {
    fn next(&mut self) -> Option<Block> {
        match self {
            Source::Stream(rx) => rx.blocking_recv(),
            Source::Hashed(rx) => rx.recv().ok(),
        }
    }
}

/// A [`LargeFileWriter`] on its own thread, fed through an `AsyncWrite`.
///
/// Bytes are copied once, into aligned blocks of a small pool; a full block goes to the hashing
/// thread (when asked for) and then to the writing thread, which writes it to the device directly
/// and hands it back.
pub struct ThreadWriter {
    tx: tokio_util::sync::PollSender<Block>,
    free: tokio::sync::mpsc::Receiver<Block>,
    made: usize,
    current: Option<Block>,
    thread: Option<std::thread::JoinHandle<io::Result<File>>>,
}

impl ThreadWriter {
    /// Start writing `writer` from a new thread.
    pub fn spawn(writer: LargeFileWriter) -> io::Result<ThreadWriter> {
        Self::start(writer, None)
    }

    /// Like [`ThreadWriter::spawn`], also computing the sha256 of everything written, on a thread
    /// of its own; it is sent on `digest` once the queue is closed and every byte hashed (dropped
    /// unsent when writing failed first). [`ThreadWriter::finish`] reports whether the writing
    /// succeeded.
    pub fn spawn_hashing(
        writer: LargeFileWriter,
        digest: tokio::sync::oneshot::Sender<[u8; 32]>,
    ) -> io::Result<ThreadWriter> {
        Self::start(writer, Some(digest))
    }

    fn start(
        mut writer: LargeFileWriter,
        digest: Option<tokio::sync::oneshot::Sender<[u8; 32]>>,
    ) -> io::Result<ThreadWriter> {
        use sha2::Digest;
        let (tx, rx) = tokio::sync::mpsc::channel::<Block>(POOL);
        let (free_tx, free) = tokio::sync::mpsc::channel::<Block>(POOL);
        // Hashing and writing are two stages on two threads: a direct write waits for the
        // device, and the next block is hashed meanwhile.
        let source = match digest {
            Some(digest) => {
                let (to_write, hashed) = std::sync::mpsc::sync_channel::<Block>(POOL);
                let mut rx = rx;
                std::thread::Builder::new()
                    .name("copy-hash".into())
                    .spawn(move || {
                        let mut hasher = sha2::Sha256::new();
                        while let Some(block) = rx.blocking_recv() {
                            hasher.update(block.data());
                            if to_write.send(block).is_err() {
                                // The writer failed: its error is what `finish` reports.
                                return;
                            }
                        }
                        let _ = digest.send(hasher.finalize().into());
                    })?;
                Source::Hashed(hashed)
            }
            None => Source::Stream(rx),
        };
        let thread = std::thread::Builder::new()
            .name("copy-write".into())
            .spawn(move || {
                let mut source = source;
                while let Some(mut block) = source.next() {
                    writer.write(block.data())?;
                    block.len = 0;
                    // At most POOL blocks exist: the queue back always has room.
                    let _ = free_tx.try_send(block);
                }
                writer.finish()
            })?;
        Ok(ThreadWriter {
            tx: tokio_util::sync::PollSender::new(tx),
            free,
            made: 0,
            current: None,
            thread: Some(thread),
        })
    }

    /// Hand the current block to the thread, when there is one with data.
    fn poll_send_current(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.current.as_ref().is_none_or(|b| b.len == 0) {
            return Poll::Ready(Ok(()));
        }
        if ready!(self.tx.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(writer_stopped()));
        }
        let block = self.current.take().expect("checked above");
        Poll::Ready(self.tx.send_item(block).map_err(|_| writer_stopped()))
    }

    /// Close the queue, wait for the last write and return the file (or the write's error).
    /// Bytes still in the current block are dropped: shut the writer down first to keep them.
    pub async fn finish(mut self) -> io::Result<File> {
        self.tx.close();
        let thread = self.thread.take().expect("finish runs once");
        tokio::task::spawn_blocking(move || {
            thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the file-writing thread panicked")))
        })
        .await
        .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
    }
}

fn writer_stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the file writer stopped (its error follows when the copy ends)",
    )
}

impl tokio::io::AsyncWrite for ThreadWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // A block left full by the last call goes first: nothing of `buf` is taken before it.
        if this.current.as_ref().is_some_and(Block::is_full) {
            ready!(this.poll_send_current(cx))?;
        }
        if this.current.is_none() {
            let block = match this.free.try_recv() {
                Ok(b) => b,
                Err(_) if this.made < POOL => {
                    this.made += 1;
                    Block::new()
                }
                Err(_) => match ready!(this.free.poll_recv(cx)) {
                    Some(b) => b,
                    None => return Poll::Ready(Err(writer_stopped())),
                },
            };
            this.current = Some(block);
        }
        let block = this.current.as_mut().expect("set above");
        let n = block.push(buf);
        if block.is_full() {
            // Sent now if the queue has room, else by the next call or the shutdown.
            if let Poll::Ready(Err(e)) = this.poll_send_current(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Queued blocks are the writer thread's: `finish` waits for them.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send_current(cx))?;
        this.tx.close();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use testkit::pattern_bytes as pattern;

    fn write_in_pieces(path: &Path, data: &[u8], piece: usize, try_direct: bool) -> bool {
        let mut w = LargeFileWriter::open(path, try_direct).unwrap();
        let direct = w.is_direct();
        for c in data.chunks(piece) {
            w.write(c).unwrap();
        }
        assert_eq!(w.len(), data.len() as u64);
        w.finish().unwrap();
        direct
    }

    #[test]
    fn unaligned_sizes_and_pieces_come_out_byte_for_byte() {
        // On the disk-backed /var/tmp with direct I/O and with buffered writes (what a
        // filesystem without direct I/O gets) alike.
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let mut direct_seen = Vec::new();
        for try_direct in [true, false] {
            for (i, (len, piece)) in [
                (0usize, 1usize),
                (1, 1),
                (4095, 1000),
                (4096, 4096),
                (BLOCK - 1, 65536),
                (BLOCK, 1 << 20),
                (BLOCK + 1, 65521),
                (3 * BLOCK + 12345, 3 << 20),
            ]
            .into_iter()
            .enumerate()
            {
                let data = pattern(len, i as u64 + 7);
                let path = dir.path().join(format!("f{i}-{try_direct}"));
                direct_seen.push(write_in_pieces(&path, &data, piece, try_direct));
                let back = std::fs::read(&path).unwrap();
                assert_eq!(back.len(), data.len(), "{} size {len}", path.display());
                assert!(
                    back == data,
                    "{} size {len}: content differs",
                    path.display()
                );
            }
        }
        // /var/tmp is on ext4 here: direct I/O was really used when asked for.
        assert!(direct_seen[..8].iter().all(|d| *d), "{direct_seen:?}");
        assert!(direct_seen[8..].iter().all(|d| !*d), "{direct_seen:?}");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        let path = dir.path().join("kept");
        std::fs::write(&path, b"keep me").unwrap();
        let err = LargeFileWriter::create(&path).err().expect("O_EXCL");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_thread_writer_delivers_every_chunk_in_order() {
        use tokio::io::AsyncWriteExt;
        let dir = tempfile::tempdir_in("/var/tmp").unwrap();
        // Whole aligned blocks go to the device directly, the tail through the writer's buffer;
        // with and without the hashing stage.
        for (i, len) in [20 << 20 | 777, 8 << 20, 5].into_iter().enumerate() {
            for hashing in [true, false] {
                let path = dir.path().join(format!("t{i}-{hashing}"));
                let data = pattern(len, i as u64 + 3);
                let file = LargeFileWriter::create(&path).unwrap();
                let (tx, rx) = tokio::sync::oneshot::channel();
                let mut w = if hashing {
                    ThreadWriter::spawn_hashing(file, tx).unwrap()
                } else {
                    ThreadWriter::spawn(file).unwrap()
                };
                for c in data.chunks(300_001) {
                    w.write_all(c).await.unwrap();
                }
                w.shutdown().await.unwrap();
                if hashing {
                    use sha2::Digest;
                    let digest = rx.await.unwrap();
                    assert_eq!(digest, <[u8; 32]>::from(sha2::Sha256::digest(&data)));
                }
                let file = w.finish().await.unwrap();
                assert_eq!(file.metadata().unwrap().len(), data.len() as u64);
                assert!(std::fs::read(&path).unwrap() == data, "{}", path.display());
            }
        }
    }
}
