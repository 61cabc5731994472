//! The policy: from the measured figures and the current table to a recommended table, with
//! the reason and the evidence of every cell.
//!
//! - quality cell: the best quality; among candidates statistically tied with it (paired test),
//!   the cheapest.
//! - latency cell: the lowest p95 among candidates tied with the best or within `quality_slack`.
//! - default cell: the lowest cost per call among the same.
//! - hysteresis: the current route stays unless the challenger is better by at least
//!   `min_effect` (significantly so on quality); cells under `min_samples` keep their route.
//! - fallback: same tier as the primary, another provider, preferring the candidate that
//!   succeeds where the primary failed or scored lowest.

use std::collections::BTreeMap;

use crate::analyze::{Analysis, ModelTask};
use crate::config::{Config, Route, RouteTable};
use crate::stats::{self, Estimate};
use crate::types::{Cell, ModelId, Priority, TaskType};

/// A challenger compared with the current primary, on the items both answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub challenger: ModelId,
    /// Quality difference challenger − current, paired on shared items.
    pub delta_quality: Option<Estimate>,
    /// Cost difference per 1,000 requests, USD.
    pub delta_cost_per_1k: Option<f64>,
    pub delta_p95_ms: Option<f64>,
    pub delta_error_rate: f64,
    /// Items both answered.
    pub n: usize,
}

/// What the policy decided for one cell.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// `None` is the `[default]` route.
    pub cell: Option<Cell>,
    pub old: Route,
    pub new: Route,
    pub reason: String,
    pub evidence: Option<Evidence>,
    /// Warnings about this cell (too few samples, no same-tier fallback, …).
    pub flags: Vec<String>,
    /// Graded items behind the decision (of the chosen primary).
    pub n: usize,
    /// Whether the cell is written explicitly in the recommended table.
    pub explicit: bool,
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
}

/// The figures of one model for one objective scope (a task type, or every item for `[default]`).
struct Candidate<'a> {
    model: &'a ModelId,
    quality: f64,
    n: usize,
    items: &'a BTreeMap<String, f64>,
    cost: Option<f64>,
    p95: Option<f64>,
    error_rate: f64,
}

pub fn recommend(cfg: &Config, a: &Analysis) -> Recommendation {
    let tasks: Vec<TaskType> = TaskType::ALL
        .iter()
        .copied()
        .filter(|t| a.model_task.iter().any(|m| m.task == *t))
        .collect();
    let mut decisions = Vec::new();

    // [default]: the default objective over every item.
    let pooled = pool(a);
    let default_decision = decide(
        cfg,
        a,
        None,
        Priority::Default,
        &pooled.iter().collect::<Vec<_>>(),
        &cfg.table.default,
    );
    let new_default = default_decision.new.clone();
    decisions.push(Decision {
        explicit: true,
        ..default_decision
    });

    for task in tasks {
        let scope: Vec<&ModelTask> = a.model_task.iter().filter(|m| m.task == task).collect();
        for &prio in Priority::ALL {
            let cell = Cell::new(task, prio);
            let current = cfg.table.route(cell).clone();
            let mut d = decide(cfg, a, Some(cell), prio, &scope, &current);
            // Keep the table compact: a cell that is not listed and resolves to the new default
            // stays unlisted.
            d.explicit = cfg.table.cells.contains_key(&cell) || d.new != new_default;
            if !cfg.table.cells.contains_key(&cell) {
                d.old = cfg.table.default.clone();
            }
            decisions.push(d);
        }
    }
    // Listed cells of task types without data stay as they are.
    for (cell, route) in &cfg.table.cells {
        if !decisions.iter().any(|d| d.cell == Some(*cell)) {
            decisions.push(Decision {
                cell: Some(*cell),
                old: route.clone(),
                new: route.clone(),
                reason: "kept: the dataset has no items of this task type".into(),
                evidence: None,
                flags: vec!["no data".into()],
                n: 0,
                explicit: true,
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

/// Every task pooled per model, for the `[default]` route.
fn pool(a: &Analysis) -> Vec<ModelTask> {
    let mut out: Vec<ModelTask> = Vec::new();
    for mt in &a.model_task {
        match out.iter_mut().find(|m| m.model == mt.model) {
            Some(m) => {
                m.n_calls += mt.n_calls;
                m.n_errors += mt.n_errors;
                m.item_scores
                    .extend(mt.item_scores.iter().map(|(k, v)| (k.clone(), *v)));
                m.n_graded = m.item_scores.len();
            }
            None => out.push(mt.clone()),
        }
    }
    for m in &mut out {
        let scores: Vec<f64> = m.item_scores.values().copied().collect();
        m.quality = stats::mean(&scores).map(|v| Estimate {
            value: v,
            low: v,
            high: v,
        });
        m.error_rate = if m.n_calls == 0 {
            0.0
        } else {
            m.n_errors as f64 / m.n_calls as f64
        };
        let (costs, lats) = pooled_cost_latency(a, &m.model);
        m.cost_per_call = costs;
        m.p95_ms = lats;
    }
    out
}

fn pooled_cost_latency(a: &Analysis, model: &ModelId) -> (Option<f64>, Option<f64>) {
    let mut costs = Vec::new();
    let mut lats = Vec::new();
    let mut unpriced = false;
    for ((_, m), o) in &a.outcomes {
        if m != model || !o.ok {
            continue;
        }
        match o.cost_usd {
            Some(c) => costs.push(c),
            None => unpriced = true,
        }
        if let Some(l) = o.latency_ms {
            lats.push(l);
        }
    }
    (
        if unpriced { None } else { stats::mean(&costs) },
        stats::quantile(&lats, 0.95),
    )
}

fn decide(
    cfg: &Config,
    a: &Analysis,
    cell: Option<Cell>,
    prio: Priority,
    scope: &[&ModelTask],
    current: &Route,
) -> Decision {
    let p = &cfg.policy;
    let keep = |reason: String, flags: Vec<String>, n: usize| Decision {
        cell,
        old: current.clone(),
        new: current.clone(),
        reason,
        evidence: None,
        flags,
        n,
        explicit: true,
    };
    let label = cell
        .map(|c| c.to_string())
        .unwrap_or_else(|| "default".into());

    let all: Vec<Candidate> = scope
        .iter()
        .filter(|m| cfg.models.get(&m.model).is_some_and(|c| c.candidate))
        .filter_map(|m| {
            Some(Candidate {
                model: &m.model,
                quality: m.quality?.value,
                n: m.n_graded,
                items: &m.item_scores,
                cost: m.cost_per_call,
                p95: m.p95_ms,
                error_rate: m.error_rate,
            })
        })
        .collect();
    let max_n = all.iter().map(|c| c.n).max().unwrap_or(0);
    if max_n < p.min_samples {
        return keep(
            format!(
                "kept: too few samples ({max_n} graded items; the policy needs {})",
                p.min_samples
            ),
            vec![format!("needs {} more graded items", p.min_samples - max_n)],
            max_n,
        );
    }
    let eligible: Vec<&Candidate> = all
        .iter()
        .filter(|c| c.n >= p.min_samples && c.error_rate <= p.max_error_rate)
        .collect();
    if eligible.is_empty() {
        return keep(
            "kept: every candidate errs too often".into(),
            vec!["high error rates".into()],
            max_n,
        );
    }
    let best = eligible
        .iter()
        .copied()
        .max_by(|x, y| {
            x.quality
                .total_cmp(&y.quality)
                .then_with(|| y.model.cmp(x.model))
        })
        .expect("non-empty");
    let rng_label = |m: &ModelId| format!("{label}|{}|{}", best.model, m);
    // Tied with the best: the paired difference's interval reaches zero.
    let tied = |c: &Candidate| -> bool {
        if c.model == best.model {
            return true;
        }
        match paired(best.items, c.items, p, &rng_label(c.model)) {
            Some(d) => d.low <= 0.0,
            None => false,
        }
    };
    let acceptable: Vec<&Candidate> = eligible
        .iter()
        .copied()
        .filter(|c| {
            tied(c) || (prio != Priority::Quality && c.quality >= best.quality - p.quality_slack)
        })
        .collect();
    let objective = |c: &Candidate| -> f64 {
        match prio {
            Priority::Quality | Priority::Default => c.cost.unwrap_or(f64::INFINITY),
            Priority::Latency => c.p95.unwrap_or(f64::INFINITY),
        }
    };
    let choice = acceptable
        .iter()
        .copied()
        .min_by(|x, y| {
            objective(x)
                .total_cmp(&objective(y))
                .then_with(|| y.quality.total_cmp(&x.quality))
                .then_with(|| x.model.cmp(y.model))
        })
        .expect("the best is acceptable");

    let cur = all.iter().find(|c| c.model == &current.primary);
    let objective_name = match prio {
        Priority::Latency => "p95 latency",
        _ => "cost per call",
    };
    let mut flags = Vec::new();
    let (primary, reason) = match cur {
        _ if choice.model == &current.primary => (
            current.primary.clone(),
            format!(
                "kept: {} is the best by the {prio} objective",
                current.primary
            ),
        ),
        None => (
            choice.model.clone(),
            format!(
                "changed: the current primary {} has no graded answers in this run",
                current.primary
            ),
        ),
        Some(c) if c.n < p.min_samples => (
            choice.model.clone(),
            format!(
                "changed: the current primary has too few graded items ({} < {})",
                c.n, p.min_samples
            ),
        ),
        Some(c) if c.error_rate > p.max_error_rate => (
            choice.model.clone(),
            format!(
                "changed: the current primary errs on {:.0}% of calls",
                c.error_rate * 100.0
            ),
        ),
        Some(c) if !acceptable.iter().any(|x| x.model == c.model) => {
            let d = paired(choice.items, c.items, p, &rng_label(c.model));
            (
                choice.model.clone(),
                format!(
                    "changed: the current primary is significantly worse on quality ({})",
                    d.map(|d| fmt_delta(&d))
                        .unwrap_or_else(|| "no shared items".into())
                ),
            )
        }
        Some(c) => {
            let (now, then) = (objective(choice), objective(c));
            let gain = if then.is_finite() && then > 0.0 {
                (then - now) / then
            } else if then.is_infinite() && now.is_finite() {
                1.0
            } else {
                0.0
            };
            if gain >= p.min_effect {
                let quality_note = if tied(c) {
                    "quality is tied (no significant difference)".to_string()
                } else {
                    format!(
                        "quality is within the {} slack of the best",
                        p.quality_slack
                    )
                };
                (
                    choice.model.clone(),
                    format!(
                        "changed: {quality_note} and {objective_name} is {:.0}% lower",
                        gain * 100.0
                    ),
                )
            } else {
                (
                    current.primary.clone(),
                    format!(
                        "kept (no significant difference): {} is {:.1}% lower on {objective_name}, under the {:.0}% minimum effect",
                        choice.model,
                        gain * 100.0,
                        p.min_effect * 100.0
                    ),
                )
            }
        }
    };

    let fallback = choose_fallback(cfg, a, &primary, &eligible, current, &mut flags, scope);
    let new = Route {
        primary: primary.clone(),
        fallback,
    };
    let chosen = all.iter().find(|c| c.model == &primary);
    let challenger = if primary != current.primary {
        Some(&primary)
    } else if choice.model != &current.primary {
        Some(choice.model)
    } else {
        None
    };
    let evidence = challenger.and_then(|ch| {
        let new_c = all.iter().find(|c| c.model == ch)?;
        let old_c = cur?;
        Some(Evidence {
            challenger: ch.clone(),
            delta_quality: paired(
                new_c.items,
                old_c.items,
                p,
                &format!("{label}|evidence|{ch}"),
            ),
            delta_cost_per_1k: Some((new_c.cost? - old_c.cost?) * 1000.0),
            delta_p95_ms: match (new_c.p95, old_c.p95) {
                (Some(x), Some(y)) => Some(x - y),
                _ => None,
            },
            delta_error_rate: new_c.error_rate - old_c.error_rate,
            n: shared(new_c.items, old_c.items).0.len(),
        })
    });
    let _ = a;
    Decision {
        cell,
        old: current.clone(),
        new,
        reason,
        evidence,
        flags,
        n: chosen.map(|c| c.n).unwrap_or(0),
        explicit: true,
    }
}

/// Paired bootstrap of `a − b` on the items both have.
fn paired(
    a: &BTreeMap<String, f64>,
    b: &BTreeMap<String, f64>,
    p: &crate::config::PolicyConfig,
    label: &str,
) -> Option<Estimate> {
    let (x, y) = shared(a, b);
    if x.is_empty() {
        return None;
    }
    stats::paired_bootstrap(
        &x,
        &y,
        p.bootstrap_resamples,
        p.confidence,
        &mut stats::rng_for(p.seed, label),
    )
}

fn shared(a: &BTreeMap<String, f64>, b: &BTreeMap<String, f64>) -> (Vec<f64>, Vec<f64>) {
    a.iter().filter_map(|(k, x)| Some((*x, *b.get(k)?))).unzip()
}

pub fn fmt_delta(d: &Estimate) -> String {
    format!("Δ {:+.3} [{:+.3}, {:+.3}]", d.value, d.low, d.high)
}

/// Same tier as the primary, preferring another provider, then the candidate that most often
/// does well where the primary failed or scored lowest, then quality.
fn choose_fallback(
    cfg: &Config,
    a: &Analysis,
    primary: &ModelId,
    eligible: &[&Candidate],
    current: &Route,
    flags: &mut Vec<String>,
    scope: &[&ModelTask],
) -> Option<ModelId> {
    let pm = cfg.models.get(primary)?;
    let same_tier: Vec<&&Candidate> = eligible
        .iter()
        .filter(|c| {
            c.model != primary && cfg.models.get(c.model).is_some_and(|m| m.shares_tier(pm))
        })
        .collect();
    if same_tier.is_empty() {
        flags.push(format!("no other candidate in the tier of {primary}"));
        return current.fallback.clone().filter(|f| f != primary);
    }
    let other_provider: Vec<&&Candidate> = same_tier
        .iter()
        .copied()
        .filter(|c| c.model.provider() != primary.provider())
        .collect();
    let pool = if other_provider.is_empty() {
        flags.push(format!(
            "the tier of {primary} has no other provider: the fallback shares its provider"
        ));
        same_tier
    } else {
        other_provider
    };
    // The items where the primary failed or scored in its lowest quarter.
    let primary_items = scope
        .iter()
        .find(|m| &m.model == primary)
        .map(|m| &m.item_scores);
    let weak: Vec<&String> = match primary_items {
        Some(items) => {
            let mut scores: Vec<f64> = items.values().copied().collect();
            scores.sort_by(f64::total_cmp);
            let cut = if scores.is_empty() {
                0.0
            } else {
                stats::quantile_sorted(&scores, 0.25)
            };
            let mut weak: Vec<&String> = items
                .iter()
                .filter(|(_, s)| **s <= cut)
                .map(|(k, _)| k)
                .collect();
            weak.extend(
                a.outcomes
                    .iter()
                    .filter(|((item, m), o)| m == primary && !o.ok && !items.contains_key(item))
                    .map(|((item, _), _)| item),
            );
            weak
        }
        None => Vec::new(),
    };
    let rescue = |c: &Candidate| -> f64 {
        if weak.is_empty() {
            return 0.0;
        }
        let ps = primary_items;
        weak.iter()
            .filter(|item| {
                let theirs = c.items.get(item.as_str());
                let ours = ps.and_then(|p| p.get(item.as_str()));
                match (theirs, ours) {
                    (Some(t), Some(o)) => t > o,
                    (Some(_), None) => true,
                    _ => false,
                }
            })
            .count() as f64
            / weak.len() as f64
    };
    let best = pool
        .iter()
        .max_by(|x, y| {
            rescue(x)
                .total_cmp(&rescue(y))
                .then_with(|| x.quality.total_cmp(&y.quality))
                .then_with(|| y.model.cmp(x.model))
        })
        .map(|c| c.model.clone());
    // Keep the current fallback when it is as good a rescuer as the best.
    if let Some(f) = &current.fallback
        && f != primary
        && let Some(cf) = pool.iter().find(|c| c.model == f)
        && let Some(b) = &best
        && let Some(bc) = pool.iter().find(|c| c.model == b)
        && rescue(bc) - rescue(cf) < cfg.policy.min_effect
    {
        return Some(f.clone());
    }
    best
}
