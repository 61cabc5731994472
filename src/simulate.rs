//! Simulation: because every candidate answered every item, any table can be evaluated
//! exactly: route each item by a classifier's *predicted* labels and read the chosen model's
//! recorded grade, cost and latency (falling back where the primary failed retryably).

use crate::analyze::{Analysis, ItemOutcome};
use crate::config::RouteTable;
use crate::dataset::Dataset;
use crate::stats;
use crate::types::{Cell, ModelId, Priority, TaskType};

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
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimRow {
    pub scenario: String,
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
}

fn outcome<'a>(a: &'a Analysis, item: &str, m: &ModelId) -> Option<&'a ItemOutcome> {
    a.outcomes.get(&(item.to_string(), m.clone()))
}

pub fn simulate(a: &Analysis, ds: &Dataset, name: &str, routing: Routing) -> SimRow {
    let mut scores = Vec::new();
    let mut costs = Vec::new();
    let mut unpriced = false;
    let mut lats = Vec::new();
    let mut fallbacks = 0usize;
    let mut misrouted = 0usize;
    let mut requests = 0usize;
    for item in &ds.items {
        let (model_route, cls_cost, cls_latency, truth_primary): (
            Vec<&ModelId>,
            Option<f64>,
            f64,
            Option<&ModelId>,
        ) = match &routing {
            Routing::Always(m) => (vec![*m], Some(0.0), 0.0, None),
            Routing::Oracle => {
                let best = a
                    .models
                    .iter()
                    .filter_map(|m| Some((m, outcome(a, &item.id, m)?)))
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
                    });
                match best {
                    Some((m, _)) => (vec![m], Some(0.0), 0.0, None),
                    None => continue,
                }
            }
            Routing::Table { table, classifier } => {
                let truth = table.route(Cell::new(item.task, item.priority));
                let (labels, cost, lat) = match classifier {
                    None => ((item.task, item.priority), Some(0.0), 0.0),
                    Some(c) => match a.predictions.get(*c).and_then(|p| p.get(&item.id)) {
                        Some(p) => (p.labels, p.cost_usd, p.latency_ms.unwrap_or(0.0)),
                        None => ((TaskType::General, Priority::Default), Some(0.0), 0.0),
                    },
                };
                let route = table.route(Cell::new(labels.0, labels.1));
                let mut chain = vec![&route.primary];
                chain.extend(route.fallback.as_ref());
                (chain, cost, lat, Some(&truth.primary))
            }
        };
        requests += 1;
        if truth_primary.is_some_and(|t| t != model_route[0]) {
            misrouted += 1;
        }
        // The primary, then the fallback when the primary failed with a retryable error.
        let mut latency = cls_latency;
        let mut cost = cls_cost;
        let mut final_score = Some(0.0);
        for (i, m) in model_route.iter().enumerate() {
            let Some(o) = outcome(a, &item.id, m) else {
                final_score = None;
                break;
            };
            latency += o.latency_ms.unwrap_or(0.0);
            if o.ok {
                cost = match (cost, o.cost_usd) {
                    (Some(x), Some(y)) => Some(x + y),
                    _ => None,
                };
                final_score = o.score;
                if i > 0 {
                    fallbacks += 1;
                }
                break;
            }
            if !o.retryable_error {
                break;
            }
        }
        match cost {
            Some(c) => costs.push(c),
            None => unpriced = true,
        }
        lats.push(latency);
        if let Some(s) = final_score {
            scores.push(s);
        }
    }
    let classifier = match &routing {
        Routing::Table {
            classifier: Some(c),
            ..
        } => c.to_string(),
        Routing::Table {
            classifier: None, ..
        } => "true labels".into(),
        _ => "none".into(),
    };
    SimRow {
        scenario: name.to_string(),
        classifier,
        n: scores.len(),
        quality: stats::mean(&scores),
        cost_per_1k: if unpriced {
            None
        } else {
            stats::mean(&costs).map(|c| c * 1000.0)
        },
        p95_latency_ms: stats::quantile(&lats, 0.95),
        fallback_rate: if requests == 0 {
            0.0
        } else {
            fallbacks as f64 / requests as f64
        },
        misrouted_rate: matches!(
            routing,
            Routing::Table {
                classifier: Some(_),
                ..
            }
        )
        .then(|| {
            if requests == 0 {
                0.0
            } else {
                misrouted as f64 / requests as f64
            }
        }),
    }
}

/// The standard scenarios: current and recommended tables through every classifier and through
/// the true labels, always-strongest, always-cheapest, and the per-item oracle.
pub fn standard(
    a: &Analysis,
    ds: &Dataset,
    current: &RouteTable,
    recommended: &RouteTable,
    classifiers: &[ModelId],
) -> Vec<SimRow> {
    let mut rows = Vec::new();
    for (name, table) in [("current", current), ("recommended", recommended)] {
        for c in classifiers {
            rows.push(simulate(
                a,
                ds,
                name,
                Routing::Table {
                    table,
                    classifier: Some(c),
                },
            ));
        }
        rows.push(simulate(
            a,
            ds,
            name,
            Routing::Table {
                table,
                classifier: None,
            },
        ));
    }
    let pooled = |m: &ModelId| -> (Option<f64>, Option<f64>) {
        let os: Vec<&ItemOutcome> = ds
            .items
            .iter()
            .filter_map(|i| outcome(a, &i.id, m))
            .collect();
        let q: Vec<f64> = os.iter().filter_map(|o| o.score).collect();
        let c: Vec<f64> = os
            .iter()
            .filter(|o| o.ok)
            .filter_map(|o| o.cost_usd)
            .collect();
        (
            stats::mean(&q),
            if c.len() == os.iter().filter(|o| o.ok).count() {
                stats::mean(&c)
            } else {
                None
            },
        )
    };
    let strongest = a.models.iter().max_by(|x, y| {
        pooled(x)
            .0
            .unwrap_or(0.0)
            .total_cmp(&pooled(y).0.unwrap_or(0.0))
            .then_with(|| y.cmp(x))
    });
    let cheapest = a.models.iter().min_by(|x, y| {
        pooled(x)
            .1
            .unwrap_or(f64::INFINITY)
            .total_cmp(&pooled(y).1.unwrap_or(f64::INFINITY))
            .then_with(|| x.cmp(y))
    });
    if let Some(m) = strongest {
        rows.push(simulate(
            a,
            ds,
            &format!("always-strongest ({m})"),
            Routing::Always(m),
        ));
    }
    if let Some(m) = cheapest {
        rows.push(simulate(
            a,
            ds,
            &format!("always-cheapest ({m})"),
            Routing::Always(m),
        ));
    }
    rows.push(simulate(a, ds, "oracle", Routing::Oracle));
    rows
}

/// Share of the true-label quality lost to misclassification: `(q_true − q_pred) / q_true`.
pub fn misclassification_loss(rows: &[SimRow], scenario: &str, classifier: &str) -> Option<f64> {
    let truth = rows
        .iter()
        .find(|r| r.scenario == scenario && r.classifier == "true labels")?
        .quality?;
    let pred = rows
        .iter()
        .find(|r| r.scenario == scenario && r.classifier == classifier)?
        .quality?;
    (truth > 0.0).then(|| (truth - pred) / truth)
}
