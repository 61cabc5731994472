//! Simulation: because every candidate answered every item, any table can be evaluated
//! exactly: route each item by a classifier's *predicted* labels and read the chosen model's
//! recorded grade, cost and latency (falling back where the primary failed retryably).
//!
//! Beside the table scenarios it computes the figures RouteLLM reports for a router between a
//! strong and a weak model (APGR, and the share of strong calls that recovers 50% and 80% of the
//! quality gap), and what each declared classifier is worth for its cost.

use std::collections::BTreeMap;

use crate::base::types::{Cell, ModelId, Priority, TaskType};
use crate::config::RouteTable;
use crate::dataset::Dataset;
use crate::derive::analyze::{Analysis, ClassifierSummary, ItemOutcome};
use crate::derive::crossfit::CrossFit;
use crate::derive::stats;

/// How items are routed in one simulated scenario.
pub enum Routing<'a> {
    /// A table, through a classifier's predictions (`None`: the true labels, a perfect classifier).
    Table {
        table: &'a RouteTable,
        classifier: Option<&'a ModelId>,
    },
    /// Every item to one model.
    Always(&'a ModelId),
    /// Every item to the candidate that scored best on it (the cheapest among ties).
    Oracle,
    /// Each item through the table fitted without its fold (cross-fitting), through a
    /// classifier's predictions (`None`: the true labels).
    CrossFitted {
        fit: &'a CrossFit,
        classifier: Option<&'a ModelId>,
    },
}

/// Which table or baseline a simulated row is; its text (`Display`) is the `scenario` column of
/// `simulation.csv` and the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// The routes file's table: `current`.
    Current,
    /// The recommended table, fitted on these items (in-sample): `recommended`.
    Recommended,
    /// The recommended table routed out of sample (cross-fitted): `recommended (out of sample)`.
    RecommendedOutOfSample,
    /// Every item to the strongest candidate: `always-strongest (MODEL)`.
    AlwaysStrongest(ModelId),
    /// Every item to the cheapest candidate: `always-cheapest (MODEL)`.
    AlwaysCheapest(ModelId),
    /// Every item to the candidate that scored best on it: `oracle`.
    Oracle,
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scenario::Current => f.write_str("current"),
            Scenario::Recommended => f.write_str("recommended"),
            Scenario::RecommendedOutOfSample => f.write_str("recommended (out of sample)"),
            Scenario::AlwaysStrongest(m) => write!(f, "always-strongest ({m})"),
            Scenario::AlwaysCheapest(m) => write!(f, "always-cheapest ({m})"),
            Scenario::Oracle => f.write_str("oracle"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimRow {
    pub scenario: Scenario,
    pub classifier: String,
    /// Items with a graded outcome.
    pub n: usize,
    pub quality: Option<f64>,
    /// Cost per 1,000 requests, classifier included; `None` if a routed model is unpriced.
    pub cost_per_1k: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    /// Share of requests that needed the fallback.
    pub fallback_rate: f64,
    /// Share of requests routed to a different model than the true labels would have chosen.
    pub misrouted_rate: Option<f64>,
    /// Share of the true-label quality this classifier's misroutes lose: `(q_true − q) / q_true`.
    pub misclassification_loss: Option<f64>,
    /// Requests per primary model the routing chose.
    pub primary_counts: BTreeMap<ModelId, usize>,
    /// Requests simulated.
    pub requests: usize,
}

impl SimRow {
    /// Share of requests whose primary was `m`.
    pub fn share_of(&self, m: &ModelId) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.primary_counts.get(m).copied().unwrap_or(0) as f64 / self.requests as f64
        }
    }
}

fn outcome<'a>(a: &'a Analysis, item: &str, m: &ModelId) -> Option<&'a ItemOutcome> {
    a.outcomes.get(&(item.to_string(), m.clone()))
}

/// The labels a classifier gave an item (the router's general/default when it gave none).
fn predicted(a: &Analysis, classifier: &ModelId, item: &str) -> (TaskType, Priority) {
    a.predictions
        .get(classifier)
        .and_then(|p| p.get(item))
        .map(|p| p.labels)
        .unwrap_or((TaskType::General, Priority::Default))
}

pub fn simulate(a: &Analysis, ds: &Dataset, name: Scenario, routing: Routing) -> SimRow {
    let mut scores = Vec::new();
    let mut costs = Vec::new();
    let mut unpriced = false;
    let mut lats = Vec::new();
    let mut fallbacks = 0usize;
    let mut misrouted = 0usize;
    let mut requests = 0usize;
    let mut primary_counts: BTreeMap<ModelId, usize> = BTreeMap::new();
    for item in &ds.items {
        let Some((model_route, cls_cost, cls_latency, truth_primary)) =
            route_item(a, item, &routing)
        else {
            continue;
        };
        requests += 1;
        *primary_counts.entry(model_route[0].clone()).or_default() += 1;
        if truth_primary.is_some_and(|t| t != model_route[0]) {
            misrouted += 1;
        }
        let answer = answer_item(a, &item.id, &model_route, cls_cost, cls_latency);
        fallbacks += usize::from(answer.fell_back);
        match answer.cost {
            Some(c) => costs.push(c),
            None => unpriced = true,
        }
        lats.push(answer.latency);
        if let Some(s) = answer.score {
            scores.push(s);
        }
    }
    let share = |k: usize| {
        if requests == 0 {
            0.0
        } else {
            k as f64 / requests as f64
        }
    };
    SimRow {
        scenario: name,
        classifier: classifier_column(&routing),
        n: scores.len(),
        quality: stats::mean(&scores),
        cost_per_1k: if unpriced {
            None
        } else {
            stats::mean(&costs).map(|c| c * 1000.0)
        },
        p95_latency_ms: stats::quantile(&lats, 0.95),
        fallback_rate: share(fallbacks),
        misrouted_rate: matches!(
            routing,
            Routing::Table {
                classifier: Some(_),
                ..
            } | Routing::CrossFitted {
                classifier: Some(_),
                ..
            }
        )
        .then(|| share(misrouted)),
        misclassification_loss: None,
        primary_counts,
        requests,
    }
}

/// Where one item goes: the models (primary, then fallback), the classifier's cost and latency
/// for it, and the primary its true labels would pick; `None` when the routing skips it.
type ItemRoute<'r> = (Vec<&'r ModelId>, Option<f64>, f64, Option<&'r ModelId>);

fn route_item<'r>(
    a: &'r Analysis,
    item: &crate::dataset::Item,
    routing: &Routing<'r>,
) -> Option<ItemRoute<'r>> {
    Some(match routing {
        Routing::Always(m) => (vec![*m], Some(0.0), 0.0, None),
        Routing::Oracle => (vec![oracle_choice(a, &item.id)?], Some(0.0), 0.0, None),
        Routing::Table { table, classifier } => table_route(a, item, table, *classifier),
        Routing::CrossFitted { fit, classifier } => {
            table_route(a, item, fit.table_for(&item.id)?, *classifier)
        }
    })
}

/// The candidate that scored best on the item (the cheapest among ties, then by id).
fn oracle_choice<'a>(a: &'a Analysis, item: &str) -> Option<&'a ModelId> {
    a.models
        .iter()
        .filter_map(|m| Some((m, outcome(a, item, m)?)))
        .filter(|(_, o)| o.score.is_some())
        .max_by(|(mx, x), (my, y)| {
            x.score
                .unwrap_or(0.0)
                .total_cmp(&y.score.unwrap_or(0.0))
                .then_with(|| {
                    y.cost_usd
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&x.cost_usd.unwrap_or(f64::INFINITY))
                })
                .then_with(|| my.cmp(mx))
        })
        .map(|(m, _)| m)
}

/// What one routed request got.
struct Answered {
    /// Classifier plus every model tried, in ms.
    latency: f64,
    /// Classifier plus the answering model, USD; `None` when one of them is unpriced.
    cost: Option<f64>,
    /// The answer's score; `None` when a routed model has no recorded outcome.
    score: Option<f64>,
    /// The fallback answered.
    fell_back: bool,
}

/// The primary, then the fallback when the primary failed with a retryable error.
fn answer_item(
    a: &Analysis,
    item: &str,
    route: &[&ModelId],
    cls_cost: Option<f64>,
    cls_latency: f64,
) -> Answered {
    let mut out = Answered {
        latency: cls_latency,
        cost: cls_cost,
        score: Some(0.0),
        fell_back: false,
    };
    for (i, m) in route.iter().enumerate() {
        let Some(o) = outcome(a, item, m) else {
            out.score = None;
            break;
        };
        out.latency += o.latency_ms.unwrap_or(0.0);
        if o.ok {
            out.cost = match (out.cost, o.cost_usd) {
                (Some(x), Some(y)) => Some(x + y),
                _ => None,
            };
            out.score = o.score;
            out.fell_back = i > 0;
            break;
        }
        if !o.retryable_error {
            break;
        }
    }
    out
}

/// The `classifier` column of a routing: the classifier's id, the true labels, or `none`.
fn classifier_column(routing: &Routing) -> String {
    match routing {
        Routing::Table {
            classifier: Some(c),
            ..
        }
        | Routing::CrossFitted {
            classifier: Some(c),
            ..
        } => c.to_string(),
        Routing::Table {
            classifier: None, ..
        }
        | Routing::CrossFitted {
            classifier: None, ..
        } => TRUE_LABELS.into(),
        _ => "none".into(),
    }
}

/// The models an item goes to under `table` (primary, then fallback), the classifier's cost and
/// latency for it, and the primary its true labels would pick.
fn table_route<'t>(
    a: &Analysis,
    item: &crate::dataset::Item,
    table: &'t RouteTable,
    classifier: Option<&ModelId>,
) -> (Vec<&'t ModelId>, Option<f64>, f64, Option<&'t ModelId>) {
    let truth = table.route(Cell::new(item.task, item.priority));
    let (labels, cost, lat) = match classifier {
        None => ((item.task, item.priority), Some(0.0), 0.0),
        Some(c) => match a.predictions.get(c).and_then(|p| p.get(&item.id)) {
            Some(p) => (p.labels, p.cost_usd, p.latency_ms.unwrap_or(0.0)),
            None => ((TaskType::General, Priority::Default), Some(0.0), 0.0),
        },
    };
    let route = table.route(Cell::new(labels.0, labels.1));
    let mut chain = vec![&route.primary];
    chain.extend(route.fallback.as_ref());
    (chain, cost, lat, Some(&truth.primary))
}

/// The classifier column of the scenarios routed by the items' true labels.
pub const TRUE_LABELS: &str = "true labels";

/// A model's mean score and cost per call over every item.
fn pooled(a: &Analysis, ds: &Dataset, m: &ModelId) -> (Option<f64>, Option<f64>) {
    let os: Vec<&ItemOutcome> = ds
        .items
        .iter()
        .filter_map(|i| outcome(a, &i.id, m))
        .collect();
    let q: Vec<f64> = os.iter().filter_map(|o| o.score).collect();
    let answered = os.iter().filter(|o| o.n_errors < o.n_calls).count();
    let c: Vec<f64> = os
        .iter()
        .filter(|o| o.n_errors < o.n_calls)
        .filter_map(|o| o.cost_usd)
        .collect();
    (
        stats::mean(&q),
        if c.len() == answered {
            stats::mean(&c)
        } else {
            None
        },
    )
}

/// The strongest candidate (best mean quality over every item) and the cheapest (lowest cost
/// per call), ties broken by name.
pub fn strongest_and_cheapest(a: &Analysis, ds: &Dataset) -> (Option<ModelId>, Option<ModelId>) {
    // (model, (quality, cost per call))
    type Figures<'m> = (&'m ModelId, (Option<f64>, Option<f64>));
    let figures: Vec<Figures> = a.models.iter().map(|m| (m, pooled(a, ds, m))).collect();
    let strongest = figures
        .iter()
        .filter(|(_, (q, _))| q.is_some())
        .max_by(|(x, (qx, _)), (y, (qy, _))| {
            qx.unwrap_or(0.0)
                .total_cmp(&qy.unwrap_or(0.0))
                .then_with(|| y.cmp(x))
        })
        .map(|(m, _)| (*m).clone());
    let cheapest = figures
        .iter()
        .min_by(|(x, (_, cx)), (y, (_, cy))| {
            cx.unwrap_or(f64::INFINITY)
                .total_cmp(&cy.unwrap_or(f64::INFINITY))
                .then_with(|| x.cmp(y))
        })
        .map(|(m, _)| (*m).clone());
    (strongest, cheapest)
}

/// The standard scenarios: current and recommended tables through every classifier and through
/// the true labels, always-strongest, always-cheapest, and the per-item oracle.
///
/// With a cross-fit, `recommended (out of sample)` rows follow the (in-sample) `recommended`
/// ones: each item routed by the table fitted without it.
pub fn standard(
    a: &Analysis,
    ds: &Dataset,
    current: &RouteTable,
    recommended: &RouteTable,
    classifiers: &[ModelId],
    fit: Option<&CrossFit>,
) -> Vec<SimRow> {
    let mut rows = table_rows(a, ds, current, recommended, classifiers);
    if let Some(fit) = fit {
        let oos = |classifier| {
            simulate(
                a,
                ds,
                Scenario::RecommendedOutOfSample,
                Routing::CrossFitted { fit, classifier },
            )
        };
        let truth = oos(None);
        for c in classifiers {
            let mut row = oos(Some(c));
            row.misclassification_loss = loss_to_misroutes(truth.quality, row.quality);
            rows.push(row);
        }
        rows.push(truth);
    }
    standard_tail(a, ds, &mut rows);
    rows
}

/// The current and recommended tables through every classifier and the true labels.
fn table_rows(
    a: &Analysis,
    ds: &Dataset,
    current: &RouteTable,
    recommended: &RouteTable,
    classifiers: &[ModelId],
) -> Vec<SimRow> {
    let mut rows = Vec::new();
    for (name, table) in [
        (Scenario::Current, current),
        (Scenario::Recommended, recommended),
    ] {
        let truth = simulate(
            a,
            ds,
            name.clone(),
            Routing::Table {
                table,
                classifier: None,
            },
        );
        for c in classifiers {
            let mut row = simulate(
                a,
                ds,
                name.clone(),
                Routing::Table {
                    table,
                    classifier: Some(c),
                },
            );
            row.misclassification_loss = loss_to_misroutes(truth.quality, row.quality);
            rows.push(row);
        }
        rows.push(truth);
    }
    rows
}

/// Always-strongest, always-cheapest and the per-item oracle.
fn standard_tail(a: &Analysis, ds: &Dataset, rows: &mut Vec<SimRow>) {
    let (strongest, cheapest) = strongest_and_cheapest(a, ds);
    if let Some(m) = &strongest {
        rows.push(simulate(
            a,
            ds,
            Scenario::AlwaysStrongest(m.clone()),
            Routing::Always(m),
        ));
    }
    if let Some(m) = &cheapest {
        rows.push(simulate(
            a,
            ds,
            Scenario::AlwaysCheapest(m.clone()),
            Routing::Always(m),
        ));
    }
    rows.push(simulate(a, ds, Scenario::Oracle, Routing::Oracle));
}

/// `(q_true − q_pred) / q_true`; `None` without both qualities or with `q_true` 0.
fn loss_to_misroutes(truth: Option<f64>, predicted: Option<f64>) -> Option<f64> {
    match (truth, predicted) {
        (Some(t), Some(q)) if t > 0.0 => Some((t - q) / t),
        _ => None,
    }
}

/// The recommended table's rows the report's misclassification sentence reads: the
/// out-of-sample (cross-fitted) rows when there are any, else the in-sample ones, with the
/// label that says which.
pub(crate) fn misclassification_basis(rows: &[SimRow]) -> (Scenario, &'static str) {
    if rows
        .iter()
        .any(|r| r.scenario == Scenario::RecommendedOutOfSample)
    {
        (Scenario::RecommendedOutOfSample, "out of sample")
    } else {
        (Scenario::Recommended, "in-sample")
    }
}

/// Share of the true-label quality lost to misclassification: `(q_true − q_pred) / q_true`.
pub fn misclassification_loss(
    rows: &[SimRow],
    scenario: &Scenario,
    classifier: &str,
) -> Option<f64> {
    rows.iter()
        .find(|r| &r.scenario == scenario && r.classifier == classifier)?
        .misclassification_loss
}

// ---------------------------------------------------------------------------------------------
// RouteLLM-comparable figures

/// One point of a call-performance threshold curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Share of requests sent to the strong model.
    pub strong_share: f64,
    pub quality: f64,
    /// Performance gap recovered: `(quality − q_weak) / (q_strong − q_weak)`.
    pub pgr: f64,
}

/// A family of routers between two models, swept from all-weak to all-strong.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdCurve {
    pub router: String,
    pub points: Vec<CurvePoint>,
    /// Average performance gap recovered: the area under PGR over the strong share.
    pub apgr: f64,
    /// Smallest strong share that recovers 50% / 80% of the gap.
    pub cpt50: Option<f64>,
    pub cpt80: Option<f64>,
}

/// RouteLLM's figures for the strong/weak pair of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct StrongWeak {
    pub strong: ModelId,
    pub weak: ModelId,
    /// Items both were graded on.
    pub n: usize,
    pub quality_strong: f64,
    pub quality_weak: f64,
    /// The classifier whose predicted cells the cell router routes by.
    pub classifier: ModelId,
    /// Predicted cells sent to the strong model in order of their measured gain (in-sample:
    /// ordered on the items it is scored on).
    pub cells: ThresholdCurve,
    /// The same router cross-fitted: each item ordered by its predicted cell's gain on the
    /// other folds (out of sample).
    pub cells_out_of_sample: Option<ThresholdCurve>,
    /// Items sent to the strong model in order of their own gain: the upper bound.
    pub oracle: ThresholdCurve,
    /// Where the simulated tables sit: (scenario, strong share, PGR), through the classifier.
    pub tables: Vec<(Scenario, f64, f64)>,
}

/// Build a curve from groups of items, each group `(items, summed strong − weak gain)`,
/// sent to the strong model in the given order.
fn curve(router: &str, groups: &[(usize, f64)], n: usize, q_weak: f64, gap: f64) -> ThresholdCurve {
    let mut points = vec![CurvePoint {
        strong_share: 0.0,
        quality: q_weak,
        pgr: 0.0,
    }];
    let (mut routed, mut gained) = (0usize, 0.0);
    for (k, g) in groups {
        routed += k;
        gained += g;
        let q = q_weak + gained / n as f64;
        points.push(CurvePoint {
            strong_share: routed as f64 / n as f64,
            quality: q,
            pgr: (q - q_weak) / gap,
        });
    }
    // Routing part of a group at random moves along a straight line: the curve is piecewise
    // linear, so the trapezoid rule is its exact area.
    let apgr = points
        .windows(2)
        .map(|w| (w[1].strong_share - w[0].strong_share) * (w[0].pgr + w[1].pgr) / 2.0)
        .sum();
    let cpt = |target: f64| -> Option<f64> {
        points.windows(2).find_map(|w| {
            let (a, b) = (w[0], w[1]);
            if b.pgr + 1e-12 < target {
                return None;
            }
            if a.pgr >= target {
                return Some(a.strong_share);
            }
            let t = (target - a.pgr) / (b.pgr - a.pgr);
            Some(a.strong_share + t * (b.strong_share - a.strong_share))
        })
    };
    ThresholdCurve {
        router: router.to_string(),
        apgr,
        cpt50: cpt(0.5),
        cpt80: cpt(0.8),
        points,
    }
}

/// RouteLLM's figures for the strongest and the cheapest candidate, when they differ and the
/// strong one is better: the cell router sends the classifier's predicted cells to the strong
/// model in order of their measured gain (ordered on the same data, so an optimistic figure);
/// the oracle sends items in order of their own gain.
pub fn strong_weak(
    a: &Analysis,
    ds: &Dataset,
    classifier: &ModelId,
    scenarios: &[SimRow],
    fit: Option<&CrossFit>,
) -> Option<StrongWeak> {
    let (strong, weak) = strongest_and_cheapest(a, ds);
    let (strong, weak) = (strong?, weak?);
    if strong == weak {
        return None;
    }
    let mut per_cell: BTreeMap<Cell, (usize, f64)> = BTreeMap::new();
    // (fold, cell, gain) of every item, for the out-of-fold ordering.
    let mut held: Vec<(Option<usize>, Cell, f64)> = Vec::new();
    let mut gains = Vec::new();
    let (mut sum_s, mut sum_w) = (0.0, 0.0);
    for item in &ds.items {
        let s = outcome(a, &item.id, &strong).and_then(|o| o.score);
        let w = outcome(a, &item.id, &weak).and_then(|o| o.score);
        let (Some(s), Some(w)) = (s, w) else {
            continue;
        };
        sum_s += s;
        sum_w += w;
        gains.push(s - w);
        let (t, p) = predicted(a, classifier, &item.id);
        let e = per_cell.entry(Cell::new(t, p)).or_default();
        e.0 += 1;
        e.1 += s - w;
        held.push((fit.and_then(|f| f.fold(&item.id)), Cell::new(t, p), s - w));
    }
    let n = gains.len();
    if n == 0 {
        return None;
    }
    let (q_strong, q_weak) = (sum_s / n as f64, sum_w / n as f64);
    let gap = q_strong - q_weak;
    if gap <= 0.0 {
        return None;
    }
    let mut cells: Vec<(Cell, (usize, f64))> = per_cell.clone().into_iter().collect();
    // Highest mean gain first; cell order breaks ties, so the curve is reproducible.
    cells.sort_by(|(ca, (na, ga)), (cb, (nb, gb))| {
        (gb / *nb as f64)
            .total_cmp(&(ga / *na as f64))
            .then_with(|| ca.cmp(cb))
    });
    let cell_groups: Vec<(usize, f64)> = cells.iter().map(|(_, g)| *g).collect();
    gains.sort_by(|x, y| y.total_cmp(x));
    let item_groups: Vec<(usize, f64)> = gains.iter().map(|g| (1, *g)).collect();
    let tables = scenarios
        .iter()
        .filter(|r| r.classifier == classifier.as_str())
        .filter_map(|r| {
            let q = r.quality?;
            Some((r.scenario.clone(), r.share_of(&strong), (q - q_weak) / gap))
        })
        .collect();
    Some(StrongWeak {
        n,
        quality_strong: q_strong,
        quality_weak: q_weak,
        classifier: classifier.clone(),
        cells: curve("cells by measured gain", &cell_groups, n, q_weak, gap),
        cells_out_of_sample: fit.map(|f| {
            curve(
                "cells by measured gain, out of sample",
                &out_of_fold_groups(&held, &per_cell, f.k),
                n,
                q_weak,
                gap,
            )
        }),
        oracle: curve("per-item oracle", &item_groups, n, q_weak, gap),
        tables,
        strong,
        weak,
    })
}

/// Items in order of their predicted cell's mean gain measured on the other folds (highest
/// first; cell, then item order break ties), each a group of one.
fn out_of_fold_groups(
    held: &[(Option<usize>, Cell, f64)],
    per_cell: &BTreeMap<Cell, (usize, f64)>,
    k: usize,
) -> Vec<(usize, f64)> {
    let mut in_fold: BTreeMap<(usize, Cell), (usize, f64)> = BTreeMap::new();
    for (f, c, g) in held {
        let e = in_fold.entry((f.unwrap_or(k), *c)).or_default();
        e.0 += 1;
        e.1 += g;
    }
    let score = |f: Option<usize>, c: Cell| -> f64 {
        let (n, g) = per_cell.get(&c).copied().unwrap_or_default();
        let (nf, gf) = in_fold
            .get(&(f.unwrap_or(k), c))
            .copied()
            .unwrap_or_default();
        if n > nf {
            (g - gf) / (n - nf) as f64
        } else {
            0.0
        }
    };
    let mut order: Vec<(f64, Cell, usize, f64)> = held
        .iter()
        .enumerate()
        .map(|(i, (f, c, g))| (score(*f, *c), *c, i, *g))
        .collect();
    order.sort_by(|x, y| {
        y.0.total_cmp(&x.0)
            .then_with(|| x.1.cmp(&y.1))
            .then(x.2.cmp(&y.2))
    });
    order.into_iter().map(|(_, _, _, g)| (1, g)).collect()
}

// ---------------------------------------------------------------------------------------------
// Classifier return on cost

/// What one classifier is worth: its accuracy and cost, and the recommended table routed
/// through it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierValue {
    pub classifier: ModelId,
    /// Both labels right.
    pub accuracy: f64,
    /// The classifier's own cost per 1,000 requests.
    pub classifier_cost_per_1k: Option<f64>,
    /// The recommended table through this classifier.
    pub quality: Option<f64>,
    pub cost_per_1k: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    pub misclassification_loss: Option<f64>,
}

/// One row per classifier with predictions, in the order they are declared.
pub fn classifier_value(
    summaries: &[ClassifierSummary],
    rows: &[SimRow],
    classifiers: &[ModelId],
) -> Vec<ClassifierValue> {
    classifiers
        .iter()
        .filter_map(|c| {
            let s = summaries.iter().find(|s| &s.model == c)?;
            let r = rows
                .iter()
                .find(|r| r.scenario == Scenario::Recommended && r.classifier == c.as_str())?;
            Some(ClassifierValue {
                classifier: c.clone(),
                accuracy: s.both_accuracy,
                classifier_cost_per_1k: s.cost_per_call.map(|x| x * 1000.0),
                quality: r.quality,
                cost_per_1k: r.cost_per_1k,
                p95_latency_ms: r.p95_latency_ms,
                misclassification_loss: r.misclassification_loss,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Route;
    use crate::derive::analyze::Prediction;
    use polars::prelude::DataFrame;
    use std::path::Path;

    fn m(s: &str) -> ModelId {
        ModelId::parse(s).unwrap()
    }

    fn ok(score: f64, cost: f64, latency: f64) -> ItemOutcome {
        ItemOutcome {
            score: Some(score),
            cost_usd: Some(cost),
            latency_ms: Some(latency),
            ok: true,
            n_calls: 1,
            latencies: vec![latency],
            ..Default::default()
        }
    }

    /// Four math items, two general ones. The strong model s/big passes everything; the weak
    /// w/small passes the two general items and math items m1, m2.
    fn fixture() -> (Analysis, Dataset) {
        let mut lines = String::new();
        for (id, task) in [
            ("m1", "math"),
            ("m2", "math"),
            ("m3", "math"),
            ("m4", "math"),
            ("g1", "general"),
            ("g2", "general"),
        ] {
            lines.push_str(&format!(
                "{{\"id\":\"{id}\",\"prompt\":\"p {id}\",\"task_type\":\"{task}\",\"priority\":\"default\",\"grader\":{{\"kind\":\"recorded\"}}}}\n"
            ));
        }
        let ds = Dataset::parse(Path::new("d.jsonl"), lines.as_bytes()).unwrap();
        let (strong, weak, cls) = (m("s/big"), m("w/small"), m("c/cls"));
        let mut outcomes = BTreeMap::new();
        for it in &ds.items {
            outcomes.insert((it.id.clone(), strong.clone()), ok(1.0, 0.010, 900.0));
            let w = if ["m3", "m4"].contains(&it.id.as_str()) {
                0.0
            } else {
                1.0
            };
            outcomes.insert((it.id.clone(), weak.clone()), ok(w, 0.001, 100.0));
        }
        // The classifier calls m4 "general": one misroute.
        let mut preds = BTreeMap::new();
        for it in &ds.items {
            let task = if it.id == "m4" {
                TaskType::General
            } else {
                it.task
            };
            preds.insert(
                it.id.clone(),
                Prediction {
                    labels: (task, Priority::Default),
                    parsed: true,
                    ok: true,
                    cost_usd: Some(0.0001),
                    latency_ms: Some(10.0),
                },
            );
        }
        let a = Analysis {
            results: DataFrame::empty(),
            judge: DataFrame::empty(),
            judge_summary: Default::default(),
            summary_task: DataFrame::empty(),
            summary_cell: DataFrame::empty(),
            classifier: DataFrame::empty(),
            classifier_accuracy: DataFrame::empty(),
            confusion: DataFrame::empty(),
            model_task: Vec::new(),
            outcomes,
            predictions: BTreeMap::from([(cls, preds)]),
            classifier_summary: Vec::new(),
            models: vec![strong, weak],
            latency_sources: BTreeMap::new(),
            notes: Vec::new(),
        };
        (a, ds)
    }

    fn table() -> RouteTable {
        RouteTable {
            default: Route {
                primary: m("w/small"),
                fallback: None,
            },
            cells: BTreeMap::from([(
                Cell::new(TaskType::Math, Priority::Default),
                Route {
                    primary: m("s/big"),
                    fallback: None,
                },
            )]),
        }
    }

    #[test]
    fn a_table_replayed_through_the_classifier_counts_misroutes_and_their_cost() {
        let (a, ds) = fixture();
        let t = table();
        let rows = standard(&a, &ds, &t, &t, &[m("c/cls")], None);
        let via = rows
            .iter()
            .find(|r| r.scenario == Scenario::Recommended && r.classifier == "c/cls")
            .unwrap();
        // m4 goes to the weak model and fails: 5 of 6 pass.
        assert!((via.quality.unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert!((via.misrouted_rate.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        // 3 strong calls, 3 weak, 6 classifier calls: (0.030 + 0.003 + 0.0006) / 6 × 1000.
        assert!((via.cost_per_1k.unwrap() - 5.6).abs() < 1e-9, "{via:?}");
        // With the true labels every math item goes strong: all pass; the loss is 1/6.
        assert!((via.misclassification_loss.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        assert!((via.share_of(&m("s/big")) - 0.5).abs() < 1e-12);
        let oracle = rows
            .iter()
            .find(|r| r.scenario == Scenario::Oracle)
            .unwrap();
        // The oracle takes the cheaper model whenever both pass: only m3 and m4 go strong.
        assert_eq!(oracle.quality, Some(1.0));
        assert!(
            (oracle.cost_per_1k.unwrap() - (2.0 * 0.010 + 4.0 * 0.001) / 6.0 * 1000.0).abs() < 1e-9
        );
    }

    #[test]
    fn routellm_figures_match_hand_computation() {
        let (a, ds) = fixture();
        let t = table();
        let rows = standard(&a, &ds, &t, &t, &[m("c/cls")], None);
        let sw = strong_weak(&a, &ds, &m("c/cls"), &rows, None).unwrap();
        assert_eq!((sw.strong.as_str(), sw.weak.as_str()), ("s/big", "w/small"));
        // q_strong = 1, q_weak = 4/6, gap = 1/3.
        assert!((sw.quality_weak - 4.0 / 6.0).abs() < 1e-12);
        // Predicted cells: math.default holds m1..m3 (gain 1 over 3 items), general.default
        // holds m4, g1, g2 (gain 1 over 3 items). Equal mean gains, so the cell order decides:
        // math first. Points (0, 0), (0.5, 0.5), (1, 1): APGR = 0.5, CPT(50%) = 0.5,
        // CPT(80%) = 0.8.
        let c = &sw.cells;
        assert_eq!(c.points.len(), 3);
        assert!((c.apgr - 0.5).abs() < 1e-12, "{c:?}");
        assert!((c.cpt50.unwrap() - 0.5).abs() < 1e-12);
        assert!((c.cpt80.unwrap() - 0.8).abs() < 1e-12);
        // The oracle sends m3 and m4 first: PGR reaches 1 at a strong share of 1/3.
        // Area: 1/3 × 1/2 + 2/3 × 1 = 5/6; CPT(50%) = 1/6, CPT(80%) = 0.8/3.
        let o = &sw.oracle;
        assert!((o.apgr - 5.0 / 6.0).abs() < 1e-12, "{o:?}");
        assert!((o.cpt50.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        assert!((o.cpt80.unwrap() - 0.8 / 3.0).abs() < 1e-12);
        // The table sends half the requests strong and recovers (5/6 − 4/6) / (1/3) = 0.5.
        let (_, share, pgr) = sw
            .tables
            .iter()
            .find(|(s, _, _)| *s == Scenario::Recommended)
            .unwrap();
        assert!((share - 0.5).abs() < 1e-12 && (pgr - 0.5).abs() < 1e-12);
    }
}
