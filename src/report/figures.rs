//! The aggregates report.html draws that the derivation does not hold as typed values yet:
//! latency quantiles per model and task type, confusion matrices and the answers shown in the
//! examples, each read from the derived frames (results.csv's and confusion.csv's columns, as
//! `schema/csv-columns.json` names them) into plain types, so the HTML writer reads no frame.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;

use super::charts::Confusion;
use crate::base::types::TaskType;

/// Quantile levels drawn for each latency curve.
const LATENCY_LEVELS: [f64; 17] = [
    0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0,
];

/// First-repeat answer and grade reason of the wanted (item, model) pairs, in one pass.
pub(super) fn answers_of(
    results: &DataFrame,
    wanted: &BTreeSet<(String, String)>,
) -> anyhow::Result<HashMap<(String, String), (String, String)>> {
    let items = results.column("item_id")?.str()?;
    let models = results.column("model")?.str()?;
    let repeats = results.column("repeat")?.u32()?;
    let answers = results.column("answer")?.str()?;
    let reasons = results.column("grade_reason")?.str()?;
    let mut out = HashMap::new();
    for i in 0..results.height() {
        if repeats.get(i) != Some(0) {
            continue;
        }
        let key = (
            items.get(i).unwrap_or("").to_string(),
            models.get(i).unwrap_or("").to_string(),
        );
        if wanted.contains(&key) {
            out.insert(
                key,
                (
                    answers.get(i).unwrap_or("").to_string(),
                    reasons.get(i).unwrap_or("").to_string(),
                ),
            );
        }
    }
    Ok(out)
}

/// `(level, milliseconds)` points of one latency distribution, by (model, task type).
pub(super) type LatencyByModelTask = BTreeMap<(String, String), Vec<(f64, f64)>>;

/// Latency quantiles per (model, task type) of successful calls, computed by Polars.
pub(super) fn latency_quantiles(results: &DataFrame) -> anyhow::Result<LatencyByModelTask> {
    let mut aggs = Vec::with_capacity(LATENCY_LEVELS.len());
    for (i, q) in LATENCY_LEVELS.iter().enumerate() {
        aggs.push(
            col("latency_ms")
                .quantile(lit(*q), QuantileMethod::Linear)
                .alias(format!("q{i}")),
        );
    }
    let df = results
        .clone()
        .lazy()
        .filter(col("ok").and(col("latency_ms").is_not_null()))
        .group_by([col("model"), col("task_type")])
        .agg(aggs)
        .collect()?;
    let models = df.column("model")?.str()?;
    let tasks = df.column("task_type")?.str()?;
    let qs: Vec<&Float64Chunked> = (0..LATENCY_LEVELS.len())
        .map(|i| df.column(&format!("q{i}"))?.f64())
        .collect::<PolarsResult<_>>()?;
    let mut out = BTreeMap::new();
    for r in 0..df.height() {
        let curve: Vec<(f64, f64)> = LATENCY_LEVELS
            .iter()
            .zip(&qs)
            .filter_map(|(level, q)| Some((*level, q.get(r)?)))
            .collect();
        if !curve.is_empty() {
            out.insert(
                (
                    models.get(r).unwrap_or("").to_string(),
                    tasks.get(r).unwrap_or("").to_string(),
                ),
                curve,
            );
        }
    }
    Ok(out)
}

/// Each classifier's confusion matrix from confusion.csv's frame, over the task types that
/// occur (as truth or prediction).
pub(super) fn confusion_of(df: &DataFrame) -> anyhow::Result<BTreeMap<String, Confusion>> {
    let classifiers = df.column("classifier")?.str()?;
    let truth = df.column("task_type")?.str()?;
    let predicted = df.column("predicted_task_type")?.str()?;
    let n = df.column("n")?.cast(&DataType::UInt64)?;
    let n = n.u64()?;
    let labels: Vec<String> = TaskType::ALL.iter().map(|t| t.to_string()).collect();
    let index = |s: Option<&str>| labels.iter().position(|l| Some(l.as_str()) == s);
    let mut out: BTreeMap<String, Confusion> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(r), Some(c)) = (index(truth.get(i)), index(predicted.get(i))) else {
            continue;
        };
        let m = out
            .entry(classifiers.get(i).unwrap_or("").to_string())
            .or_insert_with(|| Confusion {
                labels: labels.clone(),
                counts: vec![vec![0; labels.len()]; labels.len()],
            });
        m.counts[r][c] += n.get(i).unwrap_or(0);
    }
    // Task types neither in the dataset nor ever predicted would only add empty rows.
    for m in out.values_mut() {
        let keep: Vec<usize> = (0..m.labels.len())
            .filter(|&k| m.counts[k].iter().sum::<u64>() > 0 || m.counts.iter().any(|r| r[k] > 0))
            .collect();
        m.labels = keep.iter().map(|&k| m.labels[k].clone()).collect();
        m.counts = keep
            .iter()
            .map(|&r| keep.iter().map(|&c| m.counts[r][c]).collect())
            .collect();
    }
    Ok(out)
}
