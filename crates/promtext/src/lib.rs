//! Streaming parser for the Prometheus text exposition format 0.0.4 and OpenMetrics 1.0, with a
//! family model and a writer for prom2json's JSON.
//!
//! It is for reading what `/metrics` endpoints serve: [`Parser`] turns bytes into [`Event`]s
//! line by line, borrowing names and unescaped label values from the input (zero-copy; only
//! escaped strings are copied); [`parse_reader`] does the same over any `io::Read` with a bounded
//! buffer; [`FamilyBuilder`] groups events into [`MetricFamily`] values in linear time (one hash
//! lookup per sample); [`write_prom2json`] prints them exactly as prom2json does. For the text
//! format the parser accepts and rejects what Go's `expfmt.TextParser` (used by Prometheus tools
//! and prom2json) does, so the JSON is byte-identical to prom2json's. It is not for writing
//! expositions, for the protobuf format, or for querying.
//!
//! Written by hand because no existing Rust parser is both correct and fast: `prometheus-parse`
//! splits labels naively (a value containing `,` `=` or `\"` loses the sample) and silently drops
//! lines it cannot parse; `openmetrics-parser` is correct but quadratic within a family. This one
//! never panics, caps every length by [`Limits`], and reports errors with line, column and byte
//! offset.

mod error;
mod json;
mod model;
pub mod number;
mod parser;
mod reader;

pub use error::{Error, ErrorKind, ParseError};
pub use json::{write_prom2json, write_prom2json_string};
pub use model::{
    Bucket, Exemplar, FamilyBuilder, Histogram, LabelPair, Labels, Metric, MetricFamily,
    MetricValue, Quantile, Summary,
};
pub use parser::{Event, ExemplarRef, Label, Parser, Sample, Span};
pub use reader::parse_reader;

/// The two exposition formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).
    Text,
    /// OpenMetrics 1.0 (`application/openmetrics-text; version=1.0.0`).
    OpenMetrics,
}

impl Format {
    /// The format an HTTP `Content-Type` announces, if it is one of the two.
    pub fn from_content_type(content_type: &str) -> Option<Format> {
        let media_type = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        match media_type.as_str() {
            "application/openmetrics-text" => Some(Format::OpenMetrics),
            "text/plain" => Some(Format::Text),
            _ => None,
        }
    }

    /// Guess the format of a complete exposition: OpenMetrics ends with `# EOF`.
    pub fn detect(input: &[u8]) -> Format {
        let trimmed = input.strip_suffix(b"\n").unwrap_or(input);
        if trimmed.ends_with(b"# EOF")
            && (trimmed.len() == 5 || trimmed[trimmed.len() - 6] == b'\n')
        {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// Metric types of both formats. OpenMetrics' `unknown` is [`MetricType::Untyped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    Counter,
    Gauge,
    Summary,
    Untyped,
    Histogram,
    GaugeHistogram,
    StateSet,
    Info,
}

impl MetricType {
    /// The name as the exposition writes it (OpenMetrics spelling; `untyped` for the text format).
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Summary => "summary",
            MetricType::Untyped => "untyped",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::StateSet => "stateset",
            MetricType::Info => "info",
        }
    }

    /// The `type` prom2json prints (the client_model enum name). State sets and info metrics,
    /// which the protobuf model lacks, are gauges there, as Prometheus ingests them.
    pub fn prom2json_name(self) -> &'static str {
        match self {
            MetricType::Counter => "COUNTER",
            MetricType::Gauge | MetricType::StateSet | MetricType::Info => "GAUGE",
            MetricType::Summary => "SUMMARY",
            MetricType::Untyped => "UNTYPED",
            MetricType::Histogram => "HISTOGRAM",
            MetricType::GaugeHistogram => "GAUGE_HISTOGRAM",
        }
    }

    /// A text-format TYPE token, matched as Go does: upper-cased rune by rune, then looked up
    /// among the client_model enum names (so `Counter` and `gauge_histogram` are accepted).
    pub(crate) fn from_text_name(token: &[u8]) -> Option<MetricType> {
        const NAMES: [(&str, MetricType); 6] = [
            ("COUNTER", MetricType::Counter),
            ("GAUGE", MetricType::Gauge),
            ("SUMMARY", MetricType::Summary),
            ("UNTYPED", MetricType::Untyped),
            ("HISTOGRAM", MetricType::Histogram),
            ("GAUGE_HISTOGRAM", MetricType::GaugeHistogram),
        ];
        if token.is_ascii() {
            return NAMES
                .iter()
                .find(|(name, _)| token.eq_ignore_ascii_case(name.as_bytes()))
                .map(|&(_, t)| t);
        }
        // Go's strings.ToUpper maps e.g. 'ſ' to 'S'; keep characters without a one-character
        // upper case as they are, as Go's simple case mapping does.
        let text = std::str::from_utf8(token).ok()?;
        let upper: String = text
            .chars()
            .map(|c| {
                let mut mapped = c.to_uppercase();
                match (mapped.next(), mapped.next()) {
                    (Some(single), None) => single,
                    _ => c,
                }
            })
            .collect();
        NAMES
            .iter()
            .find(|(name, _)| upper == *name)
            .map(|&(_, t)| t)
    }

    pub(crate) fn from_openmetrics_name(token: &[u8]) -> Option<MetricType> {
        Some(match token {
            b"counter" => MetricType::Counter,
            b"gauge" => MetricType::Gauge,
            b"summary" => MetricType::Summary,
            b"unknown" => MetricType::Untyped,
            b"histogram" => MetricType::Histogram,
            b"gaugehistogram" => MetricType::GaugeHistogram,
            b"stateset" => MetricType::StateSet,
            b"info" => MetricType::Info,
            _ => return None,
        })
    }
}

impl std::fmt::Display for MetricType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Caps on what hostile input can make the parser hold or do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest line, in bytes (a streaming parse buffers at most about this much).
    pub max_line_bytes: usize,
    /// Longest label value, in bytes as written (escaped).
    pub max_label_value_bytes: usize,
    /// Most labels on one sample.
    pub max_labels_per_sample: usize,
    /// Most sample lines in one exposition.
    pub max_samples: usize,
    /// Most metric families in one exposition.
    pub max_families: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line_bytes: 1 << 20,
            max_label_value_bytes: 64 << 10,
            max_labels_per_sample: 512,
            max_samples: 10_000_000,
            max_families: 1_000_000,
        }
    }
}

/// Parse a complete exposition into families.
pub fn parse_families(
    input: &[u8],
    format: Format,
    limits: Limits,
) -> Result<Vec<MetricFamily>, ParseError> {
    let mut parser = Parser::new(input, format, limits);
    let mut builder = FamilyBuilder::new(format, limits);
    while let Some(event) = parser.next_event()? {
        builder.push(&event)?;
    }
    Ok(builder.finish())
}

/// Read and parse an exposition from a stream into families, holding at most one line plus one
/// read buffer of raw input at a time.
pub fn read_families<R: std::io::Read>(
    reader: R,
    format: Format,
    limits: Limits,
) -> Result<Vec<MetricFamily>, Error> {
    let mut builder = FamilyBuilder::new(format, limits);
    parse_reader(reader, format, limits, |event| builder.push(event))?;
    Ok(builder.finish())
}
