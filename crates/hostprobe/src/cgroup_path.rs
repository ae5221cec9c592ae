//! Pod UID, container ID and runtime from kubelet-style cgroup paths.
//!
//! Layouts handled (kubelet `cgroup_manager_linux.go`, container runtimes):
//! - systemd driver: `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/<leaf>`,
//!   guaranteed pods directly under `kubepods.slice` as `kubepods-pod<uid>.slice`;
//! - cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>`, `/kubepods/pod<uid>/<id>`;
//! - leaves: `cri-containerd-<id>.scope`, `crio-<id>.scope` / `crio-<id>`, `docker-<id>.scope`,
//!   `libpod-<id>.scope`, a bare `<id>`, and the `<slice>:cri-containerd:<id>` form;
//! - anything else whose last component is 64 hex digits is taken as a container ID.

use crate::model::ContainerIdentity;

/// Parse a cgroup path (as written in `/proc/<pid>/cgroup`). `None` when nothing in it looks
/// like a pod or a container.
pub fn parse_container_identity(path: &str) -> Option<ContainerIdentity> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut id = ContainerIdentity::default();
    let mut in_kubepods = false;

    for (index, component) in components.iter().enumerate() {
        // `<slice>:<prefix>:<id>` (containerd's systemd cgroupsPath written literally).
        let parts: Vec<&str> = component.split(':').collect();
        if parts.len() == 3 {
            if let Some(uid) = pod_uid_from_slice(parts[0]) {
                id.pod_uid = Some(uid);
                id.qos_class = id.qos_class.or_else(|| qos_from_slice(parts[0]));
                id.cgroup_driver = Some("systemd".into());
                in_kubepods = true;
            }
            if is_container_id(parts[2]) {
                id.container_id = Some(parts[2].to_ascii_lowercase());
                id.runtime = runtime_from_prefix(parts[1]);
            }
            continue;
        }
        if component.ends_with(".slice") && component.contains("kubepods") {
            in_kubepods = true;
            id.cgroup_driver = Some("systemd".into());
            if let Some(qos) = qos_from_slice(component) {
                id.qos_class = Some(qos);
            }
            if let Some(uid) = pod_uid_from_slice(component) {
                id.pod_uid = Some(uid);
                if id.qos_class.is_none() {
                    id.qos_class = Some("guaranteed".into());
                }
            }
            continue;
        }
        if *component == "kubepods" {
            in_kubepods = true;
            id.cgroup_driver = Some("cgroupfs".into());
            continue;
        }
        if in_kubepods && id.cgroup_driver.as_deref() == Some("cgroupfs") {
            if matches!(*component, "burstable" | "besteffort") && id.pod_uid.is_none() {
                id.qos_class = Some((*component).to_string());
                continue;
            }
            if let Some(uid) = component.strip_prefix("pod").filter(|u| is_pod_uid(u)) {
                id.pod_uid = Some(uid.to_ascii_lowercase());
                if id.qos_class.is_none() {
                    id.qos_class = Some("guaranteed".into());
                }
                continue;
            }
        }
        // Container leaves: only the last component (or right after the pod) names a container.
        let is_last = index + 1 == components.len();
        if is_last || id.pod_uid.is_some() {
            if let Some((runtime, container_id)) = container_from_leaf(component) {
                id.container_id = Some(container_id);
                id.runtime = runtime.or(id.runtime.take());
                if id.cgroup_driver.is_none() && component.ends_with(".scope") {
                    id.cgroup_driver = Some("systemd".into());
                }
            }
        }
    }
    if id.pod_uid.is_none() && id.container_id.is_none() {
        return None;
    }
    if !in_kubepods {
        id.qos_class = None;
    }
    Some(id)
}

/// Runtime and ID from one leaf component.
fn container_from_leaf(component: &str) -> Option<(Option<String>, String)> {
    let stem = component.strip_suffix(".scope").unwrap_or(component);
    const PREFIXES: &[(&str, &str)] = &[
        ("cri-containerd-", "containerd"),
        ("crio-conmon-", "cri-o"),
        ("crio-", "cri-o"),
        ("docker-", "docker"),
        ("libpod-conmon-", "podman"),
        ("libpod-", "podman"),
    ];
    for (prefix, runtime) in PREFIXES {
        if let Some(rest) = stem.strip_prefix(prefix) {
            if is_container_id(rest) {
                return Some((Some((*runtime).to_string()), rest.to_ascii_lowercase()));
            }
        }
    }
    is_container_id(stem).then(|| (None, stem.to_ascii_lowercase()))
}

fn runtime_from_prefix(prefix: &str) -> Option<String> {
    match prefix {
        "cri-containerd" => Some("containerd".into()),
        "crio" => Some("cri-o".into()),
        "docker" => Some("docker".into()),
        "libpod" => Some("podman".into()),
        _ => None,
    }
}

/// A container ID: 64 hex digits (containerd, docker, CRI-O all use 64).
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A pod UID: a UUID (8-4-4-4-12 hex) with `-` or `_` separators.
fn is_pod_uid(s: &str) -> bool {
    let groups: Vec<&str> = s.split(['-', '_']).collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `kubepods-burstable-pod<uid>.slice` / `kubepods-pod<uid>.slice` → uid with dashes.
fn pod_uid_from_slice(component: &str) -> Option<String> {
    let stem = component.strip_suffix(".slice")?;
    let start = stem.rfind("-pod")?;
    let uid = &stem[start + 4..];
    is_pod_uid(uid).then(|| uid.replace('_', "-").to_ascii_lowercase())
}

fn qos_from_slice(component: &str) -> Option<String> {
    let stem = component.strip_suffix(".slice").unwrap_or(component);
    for qos in ["burstable", "besteffort"] {
        if stem.split('-').any(|part| part == qos) {
            return Some(qos.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";
    const UID: &str = "0c3ab2e4-1f5d-4c6b-9a7e-2d8f1b3c4e5a";

    fn uid_underscored() -> String {
        UID.replace('-', "_")
    }

    fn check(
        path: &str,
        pod: Option<&str>,
        container: Option<&str>,
        runtime: Option<&str>,
        qos: Option<&str>,
        driver: Option<&str>,
    ) {
        let id = parse_container_identity(path).unwrap_or_else(|| panic!("no identity in {path}"));
        assert_eq!(id.pod_uid.as_deref(), pod, "pod uid of {path}");
        assert_eq!(
            id.container_id.as_deref(),
            container,
            "container id of {path}"
        );
        assert_eq!(id.runtime.as_deref(), runtime, "runtime of {path}");
        assert_eq!(id.qos_class.as_deref(), qos, "qos of {path}");
        assert_eq!(id.cgroup_driver.as_deref(), driver, "driver of {path}");
    }

    #[test]
    fn systemd_driver_all_runtimes() {
        let u = uid_underscored();
        check(
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope"
            ),
            Some(UID),
            Some(ID),
            Some("containerd"),
            Some("burstable"),
            Some("systemd"),
        );
        check(
            &format!("/kubepods.slice/kubepods-pod{u}.slice/crio-{ID}.scope"),
            Some(UID),
            Some(ID),
            Some("cri-o"),
            Some("guaranteed"),
            Some("systemd"),
        );
        check(
            &format!(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/docker-{ID}.scope"
            ),
            Some(UID),
            Some(ID),
            Some("docker"),
            Some("besteffort"),
            Some("systemd"),
        );
        check(
            &format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/crio-{ID}"
            ),
            Some(UID),
            Some(ID),
            Some("cri-o"),
            Some("burstable"),
            Some("systemd"),
        );
        // Pod level, no container.
        check(
            &format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice"),
            Some(UID),
            None,
            None,
            Some("burstable"),
            Some("systemd"),
        );
    }

    #[test]
    fn cgroupfs_driver() {
        check(
            &format!("/kubepods/burstable/pod{UID}/{ID}"),
            Some(UID),
            Some(ID),
            None,
            Some("burstable"),
            Some("cgroupfs"),
        );
        check(
            &format!("/kubepods/pod{UID}/{ID}"),
            Some(UID),
            Some(ID),
            None,
            Some("guaranteed"),
            Some("cgroupfs"),
        );
        check(
            &format!("/kubepods/besteffort/pod{UID}"),
            Some(UID),
            None,
            None,
            Some("besteffort"),
            Some("cgroupfs"),
        );
    }

    #[test]
    fn colon_form_and_nested_kubelet() {
        let u = uid_underscored();
        check(
            &format!(
                "/system.slice/containerd.service/kubepods-burstable-pod{u}.slice:cri-containerd:{ID}"
            ),
            Some(UID),
            Some(ID),
            Some("containerd"),
            Some("burstable"),
            Some("systemd"),
        );
        check(
            &format!(
                "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod{u}.slice/cri-containerd-{ID}.scope"
            ),
            Some(UID),
            Some(ID),
            Some("containerd"),
            Some("besteffort"),
            Some("systemd"),
        );
    }

    #[test]
    fn plain_containers_and_fallback() {
        check(
            &format!("/system.slice/docker-{ID}.scope"),
            None,
            Some(ID),
            Some("docker"),
            None,
            Some("systemd"),
        );
        check(&format!("/docker/{ID}"), None, Some(ID), None, None, None);
        check(
            &format!("/machine.slice/libpod-{ID}.scope"),
            None,
            Some(ID),
            Some("podman"),
            None,
            Some("systemd"),
        );
        check(
            &format!("/some/where/{}", ID.to_uppercase()),
            None,
            Some(ID),
            None,
            None,
            None,
        );
    }

    #[test]
    fn ordinary_paths_have_no_identity() {
        for path in [
            "/",
            "/user.slice/user-1000.slice/session-2.scope",
            "/system.slice/sshd.service",
            "/process_api/450dca1558185eea04618dcdb338bdda",
            "/kubepods.slice/kubepods-podnotauid.slice",
        ] {
            let id = parse_container_identity(path);
            assert!(
                id.is_none()
                    || id
                        .as_ref()
                        .is_some_and(|i| i.pod_uid.is_none() && i.container_id.is_none()),
                "{path}: {id:?}"
            );
        }
    }
}
