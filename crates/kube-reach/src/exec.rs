//! Commands in a container through the exec subresource (websocket v5, v4 fallback — kube-rs
//! offers both), with the exit code taken from the status frame and stdout/stderr kept apart.
//!
//! The status frame decides: `Success` is 0, `NonZeroExitCode` carries the code in
//! `details.causes[reason=ExitCode]`; any other failure is reported with its message; no frame at
//! all means the stream was cut, which is an error and never a success.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams, AttachedProcess};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Error, Result};

/// Exec buffer size: kube-rs's 1 KiB default caps a dump at ~27 MiB/s; 4 MiB runs at memory speed.
pub const EXEC_BUFFER_BYTES: usize = 4 << 20;

/// Where to run: pod and container.
#[derive(Debug, Clone)]
pub struct ExecTarget {
    pub api: Api<Pod>,
    pub pod: String,
    pub container: String,
}

impl ExecTarget {
    /// A target in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, pod: &str, container: &str) -> Self {
        ExecTarget {
            api: Api::namespaced(client, namespace),
            pod: pod.to_string(),
            container: container.to_string(),
        }
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

async fn read_capped(mut r: impl AsyncRead + Unpin, cap: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut truncated = false;
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(out.len());
                if n > room {
                    truncated = true;
                }
                out.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    (out, truncated)
}

async fn start(target: &ExecTarget, argv: &[&str], stdin: bool) -> Result<AttachedProcess> {
    let (pod, command) = target.describe(argv);
    target
        .api
        .exec(
            &target.pod,
            argv.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &target.params(stdin),
        )
        .await
        .map_err(|e| Error::api(format!("exec of `{command}` in {pod}"), e))
}

async fn finish(target: &ExecTarget, argv: &[&str], mut process: AttachedProcess) -> Result<i32> {
    let (pod, command) = target.describe(argv);
    let status = match process.take_status() {
        Some(s) => s.await,
        None => None,
    };
    let _ = process.join().await;
    match status {
        None => Err(Error::StreamCut { pod, command }),
        Some(status) => match exit_code_of(&status) {
            Ok(code) => Ok(code),
            Err(message) if is_not_found_message(&message) => Ok(127),
            Err(message) => Err(Error::Protocol(format!(
                "exec of `{command}` in {pod} failed: {message}"
            ))),
        },
    }
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
    let stdout = process
        .stdout()
        .ok_or_else(|| Error::Protocol("exec: no stdout stream".into()))?;
    let stderr = process
        .stderr()
        .ok_or_else(|| Error::Protocol("exec: no stderr stream".into()))?;
    if let (Some(data), Some(mut w)) = (input, process.stdin()) {
        let data = data.to_vec();
        tokio::spawn(async move {
            let _ = w.write_all(&data).await;
            let _ = w.shutdown().await;
        });
    }
    let ((stdout, stdout_truncated), (stderr, _)) = tokio::join!(
        read_capped(stdout, stdout_cap),
        read_capped(stderr, 1 << 20)
    );
    let exit_code = finish(target, argv, process).await?;
    Ok(ExecOutput {
        exit_code,
        stdout,
        stderr,
        stdout_truncated,
    })
}

/// Run `argv` and stream its stdout into `sink` (stderr kept, up to 1 MiB). Returns the exit
/// code, the stderr and the number of bytes streamed. `on_chunk` sees every chunk (hashing).
pub async fn stream_stdout<W: AsyncWrite + Unpin>(
    target: &ExecTarget,
    argv: &[&str],
    sink: &mut W,
    mut on_chunk: impl FnMut(&[u8]),
) -> Result<(i32, Vec<u8>, u64)> {
    let mut process = start(target, argv, false).await?;
    let mut stdout = process
        .stdout()
        .ok_or_else(|| Error::Protocol("exec: no stdout stream".into()))?;
    let stderr = process
        .stderr()
        .ok_or_else(|| Error::Protocol("exec: no stderr stream".into()))?;
    let stderr_task = tokio::spawn(read_capped(stderr, 1 << 20));
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = stdout
            .read(&mut buf)
            .await
            .map_err(|e| Error::io("reading the exec stream of", &target.pod, e))?;
        if n == 0 {
            break;
        }
        on_chunk(&buf[..n]);
        sink.write_all(&buf[..n])
            .await
            .map_err(|e| Error::io("writing the copy of", &target.pod, e))?;
        total += n as u64;
    }
    sink.flush()
        .await
        .map_err(|e| Error::io("writing the copy of", &target.pod, e))?;
    let (stderr, _) = stderr_task.await.unwrap_or_default();
    let code = finish(target, argv, process).await?;
    Ok((code, stderr, total))
}
