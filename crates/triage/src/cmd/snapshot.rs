//! Placeholder for `triage snapshot`.
use clap::Args;

#[derive(Args, Debug)]
pub struct SnapshotArgs {
    /// `host` (default) or `pid:N`.
    #[arg(default_value = "host")]
    pub target: String,
}

pub fn run(args: SnapshotArgs) -> anyhow::Result<u8> {
    anyhow::bail!("snapshot of {} is not available in this build", args.target)
}
