//! Behaviour of the parser and the family model on both formats: escapes, special values,
//! grouping, OpenMetrics rules, errors with positions, limits, zero-copy, streaming.

use std::borrow::Cow;
use std::io::Read;

use promtext::{
    ErrorKind, Event, Format, Limits, MetricFamily, MetricType, MetricValue, ParseError, Parser,
    parse_families, read_families,
};

fn text(input: &str) -> Vec<MetricFamily> {
    parse_families(input.as_bytes(), Format::Text, Limits::default())
        .unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn openmetrics(input: &str) -> Vec<MetricFamily> {
    parse_families(input.as_bytes(), Format::OpenMetrics, Limits::default())
        .unwrap_or_else(|e| panic!("{e}\n{input}"))
}

fn text_error(input: &str) -> ParseError {
    parse_families(input.as_bytes(), Format::Text, Limits::default()).expect_err(input)
}

fn openmetrics_error(input: &str) -> ParseError {
    parse_families(input.as_bytes(), Format::OpenMetrics, Limits::default()).expect_err(input)
}

fn single(family: &MetricFamily, index: usize) -> f64 {
    match family.metrics[index].value {
        MetricValue::Single(v) => v,
        ref other => panic!("not a single value: {other:?}"),
    }
}

#[test]
fn label_values_unescape_and_keep_commas_equals_and_quotes() {
    let families =
        text("m{a=\"x,y=z\",b=\"say \\\"hi\\\"\",c=\"C:\\\\dir\",d=\"two\\nlines\",e=\"\"} 1\n");
    let metric = &families[0].metrics[0];
    assert_eq!(metric.label("a"), Some("x,y=z"));
    assert_eq!(metric.label("b"), Some("say \"hi\""));
    assert_eq!(metric.label("c"), Some("C:\\dir"));
    assert_eq!(metric.label("d"), Some("two\nlines"));
    assert_eq!(metric.label("e"), Some(""));
}

#[test]
fn unescaped_values_are_borrowed_from_the_input() {
    let input = b"m{plain=\"abc\",escaped=\"a\\\"b\"} 1\n";
    let mut parser = Parser::new(input, Format::Text, Limits::default());
    let Some(Event::Sample(sample)) = parser.next_event().expect("valid") else {
        panic!("no sample")
    };
    assert!(matches!(sample.labels[0].value, Cow::Borrowed("abc")));
    assert!(matches!(&sample.labels[1].value, Cow::Owned(v) if v == "a\"b"));
    // The borrowed name points into the input itself.
    let input_range = input.as_ptr_range();
    assert!(input_range.contains(&sample.name.as_ptr()));
}

#[test]
fn help_escapes_differ_between_formats() {
    let families = text("# HELP m a \\\\ b \\n c \"q\"\nm 1\n");
    assert_eq!(families[0].help.as_deref(), Some("a \\ b \n c \"q\""));
    // The text format has no \" escape in HELP (expfmt rejects it); OpenMetrics has.
    assert!(matches!(
        text_error("# HELP m \\\"\nm 1\n").kind,
        ErrorKind::InvalidEscape { .. }
    ));
    let families = openmetrics("# HELP m a \\\"quoted\\\" \\\\ \\n\nm 1\n# EOF\n");
    assert_eq!(families[0].help.as_deref(), Some("a \"quoted\" \\ \n"));
}

#[test]
fn special_values_and_timestamps() {
    let families = text(
        "m{k=\"a\"} NaN\nm{k=\"b\"} +Inf 1700000000000\nm{k=\"c\"} -Inf -5\nm{k=\"d\"} 1.5e-3\n",
    );
    let family = &families[0];
    assert!(single(family, 0).is_nan());
    assert_eq!(single(family, 1), f64::INFINITY);
    assert_eq!(family.metrics[1].timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(single(family, 2), f64::NEG_INFINITY);
    assert_eq!(family.metrics[2].timestamp_ms, Some(-5));
    assert_eq!(single(family, 3), 0.0015);
    assert!(matches!(
        text_error("m 1 1.5\n").kind,
        ErrorKind::InvalidTimestamp { .. }
    ));
    assert!(matches!(
        text_error("m 1e999\n").kind,
        ErrorKind::InvalidValue { .. }
    ));
}

#[test]
fn histograms_and_summaries_group_by_labels_in_any_order() {
    let families = text(
        "# TYPE h histogram\n\
         h_bucket{le=\"1\",x=\"a\"} 1\nh_bucket{x=\"b\",le=\"1\"} 10\nh_bucket{x=\"a\",le=\"+Inf\"} 2\n\
         h_sum{x=\"a\"} 1.5\nh_count{x=\"a\"} 2\nh_bucket{le=\"+Inf\",x=\"b\"} 20\nh_count{x=\"b\"} 20\n\
         # TYPE s summary\ns{quantile=\"0.5\"} 3\ns{quantile=\"0.99\"} 9\ns_sum 30\ns_count 10\n",
    );
    assert_eq!(families.len(), 2);
    let h = &families[0];
    assert_eq!(h.metric_type, MetricType::Histogram);
    assert_eq!(h.metrics.len(), 2);
    let MetricValue::Histogram(a) = &h.metrics[0].value else {
        panic!("not a histogram")
    };
    assert_eq!(h.metrics[0].label("x"), Some("a"));
    assert_eq!(h.metrics[0].label("le"), None, "le is not a series label");
    assert_eq!((a.count, a.sum, a.buckets.len()), (2.0, 1.5, 2));
    assert_eq!(a.buckets[1].upper_bound, f64::INFINITY);
    let MetricValue::Summary(s) = &families[1].metrics[0].value else {
        panic!("not a summary")
    };
    assert_eq!((s.count, s.sum), (10.0, 30.0));
    assert_eq!(
        s.quantiles
            .iter()
            .map(|q| (q.quantile, q.value))
            .collect::<Vec<_>>(),
        [(0.5, 3.0), (0.99, 9.0)]
    );
}

#[test]
fn duplicate_and_conflicting_metadata_are_errors() {
    let err = text_error("# TYPE m gauge\n# TYPE m counter\nm 1\n");
    assert!(matches!(err.kind, ErrorKind::DuplicateType { .. }));
    assert_eq!(err.line, 2);
    let err = text_error("m 1\n# TYPE m counter\n");
    assert!(
        matches!(err.kind, ErrorKind::DuplicateType { .. }),
        "TYPE after samples"
    );
    assert!(matches!(
        text_error("# HELP m a\n# HELP m b\n").kind,
        ErrorKind::DuplicateHelp { .. }
    ));
    assert!(matches!(
        text_error("# TYPE m nonsense\n").kind,
        ErrorKind::UnknownType { .. }
    ));
    assert!(matches!(
        text_error("m{a=\"1\",a=\"2\"} 1\n").kind,
        ErrorKind::DuplicateLabelName { .. }
    ));
}

#[test]
fn errors_carry_line_column_and_offset() {
    let input = "ok 1\n# comment\nbad{a=\"x\",b=\"ü\\q\"} 1\n";
    let err = text_error(input);
    assert_eq!(err.line, 3);
    // Column counts characters: the backslash is the 15th character of the line.
    assert_eq!(err.column, 15);
    assert_eq!(err.offset, input.find("\\q").expect("in input") as u64);
    assert!(
        err.to_string()
            .starts_with("line 3, column 15 (byte offset "),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("invalid escape sequence \"\\\\q\""),
        "{err}"
    );
}

#[test]
fn missing_final_newline_and_carriage_returns_are_explained() {
    let err = text_error("m 1\nm 2");
    assert_eq!(
        (err.line, err.kind.clone()),
        (2, ErrorKind::MissingFinalNewline)
    );
    assert_eq!(text_error("m 1\r\n").kind, ErrorKind::CarriageReturn);
    // Trailing blanks without a newline are fine, as in expfmt.
    assert_eq!(text("m 1\n  ").len(), 1);
    assert!(text("").is_empty());
}

#[test]
fn interleaved_text_families_are_grouped_once() {
    let families = text("a 1\nb 2\na 3\n");
    assert_eq!(
        families
            .iter()
            .map(|f| (f.name.as_str(), f.metrics.len()))
            .collect::<Vec<_>>(),
        [("a", 2), ("b", 1)]
    );
}

#[test]
fn openmetrics_types_created_exemplars_and_units() {
    let input = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openmetrics.om"
    ))
    .expect("fixture");
    let families = openmetrics(&input);
    let by_name = |name: &str| {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name}"))
    };

    let summary = by_name("acme_http_router_request_seconds");
    assert_eq!(summary.unit.as_deref(), Some("seconds"));
    assert_eq!(summary.metrics.len(), 2);
    assert_eq!(summary.metrics[0].created_seconds, Some(1605281325.0));

    let counter = by_name("http_requests");
    assert_eq!(counter.metric_type, MetricType::Counter);
    assert_eq!(counter.exposed_name(), "http_requests_total");
    let metric = &counter.metrics[0];
    assert_eq!(metric.label("path"), Some("/a,b=c"));
    assert_eq!(metric.timestamp_ms, Some(1_395_066_363_000));
    assert_eq!(metric.created_seconds, Some(1_395_066_000.0));
    let exemplar = metric.exemplar.as_ref().expect("an exemplar");
    assert_eq!(
        (exemplar.value, exemplar.timestamp_seconds),
        (0.67, Some(1_395_066_363.5))
    );
    assert_eq!(exemplar.labels.get("trace_id"), Some("KOO5S4vxi0o"));

    let MetricValue::Histogram(histogram) = &by_name("rpc_latency_seconds").metrics[0].value else {
        panic!("histogram")
    };
    assert!(histogram.buckets[0].exemplar.is_some() && histogram.buckets[1].exemplar.is_none());
    assert!(
        histogram.buckets[2]
            .exemplar
            .as_ref()
            .is_some_and(|e| e.labels.is_empty())
    );

    let gauge_histogram = by_name("queue_items");
    assert_eq!(gauge_histogram.metric_type, MetricType::GaugeHistogram);
    let MetricValue::Histogram(g) = &gauge_histogram.metrics[0].value else {
        panic!("gauge histogram")
    };
    assert_eq!((g.count, g.sum), (4.0, 17.0));

    assert_eq!(by_name("feature").metric_type, MetricType::StateSet);
    assert_eq!(by_name("feature").metrics.len(), 2);
    let info = by_name("build");
    assert_eq!(
        (info.metric_type, info.exposed_name().as_str()),
        (MetricType::Info, "build_info")
    );
    assert_eq!(by_name("plain").metric_type, MetricType::Untyped);
    assert!(single(by_name("plain"), 0).is_nan());
}

#[test]
fn openmetrics_structure_is_enforced() {
    let kind = |input: &str| openmetrics_error(input).kind;
    assert_eq!(kind("m 1\n"), ErrorKind::MissingEof);
    assert_eq!(kind("m 1\n# EOF\nm 2\n"), ErrorKind::ContentAfterEof);
    assert_eq!(kind("m 1\n# EOF\n\n"), ErrorKind::ContentAfterEof);
    assert_eq!(kind("m 1\n\n# EOF\n"), ErrorKind::BlankLine);
    assert!(matches!(
        kind("# free comment\n# EOF\n"),
        ErrorKind::Syntax { .. }
    ));
    assert!(matches!(
        kind("a 1\nb 1\na 2\n# EOF\n"),
        ErrorKind::InterleavedFamily { .. }
    ));
    assert!(matches!(
        kind("# TYPE c counter\nc 1\n# EOF\n"),
        ErrorKind::SampleNameNotInFamily { .. }
    ));
    assert!(matches!(
        kind("# TYPE c counter\nc_total 1\n# HELP c late\n# EOF\n"),
        ErrorKind::MetadataAfterSamples { .. }
    ));
    assert!(matches!(
        kind("# TYPE g gauge\ng 1 # {a=\"b\"} 1\n# EOF\n"),
        ErrorKind::ExemplarNotAllowed { .. }
    ));
    let long = "x".repeat(130);
    assert!(matches!(
        kind(&format!(
            "# TYPE c counter\nc_total 1 # {{id=\"{long}\"}} 1\n# EOF\n"
        )),
        ErrorKind::ExemplarTooLong { .. }
    ));
    assert!(matches!(
        kind("# TYPE m_bytes gauge\n# UNIT m_bytes seconds\n# EOF\n"),
        ErrorKind::UnitNotSuffix { .. }
    ));
    assert!(matches!(
        kind("# TYPE h histogram\nh_bucket 1\n# EOF\n"),
        ErrorKind::MissingBoundLabel { .. }
    ));
    assert!(
        matches!(kind("m  1\n# EOF\n"), ErrorKind::InvalidValue { .. }),
        "double space"
    );
    // `# EOF` without a final newline is fine; a timestamp is in seconds.
    let families = openmetrics("m 1 1.5\n# EOF");
    assert_eq!(families[0].metrics[0].timestamp_ms, Some(1500));
}

#[test]
fn format_detection() {
    assert_eq!(Format::detect(b"m 1\n# EOF\n"), Format::OpenMetrics);
    assert_eq!(Format::detect(b"# EOF"), Format::OpenMetrics);
    assert_eq!(Format::detect(b"m 1\n"), Format::Text);
    assert_eq!(Format::detect(b"m 1 # EOF\n"), Format::Text);
    assert_eq!(
        Format::from_content_type("application/openmetrics-text; version=1.0.0"),
        Some(Format::OpenMetrics)
    );
    assert_eq!(
        Format::from_content_type("text/plain; version=0.0.4; charset=utf-8"),
        Some(Format::Text)
    );
    assert_eq!(Format::from_content_type("application/json"), None);
}

#[test]
fn limits_stop_hostile_input_early() {
    let limits = Limits {
        max_label_value_bytes: 1024,
        ..Limits::default()
    };
    let input = format!("m{{a=\"{}\"}} 1\n", "x".repeat(2000));
    let err = parse_families(input.as_bytes(), Format::Text, limits).expect_err("too long");
    assert_eq!(err.kind, ErrorKind::LabelValueTooLong { limit: 1024 });

    let limits = Limits {
        max_labels_per_sample: 3,
        ..Limits::default()
    };
    let err = parse_families(b"m{a=\"\",b=\"\",c=\"\",d=\"\"} 1\n", Format::Text, limits)
        .expect_err("too many");
    assert_eq!(err.kind, ErrorKind::TooManyLabels { limit: 3 });

    let limits = Limits {
        max_samples: 2,
        ..Limits::default()
    };
    let err = parse_families(b"a 1\nb 1\nc 1\n", Format::Text, limits).expect_err("too many");
    assert_eq!(
        (err.line, err.kind),
        (3, ErrorKind::TooManySamples { limit: 2 })
    );

    let limits = Limits {
        max_families: 2,
        ..Limits::default()
    };
    let err = parse_families(b"a 1\nb 1\nc 1\n", Format::Text, limits).expect_err("too many");
    assert_eq!(err.kind, ErrorKind::TooManyFamilies { limit: 2 });
}

/// An endless stream of one line that never ends: a 100 MB label value, and more.
struct EndlessLabelValue {
    sent: u64,
}

impl Read for EndlessLabelValue {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let prefix = b"m{a=\"";
        let mut n = 0;
        while n < buf.len() {
            let position = self.sent as usize;
            buf[n] = if position < prefix.len() {
                prefix[position]
            } else {
                b'x'
            };
            n += 1;
            self.sent += 1;
        }
        Ok(n)
    }
}

#[test]
fn an_endless_line_is_refused_after_reading_about_the_line_limit() {
    let limits = Limits::default();
    let mut reader = EndlessLabelValue { sent: 0 };
    let err = read_families(&mut reader, Format::Text, limits).expect_err("an endless line");
    assert!(
        matches!(
            err,
            promtext::Error::Parse(ParseError {
                kind: ErrorKind::LineTooLong { .. },
                ..
            })
        ),
        "{err}"
    );
    // Bounded: it stopped within a read chunk or two of the limit instead of buffering 100 MB.
    assert!(
        reader.sent < limits.max_line_bytes as u64 + (1 << 20),
        "read {} bytes",
        reader.sent
    );

    // The same 100 MB value in memory is rejected, not copied.
    let mut input = b"m{a=\"".to_vec();
    input.resize(100 << 20, b'x');
    input.extend_from_slice(b"\"} 1\n");
    let err = parse_families(&input, Format::Text, limits).expect_err("too long");
    assert_eq!(
        err.kind,
        ErrorKind::LineTooLong {
            limit: limits.max_line_bytes
        }
    );
}

/// Reads at most `step` bytes at a time, so lines split at every position.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn streaming_equals_parsing_in_memory() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    for (file, format) in [
        ("node_exporter.prom", Format::Text),
        ("tricky_labels.prom", Format::Text),
        ("openmetrics.om", Format::OpenMetrics),
    ] {
        let data = std::fs::read(format!("{fixtures}{file}")).expect("fixture");
        let whole = parse_families(&data, format, Limits::default()).expect("valid fixture");
        for step in [1, 3, 64, 4096, usize::MAX] {
            let streamed = read_families(Trickle { data: &data, step }, format, Limits::default())
                .expect("valid fixture");
            // Debug text, not ==: NaN values are not equal to themselves.
            assert_eq!(
                format!("{streamed:?}"),
                format!("{whole:?}"),
                "{file} read {step} bytes at a time"
            );
        }
    }
}

#[test]
fn a_family_of_200k_series_parses_in_linear_time() {
    // openmetrics-parser 0.5.1 takes minutes on 100k samples of one family; grouping here is one
    // hash lookup per sample.
    let mut input = String::from("# TYPE big histogram\n");
    for i in 0..50_000 {
        input.push_str(&format!(
            "big_bucket{{i=\"{i}\",le=\"1\"}} 1\nbig_bucket{{i=\"{i}\",le=\"+Inf\"}} 2\n"
        ));
        input.push_str(&format!(
            "big_sum{{i=\"{i}\"}} 1\nbig_count{{i=\"{i}\"}} 2\n"
        ));
    }
    let started = std::time::Instant::now();
    let families = text(&input);
    assert_eq!(families[0].metrics.len(), 50_000);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
}
