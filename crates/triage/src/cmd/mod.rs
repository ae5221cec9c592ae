//! One module per verb. Each exposes its clap arguments and `run(...) -> anyhow::Result<u8>`
//! returning the process exit code.

pub mod agent;
pub mod analyze;
pub mod analyze_bundle;
pub mod analyze_heap;
pub mod analyze_profile;
pub mod bundle;
pub mod completions;
pub mod encrypt;
pub mod go;
pub mod jvm;
pub mod metrics;
pub mod out;
pub mod pod;
pub mod redaction;
pub mod replicas;
pub mod snapshot;
pub mod snapshot_jvm;
