//! `report.json`: the run's outcome for scripts, and the record of which routes file the
//! proposal in this folder was derived from (its sha256), which `apply` checks before it
//! writes anything.

use super::Exporter;
use crate::config::Route;
use crate::derive::Derived;

/// The `report.json` exporter.
pub struct ReportJson;

fn route(r: &Route) -> serde_json::Value {
    serde_json::json!({"primary": r.primary, "fallback": r.fallback})
}

/// The summary that `report.json` holds and `report --json` prints.
pub fn summary(d: &Derived) -> serde_json::Value {
    let m = d.manifest;
    let changes: Vec<serde_json::Value> = d.rec.changes().map(decision).collect();
    let undecided: Vec<serde_json::Value> = d.rec.undecided().map(decision).collect();
    let mut v = serde_json::json!({
        "run_id": m.run_id,
        "status": m.status,
        "simulated": m.simulated,
        "routes": {"path": d.cfg.path.display().to_string(), "sha256": d.cfg.sha256},
        "dataset": {"path": d.ds.path.display().to_string(), "sha256": d.ds.sha256},
        "items": d.ds.items.len(),
        "calls": m.totals.calls,
        "errors": m.totals.errors,
        "spent_usd": m.totals.spent_usd,
        "cost_at_list_prices_usd": d.analysis.spend(),
        "cells": d.rec.decisions.len(),
        "table_changes": changes.len(),
        "changes": changes,
        "undecided": undecided,
        "warnings": d.warnings(),
    });
    if let Some(h) = &d.history {
        v["history"] = super::history::json(h);
    }
    v
}

impl Exporter for ReportJson {
    fn file_name(&self) -> &'static str {
        "report.json"
    }

    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(&summary(d))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

/// The routes file a run directory's proposal was derived from, as `report.json` records it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct Basis {
    pub path: String,
    pub sha256: String,
}

/// Read the basis back from a run directory's `report.json`, if it has one.
pub fn basis(dir: &std::path::Path) -> Option<Basis> {
    #[derive(serde::Deserialize)]
    struct Head {
        routes: Basis,
    }
    let bytes = std::fs::read(dir.join("report.json")).ok()?;
    serde_json::from_slice::<Head>(&bytes)
        .ok()
        .map(|h| h.routes)
}

/// One cell's decision for scripts: the routes, the outcome, the reason and the figures that
/// made it (`delta_quality` is the decision's own interval).
pub fn decision(c: &crate::derive::policy::Decision) -> serde_json::Value {
    let e = c.evidence.as_ref();
    let t = e.and_then(|e| e.test.as_ref());
    serde_json::json!({
        "cell": c.label(),
        "old": route(&c.old),
        "new": route(&c.new),
        "outcome": c.outcome.as_str(),
        "reason": c.reason,
        "challenger": e.map(|e| e.challenger.to_string()),
        "delta_quality": e.and_then(|e| e.delta_quality).map(|q| serde_json::json!({"value": q.value, "low": q.low, "high": q.high})),
        "quality_question": t.map(|t| t.question.as_str()),
        "interval_confidence": t.map(|t| t.confidence()),
        "p_value_holm": t.map(|t| t.tested.p_adjusted),
        "holm_family_size": t.map(|t| t.family),
        "n": c.n,
        "mde": c.mde,
        "items_needed": c.items_needed,
    })
}
