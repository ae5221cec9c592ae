//! The triage bundle: one `.tar.zst` file that holds everything a run collected.
//!
//! Layout: `manifest.json` at the root (tool version, target, start and end time, every
//! collector's status with its error and duration, every member's size and sha256, the redaction
//! report), one JSON document per collector, and the raw source files the collectors parsed so the
//! analysis can be redone. The writer streams into a temporary file next to the destination and
//! renames it only when the archive is complete, so a crash never leaves a half bundle under the
//! final name. The reader treats every bundle as untrusted: member sizes are capped when read into
//! memory and member names are only compared, never used as paths (see `extract` for unpacking).
//!
//! Not for: collecting (see `hostprobe`), redacting (see `redact`; the writer only calls a
//! [`TextFilter`] you hand it), or analysing (see `analyze`).

pub mod extract;
pub mod manifest;
pub mod reader;
pub mod writer;

pub use manifest::{
    CollectorRecord, CollectorStatus, FileEntry, FileKind, MANIFEST_NAME, Manifest,
    RedactionSummary, SCHEMA, ToolInfo,
};
pub use reader::{BundleReader, MemberInfo, VerifyReport};
pub use writer::{BundleWriter, FilterOutput, TextFilter};

/// Everything that can go wrong reading or writing a bundle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("member name {name:?} is not allowed in a bundle: {why}")]
    BadMemberName { name: String, why: &'static str },
    #[error("member {0:?} was added twice")]
    DuplicateMember(String),
    #[error(
        "member {name:?} is {size} bytes, over the {limit}-byte limit for reading it into memory"
    )]
    MemberTooLarge { name: String, size: u64, limit: u64 },
    #[error("no member {0:?} in the bundle (use `triage bundle ls` to list members)")]
    NoSuchMember(String),
    #[error("manifest.json is missing: this is not a complete triage bundle")]
    NoManifest,
    #[error("manifest.json is not valid: {0}")]
    BadManifest(String),
    #[error("encoding {what} as JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(
    action: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_string();
    move |source| Error::Io {
        action,
        path,
        source,
    }
}

/// Check that a member name is a plain relative path (no absolute path, no `..`, no empty or `.`
/// components, no NUL). The writer refuses anything else, so bundles it writes are always safe to
/// list and extract.
pub fn validate_member_name(name: &str) -> Result<()> {
    let bad = |why| {
        Err(Error::BadMemberName {
            name: name.to_string(),
            why,
        })
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.starts_with('/') {
        return bad("absolute path");
    }
    if name.contains('\0') {
        return bad("contains NUL");
    }
    if name.len() > 4096 {
        return bad("longer than 4096 bytes");
    }
    for component in name.split('/') {
        match component {
            "" => return bad("empty path component"),
            "." => return bad("`.` component"),
            ".." => return bad("`..` component"),
            _ => {}
        }
    }
    Ok(())
}

/// Compute the lowercase hex sha256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_are_checked() {
        assert!(validate_member_name("manifest.json").is_ok());
        assert!(validate_member_name("raw/proc/meminfo").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\0b"] {
            assert!(
                validate_member_name(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn sha256_of_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
