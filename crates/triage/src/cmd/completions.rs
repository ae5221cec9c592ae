//! `triage completions SHELL`: shell completion scripts generated from the clap definition.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

pub fn run<C: CommandFactory>(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = C::command();
    clap_complete::generate(args.shell, &mut command, "triage", &mut std::io::stdout());
    Ok(crate::exit::OK)
}
