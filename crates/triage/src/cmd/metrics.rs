//! Placeholder for `triage metrics SOURCE`.
use clap::Args;

#[derive(Args, Debug)]
pub struct MetricsArgs {
    /// URL, file or `-`.
    pub source: String,
}

pub fn run(args: MetricsArgs) -> anyhow::Result<u8> {
    anyhow::bail!("metrics from {} are not available in this build", args.source)
}
