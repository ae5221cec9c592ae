//! Placeholder for `triage jvm …` (HotSpot attach).
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum JvmCommand {}

pub fn run(command: JvmCommand) -> anyhow::Result<u8> {
    match command {}
}
