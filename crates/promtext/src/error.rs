//! Errors: what went wrong and where (line, column, byte offset).

/// A parse failure at a known place in the input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column} (byte offset {offset}): {kind}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: u64,
    /// 1-based column, counted in characters.
    pub column: u64,
    /// 0-based byte offset from the start of the input.
    pub offset: u64,
    /// What went wrong.
    pub kind: ErrorKind,
}

/// Everything that can be wrong with an exposition.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    #[error(
        "line is longer than the limit of {limit} bytes (raise Limits::max_line_bytes if the input is trusted)"
    )]
    LineTooLong { limit: usize },
    #[error(
        "label value is longer than the limit of {limit} bytes (raise Limits::max_label_value_bytes if the input is trusted)"
    )]
    LabelValueTooLong { limit: usize },
    #[error(
        "sample has more than {limit} labels (raise Limits::max_labels_per_sample if the input is trusted)"
    )]
    TooManyLabels { limit: usize },
    #[error("more than {limit} samples (raise Limits::max_samples if the input is trusted)")]
    TooManySamples { limit: usize },
    #[error(
        "more than {limit} metric families (raise Limits::max_families if the input is trusted)"
    )]
    TooManyFamilies { limit: usize },
    #[error(
        "the input ends in the middle of a line: every line, the last one too, must end in a newline (\\n)"
    )]
    MissingFinalNewline,
    #[error(
        "a carriage return (\\r) where a value ended: CRLF line endings are not allowed in the exposition format"
    )]
    CarriageReturn,
    #[error("invalid metric name: it must match [a-zA-Z_:][a-zA-Z0-9_:]*")]
    InvalidMetricName,
    #[error("invalid metric name in {keyword} line")]
    InvalidMetricNameInComment { keyword: &'static str },
    #[error("invalid label name for metric {metric:?}: it must match [a-zA-Z_][a-zA-Z0-9_]*")]
    InvalidLabelName { metric: String },
    #[error("label name \"__name__\" is reserved")]
    ReservedLabelName,
    #[error("expected '=' after label name {label:?}, found {found}")]
    ExpectedEquals { label: String, found: String },
    #[error("expected '\"' to start the value of label {label:?}, found {found}")]
    ExpectedQuote { label: String, found: String },
    #[error("invalid escape sequence {sequence:?}: only \\\\, \\\" and \\n are allowed here")]
    InvalidEscape { sequence: String },
    #[error(
        "the value of label {label:?} is not closed by '\"' before the end of the line (write a newline inside a value as \\n)"
    )]
    UnterminatedLabelValue { label: String },
    #[error("the value of label {label:?} is not valid UTF-8")]
    InvalidUtf8LabelValue { label: String },
    #[error("expected ',' or '}}' after the value of label {label:?}, found {found}")]
    ExpectedCommaOrBrace { label: String, found: String },
    #[error("expected a number as sample value, got {token:?}")]
    InvalidValue { token: String },
    #[error("expected an integer timestamp in milliseconds, got {token:?}")]
    InvalidTimestamp { token: String },
    #[error("unexpected text after the timestamp: {text:?}")]
    TrailingText { text: String },
    #[error("unknown metric type {name:?}")]
    UnknownType { name: String },
    #[error("second HELP line for metric family {family:?}")]
    DuplicateHelp { family: String },
    #[error("second TYPE line for metric family {family:?}, or TYPE after its samples")]
    DuplicateType { family: String },
    #[error("second UNIT line for metric family {family:?}")]
    DuplicateUnit { family: String },
    #[error("duplicate label name {label:?} in a sample of {metric:?}")]
    DuplicateLabelName { metric: String, label: String },
    #[error("expected a number as value of the {label:?} label, got {value:?}")]
    InvalidBoundLabel { label: &'static str, value: String },
    #[error(
        "metric family {family:?} has type {type_name}, which this format cannot carry samples for"
    )]
    UnsupportedType {
        family: String,
        type_name: &'static str,
    },
    #[error("blank line: OpenMetrics does not allow them")]
    BlankLine,
    #[error("the OpenMetrics exposition does not end with '# EOF'")]
    MissingEof,
    #[error("text after '# EOF'")]
    ContentAfterEof,
    #[error("expected {expected}, found {found}")]
    Syntax {
        expected: &'static str,
        found: String,
    },
    #[error(
        "metric family {family:?} appears a second time: OpenMetrics families must not be interleaved"
    )]
    InterleavedFamily { family: String },
    #[error("{keyword} line for metric family {family:?} after its samples")]
    MetadataAfterSamples {
        keyword: &'static str,
        family: String,
    },
    #[error(
        "sample {sample:?} does not belong to {type_name} family {family:?} (allowed names: {allowed})"
    )]
    SampleNameNotInFamily {
        sample: String,
        family: String,
        type_name: &'static str,
        allowed: String,
    },
    #[error("sample {sample:?} lacks the {label:?} label its family's type requires")]
    MissingBoundLabel { sample: String, label: &'static str },
    #[error(
        "exemplars are only allowed on counter _total and histogram _bucket samples, not on {sample:?}"
    )]
    ExemplarNotAllowed { sample: String },
    #[error("exemplar labels are {length} characters long, over OpenMetrics' limit of 128")]
    ExemplarTooLong { length: usize },
    #[error("unit {unit:?} is not a suffix of metric family name {family:?}")]
    UnitNotSuffix { unit: String, family: String },
}

/// A failure while reading and parsing a stream.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("reading the exposition failed after {offset} bytes")]
    Io {
        offset: u64,
        #[source]
        source: std::io::Error,
    },
}

/// Describe a byte for an error message: `'x'`, `'\t'`, `end of line`.
pub(crate) fn describe_byte(byte: Option<u8>) -> String {
    match byte {
        None => "end of line".to_string(),
        Some(b) if b.is_ascii_graphic() || b == b' ' => format!("'{}'", b as char),
        Some(b) => format!("byte 0x{b:02x}"),
    }
}
