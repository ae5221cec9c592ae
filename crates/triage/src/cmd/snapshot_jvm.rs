//! The JVM part of `triage snapshot pid:N`: for each HotSpot JVM among the target and its
//! descendants, the thread dump, class histogram, VM flags, heap summary and native memory summary,
//! taken through the attach protocol (no JDK needed in the target) within one time budget.

use std::time::{Duration, Instant};

use hostprobe::model::{CollectorRun, CollectorStatus, Snapshot};
use hotspot::diagnostics::{CollectOptions, Diagnostic, DiagnosticStatus};
use hotspot::{JvmKind, Target};
use serde::Serialize;

/// At most this many JVMs are attached per snapshot (a process tree of hundreds of JVMs is a
/// build farm, not a service; their diagnostics would not fit a useful bundle).
const MAX_JVMS: usize = 8;

/// What one JVM gave.
#[derive(Debug, Serialize)]
pub struct JvmCapture {
    pub pid: u32,
    pub name: String,
    /// Set when the attach itself failed; `diagnostics` is then empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// The largest classes of the histogram, for the JSON view and the terminal.
    pub histogram_top: Vec<hotspot::HistogramEntry>,
}

/// The HotSpot JVMs among `pids` (target first), the others skipped silently.
fn hotspot_jvms(pids: impl Iterator<Item = u32>) -> (Vec<Target>, Vec<String>) {
    let mut jvms = Vec::new();
    let mut notes = Vec::new();
    for pid in pids {
        let Ok(target) = Target::inspect(pid) else {
            continue;
        };
        match target.kind {
            JvmKind::HotSpot if jvms.len() < MAX_JVMS => jvms.push(target),
            JvmKind::HotSpot => {
                notes.push(format!(
                    "pid {pid} is a JVM too, but only {MAX_JVMS} are attached per snapshot; use `triage jvm threads pid:{pid}`"
                ));
            }
            JvmKind::OpenJ9 => notes.push(format!(
                "pid {pid} is an OpenJ9 JVM, whose attach protocol is not supported"
            )),
            JvmKind::None => {}
        }
    }
    (jvms, notes)
}

/// Attach to every HotSpot JVM in the snapshot's scope (the target pid first) and record its
/// diagnostics. Returns the captures and the collector's run record (status `skipped` when there
/// is no JVM, `failed` when no JVM gave anything).
pub fn capture(
    snapshot: &Snapshot,
    target_pid: u32,
    budget: Duration,
) -> (Vec<JvmCapture>, CollectorRun) {
    let started = Instant::now();
    let pids = std::iter::once(target_pid).chain(
        snapshot
            .processes
            .iter()
            .map(|p| p.pid)
            .filter(move |&p| p != target_pid),
    );
    let (jvms, mut notes) = hotspot_jvms(pids);
    let mut captures = Vec::with_capacity(jvms.len());
    for target in &jvms {
        let remaining = budget.saturating_sub(started.elapsed());
        if remaining < Duration::from_millis(200) {
            notes.push(format!(
                "pid {}: time budget of {budget:?} used up before attaching",
                target.pid
            ));
            continue;
        }
        tracing::info!(
            "attaching to JVM pid {} ({}) for its diagnostics",
            target.pid,
            target.name
        );
        let options = CollectOptions {
            budget: remaining,
            // `-all`: no full GC forced on a JVM that may already be in trouble.
            histogram_all: true,
            cancel: None,
        };
        match hotspot::diagnostics::collect_with(target.pid, &options) {
            Ok(diagnostics) => {
                let histogram_top = diagnostics
                    .iter()
                    .find_map(|d| d.histogram.as_ref())
                    .map(|h| h.histogram.iter().take(20).cloned().collect())
                    .unwrap_or_default();
                for d in &diagnostics {
                    if let DiagnosticStatus::Failed { error } = &d.status {
                        notes.push(format!("pid {} {}: {error}", target.pid, d.command));
                    }
                }
                captures.push(JvmCapture {
                    pid: target.pid,
                    name: target.name.clone(),
                    error: None,
                    diagnostics,
                    histogram_top,
                });
            }
            Err(e) => {
                let message = e.full_message();
                notes.push(format!("pid {}: {message}", target.pid));
                captures.push(JvmCapture {
                    pid: target.pid,
                    name: target.name.clone(),
                    error: Some(message),
                    diagnostics: Vec::new(),
                    histogram_top: Vec::new(),
                });
            }
        }
    }
    let any_ok = captures.iter().any(|c| {
        c.diagnostics
            .iter()
            .any(|d| matches!(d.status, DiagnosticStatus::Ok))
    });
    let status = if jvms.is_empty() {
        CollectorStatus::Skipped
    } else if any_ok {
        CollectorStatus::Ok
    } else {
        CollectorStatus::Failed
    };
    let error = if jvms.is_empty() && notes.is_empty() {
        Some(format!(
            "no HotSpot JVM among pid {target_pid} and its descendants"
        ))
    } else if notes.is_empty() {
        None
    } else {
        Some(notes.join("; "))
    };
    let run = CollectorRun {
        name: "jvm".into(),
        status,
        error,
        duration_ms: started.elapsed().as_millis() as u64,
        source_files: vec!["/tmp/.java_pid[nspid] (attach socket)".into()],
    };
    (captures, run)
}

/// The terminal section: per JVM, each command's outcome and the largest classes.
pub fn render(out: &mut String, captures: &[JvmCapture]) {
    use std::fmt::Write as _;
    if captures.is_empty() {
        return;
    }
    out.push_str("\nJVM\n");
    for c in captures {
        let _ = writeln!(out, "  pid {} ({})", c.pid, c.name);
        if let Some(e) = &c.error {
            let _ = writeln!(out, "    attach failed: {e}");
            continue;
        }
        for d in &c.diagnostics {
            let status = match &d.status {
                DiagnosticStatus::Ok => format!("ok, {} bytes", d.output.len()),
                DiagnosticStatus::NotEnabled { reason } => format!("not enabled: {reason}"),
                DiagnosticStatus::Failed { error } => format!("failed: {error}"),
                DiagnosticStatus::Skipped { reason } => format!("skipped: {reason}"),
            };
            let _ = writeln!(
                out,
                "    {:<28} {:>6} ms  {status}",
                d.command, d.elapsed_ms
            );
        }
        if !c.histogram_top.is_empty() {
            let _ = writeln!(out, "    largest classes (all objects, no GC forced):");
            for e in c.histogram_top.iter().take(5) {
                let _ = writeln!(
                    out,
                    "      {:>12} {:>10}  {}",
                    crate::output::human_bytes(e.bytes),
                    e.instances,
                    e.class
                );
            }
        }
    }
}

/// The bundle members: `jvm/<pid>/<name>` per command output and `jvm/<pid>/diagnostics.json`
/// with every command's status.
pub fn add_to_bundle(
    writer: &mut bundle::BundleWriter,
    captures: &[JvmCapture],
) -> anyhow::Result<()> {
    for c in captures {
        for d in &c.diagnostics {
            if d.output.is_empty() {
                continue;
            }
            writer.add_member(
                &format!("jvm/{}/{}", c.pid, d.name),
                &d.output,
                bundle::writer::MemberOptions {
                    kind: bundle::FileKind::Text,
                    sensitive: false,
                    truncated: None,
                },
            )?;
            if let Some(h) = &d.histogram {
                writer.add_json(&format!("jvm/{}/class_histogram.json", c.pid), h)?;
            }
        }
        writer.add_json(&format!("jvm/{}/diagnostics.json", c.pid), c)?;
    }
    Ok(())
}
