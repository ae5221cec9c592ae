//! The deployment files: every document of deploy/manifests/ deserialises into its k8s-openapi
//! type and carries the security posture deploy/README.md documents; the Helm chart, rendered
//! with its default values, is exactly the plain manifests.
//!
//! Helm is not installed where these tests run, so the chart is rendered by the small renderer
//! below. It implements only what the templates use — `{{ .Values.a.b }}`, `.Release.Name`,
//! `.Release.Namespace`, `.Chart.AppVersion`, `| quote`, `toYaml … | nindent N` and
//! `{{- if .Values.x }}…{{- end }}` — and fails on anything else, so a template construct it does
//! not know cannot slip through unrendered. What this does not prove: that Helm itself accepts
//! the chart (`helm lint` / `helm template` are the check for that where Helm is available).

use std::path::PathBuf;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn lookup<'a>(root: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(root, |v, key| v.get(key))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// YAML for a mapping or scalar, as Helm's toYaml would give it for these values.
fn to_yaml(v: &Value, indent: usize, out: &mut String) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.push_str(&" ".repeat(indent));
                out.push_str(k);
                out.push(':');
                if matches!(child, Value::Object(_)) {
                    out.push('\n');
                    to_yaml(child, indent + 2, out);
                } else {
                    out.push(' ');
                    out.push_str(&serde_json::to_string(child).expect("scalar"));
                    out.push('\n');
                }
            }
        }
        other => {
            out.push_str(&serde_json::to_string(other).expect("scalar"));
            out.push('\n');
        }
    }
}

struct Context {
    values: Value,
    release_name: String,
    namespace: String,
    app_version: String,
}

impl Context {
    fn value(&self, expr: &str) -> Value {
        let expr = expr.trim();
        if let Some(path) = expr.strip_prefix(".Values.") {
            lookup(&self.values, path)
                .cloned()
                .unwrap_or_else(|| panic!("no value {path} in values.yaml"))
        } else {
            match expr {
                ".Release.Name" => Value::String(self.release_name.clone()),
                ".Release.Namespace" => Value::String(self.namespace.clone()),
                ".Chart.AppVersion" => Value::String(self.app_version.clone()),
                other => panic!("the test renderer does not know `{other}`"),
            }
        }
    }

    fn action(&self, action: &str) -> String {
        let parts: Vec<&str> = action.split('|').map(str::trim).collect();
        match parts.as_slice() {
            [expr] => scalar(&self.value(expr)),
            [expr, "quote"] => serde_json::to_string(&scalar(&self.value(expr))).expect("a string"),
            [to_yaml_expr, nindent] if to_yaml_expr.starts_with("toYaml ") => {
                let n: usize = nindent
                    .strip_prefix("nindent ")
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or_else(|| panic!("unknown pipeline `{action}`"));
                let mut out = String::from("\n");
                to_yaml(&self.value(&to_yaml_expr["toYaml ".len()..]), n, &mut out);
                out.trim_end().to_string()
            }
            _ => panic!("the test renderer does not know `{{{{ {action} }}}}`"),
        }
    }
}

/// Render one template.
fn render(template: &str, ctx: &Context) -> String {
    let mut out = String::new();
    // One entry per open `if`: whether its body is emitted.
    let mut emitting: Vec<bool> = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (text, after) = rest.split_at(start);
        let end = after.find("}}").expect("an unclosed {{");
        let mut action = &after[2..end];
        rest = &after[end + 2..];
        let mut text = text.to_string();
        if let Some(a) = action.strip_prefix('-') {
            // `{{-` eats the whitespace (newline included) before it.
            text.truncate(text.trim_end().len());
            action = a;
        }
        if emitting.iter().all(|e| *e) {
            out.push_str(&text);
        }
        let action = action.trim().trim_end_matches('-').trim();
        if let Some(cond) = action.strip_prefix("if ") {
            emitting.push(truthy(Some(&ctx.value(cond))));
        } else if action == "end" {
            emitting.pop().expect("an `end` without `if`");
        } else if emitting.iter().all(|e| *e) {
            out.push_str(&ctx.action(action));
        }
    }
    out.push_str(rest);
    assert!(emitting.is_empty(), "an unclosed `if`");
    out
}

fn documents(text: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .expect("valid YAML")
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

fn chart_context() -> Context {
    let chart = deploy_dir().join("helm/triage-agent");
    let values: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(chart.join("values.yaml")).expect("values.yaml"),
    )
    .expect("values.yaml parses");
    let meta: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(chart.join("Chart.yaml")).expect("Chart.yaml"),
    )
    .expect("Chart.yaml parses");
    assert_eq!(meta["apiVersion"], "v2");
    assert_eq!(meta["name"], "triage-agent");
    Context {
        values,
        release_name: "triage-agent".into(),
        namespace: "triage".into(),
        app_version: scalar(&meta["appVersion"]),
    }
}

/// The chart's templates rendered and joined as one multi-document YAML text.
fn render_chart_text(ctx: &Context) -> String {
    let templates = deploy_dir().join("helm/triage-agent/templates");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&templates)
        .expect("templates/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    names.sort();
    let mut text = String::new();
    for path in names {
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        text.push_str(&format!("---\n# Source: triage-agent/templates/{name}\n"));
        text.push_str(&render(
            &std::fs::read_to_string(&path).expect("template"),
            ctx,
        ));
    }
    text
}

fn render_chart(ctx: &Context) -> Vec<Value> {
    documents(&render_chart_text(ctx))
}

fn plain_manifests() -> Vec<Value> {
    let mut docs = documents(
        &std::fs::read_to_string(deploy_dir().join("manifests/namespace.yaml"))
            .expect("namespace.yaml"),
    );
    docs.extend(documents(
        &std::fs::read_to_string(deploy_dir().join("manifests/triage-agent.yaml"))
            .expect("triage-agent.yaml"),
    ));
    docs
}

#[test]
fn the_chart_with_default_values_is_the_plain_manifests() {
    if std::env::var("TRIAGE_BLESS_MANIFESTS").is_ok_and(|v| v == "1") {
        // Regenerate deploy/manifests/triage-agent.yaml after changing the chart.
        let text = render_chart_text(&chart_context());
        std::fs::write(
            deploy_dir().join("manifests/triage-agent.yaml"),
            format!("# Generated from deploy/helm/triage-agent with its default values (release triage-agent,\n# namespace triage); crates/agent/tests/deploy_manifests.rs checks they stay equal.\n{text}"),
        )
        .expect("writing the manifests");
    }
    let rendered = render_chart(&chart_context());
    let plain = plain_manifests();
    let plain_without_namespace: Vec<&Value> =
        plain.iter().filter(|d| d["kind"] != "Namespace").collect();
    assert_eq!(
        rendered.iter().collect::<Vec<_>>(),
        plain_without_namespace,
        "deploy/manifests/triage-agent.yaml must be the chart rendered with default values (release triage-agent, namespace triage)"
    );
}

#[test]
fn optional_values_render_their_blocks() {
    let mut ctx = chart_context();
    ctx.values["out"] = Value::String("s3://captures/node/".into());
    ctx.values["credentialsSecret"] = Value::String("triage-s3".into());
    let docs = render_chart(&ctx);
    let ds: DaemonSet = serde_json::from_value(
        docs.into_iter()
            .find(|d| d["kind"] == "DaemonSet")
            .expect("a DaemonSet"),
    )
    .expect("a valid DaemonSet");
    let spec = ds.spec.expect("spec").template.spec.expect("pod spec");
    let agent = &spec.containers[0];
    assert!(
        agent
            .args
            .as_ref()
            .expect("args")
            .contains(&"--out=s3://captures/node/".to_string())
    );
    let env_from = agent.env_from.as_ref().expect("envFrom");
    assert_eq!(
        env_from[0].secret_ref.as_ref().expect("secretRef").name,
        "triage-s3"
    );
}

#[test]
fn every_manifest_is_a_valid_kubernetes_object_with_the_documented_posture() {
    let mut daemonsets = 0;
    for doc in plain_manifests() {
        let kind = doc["kind"].as_str().expect("a kind").to_string();
        match kind.as_str() {
            "Namespace" => {
                let ns: Namespace = serde_json::from_value(doc).expect("a valid Namespace");
                assert_eq!(ns.metadata.name.as_deref(), Some("triage"));
            }
            "ServiceAccount" => {
                let sa: ServiceAccount =
                    serde_json::from_value(doc).expect("a valid ServiceAccount");
                assert_eq!(sa.automount_service_account_token, Some(false));
            }
            "DaemonSet" => {
                daemonsets += 1;
                let ds: DaemonSet = serde_json::from_value(doc).expect("a valid DaemonSet");
                let spec = ds.spec.expect("spec");
                let pod = spec.template.spec.expect("pod spec");
                assert_eq!(pod.host_pid, Some(true), "hostPID to see every process");
                assert_ne!(pod.host_network, Some(true));
                assert_eq!(pod.automount_service_account_token, Some(false));
                assert_eq!(pod.containers.len(), 1);
                let c = &pod.containers[0];
                let sc = c.security_context.as_ref().expect("securityContext");
                assert_eq!(sc.privileged, Some(false));
                assert_eq!(sc.allow_privilege_escalation, Some(false));
                assert_eq!(sc.read_only_root_filesystem, Some(true));
                let caps = sc.capabilities.as_ref().expect("capabilities");
                assert_eq!(caps.drop.as_deref(), Some(&["ALL".to_string()][..]));
                let mut added = caps.add.clone().expect("added capabilities");
                added.sort();
                assert_eq!(added, ["DAC_OVERRIDE", "FOWNER", "KILL", "SYS_PTRACE"]);
                let resources = c.resources.as_ref().expect("resources");
                for key in ["cpu", "memory"] {
                    assert!(
                        resources
                            .requests
                            .as_ref()
                            .expect("requests")
                            .contains_key(key)
                    );
                    assert!(resources.limits.as_ref().expect("limits").contains_key(key));
                }
                let args = c.args.as_ref().expect("args");
                assert_eq!(args[0], "agent");
                assert!(args.iter().any(|a| a.starts_with("--listen=$(POD_IP):")));
                // Host paths: nothing but the cgroup tree, containerd's task state (read-only)
                // and the spool.
                let volumes = pod.volumes.as_ref().expect("volumes");
                let mut host_paths: Vec<&str> = volumes
                    .iter()
                    .filter_map(|v| v.host_path.as_ref().map(|h| h.path.as_str()))
                    .collect();
                host_paths.sort();
                assert_eq!(
                    host_paths,
                    [
                        "/run/containerd/io.containerd.runtime.v2.task",
                        "/sys/fs/cgroup",
                        "/var/lib/triage-agent"
                    ]
                );
                let mounts = c.volume_mounts.as_ref().expect("mounts");
                let tasks = mounts
                    .iter()
                    .find(|m| m.name == "containerd-tasks")
                    .expect("the containerd mount");
                assert_eq!(tasks.read_only, Some(true));
                assert!(
                    c.liveness_probe.is_some() && c.readiness_probe.is_some(),
                    "probes on /healthz"
                );
            }
            other => panic!(
                "unexpected kind {other}: the agent needs no RBAC objects (it never calls the API)"
            ),
        }
    }
    assert_eq!(daemonsets, 1);
}

#[test]
fn the_renderer_refuses_what_it_does_not_know() {
    let ctx = chart_context();
    let unknown = std::panic::catch_unwind(|| render("x: {{ include \"a\" . }}\n", &ctx));
    assert!(unknown.is_err());
    assert_eq!(
        render(
            "a: {{ .Values.image.tag | quote }}\n{{- if .Values.out }}\nb: 1\n{{- end }}\n",
            &ctx
        ),
        "a: \"0.1.0\"\n"
    );
}
