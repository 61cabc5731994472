//! `routecal run`: plan, call, journal, derive, report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::error::UsageError;
use crate::base::fmt;
use crate::benchmark::duration;
use crate::benchmark::judge_phase::JudgeEstimate;
use crate::benchmark::stop::Stop;
use crate::cli::RunArgs;
use crate::config::prices;
use crate::config::{Config, EndpointKind};
use crate::dataset::Dataset;
use crate::derive;
use crate::provider;
use crate::report::text;
use crate::store::lock::Lock;
use crate::store::manifest::{self, FileRef, HistorySettings, Manifest, Settings, Status, Totals};
use crate::store::run_dir::{self, RunDir};

mod resume;
mod show;

use super::run_end::RunState;
use crate::base::types::{Usd, sha256_hex};
use crate::benchmark::session::{Recording, Session, done_keys};
use crate::benchmark::{self, budget::Budget, plan::Plan, progress::ProgressMode};
use crate::derive::sequential::{self, Design};
use crate::store::journal;
use resume::{Refs, check_resume, resume_inputs};
use show::{Durations, Estimate, Shown, check_budget, judge_left, show_plan};

pub fn run(a: RunArgs) -> anyhow::Result<u8> {
    let inputs = RunInputs::load(&a)?;
    let Some(prepared) = Prepared::new(&a, &inputs)? else {
        if !a.json {
            outln!("Dry run: no call made, nothing written.");
        }
        return super::ok();
    };
    let RunInputs {
        resumed,
        dataset_path,
        now,
        cfg,
        ds,
        repeats,
        refs,
        mode,
        adaptive,
        ..
    } = inputs;
    let Prepared {
        providers,
        lock,
        already_spent,
        plan,
        estimate,
    } = prepared;
    let record_path = a.record.clone();
    let record = match (&record_path, &resumed) {
        (None, _) => None,
        (Some(p), None) => Some(benchmark::record::RecordWriter::create(p)?),
        (Some(p), Some(_)) => Some(benchmark::record::RecordWriter::append_to(p)?),
    };
    let (dir, _lock, mut manifest) = match resumed {
        Some((dir, m)) => {
            let mut m = refs.resumed(m, &a, &cfg, repeats);
            // A resumed run keeps its design; `--max-calls` may replace its budget.
            m.settings.adaptive = adaptive;
            (dir, lock.expect("locked above"), m)
        }
        None => {
            let label = run_label(&a, &dataset_path);
            let (run_id, dir) = run_dir::create(&a.out, now, &label)?;
            let lock = Lock::acquire(&dir)?;
            let mut m = refs.fresh(run_id, now, &a, &cfg, repeats);
            m.settings.adaptive = adaptive;
            (dir, lock, m)
        }
    };
    manifest.version = env!("CARGO_PKG_VERSION").into();
    manifest.totals.planned_calls = plan.calls.len() + plan.skipped;
    manifest.totals.estimated_usd = estimate.total();
    manifest.keep_routes_copy(&dir, &cfg.source)?;
    manifest.save(&dir)?;

    let budget = a
        .max_spend
        .map(|limit| Arc::new(Budget::new(limit, already_spent)));
    let stop = Arc::new(Stop::default());
    let cfg = Arc::new(cfg);
    let session = Session {
        cfg: &cfg,
        ds: &ds,
        repeats,
        providers: &providers,
        dir: &dir,
        out: &a.out,
        record: record
            .zip(record_path)
            .map(|(first, path)| Recording { first, path }),
        budget: budget.clone(),
        stop: stop.clone(),
        mode,
        retry_errors: a.retry_errors,
        adaptive,
    };
    let run = RunState {
        a: &a,
        dir: &dir,
        cfg: &cfg,
        ds: &ds,
        repeats,
        stop: &stop,
        adaptive,
    };
    run.execute(&mut manifest, plan, session, budget.as_deref())
}

/// What a run is made from: its arguments resolved against the run it resumes, if any.
struct RunInputs {
    resumed: Option<(PathBuf, Manifest)>,
    dataset_path: PathBuf,
    now: jiff::Timestamp,
    prices: prices::Prices,
    cfg: Config,
    ds: Dataset,
    repeats: u32,
    refs: Refs,
    mode: ProgressMode,
    /// The sequential design, for an adaptive run.
    adaptive: Option<Design>,
}

impl RunInputs {
    /// Load the routes file, dataset and prices; a resume is checked against its run here.
    fn load(a: &RunArgs) -> anyhow::Result<RunInputs> {
        let resumed = match &a.resume {
            Some(dir) => Some((dir.clone(), Manifest::load(dir)?)),
            None => None,
        };
        let (routes_path, dataset_path) = match &resumed {
            Some((dir, m)) => resume_inputs(a, dir, m),
            None => {
                let (r, d) = super::resolve(&a.inputs, true)?;
                (r, d.expect("resolve requires a dataset for run"))
            }
        };
        let now = jiff::Timestamp::now();
        // A resumed run resolves dated prices at its start, as its first part did.
        let at = resumed.as_ref().map_or(now, |(_, m)| m.started());
        // A resumed run keeps the price file it was made with unless another is named.
        let prices_path = a.prices.clone().or_else(|| {
            let (dir, m) = resumed.as_ref()?;
            (m.prices.path != prices::SNAPSHOT_SOURCE)
                .then(|| super::report::locate(dir, &m.prices.path))
        });
        let prices = prices::Prices::load(prices_path.as_deref())?;
        let (cfg, ds) = super::load_inputs_priced(&routes_path, &dataset_path, at, prices.table())?;
        // --history and --window are checked before any call; the runs are read at the end.
        crate::derive::history::Spec::from_args(a.history.as_deref(), a.window.as_deref())?;
        let repeats = a
            .repeats
            .or(resumed.as_ref().map(|(_, m)| m.settings.repeats))
            .unwrap_or(cfg.defaults.repeats)
            .max(1);
        let mut refs = Refs::new(&routes_path, &dataset_path, &cfg, &ds);
        refs.prices = super::prices_ref(&prices, prices_path.as_deref());
        let mode = if a.json {
            ProgressMode::Quiet
        } else {
            ProgressMode::auto(a.quiet)
        };
        if let Some((dir, m)) = &resumed {
            check_resume(a, dir, m, &refs, repeats, mode)?;
        }
        let adaptive = adaptive_design(a, resumed.as_ref(), &cfg)?;
        let adaptive = with_call_budget(a, adaptive, (&cfg, &ds), repeats)?;
        Ok(RunInputs {
            resumed,
            dataset_path,
            now,
            prices,
            cfg,
            ds,
            repeats,
            refs,
            mode,
            adaptive,
        })
    }
}

/// The sequential design: a resumed run keeps its own; a new run is adaptive with `--adaptive`
/// or `[run] adaptive = true`.
fn adaptive_design(
    a: &RunArgs,
    resumed: Option<&(PathBuf, Manifest)>,
    cfg: &Config,
) -> anyhow::Result<Option<Design>> {
    match resumed {
        Some((dir, m)) => {
            if a.adaptive && m.settings.adaptive.is_none() {
                return Err(UsageError(format!(
                    "cannot resume {} with --adaptive: it was made with the full fixed design; resume it without --adaptive, or start a new run",
                    dir.display()
                ))
                .into());
            }
            Ok(m.settings.adaptive)
        }
        None => Ok((a.adaptive || cfg.defaults.adaptive).then(|| sequential::default_design(cfg))),
    }
}

/// `--max-calls N` as the design's budget in (item, model) answers (`N / repeats`): refused for
/// the full fixed design and below the first look's calls, before any call.
fn with_call_budget(
    a: &RunArgs,
    design: Option<Design>,
    (cfg, ds): (&Config, &Dataset),
    repeats: u32,
) -> anyhow::Result<Option<Design>> {
    let Some(n) = a.max_calls else {
        return Ok(design);
    };
    let Some(mut d) = design else {
        return Err(UsageError(
            "--max-calls limits an adaptive run (--adaptive or [run] adaptive = true); the full fixed design makes every planned call (see --max-spend for a budget in dollars)".into(),
        )
        .into());
    };
    let pairs = n / repeats.max(1) as usize;
    let first = sequential::first_look_pairs(cfg, ds, &d);
    if pairs < first {
        return Err(UsageError(format!(
            "--max-calls {n}: the first look alone makes {} candidate calls ({first} answers × {repeats} repeats); give at least that, or fewer looks ([run] adaptive_looks)",
            first * repeats.max(1) as usize
        ))
        .into());
    }
    d.max_pairs = Some(pairs);
    Ok(Some(d))
}

/// A run ready to call: its providers, its lock (a resumed run), its plan and estimates.
struct Prepared {
    providers: std::collections::HashMap<String, Arc<dyn provider::Provider>>,
    lock: Option<Lock>,
    already_spent: f64,
    plan: Plan,
    estimate: Estimate,
}

impl Prepared {
    /// Plan the run and show the plan; `None` for a dry run (nothing more to do).
    fn new(a: &RunArgs, inp: &RunInputs) -> anyhow::Result<Option<Prepared>> {
        let cfg = &inp.cfg;
        // A dry run needs no key: without them, durations use the configured request rates.
        let providers = match provider::build_all(cfg) {
            Err(_) if a.dry_run => Default::default(),
            built => built?,
        };
        // A resumed run is locked before its journal is read, so no other process adds to it.
        let lock = match &inp.resumed {
            Some((dir, _)) if !a.dry_run => Some(Lock::acquire(dir)?),
            _ => None,
        };
        let earlier = match &inp.resumed {
            Some((dir, _)) => journal::read(&RunDir::new(dir).journal())?,
            None => journal::JournalContents::default(),
        };
        let already_spent = live_spend(cfg, &earlier);
        let plan = benchmark::plan::build(
            cfg,
            &inp.ds,
            inp.repeats,
            &done_keys(&earlier, a.retry_errors),
        );
        let judge = crate::benchmark::judge_phase::estimate(cfg, &inp.ds, inp.repeats)
            .map(|j| judge_left(j, &earlier));
        let time = Durations::new(cfg, &plan, judge.as_ref(), &providers);
        let estimate = Estimate::new(&plan, judge.as_ref(), already_spent, time);
        // The plan says which earlier runs `--history` will read (reading them calls nothing).
        let history = crate::derive::history::planned(
            a.history.as_deref(),
            a.window.as_deref(),
            inp.resumed.as_ref().map(|(_, m)| m),
            inp.now,
            (cfg, &inp.ds),
        )?;
        let shown = Shown {
            plan: &plan,
            judge: judge.as_ref(),
            estimate: &estimate,
            adaptive: inp.adaptive.as_ref(),
            history: history.as_ref(),
        };
        show_plan(a, cfg, &shown, inp.mode, (&inp.prices, inp.now));
        if let Some(limit) = a.max_spend {
            let adaptive = inp.adaptive.is_some();
            check_budget(cfg, &plan, judge.as_ref(), &estimate, (limit, adaptive))?;
        }
        if a.dry_run {
            return Ok(None);
        }
        Ok(Some(Prepared {
            providers,
            lock,
            already_spent,
            plan,
            estimate,
        }))
    }
}

/// The label in a new run directory's name: the suite's folder, else the dataset's stem.
fn run_label(a: &RunArgs, dataset_path: &Path) -> String {
    a.inputs
        .suite
        .as_deref()
        .and_then(|s| s.file_name())
        .or_else(|| dataset_path.file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("run")
        .to_string()
}

/// Money spent on live endpoints by the calls of a journal.
pub(super) fn live_spend(cfg: &Config, contents: &journal::JournalContents) -> f64 {
    contents
        .rows
        .iter()
        .filter(|r| {
            cfg.endpoints
                .get(&r.endpoint)
                .is_some_and(|e| e.kind.is_live())
        })
        .filter_map(|r| r.cost_usd)
        .fold(0.0, |a, b| a + b)
}

/// The outcome on stdout; `loud` are the failures that make the run exit 1.
pub(super) fn print_outcome(
    a: &RunArgs,
    d: &derive::Derived,
    dir: &Path,
    ds: &Dataset,
    loud: &[String],
) {
    let dir_s = super::display_path(dir);
    if a.json {
        let out = crate::report::json::RunOutput {
            items: ds.items.len(),
            ..crate::report::json::RunOutput::of(d, dir_s, loud)
        };
        outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    if !a.quiet {
        outln!();
        out!("{}", text::summary(d));
        for w in d.warnings() {
            outln!("warning: {w}");
        }
    }
    outln!("\nRun directory: {dir_s}");
    if !a.quiet {
        outln!(
            "  report: {dir_s}/report.md   diff: {dir_s}/routes.diff   proposed table: {dir_s}/routes.recommended.toml"
        );
    }
}
