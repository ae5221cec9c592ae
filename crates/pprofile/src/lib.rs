//! Go pprof profiles (`profile.proto`, usually gzip-compressed as served by `net/http/pprof`):
//! decoding, validation, and the reports an engineer reads in an incident — the top-functions table
//! with the same flat/cum numbers `go tool pprof -top` prints (for any sample type), folded stacks,
//! flame-graph SVGs (rendered by `inferno`), diffs against a base profile, and goroutine profiles
//! grouped by identical stack.
//!
//! What it is not for: fetching profiles (the CLI does that), symbolizing raw addresses (Go profiles
//! come symbolized), or the legacy text profile formats.
//!
//! The protobuf messages are plain `prost` derives; only the top-level loop is driven by hand, so
//! that every element has a byte offset for error messages and element counts are checked against
//! [`Limits`] before anything is allocated for them. Decompression is capped
//! ([`Limits::max_decompressed_bytes`]): a small gzip bomb cannot exhaust memory. Every id and string
//! index is validated, so the reports never index out of bounds on hostile input.
//!
//! ```no_run
//! let bytes = std::fs::read("cpu.pb.gz")?;
//! let profile = pprofile::parse_profile(&bytes, &pprofile::Limits::default())?;
//! let index = profile.sample_index(None)?;
//! let report = pprofile::top_functions(&profile, &pprofile::TopOptions::new(index));
//! for row in &report.rows {
//!     println!("{} {} {}", report.format_value(row.flat), report.format_value(row.cum), row.function);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod error;
pub mod measure;
mod nodes;
mod profile;
pub mod proto;
mod stacks;
mod top;

pub use decode::{Limits, decompress, is_gzip, parse_profile, read_profile};
pub use error::Error;
pub use profile::{Frame, Profile, SampleType};
pub use stacks::{
    FlameOptions, FoldedStack, SampleSet, StackGroup, diff_flame_graph_svg, flame_graph_svg,
    folded_stacks, group_by_stack, write_folded,
};
pub use top::{Inlining, TopOptions, TopReport, TopRow, top_functions};
