//! `routecal report A B`: what moved between two runs (last week's and this week's) in
//! quality, cost and latency, per model and task type; a pure function of the two derived runs.
//!
//! Quality differences are paired on the items both runs graded (a paired bootstrap of the
//! per-item difference), so a model that answers the same questions worse is told apart from
//! noise; cost and latency changes are relative and flagged past fixed thresholds.

use std::collections::BTreeSet;
use std::fmt::Write;

use polars::prelude::*;

mod samples;
pub use samples::{SampleReason, Samples};

use super::text::route;
use crate::base::fmt::{
    confidence_percent, fixed_3dp, in_seconds, ms_in, percent_1dp, signed_percent_0dp, usd,
};
use crate::base::types::{ModelId, TaskType};
use crate::derive::Derived;
use crate::derive::analyze::ModelTask;
use crate::derive::simulate::Scenario;
use crate::derive::stats::{self, Estimate};

/// A cost per call that changed by at least this share is notable.
pub const COST_CHANGE: f64 = 0.10;
/// A p95 latency that changed by at least this share is notable.
pub const P95_CHANGE: f64 = 0.25;
/// An error rate that rose by at least this much (absolute) is notable.
pub const ERROR_RATE_RISE: f64 = 0.05;

/// One model on one task type in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub model: ModelId,
    pub task: TaskType,
    pub n_a: usize,
    pub n_b: usize,
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    /// B − A on the items both runs graded, with its interval.
    pub delta_quality: Option<Estimate>,
    pub n_paired: usize,
    pub cost_per_call_a: Option<f64>,
    pub cost_per_call_b: Option<f64>,
    pub p50_a: Option<f64>,
    pub p50_b: Option<f64>,
    pub p95_a: Option<f64>,
    pub p95_b: Option<f64>,
    pub error_rate_a: Option<f64>,
    pub error_rate_b: Option<f64>,
    /// Why this row deserves a look (empty: nothing moved past the thresholds).
    pub notable: Vec<String>,
}

/// Two runs side by side.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub moves: Vec<Move>,
    /// `(cell, route in A, route in B)` where the measured routes files differ.
    pub table_changes: Vec<(String, String, String)>,
    /// The simulated current and recommended tables of both runs.
    pub simulation: Vec<SimPair>,
    pub notes: Vec<String>,
    /// The level (0–1) of the quality intervals: run B's `[policy] confidence`.
    pub confidence: f64,
    /// Whether the runs measured the same items, and each model's quality on the common items.
    pub samples: Samples,
}

/// One simulated scenario in both runs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPair {
    pub scenario: String,
    pub classifier: String,
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    pub cost_per_1k_a: Option<f64>,
    pub cost_per_1k_b: Option<f64>,
    pub p95_a: Option<f64>,
    pub p95_b: Option<f64>,
}

fn rel(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if a > 0.0 => Some(b / a - 1.0),
        _ => None,
    }
}

/// Compare run `a` (the earlier) with run `b`.
pub fn compare(a: &Derived, b: &Derived) -> Comparison {
    let mut notes = Vec::new();
    if a.manifest.dataset.sha256 != b.manifest.dataset.sha256 {
        notes.push(format!(
            "the runs used different datasets ({} and {}): quality is compared on the items both graded under the same id",
            a.manifest.dataset.path, b.manifest.dataset.path
        ));
    }
    if a.manifest.prices.sha256 != b.manifest.prices.sha256 {
        notes.push("the runs used different price tables".to_string());
    }
    let keys: BTreeSet<(TaskType, ModelId)> = a
        .analysis
        .model_task
        .iter()
        .chain(&b.analysis.model_task)
        .map(|m| (m.task, m.model.clone()))
        .collect();
    let moves = keys
        .into_iter()
        .map(|(task, model)| model_move(a, b, task, model))
        .collect();
    Comparison {
        confidence: b.cfg.policy.confidence,
        a: a.manifest.run_id.clone(),
        b: b.manifest.run_id.clone(),
        moves,
        table_changes: table_changes(a, b),
        simulation: simulation_pairs(a, b),
        notes,
        samples: samples::samples(a, b),
    }
}

/// One model on one task type in both runs, with the paired quality difference (run B's
/// policy: resamples, level, seed) and what is notable about it.
fn model_move(a: &Derived, b: &Derived, task: TaskType, model: ModelId) -> Move {
    let policy = &b.cfg.policy;
    let ma = a.analysis.model_task(&model, task);
    let mb = b.analysis.model_task(&model, task);
    let (delta_quality, n_paired) = match (ma, mb) {
        (Some(x), Some(y)) => {
            let (sb, sa): (Vec<f64>, Vec<f64>) = y
                .item_scores
                .iter()
                .filter_map(|(k, vb)| Some((*vb, *x.item_scores.get(k)?)))
                .unzip();
            let est = stats::paired_bootstrap(
                &sb,
                &sa,
                policy.bootstrap_resamples,
                policy.confidence,
                &mut stats::rng_for(policy.seed, &format!("compare|{model}|{task}")),
            );
            (est, sb.len())
        }
        _ => (None, 0),
    };
    let f = |m: Option<&ModelTask>, g: &dyn Fn(&ModelTask) -> Option<f64>| m.and_then(g);
    let mut mv = Move {
        n_a: ma.map_or(0, |m| m.n_graded),
        n_b: mb.map_or(0, |m| m.n_graded),
        quality_a: f(ma, &|m| m.quality.map(|q| q.value)),
        quality_b: f(mb, &|m| m.quality.map(|q| q.value)),
        delta_quality,
        n_paired,
        cost_per_call_a: f(ma, &|m| m.cost_per_call),
        cost_per_call_b: f(mb, &|m| m.cost_per_call),
        p50_a: f(ma, &|m| m.p50_ms),
        p50_b: f(mb, &|m| m.p50_ms),
        p95_a: f(ma, &|m| m.p95_ms),
        p95_b: f(mb, &|m| m.p95_ms),
        error_rate_a: ma.map(|m| m.error_rate),
        error_rate_b: mb.map(|m| m.error_rate),
        model,
        task,
        notable: Vec::new(),
    };
    mv.notable = notable(&mv, ma.is_some(), mb.is_some());
    mv
}

/// The cells whose measured route differs between the runs' routes files.
fn table_changes(a: &Derived, b: &Derived) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let (ta, tb) = (&a.cfg.table, &b.cfg.table);
    if ta.default != tb.default {
        out.push((
            "default".to_string(),
            route(&ta.default),
            route(&tb.default),
        ));
    }
    for cell in crate::base::types::Cell::all() {
        if ta.route(cell) != tb.route(cell) {
            out.push((
                cell.to_string(),
                route(ta.route(cell)),
                route(tb.route(cell)),
            ));
        }
    }
    out
}

/// Run B's simulated current and recommended tables, each beside run A's same row.
fn simulation_pairs(a: &Derived, b: &Derived) -> Vec<SimPair> {
    b.sim
        .iter()
        .filter(|r| matches!(r.scenario, Scenario::Current | Scenario::Recommended))
        .map(|rb| {
            let ra = a
                .sim
                .iter()
                .find(|r| r.scenario == rb.scenario && r.classifier == rb.classifier);
            SimPair {
                scenario: rb.scenario.to_string(),
                classifier: rb.classifier.clone(),
                quality_a: ra.and_then(|r| r.quality),
                quality_b: rb.quality,
                cost_per_1k_a: ra.and_then(|r| r.cost_per_1k),
                cost_per_1k_b: rb.cost_per_1k,
                p95_a: ra.and_then(|r| r.p95_latency_ms),
                p95_b: rb.p95_latency_ms,
            }
        })
        .collect()
}

fn notable(m: &Move, in_a: bool, in_b: bool) -> Vec<String> {
    let mut why = Vec::new();
    if !in_a {
        why.push("new in B".to_string());
    }
    if !in_b {
        why.push("gone from B".to_string());
    }
    if let Some(d) = m.delta_quality
        && !d.contains(0.0)
    {
        why.push(format!(
            "quality {} ({:+.3} [{:+.3}, {:+.3}])",
            if d.value > 0.0 { "up" } else { "down" },
            d.value,
            d.low,
            d.high
        ));
    }
    if let Some(r) = rel(m.cost_per_call_a, m.cost_per_call_b)
        && r.abs() >= COST_CHANGE
    {
        why.push(format!("cost per call {:+.0}%", r * 100.0));
    }
    if let Some(r) = rel(m.p95_a, m.p95_b)
        && r.abs() >= P95_CHANGE
    {
        why.push(format!("p95 latency {:+.0}%", r * 100.0));
    }
    if let (Some(x), Some(y)) = (m.error_rate_a, m.error_rate_b)
        && y - x >= ERROR_RATE_RISE
    {
        why.push(format!(
            "error rate {} → {}",
            percent_1dp(x),
            percent_1dp(y)
        ));
    }
    why
}

fn usd_per_1k(x: Option<f64>) -> String {
    usd(x.map(|v| v * 1000.0))
}

fn change(a: Option<f64>, b: Option<f64>) -> String {
    rel(a, b).map(signed_percent_0dp).unwrap_or("–".into())
}

/// The comparison as Markdown (a pull-request comment or a step summary).
pub fn markdown(c: &Comparison) -> String {
    use super::markdown::cell;
    let mut o = String::new();
    let _ = writeln!(o, "# routecal: `{}` → `{}`\n", c.a, c.b);
    for n in &c.notes {
        let _ = writeln!(o, "> {}\n", cell(n));
    }
    o.push_str(&samples::markdown(&c.samples, c.confidence));
    let notable: Vec<&Move> = c.moves.iter().filter(|m| !m.notable.is_empty()).collect();
    let _ = writeln!(
        o,
        "## What moved ({} of {})\n",
        notable.len(),
        c.moves.len()
    );
    if notable.is_empty() {
        o.push_str("Nothing moved past the thresholds: quality intervals all contain zero, cost per call within ±10%, p95 within ±25%, no error rate up 5 points.\n\n");
    } else {
        for m in &notable {
            let _ = writeln!(
                o,
                "- `{}` on **{}**: {}",
                m.model,
                m.task,
                cell(&m.notable.join(", "))
            );
        }
        o.push('\n');
    }
    if !c.table_changes.is_empty() {
        o.push_str("## Cells whose measured tables differ\n\nThe current table of each run is the routes file it measured (its own copy).\n\n| cell | A | B |\n|---|---|---|\n");
        for (cellname, a, b) in &c.table_changes {
            let _ = writeln!(o, "| `{cellname}` | {} | {} |", cell(a), cell(b));
        }
        o.push('\n');
    }
    let _ = write!(
        o,
        "## Per model and task type\n\nΔ quality is B − A on the items both runs graded (paired bootstrap, {}%){}.\n\n",
        confidence_percent(c.confidence),
        if c.samples.differ() {
            "; quality A and quality B are each run's own mean over the items it graded, so where the samples differ they can move while Δ, on the common items, does not"
        } else {
            ""
        }
    );
    o.push_str("| task | model | n A/B | quality A | quality B | Δ quality [CI] | cost / 1k req A | B | change | p95 A | B | change | errors A | B |\n");
    o.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    // One unit for both p95 columns.
    let p95_s = in_seconds(c.moves.iter().flat_map(|m| [m.p95_a, m.p95_b]));
    for m in &c.moves {
        let _ = writeln!(
            o,
            "| {} | `{}` | {}/{} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            m.task,
            m.model,
            m.n_a,
            m.n_b,
            fixed_3dp(m.quality_a),
            fixed_3dp(m.quality_b),
            m.delta_quality
                .map(|d| format!("{:+.3} [{:+.3}, {:+.3}]", d.value, d.low, d.high))
                .unwrap_or("–".into()),
            usd_per_1k(m.cost_per_call_a),
            usd_per_1k(m.cost_per_call_b),
            change(m.cost_per_call_a, m.cost_per_call_b),
            ms_in(m.p95_a, p95_s),
            ms_in(m.p95_b, p95_s),
            change(m.p95_a, m.p95_b),
            m.error_rate_a.map(percent_1dp).unwrap_or("–".into()),
            m.error_rate_b.map(percent_1dp).unwrap_or("–".into()),
        );
    }
    o.push('\n');
    if !c.simulation.is_empty() {
        o.push_str("## Simulated tables\n\n| scenario | classifier | quality A | quality B | cost / 1k req A | B | p95 A | B |\n|---|---|---|---|---|---|---|---|\n");
        let p95_s = in_seconds(c.simulation.iter().flat_map(|s| [s.p95_a, s.p95_b]));
        for s in &c.simulation {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&s.scenario),
                cell(&s.classifier),
                fixed_3dp(s.quality_a),
                fixed_3dp(s.quality_b),
                usd(s.cost_per_1k_a),
                usd(s.cost_per_1k_b),
                ms_in(s.p95_a, p95_s),
                ms_in(s.p95_b, p95_s)
            );
        }
        o.push('\n');
    }
    o
}

/// What `report A B` prints: the notable moves, then one line per model and task.
pub fn text(c: &Comparison) -> String {
    let mut o = format!("Comparing {} (A) with {} (B)\n", c.a, c.b);
    for n in &c.notes {
        let _ = writeln!(o, "note: {n}");
    }
    o.push_str(&samples::text(&c.samples, c.confidence));
    let notable: Vec<&Move> = c.moves.iter().filter(|m| !m.notable.is_empty()).collect();
    if notable.is_empty() {
        o.push_str("Nothing moved past the thresholds.\n");
    } else {
        let _ = writeln!(o, "What moved ({} of {}):", notable.len(), c.moves.len());
        for m in notable {
            let _ = writeln!(o, "  {} {}: {}", m.task, m.model, m.notable.join(", "));
        }
    }
    if !c.table_changes.is_empty() {
        let _ = writeln!(
            o,
            "Cells whose measured tables differ ({} of {}, A → B):",
            c.table_changes.len(),
            crate::base::types::Cell::all().count() + 1
        );
    }
    for (cellname, a, b) in &c.table_changes {
        let _ = writeln!(o, "  {cellname}: {a} → {b}");
    }
    o.push('\n');
    let p95_s = in_seconds(c.moves.iter().flat_map(|m| [m.p95_a, m.p95_b]));
    let rows: Vec<Vec<String>> = c
        .moves
        .iter()
        .map(|m| {
            vec![
                m.task.to_string(),
                m.model.to_string(),
                format!("{} → {}", fixed_3dp(m.quality_a), fixed_3dp(m.quality_b)),
                m.delta_quality
                    .map(|d| format!("{:+.3} [{:+.3}, {:+.3}]", d.value, d.low, d.high))
                    .map(|d| match c.samples.differ() {
                        true => format!("{d} on {}", m.n_paired),
                        false => d,
                    })
                    .unwrap_or("–".into()),
                format!(
                    "{} → {}",
                    usd_per_1k(m.cost_per_call_a),
                    usd_per_1k(m.cost_per_call_b)
                ),
                format!("{} → {}", ms_in(m.p95_a, p95_s), ms_in(m.p95_b, p95_s)),
            ]
        })
        .collect();
    let dq = match c.samples.differ() {
        true => format!(
            "Δ quality [{}% CI] on common items",
            confidence_percent(c.confidence)
        ),
        false => format!("Δ quality [{}% CI]", confidence_percent(c.confidence)),
    };
    o.push_str(&super::text::table(
        &["task", "model", "quality", &dq, "cost / 1k req", "p95"],
        &rows,
    ));
    o
}

/// The comparison as a frame, one row per model and task type (`compare-<A>.csv`).
pub fn frame(c: &Comparison) -> PolarsResult<DataFrame> {
    let m = &c.moves;
    let f = |g: &dyn Fn(&Move) -> Option<f64>| -> Vec<Option<f64>> { m.iter().map(g).collect() };
    let u = |g: &dyn Fn(&Move) -> usize| -> Vec<u32> { m.iter().map(|x| g(x) as u32).collect() };
    DataFrame::new(
        m.len(),
        vec![
            Column::new(
                "model".into(),
                m.iter().map(|x| x.model.to_string()).collect::<Vec<_>>(),
            ),
            Column::new(
                "task_type".into(),
                m.iter().map(|x| x.task.as_str()).collect::<Vec<_>>(),
            ),
            Column::new("n_graded_a".into(), u(&|x| x.n_a)),
            Column::new("n_graded_b".into(), u(&|x| x.n_b)),
            Column::new("quality_a".into(), f(&|x| x.quality_a)),
            Column::new("quality_b".into(), f(&|x| x.quality_b)),
            Column::new(
                "delta_quality".into(),
                f(&|x| x.delta_quality.map(|d| d.value)),
            ),
            Column::new(
                "delta_quality_ci_low".into(),
                f(&|x| x.delta_quality.map(|d| d.low)),
            ),
            Column::new(
                "delta_quality_ci_high".into(),
                f(&|x| x.delta_quality.map(|d| d.high)),
            ),
            Column::new("n_paired".into(), u(&|x| x.n_paired)),
            Column::new("cost_per_call_usd_a".into(), f(&|x| x.cost_per_call_a)),
            Column::new("cost_per_call_usd_b".into(), f(&|x| x.cost_per_call_b)),
            Column::new(
                "cost_per_call_rel_change".into(),
                f(&|x| rel(x.cost_per_call_a, x.cost_per_call_b)),
            ),
            Column::new("p50_latency_ms_a".into(), f(&|x| x.p50_a)),
            Column::new("p50_latency_ms_b".into(), f(&|x| x.p50_b)),
            Column::new("p95_latency_ms_a".into(), f(&|x| x.p95_a)),
            Column::new("p95_latency_ms_b".into(), f(&|x| x.p95_b)),
            Column::new(
                "p95_latency_rel_change".into(),
                f(&|x| rel(x.p95_a, x.p95_b)),
            ),
            Column::new("error_rate_a".into(), f(&|x| x.error_rate_a)),
            Column::new("error_rate_b".into(), f(&|x| x.error_rate_b)),
            Column::new(
                "notable".into(),
                m.iter()
                    .map(|x| (!x.notable.is_empty()).then(|| x.notable.join("; ")))
                    .collect::<Vec<_>>(),
            ),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv() -> Move {
        Move {
            model: ModelId::parse("a/x").unwrap(),
            task: TaskType::Code,
            n_a: 20,
            n_b: 20,
            quality_a: Some(0.5),
            quality_b: Some(0.5),
            delta_quality: Some(Estimate {
                value: 0.01,
                low: -0.05,
                high: 0.07,
            }),
            n_paired: 20,
            cost_per_call_a: Some(0.010),
            cost_per_call_b: Some(0.0105),
            p50_a: Some(100.0),
            p50_b: Some(100.0),
            p95_a: Some(1000.0),
            p95_b: Some(1200.0),
            error_rate_a: Some(0.0),
            error_rate_b: Some(0.04),
            notable: vec![],
        }
    }

    #[test]
    fn small_moves_are_not_notable_and_large_ones_say_why() {
        assert!(notable(&mv(), true, true).is_empty());
        let mut m = mv();
        m.delta_quality = Some(Estimate {
            value: -0.2,
            low: -0.3,
            high: -0.1,
        });
        m.cost_per_call_b = Some(0.02);
        m.p95_b = Some(500.0);
        m.error_rate_b = Some(0.10);
        assert_eq!(
            notable(&m, true, true),
            vec![
                "quality down (-0.200 [-0.300, -0.100])",
                "cost per call +100%",
                "p95 latency -50%",
                "error rate 0.0% → 10.0%",
            ]
        );
        assert_eq!(notable(&mv(), false, true), vec!["new in B"]);
    }
}
