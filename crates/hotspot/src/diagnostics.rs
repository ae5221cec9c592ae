//! The set of JVM diagnostics a snapshot records: thread dump with locks, class histogram,
//! VM flags, heap summary and native memory summary — each with its own status, so one failing
//! command never loses the others, all within one time budget.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::client::{AttachOptions, ExecOptions, Jvm};
use crate::error::Result;
use crate::histogram::{Histogram, Limits, parse_histogram};

/// How one diagnostic command went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DiagnosticStatus {
    /// The output is complete.
    Ok,
    /// The JVM does not collect this (e.g. native memory tracking is off); the output says why.
    NotEnabled { reason: String },
    /// The command failed; nothing usable was produced.
    Failed { error: String },
    /// The time budget ran out before the command was tried.
    Skipped { reason: String },
}

/// One recorded command.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    /// Suggested file name in a bundle (e.g. `threads.txt`).
    pub name: &'static str,
    /// The diagnostic command line sent (`jcmd` operation).
    pub command: &'static str,
    /// Outcome.
    #[serde(flatten)]
    pub status: DiagnosticStatus,
    /// The JVM's output, as it gave it (empty unless `Ok` or `NotEnabled`).
    #[serde(skip)]
    pub output: Vec<u8>,
    /// For the class histogram: the parsed form.
    #[serde(skip)]
    pub histogram: Option<Histogram>,
    /// Time the command took.
    pub elapsed_ms: u64,
}

/// What to collect.
#[derive(Debug, Clone, Copy)]
pub struct CollectOptions<'a> {
    /// Total time for all commands (attach included).
    pub budget: Duration,
    /// `GC.class_histogram -all`: no full GC, unreachable objects included. The default (false)
    /// gives live objects only, at the price of a full GC pause.
    pub histogram_all: bool,
    /// Set by a signal handler to stop early.
    pub cancel: Option<&'a AtomicBool>,
}

impl Default for CollectOptions<'_> {
    fn default() -> Self {
        CollectOptions {
            budget: Duration::from_secs(60),
            histogram_all: false,
            cancel: None,
        }
    }
}

/// The commands, in the order they run (cheapest and most useful first).
const COMMANDS: &[(&str, &str)] = &[
    ("threads.txt", "Thread.print -l"),
    ("vm_flags.txt", "VM.flags"),
    ("heap_info.txt", "GC.heap_info"),
    ("native_memory.txt", "VM.native_memory summary"),
    ("class_histogram.txt", "GC.class_histogram"),
];

/// Attach to `pid` and run the snapshot's diagnostic commands within `budget`.
///
/// `Err` only when the attach itself fails (not a JVM, attach disabled, wrong user…; see
/// [`crate::AttachError::is_not_attachable`]); each command's own failure is in its status.
pub fn collect(pid: u32, budget: Duration) -> Result<Vec<Diagnostic>> {
    collect_with(
        pid,
        &CollectOptions {
            budget,
            ..CollectOptions::default()
        },
    )
}

/// [`collect`] with options.
pub fn collect_with(pid: u32, options: &CollectOptions<'_>) -> Result<Vec<Diagnostic>> {
    let started = Instant::now();
    let attach_timeout = options.budget.min(AttachOptions::default().attach_timeout);
    let jvm = Jvm::attach_with(pid, &AttachOptions { attach_timeout })?;
    let mut results = Vec::with_capacity(COMMANDS.len());
    for &(name, command) in COMMANDS {
        let command: &'static str = if command == "GC.class_histogram" && options.histogram_all {
            "GC.class_histogram -all"
        } else {
            command
        };
        let remaining = options.budget.saturating_sub(started.elapsed());
        let begun = Instant::now();
        if remaining < Duration::from_millis(100) {
            results.push(Diagnostic {
                name,
                command,
                status: DiagnosticStatus::Skipped {
                    reason: format!("time budget of {:?} used up", options.budget),
                },
                output: Vec::new(),
                histogram: None,
                elapsed_ms: 0,
            });
            continue;
        }
        let exec = ExecOptions {
            response_timeout: remaining,
            cancel: options.cancel,
        };
        let (status, output) = match jvm.jcmd(command, &exec) {
            Ok(text) => {
                let first_line = text.lines().next().unwrap_or("").trim().to_string();
                if first_line.contains("not enabled") {
                    (
                        DiagnosticStatus::NotEnabled { reason: first_line },
                        text.into_bytes(),
                    )
                } else {
                    (DiagnosticStatus::Ok, text.into_bytes())
                }
            }
            Err(e) => (
                DiagnosticStatus::Failed {
                    error: e.full_message(),
                },
                Vec::new(),
            ),
        };
        let histogram = (name == "class_histogram.txt" && status == DiagnosticStatus::Ok)
            .then(|| parse_histogram(&String::from_utf8_lossy(&output), &Limits::default()));
        tracing::debug!(
            pid,
            command,
            ?status,
            bytes = output.len(),
            "JVM diagnostic"
        );
        results.push(Diagnostic {
            name,
            command,
            status,
            output,
            histogram,
            elapsed_ms: begun.elapsed().as_millis() as u64,
        });
    }
    Ok(results)
}
