//! `triage analyze PATH`: looks at the first bytes of PATH (through gzip or zstd when compressed) and
//! hands it to the heap-dump, profile or bundle analyser.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{analyze_bundle, analyze_heap, analyze_profile};

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// A bundle (.tar.zst), a heap dump (.hprof, .hprof.gz, .hprof.zst) or a pprof profile
    /// (.pb.gz); `-` (or a pipe) reads standard input.
    pub path: PathBuf,
    /// Print one JSON document on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub heap: analyze_heap::HeapFlags,
    #[command(flatten)]
    pub profile: analyze_profile::ProfileFlags,
    #[command(flatten)]
    pub report: analyze_bundle::ReportFlags,
}

/// What a file turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    HeapDump,
    Profile,
    Bundle,
}

pub fn run(args: AnalyzeArgs) -> anyhow::Result<u8> {
    // A pipe can be read once only, and telling what it holds takes its first bytes: it is copied
    // to a private temporary file first (removed on exit), then analysed like any file.
    let spooled = spool_if_not_a_file(&args.path)?;
    let path = spooled
        .as_ref()
        .map_or(args.path.as_path(), |s| s.file.as_path());
    let kind = sniff(path)?;
    tracing::info!(path = %args.path.display(), ?kind, "analysing");
    match kind {
        InputKind::HeapDump => analyze_heap::run(path, args.json, &args.heap),
        InputKind::Profile => analyze_profile::run(path, args.json, &args.profile),
        InputKind::Bundle => analyze_bundle::run(path, args.json, &args.report),
    }
}

/// A copy of piped input, removed when dropped.
struct Spooled {
    dir: PathBuf,
    file: PathBuf,
}

impl Drop for Spooled {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spool_if_not_a_file(path: &Path) -> anyhow::Result<Option<Spooled>> {
    let stdin = path == Path::new("-");
    if !stdin
        && std::fs::metadata(path)
            .with_context(|| format!("opening {}", path.display()))?
            .is_file()
    {
        return Ok(None);
    }
    let dir = super::out::private_temp_dir()?;
    let spooled = Spooled {
        file: dir.join("input"),
        dir,
    };
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&spooled.file)
        .with_context(|| format!("creating {}", spooled.file.display()))?;
    let copied = if stdin {
        std::io::copy(&mut std::io::stdin().lock(), &mut out)
    } else {
        let mut input = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        std::io::copy(&mut input, &mut out)
    }
    .with_context(|| {
        format!(
            "copying {} to {} (piped input is kept there while it is analysed)",
            path.display(),
            spooled.file.display()
        )
    })?;
    tracing::info!(bytes = copied, spool = %spooled.file.display(), "piped input spooled");
    Ok(Some(spooled))
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Decide what PATH holds from its content, not its name.
pub fn sniff(path: &Path) -> anyhow::Result<InputKind> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 4];
    let n =
        read_up_to(&mut file, &mut head).with_context(|| format!("reading {}", path.display()))?;
    let head = &head[..n];
    drop(file);
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (inner, compressed): (Vec<u8>, bool) = if head.starts_with(&GZIP_MAGIC) {
        (
            first_bytes(flate2::read::MultiGzDecoder::new(file), 1024)?,
            true,
        )
    } else if head.starts_with(&ZSTD_MAGIC) {
        let decoder = zstd::stream::read::Decoder::new(file).context("starting zstd decoder")?;
        (first_bytes(decoder, 1024)?, true)
    } else {
        (first_bytes(file, 1024)?, false)
    };
    if inner.starts_with(b"JAVA PROFILE ") {
        return Ok(InputKind::HeapDump);
    }
    if inner.len() >= 262 && &inner[257..262] == b"ustar" {
        return Ok(InputKind::Bundle);
    }
    if inner.is_empty() {
        anyhow::bail!("{} is empty: nothing to analyse", path.display());
    }
    // A profile.proto starts with a protobuf field tag; accept it when it came gzip-compressed
    // (how Go serves profiles) or when its first byte is a plausible tag.
    if compressed || is_protobuf_tag(inner[0]) {
        return Ok(InputKind::Profile);
    }
    anyhow::bail!(
        "{} is not a heap dump (no 'JAVA PROFILE' header), a triage bundle (no tar inside) or a pprof profile; \
         check the path or decompress it first",
        path.display()
    )
}

fn is_protobuf_tag(byte: u8) -> bool {
    let field = byte >> 3;
    let wire = byte & 7;
    (1..=15).contains(&field) && matches!(wire, 0 | 1 | 2 | 5)
}

fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn first_bytes(mut reader: impl Read, limit: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; limit];
    let n = read_up_to(&mut reader, &mut buf).context("decompressing the start of the file")?;
    buf.truncate(n);
    Ok(buf)
}
