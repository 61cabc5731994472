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
    /// Write the accepted cells of a run's proposal into the routes file.
    Apply(ApplyArgs),
    /// Re-derive every report of a run from its journal, with no calls; with two runs, compare them.
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
    /// A later run to compare with the first: what moved in quality, cost and latency. The
    /// comparison is written into this run's directory as compare-<first run id>.md and .csv.
    #[arg(value_name = "LATER_RUN_DIR")]
    pub later: Option<PathBuf>,
    /// Use this routes file (policy, prices, current table) instead of the run's.
    #[arg(long, value_name = "FILE", conflicts_with = "later")]
    pub routes: Option<PathBuf>,
    /// Use this dataset (graders) instead of the run's.
    #[arg(long, value_name = "FILE", conflicts_with = "later")]
    pub dataset: Option<PathBuf>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a JSON summary on stdout instead of the tables.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The run directory (reports/<run-id>).
    pub run_dir: PathBuf,
    /// Exit with 3 when the table would change, 0 when not (for CI gates).
    #[arg(long)]
    pub exit_code: bool,
    /// Print nothing (with --exit-code: only the exit code answers).
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a JSON summary on stdout: whether the table would change, the changed cells, the diff.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The run directory whose proposal (routes.recommended.toml) to accept.
    pub run_dir: PathBuf,
    /// Accept only these cells, comma-separated: `code.quality,math.default,default`
    /// [default: every cell the proposal changes].
    #[arg(long, value_name = "CELLS", value_delimiter = ',', num_args = 1)]
    pub cells: Option<Vec<String>>,
    /// The routes file to change [default: the one the run was made with].
    #[arg(long, value_name = "FILE")]
    pub routes: Option<PathBuf>,
    /// Write even though the routes file is not the one the proposal was derived from.
    #[arg(long)]
    pub force: bool,
    /// Show what would change, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    pub json: bool,
}
