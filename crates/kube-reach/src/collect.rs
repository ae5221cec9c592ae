//! The Kubernetes side of a pod: its spec and status, owner chain, sibling pods of the same owner
//! (for digest drift), events, node conditions and versions, the Services and EndpointSlices it
//! is a member of, the PDBs that select it, and its logs (current and previous, per container,
//! `--since`, `--tail`, a byte cap).
//!
//! Secrets are never fetched; an env var from a `secretKeyRef` is in the pod spec as a
//! reference (secret name and key) only, never as a value. Every part that fails is recorded in
//! `warnings` and the others go on.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::AsyncReadExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Client;
use kube::api::{Api, ListParams, LogParams};
use serde_json::Value;

use crate::target::PodSummary;

/// What to collect and how much.
#[derive(Debug, Clone)]
pub struct PodCollectOptions {
    pub since_seconds: Option<i64>,
    pub tail_lines: Option<i64>,
    /// Cap per container log (current and previous each).
    pub log_limit_bytes: i64,
}

impl Default for PodCollectOptions {
    fn default() -> Self {
        PodCollectOptions {
            since_seconds: None,
            tail_lines: None,
            log_limit_bytes: 5_000_000,
        }
    }
}

/// Lists shared between the pods of one run (siblings, Services, EndpointSlices, PDBs, nodes,
/// owners): with 200 pods of one Deployment each list is fetched once, not 200 times.
#[derive(Default)]
pub struct CollectCache {
    lists: tokio::sync::Mutex<BTreeMap<String, SharedList>>,
}

/// Objects shared between the pods of a run: each pod keeps references, not copies (200 pods
/// holding copies of a 200-pod list would be 40,000 objects).
pub type Shared = Arc<Value>;

/// One list, fetched once by whichever pod asks first (the error message when it failed).
type SharedList = Arc<tokio::sync::OnceCell<Result<Arc<Vec<Shared>>, String>>>;

impl CollectCache {
    async fn get<F, Fut>(&self, key: String, fetch: F) -> Result<Arc<Vec<Shared>>, String>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Vec<Value>, String>>,
    {
        let cell = self.lists.lock().await.entry(key).or_default().clone();
        cell.get_or_init(|| async {
            fetch()
                .await
                .map(|list| Arc::new(list.into_iter().map(Arc::new).collect()))
        })
        .await
        .clone()
    }
}

async fn list_values<K>(api: Api<K>) -> Result<Vec<Value>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.list(&ListParams::default())
        .await
        .map(|l| l.items.iter().map(to_value).collect())
        .map_err(|e| e.to_string())
}

async fn get_value<K>(api: Api<K>, name: String) -> Result<Vec<Value>, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    api.get(&name)
        .await
        .map(|o| vec![to_value(&o)])
        .map_err(|e| e.to_string())
}

/// One container log.
#[derive(Debug, Clone)]
pub struct LogCapture {
    pub container: String,
    pub previous: bool,
    pub data: Vec<u8>,
    /// The byte cap was reached.
    pub truncated: bool,
}

/// Everything collected about a pod from the API server.
#[derive(Debug, Clone, Default)]
pub struct PodData {
    pub pod: Value,
    /// Controller chain objects (ReplicaSet, Deployment, …), nearest first.
    pub owners: Vec<Value>,
    /// Other pods of the same controller (for digest drift), this one included; shared with
    /// the other pods of the run.
    pub siblings: Vec<Shared>,
    pub events: Vec<Value>,
    /// The node: name, labels, conditions, nodeInfo (versions), capacity/allocatable.
    pub node: Option<Value>,
    pub services: Vec<Value>,
    pub endpoint_slices: Vec<Value>,
    pub pdbs: Vec<Value>,
    pub logs: Vec<LogCapture>,
    pub warnings: Vec<String>,
}

fn to_value<T: serde::Serialize>(obj: &T) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    // managedFields are noise for diagnosis and large.
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    v
}

fn labels_selected(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Read a log stream up to `limit` bytes.
async fn read_log(
    pods: &Api<Pod>,
    name: &str,
    params: &LogParams,
    limit: i64,
) -> Result<(Vec<u8>, bool), kube::Error> {
    let stream = pods.log_stream(name, params).await?;
    let mut reader = Box::pin(stream);
    let mut data = Vec::new();
    // The server applies limitBytes; the local cap guards against one that does not.
    let cap = limit.max(0) as u64;
    (&mut reader)
        .take(cap + 1)
        .read_to_end(&mut data)
        .await
        .map_err(|e| kube::Error::Service(Box::new(e)))?;
    let truncated = data.len() as u64 >= cap;
    data.truncate(cap as usize);
    Ok((data, truncated))
}

/// Collect everything about `summary` (one pod).
pub async fn collect_pod(
    client: &Client,
    summary: &PodSummary,
    options: &PodCollectOptions,
) -> PodData {
    collect_pod_cached(client, summary, options, &CollectCache::default()).await
}

/// Like [`collect_pod`], sharing lists with the other pods of the run through `cache`.
pub async fn collect_pod_cached(
    client: &Client,
    summary: &PodSummary,
    options: &PodCollectOptions,
    cache: &CollectCache,
) -> PodData {
    let ns = summary.namespace.as_str();
    let pod_obj: &Pod = &summary.object;
    let mut data = PodData {
        pod: to_value(pod_obj),
        ..Default::default()
    };
    let labels: BTreeMap<String, String> = pod_obj.metadata.labels.clone().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);

    // Owner chain and siblings.
    let controller = pod_obj
        .metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .cloned();
    if let Some(owner) = &controller {
        if owner.kind == "ReplicaSet" {
            let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
            match cache
                .get(format!("rs/{ns}/{}", owner.name), || {
                    get_value(rs_api, owner.name.clone())
                })
                .await
            {
                Ok(rs) => {
                    let rs = (*rs[0]).clone();
                    let parent = rs["metadata"]["ownerReferences"]
                        .as_array()
                        .and_then(|o| {
                            o.iter()
                                .find(|o| o["controller"] == true && o["kind"] == "Deployment")
                        })
                        .and_then(|o| o["name"].as_str().map(String::from));
                    data.owners.push(rs);
                    if let Some(p) = parent {
                        let d_api: Api<Deployment> = Api::namespaced(client.clone(), ns);
                        match cache
                            .get(format!("deploy/{ns}/{p}"), || get_value(d_api, p.clone()))
                            .await
                        {
                            Ok(d) => data.owners.push((*d[0]).clone()),
                            Err(e) => data.warnings.push(format!("deployment {p}: {e}")),
                        }
                    }
                }
                Err(e) => data
                    .warnings
                    .push(format!("replicaset {}: {e}", owner.name)),
            }
        }
        match cache
            .get(format!("pods/{ns}"), || list_values(pods.clone()))
            .await
        {
            Ok(all) => {
                data.siblings = all
                    .iter()
                    .filter(|p| {
                        p["metadata"]["ownerReferences"]
                            .as_array()
                            .is_some_and(|o| o.iter().any(|o| o["uid"] == owner.uid.as_str()))
                    })
                    .cloned()
                    .collect();
            }
            Err(e) => data.warnings.push(format!(
                "listing the pods of {}/{}: {e}",
                owner.kind, owner.name
            )),
        }
    }

    // Events about the pod.
    let events: Api<Event> = Api::namespaced(client.clone(), ns);
    let field = format!(
        "involvedObject.name={},involvedObject.kind=Pod",
        summary.name
    );
    match events.list(&ListParams::default().fields(&field)).await {
        Ok(list) => data.events = list.items.iter().map(to_value).collect(),
        Err(e) => data.warnings.push(format!("events: {e}")),
    }

    // The node: conditions and versions only.
    if let Some(node_name) = &summary.node {
        let nodes: Api<Node> = Api::all(client.clone());
        match cache
            .get(format!("node/{node_name}"), || {
                get_value(nodes, node_name.clone())
            })
            .await
        {
            Ok(n) => {
                let v = &n[0];
                data.node = Some(serde_json::json!({
                    "metadata": {"name": v["metadata"]["name"], "labels": v["metadata"]["labels"], "creationTimestamp": v["metadata"]["creationTimestamp"]},
                    "status": {"conditions": v["status"]["conditions"], "nodeInfo": v["status"]["nodeInfo"],
                               "capacity": v["status"]["capacity"], "allocatable": v["status"]["allocatable"]},
                    "spec": {"taints": v["spec"]["taints"], "unschedulable": v["spec"]["unschedulable"]},
                }));
            }
            Err(e) => data.warnings.push(format!("node {node_name}: {e}")),
        }
    }

    // Services that select it, their EndpointSlices that list it.
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    match cache
        .get(format!("services/{ns}"), || list_values(services))
        .await
    {
        Ok(all) => {
            for svc in all.iter() {
                let selector: BTreeMap<String, String> =
                    serde_json::from_value(svc["spec"]["selector"].clone()).unwrap_or_default();
                if labels_selected(&selector, &labels) {
                    data.services.push((**svc).clone());
                }
            }
        }
        Err(e) => data.warnings.push(format!("services: {e}")),
    }
    if !data.services.is_empty() {
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
        match cache
            .get(format!("endpointslices/{ns}"), || list_values(slices))
            .await
        {
            Ok(all) => {
                for slice in all.iter() {
                    let member = slice["endpoints"].as_array().is_some_and(|eps| {
                        eps.iter().any(|e| {
                            e["targetRef"]["kind"] == "Pod"
                                && e["targetRef"]["name"] == summary.name.as_str()
                        })
                    });
                    if member {
                        data.endpoint_slices.push((**slice).clone());
                    }
                }
            }
            Err(e) => data.warnings.push(format!("endpointslices: {e}")),
        }
    }

    // PDBs that select it (matchLabels; a PDB with matchExpressions is kept when its labels match).
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), ns);
    match cache.get(format!("pdbs/{ns}"), || list_values(pdbs)).await {
        Ok(all) => {
            for pdb in all.iter() {
                let match_labels: BTreeMap<String, String> =
                    serde_json::from_value(pdb["spec"]["selector"]["matchLabels"].clone())
                        .unwrap_or_default();
                if labels_selected(&match_labels, &labels) {
                    data.pdbs.push((**pdb).clone());
                }
            }
        }
        Err(e) => data.warnings.push(format!("poddisruptionbudgets: {e}")),
    }

    // Logs: current and previous of every regular container.
    for c in summary.containers.iter().filter(|c| !c.ephemeral) {
        for previous in [false, true] {
            if previous && c.restart_count == 0 {
                continue;
            }
            let params = LogParams {
                container: Some(c.name.clone()),
                previous,
                since_seconds: options.since_seconds,
                tail_lines: options.tail_lines,
                limit_bytes: Some(options.log_limit_bytes),
                timestamps: true,
                ..Default::default()
            };
            match read_log(&pods, &summary.name, &params, options.log_limit_bytes).await {
                Ok((bytes, truncated)) => data.logs.push(LogCapture {
                    container: c.name.clone(),
                    previous,
                    data: bytes,
                    truncated,
                }),
                Err(e) => data.warnings.push(format!(
                    "{} log of container {}: {e}",
                    if previous { "previous" } else { "current" },
                    c.name
                )),
            }
        }
    }
    data
}
