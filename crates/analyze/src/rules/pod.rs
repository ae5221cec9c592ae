//! Pod rules over Kubernetes objects: probes, resources, image tags and digests, graceful
//! shutdown (preStop, grace period, stop signal), disruption budgets, privileges, restarts.

use std::collections::{BTreeMap, BTreeSet};

use super::Meta;
use crate::finding::{Evidence, Finding, Severity};
use crate::pod::{Container, ContainerStatus, LifecycleHandler, Pod, PodInventory};
use crate::rule::{AnalysisInput, Input, Rule};

const PODS: &[Input] = &[Input::Pods];

/// Evidence source: a JSON pointer into the pods member.
fn pod_source(inv: &PodInventory, pod_index: usize, rest: &str) -> String {
    let member = if inv.pods_source.is_empty() {
        "kubernetes/pods.json"
    } else {
        &inv.pods_source
    };
    format!("{member}#/items/{pod_index}{rest}")
}

fn container_subject(pod: &Pod, container: &str) -> String {
    format!("pod {} container {container}", pod.full_name())
}

/// Pods that run long-lived work: not finished, not owned by a Job.
fn is_serving(pod: &Pod) -> bool {
    let finished = matches!(pod.status.phase.as_deref(), Some("Succeeded" | "Failed"));
    let job = pod.controller().is_some_and(|o| o.kind == "Job");
    !finished && !job
}

fn containers<'a>(
    input: &AnalysisInput<'a>,
) -> impl Iterator<Item = (&'a PodInventory, usize, &'a Pod, usize, &'a Container)> {
    input.pods.into_iter().flat_map(|inv| {
        inv.pods.iter().enumerate().flat_map(move |(pi, pod)| {
            pod.spec
                .containers
                .iter()
                .enumerate()
                .map(move |(ci, c)| (inv, pi, pod, ci, c))
        })
    })
}

// ---------------------------------------------------------------------------------------------

/// P-PROBES: readiness or liveness probe missing, or both identical → warn.
pub struct Probes;

const PROBES: Meta = Meta {
    id: "P-PROBES",
    explanation: "Without a readiness probe a pod receives traffic as soon as its process starts and keeps \
                  receiving it while it is broken; without a liveness probe a hung process is never restarted. \
                  Identical probes restart a container exactly when it stops being ready (e.g. under load), \
                  turning a slowdown into a restart storm.",
    remedy: "Add a readiness probe that checks the service can answer, and a cheaper liveness probe (different \
             endpoint or higher failureThreshold) that only fails when the process is stuck.",
    reference: "Popeye POP-102/103/104; kube-score pod-probes; Polaris readinessProbeMissing/livenessProbeMissing",
};

impl Rule for Probes {
    fn id(&self) -> &'static str {
        PROBES.id
    }
    fn summary(&self) -> &'static str {
        "readiness/liveness probe missing or identical (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            if !is_serving(pod) {
                continue;
            }
            let base = format!("/spec/containers/{ci}");
            let mut problems = Vec::new();
            let mut evidence = Vec::new();
            if c.readiness_probe.is_none() {
                problems.push("no readiness probe");
                evidence.push(Evidence::new(
                    "readinessProbe",
                    "missing",
                    "present",
                    pod_source(inv, pi, &base),
                ));
            }
            if c.liveness_probe.is_none() {
                problems.push("no liveness probe");
                evidence.push(Evidence::new(
                    "livenessProbe",
                    "missing",
                    "present",
                    pod_source(inv, pi, &base),
                ));
            }
            if let (Some(r), Some(l)) = (&c.readiness_probe, &c.liveness_probe)
                && r == l
            {
                problems.push("identical readiness and liveness probes");
                evidence.push(Evidence::new(
                    "livenessProbe == readinessProbe",
                    serde_json::to_string(l).unwrap_or_default(),
                    "different",
                    pod_source(inv, pi, &format!("{base}/livenessProbe")),
                ));
            }
            if problems.is_empty() {
                continue;
            }
            out.push(PROBES.finding(
                Severity::Warn,
                container_subject(pod, &c.name),
                format!(
                    "{} container {}: {}",
                    pod.full_name(),
                    c.name,
                    problems.join(", ")
                ),
                evidence,
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// P-RESOURCES: CPU or memory request missing, or memory limit missing → warn.
///
/// A missing CPU *limit* is not flagged: CPU limits cause throttling (CG-CPU-THROTTLE) and
/// running with requests only is a common, deliberate choice.
pub struct Resources;

const RESOURCES: Meta = Meta {
    id: "P-RESOURCES",
    explanation: "The scheduler places pods by their requests: without them a pod lands on a node that has no \
                  room for it, and it is the first to be evicted (BestEffort). Without a memory limit a leak \
                  grows until the node runs out and the kubelet or kernel kills other workloads.",
    remedy: "Set resources.requests.cpu and .memory to the usual use, and resources.limits.memory to the peak \
             plus headroom (equal to the request for Guaranteed QoS).",
    reference: "Popeye POP-106/107; Polaris cpuRequestsMissing, memoryRequestsMissing, memoryLimitsMissing",
};

impl Rule for Resources {
    fn id(&self) -> &'static str {
        RESOURCES.id
    }
    fn summary(&self) -> &'static str {
        "CPU/memory requests or memory limit missing (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            let source = pod_source(inv, pi, &format!("/spec/containers/{ci}/resources"));
            let mut missing = Vec::new();
            for (map, key, label) in [
                (&c.resources.requests, "cpu", "requests.cpu"),
                (&c.resources.requests, "memory", "requests.memory"),
                (&c.resources.limits, "memory", "limits.memory"),
            ] {
                if !map.contains_key(key) {
                    missing.push(label);
                }
            }
            if missing.is_empty() {
                continue;
            }
            let mut evidence: Vec<Evidence> = missing
                .iter()
                .map(|m| Evidence::new(format!("resources.{m}"), "missing", "present", &source))
                .collect();
            for (kind, map) in [
                ("requests", &c.resources.requests),
                ("limits", &c.resources.limits),
            ] {
                if !map.is_empty() {
                    let set: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    evidence.push(Evidence::context(
                        format!("resources.{kind} set"),
                        set.join(", "),
                        &source,
                    ));
                }
            }
            out.push(RESOURCES.finding(
                Severity::Warn,
                container_subject(pod, &c.name),
                format!(
                    "{} container {}: no {}",
                    pod.full_name(),
                    c.name,
                    missing.join(", ")
                ),
                evidence,
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// The parts of an image reference: `registry/repo/name:tag@sha256:…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef<'a> {
    /// Everything before the tag and digest.
    pub name: &'a str,
    pub tag: Option<&'a str>,
    pub digest: Option<&'a str>,
}

/// Split an image reference. The tag is the part after the last `:` of the last path component
/// (a `:` before that is a registry port).
pub fn parse_image(image: &str) -> ImageRef<'_> {
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    let last_slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            ImageRef {
                name: &rest[..at],
                tag: Some(&rest[at + 1..]).filter(|t| !t.is_empty()),
                digest,
            }
        }
        None => ImageRef {
            name: rest,
            tag: None,
            digest,
        },
    }
}

/// P-IMAGE-TAG: untagged image → crit; `:latest` → warn.
pub struct ImageTag;

const IMAGE_TAG: Meta = Meta {
    id: "P-IMAGE-TAG",
    explanation: "An image without a tag means `:latest`. A moving tag is resolved when each node pulls it, so \
                  replicas on different nodes run different builds, a rollback redeploys whatever the tag points \
                  at now, and with imagePullPolicy IfNotPresent a node keeps running an old build indefinitely.",
    remedy: "Deploy an immutable version tag or, better, pin the digest (image: repo:1.4.2@sha256:…).",
    reference: "Popeye POP-100/101; Polaris tagNotSpecified, pullPolicyNotAlways",
};

impl Rule for ImageTag {
    fn id(&self) -> &'static str {
        IMAGE_TAG.id
    }
    fn summary(&self) -> &'static str {
        "image untagged (crit) or :latest (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            let image = parse_image(&c.image);
            if image.digest.is_some() || c.image.is_empty() {
                continue;
            }
            let (severity, what) = match image.tag {
                None => (Severity::Crit, "has no tag (runs whatever :latest is)"),
                Some("latest") => (Severity::Warn, "uses the moving tag :latest"),
                Some(_) => continue,
            };
            let base = format!("/spec/containers/{ci}");
            let policy = c
                .image_pull_policy
                .clone()
                .unwrap_or_else(|| "(default)".into());
            out.push(IMAGE_TAG.finding(
                severity,
                container_subject(pod, &c.name),
                format!(
                    "{} container {}: image {} {what}",
                    pod.full_name(),
                    c.name,
                    c.image
                ),
                vec![
                    Evidence::new(
                        "image",
                        c.image.clone(),
                        "a version tag or digest",
                        pod_source(inv, pi, &format!("{base}/image")),
                    ),
                    Evidence::context(
                        "imagePullPolicy",
                        policy,
                        pod_source(inv, pi, &format!("{base}/imagePullPolicy")),
                    ),
                ],
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// The digest part of a `containerStatuses[].imageID` (`docker-pullable://repo@sha256:…`).
fn running_digest(status: &ContainerStatus) -> Option<&str> {
    let id = status.image_id.as_str();
    match id.rsplit_once('@') {
        Some((_, d)) => Some(d),
        None if id.starts_with("sha256:") => Some(id),
        None => None,
    }
}

/// P-DIGEST-DRIFT: replicas of one owner running different digests for the same image → warn.
pub struct DigestDrift;

const DIGEST_DRIFT: Meta = Meta {
    id: "P-DIGEST-DRIFT",
    explanation: "Replicas of one workload run the same image reference but different image contents: the tag \
                  was pushed again and nodes pulled it at different times. Requests then hit different builds \
                  depending on the replica — bugs that appear on some pods only.",
    remedy: "Pin the image by digest or deploy a new immutable tag per build; roll the workload so all replicas \
             pull the same content; use imagePullPolicy Always only together with immutable tags.",
    reference: "shared image tags re-pushed under load (incident pattern)",
};

impl Rule for DigestDrift {
    fn id(&self) -> &'static str {
        DIGEST_DRIFT.id
    }
    fn summary(&self) -> &'static str {
        "replicas of one owner with different digests for one image (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(inv) = input.pods else { return vec![] };
        // (namespace, owner kind, owner name, container, spec image) → digest → pods (index, name).
        type Key = (String, String, String, String, String);
        let mut groups: BTreeMap<Key, BTreeMap<String, Vec<(usize, String)>>> = BTreeMap::new();
        for (pi, pod) in inv.pods.iter().enumerate() {
            let Some(owner) = pod.controller() else {
                continue;
            };
            for status in &pod.status.container_statuses {
                let Some(digest) = running_digest(status) else {
                    continue;
                };
                let spec_image = pod
                    .spec
                    .containers
                    .iter()
                    .find(|c| c.name == status.name)
                    .map(|c| c.image.clone())
                    .unwrap_or_else(|| status.image.clone());
                if parse_image(&spec_image).digest.is_some() {
                    continue; // pinned: cannot drift
                }
                let key = (
                    pod.metadata.namespace().to_string(),
                    owner.kind.clone(),
                    owner.name.clone(),
                    status.name.clone(),
                    spec_image,
                );
                groups
                    .entry(key)
                    .or_default()
                    .entry(digest.to_string())
                    .or_default()
                    .push((pi, pod.metadata.name.clone()));
            }
        }
        let mut out = Vec::new();
        for ((ns, kind, owner, container, image), digests) in groups {
            if digests.len() < 2 {
                continue;
            }
            let mut evidence = vec![Evidence::new(
                "distinct digests running",
                digests.len().to_string(),
                "1",
                inv.pods_source.clone(),
            )];
            for (digest, pods) in &digests {
                let names: Vec<&str> = pods.iter().map(|(_, n)| n.as_str()).collect();
                let (pi, _) = &pods[0];
                let ci = inv.pods[*pi]
                    .status
                    .container_statuses
                    .iter()
                    .position(|s| s.name == container)
                    .unwrap_or(0);
                evidence.push(Evidence::context(
                    format!("{} on {} pod(s)", short_digest(digest), pods.len()),
                    names.join(", "),
                    pod_source(inv, *pi, &format!("/status/containerStatuses/{ci}/imageID")),
                ));
            }
            out.push(DIGEST_DRIFT.finding(
                Severity::Warn,
                format!("{kind} {ns}/{owner} container {container}"),
                format!(
                    "{kind} {ns}/{owner}: image {image} runs as {} different digests",
                    digests.len()
                ),
                evidence,
            ));
        }
        out
    }
}

fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

// ---------------------------------------------------------------------------------------------

/// Containers of `pod` that serve traffic: those declaring ports, or all when none does.
fn serving_containers(pod: &Pod) -> Vec<(usize, &Container)> {
    let with_ports: Vec<_> = pod
        .spec
        .containers
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.ports.is_empty())
        .collect();
    if with_ports.is_empty() {
        pod.spec.containers.iter().enumerate().collect()
    } else {
        with_ports
    }
}

/// P-NO-PRESTOP: a container behind a Service without a preStop hook → warn.
pub struct NoPreStop;

const NO_PRESTOP: Meta = Meta {
    id: "P-NO-PRESTOP",
    explanation: "When a pod is deleted, the kubelet sends the stop signal while kube-proxy, ingress controllers \
                  and load balancers are still removing it from the Service's endpoints, in parallel. Without a \
                  preStop delay the process stops accepting connections before traffic stops arriving: clients \
                  get connection resets and 502/503s on every rollout.",
    remedy: "Add a short preStop delay so endpoint removal wins the race: lifecycle.preStop.sleep.seconds: 5 \
             (native since 1.34) or exec [\"sleep\", \"5\"], well below terminationGracePeriodSeconds.",
    reference: "pod lifecycle docs (termination of pods); KEP-1669 / KEP-3960 (sleep action)",
};

impl Rule for NoPreStop {
    fn id(&self) -> &'static str {
        NO_PRESTOP.id
    }
    fn summary(&self) -> &'static str {
        "container behind a Service with no preStop hook (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(inv) = input.pods else { return vec![] };
        let mut out = Vec::new();
        for (pi, pod) in inv.pods.iter().enumerate() {
            if !is_serving(pod) {
                continue;
            }
            let services: Vec<&str> = inv
                .services
                .iter()
                .filter(|s| s.selects(pod))
                .map(|s| s.metadata.name.as_str())
                .collect();
            if services.is_empty() {
                continue;
            }
            for (ci, c) in serving_containers(pod) {
                if c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some()) {
                    continue;
                }
                out.push(NO_PRESTOP.finding(
                    Severity::Warn,
                    container_subject(pod, &c.name),
                    format!(
                        "{} container {} serves Service {} but has no preStop hook",
                        pod.full_name(),
                        c.name,
                        services.join(", ")
                    ),
                    vec![
                        Evidence::new(
                            "lifecycle.preStop",
                            "missing",
                            "present",
                            pod_source(inv, pi, &format!("/spec/containers/{ci}")),
                        ),
                        Evidence::context(
                            "selected by Service",
                            services.join(", "),
                            inv.services_source.clone(),
                        ),
                        Evidence::context(
                            "terminationGracePeriodSeconds",
                            pod.spec.grace_period_seconds().to_string(),
                            pod_source(inv, pi, "/spec/terminationGracePeriodSeconds"),
                        ),
                    ],
                ));
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// Seconds a preStop handler sleeps: the native `sleep` action, or `sleep N` in an exec command
/// (summed when there are several). `None` when it does not sleep.
pub fn pre_stop_sleep_seconds(handler: &LifecycleHandler) -> Option<f64> {
    if let Some(sleep) = handler.sleep.as_ref() {
        return Some(sleep.seconds as f64);
    }
    let command = handler.exec.as_ref()?.command.join(" ");
    let tokens: Vec<&str> = command
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
        .filter(|t| !t.is_empty())
        .collect();
    let mut total = None;
    for pair in tokens.windows(2) {
        let program = pair[0].rsplit('/').next().unwrap_or(pair[0]);
        if program != "sleep" {
            continue;
        }
        if let Some(seconds) = parse_sleep_duration(pair[1]) {
            total = Some(total.unwrap_or(0.0) + seconds);
        }
    }
    total
}

/// `5`, `5s`, `1.5`, `2m`, `1h`, `1d` as GNU sleep reads them.
fn parse_sleep_duration(text: &str) -> Option<f64> {
    let text = text.trim_matches(|c| c == '"' || c == '\'');
    let (number, factor) = match text.chars().last()? {
        's' => (&text[..text.len() - 1], 1.0),
        'm' => (&text[..text.len() - 1], 60.0),
        'h' => (&text[..text.len() - 1], 3600.0),
        'd' => (&text[..text.len() - 1], 86400.0),
        _ => (text, 1.0),
    };
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value * factor)
}

/// P-GRACE: preStop sleep ≥ terminationGracePeriodSeconds → crit.
pub struct Grace;

const GRACE: Meta = Meta {
    id: "P-GRACE",
    explanation: "The grace period covers the preStop hook and the stop signal together. A preStop sleep as long \
                  as the grace period uses all of it: the process never gets its stop signal in time and is \
                  SIGKILLed mid-request when the period ends — no graceful shutdown at all.",
    remedy: "Keep the preStop sleep short (about 5 s) and set terminationGracePeriodSeconds to the sleep plus the \
             time the application needs to drain.",
    reference: "pod lifecycle docs: preStop runs within terminationGracePeriodSeconds (default 30)",
};

impl Rule for Grace {
    fn id(&self) -> &'static str {
        GRACE.id
    }
    fn summary(&self) -> &'static str {
        "preStop sleep ≥ terminationGracePeriodSeconds (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            let Some(pre_stop) = c.lifecycle.as_ref().and_then(|l| l.pre_stop.as_ref()) else {
                continue;
            };
            let Some(sleep) = pre_stop_sleep_seconds(pre_stop) else {
                continue;
            };
            let grace = pod.spec.grace_period_seconds();
            if sleep < grace as f64 {
                continue;
            }
            let grace_label = if pod.spec.termination_grace_period_seconds.is_some() {
                format!("{grace} s")
            } else {
                format!("{grace} s (default)")
            };
            out.push(GRACE.finding(
                Severity::Crit,
                container_subject(pod, &c.name),
                format!(
                    "{} container {}: preStop sleeps {sleep} s of a {grace} s grace period",
                    pod.full_name(),
                    c.name
                ),
                vec![
                    Evidence::new(
                        "preStop sleep",
                        format!("{sleep} s"),
                        format!("< terminationGracePeriodSeconds ({grace_label})"),
                        pod_source(inv, pi, &format!("/spec/containers/{ci}/lifecycle/preStop")),
                    ),
                    Evidence::context(
                        "terminationGracePeriodSeconds",
                        grace_label,
                        pod_source(inv, pi, "/spec/terminationGracePeriodSeconds"),
                    ),
                ],
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

fn is_nginx(c: &Container) -> bool {
    let name = parse_image(&c.image).name;
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains("nginx")
        || c.command
            .first()
            .is_some_and(|p| p.rsplit('/').next() == Some("nginx"))
}

/// The official image (`nginx`, `docker.io/library/nginx`) sets STOPSIGNAL SIGQUIT.
fn is_official_nginx(image: &str) -> bool {
    matches!(
        parse_image(image).name,
        "nginx"
            | "library/nginx"
            | "docker.io/library/nginx"
            | "docker.io/nginx"
            | "mirror.gcr.io/library/nginx"
    )
}

/// P-STOPSIGNAL: nginx stopped with SIGTERM and no `nginx -s quit` preStop → info.
pub struct StopSignal;

const STOP_SIGNAL: Meta = Meta {
    id: "P-STOPSIGNAL",
    explanation: "nginx treats TERM and INT as fast shutdown: it closes open connections at once, so requests in \
                  flight end in 502s at the client or proxy. QUIT is its graceful shutdown. The official image sets \
                  STOPSIGNAL SIGQUIT, but images built another way (or an explicit stopSignal) send SIGTERM.",
    remedy: "Add lifecycle.preStop exec [\"/bin/sh\", \"-c\", \"sleep 5 && nginx -s quit\"] (or set \
             lifecycle.stopSignal: SIGQUIT on 1.33+, or STOPSIGNAL SIGQUIT in the image).",
    reference: "nginx control docs (TERM, INT fast shutdown; QUIT graceful); official nginx image STOPSIGNAL",
};

impl Rule for StopSignal {
    fn id(&self) -> &'static str {
        STOP_SIGNAL.id
    }
    fn summary(&self) -> &'static str {
        "nginx with SIGTERM as stop signal and no `nginx -s quit` preStop (info)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            if !is_nginx(c) {
                continue;
            }
            let quits = c
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(|h| h.exec.as_ref())
                .is_some_and(|e| {
                    let cmd = e.command.join(" ");
                    cmd.contains("nginx -s quit")
                        || cmd.contains("kill -QUIT")
                        || cmd.contains("kill -s QUIT")
                });
            if quits {
                continue;
            }
            let status_signal = pod
                .status
                .container_statuses
                .iter()
                .find(|s| s.name == c.name)
                .and_then(|s| s.stop_signal.clone());
            let (signal, origin, source) = match (
                c.lifecycle.as_ref().and_then(|l| l.stop_signal.clone()),
                status_signal,
            ) {
                (Some(s), _) => (
                    s,
                    "lifecycle.stopSignal",
                    pod_source(
                        inv,
                        pi,
                        &format!("/spec/containers/{ci}/lifecycle/stopSignal"),
                    ),
                ),
                (None, Some(s)) => (
                    s,
                    "status stopSignal",
                    pod_source(inv, pi, "/status/containerStatuses"),
                ),
                (None, None) if is_official_nginx(&c.image) => continue,
                (None, None) => (
                    "SIGTERM (unless the image sets STOPSIGNAL)".to_string(),
                    "image default",
                    pod_source(inv, pi, &format!("/spec/containers/{ci}/image")),
                ),
            };
            if !signal.to_ascii_uppercase().contains("TERM") {
                continue;
            }
            out.push(STOP_SIGNAL.finding(
                Severity::Info,
                container_subject(pod, &c.name),
                format!("{} container {}: nginx stops with {signal}: fast shutdown drops requests in flight", pod.full_name(), c.name),
                vec![
                    Evidence::new(format!("stop signal ({origin})"), signal.clone(), "SIGQUIT or preStop `nginx -s quit`", source),
                    Evidence::context("image", c.image.clone(), pod_source(inv, pi, &format!("/spec/containers/{ci}/image"))),
                ],
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// P-PDB: more than one replica and no PDB, or a PDB that allows no disruption → warn.
pub struct Pdb;

const PDB: Meta = Meta {
    id: "P-PDB",
    explanation: "A PodDisruptionBudget tells node drains (upgrades, autoscaler scale-down) how many replicas may \
                  be evicted at once. Without one, a drain can evict every replica together and the service goes \
                  down; a PDB that allows zero disruptions blocks drains forever and node upgrades stall.",
    remedy: "Add a PDB with maxUnavailable: 1 (or minAvailable below the replica count) selecting the workload's \
             pods.",
    reference: "Popeye POP-206; kube-score poddisruptionbudget; Polaris",
};

impl Rule for Pdb {
    fn id(&self) -> &'static str {
        PDB.id
    }
    fn summary(&self) -> &'static str {
        "replicas > 1 and no PDB, or a PDB allowing 0 disruptions (warn)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(inv) = input.pods else { return vec![] };
        let mut groups: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
        for (pi, pod) in inv.pods.iter().enumerate() {
            let Some(owner) = pod.controller() else {
                continue;
            };
            if !is_serving(pod) || owner.kind == "DaemonSet" || owner.kind == "Node" {
                continue;
            }
            groups
                .entry((
                    pod.metadata.namespace().to_string(),
                    owner.kind.clone(),
                    owner.name.clone(),
                ))
                .or_default()
                .push(pi);
        }
        let mut out = Vec::new();
        for ((ns, kind, owner), members) in groups {
            let replicas = members.len() as i64;
            let first = &inv.pods[members[0]];
            let subject = format!("{kind} {ns}/{owner}");
            let covering: Vec<(usize, &crate::pod::PodDisruptionBudget)> = inv
                .pod_disruption_budgets
                .iter()
                .enumerate()
                .filter(|(_, p)| p.covers(first))
                .collect();
            let pdb_source = |i: usize| {
                let member = if inv.pdbs_source.is_empty() {
                    "kubernetes/pdbs.json"
                } else {
                    &inv.pdbs_source
                };
                format!("{member}#/items/{i}")
            };
            if covering.is_empty() {
                if replicas > 1 {
                    out.push(PDB.finding(
                        Severity::Warn,
                        subject,
                        format!("{kind} {ns}/{owner} runs {replicas} replicas with no PodDisruptionBudget"),
                        vec![
                            Evidence::new("PodDisruptionBudgets selecting its pods", "0", "≥ 1 when replicas > 1", inv.pdbs_source.clone()),
                            Evidence::context("replicas seen", replicas.to_string(), pod_source(inv, members[0], "/metadata/ownerReferences")),
                        ],
                    ));
                }
                continue;
            }
            for (i, pdb) in covering {
                let Some(why) = blocks_all_disruptions(pdb, replicas) else {
                    continue;
                };
                out.push(PDB.finding(
                    Severity::Warn,
                    subject.clone(),
                    format!(
                        "PodDisruptionBudget {ns}/{} allows no disruption of {kind} {owner}: {why}",
                        pdb.metadata.name
                    ),
                    vec![
                        Evidence::new("allowed disruptions", why.clone(), "≥ 1", pdb_source(i)),
                        Evidence::context(
                            "replicas seen",
                            replicas.to_string(),
                            pod_source(inv, members[0], "/metadata/ownerReferences"),
                        ),
                    ],
                ));
            }
        }
        out
    }
}

/// Why a PDB allows no voluntary disruption, when it does not.
fn blocks_all_disruptions(pdb: &crate::pod::PodDisruptionBudget, replicas: i64) -> Option<String> {
    use crate::pod::IntOrString;
    let zero_percent = |s: &str| {
        s.trim_end_matches('%')
            .trim()
            .parse::<f64>()
            .is_ok_and(|v| v <= 0.0)
    };
    match &pdb.spec.max_unavailable {
        Some(IntOrString::Int(0)) => return Some("maxUnavailable: 0".into()),
        Some(IntOrString::String(s)) if zero_percent(s) => {
            return Some(format!("maxUnavailable: {s}"));
        }
        _ => {}
    }
    match &pdb.spec.min_available {
        Some(IntOrString::Int(n)) if *n >= replicas => {
            return Some(format!("minAvailable: {n} with {replicas} replicas"));
        }
        Some(IntOrString::String(s)) if s.trim() == "100%" => {
            return Some("minAvailable: 100%".into());
        }
        _ => {}
    }
    match &pdb.status {
        Some(status) if status.disruptions_allowed <= 0 && status.expected_pods > 0 => {
            Some(format!(
                "status.disruptionsAllowed: {} ({} of {} healthy, {} required)",
                status.disruptions_allowed,
                status.current_healthy,
                status.expected_pods,
                status.desired_healthy
            ))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------

/// P-ROOT-PRIV: a privileged container, or one that may run as root → crit.
pub struct RootPrivileged;

const ROOT_PRIV: Meta = Meta {
    id: "P-ROOT-PRIV",
    explanation: "A privileged container has every capability and the host's devices: escaping it is trivial. A \
                  container running as uid 0 turns any code-execution bug or container escape into root on the \
                  node. Without runAsNonRoot the image's USER decides, and most images default to root.",
    remedy: "Drop privileged; set securityContext.runAsNonRoot: true and runAsUser to a non-zero uid (pod or \
             container level), allowPrivilegeEscalation: false and capabilities.drop: [ALL].",
    reference: "Popeye POP-302/306; Polaris runAsRootAllowed, runAsPrivileged",
};

impl Rule for RootPrivileged {
    fn id(&self) -> &'static str {
        ROOT_PRIV.id
    }
    fn summary(&self) -> &'static str {
        "privileged, or may run as root (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        for (inv, pi, pod, ci, c) in containers(input) {
            let sc = c.security_context.as_ref();
            let psc = pod.spec.security_context.as_ref();
            let base = format!("/spec/containers/{ci}/securityContext");
            let mut evidence = Vec::new();
            let mut problems = Vec::new();
            if sc.and_then(|s| s.privileged) == Some(true) {
                problems.push("privileged".to_string());
                evidence.push(Evidence::new(
                    "securityContext.privileged",
                    "true",
                    "false",
                    pod_source(inv, pi, &format!("{base}/privileged")),
                ));
            }
            let run_as_user = sc
                .and_then(|s| s.run_as_user)
                .or(psc.and_then(|p| p.run_as_user));
            let non_root = sc
                .and_then(|s| s.run_as_non_root)
                .or(psc.and_then(|p| p.run_as_non_root));
            match (run_as_user, non_root) {
                (Some(0), _) => {
                    problems.push("runs as root (runAsUser: 0)".into());
                    evidence.push(Evidence::new(
                        "runAsUser",
                        "0",
                        "non-zero",
                        pod_source(inv, pi, &base),
                    ));
                }
                (Some(_), _) | (None, Some(true)) => {}
                (None, _) => {
                    problems.push("may run as root (no runAsNonRoot, no runAsUser)".into());
                    evidence.push(Evidence::new(
                        "runAsNonRoot / runAsUser",
                        "unset",
                        "runAsNonRoot: true or runAsUser > 0",
                        pod_source(inv, pi, &base),
                    ));
                }
            }
            if problems.is_empty() {
                continue;
            }
            out.push(ROOT_PRIV.finding(
                Severity::Crit,
                container_subject(pod, &c.name),
                format!(
                    "{} container {}: {}",
                    pod.full_name(),
                    c.name,
                    problems.join("; ")
                ),
                evidence,
            ));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------

/// P-RESTARTS: restartCount > 3 warn; CrashLoopBackOff crit; last termination OOMKilled crit.
pub struct Restarts;

/// Warn above this many restarts.
pub const RESTARTS_WARN: i64 = 3;

const RESTARTS: Meta = Meta {
    id: "P-RESTARTS",
    explanation: "Restarts mean the container exited or was killed: crashes, failed liveness probes or OOM kills \
                  at the memory limit. CrashLoopBackOff means it keeps failing and the kubelet waits longer and \
                  longer before the next try: the container is down most of the time.",
    remedy: "Read the previous container's log (kubectl logs --previous) and its last termination reason; for \
             OOMKilled raise the memory limit or fix the memory growth (heap dump); for probe failures check \
             the probe against start-up time.",
    reference: "Popeye container restarts; kubernetes-mixin KubePodCrashLooping",
};

impl Rule for Restarts {
    fn id(&self) -> &'static str {
        RESTARTS.id
    }
    fn summary(&self) -> &'static str {
        "restartCount > 3 (warn); CrashLoopBackOff or last state OOMKilled (crit)"
    }
    fn reads(&self) -> &'static [Input] {
        PODS
    }
    fn evaluate(&self, input: &AnalysisInput<'_>) -> Vec<Finding> {
        let Some(inv) = input.pods else { return vec![] };
        let mut out = Vec::new();
        for (pi, pod) in inv.pods.iter().enumerate() {
            for (si, status) in pod.status.container_statuses.iter().enumerate() {
                let base = format!("/status/containerStatuses/{si}");
                let mut severity = None;
                let mut evidence = Vec::new();
                let mut problems = Vec::new();
                let waiting = status
                    .state
                    .waiting
                    .as_ref()
                    .and_then(|w| w.reason.as_deref());
                if waiting == Some("CrashLoopBackOff") {
                    severity = Some(Severity::Crit);
                    problems.push("CrashLoopBackOff".to_string());
                    evidence.push(Evidence::new(
                        "state.waiting.reason",
                        "CrashLoopBackOff",
                        "not CrashLoopBackOff",
                        pod_source(inv, pi, &format!("{base}/state/waiting")),
                    ));
                }
                let oom = [("lastState", &status.last_state), ("state", &status.state)]
                    .into_iter()
                    .find_map(|(field, state)| {
                        state
                            .terminated
                            .as_ref()
                            .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
                            .map(|t| (field, t))
                    });
                if let Some((field, t)) = oom {
                    severity = Some(Severity::Crit);
                    problems.push("OOMKilled".to_string());
                    let when = t
                        .finished_at
                        .clone()
                        .unwrap_or_else(|| "unknown time".into());
                    evidence.push(Evidence::new(
                        format!("{field}.terminated.reason"),
                        format!("OOMKilled (exit {}, at {when})", t.exit_code),
                        "not OOMKilled",
                        pod_source(inv, pi, &format!("{base}/{field}/terminated")),
                    ));
                }
                if status.restart_count > RESTARTS_WARN {
                    severity = severity.or(Some(Severity::Warn));
                    problems.push(format!("{} restarts", status.restart_count));
                }
                let Some(severity) = severity else { continue };
                evidence.push(Evidence::new(
                    "restartCount",
                    status.restart_count.to_string(),
                    "> 3 warn",
                    pod_source(inv, pi, &format!("{base}/restartCount")),
                ));
                if let Some(t) = status
                    .last_state
                    .terminated
                    .as_ref()
                    .filter(|_| oom.is_none())
                {
                    evidence.push(Evidence::context(
                        "last termination",
                        format!(
                            "{} (exit {})",
                            t.reason.as_deref().unwrap_or("?"),
                            t.exit_code
                        ),
                        pod_source(inv, pi, &format!("{base}/lastState/terminated")),
                    ));
                }
                out.push(RESTARTS.finding(
                    severity,
                    container_subject(pod, &status.name),
                    format!(
                        "{} container {}: {}",
                        pod.full_name(),
                        status.name,
                        problems.join(", ")
                    ),
                    evidence,
                ));
            }
        }
        out
    }
}

/// Namespaces of the inventory, for the report.
pub fn namespaces(inv: &PodInventory) -> BTreeSet<String> {
    inv.pods
        .iter()
        .map(|p| p.metadata.namespace().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pod::*;

    #[test]
    fn image_references() {
        assert_eq!(
            parse_image("nginx"),
            ImageRef {
                name: "nginx",
                tag: None,
                digest: None
            }
        );
        assert_eq!(parse_image("nginx:latest").tag, Some("latest"));
        assert_eq!(
            parse_image("registry:5000/team/app").tag,
            None,
            "a port is not a tag"
        );
        assert_eq!(parse_image("registry:5000/team/app:1.2").tag, Some("1.2"));
        let pinned = parse_image("ghcr.io/x/app:1.2@sha256:abcd");
        assert_eq!(
            (pinned.name, pinned.tag, pinned.digest),
            ("ghcr.io/x/app", Some("1.2"), Some("sha256:abcd"))
        );
    }

    fn exec(cmd: &[&str]) -> LifecycleHandler {
        LifecycleHandler {
            exec: Some(ExecAction {
                command: cmd.iter().map(|s| s.to_string()).collect(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pre_stop_sleeps() {
        assert_eq!(pre_stop_sleep_seconds(&exec(&["sleep", "5"])), Some(5.0));
        assert_eq!(
            pre_stop_sleep_seconds(&exec(&["/bin/sh", "-c", "sleep 35 && nginx -s quit"])),
            Some(35.0)
        );
        assert_eq!(
            pre_stop_sleep_seconds(&exec(&["/bin/sh", "-c", "sleep 1m; /usr/bin/sleep 2s"])),
            Some(62.0)
        );
        assert_eq!(
            pre_stop_sleep_seconds(&exec(&["nginx", "-s", "quit"])),
            None
        );
        let native = LifecycleHandler {
            sleep: Some(SleepAction { seconds: 30 }),
            ..Default::default()
        };
        assert_eq!(pre_stop_sleep_seconds(&native), Some(30.0));
    }

    #[test]
    fn selectors() {
        let labels: BTreeMap<String, String> = [
            ("app".to_string(), "web".to_string()),
            ("tier".into(), "fe".into()),
        ]
        .into();
        let sel = |json: &str| serde_json::from_str::<LabelSelector>(json).unwrap();
        assert!(sel(r#"{"matchLabels":{"app":"web"}}"#).matches(&labels));
        assert!(!sel(r#"{"matchLabels":{"app":"api"}}"#).matches(&labels));
        assert!(
            sel(r#"{"matchExpressions":[{"key":"tier","operator":"In","values":["fe","be"]}]}"#)
                .matches(&labels)
        );
        assert!(
            !sel(r#"{"matchExpressions":[{"key":"tier","operator":"NotIn","values":["fe"]}]}"#)
                .matches(&labels)
        );
        assert!(
            sel(r#"{"matchExpressions":[{"key":"canary","operator":"DoesNotExist"}]}"#)
                .matches(&labels)
        );
        assert!(
            !sel(r#"{"matchExpressions":[{"key":"tier","operator":"Bogus"}]}"#).matches(&labels)
        );
    }
}
