//! The line-level streaming parser: bytes in, [`Event`]s out, nothing retained.
//!
//! Names, label values without escapes and HELP texts without escapes are borrowed from the input
//! (`Cow::Borrowed`); only escaped strings are copied. Labels of the current sample live in a
//! buffer the parser reuses, so a parse allocates nothing per line in the common case.

use std::borrow::Cow;

use crate::error::{ErrorKind, ParseError, describe_byte};
use crate::number;
use crate::{Format, Limits, MetricType};

/// Where an event came from: its line and that line's text (without the newline).
#[derive(Debug, Clone, Copy)]
pub struct Span<'a> {
    /// 1-based line number.
    pub line: u64,
    /// Byte offset of the line's first byte in the input.
    pub offset: u64,
    /// The line, without its newline.
    pub text: &'a [u8],
}

impl Span<'_> {
    /// An error located at byte `index` of this line.
    pub fn error_at(&self, index: usize, kind: ErrorKind) -> ParseError {
        let index = index.min(self.text.len());
        let column = self.text[..index]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count() as u64
            + 1;
        ParseError {
            line: self.line,
            column,
            offset: self.offset + index as u64,
            kind,
        }
    }
}

/// One label of a sample, value unescaped.
#[derive(Debug, Clone, PartialEq)]
pub struct Label<'a> {
    pub name: &'a str,
    pub value: Cow<'a, str>,
    /// Byte index of the value's opening quote in the line (for error messages).
    pub index: u32,
}

/// An exemplar (OpenMetrics): a traced observation attached to a sample.
#[derive(Debug, Clone)]
pub struct ExemplarRef<'a, 'p> {
    pub labels: &'p [Label<'a>],
    pub value: f64,
    /// Seconds since the epoch, as OpenMetrics writes them.
    pub timestamp_seconds: Option<f64>,
}

/// One sample line.
#[derive(Debug, Clone)]
pub struct Sample<'a, 'p> {
    pub name: &'a str,
    pub labels: &'p [Label<'a>],
    pub value: f64,
    /// Milliseconds since the epoch (OpenMetrics' seconds are converted).
    pub timestamp_ms: Option<i64>,
    pub exemplar: Option<ExemplarRef<'a, 'p>>,
    pub span: Span<'a>,
}

/// What one meaningful line says.
#[derive(Debug, Clone)]
pub enum Event<'a, 'p> {
    /// `# HELP name text`. `text` is `None` when the line names a family and stops (text format).
    Help {
        name: &'a str,
        text: Option<Cow<'a, str>>,
        span: Span<'a>,
    },
    /// `# TYPE name type`. `metric_type` is `None` when the line names a family and stops.
    Type {
        name: &'a str,
        metric_type: Option<MetricType>,
        span: Span<'a>,
    },
    /// `# UNIT name unit` (OpenMetrics).
    Unit {
        name: &'a str,
        unit: &'a str,
        span: Span<'a>,
    },
    /// A sample.
    Sample(Sample<'a, 'p>),
    /// `# EOF` (OpenMetrics).
    Eof { span: Span<'a> },
}

/// Parser state that survives from one buffer to the next when streaming.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub format: Format,
    pub line: u64,
    pub offset: u64,
    pub eof_seen: bool,
    pub samples: u64,
    pub finished: bool,
}

impl State {
    pub fn new(format: Format) -> Self {
        State {
            format,
            line: 0,
            offset: 0,
            eof_seen: false,
            samples: 0,
            finished: false,
        }
    }
}

/// Streaming parser over a byte buffer. Call [`Parser::next_event`] until it returns `Ok(None)`.
pub struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    pub(crate) state: State,
    limits: Limits,
    /// False while streaming: the buffer may end in the middle of a line that continues later.
    complete: bool,
    labels: Vec<Label<'a>>,
    exemplar_labels: Vec<Label<'a>>,
}

// Character classes of names, as a lookup table.
const METRIC_START: u8 = 1;
const METRIC_CONTINUE: u8 = 2;
const LABEL_START: u8 = 4;
const LABEL_CONTINUE: u8 = 8;
static NAME_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let letter = c.is_ascii_alphabetic() || c == b'_';
        let digit = c.is_ascii_digit();
        let mut class = 0;
        if letter || c == b':' {
            class |= METRIC_START | METRIC_CONTINUE;
        }
        if digit {
            class |= METRIC_CONTINUE | LABEL_CONTINUE;
        }
        if letter {
            class |= LABEL_START | LABEL_CONTINUE;
        }
        table[b] = class;
        b += 1;
    }
    table
};

#[inline]
fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

#[inline]
fn skip_blanks(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && is_blank(line[i]) {
        i += 1;
    }
    i
}

/// End of a name starting at `start` (exclusive), or `start` when no valid name starts there.
#[inline]
fn scan_name(line: &[u8], start: usize, start_class: u8, continue_class: u8) -> usize {
    match line.get(start) {
        Some(&b) if NAME_CLASS[b as usize] & start_class != 0 => {}
        _ => return start,
    }
    let mut i = start + 1;
    while i < line.len() && NAME_CLASS[line[i] as usize] & continue_class != 0 {
        i += 1;
    }
    i
}

/// Names are ASCII by construction, so this never fails; it avoids `unsafe`.
#[inline]
fn ascii_str(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap_or_default()
}

fn lossy_token(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Replace each byte that does not start a valid UTF-8 sequence by U+FFFD, one per byte, as Go's
/// decoder (and so prom2json's JSON encoder) does.
pub(crate) fn go_lossy_utf8(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            let mut rest = bytes;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(text) => {
                        out.push_str(text);
                        break;
                    }
                    Err(err) => {
                        let valid = err.valid_up_to();
                        out.push_str(std::str::from_utf8(&rest[..valid]).unwrap_or_default());
                        out.push('\u{FFFD}');
                        rest = &rest[valid + 1..];
                    }
                }
            }
            Cow::Owned(out)
        }
    }
}

impl<'a> Parser<'a> {
    /// A parser over a complete exposition.
    pub fn new(input: &'a [u8], format: Format, limits: Limits) -> Self {
        Self::resume(input, State::new(format), limits, true)
    }

    pub(crate) fn resume(input: &'a [u8], state: State, limits: Limits, complete: bool) -> Self {
        Parser {
            input,
            pos: 0,
            state,
            limits,
            complete,
            labels: Vec::new(),
            exemplar_labels: Vec::new(),
        }
    }

    /// Bytes of the buffer consumed so far (whole lines only).
    pub(crate) fn consumed(&self) -> usize {
        self.pos
    }

    /// The format being parsed.
    pub fn format(&self) -> Format {
        self.state.format
    }

    /// The next event, `Ok(None)` at the end of the input (or, when streaming, of the buffered
    /// whole lines). Blank lines and comments produce no event.
    #[allow(clippy::should_implement_trait)]
    pub fn next_event(&mut self) -> Result<Option<Event<'a, '_>>, ParseError> {
        loop {
            if self.state.finished {
                return Ok(None);
            }
            let rest = &self.input[self.pos..];
            let (line, has_newline) = match memchr::memchr(b'\n', rest) {
                Some(end) => (&rest[..end], true),
                None if !self.complete => return Ok(None),
                None if rest.is_empty() => {
                    self.state.finished = true;
                    if self.state.format == Format::OpenMetrics && !self.state.eof_seen {
                        return Err(ParseError {
                            line: self.state.line + 1,
                            column: 1,
                            offset: self.state.offset,
                            kind: ErrorKind::MissingEof,
                        });
                    }
                    return Ok(None);
                }
                None => (rest, false),
            };
            self.state.line += 1;
            let span = Span {
                line: self.state.line,
                offset: self.state.offset,
                text: line,
            };
            if line.len() > self.limits.max_line_bytes {
                self.state.finished = true;
                return Err(span.error_at(
                    self.limits.max_line_bytes,
                    ErrorKind::LineTooLong {
                        limit: self.limits.max_line_bytes,
                    },
                ));
            }
            let advance = line.len() + usize::from(has_newline);
            self.pos += advance;
            self.state.offset += advance as u64;
            let result = match self.state.format {
                Format::Text => {
                    if !has_newline && skip_blanks(line, 0) < line.len() {
                        Err(span.error_at(line.len(), ErrorKind::MissingFinalNewline))
                    } else {
                        self.text_line(span)
                    }
                }
                Format::OpenMetrics => self.openmetrics_line(span, has_newline),
            };
            match result {
                Ok(None) => continue,
                Ok(Some(parsed)) => {
                    return Ok(Some(parsed.into_event(&self.labels, &self.exemplar_labels)));
                }
                Err(err) => {
                    self.state.finished = true;
                    return Err(err);
                }
            }
        }
    }

    fn count_sample(&mut self, span: &Span<'a>) -> Result<(), ParseError> {
        self.state.samples += 1;
        if self.state.samples > self.limits.max_samples as u64 {
            return Err(span.error_at(
                0,
                ErrorKind::TooManySamples {
                    limit: self.limits.max_samples,
                },
            ));
        }
        Ok(())
    }

    // ----- text format 0.0.4, accepting exactly what Go's expfmt.TextParser accepts -----

    fn text_line(&mut self, span: Span<'a>) -> Result<Option<Parsed<'a>>, ParseError> {
        let line = span.text;
        let start = skip_blanks(line, 0);
        if start == line.len() {
            return Ok(None);
        }
        if line[start] == b'#' {
            return self.text_comment(span, start + 1);
        }
        self.text_sample(span, start).map(Some)
    }

    fn text_comment(
        &mut self,
        span: Span<'a>,
        after_hash: usize,
    ) -> Result<Option<Parsed<'a>>, ParseError> {
        let line = span.text;
        let keyword_start = skip_blanks(line, after_hash);
        let mut i = keyword_start;
        while i < line.len() && !is_blank(line[i]) {
            i += 1;
        }
        // A keyword alone on its line is a plain comment, as is any other keyword.
        if i == line.len() {
            return Ok(None);
        }
        let keyword = &line[keyword_start..i];
        let is_help = keyword == b"HELP";
        if !is_help && keyword != b"TYPE" {
            return Ok(None);
        }
        let name_start = skip_blanks(line, i);
        let name_end = scan_name(line, name_start, METRIC_START, METRIC_CONTINUE);
        if name_end == line.len() {
            return Ok(None);
        }
        if !is_blank(line[name_end]) {
            let keyword = if is_help { "HELP" } else { "TYPE" };
            return Err(span.error_at(name_end, ErrorKind::InvalidMetricNameInComment { keyword }));
        }
        let name = ascii_str(&line[name_start..name_end]);
        let rest_start = skip_blanks(line, name_end);
        if is_help {
            let text = if rest_start == line.len() {
                None
            } else {
                Some(unescape_help(&span, rest_start, false)?)
            };
            return Ok(Some(Parsed::Help { name, text, span }));
        }
        if rest_start == line.len() {
            return Ok(Some(Parsed::Type {
                name,
                metric_type: None,
                span,
            }));
        }
        let token = &line[rest_start..];
        let metric_type = MetricType::from_text_name(token).ok_or_else(|| {
            span.error_at(
                rest_start,
                ErrorKind::UnknownType {
                    name: lossy_token(token),
                },
            )
        })?;
        Ok(Some(Parsed::Type {
            name,
            metric_type: Some(metric_type),
            span,
        }))
    }

    fn text_sample(&mut self, span: Span<'a>, start: usize) -> Result<Parsed<'a>, ParseError> {
        let line = span.text;
        let name_end = scan_name(line, start, METRIC_START, METRIC_CONTINUE);
        if name_end == start {
            return Err(span.error_at(start, ErrorKind::InvalidMetricName));
        }
        let name = ascii_str(&line[start..name_end]);
        let mut i = skip_blanks(line, name_end);
        self.labels.clear();
        if line.get(i) == Some(&b'{') {
            i = self.text_labels(&span, i + 1, name)?;
        }
        let value_start = i;
        while i < line.len() && !is_blank(line[i]) {
            i += 1;
        }
        let value = parse_value(&span, value_start, i)?;
        let mut timestamp_ms = None;
        if i < line.len() {
            // A blank after the value announces a timestamp, which then must follow.
            let timestamp_start = skip_blanks(line, i);
            let mut end = timestamp_start;
            while end < line.len() && !is_blank(line[end]) {
                end += 1;
            }
            let token = &line[timestamp_start..end];
            timestamp_ms = Some(number::parse_timestamp_ms(token).ok_or_else(|| {
                span.error_at(
                    timestamp_start,
                    ErrorKind::InvalidTimestamp {
                        token: lossy_token(token),
                    },
                )
            })?);
            if end < line.len() {
                return Err(span.error_at(
                    end,
                    ErrorKind::TrailingText {
                        text: lossy_token(&line[end..]),
                    },
                ));
            }
        }
        self.count_sample(&span)?;
        Ok(Parsed::Sample {
            name,
            value,
            timestamp_ms,
            exemplar: None,
            span,
        })
    }

    /// Labels after `{`; returns the index after `}` and any blanks.
    fn text_labels(
        &mut self,
        span: &Span<'a>,
        mut i: usize,
        metric: &str,
    ) -> Result<usize, ParseError> {
        let line = span.text;
        loop {
            i = skip_blanks(line, i);
            if line.get(i) == Some(&b'}') {
                return Ok(skip_blanks(line, i + 1));
            }
            let name_end = scan_name(line, i, LABEL_START, LABEL_CONTINUE);
            if name_end == i {
                return Err(span.error_at(
                    i,
                    ErrorKind::InvalidLabelName {
                        metric: metric.to_string(),
                    },
                ));
            }
            let label = ascii_str(&line[i..name_end]);
            if label == "__name__" {
                return Err(span.error_at(i, ErrorKind::ReservedLabelName));
            }
            let mut j = skip_blanks(line, name_end);
            if line.get(j) != Some(&b'=') {
                return Err(span.error_at(
                    j,
                    ErrorKind::ExpectedEquals {
                        label: label.to_string(),
                        found: describe_byte(line.get(j).copied()),
                    },
                ));
            }
            j = skip_blanks(line, j + 1);
            if line.get(j) != Some(&b'"') {
                return Err(span.error_at(
                    j,
                    ErrorKind::ExpectedQuote {
                        label: label.to_string(),
                        found: describe_byte(line.get(j).copied()),
                    },
                ));
            }
            let (value, after) = label_value(span, j + 1, label, &self.limits)?;
            if self.labels.len() >= self.limits.max_labels_per_sample {
                return Err(span.error_at(
                    i,
                    ErrorKind::TooManyLabels {
                        limit: self.limits.max_labels_per_sample,
                    },
                ));
            }
            self.labels.push(Label {
                name: label,
                value,
                index: j as u32,
            });
            j = skip_blanks(line, after);
            match line.get(j) {
                Some(b',') => i = j + 1,
                Some(b'}') => return Ok(skip_blanks(line, j + 1)),
                other => {
                    return Err(span.error_at(
                        j,
                        ErrorKind::ExpectedCommaOrBrace {
                            label: label.to_string(),
                            found: describe_byte(other.copied()),
                        },
                    ));
                }
            }
        }
    }

    // ----- OpenMetrics 1.0: single spaces, no blank lines or free comments, '# EOF' last -----

    fn openmetrics_line(
        &mut self,
        span: Span<'a>,
        has_newline: bool,
    ) -> Result<Option<Parsed<'a>>, ParseError> {
        let line = span.text;
        if self.state.eof_seen {
            return Err(span.error_at(0, ErrorKind::ContentAfterEof));
        }
        if line == b"# EOF" {
            self.state.eof_seen = true;
            return Ok(Some(Parsed::Eof { span }));
        }
        if !has_newline {
            return Err(span.error_at(line.len(), ErrorKind::MissingFinalNewline));
        }
        match line.first() {
            None => Err(span.error_at(0, ErrorKind::BlankLine)),
            Some(b'#') => self.openmetrics_descriptor(span).map(Some),
            Some(_) => self.openmetrics_sample(span).map(Some),
        }
    }

    fn openmetrics_descriptor(&mut self, span: Span<'a>) -> Result<Parsed<'a>, ParseError> {
        let line = span.text;
        let keyword = match line.get(..7) {
            Some(b"# HELP ") => "HELP",
            Some(b"# TYPE ") => "TYPE",
            Some(b"# UNIT ") => "UNIT",
            _ => {
                return Err(span.error_at(0, ErrorKind::Syntax {
                    expected: "'# HELP ', '# TYPE ', '# UNIT ' or '# EOF' (OpenMetrics has no other comments)",
                    found: lossy_token(&line[..line.len().min(16)]),
                }));
            }
        };
        let name_end = scan_name(line, 7, METRIC_START, METRIC_CONTINUE);
        if name_end == 7 || (name_end < line.len() && line[name_end] != b' ') {
            return Err(span.error_at(name_end, ErrorKind::InvalidMetricNameInComment { keyword }));
        }
        let name = ascii_str(&line[7..name_end]);
        let rest_start = (name_end + 1).min(line.len());
        match keyword {
            "HELP" => {
                let text = unescape_help(&span, rest_start, true)?;
                Ok(Parsed::Help {
                    name,
                    text: Some(text),
                    span,
                })
            }
            "TYPE" => {
                let token = &line[rest_start..];
                let metric_type = MetricType::from_openmetrics_name(token).ok_or_else(|| {
                    span.error_at(
                        rest_start,
                        ErrorKind::UnknownType {
                            name: lossy_token(token),
                        },
                    )
                })?;
                Ok(Parsed::Type {
                    name,
                    metric_type: Some(metric_type),
                    span,
                })
            }
            _ => {
                let unit = &line[rest_start..];
                if let Some(bad) = unit
                    .iter()
                    .position(|&b| NAME_CLASS[b as usize] & METRIC_CONTINUE == 0)
                {
                    return Err(span.error_at(
                        rest_start + bad,
                        ErrorKind::Syntax {
                            expected: "a unit made of [a-zA-Z0-9_:]",
                            found: describe_byte(Some(unit[bad])),
                        },
                    ));
                }
                Ok(Parsed::Unit {
                    name,
                    unit: ascii_str(unit),
                    span,
                })
            }
        }
    }

    fn openmetrics_sample(&mut self, span: Span<'a>) -> Result<Parsed<'a>, ParseError> {
        let line = span.text;
        let name_end = scan_name(line, 0, METRIC_START, METRIC_CONTINUE);
        if name_end == 0 {
            return Err(span.error_at(0, ErrorKind::InvalidMetricName));
        }
        let name = ascii_str(&line[..name_end]);
        let mut i = name_end;
        self.labels.clear();
        if line.get(i) == Some(&b'{') {
            i = openmetrics_labels(&span, i + 1, name, &self.limits, &mut self.labels)?;
        }
        expect_space(&span, i, "a space before the sample value")?;
        let value_start = i + 1;
        let value_end = token_end(line, value_start);
        let value = parse_value(&span, value_start, value_end)?;
        i = value_end;
        let mut timestamp_ms = None;
        let mut exemplar = None;
        if i < line.len() {
            expect_space(&span, i, "a space")?;
            if line.get(i + 1) != Some(&b'#') {
                let timestamp_start = i + 1;
                let timestamp_end = token_end(line, timestamp_start);
                let token = &line[timestamp_start..timestamp_end];
                timestamp_ms = Some(number::parse_openmetrics_timestamp_ms(token).ok_or_else(
                    || {
                        span.error_at(
                            timestamp_start,
                            ErrorKind::Syntax {
                                expected: "a timestamp in seconds",
                                found: format!("{:?}", lossy_token(token)),
                            },
                        )
                    },
                )?);
                i = timestamp_end;
                if i < line.len() {
                    expect_space(&span, i, "a space before an exemplar")?;
                }
            }
            if i < line.len() {
                exemplar = Some(self.openmetrics_exemplar(&span, i + 1, name)?);
            }
        }
        self.count_sample(&span)?;
        Ok(Parsed::Sample {
            name,
            value,
            timestamp_ms,
            exemplar,
            span,
        })
    }

    /// ` # {labels} value [timestamp]` starting at the `#`.
    fn openmetrics_exemplar(
        &mut self,
        span: &Span<'a>,
        start: usize,
        metric: &str,
    ) -> Result<(f64, Option<f64>), ParseError> {
        let line = span.text;
        if line.get(start..start + 3) != Some(b"# {") {
            return Err(span.error_at(
                start,
                ErrorKind::Syntax {
                    expected: "'# {' to start an exemplar",
                    found: lossy_token(&line[start..line.len().min(start + 8)]),
                },
            ));
        }
        self.exemplar_labels.clear();
        let mut i = openmetrics_labels(
            span,
            start + 3,
            metric,
            &self.limits,
            &mut self.exemplar_labels,
        )?;
        let length: usize = self
            .exemplar_labels
            .iter()
            .map(|l| l.name.chars().count() + l.value.chars().count())
            .sum();
        if length > 128 {
            return Err(span.error_at(start, ErrorKind::ExemplarTooLong { length }));
        }
        expect_space(span, i, "a space before the exemplar value")?;
        let value_end = token_end(line, i + 1);
        let value = parse_value(span, i + 1, value_end)?;
        i = value_end;
        let mut timestamp = None;
        if i < line.len() {
            expect_space(span, i, "a space before the exemplar timestamp")?;
            let end = token_end(line, i + 1);
            let token = &line[i + 1..end];
            timestamp = Some(number::parse_openmetrics_seconds(token).ok_or_else(|| {
                span.error_at(
                    i + 1,
                    ErrorKind::Syntax {
                        expected: "an exemplar timestamp in seconds",
                        found: format!("{:?}", lossy_token(token)),
                    },
                )
            })?);
            if end < line.len() {
                return Err(span.error_at(
                    end,
                    ErrorKind::TrailingText {
                        text: lossy_token(&line[end..]),
                    },
                ));
            }
        }
        Ok((value, timestamp))
    }
}

fn token_end(line: &[u8], start: usize) -> usize {
    memchr::memchr(b' ', line.get(start..).unwrap_or_default()).map_or(line.len(), |k| start + k)
}

fn expect_space(span: &Span<'_>, i: usize, expected: &'static str) -> Result<(), ParseError> {
    match span.text.get(i) {
        Some(b' ') => Ok(()),
        other => Err(span.error_at(
            i,
            ErrorKind::Syntax {
                expected,
                found: describe_byte(other.copied()),
            },
        )),
    }
}

fn parse_value(span: &Span<'_>, start: usize, end: usize) -> Result<f64, ParseError> {
    let token = &span.text[start..end];
    number::parse_float(token).ok_or_else(|| {
        let kind = if token.last() == Some(&b'\r') {
            ErrorKind::CarriageReturn
        } else {
            ErrorKind::InvalidValue {
                token: lossy_token(token),
            }
        };
        span.error_at(start, kind)
    })
}

/// OpenMetrics labels after `{`, no blanks allowed; returns the index after `}`.
fn openmetrics_labels<'a>(
    span: &Span<'a>,
    mut i: usize,
    metric: &str,
    limits: &Limits,
    labels: &mut Vec<Label<'a>>,
) -> Result<usize, ParseError> {
    let line = span.text;
    if line.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        let name_end = scan_name(line, i, LABEL_START, LABEL_CONTINUE);
        if name_end == i {
            return Err(span.error_at(
                i,
                ErrorKind::InvalidLabelName {
                    metric: metric.to_string(),
                },
            ));
        }
        let label = ascii_str(&line[i..name_end]);
        if label == "__name__" {
            return Err(span.error_at(i, ErrorKind::ReservedLabelName));
        }
        if line.get(name_end) != Some(&b'=') {
            return Err(span.error_at(
                name_end,
                ErrorKind::ExpectedEquals {
                    label: label.to_string(),
                    found: describe_byte(line.get(name_end).copied()),
                },
            ));
        }
        if line.get(name_end + 1) != Some(&b'"') {
            return Err(span.error_at(
                name_end + 1,
                ErrorKind::ExpectedQuote {
                    label: label.to_string(),
                    found: describe_byte(line.get(name_end + 1).copied()),
                },
            ));
        }
        let (value, after) = label_value(span, name_end + 2, label, limits)?;
        if labels.len() >= limits.max_labels_per_sample {
            return Err(span.error_at(
                i,
                ErrorKind::TooManyLabels {
                    limit: limits.max_labels_per_sample,
                },
            ));
        }
        labels.push(Label {
            name: label,
            value,
            index: (name_end + 1) as u32,
        });
        match line.get(after) {
            Some(b',') => i = after + 1,
            Some(b'}') => return Ok(after + 1),
            other => {
                return Err(span.error_at(
                    after,
                    ErrorKind::ExpectedCommaOrBrace {
                        label: label.to_string(),
                        found: describe_byte(other.copied()),
                    },
                ));
            }
        }
    }
}

/// A quoted label value starting after its opening quote: the unescaped value and the index after
/// the closing quote. Escapes `\\`, `\"` and `\n`, as both formats define them.
fn label_value<'a>(
    span: &Span<'a>,
    start: usize,
    label: &str,
    limits: &Limits,
) -> Result<(Cow<'a, str>, usize), ParseError> {
    let line = span.text;
    let rest = &line[start..];
    let unterminated = || {
        span.error_at(
            line.len(),
            ErrorKind::UnterminatedLabelValue {
                label: label.to_string(),
            },
        )
    };
    let too_long = || {
        span.error_at(
            start + limits.max_label_value_bytes,
            ErrorKind::LabelValueTooLong {
                limit: limits.max_label_value_bytes,
            },
        )
    };
    let first = memchr::memchr2(b'"', b'\\', rest).ok_or_else(unterminated)?;
    if rest[first] == b'"' {
        if first > limits.max_label_value_bytes {
            return Err(too_long());
        }
        let raw = &rest[..first];
        let value = std::str::from_utf8(raw).map_err(|err| {
            span.error_at(
                start + err.valid_up_to(),
                ErrorKind::InvalidUtf8LabelValue {
                    label: label.to_string(),
                },
            )
        })?;
        return Ok((Cow::Borrowed(value), start + first + 1));
    }
    let mut unescaped = Vec::with_capacity(rest.len().min(limits.max_label_value_bytes));
    unescaped.extend_from_slice(&rest[..first]);
    let mut p = first;
    loop {
        if p > limits.max_label_value_bytes {
            return Err(too_long());
        }
        match rest.get(p) {
            None => return Err(unterminated()),
            Some(b'"') => break,
            Some(b'\\') => {
                match rest.get(p + 1) {
                    Some(b'\\') => unescaped.push(b'\\'),
                    Some(b'"') => unescaped.push(b'"'),
                    Some(b'n') => unescaped.push(b'\n'),
                    other => {
                        let sequence = match other {
                            Some(&c) => format!("\\{}", String::from_utf8_lossy(&[c])),
                            None => "\\<newline>".to_string(),
                        };
                        return Err(span.error_at(start + p, ErrorKind::InvalidEscape { sequence }));
                    }
                }
                p += 2;
            }
            Some(_) => {
                let next = memchr::memchr2(b'"', b'\\', &rest[p..]).map_or(rest.len(), |k| p + k);
                unescaped.extend_from_slice(&rest[p..next]);
                p = next;
            }
        }
    }
    if p > limits.max_label_value_bytes {
        return Err(too_long());
    }
    let value = String::from_utf8(unescaped).map_err(|err| {
        span.error_at(
            start,
            ErrorKind::InvalidUtf8LabelValue {
                label: format!("{label} ({err})"),
            },
        )
    })?;
    Ok((Cow::Owned(value), start + p + 1))
}

/// HELP text from `start` to the end of the line. The text format knows `\\` and `\n`; OpenMetrics
/// also `\"`. Invalid UTF-8 is replaced as Go does (the text format does not validate HELP).
fn unescape_help<'a>(
    span: &Span<'a>,
    start: usize,
    openmetrics: bool,
) -> Result<Cow<'a, str>, ParseError> {
    let raw = &span.text[start..];
    let Some(first) = memchr::memchr(b'\\', raw) else {
        return Ok(go_lossy_utf8(raw));
    };
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut p = first;
    while p < raw.len() {
        if raw[p] != b'\\' {
            out.push(raw[p]);
            p += 1;
            continue;
        }
        match raw.get(p + 1) {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'"') if openmetrics => out.push(b'"'),
            other => {
                let sequence = match other {
                    Some(&c) => format!("\\{}", String::from_utf8_lossy(&[c])),
                    None => "\\<newline>".to_string(),
                };
                return Err(span.error_at(start + p, ErrorKind::InvalidEscape { sequence }));
            }
        }
        p += 2;
    }
    Ok(Cow::Owned(go_lossy_utf8(&out).into_owned()))
}

/// An event whose labels are still in the parser's buffers (see [`Parsed::into_event`]).
enum Parsed<'a> {
    Help {
        name: &'a str,
        text: Option<Cow<'a, str>>,
        span: Span<'a>,
    },
    Type {
        name: &'a str,
        metric_type: Option<MetricType>,
        span: Span<'a>,
    },
    Unit {
        name: &'a str,
        unit: &'a str,
        span: Span<'a>,
    },
    Sample {
        name: &'a str,
        value: f64,
        timestamp_ms: Option<i64>,
        exemplar: Option<(f64, Option<f64>)>,
        span: Span<'a>,
    },
    Eof {
        span: Span<'a>,
    },
}

impl<'a> Parsed<'a> {
    fn into_event<'p>(
        self,
        labels: &'p [Label<'a>],
        exemplar_labels: &'p [Label<'a>],
    ) -> Event<'a, 'p> {
        match self {
            Parsed::Help { name, text, span } => Event::Help { name, text, span },
            Parsed::Type {
                name,
                metric_type,
                span,
            } => Event::Type {
                name,
                metric_type,
                span,
            },
            Parsed::Unit { name, unit, span } => Event::Unit { name, unit, span },
            Parsed::Eof { span } => Event::Eof { span },
            Parsed::Sample {
                name,
                value,
                timestamp_ms,
                exemplar,
                span,
            } => Event::Sample(Sample {
                name,
                labels,
                value,
                timestamp_ms,
                exemplar: exemplar.map(|(value, timestamp_seconds)| ExemplarRef {
                    labels: exemplar_labels,
                    value,
                    timestamp_seconds,
                }),
                span,
            }),
        }
    }
}
