//! Copying out of a container.
//!
//! A single file is streamed with `cat` over exec stdout straight into a new local file while
//! its sha256 is computed; at the same time the pod computes the sha256 (`openssl dgst`, else
//! `sha256sum`) and `wc -c` of the same path, and the two must agree (a truncated `kubectl cp` is
//! a known failure). Without either program in the image the copy is reported as unverified,
//! never as verified. The local file is created with `O_EXCL` under a temporary name, written
//! with direct I/O (`largefile`) and renamed only when complete.
//!
//! A directory tree needs `tar`, whose stream is attacker-controlled (kubectl cp CVE-2018-1002100,
//! CVE-2019-1002101, -11246, -11249, -11251): it is only ever unpacked by
//! `bundle::extract`, which refuses absolute paths, `..`, links, devices and oversized entries.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::exec::{self, ExecTarget};
use crate::{Error, Result};

/// How a copy was checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum Verification {
    /// Size and sha256 computed in the pod match what arrived.
    Verified,
    /// The pod could not compute a checksum (no `openssl`, no `sha256sum`): only the stream's
    /// end was checked.
    Unverified(String),
}

/// A finished single-file copy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopiedFile {
    pub remote_path: String,
    pub local_path: PathBuf,
    pub size_bytes: u64,
    pub sha256: String,
    pub verification: Verification,
}

fn check_remote_path(path: &str) -> Result<()> {
    if !path.starts_with('/') || path.contains('\0') || path.contains('\n') {
        return Err(Error::NotUsable(format!(
            "`{path}`: the path inside the container must be absolute"
        )));
    }
    Ok(())
}

/// A file streamed out of a container, checked against the pod's own size and checksum.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamedFile {
    pub remote_path: String,
    pub size_bytes: u64,
    /// Of the bytes received, computed while they streamed.
    pub sha256: String,
    pub verification: Verification,
}

/// Stream one file out of the container into `writer`, hashing it on the way while the pod
/// computes its own checksum; a mismatch is an error (the writer then holds bytes that must not
/// be kept: the caller discards them). `writer` is not shut down.
pub async fn stream_file_out<W: AsyncWrite + Unpin + Send>(
    target: &ExecTarget,
    remote_path: &str,
    writer: &mut W,
) -> Result<StreamedFile> {
    check_remote_path(remote_path)?;
    // Our own hash runs on its own thread, beside the stream rather than in its way; a full queue
    // holds the stream back.
    let (to_hash, chunks) = std::sync::mpsc::sync_channel::<Vec<u8>>(4);
    let (digest_tx, digest_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("copy-hash".into())
        .spawn(move || {
            let mut hasher = Sha256::new();
            for chunk in chunks {
                hasher.update(&chunk);
            }
            let _ = digest_tx.send(hasher.finalize().into());
        })
        .map_err(|e| Error::Protocol(format!("starting the hashing thread: {e}")))?;
    let on_chunk = move |chunk: &[u8]| {
        // The thread only stops when the channel closes: a send cannot fail before that.
        let _ = to_hash.send(chunk.to_vec());
    };
    stream_checked(target, remote_path, writer, on_chunk, digest_rx, false).await
}

/// The stream and the comparison with the pod's checksum. `on_chunk` sees every chunk and is
/// dropped when the stream ends; `local_digest` is the sha256 of what arrived, delivered once
/// the stream has ended (and, with `shut_down`, once `writer` is shut down: a writer that hashes
/// what it writes delivers it then).
async fn stream_checked<W: AsyncWrite + Unpin + Send>(
    target: &ExecTarget,
    remote_path: &str,
    writer: &mut W,
    mut on_chunk: impl FnMut(&[u8]) + Send,
    local_digest: tokio::sync::oneshot::Receiver<[u8; 32]>,
    shut_down: bool,
) -> Result<StreamedFile> {
    // The pod hashes the file while it streams it.
    let hash_task = {
        let target = target.clone();
        let path = remote_path.to_string();
        tokio::spawn(async move { remote_checksum(&target, &path).await })
    };
    let streamed =
        exec::stream_stdout(target, &["cat", "--", remote_path], writer, &mut on_chunk).await;
    drop(on_chunk);
    let (code, stderr, size) = match streamed {
        Ok(r) => r,
        Err(e) => {
            hash_task.abort();
            return Err(e);
        }
    };
    writer
        .flush()
        .await
        .map_err(|e| Error::Protocol(format!("writing the copy of {remote_path}: {e}")))?;
    if shut_down {
        writer
            .shutdown()
            .await
            .map_err(|e| Error::Protocol(format!("writing the copy of {remote_path}: {e}")))?;
    }
    if code != 0 {
        hash_task.abort();
        let err = String::from_utf8_lossy(&stderr).trim().to_string();
        let hint = if code == 127 || code == 126 {
            "the image has no `cat`: use --via ephemeral to read it through /proc/<pid>/root from an ephemeral container"
        } else {
            "check the path and the container's permissions"
        };
        return Err(Error::NotUsable(format!(
            "cat {remote_path} in pod/{} exited with {code}: {err} — {hint}",
            target.pod
        )));
    }
    let sha256 = match local_digest.await {
        Ok(d) => hex::encode(d),
        Err(_) => {
            hash_task.abort();
            return Err(Error::Protocol(format!(
                "the copy of {remote_path} stopped before its checksum was complete"
            )));
        }
    };
    let verification = match hash_task
        .await
        .unwrap_or_else(|e| Err(Error::Protocol(e.to_string())))
    {
        Ok(Some((remote_size, remote_sha))) => {
            if remote_sha != sha256 || remote_size.is_some_and(|s| s != size) {
                return Err(Error::Verification(format!(
                    "copy of {remote_path} from pod/{} does not match: received {size} bytes sha256 {sha256}, the pod reports {} bytes sha256 {remote_sha} \
                     (the file changed during the copy, or the stream was cut); retry",
                    target.pod,
                    remote_size
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "?".into())
                )));
            }
            Verification::Verified
        }
        Ok(None) => Verification::Unverified(
            "the image has neither openssl nor sha256sum: the size and checksum could not be computed in the pod"
                .into(),
        ),
        Err(e) => {
            Verification::Unverified(format!("computing the checksum in the pod failed: {e}"))
        }
    };
    Ok(StreamedFile {
        remote_path: remote_path.to_string(),
        size_bytes: size,
        sha256,
        verification,
    })
}

/// Copy one file out of the container into `dest` (which must not exist): written under a
/// temporary name beside it, renamed into place only once size and checksum match the pod's.
pub async fn copy_file_out(
    target: &ExecTarget,
    remote_path: &str,
    dest: &Path,
) -> Result<CopiedFile> {
    check_remote_path(remote_path)?;
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = dest
        .file_name()
        .ok_or_else(|| Error::NotUsable(format!("{}: not a file name", dest.display())))?;
    if dest.exists() {
        return Err(Error::NotUsable(format!(
            "{} exists already; choose another destination",
            dest.display()
        )));
    }
    let partial = dir.join(format!(
        ".{}.partial-{}",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    // Direct I/O on its own thread: the page-cache copy of a buffered write was the largest
    // single cost of a gigabyte copy (see `largefile`).
    let file = crate::largefile::LargeFileWriter::create(&partial)
        .map_err(|e| Error::io("creating", &partial, e))?;
    // The writer thread hashes what it writes: one copy of each chunk instead of two.
    let (digest_tx, digest_rx) = tokio::sync::oneshot::channel();
    let mut writer = crate::largefile::ThreadWriter::spawn_hashing(file, digest_tx)
        .map_err(|e| Error::io("starting the writer of", &partial, e))?;
    let streamed = stream_checked(target, remote_path, &mut writer, |_| {}, digest_rx, true).await;
    let written = writer.finish().await;
    let streamed = match (streamed, written) {
        (Ok(s), Ok(_)) => s,
        // The writer's own error explains a stream that stopped because writing failed.
        (_, Err(e)) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Error::io("writing", &partial, e));
        }
        (Err(e), Ok(_)) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    tokio::fs::rename(&partial, dest)
        .await
        .map_err(|e| Error::io("renaming into place", dest, e))?;
    Ok(CopiedFile {
        remote_path: streamed.remote_path,
        local_path: dest.to_path_buf(),
        size_bytes: streamed.size_bytes,
        sha256: streamed.sha256,
        verification: streamed.verification,
    })
}

/// The programs tried, in order, for the pod's own sha256: OpenSSL first (it uses the CPU's SHA
/// instructions: 1 GiB in under a second here, where coreutils `sha256sum` takes 3–4 s and holds
/// a core the stream needs), then coreutils or BusyBox `sha256sum`. Both print the hex digest as
/// the first word (`-r`: coreutils format).
const CHECKSUM_PROGRAMS: [&[&str]; 2] =
    [&["openssl", "dgst", "-sha256", "-r"], &["sha256sum", "--"]];

/// The first word of a checksum line as a lowercase hex sha256 (a leading `\` marks an escaped
/// file name in coreutils' format).
fn parse_checksum(stdout: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stdout);
    let hash = text
        .split_whitespace()
        .next()?
        .trim_start_matches('\\')
        .to_ascii_lowercase();
    (hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
}

/// The sha256 of a file computed in the pod (and its size from `wc -c`, asked at the same time,
/// when present); `None` when the image has no program for it.
async fn remote_checksum(target: &ExecTarget, path: &str) -> Result<Option<(Option<u64>, String)>> {
    let size = async {
        match exec::run(target, &["wc", "-c", "--", path], 1 << 16).await {
            Ok(o) if o.exit_code == 0 => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .next()
                .and_then(|s| s.parse().ok()),
            _ => None,
        }
    };
    let hash = async {
        let mut failures = Vec::new();
        for program in CHECKSUM_PROGRAMS {
            let argv: Vec<&str> = program.iter().copied().chain([path]).collect();
            let out = exec::run(target, &argv, 1 << 16).await?;
            if out.command_missing() {
                continue;
            }
            if out.exit_code != 0 {
                // An OpenSSL that refuses (a FIPS build without SHA-256 in its provider, say):
                // the next program may still answer.
                failures.push(format!(
                    "{} exited with {}: {}",
                    program[0],
                    out.exit_code,
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
                continue;
            }
            match parse_checksum(&out.stdout) {
                Some(h) => return Ok(Some(h)),
                None => failures.push(format!(
                    "{} printed `{}`, not a checksum",
                    program[0],
                    String::from_utf8_lossy(&out.stdout).trim()
                )),
            }
        }
        if failures.is_empty() {
            Ok(None)
        } else {
            Err(Error::Protocol(failures.join("; ")))
        }
    };
    let (size, hash) = tokio::join!(size, hash);
    Ok(hash?.map(|h| (size, h)))
}

/// What a tree copy produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CopiedTree {
    pub remote_dir: String,
    pub local_dir: PathBuf,
    pub files: u64,
    pub bytes: u64,
}

/// A synchronous reader over an async one, for the extractor running in `spawn_blocking`.
struct BlockingRead<R> {
    inner: R,
    handle: tokio::runtime::Handle,
}

impl<R: tokio::io::AsyncRead + Unpin> std::io::Read for BlockingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use tokio::io::AsyncReadExt;
        self.handle.block_on(self.inner.read(buf))
    }
}

/// Copy a directory out with `tar` in the container, unpacked only by `bundle::extract` into
/// `dest` (which must not exist; it is created private). Everything in the stream is hostile: a
/// compromised container can replace `tar` and send `..` paths, absolute paths, links and
/// devices, and all of them are refused (kubectl cp CVE-2018-1002100, CVE-2019-1002101,
/// -11246, -11249, -11251).
pub async fn copy_tree_out(
    target: &ExecTarget,
    remote_dir: &str,
    dest: &Path,
    limits: bundle::extract::Limits,
) -> Result<CopiedTree> {
    check_remote_path(remote_dir)?;
    let trimmed = remote_dir.trim_end_matches('/');
    let (parent, name) = match trimmed.rsplit_once('/') {
        Some(("", n)) => ("/", n),
        Some((p, n)) => (p, n),
        None => {
            return Err(Error::NotUsable(format!(
                "`{remote_dir}`: the path inside the container must be absolute"
            )));
        }
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(Error::NotUsable(format!(
            "`{remote_dir}`: name a directory, not `/`, `.` or `..`"
        )));
    }
    let (mut writer, reader) = tokio::io::duplex(1 << 20);
    let handle = tokio::runtime::Handle::current();
    let dest_owned = dest.to_path_buf();
    let extractor = tokio::task::spawn_blocking(move || {
        bundle::extract::extract(
            BlockingRead {
                inner: reader,
                handle,
            },
            &dest_owned,
            limits,
        )
    });
    let streamed = exec::stream_stdout(
        target,
        &["tar", "cf", "-", "-C", parent, name],
        &mut writer,
        |_| {},
    )
    .await;
    drop(writer);
    let extracted = extractor
        .await
        .map_err(|e| Error::Protocol(format!("the extractor stopped: {e}")))?;
    // The extractor's verdict comes first: a hostile stream is the news, not the broken pipe.
    let report = extracted.map_err(|e| {
        Error::Verification(format!(
            "the tar stream from pod/{} container {} was refused: {e}. Nothing was written outside {}; treat the container as compromised",
            target.pod,
            target.container,
            dest.display()
        ))
    })?;
    let (code, stderr, _) = streamed?;
    if code == 127 || code == 126 {
        return Err(Error::NotUsable(format!(
            "pod/{} container {} has no `tar`: copy single files instead (they are streamed with cat)",
            target.pod, target.container
        )));
    }
    if code != 0 {
        return Err(Error::NotUsable(format!(
            "tar of {remote_dir} in pod/{} exited with {code}: {}",
            target.pod,
            String::from_utf8_lossy(&stderr).trim()
        )));
    }
    Ok(CopiedTree {
        remote_dir: remote_dir.to_string(),
        local_dir: dest.to_path_buf(),
        files: report.files,
        bytes: report.bytes,
    })
}
