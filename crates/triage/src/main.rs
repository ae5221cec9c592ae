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

#[derive(Parser, Debug)]
#[command(
    name = "triage",
    version = env!("CARGO_PKG_VERSION"),
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
    /// Print shell completions.
    Completions(cmd::completions::CompletionsArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    let result = match cli.command {
        Command::Snapshot(args) => cmd::snapshot::run(args),
        Command::Analyze(args) => cmd::analyze::run(args),
        Command::Bundle(c) => cmd::bundle::run(c),
        Command::Jvm(c) => cmd::jvm::run(c),
        Command::Go(c) => cmd::go::run(c),
        Command::Metrics(args) => cmd::metrics::run(args),
        Command::Completions(args) => cmd::completions::run::<Cli>(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("triage: error: {err:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}
