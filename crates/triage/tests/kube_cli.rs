//! `triage pod …` end to end against the API-compatible test server: the binary resolves, copies,
//! snapshots, checks permissions and fetches pprof and metrics from a Go pod through port-forward.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testcluster::{Background, ClusterConfig};

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

fn cluster(
    test: &str,
    specs: &[String],
    tweak: impl FnOnce(&mut ClusterConfig),
) -> Option<Background> {
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    Background::start_for_test(test, &specs, tweak)
}

fn run(kc: &Path, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    let kc = kc.to_str().unwrap();
    all.extend(["--kubeconfig", kc]);
    triage().args(&all).output().expect("running triage")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn pod_resolve_cp_snapshot_and_denied_preflight() {
    let test = "pod_resolve_cp_snapshot_and_denied_preflight";
    let specs = vec![
        "shell,app=shell:head -c 2000000 /dev/urandom > /tmp/f; exec sleep 1000".to_string(),
        "crasher,app=crasher:echo dying; exit 3".to_string(),
    ];
    let Some(c) = cluster(test, &specs, |_| {}) else {
        return;
    };
    let kc = c.kubeconfig_path();
    std::thread::sleep(std::time::Duration::from_millis(500));

    let out = run(&kc, &["pod", "resolve", "pod/shell", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let pods: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pods[0]["node"], "testnode");
    assert_eq!(pods[0]["containers"][0]["state"], "running");

    let out = run(&kc, &["pod", "resolve", "pod/shel"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("did you mean pod/shell"),
        "{}",
        text(&out.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f");
    let out = run(
        &kc,
        &["pod", "cp", "pod/shell:/tmp/f", dest.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("verified in the pod"),
        "{}",
        text(&out.stderr)
    );
    let pid = c.cluster.pod("default", "shell").unwrap().containers[0]
        .exec_pid()
        .unwrap();
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(format!("/proc/{pid}/root/tmp/f")).unwrap()
    );

    let bundle = dir.path().join("b.tar.zst");
    let out = run(
        &kc,
        &[
            "pod",
            "snapshot",
            "-l",
            "app in (shell,crasher)",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("default/shell") && stdout.contains("default/crasher"),
        "{stdout}"
    );
    assert!(
        stdout.contains("P-RESTARTS") || stdout.contains("not running"),
        "{stdout}"
    );
    let out = triage()
        .args(["bundle", "verify", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn denied_permissions_are_named() {
    let test = "denied_permissions_are_named";
    let Some(c) = cluster(test, &["web,app=web:exec sleep 1000".to_string()], |cfg| {
        cfg.deny = vec!["create pods/exec".into(), "create pods/portforward".into()];
    }) else {
        return;
    };
    let kc = c.kubeconfig_path();
    let out = run(&kc, &["pod", "preflight", "--for", "snapshot"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("create pods/exec")
            && err.contains("triage-exec")
            && err.contains("docs/rbac.yaml"),
        "{err}"
    );
    let out = run(&kc, &["pod", "preflight", "--for", "port-forward"]);
    assert!(
        text(&out.stderr).contains("create pods/portforward"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&kc, &["pod", "preflight", "--for", "inspect"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

const GO_SERVER: &str = r##"package main

import (
	"fmt"
	"net/http"
	_ "net/http/pprof"
	"os"
)

var sink [][]byte

func main() {
	for i := 0; i < 100; i++ {
		sink = append(sink, make([]byte, 64*1024))
	}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE demo_requests_total counter\ndemo_requests_total{code=\"200\"} 42\n")
	})
	fmt.Println("listening")
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		panic(err)
	}
}
"##;

fn build_go(test: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    let go = testkit::require_program("go", test)?;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.go"), GO_SERVER).unwrap();
    let bin = dir.path().join("server");
    let status = Command::new(go)
        .args(["build", "-o"])
        .arg(&bin)
        .arg("main.go")
        .current_dir(dir.path())
        .env("GOCACHE", dir.path().join("cache"))
        .env("GO111MODULE", "off")
        .status()
        .expect("running go build");
    assert!(status.success(), "go build failed");
    Some((dir, bin))
}

#[test]
fn go_pod_profiles_and_metrics_through_port_forward() {
    let test = "go_pod_profiles_and_metrics_through_port_forward";
    if !testkit::is_root() {
        testkit::skip_or_fail(
            test,
            "the test server needs root (pid and mount namespaces)",
        );
        return;
    }
    let Some((dir, bin)) = build_go(test) else {
        return;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let spec = format!(
        "gosvc,app=gosvc,port=metrics/{port}:exec {} {port}",
        bin.display()
    );
    // The binary is under the host's /tmp, which the pod's private /tmp hides: shared.
    let Some(c) = cluster(test, &[spec], |cfg| {
        cfg.shared_dirs.push(dir.path().to_path_buf())
    }) else {
        return;
    };
    let kc = c.kubeconfig_path();
    let work = tempfile::tempdir().unwrap();
    // Wait until it listens (pods share the host's network); say why when it never does.
    let listening = (0..100).any(|_| {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            false
        }
    });
    if !listening {
        let pod = c.cluster.pod("default", "gosvc").unwrap();
        let state = pod.containers[0].state.lock().unwrap().clone();
        let log = std::fs::read(&state.log_path).unwrap_or_default();
        panic!(
            "the Go server in pod/gosvc never listened on port {port}: {state:?}; its log: {}",
            text(&log)
        );
    }
    let heap = work.path().join("heap.pb.gz");
    let out = run(
        &kc,
        &[
            "pod",
            "http",
            "pod/gosvc",
            "--port",
            &port.to_string(),
            "/debug/pprof/heap",
            "-o",
            heap.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let data = std::fs::read(&heap).unwrap();
    assert_eq!(&data[..2], &[0x1f, 0x8b], "a gzipped profile.proto");
    let profile = pprofile::parse_profile(&data, &pprofile::Limits::default())
        .expect("a valid profile.proto");
    assert!(
        profile
            .sample_types()
            .iter()
            .any(|t| format!("{t:?}").contains("inuse_space")),
        "{:?}",
        profile.sample_types()
    );
    // `triage go profile pod/NAME --port`: every profile through its own port-forward connection,
    // the CPU profile running while the others are taken, each parsed and summarised.
    let profiles = work.path().join("profiles");
    let out = run(
        &kc,
        &[
            "go",
            "profile",
            "pod/gosvc",
            "--port",
            &port.to_string(),
            "--cpu",
            "1s",
            "--heap",
            "--goroutine",
            "--out",
            profiles.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(profiles.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["source"], format!("pod/gosvc:{port}"));
    let captured = summary["profiles"].as_array().unwrap();
    let names: Vec<&str> = captured
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cpu", "heap", "goroutine"]);
    for p in captured {
        assert!(p["error"].is_null(), "{p}");
        let file = profiles.join(p["file"].as_str().unwrap());
        let profile =
            pprofile::parse_profile(&std::fs::read(&file).unwrap(), &pprofile::Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert_eq!(p["samples"].as_u64(), None, "samples sit in the summary");
        assert_eq!(
            p["summary"]["samples"].as_u64().unwrap(),
            profile.sample_count() as u64
        );
    }
    let goroutine = &captured[2]["summary"];
    assert!(
        goroutine["total"].as_i64().unwrap() >= 2,
        "the server has at least its main and listener goroutines: {goroutine}"
    );
    // The CPU profile ran its full second inside the pod.
    assert!(captured[0]["duration_ms"].as_u64().unwrap() >= 1000);

    // Metrics: the port comes from the container port named `metrics`.
    let out = run(&kc, &["pod", "http", "pod/gosvc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("demo_requests_total{code=\"200\"} 42"),
        "{}",
        text(&out.stdout)
    );
}
