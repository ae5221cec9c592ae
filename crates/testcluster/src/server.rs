//! HTTP routing: one handler that dispatches on the path like the API server's REST layout, so
//! discovery, core/v1, apps/v1, discovery.k8s.io, policy and authorization answer from one place.

// The helpers return the API server's error answer itself (an axum Response, 128 bytes), built
// at most once per request: boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::cluster::{Cluster, Pod};
use crate::objects;
use crate::selector;
use crate::spec::ContainerSpec;

/// What every handler shares.
pub struct App {
    pub cluster: Arc<Cluster>,
    pub addr: String,
}

/// Query parameters in order (repeated keys kept: `command=a&command=b`).
pub type Query = Vec<(String, String)>;

pub fn parse_query(uri: &Uri) -> Query {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

pub fn param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

pub fn flag(q: &Query, key: &str) -> bool {
    matches!(param(q, key), Some("true" | "1"))
}

pub fn json_response(code: StatusCode, v: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

pub fn ok(v: &Value) -> Response {
    json_response(StatusCode::OK, v)
}

pub fn error(code: StatusCode, reason: &str, message: &str, details: Option<Value>) -> Response {
    json_response(
        code,
        &objects::status(code.as_u16(), reason, message, details),
    )
}

pub fn not_found(kind: &str, name: &str) -> Response {
    error(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{kind} \"{name}\" not found"),
        Some(json!({"name": name, "kind": kind})),
    )
}

/// 403 when `verb resource` is denied.
pub fn authorize(
    cluster: &Cluster,
    verb: &str,
    resource: &str,
    ns: Option<&str>,
    name: Option<&str>,
) -> Result<(), Response> {
    if !cluster.denied(verb, resource) {
        return Ok(());
    }
    let (res, sub) = resource
        .split_once('/')
        .map(|(r, s)| (r, Some(s)))
        .unwrap_or((resource, None));
    let full = match sub {
        Some(s) => format!("{res}/{s}"),
        None => res.to_string(),
    };
    let subject = match name {
        Some(n) => format!("{res} \"{n}\" is forbidden"),
        None => format!("{res} is forbidden"),
    };
    let scope = match ns {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".to_string(),
    };
    Err(error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!(
            "{subject}: User \"triage-test\" cannot {verb} resource \"{full}\" in API group \"\"{scope}"
        ),
        Some(json!({"name": name, "kind": res})),
    ))
}

fn labels_match(q: &Query, labels: &BTreeMap<String, String>) -> Result<bool, Response> {
    match param(q, "labelSelector") {
        None | Some("") => Ok(true),
        Some(s) => selector::parse(s)
            .map(|reqs| selector::matches(&reqs, labels))
            .map_err(|m| error(StatusCode::BAD_REQUEST, "BadRequest", &m, None)),
    }
}

fn fields_match(q: &Query, fields: &[(&str, &str)]) -> bool {
    let Some(s) = param(q, "fieldSelector") else {
        return true;
    };
    selector::parse_fields(s)
        .iter()
        .all(|(k, v)| fields.iter().any(|(fk, fv)| fk == k && fv == v))
}

/// The single entry point.
pub async fn handle(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    body: Bytes,
) -> Response {
    let cluster = &app.cluster;
    cluster
        .requests
        .lock()
        .expect("request log lock")
        .push(format!(
            "{method} {}",
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
        ));
    if !cluster.config.latency.is_zero() {
        tokio::time::sleep(cluster.config.latency).await;
    }
    let q = parse_query(&uri);
    let path = uri.path().trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    tracing::debug!(%method, %uri, "request");
    match (&method, segments.as_slice()) {
        (&Method::GET, ["version"]) => ok(&objects::version()),
        (&Method::GET, ["api"]) => ok(&objects::api_versions(&app.addr)),
        (&Method::GET, ["apis"]) => ok(&objects::api_groups()),
        (&Method::GET, ["api", "v1"]) => ok(&objects::resource_list("v1").expect("v1 is known")),
        (&Method::GET, ["apis", g, v]) => match objects::resource_list(&format!("{g}/{v}")) {
            Some(list) => ok(&list),
            None => error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
        },
        (
            &Method::POST,
            [
                "apis",
                "authorization.k8s.io",
                "v1",
                "selfsubjectaccessreviews",
            ],
        ) => access_review(cluster, &body),
        (&Method::GET, ["api", "v1", "nodes"]) => authorize(cluster, "list", "nodes", None, None)
            .map(|_| ok(&objects::list("Node", "v1", vec![objects::node(cluster)])))
            .unwrap_or_else(|e| e),
        (&Method::GET, ["api", "v1", "nodes", name]) => {
            if let Err(e) = authorize(cluster, "get", "nodes", None, Some(name)) {
                return e;
            }
            if *name == crate::NODE_NAME {
                ok(&objects::node(cluster))
            } else {
                not_found("nodes", name)
            }
        }
        (&Method::GET, ["api", "v1", "pods"]) => list_pods(cluster, None, &q),
        (&Method::GET, ["api", "v1", "events"]) => list_events(cluster, None, &q),
        (&Method::GET, ["api", "v1", "namespaces", ns, rest @ ..]) => {
            core_namespaced(&app, ns, rest, &q, &headers, ws).await
        }
        (
            &Method::PATCH,
            [
                "api",
                "v1",
                "namespaces",
                ns,
                "pods",
                name,
                "ephemeralcontainers",
            ],
        ) => patch_ephemeral(cluster, ns, name, &headers, &body),
        (
            &Method::POST,
            [
                "api",
                "v1",
                "namespaces",
                _,
                "pods",
                _,
                "exec" | "portforward" | "attach",
            ],
        ) => error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "this test server speaks the websocket stream protocols only (GET with Upgrade: websocket); SPDY is not supported: use kubectl 1.30 or newer",
            None,
        ),
        (&Method::GET, ["apis", "apps", "v1", rest @ ..]) => apps(cluster, rest, &q),
        (
            &Method::GET,
            [
                "apis",
                "discovery.k8s.io",
                "v1",
                "namespaces",
                ns,
                "endpointslices",
            ],
        ) => {
            if let Err(e) = authorize(cluster, "list", "endpointslices", Some(ns), None) {
                return e;
            }
            let items = objects::services(cluster)
                .into_iter()
                .filter(|(sns, ..)| sns == ns)
                .map(|(sns, name, _, eps)| {
                    (
                        name.clone(),
                        objects::endpoint_slice(cluster, &sns, &name, eps),
                    )
                })
                .filter(|(name, slice)| {
                    labels_match(
                        &q,
                        &[("kubernetes.io/service-name".to_string(), name.clone())].into(),
                    )
                    .unwrap_or(false)
                        && slice.is_object()
                })
                .map(|(_, s)| s)
                .collect();
            ok(&objects::list(
                "EndpointSlice",
                "discovery.k8s.io/v1",
                items,
            ))
        }
        (
            &Method::GET,
            [
                "apis",
                "policy",
                "v1",
                "namespaces",
                ns,
                "poddisruptionbudgets",
            ],
        ) => {
            if let Err(e) = authorize(cluster, "list", "poddisruptionbudgets", Some(ns), None) {
                return e;
            }
            let items = objects::pdbs(cluster)
                .into_iter()
                .filter(|(pns, _)| pns == ns)
                .map(|(_, p)| p)
                .collect();
            ok(&objects::list("PodDisruptionBudget", "policy/v1", items))
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

fn list_pods(cluster: &Cluster, ns: Option<&str>, q: &Query) -> Response {
    if let Err(e) = authorize(cluster, "list", "pods", ns, None) {
        return e;
    }
    let mut items = Vec::new();
    for p in &cluster.pods {
        if ns.is_some_and(|ns| ns != p.spec.namespace) {
            continue;
        }
        match labels_match(q, &p.spec.labels) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => return e,
        }
        if !fields_match(
            q,
            &[
                ("metadata.name", &p.spec.name),
                ("metadata.namespace", &p.spec.namespace),
                ("spec.nodeName", crate::NODE_NAME),
            ],
        ) {
            continue;
        }
        items.push(objects::pod(cluster, p));
    }
    ok(&objects::list("Pod", "v1", items))
}

fn list_events(cluster: &Cluster, ns: Option<&str>, q: &Query) -> Response {
    if let Err(e) = authorize(cluster, "list", "events", ns, None) {
        return e;
    }
    let events = cluster.events.lock().expect("events lock").clone();
    let items = events
        .iter()
        .filter(|e| ns.is_none_or(|ns| ns == e.namespace))
        .filter_map(|e| {
            let uid = cluster
                .pod(&e.namespace, &e.object_name)
                .map(|p| p.uid.clone())
                .unwrap_or_default();
            fields_match(
                q,
                &[
                    ("involvedObject.name", &e.object_name),
                    ("involvedObject.kind", &e.object_kind),
                    ("involvedObject.uid", &uid),
                    ("involvedObject.namespace", &e.namespace),
                    ("type", &e.kind),
                    ("reason", &e.reason),
                ],
            )
            .then(|| objects::event(e, &uid))
        })
        .collect();
    ok(&objects::list("Event", "v1", items))
}

async fn core_namespaced(
    app: &Arc<App>,
    ns: &str,
    rest: &[&str],
    q: &Query,
    headers: &HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let cluster = &app.cluster;
    match rest {
        ["pods"] => list_pods(cluster, Some(ns), q),
        ["events"] => list_events(cluster, Some(ns), q),
        ["services"] => {
            if let Err(e) = authorize(cluster, "list", "services", Some(ns), None) {
                return e;
            }
            let items = objects::services(cluster)
                .into_iter()
                .filter(|(sns, ..)| sns == ns)
                .map(|(_, _, s, _)| s)
                .collect();
            ok(&objects::list("Service", "v1", items))
        }
        ["secrets", ..] => {
            // Served so a client that reads Secrets is visible in the request log; always empty.
            ok(&objects::list("Secret", "v1", vec![]))
        }
        ["pods", name] => {
            if let Err(e) = authorize(cluster, "get", "pods", Some(ns), Some(name)) {
                return e;
            }
            match cluster.pod(ns, name) {
                Some(p) => ok(&objects::pod(cluster, &p)),
                None => not_found("pods", name),
            }
        }
        ["pods", name, sub] => {
            let Some(pod) = cluster.pod(ns, name) else {
                return not_found("pods", name);
            };
            match *sub {
                "log" => {
                    if let Err(e) = authorize(cluster, "get", "pods/log", Some(ns), Some(name)) {
                        return e;
                    }
                    logs(&pod, q).await
                }
                "exec" => {
                    if let Err(e) = authorize(cluster, "create", "pods/exec", Some(ns), Some(name))
                    {
                        return e;
                    }
                    match ws {
                        Ok(ws) => {
                            crate::stream::exec(pod, q.clone(), ws, cluster.config.drop_exec_status)
                        }
                        Err(_) => upgrade_required(headers),
                    }
                }
                "portforward" => {
                    if let Err(e) =
                        authorize(cluster, "create", "pods/portforward", Some(ns), Some(name))
                    {
                        return e;
                    }
                    match ws {
                        Ok(ws) => crate::stream::port_forward(q.clone(), ws),
                        Err(_) => upgrade_required(headers),
                    }
                }
                "ephemeralcontainers" | "status" => ok(&objects::pod(cluster, &pod)),
                _ => error(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    "the server could not find the requested resource",
                    None,
                ),
            }
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource",
            None,
        ),
    }
}

fn upgrade_required(headers: &HeaderMap) -> Response {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    error(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        &format!(
            "Upgrade request required (got Upgrade: {upgrade}); this test server speaks websocket stream protocols only"
        ),
        None,
    )
}

fn apps(cluster: &Cluster, rest: &[&str], q: &Query) -> Response {
    let (ns, resource, name) = match rest {
        [res] => (None, *res, None),
        ["namespaces", ns, res] => (Some(*ns), *res, None),
        ["namespaces", ns, res, name] => (Some(*ns), *res, Some(*name)),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            );
        }
    };
    let kind = match resource {
        "deployments" => "Deployment",
        "replicasets" => "ReplicaSet",
        "statefulsets" => "StatefulSet",
        "daemonsets" => "DaemonSet",
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
                None,
            );
        }
    };
    let verb = if name.is_some() { "get" } else { "list" };
    if let Err(e) = authorize(cluster, verb, resource, ns, name) {
        return e;
    }
    let items: Vec<Value> = objects::workloads(cluster)
        .into_iter()
        .filter(|(k, wns, wname, _)| {
            k == kind && ns.is_none_or(|n| n == wns) && name.is_none_or(|n| n == wname)
        })
        .map(|(.., v)| v)
        .collect();
    match name {
        Some(n) => match items.into_iter().next() {
            Some(v) => ok(&v),
            None => not_found(&format!("{resource}.apps"), n),
        },
        None => {
            let filtered = items
                .into_iter()
                .filter(|v| {
                    let labels: BTreeMap<String, String> =
                        serde_json::from_value(v["metadata"]["labels"].clone()).unwrap_or_default();
                    labels_match(q, &labels).unwrap_or(false)
                })
                .collect();
            ok(&objects::list(kind, "apps/v1", filtered))
        }
    }
}

fn access_review(cluster: &Cluster, body: &Bytes) -> Response {
    let Ok(mut review) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body is not a SelfSubjectAccessReview",
            None,
        );
    };
    let attrs = &review["spec"]["resourceAttributes"];
    let verb = attrs["verb"].as_str().unwrap_or_default();
    let mut resource = attrs["resource"].as_str().unwrap_or_default().to_string();
    if let Some(sub) = attrs["subresource"].as_str().filter(|s| !s.is_empty()) {
        resource = format!("{resource}/{sub}");
    }
    let allowed = !cluster.denied(verb, &resource);
    review["status"] = if allowed {
        json!({"allowed": true, "reason": "allowed by the test server"})
    } else {
        json!({"allowed": false, "reason": format!("denied by the test server's --deny \"{verb} {resource}\"")})
    };
    review["kind"] = json!("SelfSubjectAccessReview");
    review["apiVersion"] = json!("authorization.k8s.io/v1");
    json_response(StatusCode::CREATED, &review)
}

fn patch_ephemeral(
    cluster: &Cluster,
    ns: &str,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    if let Err(e) = authorize(
        cluster,
        "patch",
        "pods/ephemeralcontainers",
        Some(ns),
        Some(name),
    ) {
        return e;
    }
    let Some(pod) = cluster.pod(ns, name) else {
        return not_found("pods", name);
    };
    let Ok(patch) = serde_json::from_slice::<Value>(body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the patch body is not JSON",
            None,
        );
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let containers: Vec<Value> = if content_type.starts_with("application/json-patch+json") {
        patch
            .as_array()
            .map(|ops| {
                ops.iter()
                    .filter(|op| {
                        op["op"] == "add"
                            && op["path"]
                                .as_str()
                                .is_some_and(|p| p.starts_with("/spec/ephemeralContainers"))
                    })
                    .flat_map(|op| match &op["value"] {
                        Value::Array(a) => a.clone(),
                        v => vec![v.clone()],
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        patch["spec"]["ephemeralContainers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    for c in containers {
        let Some(cname) = c["name"].as_str() else {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "spec.ephemeralContainers[].name: Required value",
                None,
            );
        };
        let mut argv: Vec<String> = Vec::new();
        for key in ["command", "args"] {
            if let Some(a) = c[key].as_array() {
                argv.extend(a.iter().filter_map(|s| s.as_str().map(String::from)));
            }
        }
        if argv.is_empty() {
            argv = vec!["sleep".into(), "infinity".into()];
        }
        let command = argv
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        let env = c["env"]
            .as_array()
            .map(|e| {
                e.iter()
                    .filter_map(|v| {
                        Some((
                            v["name"].as_str()?.to_string(),
                            v["value"].as_str()?.to_string(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let spec = ContainerSpec {
            name: cname.to_string(),
            image: c["image"]
                .as_str()
                .unwrap_or("local/ephemeral:latest")
                .to_string(),
            command: format!("exec {command}"),
            env,
            secret_env: Vec::new(),
            path_prepend: None,
            ports: Vec::new(),
            requests: BTreeMap::new(),
            limits: BTreeMap::new(),
            privileged: false,
        };
        if let Err(m) = cluster.add_ephemeral(
            &pod,
            spec,
            c["targetContainerName"].as_str().map(String::from),
        ) {
            return error(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &m, None);
        }
    }
    ok(&objects::pod(cluster, &pod))
}

/// Quote for `/bin/sh`.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// One log line: timestamp (as written) and bytes (with its newline unless cut).
struct LogLine {
    timestamp: String,
    at: Option<jiff::Timestamp>,
    text: Vec<u8>,
}

fn parse_cri_log(data: &[u8]) -> Vec<LogLine> {
    let mut lines: Vec<LogLine> = Vec::new();
    let mut partial: Option<LogLine> = None;
    for record in data.split(|&b| b == b'\n') {
        if record.is_empty() {
            continue;
        }
        let mut fields = record.splitn(4, |&b| b == b' ');
        let (Some(ts), Some(_stream), Some(tag)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let content = fields.next().unwrap_or_default();
        let ts = String::from_utf8_lossy(ts).into_owned();
        let line = partial.get_or_insert_with(|| LogLine {
            at: ts.parse().ok(),
            timestamp: ts,
            text: Vec::new(),
        });
        line.text.extend_from_slice(content);
        if tag == b"F" {
            let mut done = partial.take().expect("partial line was just inserted");
            done.text.push(b'\n');
            lines.push(done);
        }
    }
    if let Some(p) = partial {
        lines.push(p);
    }
    lines
}

fn render_lines(lines: &[LogLine], timestamps: bool, out: &mut Vec<u8>) {
    for l in lines {
        if timestamps {
            out.extend_from_slice(l.timestamp.as_bytes());
            out.push(b' ');
        }
        out.extend_from_slice(&l.text);
    }
}

async fn logs(pod: &Arc<Pod>, q: &Query) -> Response {
    let container = match select_container(pod, param(q, "container")) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let previous = flag(q, "previous");
    let (path, running_log) = {
        let s = container.state.lock().expect("container state lock");
        if previous {
            match &s.previous_log_path {
                Some(p) => (p.clone(), false),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        &format!(
                            "previous terminated container \"{}\" in pod \"{}\" not found",
                            container.spec.name, pod.spec.name
                        ),
                        None,
                    );
                }
            }
        } else {
            if s.host_pid.is_none() && s.terminated.is_none() && s.restart_count == 0 {
                return error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "container \"{}\" in pod \"{}\" is waiting to start: ContainerCreating",
                        container.spec.name, pod.spec.name
                    ),
                    None,
                );
            }
            (s.log_path.clone(), s.host_pid.is_some())
        }
    };
    let data = tokio::fs::read(&path).await.unwrap_or_default();
    let mut lines = parse_cri_log(&data);
    if let Some(since) = param(q, "sinceSeconds").and_then(|s| s.parse::<i64>().ok()) {
        let cutoff = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(since);
        lines.retain(|l| l.at.is_some_and(|t| t >= cutoff));
    }
    if let Some(since) = param(q, "sinceTime").and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
        lines.retain(|l| l.at.is_some_and(|t| t >= since));
    }
    if let Some(tail) = param(q, "tailLines").and_then(|s| s.parse::<usize>().ok()) {
        let skip = lines.len().saturating_sub(tail);
        lines.drain(..skip);
    }
    let timestamps = flag(q, "timestamps");
    let limit = param(q, "limitBytes").and_then(|s| s.parse::<usize>().ok());
    let mut out = Vec::new();
    render_lines(&lines, timestamps, &mut out);
    if let Some(limit) = limit {
        out.truncate(limit);
        if out.len() >= limit {
            return text_response(out);
        }
    }
    if !(flag(q, "follow") && running_log) {
        return text_response(out);
    }
    // Follow: keep sending what the container appends until it exits or the client leaves.
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let mut offset = data.len();
    let mut sent = out.len();
    let _ = tx.send(Bytes::from(out)).await;
    let container = container.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let data = tokio::fs::read(&path).await.unwrap_or_default();
            let complete = data[offset.min(data.len())..]
                .iter()
                .rposition(|&b| b == b'\n')
                .map(|i| offset + i + 1);
            if let Some(end) = complete {
                let mut chunk = Vec::new();
                render_lines(&parse_cri_log(&data[offset..end]), timestamps, &mut chunk);
                offset = end;
                if let Some(limit) = limit {
                    chunk.truncate(limit.saturating_sub(sent));
                }
                sent += chunk.len();
                if tx.send(Bytes::from(chunk)).await.is_err() {
                    return;
                }
                if limit.is_some_and(|l| sent >= l) {
                    return;
                }
            }
            let still = container
                .state
                .lock()
                .expect("container state lock")
                .log_path
                == path
                && container
                    .state
                    .lock()
                    .expect("container state lock")
                    .host_pid
                    .is_some();
            if !still || tx.is_closed() {
                return;
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn text_response(out: Vec<u8>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], out).into_response()
}

/// The container a request names, or the only one; an error answer like the API server's.
pub fn select_container(
    pod: &Pod,
    name: Option<&str>,
) -> Result<Arc<crate::runtime::Container>, Response> {
    match name {
        Some(n) if !n.is_empty() => pod.container(Some(n)).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("container {n} is not valid for pod {}", pod.spec.name),
                None,
            )
        }),
        _ if pod.containers.len() > 1 => {
            let names: Vec<&str> = pod
                .containers
                .iter()
                .map(|c| c.spec.name.as_str())
                .collect();
            Err(error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {}, choose one of: [{}]",
                    pod.spec.name,
                    names.join(" ")
                ),
                None,
            ))
        }
        _ => pod.container(None).ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "pod has no containers",
                None,
            )
        }),
    }
}
