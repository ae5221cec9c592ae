//! Placeholder: filled in by the crate that owns this analysis.

use std::path::Path;

use clap::Args;

#[derive(Args, Debug, Default)]
pub struct HeapFlags {}

pub fn run(path: &Path, _json: bool, _flags: &HeapFlags) -> anyhow::Result<u8> {
    anyhow::bail!("analysis of {} is not available in this build", path.display())
}
