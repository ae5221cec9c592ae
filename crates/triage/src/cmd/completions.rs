//! Packaging verbs: `triage completions SHELL`, `triage man`, `triage install-plugin DIR`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

/// Completion script for `shell` on stdout.
pub fn run<C: CommandFactory>(args: CompletionsArgs) -> anyhow::Result<u8> {
    let mut command = C::command();
    clap_complete::generate(args.shell, &mut command, "triage", &mut std::io::stdout());
    Ok(crate::exit::OK)
}

/// The man page, generated from the same definitions as `--help`.
pub fn man<C: CommandFactory>() -> anyhow::Result<u8> {
    let command = C::command().name("triage");
    clap_mangen::Man::new(command)
        .render(&mut std::io::stdout())
        .context("writing the man page to stdout")?;
    Ok(crate::exit::OK)
}

#[derive(Args, Debug)]
pub struct InstallPluginArgs {
    /// Directory on PATH to put `kubectl-triage` in.
    #[arg(default_value = "/usr/local/bin")]
    pub dir: PathBuf,
    /// Copy the binary instead of linking to it.
    #[arg(long)]
    pub copy: bool,
}

/// Create `DIR/kubectl-triage` pointing at this binary, so `kubectl triage …` runs it.
pub fn install_plugin(args: InstallPluginArgs) -> anyhow::Result<u8> {
    let exe = std::env::current_exe().context("finding this program's own path")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let target = args.dir.join("kubectl-triage");
    if target.symlink_metadata().is_ok() {
        anyhow::bail!(
            "{} already exists; remove it first or choose another directory",
            target.display()
        );
    }
    if args.copy {
        std::fs::copy(&exe, &target)
            .with_context(|| format!("copying {} to {}", exe.display(), target.display()))?;
    } else {
        std::os::unix::fs::symlink(&exe, &target)
            .with_context(|| format!("linking {} to {}", target.display(), exe.display()))?;
    }
    eprintln!(
        "installed {} → {}; run `kubectl triage --help`",
        target.display(),
        exe.display()
    );
    Ok(crate::exit::OK)
}
