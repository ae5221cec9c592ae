//! `triage analyze BUNDLE`: verify a bundle, run every rule over what it holds, print the findings
//! most severe first with their evidence, optionally write the HTML report.
//!
//! A bundle may be damaged or come from another version. Every member is checked against the
//! manifest first; a member whose sha256 or size does not match is named and left out of the
//! analysis (for `snapshot.json`, the snapshot is rebuilt from the intact `collectors/*.json`);
//! a truncated archive is analysed up to the damage; a snapshot from an older or newer schema is
//! read section by section so one changed section does not hide the others.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use analyze::report::{HeapSection, ProfileSection};
use analyze::{Analysis, Finding, LogText, PodInventory, ReportExtras, Severity};
use anyhow::Context;
use bundle::BundleReader;
use clap::{Args, ValueEnum};
use hostprobe::Snapshot;
use serde_json::Value;

/// Schema of the `--json` output.
pub const ANALYSIS_SCHEMA: &str = "triage.analysis/v1";

const PODS_MEMBER: &str = "kubernetes/pods.json";
const SERVICES_MEMBER: &str = "kubernetes/services.json";
const PDBS_MEMBER: &str = "kubernetes/pdbs.json";

/// Severity threshold for `--fail-on`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Warn,
    Crit,
}

impl FailOn {
    fn severity(self) -> Severity {
        match self {
            Self::Warn => Severity::Warn,
            Self::Crit => Severity::Crit,
        }
    }
}

/// Report options of `triage analyze BUNDLE`.
#[derive(Args, Debug, Default)]
pub struct ReportFlags {
    /// Write a self-contained HTML report (findings, gauges, cgroups, processes, heap, profile) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Exit with code 3 when a finding at or above this severity is found (default: exit 0 whatever is found).
    #[arg(long, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,
    /// Add a stored heap analysis (`triage analyze X.hprof --json` output) to the HTML report.
    #[arg(long, value_name = "FILE", requires = "html")]
    pub heap_analysis: Option<PathBuf>,
    /// Add a stored profile analysis (`triage analyze X.pb.gz --json` output, or folded stacks) to the HTML report.
    #[arg(long, value_name = "FILE", requires = "html")]
    pub profile_analysis: Option<PathBuf>,
}

/// Everything read from a bundle, and what could not be trusted.
#[derive(Debug, Default)]
pub struct LoadedBundle {
    pub target: String,
    pub snapshot: Option<Snapshot>,
    pub pods: Option<PodInventory>,
    pub logs: Vec<LogText>,
    /// Container snapshots of pod bundles: (subject prefix, snapshot).
    pub container_snapshots: Vec<(String, Snapshot)>,
    pub heap: Option<HeapSection>,
    pub profile: Option<ProfileSection>,
    pub integrity: Integrity,
    /// What is missing, wrong or old, said precisely.
    pub notes: Vec<String>,
}

/// The result of checking the bundle against its manifest.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Integrity {
    /// Every member is listed, present and matches its size and sha256.
    pub verified: bool,
    pub manifest_schema: Option<String>,
    /// `(member, what is wrong)`: not used for the analysis.
    pub mismatched: Vec<(String, String)>,
    /// Listed in the manifest, absent from the archive.
    pub missing: Vec<String>,
    /// In the archive, not in the manifest (unverifiable; used only when there is no manifest).
    pub unlisted: Vec<String>,
    pub archive_error: Option<String>,
}

/// Analyse the bundle at `path`; returns the exit code.
pub fn run(path: &Path, json: bool, flags: &ReportFlags) -> anyhow::Result<u8> {
    let loaded = load_bundle(path)?;
    let analysis = analyse(&loaded);
    if let Some(html_path) = &flags.html {
        let mut extras = ReportExtras {
            title: Some(
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string()),
            ),
            notes: loaded.notes.clone(),
            heap: loaded.heap.clone(),
            profile: loaded.profile.clone(),
            ..Default::default()
        };
        extras.notes.extend(analysis.notes.iter().cloned());
        extras.notes.extend(
            analysis
                .skipped
                .iter()
                .map(|s| format!("{} not evaluated: {}", s.id, s.reason)),
        );
        if let Some(p) = &flags.heap_analysis {
            extras.heap = Some(read_heap_analysis(p)?);
        }
        if let Some(p) = &flags.profile_analysis {
            extras.profile = Some(read_profile_analysis(p)?);
        }
        let fallback = Snapshot {
            target: loaded.target.clone(),
            schema: hostprobe::SNAPSHOT_SCHEMA.into(),
            ..Default::default()
        };
        let snapshot = loaded.snapshot.as_ref().unwrap_or(&fallback);
        let html = analyze::report_html(snapshot, &analysis.findings, &extras);
        std::fs::write(html_path, html)
            .with_context(|| format!("writing the HTML report to {}", html_path.display()))?;
        eprintln!("report: {}", html_path.display());
    }
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "schema": ANALYSIS_SCHEMA,
            "bundle": path.display().to_string(),
            "target": loaded.target,
            "integrity": loaded.integrity,
            "findings": analysis.findings,
            "rules_evaluated": analysis.rules_evaluated,
            "skipped": analysis.skipped,
            "notes": loaded.notes.iter().chain(analysis.notes.iter()).collect::<Vec<_>>(),
            "worst": analysis.worst(),
        });
        serde_json::to_writer_pretty(&mut out, &doc).context("writing JSON to stdout")?;
        writeln!(out).context("writing to stdout")?;
    } else {
        let mut text = String::new();
        text.push_str(&format!(
            "bundle  {}\ntarget  {}\n",
            path.display(),
            loaded.target
        ));
        text.push_str(&format!("checks  {}\n", integrity_line(&loaded.integrity)));
        for note in &loaded.notes {
            text.push_str(&format!("note    {note}\n"));
        }
        text.push('\n');
        text.push_str(&render_analysis(&analysis));
        out.write_all(text.as_bytes())
            .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    Ok(exit_code(&analysis, flags.fail_on))
}

/// The exit code for `--fail-on`: [`crate::exit::FINDINGS`] when a finding reaches it.
pub fn exit_code(analysis: &Analysis, fail_on: Option<FailOn>) -> u8 {
    match (fail_on, analysis.worst()) {
        (Some(limit), Some(worst)) if worst >= limit.severity() => crate::exit::FINDINGS,
        _ => crate::exit::OK,
    }
}

fn integrity_line(i: &Integrity) -> String {
    if i.verified {
        return "every member matches its sha256 in manifest.json".into();
    }
    let mut parts = Vec::new();
    if !i.mismatched.is_empty() {
        parts.push(format!(
            "{} member(s) fail their checksum (not analysed)",
            i.mismatched.len()
        ));
    }
    if !i.missing.is_empty() {
        parts.push(format!("{} member(s) missing", i.missing.len()));
    }
    if let Some(e) = &i.archive_error {
        parts.push(format!("archive damaged: {e}"));
    }
    if i.manifest_schema.is_none() {
        parts.push("no manifest: nothing could be verified".into());
    }
    if parts.is_empty() {
        parts.push(format!(
            "{} member(s) not listed in the manifest",
            i.unlisted.len()
        ));
    }
    format!("FAILED — {}", parts.join("; "))
}

// ---------------------------------------------------------------------------------------------
// Findings for a snapshot, as the end of `triage snapshot` prints them
// ---------------------------------------------------------------------------------------------

/// Run every snapshot rule over `snapshot`.
#[allow(dead_code, reason = "the end of `triage snapshot` calls it")]
pub fn findings_for(snapshot: &Snapshot) -> Analysis {
    analyze::analyze_snapshot(snapshot)
}

/// Print the findings of `snapshot` (most severe first, with evidence) and the analysis notes to
/// `out`; returns the analysis so the caller can apply `--fail-on` with [`exit_code`].
#[allow(dead_code, reason = "the end of `triage snapshot` calls it")]
pub fn print_findings(snapshot: &Snapshot, out: &mut dyn Write) -> std::io::Result<Analysis> {
    let analysis = findings_for(snapshot);
    out.write_all(render_analysis(&analysis).as_bytes())?;
    Ok(analysis)
}

/// The terminal view of an analysis.
pub fn render_analysis(analysis: &Analysis) -> String {
    let mut text = String::new();
    let count = |s| analysis.findings.iter().filter(|f| f.severity == s).count();
    text.push_str(&format!(
        "FINDINGS  {} crit, {} warn, {} info ({} rules evaluated)\n",
        count(Severity::Crit),
        count(Severity::Warn),
        count(Severity::Info),
        analysis.rules_evaluated.len()
    ));
    if analysis.findings.is_empty() {
        text.push_str("  none: every rule that could run passed\n");
    }
    for f in &analysis.findings {
        text.push_str(&render_finding(f));
    }
    for note in &analysis.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    for skipped in &analysis.skipped {
        text.push_str(&format!(
            "not evaluated: {}: {}\n",
            skipped.id, skipped.reason
        ));
    }
    text
}

fn render_finding(f: &Finding) -> String {
    let mut text = format!(
        "\n{:<4}  {}  {}\n",
        f.severity.as_str().to_uppercase(),
        f.id,
        f.title
    );
    text.push_str(&format!("      on: {}\n", f.subject));
    for e in &f.evidence {
        match &e.threshold {
            Some(t) => text.push_str(&format!(
                "      {} = {}  (threshold {t})  [{}]\n",
                e.label, e.value, e.source
            )),
            None => text.push_str(&format!(
                "      {} = {}  [{}]\n",
                e.label, e.value, e.source
            )),
        }
    }
    text.push_str(&format!("      why: {}\n", f.explanation));
    text.push_str(&format!("      fix: {}\n", f.remedy));
    text
}

// ---------------------------------------------------------------------------------------------
// Analysis of everything loaded
// ---------------------------------------------------------------------------------------------

/// Run every rule over a loaded bundle.
pub fn analyse(loaded: &LoadedBundle) -> Analysis {
    let input = analyze::AnalysisInput {
        snapshot: loaded.snapshot.as_ref(),
        pods: loaded.pods.as_ref(),
        logs: &loaded.logs,
    };
    let mut analysis = analyze::analyze(&input);
    // A snapshot-less pod bundle or a pod-less host bundle: rules without any input are not news.
    // Container snapshots of a pod bundle are analysed on their own below.
    let has_snapshot = loaded.snapshot.is_some();
    analysis.skipped.retain(|s| {
        let rule = analyze::rules::ALL.iter().find(|r| r.id() == s.id);
        let reads_pods_or_logs = rule.is_some_and(|r| {
            r.reads()
                .iter()
                .all(|i| !matches!(i, analyze::Input::Collector(_)))
        });
        let reads_snapshot = rule.is_some_and(|r| {
            r.reads()
                .iter()
                .any(|i| matches!(i, analyze::Input::Collector(_)))
        });
        let lacks_pod_data = reads_pods_or_logs && loaded.pods.is_none() && loaded.logs.is_empty();
        let lacks_snapshot = reads_snapshot && !has_snapshot;
        !lacks_pod_data && !lacks_snapshot
    });
    for (prefix, snapshot) in &loaded.container_snapshots {
        let per = analyze::analyze_snapshot(snapshot);
        for mut f in per.findings {
            f.subject = format!("{prefix}: {}", f.subject);
            analysis.findings.push(f);
        }
    }
    // Evidence read from a member that failed its checksum is not evidence.
    // (A tampered snapshot.json is never read: the snapshot is rebuilt from collector members.)
    let bad: BTreeSet<&str> = loaded
        .integrity
        .mismatched
        .iter()
        .map(|(m, _)| m.as_str())
        .filter(|m| *m != analyze::SNAPSHOT_MEMBER)
        .collect();
    if !bad.is_empty() {
        for f in &analysis.findings {
            for e in &f.evidence {
                let member = e.source.split('#').next().unwrap_or(&e.source);
                if bad.contains(member) {
                    analysis.notes.push(format!(
                        "{} cites {member}, which failed its checksum: check the value against another source",
                        f.id
                    ));
                }
            }
        }
        analysis.notes.dedup();
    }
    analyze::sort_findings(&mut analysis.findings);
    analysis
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/// The members worth reading for the analysis.
fn wanted(name: &str) -> bool {
    name == analyze::SNAPSHOT_MEMBER
        || (name.starts_with("collectors/") && name.ends_with(".json"))
        || name == PODS_MEMBER
        || name == SERVICES_MEMBER
        || name == PDBS_MEMBER
        || (name.starts_with("logs/") && name.ends_with(".log"))
        || (name.starts_with("pods/") && name.ends_with("/snapshot.json"))
        || is_analysis_member(name)
}

/// Stored heap or profile analyses (`…heap….json`, `…profile….json`, `….folded`) and the JVM
/// class histograms of a process snapshot (`jvm/PID/class_histogram.json`).
fn is_analysis_member(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    (lower.ends_with(".json")
        && (lower.contains("heap")
            || lower.contains("histogram")
            || lower.contains("profile")
            || lower.contains("pprof"))
        && !lower.contains("summary"))
        || lower.ends_with(".folded")
}

/// Open, verify and read a bundle.
pub fn load_bundle(path: &Path) -> anyhow::Result<LoadedBundle> {
    let reader = BundleReader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut loaded = LoadedBundle::default();
    // Integrity first: which members can be trusted.
    let manifest = match reader.manifest() {
        Ok(m) => {
            super::bundle::warn_if_unredacted(&m, path);
            Some(m)
        }
        Err(e) => {
            loaded.notes.push(format!(
                "{e}; a bundle is written with its manifest last, so the archive was probably cut short \
                 (interrupted copy or upload): members are analysed unverified"
            ));
            None
        }
    };
    let report = match reader.verify() {
        Ok(r) => r,
        Err(bundle::Error::NoManifest) => bundle::VerifyReport::default(),
        Err(e) => {
            loaded
                .notes
                .push(format!("verifying the bundle failed: {e}"));
            bundle::VerifyReport::default()
        }
    };
    if let Some(e) = &report.archive_error {
        loaded
            .notes
            .push(format!("{e}: only the members before the damage were read"));
    }
    for (member, what) in &report.mismatched {
        loaded.notes.push(format!("{member} does not match manifest.json ({what}): it was tampered with or corrupted and is not analysed"));
    }
    for member in &report.missing {
        loaded.notes.push(format!(
            "{member} is listed in manifest.json but absent from the archive"
        ));
    }
    if manifest.is_some() && !report.unlisted.is_empty() {
        loaded.notes.push(format!(
            "{} member(s) are in the archive but not in manifest.json and are ignored: {}",
            report.unlisted.len(),
            report
                .unlisted
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    loaded.integrity = Integrity {
        verified: manifest.is_some() && report.is_clean(),
        manifest_schema: manifest.as_ref().map(|m| m.schema.clone()),
        mismatched: report.mismatched.clone(),
        missing: report.missing.clone(),
        unlisted: report.unlisted.clone(),
        archive_error: report.archive_error.clone(),
    };
    if let Some(m) = &manifest {
        loaded.target = m.target.clone();
        if let Some(note) = schema_note("bundle", &m.schema, bundle::SCHEMA) {
            loaded.notes.push(note);
        }
        for c in &m.collectors {
            if c.status != bundle::CollectorStatus::Ok {
                loaded.notes.push(format!(
                    "collector {} {}{}",
                    c.name,
                    c.status,
                    c.error
                        .as_deref()
                        .map(|e| format!(": {e}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    // The members that can be read: verified ones, or (without a manifest) everything read intact.
    let trusted: BTreeSet<String> = if manifest.is_some() {
        report.ok.iter().cloned().collect()
    } else {
        report.unlisted.iter().cloned().collect()
    };
    let names: Vec<String> = trusted.iter().filter(|n| wanted(n)).cloned().collect();
    let members = read_wanted(
        &reader,
        &names,
        report.archive_error.is_none(),
        &mut loaded.notes,
    );

    // Snapshot.
    if let Some(bytes) = members.get(analyze::SNAPSHOT_MEMBER) {
        loaded.snapshot = parse_snapshot(analyze::SNAPSHOT_MEMBER, bytes, &mut loaded.notes);
    } else if members.keys().any(|k| k.starts_with("collectors/")) {
        let why = if report
            .mismatched
            .iter()
            .any(|(m, _)| m == analyze::SNAPSHOT_MEMBER)
        {
            "snapshot.json failed its checksum"
        } else {
            "snapshot.json is missing"
        };
        loaded.notes.push(format!("{why}: the snapshot was rebuilt from the intact collectors/*.json members (no interval deltas)"));
        loaded.snapshot = Some(snapshot_from_collectors(
            &members,
            manifest.as_ref(),
            &mut loaded.notes,
        ));
    }
    if let Some(snapshot) = loaded.snapshot.as_mut() {
        if loaded.target.is_empty() {
            loaded.target = snapshot.target.clone();
        }
        // A collector whose own member was tampered with: its section cannot be trusted either.
        for (member, _) in &report.mismatched {
            if let Some(name) = member
                .strip_prefix("collectors/")
                .and_then(|m| m.strip_suffix(".json"))
            {
                analyze::distrust_collector(
                    snapshot,
                    name,
                    &format!("{member} failed its sha256 check"),
                );
            }
        }
        for name in analyze::COLLECTORS {
            if snapshot.collector(name).is_none() {
                loaded.notes.push(format!(
                    "collector {name} is not in this snapshot (written by a version without it, or it did not run): rules reading it are skipped"
                ));
            }
        }
    }

    // Kubernetes objects, logs, container snapshots.
    let pods = members
        .get(PODS_MEMBER)
        .and_then(|b| parse_list(PODS_MEMBER, b, &mut loaded.notes));
    if let Some(pods) = pods {
        loaded.pods = Some(PodInventory {
            pods,
            services: members
                .get(SERVICES_MEMBER)
                .and_then(|b| parse_list(SERVICES_MEMBER, b, &mut loaded.notes))
                .unwrap_or_default(),
            pod_disruption_budgets: members
                .get(PDBS_MEMBER)
                .and_then(|b| parse_list(PDBS_MEMBER, b, &mut loaded.notes))
                .unwrap_or_default(),
            pods_source: PODS_MEMBER.into(),
            services_source: SERVICES_MEMBER.into(),
            pdbs_source: PDBS_MEMBER.into(),
        });
    }
    for (name, bytes) in &members {
        if let Some(rest) = name
            .strip_prefix("logs/")
            .and_then(|r| r.strip_suffix(".log"))
        {
            let parts: Vec<&str> = rest.split('/').collect();
            let subject = match parts.as_slice() {
                [ns, pod, container] => match container.strip_suffix(".previous") {
                    Some(c) => format!("pod {ns}/{pod} container {c} (previous)"),
                    None => format!("pod {ns}/{pod} container {container}"),
                },
                _ => name.clone(),
            };
            loaded.logs.push(LogText {
                subject,
                source: name.clone(),
                text: String::from_utf8_lossy(bytes).into_owned(),
            });
        } else if let Some(rest) = name
            .strip_prefix("pods/")
            .and_then(|r| r.strip_suffix("/snapshot.json"))
        {
            let parts: Vec<&str> = rest.split('/').collect();
            let prefix = match parts.as_slice() {
                [ns, pod, container] => format!("pod {ns}/{pod} container {container}"),
                _ => rest.to_string(),
            };
            if let Some(s) = parse_snapshot(name, bytes, &mut loaded.notes) {
                loaded.container_snapshots.push((prefix, s));
            }
        } else if is_analysis_member(name) {
            load_analysis_member(name, bytes, &mut loaded);
        }
    }
    if loaded.snapshot.is_none() && loaded.pods.is_none() && loaded.container_snapshots.is_empty() {
        loaded.notes.push(
            "the bundle holds no snapshot.json, collectors/*.json or kubernetes/pods.json that could be trusted: \
             no rule had data to read"
                .into(),
        );
    }
    Ok(loaded)
}

/// Read `names`: in one pass when the archive is intact; one by one (each read stops at its
/// member) when it is damaged, so everything before the damage is still read.
fn read_wanted(
    reader: &BundleReader,
    names: &[String],
    intact: bool,
    notes: &mut Vec<String>,
) -> BTreeMap<String, Vec<u8>> {
    if names.is_empty() {
        return BTreeMap::new();
    }
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    if intact {
        match reader.read_members(|n| set.contains(n)) {
            Ok(m) => return m,
            Err(e) => notes.push(format!(
                "reading the bundle's members in one pass failed ({e}); reading them one by one"
            )),
        }
    }
    let mut out = BTreeMap::new();
    for name in names {
        match reader.read_member(name) {
            Ok(bytes) => {
                out.insert(name.clone(), bytes);
            }
            Err(e) => notes.push(format!("{name} could not be read: {e}")),
        }
    }
    out
}

/// `None` when `found` is the expected schema; otherwise what an older or newer one means.
fn schema_note(what: &str, found: &str, expected: &str) -> Option<String> {
    if found == expected {
        return None;
    }
    let version = |s: &str| s.rsplit_once("/v").and_then(|(_, v)| v.parse::<u32>().ok());
    let same_family = found.rsplit_once('/').map(|f| f.0) == expected.rsplit_once('/').map(|e| e.0);
    Some(match (same_family, version(found), version(expected)) {
        (true, Some(f), Some(e)) if f > e => format!(
            "the {what} schema is {found}, newer than the {expected} this triage reads: fields it does not know are ignored \
             and sections it cannot read are named below; upgrade triage for the full analysis"
        ),
        (true, Some(_), Some(_)) => format!(
            "the {what} schema is {found}, older than {expected}: sections that version did not write are missing and \
             the rules reading them are skipped"
        ),
        _ => format!("the {what} schema is {found:?}, not {expected}: read as far as it matches"),
    })
}

/// Parse a snapshot leniently: the whole document if it matches the model, otherwise section by
/// section, naming each section that could not be read.
pub fn parse_snapshot(member: &str, bytes: &[u8], notes: &mut Vec<String>) -> Option<Snapshot> {
    let value: Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            notes.push(format!("{member} is not valid JSON (line {}, column {}): {e}; the snapshot is not analysed", e.line(), e.column()));
            return None;
        }
    };
    let Value::Object(map) = value else {
        notes.push(format!(
            "{member} is not a JSON object; the snapshot is not analysed"
        ));
        return None;
    };
    let schema = map
        .get("schema")
        .and_then(Value::as_str)
        .unwrap_or("(none)")
        .to_string();
    if let Some(note) = schema_note(
        &format!("snapshot ({member})"),
        &schema,
        hostprobe::SNAPSHOT_SCHEMA,
    ) {
        notes.push(note);
    }
    if let Ok(s) = serde_json::from_value::<Snapshot>(Value::Object(map.clone())) {
        return Some(s);
    }
    let mut base = match serde_json::to_value(Snapshot::default()) {
        Ok(Value::Object(m)) => m,
        _ => return None,
    };
    let mut unreadable = Vec::new();
    let mut absent = Vec::new();
    let keys: Vec<String> = base.keys().cloned().collect();
    for key in keys {
        match map.get(&key) {
            None => absent.push(key),
            Some(v) => {
                let previous = base.insert(key.clone(), v.clone());
                if serde_json::from_value::<Snapshot>(Value::Object(base.clone())).is_err() {
                    if let Some(p) = previous {
                        base.insert(key.clone(), p);
                    }
                    unreadable.push(key);
                }
            }
        }
    }
    if !unreadable.is_empty() {
        notes.push(format!(
            "{member}: sections {} do not match this version's model and are left out",
            unreadable.join(", ")
        ));
    }
    if !absent.is_empty() {
        notes.push(format!(
            "{member}: sections {} are absent",
            absent.join(", ")
        ));
    }
    serde_json::from_value(Value::Object(base)).ok()
}

/// Rebuild a snapshot from `collectors/<name>.json` members (`{collector, data}`).
fn snapshot_from_collectors(
    members: &BTreeMap<String, Vec<u8>>,
    manifest: Option<&bundle::Manifest>,
    notes: &mut Vec<String>,
) -> Snapshot {
    let mut snapshot = Snapshot {
        schema: hostprobe::SNAPSHOT_SCHEMA.into(),
        target: manifest.map(|m| m.target.clone()).unwrap_or_default(),
        started_at: manifest.map(|m| m.started_at.clone()).unwrap_or_default(),
        finished_at: manifest.map(|m| m.finished_at.clone()).unwrap_or_default(),
        ..Default::default()
    };
    for (name, bytes) in members {
        let Some(collector) = name
            .strip_prefix("collectors/")
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let parsed: Result<Value, _> = serde_json::from_slice(bytes);
        let Ok(doc) = parsed else {
            notes.push(format!(
                "{name} is not valid JSON: collector {collector} left out"
            ));
            continue;
        };
        if let Some(run) = doc
            .get("collector")
            .and_then(|r| serde_json::from_value::<hostprobe::CollectorRun>(r.clone()).ok())
        {
            snapshot.collectors.push(run);
        }
        let data = doc.get("data").cloned().unwrap_or(Value::Null);
        let ok = match collector {
            "system" => serde_json::from_value(data)
                .map(|v| snapshot.system = v)
                .is_ok(),
            "memory" => serde_json::from_value(data)
                .map(|v| snapshot.memory = v)
                .is_ok(),
            "processes" => {
                let procs = data.get("processes").cloned().map(serde_json::from_value);
                let summary = data
                    .get("process_summary")
                    .cloned()
                    .map(serde_json::from_value);
                match (procs, summary) {
                    (Some(Ok(p)), Some(Ok(s))) => {
                        snapshot.processes = p;
                        snapshot.process_summary = s;
                        true
                    }
                    _ => false,
                }
            }
            "filesystems" => serde_json::from_value(data)
                .map(|v| snapshot.filesystems = v)
                .is_ok(),
            "mounts" => serde_json::from_value(data)
                .map(|v| snapshot.mounts = v)
                .is_ok(),
            "block_devices" => serde_json::from_value(data)
                .map(|v| snapshot.block_devices = v)
                .is_ok(),
            "cgroups" => serde_json::from_value(data)
                .map(|v| snapshot.cgroups = v)
                .is_ok(),
            "conntrack" => serde_json::from_value(data)
                .map(|v| snapshot.conntrack = v)
                .is_ok(),
            "network" => serde_json::from_value(data)
                .map(|v| snapshot.network = v)
                .is_ok(),
            "kernel_log" => serde_json::from_value(data)
                .map(|v| snapshot.kernel_log = v)
                .is_ok(),
            _ => true,
        };
        if !ok {
            notes.push(format!("{name}: the data does not match this version's model; collector {collector} left out"));
            analyze::distrust_collector(
                &mut snapshot,
                collector,
                &format!("{name} could not be read"),
            );
        }
    }
    snapshot
}

fn parse_list<T: serde::de::DeserializeOwned>(
    member: &str,
    bytes: &[u8],
    notes: &mut Vec<String>,
) -> Option<Vec<T>> {
    match analyze::pod::parse_objects(member, bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{e}; the pod rules that need it are skipped"));
            None
        }
    }
}

fn load_analysis_member(name: &str, bytes: &[u8], loaded: &mut LoadedBundle) {
    if name.ends_with(".folded") {
        let text = String::from_utf8_lossy(bytes);
        let stacks: Vec<_> = text
            .lines()
            .filter_map(analyze::report::extras::parse_folded_line)
            .collect();
        if !stacks.is_empty() && loaded.profile.is_none() {
            let total = stacks.iter().map(|s| s.value).sum();
            loaded.profile = Some(ProfileSection {
                title: name.into(),
                sample_type: "samples".into(),
                unit: "count".into(),
                total,
                top: vec![],
                stacks,
            });
        }
        return;
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        loaded
            .notes
            .push(format!("{name} is not valid JSON: not shown in the report"));
        return;
    };
    if loaded.heap.is_none() {
        if let Some(h) = HeapSection::from_json(name, &value) {
            loaded.heap = Some(h);
            return;
        }
    }
    if loaded.profile.is_none() {
        if let Some(p) = ProfileSection::from_json(name, &value) {
            loaded.profile = Some(p);
        }
    }
}

fn read_heap_analysis(path: &Path) -> anyhow::Result<HeapSection> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let value: Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))?;
    HeapSection::from_json(&path.display().to_string(), &value).ok_or_else(|| {
        anyhow::anyhow!("{} has no `histogram` or `dominators`: give the output of `triage analyze HEAP.hprof --json`", path.display())
    })
}

fn read_profile_analysis(path: &Path) -> anyhow::Result<ProfileSection> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
        if let Some(p) = ProfileSection::from_json(&path.display().to_string(), &value) {
            return Ok(p);
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let stacks: Vec<_> = text
        .lines()
        .filter_map(analyze::report::extras::parse_folded_line)
        .collect();
    if stacks.is_empty() {
        anyhow::bail!(
            "{} is neither a profile analysis (`triage analyze X.pb.gz --json`) nor folded stacks (`a;b;c 12` per line)",
            path.display()
        );
    }
    let total = stacks.iter().map(|s| s.value).sum();
    Ok(ProfileSection {
        title: path.display().to_string(),
        sample_type: "samples".into(),
        unit: "count".into(),
        total,
        top: vec![],
        stacks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_notes_say_older_or_newer() {
        assert!(schema_note("bundle", "triage.bundle/v1", "triage.bundle/v1").is_none());
        assert!(
            schema_note("bundle", "triage.bundle/v2", "triage.bundle/v1")
                .unwrap()
                .contains("newer")
        );
        assert!(
            schema_note("snapshot", "triage.snapshot/v0", "triage.snapshot/v1")
                .unwrap()
                .contains("older")
        );
        assert!(
            schema_note("snapshot", "something", "triage.snapshot/v1")
                .unwrap()
                .contains("not triage.snapshot/v1")
        );
    }

    #[test]
    fn lenient_snapshot_keeps_readable_sections() {
        let mut notes = Vec::new();
        let doc = serde_json::json!({
            "schema": "triage.snapshot/v2",
            "target": "host",
            "memory": {"total_bytes": "not a number"},
            "filesystems": [],
            "brand_new_section": {"x": 1},
        });
        let s = parse_snapshot("snapshot.json", doc.to_string().as_bytes(), &mut notes)
            .expect("partial snapshot");
        assert_eq!(s.target, "host");
        assert!(s.memory.is_none());
        assert!(notes.iter().any(|n| n.contains("newer")), "{notes:?}");
        assert!(
            notes
                .iter()
                .any(|n| n.contains("sections memory do not match")),
            "{notes:?}"
        );
    }

    #[test]
    fn fail_on_thresholds() {
        let mut analysis = Analysis::default();
        assert_eq!(exit_code(&analysis, Some(FailOn::Warn)), crate::exit::OK);
        analysis.findings.push(Finding {
            id: "N-LOAD".into(),
            severity: Severity::Warn,
            title: String::new(),
            subject: String::new(),
            evidence: vec![],
            explanation: String::new(),
            remedy: String::new(),
            reference: String::new(),
        });
        assert_eq!(exit_code(&analysis, None), crate::exit::OK);
        assert_eq!(exit_code(&analysis, Some(FailOn::Crit)), crate::exit::OK);
        assert_eq!(
            exit_code(&analysis, Some(FailOn::Warn)),
            crate::exit::FINDINGS
        );
    }
}
