//! Directory copy-out through tar, with the tar streams of a compromised container (its own
//! `tar` answering the exec) carrying the kubectl cp CVE payloads. Every one must be refused and
//! nothing may land outside the destination.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube_reach::exec::ExecTarget;
use kube_reach::{Error, KubeOptions};
use testcluster::{ClusterConfig, PodSpec};

/// One raw ustar entry (no validation: hostile names are the point).
fn entry(name: &str, kind: u8, link: &str, data: &[u8]) -> Vec<u8> {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = kind;
    h[157..157 + link.len()].copy_from_slice(link.as_bytes());
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    let mut out = h.to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

fn archive(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut out: Vec<u8> = entries.concat();
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn payloads(outside: &Path) -> Vec<(&'static str, Vec<u8>)> {
    let abs = format!("{}/abs.txt", outside.display());
    let out = outside.display().to_string();
    vec![
        // CVE-2018-1002100: `..` in a name.
        (
            "dotdot",
            archive(&[
                entry("data/", b'5', "", b""),
                entry(
                    "data/../../../../../../../../escape.txt",
                    b'0',
                    "",
                    b"pwned\n",
                ),
            ]),
        ),
        // Absolute path.
        ("absolute", archive(&[entry(&abs, b'0', "", b"pwned\n")])),
        // CVE-2019-1002101 / -11246: a symlink to the outside, then a file through it.
        (
            "symlink",
            archive(&[
                entry("data/", b'5', "", b""),
                entry("data/link", b'2', &out, b""),
                entry("data/link/through.txt", b'0', "", b"pwned\n"),
            ]),
        ),
        // CVE-2019-11251: chained symlinks.
        (
            "chained",
            archive(&[
                entry("data/", b'5', "", b""),
                entry("data/a", b'2', ".", b""),
                entry("data/b", b'2', "a/../..", b""),
                entry("data/b/chained.txt", b'0', "", b"pwned\n"),
            ]),
        ),
        // A hard link to a host file.
        (
            "hardlink",
            archive(&[
                entry("data/", b'5', "", b""),
                entry("data/passwd", b'1', "/etc/passwd", b""),
            ]),
        ),
        // A device node.
        (
            "device",
            archive(&[
                entry("data/", b'5', "", b""),
                entry("data/null", b'3', "", b""),
            ]),
        ),
    ]
}

fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malicious_tar_streams_are_refused_and_honest_ones_extract() {
    let test = "malicious_tar_streams_are_refused_and_honest_ones_extract";
    if !testkit::is_root() {
        testkit::skip_or_fail(
            test,
            "the test server needs root (pid and mount namespaces)",
        );
        return;
    }
    let Some(_) = testkit::require_program("unshare", test) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    // `outside` is where an escape would land; `dests` holds the extraction destinations.
    let outside = work.path().join("outside");
    let dests = outside.join("dests");
    std::fs::create_dir_all(&dests).unwrap();
    let mut specs = vec!["honest,app=honest:mkdir -p /tmp/data/sub && echo one > /tmp/data/a.txt && echo two > /tmp/data/sub/b.txt; exec sleep 1000".to_string()];
    let payloads = payloads(&outside);
    for (name, bytes) in &payloads {
        let image = work.path().join(format!("image-{name}"));
        std::fs::create_dir_all(&image).unwrap();
        std::fs::write(image.join("payload.tar"), bytes).unwrap();
        let fake_tar = image.join("tar");
        std::fs::write(
            &fake_tar,
            format!("#!/bin/sh\ncat {}\n", image.join("payload.tar").display()),
        )
        .unwrap();
        std::fs::set_permissions(
            &fake_tar,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        specs.push(format!(
            "evil-{name},path-prepend={}:mkdir -p /tmp/data; exec sleep 1000",
            image.display()
        ));
    }
    let mut config = ClusterConfig::default();
    for s in &specs {
        config.pods.extend(PodSpec::parse(s).unwrap());
    }
    let running = testcluster::serve(config, Vec::new(), 0).await.unwrap();
    let kc = work.path().join("kc");
    running.write_kubeconfig(&kc).unwrap();
    let (client, ns) = kube_reach::connect(&KubeOptions {
        kubeconfig: Some(kc),
        ..Default::default()
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = listing(&outside);

    // Destinations used so far: what a refused stream left inside them is not an escape.
    let mut used: Vec<PathBuf> = Vec::new();
    for (name, _) in &payloads {
        let t = ExecTarget::new(client.clone(), &ns, &format!("evil-{name}"), "main");
        let dest = dests.join(name);
        used.push(dest.clone());
        let err = kube_reach::copy::copy_tree_out(&t, "/tmp/data", &dest, Default::default())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Verification(_)), "{name}: {err}");
        assert!(err.to_string().contains("refused"), "{name}: {err}");
        // Nothing outside the destination changed.
        let after: Vec<PathBuf> = listing(&outside)
            .into_iter()
            .filter(|p| !used.iter().any(|d| p.starts_with(d)))
            .collect();
        assert_eq!(
            after, before,
            "{name}: something was written outside the destination"
        );
        assert!(!work.path().join("escape.txt").exists() && !Path::new("/escape.txt").exists());
        assert!(!outside.join("abs.txt").exists() && !outside.join("through.txt").exists());
    }

    // The honest container's real tar extracts.
    let t = ExecTarget::new(client.clone(), &ns, "honest", "main");
    let dest = dests.join("honest");
    let copied = kube_reach::copy::copy_tree_out(&t, "/tmp/data", &dest, Default::default())
        .await
        .unwrap();
    assert_eq!(copied.files, 2);
    assert_eq!(std::fs::read(dest.join("data/a.txt")).unwrap(), b"one\n");
    assert_eq!(
        std::fs::read(dest.join("data/sub/b.txt")).unwrap(),
        b"two\n"
    );
    running.stop().await;
}
