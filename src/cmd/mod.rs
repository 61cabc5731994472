//! One file per command, each a thin layer over the library.

pub(crate) mod apply;
pub(crate) mod dataset;
pub(crate) mod diff;
pub(crate) mod init;
pub(crate) mod monitor;
pub(crate) mod report;
pub(crate) mod route;
pub(crate) mod run;
mod run_end;
pub(crate) mod validate;

use std::path::{Path, PathBuf};

use crate::base::error::{UsageError, exit};
use crate::cli::{Command, Inputs};
use crate::config::Config;
use crate::config::prices::{PriceTable, Prices};
use crate::dataset::Dataset;

/// Dispatch a parsed command; returns the exit code.
pub fn dispatch(cmd: Command) -> anyhow::Result<u8> {
    let code = match cmd {
        Command::Run(a) => run::run(a),
        Command::Validate(a) => validate::validate(a),
        Command::Apply(a) => apply::apply(a),
        Command::Report(a) => report::report(a),
        Command::Diff(a) => diff::diff(a),
        Command::Route(a) => route::route(a),
        Command::Monitor(a) => monitor::monitor(a),
        Command::Dataset(crate::cli::DatasetCommand::FromLog(a)) => dataset::from_log(a),
        Command::Init(a) => init::init(a),
    }?;
    match crate::base::out::take_error() {
        Some(e) => Err(anyhow::anyhow!("cannot write to standard output: {e}")),
        None => Ok(code),
    }
}

/// The routes file and dataset paths named by `--suite` or `--routes`/`--dataset`.
pub fn resolve(inputs: &Inputs, need_dataset: bool) -> anyhow::Result<(PathBuf, Option<PathBuf>)> {
    if let Some(s) = &inputs.suite {
        if !s.is_dir() {
            return Err(UsageError(format!("suite {} is not a folder", s.display())).into());
        }
        return Ok((s.join("routes.toml"), Some(s.join("dataset.jsonl"))));
    }
    let routes = inputs
        .routes
        .clone()
        .unwrap_or_else(|| PathBuf::from("routes.toml"));
    if need_dataset && inputs.dataset.is_none() {
        return Err(UsageError(
            "name a dataset with --dataset FILE, or a suite folder with --suite DIR".into(),
        )
        .into());
    }
    Ok((routes, inputs.dataset.clone()))
}

/// Load and cross-check the routes file and the dataset.
pub fn load_inputs(
    routes: &Path,
    dataset: &Path,
    at: jiff::Timestamp,
) -> anyhow::Result<(Config, Dataset)> {
    load_inputs_priced(routes, dataset, at, PriceTable::shipped())
}

/// [`load_inputs`] with another price table than the shipped snapshot.
pub fn load_inputs_priced(
    routes: &Path,
    dataset: &Path,
    at: jiff::Timestamp,
    prices: &PriceTable,
) -> anyhow::Result<(Config, Dataset)> {
    let cfg = Config::load(routes, prices, at)?;
    let ds = Dataset::load(dataset)?;
    crate::benchmark::judge_phase::check(&cfg, &ds)?;
    Ok((cfg, ds))
}

/// The price table a run was made with: its price file when it named one (found the way its
/// routes file is), else the shipped snapshot.
pub fn run_prices(run_dir: &Path, m: &crate::store::manifest::Manifest) -> anyhow::Result<Prices> {
    if m.prices.path == crate::config::prices::SNAPSHOT_SOURCE {
        return Ok(Prices::shipped());
    }
    Prices::load(Some(&report::locate(run_dir, &m.prices.path)))
}

/// The manifest's record of a price table: the snapshot's name, or the file as the user names it.
pub fn prices_ref(p: &Prices, path: Option<&Path>) -> crate::store::manifest::FileRef {
    crate::store::manifest::FileRef {
        path: path.map_or_else(|| p.source.clone(), display_path),
        sha256: p.sha256.clone(),
    }
}

pub fn ok() -> anyhow::Result<u8> {
    Ok(exit::OK)
}

/// A path as the user would type it: relative to the working directory when inside it.
pub fn display_path(p: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match cwd.as_deref().and_then(|c| abs.strip_prefix(c).ok()) {
        Some(rel) => rel.display().to_string(),
        None => abs.display().to_string(),
    }
}
