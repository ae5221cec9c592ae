//! `/metrics` and `/healthz` over real HTTP, and a real Prometheus (Debian's `prometheus`)
//! scraping the agent: its query API must return the agent's own series and the per-container
//! series of a watched cgroup, with the cgroup label.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestCgroup, disk_dir, test_config, wait_for};

/// GET `path` from 127.0.0.1:`port`: (status, body), chunked bodies decoded.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = String::new();
        let mut rest = body;
        while let Some((size, after)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(after.get(..n)?);
            rest = after.get(n + 2..)?;
        }
        out
    } else {
        body.to_string()
    };
    Some((status, body))
}

#[test]
fn metrics_and_healthz_are_served_and_prometheus_scrapes_them() {
    let test = "metrics_and_healthz_are_served_and_prometheus_scrapes_them";
    common::init_logs();
    let Some(prometheus) = testkit::require_program("prometheus", test) else {
        return;
    };
    let Some(cgroup) = TestCgroup::create("prom", 512 << 20) else {
        return;
    };
    let mut sleeper = cgroup.spawn(std::path::Path::new("/bin/sleep"), &["120"]);
    let spool = disk_dir("agent-spool-");
    let mut config = test_config(&cgroup.path, spool.path(), spool.path());
    config.listen = Some("127.0.0.1:0".parse().expect("address"));
    let handle = agent::start(config, None).expect("starting the agent");
    let port = handle.metrics_addr.expect("listening").port();

    // The agent's own endpoints first.
    let (status, text) = wait_for(Duration::from_secs(20), "the cgroup in /metrics", || {
        get(port, "/metrics").filter(|(_, t)| t.contains(&format!("cgroup=\"{}\"", cgroup.path)))
    });
    assert_eq!(status, 200);
    let limit_line = format!(
        "triage_container_memory_limit_bytes{{cgroup=\"{}\"}} {}",
        cgroup.path,
        512u64 << 20
    );
    assert!(text.contains(&limit_line), "no `{limit_line}` in:\n{text}");
    assert!(text.contains("triage_agent_watched_cgroups 1\n"), "{text}");
    let (status, body) = get(port, "/healthz").expect("healthz");
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, _) = get(port, "/captures").expect("an unknown path");
    assert_eq!(status, 404);

    // A real Prometheus scrapes it every second.
    let dir = tempfile::tempdir().expect("tempdir");
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(
        &config_path,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: triage-agent\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
        ),
    )
    .expect("writing prometheus.yml");
    let prom_port = testkit::servers::free_port();
    let mut child = Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting prometheus");
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    testkit::servers::wait_listening(prom_port, &mut child, "prometheus");
    let _prometheus = Reap(child);

    let query = |q: &str| -> Option<serde_json::Value> {
        let (status, body) = get(prom_port, &format!("/api/v1/query?query={q}"))?;
        if status != 200 {
            return None;
        }
        let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = doc["data"]["result"].as_array()?.clone();
        (!result.is_empty()).then_some(serde_json::Value::Array(result))
    };
    let series = wait_for(
        Duration::from_secs(40),
        "Prometheus to return the agent's working-set series",
        || query("triage_container_memory_working_set_bytes"),
    );
    let first = &series[0];
    assert_eq!(first["metric"]["cgroup"], cgroup.path.as_str(), "{series}");
    assert_eq!(first["metric"]["job"], "triage-agent", "{series}");
    let bytes: f64 = first["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("a numeric value");
    assert!(bytes > 0.0, "the sleeper uses some memory: {series}");
    let up = wait_for(Duration::from_secs(20), "up == 1", || query("up"));
    assert_eq!(up[0]["value"][1], "1", "{up}");
    let watched = wait_for(Duration::from_secs(20), "the agent's own series", || {
        query("triage_agent_watched_cgroups")
    });
    assert_eq!(watched[0]["value"][1], "1", "{watched}");

    let _ = sleeper.kill();
    let _ = sleeper.wait();
    handle.stop();
    handle.join();
}
