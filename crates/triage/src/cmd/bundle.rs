//! Placeholder for `triage bundle …`.
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BundleCommand {}

pub fn run(command: BundleCommand) -> anyhow::Result<u8> {
    match command {}
}
