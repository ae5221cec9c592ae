//! `triage snapshot` on bad input, through the real binary: files it may not open (real
//! permission checks, the binary run as `nobody`) and a collector that never finishes (a FIFO
//! standing in for a hung file). Each problem is recorded against its collector, in the JSON and
//! in the bundle's manifest; the rest of the snapshot and the bundle are complete, and
//! `triage bundle ls|cat|verify` read that bundle (verify catches a changed member).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../hostprobe/tests/fixtures")
        .join(name)
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn chmod_tree(dir: &Path) {
    chmod(dir, 0o755);
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            chmod_tree(&entry.path());
        } else {
            chmod(&entry.path(), 0o644);
        }
    }
}

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .output()
        .expect("running triage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn collector<'a>(s: &'a Value, name: &str) -> &'a Value {
    s["collectors"]
        .as_array()
        .expect("collectors")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no collector {name}: {}", s["collectors"]))
}

const POD1: &str = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0c3ab2e4_1f5d_4c6b_9a7e_2d8f1b3c4e5a.slice/cri-containerd-8f3a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8.scope";

/// Files made unreadable (mode 000) and the binary run without root: the kernel refuses the
/// opens. meminfo takes the memory collector down (failed, with the file and what to do); one
/// process's stat, one cgroup's memory.stat and the conntrack statistics are recorded where they
/// belong; everything else is there.
#[test]
fn permission_errors_are_recorded_per_collector_with_what_to_do() {
    let test = "permission_errors";
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    testkit::copy_tree(&fixture("cgroup-v2-systemd"), &root);
    chmod_tree(dir.path());
    for file in [
        "proc/meminfo".to_string(),
        "proc/4300/stat".to_string(),
        "proc/net/stat/nf_conntrack".to_string(),
        format!("sys/fs/cgroup{POD1}/memory.stat"),
    ] {
        chmod(&root.join(file), 0o000);
    }
    let binary = env!("CARGO_BIN_EXE_triage");
    let args = [
        "snapshot",
        "--root",
        root.to_str().expect("utf8"),
        "--cpu-sample",
        "0",
        "--json",
        "--no-bundle",
    ];
    let out = if testkit::is_root() {
        // Root reads mode-000 files anyway: drop to nobody for a real refusal.
        let Some(setpriv) = testkit::require_program("setpriv", test) else {
            return;
        };
        Command::new(setpriv)
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                binary,
            ])
            .args(args)
            .output()
            .expect("running triage as nobody")
    } else {
        triage(&args)
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");

    let refused = |message: &str, file: &str| {
        assert!(
            message.contains(&format!("opening {}", root.join(file).display()))
                && message.contains("Permission denied")
                && message.contains("run as root"),
            "says which file, why and what to do: {message}"
        );
    };
    let memory = collector(&s, "memory");
    assert_eq!(memory["status"], "failed");
    refused(memory["error"].as_str().expect("error"), "proc/meminfo");
    assert!(s["memory"].is_null());

    let processes = collector(&s, "processes");
    assert_eq!(processes["status"], "ok");
    refused(
        processes["error"].as_str().expect("error"),
        "proc/4300/stat",
    );
    assert_eq!(s["process_summary"]["unreadable"], 1);
    let pids: Vec<u64> = s["processes"]
        .as_array()
        .expect("processes")
        .iter()
        .filter_map(|p| p["pid"].as_u64())
        .collect();
    assert!(pids.contains(&4242) && !pids.contains(&4300), "{pids:?}");

    let conntrack = collector(&s, "conntrack");
    assert_eq!(conntrack["status"], "failed");
    refused(
        conntrack["error"].as_str().expect("error"),
        "proc/net/stat/nf_conntrack",
    );

    let pod = s["cgroups"]
        .as_array()
        .expect("cgroups")
        .iter()
        .find(|c| c["path"] == POD1)
        .expect("the pod is still listed");
    let errors = pod["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    refused(
        errors[0].as_str().expect("text"),
        &format!("sys/fs/cgroup{POD1}/memory.stat"),
    );
    assert_eq!(
        pod["cpu"]["nr_throttled"], 250,
        "the pod's other files are read"
    );
    for name in [
        "system",
        "mounts",
        "filesystems",
        "block_devices",
        "cgroups",
        "network",
        "kernel_log",
    ] {
        assert_eq!(collector(&s, name)["status"], "ok", "{name}");
    }
}

/// The system collector waits forever on a FIFO (`/proc/sys/fs/file-nr`): after its 500 ms
/// budget it is `timed_out` in the JSON and the manifest, and the bundle is written anyway, with
/// the manifest fields the issue names. `bundle ls` lists it, `bundle cat` prints a member,
/// `bundle verify` passes, and fails once a member's bytes change.
#[test]
fn a_timed_out_collector_is_recorded_in_the_bundle_and_bundle_ls_cat_verify_read_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().join("root");
    testkit::copy_tree(&fixture("cgroup-v2-systemd"), &root);
    let fifo = root.join("proc/sys/fs/file-nr");
    std::fs::remove_file(&fifo).expect("rm file-nr");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("cstr");
    // SAFETY: mkfifo(3) on a NUL-terminated path inside our temporary directory.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");

    let path = dir.path().join("b.tar.zst");
    let began = Instant::now();
    let out = triage(&[
        "snapshot",
        "--root",
        root.to_str().expect("utf8"),
        "--cpu-sample",
        "0",
        "--collector-timeout",
        "500ms",
        "--out",
        path.to_str().expect("utf8"),
    ]);
    let took = began.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("== collectors ==") && stdout.contains("timed-out"),
        "the terminal view shows the time-out: {stdout}"
    );

    let manifest: Value = serde_json::from_slice(
        &triage(&["bundle", "manifest", path.to_str().expect("utf8")]).stdout,
    )
    .expect("manifest.json");
    assert_eq!(manifest["tool"]["name"], "triage");
    assert_eq!(manifest["tool"]["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(manifest["target"], "host");
    let started: jiff::Timestamp = manifest["started_at"]
        .as_str()
        .expect("started_at")
        .parse()
        .expect("RFC 3339");
    let finished: jiff::Timestamp = manifest["finished_at"]
        .as_str()
        .expect("finished_at")
        .parse()
        .expect("RFC 3339");
    assert!(finished >= started);
    let collectors = manifest["collectors"].as_array().expect("collectors");
    assert_eq!(collectors.len(), 10);
    let system = collectors
        .iter()
        .find(|c| c["name"] == "system")
        .expect("system");
    assert_eq!(system["status"], "timed_out");
    assert_eq!(system["duration_ms"], 500);
    assert!(
        system["error"]
            .as_str()
            .is_some_and(|e| e.contains("did not finish within 500 ms")
                && e.contains("/proc/sys/fs/file-nr")),
        "{system}"
    );
    for c in collectors.iter().filter(|c| c["name"] != "system") {
        assert_eq!(c["status"], "ok", "{c}");
        assert!(c["duration_ms"].is_u64(), "{c}");
    }
    let files = manifest["files"].as_array().expect("files");
    for f in files {
        let sha = f["sha256"].as_str().expect("sha256");
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{f}"
        );
        assert!(f["size_bytes"].is_u64(), "{f}");
    }
    let listed: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    for member in [
        "snapshot.json",
        "collectors/system.json",
        "collectors/memory.json",
        "raw/proc/meminfo",
    ] {
        assert!(listed.contains(&member), "{member} not in {listed:?}");
    }
    // Only the finished bundle: no temporary file left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");

    let ls = triage(&["bundle", "ls", path.to_str().expect("utf8")]);
    assert!(ls.status.success(), "{}", text(&ls.stderr));
    for member in [
        "manifest.json",
        "collectors/system.json",
        "raw/proc/meminfo",
    ] {
        assert!(text(&ls.stdout).contains(member), "{}", text(&ls.stdout));
    }
    let cat = triage(&[
        "bundle",
        "cat",
        path.to_str().expect("utf8"),
        "collectors/system.json",
    ]);
    assert!(cat.status.success(), "{}", text(&cat.stderr));
    let piece: Value = serde_json::from_slice(&cat.stdout).expect("a JSON member");
    assert_eq!(piece["collector"]["status"], "timed_out");
    assert!(piece["data"].is_null(), "{piece}");
    let meminfo = triage(&[
        "bundle",
        "cat",
        path.to_str().expect("utf8"),
        "raw/proc/meminfo",
    ]);
    assert_eq!(
        meminfo.stdout,
        std::fs::read(root.join("proc/meminfo")).expect("meminfo"),
        "the raw copy is the file as read"
    );

    let verify = triage(&["bundle", "verify", path.to_str().expect("utf8")]);
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify.stdout));
    assert!(text(&verify.stdout).starts_with("OK "));

    // Change one digit of MemTotal inside the archive (same length, so the tar stays valid).
    let mut tar = zstd::decode_all(std::fs::File::open(&path).expect("open")).expect("zstd");
    let needle = b"MemTotal:        8000000";
    let at = tar
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the raw meminfo in the archive");
    tar[at + needle.len() - 7] = b'9';
    let tampered = dir.path().join("tampered.tar.zst");
    std::fs::write(&tampered, zstd::encode_all(&tar[..], 3).expect("zstd")).expect("write");
    let verify = triage(&["bundle", "verify", tampered.to_str().expect("utf8")]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify.stdout));
    assert!(
        text(&verify.stdout).contains("MISMATCH  raw/proc/meminfo"),
        "{}",
        text(&verify.stdout)
    );
}
