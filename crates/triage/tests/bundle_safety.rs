//! Bundle safety end to end, through the real binary: secrets planted in a live process's command
//! line never reach the bundle (every member, the manifest included) nor triage's own log;
//! `--encrypt-to` produces a file the real `age` decrypts into the same verified bundle; and
//! `triage bundle extract` unpacks a bundle and refuses a hostile archive without writing outside
//! its destination.

#[path = "../../bundle/tests/common/tar.rs"]
mod hostile_tar;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(args)
        .env("RUST_LOG", "debug")
        .output()
        .expect("running triage")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Letters and digits that differ on every run, so no fixed string can make the test pass.
fn random_token(len: usize) -> String {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32)
        ^ len as u64;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ALPHABET[(seed % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn planted_secrets_never_reach_the_bundle_and_encryption_round_trips() {
    let test = "planted_secrets_never_reach_the_bundle_and_encryption_round_trips";
    let password = format!("Pw{}", random_token(14));
    let db_password = format!("Db{}", random_token(14));
    let aws_secret = random_token(40);
    let jwt = format!(
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ{}.{}",
        random_token(20),
        random_token(43)
    );
    let pem_body = random_token(64);
    let bearer = random_token(32);
    let yaml_password = format!("Ym{}", random_token(12));
    let aws_key_id = format!("AKIA{}", random_token(16).to_uppercase());
    let gcp_key_line = random_token(64);
    let gcp_key_id: String = random_token(40)
        .bytes()
        .map(|b| char::from(b"0123456789abcdef"[usize::from(b) % 16]))
        .collect();
    let gcp_json = format!(
        "{{\"type\": \"service_account\", \"project_id\": \"orders-prod\", \"private_key_id\": \"{gcp_key_id}\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{gcp_key_line}\\n-----END PRIVATE KEY-----\\n\", \"client_email\": \"orders@orders-prod.iam.gserviceaccount.com\"}}"
    );
    // A shell that stays alive (two commands: no exec) with every secret on its command line.
    let script = format!(
        "sleep 60; : --db-password={password} postgres://app:{db_password}@db.internal:5432/orders \
         AWS_SECRET_ACCESS_KEY={aws_secret} cached {jwt} 'Authorization: Bearer {bearer}' \
         '-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----' \
         --config='datasource:\n  user: app\n  password: {yaml_password}\n' \
         AWS_ACCESS_KEY_ID={aws_key_id} --gcp-credentials='{gcp_json}'"
    );
    let mut victim = Command::new("sh")
        .args(["-c", &script])
        .env("AWS_SECRET_ACCESS_KEY", &aws_secret)
        .env("API_JWT", &jwt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the process with planted secrets");
    let secrets = [
        ("password flag", &password),
        ("database URL password", &db_password),
        ("AWS secret", &aws_secret),
        ("JWT", &jwt),
        ("bearer token", &bearer),
        ("PEM body", &pem_body),
        ("YAML password", &yaml_password),
        ("AWS access key id", &aws_key_id),
        ("GCP private key", &gcp_key_line),
        ("GCP private key id", &gcp_key_id),
    ];
    let dir = tempfile::tempdir().unwrap();
    let bundle_path = dir.path().join("b.tar.zst");
    let target = format!("pid:{}", victim.id());
    let out = triage(&[
        "snapshot",
        &target,
        "--json",
        "--cpu-sample",
        "0",
        "--jvm-timeout",
        "0",
        "--out",
        bundle_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The process was collected (so the test cannot pass by missing it) and its command line was
    // redacted where it stands.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = victim.id();
    let process = json["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .expect("the planted process is in the snapshot");
    assert!(
        process["command"].as_str().unwrap().contains("sleep 60"),
        "{process}"
    );
    for (what, secret) in &secrets {
        assert!(
            !find(&out.stderr, secret.as_bytes()),
            "{what} in triage's own log (stderr at debug level)"
        );
    }

    // Every member, after a safe extraction, and the raw decompressed stream (manifest included).
    let extracted = dir.path().join("x");
    let ex = triage(&[
        "bundle",
        "extract",
        bundle_path.to_str().unwrap(),
        extracted.to_str().unwrap(),
    ]);
    assert!(ex.status.success(), "{}", text(&ex.stderr));
    assert!(
        text(&ex.stdout).contains("match the manifest"),
        "{}",
        text(&ex.stderr)
    );
    let mut files = Vec::new();
    walk(&extracted, &mut files);
    assert!(files.len() > 20, "{} files extracted", files.len());
    for file in &files {
        let data = std::fs::read(file).unwrap();
        for (what, secret) in &secrets {
            assert!(
                !find(&data, secret.as_bytes()),
                "{what} found in {}",
                file.display()
            );
        }
    }
    let stream = zstd::decode_all(std::fs::File::open(&bundle_path).unwrap()).unwrap();
    for (what, secret) in &secrets {
        assert!(
            !find(&stream, secret.as_bytes()),
            "{what} in the bundle stream"
        );
    }
    let snapshot = std::fs::read_to_string(extracted.join("snapshot.json")).unwrap();
    assert!(
        snapshot.contains("[REDACTED:password-assignment]"),
        "no redaction marker"
    );
    assert!(
        snapshot.contains("[REDACTED:database-connection-string]")
            || snapshot.contains("[REDACTED:url-userinfo]")
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(extracted.join("manifest.json")).unwrap())
            .unwrap();
    let totals = &manifest["redaction"]["totals"];
    for rule in [
        "password-assignment",
        "pem-private-key",
        "authorization-header",
        "aws-access-key-id",
        "gcp-service-account-key",
        "jwt",
    ] {
        assert!(
            totals[rule].as_u64().unwrap_or(0) >= 1,
            "{rule} not credited: {totals}"
        );
    }
    let _ = victim.kill();
    let _ = victim.wait();

    // --encrypt-to: only the .age file is left, and the real `age` opens it into a bundle that
    // verifies.
    let (Some(_), Some(keygen)) = (
        testkit::require_program("age", test),
        testkit::require_program("age-keygen", test),
    ) else {
        return;
    };
    let key = dir.path().join("key.txt");
    let gen_out = Command::new(keygen).arg("-o").arg(&key).output().unwrap();
    assert!(gen_out.status.success());
    let key_text = std::fs::read_to_string(&key).unwrap();
    let recipient = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("public key line")
        .to_string();
    let sealed_base = dir.path().join("sealed.tar.zst");
    let out = triage(&[
        "snapshot",
        "--cpu-sample",
        "0",
        "--encrypt-to",
        &recipient,
        "--out",
        sealed_base.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !sealed_base.exists(),
        "the unencrypted bundle was left behind"
    );
    let sealed = dir.path().join("sealed.tar.zst.age");
    let head = std::fs::read(&sealed).unwrap();
    assert!(head.starts_with(b"age-encryption.org/v1\n"));
    let opened = dir.path().join("opened.tar.zst");
    let dec = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(&key)
        .arg("-o")
        .arg(&opened)
        .arg(&sealed)
        .output()
        .unwrap();
    assert!(dec.status.success(), "{}", text(&dec.stderr));
    let verify = triage(&["bundle", "verify", opened.to_str().unwrap()]);
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    // A wrong recipient string is refused before anything is collected.
    let out = triage(&[
        "snapshot",
        "--encrypt-to",
        "age1notakey",
        "--out",
        "/dev/null/x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(
        text(&out.stderr).contains("not an age x25519 recipient"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn extract_refuses_a_hostile_archive_and_writes_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    // CVE-2019-1002101 shape: a symlink out of the destination, then a file through it.
    let archive = hostile_tar::Tar::default()
        .file("ok.txt", b"fine")
        .symlink("escape", "..")
        .file("escape/planted", b"owned")
        .finish();
    let path = dir.path().join("evil.tar");
    std::fs::write(&path, archive).unwrap();
    let dest = dir.path().join("dest");
    let out = triage(&[
        "bundle",
        "extract",
        path.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("\"escape\"") && stderr.contains("refused"),
        "{stderr}"
    );
    assert!(!dir.path().join("planted").exists());
    assert!(!dest.exists(), "a refused extraction keeps nothing");
    // An existing destination is never reused.
    std::fs::create_dir(&dest).unwrap();
    let good = hostile_tar::Tar::default().file("a.txt", b"x").finish();
    std::fs::write(&path, good).unwrap();
    let out = triage(&[
        "bundle",
        "extract",
        path.to_str().unwrap(),
        dest.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn an_unredacted_bundle_says_so_to_every_reader() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("raw.tar.zst");
    let out = triage(&[
        "snapshot",
        "--cpu-sample",
        "0",
        "--no-redact",
        "--out",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let red = "\x1b[31mwarning:";
    assert!(text(&out.stderr).contains(red), "{}", text(&out.stderr));
    let manifest: serde_json::Value =
        serde_json::from_slice(&triage(&["bundle", "manifest", path.to_str().unwrap()]).stdout)
            .unwrap();
    assert_eq!(manifest["redaction"]["enabled"], false);
    assert!(
        manifest["redaction"]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("REDACTION WAS DISABLED")),
        "{}",
        manifest["redaction"]
    );
    for verb in [
        &["bundle", "ls"][..],
        &["bundle", "verify"][..],
        &["analyze"][..],
    ] {
        let mut args = verb.to_vec();
        args.push(path.to_str().unwrap());
        let out = triage(&args);
        assert!(
            text(&out.stderr).contains(red),
            "{verb:?} did not warn: {}",
            text(&out.stderr)
        );
    }
}

/// `--tokenize`, `--redact-regex` and `--redact-rules` through the real binary: the same password
/// gets the same token in every member it appears in (one key for the whole bundle), the key is
/// nowhere in the bundle, and the user's rules are applied and credited by their names.
#[test]
fn tokenize_and_user_rules_apply_across_the_whole_bundle() {
    let password = format!("Tk{}", random_token(16));
    let order_id = format!("ORD-{}", random_token(10).to_uppercase());
    let internal = format!("intl-{}", random_token(12).to_lowercase());
    let script = format!("sleep 60; : --db-password={password} order={order_id} host={internal}");
    let mut victim = Command::new("sh")
        .args(["-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting the process with planted secrets");
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.txt");
    std::fs::write(&rules, format!("literal internal-host {internal}\n")).unwrap();
    let path = dir.path().join("t.tar.zst");
    let target = format!("pid:{}", victim.id());
    let out = triage(&[
        "snapshot",
        &target,
        "--cpu-sample",
        "0",
        "--jvm-timeout",
        "0",
        "--tokenize",
        "--redact-regex",
        "ORD-[A-Z0-9]{10}",
        "--redact-rules",
        rules.to_str().unwrap(),
        "--out",
        path.to_str().unwrap(),
    ]);
    let _ = victim.kill();
    let _ = victim.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stream = zstd::decode_all(std::fs::File::open(&path).unwrap()).unwrap();
    for secret in [&password, &order_id, &internal] {
        assert!(!find(&stream, secret.as_bytes()), "{secret} in the bundle");
    }
    let reader = bundle::BundleReader::open(&path).unwrap();
    let manifest = reader.manifest().unwrap();
    assert_eq!(manifest.redaction.mode, "tokenize");
    for rule in ["user-regex-1", "internal-host", "password-assignment"] {
        assert!(
            manifest.redaction.totals.get(rule).copied().unwrap_or(0) >= 1,
            "{rule} not credited: {:?}",
            manifest.redaction.totals
        );
    }
    // The password's token: one value, found in more than one member.
    let marker = b"--db-password=[REDACTED:password-assignment:";
    let mut tokens = std::collections::BTreeSet::new();
    let mut members = 0;
    for info in reader.list().unwrap() {
        if info.path == bundle::MANIFEST_NAME {
            continue;
        }
        let data = reader.read_member(&info.path).unwrap();
        let mut found = false;
        let mut rest = &data[..];
        while let Some(at) = rest.windows(marker.len()).position(|w| w == marker) {
            let token = &rest[at + marker.len()..];
            let end = token.iter().position(|&b| b == b']').expect("closing ]");
            tokens.insert(token[..end].to_vec());
            found = true;
            rest = &token[end..];
        }
        members += usize::from(found);
    }
    assert!(members >= 2, "the password appears in {members} member(s)");
    assert_eq!(tokens.len(), 1, "one token for one password: {tokens:?}");
    let token = tokens.into_iter().next().unwrap();
    assert_eq!(token.len(), 12, "12 hex digits");
    assert!(token.iter().all(u8::is_ascii_hexdigit));
}
