//! Evidence across weeks (`run --history DIR --window 4w`): the graded items of earlier runs
//! pooled into a model's evidence while the data shows no change for that model.
//!
//! For each candidate, this week's graded items are tested against the earlier runs' items of
//! the same model ([`change_test`]); a model that moved, or whose configuration changed, or that
//! is new, is decided on this week's items alone. Pooling is by item: an item graded in several
//! weeks is one item whose repeats are averaged (as repeats within a run are), so repeated
//! items never count as independent evidence, and every pooled item is paired across two models
//! only where both kept their history. The method is written down in `docs/decisions.md`,
//! "Evidence across weeks".

mod load;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub(crate) use self::load::{Earlier, Spec, earlier, planned};
use crate::base::types::{ModelId, TaskType};
use crate::derive::analyze::ItemOutcome;
use crate::derive::stats;

/// One earlier run's graded items, as the pooling reads them.
#[derive(Debug, Clone, Default)]
pub struct Week {
    /// The run's id.
    pub run_id: String,
    /// Task type of every item the run graded with this week's grader, by item id.
    pub items: BTreeMap<String, TaskType>,
    /// Outcome per (item id, model), repeats averaged within the run.
    pub outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
    /// Models configured as this week (same wire name, endpoint and call settings): a model
    /// absent here is new or changed since that run, and its older evidence does not count.
    pub comparable: BTreeSet<ModelId>,
    /// Models that run's own check found moved: evidence older than that run does not count.
    pub moved: BTreeSet<ModelId>,
}

/// What the check found for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// No change shown: the earlier items are pooled into the model's evidence.
    Pooled,
    /// This week differs from the history: the history is dropped.
    Moved,
    /// New or changed model, or no earlier graded item: this week's items alone.
    NoHistory,
}

/// Why a run in the `--history` folder was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum NotRead {
    /// Finished before the window began.
    TooOld,
    /// Not `complete` (partial, or still running).
    Unfinished,
    /// Its run.json, routes file, dataset or journal could not be read (or it has no journal).
    Unreadable,
    /// Another copy of a run already met in the folder (the same run id).
    Duplicate,
}

impl NotRead {
    /// The reason in the terminal summary's words.
    pub fn describe(self) -> &'static str {
        match self {
            NotRead::TooOld => "too old for the window",
            NotRead::Unfinished => "not complete",
            NotRead::Unreadable => "unreadable",
            NotRead::Duplicate => "duplicate",
        }
    }
}

/// Runs not read, counted by reason.
pub(crate) fn count_not_read(why: impl Iterator<Item = NotRead>) -> BTreeMap<NotRead, usize> {
    let mut counts = BTreeMap::new();
    for w in why {
        *counts.entry(w).or_insert(0) += 1;
    }
    counts
}

/// The change test of one model: this week against its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCheck {
    /// The candidate tested.
    pub model: ModelId,
    /// What the test found: pooled, moved or no history.
    pub status: Status,
    /// Earlier runs whose items were tested (and pooled when `status` is `pooled`).
    pub weeks: usize,
    /// This week's graded items of the model.
    pub items_now: usize,
    /// Distinct earlier items of the model (an item graded in several weeks counts once).
    pub items_history: usize,
    /// Of this week's items, those graded in the history too (tested paired).
    pub repeated: usize,
    /// Estimated change of the mean score, this week minus history (score points, 0–1).
    pub delta: Option<f64>,
    /// Two-sided p-value of "no change".
    pub p_value: Option<f64>,
}

/// Evidence across weeks for one derivation: the checks, and what was pooled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pooling {
    /// The folder the earlier runs were read from, absolute, as run.json `settings.history`
    /// records it (so `run` and a later `report` print the same).
    pub dir: String,
    /// The window as given (`4w`, `28d`, `72h`).
    pub window: String,
    /// Earlier runs in the window whose items were read.
    pub runs: Vec<String>,
    /// Runs in the folder that were not read, with the reason.
    pub skipped: Vec<String>,
    /// Why each of `skipped` was not read, in the same order (not in report.json, whose
    /// `skipped` lines say it in words).
    #[serde(skip)]
    pub not_read: Vec<NotRead>,
    /// The level of each model's change test (two-sided, one test per model, unadjusted).
    pub alpha: f64,
    /// One change test per candidate, in the analysis' model order.
    pub models: Vec<ModelCheck>,
}

impl Pooling {
    /// The models whose history was dropped because this week's items differ from it.
    pub fn moved(&self) -> impl Iterator<Item = &ModelCheck> {
        self.models.iter().filter(|c| c.status == Status::Moved)
    }

    /// The models whose history was pooled.
    pub fn pooled(&self) -> impl Iterator<Item = &ModelCheck> {
        self.models.iter().filter(|c| c.status == Status::Pooled)
    }

    /// The runs not read, counted by reason.
    pub fn not_read_counts(&self) -> BTreeMap<NotRead, usize> {
        count_not_read(self.not_read.iter().copied())
    }
}

impl ModelCheck {
    /// Earlier items pooled for the model that this run did not grade (an item graded in both
    /// is one item): what the history adds to its evidence when `status` is `pooled`.
    pub fn extra_items(&self) -> usize {
        self.items_history.saturating_sub(self.repeated)
    }
}

/// The evidence a decision reads after pooling: per-item outcomes and the items in order
/// (this week's first, then the earlier items this week did not grade, by id).
#[derive(Debug, Clone)]
pub struct Pooled {
    /// Outcome per (item id, model): this week's, with the pooled models' earlier items
    /// averaged in by item.
    pub outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
    /// Item ids with their task type, in the order above.
    pub items: Vec<(String, TaskType)>,
    /// One change test per model given to [`pool`].
    pub checks: Vec<ModelCheck>,
}

/// Pool `weeks` (newest first) into this week's evidence (`outcomes` over `items`, in order),
/// model by model, for the `models` given. A model's history is tested at two-sided level
/// `alpha` ([`change_test`]) and pooled only when no change is shown.
pub fn pool(
    outcomes: &BTreeMap<(String, ModelId), ItemOutcome>,
    items: &[(String, TaskType)],
    models: &[ModelId],
    weeks: &[Week],
    alpha: f64,
) -> Pooled {
    let mut pooled = outcomes.clone();
    let known: BTreeSet<&str> = items.iter().map(|(id, _)| id.as_str()).collect();
    let mut extra: BTreeMap<String, TaskType> = BTreeMap::new();
    let mut checks = Vec::new();
    for m in models {
        let usable = usable_weeks(m, weeks);
        let now = scores_now(outcomes, items, m);
        let hist = scores_history(m, usable);
        let mut check = ModelCheck {
            model: m.clone(),
            status: Status::NoHistory,
            weeks: usable.len(),
            items_now: now.len(),
            items_history: hist.len(),
            repeated: now.keys().filter(|k| hist.contains_key(*k)).count(),
            delta: None,
            p_value: None,
        };
        if !hist.is_empty() && !now.is_empty() {
            let t = change_test(&now, &hist);
            check.delta = t.map(|t| t.0);
            check.p_value = t.map(|t| t.1);
            let moved = check.p_value.is_some_and(|p| p < alpha);
            check.status = if moved { Status::Moved } else { Status::Pooled };
        }
        if check.status == Status::Pooled {
            for w in usable {
                merge_week(&mut pooled, &mut extra, &known, m, w);
            }
        }
        checks.push(check);
    }
    let mut all = items.to_vec();
    all.extend(extra);
    Pooled {
        outcomes: pooled,
        items: all,
        checks,
    }
}

/// The earlier weeks that count for `m`, newest first: up to (not past) a run where `m` was
/// configured differently, and up to (including) the newest run that found `m` moved.
fn usable_weeks<'w>(m: &ModelId, weeks: &'w [Week]) -> &'w [Week] {
    let mut n = 0;
    for w in weeks {
        if !w.comparable.contains(m) {
            break;
        }
        n += 1;
        if w.moved.contains(m) {
            break;
        }
    }
    &weeks[..n]
}

/// This week's graded items of `m`: item id → (task type, score).
fn scores_now(
    outcomes: &BTreeMap<(String, ModelId), ItemOutcome>,
    items: &[(String, TaskType)],
    m: &ModelId,
) -> BTreeMap<String, (TaskType, f64)> {
    items
        .iter()
        .filter_map(|(id, t)| {
            let s = outcomes.get(&(id.clone(), m.clone()))?.score?;
            Some((id.clone(), (*t, s)))
        })
        .collect()
}

/// The history's graded items of `m`: item id → (task type, mean score over the weeks).
fn scores_history(m: &ModelId, weeks: &[Week]) -> BTreeMap<String, (TaskType, f64)> {
    let mut sums: BTreeMap<String, (TaskType, f64, usize)> = BTreeMap::new();
    for w in weeks {
        for (id, t) in &w.items {
            if let Some(s) = w
                .outcomes
                .get(&(id.clone(), m.clone()))
                .and_then(|o| o.score)
            {
                let e = sums.entry(id.clone()).or_insert((*t, 0.0, 0));
                e.1 += s;
                e.2 += 1;
            }
        }
    }
    sums.into_iter()
        .map(|(id, (t, s, n))| (id, (t, s / n as f64)))
        .collect()
}

/// Add week `w`'s outcomes of model `m`: an item this week graded becomes one item with the
/// weeks' repeats together; an item only earlier weeks graded joins the evidence as an item of
/// its own (its id in `extra`).
fn merge_week(
    pooled: &mut BTreeMap<(String, ModelId), ItemOutcome>,
    extra: &mut BTreeMap<String, TaskType>,
    known: &BTreeSet<&str>,
    m: &ModelId,
    w: &Week,
) {
    for (id, t) in &w.items {
        let key = (id.clone(), m.clone());
        let Some(o) = w.outcomes.get(&key) else {
            continue;
        };
        if !known.contains(id.as_str()) {
            extra.insert(id.clone(), *t);
        }
        match pooled.get_mut(&key) {
            Some(have) => *have = merged(have, o),
            None => {
                pooled.insert(key, o.clone());
            }
        }
    }
}

/// Two sets of repeats of one item as one: scores, costs and latencies averaged over the
/// successful calls of both, calls and errors added.
pub(crate) fn merged(a: &ItemOutcome, b: &ItemOutcome) -> ItemOutcome {
    let wa = a.n_calls.saturating_sub(a.n_errors).max(1) as f64;
    let wb = b.n_calls.saturating_sub(b.n_errors).max(1) as f64;
    let mean = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => Some((x * wa + y * wb) / (wa + wb)),
        (x, None) => x,
        (None, y) => y,
    };
    let mut latencies = a.latencies.clone();
    latencies.extend_from_slice(&b.latencies);
    let score = mean(a.score, b.score);
    ItemOutcome {
        score,
        cost_usd: match (a.cost_usd, b.cost_usd) {
            (Some(_), Some(_)) => mean(a.cost_usd, b.cost_usd),
            _ => None,
        },
        latency_ms: stats::mean(&latencies).or(mean(a.latency_ms, b.latency_ms)),
        ok: a.ok && b.ok,
        retryable_error: a.retryable_error || b.retryable_error,
        n_calls: a.n_calls + b.n_calls,
        n_errors: a.n_errors + b.n_errors,
        latencies,
        // An item passed one week and failed another has a mean of 0.5: a graded score.
        binary: a.binary && b.binary && score.is_none_or(|s| s == 0.0 || s == 1.0),
    }
}

/// Did the model's mean score change? `now` and `hist` map item id → (task type, score).
/// Returns the estimated change (now − history) and its two-sided p-value.
///
/// Items graded in both are tested **paired** (the item's score now minus its history mean);
/// the others by a pooled-variance two-sample z-test per task type (for pass/fail scores the
/// classical two-proportion z-test, Agresti 2013, *Categorical Data Analysis* §2.1), so a
/// change of task mix is not taken for a change of model. The strata's estimates are combined
/// with weights equal to this week's items in each, and the combined estimate is referred to
/// the normal distribution. `None` when nothing can be compared.
pub(crate) fn change_test(
    now: &BTreeMap<String, (TaskType, f64)>,
    hist: &BTreeMap<String, (TaskType, f64)>,
) -> Option<(f64, f64)> {
    let mut parts: Vec<(f64, f64, f64)> = Vec::new(); // (weight, estimate, variance)
    // Scores averaged over repeats or weeks carry rounding noise (three equal fractional scores
    // do not average to exactly the same number); snapped to 1e-9, equal answers test as equal.
    let snap = |x: f64| (x * 1e9).round() / 1e9;
    let diffs: Vec<f64> = now
        .iter()
        .filter_map(|(id, (_, s))| hist.get(id).map(|(_, h)| snap(s - h)))
        .collect();
    let paired = diffs.len() >= 2;
    if paired {
        let n = diffs.len() as f64;
        let sd = stats::sd(&diffs).unwrap_or(0.0);
        parts.push((n, stats::mean(&diffs)?, sd * sd / n));
    }
    for t in TaskType::ALL {
        let unpaired = |side: &BTreeMap<String, (TaskType, f64)>, other| {
            side.iter()
                .filter(|(id, (tt, _))| tt == t && !(paired && contains(other, id)))
                .map(|(_, (_, s))| snap(*s))
                .collect::<Vec<f64>>()
        };
        let (u, h) = (unpaired(now, hist), unpaired(hist, now));
        if u.is_empty() || h.is_empty() {
            continue;
        }
        let all: Vec<f64> = u.iter().chain(&h).copied().collect();
        let mean_all = stats::mean(&all)?;
        let var = all.iter().map(|x| (x - mean_all).powi(2)).sum::<f64>() / all.len() as f64;
        let est = stats::mean(&u)? - stats::mean(&h)?;
        parts.push((
            u.len() as f64,
            est,
            var * (1.0 / u.len() as f64 + 1.0 / h.len() as f64),
        ));
    }
    let w: f64 = parts.iter().map(|p| p.0).sum();
    if w == 0.0 {
        return None;
    }
    let delta = parts.iter().map(|p| p.0 * p.1).sum::<f64>() / w;
    let var = parts.iter().map(|p| p.0 * p.0 * p.2).sum::<f64>() / (w * w);
    let p = if delta.abs() < 1e-9 {
        1.0
    } else if var > 0.0 {
        stats::erfc(delta.abs() / var.sqrt() / std::f64::consts::SQRT_2)
    } else {
        0.0
    };
    Some((delta, p))
}

fn contains(map: &BTreeMap<String, (TaskType, f64)>, id: &str) -> bool {
    map.contains_key(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(score: f64) -> ItemOutcome {
        ItemOutcome {
            score: Some(score),
            cost_usd: Some(0.01),
            latency_ms: Some(100.0),
            ok: true,
            retryable_error: false,
            n_calls: 1,
            n_errors: 0,
            latencies: vec![100.0],
            binary: true,
        }
    }

    fn m(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    /// `n` items `prefix-k` of one task type, passed when `k % 10 < pass_in_10`.
    fn items(prefix: &str, n: usize, pass_in_10: usize) -> BTreeMap<String, (TaskType, f64)> {
        (0..n)
            .map(|k| {
                let s = if k % 10 < pass_in_10 { 1.0 } else { 0.0 };
                (format!("{prefix}-{k}"), (TaskType::Code, s))
            })
            .collect()
    }

    #[test]
    fn a_drop_of_thirty_points_on_fresh_items_is_a_change_and_equal_rates_are_not() {
        let hist = items("old", 200, 8);
        let (d, p) = change_test(&items("new", 200, 5), &hist).unwrap();
        assert!((d + 0.3).abs() < 1e-9, "{d}");
        assert!(p < 1e-6, "{p}");
        let (d, p) = change_test(&items("new", 200, 8), &hist).unwrap();
        assert!(d.abs() < 1e-9);
        assert!(p > 0.5, "{p}");
    }

    #[test]
    fn repeated_items_are_tested_paired() {
        // Same items, one in ten flipped from pass to fail: the unpaired test on 50 items
        // cannot see a 10-point drop, the paired one (every difference −1 or 0) can.
        let hist = items("x", 50, 8);
        let mut now = hist.clone();
        for k in (0..50).step_by(10) {
            now.insert(format!("x-{k}"), (TaskType::Code, 0.0));
        }
        let (d, p) = change_test(&now, &hist).unwrap();
        assert!((d + 0.1).abs() < 1e-9, "{d}");
        assert!(p < 0.05, "paired p {p}");
        let fresh: BTreeMap<_, _> = now.iter().map(|(k, v)| (format!("n{k}"), *v)).collect();
        let (_, p_unpaired) = change_test(&fresh, &hist).unwrap();
        assert!(p_unpaired > 0.05, "unpaired p {p_unpaired}");
    }

    fn week(run: &str, prefix: &str, n: usize, rates: &[(&ModelId, usize)]) -> Week {
        let mut w = Week {
            run_id: run.into(),
            ..Week::default()
        };
        for (id, _) in items(prefix, n, 0) {
            w.items.insert(id, TaskType::Code);
        }
        for (model, pass) in rates {
            for (id, (_, s)) in items(prefix, n, *pass) {
                w.outcomes.insert((id, (*model).clone()), outcome(s));
            }
            w.comparable.insert((*model).clone());
        }
        w
    }

    #[test]
    fn a_model_that_moved_keeps_only_its_own_items_and_pairs_only_where_both_pooled() {
        let (a, b) = (m("p/a"), m("p/b"));
        let hist = week("w1", "old", 200, &[(&a, 8), (&b, 8)]);
        let mut outcomes = BTreeMap::new();
        let mut now_items = Vec::new();
        for (id, (_, s)) in items("new", 200, 8) {
            outcomes.insert((id.clone(), a.clone()), outcome(s));
            now_items.push((id.clone(), TaskType::Code));
        }
        for (id, (_, s)) in items("new", 200, 4) {
            outcomes.insert((id, b.clone()), outcome(s));
        }
        let p = pool(
            &outcomes,
            &now_items,
            &[a.clone(), b.clone()],
            &[hist],
            0.05,
        );
        assert_eq!(p.checks[0].status, Status::Pooled);
        assert_eq!(p.checks[1].status, Status::Moved);
        assert_eq!(p.items.len(), 400);
        let count = |model: &ModelId| p.outcomes.keys().filter(|(_, x)| x == model).count();
        assert_eq!(count(&a), 400);
        assert_eq!(count(&b), 200, "b's history is dropped");
    }

    #[test]
    fn history_stops_at_a_changed_configuration_and_at_the_run_that_found_a_move() {
        let a = m("p/a");
        let w1 = week("w1", "a", 10, &[(&a, 8)]);
        let mut w2 = week("w2", "b", 10, &[(&a, 8)]);
        let w3 = week("w3", "c", 10, &[(&a, 8)]);
        assert_eq!(
            usable_weeks(&a, &[w1.clone(), w2.clone(), w3.clone()]).len(),
            3
        );
        w2.moved.insert(a.clone());
        assert_eq!(
            usable_weeks(&a, &[w1.clone(), w2.clone(), w3.clone()]).len(),
            2
        );
        let mut w1c = w1;
        w1c.comparable.clear();
        assert_eq!(usable_weeks(&a, &[w1c, w2, w3]).len(), 0);
    }

    #[test]
    fn repeats_of_one_item_across_weeks_average_into_one_graded_item() {
        let (pass, fail) = (outcome(1.0), outcome(0.0));
        let x = merged(&pass, &fail);
        assert_eq!(x.score, Some(0.5));
        assert_eq!(x.n_calls, 2);
        assert!(!x.binary);
        assert_eq!(x.latencies.len(), 2);
        assert!(merged(&pass, &pass).binary);
    }
}
