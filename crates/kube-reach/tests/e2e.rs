//! kube-reach against the API-compatible test server: real processes in their own pid and mount
//! namespaces behind exec, logs, port-forward and ephemeral containers.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use kube_reach::exec::ExecTarget;
use kube_reach::rbac::Operation;
use kube_reach::target::Target;
use kube_reach::{Error, KubeOptions};
use testcluster::{ClusterConfig, Running};

struct Env {
    running: Running,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

async fn start(test: &str, specs: &[&str], tweak: impl FnOnce(&mut ClusterConfig)) -> Option<Env> {
    let config = testcluster::test_config(test, specs, tweak)?;
    let running = testcluster::serve(config, Vec::new(), 0)
        .await
        .expect("starting the test server");
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    running.write_kubeconfig(&kubeconfig).unwrap();
    Some(Env {
        running,
        _dir: dir,
        kubeconfig,
    })
}

impl Env {
    async fn client(&self) -> (kube::Client, String) {
        kube_reach::connect(&KubeOptions {
            kubeconfig: Some(self.kubeconfig.clone()),
            ..Default::default()
        })
        .await
        .expect("connecting")
    }

    fn host_pid(&self, pod: &str) -> u32 {
        self.running.cluster.pod("default", pod).unwrap().containers[0]
            .exec_pid()
            .unwrap()
    }

    /// Wait for a file the pod writes into its private /tmp.
    async fn wait_file(&self, pod: &str, path: &str, len: u64) -> PathBuf {
        let host = PathBuf::from(format!("/proc/{}/root{path}", self.host_pid(pod)));
        for _ in 0..200 {
            if std::fs::metadata(&host).is_ok_and(|m| m.len() == len) {
                return host;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{pod} did not write {path}");
    }
}

const SHELL: &str = "shell,app=shell:echo started; head -c 3000000 /dev/urandom > /tmp/data.bin; echo ready; exec sleep 1000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolves_like_kubectl_and_suggests_names() {
    let Some(env) = start(
        "resolves_like_kubectl_and_suggests_names",
        &[
            "web,app=web,deploy=web,replicas=2:exec sleep 1000",
            SHELL,
            "crasher,app=crasher:echo dying; exit 7",
        ],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    assert_eq!(ns, "default");

    let pods = kube_reach::resolve(&client, &ns, &Target::parse("pod/shell").unwrap())
        .await
        .unwrap();
    assert_eq!(pods.len(), 1);
    let p = &pods[0];
    assert_eq!(p.node.as_deref(), Some("testnode"));
    assert_eq!(p.phase.as_deref(), Some("Running"));
    let c = &p.containers[0];
    assert_eq!(c.name, "main");
    assert_eq!(c.state, "running");
    assert!(
        c.container_id
            .as_deref()
            .unwrap()
            .starts_with("containerd://"),
        "{c:?}"
    );
    assert!(
        c.image_digest.as_deref().unwrap().starts_with("sha256:"),
        "{c:?}"
    );
    assert!(p.owners.is_empty());

    // deploy/NAME: its pods, with the owner chain ReplicaSet → Deployment.
    let pods = kube_reach::resolve(&client, &ns, &Target::parse("deploy/web").unwrap())
        .await
        .unwrap();
    let names: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["web-0", "web-1"]);
    assert!(
        pods[0].owners[0].starts_with("ReplicaSet/web-"),
        "{:?}",
        pods[0].owners
    );
    assert_eq!(pods[0].owners[1], "Deployment/web");
    let pods = kube_reach::resolve(&client, &ns, &Target::Selector("app in (web,shell)".into()))
        .await
        .unwrap();
    assert_eq!(pods.len(), 3);

    // Not found: close names suggested.
    let err = kube_reach::resolve(&client, &ns, &Target::parse("pod/web-2").unwrap())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::NotFound(_)), "{msg}");
    assert!(msg.contains("did you mean pod/web-0, pod/web-1"), "{msg}");
    let err = kube_reach::resolve(&client, &ns, &Target::parse("deploy/wbe").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did you mean web"), "{err}");
    let err = kube_reach::resolve(&client, &ns, &Target::Selector("app=nothing".into()))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("no pods in namespace default match"),
        "{err}"
    );

    // A crash-looping container: restarts, last termination, and exec refused with the reason.
    let mut crasher = None;
    for _ in 0..100 {
        let p = kube_reach::resolve(&client, &ns, &Target::parse("pod/crasher").unwrap())
            .await
            .unwrap()
            .remove(0);
        if p.containers[0].restart_count >= 2 && p.containers[0].state != "running" {
            crasher = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let crasher = crasher.expect("crasher restarted twice");
    let c = &crasher.containers[0];
    assert_eq!(c.last_termination_reason.as_deref(), Some("Error"));
    assert_eq!(c.last_exit_code, Some(7));
    let err = crasher.running_container(None).unwrap_err().to_string();
    assert!(
        err.contains("is not running") && err.contains("exit code 7"),
        "{err}"
    );
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_exit_codes_streams_and_cut_streams() {
    let Some(env) = start("exec_exit_codes_streams_and_cut_streams", &[SHELL], |_| {}).await else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client.clone(), &ns, "shell", "main");
    let out = kube_reach::exec::run(
        &t,
        &["sh", "-c", "echo out; echo err >&2; exit 42"],
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 42);
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    let out = kube_reach::exec::run(&t, &["true"], 1 << 20).await.unwrap();
    assert_eq!(out.exit_code, 0);
    // A missing program is exit code 127, recognised as such.
    let out = kube_reach::exec::run(&t, &["no-such-program-here"], 1 << 20)
        .await
        .unwrap();
    assert!(out.command_missing(), "{out:?}");
    // 5 MiB of stdout arrive whole; a cap keeps the first bytes and says so.
    let out = kube_reach::exec::run(&t, &["head", "-c", "5242880", "/dev/zero"], 8 << 20)
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 5 << 20);
    let out = kube_reach::exec::run(&t, &["head", "-c", "100000", "/dev/zero"], 1000)
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 1000);
    assert!(out.stdout_truncated);
    // Stdin reaches the process.
    let out = kube_reach::exec::run_with_stdin(&t, &["wc", "-c"], Some(&[7u8; 123_456]), 1 << 20)
        .await
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "123456");
    // The pod's pid namespace: few processes, and pid 1 is the pod's command.
    let out = kube_reach::exec::run(&t, &["cat", "/proc/1/cmdline"], 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sleep"),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A command that stays silent longer than the idle bound is given up, not waited for.
    let quick = t.clone().with_idle_timeout(Duration::from_millis(500));
    let began = std::time::Instant::now();
    let err = kube_reach::exec::run(&quick, &["sleep", "30"], 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    // Output keeps a slow command alive: silence is bounded, not the total time.
    let out = kube_reach::exec::run(
        &quick,
        &["sh", "-c", "for i in 1 2 3 4; do echo $i; sleep 0.2; done"],
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"1\n2\n3\n4\n");
    env.running.stop().await;

    // A server that cuts the stream before the status frame: an error, never success, and at
    // once (kube-rs leaves the output pipes open when the connection breaks).
    let Some(env) = start("exec_exit_codes_streams_and_cut_streams", &[SHELL], |c| {
        c.drop_exec_status = true
    })
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "shell", "main");
    let began = std::time::Instant::now();
    let err = kube_reach::exec::run(&t, &["echo", "hi"], 1 << 20)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StreamCut { .. }), "{err}");
    assert!(err.to_string().contains("without an exit status"), "{err}");
    // The same for a copy, which streams instead of buffering.
    let dir = tempfile::tempdir().unwrap();
    let err = kube_reach::copy::copy_file_out(&t, "/etc/hostname", &dir.path().join("h"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::StreamCut { .. }), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a cut copy leaves nothing behind"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "{:?}",
        began.elapsed()
    );
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proc_and_cgroup_files_parsed_by_hostprobe() {
    let Some(env) = start(
        "proc_and_cgroup_files_parsed_by_hostprobe",
        &[SHELL],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "shell", "main");
    let snap = kube_reach::procfs::snapshot_container(&t, &Default::default())
        .await
        .unwrap();
    assert_eq!(snap.fetched_method, "sh + grep (1 exec)");
    let s = &snap.collection.snapshot;
    // The pod's processes, not the host's: its pid 1 is `sleep 1000`.
    assert!(!s.processes.is_empty());
    assert!(
        s.processes.len() < 20,
        "{} processes: the host's leaked in",
        s.processes.len()
    );
    let init = s
        .processes
        .iter()
        .find(|p| p.pid == 1)
        .expect("pid 1 of the pod");
    assert!(init.command.contains("sleep 1000"), "{:?}", init.command);
    let memory = s.memory.as_ref().expect("meminfo parsed");
    assert!(memory.total_bytes > 0);
    assert!(snap.files_read > 10, "{}", snap.files_read);
    env.running.stop().await;

    // An image without a usable grep: the same files through the cat loop, still one exec.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grep"), "#!/bin/sh\nexit 2\n").unwrap();
    std::fs::set_permissions(
        dir.path().join("grep"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let spec = format!(
        "nogrep,path-prepend={}:exec sleep 1000",
        dir.path().display()
    );
    let Some(env) = start(
        "proc_and_cgroup_files_parsed_by_hostprobe",
        &[&spec],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "nogrep", "main");
    let snap = kube_reach::procfs::snapshot_container(&t, &Default::default())
        .await
        .unwrap();
    assert_eq!(snap.fetched_method, "sh + cat (1 exec)");
    let init = snap
        .collection
        .snapshot
        .processes
        .iter()
        .find(|p| p.pid == 1)
        .expect("pid 1 of the pod");
    assert!(init.command.contains("sleep 1000"), "{:?}", init.command);
    assert!(snap.collection.snapshot.memory.is_some());
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_missing_tools_give_clear_errors() {
    // The "image" whose `sh` prints garbage, written before any server runs: a script still open
    // for writing while another thread forks cannot be executed (ETXTBSY), and outside /tmp, which
    // each container's private /tmp hides.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let fake_sh = dir.path().join("sh");
    std::fs::write(&fake_sh, "#!/bin/bash\nhead -c 5000 /dev/urandom\n").unwrap();
    std::fs::set_permissions(
        &fake_sh,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let Some(env) = start(
        "garbage_and_missing_tools_give_clear_errors",
        &["notools,env.PATH=/nonexistent:exec /bin/sleep 1000"],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "notools", "main");
    let err = kube_reach::procfs::fetch(&t, &Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("neither `sh` nor `cat`") && err.contains("--via ephemeral"),
        "{err}"
    );
    env.running.stop().await;

    // A container whose `sh` prints garbage instead of running the script.
    let spec = format!(
        "garbage,path-prepend={}:exec /bin/sleep 1000",
        dir.path().display()
    );
    let Some(env) = start(
        "garbage_and_missing_tools_give_clear_errors",
        &[&spec],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "garbage", "main");
    let err = kube_reach::procfs::fetch(&t, &Default::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("printed nothing usable"), "{err}");
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_out_is_verified_and_tampering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    // Images (PATH prefixes) whose checksum programs lie or are missing: `openssl` is asked
    // first, `sha256sum` when the image has no `openssl`.
    let fake_bin = |name: &str, programs: &[(&str, String)]| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for (program, script) in programs {
            let f = d.join(program);
            std::fs::write(&f, script).unwrap();
            std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
        d
    };
    let missing = |p: &str| format!("#!/bin/sh\necho '{p}: not found' >&2; exit 127\n");
    let zeros = "0".repeat(64);
    let liar = fake_bin(
        "liar",
        &[("openssl", format!("#!/bin/sh\necho {zeros} \"*$4\"\n"))],
    );
    let coreutils_liar = fake_bin(
        "cliar",
        &[
            ("openssl", missing("openssl")),
            ("sha256sum", format!("#!/bin/sh\necho {zeros} \"$2\"\n")),
        ],
    );
    let coreutils = fake_bin("coreutils", &[("openssl", missing("openssl"))]);
    let nosum = fake_bin(
        "nosum",
        &[
            ("openssl", missing("openssl")),
            ("sha256sum", missing("sha256sum")),
        ],
    );
    let spec = |name: &str, bin: &std::path::Path| {
        format!(
            "{name},path-prepend={}:echo x > /tmp/f; exec sleep 1000",
            bin.display()
        )
    };
    let (liar_spec, cliar_spec, coreutils_spec, nosum_spec) = (
        spec("liar", &liar),
        spec("cliar", &coreutils_liar),
        spec("coreutils", &coreutils),
        spec("nosum", &nosum),
    );
    let Some(env) = start(
        "copy_out_is_verified_and_tampering_is_caught",
        &[SHELL, &liar_spec, &cliar_spec, &coreutils_spec, &nosum_spec],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let original = env.wait_file("shell", "/tmp/data.bin", 3_000_000).await;
    let t = ExecTarget::new(client.clone(), &ns, "shell", "main");
    let dest = dir.path().join("data.bin");
    let copied = kube_reach::copy::copy_file_out(&t, "/tmp/data.bin", &dest)
        .await
        .unwrap();
    assert_eq!(
        copied.verification,
        kube_reach::copy::Verification::Verified
    );
    assert_eq!(copied.size_bytes, 3_000_000);
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        std::fs::read(&original).unwrap()
    );
    // The destination exists now: refused, not overwritten.
    assert!(
        kube_reach::copy::copy_file_out(&t, "/tmp/data.bin", &dest)
            .await
            .is_err()
    );
    // A missing file: the error names cat's complaint, and nothing is left behind.
    let missing = dir.path().join("missing");
    let err = kube_reach::copy::copy_file_out(&t, "/tmp/nope", &missing)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("No such file"), "{err}");
    assert!(!missing.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );

    // A pod whose checksum program lies is caught, whichever program it is.
    for pod in ["liar", "cliar"] {
        let t = ExecTarget::new(client.clone(), &ns, pod, "main");
        env.wait_file(pod, "/tmp/f", 2).await;
        let out = dir.path().join(format!("{pod}.out"));
        let err = kube_reach::copy::copy_file_out(&t, "/tmp/f", &out)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Verification(_)), "{pod}: {err}");
        assert!(!out.exists(), "{pod}");
    }
    // Without openssl, coreutils' sha256sum verifies the copy.
    let t = ExecTarget::new(client.clone(), &ns, "coreutils", "main");
    env.wait_file("coreutils", "/tmp/f", 2).await;
    let copied = kube_reach::copy::copy_file_out(&t, "/tmp/f", &dir.path().join("cu.out"))
        .await
        .unwrap();
    assert_eq!(
        copied.verification,
        kube_reach::copy::Verification::Verified
    );
    assert_eq!(std::fs::read(dir.path().join("cu.out")).unwrap(), b"x\n");

    let t = ExecTarget::new(client, &ns, "nosum", "main");
    env.wait_file("nosum", "/tmp/f", 2).await;
    let copied = kube_reach::copy::copy_file_out(&t, "/tmp/f", &dir.path().join("nosum.out"))
        .await
        .unwrap();
    assert!(
        matches!(
            copied.verification,
            kube_reach::copy::Verification::Unverified(_)
        ),
        "{:?}",
        copied.verification
    );
    assert_eq!(std::fs::read(dir.path().join("nosum.out")).unwrap(), b"x\n");
    env.running.stop().await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_one_connection_per_request() {
    let Some(python) =
        testkit::require_program("python3", "port_forward_one_connection_per_request")
    else {
        return;
    };
    let port = free_port();
    let spec = format!(
        "http,annotation.prometheus.io/port={port}:cd /tmp && echo 'metric_a 1' > metrics && exec {} -m http.server {port} --bind 127.0.0.1",
        python.display()
    );
    let Some(env) = start("port_forward_one_connection_per_request", &[&spec], |_| {}).await else {
        return;
    };
    let (client, ns) = env.client().await;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(client.clone(), &ns);
    let pod = kube_reach::resolve(&client, &ns, &Target::parse("pod/http").unwrap())
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        kube_reach::portforward::metrics_port(&pod.object),
        Some(port)
    );
    let mut body = None;
    for _ in 0..50 {
        match kube_reach::portforward::http_get(
            &pods,
            "http",
            port,
            "/metrics",
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        {
            Ok(r) => {
                body = Some(r);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let r = body.expect("the pod's HTTP server answered through port-forward");
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"metric_a 1\n");
    // Three more requests, each on its own port-forward.
    for _ in 0..3 {
        let r = kube_reach::portforward::http_get(
            &pods,
            "http",
            port,
            "/metrics",
            1 << 20,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert_eq!(r.body, b"metric_a 1\n");
    }
    // Nothing listening: the error says so.
    let err = kube_reach::portforward::http_get(
        &pods,
        "http",
        free_port(),
        "/",
        1 << 20,
        Duration::from_secs(10),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("pod/http port"), "{err}");
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_preflight_names_what_is_missing() {
    let Some(env) = start("rbac_preflight_names_what_is_missing", &[SHELL], |c| {
        c.deny = vec!["create pods/exec".into(), "get nodes".into()];
    })
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let pre = kube_reach::rbac::preflight(&client, &ns, Operation::SnapshotExec)
        .await
        .unwrap();
    let missing: Vec<String> = pre.missing.iter().map(|p| p.display()).collect();
    assert_eq!(missing, ["create pods/exec"]);
    let degraded: Vec<String> = pre.degraded.iter().map(|p| p.display()).collect();
    assert_eq!(degraded, ["get nodes"]);
    let err = pre
        .require(Operation::SnapshotExec, &ns)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("create pods/exec")
            && err.contains("docs/rbac.yaml")
            && err.contains("triage-exec"),
        "{err}"
    );
    // Inspect needs no exec: allowed.
    let pre = kube_reach::rbac::preflight(&client, &ns, Operation::Inspect)
        .await
        .unwrap();
    assert!(pre.missing.is_empty());
    // And the exec itself is refused with a Forbidden error pointing at the roles.
    let t = ExecTarget::new(client, &ns, "shell", "main");
    let err = kube_reach::exec::run(&t, &["true"], 1024)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Forbidden(_)), "{err}");
    assert!(err.to_string().contains("docs/rbac.yaml"), "{err}");
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_data_without_secrets() {
    let Some(env) = start(
        "pod_data_without_secrets",
        &[
            "api,app=api,deploy=api,replicas=2,secret-env=DB_PASSWORD/db/password:echo hello from api; echo oops >&2; exec sleep 1000",
            "other,app=other:exec sleep 1000",
        ],
        |c| {
            let sel: BTreeMap<String, String> = [("app".to_string(), "api".to_string())].into();
            c.services.push(("default".into(), "api".into(), sel.clone()));
            c.pdbs.push(("default".into(), "api".into(), sel, 1));
        },
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pod = kube_reach::resolve(&client, &ns, &Target::parse("pod/api-0").unwrap())
        .await
        .unwrap()
        .remove(0);
    let data = kube_reach::collect::collect_pod(&client, &pod, &Default::default()).await;
    assert!(data.warnings.is_empty(), "{:?}", data.warnings);
    assert_eq!(data.owners.len(), 2, "ReplicaSet and Deployment");
    assert_eq!(data.owners[1]["kind"], "Deployment");
    assert_eq!(data.siblings.len(), 2);
    assert_eq!(data.services.len(), 1);
    assert_eq!(data.endpoint_slices.len(), 1);
    assert_eq!(data.pdbs.len(), 1);
    assert!(
        data.events.iter().any(|e| e["reason"] == "Started"),
        "{:?}",
        data.events
    );
    assert_eq!(
        data.node.as_ref().unwrap()["status"]["nodeInfo"]["kubeletVersion"],
        testcluster::KUBELET_VERSION
    );
    let log = &data.logs.iter().find(|l| !l.previous).unwrap().data;
    let text = String::from_utf8_lossy(log);
    assert!(
        text.contains("hello from api") && text.contains("oops"),
        "{text}"
    );
    // The secret env var is a reference, never a value, and no Secret was ever read.
    let env_var = &data.pod["spec"]["containers"][0]["env"][0];
    assert_eq!(env_var["valueFrom"]["secretKeyRef"]["name"], "db");
    assert!(env_var.get("value").is_none());
    assert!(
        env.running
            .requests()
            .iter()
            .all(|r| !r.contains("/secrets")),
        "{:?}",
        env.running.requests()
    );
    // A byte cap on logs.
    let small = kube_reach::collect::PodCollectOptions {
        log_limit_bytes: 10,
        ..Default::default()
    };
    let data = kube_reach::collect::collect_pod(&client, &pod, &small).await;
    let l = data.logs.iter().find(|l| !l.previous).unwrap();
    assert_eq!(l.data.len(), 10);
    assert!(l.truncated);
    env.running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_container_shares_the_process_namespace() {
    let Some(env) = start(
        "ephemeral_container_shares_the_process_namespace",
        &[SHELL],
        |_| {},
    )
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    env.wait_file("shell", "/tmp/data.bin", 3_000_000).await;
    let pod = kube_reach::resolve(&client, &ns, &Target::parse("pod/shell").unwrap())
        .await
        .unwrap()
        .remove(0);
    let spec = kube_reach::ephemeral::EphemeralSpec {
        image: "busybox:1.36".into(),
        command: Vec::new(),
        target_container: "main".into(),
        timeout: Duration::from_secs(10),
    };
    let t = kube_reach::ephemeral::start(&client, &ns, &pod, &spec)
        .await
        .unwrap();
    assert!(t.container.starts_with("triage-"));
    // pid 1 seen from the ephemeral container is the target's, and its files are reachable
    // through /proc/1/root (the target's private /tmp).
    let out = kube_reach::exec::run(&t, &["cat", "/proc/1/cmdline"], 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("sleep"),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = kube_reach::exec::run(&t, &["wc", "-c", "/proc/1/root/tmp/data.bin"], 1 << 20)
        .await
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("3000000"),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Its own /tmp is not the target's.
    let out = kube_reach::exec::run(&t, &["ls", "/tmp"], 1 << 20)
        .await
        .unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains("data.bin"));
    // The same collectors run from there.
    let snap = kube_reach::procfs::snapshot_container(&t, &Default::default())
        .await
        .unwrap();
    assert!(
        snap.collection
            .snapshot
            .processes
            .iter()
            .any(|p| p.pid == 1 && p.command.contains("sleep 1000"))
    );
    // The pod now lists it.
    let pod = kube_reach::resolve(&client, &ns, &Target::parse("pod/shell").unwrap())
        .await
        .unwrap()
        .remove(0);
    assert!(
        pod.containers
            .iter()
            .any(|c| c.ephemeral && c.name == t.container && c.state == "running"),
        "{:?}",
        pod.containers
    );
    env.running.stop().await;
}

const SLEEPER: &str = r#"
public class Sleeper {
    static byte[][] keep = new byte[64][];
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < keep.length; i++) keep[i] = new byte[16 * 1024];
        System.out.println("jvm up");
        Thread.sleep(600_000);
    }
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jvm_heap_dump_by_exec_and_copy_out() {
    let Some(java) = testkit::require_program("java", "jvm_heap_dump_by_exec_and_copy_out") else {
        return;
    };
    let Some(_) = testkit::require_program("jcmd", "jvm_heap_dump_by_exec_and_copy_out") else {
        return;
    };
    let Some(classes) =
        testkit::compile_java("jvm_heap_dump_by_exec_and_copy_out", "Sleeper", SLEEPER)
    else {
        return;
    };
    let spec = format!(
        "jvm,app=jvm:exec {} -Xmx64m -cp {} Sleeper",
        java.display(),
        classes.path().display()
    );
    // The classes are under the host's /tmp, which the pod's private /tmp hides: shared.
    let Some(env) = start("jvm_heap_dump_by_exec_and_copy_out", &[&spec], |c| {
        c.shared_dirs.push(classes.path().to_path_buf())
    })
    .await
    else {
        return;
    };
    let (client, ns) = env.client().await;
    let t = ExecTarget::new(client, &ns, "jvm", "main");
    // Wait for the JVM to start.
    for _ in 0..100 {
        let out = kube_reach::exec::run(&t, &["jcmd", "-l"], 1 << 20)
            .await
            .unwrap();
        if String::from_utf8_lossy(&out.stdout).contains("Sleeper") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let out = kube_reach::exec::run(
        &t,
        &["jcmd", "1", "GC.heap_dump", "/tmp/heap.hprof"],
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("heap.hprof");
    let copied = kube_reach::copy::copy_file_out(&t, "/tmp/heap.hprof", &dest)
        .await
        .unwrap();
    assert_eq!(
        copied.verification,
        kube_reach::copy::Verification::Verified
    );
    let data = std::fs::read(&dest).unwrap();
    assert!(
        data.starts_with(b"JAVA PROFILE 1.0.2\0"),
        "not an HPROF file"
    );
    assert!(copied.size_bytes > 1_000_000, "{}", copied.size_bytes);
    env.running.stop().await;
}
