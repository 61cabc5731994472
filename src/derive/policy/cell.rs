//! One cell's decision: the current primary against every eligible challenger, tested as one
//! family (Holm), and the outcome with the evidence that made it.
//!
//! Each challenger answers one question, chosen by the cell's objective before any quality
//! figure is looked at:
//! - a challenger whose cost per call (quality and default cells) or p95 latency (latency
//!   cells) is significantly lower by at least `min_effect` is a *saver*: it is tested for
//!   non-inferiority, `H0: Δquality ≤ −margin` (margin `quality_margin` in quality cells,
//!   `quality_slack` otherwise);
//! - every other challenger is tested for superiority, `H0: Δquality ≤ 0`, and is adopted only
//!   with a measured Δ of at least the minimum quality effect.
//!
//! A significant upgrade comes first: quality cells take the best one (highest measured Δ),
//! latency and default cells the one with the lowest p95 or cost. Without an upgrade, the proven
//! saver with the lowest cost (p95) is taken.
//! Without a rejection the route stays: `kept_best` when every challenger is shown unable to
//! win, `undecided` otherwise.

use super::{ChallengerTest, Decision, Evidence, Flag, Measure, Outcome, Question, Scope};
use crate::base::fmt::{percent_0dp, percent_change_interval};
use crate::base::types::{Cell, Priority};
use crate::config::{Config, Route};
use crate::derive::paired::{self, Hypothesis};
use crate::derive::stats::{self, Estimate};

/// One challenger in a cell's family.
struct Contender {
    /// Profile index in the scope.
    idx: usize,
    /// Significantly lower on the cell's objective (cost or p95), with that relative change.
    saving: Option<Estimate>,
    test: ChallengerTest,
}

/// The settings of one cell's decision.
struct Rules {
    measure: Measure,
    prio: Priority,
    /// Non-inferiority margin, quality points.
    margin: f64,
    /// Smallest measured Δquality an upgrade needs.
    floor: f64,
    /// One-sided family-wise level.
    alpha: f64,
}

impl Rules {
    fn new(cfg: &Config, prio: Priority) -> Rules {
        let p = &cfg.policy;
        let (measure, margin, floor) = match prio {
            Priority::Quality => (Measure::Cost, p.quality_margin, p.min_quality_effect),
            Priority::Default => (
                Measure::Cost,
                p.quality_slack,
                p.min_quality_effect.max(p.quality_slack),
            ),
            Priority::Latency => (
                Measure::P95,
                p.quality_slack,
                p.min_quality_effect.max(p.quality_slack),
            ),
        };
        Rules {
            measure,
            prio,
            margin,
            floor,
            // Every decision asks a one-sided question ("better?", "not worse by more than the
            // margin?"), answered at the family-wise level 1 − confidence.
            alpha: 1.0 - p.confidence,
        }
    }
}

/// The cell's objective in words, naming modelled or missing latency for what it is.
fn objective_name(cfg: &Config, s: &Scope, rules: &Rules, models: &[usize]) -> &'static str {
    match rules.measure {
        Measure::Cost => "cost per call",
        Measure::P95 => {
            if models.iter().any(|&i| s.profiles[i].p95.is_none()) {
                "p95 latency (not recorded)"
            } else if models.iter().any(|&i| {
                cfg.models
                    .get(s.profiles[i].model)
                    .is_some_and(|m| m.latency_model.is_some())
            }) {
                "modelled p95 latency"
            } else {
                "p95 latency"
            }
        }
    }
}

fn quality(s: &Scope, i: usize) -> f64 {
    s.profiles[i].quality.unwrap_or(0.0)
}

fn objective_value(s: &Scope, measure: Measure, i: usize) -> f64 {
    let pr = &s.profiles[i];
    match measure {
        Measure::Cost => pr.cost,
        Measure::P95 => pr.p95,
    }
    .unwrap_or(f64::INFINITY)
}

/// A decision that keeps the current route.
fn keep(cell: Option<Cell>, current: &Route, outcome: Outcome, reason: String) -> Decision {
    Decision {
        cell,
        old: current.clone(),
        new: current.clone(),
        reason,
        outcome,
        fallback_reason: "kept with the primary".into(),
        evidence: None,
        flags: Vec::new(),
        n: 0,
        samples_needed: None,
        mde: None,
        items_needed: None,
        explicit: true,
        open_challengers: Vec::new(),
    }
}

/// The decision for one cell whose current route is `current`.
pub(super) fn decide(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    prio: Priority,
    current: &Route,
) -> Decision {
    let p = &cfg.policy;
    let graded: Vec<usize> = (0..s.profiles.len())
        .filter(|&i| s.profiles[i].quality.is_some())
        .collect();
    if graded.is_empty() {
        let mut d = keep(
            cell,
            current,
            Outcome::KeptNoCandidate,
            "kept: no candidate has a graded answer on these items".into(),
        );
        d.flags.push(Flag::NoGradedAnswers);
        return d;
    }
    let measured = s.find(&current.primary);
    let cur_errs = measured.is_some_and(|i| surely_errs(cfg, s, i));
    let cur = measured.filter(|&i| cur_errs || graded.contains(&i));
    if let Some(d) = too_few_samples(cfg, s, cell, current, &graded, cur, cur_errs) {
        return d;
    }
    let Some(cur) = cur else {
        let mut d = keep(
            cell,
            current,
            Outcome::KeptUnmeasured,
            format!(
                "kept: the current primary {} has no graded answers in this run, so nothing can be compared with it",
                current.primary
            ),
        );
        d.flags.push(Flag::NotMeasured(current.primary.clone()));
        return d;
    };
    let eligible: Vec<usize> = graded
        .iter()
        .copied()
        .filter(|&i| {
            let pr = &s.profiles[i];
            pr.n_graded >= p.min_samples && pr.error_rate <= p.max_error_rate
        })
        .collect();
    let rules = Rules::new(cfg, prio);
    let mut d = if cur_errs {
        replace_erring(cfg, s, cell, current, cur, &eligible, &rules)
    } else {
        let family = test_family(cfg, s, cur, &eligible, &rules);
        choose(cfg, s, cell, current, cur, &family, &rules)
    };
    finish(cfg, s, current, &eligible, &mut d);
    d
}

/// The current primary's error rate is surely above `max_error_rate`: the lower bound of its
/// Wilson interval clears it.
fn surely_errs(cfg: &Config, s: &Scope, i: usize) -> bool {
    let pr = &s.profiles[i];
    stats::wilson(pr.errors as f64, pr.calls, cfg.policy.confidence)
        .is_some_and(|w| w.low > cfg.policy.max_error_rate)
}

/// Too few graded items behind the decision: keep, and say how many are missing.
fn too_few_samples(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    current: &Route,
    graded: &[usize],
    cur: Option<usize>,
    cur_errs: bool,
) -> Option<Decision> {
    let p = &cfg.policy;
    let max_n = graded
        .iter()
        .map(|&i| s.profiles[i].n_graded)
        .max()
        .unwrap_or(0);
    let n_behind = cur.map(|i| s.profiles[i].n_graded).unwrap_or(max_n);
    if n_behind >= p.min_samples || cur_errs {
        return None;
    }
    let needed = p.min_samples - n_behind;
    let mut d = keep(
        cell,
        current,
        Outcome::KeptTooFewSamples,
        format!(
            "kept: too few samples ({n_behind} graded items; the policy needs {})",
            p.min_samples
        ),
    );
    d.flags.push(Flag::NeedsItems(needed));
    d.n = n_behind;
    d.samples_needed = Some(needed);
    if let Some(c) = cur {
        let best = graded
            .iter()
            .copied()
            .filter(|&i| i != c)
            .max_by(|&x, &y| quality(s, x).total_cmp(&quality(s, y)));
        d.evidence = best.map(|o| s.evidence(o, c));
    }
    Some(d)
}

/// Every eligible challenger tested against the current primary, one family.
fn test_family(
    cfg: &Config,
    s: &Scope,
    cur: usize,
    eligible: &[usize],
    rules: &Rules,
) -> Vec<Contender> {
    let min_effect = cfg.policy.min_effect;
    let mut members: Vec<(usize, Option<Estimate>, paired::PairedDifference)> = Vec::new();
    for &i in eligible.iter().filter(|&&i| i != cur) {
        let Some(diff) = s.difference(i, cur) else {
            continue;
        };
        let saving = s
            .objective(rules.measure, i, cur)
            .filter(|rel| rel.high <= -min_effect);
        members.push((i, saving, diff));
    }
    let hyps: Vec<Hypothesis> = members
        .iter()
        .map(|(_, saving, diff)| Hypothesis {
            difference: *diff,
            theta: if saving.is_some() { -rules.margin } else { 0.0 },
        })
        .collect();
    let tested = paired::holm(&hyps, rules.alpha);
    members
        .into_iter()
        .zip(hyps.iter().zip(tested))
        .map(|((idx, saving, difference), (h, tested))| Contender {
            idx,
            saving,
            test: ChallengerTest {
                question: if saving.is_some() {
                    Question::NonInferiority
                } else {
                    Question::Superiority
                },
                theta: h.theta,
                family: hyps.len(),
                difference,
                tested,
            },
        })
        .collect()
}

impl Contender {
    /// Shown better on quality, by a measured Δ of at least the floor.
    fn upgrade(&self, rules: &Rules) -> bool {
        self.test.tested.rejected
            && self.test.tested.interval.low > 0.0
            && self.test.difference.delta >= rules.floor
    }

    /// Shown cheaper (faster) and non-inferior.
    fn saver(&self) -> bool {
        self.saving.is_some() && self.test.tested.rejected
    }

    /// Shown unable to win: a saver worse than the margin, anyone else not better by the floor.
    fn ruled_out(&self, rules: &Rules) -> bool {
        let high = self.test.tested.interval.high;
        if self.saving.is_some() {
            high < -rules.margin
        } else {
            high < rules.floor
        }
    }

    /// More paired items that would settle this challenger's open question.
    fn items_to_settle(&self, rules: &Rules) -> Option<usize> {
        let d = &self.test.difference;
        let theta = if self.saving.is_some() {
            -rules.margin
        } else if d.centre >= rules.floor {
            0.0
        } else {
            rules.floor
        };
        d.items_to_settle(theta, self.test.tested.level)
            .map(|n| n.saturating_sub(d.n).max(1))
    }
}

/// The outcome from the tested family.
fn choose(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    current: &Route,
    cur: usize,
    family: &[Contender],
    rules: &Rules,
) -> Decision {
    let value = |c: &&Contender| objective_value(s, rules.measure, c.idx);
    let upgrades: Vec<&Contender> = family.iter().filter(|c| c.upgrade(rules)).collect();
    let savers: Vec<&Contender> = family.iter().filter(|c| c.saver()).collect();
    let best_upgrade = || {
        upgrades.iter().copied().max_by(|x, y| {
            x.test
                .difference
                .delta
                .total_cmp(&y.test.difference.delta)
                .then_with(|| value(y).total_cmp(&value(x)))
        })
    };
    fn lowest<'c>(
        set: &[&'c Contender],
        value: impl Fn(&&Contender) -> f64,
    ) -> Option<&'c Contender> {
        set.iter()
            .copied()
            .min_by(|x, y| value(x).total_cmp(&value(y)))
    }
    // A current primary that a challenger significantly beats by the floor is below the bar
    // (in latency and default cells the floor is at least the slack, so the current is no
    // longer "within the slack of the best"): the cell moves up first, and only a cell without
    // an upgrade looks for a saving.
    let pick = match rules.prio {
        Priority::Quality => best_upgrade(),
        _ => lowest(&upgrades, value),
    }
    .or_else(|| lowest(&savers, value));
    match pick {
        Some(c) => changed(cfg, s, cell, current, cur, c, rules),
        None => kept(cfg, s, cell, current, cur, family, rules),
    }
}

fn changed(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    current: &Route,
    cur: usize,
    c: &Contender,
    rules: &Rules,
) -> Decision {
    let ch = s.profiles[c.idx].model;
    let objective = objective_name(cfg, s, rules, &[c.idx, cur]);
    let reason = match &c.saving {
        Some(rel) if !c.upgrade(rules) => format!(
            "changed: {ch}'s {objective} changes by {} and it is shown to lose at most {} quality points ({})",
            percent_change_interval(rel),
            rules.margin,
            c.test.describe()
        ),
        _ => {
            let upgrade = format!(
                "changed: {ch} is better on quality than the current primary ({})",
                c.test.describe()
            );
            // Outside quality cells an upgrade may cost the cell's own objective: say by how
            // much, so a reviewer sees the trade.
            match s.objective(rules.measure, c.idx, cur) {
                Some(rel) if rules.prio != Priority::Quality => format!(
                    "{upgrade}; the current primary is below the bar (worse by more than {} points), and the {objective} changes by {}",
                    rules.floor,
                    percent_change_interval(&rel)
                ),
                _ => upgrade,
            }
        }
    };
    let mut d = keep(cell, current, Outcome::Changed, reason);
    d.new.primary = ch.clone();
    attach(s, &mut d, c, cur);
    d
}

/// Evidence, the minimum detectable effect and the decision's test for challenger `c`.
fn attach(s: &Scope, d: &mut Decision, c: &Contender, cur: usize) {
    let mut e: Evidence = s.evidence(c.idx, cur);
    e.delta_quality = Some(c.test.tested.interval);
    e.test = Some(c.test.clone());
    d.mde = Some(c.test.difference.mde(c.test.tested.level));
    d.evidence = Some(e);
}

fn kept(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    current: &Route,
    cur: usize,
    family: &[Contender],
    rules: &Rules,
) -> Decision {
    let cur_model = s.profiles[cur].model;
    let open: Vec<&Contender> = family.iter().filter(|c| !c.ruled_out(rules)).collect();
    let closest = open
        .iter()
        .copied()
        .min_by_key(|c| c.items_to_settle(rules).unwrap_or(usize::MAX));
    if let Some(c) = closest {
        let mut d = keep(cell, current, Outcome::Undecided, String::new());
        attach(s, &mut d, c, cur);
        d.items_needed = c.items_to_settle(rules);
        d.reason = undecided_reason(cfg, s, c, cur, rules, &d);
        d.open_challengers = open
            .iter()
            .map(|c| (s.profiles[c.idx].model.clone(), c.test.clone()))
            .collect();
        return d;
    }
    // Every challenger is ruled out: the one with the highest measured quality is the evidence.
    let strongest = family
        .iter()
        .max_by(|x, y| x.test.difference.delta.total_cmp(&y.test.difference.delta));
    let mut d = keep(cell, current, Outcome::KeptBest, String::new());
    d.reason = match strongest {
        None => format!("kept: {cur_model} has no eligible challenger"),
        Some(c) => {
            attach(s, &mut d, c, cur);
            let iv = c.test.tested.interval;
            let tie = if iv.low > -rules.margin && iv.high < rules.margin {
                format!(" (equivalent within ±{})", rules.margin)
            } else {
                String::new()
            };
            format!(
                "kept: no challenger is shown better than {cur_model} by the minimum effect, nor cheaper at a loss within the margin ({} tested); the closest, {}, {}{tie}",
                family.len(),
                s.profiles[c.idx].model,
                c.test.describe()
            )
        }
    };
    d
}

fn undecided_reason(
    cfg: &Config,
    s: &Scope,
    c: &Contender,
    cur: usize,
    rules: &Rules,
    d: &Decision,
) -> String {
    let ch = s.profiles[c.idx].model;
    let question = match &c.saving {
        Some(rel) => format!(
            "its {} changes by {}, but a loss of at most {} quality points is not shown",
            objective_name(cfg, s, rules, &[c.idx, cur]),
            percent_change_interval(rel),
            rules.margin
        ),
        None => format!(
            "it is neither shown better by {} nor shown not to be",
            rules.floor
        ),
    };
    let settle = match d.items_needed {
        Some(n) => format!("about {n} more paired items would settle it"),
        None => "more items would not settle it at this difference".into(),
    };
    format!(
        "undecided (kept): {ch} {}; {question}; this sample detects differences of {:.3} or more; {settle}",
        c.test.describe(),
        d.mde.unwrap_or(f64::NAN)
    )
}

/// The current primary surely fails too often: the candidate with the best objective among
/// those not shown worse than the strongest by more than the margin.
fn replace_erring(
    cfg: &Config,
    s: &Scope,
    cell: Option<Cell>,
    current: &Route,
    cur: usize,
    eligible: &[usize],
    rules: &Rules,
) -> Decision {
    let p = &cfg.policy;
    let pr = &s.profiles[cur];
    let w = stats::wilson(pr.errors as f64, pr.calls, p.confidence)
        .expect("an erring primary has calls");
    let others: Vec<usize> = eligible.iter().copied().filter(|&i| i != cur).collect();
    let strongest = others
        .iter()
        .copied()
        .max_by(|&x, &y| quality(s, x).total_cmp(&quality(s, y)));
    let pick = strongest.and_then(|top| {
        others
            .iter()
            .copied()
            .filter(|&i| {
                i == top
                    || s.quality(i, top)
                        .is_none_or(|q| q.delta.low > -rules.margin || !q.significant)
            })
            .min_by(|&x, &y| {
                objective_value(s, rules.measure, x).total_cmp(&objective_value(
                    s,
                    rules.measure,
                    y,
                ))
            })
    });
    let erring = format!(
        "the current primary fails {} of its calls ({} of {}, interval {} to {}), surely more than the {} allowed",
        percent_0dp(pr.error_rate),
        pr.errors,
        pr.calls,
        percent_0dp(w.low),
        percent_0dp(w.high),
        percent_0dp(p.max_error_rate)
    );
    let Some(ch) = pick else {
        let mut d = keep(
            cell,
            current,
            Outcome::KeptNoCandidate,
            format!("kept: {erring}, and no other candidate is eligible"),
        );
        d.flags.push(Flag::EveryCandidateErrs);
        return d;
    };
    let objective = objective_name(cfg, s, rules, &[ch]);
    let mut d = keep(
        cell,
        current,
        Outcome::Changed,
        format!(
            "changed: {erring}; {} has the lowest {objective} among the candidates not shown worse than the strongest by more than {} quality points",
            s.profiles[ch].model, rules.margin
        ),
    );
    d.new.primary = s.profiles[ch].model.clone();
    d.evidence = Some(s.evidence(ch, cur));
    d
}

/// The fallback of the new primary, and the figures of the chosen route.
fn finish(cfg: &Config, s: &Scope, current: &Route, eligible: &[usize], d: &mut Decision) {
    let primary = s
        .find(&d.new.primary)
        .expect("the new primary is a measured candidate");
    let (fallback, fallback_reason) =
        super::choose_fallback(cfg, s, primary, eligible, current, &mut d.flags);
    d.new.fallback = fallback;
    if d.new.fallback != current.fallback && d.outcome != Outcome::Changed {
        d.reason = format!("{}; fallback {fallback_reason}", d.reason);
    }
    d.fallback_reason = fallback_reason;
    d.n = s.profiles[primary].n_graded;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::base::types::ModelId;
    use crate::derive::analyze::{Analysis, ItemOutcome};
    use crate::derive::policy::{Decision, Observations, Outcome, recommend};

    /// One model's outcome on an item: pass, fail, or a failed call.
    #[derive(Clone, Copy)]
    enum O {
        Pass,
        Fail,
        Error,
    }

    /// A math suite of `n` items where each model answers as `answers[model][item]`, priced by
    /// `cost` per call; the current table sends every math cell to `cur`.
    fn decide_math(models: &[(&str, f64, Vec<O>)], cur: &str) -> Vec<Decision> {
        let other = models.iter().find(|m| m.0 != cur).unwrap().0;
        let tables: String = [
            "[default]",
            "[routes.math.quality]",
            "[routes.math.latency]",
            "[routes.math.default]",
        ]
        .iter()
        .map(|cell| format!("{cell}\nprimary = \"{cur}\"\nfallback = \"{other}\"\n"))
        .collect();
        let names: Vec<&str> = models.iter().map(|m| m.0).collect();
        let (_dir, cfg) = crate::derive::fixtures::replayed_models(&names, &tables);
        let ds = crate::derive::fixtures::math_items(models[0].2.len());
        let mut outcomes = BTreeMap::new();
        for (m, cost, answers) in models {
            for (i, a) in answers.iter().enumerate() {
                let (score, ok, errors) = match a {
                    O::Pass => (Some(1.0), true, 0),
                    O::Fail => (Some(0.0), true, 0),
                    O::Error => (None, false, 1),
                };
                outcomes.insert(
                    (format!("i{i}"), ModelId::parse(m).unwrap()),
                    ItemOutcome {
                        score,
                        cost_usd: ok.then_some(*cost),
                        latency_ms: ok.then_some(1000.0),
                        ok,
                        retryable_error: !ok,
                        n_calls: 1,
                        n_errors: errors,
                        latencies: if ok { vec![1000.0] } else { vec![] },
                        binary: true,
                    },
                );
            }
        }
        let ids = models
            .iter()
            .map(|m| ModelId::parse(m.0).unwrap())
            .collect();
        let a = Analysis::from_outcomes(outcomes, ids);
        recommend(&cfg, &Observations::new(&a, &ds)).decisions
    }

    /// Paired answers: `both` pass both, `a_only` only the first, `b_only` only the second, the
    /// rest fail both.
    fn paired(n: usize, both: usize, a_only: usize, b_only: usize) -> (Vec<O>, Vec<O>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for i in 0..n {
            let (x, y) = if i < both {
                (O::Pass, O::Pass)
            } else if i < both + a_only {
                (O::Pass, O::Fail)
            } else if i < both + a_only + b_only {
                (O::Fail, O::Pass)
            } else {
                (O::Fail, O::Fail)
            };
            a.push(x);
            b.push(y);
        }
        (a, b)
    }

    fn cell<'d>(ds: &'d [Decision], label: &str) -> &'d Decision {
        ds.iter().find(|d| d.label() == label).unwrap()
    }

    #[test]
    fn a_cheaper_challenger_just_inside_the_slack_is_taken_just_outside_is_undecided() {
        // 400 items; the challenger is ten times cheaper; one challenger, so the one-sided level
        // is 5%. By hand (Agresti–Min), lower bound = centre − 1.644854·se:
        // inside: 3 challenger-only passes, 9 current-only → centre −6/402, se 0.0081114,
        //   lower bound −0.014925 − 0.013342 = −0.02963 > −0.03: non-inferior.
        // outside: 1 and 8 → centre −7/402, se 0.0076113, lower bound −0.03027 < −0.03.
        for (ch_only, cur_only, moves) in [(3, 9, true), (1, 8, false)] {
            let (ch, cur) = paired(400, 300, ch_only, cur_only);
            let ds = decide_math(&[("a/cur", 0.010, cur), ("b/cheap", 0.001, ch)], "a/cur");
            let d = cell(&ds, "math.default");
            let t = d.evidence.as_ref().unwrap().test.as_ref().unwrap();
            assert_eq!(t.question, crate::derive::policy::Question::NonInferiority);
            assert!((t.theta + 0.03).abs() < 1e-12);
            let centre = (ch_only as f64 - cur_only as f64) / 402.0;
            let se = (((ch_only + cur_only + 1) as f64 / 402.0 - centre * centre) / 402.0).sqrt();
            let low = centre - 1.644854 * se;
            assert!((t.tested.interval.low - low).abs() < 1e-5, "{t:?}");
            if moves {
                assert_eq!(d.outcome, Outcome::Changed, "{}", d.reason);
                assert_eq!(d.new.primary.as_str(), "b/cheap");
            } else {
                assert_eq!(d.outcome, Outcome::Undecided, "{}", d.reason);
                assert_eq!(d.new.primary.as_str(), "a/cur");
                // MDE = (z_0.95 + z_0.8)·se; items: ((z + z_0.8)·sd / (centre + 0.03))² − 2 − 400.
                let mde = (1.644854 + 0.841621) * se;
                assert!((d.mde.unwrap() - mde).abs() < 1e-5, "{:?} vs {mde}", d.mde);
                let sd = se * 402f64.sqrt();
                let n = ((2.486475 * sd / (centre + 0.03)).powi(2) - 2.0).ceil() as usize;
                assert_eq!(d.items_needed, Some(n - 400), "{}", d.reason);
                assert!(d.reason.contains("undecided"), "{}", d.reason);
            }
            // The quality cell's margin is smaller (0.01): neither pair shows that.
            assert_eq!(cell(&ds, "math.quality").new.primary.as_str(), "a/cur");
        }
    }

    #[test]
    fn holm_keeps_a_cell_that_one_unadjusted_test_would_change() {
        // 100 items. "b/better": 12 only-it passes vs 4 only-current: centre 8/102,
        // se = √((17/102 − (8/102)²)/102) = 0.039670, z = 1.977, one-sided p = 0.024:
        // below 0.05 alone, above 0.05/3 with two more challengers.
        let (better, cur) = paired(100, 60, 12, 4);
        let (same1, _) = paired(100, 62, 2, 2);
        let (same2, _) = paired(100, 61, 3, 3);
        let alone = decide_math(
            &[
                ("a/cur", 0.01, cur.clone()),
                ("b/better", 0.02, better.clone()),
            ],
            "a/cur",
        );
        let d = cell(&alone, "math.quality");
        assert_eq!(d.outcome, Outcome::Changed, "{}", d.reason);
        let family = decide_math(
            &[
                ("a/cur", 0.01, cur),
                ("b/better", 0.02, better),
                ("c/same", 0.03, same1),
                ("d/same", 0.04, same2),
            ],
            "a/cur",
        );
        let d = cell(&family, "math.quality");
        assert_eq!(d.outcome, Outcome::Undecided, "{}", d.reason);
        let t = d.evidence.as_ref().unwrap().test.as_ref().unwrap();
        assert_eq!(t.family, 3);
        assert!(t.tested.p < 0.05 && t.tested.p_adjusted > 0.05, "{t:?}");
        assert!(
            t.tested.interval.low <= 0.0,
            "the printed interval agrees: {t:?}"
        );
        assert!(d.reason.contains("Holm, 3 challengers"), "{}", d.reason);
    }

    #[test]
    fn the_current_primary_is_replaced_for_errors_only_when_surely_above_the_limit() {
        // 60 calls: 7 errors (11.7%, Wilson 95% lower bound 5.8%) is not surely above 10%;
        // 20 errors (33%, lower bound 22.6%) is.
        for (errors, replaced) in [(7usize, false), (20, true)] {
            let cur: Vec<O> = (0..60)
                .map(|i| {
                    if i < errors {
                        O::Error
                    } else if i < 50 {
                        O::Pass
                    } else {
                        O::Fail
                    }
                })
                .collect();
            let other: Vec<O> = (0..60)
                .map(|i| if i < 48 { O::Pass } else { O::Fail })
                .collect();
            let ds = decide_math(&[("a/cur", 0.01, cur), ("b/other", 0.01, other)], "a/cur");
            let d = cell(&ds, "math.quality");
            assert_eq!(
                d.new.primary.as_str() == "b/other",
                replaced,
                "{}",
                d.reason
            );
            if replaced {
                assert!(
                    d.reason.contains("surely more than the 10% allowed"),
                    "{}",
                    d.reason
                );
            }
        }
    }
}
