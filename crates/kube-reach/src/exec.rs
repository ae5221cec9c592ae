//! Commands in a container through the exec subresource (websocket v5, v4 fallback — kube-rs
//! offers both), with the exit code taken from the status frame and stdout/stderr kept apart.
//!
//! The status frame decides: `Success` is 0, `NonZeroExitCode` carries the code in
//! `details.causes[reason=ExitCode]`; any other failure is reported with its message; no frame at
//! all means the stream was cut, which is an error and never a success. Every wait is bounded:
//! the stream must open within [`CONNECT_TIMEOUT`] and a running command may stay silent (no
//! output, no status) for at most [`ExecTarget::idle_timeout`].

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use std::time::Duration;

use kube::api::{Api, AttachParams, AttachedProcess};
use tokio::io::{AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Error, Result};

/// Exec buffer size: kube-rs's 1 KiB default caps a dump at ~27 MiB/s; 4 MiB runs at memory speed.
pub const EXEC_BUFFER_BYTES: usize = 4 << 20;

/// Longest wait for the exec stream to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default longest silence of a running command (no output, no exit status) before it is given
/// up: long enough for a heap dump of a large heap, which prints nothing until it is done.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Where to run: pod and container.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    pub api: Api<Pod>,
    pub pod: String,
    pub container: String,
    /// Longest wait for the next output bytes or the exit status of a command.
    pub idle_timeout: Duration,
}

impl ExecTarget {
    /// A target in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, pod: &str, container: &str) -> Self {
        ExecTarget {
            api: Api::namespaced(client, namespace),
            pod: pod.to_string(),
            container: container.to_string(),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// The same target with another [`ExecTarget::idle_timeout`].
    pub fn with_idle_timeout(mut self, idle_timeout: Duration) -> Self {
        self.idle_timeout = idle_timeout;
        self
    }

    fn params(&self, stdin: bool) -> AttachParams {
        AttachParams::default()
            .container(self.container.clone())
            .stdin(stdin)
            .stdout(true)
            .stderr(true)
            .max_stdout_buf_size(EXEC_BUFFER_BYTES)
            .max_stderr_buf_size(1 << 20)
            .max_stdin_buf_size(1 << 20)
    }

    fn describe(&self, argv: &[&str]) -> (String, String) {
        (
            format!("pod/{} container {}", self.pod, self.container),
            argv.join(" "),
        )
    }
}

/// What a finished command left.
#[derive(Debug, Clone)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// stdout was longer than the cap and was cut (the rest was drained, not kept).
    pub stdout_truncated: bool,
}

impl ExecOutput {
    /// True when the command was not found or not executable (126/127): "this image lacks it".
    pub fn command_missing(&self) -> bool {
        self.exit_code == 127 || self.exit_code == 126 || {
            let e = String::from_utf8_lossy(&self.stderr);
            e.contains("executable file not found") || e.contains("no such file or directory")
        }
    }
}

/// The exit code a status frame reports.
pub fn exit_code_of(status: &Status) -> std::result::Result<i32, String> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    if status.reason.as_deref() == Some("NonZeroExitCode") {
        let code = status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|c| c.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.trim().parse::<i32>().ok());
        return code.ok_or_else(|| {
            format!(
                "non-zero exit without a readable code: {}",
                status.message.clone().unwrap_or_default()
            )
        });
    }
    Err(status
        .message
        .clone()
        .unwrap_or_else(|| format!("exec failed: {status:?}")))
}

/// A runtime's "executable not found" error on the status channel (no exit code at all).
fn is_not_found_message(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not found in $path")
}

/// Where stdout goes while a command runs.
enum StdoutSink<'a> {
    /// Kept in memory up to a cap; the rest is drained and counted as truncated.
    Capped {
        out: &'a mut Vec<u8>,
        cap: usize,
        truncated: &'a mut bool,
    },
    /// Streamed into a writer, every chunk shown to `on_chunk` first.
    Writer {
        writer: &'a mut (dyn AsyncWrite + Unpin + Send),
        on_chunk: &'a mut (dyn FnMut(&[u8]) + Send),
    },
}

fn keep_capped(out: &mut Vec<u8>, cap: usize, data: &[u8]) -> bool {
    let room = cap.saturating_sub(out.len());
    out.extend_from_slice(&data[..data.len().min(room)]);
    data.len() > room
}

async fn start(target: &ExecTarget, argv: &[&str], stdin: bool) -> Result<AttachedProcess> {
    let (pod, command) = target.describe(argv);
    let params = target.params(stdin);
    let exec = target.api.exec(
        &target.pod,
        argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        &params,
    );
    match tokio::time::timeout(CONNECT_TIMEOUT, exec).await {
        Ok(r) => r.map_err(|e| Error::api(format!("exec of `{command}` in {pod}"), e)),
        Err(_) => Err(Error::Timeout {
            pod,
            command,
            waited: CONNECT_TIMEOUT,
            what: "the exec stream to open",
        }),
    }
}

/// Run an attached process to its end: stdout into `sink`, stderr kept (1 MiB), the exit code
/// from the status frame. Returns (exit code, stderr, stdout bytes).
///
/// Every wait is bounded. kube-rs ends its stream task without closing the stdout and stderr
/// pipes when the connection breaks (a websocket error, no status frame), so their readers never
/// see an end: the status future, which resolves when the task ends, is watched alongside them,
/// and its `None` (no status frame) ends the run as [`Error::StreamCut`] at once. A stream on
/// which nothing at all arrives for [`ExecTarget::idle_timeout`] ends as [`Error::Timeout`].
async fn drive(
    target: &ExecTarget,
    argv: &[&str],
    mut process: AttachedProcess,
    mut sink: StdoutSink<'_>,
) -> Result<(i32, Vec<u8>, u64)> {
    let (pod, command) = target.describe(argv);
    let mut stdout = process
        .stdout()
        .ok_or_else(|| Error::Protocol("exec: no stdout stream".into()))?;
    let mut stderr = process
        .stderr()
        .ok_or_else(|| Error::Protocol("exec: no stderr stream".into()))?;
    let mut status_future = Box::pin(
        process
            .take_status()
            .ok_or_else(|| Error::Protocol("exec: no status stream".into()))?,
    );
    let mut out_buf = vec![0u8; 1 << 20];
    let mut err_buf = vec![0u8; 64 << 10];
    let mut err_out = Vec::new();
    let (mut out_open, mut err_open) = (true, true);
    let mut status: Option<Option<Status>> = None;
    let mut total = 0u64;
    let outcome = loop {
        match &status {
            // No status frame: the stream was cut; the pipes may never end.
            Some(None) => break Err(Error::StreamCut { pod, command }),
            // The status comes after all output, and kube-rs closes the pipes right after it.
            Some(Some(_)) if !out_open && !err_open => break Ok(()),
            _ => {}
        }
        tokio::select! {
            r = stdout.read(&mut out_buf), if out_open => match r {
                Ok(0) | Err(_) => out_open = false,
                Ok(n) => {
                    total += n as u64;
                    match &mut sink {
                        StdoutSink::Capped { out, cap, truncated } => {
                            if keep_capped(out, *cap, &out_buf[..n]) {
                                **truncated = true;
                            }
                        }
                        StdoutSink::Writer { writer, on_chunk } => {
                            on_chunk(&out_buf[..n]);
                            if let Err(e) = writer.write_all(&out_buf[..n]).await {
                                break Err(Error::io("writing the copy of", &target.pod, e));
                            }
                        }
                    }
                }
            },
            r = stderr.read(&mut err_buf), if err_open => match r {
                Ok(0) | Err(_) => err_open = false,
                Ok(n) => {
                    keep_capped(&mut err_out, 1 << 20, &err_buf[..n]);
                }
            },
            s = &mut status_future, if status.is_none() => status = Some(s),
            _ = tokio::time::sleep(target.idle_timeout) => {
                break Err(Error::Timeout {
                    pod,
                    command,
                    waited: target.idle_timeout,
                    what: "output or the exit status",
                });
            }
        }
    };
    if outcome.is_err() {
        process.abort();
    }
    // The stream task has ended or was aborted: joining it is immediate, and bounded anyway.
    drop((stdout, stderr));
    let _ = tokio::time::timeout(Duration::from_secs(5), process.join()).await;
    outcome?;
    let Some(Some(status)) = status else {
        return Err(Error::Protocol(
            "exec: the stream ended in an unexpected state".into(),
        ));
    };
    let code = match exit_code_of(&status) {
        Ok(code) => code,
        Err(message) if is_not_found_message(&message) => 127,
        Err(message) => {
            let (pod, command) = target.describe(argv);
            return Err(Error::Protocol(format!(
                "exec of `{command}` in {pod} failed: {message}"
            )));
        }
    };
    Ok((code, err_out, total))
}

/// Run `argv`, keeping at most `stdout_cap` bytes of stdout and 1 MiB of stderr.
pub async fn run(target: &ExecTarget, argv: &[&str], stdout_cap: usize) -> Result<ExecOutput> {
    run_with_stdin(target, argv, None, stdout_cap).await
}

/// Like [`run`], feeding `input` on stdin.
pub async fn run_with_stdin(
    target: &ExecTarget,
    argv: &[&str],
    input: Option<&[u8]>,
    stdout_cap: usize,
) -> Result<ExecOutput> {
    let mut process = start(target, argv, input.is_some()).await?;
    // Fed from its own task so a process that answers before reading all of it cannot block
    // us; aborted at the end so a stream that was cut does not leave it waiting forever.
    let feeder = match (input, process.stdin()) {
        (Some(data), Some(mut w)) => {
            let data = data.to_vec();
            Some(tokio::spawn(async move {
                let _ = w.write_all(&data).await;
                let _ = w.shutdown().await;
            }))
        }
        _ => None,
    };
    let mut stdout = Vec::new();
    let mut stdout_truncated = false;
    let result = drive(
        target,
        argv,
        process,
        StdoutSink::Capped {
            out: &mut stdout,
            cap: stdout_cap,
            truncated: &mut stdout_truncated,
        },
    )
    .await;
    if let Some(f) = feeder {
        f.abort();
    }
    let (exit_code, stderr, _) = result?;
    Ok(ExecOutput {
        exit_code,
        stdout,
        stderr,
        stdout_truncated,
    })
}

/// Run `argv` and stream its stdout into `sink` (stderr kept, up to 1 MiB). Returns the exit
/// code, the stderr and the number of bytes streamed. `on_chunk` sees every chunk (hashing).
pub async fn stream_stdout<W: AsyncWrite + Unpin + Send>(
    target: &ExecTarget,
    argv: &[&str],
    sink: &mut W,
    mut on_chunk: impl FnMut(&[u8]) + Send,
) -> Result<(i32, Vec<u8>, u64)> {
    let process = start(target, argv, false).await?;
    let result = drive(
        target,
        argv,
        process,
        StdoutSink::Writer {
            writer: &mut *sink,
            on_chunk: &mut on_chunk,
        },
    )
    .await?;
    sink.flush()
        .await
        .map_err(|e| Error::io("writing the copy of", &target.pod, e))?;
    Ok(result)
}
