//! Pods as targets of the everyday verbs — `triage snapshot pod/NAME`, `triage snapshot -l …
//! --out s3://…`, `triage metrics pod/NAME` — against the API-compatible test server, whose pods
//! are real processes.

use std::path::Path;
use std::process::{Command, Output};

use testcluster::Background;

fn run(kc: &Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .args(["--kubeconfig", kc.to_str().unwrap()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("running triage")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A run of triage that must fail with `message` on stderr.
fn assert_fails_saying(out: &Output, message: &str) {
    assert!(
        !out.status.success(),
        "expected a failure saying {message:?}"
    );
    assert!(text(&out.stderr).contains(message), "{}", text(&out.stderr));
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b))
}

#[test]
fn snapshot_and_metrics_take_pod_targets() {
    let test = "snapshot_and_metrics_take_pod_targets";
    let Some(python) = testkit::require_program("python3", test) else {
        return;
    };
    // A pod serving a Prometheus exposition on a port named `metrics`. Pods have a private /tmp,
    // so the site lives elsewhere on the host's filesystem.
    let site = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::write(
        site.path().join("metrics"),
        "# HELP shop_orders_total Orders.\n# TYPE shop_orders_total counter\nshop_orders_total{state=\"paid\"} 17\n",
    )
    .unwrap();
    let port = testkit::servers::free_port();
    let specs = [
        format!(
            "shop,app=shop,port=metrics/{port}:cd {} && exec {} -m http.server {port} --bind 127.0.0.1",
            site.path().display(),
            python.display()
        ),
        // Its log holds a YAML password line, as a misconfigured app prints its config.
        "worker,app=shop:: shop-canary-7731; printf 'datasource:\\n  password: Zq9LogSecret42\\n'; exec sleep 1000"
            .to_string(),
    ];
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let Some(c) = Background::start_for_test(test, &specs, |_| {}) else {
        return;
    };
    let kc = c.kubeconfig_path();
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // `triage snapshot pod/NAME`: the same verb as for the host, a verified bundle.
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("pod.tar.zst");
    let out = run(
        &kc,
        &[],
        &["snapshot", "pod/worker", "--out", bundle.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("default/worker"),
        "{}",
        text(&out.stdout)
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["bundle", "verify", bundle.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let marker = b"shop-canary-7731";
    let contains = |path: &Path, needle: &[u8]| {
        let data = zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap();
        data.windows(needle.len()).any(|w| w == needle)
    };
    assert!(contains(&bundle, marker), "the pod's spec is in the bundle");
    // The log line (a real newline, unlike the command in the pod spec), redacted where it stands.
    assert!(
        contains(&bundle, b"  password: [REDACTED:password-assignment]\n"),
        "the pod's log, redacted, is in the bundle"
    );
    assert!(
        !contains(&bundle, b"Zq9LogSecret42"),
        "a password from the pod's log reached the bundle"
    );
    // The redaction flags apply to pods as to the host.
    let redacted = work.path().join("redacted.tar.zst");
    let out = run(
        &kc,
        &[],
        &[
            "snapshot",
            "pod/worker",
            "--redact-literal",
            "shop-canary-7731",
            "--out",
            redacted.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !contains(&redacted, marker),
        "a --redact-literal value reached the bundle"
    );
    assert!(contains(&redacted, b"[REDACTED:"));

    // `triage metrics pod/NAME`: the port named `metrics`, through port-forward, parsed.
    let out = run(&kc, &[], &["metrics", "pod/shop", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let families: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let family = families
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "shop_orders_total")
        .expect("the pod's family");
    assert_eq!(family["metrics"][0]["value"], "17");
    assert_eq!(family["metrics"][0]["labels"]["state"], "paid");

    // `-l SELECTOR --out s3://…/`: both pods in one bundle, uploaded.
    let Some(moto) = testkit::servers::start_moto(test) else {
        return;
    };
    assert_eq!(
        testkit::servers::http(moto.port, "PUT", "/incidents").0,
        200
    );
    let env = testkit::servers::s3_env(moto.port);
    let out = run(
        &kc,
        &env,
        &[
            "snapshot",
            "-l",
            "app=shop",
            "--out",
            "s3://incidents/shop/",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("default/shop") && stdout.contains("default/worker"),
        "{stdout}"
    );
    let stderr = text(&out.stderr);
    let key = stderr
        .lines()
        .find_map(|l| l.strip_prefix("bundle: s3://"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no upload reported: {stderr}"))
        .to_string();
    let (status, body) = testkit::servers::http(moto.port, "GET", &format!("/{key}"));
    assert_eq!(status, 200);
    let fetched = work.path().join("fetched.tar.zst");
    std::fs::write(&fetched, body).unwrap();
    let verify = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["bundle", "verify", fetched.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(verify.status.success(), "{}", text(&verify.stderr));

    // A pod that does not exist: a clear error naming it.
    let out = run(&kc, &[], &["snapshot", "pod/nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("nope"), "{}", text(&out.stderr));
}

/// `triage snapshot -l …` over 20 replicas of one Deployment: one pod's container hangs on every
/// exec, one answers garbage and fails, one runs another image. The hung pod holds one slot until
/// `--timeout`, the other pods flow past it, and the summary names each odd replica.
#[test]
fn fan_out_over_twenty_pods_survives_a_hanging_and_a_failing_one() {
    let test = "fan_out_over_twenty_pods_survives_a_hanging_and_a_failing_one";
    // "Images" whose sh and cat misbehave, first on the container's PATH.
    let images = tempfile::tempdir_in("/var/tmp").unwrap();
    let hung = images.path().join("hung");
    let broken = images.path().join("broken");
    for (dir, body) in [
        (&hung, "#!/bin/sh\nexec sleep 600\n"),
        (
            &broken,
            "#!/bin/sh\nprintf 'Segmentation fault \\001\\002'\nexit 139\n",
        ),
    ] {
        std::fs::create_dir(dir).unwrap();
        for tool in ["sh", "cat"] {
            let path = dir.join(tool);
            std::fs::write(&path, body).unwrap();
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .unwrap();
        }
    }
    let specs = [
        // Listed first, so it is among the first pods collected.
        format!(
            "a-hung,app=web,deploy=web,path-prepend={}:exec sleep 1000",
            hung.display()
        ),
        "web,app=web,deploy=web,replicas=17:exec sleep 1000".to_string(),
        "web-canary,app=web,deploy=web,image=local/web:v2:exec sleep 1000".to_string(),
        format!(
            "web-broken,app=web,deploy=web,path-prepend={}:exec sleep 1000",
            broken.display()
        ),
    ];
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let Some(c) = Background::start_for_test(test, &specs, |_| {}) else {
        return;
    };
    let kc = c.kubeconfig_path();
    let work = tempfile::tempdir().unwrap();
    let bundle = work.path().join("web.tar.zst");
    let out = run(
        &kc,
        &[],
        &[
            "snapshot",
            "-l",
            "app=web",
            "--parallel",
            "4",
            "--timeout",
            "4s",
            "--json",
            "--out",
            bundle.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // One line per pod; the other pods finished while the hung one held its slot.
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("triage: default/"))
        .collect();
    assert_eq!(lines.len(), 20, "one progress line per pod: {stderr}");
    let hung_at = lines
        .iter()
        .position(|l| l.starts_with("triage: default/a-hung: timed out after"))
        .unwrap_or_else(|| panic!("the hung pod timed out: {stderr}"));
    assert!(
        hung_at >= 15,
        "pods queued behind the hung one waited for it: {stderr}"
    );
    assert!(
        stderr.contains("20 pods: 18 complete, 2 partial (of which 1 timed out)"),
        "{stderr}"
    );

    // The comparison of the replicas, on stdout and in the bundle.
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let groups = summary["replicas"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:#?}");
    assert_eq!(groups[0]["owner"], "Deployment/web");
    let replicas = groups[0]["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 20);
    let row = |name: &str| {
        replicas
            .iter()
            .find(|r| r["pod"] == format!("default/{name}"))
            .unwrap_or_else(|| panic!("{name} in {replicas:#?}"))
    };
    let notes = |name: &str| row(name)["outlier"].to_string();
    assert_eq!(row("a-hung")["status"], "timed out");
    assert!(
        notes("a-hung").contains("--timeout 4s"),
        "{}",
        notes("a-hung")
    );
    assert_eq!(row("web-broken")["status"], "partial");
    assert!(
        notes("web-broken").contains("container collectors not run"),
        "{}",
        notes("web-broken")
    );
    assert!(
        notes("web-canary").contains("17 of 20 replicas run"),
        "{}",
        notes("web-canary")
    );
    for i in 0..17 {
        let name = format!("web-{i}");
        assert_eq!(row(&name)["status"], "complete", "{:#?}", row(&name));
        assert!(!notes(&name).contains("sha256"), "{}", notes(&name));
    }
    let reader = bundle::reader::BundleReader::open(&bundle).unwrap();
    assert!(reader.verify().unwrap().is_clean());
    let stored: serde_json::Value =
        serde_json::from_slice(&reader.read_member("kubernetes/replicas.json").unwrap()).unwrap();
    assert_eq!(stored, summary["replicas"]);
    // Every pod has its folder, the hung one included (its object, from resolution).
    for name in ["a-hung", "web-broken", "web-canary", "web-0", "web-16"] {
        assert!(
            reader
                .read_member(&format!("kubernetes/default/{name}/pod.json"))
                .is_ok(),
            "{name}'s folder"
        );
    }
}

const HOARD: &str = r#"
import java.util.ArrayList;
import java.util.List;

public class Hoard {
    static final List<HoardItem> KEPT = new ArrayList<>();
    static class HoardItem { long a; long b; HoardItem(long a) { this.a = a; this.b = a * 2; } }
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < 20000; i++) KEPT.add(new HoardItem(i));
        System.out.println("hoarded " + KEPT.size());
        Thread.sleep(600_000);
    }
}
"#;

/// Wait until the Hoard JVM in pod/jvm has hoarded (its log says so).
fn wait_until_hoarded(c: &Background) {
    let pod = c.cluster.pod("default", "jvm").unwrap();
    let log_path = pod.containers[0].state.lock().unwrap().log_path.clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("hoarded 20000")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the JVM in pod/jvm never started: {:?}",
            std::fs::read_to_string(&log_path)
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `triage jvm heapdump pod/NAME --via ephemeral`: an ephemeral container joins the JVM's process
/// namespace and triage itself, run there, takes the dump by the native attach protocol (what a
/// distroless image needs: no jcmd is called); the dump is then copied out of that container and
/// checked against its sha256 there.
#[test]
fn pod_heap_dump_through_an_ephemeral_container_attaches_natively() {
    let test = "pod_heap_dump_through_an_ephemeral_container_attaches_natively";
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Hoard", HOARD) else {
        return;
    };
    // The "image" of the ephemeral container: this build's triage binary, visible at the same
    // path inside it.
    let triage = std::fs::canonicalize(env!("CARGO_BIN_EXE_triage")).unwrap();
    let bin_dir = triage.parent().unwrap().to_path_buf();
    let spec = format!(
        "jvm,app=jvm:exec {} -Xmx64m -cp {} Hoard",
        java.display(),
        classes.path().display()
    );
    let Some(c) = Background::start_for_test(test, &[&spec], |cfg| {
        cfg.shared_dirs = vec![classes.path().to_path_buf(), bin_dir.clone()]
    }) else {
        return;
    };
    wait_until_hoarded(&c);
    let kc = c.kubeconfig_path();
    let out_dir = tempfile::tempdir().unwrap();
    let dump_path = out_dir.path().join("heap.hprof");
    let triage_in_image = triage.to_str().unwrap();

    let heapdump_via_ephemeral = |extra: &[&str]| {
        let mut args = vec!["jvm", "heapdump", "pod/jvm", "--via", "ephemeral"];
        args.extend_from_slice(extra);
        run(&kc, &[], &args)
    };
    // Without an image the mode says what it needs.
    assert_fails_saying(
        &heapdump_via_ephemeral(&[]),
        "--via ephemeral needs --image IMAGE",
    );
    // An image without triage in it is named, with what to pass.
    assert_fails_saying(
        &heapdump_via_ephemeral(&[
            "--image",
            "busybox:1.36",
            "--ephemeral-triage",
            "/nonexistent/triage",
        ]),
        "the ephemeral image has no `/nonexistent/triage`",
    );

    let out = heapdump_via_ephemeral(&[
        "--image",
        "ghcr.io/triage/triage:test",
        "--ephemeral-triage",
        triage_in_image,
        "-o",
        dump_path.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["dump"]["verification"], "Verified", "{report}");
    let dump = std::fs::read(&dump_path).unwrap();
    assert!(dump.starts_with(b"JAVA PROFILE 1.0.2\0"));
    assert_eq!(
        sha256_hex(&dump),
        report["dump"]["sha256"].as_str().unwrap(),
        "{report}"
    );
    let histogram = hprof::histogram(&dump[..], &hprof::HistogramOptions::default()).unwrap();
    let hoarded = histogram
        .entries
        .iter()
        .find(|e| e.class == "Hoard$HoardItem")
        .map(|e| e.instances);
    assert_eq!(hoarded, Some(20000));
    // The dump came from the ephemeral container, which the pod now lists (running triage's
    // image); the JVM goes on answering.
    let pod = c.cluster.pod("default", "jvm").unwrap();
    let ephemeral = pod.ephemeral.lock().unwrap().clone();
    assert_eq!(
        ephemeral.len(),
        2,
        "one per --image attempt that got that far"
    );
    let used = ephemeral
        .iter()
        .find(|e| e.spec.image == "ghcr.io/triage/triage:test")
        .expect("an ephemeral container of the triage image");
    assert!(used.spec.name.starts_with("triage-"), "{}", used.spec.name);
    let out = run(&kc, &[], &["jvm", "threads", "pod/jvm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Hoard.main"),
        "{}",
        text(&out.stdout)
    );
}

/// `triage jvm heapdump pod/NAME --out s3://bucket/prefix/ --analyze`: the dump goes pod → triage
/// → bucket, zstd-compressed on the way, checked against the pod's own sha256, with the class
/// histogram computed on the same stream and stored next to it; nothing is written locally.
#[test]
fn pod_heap_dump_streams_to_the_bucket_with_its_histogram() {
    let test = "pod_heap_dump_streams_to_the_bucket_with_its_histogram";
    let Some(java) = testkit::require_program("java", test) else {
        return;
    };
    let Some(_) = testkit::require_program("jcmd", test) else {
        return;
    };
    let Some(classes) = testkit::compile_java(test, "Hoard", HOARD) else {
        return;
    };
    let Some(moto) = testkit::servers::start_moto(test) else {
        return;
    };
    assert_eq!(testkit::servers::http(moto.port, "PUT", "/dumps").0, 200);
    let spec = format!(
        "jvm,app=jvm:exec {} -Xmx64m -cp {} Hoard",
        java.display(),
        classes.path().display()
    );
    let Some(c) = Background::start_for_test(test, &[&spec], |cfg| {
        cfg.shared_dirs = vec![classes.path().to_path_buf()]
    }) else {
        return;
    };
    wait_until_hoarded(&c);
    let kc = c.kubeconfig_path();
    // The everyday JVM verbs take the pod as their target too.
    let out = run(&kc, &[], &["jvm", "threads", "pod/jvm"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("\"main\"") && text(&out.stdout).contains("Hoard.main"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&kc, &[], &["jvm", "histogram", "pod/jvm", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let histogram: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(
        histogram.to_string().contains("Hoard$HoardItem"),
        "{histogram:#}"
    );
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "jvm",
            "heapdump",
            "pod/jvm",
            "--out",
            "s3://dumps/heaps/",
            "--analyze",
            "--json",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .envs(testkit::servers::s3_env(moto.port))
        .current_dir(cwd.path())
        .output()
        .expect("running triage");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let location = report["object"]["location"].as_str().unwrap();
    let key = location
        .strip_prefix("s3://")
        .unwrap_or_else(|| panic!("an s3:// location: {report}"));
    assert!(
        key.starts_with("dumps/heaps/heap-pod-jvm-") && key.ends_with(".hprof.zst"),
        "{key}"
    );
    assert_eq!(report["dump"]["verification"], "Verified", "{report}");

    // The stored object: zstd of exactly the dump the pod hashed.
    let (status, object) = testkit::servers::http(moto.port, "GET", &format!("/{key}"));
    assert_eq!(status, 200);
    assert_eq!(
        sha256_hex(&object),
        report["object"]["sha256"].as_str().unwrap()
    );
    assert_eq!(
        object.len() as u64,
        report["object"]["size_bytes"].as_u64().unwrap()
    );
    let dump = zstd::decode_all(&object[..]).expect("a zstd stream");
    assert!(dump.starts_with(b"JAVA PROFILE 1.0.2\0"));
    assert_eq!(
        sha256_hex(&dump),
        report["dump"]["sha256"].as_str().unwrap()
    );
    assert_eq!(
        dump.len() as u64,
        report["dump"]["size_bytes"].as_u64().unwrap()
    );

    // The histogram, computed on the stream, next to the dump; it agrees with a pass over the
    // stored dump.
    let (status, stored) =
        testkit::servers::http(moto.port, "GET", &format!("/{key}.histogram.json"));
    assert_eq!(status, 200, "{}", text(&stored));
    let stored: serde_json::Value = serde_json::from_slice(&stored).unwrap();
    let hoarded = |entries: &serde_json::Value| {
        entries
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["class"] == "Hoard$HoardItem")
            .map(|e| e["instances"].as_u64().unwrap())
    };
    assert_eq!(hoarded(&stored["histogram"]), Some(20000), "{stored:#}");
    assert_eq!(hoarded(&report["top_classes"]), Some(20000));
    let again = hprof::histogram(&dump[..], &hprof::HistogramOptions::default()).unwrap();
    assert_eq!(
        stored["summary"]["objects"].as_u64().unwrap(),
        again.total_instances
    );
    // Nothing of the dump touched the local disk.
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}

/// A 1 GiB dump goes pod → triage → bucket with triage's peak RSS under 100 MB: the stream is
/// back-pressured end to end, never buffered whole. The pod's `jcmd` is a stand-in writing 1 GiB
/// of random bytes (a real 1 GiB heap would only slow the test down; the bytes are not parsed).
#[test]
// The child is reaped with `wait4`, which also gives its peak RSS.
#[allow(clippy::zombie_processes)]
fn a_one_gib_dump_streams_to_the_bucket_in_bounded_memory() {
    let test = "a_one_gib_dump_streams_to_the_bucket_in_bounded_memory";
    let Some(moto) = testkit::servers::start_moto(test) else {
        return;
    };
    assert_eq!(testkit::servers::http(moto.port, "PUT", "/big").0, 200);
    let image = tempfile::tempdir_in("/var/tmp").unwrap();
    let jcmd = image.path().join("jcmd");
    std::fs::write(
        &jcmd,
        "#!/bin/sh\n[ \"$1\" = -l ] && exit 0\nhead -c 1073741824 /dev/urandom > \"$3\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&jcmd, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let spec = format!(
        "big,app=big,path-prepend={}:exec sleep 1000",
        image.path().display()
    );
    let Some(c) = Background::start_for_test(test, &[&spec], |_| {}) else {
        return;
    };
    let kc = c.kubeconfig_path();
    let cwd = tempfile::tempdir().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args([
            "jvm",
            "heapdump",
            "pod/big",
            "--out",
            "s3://big/incident/dump.hprof",
            "--json",
            "--kubeconfig",
            kc.to_str().unwrap(),
        ])
        .envs(testkit::servers::s3_env(moto.port))
        .current_dir(cwd.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running triage");
    let pid = child.id() as libc::pid_t;
    // Read both pipes while it runs, then reap it with its resource usage.
    let (mut stdout, mut stderr) = (child.stdout.unwrap(), child.stderr.unwrap());
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut s).unwrap();
        s
    });
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut stdout, &mut out).unwrap();
    let err = err_reader.join().unwrap();
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not yet reaped; both pointers are valid for the call.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(reaped, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "triage failed ({status}): {}",
        text(&err)
    );
    let report: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
    assert_eq!(report["dump"]["size_bytes"], 1u64 << 30, "{report}");
    assert_eq!(report["object"]["size_bytes"], 1u64 << 30, "{report}");
    assert_eq!(report["dump"]["verification"], "Verified");
    // The store holds the whole object.
    let (status, listing) = testkit::servers::http(moto.port, "GET", "/big?list-type=2");
    assert_eq!(status, 200);
    let listing = text(&listing);
    assert!(
        listing.contains("<Key>incident/dump.hprof</Key>")
            && listing.contains("<Size>1073741824</Size>"),
        "{listing}"
    );
    // ru_maxrss is in KiB; the limit is 100 MB.
    let peak_bytes = usage.ru_maxrss as u64 * 1024;
    eprintln!(
        "triage peak RSS streaming 1 GiB: {:.1} MiB ({:.1} MB)",
        peak_bytes as f64 / (1 << 20) as f64,
        peak_bytes as f64 / 1e6
    );
    assert!(
        peak_bytes < 100_000_000,
        "triage's peak RSS was {:.1} MB streaming 1 GiB",
        peak_bytes as f64 / 1e6
    );
    assert_eq!(std::fs::read_dir(cwd.path()).unwrap().count(), 0);
}
