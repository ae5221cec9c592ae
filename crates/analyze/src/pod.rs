//! The Kubernetes objects the pod rules read: Pods, Services and PodDisruptionBudgets.
//!
//! Field names and shapes mirror the Kubernetes API (camelCase, quantities and int-or-string values
//! as they appear in JSON), so `kubectl get pods -o json` output — or objects fetched through
//! kube-rs and serialised — deserialise into these types directly. Only the fields the rules need
//! are modelled; everything else is ignored, and every field is optional (`#[serde(default)]`), so
//! objects from older or newer API versions load too.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A value that is either an integer or a string (`IntOrString` in the API: ports, `maxUnavailable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl std::fmt::Display for IntOrString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Int(n) => write!(f, "{n}"),
            Self::String(s) => f.write_str(s),
        }
    }
}

/// `metadata` of any object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ObjectMeta {
    pub name: String,
    pub namespace: Option<String>,
    pub uid: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub owner_references: Vec<OwnerReference>,
}

impl ObjectMeta {
    /// The namespace, `default` when unset (as the API server fills it in).
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("default")
    }
}

/// `metadata.ownerReferences[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OwnerReference {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub controller: Option<bool>,
}

/// A Pod (`v1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Pod {
    pub metadata: ObjectMeta,
    pub spec: PodSpec,
    pub status: PodStatus,
}

impl Pod {
    /// The controlling owner (`controller: true`), else the first owner.
    pub fn controller(&self) -> Option<&OwnerReference> {
        let owners = &self.metadata.owner_references;
        owners
            .iter()
            .find(|o| o.controller == Some(true))
            .or_else(|| owners.first())
    }

    /// `namespace/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.metadata.namespace(), self.metadata.name)
    }
}

/// `spec` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    pub containers: Vec<Container>,
    pub init_containers: Vec<Container>,
    /// Defaults to 30 s when unset.
    pub termination_grace_period_seconds: Option<i64>,
    pub security_context: Option<PodSecurityContext>,
    pub node_name: Option<String>,
    pub service_account_name: Option<String>,
    pub host_network: Option<bool>,
    pub host_pid: Option<bool>,
}

/// The grace period applied when a pod spec leaves it unset.
pub const DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS: i64 = 30;

impl PodSpec {
    /// `terminationGracePeriodSeconds`, or the 30 s default.
    pub fn grace_period_seconds(&self) -> i64 {
        self.termination_grace_period_seconds
            .unwrap_or(DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS)
    }
}

/// `spec.securityContext` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<i64>,
}

/// One container of a pod spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    pub image: String,
    /// `Always`, `IfNotPresent`, `Never`; the API server defaults it (`Always` for `:latest` or no tag).
    pub image_pull_policy: Option<String>,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub ports: Vec<ContainerPort>,
    pub resources: ResourceRequirements,
    pub readiness_probe: Option<Probe>,
    pub liveness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
    pub lifecycle: Option<Lifecycle>,
    pub security_context: Option<SecurityContext>,
}

/// `ports[]` of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: i64,
    pub protocol: Option<String>,
}

/// `resources` of a container: quantities as written (`500m`, `1Gi`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceRequirements {
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
}

/// A readiness, liveness or startup probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Probe {
    pub exec: Option<ExecAction>,
    pub http_get: Option<HttpGetAction>,
    pub tcp_socket: Option<TcpSocketAction>,
    pub grpc: Option<GrpcAction>,
    pub initial_delay_seconds: Option<i64>,
    pub period_seconds: Option<i64>,
    pub timeout_seconds: Option<i64>,
    pub success_threshold: Option<i64>,
    pub failure_threshold: Option<i64>,
}

/// `exec` handler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecAction {
    pub command: Vec<String>,
}

/// `httpGet` handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpGetAction {
    #[serde(default)]
    pub path: Option<String>,
    pub port: IntOrString,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub scheme: Option<String>,
}

/// `tcpSocket` handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TcpSocketAction {
    pub port: IntOrString,
    #[serde(default)]
    pub host: Option<String>,
}

/// `grpc` probe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct GrpcAction {
    pub port: i64,
    pub service: Option<String>,
}

/// `sleep` lifecycle action (stable since 1.34).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SleepAction {
    pub seconds: i64,
}

/// `lifecycle` of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Lifecycle {
    pub pre_stop: Option<LifecycleHandler>,
    pub post_start: Option<LifecycleHandler>,
    /// `SIGTERM`, `SIGQUIT`, … (ContainerStopSignals, 1.33+); unset means the image's STOPSIGNAL.
    pub stop_signal: Option<String>,
}

/// A `preStop` / `postStart` handler.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LifecycleHandler {
    pub exec: Option<ExecAction>,
    pub http_get: Option<HttpGetAction>,
    pub tcp_socket: Option<TcpSocketAction>,
    pub sleep: Option<SleepAction>,
}

/// `securityContext` of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SecurityContext {
    pub privileged: Option<bool>,
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub allow_privilege_escalation: Option<bool>,
    pub read_only_root_filesystem: Option<bool>,
}

/// `status` of a Pod.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: Option<String>,
    pub container_statuses: Vec<ContainerStatus>,
    pub init_container_statuses: Vec<ContainerStatus>,
    pub qos_class: Option<String>,
    pub start_time: Option<String>,
}

/// `status.containerStatuses[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    /// The image as the runtime reports it (may be normalised: `docker.io/library/nginx:1.25`).
    pub image: String,
    /// The image actually running, with its digest (`docker.io/library/nginx@sha256:…`).
    #[serde(rename = "imageID")]
    pub image_id: String,
    pub container_id: Option<String>,
    pub ready: bool,
    pub started: Option<bool>,
    pub restart_count: i64,
    pub state: ContainerState,
    pub last_state: ContainerState,
    /// Effective stop signal reported by the kubelet (1.33+).
    pub stop_signal: Option<String>,
}

/// One of `waiting`, `running`, `terminated`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    pub waiting: Option<StateWaiting>,
    pub running: Option<StateRunning>,
    pub terminated: Option<StateTerminated>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateWaiting {
    pub reason: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateRunning {
    pub started_at: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StateTerminated {
    pub exit_code: i64,
    pub signal: Option<i64>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
}

/// A Service (`v1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Service {
    pub metadata: ObjectMeta,
    pub spec: ServiceSpec,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceSpec {
    /// Pods with all these labels receive the Service's traffic; empty = no selector (manual endpoints).
    pub selector: BTreeMap<String, String>,
    #[serde(rename = "type")]
    pub service_type: Option<String>,
    pub cluster_ip: Option<String>,
}

impl Service {
    /// True when the Service routes traffic to `pod`.
    pub fn selects(&self, pod: &Pod) -> bool {
        !self.spec.selector.is_empty()
            && self.metadata.namespace() == pod.metadata.namespace()
            && self
                .spec
                .selector
                .iter()
                .all(|(k, v)| pod.metadata.labels.get(k) == Some(v))
    }
}

/// A PodDisruptionBudget (`policy/v1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodDisruptionBudget {
    pub metadata: ObjectMeta,
    pub spec: PdbSpec,
    pub status: Option<PdbStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PdbSpec {
    pub min_available: Option<IntOrString>,
    pub max_unavailable: Option<IntOrString>,
    pub selector: Option<LabelSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PdbStatus {
    pub disruptions_allowed: i64,
    pub current_healthy: i64,
    pub desired_healthy: i64,
    pub expected_pods: i64,
}

/// A label selector (`matchLabels` and `matchExpressions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSelector {
    pub match_labels: BTreeMap<String, String>,
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LabelSelectorRequirement {
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    pub values: Vec<String>,
}

impl LabelSelector {
    /// True when `labels` satisfy the selector. An empty selector matches everything (as in the
    /// policy/v1 API); an unknown operator matches nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|e| {
                let value = labels.get(&e.key);
                match e.operator.as_str() {
                    "In" => value.is_some_and(|v| e.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !e.values.contains(v)),
                    "Exists" => value.is_some(),
                    "DoesNotExist" => value.is_none(),
                    _ => false,
                }
            })
    }
}

impl PodDisruptionBudget {
    /// True when the PDB covers `pod` (same namespace, selector matches). As in policy/v1, a
    /// null selector selects no pods and an empty one (`{}`) every pod of the namespace.
    pub fn covers(&self, pod: &Pod) -> bool {
        self.metadata.namespace() == pod.metadata.namespace()
            && self
                .spec
                .selector
                .as_ref()
                .is_some_and(|s| s.matches(&pod.metadata.labels))
    }
}

/// The Kubernetes objects of one analysis, with the bundle members they were read from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PodInventory {
    pub pods: Vec<Pod>,
    pub services: Vec<Service>,
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// Bundle member holding the pods (a `PodList`); evidence points into it by JSON pointer.
    pub pods_source: String,
    pub services_source: String,
    pub pdbs_source: String,
}

/// Why Kubernetes JSON could not be loaded.
#[derive(Debug)]
pub struct ObjectsError {
    /// The member or file being read.
    pub source: String,
    pub error: serde_json::Error,
}

impl std::fmt::Display for ObjectsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: not a Kubernetes object or list at line {} column {}: {}",
            self.source,
            self.error.line(),
            self.error.column(),
            self.error
        )
    }
}

impl std::error::Error for ObjectsError {}

/// Parse a `kind: …List` document (`{"items": [...]}`), a JSON array of objects, or one object.
pub fn parse_objects<T: serde::de::DeserializeOwned>(
    source: &str,
    json: &[u8],
) -> Result<Vec<T>, ObjectsError> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape<T> {
        List { items: Vec<T> },
        Array(Vec<T>),
        One(Box<T>),
    }
    let err = |error| ObjectsError {
        source: source.to_string(),
        error,
    };
    // Parse as a value first so a malformed list reports the real error, not the untagged one.
    let value: serde_json::Value = serde_json::from_slice(json).map_err(err)?;
    if let Some(items) = value.get("items") {
        return serde_json::from_value(items.clone()).map_err(err);
    }
    match serde_json::from_value::<Shape<T>>(value.clone()) {
        Ok(Shape::List { items }) | Ok(Shape::Array(items)) => Ok(items),
        Ok(Shape::One(one)) => Ok(vec![*one]),
        Err(_) => serde_json::from_value::<T>(value)
            .map(|one| vec![one])
            .map_err(err),
    }
}
