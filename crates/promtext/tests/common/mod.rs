//! Real peers for the tests: prom2json's Go code (built from Debian's sources) and node_exporter.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where Debian installs Go library sources (GOPATH layout).
pub const DEBIAN_GOCODE: &str = "/usr/share/gocode";

/// Build `tests/go/prom2json/main.go` offline against Debian's prom2json and expfmt sources.
/// `None` (after a loud skip message) when Go or the sources are missing.
pub fn prom2json_harness(test: &str) -> Option<PathBuf> {
    static HARNESS: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let go = testkit::require_program("go", test)?;
    if !Path::new(DEBIAN_GOCODE)
        .join("src/github.com/prometheus/prom2json/prom2json.go")
        .exists()
    {
        testkit::skip_or_fail(
            test,
            "Debian's golang-github-prometheus-prom2json-dev is not installed (see .ci/run)",
        );
        return None;
    }
    let built = HARNESS.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("prom2json-harness");
        std::fs::create_dir_all(dir.join("gopath")).map_err(|e| e.to_string())?;
        let binary = dir.join("prom2json-harness");
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go/prom2json/main.go");
        let output = Command::new(go)
            .arg("build")
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .env(
                "GOPATH",
                format!("{}:{DEBIAN_GOCODE}", dir.join("gopath").display()),
            )
            .env("GO111MODULE", "off")
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GOCACHE", dir.join("gocache"))
            .output()
            .map_err(|e| format!("running go build: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "go build failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        Ok(binary)
    });
    match built {
        Ok(path) => Some(path.clone()),
        Err(message) => panic!("{test}: building the prom2json harness: {message}"),
    }
}

/// Run the harness on files; one output line per file (JSON, or `ERROR …`).
pub fn prom2json_lines(harness: &Path, files: &[PathBuf]) -> Vec<String> {
    let output = Command::new(harness)
        .args(files)
        .output()
        .expect("running the prom2json harness");
    assert!(
        output.status.success(),
        "harness failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text =
        String::from_utf8(output.stdout).expect("the harness prints UTF-8 (json.Marshal output)");
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), files.len(), "one output line per input");
    lines
}

/// A node_exporter on a free loopback port, killed on drop.
pub struct NodeExporter {
    child: Child,
    pub port: u16,
}

impl NodeExporter {
    pub fn start(test: &str) -> Option<NodeExporter> {
        let program = testkit::require_program("prometheus-node-exporter", test)
            .or_else(|| testkit::find_program("node_exporter"))?;
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting node_exporter");
        let exporter = NodeExporter { child, port };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(exporter);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{test}: node_exporter did not listen on 127.0.0.1:{port} within 15 s");
    }

    /// GET /metrics over plain HTTP/1.0 (no client library: the body is all we need).
    pub fn scrape(&self) -> Vec<u8> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", self.port)).expect("connecting to node_exporter");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("setting a read timeout");
        stream
            .write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain;version=0.0.4\r\n\r\n")
            .expect("sending the request");
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .expect("reading the response");
        let header_end = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP header")
            + 4;
        assert!(response.starts_with(b"HTTP/1.0 200") || response.starts_with(b"HTTP/1.1 200"));
        response.split_off(header_end)
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Our prom2json JSON for a text exposition, families sorted by name as the harness sorts them.
pub fn our_prom2json(input: &[u8]) -> Result<String, promtext::ParseError> {
    let mut families =
        promtext::parse_families(input, promtext::Format::Text, promtext::Limits::default())?;
    families.sort_by(|a, b| a.name.cmp(&b.name));
    let mut json = promtext::write_prom2json_string(&families);
    json.pop(); // the harness's lines are split without their newline
    Ok(json)
}
