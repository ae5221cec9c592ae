//! A corpus with planted secrets of every default rule's kind, in the contexts where they leak
//! in practice (command lines, environments, logs, config files, service-account JSON,
//! kubeconfigs). The test asserts that no byte sequence of any planted secret survives, that
//! each rule is credited, and that the surrounding text is left alone.

use std::collections::BTreeMap;

use redact::{Redactor, RedactorConfig, UserRule};

/// Deterministic pseudo-random base64 text (xorshift), so the fixtures look like real key
/// material without shipping one.
fn base64_noise(seed: u64, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

fn b64url(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn jwt(payload: &str, seed: u64) -> String {
    format!(
        "{}.{}.{}",
        b64url(br#"{"alg":"RS256","kid":"x7Hq2"}"#),
        b64url(payload.as_bytes()),
        base64_noise(seed, 86).replace(['+', '/'], "_")
    )
}

fn pem_body(seed: u64, lines: usize) -> Vec<String> {
    (0..lines)
        .map(|i| base64_noise(seed + i as u64, 64))
        .collect()
}

struct Corpus {
    /// (file name, content)
    files: Vec<(&'static str, Vec<u8>)>,
    /// Every secret planted, with the rule expected to catch it.
    secrets: Vec<(String, &'static str)>,
}

fn corpus() -> Corpus {
    let aws_id = "AKIAQ3EGPXLN5TZ7WK2M".to_string();
    let aws_secret = "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".to_string();
    let db_flag = "Db-Pa55w0rd!flag".to_string();
    let db_space = "Sp4ce-Separated-Pw".to_string();
    let pg_pass = "PgPa55w0rd-xyz".to_string();
    let redis_pass = "R3dis-Pa55".to_string();
    let jdbc_pass = "JdbcPa55-q1".to_string();
    let oracle_pass = "T1gerOracle9".to_string();
    let ado_pass = "Ad0Net-Pa55;x".to_string();
    let user_jwt = jwt(
        r#"{"sub":"1234567890","name":"Jane Roe","iat":1516239022}"#,
        11,
    );
    let k8s_jwt = jwt(
        r#"{"iss":"kubernetes/serviceaccount","kubernetes.io/serviceaccount/namespace":"prod","kubernetes.io/serviceaccount/service-account.name":"deployer"}"#,
        12,
    );
    let bound_k8s_jwt = jwt(
        r#"{"aud":["https://kubernetes.default.svc.cluster.local"],"iss":"https://kubernetes.default.svc.cluster.local","kubernetes.io":{"namespace":"prod","pod":{"name":"api-0"}}}"#,
        13,
    );
    let yaml_pass = "Yam1-L0g-Pa55".to_string();
    let yaml_pass2 = "s3cond Yaml pass".to_string();
    let bearer = format!("ya29.{}", base64_noise(21, 40).replace(['+', '/'], "-"));
    let basic = "ZGVwbG95OmQzcGwweS1wYXNz".to_string();
    let git_pass = "Gh-D3ploy-Pa55".to_string();
    let ghp = format!("ghp_{}", base64_noise(31, 36).replace(['+', '/'], "x"));
    let github_pat = format!(
        "github_pat_11ABCDEFG0{}",
        base64_noise(32, 59).replace(['+', '/'], "_")
    );
    let slack_bot = "xoxb-2384729384-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_string();
    let slack_hook = "T0123ABCD/B0456EFGH/aBcDeFgHiJkLmNoPqRsTuVwX".to_string();
    let api_key = "ak-live-0123456789abcdef".to_string();
    let keystore_pass = "Ks-Pa55-w0rd".to_string();
    let xml_pass = "Xml-Pa55-42".to_string();
    let escaped_pass = "Esc-Pa55-json".to_string();
    let client_secret = "cs_9f8e7d6c5b4a3210".to_string();
    let pem_lines = pem_body(41, 25);
    let gcp_lines = pem_body(51, 26);
    let gcp_key_id = "3f2a9c0b7d1e4a5f6b8c9d0e1f2a3b4c5d6e7f80".to_string();

    let cmdline = [
        "/usr/bin/java",
        "-Xmx2g",
        &format!("-Djavax.net.ssl.keyStorePassword={keystore_pass}"),
        "-jar",
        "orders.jar",
        &format!("--db-password={db_flag}"),
        "--replica-password",
        &db_space,
        &format!("--spring.datasource.url=jdbc:postgresql://db:5432/orders?user=app&password={jdbc_pass}&ssl=true"),
        &format!("--primary=postgres://app:{pg_pass}@db.internal:5432/orders"),
    ]
    .join("\0");

    let environ = [
        "PATH=/usr/local/bin:/usr/bin".to_string(),
        "PWD=/srv/orders".to_string(),
        format!("AWS_ACCESS_KEY_ID={aws_id}"),
        format!("AWS_SECRET_ACCESS_KEY={aws_secret}"),
        format!("ID_TOKEN={user_jwt}"),
        format!("REDIS_URL=redis://:{redis_pass}@redis:6379/0"),
        format!("GITHUB_TOKEN={ghp}"),
        format!("SLACK_WEBHOOK=https://hooks.slack.com/services/{slack_hook}"),
        "HOME=/home/orders".to_string(),
    ]
    .join("\0");

    let log = format!(
        "2024-05-01T10:00:00.123Z INFO  [main] starting orders v1.4.2 pid=4242\n\
         2024-05-01T10:00:00.200Z DEBUG [main] effective config:\n  database:\n    user: app\n    password: {yaml_pass}\n    pool: 10\n\
         2024-05-01T10:00:00.201Z DEBUG [main] overrides {{password: '{yaml_pass2}', retries: 3}}\n\
         2024-05-01T10:00:01.000Z INFO  [http] GET /healthz 200 1ms\n\
         2024-05-01T10:00:02.000Z DEBUG [http] outgoing request headers: Authorization: Bearer {bearer}\n\
         2024-05-01T10:00:02.500Z DEBUG [exec] curl -H 'Authorization: Basic {basic}' https://api.example.com/v1\n\
         2024-05-01T10:00:03.000Z INFO  [git] cloning https://deploy:{git_pass}@git.example.com/orders.git\n\
         2024-05-01T10:00:03.100Z WARN  [ci] using token {github_pat} from environment\n\
         2024-05-01T10:00:04.000Z INFO  [notify] slack client ready token={slack_bot}\n\
         2024-05-01T10:00:05.000Z ERROR [api] upstream rejected payload {{\"api_key\": \"{api_key}\", \"user\": \"bob\"}}\n\
         2024-05-01T10:00:05.100Z ERROR [api] raw body: \"{{\\\"password\\\":\\\"{escaped_pass}\\\",\\\"user\\\":\\\"bob\\\"}}\"\n\
         2024-05-01T10:00:06.000Z INFO  [sql] connecting with Server=sql01;Database=orders;User Id=sa;Password={ado_pass};\n\
         2024-05-01T10:00:06.500Z INFO  [sql] legacy url jdbc:oracle:thin:scott/{oracle_pass}@ora01:1521:ORCL\n\
         2024-05-01T10:00:07.000Z INFO  [auth] loaded client_secret={client_secret} for client orders\n\
         2024-05-01T10:00:08.000Z INFO  [main] ready in 8.0s\n"
    );

    let config_xml = format!(
        "<config>\n  <datasource>\n    <username>app</username>\n    <password>{xml_pass}</password>\n  </datasource>\n</config>\n"
    );

    let pem_config = format!(
        "# TLS settings for the orders API\ntls:\n  cert: /etc/orders/tls.crt\n  key: |\n    -----BEGIN RSA PRIVATE KEY-----\n    {}\n    -----END RSA PRIVATE KEY-----\n  min_version: TLS1.2\n",
        pem_lines.join("\n    ")
    );

    let gcp_json = format!(
        "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"orders-prod\",\n  \"private_key_id\": \"{gcp_key_id}\",\n  \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{}\\n-----END PRIVATE KEY-----\\n\",\n  \"client_email\": \"orders@orders-prod.iam.gserviceaccount.com\",\n  \"client_id\": \"103958209384750293847\"\n}}\n",
        gcp_lines.join("\\n")
    );

    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\nusers:\n- name: deployer\n  user:\n    token: {k8s_jwt}\n"
    );
    let sa_token_file = bound_k8s_jwt.clone();
    let aws_credentials = format!(
        "[default]\naws_access_key_id = {aws_id}\naws_secret_access_key = {aws_secret}\nregion = eu-west-1\n"
    );

    let mut secrets: Vec<(String, &'static str)> = vec![
        (aws_id, "aws-access-key-id"),
        (aws_secret, "aws-secret-access-key"),
        (db_flag, "password-assignment"),
        (db_space, "password-assignment"),
        (pg_pass, "database-connection-string"),
        (redis_pass, "database-connection-string"),
        (jdbc_pass, "database-connection-string"),
        (oracle_pass, "database-connection-string"),
        (ado_pass, "database-connection-string"),
        (user_jwt, "jwt"),
        (k8s_jwt, "kubernetes-service-account-token"),
        (bound_k8s_jwt, "kubernetes-service-account-token"),
        (yaml_pass, "password-assignment"),
        (yaml_pass2, "password-assignment"),
        (bearer, "authorization-header"),
        (basic, "authorization-header"),
        (git_pass, "url-userinfo"),
        (ghp, "github-token"),
        (github_pat, "github-token"),
        (slack_bot, "slack-token"),
        (slack_hook, "slack-token"),
        (api_key, "password-assignment"),
        (keystore_pass, "password-assignment"),
        (xml_pass, "password-assignment"),
        (escaped_pass, "password-assignment"),
        (client_secret, "password-assignment"),
        (gcp_key_id, "gcp-service-account-key"),
    ];
    for line in pem_lines {
        secrets.push((line, "pem-private-key"));
    }
    for line in gcp_lines {
        secrets.push((line, "gcp-service-account-key"));
    }
    Corpus {
        files: vec![
            ("proc/4242/cmdline", cmdline.into_bytes()),
            ("proc/4242/environ", environ.into_bytes()),
            ("logs/orders.log", log.into_bytes()),
            ("etc/orders/config.xml", config_xml.into_bytes()),
            ("etc/orders/tls.yaml", pem_config.into_bytes()),
            ("secrets/gcp-sa.json", gcp_json.into_bytes()),
            ("kube/config", kubeconfig.into_bytes()),
            (
                "var/run/secrets/kubernetes.io/serviceaccount/token",
                sa_token_file.into_bytes(),
            ),
            ("aws/credentials", aws_credentials.into_bytes()),
        ],
        secrets,
    }
}

fn assert_no_secret(secrets: &[(String, &str)], file: &str, out: &[u8]) {
    for (secret, rule) in secrets {
        // The whole value, and any 8-byte window of it (a partial leak is a leak).
        let bytes = secret.as_bytes();
        let windows: Vec<&[u8]> = if bytes.len() <= 8 {
            vec![bytes]
        } else {
            bytes.windows(8).collect()
        };
        for w in windows {
            // Windows that also occur in the redacted text's own vocabulary are not secret.
            if w.iter().all(|b| b.is_ascii_lowercase() || *b == b'-') {
                continue;
            }
            assert!(
                memchr::memmem::find(out, w).is_none(),
                "{file}: bytes {:?} of the {rule} secret survived:\n{}",
                String::from_utf8_lossy(w),
                String::from_utf8_lossy(out)
            );
        }
    }
}

#[test]
fn no_planted_secret_survives_and_every_rule_is_credited() {
    let corpus = corpus();
    let redactor = Redactor::default();
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (name, content) in &corpus.files {
        let out = redactor.redact_bytes(content);
        assert_no_secret(&corpus.secrets, name, &out.bytes);
        for (rule, n) in &out.counts {
            *totals.entry(rule.clone()).or_insert(0) += n;
        }
    }
    for name in redact::DEFAULT_RULE_NAMES {
        assert!(
            totals.get(*name).copied().unwrap_or(0) > 0,
            "rule {name} never fired: {totals:?}"
        );
    }
}

#[test]
fn context_around_secrets_is_kept() {
    let corpus = corpus();
    let redactor = Redactor::default();
    let find = |name: &str| {
        let content = &corpus
            .files
            .iter()
            .find(|(n, _)| *n == name)
            .expect("fixture exists")
            .1;
        String::from_utf8(redactor.redact_bytes(content).bytes).expect("fixtures are UTF-8")
    };
    let cmdline = find("proc/4242/cmdline");
    assert!(
        cmdline.contains("--db-password=[REDACTED:password-assignment]\0"),
        "{cmdline:?}"
    );
    assert!(
        cmdline.contains("--replica-password\0[REDACTED:password-assignment]\0"),
        "{cmdline:?}"
    );
    assert!(
        cmdline.contains(
            "postgres://app:[REDACTED:database-connection-string]@db.internal:5432/orders"
        )
    );
    let environ = find("proc/4242/environ");
    assert!(
        environ.contains("PWD=/srv/orders\0"),
        "the working directory is not a password"
    );
    assert!(environ.contains("PATH=/usr/local/bin:/usr/bin\0"));
    assert!(
        environ.contains("AWS_SECRET_ACCESS_KEY=[REDACTED:aws-secret-access-key]\0"),
        "{environ:?}"
    );
    assert!(environ.contains("ID_TOKEN=[REDACTED:jwt]\0"), "{environ:?}");
    let log = find("logs/orders.log");
    assert!(
        log.contains("    password: [REDACTED:password-assignment]\n    pool: 10\n"),
        "{log}"
    );
    assert!(log.contains("GET /healthz 200 1ms"));
    assert!(
        log.contains("Authorization: Bearer [REDACTED:authorization-header]\n"),
        "{log}"
    );
    assert!(
        log.contains("https://deploy:[REDACTED:url-userinfo]@git.example.com/orders.git"),
        "{log}"
    );
    assert!(
        log.contains(r#"{"api_key": "[REDACTED:password-assignment]", "user": "bob"}"#),
        "{log}"
    );
    let tls = find("etc/orders/tls.yaml");
    assert!(
        tls.contains("  key: |\n    [REDACTED:pem-private-key]\n  min_version: TLS1.2\n"),
        "{tls}"
    );
    let gcp = find("secrets/gcp-sa.json");
    assert!(
        gcp.contains(r#""private_key": "[REDACTED:gcp-service-account-key]","#),
        "{gcp}"
    );
    assert!(gcp.contains("orders@orders-prod.iam.gserviceaccount.com"));
    let kube = find("kube/config");
    assert!(
        kube.contains("token: [REDACTED:kubernetes-service-account-token]\n"),
        "{kube}"
    );
}

#[test]
fn redaction_is_idempotent() {
    let redactor = Redactor::default();
    for (name, content) in &corpus().files {
        let once = redactor.redact_bytes(content);
        let twice = redactor.redact_bytes(&once.bytes);
        assert_eq!(
            twice.bytes, once.bytes,
            "{name}: a second pass changed the output"
        );
        assert!(
            twice.counts.is_empty(),
            "{name}: a second pass counted {:?}",
            twice.counts
        );
    }
}

#[test]
fn tokens_are_stable_within_a_redactor_and_differ_across_runs() {
    let config = RedactorConfig {
        tokenize: true,
        ..RedactorConfig::default()
    };
    let a = Redactor::new(config.clone()).expect("builds");
    let b = Redactor::new(config).expect("builds");
    let text =
        b"--db-password=hunter2-xyz\npostgres://app:hunter2-xyz@db/x\npassword: other-value\n";
    let out_a = String::from_utf8(a.redact_bytes(text).bytes).expect("utf-8");
    let out_b = String::from_utf8(b.redact_bytes(text).bytes).expect("utf-8");
    let tokens: Vec<&str> = out_a
        .lines()
        .map(|l| l.split(":[REDACTED:").last().unwrap_or(l))
        .collect();
    let token_of = |line: &str| {
        let start = line.find("[REDACTED:").expect("a marker on each line");
        let marker = &line[start
            ..line[start..]
                .find(']')
                .map(|e| start + e + 1)
                .expect("closed")];
        marker
            .rsplit(':')
            .next()
            .expect("token")
            .trim_end_matches(']')
            .to_string()
    };
    let lines: Vec<&str> = out_a.lines().collect();
    assert_eq!(lines.len(), 3, "{tokens:?}");
    let (t1, t2, t3) = (token_of(lines[0]), token_of(lines[1]), token_of(lines[2]));
    assert_eq!(t1.len(), 12);
    assert!(t1.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(t1, t2, "same value, same token:\n{out_a}");
    assert_ne!(t1, t3, "different values, different tokens");
    assert!(
        lines[0].starts_with("--db-password=[REDACTED:password-assignment:"),
        "{out_a}"
    );
    assert_ne!(out_a, out_b, "a fresh redactor draws a fresh key");
    assert!(!out_a.contains("hunter2"));
}

#[test]
fn user_rules_regex_literal_and_rules_file() {
    let file = redact::parse_rules_file(
        "# site rules\nregex internal-host (?i)\\bcorp-[a-z0-9]+\\.internal\\b\nregex session (?i)\\bsession=(?P<s>[0-9a-f]{16})\ndisable url-userinfo\n",
        "site.rules",
    )
    .expect("valid rules file");
    let config = RedactorConfig {
        user_rules: vec![UserRule::literal("license", "ACME-4711-XYZZY")],
        ..RedactorConfig::default()
    }
    .with_rules_file(file);
    let redactor = Redactor::new(config).expect("builds");
    let out = redactor.redact_bytes(
        b"license ACME-4711-XYZZY on CORP-db7.internal session=0123456789abcdef url https://u:p4ss@web/\n",
    );
    let text = String::from_utf8(out.bytes).expect("utf-8");
    assert_eq!(
        text,
        "license [REDACTED:license] on [REDACTED:internal-host] session=[REDACTED:session] url https://u:p4ss@web/\n"
    );
    assert_eq!(out.counts.get("license"), Some(&1));
    assert!(!redactor.rule_names().iter().any(|n| n == "url-userinfo"));
    assert!(
        Redactor::new(RedactorConfig {
            user_rules: vec![UserRule::regex("jwt", "x")],
            ..Default::default()
        })
        .is_err()
    );
    assert!(
        Redactor::new(RedactorConfig {
            user_rules: vec![UserRule::regex("Bad Name", "x")],
            ..Default::default()
        })
        .is_err()
    );
    let err = Redactor::new(RedactorConfig {
        user_rules: vec![UserRule::regex("broken", "(")],
        ..Default::default()
    })
    .expect_err("invalid regex");
    assert!(
        err.to_string().contains("rule `broken`: invalid regex"),
        "{err}"
    );
}

/// A service-account key that sits inside a JSON string (a command line or log line written into
/// the bundle's JSON): every secret byte goes, whether the text is encoded once or twice.
#[test]
fn service_account_key_inside_a_json_string() {
    let redactor = Redactor::default();
    let key_id = "0123456789abcdef0123456789abcdef01234567";
    let key_line = base64_noise(77, 64);
    let plain = format!(
        "{{\"type\": \"service_account\", \"private_key_id\": \"{key_id}\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{key_line}\\n-----END PRIVATE KEY-----\\n\", \"client_email\": \"a@b.iam.gserviceaccount.com\"}}"
    );
    let once = serde_json::to_string(&plain).expect("encodes");
    let twice = serde_json::to_string(&once).expect("encodes");
    for (form, text) in [
        ("plain", &plain),
        ("encoded once", &once),
        ("encoded twice", &twice),
    ] {
        let out = redactor.redact_bytes(text.as_bytes());
        let out = String::from_utf8(out.bytes).expect("utf-8");
        assert!(!out.contains(key_id), "{form}: key id survived: {out}");
        assert!(!out.contains(&key_line), "{form}: key survived: {out}");
        assert!(
            out.contains("a@b.iam.gserviceaccount.com"),
            "{form}: context lost: {out}"
        );
        if form != "plain" {
            assert!(
                serde_json::from_str::<String>(&out).is_ok(),
                "{form}: no longer a valid JSON string: {out}"
            );
        }
    }
}
