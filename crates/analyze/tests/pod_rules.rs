//! Pod and log rules on `kubectl get -o json`-shaped fixtures (tests/fixtures/kubernetes/).

use std::path::PathBuf;

use analyze::pod::{Pod, PodDisruptionBudget, PodInventory, Service, parse_objects};
use analyze::{AnalysisInput, Finding, LogText, Severity, analyze};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn inventory() -> PodInventory {
    PodInventory {
        pods: parse_objects::<Pod>("kubernetes/pods.json", &fixture("pods.json"))
            .expect("pods.json parses"),
        services: parse_objects::<Service>("kubernetes/services.json", &fixture("services.json"))
            .expect("services.json parses"),
        pod_disruption_budgets: parse_objects::<PodDisruptionBudget>(
            "kubernetes/pdbs.json",
            &fixture("pdbs.json"),
        )
        .expect("pdbs.json parses"),
        pods_source: "kubernetes/pods.json".into(),
        services_source: "kubernetes/services.json".into(),
        pdbs_source: "kubernetes/pdbs.json".into(),
    }
}

fn run(inv: &PodInventory) -> Vec<Finding> {
    analyze(&AnalysisInput {
        snapshot: None,
        pods: Some(inv),
        logs: &[],
    })
    .findings
}

/// `(severity, subject)` of one rule's findings, sorted.
fn of(findings: &[Finding], id: &str) -> Vec<(Severity, String)> {
    let mut v: Vec<_> = findings
        .iter()
        .filter(|f| f.id == id)
        .map(|f| (f.severity, f.subject.clone()))
        .collect();
    v.sort();
    v
}

fn subjects(findings: &[Finding], id: &str) -> Vec<String> {
    of(findings, id).into_iter().map(|(_, s)| s).collect()
}

#[test]
fn fixtures_load_with_every_field_the_rules_need() {
    let inv = inventory();
    assert_eq!(inv.pods.len(), 10);
    assert_eq!(inv.services.len(), 5);
    assert_eq!(inv.pod_disruption_budgets.len(), 2);
    let checkout = &inv.pods[0];
    assert_eq!(checkout.full_name(), "shop/checkout-7d9f8b6c4-x2k9p");
    assert_eq!(checkout.controller().unwrap().name, "checkout-7d9f8b6c4");
    assert_eq!(checkout.status.container_statuses[0].restart_count, 5);
    assert!(
        checkout.status.container_statuses[0]
            .image_id
            .contains("@sha256:")
    );
    assert_eq!(inv.pods[3].spec.termination_grace_period_seconds, Some(30));
}

#[test]
fn well_configured_workload_raises_nothing() {
    let findings = run(&inventory());
    let cart: Vec<_> = findings
        .iter()
        .filter(|f| f.subject.contains("cart"))
        .collect();
    assert!(cart.is_empty(), "{cart:#?}");
    // The finished Job pod needs no probes, preStop or PDB.
    assert!(
        !findings
            .iter()
            .any(|f| f.subject.contains("reconcile") && f.id != "P-RESOURCES"),
        "{findings:#?}"
    );
}

#[test]
fn probes_missing_or_identical() {
    let f = run(&inventory());
    let probes = of(&f, "P-PROBES");
    assert_eq!(probes.len(), 4, "{probes:?}");
    assert!(probes.iter().all(|(s, _)| *s == Severity::Warn));
    let identical = f
        .iter()
        .find(|x| x.id == "P-PROBES" && x.subject.contains("x2k9p"))
        .unwrap();
    assert!(identical.title.contains("identical"), "{}", identical.title);
    assert_eq!(
        identical.evidence[0].source,
        "kubernetes/pods.json#/items/0/spec/containers/0/livenessProbe"
    );
    let missing = f
        .iter()
        .find(|x| x.id == "P-PROBES" && x.subject.contains("edge-proxy"))
        .unwrap();
    assert!(
        missing
            .title
            .contains("no readiness probe, no liveness probe")
    );
}

#[test]
fn resources_missing() {
    let f = run(&inventory());
    assert_eq!(
        subjects(&f, "P-RESOURCES"),
        ["pod web/edge-proxy-7xk2p container envoy"]
    );
    let finding = f.iter().find(|x| x.id == "P-RESOURCES").unwrap();
    let labels: Vec<&str> = finding.evidence.iter().map(|e| e.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "resources.requests.cpu",
            "resources.requests.memory",
            "resources.limits.memory"
        ]
    );
}

#[test]
fn image_tags() {
    let f = run(&inventory());
    let tags = of(&f, "P-IMAGE-TAG");
    assert_eq!(
        tags,
        [
            (
                Severity::Warn,
                "pod web/frontend-5c6d7e8f9-abcde container nginx".to_string()
            ),
            (
                Severity::Warn,
                "pod web/frontend-5c6d7e8f9-fghij container nginx".to_string()
            ),
            (
                Severity::Crit,
                "pod web/edge-proxy-7xk2p container envoy".to_string()
            ),
        ]
    );
}

#[test]
fn digest_drift_between_replicas() {
    let f = run(&inventory());
    let drift: Vec<_> = f.iter().filter(|x| x.id == "P-DIGEST-DRIFT").collect();
    assert_eq!(drift.len(), 1);
    assert_eq!(
        drift[0].subject,
        "ReplicaSet shop/checkout-7d9f8b6c4 container checkout"
    );
    assert_eq!(drift[0].evidence[0].value, "2");
    assert!(
        drift[0]
            .evidence
            .iter()
            .any(|e| e.value == "checkout-7d9f8b6c4-x2k9p, checkout-7d9f8b6c4-r8w2n")
    );
    // Make the odd replica run the same digest: no drift.
    let mut inv = inventory();
    inv.pods[1].status.container_statuses[0].image_id =
        inv.pods[0].status.container_statuses[0].image_id.clone();
    assert!(of(&run(&inv), "P-DIGEST-DRIFT").is_empty());
}

#[test]
fn no_prestop_behind_a_service() {
    let f = run(&inventory());
    let subjects = subjects(&f, "P-NO-PRESTOP");
    assert_eq!(subjects.len(), 3, "{subjects:?}");
    assert!(subjects.iter().all(|s| s.contains("checkout")));
    // Without the Service selecting it, a pod needs no preStop.
    let mut inv = inventory();
    inv.services.retain(|s| s.metadata.name != "checkout");
    assert!(of(&run(&inv), "P-NO-PRESTOP").is_empty());
}

#[test]
fn grace_period_threshold() {
    let f = run(&inventory());
    let grace = of(&f, "P-GRACE");
    assert_eq!(grace.len(), 2);
    assert!(
        grace
            .iter()
            .all(|(s, x)| *s == Severity::Crit && x.contains("frontend"))
    );
    // 29 s of a 30 s grace period: just below the threshold.
    let mut inv = inventory();
    for pod in inv
        .pods
        .iter_mut()
        .filter(|p| p.metadata.name.starts_with("frontend"))
    {
        let pre_stop = pod.spec.containers[0]
            .lifecycle
            .as_mut()
            .unwrap()
            .pre_stop
            .as_mut()
            .unwrap();
        pre_stop.exec.as_mut().unwrap().command[2] = "sleep 29 && nginx -s quit".into();
    }
    assert!(of(&run(&inv), "P-GRACE").is_empty());
    // The frontend pods leave the grace period out: the 30 s default applies; 45 s is enough.
    assert!(
        f.iter()
            .any(|x| x.id == "P-GRACE" && x.evidence[1].value == "30 s (default)")
    );
    let mut inv = inventory();
    inv.pods[5].spec.termination_grace_period_seconds = Some(45);
    assert_eq!(of(&run(&inv), "P-GRACE").len(), 1);
}

#[test]
fn nginx_stop_signal() {
    let f = run(&inventory());
    assert_eq!(
        of(&f, "P-STOPSIGNAL"),
        [(
            Severity::Info,
            "pod web/legacy-web-0 container legacy-web".to_string()
        )]
    );
    // An explicit SIGQUIT stop signal is graceful.
    let mut inv = inventory();
    inv.pods[7].spec.containers[0]
        .lifecycle
        .as_mut()
        .unwrap()
        .stop_signal = Some("SIGQUIT".into());
    assert!(of(&run(&inv), "P-STOPSIGNAL").is_empty());
    // The official image without a graceful preStop relies on its STOPSIGNAL SIGQUIT: fine; an
    // explicit SIGTERM is not.
    let mut inv = inventory();
    inv.pods[5].spec.containers[0].lifecycle = None;
    assert!(
        !of(&run(&inv), "P-STOPSIGNAL")
            .iter()
            .any(|(_, s)| s.contains("frontend"))
    );
    inv.pods[5].spec.containers[0].lifecycle = Some(analyze::pod::Lifecycle {
        stop_signal: Some("SIGTERM".into()),
        ..Default::default()
    });
    assert!(
        of(&run(&inv), "P-STOPSIGNAL")
            .iter()
            .any(|(_, s)| s.contains("frontend-5c6d7e8f9-abcde"))
    );
}

#[test]
fn disruption_budgets() {
    let f = run(&inventory());
    let pdb: Vec<_> = f.iter().filter(|x| x.id == "P-PDB").collect();
    assert_eq!(pdb.len(), 2, "{pdb:#?}");
    let missing = pdb
        .iter()
        .find(|x| x.subject == "ReplicaSet shop/checkout-7d9f8b6c4")
        .unwrap();
    assert!(
        missing
            .title
            .contains("3 replicas with no PodDisruptionBudget")
    );
    let zero = pdb
        .iter()
        .find(|x| x.subject == "ReplicaSet web/frontend-5c6d7e8f9")
        .unwrap();
    assert_eq!(zero.evidence[0].value, "maxUnavailable: 0");
    assert_eq!(zero.evidence[0].source, "kubernetes/pdbs.json#/items/1");
    // One replica needs no PDB.
    let mut inv = inventory();
    inv.pods
        .retain(|p| !p.metadata.name.starts_with("checkout") || p.metadata.name.ends_with("x2k9p"));
    assert!(
        !of(&run(&inv), "P-PDB")
            .iter()
            .any(|(_, s)| s.contains("checkout"))
    );
    // minAvailable equal to the replica count blocks every drain.
    let mut inv = inventory();
    inv.pod_disruption_budgets[0].spec.min_available = Some(analyze::pod::IntOrString::Int(2));
    inv.pod_disruption_budgets[0].status = None;
    assert!(
        of(&run(&inv), "P-PDB")
            .iter()
            .any(|(_, s)| s.contains("cart"))
    );
}

#[test]
fn root_and_privileged() {
    let f = run(&inventory());
    assert_eq!(
        of(&f, "P-ROOT-PRIV"),
        [(
            Severity::Crit,
            "pod web/edge-proxy-7xk2p container envoy".to_string()
        )]
    );
    let finding = f.iter().find(|x| x.id == "P-ROOT-PRIV").unwrap();
    assert!(finding.title.contains("privileged") && finding.title.contains("may run as root"));
    // runAsUser: 0 set explicitly is root, whatever runAsNonRoot says at pod level.
    let mut inv = inventory();
    inv.pods[0].spec.containers[0]
        .security_context
        .as_mut()
        .unwrap()
        .run_as_user = Some(0);
    assert!(
        of(&run(&inv), "P-ROOT-PRIV")
            .iter()
            .any(|(_, s)| s.contains("x2k9p"))
    );
}

#[test]
fn restart_thresholds() {
    let f = run(&inventory());
    let restarts = of(&f, "P-RESTARTS");
    assert_eq!(
        restarts,
        [
            (
                Severity::Crit,
                "pod shop/checkout-7d9f8b6c4-x2k9p container checkout".to_string()
            ),
            (
                Severity::Crit,
                "pod web/edge-proxy-7xk2p container envoy".to_string()
            ),
        ]
    );
    let oom = f
        .iter()
        .find(|x| x.id == "P-RESTARTS" && x.subject.contains("x2k9p"))
        .unwrap();
    assert!(
        oom.evidence[0].value.starts_with("OOMKilled (exit 137"),
        "{:?}",
        oom.evidence
    );
    // r8w2n has exactly 3 restarts: at the threshold, not above. One more is a warning.
    let mut inv = inventory();
    inv.pods[2].status.container_statuses[0].restart_count = 4;
    assert!(of(&run(&inv), "P-RESTARTS").contains(&(
        Severity::Warn,
        "pod shop/checkout-7d9f8b6c4-r8w2n container checkout".to_string()
    )));
}

#[test]
fn dns_failures_in_a_container_log() {
    let text = String::from_utf8(fixture("checkout.log")).expect("utf-8 log");
    let logs = vec![LogText {
        subject: "pod shop/checkout-7d9f8b6c4-x2k9p container checkout".into(),
        source: "logs/shop/checkout-7d9f8b6c4-x2k9p/checkout.log".into(),
        text,
    }];
    let analysis = analyze(&AnalysisInput {
        snapshot: None,
        pods: None,
        logs: &logs,
    });
    let dns: Vec<_> = analysis
        .findings
        .iter()
        .filter(|f| f.id == "L-DNS")
        .collect();
    assert_eq!(dns.len(), 1);
    assert_eq!(dns[0].severity, Severity::Warn);
    assert_eq!(dns[0].evidence[0].value, "2");
    assert!(
        dns[0].evidence[1]
            .value
            .contains("payments.shop.svc.cluster.local")
    );
    // Snapshot and pod rules had nothing to read: they are skipped with the reason.
    assert!(
        analysis
            .skipped
            .iter()
            .any(|s| s.id == "CT-USAGE" && s.reason.contains("no snapshot"))
    );
    assert!(analysis.skipped.iter().any(|s| s.id == "P-PROBES"));
}
