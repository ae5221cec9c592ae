//! `--out PATH|URL` for every artifact: a local path (a file, or a directory to put the
//! artifact in) or an object-store URL (`file://`, `s3://`, `gs://`, `az://`) through the `sink`
//! crate. Credentials come from this machine's AWS_/GOOGLE_/AZURE_ environment and the cloud's
//! own identity discovery; nothing is copied anywhere else.
//!
//! Two ways to deliver: [`upload_file`] for artifacts that exist as a complete local file first
//! (bundles: small, and re-readable, so a failed upload is retried and finally kept locally), and
//! [`stream_to`] for artifacts too big for the local disk (heap dumps): the producer writes into a
//! pipe whose other end is a multipart upload, and the upload is only completed when the producer
//! succeeded, so a failed dump never leaves an object claiming success.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context as TaskContext, Poll};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kube_reach::tokio;
use sink::{Delivery, Destination, Receipt, RetrySettings, UploadOptions};

/// Where one artifact goes.
#[derive(Debug)]
pub enum Out {
    /// A local file (never overwritten).
    Local(PathBuf),
    /// An object store; the artifact is stored as `file_name` under the URL's prefix (or under
    /// the URL itself when it names an object).
    Remote {
        dest: Destination,
        file_name: String,
    },
}

impl Out {
    /// Parse `--out` (None: `default_name` in the current directory). A path ending in `/` or
    /// naming an existing directory, and a URL ending in `/`, get `default_name` inside.
    pub fn resolve(spec: Option<&str>, default_name: &str) -> anyhow::Result<Out> {
        let Some(spec) = spec else {
            return Ok(Out::Local(PathBuf::from(default_name)));
        };
        let dest = Destination::parse(spec, &sink::Env::from_process(), RetrySettings::default())
            .with_context(|| format!("--out {spec}"))?;
        Ok(match dest {
            Destination::Local { path, is_dir } => Out::Local(if is_dir {
                path.join(default_name)
            } else {
                path
            }),
            remote => Out::Remote {
                file_name: default_name.to_string(),
                dest: remote,
            },
        })
    }

    /// The file name the artifact gets (for picking compression from the extension).
    pub fn name_hint(&self) -> PathBuf {
        match self {
            Out::Local(p) => p.clone(),
            Out::Remote { dest, file_name } => PathBuf::from(dest.location_of(file_name)),
        }
    }

    /// Human-readable location.
    pub fn location(&self) -> String {
        match self {
            Out::Local(p) => p.display().to_string(),
            Out::Remote { dest, file_name } => dest.location_of(file_name),
        }
    }
}

impl Out {
    /// Produce the artifact with `write` and deliver it. `write` gets the local path to write
    /// and returns the path it wrote (which may differ: an encrypted copy). A local destination
    /// is written in place; for a store the artifact is written to a private temporary directory,
    /// uploaded with [`upload_file`] under the written file's name, and the directory removed.
    /// Returns where the artifact is, for the user (with size and sha256 for uploads).
    pub fn deliver(
        self,
        write: impl FnOnce(&Path) -> anyhow::Result<PathBuf>,
    ) -> anyhow::Result<String> {
        match self {
            Out::Local(path) => Ok(write(&path)?.display().to_string()),
            Out::Remote { dest, file_name } => {
                let dir = private_temp_dir()?;
                let result = write(&dir.join(&file_name)).and_then(|written| {
                    let name = written
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or(file_name);
                    upload_file(&dest, &name, &written)
                });
                let _ = std::fs::remove_dir_all(&dir);
                let receipt = result?;
                Ok(format!(
                    "{} ({} bytes, sha256 {})",
                    receipt.location, receipt.size_bytes, receipt.sha256
                ))
            }
        }
    }
}

/// A fresh directory only this user can read, under the system's temporary directory.
pub fn private_temp_dir() -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    let base = std::env::temp_dir();
    for attempt in 0..100u32 {
        let dir = base.join(format!("triage-{}-{attempt}", std::process::id()));
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("creating a private directory under {}", base.display())
                });
            }
        }
    }
    bail!(
        "could not create a private directory under {}: clean up old triage-* directories there",
        base.display()
    )
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime for the upload")
}

fn upload_bar(total: Option<u64>, what: &str) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    let template = if total.is_some() {
        "{bar:30} uploading {msg} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}"
    } else {
        "{spinner} uploading {msg} {bytes} {binary_bytes_per_sec}"
    };
    bar.set_style(ProgressStyle::with_template(template).expect("valid progress template"));
    bar.set_message(what.to_string());
    bar
}

/// Upload the complete local file `path` to `dest` as `file_name`: retried with backoff; when
/// every attempt fails, a complete copy is kept in the current directory and the error says
/// where. The local file is removed once delivered.
pub fn upload_file(dest: &Destination, file_name: &str, path: &Path) -> anyhow::Result<Receipt> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let bar = upload_bar(Some(size), file_name);
    let progress_bar = bar.clone();
    let options = UploadOptions {
        progress: Some(Arc::new(move |n| progress_bar.set_position(n))),
        ..UploadOptions::default()
    };
    let owned = path.to_path_buf();
    let delivery = runtime()?.block_on(sink::deliver(
        dest,
        file_name,
        || {
            let p = owned.clone();
            async move { tokio::fs::File::open(p).await }
        },
        &options,
        Path::new("."),
    ));
    bar.finish_and_clear();
    match delivery? {
        Delivery::Delivered(receipt) => {
            let _ = std::fs::remove_file(path);
            Ok(receipt)
        }
        Delivery::KeptLocally {
            receipt,
            upload_error,
            attempts,
        } => {
            let _ = std::fs::remove_file(path);
            bail!(
                "uploading to {} failed {attempts} times ({upload_error}); a complete copy was kept at {} \
                 ({} bytes, sha256 {}): upload it once the store is reachable",
                dest.location_of(file_name),
                receipt.location,
                receipt.size_bytes,
                receipt.sha256
            )
        }
    }
}

/// The read end of the pipe, failing at EOF unless the producer said it finished: an upload only
/// completes for a complete artifact.
struct Guarded {
    inner: tokio::net::unix::pipe::Receiver,
    finished: Arc<AtomicBool>,
}

impl tokio::io::AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() == before && before < buf.capacity() => {
                if this.finished.load(Ordering::SeqCst) {
                    Poll::Ready(Ok(()))
                } else {
                    Poll::Ready(Err(std::io::Error::other(
                        "the artifact was not produced completely; upload abandoned",
                    )))
                }
            }
            other => other,
        }
    }
}

/// Stream what `produce` writes to `dest` as `file_name` with a multipart upload, without a
/// local copy. The upload is completed only if `produce` succeeds; otherwise it is aborted. An
/// upload that fails makes `produce`'s writes fail (broken pipe), so it stops early.
pub fn stream_to<T>(
    dest: &Destination,
    file_name: &str,
    produce: impl FnOnce(&mut (dyn Write + Send)) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Receipt)> {
    let rt = runtime()?;
    let (tx, rx) = {
        let _guard = rt.enter();
        tokio::net::unix::pipe::pipe().context("creating the upload pipe")?
    };
    let mut writer = std::fs::File::from(
        tx.into_blocking_fd()
            .context("setting up the upload pipe")?,
    );
    let finished = Arc::new(AtomicBool::new(false));
    let reader = Guarded {
        inner: rx,
        finished: finished.clone(),
    };
    let dest_for_upload = dest.clone();
    let name = file_name.to_string();
    let uploader = std::thread::Builder::new()
        .name("upload".into())
        .spawn(move || {
            // One attempt for the stream as a whole (it cannot be replayed); each part's request
            // is retried by the store client.
            let options = UploadOptions::default();
            rt.block_on(sink::write_stream(
                &dest_for_upload,
                &name,
                reader,
                &options,
            ))
        })
        .context("starting the upload thread")?;
    let produced = {
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut writer);
        let result = produce(&mut buffered);
        let flushed = buffered.flush();
        match (result, flushed) {
            (Ok(v), Ok(())) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context("writing to the upload pipe")),
        }
    };
    finished.store(produced.is_ok(), Ordering::SeqCst);
    drop(writer);
    let uploaded = uploader
        .join()
        .map_err(|_| anyhow::anyhow!("the upload thread panicked"))?;
    match (produced, uploaded) {
        (Ok(value), Ok(receipt)) => Ok((value, receipt)),
        (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!(
            "uploading to {}; nothing was stored",
            dest.location_of(file_name)
        ))),
        // The upload failed first: the producer only saw the broken pipe.
        (Err(produce_error), Err(upload_error))
            if !format!("{upload_error:#}").contains("upload abandoned") =>
        {
            Err(anyhow::Error::new(upload_error).context(format!(
                "uploading to {} (the source then stopped: {produce_error:#}); nothing was stored",
                dest.location_of(file_name)
            )))
        }
        // The producer failed: the upload was abandoned because of it.
        (Err(e), _) => Err(e.context(format!(
            "nothing was stored at {}",
            dest.location_of(file_name)
        ))),
    }
}
