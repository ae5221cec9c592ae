//! `triage`: the command-line front end.
//!
//! This crate only parses arguments, wires the library crates together and prints. Byte layouts,
//! /proc parsing, protocols and rules live in the library crates (see ARCHITECTURE.md).

mod cmd;
mod output;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit codes, documented in `--help`.
pub mod exit {
    /// Everything worked (findings do not change this unless `--fail-on` is given).
    pub const OK: u8 = 0;
    /// The command failed (bad input, unreachable target, I/O error).
    pub const FAILURE: u8 = 1;
    /// The command line was wrong.
    pub const USAGE: u8 = 2;
    /// `--fail-on` was given and a finding at or above that severity was found.
    pub const FINDINGS: u8 = 3;
}

/// `0.1.0 (rev 1a2b3c4d5e6f)`: the package version and the git revision it was built from.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rev ",
    env!("TRIAGE_GIT_REVISION"),
    ")"
);

#[derive(Parser, Debug)]
#[command(
    name = "triage",
    version = VERSION,
    about = "Collect, redact, bundle and analyse diagnostics from a host, process, container or pod.",
    after_help = "EXIT CODES:\n  0  success (findings do not change it unless --fail-on is given)\n  1  failure: the error message says what failed and what to do\n  2  usage error\n  3  --fail-on threshold reached\n\nLogs go to stderr (RUST_LOG or -v to raise the level); data goes to stdout."
)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Diagnose a target (default: this machine) and write a bundle.
    Snapshot(cmd::snapshot::SnapshotArgs),
    /// Analyse a bundle, a heap dump (.hprof[.gz|.zst]) or a pprof profile (.pb.gz).
    Analyze(cmd::analyze::AnalyzeArgs),
    /// Inspect, verify or extract a bundle.
    #[command(subcommand)]
    Bundle(cmd::bundle::BundleCommand),
    /// Talk to a HotSpot JVM through the attach protocol (no JDK needed in the target).
    #[command(subcommand)]
    Jvm(cmd::jvm::JvmCommand),
    /// Capture Go pprof profiles.
    #[command(subcommand)]
    Go(cmd::go::GoCommand),
    /// Fetch and parse Prometheus / OpenMetrics metrics.
    Metrics(cmd::metrics::MetricsArgs),
    /// Reach pods through the Kubernetes API server: resolve, snapshot, copy out, HTTP through
    /// port-forward, RBAC preflight.
    #[command(subcommand)]
    Pod(cmd::pod::PodCommand),
    /// Long-running node agent: pre-OOM heap dumps, per-container signals, /metrics.
    Agent(cmd::agent::AgentArgs),
    /// Print shell completions.
    Completions(cmd::completions::CompletionsArgs),
    /// Print the man page (roff) on stdout.
    Man,
    /// Make `kubectl triage …` work: create a `kubectl-triage` link to this binary in DIR.
    InstallPlugin(cmd::completions::InstallPluginArgs),
}

fn init_logging(verbose: u8, quiet: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

/// The name the program was invoked as: `kubectl triage` when run as the kubectl plugin
/// `kubectl-triage`, so help and errors show the command the user typed.
fn invoked_name() -> &'static str {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let base = std::path::Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("triage");
    if base.starts_with("kubectl-triage") {
        "kubectl triage"
    } else {
        "triage"
    }
}

fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let name = invoked_name();
    let matches = Cli::command().name(name).bin_name(name).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Snapshot(args) => cmd::snapshot::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Bundle(c) => cmd::bundle::run(c),
        Command::Jvm(c) => cmd::jvm::run(c),
        Command::Go(c) => cmd::go::run(c),
        Command::Metrics(args) => cmd::metrics::run(args),
        Command::Agent(args) => cmd::agent::run(args),
        Command::Completions(args) => cmd::completions::run::<Cli>(args),
        Command::Pod(c) => cmd::pod::run(c),
        Command::Man => cmd::completions::man::<Cli>(),
        Command::InstallPlugin(args) => cmd::completions::install_plugin(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("triage: error: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
