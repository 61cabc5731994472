//! The policy: from the measured figures and the current table to a recommended table, with the
//! reason and the evidence of every cell. One entry point, [`recommend`].
//!
//! A cell moves only on evidence, and every move that could give up quality must prove it gives
//! up little (see `cell` for the rules, [`crate::derive::paired`] for the statistics):
//!
//! - **Upgrade**: a challenger significantly better on quality than the current primary (the
//!   lower confidence bound of the paired Δ above 0), by a measured Δ of at least
//!   `min_quality_effect` (and above `quality_slack` in latency and default cells).
//! - **Saving** (cheaper in quality and default cells, faster in latency cells): the challenger's
//!   cost or p95 is significantly lower by at least `min_effect`, and it is shown
//!   non-inferior: the lower bound of Δquality is above −`quality_margin` (quality cells) or
//!   −`quality_slack` (latency and default cells).
//! - **Errors**: the current primary is replaced when its error rate is surely (Wilson lower
//!   bound) above `max_error_rate`.
//! - Several challengers of one cell form one family, tested with Holm's procedure; the
//!   interval printed with a decision is the one that made it.
//! - **Undecided** is an outcome: when the sample can show neither a gain nor that no
//!   challenger could win, the cell keeps its route and states the minimum detectable effect
//!   and the items that would settle its closest challenger. Cells under `min_samples` keep
//!   their route and are flagged.
//! - fallback: a candidate sharing a tier with the primary, from another provider if one exists,
//!   the one that most often rescues the items where the primary failed or scored lowest.

mod cell;

use cell::decide;

use std::cell::RefCell;

use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};

use crate::base::fmt::{p_value, percent_0dp, signed_delta_3dp};
use crate::base::types::{Cell, ModelId, Priority, TaskType};
use crate::config::{Config, Route, RouteTable};
use crate::dataset::Dataset;
use crate::derive::analyze::{Analysis, ItemOutcome};
use crate::derive::paired::{PairedDifference, Tested};
use crate::derive::stats::{self, Estimate, McNemar};

// ---------------------------------------------------------------------------------------------
// What the policy decides on

/// The per-item outcomes the policy decides on: one row per item and one column per candidate.
/// A bootstrap resample is another `Observations` whose rows repeat some items.
#[derive(Clone)]
pub struct Observations<'a> {
    tasks: Vec<TaskType>,
    models: Vec<&'a ModelId>,
    /// `cells[row][model]`.
    cells: Vec<Vec<Option<&'a ItemOutcome>>>,
}

impl<'a> Observations<'a> {
    /// Every dataset item that some candidate answered, in dataset order.
    pub fn new(a: &'a Analysis, ds: &Dataset) -> Observations<'a> {
        Observations::over(a, ds.items.iter().map(|i| (i.id.as_str(), i.task)))
    }

    /// Every item of `items` (id, task type) that some candidate answered, in that order: the
    /// dataset's items, or this week's and earlier weeks' items pooled
    /// ([`crate::derive::history`]).
    pub fn over<'i>(
        a: &'a Analysis,
        items: impl IntoIterator<Item = (&'i str, TaskType)>,
    ) -> Observations<'a> {
        let models: Vec<&ModelId> = a.models.iter().collect();
        let mut tasks = Vec::new();
        let mut cells = Vec::new();
        for (id, task) in items {
            let row: Vec<Option<&ItemOutcome>> = models
                .iter()
                .map(|m| a.outcomes.get(&(id.to_string(), (*m).clone())))
                .collect();
            if row.iter().any(Option::is_some) {
                tasks.push(task);
                cells.push(row);
            }
        }
        Observations {
            tasks,
            models,
            cells,
        }
    }

    /// Items (rows).
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// A bootstrap resample of the items, stratified by task type: each task type keeps its
    /// number of items, drawn with replacement from its own items.
    pub fn resample(&self, rng: &mut impl rand::Rng) -> Observations<'a> {
        use rand::RngExt;
        let mut rows = Vec::with_capacity(self.len());
        for t in TaskType::ALL {
            let own: Vec<usize> = (0..self.len()).filter(|&i| self.tasks[i] == *t).collect();
            for _ in 0..own.len() {
                rows.push(own[rng.random_range(0..own.len())]);
            }
        }
        Observations {
            tasks: rows.iter().map(|&i| self.tasks[i]).collect(),
            models: self.models.clone(),
            cells: rows.iter().map(|&i| self.cells[i].clone()).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Outputs

/// A warning about one cell's decision; its text (`Display`) is what `changes.csv`'s `flags`
/// column, the reasons and the run's warnings print. Cells with an equal flag are warned about
/// together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flag {
    /// The dataset has no item of the cell's task type.
    NoItems,
    /// No candidate has a graded answer on the cell's items.
    NoGradedAnswers,
    /// The current primary has no graded answer in this run.
    NotMeasured(ModelId),
    /// More graded items the cell needs before the policy may decide it.
    NeedsItems(usize),
    /// Every candidate's error rate is above `max_error_rate`.
    EveryCandidateErrs,
    /// No other measured candidate shares a tier (`tiers`, joined by `/`) with the primary.
    NoSameTierCandidate { tiers: String, primary: ModelId },
    /// The primary's tier has no candidate from another provider.
    FallbackSharesProvider { tiers: String, provider: String },
}

impl std::fmt::Display for Flag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Flag::NoItems => f.write_str("no items of this task type in the dataset"),
            Flag::NoGradedAnswers => f.write_str("no graded answers"),
            Flag::NotMeasured(m) => write!(f, "{m} was not measured"),
            Flag::NeedsItems(n) => write!(f, "needs {n} more graded items"),
            Flag::EveryCandidateErrs => f.write_str("every candidate errs too often"),
            Flag::NoSameTierCandidate { tiers, primary } => write!(
                f,
                "no other measured candidate shares a tier ({tiers}) with {primary}: the fallback is not re-chosen"
            ),
            Flag::FallbackSharesProvider { tiers, provider } => write!(
                f,
                "the {tiers} tier has no candidate from another provider than {provider}: the fallback shares the primary's provider"
            ),
        }
    }
}

/// Quality of `a` against `b` on the items both were graded on.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityComparison {
    /// The task type compared on; `None` is every item (the `[default]` route).
    pub task: Option<TaskType>,
    pub a: ModelId,
    pub b: ModelId,
    /// Items both were graded on.
    pub n: usize,
    pub quality_a: f64,
    pub quality_b: f64,
    /// `a − b`, with its paired interval at the configured confidence (Agresti–Min adjusted
    /// Wald, [`crate::derive::paired`]): the same procedure the decisions use, unadjusted for
    /// multiplicity.
    pub delta: Estimate,
    /// McNemar's discordant-pair counts (and its p-value, shown for reference), when both score
    /// pass/fail on every shared item.
    pub mcnemar: Option<McNemar>,
    /// Two-sided p-value of "equal quality" from the same paired statistic as `delta`.
    pub p_value: f64,
    /// The interval excludes 0 (equivalently `p_value < 1 − confidence`).
    pub significant: bool,
    /// Items a difference of this size would need to be significant (normal approximation).
    pub items_to_resolve: Option<usize>,
}

impl QualityComparison {
    /// The same comparison seen from `b`.
    pub fn reversed(&self) -> QualityComparison {
        QualityComparison {
            task: self.task,
            a: self.b.clone(),
            b: self.a.clone(),
            n: self.n,
            quality_a: self.quality_b,
            quality_b: self.quality_a,
            delta: Estimate {
                value: -self.delta.value,
                low: -self.delta.high,
                high: -self.delta.low,
            },
            mcnemar: self.mcnemar.map(|m| McNemar {
                a_only: m.b_only,
                b_only: m.a_only,
                ..m
            }),
            p_value: self.p_value,
            significant: self.significant,
            items_to_resolve: self.items_to_resolve,
        }
    }

    /// The test behind `delta`, `p_value` and `significant`.
    pub fn test(&self) -> &'static str {
        PAIRED_TEST
    }

    pub fn p_value(&self) -> Option<f64> {
        Some(self.p_value)
    }

    /// "Δ +0.200 [+0.080, +0.330], p = 0.004, n = 30", for reasons.
    pub fn describe(&self) -> String {
        format!(
            "{}, {}, n = {}",
            signed_delta_3dp(&self.delta),
            p_value(self.p_value),
            self.n
        )
    }
}

/// The name of the paired quality test in reports and CSVs.
pub const PAIRED_TEST: &str = "paired_z_agresti_min";

/// Which question a challenger's quality test answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Question {
    /// Is the challenger better (`H0: Δ ≤ 0`)?
    Superiority,
    /// Does the challenger lose at most the margin (`H0: Δ ≤ −margin`)? Asked of challengers
    /// that are significantly cheaper (or faster, in latency cells).
    NonInferiority,
}

impl Question {
    pub fn as_str(self) -> &'static str {
        match self {
            Question::Superiority => "superiority",
            Question::NonInferiority => "non_inferiority",
        }
    }
}

/// A challenger's quality test against the current primary, as one member of its cell's family.
#[derive(Debug, Clone, PartialEq)]
pub struct ChallengerTest {
    pub question: Question,
    /// The threshold of `H0: Δ ≤ theta` (0 or −margin), quality points.
    pub theta: f64,
    /// Challengers tested together in the cell (Holm's family size).
    pub family: usize,
    /// The paired difference challenger − current.
    pub difference: PairedDifference,
    /// The Holm outcome: adjusted p, the level, the interval at that level, rejected or not.
    pub tested: Tested,
}

impl ChallengerTest {
    /// The two-sided confidence of the printed interval (`1 − 2·level`).
    pub fn confidence(&self) -> f64 {
        1.0 - 2.0 * self.tested.level
    }

    /// "Δ +0.100 [+0.021, +0.179] at 99.4% (Holm, 4 challengers), p = 0.012 adjusted for
    /// H0: Δ ≤ +0.000, n = 120".
    pub fn describe(&self) -> String {
        let family = if self.family > 1 {
            format!(" (Holm, {} challengers)", self.family)
        } else {
            String::new()
        };
        format!(
            "{} at {:.1}%{family}, {}{} for H0: Δ ≤ {:+.3}, n = {}",
            signed_delta_3dp(&self.tested.interval),
            self.confidence() * 100.0,
            p_value(self.tested.p_adjusted),
            if self.family > 1 { " adjusted" } else { "" },
            self.theta,
            self.difference.n
        )
    }
}

/// A challenger compared with the current primary, on the items both answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub challenger: ModelId,
    /// Quality difference challenger − current, paired on shared items: the decision's own
    /// interval (at the Holm level of `test`) when the challenger was tested, else the
    /// unadjusted one.
    pub delta_quality: Option<Estimate>,
    /// The decision's quality test of this challenger.
    pub test: Option<ChallengerTest>,
    /// Cost difference per 1,000 requests, USD, on the items both answered.
    pub delta_cost_per_1k: Option<f64>,
    /// Its interval (paired bootstrap of the per-item cost differences × 1,000).
    pub delta_cost_per_1k_ci: Option<Estimate>,
    /// p95 latency difference on the items both answered, milliseconds.
    pub delta_p95_ms: Option<f64>,
    /// Relative p95 difference (challenger / current − 1) with its paired interval.
    pub p95_change: Option<Estimate>,
    /// Relative cost difference (challenger / current − 1) with its paired interval.
    pub cost_change: Option<Estimate>,
    pub delta_error_rate: f64,
    /// Items both were graded on.
    pub n: usize,
    /// The quality test, challenger against current.
    pub quality: Option<QualityComparison>,
}

/// Why a cell came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A challenger is significantly better, or significantly cheaper (faster) and shown
    /// non-inferior, or the current primary surely errs too often.
    Changed,
    /// No challenger can win: each is shown worse than the margin, or not better by the
    /// minimum effect.
    KeptBest,
    /// The sample shows neither a gain nor that no challenger could win: the route stays, and
    /// the decision states its minimum detectable effect and the items that would settle it.
    Undecided,
    /// Too few graded items to decide.
    KeptTooFewSamples,
    /// The current primary was not measured in this run.
    KeptUnmeasured,
    /// No candidate is usable (no data, or every one errs too often).
    KeptNoCandidate,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Changed => "changed",
            Outcome::KeptBest => "kept_best",
            Outcome::Undecided => "undecided",
            Outcome::KeptTooFewSamples => "kept_too_few_samples",
            Outcome::KeptUnmeasured => "kept_unmeasured",
            Outcome::KeptNoCandidate => "kept_no_candidate",
        }
    }
}

/// What the policy decided for one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None` is the `[default]` route.
    pub cell: Option<Cell>,
    pub old: Route,
    pub new: Route,
    pub reason: String,
    /// The primary's outcome (the fallback may change on its own).
    pub outcome: Outcome,
    /// Why the fallback is what it is.
    pub fallback_reason: String,
    pub evidence: Option<Evidence>,
    /// Warnings about this cell (too few samples, no same-tier fallback, …).
    pub flags: Vec<Flag>,
    /// Graded items behind the decision (of the chosen primary).
    pub n: usize,
    /// More graded items the cell needs before the policy may decide it.
    pub samples_needed: Option<usize>,
    /// Smallest quality difference (points) the decision's test detects with 80% power at this
    /// sample size and level, for the challenger in `evidence`.
    pub mde: Option<f64>,
    /// Undecided cells: more paired items that would settle the closest challenger, if the
    /// measured difference and spread hold.
    pub items_needed: Option<usize>,
    /// Whether the cell is written explicitly in the recommended table.
    pub explicit: bool,
    /// Undecided cells: the challengers not yet shown unable to win (what more items could
    /// still move the cell to), each with its test, in the cell's test order. Empty for every
    /// other outcome.
    pub open_challengers: Vec<(ModelId, ChallengerTest)>,
}

impl Decision {
    pub fn changed(&self) -> bool {
        self.old != self.new
    }

    pub fn label(&self) -> String {
        self.cell
            .map(|c| c.to_string())
            .unwrap_or_else(|| "default".into())
    }
}

pub struct Recommendation {
    pub table: RouteTable,
    pub decisions: Vec<Decision>,
}

impl Recommendation {
    pub fn changes(&self) -> impl Iterator<Item = &Decision> {
        self.decisions.iter().filter(|d| d.changed())
    }

    /// Cells the sample could not decide (they keep their route).
    pub fn undecided(&self) -> impl Iterator<Item = &Decision> {
        self.decisions
            .iter()
            .filter(|d| d.outcome == Outcome::Undecided)
    }
}

// ---------------------------------------------------------------------------------------------
// The entry point

/// The recommended table and the decision behind every cell.
pub fn recommend(cfg: &Config, obs: &Observations) -> Recommendation {
    let mut decisions = Vec::new();

    // [default] (the default objective over every item) and each task type's cells are
    // independent, each seeded by its own labels: they are decided in parallel.
    let (mut default_decision, per_task) = rayon::join(
        || {
            let all = Scope::new(cfg, obs, None);
            decide(cfg, &all, None, Priority::Default, &cfg.table.default)
        },
        || {
            TaskType::ALL
                .par_iter()
                .map(|&task| {
                    let scope = Scope::new(cfg, obs, Some(task));
                    if scope.rows.is_empty() {
                        return Vec::new();
                    }
                    Priority::ALL
                        .iter()
                        .map(|&prio| {
                            let cell = Cell::new(task, prio);
                            let current = cfg.table.route(cell).clone();
                            decide(cfg, &scope, Some(cell), prio, &current)
                        })
                        .collect::<Vec<_>>()
                })
                .collect::<Vec<_>>()
        },
    );
    default_decision.explicit = true;
    let new_default = default_decision.new.clone();
    decisions.push(default_decision);
    for mut d in per_task.into_iter().flatten() {
        let cell = d.cell.expect("task decisions have cells");
        // Keep the table compact: a cell that is not listed and resolves to the new default
        // stays unlisted.
        d.explicit = cfg.table.cells.contains_key(&cell) || d.new != new_default;
        decisions.push(d);
    }
    // Listed cells of task types without data stay as they are.
    for (cell, route) in &cfg.table.cells {
        if !decisions.iter().any(|d| d.cell == Some(*cell)) {
            decisions.push(Decision {
                cell: Some(*cell),
                old: route.clone(),
                new: route.clone(),
                reason: "kept: the dataset has no items of this task type".into(),
                outcome: Outcome::KeptNoCandidate,
                fallback_reason: "kept: no data".into(),
                evidence: None,
                flags: vec![Flag::NoItems],
                n: 0,
                samples_needed: Some(cfg.policy.min_samples),
                mde: None,
                items_needed: None,
                explicit: true,
                open_challengers: Vec::new(),
            });
        }
    }
    decisions.sort_by_key(|d| d.cell);
    let cells = decisions
        .iter()
        .filter_map(|d| Some((d.cell?, d)))
        .filter(|(_, d)| d.explicit)
        .map(|(c, d)| (c, d.new.clone()))
        .collect();
    Recommendation {
        table: RouteTable {
            default: new_default,
            cells,
        },
        decisions,
    }
}

/// Rosters up to this many graded candidates in a scope are compared pair by pair; larger ones
/// only against the scope's best and its cells' current primaries, so the report phase grows
/// linearly with the number of models (10,000 candidates would be 50 million pairs a scope).
pub const ALL_PAIRS_UP_TO: usize = 20;

/// Candidates compared on quality within each task type (and over every item), with the same
/// seeds the policy uses, so the numbers match its reasons: every pair while a scope has at most
/// [`ALL_PAIRS_UP_TO`] graded candidates, else each candidate against the scope's best and
/// against the current primaries of the scope's cells.
pub fn pairwise(cfg: &Config, obs: &Observations) -> Vec<QualityComparison> {
    let scopes: Vec<Option<TaskType>> = std::iter::once(None)
        .chain(TaskType::ALL.iter().copied().map(Some))
        .collect();
    let per_scope: Vec<Vec<QualityComparison>> = scopes
        .par_iter()
        .map(|&task| {
            let scope = Scope::new(cfg, obs, task);
            scope_pairs(cfg, &scope)
                .into_iter()
                .filter_map(|(i, j)| scope.quality(i, j))
                .collect()
        })
        .collect();
    per_scope.into_iter().flatten().collect()
}

/// The (lower, higher) profile pairs one scope compares, in a stable order.
fn scope_pairs(cfg: &Config, scope: &Scope) -> Vec<(usize, usize)> {
    let graded: Vec<usize> = (0..scope.profiles.len())
        .filter(|&i| scope.profiles[i].quality.is_some())
        .collect();
    if graded.len() <= ALL_PAIRS_UP_TO {
        return graded
            .iter()
            .enumerate()
            .flat_map(|(k, &i)| graded[k + 1..].iter().map(move |&j| (i, j)))
            .collect();
    }
    let best = graded.iter().copied().max_by(|&x, &y| {
        let q = |i: usize| scope.profiles[i].quality.unwrap_or(0.0);
        q(x).total_cmp(&q(y))
            .then_with(|| scope.profiles[y].model.cmp(scope.profiles[x].model))
    });
    let mut anchors: Vec<usize> = best.into_iter().collect();
    let currents = match scope.task {
        None => vec![&cfg.table.default.primary],
        Some(t) => Priority::ALL
            .iter()
            .map(|&p| &cfg.table.route(Cell::new(t, p)).primary)
            .collect(),
    };
    for m in currents {
        if let Some(i) = scope.find(m).filter(|i| graded.contains(i))
            && !anchors.contains(&i)
        {
            anchors.push(i);
        }
    }
    let mut pairs: Vec<(usize, usize)> = graded
        .iter()
        .flat_map(|&i| anchors.iter().map(move |&a| (i.min(a), i.max(a))))
        .filter(|(i, j)| i != j)
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
}

// ---------------------------------------------------------------------------------------------
// One scope: a task type (or every item) and the candidates' figures on it

/// A candidate's figures on one scope.
struct Profile<'a> {
    model: &'a ModelId,
    /// Column in the observations.
    col: usize,
    n_graded: usize,
    quality: Option<f64>,
    /// Mean cost per call; `None` when unpriced (or nothing succeeded).
    cost: Option<f64>,
    p95: Option<f64>,
    error_rate: f64,
    /// Calls made and how many failed (for the error-rate interval).
    calls: usize,
    errors: usize,
}

/// Which per-item figure an objective comparison reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Measure {
    Cost,
    P95,
}

struct Scope<'o, 'a> {
    cfg: &'o Config,
    obs: &'o Observations<'a>,
    task: Option<TaskType>,
    rows: Vec<usize>,
    profiles: Vec<Profile<'a>>,
    quality_memo: RefCell<HashMap<(usize, usize), Option<QualityComparison>>>,
    objective_memo: RefCell<HashMap<(Measure, usize, usize), Option<Estimate>>>,
}

impl<'o, 'a> Scope<'o, 'a> {
    fn new(cfg: &'o Config, obs: &'o Observations<'a>, task: Option<TaskType>) -> Self {
        let rows: Vec<usize> = (0..obs.len())
            .filter(|&i| task.is_none_or(|t| obs.tasks[i] == t))
            .collect();
        let profiles = obs
            .models
            .iter()
            .enumerate()
            .filter(|(_, m)| cfg.models.get(*m).is_some_and(|x| x.candidate))
            .filter_map(|(col, m)| {
                let outs: Vec<&ItemOutcome> =
                    rows.iter().filter_map(|&r| obs.cells[r][col]).collect();
                if outs.is_empty() {
                    return None;
                }
                let scores: Vec<f64> = outs.iter().filter_map(|o| o.score).collect();
                let answered: Vec<&&ItemOutcome> =
                    outs.iter().filter(|o| o.n_errors < o.n_calls).collect();
                let costs: Vec<f64> = answered.iter().filter_map(|o| o.cost_usd).collect();
                let lats: Vec<&[f64]> = outs.iter().map(|o| o.latencies.as_slice()).collect();
                let calls: usize = outs.iter().map(|o| o.n_calls).sum();
                let errors: usize = outs.iter().map(|o| o.n_errors).sum();
                Some(Profile {
                    model: m,
                    col,
                    n_graded: scores.len(),
                    quality: stats::mean(&scores),
                    cost: if costs.len() == answered.len() {
                        stats::mean(&costs)
                    } else {
                        None
                    },
                    p95: stats::pooled_quantile(&lats, 0.95),
                    error_rate: if calls == 0 {
                        0.0
                    } else {
                        errors as f64 / calls as f64
                    },
                    calls,
                    errors,
                })
            })
            .collect();
        Scope {
            cfg,
            obs,
            task,
            rows,
            profiles,
            quality_memo: RefCell::default(),
            objective_memo: RefCell::default(),
        }
    }

    fn label(&self) -> &'static str {
        self.task.map(|t| t.as_str()).unwrap_or("all")
    }

    fn find(&self, m: &ModelId) -> Option<usize> {
        self.profiles.iter().position(|p| p.model == m)
    }

    fn outcome(&self, row: usize, p: usize) -> Option<&'a ItemOutcome> {
        self.obs.cells[row][self.profiles[p].col]
    }

    /// Quality of profile `i` against profile `j` (`i − j`), memoised; computed once per
    /// unordered pair in model order so both directions share one resampling.
    fn quality(&self, i: usize, j: usize) -> Option<QualityComparison> {
        let (lo, hi) = if self.profiles[i].model <= self.profiles[j].model {
            (i, j)
        } else {
            (j, i)
        };
        let c = self
            .quality_memo
            .borrow_mut()
            .entry((lo, hi))
            .or_insert_with(|| self.compute_quality(lo, hi))
            .clone()?;
        Some(if lo == i { c } else { c.reversed() })
    }

    /// Paired scores of profiles `i` and `j` on the items both were graded on, and whether
    /// every pair is pass/fail.
    fn paired_scores(&self, i: usize, j: usize) -> (Vec<f64>, Vec<f64>, bool) {
        let mut binary = true;
        let (a, b): (Vec<f64>, Vec<f64>) = self
            .rows
            .iter()
            .filter_map(|&r| {
                let (x, y) = (self.outcome(r, i)?, self.outcome(r, j)?);
                let pair = (x.score?, y.score?);
                binary &= x.binary && y.binary;
                Some(pair)
            })
            .unzip();
        (a, b, binary)
    }

    /// The paired quality difference `i − j`.
    fn difference(&self, i: usize, j: usize) -> Option<PairedDifference> {
        let (a, b, _) = self.paired_scores(i, j);
        PairedDifference::new(&a, &b)
    }

    fn compute_quality(&self, i: usize, j: usize) -> Option<QualityComparison> {
        let p = &self.cfg.policy;
        let (a, b, binary) = self.paired_scores(i, j);
        let diff = PairedDifference::new(&a, &b)?;
        let (ma, mb) = (self.profiles[i].model, self.profiles[j].model);
        let alpha = (1.0 - p.confidence) / 2.0;
        let delta = diff.interval(alpha);
        let one_sided = diff.p_above(0.0);
        let p_value = (2.0 * one_sided.min(1.0 - one_sided)).min(1.0);
        let mcnemar = if binary { stats::mcnemar(&a, &b) } else { None };
        let diffs: Vec<f64> = a.iter().zip(&b).map(|(x, y)| x - y).collect();
        Some(QualityComparison {
            task: self.task,
            a: ma.clone(),
            b: mb.clone(),
            n: a.len(),
            quality_a: stats::mean(&a).unwrap_or(0.0),
            quality_b: stats::mean(&b).unwrap_or(0.0),
            significant: delta.above_zero() || delta.below_zero(),
            delta,
            mcnemar,
            p_value,
            items_to_resolve: stats::items_to_resolve(&diffs, p.confidence),
        })
    }

    /// Relative difference `i / j − 1` of mean cost or p95 latency on the items both answered.
    fn objective(&self, what: Measure, i: usize, j: usize) -> Option<Estimate> {
        *self
            .objective_memo
            .borrow_mut()
            .entry((what, i, j))
            .or_insert_with(|| self.compute_objective(what, i, j))
    }

    fn compute_objective(&self, what: Measure, i: usize, j: usize) -> Option<Estimate> {
        let p = &self.cfg.policy;
        let label = format!(
            "{}|{what:?}|{}|{}",
            self.label(),
            self.profiles[i].model,
            self.profiles[j].model
        );
        let mut rng = stats::rng_for(p.seed, &label);
        match what {
            Measure::Cost => {
                let (a, b) = self.paired_costs(i, j);
                if a.is_empty() {
                    return None;
                }
                stats::paired_relative_mean(&a, &b, p.bootstrap_resamples, p.confidence, &mut rng)
            }
            Measure::P95 => {
                let (a, b) = self.paired_latencies(i, j);
                if a.is_empty() {
                    return None;
                }
                stats::paired_relative_quantile(
                    &a,
                    &b,
                    0.95,
                    p.bootstrap_resamples,
                    p.confidence,
                    &mut rng,
                )
            }
        }
    }

    fn paired_costs(&self, i: usize, j: usize) -> (Vec<f64>, Vec<f64>) {
        let answered = |o: &ItemOutcome| o.n_errors < o.n_calls;
        self.rows
            .iter()
            .filter_map(|&r| {
                let (x, y) = (self.outcome(r, i)?, self.outcome(r, j)?);
                if !answered(x) || !answered(y) {
                    return None;
                }
                Some((x.cost_usd?, y.cost_usd?))
            })
            .unzip()
    }

    fn paired_latencies(&self, i: usize, j: usize) -> (Vec<&'a [f64]>, Vec<&'a [f64]>) {
        self.rows
            .iter()
            .filter_map(|&r| {
                let (x, y) = (self.outcome(r, i)?, self.outcome(r, j)?);
                (!x.latencies.is_empty() && !y.latencies.is_empty())
                    .then_some((x.latencies.as_slice(), y.latencies.as_slice()))
            })
            .unzip()
    }

    /// The evidence for replacing profile `cur` by profile `ch`.
    fn evidence(&self, ch: usize, cur: usize) -> Evidence {
        let p = &self.cfg.policy;
        let (ca, cb) = self.paired_costs(ch, cur);
        let cost_diff: Vec<f64> = ca.iter().zip(&cb).map(|(x, y)| (x - y) * 1000.0).collect();
        let (la, lb) = self.paired_latencies(ch, cur);
        let quality = self.quality(ch, cur);
        Evidence {
            challenger: self.profiles[ch].model.clone(),
            delta_quality: quality.as_ref().map(|q| q.delta),
            test: None,
            delta_cost_per_1k: stats::mean(&cost_diff),
            delta_cost_per_1k_ci: stats::bootstrap_mean(
                &cost_diff,
                p.bootstrap_resamples,
                p.confidence,
                &mut stats::rng_for(
                    p.seed,
                    &format!(
                        "{}|cost1k|{}|{}",
                        self.label(),
                        self.profiles[ch].model,
                        self.profiles[cur].model
                    ),
                ),
            ),
            delta_p95_ms: match (
                stats::pooled_quantile(&la, 0.95),
                stats::pooled_quantile(&lb, 0.95),
            ) {
                (Some(x), Some(y)) => Some(x - y),
                _ => None,
            },
            p95_change: self.objective(Measure::P95, ch, cur),
            cost_change: self.objective(Measure::Cost, ch, cur),
            delta_error_rate: self.profiles[ch].error_rate - self.profiles[cur].error_rate,
            n: quality.as_ref().map(|q| q.n).unwrap_or(0),
            quality,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fallback

/// Same tier as the primary, preferring another provider, then the candidate that most often
/// rescues the items where the primary failed or scored in its lowest quarter.
fn choose_fallback(
    cfg: &Config,
    s: &Scope,
    primary: usize,
    eligible: &[usize],
    current: &Route,
    flags: &mut Vec<Flag>,
) -> (Option<ModelId>, String) {
    let pm = s.profiles[primary].model;
    let keep_current = current.fallback.clone().filter(|f| f != pm);
    let Some(pconf) = cfg.models.get(pm) else {
        return (keep_current, "kept".into());
    };
    let same_tier: Vec<usize> = eligible
        .iter()
        .copied()
        .filter(|&i| {
            i != primary
                && cfg
                    .models
                    .get(s.profiles[i].model)
                    .is_some_and(|m| m.shares_tier(pconf))
        })
        .collect();
    let tiers = pconf
        .tiers
        .iter()
        .map(|t| t.as_str())
        .collect::<Vec<_>>()
        .join("/");
    if same_tier.is_empty() {
        flags.push(Flag::NoSameTierCandidate {
            tiers: tiers.clone(),
            primary: pm.clone(),
        });
        return (
            keep_current,
            "kept: no other candidate in the primary's tier".into(),
        );
    }
    let other_provider: Vec<usize> = same_tier
        .iter()
        .copied()
        .filter(|&i| s.profiles[i].model.provider() != pm.provider())
        .collect();
    let pool = if other_provider.is_empty() {
        flags.push(Flag::FallbackSharesProvider {
            tiers,
            provider: pm.provider().to_string(),
        });
        same_tier
    } else {
        other_provider
    };

    let weak = weak_items(s, primary);
    let rescue = |i: usize| rescue_share(s, primary, &weak, i);
    let best = pool
        .iter()
        .copied()
        .max_by(|&x, &y| {
            rescue(x)
                .total_cmp(&rescue(y))
                .then_with(|| {
                    s.profiles[x]
                        .quality
                        .unwrap_or(0.0)
                        .total_cmp(&s.profiles[y].quality.unwrap_or(0.0))
                })
                .then_with(|| s.profiles[y].model.cmp(s.profiles[x].model))
        })
        .expect("the pool is not empty");
    let describe = |i: usize| {
        format!(
            "{} rescues {} of the {} items where {pm} failed or scored lowest",
            s.profiles[i].model,
            percent_0dp(rescue(i)),
            weak.len()
        )
    };
    // Hysteresis: the current fallback stays unless another rescues clearly more.
    if let Some(f) = &keep_current
        && let Some(cf) = pool.iter().copied().find(|&i| s.profiles[i].model == f)
        && rescue(best) - rescue(cf) < cfg.policy.min_effect
    {
        return (Some(f.clone()), format!("kept: {}", describe(cf)));
    }
    (Some(s.profiles[best].model.clone()), describe(best))
}

/// The items where the primary failed, or scored in its lowest quarter (below its best score,
/// so that a primary that passes 90% of pass/fail items is judged on its failures).
fn weak_items(s: &Scope, primary: usize) -> Vec<usize> {
    let scores: Vec<f64> = s
        .rows
        .iter()
        .filter_map(|&r| s.outcome(r, primary)?.score)
        .collect();
    let top = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let cut = stats::quantile(&scores, 0.25).unwrap_or(f64::NEG_INFINITY);
    s.rows
        .iter()
        .copied()
        .filter(|&r| match s.outcome(r, primary) {
            None => false,
            Some(o) if !o.ok => true,
            Some(o) => o
                .score
                .is_some_and(|x| if cut < top { x <= cut } else { x < top }),
        })
        .collect()
}

/// Share of the `weak` items on which candidate `i` does better than the primary (0–1).
fn rescue_share(s: &Scope, primary: usize, weak: &[usize], i: usize) -> f64 {
    if weak.is_empty() {
        return 0.0;
    }
    let rescued = weak
        .iter()
        .filter(|&&r| {
            let ours = s.outcome(r, primary);
            match s.outcome(r, i) {
                Some(t) if t.ok => match (t.score, ours.and_then(|o| o.score)) {
                    (Some(x), Some(y)) => x > y,
                    (Some(_), None) => true,
                    (None, _) => ours.is_some_and(|o| !o.ok),
                },
                _ => false,
            }
        })
        .count();
    rescued as f64 / weak.len() as f64
}

// ---------------------------------------------------------------------------------------------

/// The recommended table's primary for every cell, keyed for comparisons across resamples.
pub fn primaries(rec: &Recommendation) -> BTreeMap<String, ModelId> {
    rec.decisions
        .iter()
        .map(|d| (d.label(), d.new.primary.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::fmt::percent_change_interval;

    fn m(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    #[test]
    fn a_comparison_reads_the_same_from_either_side() {
        let c = QualityComparison {
            task: Some(TaskType::Math),
            a: m("a/x"),
            b: m("b/y"),
            n: 30,
            quality_a: 0.9,
            quality_b: 0.6,
            delta: Estimate {
                value: 0.3,
                low: 0.1,
                high: 0.45,
            },
            mcnemar: Some(McNemar {
                a_only: 12,
                b_only: 3,
                p_value: 0.035,
                exact: true,
            }),
            p_value: 0.035,
            significant: true,
            items_to_resolve: Some(12),
        };
        let r = c.reversed();
        assert_eq!((r.a.as_str(), r.b.as_str()), ("b/y", "a/x"));
        assert_eq!((r.quality_a, r.quality_b), (0.6, 0.9));
        assert_eq!(
            (r.delta.value, r.delta.low, r.delta.high),
            (-0.3, -0.45, -0.1)
        );
        let mc = r.mcnemar.unwrap();
        assert_eq!((mc.a_only, mc.b_only), (3, 12));
        assert_eq!(r.reversed(), c);
        assert_eq!(c.test(), "paired_z_agresti_min");
        assert_eq!(c.describe(), "Δ +0.300 [+0.100, +0.450], p = 0.035, n = 30");
    }

    #[test]
    fn changes_and_p_values_print_for_reasons() {
        let e = Estimate {
            value: -0.961,
            low: -0.97,
            high: -0.95,
        };
        assert_eq!(percent_change_interval(&e), "−96% [−97%, −95%]");
        assert_eq!(Outcome::Undecided.as_str(), "undecided");
    }
}
