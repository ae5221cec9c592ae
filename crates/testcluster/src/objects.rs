//! The JSON the API server answers with: discovery, pods, nodes, events, workloads, services,
//! EndpointSlices, PodDisruptionBudgets and Status errors — shaped like a real API server's.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::cluster::{Cluster, Pod, uid_for};
use crate::runtime::{Container, Terminated};
use crate::spec::Owner;
use crate::{KUBELET_VERSION, NODE_NAME};

/// A `Status` object (errors, and the exec status frame).
pub fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Value {
    let mut v = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    });
    if let Some(d) = details {
        v["details"] = d;
    }
    v
}

/// `/version`.
pub fn version() -> Value {
    json!({"major": "1", "minor": "33", "gitVersion": KUBELET_VERSION, "gitCommit": "0000000000000000000000000000000000000000",
           "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64"})
}

/// `/api`.
pub fn api_versions(addr: &str) -> Value {
    json!({"kind": "APIVersions", "versions": ["v1"],
           "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr}]})
}

const GROUPS: &[(&str, &str)] = &[
    ("apps", "v1"),
    ("authorization.k8s.io", "v1"),
    ("discovery.k8s.io", "v1"),
    ("policy", "v1"),
];

/// `/apis`.
pub fn api_groups() -> Value {
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn resource(name: &str, kind: &str, namespaced: bool, verbs: &[&str], short: &[&str]) -> Value {
    let mut v = json!({"name": name, "singularName": if name.contains('/') { "".to_string() } else { kind.to_lowercase() },
                       "namespaced": namespaced, "kind": kind, "verbs": verbs});
    if !short.is_empty() {
        v["shortNames"] = json!(short);
    }
    v
}

/// `/api/v1` or `/apis/{group}/{version}`; `None` for an unknown group.
pub fn resource_list(group_version: &str) -> Option<Value> {
    let read = &["get", "list", "watch"][..];
    let resources = match group_version {
        "v1" => vec![
            resource("pods", "Pod", true, read, &["po"]),
            resource("pods/exec", "PodExecOptions", true, &["create", "get"], &[]),
            resource("pods/log", "Pod", true, &["get"], &[]),
            resource(
                "pods/portforward",
                "PodPortForwardOptions",
                true,
                &["create", "get"],
                &[],
            ),
            resource(
                "pods/ephemeralcontainers",
                "Pod",
                true,
                &["get", "patch", "update"],
                &[],
            ),
            resource("pods/status", "Pod", true, &["get"], &[]),
            resource("nodes", "Node", false, read, &["no"]),
            resource("events", "Event", true, read, &["ev"]),
            resource("services", "Service", true, read, &["svc"]),
            resource("secrets", "Secret", true, read, &[]),
            resource("namespaces", "Namespace", false, read, &["ns"]),
        ],
        "apps/v1" => vec![
            resource("deployments", "Deployment", true, read, &["deploy"]),
            resource("replicasets", "ReplicaSet", true, read, &["rs"]),
            resource("statefulsets", "StatefulSet", true, read, &["sts"]),
            resource("daemonsets", "DaemonSet", true, read, &["ds"]),
        ],
        "authorization.k8s.io/v1" => {
            vec![resource(
                "selfsubjectaccessreviews",
                "SelfSubjectAccessReview",
                false,
                &["create"],
                &[],
            )]
        }
        "discovery.k8s.io/v1" => vec![resource("endpointslices", "EndpointSlice", true, read, &[])],
        "policy/v1" => vec![resource(
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            true,
            read,
            &["pdb"],
        )],
        _ => return None,
    };
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// A list object.
pub fn list(kind: &str, api_version: &str, items: Vec<Value>) -> Value {
    json!({"kind": format!("{kind}List"), "apiVersion": api_version, "metadata": {"resourceVersion": "1"}, "items": items})
}

fn ts(t: &jiff::Timestamp) -> String {
    // Kubernetes timestamps have second precision.
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A short stable hash (the ReplicaSet's pod-template-hash, image digests).
pub fn short_hash(seed: &str, len: usize) -> String {
    let full = uid_for(seed).replace('-', "");
    full.chars().take(len).collect()
}

fn image_digest(image: &str) -> String {
    format!(
        "sha256:{}{}",
        uid_for(image).replace('-', ""),
        uid_for(&format!("{image}#2")).replace('-', "")
    )
}

/// Name of the ReplicaSet behind a Deployment.
pub fn replicaset_name(deploy: &str) -> String {
    format!("{deploy}-{}", short_hash(&format!("rs/{deploy}"), 10))
}

fn owner_reference(pod: &Pod) -> Option<Value> {
    let ns = &pod.spec.namespace;
    let (kind, api, name) = match pod.spec.owner.as_ref()? {
        Owner::Deployment(d) => ("ReplicaSet", "apps/v1", replicaset_name(d)),
        Owner::StatefulSet(s) => ("StatefulSet", "apps/v1", s.clone()),
        Owner::DaemonSet(d) => ("DaemonSet", "apps/v1", d.clone()),
    };
    Some(
        json!({"apiVersion": api, "kind": kind, "name": name, "uid": uid_for(&format!("{ns}/{kind}/{name}")),
                "controller": true, "blockOwnerDeletion": true}),
    )
}

fn container_spec(c: &Container) -> Value {
    let mut env: Vec<Value> = c
        .spec
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    for (name, secret, key) in &c.spec.secret_env {
        env.push(
            json!({"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}),
        );
    }
    let mut v = json!({
        "name": c.spec.name, "image": c.spec.image, "command": ["/bin/sh", "-c", c.spec.command],
        "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File", "resources": {},
    });
    if !env.is_empty() {
        v["env"] = json!(env);
    }
    if !c.spec.ports.is_empty() {
        v["ports"] = json!(
            c.spec
                .ports
                .iter()
                .map(|(n, p)| json!({"name": n, "containerPort": p, "protocol": "TCP"}))
                .collect::<Vec<_>>()
        );
    }
    if !c.spec.requests.is_empty() {
        v["resources"]["requests"] = json!(c.spec.requests);
    }
    if !c.spec.limits.is_empty() {
        v["resources"]["limits"] = json!(c.spec.limits);
    }
    if c.spec.privileged {
        v["securityContext"] = json!({"privileged": true});
    }
    if let Some(t) = &c.target {
        v["targetContainerName"] = json!(t);
    }
    v
}

fn terminated_json(t: &Terminated) -> Value {
    json!({"exitCode": t.exit_code, "reason": t.reason, "startedAt": ts(&t.started_at), "finishedAt": ts(&t.finished_at),
           "containerID": Value::Null, "signal": t.signal})
}

fn container_status(c: &Container) -> Value {
    let s = c.state.lock().expect("container state lock").clone();
    let state = if s.host_pid.is_some() {
        json!({"running": {"startedAt": s.started_at.as_ref().map(ts)}})
    } else if let Some(t) = &s.terminated {
        let mut v = terminated_json(t);
        v["containerID"] = json!(format!("containerd://{}", s.container_id));
        json!({ "terminated": v })
    } else {
        let reason = s
            .waiting_reason
            .clone()
            .unwrap_or_else(|| "ContainerCreating".into());
        let message = if reason == "CrashLoopBackOff" {
            format!("back-off restarting failed container={} pod", c.spec.name)
        } else {
            String::new()
        };
        json!({"waiting": {"reason": reason, "message": message}})
    };
    let last = match &s.last_terminated {
        Some(t) => json!({ "terminated": terminated_json(t) }),
        None => json!({}),
    };
    let running = s.host_pid.is_some();
    let mut v = json!({
        "name": c.spec.name, "image": c.spec.image,
        "imageID": format!("{}@{}", c.spec.image.split(':').next().unwrap_or_default(), image_digest(&c.spec.image)),
        "ready": running, "started": running, "restartCount": s.restart_count, "state": state, "lastState": last,
    });
    if !s.container_id.is_empty() {
        v["containerID"] = json!(format!("containerd://{}", s.container_id));
    }
    v
}

/// A Pod object.
pub fn pod(cluster: &Cluster, pod: &Pod) -> Value {
    let ephemeral = pod.ephemeral.lock().expect("ephemeral lock").clone();
    let statuses: Vec<Value> = pod.containers.iter().map(|c| container_status(c)).collect();
    let all_running = statuses.iter().all(|s| s["state"]["running"].is_object());
    let all_terminated: Vec<&Value> = statuses
        .iter()
        .filter_map(|s| s["state"].get("terminated"))
        .collect();
    let phase = if all_terminated.len() == statuses.len() && !statuses.is_empty() {
        if all_terminated.iter().all(|t| t["exitCode"] == 0) {
            "Succeeded"
        } else {
            "Failed"
        }
    } else {
        "Running"
    };
    let ready = if all_running { "True" } else { "False" };
    let created = ts(&pod.created);
    let mut meta = json!({
        "name": pod.spec.name, "namespace": pod.spec.namespace, "uid": pod.uid,
        "resourceVersion": format!("{}", 1000 + ephemeral.len()), "creationTimestamp": created,
        "labels": pod.spec.labels, "annotations": pod.spec.annotations,
    });
    if let Some(o) = owner_reference(pod) {
        meta["ownerReferences"] = json!([o]);
    }
    let mut spec = json!({
        "containers": pod.containers.iter().map(|c| container_spec(c)).collect::<Vec<_>>(),
        "restartPolicy": if pod.spec.restart_always { "Always" } else { "Never" },
        "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
        "nodeName": NODE_NAME, "schedulerName": "default-scheduler", "securityContext": {},
        "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
    });
    if !ephemeral.is_empty() {
        spec["ephemeralContainers"] = json!(
            ephemeral
                .iter()
                .map(|c| container_spec(c))
                .collect::<Vec<_>>()
        );
    }
    let mut status = json!({
        "phase": phase, "hostIP": "127.0.0.1", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}],
        "startTime": created, "qosClass": "BestEffort",
        "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": created},
            {"type": "Initialized", "status": "True", "lastTransitionTime": created},
            {"type": "ContainersReady", "status": ready, "lastTransitionTime": ts(&cluster.started)},
            {"type": "Ready", "status": ready, "lastTransitionTime": ts(&cluster.started)},
        ],
        "containerStatuses": statuses,
    });
    if !ephemeral.is_empty() {
        status["ephemeralContainerStatuses"] = json!(
            ephemeral
                .iter()
                .map(|c| container_status(c))
                .collect::<Vec<_>>()
        );
    }
    json!({"kind": "Pod", "apiVersion": "v1", "metadata": meta, "spec": spec, "status": status})
}

/// The one Node.
pub fn node(cluster: &Cluster) -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let now = ts(&cluster.started);
    let cond = |t: &str, s: &str, reason: &str, msg: &str| json!({"type": t, "status": s, "reason": reason, "message": msg, "lastHeartbeatTime": now, "lastTransitionTime": now});
    json!({
        "kind": "Node", "apiVersion": "v1",
        "metadata": {"name": NODE_NAME, "uid": uid_for("node"), "creationTimestamp": now,
                     "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": std::env::consts::ARCH}},
        "spec": {},
        "status": {
            "conditions": [
                cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE_NAME}],
            "nodeInfo": {"kernelVersion": kernel, "osImage": "triage-testcluster", "containerRuntimeVersion": "containerd://testcluster",
                         "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION, "operatingSystem": "linux",
                         "architecture": std::env::consts::ARCH, "machineID": "", "systemUUID": "", "bootID": ""},
            "capacity": {"cpu": format!("{}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)), "pods": "110"},
        }
    })
}

/// An Event object.
pub fn event(e: &crate::cluster::Event, pod_uid: &str) -> Value {
    json!({
        "kind": "Event", "apiVersion": "v1",
        "metadata": {"name": format!("{}.{}", e.object_name, &e.uid[..8]), "namespace": e.namespace, "uid": e.uid,
                     "creationTimestamp": ts(&e.first)},
        "involvedObject": {"kind": e.object_kind, "namespace": e.namespace, "name": e.object_name, "uid": pod_uid, "apiVersion": "v1"},
        "reason": e.reason, "message": e.message, "type": e.kind, "count": e.count,
        "firstTimestamp": ts(&e.first), "lastTimestamp": ts(&e.last),
        "source": {"component": "kubelet", "host": NODE_NAME}, "reportingComponent": "kubelet", "reportingInstance": NODE_NAME,
    })
}

/// The pods' common labels: the selector of a synthesised workload.
fn common_labels<'a>(pods: impl Iterator<Item = &'a Pod>) -> BTreeMap<String, String> {
    let mut common: Option<BTreeMap<String, String>> = None;
    for p in pods {
        common = Some(match common {
            None => p.spec.labels.clone(),
            Some(c) => c
                .into_iter()
                .filter(|(k, v)| p.spec.labels.get(k) == Some(v))
                .collect(),
        });
    }
    common.unwrap_or_default()
}

/// Workloads synthesised from the pods' owners: (kind, namespace, name) → object.
pub fn workloads(cluster: &Cluster) -> Vec<(String, String, String, Value)> {
    let mut owners: BTreeMap<(String, Owner), Vec<&Pod>> = BTreeMap::new();
    for p in &cluster.pods {
        if let Some(o) = &p.spec.owner {
            owners
                .entry((p.spec.namespace.clone(), o.clone()))
                .or_default()
                .push(p);
        }
    }
    let mut out = Vec::new();
    for ((ns, owner), pods) in owners {
        let selector = common_labels(pods.iter().copied());
        let replicas = pods.len();
        let template = json!({"metadata": {"labels": selector}, "spec": {"containers": pods[0].containers.iter().map(|c| container_spec(c)).collect::<Vec<_>>()}});
        let (kind, name) = match &owner {
            Owner::Deployment(n) => ("Deployment", n.clone()),
            Owner::StatefulSet(n) => ("StatefulSet", n.clone()),
            Owner::DaemonSet(n) => ("DaemonSet", n.clone()),
        };
        let meta = |kind: &str, name: &str| json!({"name": name, "namespace": ns, "uid": uid_for(&format!("{ns}/{kind}/{name}")), "creationTimestamp": ts(&cluster.started), "labels": selector});
        let status =
            json!({"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas});
        let spec = json!({"replicas": replicas, "selector": {"matchLabels": selector}, "template": template});
        out.push((kind.to_string(), ns.clone(), name.clone(), json!({"kind": kind, "apiVersion": "apps/v1", "metadata": meta(kind, &name), "spec": spec, "status": status})));
        if let Owner::Deployment(d) = &owner {
            let rs = replicaset_name(d);
            let mut m = meta("ReplicaSet", &rs);
            m["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "Deployment", "name": d, "uid": uid_for(&format!("{ns}/Deployment/{d}")), "controller": true}]);
            out.push(("ReplicaSet".into(), ns.clone(), rs, json!({"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": m, "spec": spec, "status": status})));
        }
    }
    out
}

/// Services, with the pods they select.
pub fn services(cluster: &Cluster) -> Vec<(String, String, Value, Vec<Value>)> {
    cluster
        .config
        .services
        .iter()
        .map(|(ns, name, selector)| {
            let svc = json!({"kind": "Service", "apiVersion": "v1",
                "metadata": {"name": name, "namespace": ns, "uid": uid_for(&format!("{ns}/svc/{name}")), "creationTimestamp": ts(&cluster.started)},
                "spec": {"selector": selector, "type": "ClusterIP", "clusterIP": "10.96.0.10", "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}});
            let endpoints: Vec<Value> = cluster
                .pods
                .iter()
                .filter(|p| &p.spec.namespace == ns && selector.iter().all(|(k, v)| p.spec.labels.get(k) == Some(v)))
                .map(|p| json!({"addresses": ["127.0.0.1"], "conditions": {"ready": true},
                                "targetRef": {"kind": "Pod", "name": p.spec.name, "namespace": ns, "uid": p.uid}, "nodeName": NODE_NAME}))
                .collect();
            (ns.clone(), name.clone(), svc, endpoints)
        })
        .collect()
}

/// The EndpointSlice of a Service.
pub fn endpoint_slice(cluster: &Cluster, ns: &str, service: &str, endpoints: Vec<Value>) -> Value {
    json!({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
           "metadata": {"name": format!("{service}-{}", short_hash(service, 5)), "namespace": ns,
                        "labels": {"kubernetes.io/service-name": service}, "creationTimestamp": ts(&cluster.started)},
           "addressType": "IPv4", "endpoints": endpoints, "ports": [{"port": 80, "protocol": "TCP", "name": ""}]})
}

/// PodDisruptionBudgets.
pub fn pdbs(cluster: &Cluster) -> Vec<(String, Value)> {
    cluster
        .config
        .pdbs
        .iter()
        .map(|(ns, name, selector, min)| {
            let matching = cluster
                .pods
                .iter()
                .filter(|p| &p.spec.namespace == ns && selector.iter().all(|(k, v)| p.spec.labels.get(k) == Some(v)))
                .count() as i64;
            (ns.clone(), json!({"kind": "PodDisruptionBudget", "apiVersion": "policy/v1",
                "metadata": {"name": name, "namespace": ns, "uid": uid_for(&format!("{ns}/pdb/{name}")), "creationTimestamp": ts(&cluster.started)},
                "spec": {"minAvailable": min, "selector": {"matchLabels": selector}},
                "status": {"currentHealthy": matching, "desiredHealthy": min, "expectedPods": matching,
                           "disruptionsAllowed": (matching - min).max(0)}}))
        })
        .collect()
}
