//! What a test pod is: parsed from `NAME[,key=value…]:COMMAND`.
//!
//! Keys with a meaning (everything else is a label):
//! - `container=NAME` — the container's name (default `main`)
//! - `image=REF` — the image reported in the spec and status (default `local/NAME:latest`)
//! - `namespace=NS` — the namespace (default `default`)
//! - `restart=Always|Never` — restart policy (default `Always`: a crashing command restarts with
//!   back-off, and its previous log stays readable with `previous=true`)
//! - `deploy=NAME`, `sts=NAME`, `ds=NAME` — the owning workload; the server serves that workload
//!   (and a ReplicaSet for a Deployment) with a selector on the pods' common labels
//! - `replicas=N` — start N pods named `NAME-0` … `NAME-{N-1}`
//! - `port=NAME/NUMBER` — a declared container port (pods share the host network)
//! - `annotation.KEY=VALUE` — an annotation (e.g. `annotation.prometheus.io/port=9100`)
//! - `env.KEY=VALUE` — an environment variable (no `:` in the value; use `path-prepend`)
//! - `path-prepend=DIR` — put DIR first on the container's PATH (a "malicious image" shipping its
//!   own `tar`); DIR is visible inside the container even under the host's `/tmp`, which the
//!   container's private `/tmp` would otherwise hide
//! - `secret-env=NAME/SECRET/KEY` — an env var from a `secretKeyRef` (the value is never set)
//! - `requests.cpu=…`, `requests.memory=…`, `limits.cpu=…`, `limits.memory=…` — resources
//! - `privileged=true` — a privileged security context

use std::collections::BTreeMap;

/// One container of a test pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Run as `/bin/sh -c COMMAND` inside the pod's namespaces.
    pub command: String,
    pub env: Vec<(String, String)>,
    /// (env name, secret name, secret key): rendered as `secretKeyRef`, never given a value.
    pub secret_env: Vec<(String, String, String)>,
    pub path_prepend: Option<String>,
    pub ports: Vec<(String, u16)>,
    pub requests: BTreeMap<String, String>,
    pub limits: BTreeMap<String, String>,
    pub privileged: bool,
}

/// The workload that owns a pod.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Owner {
    Deployment(String),
    StatefulSet(String),
    DaemonSet(String),
}

impl Owner {
    /// The workload's name.
    pub fn name(&self) -> &str {
        match self {
            Owner::Deployment(n) | Owner::StatefulSet(n) | Owner::DaemonSet(n) => n,
        }
    }
}

/// One test pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpec {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub restart_always: bool,
    pub owner: Option<Owner>,
    pub containers: Vec<ContainerSpec>,
}

/// A `--pod` or `--container` argument that cannot be understood.
#[derive(Debug, thiserror::Error)]
#[error("pod spec `{spec}`: {message} (expected NAME[,key=value…]:COMMAND)")]
pub struct SpecError {
    pub spec: String,
    pub message: String,
}

fn spec_error(spec: &str, message: impl Into<String>) -> SpecError {
    SpecError {
        spec: spec.to_string(),
        message: message.into(),
    }
}

/// Split `HEAD:COMMAND` at the first `:` that is not the tag or digest separator of an
/// `image=` value (`image=busybox:1.36` keeps its tag).
fn split_head(spec: &str) -> Option<(&str, &str)> {
    let mut item_start = 0;
    let mut image_colon_used = false;
    for (i, c) in spec.char_indices() {
        match c {
            ',' => {
                item_start = i + 1;
                image_colon_used = false;
            }
            ':' => {
                if spec[item_start..i].starts_with("image=") && !image_colon_used {
                    image_colon_used = true;
                    continue;
                }
                return Some((&spec[..i], &spec[i + 1..]));
            }
            _ => {}
        }
    }
    None
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !name.starts_with('-')
}

impl PodSpec {
    /// Parse `NAME[,key=value…]:COMMAND`; `replicas=N` expands to N specs.
    pub fn parse(spec: &str) -> Result<Vec<PodSpec>, SpecError> {
        let (head, command) =
            split_head(spec).ok_or_else(|| spec_error(spec, "no `:` before the command"))?;
        if command.trim().is_empty() {
            return Err(spec_error(spec, "the command is empty"));
        }
        let mut parts = head.split(',');
        let name = parts.next().unwrap_or_default().trim().to_string();
        if !valid_name(&name) {
            return Err(spec_error(
                spec,
                format!("`{name}` is not a valid pod name (lowercase letters, digits, `-`, `.`)"),
            ));
        }
        let mut pod = PodSpec {
            name: name.clone(),
            namespace: "default".into(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            restart_always: true,
            owner: None,
            containers: Vec::new(),
        };
        let mut container = ContainerSpec {
            name: "main".into(),
            image: format!("local/{name}:latest"),
            command: command.to_string(),
            env: Vec::new(),
            secret_env: Vec::new(),
            path_prepend: None,
            ports: Vec::new(),
            requests: BTreeMap::new(),
            limits: BTreeMap::new(),
            privileged: false,
        };
        let mut replicas = 1usize;
        for item in parts {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| spec_error(spec, format!("`{item}` is not key=value")))?;
            let value = value.to_string();
            match key {
                "container" => container.name = value,
                "image" => container.image = value,
                "namespace" => pod.namespace = value,
                "restart" => match value.as_str() {
                    "Always" => pod.restart_always = true,
                    "Never" => pod.restart_always = false,
                    _ => return Err(spec_error(spec, "restart must be Always or Never")),
                },
                "deploy" => pod.owner = Some(Owner::Deployment(value)),
                "sts" => pod.owner = Some(Owner::StatefulSet(value)),
                "ds" => pod.owner = Some(Owner::DaemonSet(value)),
                "replicas" => {
                    replicas = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=10_000).contains(n))
                        .ok_or_else(|| spec_error(spec, "replicas must be 1..10000"))?
                }
                "port" => {
                    let (port_name, number) = value
                        .split_once('/')
                        .ok_or_else(|| spec_error(spec, "port must be NAME/NUMBER"))?;
                    let number = number.parse().map_err(|_| {
                        spec_error(spec, format!("port `{number}` is not a number"))
                    })?;
                    container.ports.push((port_name.to_string(), number));
                }
                "path-prepend" => container.path_prepend = Some(value),
                "secret-env" => {
                    let fields: Vec<&str> = value.split('/').collect();
                    let [env, secret, secret_key] = fields[..] else {
                        return Err(spec_error(spec, "secret-env must be NAME/SECRET/KEY"));
                    };
                    container
                        .secret_env
                        .push((env.into(), secret.into(), secret_key.into()));
                }
                "privileged" => container.privileged = value == "true",
                _ => {
                    if let Some(k) = key.strip_prefix("annotation.") {
                        pod.annotations.insert(k.to_string(), value);
                    } else if let Some(k) = key.strip_prefix("env.") {
                        container.env.push((k.to_string(), value));
                    } else if let Some(k) = key.strip_prefix("requests.") {
                        container.requests.insert(k.to_string(), value);
                    } else if let Some(k) = key.strip_prefix("limits.") {
                        container.limits.insert(k.to_string(), value);
                    } else if key.is_empty() {
                        return Err(spec_error(spec, "empty key"));
                    } else {
                        pod.labels.insert(key.to_string(), value);
                    }
                }
            }
        }
        pod.containers.push(container);
        if replicas == 1 {
            return Ok(vec![pod]);
        }
        Ok((0..replicas)
            .map(|i| {
                let mut p = pod.clone();
                p.name = format!("{name}-{i}");
                p
            })
            .collect())
    }

    /// Parse `POD/CONTAINER[,key=value…]:COMMAND`: one more container for an existing pod.
    pub fn parse_extra_container(spec: &str) -> Result<(String, ContainerSpec), SpecError> {
        let (head, command) =
            split_head(spec).ok_or_else(|| spec_error(spec, "no `:` before the command"))?;
        let (pod, rest) = head
            .split_once('/')
            .ok_or_else(|| spec_error(spec, "expected POD/CONTAINER"))?;
        let (container_name, options) = match rest.split_once(',') {
            Some((c, o)) => (c, format!(",{o}")),
            None => (rest, String::new()),
        };
        let parsed = PodSpec::parse(&format!(
            "{pod}{options},container={container_name}:{command}"
        ))?;
        let container = parsed
            .into_iter()
            .next()
            .and_then(|p| p.containers.into_iter().next())
            .ok_or_else(|| spec_error(spec, "no container parsed"))?;
        Ok((pod.to_string(), container))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_labels_keys_and_command_with_colons() {
        let pods = PodSpec::parse(
            "web,app=web,deploy=web,port=metrics/9100,annotation.prometheus.io/port=9100:echo a:b",
        )
        .unwrap();
        assert_eq!(pods.len(), 1);
        let p = &pods[0];
        assert_eq!(p.name, "web");
        assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(p.owner, Some(Owner::Deployment("web".into())));
        assert_eq!(
            p.annotations.get("prometheus.io/port").map(String::as_str),
            Some("9100")
        );
        assert_eq!(p.containers[0].command, "echo a:b");
        assert_eq!(p.containers[0].ports, vec![("metrics".to_string(), 9100)]);
    }

    #[test]
    fn replicas_expand_and_bad_specs_are_rejected() {
        let pods = PodSpec::parse("api,replicas=3:sleep 100").unwrap();
        let names: Vec<_> = pods.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["api-0", "api-1", "api-2"]);
        assert!(PodSpec::parse("NoColon").is_err());
        assert!(PodSpec::parse("Bad_Name:true").is_err());
        assert!(PodSpec::parse("x,restart=Sometimes:true").is_err());
        assert!(PodSpec::parse("x,novalue:true").is_err());
    }

    #[test]
    fn extra_container_parses() {
        let (pod, c) =
            PodSpec::parse_extra_container("web/sidecar,image=busybox:1.36:sleep 1000").unwrap();
        assert_eq!(pod, "web");
        assert_eq!(c.name, "sidecar");
        assert_eq!(c.image, "busybox:1.36");
        assert_eq!(c.command, "sleep 1000");
    }
}
