//! Build and run `tests/goapp/main.go` (the Go test service), and talk HTTP/1.0 to it with std only.
//! Shared with the CLI tests of the `triage` crate through `#[path]`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Where the Go source lives.
pub fn goapp_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../pprofile/tests/goapp/main.go")
}

/// Build goapp once per test binary; `None` when Go is not installed (the test skips loudly, or fails
/// under `TRIAGE_REQUIRE_EXTERNAL=1`).
pub fn goapp_binary(test: &str) -> Option<PathBuf> {
    static BUILT: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    let go = testkit::require_program("go", test)?;
    let built = BUILT.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("triage-goapp-")
            .tempdir()
            .expect("creating a temp dir");
        let out = dir.path().join("goapp");
        let cache = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/go-build"))
            .unwrap_or_else(|| dir.path().join("gocache"));
        let status = Command::new(&go)
            .arg("build")
            .arg("-o")
            .arg(&out)
            .arg(goapp_source())
            .env("GOPROXY", "off")
            .env("GOFLAGS", "")
            .env("GO111MODULE", "on")
            .env("GOCACHE", cache)
            .env("GOTOOLCHAIN", "local")
            .status()
            .expect("running go build");
        assert!(
            status.success(),
            "go build of {} failed",
            goapp_source().display()
        );
        Some((dir, out))
    });
    built.as_ref().map(|(_, path)| path.clone())
}

/// The `go` program, for `go tool pprof`.
pub fn go_program(test: &str) -> Option<PathBuf> {
    testkit::require_program("go", test)
}

/// A running goapp, killed on drop.
pub struct GoApp {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl GoApp {
    /// Start goapp with `leak` goroutines parked on a channel.
    pub fn start(test: &str, leak: usize) -> Option<GoApp> {
        let binary = goapp_binary(test)?;
        let mut child = Command::new(binary)
            .args([
                "-addr",
                "127.0.0.1:0",
                "-lifetime",
                "180s",
                "-leak",
                &leak.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting goapp");
        let stdout = child.stdout.take().expect("goapp stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading goapp's first line");
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("goapp printed {line:?} instead of its address"))
            .to_string();
        Some(GoApp { child, addr })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GET `path` and return the body; panics on a non-200 answer.
    pub fn get(&self, path: &str) -> Vec<u8> {
        http_get(&self.addr, path)
    }
}

impl Drop for GoApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.0 GET (the Go server closes the connection after the body).
pub fn http_get(addr: &str, path: &str) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connecting to goapp");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("setting a timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("sending the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("reading the response");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("the response has a header");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "GET {path}: {head}"
    );
    response[split + 4..].to_vec()
}
