//! `routecal run`: plan, call, journal, derive, report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::error::UsageError;
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
use crate::store::run_dir::{self, FileRef, Lock, Manifest, Settings, Totals};

use super::run_end::{RunState, done_keys};
use crate::base::types::{Usd, sha256_hex};
use crate::benchmark::{self, budget::Budget, plan::Plan, progress::ProgressMode};
use crate::store::journal;

pub fn run(a: RunArgs) -> anyhow::Result<u8> {
    let resumed = match &a.resume {
        Some(dir) => Some((dir.clone(), Manifest::load(dir)?)),
        None => None,
    };
    let (routes_path, dataset_path) = match &resumed {
        Some((dir, m)) => resume_inputs(&a, dir, m),
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
        check_resume(&a, dir, m, &refs, repeats, mode)?;
    }
    // A dry run needs no key: without them, durations use the configured request rates.
    let providers = match provider::build_all(&cfg) {
        Err(_) if a.dry_run => Default::default(),
        built => built?,
    };

    // A resumed run is locked before its journal is read, so no other process adds to it.
    let lock = match &resumed {
        Some((dir, _)) if !a.dry_run => Some(Lock::acquire(dir)?),
        _ => None,
    };
    let earlier = match &resumed {
        Some((dir, _)) => journal::read(&dir.join(run_dir::JOURNAL))?,
        None => journal::JournalContents::default(),
    };
    let already_spent = live_spend(&cfg, &earlier);
    let plan = benchmark::plan::build(&cfg, &ds, repeats, &done_keys(&earlier, a.retry_errors));
    let judge = crate::benchmark::judge_phase::estimate(&cfg, &ds, repeats)
        .map(|j| judge_left(j, &earlier));
    let time = Durations::new(&cfg, &plan, judge.as_ref(), &providers);
    let estimate = Estimate::new(&plan, judge.as_ref(), already_spent, time);
    show_plan(
        &a,
        &cfg,
        &plan,
        judge.as_ref(),
        &estimate,
        mode,
        (&prices, now),
    );
    if let Some(limit) = a.max_spend {
        check_budget(&cfg, &plan, judge.as_ref(), &estimate, limit)?;
    }
    if a.dry_run {
        if !a.json {
            outln!("Dry run: no call made, nothing written.");
        }
        return super::ok();
    }

    let record = match (&a.record, &resumed) {
        (None, _) => None,
        (Some(p), None) => Some(benchmark::record::RecordWriter::create(p)?),
        (Some(p), Some(_)) => Some(benchmark::record::RecordWriter::append_to(p)?),
    };
    let (dir, _lock, mut manifest) = match resumed {
        Some((dir, m)) => {
            let m = refs.resumed(m, &a, &cfg, repeats);
            (dir, lock.expect("locked above"), m)
        }
        None => {
            let label = run_label(&a, &dataset_path);
            let (run_id, dir) = run_dir::create(&a.out, now, &label)?;
            let lock = Lock::acquire(&dir)?;
            let m = refs.fresh(run_id, now, &a, &cfg, repeats);
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
    let sinks = benchmark::Sinks {
        journal: journal::JournalWriter::open_append(&dir.join(run_dir::JOURNAL))?,
        record,
        budget: budget.clone(),
        stop: Arc::new(Stop::default()),
    };
    let stop = sinks.stop.clone();
    let cfg = Arc::new(cfg);
    let run = RunState {
        a: &a,
        dir: &dir,
        cfg: &cfg,
        ds: &ds,
        repeats,
        stop: &stop,
    };
    run.execute(
        &mut manifest,
        plan,
        &providers,
        sinks,
        budget.as_deref(),
        mode,
    )
}

/// The price table's line for the plan, its staleness warning, and (for a dry run, given the
/// config) the keys a real run would need that are not set.
fn prices_lines(p: &prices::Prices, now: jiff::Timestamp, dry_run: Option<&Config>) -> String {
    let mut out = format!("{}\n", p.describe(now));
    if let Some(w) = p.staleness_warning(now) {
        out.push_str(&format!("Warning: {w}\n"));
    }
    for k in dry_run.map(missing_keys).unwrap_or_default() {
        out.push_str(&format!(
            "Key: {} is not set (endpoint {}): the run itself needs it\n",
            k["variable"].as_str().unwrap_or_default(),
            k["endpoint"].as_str().unwrap_or_default()
        ));
    }
    out
}

/// The environment variables named by the routes file that hold no key now (names only).
fn missing_keys(cfg: &Config) -> Vec<serde_json::Value> {
    let unset = |v: &str| std::env::var(v).map_or(true, |k| k.trim().is_empty());
    let mut out = Vec::new();
    for ep in cfg.endpoints.values() {
        let vars = ep
            .api_key_env
            .iter()
            .chain(ep.provider_keys.values().map(|k| &k.env));
        for var in vars.filter(|v| unset(v)) {
            out.push(serde_json::json!({"endpoint": ep.name, "variable": var}));
        }
    }
    out
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

/// A judge estimate reduced by the verdicts already in the journal (not asked again).
fn judge_left(mut j: JudgeEstimate, earlier: &journal::JournalContents) -> JudgeEstimate {
    let judged = earlier
        .rows
        .iter()
        .filter(|r| r.kind == journal::CallKind::Judge && r.model == j.model)
        .count()
        .min(j.calls);
    let left = j.calls - judged;
    j.est_cost = j
        .est_cost
        .map(|c| Usd(c.0 * left as f64 / j.calls.max(1) as f64));
    j.calls = left;
    j
}

/// The plan: on stdout for `--dry-run` (as JSON with `--json`), else on stderr unless quiet.
fn show_plan(
    a: &RunArgs,
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    estimate: &Estimate,
    mode: ProgressMode,
    (prices, now): (&prices::Prices, jiff::Timestamp),
) {
    if a.dry_run && a.json {
        let mut v = plan_json(plan, judge, estimate, a.max_spend);
        v["prices"] = serde_json::json!({
            "source": prices.source,
            "date": prices.date.to_string(),
            "age_days": prices.age_days(now),
            "warning": prices.staleness_warning(now),
        });
        v["missing_keys"] = missing_keys(cfg).into();
        outln!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let mut text = describe_plan(cfg, plan, judge, estimate, a.max_spend);
    text.push_str(&prices_lines(prices, now, a.dry_run.then_some(cfg)));
    if a.dry_run {
        out!("{text}");
    } else if mode != ProgressMode::Quiet {
        eout!("{text}");
    }
}

/// Refuse (exit 2) to resume a run from inputs that change answers or prices, unless `--force`.
fn check_resume(
    a: &RunArgs,
    dir: &Path,
    m: &Manifest,
    refs: &Refs,
    repeats: u32,
    mode: ProgressMode,
) -> anyhow::Result<()> {
    let differs = differences(m, refs, repeats);
    if differs.is_empty() {
        return Ok(());
    }
    let list: String = differs.iter().map(|d| format!("\n  {d}")).collect();
    if !a.force {
        return Err(UsageError(format!(
            "cannot resume {}: it was made from other inputs than these:{list}\nresuming would mix answers to different questions in one journal; start a new run, or pass --force to resume anyway",
            dir.display()
        ))
        .into());
    }
    if mode != ProgressMode::Quiet {
        eoutln!(
            "Resuming {} with --force although its inputs differ:{list}",
            dir.display()
        );
    }
    Ok(())
}

/// What a run is made from, as recorded in run.json.
struct Refs {
    routes: FileRef,
    dataset: FileRef,
    prices: FileRef,
    /// The routes file's hash without its throughput settings ([`run_dir::answers_sha256`]).
    routes_answers: Option<String>,
}

impl Refs {
    fn new(routes_path: &Path, dataset_path: &Path, cfg: &Config, ds: &Dataset) -> Refs {
        Refs {
            routes: FileRef {
                path: super::display_path(routes_path),
                sha256: cfg.sha256.clone(),
            },
            dataset: FileRef {
                path: super::display_path(dataset_path),
                sha256: ds.sha256.clone(),
            },
            prices: FileRef {
                path: prices::SNAPSHOT_SOURCE.into(),
                sha256: sha256_hex(prices::SNAPSHOT_JSON.as_bytes()),
            },
            routes_answers: std::fs::read_to_string(routes_path)
                .ok()
                .and_then(|t| run_dir::answers_sha256(&t)),
        }
    }

    /// A resumed run's manifest, running again from these inputs.
    fn resumed(self, mut m: Manifest, a: &RunArgs, cfg: &Config, repeats: u32) -> Manifest {
        m.finished_at = None;
        m.status = "running".into();
        m.routes = self.routes;
        m.dataset = self.dataset;
        m.prices = self.prices;
        m.settings.repeats = repeats;
        m.settings.max_spend_usd = a.max_spend;
        m.settings.routes_answers_sha256 = self.routes_answers;
        m.models = cfg.candidates().map(|m| m.id.to_string()).collect();
        m.classifiers = cfg.classifiers().iter().map(|m| m.to_string()).collect();
        m.simulated = cfg.endpoints.values().any(|e| e.kind == EndpointKind::Sim);
        m
    }

    /// A new run's manifest.
    fn fresh(
        self,
        run_id: String,
        now: jiff::Timestamp,
        a: &RunArgs,
        cfg: &Config,
        repeats: u32,
    ) -> Manifest {
        Manifest {
            tool: "routecal".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            run_id,
            started_at: now.to_string(),
            finished_at: None,
            status: "running".into(),
            routes: self.routes,
            dataset: self.dataset,
            prices: self.prices,
            routes_copy: None,
            settings: Settings {
                repeats,
                max_spend_usd: a.max_spend,
                routes_answers_sha256: self.routes_answers,
            },
            models: cfg.candidates().map(|m| m.id.to_string()).collect(),
            classifiers: cfg.classifiers().iter().map(|m| m.to_string()).collect(),
            simulated: cfg.endpoints.values().any(|e| e.kind == EndpointKind::Sim),
            totals: Totals::default(),
        }
    }
}

/// The inputs of a resumed run: those named on the command line, else the run's own.
fn resume_inputs(a: &RunArgs, dir: &Path, m: &Manifest) -> (PathBuf, PathBuf) {
    if let Some(s) = &a.inputs.suite {
        return (s.join("routes.toml"), s.join("dataset.jsonl"));
    }
    let routes = a
        .inputs
        .routes
        .clone()
        .unwrap_or_else(|| super::report::locate(dir, &m.routes.path));
    let dataset = a
        .inputs
        .dataset
        .clone()
        .unwrap_or_else(|| super::report::locate(dir, &m.dataset.path));
    (routes, dataset)
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// What differs between a run's manifest and the inputs of its resumption, one line each.
/// A routes file whose answers hash (`answers`, see [`run_dir::answers_sha256`]) matches the
/// run's differs only in throughput settings, comments or layout: that is no difference.
fn differences(m: &Manifest, refs: &Refs, repeats: u32) -> Vec<String> {
    let mut out = Vec::new();
    let answers = refs.routes_answers.as_deref();
    let same_answers = answers.is_some() && m.settings.routes_answers_sha256.as_deref() == answers;
    for (what, old, new) in [
        ("routes file", &m.routes, &refs.routes),
        ("dataset", &m.dataset, &refs.dataset),
        ("prices", &m.prices, &refs.prices),
    ] {
        if what == "routes file" && same_answers {
            continue;
        }
        if old.sha256 != new.sha256 {
            out.push(format!(
                "{what} {}: sha256 {} in run.json, {} now{}",
                new.path,
                short(&old.sha256),
                short(&new.sha256),
                if old.path != new.path {
                    format!(" (the run used {})", old.path)
                } else {
                    String::new()
                }
            ));
        }
    }
    if m.settings.repeats != repeats {
        out.push(format!(
            "settings: repeats {} in run.json, {repeats} now",
            m.settings.repeats
        ));
    }
    out
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

/// How long a plan is expected to take: the candidate and classifier calls per endpoint
/// (endpoints work side by side), then the judge's.
struct Durations {
    calls: Vec<duration::EndpointDuration>,
    judge: Option<duration::EndpointDuration>,
}

impl Durations {
    fn new(
        cfg: &Config,
        plan: &Plan,
        judge: Option<&JudgeEstimate>,
        providers: &std::collections::HashMap<String, Arc<dyn provider::Provider>>,
    ) -> Durations {
        let rpm = |ep: &crate::config::Endpoint| match providers.get(&ep.name) {
            Some(p) => benchmark::requests_per_minute(ep, &**p),
            None => ep.requests_per_minute,
        };
        let judge_calls = judge.filter(|j| j.calls > 0).map(|j| {
            let out = crate::benchmark::judge_phase::EXPECTED_JUDGE_OUTPUT_TOKENS;
            let shape = (cfg.model(&j.model).endpoint.as_str(), &j.model, out);
            std::iter::repeat_n(shape, j.calls)
        });
        Durations {
            calls: duration::estimate(cfg, duration::shapes(&plan.calls), rpm),
            judge: judge_calls.and_then(|c| duration::estimate(cfg, c, rpm).pop()),
        }
    }

    /// Expected wall time of the whole plan, in seconds.
    fn total_s(&self) -> f64 {
        let calls = self.calls.iter().map(|d| d.seconds).fold(0.0, f64::max);
        calls + self.judge.as_ref().map_or(0.0, |d| d.seconds)
    }

    fn describe(&self) -> String {
        let mut out = format!("Estimated duration: {}\n", duration::about(self.total_s()));
        for d in &self.calls {
            out.push_str(&format!("  {}\n", d.describe()));
        }
        if let Some(d) = &self.judge {
            out.push_str(&format!("  then the judge, {}\n", d.describe()));
        }
        out
    }

    fn json(&self) -> serde_json::Value {
        let one = |d: &duration::EndpointDuration| {
            serde_json::json!({
                "endpoint": d.endpoint,
                "calls": d.calls,
                "max_concurrency": d.max_concurrency,
                "requests_per_minute": d.requests_per_minute,
                "est_latency_s": d.latency_s,
                "est_duration_s": d.seconds,
            })
        };
        serde_json::json!({
            "est_duration_s": self.total_s(),
            "endpoints": self.calls.iter().map(one).collect::<Vec<_>>(),
            "judge": self.judge.as_ref().map(one),
        })
    }
}

/// The spend a plan expects on live endpoints, before its first call.
struct Estimate {
    /// Classifier and candidate calls.
    calls: f64,
    /// Judge verdicts (at most; cached verdicts cost nothing).
    judge: f64,
    /// Spent by the earlier part of a resumed run.
    already: f64,
    time: Durations,
}

impl Estimate {
    fn new(plan: &Plan, judge: Option<&JudgeEstimate>, already: f64, time: Durations) -> Estimate {
        Estimate {
            time,
            calls: plan.est_live_spend().0,
            judge: judge
                .filter(|j| j.live)
                .and_then(|j| j.est_cost)
                .map_or(0.0, |c| c.0),
            already,
        }
    }

    fn total(&self) -> f64 {
        self.calls + self.judge + self.already
    }
}

/// Live models whose cost cannot be estimated, with calls still to make.
fn unpriced_live(cfg: &Config, plan: &Plan, judge: Option<&JudgeEstimate>) -> Vec<String> {
    let mut out: Vec<String> = plan
        .per_model
        .iter()
        .filter(|m| m.live && m.est_cost.is_none() && m.calls > 0)
        .map(|m| format!("{} (endpoint {})", m.model, m.endpoint))
        .collect();
    if let Some(j) = judge.filter(|j| j.live && j.est_cost.is_none() && j.calls > 0) {
        let entry = format!("{} (endpoint {})", j.model, cfg.model(&j.model).endpoint);
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    out
}

/// `--max-spend`: refuse, before any call, a plan that cannot be kept within the limit.
fn check_budget(
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    limit: f64,
) -> anyhow::Result<()> {
    let unpriced = unpriced_live(cfg, plan, judge);
    if !unpriced.is_empty() {
        return Err(UsageError(format!(
            "{}: --max-spend cannot be kept: no price for {}, so what their calls cost is unknown; give them input_per_mtok and output_per_mtok, or run without --max-spend. Nothing was called or written.",
            cfg.path.display(),
            unpriced.join(", ")
        ))
        .into());
    }
    if est.total() > limit {
        let already = if est.already > 0.0 {
            format!(
                " ({} already spent by this run)",
                text::usd(Some(est.already))
            )
        } else {
            String::new()
        };
        return Err(UsageError(format!(
            "the plan is estimated at {}{already}, over --max-spend {}: nothing was called or written. Raise --max-spend, or use fewer items, models or repeats.",
            text::usd(Some(est.total())),
            text::usd(Some(limit)),
        ))
        .into());
    }
    Ok(())
}

fn plan_json(
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    max_spend: Option<f64>,
) -> serde_json::Value {
    let models: Vec<serde_json::Value> = plan
        .per_model
        .iter()
        .map(|m| {
            serde_json::json!({
                "model": m.model.to_string(),
                "role": m.kind.as_str(),
                "endpoint": m.endpoint,
                "live": m.live,
                "calls": m.calls,
                "est_input_tokens": m.est_input_tokens,
                "est_output_tokens": m.est_output_tokens,
                "est_cost_usd": m.est_cost.map(|c| c.0),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": true,
        "calls": plan.calls.len(),
        "already_in_journal": plan.skipped,
        "models": models,
        "judge": judge.map(|j| serde_json::json!({
            "model": j.model.to_string(),
            "live": j.live,
            "calls": j.calls,
            "est_cost_usd": j.est_cost.map(|c| c.0),
        })),
        "already_spent_usd": est.already,
        "estimated_usd": est.total(),
        "max_spend_usd": max_spend,
        "duration": est.time.json(),
    })
}

fn describe_plan(
    cfg: &Config,
    plan: &Plan,
    judge: Option<&JudgeEstimate>,
    est: &Estimate,
    max_spend: Option<f64>,
) -> String {
    let classifiers = cfg.classifiers().len();
    let candidates = cfg.candidates().count();
    let mut out = format!(
        "Plan: {} items × ({} classifier{} + {} candidate{}) × {} repeat{} = {} calls\n",
        plan.items,
        classifiers,
        if classifiers == 1 { "" } else { "s" },
        candidates,
        if candidates == 1 { "" } else { "s" },
        plan.repeats,
        if plan.repeats == 1 { "" } else { "s" },
        plan.calls.len() + plan.skipped
    );
    if plan.skipped > 0 {
        out.push_str(&format!(
            "Resuming: {} of them are in the journal already and are not made again; {} to make\n",
            plan.skipped,
            plan.calls.len()
        ));
    }
    let rows: Vec<Vec<String>> = plan
        .per_model
        .iter()
        .map(|m| {
            let kind = cfg.endpoints[&m.endpoint].kind;
            vec![
                m.model.to_string(),
                m.kind.as_str().to_string(),
                format!("{} ({})", m.endpoint, kind.as_str()),
                m.calls.to_string(),
                format!("{}/{}", m.est_input_tokens, m.est_output_tokens),
                match (m.est_cost, m.live) {
                    (None, _) => "UNPRICED".to_string(),
                    (Some(c), true) => text::usd(Some(c.0)),
                    (Some(c), false) => {
                        format!("{} at list prices, not spent", text::usd(Some(c.0)))
                    }
                },
            ]
        })
        .collect();
    let table = text::table(
        &[
            "model",
            "role",
            "endpoint",
            "calls",
            "est. tokens in/out",
            "est. cost",
        ],
        &rows,
    );
    for line in table.lines().filter(|_| !rows.is_empty()) {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    if let Some(j) = judge.filter(|j| j.calls > 0) {
        out.push_str(&j.describe());
    }
    out.push_str(&format!(
        "Estimated spend on live endpoints: {}",
        text::usd(Some(est.calls + est.judge))
    ));
    if est.judge > 0.0 {
        out.push_str(&format!(
            " ({} calls, {} judge)",
            text::usd(Some(est.calls)),
            text::usd(Some(est.judge))
        ));
    }
    if est.already > 0.0 {
        out.push_str(&format!(
            ", {} already spent, {} in all",
            text::usd(Some(est.already)),
            text::usd(Some(est.total()))
        ));
    }
    out.push_str(&format!(
        "\n  (input tokens: characters / 4; output tokens: min({}, max_tokens) per answer, {} per verdict, 3 per classification)\n",
        benchmark::plan::EXPECTED_OUTPUT_TOKENS,
        crate::benchmark::judge_phase::EXPECTED_JUDGE_OUTPUT_TOKENS
    ));
    out.push_str(&est.time.describe());
    if let Some(limit) = max_spend {
        out.push_str(&format!(
            "Budget (--max-spend): {}{}\n",
            text::usd(Some(limit)),
            if est.total() > limit {
                ": the estimate is over it, the run is refused"
            } else {
                ""
            }
        ));
    }
    let unpriced = plan.unpriced();
    if !unpriced.is_empty() {
        out.push_str(&format!(
            "Warning: no price for {}: their cost is reported as unknown\n",
            unpriced
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
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
        let changes: Vec<serde_json::Value> =
            d.rec.changes().map(crate::report::json::decision).collect();
        let undecided: Vec<serde_json::Value> = d
            .rec
            .undecided()
            .map(crate::report::json::decision)
            .collect();
        let out = serde_json::json!({
            "run_id": d.manifest.run_id,
            "run_dir": dir_s,
            "status": d.manifest.status,
            "items": ds.items.len(),
            "calls": d.manifest.totals.calls,
            "errors": d.manifest.totals.errors,
            "spent_usd": d.manifest.totals.spent_usd,
            "table_changes": changes.len(),
            "changes": changes,
            "undecided": undecided,
            "warnings": d.warnings(),
            "failures": loud,
        });
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
