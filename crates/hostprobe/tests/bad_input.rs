//! The "bad input" cases that mutation does not reach: a file that never answers (the collector's
//! time budget), a cgroup controller that is not mounted, and files the reader may not open
//! (real permission checks, in a child process that dropped root). Each is recorded against its
//! collector with a message; the snapshot is always produced.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostprobe::model::*;
use hostprobe::{CollectOptions, Root, Target, collect};

const MIB: u64 = 1024 * 1024;
const POD1_V1: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c3ab2e4_1f5d_4c6b_9a7e_2d8f1b3c4e5a.slice/cri-containerd-8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8.scope";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn options(root: &Path) -> CollectOptions {
    CollectOptions {
        root: Root::new(root),
        target: Target::Host,
        cpu_sample: Duration::ZERO,
        capture_raw: true,
        ..CollectOptions::default()
    }
}

fn run<'a>(s: &'a Snapshot, name: &str) -> &'a CollectorRun {
    s.collector(name)
        .unwrap_or_else(|| panic!("no collector {name}"))
}

/// `/proc/sys/fs/file-nr` is a FIFO nobody writes to: opening it blocks like a read from a hung
/// mount. The system collector (the only one reading it) is recorded as timed out after its
/// budget, with what it was doing; every other collector finishes and the snapshot comes back on
/// time.
#[test]
fn a_collector_past_its_time_budget_is_timed_out_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    testkit::copy_tree(&fixtures().join("cgroup-v2-systemd"), dir.path());
    let fifo = dir.path().join("proc/sys/fs/file-nr");
    std::fs::remove_file(&fifo).expect("rm file-nr");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("cstr");
    // SAFETY: mkfifo(3) on a NUL-terminated path inside our temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");

    let mut opts = options(dir.path());
    opts.collector_timeout = Duration::from_millis(500);
    let began = Instant::now();
    let s = collect(&opts).expect("the snapshot is produced").snapshot;
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "collect waited {took:?} for a hung collector"
    );

    let system = run(&s, "system");
    assert_eq!(system.status, CollectorStatus::TimedOut, "{system:?}");
    let error = system.error.as_deref().unwrap_or("");
    assert!(
        error.contains("did not finish within 500 ms") && error.contains("/proc/sys/fs/file-nr"),
        "the message says what hung and where: {error}"
    );
    assert_eq!(system.duration_ms, 500);
    assert!(s.system.is_none());
    for name in hostprobe::collect::COLLECTORS
        .iter()
        .filter(|n| **n != "system")
    {
        assert_eq!(run(&s, name).status, CollectorStatus::Ok, "{name}");
    }
    assert!(s.memory.is_some() && s.process(4242).is_some() && !s.cgroups.is_empty());

    // Let the abandoned thread finish: a writer that opens and closes gives it end-of-file.
    // SAFETY: open(2) of our FIFO, write-only and non-blocking (the blocked reader is there).
    let fd = unsafe { libc::open(c_path.as_ptr(), libc::O_WRONLY | libc::O_NONBLOCK) };
    if fd >= 0 {
        // SAFETY: closing the descriptor just opened.
        unsafe { libc::close(fd) };
    }
}

/// A v1 node where the `cpu,cpuacct` hierarchy is not mounted (the mount line and the directory
/// gone): the memory side of every cgroup is still read, the cpu side is null, and the cgroups
/// collector says why the CPU numbers are missing.
#[test]
fn a_missing_cgroup_controller_leaves_the_others_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    testkit::copy_tree(&fixtures().join("cgroup-v1-systemd"), dir.path());
    std::fs::remove_dir_all(dir.path().join("sys/fs/cgroup/cpu,cpuacct")).expect("rm cpu");
    let mountinfo = dir.path().join("proc/self/mountinfo");
    let kept: String = std::fs::read_to_string(&mountinfo)
        .expect("mountinfo")
        .lines()
        .filter(|l| !l.contains("/sys/fs/cgroup/cpu,cpuacct"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&mountinfo, kept).expect("write mountinfo");

    let s = collect(&options(dir.path())).expect("collect").snapshot;
    let cgroups = run(&s, "cgroups");
    assert_eq!(cgroups.status, CollectorStatus::Ok, "{cgroups:?}");
    let message = cgroups.error.as_deref().unwrap_or("");
    assert!(
        message.contains("the cpu cgroup controller is not mounted")
            && message.contains("CPU quotas and throttling are unknown"),
        "the missing controller is named: {message:?}"
    );
    assert!(
        !message.contains("memory cgroup controller"),
        "memory is mounted: {message:?}"
    );
    let pod = s.cgroup(POD1_V1).unwrap_or_else(|| {
        panic!(
            "pod cgroup kept; have {:?}",
            s.cgroups.iter().map(|c| &c.path).collect::<Vec<_>>()
        )
    });
    let memory = pod.memory.as_ref().expect("memory still read");
    assert_eq!(memory.limit_bytes, Some(512 * MIB));
    assert_eq!(memory.working_set_bytes, 400 * MIB);
    assert!(
        pod.cpu.is_none(),
        "no cpu controller, no cpu numbers: {:?}",
        pod.cpu
    );
    for name in hostprobe::collect::COLLECTORS {
        assert_ne!(run(&s, name).status, CollectorStatus::Failed, "{name}");
    }
}
