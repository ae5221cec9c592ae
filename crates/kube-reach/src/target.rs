//! Targets like kubectl's (`pod/NAME`, `deploy/NAME`, `sts/NAME`, `ds/NAME`, `-l SELECTOR`),
//! resolved to pods, and the summary an engineer reads first: where it runs, what runs in it and
//! how it has been dying.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{Api, ListParams};
use kube::{Client, Resource};
use serde::Serialize;

use crate::{Error, Result};

/// What the user named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Pod(String),
    Deployment(String),
    StatefulSet(String),
    DaemonSet(String),
    /// `-l SELECTOR`: every pod it selects.
    Selector(String),
}

impl Target {
    /// Parse `pod/NAME` and friends (kubectl's resource names, short names and plurals).
    pub fn parse(s: &str) -> Result<Target> {
        let (kind, name) = s
            .split_once('/')
            .ok_or_else(|| Error::BadTarget(s.to_string()))?;
        if name.is_empty() || name.contains('/') {
            return Err(Error::BadTarget(s.to_string()));
        }
        let name = name.to_string();
        Ok(match kind.to_ascii_lowercase().as_str() {
            "pod" | "pods" | "po" => Target::Pod(name),
            "deploy" | "deployment" | "deployments" | "deployment.apps" => Target::Deployment(name),
            "sts" | "statefulset" | "statefulsets" | "statefulset.apps" => {
                Target::StatefulSet(name)
            }
            "ds" | "daemonset" | "daemonsets" | "daemonset.apps" => Target::DaemonSet(name),
            _ => return Err(Error::BadTarget(s.to_string())),
        })
    }

    /// True when `s` names a Kubernetes target (so a CLI can route it here).
    pub fn looks_like(s: &str) -> bool {
        Target::parse(s).is_ok()
    }

    /// `pod/web`, `deploy/api`, `-l app=web`.
    pub fn display(&self) -> String {
        match self {
            Target::Pod(n) => format!("pod/{n}"),
            Target::Deployment(n) => format!("deploy/{n}"),
            Target::StatefulSet(n) => format!("sts/{n}"),
            Target::DaemonSet(n) => format!("ds/{n}"),
            Target::Selector(s) => format!("-l {s}"),
        }
    }
}

/// One container of a pod, as resolution reports it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContainerSummary {
    pub name: String,
    pub image: String,
    /// `imageID` as the runtime reports it (`repo@sha256:…`).
    pub image_id: Option<String>,
    /// The `sha256:…` digest from `imageID`.
    pub image_digest: Option<String>,
    /// `containerd://…`, `cri-o://…`.
    pub container_id: Option<String>,
    pub ready: bool,
    pub restart_count: i32,
    /// `running`, `waiting`, `terminated`.
    pub state: String,
    pub waiting_reason: Option<String>,
    /// Reason of the current termination (for a terminated container).
    pub terminated_reason: Option<String>,
    /// Last termination: reason (`OOMKilled`, `Error`), exit code, signal, when.
    pub last_termination_reason: Option<String>,
    pub last_exit_code: Option<i32>,
    pub last_signal: Option<i32>,
    pub last_finished_at: Option<String>,
    /// An ephemeral container.
    pub ephemeral: bool,
}

/// A pod, as resolution reports it.
#[derive(Debug, Clone, Serialize)]
pub struct PodSummary {
    pub namespace: String,
    pub name: String,
    pub uid: Option<String>,
    pub node: Option<String>,
    pub phase: Option<String>,
    pub pod_ip: Option<String>,
    /// The controller chain, nearest first: `ReplicaSet/web-5d8f`, `Deployment/web`.
    pub owners: Vec<String>,
    pub containers: Vec<ContainerSummary>,
    pub default_container: Option<String>,
    /// The whole object (for the bundle; Secrets are never fetched).
    #[serde(skip)]
    pub object: Arc<Pod>,
}

impl PodSummary {
    /// Summarise a Pod object (no owner lookup).
    pub fn from_pod(pod: Pod) -> PodSummary {
        let meta = &pod.metadata;
        let spec = pod.spec.clone().unwrap_or_default();
        let status = pod.status.clone().unwrap_or_default();
        let mut containers = Vec::new();
        let statuses = status.container_statuses.clone().unwrap_or_default();
        for c in &spec.containers {
            let st = statuses.iter().find(|s| s.name == c.name);
            containers.push(container_summary(
                &c.name,
                &c.image.clone().unwrap_or_default(),
                st,
                false,
            ));
        }
        let eph_statuses = status
            .ephemeral_container_statuses
            .clone()
            .unwrap_or_default();
        for c in spec.ephemeral_containers.iter().flatten() {
            let st = eph_statuses.iter().find(|s| s.name == c.name);
            containers.push(container_summary(
                &c.name,
                &c.image.clone().unwrap_or_default(),
                st,
                true,
            ));
        }
        let owners = meta
            .owner_references
            .iter()
            .flatten()
            .filter(|o| o.controller == Some(true))
            .map(|o| format!("{}/{}", o.kind, o.name))
            .collect();
        PodSummary {
            namespace: meta.namespace.clone().unwrap_or_else(|| "default".into()),
            name: meta.name.clone().unwrap_or_default(),
            uid: meta.uid.clone(),
            node: spec.node_name.clone(),
            phase: status.phase.clone(),
            pod_ip: status.pod_ip.clone(),
            owners,
            containers,
            default_container: meta
                .annotations
                .as_ref()
                .and_then(|a| a.get("kubectl.kubernetes.io/default-container").cloned()),
            object: Arc::new(pod),
        }
    }

    /// The container to act on: `-c NAME`, else the default-container annotation, else the only
    /// one. Several containers and no choice is an error listing them (kubectl would silently
    /// pick the first, which is how people end up diagnosing the sidecar).
    pub fn choose_container(&self, requested: Option<&str>) -> Result<&ContainerSummary> {
        let names = || {
            self.containers
                .iter()
                .filter(|c| !c.ephemeral)
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(name) = requested {
            return self
                .containers
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| {
                    Error::NotUsable(format!(
                        "pod {}/{} has no container `{name}`; its containers: {}",
                        self.namespace,
                        self.name,
                        names()
                    ))
                });
        }
        if let Some(d) = &self.default_container {
            if let Some(c) = self.containers.iter().find(|c| &c.name == d) {
                return Ok(c);
            }
        }
        let regular: Vec<&ContainerSummary> =
            self.containers.iter().filter(|c| !c.ephemeral).collect();
        match regular.as_slice() {
            [only] => Ok(only),
            [] => Err(Error::NotUsable(format!(
                "pod {}/{} has no containers",
                self.namespace, self.name
            ))),
            _ => Err(Error::NotUsable(format!(
                "pod {}/{} has several containers ({}): choose one with -c NAME",
                self.namespace,
                self.name,
                names()
            ))),
        }
    }

    /// The container, checked to be running (for exec), with the next step when it is not.
    pub fn running_container(&self, requested: Option<&str>) -> Result<&ContainerSummary> {
        let c = self.choose_container(requested)?;
        if c.state == "running" {
            return Ok(c);
        }
        let why = match (&c.waiting_reason, &c.terminated_reason) {
            (Some(w), _) => format!("waiting ({w})"),
            (_, Some(t)) => format!("terminated ({t})"),
            _ => c.state.clone(),
        };
        let last = match (&c.last_termination_reason, c.last_exit_code) {
            (Some(r), Some(code)) => format!("; it last died with {r} (exit code {code})"),
            _ => String::new(),
        };
        Err(Error::NotUsable(format!(
            "container {} of pod {}/{} is not running: {why}{last}, restarted {} times. Exec needs a running container: \
             read its previous logs (`--previous`) or the pod's events instead",
            c.name, self.namespace, self.name, c.restart_count
        )))
    }
}

fn container_summary(
    name: &str,
    image: &str,
    status: Option<&k8s_openapi::api::core::v1::ContainerStatus>,
    ephemeral: bool,
) -> ContainerSummary {
    let mut s = ContainerSummary {
        name: name.to_string(),
        image: image.to_string(),
        image_id: None,
        image_digest: None,
        container_id: None,
        ready: false,
        restart_count: 0,
        state: "unknown".into(),
        waiting_reason: None,
        terminated_reason: None,
        last_termination_reason: None,
        last_exit_code: None,
        last_signal: None,
        last_finished_at: None,
        ephemeral,
    };
    let Some(st) = status else { return s };
    s.image_id = Some(st.image_id.clone()).filter(|i| !i.is_empty());
    s.image_digest = s
        .image_id
        .as_deref()
        .and_then(|i| i.rsplit_once('@'))
        .map(|(_, d)| d.to_string());
    s.container_id = st.container_id.clone();
    s.ready = st.ready;
    s.restart_count = st.restart_count;
    if let Some(state) = &st.state {
        if state.running.is_some() {
            s.state = "running".into();
        } else if let Some(w) = &state.waiting {
            s.state = "waiting".into();
            s.waiting_reason = w.reason.clone();
        } else if let Some(t) = &state.terminated {
            s.state = "terminated".into();
            s.terminated_reason = t
                .reason
                .clone()
                .or_else(|| Some(format!("exit code {}", t.exit_code)));
        }
    }
    if let Some(t) = st.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
        s.last_termination_reason = t.reason.clone();
        s.last_exit_code = Some(t.exit_code);
        s.last_signal = t.signal;
        s.last_finished_at = t.finished_at.as_ref().map(|f| f.0.to_string());
    }
    s
}

/// A label selector as the `labelSelector` query parameter.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    parts.join(",")
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Up to three names close to `wanted` (edit distance, or a shared prefix such as a
/// Deployment's name against its pods' generated names).
pub fn close_names<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let d = distance(wanted, c);
            let limit = (wanted.len() / 3).max(2);
            if d <= limit || c.starts_with(wanted) || (wanted.len() >= 4 && c.contains(wanted)) {
                Some((d, c))
            } else {
                None
            }
        })
        .collect();
    scored.sort();
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

async fn not_found(pods: &Api<Pod>, namespace: &str, what: &str, wanted: &str) -> Error {
    let names: Vec<String> = match pods.list(&ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect(),
        Err(_) => Vec::new(),
    };
    let close = close_names(wanted, names.iter().map(String::as_str));
    let hint = if close.is_empty() {
        format!("list them with `kubectl get {what} -n {namespace}`, or pass -n NAMESPACE")
    } else {
        format!(
            "did you mean {}?",
            close
                .iter()
                .map(|n| format!("pod/{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    Error::NotFound(format!(
        "{what} \"{wanted}\" not found in namespace {namespace}: {hint}"
    ))
}

fn is_404(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

async fn workload_selector<K>(
    client: &Client,
    namespace: &str,
    name: &str,
    kind: &str,
    pods: &Api<Pod>,
) -> Result<String>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    <K as Resource>::DynamicType: Default,
    K: HasSelector,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.get(name).await {
        Ok(obj) => Ok(selector_string(&obj.selector())),
        Err(e) if is_404(&e) => {
            let _ = pods;
            let names: Vec<String> = api
                .list(&ListParams::default())
                .await
                .map(|l| {
                    l.items
                        .into_iter()
                        .filter_map(|o| o.meta().name.clone())
                        .collect()
                })
                .unwrap_or_default();
            let close = close_names(name, names.iter().map(String::as_str));
            let hint = if close.is_empty() {
                format!("list them with `kubectl get {kind} -n {namespace}`")
            } else {
                format!("did you mean {}?", close.join(", "))
            };
            Err(Error::NotFound(format!(
                "{kind} \"{name}\" not found in namespace {namespace}: {hint}"
            )))
        }
        Err(e) => Err(Error::api(
            format!("getting {kind}/{name} in {namespace}"),
            e,
        )),
    }
}

/// Workloads with a pod selector.
pub trait HasSelector {
    fn selector(&self) -> LabelSelector;
}

impl HasSelector for Deployment {
    fn selector(&self) -> LabelSelector {
        self.spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default()
    }
}
impl HasSelector for StatefulSet {
    fn selector(&self) -> LabelSelector {
        self.spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default()
    }
}
impl HasSelector for DaemonSet {
    fn selector(&self) -> LabelSelector {
        self.spec
            .as_ref()
            .map(|s| s.selector.clone())
            .unwrap_or_default()
    }
}

/// Resolve a target to its pods (sorted by name), with each pod's owner chain filled in.
pub async fn resolve(client: &Client, namespace: &str, target: &Target) -> Result<Vec<PodSummary>> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let selector = match target {
        Target::Pod(name) => {
            return match pods.get(name).await {
                Ok(p) => {
                    let mut s = PodSummary::from_pod(p);
                    fill_owners(client, namespace, std::slice::from_mut(&mut s)).await;
                    Ok(vec![s])
                }
                Err(e) if is_404(&e) => Err(not_found(&pods, namespace, "pods", name).await),
                Err(e) => Err(Error::api(format!("getting pod/{name} in {namespace}"), e)),
            };
        }
        Target::Deployment(n) => {
            workload_selector::<Deployment>(client, namespace, n, "deployments", &pods).await?
        }
        Target::StatefulSet(n) => {
            workload_selector::<StatefulSet>(client, namespace, n, "statefulsets", &pods).await?
        }
        Target::DaemonSet(n) => {
            workload_selector::<DaemonSet>(client, namespace, n, "daemonsets", &pods).await?
        }
        Target::Selector(s) => s.clone(),
    };
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| {
            Error::api(
                format!("listing pods with selector `{selector}` in {namespace}"),
                e,
            )
        })?;
    let mut out: Vec<PodSummary> = list.items.into_iter().map(PodSummary::from_pod).collect();
    if out.is_empty() {
        return Err(Error::NotFound(format!(
            "no pods in namespace {namespace} match {} (selector `{selector}`): check the namespace (-n) and the labels with `kubectl get pods -n {namespace} --show-labels`",
            target.display()
        )));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    fill_owners(client, namespace, &mut out).await;
    Ok(out)
}

/// Follow ReplicaSet → Deployment (one lookup per distinct ReplicaSet).
async fn fill_owners(client: &Client, namespace: &str, pods: &mut [PodSummary]) {
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), namespace);
    let mut cache: BTreeMap<String, Option<String>> = BTreeMap::new();
    for pod in pods.iter_mut() {
        let Some(rs) = pod
            .owners
            .first()
            .and_then(|o| o.strip_prefix("ReplicaSet/"))
            .map(String::from)
        else {
            continue;
        };
        if !cache.contains_key(&rs) {
            let parent = match rs_api.get(&rs).await {
                Ok(obj) => obj
                    .metadata
                    .owner_references
                    .iter()
                    .flatten()
                    .find(|o| o.controller == Some(true))
                    .map(|o| format!("{}/{}", o.kind, o.name)),
                Err(_) => None,
            };
            cache.insert(rs.clone(), parent);
        }
        if let Some(Some(parent)) = cache.get(&rs) {
            pod.owners.push(parent.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kubectl_forms() {
        assert_eq!(Target::parse("pod/web").unwrap(), Target::Pod("web".into()));
        assert_eq!(Target::parse("po/web").unwrap(), Target::Pod("web".into()));
        assert_eq!(
            Target::parse("deploy/api").unwrap(),
            Target::Deployment("api".into())
        );
        assert_eq!(
            Target::parse("deployment.apps/api").unwrap(),
            Target::Deployment("api".into())
        );
        assert_eq!(
            Target::parse("sts/db").unwrap(),
            Target::StatefulSet("db".into())
        );
        assert_eq!(
            Target::parse("ds/agent").unwrap(),
            Target::DaemonSet("agent".into())
        );
        for bad in ["web", "pid:1", "svc/web", "pod/", "pod/a/b", "host"] {
            assert!(Target::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn suggests_close_names() {
        let names = ["web-0", "web-1", "api-7d9f-abcde", "worker"];
        assert_eq!(close_names("web-2", names), vec!["web-0", "web-1"]);
        assert_eq!(close_names("api", names), vec!["api-7d9f-abcde"]);
        assert!(close_names("zzzzzzzz", names).is_empty());
    }
}
