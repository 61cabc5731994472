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
//! Quality cells prefer the best significant upgrade, then the cheapest proven saver; latency and
//! default cells prefer the proven saver with the lowest p95 or cost, then the cheapest upgrade.
//! Without a rejection the route stays: `kept_best` when every challenger is shown unable to
//! win, `undecided` otherwise.

use super::{
    ChallengerTest, Decision, Evidence, Measure, Outcome, Question, Scope, fmt_change, pct,
};
use crate::config::{Config, Route};
use crate::paired::{self, Hypothesis};
use crate::stats::{self, Estimate};
use crate::types::{Cell, Priority};

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
            alpha: (1.0 - p.confidence) / 2.0,
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
        d.flags.push("no graded answers".into());
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
        d.flags
            .push(format!("{} was not measured", current.primary));
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
    d.flags.push(format!("needs {needed} more graded items"));
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
    let pick = match rules.prio {
        Priority::Quality => best_upgrade().or_else(|| lowest(&savers, value)),
        _ => lowest(&savers, value).or_else(|| lowest(&upgrades, value)),
    };
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
    let as_upgrade = rules.prio == Priority::Quality && c.upgrade(rules);
    let reason = match &c.saving {
        Some(rel) if !as_upgrade => format!(
            "changed: {ch}'s {objective} changes by {} and it is shown to lose at most {} quality points ({})",
            fmt_change(rel),
            rules.margin,
            c.test.describe()
        ),
        _ => format!(
            "changed: {ch} is better on quality than the current primary ({})",
            c.test.describe()
        ),
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
                "kept: no challenger can do better than {cur_model} ({} tested); the closest, {}, {}{tie}",
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
            fmt_change(rel),
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
        pct(pr.error_rate),
        pr.errors,
        pr.calls,
        pct(w.low),
        pct(w.high),
        pct(p.max_error_rate)
    );
    let Some(ch) = pick else {
        let mut d = keep(
            cell,
            current,
            Outcome::KeptNoCandidate,
            format!("kept: {erring}, and no other candidate is eligible"),
        );
        d.flags.push("every candidate errs too often".into());
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
