//! Sequential sampling for `run --adaptive`: which items are drawn at each look, at which level
//! each look decides, which cells a look settles, and which (model, task type) pairs still need
//! answers. Pure: a function of the routes file, the dataset, the design (seed and looks) and the
//! graded outcomes, so a run, its resume, `report` and the benchmark all replay the same looks.
//!
//! - **Order.** The items of each task type are shuffled with the design's seed; look `k` of `K`
//!   has drawn the first `⌈k·N_t/K⌉` items of task type `t` (stratified batches: every look holds
//!   the same share of every task type).
//! - **Levels.** The policy's one-sided level `α = 1 − confidence` is spent over the looks with
//!   a Lan–DeMets error-spending function at information fraction `τ = k/K` (Lan & DeMets 1983,
//!   "Discrete sequential boundaries for clinical trials", *Biometrika* 70:659–663): by default
//!   the Hwang–Shih–DeCani family with `γ = `[`DEFAULT_GAMMA`] (Hwang, Shih & DeCani 1990,
//!   *Statistics in Medicine* 9:1439–1445), which spends almost nothing before the last looks,
//!   so early stops need overwhelming evidence and the last look tests close to `α`; runs
//!   recorded before the spending function was recorded use the O'Brien–Fleming type
//!   (O'Brien & Fleming 1979, *Biometrics* 35:549–556). The nominal level of look `k` is the
//!   one whose boundary `c_k` spends exactly `α(τ_k) − α(τ_{k−1})` given the earlier looks,
//!   computed by numerical integration of the score process (Armitage, McPherson & Rowe 1969;
//!   Jennison & Turnbull 2000, *Group Sequential Methods*, ch. 19). Look `k` runs the unchanged
//!   policy ([`crate::derive::policy::recommend`]: the same paired statistic, Holm family and
//!   cell questions) at `confidence = 1 − α_k`, so the chance of any wrong move over all looks
//!   stays at most `α` per cell family.
//! - **Stopping.** A cell is settled at the first look where it is `changed` or `kept_best`; its
//!   decision is frozen there. Futility stops are non-binding (they only ever keep the current
//!   route, so they cannot raise the chance of a wrong move): from the first look to the one
//!   before the last, an open challenger whose *predictive power* (the chance of its adoption
//!   by the last look, averaged over a flat posterior of its effect: Spiegelhalter, Freedman &
//!   Blackburn 1986, *Controlled Clinical Trials* 7:8–17) is below the design's threshold stops
//!   receiving items, and a cell none of whose challengers is left stops undecided. A
//!   (model, task type) pair stops receiving items when no open cell that reads that task type
//!   (its three priority cells and `[default]`) has the model as current primary or as a
//!   promising open challenger. A pair once stopped is not called again.
//! - **The end.** Cells still open after the last look take the last look's decision
//!   (`undecided` ones say what they would need).

use std::collections::{BTreeMap, BTreeSet};

use statrs::distribution::{Continuous, ContinuousCDF, Normal};

use crate::base::types::{Cell, ModelId, TaskType};
use crate::config::{Config, RouteTable};
use crate::dataset::Dataset;
use crate::derive::analyze::{Analysis, ItemOutcome};
use crate::derive::paired::PairedDifference;
use crate::derive::policy::{
    self, ChallengerTest, Decision, Observations, Outcome, Recommendation,
};

/// The share of the full design's candidate calls an adaptive run is expected to make: the
/// mean share measured by `cargo bench --bench adaptive` over its scenario mix (docs/adaptive.md).
/// A plan's forecast, not a promise: clear-cut rosters stop far earlier, close ones later.
pub const EXPECTED_SHARE: f64 = 0.48;

pub use crate::config::{DEFAULT_FUTILITY, DEFAULT_LOOKS};

/// The Hwang–Shih–DeCani `γ` of new adaptive runs.
pub const DEFAULT_GAMMA: f64 = -10.0;

/// The design of an adaptive run, recorded in run.json (`settings.adaptive`) so every replay
/// uses the same one.
pub use crate::store::manifest::AdaptiveDesign as Design;
pub use crate::store::manifest::{Futility, FutilityRule, Spending};

/// The design of a new adaptive run under a routes file: `[run] adaptive_looks` looks,
/// Hwang–Shih–DeCani spending with [`DEFAULT_GAMMA`], predictive-power futility at
/// `[run] adaptive_futility`, the policy's seed.
pub fn default_design(cfg: &Config) -> Design {
    Design {
        looks: cfg.defaults.adaptive_looks,
        seed: cfg.policy.seed,
        spending: Spending::HwangShihDecani {
            gamma: DEFAULT_GAMMA,
        },
        futility: Futility {
            rule: FutilityRule::ChallengerPredictivePower,
            power: cfg.defaults.adaptive_futility,
        },
        max_pairs: None,
    }
}

/// Whether `d` is the design [`EXPECTED_SHARE`] was measured for: the default looks, spending
/// and futility rule (any seed and call budget).
pub fn is_benchmarked(d: &Design) -> bool {
    d.looks == DEFAULT_LOOKS
        && d.spending
            == (Spending::HwangShihDecani {
                gamma: DEFAULT_GAMMA,
            })
        && d.futility
            == (Futility {
                rule: FutilityRule::ChallengerPredictivePower,
                power: DEFAULT_FUTILITY,
            })
}

// ---------------------------------------------------------------------------------------------
// Levels

/// The one-sided error `alpha` spent by information fraction `tau` (0 at 0, `alpha` at 1).
pub fn spent(spending: Spending, alpha: f64, tau: f64) -> f64 {
    if tau <= 0.0 {
        return 0.0;
    }
    let tau = tau.min(1.0);
    match spending {
        Spending::OBrienFleming => {
            let n = Normal::standard();
            let z = n.inverse_cdf(1.0 - alpha / 2.0);
            (2.0 * n.sf(z / tau.sqrt())).min(alpha)
        }
        Spending::HwangShihDecani { gamma } if gamma.abs() < 1e-12 => alpha * tau,
        Spending::HwangShihDecani { gamma } => {
            alpha * (1.0 - (-gamma * tau).exp()) / (1.0 - (-gamma).exp())
        }
    }
}

/// Grid points per look of the numerical integration.
const GRID: usize = 401;

/// A density of the score process `S(τ)` on the continuation region, on an even grid.
struct Density {
    lo: f64,
    step: f64,
    values: Vec<f64>,
}

impl Density {
    /// Simpson weights × density at each grid point.
    fn weighted(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        let last = self.values.len() - 1;
        self.values.iter().enumerate().map(move |(j, f)| {
            let w = if j == 0 || j == last {
                1.0
            } else if j % 2 == 1 {
                4.0
            } else {
                2.0
            };
            (self.lo + j as f64 * self.step, w * self.step / 3.0 * f)
        })
    }
}

/// One-sided boundaries `c_k` on the z scale of looks at information fractions `taus`
/// (increasing, the last 1) spending `alpha` with `spending`.
pub fn boundaries(spending: Spending, alpha: f64, taus: &[f64]) -> Vec<f64> {
    let n = Normal::standard();
    let mut out = Vec::with_capacity(taus.len());
    let mut prev: Option<(Density, f64)> = None;
    let mut spent_before = 0.0;
    for &tau in taus {
        let target = (spent(spending, alpha, tau) - spent_before).max(1e-15);
        let c = match &prev {
            None => n.inverse_cdf(1.0 - target),
            Some((f, t0)) => {
                let sd = (tau - t0).sqrt();
                // The chance of crossing c at this look without having crossed before.
                let cross = |c: f64| -> f64 {
                    f.weighted()
                        .map(|(u, wf)| wf * n.sf((c * tau.sqrt() - u) / sd))
                        .sum()
                };
                bisect(|c| cross(c) - target, -4.0, 40.0)
            }
        };
        let hi = c * tau.sqrt();
        let lo = -10.0 * tau.sqrt();
        let step = (hi - lo) / (GRID - 1) as f64;
        let values: Vec<f64> = (0..GRID)
            .map(|j| {
                let s = lo + j as f64 * step;
                match &prev {
                    None => n.pdf(s / tau.sqrt()) / tau.sqrt(),
                    Some((f, t0)) => {
                        let sd = (tau - t0).sqrt();
                        f.weighted()
                            .map(|(u, wf)| wf * n.pdf((s - u) / sd) / sd)
                            .sum()
                    }
                }
            })
            .collect();
        spent_before = spent(spending, alpha, tau);
        prev = Some((Density { lo, step, values }, tau));
        out.push(c);
    }
    out
}

/// The root of a decreasing function between `lo` and `hi`.
fn bisect(f: impl Fn(f64) -> f64, mut lo: f64, mut hi: f64) -> f64 {
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if f(mid) > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    (lo + hi) / 2.0
}

/// The nominal one-sided level of each of `looks` equally spaced looks spending `alpha`.
pub fn nominal_levels(spending: Spending, alpha: f64, looks: usize) -> Vec<f64> {
    if looks <= 1 {
        // One look is the fixed design, at exactly its own level.
        return vec![alpha];
    }
    let taus: Vec<f64> = (1..=looks).map(|k| k as f64 / looks as f64).collect();
    let n = Normal::standard();
    boundaries(spending, alpha, &taus)
        .into_iter()
        .map(|c| n.sf(c))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Order

/// The seeded, stratified order of a dataset's items and the look each is drawn at.
pub struct Batches {
    looks: usize,
    /// Per task type, dataset indices in draw order.
    per_task: BTreeMap<TaskType, Vec<usize>>,
    /// Look (1-based) of each dataset index.
    look_of: Vec<usize>,
}

impl Batches {
    pub fn new(ds: &Dataset, design: &Design) -> Batches {
        use rand::seq::SliceRandom;
        let looks = design.looks.max(1);
        let mut per_task: BTreeMap<TaskType, Vec<usize>> = BTreeMap::new();
        for (i, item) in ds.items.iter().enumerate() {
            per_task.entry(item.task).or_default().push(i);
        }
        let mut look_of = vec![looks; ds.items.len()];
        for (task, idx) in per_task.iter_mut() {
            let mut rng =
                crate::derive::stats::rng_for(design.seed, &format!("adaptive|{}", task.as_str()));
            idx.shuffle(&mut rng);
            let n = idx.len();
            for (pos, &i) in idx.iter().enumerate() {
                // The first look whose ⌈k·n/K⌉ covers position `pos`.
                look_of[i] = (1..=looks)
                    .find(|&k| pos < (k * n).div_ceil(looks))
                    .unwrap_or(looks);
            }
        }
        Batches {
            looks,
            per_task,
            look_of,
        }
    }

    pub fn looks(&self) -> usize {
        self.looks
    }

    /// The look (1-based) at which dataset item `idx` is drawn.
    pub fn look_of(&self, idx: usize) -> usize {
        self.look_of[idx]
    }

    /// The items drawn by look `k` (1-based), as a dataset.
    pub fn drawn(&self, ds: &Dataset, k: usize) -> Dataset {
        let ids: std::collections::HashSet<&str> = ds
            .items
            .iter()
            .enumerate()
            .filter(|(i, _)| self.look_of[*i] <= k)
            .map(|(_, item)| item.id.as_str())
            .collect();
        ds.subset(|i| ids.contains(i.id.as_str()))
    }

    /// Dataset indices drawn at look `k` (1-based), task type by task type in draw order.
    pub fn batch(&self, k: usize) -> Vec<usize> {
        self.per_task
            .values()
            .flat_map(|idx| idx.iter().copied().filter(|&i| self.look_of[i] == k))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Replay

/// The candidates each task type still calls.
pub type Needed = BTreeMap<TaskType, BTreeSet<ModelId>>;

/// Every candidate for every task type of the dataset: what the first look calls.
pub fn all_needed(cfg: &Config, ds: &Dataset) -> Needed {
    let all: BTreeSet<ModelId> = cfg.candidates().map(|m| m.id.clone()).collect();
    ds.task_types()
        .into_iter()
        .map(|t| (t, all.clone()))
        .collect()
}

/// A cell's place in the sequential design.
#[derive(Debug, Clone, PartialEq)]
pub struct CellLook {
    pub cell: Option<Cell>,
    /// The look that settled it (`changed` or `kept_best`); `None` when still open.
    pub decided_at: Option<usize>,
    /// Items of the cell's scope drawn by that look (or the last look evaluated).
    pub items: usize,
    /// The one-sided level the deciding (or last) look tested at.
    pub level: f64,
    /// Settled as undecided: no open challenger could still be adopted by the last look
    /// (its chance of adoption below the design's futility threshold).
    pub futile: bool,
}

/// Candidate calls of the design, counted as (item, model) pairs (a run makes each pair
/// `repeats` times).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Calls {
    /// Pairs the design called (through the looks evaluated).
    pub made: usize,
    /// Pairs the full fixed design calls: every item × every candidate.
    pub full: usize,
    /// Dollars at list prices of the pairs not called (each model's mean cost per answered
    /// call in this run × its calls saved); `None` when a saved model has no cost.
    pub saved_usd: Option<f64>,
    /// Of `made`, the pairs whose item the judge grades (each a judge call per repeat).
    pub judged_made: usize,
    /// Of `full`, the pairs whose item the judge grades.
    pub judged_full: usize,
}

/// The sequential design replayed over graded outcomes: the recommendation it makes and how
/// it got there.
pub struct Replay {
    /// Settled cells as frozen at their look, the others from the last look.
    pub rec: Recommendation,
    pub summary: Summary,
}

/// How a replay of the design went: the looks, each cell's look, the calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub design: Design,
    /// Nominal one-sided level of each look.
    pub levels: Vec<f64>,
    /// Looks evaluated.
    pub looks_done: usize,
    /// The design stopped before look `looks_done + 1` because its calls would have passed
    /// the call budget (`max_pairs`).
    pub stopped_by_budget: bool,
    pub cells: Vec<CellLook>,
    /// The models each task type still calls at the next look (empty when finished).
    pub needed: Needed,
    pub calls: Calls,
}

impl Summary {
    /// No pair needs more answers, or every look is done.
    pub fn finished(&self) -> bool {
        self.looks_done >= self.design.looks || self.needed.values().all(BTreeSet::is_empty)
    }
}

/// Replay the design over `a`'s outcomes through look `upto` (at most the design's looks), or
/// up to the last look whose calls `a` holds in full (a killed or stopped run).
/// Outcomes the design would not have called (a pair stopped at an earlier look) are ignored,
/// so a full fixed-design analysis replays to the same decisions as the adaptive run itself.
pub fn replay(cfg: &Config, design: &Design, ds: &Dataset, a: &Analysis, upto: usize) -> Replay {
    let alpha = 1.0 - cfg.policy.confidence;
    let levels = nominal_levels(design.spending, alpha, design.looks.max(1));
    let batches = Batches::new(ds, design);
    let candidates: Vec<ModelId> = cfg.candidates().map(|m| m.id.clone()).collect();
    let mut needed = all_needed(cfg, ds);
    let mut observed: BTreeMap<(String, ModelId), ItemOutcome> = BTreeMap::new();
    let mut frozen: Frozen = BTreeMap::new();
    let mut last: Option<Recommendation> = None;
    let mut made_per_model: BTreeMap<ModelId, usize> = BTreeMap::new();
    let mut judged_made = 0;
    let looks = upto.min(batches.looks());
    let mut looks_done = 0;
    let mut stopped_by_budget = false;
    // The call budget: look `k` starts only if its calls fit.
    let over_budget = |k: usize, needed: &Needed, made: &BTreeMap<ModelId, usize>| {
        let this_look: usize = (batches.batch(k).iter())
            .map(|&i| needed[&ds.items[i].task].len())
            .sum();
        design
            .max_pairs
            .is_some_and(|max| made.values().sum::<usize>() + this_look > max)
    };
    for k in 1..=looks {
        if over_budget(k, &needed, &made_per_model) {
            stopped_by_budget = true;
            break;
        }
        // An unfinished run (killed, or stopped mid-look) is replayed up to its last whole look.
        let answered = |idx: usize| {
            let item = &ds.items[idx];
            (needed[&item.task].iter())
                .all(|m| a.outcomes.contains_key(&(item.id.clone(), m.clone())))
        };
        if !batches.batch(k).into_iter().all(answered) {
            break;
        }
        for idx in batches.batch(k) {
            let item = &ds.items[idx];
            for m in &needed[&item.task] {
                *made_per_model.entry(m.clone()).or_default() += 1;
                judged_made += usize::from(item.grader.needs_judge());
                let key = (item.id.clone(), m.clone());
                if let Some(o) = a.outcomes.get(&key) {
                    observed.insert(key, o.clone());
                }
            }
        }
        let drawn = batches.drawn(ds, k);
        let mut cfg_k = cfg.clone();
        cfg_k.policy.confidence = 1.0 - levels[k - 1];
        let sub = Analysis::from_outcomes(observed.clone(), a.models.clone());
        let rec = policy::recommend(&cfg_k, &Observations::new(&sub, &drawn));
        let look = Look {
            design,
            k,
            levels: &levels,
            ds,
            drawn: &drawn,
        };
        let wanted = look.settle(&rec, &mut frozen);
        looks_done = k;
        let next = needed_models(cfg, &rec, &frozen, &wanted);
        for (t, ms) in needed.iter_mut() {
            let keep = next.get(t).cloned().unwrap_or_default();
            ms.retain(|m| keep.contains(m));
        }
        last = Some(rec);
        if needed.values().all(BTreeSet::is_empty) {
            break;
        }
    }
    // A replay that stops short of the design's end says whether the next look may start.
    let next = looks_done + 1;
    if !stopped_by_budget && next <= batches.looks() && !needed.values().all(BTreeSet::is_empty) {
        stopped_by_budget = over_budget(next, &needed, &made_per_model);
    }
    if looks_done >= batches.looks() || stopped_by_budget {
        needed.values_mut().for_each(BTreeSet::clear);
    }
    let calls = Calls {
        judged_made,
        judged_full: ds.items.iter().filter(|i| i.grader.needs_judge()).count() * candidates.len(),
        ..count_calls(ds, a, &candidates, &made_per_model)
    };
    let (rec, cells) = assemble(cfg, ds, last, &frozen, &levels, looks_done, &batches);
    Replay {
        rec,
        summary: Summary {
            design: *design,
            levels,
            looks_done,
            stopped_by_budget,
            cells,
            needed,
            calls,
        },
    }
}

/// Candidate (item, model) pairs of the design's first look: every candidate on the first
/// batch. A call budget below it leaves nothing to decide on.
pub fn first_look_pairs(cfg: &Config, ds: &Dataset, design: &Design) -> usize {
    Batches::new(ds, design).batch(1).len() * cfg.candidates().count()
}

/// Cells settled so far: the look that settled each, and its decision there.
type Frozen = BTreeMap<Option<Cell>, (CellLook, Decision)>;

/// One look of the design over the items drawn by it.
struct Look<'a> {
    design: &'a Design,
    /// 1-based.
    k: usize,
    levels: &'a [f64],
    ds: &'a Dataset,
    drawn: &'a Dataset,
}

impl Look<'_> {
    /// Freeze the cells this look settles (changed, kept as best, or stopped for futility);
    /// return the models each cell left undecided still reads (its current primary and its
    /// promising open challengers). Open cells missing from the answer read every candidate.
    fn settle(
        &self,
        rec: &Recommendation,
        frozen: &mut Frozen,
    ) -> BTreeMap<Option<Cell>, BTreeSet<ModelId>> {
        let mut wanted = BTreeMap::new();
        for d in &rec.decisions {
            if frozen.contains_key(&d.cell) {
                continue;
            }
            let items = scope_items(self.drawn, d.cell);
            let remaining = scope_items(self.ds, d.cell) - items;
            let promising: Vec<&ModelId> = d
                .open_challengers
                .iter()
                .filter(|(_, t)| self.promising(t, remaining))
                .map(|(m, _)| m)
                .collect();
            let futile = d.outcome == Outcome::Undecided
                && !d.open_challengers.is_empty()
                && promising.is_empty();
            if settled(d.outcome) || futile {
                let look = CellLook {
                    cell: d.cell,
                    decided_at: Some(self.k),
                    futile,
                    items,
                    level: self.levels[self.k - 1],
                };
                frozen.insert(d.cell, (look, d.clone()));
            } else if d.outcome == Outcome::Undecided {
                let reads: Vec<&ModelId> = match self.design.futility.rule {
                    // The cell-level rule keeps calling every open challenger.
                    FutilityRule::CellConditionalPower => {
                        d.open_challengers.iter().map(|(m, _)| m).collect()
                    }
                    FutilityRule::ChallengerPredictivePower => promising,
                };
                let w = std::iter::once(&d.old.primary)
                    .chain(reads)
                    .cloned()
                    .collect();
                wanted.insert(d.cell, w);
            }
        }
        wanted
    }

    /// Whether an open challenger may still be adopted by the last look: always where the
    /// design's futility rule does not apply at this look, else when its chance of adoption
    /// (the rule's conditional or predictive power) is at least the threshold.
    fn promising(&self, t: &ChallengerTest, remaining: usize) -> bool {
        let f = self.design.futility;
        let looks = self.levels.len();
        let first = match f.rule {
            FutilityRule::CellConditionalPower => 2,
            FutilityRule::ChallengerPredictivePower => 1,
        };
        if f.power <= 0.0 || !(first..looks).contains(&self.k) {
            return true;
        }
        let final_level = self.levels[looks - 1];
        let chance = match f.rule {
            FutilityRule::CellConditionalPower => conditional_power,
            FutilityRule::ChallengerPredictivePower => predictive_power,
        };
        chance(&t.difference, t.theta, remaining, final_level) >= f.power
    }
}

/// The chance that the one-sided test of `H0: Δ ≤ theta` rejects at the last look (level
/// `final_level`, after `remaining` more paired items) if the measured difference is the true
/// one: conditional power under the current trend (Lan, Simon & Halperin 1982, "Stochastically
/// curtailed tests in long-term clinical trials", *Sequential Analysis* 1:207–219), on the
/// B-value scale `B(t) = Z_t·√t` with information fraction `t = n / N`. Ignores Holm's division
/// and the upgrade floor, both of which only lower the real chance: the rule stops no earlier than
/// it should.
pub fn conditional_power(
    d: &PairedDifference,
    theta: f64,
    remaining: usize,
    final_level: f64,
) -> f64 {
    match Projection::new(d, theta, remaining, final_level) {
        Projection::Known(p) => p,
        Projection::Open { c, b, t, drift } => {
            Normal::standard().sf((c - b - drift * (1.0 - t)) / (1.0 - t).sqrt())
        }
    }
}

/// A paired difference projected to the last look, on the B-value scale.
enum Projection {
    /// The chance is already 0 or 1: no spread, or no item left.
    Known(f64),
    /// `c`: the last look's critical value; `b = Z·√t`: the B-value now; `t = n/N`: the
    /// information fraction (with Agresti–Min's two pseudo-items); `drift`: the measured
    /// difference's drift over all `N` items.
    Open { c: f64, b: f64, t: f64, drift: f64 },
}

impl Projection {
    fn new(d: &PairedDifference, theta: f64, remaining: usize, final_level: f64) -> Projection {
        let c = Normal::standard().inverse_cdf(1.0 - final_level);
        let se = d.se();
        if se <= 0.0 || d.sd <= 0.0 {
            return Projection::Known(if d.centre > theta { 1.0 } else { 0.0 });
        }
        let z_now = (d.centre - theta) / se;
        if remaining == 0 {
            return Projection::Known(if z_now >= c { 1.0 } else { 0.0 });
        }
        let (n, big_n) = (d.n as f64 + 2.0, (d.n + remaining) as f64 + 2.0);
        let t = n / big_n;
        Projection::Open {
            c,
            b: z_now * t.sqrt(),
            t,
            drift: (d.centre - theta) * big_n.sqrt() / d.sd,
        }
    }
}

/// The chance that the one-sided test of `H0: Δ ≤ theta` rejects at the last look (level
/// `final_level`, after `remaining` more paired items), averaged over a flat-prior posterior of
/// the drift instead of taking the measured difference as the truth: predictive power
/// (Spiegelhalter, Freedman & Blackburn 1986, "Monitoring clinical trials: conditional or
/// predictive power?", *Controlled Clinical Trials* 7:8–17; Jennison & Turnbull 2000, §10.3).
/// On the B-value scale with information fraction `t`, the drift estimate `B(t)/t` has
/// variance `1/t`, so the last look's `B(1)` is normal with mean `B(t)/t` and variance
/// `(1 − t)/t`: `PP = Φ̄((c − B(t)/t) / √((1 − t)/t))`. Early in a run (small `t`) it is far less
/// sure than [`conditional_power`] that an unfavourable trend will last.
pub fn predictive_power(
    d: &PairedDifference,
    theta: f64,
    remaining: usize,
    final_level: f64,
) -> f64 {
    match Projection::new(d, theta, remaining, final_level) {
        Projection::Known(p) => p,
        Projection::Open { c, b, t, .. } => {
            Normal::standard().sf((c - b / t) / ((1.0 - t) / t).sqrt())
        }
    }
}

/// Outcomes that settle a cell for good.
fn settled(o: Outcome) -> bool {
    matches!(o, Outcome::Changed | Outcome::KeptBest)
}

/// Items of a cell's scope (its task type, or every item for `[default]`).
fn scope_items(ds: &Dataset, cell: Option<Cell>) -> usize {
    ds.items
        .iter()
        .filter(|i| cell.is_none_or(|c| c.task == i.task))
        .count()
}

/// The models each task type's open cells still read: every open cell's current primary and
/// open challengers (all candidates while a cell has too few samples or is otherwise open
/// without a tested family).
fn needed_models(
    cfg: &Config,
    rec: &Recommendation,
    frozen: &Frozen,
    wanted: &BTreeMap<Option<Cell>, BTreeSet<ModelId>>,
) -> BTreeMap<TaskType, BTreeSet<ModelId>> {
    let all: BTreeSet<ModelId> = cfg.candidates().map(|m| m.id.clone()).collect();
    let mut out: BTreeMap<TaskType, BTreeSet<ModelId>> = BTreeMap::new();
    let mut everywhere: BTreeSet<ModelId> = BTreeSet::new();
    for d in rec
        .decisions
        .iter()
        .filter(|d| !frozen.contains_key(&d.cell))
    {
        let w: BTreeSet<ModelId> = match wanted.get(&d.cell) {
            Some(w) => w.intersection(&all).cloned().collect(),
            None => all.clone(),
        };
        match d.cell {
            None => everywhere.extend(w),
            Some(c) => out.entry(c.task).or_default().extend(w),
        }
    }
    for t in TaskType::ALL {
        out.entry(*t)
            .or_default()
            .extend(everywhere.iter().cloned());
    }
    out
}

/// Calls made against the full design, and the dollars the difference saved.
fn count_calls(
    ds: &Dataset,
    a: &Analysis,
    candidates: &[ModelId],
    made: &BTreeMap<ModelId, usize>,
) -> Calls {
    let n = ds.items.len();
    let mut saved_usd = Some(0.0);
    for m in candidates {
        let saved = n - made.get(m).copied().unwrap_or(0).min(n);
        if saved == 0 {
            continue;
        }
        let costs: Vec<f64> = a
            .outcomes
            .iter()
            .filter(|((_, model), o)| model == m && o.n_errors < o.n_calls)
            .filter_map(|(_, o)| o.cost_usd)
            .collect();
        let mean = (!costs.is_empty()).then(|| costs.iter().sum::<f64>() / costs.len() as f64);
        saved_usd = match (saved_usd, mean) {
            (Some(s), Some(c)) => Some(s + c * saved as f64),
            _ => None,
        };
    }
    Calls {
        made: made.values().sum::<usize>(),
        full: n * candidates.len(),
        saved_usd,
        judged_made: 0,
        judged_full: 0,
    }
}

/// The recommendation of the design: frozen cells as decided at their look, open cells as the
/// last look left them.
fn assemble(
    cfg: &Config,
    ds: &Dataset,
    last: Option<Recommendation>,
    frozen: &BTreeMap<Option<Cell>, (CellLook, Decision)>,
    levels: &[f64],
    looks_done: usize,
    batches: &Batches,
) -> (Recommendation, Vec<CellLook>) {
    let Some(last) = last else {
        let empty = Recommendation {
            table: cfg.table.clone(),
            decisions: Vec::new(),
        };
        return (empty, Vec::new());
    };
    let level = levels.get(looks_done.max(1) - 1).copied().unwrap_or(0.0);
    let drawn = batches.drawn(ds, looks_done);
    let mut cells = Vec::new();
    let mut decisions = Vec::new();
    for d in last.decisions {
        match frozen.get(&d.cell) {
            Some((look, f)) => {
                cells.push(look.clone());
                decisions.push(f.clone());
            }
            None => {
                cells.push(CellLook {
                    cell: d.cell,
                    decided_at: None,
                    futile: false,
                    items: scope_items(&drawn, d.cell),
                    level,
                });
                decisions.push(d);
            }
        }
    }
    let default = decisions
        .iter()
        .find(|d| d.cell.is_none())
        .map_or_else(|| cfg.table.default.clone(), |d| d.new.clone());
    for d in decisions.iter_mut().filter(|d| d.cell.is_some()) {
        let cell = d.cell.expect("filtered");
        d.explicit = cfg.table.cells.contains_key(&cell) || d.new != default;
    }
    let table = RouteTable {
        default,
        cells: decisions
            .iter()
            .filter(|d| d.explicit)
            .filter_map(|d| Some((d.cell?, d.new.clone())))
            .collect(),
    };
    (Recommendation { table, decisions }, cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obf_boundaries_match_the_published_ones() {
        // Lan–DeMets O'Brien–Fleming-type, one-sided α = 0.025, five equally spaced looks:
        // 4.877, 3.357, 2.680, 2.290, 2.031 (Jennison & Turnbull 2000, table 7.6; gsDesign's
        // sfLDOF gives the same).
        let taus = [0.2, 0.4, 0.6, 0.8, 1.0];
        let c = boundaries(Spending::OBrienFleming, 0.025, &taus);
        for (got, want) in c.iter().zip([4.877, 3.357, 2.680, 2.290, 2.031]) {
            assert!((got - want).abs() < 0.005, "{c:?}");
        }
    }

    #[test]
    fn the_levels_spend_no_more_than_alpha_and_the_last_is_below_it() {
        let lv = nominal_levels(Spending::OBrienFleming, 0.05, 5);
        assert_eq!(lv.len(), 5);
        assert!(lv.windows(2).all(|w| w[0] < w[1]), "{lv:?}");
        assert!(lv[4] < 0.05 && lv[4] > 0.035, "{lv:?}");
        assert!(
            lv.iter().sum::<f64>() > 0.05,
            "looks overlap, so levels sum above α"
        );
        // One look is the fixed design.
        assert!((nominal_levels(Spending::OBrienFleming, 0.05, 1)[0] - 0.05).abs() < 1e-9);
        // The default spending keeps its last look nearer α than O'Brien–Fleming does.
        let hsd = nominal_levels(HSD, 0.05, 5);
        assert!(hsd[4] > lv[4] && hsd[4] < 0.05, "{hsd:?}");
        assert!(hsd[0] < 1e-4, "{hsd:?}");
    }

    const HSD: Spending = Spending::HwangShihDecani {
        gamma: DEFAULT_GAMMA,
    };

    #[test]
    fn hwang_shih_decani_spending_follows_its_formula_and_reaches_alpha() {
        // α(τ) = α(1 − e^{−γτ})/(1 − e^{−γ}); γ = 1 spends 0.05·(1 − e^{−0.5})/(1 − e^{−1})
        // = 0.031123 by half-way, γ = −4 spends 0.05·(1 − e²)/(1 − e⁴) = 0.005960.
        let at = |g: f64, tau: f64| spent(Spending::HwangShihDecani { gamma: g }, 0.05, tau);
        assert!((at(1.0, 0.5) - 0.031123).abs() < 1e-6, "{}", at(1.0, 0.5));
        assert!((at(-4.0, 0.5) - 0.005960).abs() < 1e-6, "{}", at(-4.0, 0.5));
        assert!((at(0.0, 0.3) - 0.015).abs() < 1e-12);
        for g in [-10.0, -4.0, 1.0] {
            assert!((at(g, 1.0) - 0.05).abs() < 1e-12);
            assert_eq!(at(g, 0.0), 0.0);
        }
    }

    #[test]
    fn a_simulated_score_process_crosses_at_rate_alpha() {
        // Monte Carlo of the null: K = 4 looks of a Brownian score; the rejection rate over all
        // looks is the spent α.
        let taus = [0.25, 0.5, 0.75, 1.0];
        for spending in [Spending::OBrienFleming, HSD] {
            let c = boundaries(spending, 0.05, &taus);
            let rate = null_crossings(&c, &taus, 200_000);
            assert!((rate - 0.05).abs() < 0.003, "{spending:?}: {rate}");
        }
    }

    /// The share of `runs` simulated null score processes that cross `c` at some look.
    fn null_crossings(c: &[f64], taus: &[f64], runs: usize) -> f64 {
        use rand::{RngExt, SeedableRng};
        let normal = Normal::standard();
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut rejected = 0;
        for _ in 0..runs {
            let mut s = 0.0;
            let mut t0 = 0.0;
            for (k, &t) in taus.iter().enumerate() {
                let u: f64 = rng.random_range(1e-12..1.0);
                s += normal.inverse_cdf(u) * (t - t0).sqrt();
                t0 = t;
                if s / t.sqrt() >= c[k] {
                    rejected += 1;
                    break;
                }
            }
        }
        rejected as f64 / runs as f64
    }

    /// A routes file of three models (`x/strong`, `x/mid` the current primary, `x/weak`) and
    /// `n` math items whose pass/fail outcomes are drawn with the given pass rates.
    fn fixture(
        n: usize,
        rates: [f64; 3],
        seed: u64,
    ) -> (tempfile::TempDir, Config, Dataset, Analysis) {
        use rand::{RngExt, SeedableRng};
        let models = ["x/strong", "x/mid", "x/weak"];
        let (dir, cfg) = crate::derive::fixtures::replayed_models(
            &models,
            "[default]\nprimary = \"x/mid\"\nfallback = \"x/weak\"\n",
        );
        let ds = crate::derive::fixtures::math_items(n);
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        let mut outcomes = BTreeMap::new();
        for i in 0..n {
            let u: f64 = rng.random();
            for (m, rate) in models.iter().zip(rates) {
                let pass = u < rate;
                outcomes.insert(
                    (format!("i{i}"), ModelId::parse(m).unwrap()),
                    ItemOutcome {
                        score: Some(if pass { 1.0 } else { 0.0 }),
                        cost_usd: Some(0.001),
                        latency_ms: Some(1000.0),
                        ok: true,
                        retryable_error: false,
                        n_calls: 1,
                        n_errors: 0,
                        latencies: vec![1000.0],
                        binary: true,
                    },
                );
            }
        }
        let ids = models.iter().map(|m| ModelId::parse(m).unwrap()).collect();
        (dir, cfg, ds, Analysis::from_outcomes(outcomes, ids))
    }

    /// A new run's design with `looks` looks and `seed`.
    fn design(looks: usize, seed: u64) -> Design {
        Design {
            looks,
            seed,
            spending: HSD,
            futility: Futility {
                rule: FutilityRule::ChallengerPredictivePower,
                power: DEFAULT_FUTILITY,
            },
            max_pairs: None,
        }
    }

    #[test]
    fn a_call_budget_stops_before_the_look_that_would_pass_it() {
        let (_d, cfg, ds, a) = fixture(300, [0.62, 0.6, 0.58], 6);
        let free = replay(&cfg, &design(10, 9), &ds, &a, 10);
        assert!(!free.summary.stopped_by_budget);
        // Three looks of 30 items × 3 models fit in 300 pairs; the fourth would pass it.
        let mut capped = design(10, 9);
        capped.max_pairs = Some(300);
        let r = replay(&cfg, &capped, &ds, &a, 10);
        assert!(r.summary.stopped_by_budget, "{:?}", r.summary.calls);
        assert!(r.summary.calls.made <= 300, "{:?}", r.summary.calls);
        assert!(r.summary.finished() && r.summary.needed.values().all(BTreeSet::is_empty));
        // What it decided is the replay of the looks it made: a budget only ever stops.
        let upto = replay(&cfg, &design(10, 9), &ds, &a, r.summary.looks_done);
        assert_eq!(r.rec.decisions, upto.rec.decisions);
        assert_eq!(r.summary.calls.made, upto.summary.calls.made);
        assert_eq!(first_look_pairs(&cfg, &ds, &capped), 30 * 3);
    }

    #[test]
    fn a_run_json_without_spending_or_futility_reads_as_the_design_it_was_made_with() {
        let old: Design = serde_json::from_str(r#"{"looks":5,"seed":3}"#).unwrap();
        assert_eq!(old.spending, Spending::OBrienFleming);
        assert_eq!(old.futility.rule, FutilityRule::CellConditionalPower);
        assert_eq!(old.futility.power, 0.10);
        let new = design(10, 3);
        let back: Design = serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }

    #[test]
    fn a_hopeless_challenger_stops_early_and_a_close_one_is_still_called() {
        // x/weak trails the current primary by 10 points: too few items to rule it out at the
        // early looks' strict levels, but its predictive power of adoption is nil, so the
        // futility rule drops it while the others are still read.
        let (_d, cfg, ds, a) = fixture(400, [0.62, 0.6, 0.5], 5);
        let r = replay(&cfg, &design(10, 9), &ds, &a, 2);
        let math = &r.summary.needed[&TaskType::Math];
        assert!(
            !math.contains(&ModelId::parse("x/weak").unwrap()),
            "{math:?}"
        );
        assert!(math.contains(&ModelId::parse("x/mid").unwrap()), "{math:?}");
        // Without the futility stop the weak model is read at every look.
        let mut off = design(10, 9);
        off.futility.power = 0.0;
        let r = replay(&cfg, &off, &ds, &a, 2);
        assert!(r.summary.needed[&TaskType::Math].contains(&ModelId::parse("x/weak").unwrap()));
    }

    #[test]
    fn an_unfinished_run_is_replayed_up_to_its_last_whole_look() {
        let (_d, cfg, ds, a) = fixture(300, [0.62, 0.6, 0.58], 6);
        let d = design(10, 9);
        let batches = Batches::new(&ds, &d);
        // The journal of a run killed during look 4: one answer of look 4 is missing.
        let mut cut = a.outcomes.clone();
        let idx = batches.batch(4)[0];
        cut.retain(|(id, m), _| !(id == &ds.items[idx].id && m.as_str() == "x/mid"));
        let b = Analysis::from_outcomes(cut, a.models.clone());
        let r = replay(&cfg, &d, &ds, &b, 10);
        let three = replay(&cfg, &d, &ds, &a, 3);
        assert_eq!(r.summary.looks_done, 3);
        assert!(!r.summary.finished(), "look 4 is still to make");
        assert_eq!(r.rec.decisions, three.rec.decisions);
        assert_eq!(r.summary.calls.made, three.summary.calls.made);
    }

    #[test]
    fn judge_calls_are_counted_for_the_judged_items_the_design_calls() {
        let (_d, cfg, ds, a) = fixture(300, [0.9, 0.5, 0.2], 4);
        // The same items, every other one graded by the judge.
        let judged: String = ds
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let grader = if i % 2 == 0 {
                    r#"{"kind":"judge","rubric":"Correct."}"#
                } else {
                    r#"{"kind":"exact","expected":"x"}"#
                };
                format!(
                    "{{\"id\":\"{}\",\"prompt\":\"p\",\"task_type\":\"math\",\"priority\":\"default\",\"grader\":{grader}}}\n",
                    item.id
                )
            })
            .collect();
        let ds2 = Dataset::parse(std::path::Path::new("d.jsonl"), judged.as_bytes()).unwrap();
        let exact = replay(&cfg, &design(10, 9), &ds, &a, 10).summary.calls;
        let mixed = replay(&cfg, &design(10, 9), &ds2, &a, 10).summary.calls;
        assert_eq!((exact.judged_made, exact.judged_full), (0, 0));
        assert_eq!(
            mixed.made, exact.made,
            "the grader does not change which pairs are called"
        );
        assert_eq!(mixed.judged_full, 150 * 3);
        assert!(
            mixed.judged_made > 0 && mixed.judged_made < mixed.judged_full,
            "{mixed:?}"
        );
        // Half the items are judged, and each look draws them in a seeded order: about half of
        // the calls made are judged ones.
        let share = mixed.judged_made as f64 / mixed.made as f64;
        assert!((0.35..0.65).contains(&share), "{share}");
        // With one look every answer is made, and every judged one is a judge call.
        let one = replay(&cfg, &design(1, 9), &ds2, &a, 1).summary.calls;
        assert_eq!(one.judged_made, one.judged_full);
    }

    #[test]
    fn one_look_is_the_full_fixed_design() {
        let (_d, cfg, ds, a) = fixture(120, [0.8, 0.6, 0.4], 3);
        let design = design(1, 9);
        let r = replay(&cfg, &design, &ds, &a, 1);
        let full = policy::recommend(&cfg, &Observations::new(&a, &ds));
        assert_eq!(r.rec.decisions, full.decisions);
        assert_eq!(r.summary.calls.made, r.summary.calls.full);
    }

    #[test]
    fn a_clear_upgrade_is_settled_before_the_last_look_and_later_items_are_not_read() {
        let (_d, cfg, ds, a) = fixture(300, [0.9, 0.5, 0.2], 4);
        let design = design(5, 9);
        let r = replay(&cfg, &design, &ds, &a, 5);
        for (c, d) in r.summary.cells.iter().zip(&r.rec.decisions) {
            assert_eq!(d.new.primary.as_str(), "x/strong", "{}", d.reason);
            assert!(c.decided_at.is_some_and(|k| k < 5), "{c:?}");
        }
        assert!(r.summary.calls.made < r.summary.calls.full);
        assert!(r.summary.finished());
        // The items after the settling look were never called: what they hold changes nothing.
        let last = r
            .summary
            .cells
            .iter()
            .filter_map(|c| c.decided_at)
            .max()
            .unwrap();
        let batches = Batches::new(&ds, &design);
        let mut flipped = a.outcomes.clone();
        for (i, item) in ds.items.iter().enumerate() {
            if batches.look_of(i) > last {
                for ((id, _), o) in flipped.iter_mut() {
                    if *id == item.id {
                        o.score = Some(1.0 - o.score.unwrap());
                    }
                }
            }
        }
        let b = Analysis::from_outcomes(flipped, a.models.clone());
        let r2 = replay(&cfg, &design, &ds, &b, 5);
        assert_eq!(r2.rec.decisions, r.rec.decisions);
        assert_eq!(r2.summary, r.summary);
    }

    #[test]
    fn batches_are_stratified_and_seeded() {
        let (_d, _cfg, ds, _a) = fixture(103, [0.5; 3], 1);
        let b = Batches::new(&ds, &design(4, 1));
        let sizes: Vec<usize> = (1..=4).map(|k| b.batch(k).len()).collect();
        assert_eq!(sizes, vec![26, 26, 26, 25]);
        let again = Batches::new(&ds, &design(4, 1));
        assert_eq!(b.batch(2), again.batch(2));
        let other = Batches::new(&ds, &design(4, 2));
        assert_ne!(b.batch(1), other.batch(1));
    }

    /// A paired difference of `n` items measured at `centre`, spread 0.5.
    fn d(centre: f64, n: usize) -> PairedDifference {
        PairedDifference {
            n,
            delta: centre,
            centre,
            sd: 0.5,
        }
    }

    #[test]
    fn conditional_power_follows_the_trend() {
        let lv = 0.04;
        assert!(conditional_power(&d(0.2, 100), 0.0, 400, lv) > 0.99);
        assert!(conditional_power(&d(-0.05, 100), 0.0, 400, lv) < 0.01);
        // On the threshold, the chance is small and shrinks as the end nears.
        let early = conditional_power(&d(0.0, 100), 0.0, 400, lv);
        let late = conditional_power(&d(0.0, 400), 0.0, 100, lv);
        assert!(early < 0.1 && late < early, "{early} {late}");
        // No items left: it rejects now or never.
        assert_eq!(conditional_power(&d(0.2, 400), 0.0, 0, lv), 1.0);
    }

    #[test]
    fn predictive_power_doubts_an_early_trend_more_than_conditional_power() {
        let lv = 0.04;
        // An unfavourable early trend: predictive power leaves more hope than the trend itself.
        let (cp, pp) = (
            conditional_power(&d(-0.02, 20), 0.0, 400, lv),
            predictive_power(&d(-0.02, 20), 0.0, 400, lv),
        );
        assert!(pp > cp && cp < 0.01 && pp > 0.01, "{cp} {pp}");
        // A favourable one: less sure than the trend.
        let (cp, pp) = (
            conditional_power(&d(0.1, 20), 0.0, 400, lv),
            predictive_power(&d(0.1, 20), 0.0, 400, lv),
        );
        assert!(pp < cp && pp > 0.5, "{cp} {pp}");
        // Near the end the two agree, and with nothing left it is now or never.
        let late = (d(0.03, 990), 10);
        let gap = conditional_power(&late.0, 0.0, late.1, lv)
            - predictive_power(&late.0, 0.0, late.1, lv);
        assert!(gap.abs() < 0.05, "{gap}");
        assert_eq!(predictive_power(&d(0.2, 400), 0.0, 0, lv), 1.0);
    }
}
