//! The websocket stream protocols: exec (`v5.channel.k8s.io`, `v4.channel.k8s.io`) and
//! port-forward (`v4.channel.k8s.io` framing as kube-rs speaks it).
//!
//! Exec frames are binary, first byte the channel: 0 stdin, 1 stdout, 2 stderr, 3 status JSON,
//! 4 resize; v5 adds 255 `[255, channel]` to close one stream. Output is sent before the status
//! frame, and the socket is closed with code 1000 (kubectl reports 1005 as an error).

use std::process::Stdio;
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::cluster::Pod;
use crate::runtime;
use crate::server::{Query, flag, param, select_container};

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;
/// Frame payload size: large frames keep a 1 GB copy-out fast.
const CHUNK: usize = 256 * 1024;

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(Bytes::from(v))
}

fn close_normal() -> Message {
    Message::Close(Some(CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

/// Upgrade an exec request.
pub fn exec(pod: Arc<Pod>, q: Query, ws: WebSocketUpgrade, drop_status: bool) -> Response {
    let container = match select_container(&pod, param(&q, "container")) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let argv: Vec<String> = q
        .iter()
        .filter(|(k, _)| k == "command")
        .map(|(_, v)| v.clone())
        .collect();
    if argv.is_empty() {
        return crate::server::error(
            axum::http::StatusCode::BAD_REQUEST,
            "BadRequest",
            "you must specify at least 1 command",
            None,
        );
    }
    if let Err(m) = container.exec_pid() {
        return crate::server::error(axum::http::StatusCode::BAD_REQUEST, "BadRequest", &m, None);
    }
    let (want_stdin, want_stdout, want_stderr) =
        (flag(&q, "stdin"), flag(&q, "stdout"), flag(&q, "stderr"));
    ws.protocols(["v5.channel.k8s.io", "v4.channel.k8s.io"])
        .max_message_size(64 << 20)
        .on_upgrade(move |socket| async move {
            let v5 = socket
                .protocol()
                .is_some_and(|p| p.as_bytes() == b"v5.channel.k8s.io");
            let mut command = match runtime::exec_command(&container, &argv) {
                Ok(c) => c,
                Err(m) => return fail_stream(socket, &m).await,
            };
            command
                .stdin(if want_stdin {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(if want_stdout {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stderr(if want_stderr {
                    Stdio::piped()
                } else {
                    Stdio::null()
                });
            match command.spawn() {
                Ok(child) => run_exec(socket, child, v5, drop_status).await,
                Err(e) => fail_stream(socket, &format!("cannot start nsenter: {e}")).await,
            }
        })
}

async fn fail_stream(mut socket: WebSocket, message: &str) {
    let status = json!({"metadata": {}, "status": "Failure", "message": message, "reason": "InternalError",
                        "details": {"causes": [{"message": message}]}});
    let _ = socket
        .send(frame(STATUS, status.to_string().as_bytes()))
        .await;
    let _ = socket.send(close_normal()).await;
}

async fn pump(mut reader: impl AsyncRead + Unpin, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if tx.send(frame(channel, &buf[..n])).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn run_exec(
    socket: WebSocket,
    mut child: tokio::process::Child,
    v5: bool,
    drop_status: bool,
) {
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(8);
    let mut pumps = Vec::new();
    if let Some(out) = child.stdout.take() {
        pumps.push(tokio::spawn(pump(out, STDOUT, tx.clone())));
    }
    if let Some(err) = child.stderr.take() {
        pumps.push(tokio::spawn(pump(err, STDERR, tx.clone())));
    }
    drop(tx);
    let mut stdin = child.stdin.take();
    // Client → process: stdin frames, stream close, socket close.
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(b) if !b.is_empty() => match b[0] {
                    STDIN if b.len() > 1 => {
                        if let Some(s) = stdin.as_mut() {
                            if s.write_all(&b[1..]).await.is_err() {
                                stdin = None;
                            }
                        }
                    }
                    CLOSE if v5 && b.get(1) == Some(&STDIN) => stdin = None,
                    _ => {}
                },
                Message::Close(_) => return true,
                _ => {}
            }
        }
        true
    });
    // Process → client, in order; the status frame goes last.
    let mut client_gone = false;
    while let Some(msg) = rx.recv().await {
        if sink.send(msg).await.is_err() {
            client_gone = true;
            break;
        }
    }
    if client_gone {
        let _ = child.kill().await;
        reader.abort();
        return;
    }
    for p in pumps {
        let _ = p.await;
    }
    if drop_status {
        // A cut connection: no status frame, no close handshake.
        let _ = child.wait().await;
        reader.abort();
        return;
    }
    let status = match child.wait().await {
        Ok(s) => {
            use std::os::unix::process::ExitStatusExt;
            let code = s
                .code()
                .or_else(|| s.signal().map(|sig| 128 + sig))
                .unwrap_or(255);
            if code == 0 {
                json!({"metadata": {}, "status": "Success"})
            } else {
                json!({"metadata": {}, "status": "Failure",
                       "message": format!("command terminated with non-zero exit code: error executing command [..], exit code {code}"),
                       "reason": "NonZeroExitCode", "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
            }
        }
        Err(e) => {
            json!({"metadata": {}, "status": "Failure", "message": format!("waiting for the process: {e}"), "reason": "InternalError"})
        }
    };
    let _ = sink
        .send(frame(STATUS, status.to_string().as_bytes()))
        .await;
    let _ = sink.send(close_normal()).await;
    reader.abort();
}

/// Upgrade a port-forward request: `ports=P[,Q]`; port i uses data channel 2i and error channel
/// 2i+1, each opened with `[channel, port as little-endian u16]`.
pub fn port_forward(q: Query, ws: WebSocketUpgrade) -> Response {
    let mut ports: Vec<u16> = Vec::new();
    for (k, v) in &q {
        if k == "ports" {
            for p in v.split(',') {
                match p.trim().parse::<u16>() {
                    Ok(p) if p > 0 => ports.push(p),
                    _ => {
                        return crate::server::error(
                            axum::http::StatusCode::BAD_REQUEST,
                            "BadRequest",
                            &format!("invalid port {p:?}"),
                            None,
                        );
                    }
                }
            }
        }
    }
    if ports.is_empty() {
        return crate::server::error(
            axum::http::StatusCode::BAD_REQUEST,
            "BadRequest",
            "at least one port must be specified",
            None,
        );
    }
    ws.protocols(["v4.channel.k8s.io", "v5.channel.k8s.io"])
        .on_upgrade(move |socket| run_port_forward(socket, ports))
}

async fn run_port_forward(socket: WebSocket, ports: Vec<u16>) {
    let (mut sink, mut source) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Message>(16);
    let mut writers = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let data_ch = (2 * i) as u8;
        let err_ch = data_ch + 1;
        let le = port.to_le_bytes();
        let _ = tx.send(frame(data_ch, &le)).await;
        let _ = tx.send(frame(err_ch, &le)).await;
        match TcpStream::connect(("127.0.0.1", *port)).await {
            Ok(stream) => {
                let (r, w) = stream.into_split();
                writers.push(Some(w));
                tokio::spawn(pump(r, data_ch, tx.clone()));
            }
            Err(e) => {
                writers.push(None);
                let msg =
                    format!("error forwarding port {port} to pod: dial tcp4 127.0.0.1:{port}: {e}");
                let _ = tx.send(frame(err_ch, msg.as_bytes())).await;
            }
        }
    }
    drop(tx);
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = source.next().await {
            match msg {
                Message::Binary(b) if b.len() > 1 => {
                    let index = (b[0] / 2) as usize;
                    if b[0] % 2 == 0 {
                        if let Some(Some(w)) = writers.get_mut(index) {
                            if w.write_all(&b[1..]).await.is_err() {
                                writers[index] = None;
                            }
                        }
                    }
                }
                Message::Close(_) => break,
                _ => {}
            }
        }
        // Client is done: half-close the pod side.
        for w in writers.iter_mut().flatten() {
            let _ = w.shutdown().await;
        }
    });
    while let Some(msg) = rx.recv().await {
        if sink.send(msg).await.is_err() {
            break;
        }
    }
    let _ = sink.send(close_normal()).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), reader).await;
}
