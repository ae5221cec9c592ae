//! Reach a Kubernetes pod through the API server alone.
//!
//! What it is for: everything triage does to a pod travels API server → kubelet → container
//! runtime, so it works on any node runtime, in locked-down clusters and without ssh:
//! - [`config`]: a client from `--kubeconfig`, `--context`, `KUBECONFIG` or the in-cluster
//!   service account (TLS through rustls with the aws-lc-rs provider only);
//! - [`target`]: `pod/NAME`, `deploy/NAME`, `sts/NAME`, `ds/NAME`, `-l SELECTOR` resolved to pods
//!   like kubectl does, with a summary (node, containers, IDs, images and digests, restarts, last
//!   termination and waiting reasons, owner) and close-name suggestions when nothing matches;
//! - [`exec`]: commands in a container with exact exit codes and separate stdout/stderr (a
//!   missing status frame is a failure, never success), buffers sized for dumps, every wait
//!   bounded;
//! - [`procfs`]: the container's /proc, /sys/fs/cgroup and /etc files read in one exec,
//!   materialised into a private directory laid out as a root and parsed by `hostprobe` — the
//!   same parsers as for local data;
//! - [`copy`]: single files streamed out with `cat`, size and sha256 verified against what the
//!   pod computes; directory trees only through `bundle`'s safe extractor;
//! - [`portforward`]: one port-forward websocket per HTTP request;
//! - [`rbac`]: SelfSubjectAccessReview preflight naming exactly the missing permissions;
//! - [`collect`]: the pod's objects (spec, status, owner chain, events, node, Services,
//!   EndpointSlices, PDBs — never Secrets) and logs;
//! - [`ephemeral`]: an ephemeral container sharing the target's process namespace.
//!
//! What it is not for: terminal output or bundle layout (the CLI), judging the data (`analyze`).
//! The API-compatible test server used by the tests lives in the `testcluster` crate.

pub mod collect;
pub mod config;
pub mod copy;
pub mod ephemeral;
pub mod exec;
pub mod largefile;
pub mod portforward;
pub mod procfs;
pub mod rbac;
pub mod target;

pub use config::{KubeOptions, connect};
// Re-exported so a caller drives this crate without pinning its own copies.
pub use futures_util;
pub use k8s_openapi;
pub use kube;
pub use target::{PodSummary, Target, resolve};
pub use tokio;

/// Everything that can go wrong reaching a pod.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig or in-cluster configuration could not be loaded.
    #[error(
        "Kubernetes configuration: {0} (pass --kubeconfig PATH or --context NAME, or set KUBECONFIG)"
    )]
    Config(String),
    /// The API server answered with an error.
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: kube::Error,
    },
    /// The target string is not understood.
    #[error(
        "`{0}` is not a Kubernetes target: use pod/NAME, deploy/NAME, sts/NAME, ds/NAME or -l SELECTOR"
    )]
    BadTarget(String),
    /// No pod matched.
    #[error("{0}")]
    NotFound(String),
    /// The pod exists but cannot be used (not running, container ambiguous…).
    #[error("{0}")]
    NotUsable(String),
    /// The caller lacks permissions (from the RBAC preflight or a 403).
    #[error("{0}")]
    Forbidden(String),
    /// An exec stream ended without the status frame: the connection was cut.
    #[error(
        "exec of `{command}` in {pod}: the stream ended without an exit status (API server or kubelet connection lost); the output may be incomplete — retry"
    )]
    StreamCut { pod: String, command: String },
    /// An exec waited longer than its bound (the API server, kubelet or command is stuck).
    #[error(
        "exec of `{command}` in {pod}: waited {waited:?} for {what} in vain; the API server, the kubelet or the command is stuck — retry, or allow more time for a command that stays silent that long"
    )]
    Timeout {
        pod: String,
        command: String,
        waited: std::time::Duration,
        what: &'static str,
    },
    /// The container's answer is not what was expected.
    #[error("{0}")]
    Protocol(String),
    /// A local file could not be written or read.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A copied file does not match what the pod reports.
    #[error("{0}")]
    Verification(String),
}

impl Error {
    pub(crate) fn api(action: impl Into<String>, source: kube::Error) -> Self {
        let action = action.into();
        if let kube::Error::Api(status) = &source {
            if status.code == 403 {
                return Error::Forbidden(format!(
                    "{action}: forbidden: {} (see docs/rbac.yaml for the Role triage needs)",
                    status.message
                ));
            }
        }
        Error::Api { action, source }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl AsRef<std::path::Path>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.as_ref().display().to_string(),
            source,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
