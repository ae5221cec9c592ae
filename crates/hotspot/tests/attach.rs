//! Attach to real JVMs started by the tests: plain, as another user, inside fresh pid and mount
//! namespaces, with attach disabled, hung (stopped), and not a JVM at all.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::jvm::{self, TestJvm};
use hotspot::{AttachError, AttachOptions, ExecOptions, Jvm, Target, histogram};

const MARKERS: u64 = 1500;

fn marker_instances(h: &hotspot::Histogram) -> u64 {
    h.histogram
        .iter()
        .find(|e| e.class == "TriageMarker")
        .map(|e| e.instances)
        .unwrap_or(0)
}

fn no_trigger_files_left(jvm: &TestJvm) {
    let target = Target::inspect(jvm.pid).expect("inspect");
    let name = format!(".attach_pid{}", target.ns_pid);
    assert!(
        !jvm::list_dir(&target.cwd_path()).contains(&name),
        "trigger file left in the JVM's cwd"
    );
    assert!(
        !jvm::list_dir(&target.path_in_root(Path::new("/tmp"))).contains(&name),
        "trigger file left in the JVM's tmp"
    );
}

#[test]
fn plain_jvm_threads_histogram_and_jcmd_agree_with_the_jdk() {
    let Some(classes) = jvm::compile("plain_jvm_threads_histogram_and_jcmd_agree_with_the_jdk")
    else {
        return;
    };
    let Some(jcmd) = testkit::require_program(
        "jcmd",
        "plain_jvm_threads_histogram_and_jcmd_agree_with_the_jdk",
    ) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let socket = format!("/tmp/.java_pid{}", test_jvm.pid);
    assert!(
        !Path::new(&socket).exists(),
        "a fresh JVM has no attach socket yet"
    );

    let jvm = Jvm::attach(test_jvm.pid).expect("attach to a plain JVM");
    assert!(Path::new(&socket).exists(), "attach started the listener");
    no_trigger_files_left(&test_jvm);
    let options = ExecOptions::default();

    let threads = jvm.thread_dump(&options).expect("thread dump");
    assert!(threads.contains("Full thread dump"), "{threads}");
    let holder = threads
        .split("\n\n")
        .find(|t| t.contains("\"triage-lock-holder\""))
        .expect("lock holder thread");
    assert!(
        holder.contains("- locked <0x"),
        "thread dump with -l shows the held monitor: {holder}"
    );
    assert!(
        threads.contains("Locked ownable synchronizers"),
        "-l adds lock details"
    );

    // Our histogram against the JDK's own tool on the same JVM.
    let ours = jvm.class_histogram(false, &options).expect("histogram");
    let output = Command::new(&jcmd)
        .arg(test_jvm.pid.to_string())
        .arg("GC.class_histogram")
        .output()
        .expect("jcmd");
    assert!(output.status.success());
    let theirs = histogram::parse_histogram(
        &String::from_utf8_lossy(&output.stdout),
        &Default::default(),
    );
    assert_eq!(marker_instances(&ours), MARKERS);
    assert_eq!(marker_instances(&theirs), MARKERS);
    let byte_arrays = ours
        .histogram
        .iter()
        .find(|e| e.class == "byte[]")
        .expect("byte[] in Java source form");
    assert!(
        byte_arrays.instances >= MARKERS,
        "every marker holds a byte[]"
    );
    let theirs_by_class: HashMap<&str, u64> = theirs
        .histogram
        .iter()
        .map(|e| (e.class.as_str(), e.instances))
        .collect();
    let equal = ours
        .histogram
        .iter()
        .filter(|e| theirs_by_class.get(e.class.as_str()) == Some(&e.instances))
        .count();
    assert!(
        equal * 10 >= ours.histogram.len() * 9,
        "only {equal} of {} classes have the same instance count as jcmd's histogram",
        ours.histogram.len()
    );
    let big_ours: Vec<&str> = ours
        .histogram
        .iter()
        .filter(|e| e.instances >= 200)
        .map(|e| e.class.as_str())
        .collect();
    for class in &big_ours {
        assert!(
            theirs_by_class.contains_key(class),
            "{class} missing from jcmd's histogram"
        );
    }

    // Any diagnostic command: our output is jcmd's minus its "<pid>:" line.
    let version = jvm.jcmd("VM.version", &options).expect("VM.version");
    let output = Command::new(&jcmd)
        .arg(test_jvm.pid.to_string())
        .arg("VM.version")
        .output()
        .expect("jcmd");
    let theirs = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        theirs.split_once('\n').map(|(_, rest)| rest.trim_end()),
        Some(version.trim_end())
    );
    assert!(version.contains("JDK"), "{version}");

    // A command the JVM rejects: its own message, as an error.
    match jvm.jcmd("Bogus.command", &options) {
        Err(AttachError::CommandFailed { message, .. }) => {
            assert!(message.contains("Unknown diagnostic command"), "{message}")
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    match jvm.execute_to_string("nosuchop", &[], &options) {
        Err(AttachError::CommandFailed { message, code, .. }) => {
            assert_ne!(code, 0);
            assert!(message.contains("not recognized"), "{message}");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    // Output streams to any writer.
    let mut streamed = Vec::new();
    let n = jvm
        .execute("properties", &[], &mut streamed, &options)
        .expect("properties");
    assert_eq!(n as usize, streamed.len());
    assert!(String::from_utf8_lossy(&streamed).contains("java.vm.name="));
}

#[test]
fn jvm_running_as_another_user() {
    let test = "jvm_running_as_another_user";
    if !testkit::is_root() {
        testkit::skip_or_fail(test, "needs root to start a JVM as another user");
        return;
    }
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let Some(setpriv) = testkit::require_program("setpriv", test) else {
        return;
    };
    let Some((uid, gid)) = jvm::ensure_test_user() else {
        testkit::skip_or_fail(test, "could not create the user triage-test");
        return;
    };
    let (uid_s, gid_s) = (uid.to_string(), gid.to_string());
    let prefix = [
        setpriv.to_str().expect("utf-8 path"),
        "--reuid",
        &uid_s,
        "--regid",
        &gid_s,
        "--clear-groups",
    ];
    let test_jvm = jvm::start(&prefix, &[], classes.path(), &[&MARKERS.to_string()], &[]);
    let target = Target::inspect(test_jvm.pid).expect("inspect");
    assert_eq!((target.euid, target.egid), (uid, gid));

    let jvm = Jvm::attach(test_jvm.pid).expect("root attaches to another user's JVM");
    let threads = jvm
        .thread_dump(&ExecOptions::default())
        .expect("thread dump");
    assert!(threads.contains("triage-lock-holder"));
    let histogram = jvm
        .class_histogram(true, &ExecOptions::default())
        .expect("histogram");
    assert!(marker_instances(&histogram) >= MARKERS);
    // The identity switch was scoped to the attach.
    assert_eq!(hotspot::creds::effective_uid(), 0);
    assert_eq!(hotspot::creds::effective_gid(), 0);
    let socket = Path::new("/tmp").join(format!(".java_pid{}", test_jvm.pid));
    let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&socket).expect("socket"));
    assert_eq!(owner, uid, "the JVM created its socket as its own user");
    no_trigger_files_left(&test_jvm);
}

#[test]
fn jvm_in_its_own_pid_and_mount_namespace() {
    let test = "jvm_in_its_own_pid_and_mount_namespace";
    if !jvm::namespaces_available(test) {
        return;
    }
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start_namespaced(classes.path(), "64m", &[], &[&MARKERS.to_string()]);
    let target = Target::inspect(test_jvm.pid).expect("inspect");
    assert_eq!(target.ns_pid, 1, "java is pid 1 in its namespace");
    assert_ne!(test_jvm.pid, 1);

    let jvm = Jvm::attach(test_jvm.pid).expect("attach across namespaces");
    assert_eq!(
        jvm.socket_path(),
        Path::new(&format!("/proc/{}/root/tmp/.java_pid1", test_jvm.pid))
    );
    let threads = jvm
        .thread_dump(&ExecOptions::default())
        .expect("thread dump");
    assert!(threads.contains("triage-lock-holder"));
    no_trigger_files_left(&test_jvm);

    // A heap dump written inside the namespace's own /tmp, read back through /proc/<pid>/root.
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("ns.hprof");
    let options = hotspot::HeapDumpOptions::default();
    let report = hotspot::dump_heap_to_path(&jvm, &options, &dest, &mut |_| {}).expect("heap dump");
    let bytes = std::fs::read(&dest).expect("dump");
    assert!(bytes.starts_with(b"JAVA PROFILE 1.0.2\0"));
    assert_eq!(report.dump_bytes, bytes.len() as u64);
    let walked = common::hprof_walk::walk(&bytes).expect("well-formed HPROF");
    assert_eq!(
        walked.instances_by_class.get("TriageMarker"),
        Some(&MARKERS)
    );
    let left: Vec<String> = jvm::list_dir(&target.path_in_root(Path::new("/tmp")))
        .into_iter()
        .filter(|n| n.starts_with("triage-heap-"))
        .collect();
    assert!(left.is_empty(), "dump left in the target's /tmp: {left:?}");
    assert!(
        !Path::new("/tmp")
            .join(report.path_in_target.file_name().expect("name"))
            .exists()
    );
}

#[test]
fn attach_disabled_is_reported_without_signalling_the_jvm() {
    let test = "attach_disabled_is_reported_without_signalling_the_jvm";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let on_command_line = jvm::start(
        &[],
        &["-XX:+DisableAttachMechanism"],
        classes.path(),
        &["1"],
        &[],
    );
    let started = Instant::now();
    match Jvm::attach(on_command_line.pid) {
        Err(e @ AttachError::AttachDisabled { .. }) => {
            assert!(e.to_string().contains("-XX:+DisableAttachMechanism"))
        }
        other => panic!("expected AttachDisabled, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "detected up front, not by timing out"
    );
    no_trigger_files_left(&on_command_line);

    let in_env = jvm::start(
        &[],
        &[],
        classes.path(),
        &["1"],
        &[("JAVA_TOOL_OPTIONS", "-XX:+DisableAttachMechanism")],
    );
    match Jvm::attach(in_env.pid) {
        Err(AttachError::AttachDisabled { found_in, .. }) => {
            assert!(found_in.contains("JAVA_TOOL_OPTIONS"))
        }
        other => panic!("expected AttachDisabled, got {other:?}"),
    }

    // Hidden in a flags file triage does not read: the JVM never answers, and we say so in time.
    let flags = classes.path().join("hidden.flags");
    std::fs::write(&flags, "+DisableAttachMechanism\n").expect("flags file");
    let flags_option = format!("-XX:Flags={}", flags.display());
    let hidden = jvm::start(&[], &[&flags_option], classes.path(), &["1"], &[]);
    let started = Instant::now();
    match Jvm::attach_with(
        hidden.pid,
        &AttachOptions {
            attach_timeout: Duration::from_secs(2),
        },
    ) {
        Err(e @ AttachError::AttachTimeout { .. }) => {
            assert!(e.to_string().contains("DisableAttachMechanism"), "{e}")
        }
        other => panic!("expected AttachTimeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(4));
    no_trigger_files_left(&hidden);
    assert!(
        Target::inspect(hidden.pid).is_ok(),
        "SIGQUIT did not kill the JVM"
    );
}

#[test]
fn hung_jvm_that_accepts_and_never_answers_times_out() {
    let test = "hung_jvm_that_accepts_and_never_answers_times_out";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &["1"], &[]);
    let jvm = Jvm::attach(test_jvm.pid).expect("attach");
    // A stopped JVM: the kernel still accepts connections on its socket, nobody answers.
    // SAFETY: plain kill(2) on our own child.
    unsafe { libc::kill(test_jvm.pid as libc::pid_t, libc::SIGSTOP) };
    let started = Instant::now();
    let result = jvm.thread_dump(&ExecOptions {
        response_timeout: Duration::from_millis(1500),
        cancel: None,
    });
    let waited = started.elapsed();
    // SAFETY: as above.
    unsafe { libc::kill(test_jvm.pid as libc::pid_t, libc::SIGCONT) };
    match result {
        Err(e @ AttachError::ResponseTimeout { .. }) => {
            assert!(e.to_string().contains("sent nothing"), "{e}")
        }
        other => panic!("expected ResponseTimeout, got {other:?}"),
    }
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(5),
        "{waited:?}"
    );
    // Once resumed it answers again.
    assert!(
        jvm.thread_dump(&ExecOptions::default())
            .expect("after SIGCONT")
            .contains("Full thread dump")
    );
}

#[test]
fn not_a_jvm_and_no_such_pid() {
    let mut sleeper = Command::new("sleep").arg("30").spawn().expect("sleep");
    match Jvm::attach(sleeper.id()) {
        Err(e @ AttachError::NotAJvm { .. }) => {
            assert!(e.to_string().contains("not a HotSpot JVM"))
        }
        other => panic!("expected NotAJvm, got {other:?}"),
    }
    assert!(
        sleeper.try_wait().expect("try_wait").is_none(),
        "no SIGQUIT was sent to a non-JVM"
    );
    let _ = sleeper.kill();
    let _ = sleeper.wait();

    let mut gone = Command::new("true").spawn().expect("true");
    let pid = gone.id();
    gone.wait().expect("reap");
    assert!(matches!(Jvm::attach(pid), Err(AttachError::NoSuchProcess { pid: p }) if p == pid));
}

#[test]
fn stale_or_deleted_socket_files_are_recovered() {
    let test = "stale_or_deleted_socket_files_are_recovered";
    let Some(classes) = jvm::compile(test) else {
        return;
    };
    let test_jvm = jvm::start(&[], &[], classes.path(), &["1"], &[]);
    // A socket file nobody listens on, as a crashed JVM with the same namespace pid leaves behind
    // in a /tmp volume that outlives the container.
    let socket = std::path::PathBuf::from(format!("/tmp/.java_pid{}", test_jvm.pid));
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind a stale socket"));
    let jvm = Jvm::attach(test_jvm.pid).expect("attach sees a socket file");
    let threads = jvm
        .thread_dump(&ExecOptions::default())
        .expect("recovered from the stale socket");
    assert!(threads.contains("triage-lock-holder"));

    // A tmp cleaner removed the socket of a running listener: the JVM re-creates it on request.
    std::fs::remove_file(&socket).expect("remove the live socket");
    let jvm = Jvm::attach(test_jvm.pid).expect("re-attach");
    assert!(
        jvm.thread_dump(&ExecOptions::default())
            .expect("thread dump")
            .contains("Full thread dump")
    );
    no_trigger_files_left(&test_jvm);
}
