//! HotSpot JVM dynamic-attach client, spoken natively over the attach socket.
//!
//! It is for getting thread dumps, class histograms, any diagnostic command (`jcmd`) and heap
//! dumps out of a HotSpot JVM from the host — across the pid and mount namespaces of a container,
//! through `/proc/<pid>/root` — with no JDK tool in the target image. It finds the namespace pid,
//! starts the attach listener (`.attach_pid` trigger and SIGQUIT), takes on the target's
//! credentials for the connection, frames requests, checks result codes (and errors the JVM
//! reports in the text), streams output with bounded waits, and orchestrates heap dumps
//! (free-space check, unique file in the target, copy out with zstd and sha256, always deleted).
//!
//! It is not for parsing heap dumps (see the `hprof` crate) nor for OpenJ9, whose attach
//! mechanism differs (detected and reported). It is written by hand rather than shelling out to
//! `jcmd`/`jattach` because the target usually has no JDK, the host usually has none either, and
//! a library can bound every wait, clean up on every path and stream gigabytes in constant memory.

pub mod client;
pub mod creds;
pub mod diagnostics;
pub mod error;
pub mod heapdump;
pub mod histogram;
pub mod process;
pub mod protocol;
mod tailhash;

pub use client::{AttachOptions, ExecOptions, Jvm};
pub use error::{AttachError, Result};
pub use heapdump::{
    Compression, HeapDumpOptions, HeapDumpReport, Progress, dump_heap, dump_heap_to_path,
};
pub use histogram::{Histogram, HistogramEntry, parse_histogram};
pub use process::{JvmKind, Target};
