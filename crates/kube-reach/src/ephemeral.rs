//! An ephemeral container that shares the target container's process namespace
//! (`targetContainerName`): from it, `/proc/<pid>/root` is the target's filesystem and a JVM can
//! be attached as its uid — the way in for distroless images and clusters that forbid hostPID.
//! Ephemeral containers cannot be removed: the default command exits after an hour.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::exec::ExecTarget;
use crate::target::PodSummary;
use crate::{Error, Result};

/// How to start the ephemeral container.
#[derive(Debug, Clone)]
pub struct EphemeralSpec {
    pub image: String,
    /// Command (default: an idle `sleep 3600`, the work is done by exec).
    pub command: Vec<String>,
    /// The container whose process namespace is shared.
    pub target_container: String,
    /// How long to wait for it to run.
    pub timeout: Duration,
}

/// Add the ephemeral container and wait until it runs; the returned target execs into it.
pub async fn start(
    client: &kube::Client,
    namespace: &str,
    pod: &PodSummary,
    spec: &EphemeralSpec,
) -> Result<ExecTarget> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let name = format!(
        "triage-{}",
        &format!(
            "{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        )[4..]
    );
    let command = if spec.command.is_empty() {
        vec!["sleep".to_string(), "3600".to_string()]
    } else {
        spec.command.clone()
    };
    let patch = json!({"spec": {"ephemeralContainers": [{
        "name": name, "image": spec.image, "command": command, "targetContainerName": spec.target_container,
        "stdin": false, "tty": false, "terminationMessagePolicy": "File",
        "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}},
    }]}});
    pods.patch_ephemeral_containers(
        &pod.name,
        &PatchParams::default(),
        &Patch::Strategic(&patch),
    )
    .await
    .map_err(|e| {
        Error::api(
            format!("adding an ephemeral container to pod/{}", pod.name),
            e,
        )
    })?;
    let deadline = tokio::time::Instant::now() + spec.timeout;
    loop {
        let current = pods
            .get(&pod.name)
            .await
            .map_err(|e| Error::api(format!("getting pod/{}", pod.name), e))?;
        let status = current
            .status
            .as_ref()
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .and_then(|all| all.iter().find(|s| s.name == name).cloned());
        if let Some(state) = status.as_ref().and_then(|s| s.state.as_ref()) {
            if state.running.is_some() {
                return Ok(ExecTarget::new(client.clone(), namespace, &pod.name, &name));
            }
            if let Some(t) = &state.terminated {
                return Err(Error::NotUsable(format!(
                    "the ephemeral container {name} in pod/{} exited ({}, code {}) before it could be used",
                    pod.name,
                    t.reason.clone().unwrap_or_default(),
                    t.exit_code
                )));
            }
            if let Some(w) = &state.waiting {
                if matches!(
                    w.reason.as_deref(),
                    Some("ErrImagePull" | "ImagePullBackOff" | "InvalidImageName")
                ) {
                    return Err(Error::NotUsable(format!(
                        "the ephemeral container cannot pull image {}: {} — pass --image with an image the node can pull",
                        spec.image,
                        w.message.clone().unwrap_or_default()
                    )));
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::NotUsable(format!(
                "the ephemeral container {name} in pod/{} did not start within {:?}",
                pod.name, spec.timeout
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
