//! `manifest.json`: what a bundle holds and how it was made.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Schema identifier written into every manifest.
pub const SCHEMA: &str = "triage.bundle/v1";
/// Name of the manifest member at the root of the archive.
pub const MANIFEST_NAME: &str = "manifest.json";

/// The root document of a bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`SCHEMA`] for bundles written by this version.
    pub schema: String,
    pub tool: ToolInfo,
    /// What was diagnosed, as given on the command line (`host`, `pid:123`, `pod/web-0`).
    pub target: String,
    /// RFC 3339 UTC time the run started.
    pub started_at: String,
    /// RFC 3339 UTC time the archive was completed.
    pub finished_at: String,
    /// Every collector that ran, in the order it finished.
    pub collectors: Vec<CollectorRecord>,
    /// Every member except the manifest itself.
    pub files: Vec<FileEntry>,
    pub redaction: RedactionSummary,
    /// Free-form remarks a reader should see (e.g. a member that was cut at its size cap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The program that wrote the bundle.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
}

/// How a collector ended.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CollectorStatus {
    Ok,
    Failed,
    TimedOut,
    Skipped,
}

impl std::fmt::Display for CollectorStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::TimedOut => "timed-out",
            Self::Skipped => "skipped",
        })
    }
}

/// One collector's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CollectorRecord {
    pub name: String,
    pub status: CollectorStatus,
    /// The error text when the status is not `ok` (what failed, where, what to do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// What kind of content a member holds; decides whether it is redacted or marked sensitive.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    /// A JSON document produced by triage (redacted before it was written).
    Json,
    /// Text collected from the target (logs, /proc files, command output): always redacted.
    Text,
    /// Binary data that cannot be redacted (heap dumps, profiles, core dumps): marked sensitive.
    Binary,
}

/// One member of the archive.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub kind: FileKind,
    /// True for content that may hold secrets and could not be redacted.
    #[serde(default)]
    pub sensitive: bool,
    /// Redactions applied to this member: rule name → count. Never values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub redactions: BTreeMap<String, u64>,
    /// Why the member is incomplete (e.g. cut at a size cap), when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub truncated: Option<String>,
}

/// How redaction was configured for the run, and its totals.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct RedactionSummary {
    pub enabled: bool,
    /// `replace` or `tokenize`.
    #[serde(default)]
    pub mode: String,
    /// Names of the rules in force.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Rule name → total count over all members.
    #[serde(default)]
    pub totals: BTreeMap<String, u64>,
    /// Set when redaction was switched off, so nobody ships the bundle unaware.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl Manifest {
    /// Look a member up by path.
    pub fn file(&self, path: &str) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.path == path)
    }

    /// Look a collector up by name.
    pub fn collector(&self, name: &str) -> Option<&CollectorRecord> {
        self.collectors.iter().find(|c| c.name == name)
    }
}
