//! `--out URL`: bundles delivered to a real S3-compatible server (moto) started by the test.

use std::process::{Command, Output};

use sha2::{Digest, Sha256};
use testkit::servers::{http, s3_env, start_moto};

fn triage_in(dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .expect("running triage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn snapshot_bundle_uploaded_to_s3_and_kept_locally_when_the_bucket_is_missing() {
    let Some(moto) = start_moto("snapshot_bundle_uploaded_to_s3") else {
        return;
    };
    assert_eq!(http(moto.port, "PUT", "/bundles").0, 200);
    let env = s3_env(moto.port);
    let cwd = tempfile::tempdir().unwrap();
    let out = triage_in(
        cwd.path(),
        &env,
        &[
            "snapshot",
            "--cpu-sample",
            "0",
            "--out",
            "s3://bundles/incident-42/",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("bundle: s3://bundles/incident-42/triage-host-"))
        .unwrap_or_else(|| panic!("no bundle location printed: {stderr}"));
    let key = line["bundle: s3://bundles/".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    assert!(key.ends_with(".tar.zst"), "{key}");
    let printed_sha = line
        .split("sha256 ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    // The object is the complete bundle: its sha256 is the one printed and it verifies.
    let (status, body) = http(moto.port, "GET", &format!("/bundles/{key}"));
    assert_eq!(status, 200);
    assert_eq!(hex::encode(Sha256::digest(&body)), printed_sha);
    let local = cwd.path().join("fetched.tar.zst");
    std::fs::write(&local, &body).unwrap();
    let verify = triage_in(
        cwd.path(),
        &[],
        &["bundle", "verify", local.to_str().unwrap()],
    );
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    // Nothing was left behind locally except what the test fetched.
    let names: Vec<String> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["fetched.tar.zst"]);

    // A bucket that does not exist: the upload fails, a complete copy is kept here, exit 1.
    let cwd = tempfile::tempdir().unwrap();
    let out = triage_in(
        cwd.path(),
        &env,
        &[
            "snapshot",
            "--cpu-sample",
            "0",
            "--out",
            "s3://no-such-bucket/x/",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("a complete copy was kept at"), "{stderr}");
    assert!(
        !stderr.contains("testing-secret"),
        "a secret was printed: {stderr}"
    );
    let kept: Vec<_> = std::fs::read_dir(cwd.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let verify = triage_in(
        cwd.path(),
        &[],
        &["bundle", "verify", kept[0].to_str().unwrap()],
    );
    assert!(verify.status.success(), "{}", text(&verify.stderr));

    // An unknown scheme is refused before anything is collected: no table, no bundle.
    let out = triage_in(cwd.path(), &env, &["snapshot", "--out", "ftp://host/x"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        out.stdout.is_empty(),
        "collected before refusing: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("unknown URL scheme \"ftp\""),
        "{}",
        text(&out.stderr)
    );
}
