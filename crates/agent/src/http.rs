//! A minimal HTTP/1.1 server for two GET endpoints, `/metrics` and `/healthz`. Written by hand
//! because that is all it serves: no request bodies, one response per connection, a bounded
//! request head (8 KiB, 5 s), a bounded number of connections. Captured data is never served.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::metrics::{Stats, render};

const MAX_HEAD_BYTES: usize = 8 << 10;
const MAX_CONNECTIONS: usize = 32;

/// How stale the watcher's last pass may be before `/healthz` fails.
#[derive(Debug, Clone, Copy)]
pub struct Health {
    pub max_pass_age: Duration,
}

/// Bind `addr` and serve until the runtime stops. Returns the bound address (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    stats: Arc<Mutex<Stats>>,
    health: Health,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a metrics connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                drop(stream);
                continue;
            };
            let stats = Arc::clone(&stats);
            tokio::spawn(async move {
                let _permit = permit;
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), handle(stream, stats, health))
                        .await;
            });
        }
    });
    Ok((local, task))
}

/// The request line of a request head, when the head is complete.
fn request_line(head: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(head).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    Some((method, target))
}

async fn handle(mut stream: TcpStream, stats: Arc<Mutex<Stats>>, health: Health) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let complete = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    head.extend_from_slice(&buf[..n]);
                    if head.windows(4).any(|w| w == b"\r\n\r\n")
                        || head.windows(2).any(|w| w == b"\n\n")
                    {
                        return true;
                    }
                    if head.len() > MAX_HEAD_BYTES {
                        return false;
                    }
                }
            }
        }
    })
    .await
    .unwrap_or(false);
    let (status, content_type, body, head_only) = match request_line(&head).filter(|_| complete) {
        None => (400, "text/plain", "bad request\n".to_string(), false),
        Some((method, target)) if method == "GET" || method == "HEAD" => {
            let path = target.split('?').next().unwrap_or("");
            let head_only = method == "HEAD";
            match path {
                "/metrics" => {
                    let text = render(&stats.lock().unwrap_or_else(|p| p.into_inner()));
                    (
                        200,
                        "text/plain; version=0.0.4; charset=utf-8",
                        text,
                        head_only,
                    )
                }
                "/healthz" => {
                    let last = stats
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .last_pass_unix_ms;
                    let now = crate::unix_ms();
                    let age = Duration::from_millis(now.saturating_sub(last));
                    if last > 0 && age <= health.max_pass_age {
                        (200, "text/plain", "ok\n".to_string(), head_only)
                    } else {
                        (
                            503,
                            "text/plain",
                            format!(
                                "the watcher's last pass was {} ms ago (limit {} ms)\n",
                                age.as_millis(),
                                health.max_pass_age.as_millis()
                            ),
                            head_only,
                        )
                    }
                }
                _ => (404, "text/plain", "not found\n".to_string(), head_only),
            }
        }
        Some(_) => (405, "text/plain", "only GET and HEAD\n".to_string(), false),
    };
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let response_head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(response_head.as_bytes()).await;
    if !head_only {
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_lines() {
        assert_eq!(
            request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET".into(), "/metrics".into()))
        );
        assert_eq!(request_line(b"\xff\xfe"), None);
    }
}
