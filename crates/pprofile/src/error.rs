//! What can go wrong while reading or analysing a profile.

/// Every failure carries what was being read and, for the byte stream, where (an offset into the
/// decompressed `profile.proto` bytes).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the input failed.
    #[error("reading the profile: {0}")]
    Io(#[from] std::io::Error),

    /// The gzip stream is damaged.
    #[error(
        "the gzip stream is corrupt after {decompressed_bytes} decompressed bytes: {source}; the file is truncated or not a profile"
    )]
    Gzip {
        decompressed_bytes: u64,
        source: std::io::Error,
    },

    /// Decompression produced more than [`crate::Limits::max_decompressed_bytes`].
    #[error(
        "the profile decompresses to more than {limit_bytes} bytes (a gzip bomb or an unusually large profile); \
         raise the decompression limit if the profile is genuine"
    )]
    DecompressedTooLarge { limit_bytes: u64 },

    /// The protobuf framing is broken (bad varint, length past the end, unknown wire type).
    #[error("malformed protobuf at byte {offset}: {what}; the profile is truncated or corrupt")]
    Malformed { offset: usize, what: String },

    /// One message failed to decode.
    #[error("{what} at byte {offset} does not decode: {source}")]
    Decode {
        what: String,
        offset: usize,
        source: prost::DecodeError,
    },

    /// More elements of one kind than [`crate::Limits`] allows.
    #[error(
        "the profile has more than {limit} {what} (limit reached at byte {offset}); raise the limit if the profile is genuine"
    )]
    TooMany {
        what: &'static str,
        limit: usize,
        offset: usize,
    },

    /// The string table is empty.
    #[error(
        "the string table is empty; profile.proto requires at least the empty string at index 0"
    )]
    EmptyStringTable,

    /// The string table does not start with "".
    #[error(
        "string_table[0] at byte {offset} is {first:?} but profile.proto requires the empty string there; \
         the profile was not written by a pprof-compatible encoder"
    )]
    StringTableFirstNotEmpty { offset: usize, first: String },

    /// A string index points outside the string table.
    #[error(
        "{what} at byte {offset}: string index {index} is outside the string table ({table_len} entries)"
    )]
    StringIndexOutOfRange {
        what: String,
        offset: usize,
        index: i64,
        table_len: usize,
    },

    /// An id refers to a location, function or mapping that does not exist.
    #[error("{what} at byte {offset}: {kind} id {id} does not exist in the profile")]
    UnknownId {
        what: String,
        offset: usize,
        kind: &'static str,
        id: u64,
    },

    /// Two locations, functions or mappings share an id, or an id is zero.
    #[error("{what} at byte {offset}: id {id} is {problem}")]
    BadId {
        what: String,
        offset: usize,
        id: u64,
        problem: &'static str,
    },

    /// A sample has a different number of values than there are sample types.
    #[error(
        "sample #{index} at byte {offset} has {got} values but the profile declares {want} sample types"
    )]
    ValueCount {
        index: usize,
        offset: usize,
        got: usize,
        want: usize,
    },

    /// The profile declares no sample type.
    #[error("the profile declares no sample type, so it has nothing to report")]
    NoSampleTypes,

    /// `--sample-type` named something the profile does not have.
    #[error("sample type {asked:?} is not in this profile; it has: {}", available.join(", "))]
    UnknownSampleType {
        asked: String,
        available: Vec<String>,
    },

    /// The base profile of a diff cannot be compared with the profile.
    #[error("the base profile cannot be compared: {0}")]
    IncompatibleBase(String),

    /// `drop_frames` or `keep_frames` is not a valid regular expression.
    #[error("the profile's {field} is not a valid regular expression: {source}")]
    FrameRegex {
        field: &'static str,
        source: Box<regex::Error>,
    },

    /// Rendering the flame graph failed.
    #[error("rendering the flame graph: {0}")]
    Flame(std::io::Error),
}
