//! Reading a bundle: list members, print one, load the manifest, verify every checksum.
//!
//! A bundle may come from anywhere, so nothing here trusts it: members are read into memory only up
//! to a cap, names are compared as strings and never joined onto a path, and decompression stops at
//! a total-size cap so a zstd bomb cannot run forever.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::manifest::{MANIFEST_NAME, Manifest};
use crate::{Error, Result, io_err};

/// Largest member read into memory by default (manifests, collector JSON, raw /proc files).
pub const DEFAULT_MEMBER_LIMIT: u64 = 256 << 20;
/// Largest total of decompressed bytes a walk over a bundle accepts by default.
pub const DEFAULT_TOTAL_LIMIT: u64 = 64 << 30;

/// A member as listed in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberInfo {
    pub path: String,
    pub size_bytes: u64,
    /// `regular`, `directory`, `symlink`, `hardlink` or `other` (bundles written by triage only
    /// hold regular files).
    pub kind: &'static str,
}

/// The result of checking every member against the manifest.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct VerifyReport {
    /// Members whose size and sha256 match.
    pub ok: Vec<String>,
    /// `(path, what is wrong)` for members whose size or sha256 differ.
    pub mismatched: Vec<(String, String)>,
    /// Listed in the manifest but absent from the archive.
    pub missing: Vec<String>,
    /// Present in the archive but not listed in the manifest.
    pub unlisted: Vec<String>,
    /// Set when the archive itself could not be read to the end (truncated or corrupt).
    pub archive_error: Option<String>,
}

impl VerifyReport {
    /// True when every member is present, listed and intact.
    pub fn is_clean(&self) -> bool {
        self.mismatched.is_empty()
            && self.missing.is_empty()
            && self.unlisted.is_empty()
            && self.archive_error.is_none()
    }
}

/// A bundle on disk.
#[derive(Debug, Clone)]
pub struct BundleReader {
    path: PathBuf,
    member_limit: u64,
    total_limit: u64,
}

impl BundleReader {
    /// Open `path` (nothing is read until a method is called).
    pub fn open(path: &Path) -> Result<Self> {
        File::open(path).map_err(io_err("opening bundle", path.display()))?;
        Ok(Self {
            path: path.to_path_buf(),
            member_limit: DEFAULT_MEMBER_LIMIT,
            total_limit: DEFAULT_TOTAL_LIMIT,
        })
    }

    /// Change the cap on one member read into memory.
    pub fn with_member_limit(mut self, limit: u64) -> Self {
        self.member_limit = limit;
        self
    }

    /// Change the cap on the total decompressed bytes of one walk.
    pub fn with_total_limit(mut self, limit: u64) -> Self {
        self.total_limit = limit;
        self
    }

    /// The bundle's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Walk every entry, calling `visit(info, reader)`; stop early when it returns `false`.
    fn walk(
        &self,
        mut visit: impl FnMut(&MemberInfo, &mut dyn Read) -> Result<bool>,
    ) -> Result<()> {
        let path_text = self.path.display().to_string();
        let file = File::open(&self.path).map_err(io_err("opening bundle", &path_text))?;
        let decoder = zstd::stream::read::Decoder::new(BufReader::with_capacity(1 << 20, file))
            .map_err(io_err("starting zstd decompression of", &path_text))?;
        let limited = decoder.take(self.total_limit);
        let mut archive = tar::Archive::new(limited);
        let entries = archive
            .entries()
            .map_err(io_err("reading the tar archive in", &path_text))?;
        for entry in entries {
            let mut entry = entry.map_err(io_err("reading a tar entry in", &path_text))?;
            let header = entry.header();
            let kind = match header.entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => "regular",
                tar::EntryType::Directory => "directory",
                tar::EntryType::Symlink => "symlink",
                tar::EntryType::Link => "hardlink",
                _ => "other",
            };
            let info = MemberInfo {
                path: String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
                size_bytes: entry.size(),
                kind,
            };
            if !visit(&info, &mut entry)? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Every member, in archive order.
    pub fn list(&self) -> Result<Vec<MemberInfo>> {
        let mut members = Vec::new();
        self.walk(|info, _| {
            members.push(info.clone());
            Ok(true)
        })?;
        Ok(members)
    }

    /// Read one member into memory (up to the member limit).
    pub fn read_member(&self, name: &str) -> Result<Vec<u8>> {
        let mut found = None;
        let limit = self.member_limit;
        self.walk(|info, reader| {
            if info.path != name || info.kind != "regular" {
                return Ok(true);
            }
            if info.size_bytes > limit {
                return Err(Error::MemberTooLarge {
                    name: name.to_string(),
                    size: info.size_bytes,
                    limit,
                });
            }
            let mut data = Vec::with_capacity(info.size_bytes as usize);
            reader.take(limit).read_to_end(&mut data).map_err(io_err(
                "reading member",
                format!("{name} in {}", self.path.display()),
            ))?;
            found = Some(data);
            Ok(false)
        })?;
        found.ok_or_else(|| Error::NoSuchMember(name.to_string()))
    }

    /// Read every regular member whose path satisfies `want`, in one pass.
    pub fn read_members(
        &self,
        mut want: impl FnMut(&str) -> bool,
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        let mut out = BTreeMap::new();
        let limit = self.member_limit;
        self.walk(|info, reader| {
            if info.kind == "regular" && want(&info.path) {
                if info.size_bytes > limit {
                    return Err(Error::MemberTooLarge {
                        name: info.path.clone(),
                        size: info.size_bytes,
                        limit,
                    });
                }
                let mut data = Vec::with_capacity(info.size_bytes as usize);
                reader.take(limit).read_to_end(&mut data).map_err(io_err(
                    "reading member",
                    format!("{} in {}", info.path, self.path.display()),
                ))?;
                out.insert(info.path.clone(), data);
            }
            Ok(true)
        })?;
        Ok(out)
    }

    /// Load and parse `manifest.json`.
    pub fn manifest(&self) -> Result<Manifest> {
        let data = match self.read_member(MANIFEST_NAME) {
            Err(Error::NoSuchMember(_)) => return Err(Error::NoManifest),
            other => other?,
        };
        serde_json::from_slice(&data).map_err(|e| Error::BadManifest(e.to_string()))
    }

    /// Recompute every member's size and sha256 and compare with the manifest. A truncated or
    /// corrupt archive is reported in the result, with what could be checked before the damage.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut actual: BTreeMap<String, (u64, String)> = BTreeMap::new();
        let mut manifest_bytes: Option<Vec<u8>> = None;
        let limit = self.member_limit;
        let walked = self.walk(|info, reader| {
            if info.path == MANIFEST_NAME {
                let mut data = Vec::new();
                reader
                    .take(limit)
                    .read_to_end(&mut data)
                    .map_err(io_err("reading", MANIFEST_NAME))?;
                manifest_bytes = Some(data);
                return Ok(true);
            }
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut count = 0u64;
            loop {
                let n = reader
                    .read(&mut buf)
                    .map_err(io_err("reading member", &info.path))?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                count += n as u64;
            }
            actual.insert(info.path.clone(), (count, hex::encode(hasher.finalize())));
            Ok(true)
        });
        let mut report = VerifyReport::default();
        if let Err(e) = walked {
            report.archive_error = Some(format!("the archive could not be read to the end: {e}"));
        }
        let Some(manifest_bytes) = manifest_bytes else {
            if report.archive_error.is_some() {
                return Ok(VerifyReport {
                    unlisted: actual.into_keys().collect(),
                    ..report
                });
            }
            return Err(Error::NoManifest);
        };
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::BadManifest(e.to_string()))?;
        for entry in &manifest.files {
            match actual.remove(&entry.path) {
                None => report.missing.push(entry.path.clone()),
                Some((size, sha)) if size == entry.size_bytes && sha == entry.sha256 => {
                    report.ok.push(entry.path.clone())
                }
                Some((size, sha)) => {
                    let mut what = Vec::new();
                    if size != entry.size_bytes {
                        what.push(format!(
                            "size {size} bytes, manifest says {}",
                            entry.size_bytes
                        ));
                    }
                    if sha != entry.sha256 {
                        what.push(format!("sha256 {sha}, manifest says {}", entry.sha256));
                    }
                    report
                        .mismatched
                        .push((entry.path.clone(), what.join("; ")));
                }
            }
        }
        report.unlisted = actual.into_keys().collect();
        Ok(report)
    }
}
