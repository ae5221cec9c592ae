//! HTTP to a pod's port through the port-forward subresource. One websocket carries one TCP
//! connection, so every request opens its own port-forward (reusing one for a second request
//! hangs or fails on real API servers).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;

use crate::{Error, Result};

/// A finished HTTP exchange.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The body was longer than the cap and was cut.
    pub truncated: bool,
}

/// `GET path` on `port` of the pod, body capped at `max_body_bytes`, within `timeout`.
pub async fn http_get(
    pods: &Api<Pod>,
    pod: &str,
    port: u16,
    path_and_query: &str,
    max_body_bytes: usize,
    timeout: Duration,
) -> Result<HttpResponse> {
    let work = async {
        let mut forwarder = pods
            .portforward(pod, &[port])
            .await
            .map_err(|e| Error::api(format!("port-forward to pod/{pod} port {port}"), e))?;
        let stream = forwarder.take_stream(port).ok_or_else(|| {
            Error::Protocol(format!(
                "port-forward to pod/{pod}: no stream for port {port}"
            ))
        })?;
        let error_rx = forwarder.take_error(port);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
                .await
                .map_err(|e| Error::Protocol(format!("HTTP to pod/{pod}:{port}: {e}")))?;
        let conn_task = tokio::spawn(connection);
        let request = hyper::Request::get(path_and_query)
            .header(hyper::header::HOST, format!("localhost:{port}"))
            .header(
                hyper::header::USER_AGENT,
                concat!("triage/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::<Bytes>::new())
            .map_err(|e| {
                Error::Protocol(format!("building the request for {path_and_query}: {e}"))
            })?;
        let response = match sender.send_request(request).await {
            Ok(r) => r,
            Err(e) => {
                // The port-forward's error channel says why (nothing listening, …).
                let why = match error_rx {
                    Some(rx) => tokio::time::timeout(Duration::from_secs(2), rx)
                        .await
                        .ok()
                        .flatten(),
                    None => None,
                };
                return Err(Error::NotUsable(match why {
                    Some(w) => format!("pod/{pod} port {port}: {w}"),
                    None => format!(
                        "HTTP GET {path_and_query} on pod/{pod}:{port} failed: {e} (is the port right and listening?)"
                    ),
                }));
            }
        };
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let mut body = response.into_body();
        let mut out = Vec::new();
        let mut truncated = false;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                Error::Protocol(format!(
                    "reading the answer of pod/{pod}:{port}{path_and_query}: {e}"
                ))
            })?;
            if let Ok(data) = frame.into_data() {
                let room = max_body_bytes.saturating_sub(out.len());
                if data.len() > room {
                    truncated = true;
                    out.extend_from_slice(&data[..room]);
                    break;
                }
                out.extend_from_slice(&data);
            }
        }
        drop(sender);
        conn_task.abort();
        forwarder.abort();
        Ok(HttpResponse {
            status,
            content_type,
            body: out,
            truncated,
        })
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        Error::NotUsable(format!(
            "GET {path_and_query} on pod/{pod}:{port} did not finish within {timeout:?}"
        ))
    })?
}

/// The metrics port of a pod: the `prometheus.io/port` annotation, else a container port named
/// `metrics` (or `http-metrics`).
pub fn metrics_port(pod: &Pod) -> Option<u16> {
    if let Some(p) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("prometheus.io/port"))
        .and_then(|p| p.parse().ok())
    {
        return Some(p);
    }
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find_map(|p| {
            matches!(p.name.as_deref(), Some("metrics" | "http-metrics"))
                .then(|| u16::try_from(p.container_port).ok())
                .flatten()
        })
}

/// The metrics path: the `prometheus.io/path` annotation, else `/metrics`.
pub fn metrics_path(pod: &Pod) -> String {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("prometheus.io/path"))
        .filter(|p| p.starts_with('/'))
        .cloned()
        .unwrap_or_else(|| "/metrics".into())
}
