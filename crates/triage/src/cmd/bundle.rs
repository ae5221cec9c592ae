//! `triage bundle ls|cat|verify|manifest PATH`: look inside a bundle without unpacking it;
//! `triage bundle extract PATH DIR`: unpack one safely (see `bundle::extract`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use bundle::BundleReader;
use clap::Subcommand;

use crate::output::{human_bytes, table};

#[derive(Subcommand, Debug)]
pub enum BundleCommand {
    /// List the members of a bundle with their sizes, kinds and redaction counts.
    Ls {
        path: PathBuf,
        /// One JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print one member to stdout.
    Cat { path: PathBuf, member: String },
    /// Print manifest.json.
    Manifest { path: PathBuf },
    /// Unpack a bundle (or any tar / tar.zst from elsewhere) into DIR, which must not exist yet:
    /// only regular files and directories, nothing outside DIR, size caps; then check every file's
    /// sha256 against the manifest (exit 1 on any mismatch).
    Extract {
        path: PathBuf,
        dir: PathBuf,
        /// Largest single file, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = bundle::extract::Limits::default().max_file_bytes)]
        max_file_bytes: u64,
        /// Largest total, in bytes.
        #[arg(long, value_name = "BYTES", default_value_t = bundle::extract::Limits::default().max_total_bytes)]
        max_total_bytes: u64,
    },
    /// Recompute every member's sha256 and compare it with the manifest (exit 1 on any mismatch).
    Verify {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: BundleCommand) -> anyhow::Result<u8> {
    match command {
        BundleCommand::Ls { path, json } => ls(path, json),
        BundleCommand::Cat { path, member } => {
            let reader = open(&path)?;
            let data = reader
                .read_member(&member)
                .with_context(|| format!("reading {member} from {}", path.display()))?;
            std::io::stdout()
                .lock()
                .write_all(&data)
                .context("writing to stdout")?;
            Ok(crate::exit::OK)
        }
        BundleCommand::Manifest { path } => {
            let reader = open(&path)?;
            let data = reader
                .read_member(bundle::MANIFEST_NAME)
                .with_context(|| format!("reading the manifest of {}", path.display()))?;
            std::io::stdout()
                .lock()
                .write_all(&data)
                .context("writing to stdout")?;
            Ok(crate::exit::OK)
        }
        BundleCommand::Verify { path, json } => verify(path, json),
        BundleCommand::Extract {
            path,
            dir,
            max_file_bytes,
            max_total_bytes,
        } => extract(
            &path,
            &dir,
            bundle::extract::Limits {
                max_file_bytes,
                max_total_bytes,
                ..Default::default()
            },
        ),
    }
}

fn extract(path: &Path, dir: &Path, limits: bundle::extract::Limits) -> anyhow::Result<u8> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let report = match bundle::extract::extract(file, dir, limits) {
        Ok(report) => report,
        Err(e @ bundle::extract::ExtractError::DestinationExists { .. }) => {
            return Err(e).with_context(|| format!("extracting {}", path.display()));
        }
        Err(e) => {
            // The destination was created by this call: remove what was unpacked before the refusal.
            let _ = std::fs::remove_dir_all(dir);
            return Err(e).with_context(|| {
                format!(
                    "extracting {} (refused; {} removed, nothing was kept)",
                    path.display(),
                    dir.display()
                )
            });
        }
    };
    eprintln!(
        "extracted {} files, {} directories, {} into {}",
        report.files,
        report.directories,
        human_bytes(report.bytes),
        dir.display()
    );
    // Check what was unpacked against the manifest it came with: the same check as `triage
    // bundle verify`, on the archive itself (the manifest's member names are never used as paths).
    if !dir.join(bundle::MANIFEST_NAME).is_file() {
        eprintln!(
            "warning: no {} in the archive: nothing to verify against",
            bundle::MANIFEST_NAME
        );
        return Ok(crate::exit::OK);
    }
    verify(path.to_path_buf(), false)
}

fn open(path: &std::path::Path) -> anyhow::Result<BundleReader> {
    BundleReader::open(path).with_context(|| format!("opening bundle {}", path.display()))
}

fn ls(path: PathBuf, json: bool) -> anyhow::Result<u8> {
    let reader = open(&path)?;
    let members = reader
        .list()
        .with_context(|| format!("listing {}", path.display()))?;
    let manifest = reader.manifest().ok();
    if let Some(m) = &manifest {
        warn_if_unredacted(m, &path);
    }
    if json {
        let rows: Vec<serde_json::Value> = members
            .iter()
            .map(|m| {
                let entry = manifest.as_ref().and_then(|man| man.file(&m.path));
                serde_json::json!({
                    "path": m.path,
                    "size_bytes": m.size_bytes,
                    "entry_type": m.kind,
                    "kind": entry.map(|e| e.kind),
                    "sensitive": entry.map(|e| e.sensitive),
                    "sha256": entry.map(|e| e.sha256.clone()),
                    "redactions": entry.map(|e| e.redactions.clone()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"bundle": path, "members": rows}))?
        );
        return Ok(crate::exit::OK);
    }
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|m| {
            let entry = manifest.as_ref().and_then(|man| man.file(&m.path));
            let kind = entry
                .map(|e| format!("{:?}", e.kind).to_lowercase())
                .unwrap_or_else(|| m.kind.to_string());
            let flags = match entry {
                Some(e) if e.sensitive => "sensitive".to_string(),
                Some(e) if !e.redactions.is_empty() => {
                    format!("redacted {}", e.redactions.values().sum::<u64>())
                }
                _ => String::new(),
            };
            vec![human_bytes(m.size_bytes), kind, m.path.clone(), flags]
        })
        .collect();
    print!("{}", table(&["SIZE", "KIND", "MEMBER", "NOTES"], &rows));
    if manifest.is_none() {
        eprintln!(
            "warning: {} has no readable manifest.json; run `triage bundle verify` for details",
            path.display()
        );
    }
    Ok(crate::exit::OK)
}

/// Say, in red on stderr, that a bundle was written with `--no-redact`, whenever one is opened.
pub fn warn_if_unredacted(manifest: &bundle::Manifest, path: &Path) {
    if let Some(warning) = &manifest.redaction.warning {
        eprintln!("\x1b[31mwarning: {}: {warning}\x1b[0m", path.display());
    }
}

fn verify(path: PathBuf, json: bool) -> anyhow::Result<u8> {
    let reader = open(&path)?;
    if let Ok(manifest) = reader.manifest() {
        warn_if_unredacted(&manifest, &path);
    }
    let report = reader
        .verify()
        .with_context(|| format!("verifying {}", path.display()))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "bundle": path,
                "clean": report.is_clean(),
                "ok": report.ok,
                "mismatched": report.mismatched.iter().map(|(p, w)| serde_json::json!({"path": p, "problem": w})).collect::<Vec<_>>(),
                "missing": report.missing,
                "unlisted": report.unlisted,
                "archive_error": report.archive_error,
            }))?
        );
    } else {
        for (member, what) in &report.mismatched {
            println!("MISMATCH  {member}: {what}");
        }
        for member in &report.missing {
            println!("MISSING   {member}: listed in the manifest but not in the archive");
        }
        for member in &report.unlisted {
            println!("UNLISTED  {member}: in the archive but not in the manifest");
        }
        if let Some(err) = &report.archive_error {
            println!("DAMAGED   {err}");
        }
        if report.is_clean() {
            println!(
                "OK        {} members verified (size and sha256 match the manifest)",
                report.ok.len()
            );
        } else {
            println!(
                "FAILED    {} ok, {} mismatched, {} missing, {} unlisted: do not trust the failed members",
                report.ok.len(),
                report.mismatched.len(),
                report.missing.len(),
                report.unlisted.len()
            );
        }
    }
    Ok(if report.is_clean() {
        crate::exit::OK
    } else {
        crate::exit::FAILURE
    })
}
