//! RBAC preflight: ask the API server (SelfSubjectAccessReview) for every permission an
//! operation needs before starting it, and name exactly what is missing. `docs/rbac.yaml` has a
//! ready Role per mode.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

use crate::{Error, Result};

/// One permission: verb on resource[/subresource] in API group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    pub verb: &'static str,
    pub group: &'static str,
    pub resource: &'static str,
    pub subresource: Option<&'static str>,
    /// Cluster-scoped (nodes).
    pub cluster_scoped: bool,
    /// Without it the operation still runs but leaves a part out.
    pub optional: bool,
}

impl Permission {
    const fn new(
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        subresource: Option<&'static str>,
    ) -> Self {
        Permission {
            verb,
            group,
            resource,
            subresource,
            cluster_scoped: false,
            optional: false,
        }
    }
    const fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    const fn cluster(mut self) -> Self {
        self.cluster_scoped = true;
        self
    }

    /// `create pods/exec`.
    pub fn display(&self) -> String {
        let res = match self.subresource {
            Some(s) => format!("{}/{s}", self.resource),
            None => self.resource.to_string(),
        };
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(" (API group {})", self.group)
        };
        format!("{} {res}{group}", self.verb)
    }
}

/// What triage is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Resolve targets and read the pod's objects and logs.
    Inspect,
    /// Inspect plus collectors run by exec.
    SnapshotExec,
    /// Collectors from an ephemeral container (patch) plus exec into it.
    SnapshotEphemeral,
    /// Copy a file out (exec).
    Copy,
    /// HTTP through port-forward (pprof, metrics).
    PortForward,
}

impl Operation {
    /// Every permission the operation needs (optional ones degrade, required ones stop).
    pub fn permissions(self) -> Vec<Permission> {
        let inspect = vec![
            Permission::new("get", "", "pods", None),
            Permission::new("list", "", "pods", None),
            Permission::new("get", "", "pods", Some("log")).optional(),
            Permission::new("list", "", "events", None).optional(),
            Permission::new("get", "", "nodes", None)
                .cluster()
                .optional(),
            Permission::new("list", "", "services", None).optional(),
            Permission::new("list", "discovery.k8s.io", "endpointslices", None).optional(),
            Permission::new("list", "policy", "poddisruptionbudgets", None).optional(),
            Permission::new("get", "apps", "replicasets", None).optional(),
            Permission::new("get", "apps", "deployments", None).optional(),
        ];
        let exec = Permission::new("create", "", "pods", Some("exec"));
        match self {
            Operation::Inspect => inspect,
            Operation::SnapshotExec => [inspect, vec![exec]].concat(),
            Operation::SnapshotEphemeral => [
                inspect,
                vec![
                    Permission::new("patch", "", "pods", Some("ephemeralcontainers")),
                    exec,
                ],
            ]
            .concat(),
            Operation::Copy => vec![Permission::new("get", "", "pods", None), exec],
            Operation::PortForward => {
                vec![
                    Permission::new("get", "", "pods", None),
                    Permission::new("create", "", "pods", Some("portforward")),
                ]
            }
        }
    }

    /// The Role in docs/rbac.yaml that grants it.
    pub fn role_name(self) -> &'static str {
        match self {
            Operation::Inspect => "triage-inspect",
            Operation::SnapshotExec | Operation::Copy => "triage-exec",
            Operation::SnapshotEphemeral => "triage-ephemeral",
            Operation::PortForward => "triage-portforward",
        }
    }
}

/// What the preflight found.
#[derive(Debug, Clone, Default)]
pub struct Preflight {
    /// Required permissions that are denied: the operation cannot run.
    pub missing: Vec<Permission>,
    /// Optional permissions that are denied: parts will be left out.
    pub degraded: Vec<Permission>,
}

/// Ask the API server about every permission of `op` in `namespace`.
pub async fn preflight(client: &Client, namespace: &str, op: Operation) -> Result<Preflight> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let mut out = Preflight::default();
    let checks = op.permissions().into_iter().map(|p| {
        let api = api.clone();
        let namespace = namespace.to_string();
        async move {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        namespace: (!p.cluster_scoped).then_some(namespace),
                        verb: Some(p.verb.into()),
                        group: Some(p.group.into()),
                        resource: Some(p.resource.into()),
                        subresource: p.subresource.map(String::from),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            (p, api.create(&PostParams::default(), &review).await)
        }
    });
    for (p, answer) in futures_util::future::join_all(checks).await {
        let allowed = answer
            .map_err(|e| {
                Error::api(
                    format!("asking the API server whether we may {}", p.display()),
                    e,
                )
            })?
            .status
            .map(|s| s.allowed)
            .unwrap_or(false);
        if !allowed {
            if p.optional {
                out.degraded.push(p)
            } else {
                out.missing.push(p)
            }
        }
    }
    Ok(out)
}

impl Preflight {
    /// `Err(Forbidden)` naming every missing permission and the Role to apply.
    pub fn require(&self, op: Operation, namespace: &str) -> Result<()> {
        if self.missing.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = self
            .missing
            .iter()
            .map(|p| format!("  - {}", p.display()))
            .collect();
        Err(Error::Forbidden(format!(
            "missing permissions in namespace {namespace}:\n{}\nApply the Role `{}` from docs/rbac.yaml and bind it to your user or service account, e.g.\n  kubectl -n {namespace} apply -f docs/rbac.yaml\n  kubectl -n {namespace} create rolebinding triage --role={} --user=$(kubectl auth whoami -o jsonpath='{{.status.userInfo.username}}')",
            list.join("\n"),
            op.role_name(),
            op.role_name()
        )))
    }

    /// Warnings for optional permissions that are denied.
    pub fn warnings(&self) -> Vec<String> {
        self.degraded
            .iter()
            .map(|p| format!("no permission to {}: that part is left out", p.display()))
            .collect()
    }
}
