//! The cluster's state: pods (with their running containers), events, the deny list, and the
//! log of requests served (so tests can assert, for example, that no Secret was ever read).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::watch;

use crate::runtime::{self, Container, EventSink};
use crate::spec::{ContainerSpec, PodSpec};

/// How the cluster is set up.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfig {
    pub pods: Vec<PodSpec>,
    /// `VERB RESOURCE[/SUBRESOURCE]` pairs that are denied (`create pods/exec`, `get pods/log`):
    /// SelfSubjectAccessReview answers `allowed: false` and the request itself gets 403.
    pub deny: Vec<String>,
    /// Added before every answer (to measure a client's concurrency).
    pub latency: Duration,
    /// Services: (namespace, name, selector).
    pub services: Vec<(String, String, BTreeMap<String, String>)>,
    /// PodDisruptionBudgets: (namespace, name, selector, minAvailable).
    pub pdbs: Vec<(String, String, BTreeMap<String, String>, i64)>,
    /// Fault injection: exec streams end without the status frame (a cut connection).
    pub drop_exec_status: bool,
    /// Host directories every container (ephemeral ones too) sees at the same path, read-only.
    /// A container sees the host's filesystem as its image except `/tmp`, which is a private
    /// tmpfs: what a test prepares under the host's `/tmp` (compiled classes, a built binary,
    /// tools) is hidden from the pods unless listed here.
    pub shared_dirs: Vec<PathBuf>,
    /// Where logs are written; a fresh temporary directory when `None`.
    pub state_dir: Option<PathBuf>,
}

/// One event.
#[derive(Debug, Clone)]
pub struct Event {
    pub namespace: String,
    pub object_kind: String,
    pub object_name: String,
    pub reason: String,
    pub message: String,
    pub kind: String,
    pub first: Timestamp,
    pub last: Timestamp,
    pub count: u32,
    pub uid: String,
}

/// A pod with its containers.
#[derive(Debug)]
pub struct Pod {
    pub spec: PodSpec,
    pub uid: String,
    pub created: Timestamp,
    pub containers: Vec<Arc<Container>>,
    pub ephemeral: Mutex<Vec<Arc<Container>>>,
    pub log_dir: PathBuf,
}

impl Pod {
    /// The container named `name`, or the only/first container when `None` (like the kubelet,
    /// which requires a name when there are several: the API layer checks that).
    pub fn container(&self, name: Option<&str>) -> Option<Arc<Container>> {
        match name {
            None => self.containers.first().cloned(),
            Some(n) => self
                .containers
                .iter()
                .find(|c| c.spec.name == n)
                .cloned()
                .or_else(|| {
                    self.ephemeral
                        .lock()
                        .expect("ephemeral lock")
                        .iter()
                        .find(|c| c.spec.name == n)
                        .cloned()
                }),
        }
    }
}

/// The whole cluster.
pub struct Cluster {
    pub config: ClusterConfig,
    pub pods: Vec<Arc<Pod>>,
    pub events: Arc<Mutex<Vec<Event>>>,
    pub requests: Mutex<Vec<String>>,
    pub started: Timestamp,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    _state_dir: Option<tempfile::TempDir>,
}

pub(crate) fn uid_for(seed: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    seed.hash(&mut h);
    let a = h.finish();
    (seed, 1u8).hash(&mut h);
    let b = h.finish();
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn event_sink(
    events: Arc<Mutex<Vec<Event>>>,
    namespace: String,
    pod: String,
    uid: String,
) -> EventSink {
    Arc::new(move |reason: &str, message: &str, kind: &str| {
        let now = Timestamp::now();
        let mut all = events.lock().expect("events lock");
        if let Some(e) = all
            .iter_mut()
            .find(|e| e.object_name == pod && e.namespace == namespace && e.reason == reason)
        {
            e.count += 1;
            e.last = now;
            e.message = message.to_string();
            return;
        }
        let n = all.len();
        all.push(Event {
            namespace: namespace.clone(),
            object_kind: "Pod".into(),
            object_name: pod.clone(),
            reason: reason.into(),
            message: message.into(),
            kind: kind.into(),
            first: now,
            last: now,
            count: 1,
            uid: uid_for(&format!("{uid}/event/{n}")),
        });
    })
}

impl Cluster {
    /// Start every pod's containers and wait (up to 10 s each) until each has run (it runs, or
    /// it already exited).
    pub async fn start(
        mut config: ClusterConfig,
        extra_containers: Vec<(String, ContainerSpec)>,
    ) -> std::io::Result<Arc<Cluster>> {
        let state_tmp = match &config.state_dir {
            Some(_) => None,
            None => Some(
                tempfile::Builder::new()
                    .prefix("triage-testcluster-")
                    .tempdir()?,
            ),
        };
        let state_dir = config.state_dir.clone().unwrap_or_else(|| {
            state_tmp
                .as_ref()
                .map(|t| t.path().to_path_buf())
                .unwrap_or_default()
        });
        for (pod_name, container) in extra_containers {
            let pod = config
                .pods
                .iter_mut()
                .find(|p| p.name == pod_name)
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("--container names pod `{pod_name}`, which no --pod defines"),
                    )
                })?;
            pod.containers.push(container);
        }
        let (shutdown, _) = watch::channel(false);
        let events = Arc::new(Mutex::new(Vec::new()));
        let mut pods = Vec::new();
        let mut tasks = Vec::new();
        for spec in &config.pods {
            let log_dir = state_dir.join(&spec.namespace).join(&spec.name);
            std::fs::create_dir_all(&log_dir)?;
            let uid = uid_for(&format!("{}/{}", spec.namespace, spec.name));
            let containers: Vec<_> = spec
                .containers
                .iter()
                .map(|c| runtime::new_container(c.clone(), None, &log_dir, &config.shared_dirs))
                .collect();
            let sink = event_sink(
                events.clone(),
                spec.namespace.clone(),
                spec.name.clone(),
                uid.clone(),
            );
            sink(
                "Scheduled",
                &format!(
                    "Successfully assigned {}/{} to {}",
                    spec.namespace,
                    spec.name,
                    crate::NODE_NAME
                ),
                "Normal",
            );
            for c in &containers {
                sink(
                    "Pulled",
                    &format!(
                        "Container image \"{}\" already present on machine",
                        c.spec.image
                    ),
                    "Normal",
                );
                tasks.push(tokio::spawn(runtime::supervise(
                    c.clone(),
                    log_dir.clone(),
                    spec.restart_always,
                    None,
                    sink.clone(),
                    shutdown.subscribe(),
                )));
            }
            pods.push(Arc::new(Pod {
                spec: spec.clone(),
                uid,
                created: Timestamp::now(),
                containers,
                ephemeral: Mutex::new(Vec::new()),
                log_dir,
            }));
        }
        for pod in &pods {
            for c in &pod.containers {
                runtime::wait_started(c, Duration::from_secs(10)).await;
            }
        }
        Ok(Arc::new(Cluster {
            config,
            pods,
            events,
            requests: Mutex::new(Vec::new()),
            started: Timestamp::now(),
            shutdown,
            tasks: Mutex::new(tasks),
            _state_dir: state_tmp,
        }))
    }

    /// The pod `name` in `namespace`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Arc<Pod>> {
        self.pods
            .iter()
            .find(|p| p.spec.namespace == namespace && p.spec.name == name)
            .cloned()
    }

    /// True when `verb resource[/subresource]` is on the deny list.
    pub fn denied(&self, verb: &str, resource: &str) -> bool {
        self.config.deny.iter().any(|d| {
            let mut parts = d.split_whitespace();
            matches!((parts.next(), parts.next()), (Some(v), Some(r)) if (v == verb || v == "*") && r == resource)
        })
    }

    /// Start an ephemeral container in `pod` sharing the pid namespace of `target` (or the first
    /// container). Returns an error message for the API answer.
    pub fn add_ephemeral(
        &self,
        pod: &Arc<Pod>,
        spec: ContainerSpec,
        target: Option<String>,
    ) -> Result<(), String> {
        if pod.container(Some(&spec.name)).is_some() {
            return Ok(());
        }
        let target_container = pod.container(target.as_deref()).ok_or_else(|| {
            format!(
                "targetContainerName {:?} is not a container of pod {}",
                target, pod.spec.name
            )
        })?;
        let container = runtime::new_container(
            spec,
            Some(target_container.spec.name.clone()),
            &pod.log_dir,
            &self.config.shared_dirs,
        );
        pod.ephemeral
            .lock()
            .expect("ephemeral lock")
            .push(container.clone());
        let sink = event_sink(
            self.events.clone(),
            pod.spec.namespace.clone(),
            pod.spec.name.clone(),
            pod.uid.clone(),
        );
        let task = tokio::spawn(runtime::supervise(
            container,
            pod.log_dir.clone(),
            false,
            Some(target_container),
            sink,
            self.shutdown.subscribe(),
        ));
        self.tasks.lock().expect("tasks lock").push(task);
        Ok(())
    }

    /// Stop every container and wait for the supervisors to finish.
    pub async fn stop(&self) {
        let _ = self.shutdown.send(true);
        let tasks: Vec<_> = std::mem::take(&mut *self.tasks.lock().expect("tasks lock"));
        for t in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
    }
}
