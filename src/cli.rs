//! Command-line definitions (clap) only; the commands live in `cmd/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "routecal",
    version,
    about = "Keeps an LLM routing table honest: re-benchmarks it on your labelled prompts and proposes an explained update."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// Where the routes file and the dataset come from.
#[derive(Debug, Clone, Args)]
pub struct Inputs {
    /// A suite folder holding routes.toml and dataset.jsonl.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["routes", "dataset"])]
    pub suite: Option<PathBuf>,
    /// The routes file [default: routes.toml].
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// The labelled dataset (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark every candidate and the classifier on a dataset and propose a new table.
    Run(RunArgs),
    /// Check a routes file (and a dataset) without calling anything.
    Validate(ValidateArgs),
    /// Re-derive every report of a run from its journal, with no calls.
    Report(ReportArgs),
    /// Print the proposed change to the routes file as a unified diff.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Where run directories are created.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Ask each model this many times per item [default: from routes.toml, else 1].
    #[arg(long, value_name = "K")]
    pub repeats: Option<u32>,
    /// No progress and no summary table on the terminal.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a JSON summary on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
    /// Write every live answer to FILE as a replay recording (created or overwritten).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub inputs: Inputs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run directory (reports/<run-id>).
    pub run_dir: PathBuf,
    /// Use this routes file (policy, prices, current table) instead of the run's.
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// Use this dataset (graders) instead of the run's.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The run directory (reports/<run-id>).
    pub run_dir: PathBuf,
    /// Exit with 3 when the table would change, 0 when not (for CI gates).
    #[arg(long)]
    pub exit_code: bool,
}
