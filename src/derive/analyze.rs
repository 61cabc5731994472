//! From the journal to frames: the results frame (one row per call), the summaries per
//! model × task_type and model × task_type × priority, and the classifier's accuracy.
//!
//! A pure function of the journal, the dataset and the routes file: `report` re-derives it all.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use rayon::prelude::*;

use crate::base::types::{ModelId, Priority, TaskType};
use crate::classify;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::derive::stats::{self, Estimate};
use crate::grade::GradeInput;
use crate::provider::{CostSource, ErrorKind, LatencySource};
use crate::store::journal::{CallKind, JournalRow};

/// One candidate call, graded and priced.
#[derive(Debug, Clone)]
pub struct CallResult<'a> {
    pub item: &'a str,
    pub task: TaskType,
    pub priority: Priority,
    pub model: &'a ModelId,
    pub repeat: u32,
    pub ok: bool,
    pub error_kind: Option<ErrorKind>,
    pub score: Option<f64>,
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<f64>,
}

/// A candidate's figures on one item, repeats averaged: the unit every interval resamples.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemOutcome {
    /// Mean score of the graded repeats.
    pub score: Option<f64>,
    /// Mean cost of the successful repeats; `None` when one of them is unpriced.
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<f64>,
    /// Every repeat succeeded.
    pub ok: bool,
    /// A failed repeat failed in a way the router falls back on.
    pub retryable_error: bool,
    /// Calls (repeats) made, and how many failed.
    pub n_calls: usize,
    pub n_errors: usize,
    /// Latency of each successful repeat, kept whole so quantiles resample items, not calls.
    pub latencies: Vec<f64>,
    /// The item's grader can only pass or fail (a judge or `json_fields` score of exactly 0 or
    /// 1 is still a graded score, not a pass/fail outcome).
    pub binary: bool,
}

/// A model on one task type, priorities pooled.
#[derive(Debug, Clone)]
pub struct ModelTask {
    pub model: ModelId,
    pub task: TaskType,
    pub n_calls: usize,
    pub n_errors: usize,
    /// Items with a score.
    pub n_graded: usize,
    /// Mean of the per-item scores (repeats averaged first), with its interval over items.
    pub quality: Option<Estimate>,
    /// Per-item scores are all 0 or 1 (pass/fail graders, repeats agreeing): Wilson applies.
    pub pass_fail: bool,
    pub cost_per_call: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// p95 latency with its interval (whole items resampled).
    pub p95: Option<Estimate>,
    pub error_rate: f64,
    /// Error rate with its Wilson interval over calls.
    pub errors: Option<Estimate>,
    /// Per item score (repeats averaged), for paired comparisons.
    pub item_scores: BTreeMap<String, f64>,
}

/// The judge's calls, apart from the candidates' (they grade, they do not answer).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JudgeSummary {
    pub model: Option<ModelId>,
    /// Judge rows in the journal (one per judged answer).
    pub verdicts: usize,
    /// Verdicts paid for in this run.
    pub asked: usize,
    /// Verdicts reused, from the verdict cache or an identical answer (not billed).
    pub reused: usize,
    pub errors: usize,
    /// Replies without a valid verdict.
    pub unparsable: usize,
    /// Cost of the judge calls; `None` when the judge is unpriced.
    pub cost_usd: Option<f64>,
}

/// What one classifier said about one item.
#[derive(Debug, Clone)]
pub struct Prediction {
    pub labels: (TaskType, Priority),
    /// The reply parsed; otherwise `labels` is the router's general/default.
    pub parsed: bool,
    pub ok: bool,
    pub cost_usd: Option<f64>,
    pub latency_ms: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ClassifierSummary {
    pub model: ModelId,
    pub n: usize,
    pub task_accuracy: f64,
    pub priority_accuracy: f64,
    pub both_accuracy: f64,
    pub parse_misses: usize,
    pub cost_per_call: Option<f64>,
    pub mean_latency_ms: Option<f64>,
}

/// Where a model's latencies came from: every source among its successful calls, in the
/// order of their names; printed joined by `+` (`measured+modelled`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyProvenance {
    sources: Vec<LatencySource>,
}

impl LatencyProvenance {
    /// Add a source (once).
    pub fn insert(&mut self, s: LatencySource) {
        if let Err(at) = self
            .sources
            .binary_search_by(|x| x.as_str().cmp(s.as_str()))
        {
            self.sources.insert(at, s);
        }
    }

    /// Some of the latencies come from the model's `latency_model`, not from measurement.
    pub fn is_modelled(&self) -> bool {
        self.sources.contains(&LatencySource::Modelled)
    }

    /// The sources, in the order of their names.
    pub fn sources(&self) -> &[LatencySource] {
        &self.sources
    }
}

impl std::fmt::Display for LatencyProvenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (k, s) in self.sources.iter().enumerate() {
            if k > 0 {
                f.write_str("+")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

pub struct Analysis {
    pub results: DataFrame,
    /// One row per judge call.
    pub judge: DataFrame,
    pub judge_summary: JudgeSummary,
    pub summary_task: DataFrame,
    pub summary_cell: DataFrame,
    pub classifier: DataFrame,
    pub classifier_accuracy: DataFrame,
    pub confusion: DataFrame,
    pub model_task: Vec<ModelTask>,
    pub outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
    pub predictions: BTreeMap<ModelId, BTreeMap<String, Prediction>>,
    pub classifier_summary: Vec<ClassifierSummary>,
    /// Candidate models that answered, in order.
    pub models: Vec<ModelId>,
    /// Latency provenance per model (`measured`, `recorded`, `modelled`, …).
    pub latency_sources: BTreeMap<ModelId, LatencyProvenance>,
    pub notes: Vec<String>,
}

impl Analysis {
    /// An analysis holding only per-item outcomes (no frames, no classifier): what the policy,
    /// the cross-fit and the simulation read. For benchmarks and tests that make outcomes with
    /// a known truth.
    pub fn from_outcomes(
        outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
        models: Vec<ModelId>,
    ) -> Analysis {
        Analysis {
            results: Default::default(),
            judge: Default::default(),
            judge_summary: Default::default(),
            summary_task: Default::default(),
            summary_cell: Default::default(),
            classifier: Default::default(),
            classifier_accuracy: Default::default(),
            confusion: Default::default(),
            model_task: Vec::new(),
            outcomes,
            predictions: BTreeMap::new(),
            classifier_summary: Vec::new(),
            models,
            latency_sources: BTreeMap::new(),
            notes: Vec::new(),
        }
    }

    /// The models measured on task type `t`, best quality first (unmeasured quality last).
    pub fn ranked(&self, t: TaskType) -> Vec<&ModelTask> {
        let mut rows: Vec<&ModelTask> = self.model_task.iter().filter(|m| m.task == t).collect();
        let q = |m: &ModelTask| m.quality.map(|q| q.value).unwrap_or(-1.0);
        rows.sort_by(|a, b| q(b).total_cmp(&q(a)));
        rows
    }

    pub fn model_task(&self, model: &ModelId, task: TaskType) -> Option<&ModelTask> {
        self.model_task
            .iter()
            .find(|m| &m.model == model && m.task == task)
    }

    /// Total cost of the run's calls at the prices in force: candidates, classifiers and judge.
    pub fn spend(&self) -> f64 {
        sum_f64(&self.results, "cost_usd")
            + sum_f64(&self.classifier, "cost_usd")
            + sum_f64(&self.judge, "cost_usd")
    }
}

fn sum_f64(df: &DataFrame, name: &str) -> f64 {
    df.column(name)
        .ok()
        .and_then(|c| c.f64().ok())
        .and_then(|c| c.sum())
        .unwrap_or(0.0)
}

/// Current price of a successful call from its journal row (a given cost wins).
fn price_row(cfg: &Config, r: &JournalRow) -> (Option<f64>, CostSource) {
    if !r.ok {
        return (Some(0.0), CostSource::NotBilled);
    }
    if let Some(c) = r.given_cost_usd {
        return (Some(c), r.cost_source);
    }
    if r.cost_source == CostSource::Free {
        return (Some(0.0), CostSource::Free);
    }
    match cfg.models.get(&r.model).and_then(|m| m.price.as_ref()) {
        Some(p) => (Some(p.cost_of(&r.tokens()).0), CostSource::PriceTable),
        None => (None, CostSource::Unpriced),
    }
}

pub fn analyze(cfg: &Config, ds: &Dataset, rows: &[JournalRow]) -> PolarsResult<Analysis> {
    let mut notes = Vec::new();
    let mut unknown_items = 0usize;

    // ---- results: one row per candidate call ----
    let mut res: Vec<ResultRow> = Vec::new();
    let mut calls: Vec<CallResult> = Vec::new();
    let mut latency_sources: BTreeMap<ModelId, LatencyProvenance> = BTreeMap::new();
    let (candidate_rows, classifier_rows) = latest_rows(rows);
    let (judge_rows, judge_replies, judge_errors) = judge_verdicts(cfg, rows);

    for row in &candidate_rows {
        let Some(item) = ds.get(&row.item) else {
            unknown_items += 1;
            continue;
        };
        let grade = row.ok.then(|| {
            item.grader.grade(&GradeInput {
                answer: row.response.as_deref().unwrap_or(""),
                recorded: row.grade.as_ref(),
                judge_reply: judge_replies.get(row.key.as_str()).copied(),
                judge_error: judge_errors.get(row.key.as_str()).copied(),
            })
        });
        let (cost, cost_source) = price_row(cfg, row);
        if let Some(s) = row.latency_source.filter(|_| row.ok) {
            latency_sources
                .entry(row.model.clone())
                .or_default()
                .insert(s);
        }
        let (score, mut reason) = match &grade {
            Some(g) => (g.score, Some(g.reason.clone())),
            None => (None, None),
        };
        if row.truncated
            && let Some(r) = &mut reason
        {
            r.push_str(" [answer cut at the token limit]");
        }
        res.push(ResultRow {
            row,
            item,
            score,
            reason,
            cost,
            cost_source,
        });
        calls.push(CallResult {
            item: &row.item,
            task: item.task,
            priority: item.priority,
            model: &row.model,
            repeat: row.repeat,
            ok: row.ok,
            error_kind: row.error_kind,
            score: grade.and_then(|g| g.score),
            cost_usd: cost,
            latency_ms: row.latency_ms,
        });
    }
    let results = results_frame(&res)?;
    drop(res);
    let (judge, judge_summary) = judge_frame(cfg, &judge_rows, &candidate_rows)?;

    // ---- summaries (Polars) ----
    let summary_task = summarize(&results, &["model", "task_type"])?;
    let summary_cell = summarize(&results, &["model", "task_type", "priority"])?;

    // ---- item outcomes and per (model, task) score vectors ----
    let outcomes = item_outcomes(&calls, ds);

    let models: Vec<ModelId> = cfg
        .candidates()
        .map(|m| m.id.clone())
        .filter(|m| calls.iter().any(|c| c.model == m))
        .collect();
    // The outcomes hold what the rest needs of the calls.
    drop(calls);

    let (model_task, summary_task, summary_cell) =
        model_task_summaries(cfg, ds, &outcomes, summary_task, summary_cell)?;

    // ---- classifier ----
    let (classifier, predictions) =
        classifier_frame(cfg, ds, &classifier_rows, &mut unknown_items)?;
    let classifier_accuracy = classifier_accuracy(&classifier)?;
    let confusion = confusion(&classifier)?;
    let classifier_summary = classifier_summaries(ds, &predictions);

    notes.extend(truncation_notes(&candidate_rows));
    if unknown_items > 0 {
        notes.push(format!(
            "{unknown_items} journal rows name items that are not in the dataset (it changed since the run); they were left out"
        ));
    }
    Ok(Analysis {
        results,
        judge,
        judge_summary,
        summary_task,
        summary_cell,
        classifier,
        classifier_accuracy,
        confusion,
        model_task,
        outcomes,
        predictions,
        classifier_summary,
        models,
        latency_sources,
        notes,
    })
}

/// Candidate and classifier rows, the last row per key (a resumed call supersedes nothing, but
/// be safe on duplicates).
fn latest_rows(rows: &[JournalRow]) -> (Vec<&JournalRow>, Vec<&JournalRow>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut candidate_rows: Vec<&JournalRow> = Vec::new();
    let mut classifier_rows: Vec<&JournalRow> = Vec::new();
    for row in rows {
        let list = match row.kind {
            CallKind::Candidate => &mut candidate_rows,
            CallKind::Classifier => &mut classifier_rows,
            CallKind::Judge => continue,
        };
        if let Some(&i) = seen.get(row.key.as_str()) {
            list[i] = row;
        } else {
            seen.insert(&row.key, list.len());
            list.push(row);
        }
    }
    (candidate_rows, classifier_rows)
}

/// The judge's rows, and its reply or error per judged answer (by the answer's key).
type Verdicts<'r> = (
    Vec<&'r JournalRow>,
    HashMap<&'r str, &'r str>,
    HashMap<&'r str, &'r str>,
);

/// The verdicts of the configured judge: its rows, replies and errors per judged answer.
fn judge_verdicts<'r>(cfg: &Config, rows: &'r [JournalRow]) -> Verdicts<'r> {
    // The verdicts of the configured judge only: a journal judged by another model than the
    // routes file now names would otherwise mix two judges' scales.
    let judge_model = cfg.judge.as_ref().map(|j| &j.model);
    let judge_rows: Vec<&JournalRow> = rows
        .iter()
        .filter(|r| r.kind == CallKind::Judge)
        .filter(|r| judge_model.is_none_or(|m| &r.model == m))
        .collect();
    let mut judge_replies: HashMap<&str, &str> = HashMap::new();
    let mut judge_errors: HashMap<&str, &str> = HashMap::new();
    for r in &judge_rows {
        let Some(target) = r.target.as_deref() else {
            continue;
        };
        // A later row for the same answer (a resumed run) supersedes an earlier one.
        judge_replies.remove(target);
        judge_errors.remove(target);
        match (r.ok, r.response.as_deref(), r.error.as_deref()) {
            (true, Some(reply), _) => {
                judge_replies.insert(target, reply);
            }
            (_, _, err) => {
                judge_errors.insert(target, err.unwrap_or("no reply"));
            }
        }
    }
    (judge_rows, judge_replies, judge_errors)
}

/// Each (item, model)'s repeats as one [`ItemOutcome`].
fn item_outcomes(calls: &[CallResult], ds: &Dataset) -> BTreeMap<(String, ModelId), ItemOutcome> {
    let mut per_item: HashMap<(&str, &ModelId), Vec<&CallResult>> = HashMap::new();
    for c in calls {
        per_item.entry((c.item, c.model)).or_default().push(c);
    }
    let mut outcomes = BTreeMap::new();
    for (k, cs) in &per_item {
        let scores: Vec<f64> = cs.iter().filter_map(|c| c.score).collect();
        let ok_calls: Vec<&&CallResult> = cs.iter().filter(|c| c.ok).collect();
        let costs: Vec<f64> = ok_calls.iter().filter_map(|c| c.cost_usd).collect();
        // Repeats in journal order, so the latency list (and anything resampled from it) is
        // the same on every derivation.
        let mut ok_sorted = ok_calls.clone();
        ok_sorted.sort_by_key(|c| c.repeat);
        let lats: Vec<f64> = ok_sorted.iter().filter_map(|c| c.latency_ms).collect();
        outcomes.insert(
            (k.0.to_string(), k.1.clone()),
            ItemOutcome {
                score: stats::mean(&scores),
                cost_usd: if costs.len() == ok_calls.len() {
                    stats::mean(&costs)
                } else {
                    None
                },
                latency_ms: stats::mean(&lats),
                ok: cs.iter().all(|c| c.ok),
                retryable_error: cs
                    .iter()
                    .any(|c| c.error_kind.is_some_and(|e| e.retryable())),
                n_calls: cs.len(),
                n_errors: cs.iter().filter(|c| !c.ok).count(),
                latencies: lats,
                binary: ds.get(k.0).is_some_and(|i| i.grader.can_pass_fail()),
            },
        );
    }
    outcomes
}

/// Item outcomes grouped per (model, task) and per (model, task, priority), in item order.
type Group<'o> = Vec<(&'o str, &'o ItemOutcome)>;

/// Per (model, task type) figures over items, and the item-level intervals attached to the
/// task and cell summary frames.
fn model_task_summaries(
    cfg: &Config,
    ds: &Dataset,
    outcomes: &BTreeMap<(String, ModelId), ItemOutcome>,
    summary_task: DataFrame,
    summary_cell: DataFrame,
) -> PolarsResult<(Vec<ModelTask>, DataFrame, DataFrame)> {
    // Item outcomes grouped per (model, task) and per (model, task, priority), in item order.
    let mut by_task: HashMap<(ModelId, TaskType), Group> = HashMap::new();
    let mut by_cell: HashMap<(ModelId, TaskType, Priority), Group> = HashMap::new();
    for ((item, m), o) in outcomes {
        if let Some(it) = ds.get(item) {
            by_task
                .entry((m.clone(), it.task))
                .or_default()
                .push((item, o));
            by_cell
                .entry((m.clone(), it.task, it.priority))
                .or_default()
                .push((item, o));
        }
    }

    let mut model_task = Vec::new();
    let mut ci_cols = CiCols::default();
    let keys = frame_keys(&summary_task, false)?;
    // Each group's intervals are seeded by its own label, so they are computed in parallel and
    // come out the same as one after the other.
    let groups: Vec<Group> = keys
        .iter()
        .map(|(model, task, _)| by_task.remove(&(model.clone(), *task)).unwrap_or_default())
        .collect();
    let stats: Vec<ItemStats> = keys
        .par_iter()
        .zip(&groups)
        .map(|((model, task, _), group)| item_stats(group, cfg, &format!("{model}|{task}")))
        .collect();
    for (((model, task, _), group), st) in keys.iter().zip(groups).zip(stats) {
        let row = summary_row(&summary_task, model, *task, None)?;
        model_task.push(ModelTask {
            model: model.clone(),
            task: *task,
            n_calls: row.n_calls,
            n_errors: row.n_errors,
            n_graded: st.n_items,
            quality: st.quality,
            pass_fail: st.pass_fail,
            cost_per_call: row.cost_per_call,
            p50_ms: row.p50,
            p95_ms: row.p95,
            p95: st.p95,
            error_rate: row.error_rate,
            errors: st.errors,
            item_scores: group
                .iter()
                .filter_map(|(id, o)| Some((id.to_string(), o.score?)))
                .collect(),
        });
        ci_cols.push(st);
    }
    let summary_task = ci_cols.attach(summary_task)?;

    let mut ci_cols = CiCols::default();
    let cell_groups: Vec<(String, Group)> = frame_keys(&summary_cell, true)?
        .into_iter()
        .map(|(model, task, prio)| {
            let prio = prio.expect("cell frames have priorities");
            let group = by_cell
                .remove(&(model.clone(), task, prio))
                .unwrap_or_default();
            (format!("{model}|{task}|{prio}"), group)
        })
        .collect();
    let cell_stats: Vec<ItemStats> = cell_groups
        .par_iter()
        .map(|(label, group)| item_stats(group, cfg, label))
        .collect();
    for st in cell_stats {
        ci_cols.push(st);
    }
    let summary_cell = ci_cols.attach(summary_cell)?;
    Ok((model_task, summary_task, summary_cell))
}

/// Each classifier's first prediction per item.
type Predictions = BTreeMap<ModelId, BTreeMap<String, Prediction>>;

/// One row per classifier call, and each classifier's first prediction per item.
fn classifier_frame(
    cfg: &Config,
    ds: &Dataset,
    classifier_rows: &[&JournalRow],
    unknown_items: &mut usize,
) -> PolarsResult<(DataFrame, Predictions)> {
    let mut k = ClassifierCols::default();
    let mut predictions: BTreeMap<ModelId, BTreeMap<String, Prediction>> = BTreeMap::new();
    for row in classifier_rows {
        let Some(item) = ds.get(&row.item) else {
            *unknown_items += 1;
            continue;
        };
        let reply = row.response.as_deref().unwrap_or("");
        let (labels, parsed) = if row.ok {
            classify::labels_or_default(reply)
        } else {
            ((TaskType::General, Priority::Default), false)
        };
        let (cost, _) = price_row(cfg, row);
        k.item.push(&row.item);
        k.classifier.push(row.model.as_str());
        k.task.push(item.task.as_str());
        k.priority.push(item.priority.as_str());
        k.ok.push(row.ok);
        k.reply.push(row.response.as_deref());
        k.parsed.push(parsed);
        k.pred_task.push(labels.0.as_str());
        k.pred_priority.push(labels.1.as_str());
        k.task_ok.push(labels.0 == item.task);
        k.priority_ok.push(labels.1 == item.priority);
        k.cost.push(cost);
        k.latency.push(row.latency_ms);
        if row.repeat == 0 {
            predictions.entry(row.model.clone()).or_default().insert(
                row.item.clone(),
                Prediction {
                    labels,
                    parsed,
                    ok: row.ok,
                    cost_usd: cost,
                    latency_ms: row.latency_ms,
                },
            );
        }
    }
    Ok((k.into_frame()?, predictions))
}

/// Predicted against true task type, counted per classifier.
fn confusion(classifier: &DataFrame) -> PolarsResult<DataFrame> {
    classifier
        .clone()
        .lazy()
        .group_by([
            col("classifier"),
            col("task_type"),
            col("predicted_task_type"),
        ])
        .agg([len().alias("n")])
        .sort(
            ["classifier", "task_type", "predicted_task_type"],
            SortMultipleOptions::default(),
        )
        .collect()
}

/// Each classifier's accuracy, parse misses, cost and latency over its predictions.
fn classifier_summaries(ds: &Dataset, predictions: &Predictions) -> Vec<ClassifierSummary> {
    predictions
        .iter()
        .map(|(m, preds)| {
            let n = preds.len();
            let items: Vec<(&crate::dataset::Item, &Prediction)> = preds
                .iter()
                .filter_map(|(id, p)| Some((ds.get(id)?, p)))
                .collect();
            let share = |f: &dyn Fn(&crate::dataset::Item, &Prediction) -> bool| {
                if n == 0 {
                    0.0
                } else {
                    items.iter().filter(|(i, p)| f(i, p)).count() as f64 / n as f64
                }
            };
            let costs: Vec<f64> = preds.values().filter_map(|p| p.cost_usd).collect();
            let lats: Vec<f64> = preds.values().filter_map(|p| p.latency_ms).collect();
            ClassifierSummary {
                model: m.clone(),
                n,
                task_accuracy: share(&|i, p| p.labels.0 == i.task),
                priority_accuracy: share(&|i, p| p.labels.1 == i.priority),
                both_accuracy: share(&|i, p| p.labels == (i.task, i.priority)),
                parse_misses: preds.values().filter(|p| p.ok && !p.parsed).count(),
                cost_per_call: if costs.len() == n {
                    stats::mean(&costs)
                } else {
                    None
                },
                mean_latency_ms: stats::mean(&lats),
            }
        })
        .collect()
}

/// A model's share of answers cut at the token limit from which a warning is given.
pub const TRUNCATION_WARN_SHARE: f64 = 0.02;

/// One warning per model whose answers were cut at the token limit in at least
/// [`TRUNCATION_WARN_SHARE`] of its successful candidate calls: those answers are graded as
/// given, so the model's quality is understated.
fn truncation_notes(rows: &[&JournalRow]) -> Vec<String> {
    let mut per_model: BTreeMap<&ModelId, (usize, usize, usize)> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.ok) {
        let e = per_model.entry(&r.model).or_default();
        e.0 += 1;
        if r.truncated {
            e.1 += 1;
            if r.response.as_deref().is_none_or(|t| t.trim().is_empty()) {
                e.2 += 1;
            }
        }
    }
    per_model
        .into_iter()
        .filter(|(_, (n, cut, _))| *cut > 0 && *cut as f64 >= TRUNCATION_WARN_SHARE * *n as f64)
        .map(|(m, (n, cut, empty))| {
            format!(
                "{m}: {cut} of {n} answers were cut at the token limit (finish_reason length / max_tokens), {empty} of them empty; they are graded as cut, so its quality is understated: raise max_tokens (or the endpoint's reasoning_room_tokens for a reasoning model)"
            )
        })
        .collect()
}

/// Mean quality with its interval over items: Wilson when every item's score is a pass or a
/// fail (one Bernoulli outcome per item: `binary` graders, repeats agreeing), else a seeded
/// bootstrap of the item means (graded repeats of an item are averaged first, so an item counts
/// once however many times it was asked).
pub fn quality_estimate(
    scores: &[f64],
    binary: bool,
    cfg: &Config,
    label: &str,
) -> (Option<Estimate>, bool) {
    let pass_fail = binary && !scores.is_empty() && scores.iter().all(|&s| s == 0.0 || s == 1.0);
    let p = &cfg.policy;
    let est = if pass_fail {
        stats::wilson(scores.iter().sum(), scores.len(), p.confidence)
    } else {
        stats::bootstrap_mean(
            scores,
            p.bootstrap_resamples,
            p.confidence,
            &mut stats::rng_for(p.seed, label),
        )
    };
    (est, pass_fail)
}

/// The interval figures of one group of items (a model on a task type, or on a cell).
struct ItemStats {
    n_items: usize,
    quality: Option<Estimate>,
    pass_fail: bool,
    p50: Option<Estimate>,
    p95: Option<Estimate>,
    errors: Option<Estimate>,
}

fn item_stats(group: &[(&str, &ItemOutcome)], cfg: &Config, label: &str) -> ItemStats {
    let p = &cfg.policy;
    let scores: Vec<f64> = group.iter().filter_map(|(_, o)| o.score).collect();
    let binary = group.iter().all(|(_, o)| o.binary);
    let (quality, pass_fail) = quality_estimate(&scores, binary, cfg, label);
    let lat_groups: Vec<&[f64]> = group
        .iter()
        .map(|(_, o)| o.latencies.as_slice())
        .filter(|l| !l.is_empty())
        .collect();
    let latency = |q: f64, what: &str| {
        stats::bootstrap_quantile(
            &lat_groups,
            q,
            p.bootstrap_resamples,
            p.confidence,
            &mut stats::rng_for(p.seed, &format!("{label}|{what}")),
        )
    };
    let calls: usize = group.iter().map(|(_, o)| o.n_calls).sum();
    let errors: usize = group.iter().map(|(_, o)| o.n_errors).sum();
    ItemStats {
        n_items: scores.len(),
        quality,
        pass_fail,
        p50: latency(0.5, "p50"),
        p95: latency(0.95, "p95"),
        errors: stats::wilson(errors as f64, calls, p.confidence),
    }
}

fn summarize(results: &DataFrame, by: &[&str]) -> PolarsResult<DataFrame> {
    let ok = col("ok");
    results
        .clone()
        .lazy()
        .group_by(by.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .agg([
            len().cast(DataType::UInt32).alias("n_calls"),
            ok.clone()
                .not()
                .cast(DataType::UInt32)
                .sum()
                .alias("n_errors"),
            col("score")
                .count()
                .cast(DataType::UInt32)
                .alias("n_graded"),
            col("score").mean().alias("quality"),
            col("cost_usd")
                .filter(ok.clone())
                .mean()
                .alias("cost_per_call_usd"),
            col("cost_usd").sum().alias("cost_usd"),
            col("latency_ms")
                .filter(ok.clone())
                .quantile(lit(0.5), QuantileMethod::Linear)
                .alias("p50_latency_ms"),
            col("latency_ms")
                .filter(ok.clone())
                .quantile(lit(0.95), QuantileMethod::Linear)
                .alias("p95_latency_ms"),
            (ok.not().cast(DataType::Float64).mean()).alias("error_rate"),
            col("truncated")
                .cast(DataType::UInt32)
                .sum()
                .alias("n_truncated"),
        ])
        .sort(
            by.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            SortMultipleOptions::default(),
        )
        .collect()
}

fn classifier_accuracy(k: &DataFrame) -> PolarsResult<DataFrame> {
    let agg = || {
        [
            len().cast(DataType::UInt32).alias("n"),
            col("task_correct")
                .cast(DataType::Float64)
                .mean()
                .alias("task_accuracy"),
            col("priority_correct")
                .cast(DataType::Float64)
                .mean()
                .alias("priority_accuracy"),
            (col("task_correct").and(col("priority_correct")))
                .cast(DataType::Float64)
                .mean()
                .alias("accuracy"),
            col("parsed")
                .not()
                .cast(DataType::UInt32)
                .sum()
                .alias("parse_misses"),
        ]
    };
    let per_task = k
        .clone()
        .lazy()
        .group_by([col("classifier"), col("task_type")])
        .agg(agg());
    let overall = k
        .clone()
        .lazy()
        .group_by([col("classifier")])
        .agg(agg())
        .with_column(lit("all").alias("task_type"))
        .select([
            col("classifier"),
            col("task_type"),
            col("n"),
            col("task_accuracy"),
            col("priority_accuracy"),
            col("accuracy"),
            col("parse_misses"),
        ]);
    concat([per_task, overall], UnionArgs::default())?
        .sort(["classifier", "task_type"], SortMultipleOptions::default())
        .collect()
}

struct SummaryRow {
    n_calls: usize,
    n_errors: usize,
    cost_per_call: Option<f64>,
    p50: Option<f64>,
    p95: Option<f64>,
    error_rate: f64,
}

/// Keys of a summary frame in row order.
fn frame_keys(
    df: &DataFrame,
    with_priority: bool,
) -> PolarsResult<Vec<(ModelId, TaskType, Option<Priority>)>> {
    let model = df.column("model")?.str()?;
    let task = df.column("task_type")?.str()?;
    let prio = if with_priority {
        Some(df.column("priority")?.str()?)
    } else {
        None
    };
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let m = ModelId::parse(model.get(i).unwrap_or(""))
            .map_err(|e| polars_err!(ComputeError: "{}", e))?;
        let t: TaskType = task
            .get(i)
            .unwrap_or("")
            .parse()
            .map_err(|e: String| polars_err!(ComputeError: "{}", e))?;
        let p = match prio {
            Some(p) => Some(
                p.get(i)
                    .unwrap_or("")
                    .parse::<Priority>()
                    .map_err(|e: String| polars_err!(ComputeError: "{}", e))?,
            ),
            None => None,
        };
        out.push((m, t, p));
    }
    Ok(out)
}

fn summary_row(
    df: &DataFrame,
    model: &ModelId,
    task: TaskType,
    _prio: Option<Priority>,
) -> PolarsResult<SummaryRow> {
    let models = df.column("model")?.str()?;
    let tasks = df.column("task_type")?.str()?;
    let i = (0..df.height())
        .find(|&i| models.get(i) == Some(model.as_str()) && tasks.get(i) == Some(task.as_str()))
        .ok_or_else(|| polars_err!(ComputeError: "no summary row for {} {}", model, task))?;
    let f = |name: &str| -> PolarsResult<Option<f64>> { Ok(df.column(name)?.f64()?.get(i)) };
    let u = |name: &str| -> PolarsResult<usize> {
        Ok(df.column(name)?.u32()?.get(i).unwrap_or(0) as usize)
    };
    Ok(SummaryRow {
        n_calls: u("n_calls")?,
        n_errors: u("n_errors")?,
        cost_per_call: f("cost_per_call_usd")?,
        p50: f("p50_latency_ms")?,
        p95: f("p95_latency_ms")?,
        error_rate: f("error_rate")?.unwrap_or(0.0),
    })
}

/// Interval columns appended to a summary frame, one row per frame row.
#[derive(Default)]
struct CiCols {
    quality: Vec<Option<f64>>,
    n_items: Vec<u32>,
    low: Vec<Option<f64>>,
    high: Vec<Option<f64>>,
    method: Vec<Option<&'static str>>,
    p50_low: Vec<Option<f64>>,
    p50_high: Vec<Option<f64>>,
    p95_low: Vec<Option<f64>>,
    p95_high: Vec<Option<f64>>,
    err_low: Vec<Option<f64>>,
    err_high: Vec<Option<f64>>,
}

impl CiCols {
    fn push(&mut self, st: ItemStats) {
        let q = st.quality;
        self.quality.push(q.map(|e| e.value));
        self.n_items.push(st.n_items as u32);
        self.low.push(q.map(|e| e.low));
        self.high.push(q.map(|e| e.high));
        self.method
            .push(q.map(|_| if st.pass_fail { "wilson" } else { "bootstrap" }));
        self.p50_low.push(st.p50.map(|e| e.low));
        self.p50_high.push(st.p50.map(|e| e.high));
        self.p95_low.push(st.p95.map(|e| e.low));
        self.p95_high.push(st.p95.map(|e| e.high));
        self.err_low.push(st.errors.map(|e| e.low));
        self.err_high.push(st.errors.map(|e| e.high));
    }

    fn attach(self, mut df: DataFrame) -> PolarsResult<DataFrame> {
        // Quality is the mean of item means (equal to the mean over calls without repeats), so
        // that it is the centre of the interval printed next to it.
        df.with_column(Column::new("quality".into(), self.quality))?;
        df.with_column(Column::new("quality_ci_low".into(), self.low))?;
        df.with_column(Column::new("quality_ci_high".into(), self.high))?;
        df.with_column(Column::new("quality_ci_method".into(), self.method))?;
        df.with_column(Column::new("n_items".into(), self.n_items))?;
        df.with_column(Column::new("p50_latency_ci_low_ms".into(), self.p50_low))?;
        df.with_column(Column::new("p50_latency_ci_high_ms".into(), self.p50_high))?;
        df.with_column(Column::new("p95_latency_ci_low_ms".into(), self.p95_low))?;
        df.with_column(Column::new("p95_latency_ci_high_ms".into(), self.p95_high))?;
        df.with_column(Column::new("error_rate_ci_low".into(), self.err_low))?;
        df.with_column(Column::new("error_rate_ci_high".into(), self.err_high))?;
        Ok(df)
    }
}

/// The judge frame (one row per judge call) and its totals.
fn judge_frame(
    cfg: &Config,
    judge_rows: &[&JournalRow],
    candidate_rows: &[&JournalRow],
) -> PolarsResult<(DataFrame, JudgeSummary)> {
    let judged: HashMap<&str, &JournalRow> = candidate_rows
        .iter()
        .map(|r| (r.key.as_str(), *r))
        .collect();
    let mut summary = JudgeSummary {
        model: cfg.judge.as_ref().map(|j| j.model.clone()),
        cost_usd: Some(0.0),
        ..JudgeSummary::default()
    };
    let mut c = JudgeCols::default();
    for r in judge_rows {
        let target = r.target.as_deref().and_then(|t| judged.get(t));
        let grade = crate::grade::judge::grade(
            r.response.as_deref().filter(|_| r.ok),
            r.error.as_deref().filter(|_| !r.ok),
        );
        let verdict = r
            .response
            .as_deref()
            .filter(|_| r.ok)
            .and_then(|x| crate::grade::judge::parse_verdict(x).ok());
        let (cost, source) = price_row(cfg, r);
        // A reused verdict is journaled with no attempt made.
        let reused = r.attempts == 0;
        summary.verdicts += 1;
        if reused {
            summary.reused += 1;
        } else if r.ok {
            summary.asked += 1;
        }
        if !r.ok {
            summary.errors += 1;
        } else if verdict.is_none() {
            summary.unparsable += 1;
        }
        summary.cost_usd = match (summary.cost_usd, cost) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        c.item.push(r.item.clone());
        c.model.push(target.map(|t| t.model.to_string()));
        c.repeat.push(target.map(|t| t.repeat));
        c.judge.push(r.model.to_string());
        c.ok.push(r.ok);
        c.reused.push(reused);
        c.error_kind.push(r.error_kind.map(|k| k.as_str()));
        c.verdict.push(verdict.map(u32::from));
        c.score.push(grade.score);
        c.reason.push(grade.reason);
        c.input_tokens.push(r.input_tokens);
        c.output_tokens.push(r.output_tokens);
        c.cost.push(cost);
        c.cost_source.push(source.as_str());
        c.latency.push(r.latency_ms);
        c.reply.push(r.response.clone());
    }
    let n = c.item.len();
    let df = DataFrame::new(
        n,
        vec![
            Column::new("item_id".into(), c.item),
            Column::new("model".into(), c.model),
            Column::new("repeat".into(), c.repeat),
            Column::new("judge".into(), c.judge),
            Column::new("ok".into(), c.ok),
            Column::new("reused".into(), c.reused),
            Column::new("error_kind".into(), c.error_kind),
            Column::new("verdict".into(), c.verdict),
            Column::new("score".into(), c.score),
            Column::new("grade_reason".into(), c.reason),
            Column::new("input_tokens".into(), c.input_tokens),
            Column::new("output_tokens".into(), c.output_tokens),
            Column::new("cost_usd".into(), c.cost),
            Column::new("cost_source".into(), c.cost_source),
            Column::new("latency_ms".into(), c.latency),
            Column::new("reply".into(), c.reply),
        ],
    )?;
    Ok((df, summary))
}

#[derive(Default)]
struct JudgeCols {
    item: Vec<String>,
    model: Vec<Option<String>>,
    repeat: Vec<Option<u32>>,
    judge: Vec<String>,
    ok: Vec<bool>,
    reused: Vec<bool>,
    error_kind: Vec<Option<&'static str>>,
    verdict: Vec<Option<u32>>,
    score: Vec<Option<f64>>,
    reason: Vec<String>,
    input_tokens: Vec<Option<u64>>,
    output_tokens: Vec<Option<u64>>,
    cost: Vec<Option<f64>>,
    cost_source: Vec<&'static str>,
    latency: Vec<Option<f64>>,
    reply: Vec<Option<String>>,
}

/// One candidate call of the results frame, as graded and priced.
struct ResultRow<'a> {
    row: &'a JournalRow,
    item: &'a crate::dataset::Item,
    score: Option<f64>,
    reason: Option<String>,
    cost: Option<f64>,
    cost_source: CostSource,
}

/// The results frame, one column at a time: each column's values are gathered just before
/// Polars takes them, so no second copy of every column is ever held at once.
fn results_frame(res: &[ResultRow]) -> PolarsResult<DataFrame> {
    fn col<T, I>(name: &str, values: I) -> Column
    where
        I: Iterator<Item = T>,
        Series: NamedFrom<Vec<T>, [T]>,
    {
        Column::new(name.into(), values.collect::<Vec<T>>())
    }
    let r = || res.iter();
    DataFrame::new(
        res.len(),
        vec![
            col("item_id", r().map(|x| x.row.item.as_str())),
            col("task_type", r().map(|x| x.item.task.as_str())),
            col("priority", r().map(|x| x.item.priority.as_str())),
            col("model", r().map(|x| x.row.model.as_str())),
            col("repeat", r().map(|x| x.row.repeat)),
            col("ok", r().map(|x| x.row.ok)),
            col(
                "error_kind",
                r().map(|x| x.row.error_kind.map(|k| k.as_str())),
            ),
            col("error", r().map(|x| x.row.error.as_deref())),
            col("http_status", r().map(|x| x.row.http_status.map(u32::from))),
            col("attempts", r().map(|x| x.row.attempts)),
            col("score", r().map(|x| x.score)),
            col("grade_reason", r().map(|x| x.reason.as_deref())),
            col("grader", r().map(|x| x.item.grader.kind())),
            col("input_tokens", r().map(|x| x.row.input_tokens)),
            col("output_tokens", r().map(|x| x.row.output_tokens)),
            col(
                "cache_read_tokens",
                r().map(|x| x.row.usage.cache_read_tokens),
            ),
            col(
                "cache_write_tokens",
                r().map(|x| x.row.usage.cache_write_tokens),
            ),
            col(
                "reasoning_tokens",
                r().map(|x| x.row.usage.reasoning_tokens),
            ),
            col(
                "tokens_source",
                r().map(|x| x.row.tokens_source.map(|s| s.as_str())),
            ),
            col("cost_usd", r().map(|x| x.cost)),
            col("cost_source", r().map(|x| x.cost_source.as_str())),
            col("latency_ms", r().map(|x| x.row.latency_ms)),
            col(
                "latency_source",
                r().map(|x| x.row.latency_source.map(|s| s.as_str())),
            ),
            col("server_latency_ms", r().map(|x| x.row.server_latency_ms)),
            col("ttft_ms", r().map(|x| x.row.ttft_ms)),
            col("finish_reason", r().map(|x| x.row.finish_reason.as_deref())),
            col("truncated", r().map(|x| x.row.truncated)),
            col("answer", r().map(|x| x.row.response.as_deref())),
        ],
    )
}

#[derive(Default)]
struct ClassifierCols<'a> {
    item: Vec<&'a str>,
    classifier: Vec<&'a str>,
    task: Vec<&'static str>,
    priority: Vec<&'static str>,
    ok: Vec<bool>,
    reply: Vec<Option<&'a str>>,
    parsed: Vec<bool>,
    pred_task: Vec<&'static str>,
    pred_priority: Vec<&'static str>,
    task_ok: Vec<bool>,
    priority_ok: Vec<bool>,
    cost: Vec<Option<f64>>,
    latency: Vec<Option<f64>>,
}

impl ClassifierCols<'_> {
    fn into_frame(self) -> PolarsResult<DataFrame> {
        let n = self.item.len();
        DataFrame::new(
            n,
            vec![
                Column::new("item_id".into(), self.item),
                Column::new("classifier".into(), self.classifier),
                Column::new("task_type".into(), self.task),
                Column::new("priority".into(), self.priority),
                Column::new("ok".into(), self.ok),
                Column::new("reply".into(), self.reply),
                Column::new("parsed".into(), self.parsed),
                Column::new("predicted_task_type".into(), self.pred_task),
                Column::new("predicted_priority".into(), self.pred_priority),
                Column::new("task_correct".into(), self.task_ok),
                Column::new("priority_correct".into(), self.priority_ok),
                Column::new("cost_usd".into(), self.cost),
                Column::new("latency_ms".into(), self.latency),
            ],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_provenance_prints_its_sources_once_in_name_order_and_knows_modelled() {
        let mut p = LatencyProvenance::default();
        assert_eq!(p.to_string(), "");
        p.insert(LatencySource::Modelled);
        p.insert(LatencySource::Measured);
        p.insert(LatencySource::Modelled);
        assert_eq!(p.to_string(), "measured+modelled");
        assert!(p.is_modelled());
        let mut q = LatencyProvenance::default();
        q.insert(LatencySource::Simulated);
        q.insert(LatencySource::Recorded);
        assert_eq!(q.to_string(), "recorded+simulated");
        assert!(!q.is_modelled());
    }
}
