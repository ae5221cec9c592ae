//! End-to-end runs of `triage jvm …` against real JVMs started by the tests.

#[path = "../../hotspot/tests/common/hprof_walk.rs"]
mod hprof_walk;
#[path = "../../hotspot/tests/common/jvm.rs"]
mod jvm;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

const MARKERS: u64 = 1800;

fn triage() -> Command {
    Command::new(env!("CARGO_BIN_EXE_triage"))
}

fn run(args: &[&str]) -> Output {
    triage().args(args).output().expect("running triage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn dumps_in_tmp(pid: u32) -> Vec<String> {
    let prefix = format!("triage-heap-{pid}-");
    jvm::list_dir(Path::new("/tmp"))
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn threads_histogram_and_jcmd() {
    let Some(classes) = jvm::compile("threads_histogram_and_jcmd") else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let target = format!("pid:{}", test_jvm.pid);

    let out = run(&["jvm", "threads", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let threads = text(&out.stdout);
    assert!(
        threads.contains("Full thread dump") && threads.contains("\"triage-lock-holder\""),
        "{threads}"
    );
    assert!(threads.contains("- locked <0x"), "lock information (-l)");

    let out = run(&["jvm", "histogram", &target, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON histogram");
    let entries = json["histogram"].as_array().expect("histogram[]");
    let marker = entries
        .iter()
        .find(|e| e["class"] == "TriageMarker")
        .expect("TriageMarker");
    assert_eq!(marker["instances"], MARKERS);
    assert!(marker["bytes"].as_u64().expect("bytes") >= MARKERS * 16);
    assert!(
        entries.iter().any(|e| e["class"] == "byte[]"),
        "class names in Java source form"
    );
    assert_eq!(json["live_only"], true);
    let summed: u64 = entries
        .iter()
        .map(|e| e["instances"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(json["total_instances"].as_u64(), Some(summed));

    let out = run(&["jvm", "histogram", &target, "--all"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let header = table.lines().next().expect("header");
    assert!(
        header.contains("INSTANCES") && header.contains("CLASS"),
        "{header}"
    );
    assert!(
        table.lines().any(|l| l.ends_with(" TriageMarker")),
        "{table}"
    );

    let out = run(&["jvm", "jcmd", &target, "--", "VM.version"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("JDK"), "{}", text(&out.stdout));

    let out = run(&["jvm", "jcmd", &target, "--", "Bogus.command", "x"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("Unknown diagnostic command") && stderr.contains("Bogus.command x"),
        "{stderr}"
    );
}

#[test]
fn heapdump_default_name_compressed_and_plain() {
    let Some(classes) = jvm::compile("heapdump_default_name_compressed_and_plain") else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let target = format!("pid:{}", test_jvm.pid);
    let cwd = tempfile::tempdir().expect("tempdir");

    let out = triage()
        .args(["jvm", "heapdump", &target, "--json"])
        .current_dir(cwd.path())
        .output()
        .expect("triage");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let names = jvm::list_dir(cwd.path());
    assert_eq!(names.len(), 1, "{names:?}");
    let name = &names[0];
    let stamp = name
        .strip_prefix("heap-TriageTestApp-")
        .and_then(|n| n.strip_suffix("Z.hprof.zst"))
        .unwrap_or_else(|| panic!("unexpected default name {name}"));
    assert!(stamp.len() == 15 && stamp.as_bytes()[8] == b'T', "{name}");
    assert_eq!(json["path"], name.as_str());
    let compressed = std::fs::read(cwd.path().join(name)).expect("dump");
    assert_eq!(
        json["report"]["sha256"],
        hex::encode(Sha256::digest(&compressed))
    );
    assert_eq!(
        json["report"]["output_bytes"].as_u64(),
        Some(compressed.len() as u64)
    );
    let hprof = zstd::decode_all(&compressed[..]).expect("zstd");
    assert_eq!(
        json["report"]["dump_bytes"].as_u64(),
        Some(hprof.len() as u64)
    );
    assert!(hprof.starts_with(b"JAVA PROFILE 1.0.2\0"));
    let walked = hprof_walk::walk(&hprof).expect("well-formed HPROF");
    assert_eq!(
        walked.instances_by_class.get("TriageMarker"),
        Some(&MARKERS)
    );
    assert!(
        dumps_in_tmp(test_jvm.pid).is_empty(),
        "in-target dump removed"
    );

    // Plain HPROF, every object, explicit path; refuses to overwrite it afterwards.
    let plain = cwd.path().join("all.hprof");
    let plain_arg = plain.to_str().expect("utf-8");
    let out = run(&["jvm", "heapdump", &target, "--all", "--out", plain_arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary = text(&out.stdout);
    assert!(
        summary.contains("sha256") && summary.contains("uncompressed"),
        "{summary}"
    );
    let bytes = std::fs::read(&plain).expect("plain dump");
    assert!(summary.contains(&hex::encode(Sha256::digest(&bytes))));
    let walked = hprof_walk::walk(&bytes).expect("well-formed HPROF");
    assert!(
        walked
            .instances_by_class
            .get("TriageMarker")
            .copied()
            .unwrap_or(0)
            >= MARKERS
    );
    let out = run(&["jvm", "heapdump", &target, "--out", plain_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("already exists"));
    assert!(dumps_in_tmp(test_jvm.pid).is_empty());
}

#[test]
fn ctrl_c_during_heapdump_removes_every_file() {
    let Some(classes) = jvm::compile("ctrl_c_during_heapdump_removes_every_file") else {
        return;
    };
    let test_jvm = jvm::start(&[], &["-Xmx400m"], classes.path(), &["1", "160"], &[]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    let dest = out_dir.path().join("interrupted.hprof.zst");
    let mut child = triage()
        .args([
            "jvm",
            "heapdump",
            &format!("pid:{}", test_jvm.pid),
            "--out",
            dest.to_str().expect("utf-8"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("triage");
    let deadline = Instant::now() + Duration::from_secs(60);
    while dumps_in_tmp(test_jvm.pid).is_empty() {
        assert!(Instant::now() < deadline, "the dump never started");
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "triage ended before the dump started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("interrupted"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        dumps_in_tmp(test_jvm.pid).is_empty(),
        "dump left in the target: {:?}",
        dumps_in_tmp(test_jvm.pid)
    );
    assert!(
        jvm::list_dir(out_dir.path()).is_empty(),
        "{:?}",
        jvm::list_dir(out_dir.path())
    );
    assert!(
        Path::new(&format!("/proc/{}", test_jvm.pid)).exists(),
        "the JVM lives on"
    );
}

#[test]
fn bad_targets_say_what_to_do() {
    let out = run(&["jvm", "threads", "1234"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("pid:N"));

    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let out = run(&["jvm", "histogram", &format!("pid:{}", sleeper.id())]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("is not a HotSpot JVM"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        sleeper.try_wait().expect("try_wait").is_none(),
        "not signalled"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    let mut gone = Command::new("true").spawn().expect("true");
    let pid = gone.id();
    gone.wait().expect("reap");
    let out = run(&["jvm", "threads", &format!("pid:{pid}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no process with pid"),
        "{}",
        text(&out.stderr)
    );

    let Some(classes) = jvm::compile("bad_targets_say_what_to_do") else {
        return;
    };
    let disabled = jvm::start(
        &[],
        &["-XX:+DisableAttachMechanism"],
        classes.path(),
        &["1"],
        &[],
    );
    let out = run(&["jvm", "heapdump", &format!("pid:{}", disabled.pid)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("-XX:+DisableAttachMechanism") && stderr.contains("restart it without"),
        "{stderr}"
    );
}

#[test]
fn non_root_client_same_user_works_and_other_user_is_refused() {
    let test = "non_root_client_same_user_works_and_other_user_is_refused";
    if !testkit::is_root() {
        testkit::skip_or_fail(test, "needs root to run processes as another user");
        return;
    }
    let Some(setpriv) = testkit::require_program("setpriv", test) else {
        return;
    };
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let Some((uid, gid)) = jvm::ensure_test_user() else {
        testkit::skip_or_fail(test, "could not create the user triage-test");
        return;
    };
    let (uid_s, gid_s) = (uid.to_string(), gid.to_string());
    let as_user = [
        setpriv.to_str().expect("utf-8"),
        "--reuid",
        &uid_s,
        "--regid",
        &gid_s,
        "--clear-groups",
    ];
    let user_jvm = jvm::start(&as_user, &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::chown(out_dir.path(), Some(uid), Some(gid)).expect("chown");
    let dest = out_dir.path().join("user.hprof.zst");
    let triage_as_user = |args: &[&str]| {
        Command::new(&setpriv)
            .args([
                "--reuid",
                &uid_s,
                "--regid",
                &gid_s,
                "--clear-groups",
                env!("CARGO_BIN_EXE_triage"),
            ])
            .args(args)
            .output()
            .expect("triage as the test user")
    };
    let target = format!("pid:{}", user_jvm.pid);
    let out = triage_as_user(&["jvm", "threads", &target]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("triage-lock-holder"));
    let out = triage_as_user(&[
        "jvm",
        "heapdump",
        &target,
        "--out",
        dest.to_str().expect("utf-8"),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hprof = zstd::decode_all(&std::fs::read(&dest).expect("dump")[..]).expect("zstd");
    assert_eq!(
        hprof_walk::walk(&hprof)
            .expect("HPROF")
            .instances_by_class
            .get("TriageMarker"),
        Some(&MARKERS)
    );
    assert!(dumps_in_tmp(user_jvm.pid).is_empty());

    // A root JVM is out of reach for an unprivileged user: say so, and how to fix it.
    let root_jvm = jvm::start(&[], &[], classes.path(), &["1"], &[]);
    let out = triage_as_user(&["jvm", "threads", &format!("pid:{}", root_jvm.pid)]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("runs as uid 0") || stderr.contains("permission denied"),
        "{stderr}"
    );
    assert!(
        stderr.contains("sudo") || stderr.contains("root"),
        "{stderr}"
    );
}

#[test]
fn no_space_at_the_destination_leaves_no_partial_file() {
    let test = "no_space_at_the_destination_leaves_no_partial_file";
    if !testkit::is_root() {
        testkit::skip_or_fail(test, "needs root to mount a small tmpfs");
        return;
    }
    if testkit::require_program("unshare", test).is_none() {
        return;
    }
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &["3000"], &[]);
    let out_dir = tempfile::tempdir().expect("tempdir");
    // A private 64 KiB tmpfs over the output directory, in a mount namespace of its own.
    let script = r#"mount -t tmpfs -o size=64k tmpfs "$1" || exit 99
"$2" jvm heapdump "pid:$3" --out "$1/plain.hprof"; echo "plain=$?"
"$2" jvm heapdump "pid:$3" --out "$1/packed.hprof.zst"; echo "packed=$?"
echo "left=[$(ls -A "$1")]""#;
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(out_dir.path())
        .arg(env!("CARGO_BIN_EXE_triage"))
        .arg(test_jvm.pid.to_string())
        .output()
        .expect("unshare");
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(
        stdout.contains("plain=1") && stdout.contains("packed=1"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("left=[]"),
        "partial file left at the destination: {stdout}"
    );
    assert_eq!(
        stderr.matches("no space left at the destination").count(),
        2,
        "{stderr}"
    );
    assert!(dumps_in_tmp(test_jvm.pid).is_empty());
}

/// `triage snapshot pid:N` of a container-like process tree (`unshare` with its own pid and mount
/// namespaces and a tmpfs on /tmp, the JVM a descendant that is pid 1 inside): the bundle holds the
/// JVM's thread dump, class histogram, VM flags, heap and native memory summaries.
#[test]
fn snapshot_of_a_process_tree_records_its_jvm_diagnostics() {
    let test = "snapshot_of_a_process_tree_records_its_jvm_diagnostics";
    if !jvm::namespaces_available(test) {
        return;
    }
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start_namespaced(
        classes.path(),
        "64m",
        &["-XX:NativeMemoryTracking=summary"],
        &[&MARKERS.to_string()],
    );
    let wrapper = test_jvm.child.id();
    assert_ne!(
        wrapper, test_jvm.pid,
        "the JVM is a descendant of the target"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle_path = dir.path().join("b.tar.zst");
    let target = format!("pid:{wrapper}");
    let out = run(&[
        "snapshot",
        &target,
        "--json",
        "--cpu-sample",
        "0",
        "--out",
        bundle_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    let jvms = json["jvms"].as_array().expect("jvms[]");
    assert_eq!(jvms.len(), 1, "{jvms:?}");
    assert_eq!(jvms[0]["pid"], test_jvm.pid);
    let statuses: std::collections::BTreeMap<String, String> = jvms[0]["diagnostics"]
        .as_array()
        .expect("diagnostics[]")
        .iter()
        .map(|d| {
            (
                d["name"].as_str().unwrap().to_string(),
                d["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for name in [
        "threads.txt",
        "vm_flags.txt",
        "heap_info.txt",
        "native_memory.txt",
        "class_histogram.txt",
    ] {
        assert_eq!(
            statuses.get(name).map(String::as_str),
            Some("ok"),
            "{name}: {statuses:?}"
        );
    }
    let collector = json["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "jvm")
        .expect("jvm collector recorded");
    assert_eq!(collector["status"], "ok", "{collector}");

    let cat = |member: &str| {
        let out = run(&["bundle", "cat", bundle_path.to_str().unwrap(), member]);
        assert!(out.status.success(), "{member}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let pid = test_jvm.pid;
    let threads = cat(&format!("jvm/{pid}/threads.txt"));
    assert!(
        threads.contains("\"triage-lock-holder\"") && threads.contains("- locked <0x"),
        "{threads}"
    );
    assert!(cat(&format!("jvm/{pid}/vm_flags.txt")).contains("-XX:NativeMemoryTracking=summary"));
    assert!(cat(&format!("jvm/{pid}/native_memory.txt")).contains("Total: reserved="));
    assert!(cat(&format!("jvm/{pid}/heap_info.txt")).contains("def new generation"));
    let histogram: serde_json::Value =
        serde_json::from_str(&cat(&format!("jvm/{pid}/class_histogram.json"))).expect("JSON");
    let marker = histogram["histogram"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["class"] == "TriageMarker")
        .expect("TriageMarker in the histogram");
    assert_eq!(marker["instances"], MARKERS);
    let verify = run(&["bundle", "verify", bundle_path.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    // The HTML report of the bundle shows the JVM's class histogram.
    let report = dir.path().join("report.html");
    let out = run(&[
        "analyze",
        bundle_path.to_str().unwrap(),
        "--html",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let page = std::fs::read_to_string(&report).expect("the report was written");
    assert!(
        page.contains(&format!("jvm/{pid}/class_histogram.json"))
            && page.contains("<td class=\"path\">TriageMarker</td>"),
        "the report has no heap section with the class histogram"
    );
    // Nothing left behind in the JVM's private /tmp.
    let leftovers: Vec<String> = jvm::list_dir(Path::new(&format!("/proc/{pid}/root/tmp")))
        .into_iter()
        .filter(|n| n.starts_with(".attach_pid"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A process tree without a JVM: the collector says so and the rest of the snapshot stands.
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    let target = format!("pid:{}", sleeper.id());
    let out = run(&[
        "snapshot",
        &target,
        "--json",
        "--no-bundle",
        "--cpu-sample",
        "0",
    ]);
    let _ = sleeper.kill();
    let _ = sleeper.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
    assert!(json.get("jvms").is_none(), "no jvms[] without a JVM");
    let collector = json["collectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "jvm")
        .expect("jvm collector recorded");
    assert_eq!(collector["status"], "skipped", "{collector}");
    assert!(
        collector["error"]
            .as_str()
            .unwrap_or("")
            .contains("no HotSpot JVM"),
        "{collector}"
    );
    assert!(json["processes"].as_array().is_some_and(|p| !p.is_empty()));
}

/// `triage jvm heapdump --out s3://…/`: the dump streams into a real S3-compatible server (moto)
/// with nothing written locally; the object is complete zstd HPROF with the printed sha256. A
/// missing bucket stores nothing and leaves no dump in the target.
#[test]
fn heapdump_streams_to_s3_without_a_local_copy() {
    let test = "heapdump_streams_to_s3_without_a_local_copy";
    let Some(moto) = testkit::servers::start_moto(test) else {
        return;
    };
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let target = format!("pid:{}", test_jvm.pid);
    assert_eq!(testkit::servers::http(moto.port, "PUT", "/heaps").0, 200);
    let env = testkit::servers::s3_env(moto.port);
    let cwd = tempfile::tempdir().expect("tempdir");
    let out = triage()
        .args([
            "jvm",
            "heapdump",
            &target,
            "--out",
            "s3://heaps/prod/",
            "--json",
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd.path())
        .output()
        .expect("running triage");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    let location = json["path"].as_str().expect("path").to_string();
    assert!(
        location.starts_with("s3://heaps/prod/heap-") && location.ends_with(".hprof.zst"),
        "{location}"
    );
    let key = &location["s3://".len()..];
    let (status, body) = testkit::servers::http(moto.port, "GET", &format!("/{key}"));
    assert_eq!(status, 200);
    assert_eq!(
        json["report"]["sha256"].as_str(),
        Some(hex::encode(Sha256::digest(&body)).as_str())
    );
    assert_eq!(
        json["report"]["output_bytes"].as_u64(),
        Some(body.len() as u64)
    );
    let hprof = zstd::decode_all(&body[..]).expect("a complete zstd stream");
    assert!(hprof.starts_with(b"JAVA PROFILE 1.0.2\0"));
    assert_eq!(
        json["report"]["dump_bytes"].as_u64(),
        Some(hprof.len() as u64)
    );
    assert!(
        jvm::list_dir(cwd.path()).is_empty(),
        "nothing written locally"
    );
    assert!(
        dumps_in_tmp(test_jvm.pid).is_empty(),
        "dump left in the target"
    );

    // No such bucket: an error, nothing stored, nothing left in the target or here.
    let out = triage()
        .args(["jvm", "heapdump", &target, "--out", "s3://no-such-bucket/"])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(cwd.path())
        .output()
        .expect("running triage");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    assert!(
        !stderr.contains("testing-secret"),
        "a secret was printed: {stderr}"
    );
    assert!(
        dumps_in_tmp(test_jvm.pid).is_empty(),
        "dump left in the target"
    );
    assert!(jvm::list_dir(cwd.path()).is_empty());
}
