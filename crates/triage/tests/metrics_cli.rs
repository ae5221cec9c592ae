//! `triage metrics` end to end: the real binary against a real node_exporter (plain and TLS with
//! client certificates), prom2json's Go code as the JSON oracle, and small in-test HTTP servers
//! for what well-behaved exporters never do (endless bodies, silence, errors, huge bodies).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn triage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_triage"))
        .arg("metrics")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running triage")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// node_exporter on a free loopback port, killed on drop.
struct NodeExporter {
    child: Child,
    port: u16,
}

impl NodeExporter {
    fn start(test: &str, web_config: Option<&Path>) -> Option<NodeExporter> {
        let program = testkit::require_program("prometheus-node-exporter", test)?;
        let port = free_port();
        let mut command = Command::new(program);
        command
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(config) = web_config {
            command.arg(format!("--web.config.file={}", config.display()));
        }
        let exporter = NodeExporter {
            child: command.spawn().expect("starting node_exporter"),
            port,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(exporter);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{test}: node_exporter did not listen on 127.0.0.1:{port}");
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/metrics", self.port)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// prom2json's text path (Debian's Go sources), built once; see crates/promtext/tests/go.
fn prom2json_harness(test: &str) -> Option<PathBuf> {
    static HARNESS: OnceLock<PathBuf> = OnceLock::new();
    let go = testkit::require_program("go", test)?;
    let gocode = Path::new("/usr/share/gocode");
    if !gocode.join("src/github.com/prometheus/prom2json").exists() {
        testkit::skip_or_fail(
            test,
            "Debian's golang-github-prometheus-prom2json-dev is not installed",
        );
        return None;
    }
    Some(
        HARNESS
            .get_or_init(|| {
                let dir =
                    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("triage-prom2json-harness");
                std::fs::create_dir_all(dir.join("gopath")).expect("creating the harness dir");
                let binary = dir.join("prom2json-harness");
                let source = Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../promtext/tests/go/prom2json/main.go");
                let output = Command::new(go)
                    .args(["build", "-o"])
                    .arg(&binary)
                    .arg(&source)
                    .env(
                        "GOPATH",
                        format!("{}:{}", dir.join("gopath").display(), gocode.display()),
                    )
                    .env("GO111MODULE", "off")
                    .env("GOPROXY", "off")
                    .env("GOFLAGS", "")
                    .env("GOCACHE", dir.join("gocache"))
                    .output()
                    .expect("running go build");
                assert!(
                    output.status.success(),
                    "go build: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                binary
            })
            .clone(),
    )
}

/// GET a URL's body with a bare HTTP/1.0 request (test plumbing, not the code under test).
fn plain_get(port: u16, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").expect("sending");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reading");
    let end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header")
        + 4;
    response.split_off(end)
}

#[test]
fn json_of_node_exporter_output_equals_prom2json() {
    let test = "json_of_node_exporter_output_equals_prom2json";
    let Some(harness) = prom2json_harness(test) else {
        return;
    };
    let Some(exporter) = NodeExporter::start(test, None) else {
        return;
    };
    let body = plain_get(exporter.port, "/metrics");
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("node_exporter.prom");
    std::fs::write(&file, &body).expect("writing the scrape");

    let expected = Command::new(&harness)
        .arg(&file)
        .output()
        .expect("running the harness");
    let expected = String::from_utf8(expected.stdout).expect("UTF-8");
    assert!(expected.starts_with("[{"), "prom2json failed: {expected}");
    let ours = triage(&["--json", file.to_str().expect("a UTF-8 path")]);
    assert!(ours.status.success(), "{}", stderr(&ours));
    // node_exporter sorts its families by name, and the harness sorts prom2json's random order.
    assert_eq!(stdout(&ours), expected);

    // Straight from the URL: the same families (values move between scrapes, names do not).
    let live = triage(&["--json", &exporter.url("http")]);
    assert!(live.status.success(), "{}", stderr(&live));
    let names = |json: &str| -> Vec<String> {
        let value: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        value
            .as_array()
            .expect("an array")
            .iter()
            .map(|f| f["name"].as_str().expect("a name").to_string())
            .collect()
    };
    assert_eq!(names(&stdout(&live)), names(&expected));
}

#[test]
fn table_groups_node_exporter_families_and_grep_filters_them() {
    let test = "table_groups_node_exporter_families_and_grep_filters_them";
    let Some(exporter) = NodeExporter::start(test, None) else {
        return;
    };
    let output = triage(&[&exporter.url("http")]);
    assert!(output.status.success(), "{}", stderr(&output));
    // A newline in front so every family header, the first one too, follows one.
    let text = format!("\n{}", stdout(&output));
    assert!(
        text.contains(
            "\nnode_cpu_seconds_total  (counter)  Seconds the CPUs spent in each mode.\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("\ngo_gc_duration_seconds  (summary)"),
        "{text}"
    );
    assert!(
        text.contains("  LABELS") && text.contains("cpu=\"0\",mode=\"idle\""),
        "{text}"
    );

    let filtered = triage(&["--grep", "^node_load[0-9]+$", &exporter.url("http")]);
    assert!(filtered.status.success(), "{}", stderr(&filtered));
    let filtered_text = stdout(&filtered);
    let headers: Vec<&str> = filtered_text
        .lines()
        .filter(|l| !l.starts_with(' ') && !l.is_empty())
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(headers, ["node_load1", "node_load15", "node_load5"]);
}

/// CA, server and client certificates made with openssl for a TLS node_exporter.
fn make_pki(dir: &Path, openssl: &Path) {
    let run = |args: &[&str]| {
        let status = Command::new(openssl)
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?} failed");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca-key.pem",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=triage test CA",
        ],
    ]
    .concat());
    for (name, usage) in [("server", "serverAuth"), ("client", "clientAuth")] {
        std::fs::write(
            dir.join(format!("{name}.ext")),
            format!("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage={usage}\n"),
        )
        .expect("writing an extension file");
        let key = format!("{name}-key.pem");
        let csr = format!("{name}.csr");
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                &format!("/CN={name}"),
            ],
        ]
        .concat());
        let cert = format!("{name}.pem");
        let ext = format!("{name}.ext");
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca-key.pem",
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
    std::fs::write(
        dir.join("web.yml"),
        format!(
            "tls_server_config:\n  cert_file: {d}/server.pem\n  key_file: {d}/server-key.pem\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {d}/ca.pem\n",
            d = dir.display()
        ),
    )
    .expect("writing web.yml");
}

#[test]
fn tls_with_client_certificates_against_node_exporter() {
    let test = "tls_with_client_certificates_against_node_exporter";
    let Some(openssl) = testkit::require_program("openssl", test) else {
        return;
    };
    let dir = tempfile::tempdir().expect("a temp dir");
    make_pki(dir.path(), &openssl);
    let Some(exporter) = NodeExporter::start(test, Some(&dir.path().join("web.yml"))) else {
        return;
    };
    let url = exporter.url("https");
    let path = |name: &str| {
        dir.path()
            .join(name)
            .to_str()
            .expect("UTF-8 path")
            .to_string()
    };
    let (ca, cert, key) = (path("ca.pem"), path("client.pem"), path("client-key.pem"));

    let ok = triage(&[
        "--cacert",
        &ca,
        "--cert",
        &cert,
        "--key",
        &key,
        "--grep",
        "^node_load1$",
        &url,
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(
        stdout(&ok).starts_with("node_load1  (gauge)"),
        "{}",
        stdout(&ok)
    );

    let insecure = triage(&[
        "--insecure-skip-verify",
        "--cert",
        &cert,
        "--key",
        &key,
        "--grep",
        "^node_load1$",
        &url,
    ]);
    assert!(insecure.status.success(), "{}", stderr(&insecure));

    // The server is not trusted without --cacert …
    let untrusted = triage(&["--cert", &cert, "--key", &key, &url]);
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(
        stderr(&untrusted).to_lowercase().contains("certificate"),
        "{}",
        stderr(&untrusted)
    );
    // … and the server refuses us without a client certificate.
    let anonymous = triage(&["--cacert", &ca, &url]);
    assert_eq!(anonymous.status.code(), Some(1), "{}", stdout(&anonymous));
    assert!(
        stderr(&anonymous).contains(&format!("GET {url}")),
        "{}",
        stderr(&anonymous)
    );
}

/// A one-connection-at-a-time HTTP server running `respond` on each request, for at most
/// `lifetime`; it stops by itself.
fn serve(lifetime: Duration, respond: fn(&mut TcpStream, Instant)) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding");
    listener.set_nonblocking(true).expect("non-blocking accept");
    let port = listener.local_addr().expect("an address").port();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + lifetime;
        while Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).expect("blocking stream");
                    let mut request = [0u8; 4096];
                    let _ = stream.read(&mut request);
                    respond(&mut stream, deadline);
                    let _ = stream.shutdown(Shutdown::Both);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
    });
    (port, handle)
}

#[test]
fn endless_body_is_cut_by_the_timeout() {
    let (port, server) = serve(Duration::from_secs(20), |stream, deadline| {
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\r\n");
        let mut i = 0u64;
        while Instant::now() < deadline {
            if stream
                .write_all(format!("drip{{i=\"{i}\"}} 1\n").as_bytes())
                .is_err()
            {
                return;
            }
            i += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let started = Instant::now();
    let output = triage(&[
        "--timeout",
        "1s",
        &format!("http://127.0.0.1:{port}/metrics"),
    ]);
    let elapsed = started.elapsed();
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(
        message.contains("did not end within --timeout 1s"),
        "{message}"
    );
    assert!(message.contains("streaming without end"), "{message}");
    assert!(elapsed < Duration::from_secs(8), "took {elapsed:?}");
    server.join().expect("the server thread");
}

#[test]
fn silent_server_times_out_with_a_clear_message() {
    let (port, server) = serve(Duration::from_secs(6), |_, deadline| {
        // Accept and say nothing.
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let output = triage(&[
        "--timeout",
        "500ms",
        &format!("http://127.0.0.1:{port}/metrics"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no response within --timeout 500ms"),
        "{}",
        stderr(&output)
    );
    server.join().expect("the server thread");
}

#[test]
fn oversized_body_is_refused_at_the_cap() {
    let (port, server) = serve(Duration::from_secs(20), |stream, deadline| {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n");
        let line = b"big 1\n".repeat(10_000);
        while Instant::now() < deadline && stream.write_all(&line).is_ok() {}
    });
    let output = triage(&[
        "--max-bytes",
        "1MiB",
        "--timeout",
        "20s",
        &format!("http://127.0.0.1:{port}/metrics"),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("exceeds --max-bytes (1.0 MiB)"),
        "{}",
        stderr(&output)
    );
    server.join().expect("the server thread");
}

#[test]
fn http_errors_and_parse_errors_say_where() {
    let (port, server) = serve(Duration::from_secs(10), |stream, _| {
        let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n");
    });
    let output = triage(&[&format!("http://127.0.0.1:{port}/nope")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("returned HTTP 404 Not Found"),
        "{}",
        stderr(&output)
    );
    drop(server);

    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("bad.prom");
    std::fs::write(&file, "ok 1\nbad{a=\"x\\q\"} 1\n").expect("writing");
    let output = triage(&[file.to_str().expect("UTF-8 path")]);
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("line 2, column 9"), "{message}");
    assert!(message.contains("invalid escape sequence"), "{message}");

    let missing = triage(&["/nonexistent/metrics.prom"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("opening /nonexistent/metrics.prom"),
        "{}",
        stderr(&missing)
    );

    let usage = triage(&["--cert", "c.pem", "http://127.0.0.1:1/metrics"]);
    assert_eq!(
        usage.status.code(),
        Some(2),
        "--cert without --key is a usage error"
    );
}

#[test]
fn openmetrics_is_taken_from_the_content_type() {
    let (port, server) = serve(Duration::from_secs(10), |stream, _| {
        let body = "# TYPE jobs counter\n# UNIT jobs_seconds seconds\n# HELP jobs Jobs run.\njobs_total{queue=\"a,b\"} 7 # {trace_id=\"abc\"} 1.5\njobs_created{queue=\"a,b\"} 1700000000\n# EOF\n";
        // A UNIT line for another family would be an error; keep the body valid.
        let body = body.replace("# UNIT jobs_seconds seconds\n", "");
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
    });
    let url = format!("http://127.0.0.1:{port}/metrics");
    let table = triage(&["--format", "openmetrics", &url]);
    assert!(table.status.success(), "{}", stderr(&table));
    assert!(
        stdout(&table).starts_with("jobs  (counter)  Jobs run.\n"),
        "{}",
        stdout(&table)
    );
    let json = triage(&["--json", &url]);
    assert!(json.status.success(), "{}", stderr(&json));
    assert_eq!(
        stdout(&json),
        "[{\"name\":\"jobs_total\",\"help\":\"Jobs run.\",\"type\":\"COUNTER\",\"metrics\":[{\"labels\":{\"queue\":\"a,b\"},\"value\":\"7\"}]}]\n"
    );
    server.join().expect("the server thread");
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_triage"))
        .args(["metrics", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running triage");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"# TYPE up gauge\nup{job=\"a=b\",path=\"C:\\\\x\"} 1 1700000000000\n")
        .expect("writing stdin");
    let output = child.wait_with_output().expect("waiting");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "[{\"name\":\"up\",\"help\":\"\",\"type\":\"GAUGE\",\"metrics\":[{\"labels\":{\"job\":\"a=b\",\"path\":\"C:\\\\x\"},\"timestamp_ms\":\"1700000000000\",\"value\":\"1\"}]}]\n"
    );
}
