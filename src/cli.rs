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
    /// Route prompts with the table: classify, look the cell up, answer (falling back on 5xx/timeouts).
    Route(RouteArgs),
    /// Summarise the router's log: requests, cost, latency, fallback and parse-miss rates, alerts.
    Monitor(MonitorArgs),
    /// Build datasets for the next re-benchmark.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Start a router repository: a commented routes.toml, a small dataset and the weekly
    /// workflow (never overwrites a file).
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created if missing) [default: the current folder].
    pub dir: Option<PathBuf>,
}

/// A duration such as `90s`, `30m`, `24h`, `7d` or `2w`: jiff's friendly format (so `1h30m`,
/// `2 hours` and `1.5h` too), with a day of 24 hours and a week of 7 days. A bare number is
/// seconds, and a fraction of a day or week (`1.5d`), which jiff does not take, is accepted too.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let s = s.trim();
    let not_a_duration = || format!("{s:?} is not a duration such as 30m, 24h or 7d");
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = (&s[..split], s[split..].trim());
    let n = num.parse::<f64>().ok().filter(|n| n.is_finite());
    let seconds = |n: f64, unit: f64| Ok(Duration::from_secs_f64(n * unit));
    match (n, unit) {
        (Some(n), "") => return seconds(n, 1.0),
        (Some(n), "d") => return seconds(n, 86_400.0),
        (Some(n), "w") => return seconds(n, 604_800.0),
        _ => {}
    }
    match s.parse::<jiff::Span>() {
        Ok(span) if !span.is_negative() => span
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .ok()
            .and_then(|d| Duration::try_from(d).ok())
            .ok_or_else(|| format!("{s:?} is not a duration")),
        // A number followed by a unit jiff does not know.
        Err(_) if n.is_some() && format!("1{unit}").parse::<jiff::Span>().is_err() => Err(format!(
            "unknown unit {unit:?} in {s:?} (use s, m, h, d or w)"
        )),
        _ => Err(not_a_duration()),
    }
}

#[derive(Debug, Args)]
pub struct RouteArgs {
    /// The prompt; without it (or with `-`), prompts are read from stdin, one per line.
    pub prompt: Option<String>,
    /// The routes file.
    #[arg(long, value_name = "FILE", default_value = "routes.toml")]
    pub routes: PathBuf,
    /// Stdin lines are JSON objects {"id": …, "prompt": …} or chat requests
    /// {"id": …, "messages": [{"role", "content"}, …]} (docs/router.md).
    #[arg(long)]
    pub jsonl: bool,
    /// Print one JSON object per prompt: answer, labels, route, fallback, cost, latency.
    #[arg(long)]
    pub json: bool,
    /// Append one JSON line per routed request to this log.
    #[arg(long, value_name = "FILE", env = "ROUTECAL_LOG")]
    pub log: Option<PathBuf>,
    /// Also write each prompt into the log (for `dataset from-log`).
    #[arg(long)]
    pub log_prompts: bool,
    /// Split the log into files: `daily` (one file a UTC day, `routes-2026-11-30.jsonl`) or a
    /// size such as `100MiB` (full files renamed with the time of the rotation); read the set
    /// with `monitor 'routes*.jsonl'` (docs/router-log.md).
    #[arg(long, value_name = "daily|SIZE", requires = "log")]
    pub log_rotate: Option<crate::router::log::Rotation>,
    /// The classification cache file [default: ~/.cache/routecal/classifications.jsonl].
    #[arg(long, value_name = "FILE", conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Keep classifications in memory only.
    #[arg(long)]
    pub no_cache: bool,
    /// How long a cached classification stays valid.
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = parse_duration)]
    pub cache_ttl: std::time::Duration,
    /// Classify with this model of the routes file instead of `[classifier] model`.
    #[arg(long, value_name = "MODEL", value_parser = crate::base::types::ModelId::parse)]
    pub classifier: Option<crate::base::types::ModelId>,
    /// Prompts routed at once when reading from stdin; each answer is printed as it finishes,
    /// labelled with its line and id (docs/router.md).
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub concurrency: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MonitorFormat {
    Text,
    Markdown,
    Csv,
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// The router's logs (see `route --log`): one or more files or glob patterns (quote a
    /// pattern to let routecal expand it), read as if concatenated.
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// Only requests this recent (e.g. 24h, 7d).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub since: Option<std::time::Duration>,
    /// Alert when a cell's or a provider's fallback rate exceeds this share.
    #[arg(long, value_name = "RATE", default_value_t = 0.05)]
    pub fallback_alert: f64,
    /// Alert when the classifier's parse-miss rate exceeds this share.
    #[arg(long, value_name = "RATE", default_value_t = 0.10)]
    pub parse_miss_alert: f64,
    /// Alert when the calls of a cell, a model or a provider fail more often than this share
    /// (`auth` and `quota_exhausted` errors alert at any rate).
    #[arg(long, value_name = "RATE", default_value_t = 0.05)]
    pub error_alert: f64,
    /// Groups with fewer requests never alert.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub min_requests: usize,
    #[arg(long, value_enum, default_value_t = MonitorFormat::Text)]
    pub format: MonitorFormat,
}

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// A stratified sample of logged prompts (logged with `route --log-prompts`), labelled by the
    /// classifier and graded by the judge, for the next re-benchmark.
    FromLog(FromLogArgs),
}

#[derive(Debug, Args)]
pub struct FromLogArgs {
    /// The router's logs: files or glob patterns (a rotated log's set, several routers' logs),
    /// read as if concatenated.
    #[arg(value_name = "LOG", required = true)]
    pub logs: Vec<PathBuf>,
    /// How many prompts to draw.
    #[arg(long, value_name = "N")]
    pub sample: usize,
    /// Seed of the draw.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Write the dataset here instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The judge's rubric for every sampled item.
    #[arg(long)]
    pub rubric: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Pool the graded items of earlier runs in DIR into each model's evidence (same model
    /// configuration, same grader, runs finished within --window), for the models whose
    /// items this run show no change; see docs/decisions.md, "Evidence across weeks".
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
    /// With --history: how far back earlier runs count, from this run's start (72h, 28d, 4w)
    /// [default: 4w].
    #[arg(
        long,
        value_name = "WINDOW",
        requires = "history",
        allow_hyphen_values = true
    )]
    pub window: Option<String>,
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
    /// Write every live answer to FILE as a replay recording (created or overwritten; appended
    /// to with --resume).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Continue the run in RUN_DIR: make only the planned calls its journal does not hold. Its
    /// routes file and dataset are used unless --suite, --routes or --dataset name others.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// With --resume: continue even though the routes file, dataset, prices or repeats differ
    /// from the run's in what changes answers or prices (endpoint throughput settings such as
    /// max_concurrency, requests_per_minute or timeout_s may change without it).
    #[arg(long, requires = "resume")]
    pub force: bool,
    /// Refuse a plan estimated above USD on live endpoints, and start no call that could pass
    /// it (the run then ends `partial`; --resume continues it).
    #[arg(long, value_name = "USD", value_parser = parse_usd)]
    pub max_spend: Option<f64>,
    /// A budget in candidate calls for an adaptive run: no look starts whose calls would take
    /// the run past N (with --repeats K, N/K item × model answers); the run then ends with the
    /// decisions of the looks it made. With --resume it replaces the run's budget.
    #[arg(long, value_name = "N")]
    pub max_calls: Option<usize>,
    /// Print the plan and its estimated spend, then exit: no call, nothing written, no API key
    /// needed (missing keys are listed).
    #[arg(long)]
    pub dry_run: bool,
    /// A genai-prices file (prices/data_slim.json of pydantic/genai-prices) to use instead of the
    /// shipped snapshot [default: the run's own with --resume, else the snapshot].
    #[arg(long, value_name = "FILE", env = "ROUTECAL_PRICES")]
    pub prices: Option<PathBuf>,
    /// With --resume: make the calls whose latest attempt failed again (the journal keeps
    /// every attempt; the reports use the latest).
    #[arg(long, requires = "resume")]
    pub retry_errors: bool,
    /// Exit 1 (after writing the reports) when any classifier or candidate has more than this
    /// share of its calls failed, 0 to 1 [default: 0.2].
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub fail_on_error: Option<f64>,
    /// Sample adaptively: items in seeded batches stratified by task type, and after each batch
    /// calls stop for the (model, task type) pairs that can no longer change a decision
    /// (error-spending group-sequential design; docs/adaptive.md) [default: `[run] adaptive`].
    #[arg(long)]
    pub adaptive: bool,
}

/// A share between 0 and 1, `0.2` or `20%`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("{s:?} is not a share such as 0.2 or 20%"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!(
            "{s:?} is not a share between 0 and 1 (0% and 100%)"
        ));
    }
    Ok(v)
}

/// A non-negative amount of US dollars, `12.5` or `$12.50`.
pub fn parse_usd(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| format!("{s:?} is not an amount in USD such as 5 or 12.50"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("{s:?} is not an amount in USD such as 5 or 12.50"));
    }
    Ok(v)
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// A genai-prices file to use instead of the shipped snapshot.
    #[arg(long, value_name = "FILE", env = "ROUTECAL_PRICES")]
    pub prices: Option<PathBuf>,
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
    /// With --routes or --dataset: name the derivation, written to RUN_DIR/derived-NAME/
    /// [default: the file's stem and a hash of the inputs]. The run's own reports stay.
    #[arg(long, value_name = "NAME", conflicts_with = "later")]
    pub name: Option<String>,
    /// Pool the graded items of earlier runs in DIR into each model's evidence (same model
    /// configuration, same grader, runs finished within --window), for the models whose
    /// items this run show no change; see docs/decisions.md, "Evidence across weeks".
    #[arg(long, value_name = "DIR", conflicts_with = "later")]
    pub history: Option<PathBuf>,
    /// With --history: how far back earlier runs count, from this run's start (72h, 28d, 4w)
    /// [default: 4w].
    #[arg(
        long,
        value_name = "WINDOW",
        requires = "history",
        allow_hyphen_values = true
    )]
    pub window: Option<String>,
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
    /// Write even though the routes file is not the one the proposal was derived from, or the
    /// run is not complete (stopped or killed before its last call).
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

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_keep_their_spellings_and_errors() {
        let secs = |s: &str| parse_duration(s).map(|d| d.as_secs_f64());
        for (s, want) in [
            ("90s", 90.0),
            ("30m", 1800.0),
            ("24h", 86_400.0),
            ("7d", 604_800.0),
            ("2w", 1_209_600.0),
            ("90", 90.0),
            (" 5 m ", 300.0),
            ("1.5h", 5400.0),
            ("1.5d", 129_600.0),
            ("0.5w", 302_400.0),
            ("1h30m", 5400.0),
            ("2 hours", 7200.0),
            ("0s", 0.0),
        ] {
            assert_eq!(secs(s), Ok(want), "{s}");
        }
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(
            parse_duration("abc").unwrap_err(),
            r#""abc" is not a duration such as 30m, 24h or 7d"#
        );
        assert_eq!(
            parse_duration("-5m").unwrap_err(),
            r#""-5m" is not a duration such as 30m, 24h or 7d"#
        );
        assert_eq!(
            parse_duration("").unwrap_err(),
            r#""" is not a duration such as 30m, 24h or 7d"#
        );
        assert_eq!(
            parse_duration("5x").unwrap_err(),
            r#"unknown unit "x" in "5x" (use s, m, h, d or w)"#
        );
    }
}
