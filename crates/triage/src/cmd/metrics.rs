//! `triage metrics SOURCE`: fetch (HTTP/HTTPS), read (file) or take (stdin) a Prometheus or
//! OpenMetrics exposition, parse it with `promtext`, and print it as a table grouped by family or,
//! with `--json`, exactly as prom2json prints it.

use std::io::{IsTerminal, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use promtext::{Format, Limits, Metric, MetricFamily, MetricType, MetricValue};

use crate::exit;
use crate::output::{human_bytes, table};

/// Accept header: text 0.0.4 first (what prom2json's JSON describes), OpenMetrics if that is all
/// the server speaks.
const ACCEPT_TEXT_FIRST: &str =
    "text/plain;version=0.0.4;q=1.0,application/openmetrics-text;version=1.0.0;q=0.5,*/*;q=0.1";
const ACCEPT_OPENMETRICS_FIRST: &str =
    "application/openmetrics-text;version=1.0.0;q=1.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[derive(Args, Debug)]
#[command(after_help = "EXAMPLES:\n  \
    triage metrics http://127.0.0.1:9100/metrics\n  \
    triage metrics http://127.0.0.1:9100/metrics --grep '^node_memory_' \n  \
    triage metrics https://10.0.0.7:8443/metrics --cacert ca.pem --cert client.pem --key client-key.pem --json\n  \
    kubectl exec POD -- wget -qO- localhost:8080/metrics | triage metrics -\n\n\
EXIT CODES:\n  0  parsed and printed\n  1  fetch or parse failed (the message says where: URL, line, column)\n  2  usage error")]
pub struct MetricsArgs {
    /// Where the metrics come from: an http:// or https:// URL, a file, `-` for stdin, or a pod
    /// (`pod/NAME`, `deploy/NAME`… with -n), scraped through port-forward.
    pub source: String,
    /// For pods: the port to scrape [default: the prometheus.io/port annotation, or the container
    /// port named `metrics`]; the path is /metrics.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    #[command(flatten)]
    pub kube: super::pod::KubeArgs,
    /// Print prom2json's JSON (an array of families, values as strings) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Only families whose name matches this regular expression.
    #[arg(long, value_name = "PATTERN")]
    pub grep: Option<String>,
    /// Client certificate (PEM) for HTTPS, with --key.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<std::path::PathBuf>,
    /// Private key (PEM) of the client certificate.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<std::path::PathBuf>,
    /// CA certificates (PEM) to verify the server with, instead of the bundled Mozilla roots.
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<std::path::PathBuf>,
    /// Do not verify the server's certificate (testing only: anyone on the path can impersonate it).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Give up on an HTTP source after this long, body included (e.g. 500ms, 10s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Refuse expositions larger than this (e.g. 64MiB, 500k, 1000000).
    #[arg(long, value_name = "BYTES", default_value = "128MiB", value_parser = parse_size)]
    pub max_bytes: u64,
    /// Exposition format. `auto`: from the HTTP Content-Type, or for files and stdin
    /// OpenMetrics if the input ends with `# EOF`. `openmetrics` also asks HTTP servers for it.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Auto,
    Text,
    Openmetrics,
}

pub fn run(args: MetricsArgs) -> anyhow::Result<u8> {
    let filter = match &args.grep {
        Some(pattern) => Some(
            regex::Regex::new(pattern)
                .with_context(|| format!("--grep {pattern:?} is not a valid regular expression"))?,
        ),
        None => None,
    };
    let started = Instant::now();
    let fetched = fetch(&args)?;
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Openmetrics => Format::OpenMetrics,
        FormatArg::Auto => fetched
            .announced
            .unwrap_or_else(|| Format::detect(&fetched.body)),
    };
    let families = promtext::parse_families(&fetched.body, format, Limits::default())
        .with_context(|| {
            format!(
                "parsing {} as {} (use --format if the format was guessed wrong)",
                args.source,
                format_name(format)
            )
        })?;
    let families: Vec<MetricFamily> = match &filter {
        Some(filter) => families
            .into_iter()
            .filter(|f| filter.is_match(&f.name) || filter.is_match(&f.exposed_name()))
            .collect(),
        None => families,
    };
    let series: usize = families.iter().map(|f| f.metrics.len()).sum();
    tracing::info!(
        source = %args.source,
        bytes = fetched.body.len(),
        families = families.len(),
        series,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "parsed {}",
        format_name(format)
    );

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        promtext::write_prom2json(&families, &mut out).context("writing JSON to stdout")?;
    } else {
        out.write_all(render_table(&families).as_bytes())
            .context("writing to stdout")?;
    }
    out.flush().context("writing to stdout")?;
    if families.is_empty() && filter.is_some() {
        eprintln!(
            "triage: no metric family matches --grep {:?}",
            args.grep.as_deref().unwrap_or_default()
        );
    } else if !args.json && std::io::stderr().is_terminal() {
        eprintln!(
            "{} families, {series} series, {} of {} from {}",
            families.len(),
            human_bytes(fetched.body.len() as u64),
            format_name(format),
            args.source
        );
    }
    Ok(exit::OK)
}

fn format_name(format: Format) -> &'static str {
    match format {
        Format::Text => "text format 0.0.4",
        Format::OpenMetrics => "OpenMetrics 1.0",
    }
}

struct Fetched {
    body: Vec<u8>,
    /// The format the server's Content-Type announced.
    announced: Option<Format>,
}

fn fetch(args: &MetricsArgs) -> anyhow::Result<Fetched> {
    let source = args.source.as_str();
    if source.starts_with("http://") || source.starts_with("https://") {
        return fetch_http(args);
    }
    if super::pod::is_kube_target(source) {
        let body = super::pod::metrics_pod(source, args.port, &args.kube)?;
        if body.len() as u64 > args.max_bytes {
            bail!(
                "{source}: the exposition is larger than --max-bytes ({} bytes); raise --max-bytes if it is expected",
                args.max_bytes
            );
        }
        return Ok(Fetched {
            body,
            announced: None,
        });
    }
    if args.cert.is_some() || args.cacert.is_some() || args.insecure_skip_verify {
        bail!(
            "--cert, --key, --cacert and --insecure-skip-verify only apply to https:// sources, not {source:?}"
        );
    }
    let body = if source == "-" {
        read_capped(std::io::stdin().lock(), args.max_bytes).context("reading stdin")?
    } else {
        let file = std::fs::File::open(source).with_context(|| {
            format!("opening {source} (SOURCE is an http(s):// URL, a file, or -)")
        })?;
        read_capped(file, args.max_bytes).with_context(|| format!("reading {source}"))?
    };
    Ok(Fetched {
        body,
        announced: None,
    })
}

/// Read everything, failing once more than `max_bytes` arrive.
fn read_capped(reader: impl Read, max_bytes: u64) -> anyhow::Result<Vec<u8>> {
    let mut body = Vec::new();
    reader
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut body)?;
    if body.len() as u64 > max_bytes {
        bail!(
            "the input is larger than --max-bytes ({max_bytes} bytes); raise --max-bytes if it is expected"
        );
    }
    Ok(body)
}

fn fetch_http(args: &MetricsArgs) -> anyhow::Result<Fetched> {
    let url = args.source.as_str();
    let agent = http_agent(args)?;
    let accept = if args.format == FormatArg::Openmetrics {
        ACCEPT_OPENMETRICS_FIRST
    } else {
        ACCEPT_TEXT_FIRST
    };
    let started = Instant::now();
    let timeout = humanize(args.timeout);
    let mut response = agent.get(url).header("Accept", accept).call().map_err(|err| match err {
        ureq::Error::Timeout(_) => {
            anyhow::anyhow!("GET {url}: no response within --timeout {timeout}; is the address right and the port open?")
        }
        other => anyhow::Error::new(other).context(format!("GET {url}")),
    })?;
    let status = response.status();
    if !status.is_success() {
        bail!(
            "GET {url} returned HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default()
        );
    }
    let announced = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .and_then(Format::from_content_type);
    let mut reader = response.body_mut().as_reader();
    let mut body = Vec::new();
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                body.extend_from_slice(&chunk[..n]);
                if body.len() as u64 > args.max_bytes {
                    bail!(
                        "GET {url}: the response body exceeds --max-bytes ({}); raise --max-bytes if the endpoint is that large",
                        human_bytes(args.max_bytes)
                    );
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => {
                let timed_out = err.kind() == std::io::ErrorKind::TimedOut
                    || err
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<ureq::Error>())
                        .is_some_and(|e| matches!(e, ureq::Error::Timeout(_)));
                if timed_out {
                    bail!(
                        "GET {url}: the response body did not end within --timeout {timeout} ({} received after {:.1}s); \
                         the server may be streaming without end, or raise --timeout if it is just slow",
                        human_bytes(body.len() as u64),
                        started.elapsed().as_secs_f64()
                    );
                }
                return Err(anyhow::Error::new(err).context(format!(
                    "GET {url}: reading the body failed after {} bytes",
                    body.len()
                )));
            }
        }
    }
    Ok(Fetched { body, announced })
}

fn http_agent(args: &MetricsArgs) -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{
        Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig, TlsProvider,
    };
    // aws-lc-rs only: a second rustls provider in the same binary makes rustls refuse to pick one.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(provider)
        .disable_verification(args.insecure_skip_verify);
    if let Some(path) = &args.cacert {
        let pem =
            std::fs::read(path).with_context(|| format!("reading --cacert {}", path.display()))?;
        let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(err) => Some(Err(err)),
            })
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing --cacert {} as PEM", path.display()))?;
        if certs.is_empty() {
            bail!("--cacert {} holds no PEM certificate", path.display());
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    if let (Some(cert_path), Some(key_path)) = (&args.cert, &args.key) {
        let cert_pem = std::fs::read(cert_path)
            .with_context(|| format!("reading --cert {}", cert_path.display()))?;
        let chain: Vec<Certificate<'static>> = ureq::tls::parse_pem(&cert_pem)
            .filter_map(|item| match item {
                Ok(PemItem::Certificate(cert)) => Some(Ok(cert)),
                Ok(_) => None,
                Err(err) => Some(Err(err)),
            })
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing --cert {} as PEM", cert_path.display()))?;
        if chain.is_empty() {
            bail!("--cert {} holds no PEM certificate", cert_path.display());
        }
        let key_pem = std::fs::read(key_path)
            .with_context(|| format!("reading --key {}", key_path.display()))?;
        let key = PrivateKey::from_pem(&key_pem).with_context(|| {
            format!("parsing --key {} as a PEM private key", key_path.display())
        })?;
        tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    }
    let config = ureq::Agent::config_builder()
        .tls_config(tls.build())
        .timeout_global(Some(args.timeout))
        .http_status_as_error(false)
        .user_agent(concat!("triage/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.into())
}

// ----- argument parsing -----

/// `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1000.0,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    if !(seconds > 0.0 && seconds < 1e9) {
        return Err(format!("{text:?} must be a positive duration"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `1000`, `500k`/`500KiB`, `64M`/`64MiB`, `1G`; `kB`/`MB`/`GB` are powers of 1000.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1000, 500k or 64MiB"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "k" | "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (use k, M, G, KiB, MiB, GiB, kB, MB or GB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .filter(|&n| n > 0)
        .ok_or_else(|| format!("{text:?} is out of range"))
}

/// `30s`, or `1500ms` when not a whole number of seconds.
pub(crate) fn humanize(duration: Duration) -> String {
    if duration.subsec_nanos() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

// ----- the table -----

fn render_table(families: &[MetricFamily]) -> String {
    let mut out = String::new();
    for (i, family) in families.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&family.name);
        out.push_str("  (");
        out.push_str(family.metric_type.as_str());
        if let Some(unit) = family.unit.as_deref().filter(|u| !u.is_empty()) {
            out.push_str(", unit ");
            out.push_str(unit);
        }
        out.push(')');
        if let Some(help) = family.help.as_deref().filter(|h| !h.is_empty()) {
            out.push_str("  ");
            out.push_str(&help.replace('\n', "\\n"));
        }
        out.push('\n');
        let with_timestamps = family.metrics.iter().any(|m| m.timestamp_ms.is_some());
        let (mut header, rows): (Vec<&str>, Vec<Vec<String>>) = match family.metric_type {
            MetricType::Histogram | MetricType::GaugeHistogram => (
                vec!["LABELS", "COUNT", "SUM", "AVG", "P50", "P90", "P99"],
                family.metrics.iter().map(histogram_row).collect(),
            ),
            MetricType::Summary => (
                vec!["LABELS", "COUNT", "SUM", "QUANTILES"],
                family.metrics.iter().map(summary_row).collect(),
            ),
            _ => (
                vec!["LABELS", "VALUE"],
                family.metrics.iter().map(value_row).collect(),
            ),
        };
        let rows = if with_timestamps {
            header.push("TIMESTAMP");
            rows.into_iter()
                .zip(&family.metrics)
                .map(|(mut row, metric)| {
                    row.push(
                        metric
                            .timestamp_ms
                            .map(format_timestamp)
                            .unwrap_or_default(),
                    );
                    row
                })
                .collect()
        } else {
            rows
        };
        for line in table(&header, &rows).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn labels_cell(metric: &Metric) -> String {
    if metric.labels.is_empty() {
        return "{}".to_string();
    }
    let mut cell = String::new();
    for (i, label) in metric.labels.iter().enumerate() {
        if i > 0 {
            cell.push(',');
        }
        cell.push_str(label.name);
        cell.push_str("=\"");
        for c in label.value.chars() {
            match c {
                '\\' => cell.push_str("\\\\"),
                '"' => cell.push_str("\\\""),
                '\n' => cell.push_str("\\n"),
                c => cell.push(c),
            }
        }
        cell.push('"');
    }
    cell
}

fn number(value: f64) -> String {
    promtext::number::go_float_string(value)
}

fn value_row(metric: &Metric) -> Vec<String> {
    let value = match &metric.value {
        MetricValue::Single(value) => number(*value),
        MetricValue::Summary(s) => number(s.sum),
        MetricValue::Histogram(h) => number(h.sum),
    };
    vec![labels_cell(metric), value]
}

fn summary_row(metric: &Metric) -> Vec<String> {
    let MetricValue::Summary(summary) = &metric.value else {
        return value_row(metric);
    };
    let quantiles = summary
        .quantiles
        .iter()
        .map(|q| format!("{}={}", number(q.quantile), number(q.value)))
        .collect::<Vec<_>>()
        .join(" ");
    vec![
        labels_cell(metric),
        number(summary.count),
        number(summary.sum),
        quantiles,
    ]
}

fn histogram_row(metric: &Metric) -> Vec<String> {
    let MetricValue::Histogram(histogram) = &metric.value else {
        return value_row(metric);
    };
    let average = if histogram.count > 0.0 {
        number(histogram.sum / histogram.count)
    } else {
        "-".to_string()
    };
    let quantile = |q: f64| bucket_quantile(q, histogram).map_or_else(|| "-".to_string(), number);
    vec![
        labels_cell(metric),
        number(histogram.count),
        number(histogram.sum),
        average,
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
    ]
}

/// Estimate a quantile from cumulative buckets the way PromQL's histogram_quantile does: linear
/// interpolation inside the bucket; the lower bound of the +Inf bucket when it lands there.
fn bucket_quantile(q: f64, histogram: &promtext::Histogram) -> Option<f64> {
    let mut buckets: Vec<(f64, f64)> = histogram
        .buckets
        .iter()
        .map(|b| (b.upper_bound, b.cumulative_count))
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last().filter(|b| b.0 == f64::INFINITY)?.1;
    if buckets.len() < 2 || total <= 0.0 || !total.is_finite() {
        return None;
    }
    let rank = q * total;
    let index = buckets.iter().position(|b| b.1 >= rank)?;
    if index == buckets.len() - 1 {
        return Some(buckets[buckets.len() - 2].0);
    }
    let (upper, count) = buckets[index];
    let (lower, below) = if index == 0 {
        (if upper > 0.0 { 0.0 } else { upper }, 0.0)
    } else {
        buckets[index - 1]
    };
    if count == below {
        return Some(upper);
    }
    Some(lower + (upper - lower) * (rank - below) / (count - below))
}

fn format_timestamp(millis: i64) -> String {
    jiff::Timestamp::from_millisecond(millis).map_or_else(|_| millis.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("500k"), Ok(500 << 10));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn histogram_quantiles_interpolate_like_promql() {
        let input = b"# TYPE h histogram\nh_bucket{le=\"1\"} 50\nh_bucket{le=\"2\"} 100\nh_bucket{le=\"+Inf\"} 100\nh_count 100\nh_sum 120\n";
        let families =
            promtext::parse_families(input, Format::Text, Limits::default()).expect("valid input");
        let MetricValue::Histogram(histogram) = &families[0].metrics[0].value else {
            panic!("not a histogram")
        };
        assert_eq!(bucket_quantile(0.5, histogram), Some(1.0));
        assert_eq!(bucket_quantile(0.25, histogram), Some(0.5));
        assert_eq!(bucket_quantile(0.9, histogram), Some(1.8));
    }

    #[test]
    fn table_groups_by_family_and_escapes_labels() {
        let input = b"# HELP a_total Requests.\n# TYPE a_total counter\na_total{path=\"/x,y\",q=\"\\\"\"} 3\na_total 4\n";
        let families =
            promtext::parse_families(input, Format::Text, Limits::default()).expect("valid input");
        let text = render_table(&families);
        assert!(
            text.starts_with("a_total  (counter)  Requests.\n"),
            "{text}"
        );
        // Label values keep their escapes; values are right-aligned in their column.
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with("path=\"/x,y\",q=\"\\\"\" ")
                    && l.ends_with(" 3")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("  {}  ") && l.ends_with(" 4")),
            "{text}"
        );
    }
}
