//! Placeholder for `triage go …` (pprof capture).
use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum GoCommand {}

pub fn run(command: GoCommand) -> anyhow::Result<u8> {
    match command {}
}
