//! Real object-store servers for tests: S3 through moto's server (PyPI `moto[server]`) and Azure
//! Blob through azurite (npm `azurite`), each on a free loopback port, stopped on drop.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("binding a loopback port")
        .local_addr()
        .expect("local address")
        .port()
}

/// A server process started by a test; killed and reaped on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `port` accepts connections; panics if `child` exits first or after 60 s.
pub fn wait_listening(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 60 s");
}

/// Start `moto_server` (S3); `None` (skip) when it is not installed.
pub fn start_moto(test: &str) -> Option<Server> {
    let program = crate::require_program("moto_server", test)?;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(program)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting moto_server");
    wait_listening(port, &mut child, "moto_server");
    Some(Server {
        child,
        port,
        _dir: dir,
    })
}

/// Start `azurite-blob` (Azure Blob); `None` (skip) when it is not installed.
pub fn start_azurite(test: &str) -> Option<Server> {
    let program = crate::require_program("azurite-blob", test)?;
    let port = free_port();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(program)
        .args([
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            &port.to_string(),
            "--silent",
            "--skipApiVersionCheck",
            "--location",
        ])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting azurite-blob");
    wait_listening(port, &mut child, "azurite-blob");
    Some(Server {
        child,
        port,
        _dir: dir,
    })
}

/// A raw HTTP/1.1 request to a local test server (moto does not check signatures by default):
/// the status code and the body.
pub fn http(port: u16, method: &str, path: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = http_request(port, method, path, &[]);
    (status, body)
}

/// Like [`http`], with extra request headers; returns the status, the response head (status
/// line and headers, as text) and the body.
pub fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).expect("connecting to the test server");
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n")
        .expect("sending the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("reading the response");
    let text = String::from_utf8_lossy(&response);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:.200}"));
    let body_start = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..body_start]).into_owned();
    (status, head, response[body_start..].to_vec())
}

/// The environment that points the S3 client at a local moto server.
pub fn s3_env(port: u16) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing-secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT", &format!("http://127.0.0.1:{port}")),
        ("AWS_VIRTUAL_HOSTED_STYLE_REQUEST", "false"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .into()
}
