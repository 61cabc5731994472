//! Machine output: one set of serde types for `report.json` and every `--json` (`run`,
//! `report`, `report A B`, `diff`, `apply`). The route change of a cell ([`Change`]) is spelled
//! once and embedded wherever a change is printed. `schema/report.schema.json` is the checked-in
//! JSON Schema of these shapes; a test validates real output of the shipped suites against it.
//!
//! `report.json` also records which routes file the proposal in its folder was derived from
//! (its sha256), which `apply` checks before it writes anything, and which `diff --json` reads
//! back through [`Report`].

use crate::store::manifest::Status;
use serde::{Deserialize, Serialize};

use super::Exporter;
use crate::config::Route;
use crate::derive::Derived;
use crate::derive::policy::Decision;
use crate::derive::stats::Estimate;

/// The `report.json` exporter.
pub struct ReportJson;

/// A route: the primary model and the optional fallback (`provider/model` ids).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteJson {
    pub primary: String,
    pub fallback: Option<String>,
}

impl From<&Route> for RouteJson {
    fn from(r: &Route) -> Self {
        RouteJson {
            primary: r.primary.to_string(),
            fallback: r.fallback.as_ref().map(|m| m.to_string()),
        }
    }
}

/// A cell's route before and after: the one "change" object of every output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// `default` or `task.priority`.
    pub cell: String,
    pub old: RouteJson,
    pub new: RouteJson,
}

/// An estimate with its interval (quality points, or the unit of the field that holds it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl From<Estimate> for Interval {
    fn from(e: Estimate) -> Self {
        Interval {
            value: e.value,
            low: e.low,
            high: e.high,
        }
    }
}

/// One cell's decision: its change, the outcome, the reason and the figures that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellDecision {
    #[serde(flatten)]
    pub change: Change,
    /// `changed`, `kept_best`, `undecided`, `kept_too_few_samples`, `kept_unmeasured` or
    /// `kept_no_candidate`.
    pub outcome: String,
    pub reason: String,
    /// The closest challenger (the new primary of a change).
    pub challenger: Option<String>,
    /// Challenger − current primary, quality points, with the decision's own interval.
    pub delta_quality: Option<Interval>,
    /// `superiority` or `non_inferiority`: the test's question.
    pub quality_question: Option<String>,
    /// The interval's two-sided level (0–1); Holm's procedure may widen it.
    pub interval_confidence: Option<f64>,
    /// The test's p-value, Holm-adjusted over the cell's challengers.
    pub p_value_holm: Option<f64>,
    pub holm_family_size: Option<usize>,
    /// Graded items behind the decision.
    pub n: usize,
    /// Smallest quality difference (points) the test detects with 80% power.
    pub mde: Option<f64>,
    /// Undecided cells: more paired items that would settle the closest challenger.
    pub items_needed: Option<usize>,
}

impl From<&Decision> for CellDecision {
    fn from(c: &Decision) -> Self {
        let e = c.evidence.as_ref();
        let t = e.and_then(|e| e.test.as_ref());
        CellDecision {
            change: Change {
                cell: c.label(),
                old: (&c.old).into(),
                new: (&c.new).into(),
            },
            outcome: c.outcome.as_str().into(),
            reason: c.reason.clone(),
            challenger: e.map(|e| e.challenger.to_string()),
            delta_quality: e.and_then(|e| e.delta_quality).map(Interval::from),
            quality_question: t.map(|t| t.question.as_str().into()),
            interval_confidence: t.map(|t| t.confidence()),
            p_value_holm: t.map(|t| t.tested.p_adjusted),
            holm_family_size: t.map(|t| t.family),
            n: c.n,
            mde: c.mde,
            items_needed: c.items_needed,
        }
    }
}

/// A file an output was derived from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub path: String,
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
}

/// `report.json`, and the core of `report --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub run_id: String,
    /// `running`, `complete` or `partial`.
    pub status: Status,
    /// Answers came from a `sim` endpoint.
    pub simulated: bool,
    /// The routes file the proposal was derived from.
    pub routes: FileRef,
    pub dataset: FileRef,
    pub items: usize,
    pub calls: usize,
    pub errors: usize,
    /// Spent on live endpoints, USD.
    pub spent_usd: f64,
    /// Every call at list prices, USD.
    pub cost_at_list_prices_usd: f64,
    /// Cells the policy decided (the default route included).
    pub cells: usize,
    /// Cells whose route changes.
    pub table_changes: usize,
    pub changes: Vec<CellDecision>,
    /// Kept cells the sample could not decide.
    pub undecided: Vec<CellDecision>,
    pub warnings: Vec<String>,
    /// `run --adaptive`: when each cell was settled and what was saved; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<super::adaptive::AdaptiveJson>,
    /// `--history`: each model's change test and whether its earlier items were pooled;
    /// absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::derive::history::Pooling>,
}

impl Report {
    /// The outcome of a derived run.
    pub fn of(d: &Derived) -> Report {
        let m = d.manifest;
        let changes: Vec<CellDecision> = d.rec.changes().map(CellDecision::from).collect();
        Report {
            run_id: m.run_id.clone(),
            status: m.status,
            simulated: m.simulated,
            routes: FileRef {
                path: d.cfg.path.display().to_string(),
                sha256: d.cfg.sha256.clone(),
            },
            dataset: FileRef {
                path: d.ds.path.display().to_string(),
                sha256: d.ds.sha256.clone(),
            },
            items: d.ds.items.len(),
            calls: m.totals.calls,
            errors: m.totals.errors,
            spent_usd: m.totals.spent_usd,
            cost_at_list_prices_usd: d.analysis.spend(),
            cells: d.rec.decisions.len(),
            table_changes: changes.len(),
            changes,
            undecided: d.rec.undecided().map(CellDecision::from).collect(),
            warnings: d.warnings(),
            adaptive: super::adaptive::json(d),
            history: d.history.clone(),
        }
    }

    /// Read a run directory's `report.json`, if it has one that parses.
    pub fn read(dir: &std::path::Path) -> Option<Report> {
        let bytes = std::fs::read(crate::store::run_dir::RunDir::new(dir).report_json()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// What `report RUN_DIR --json` prints: `report.json` plus where the files went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOutput {
    #[serde(flatten)]
    pub report: Report,
    pub run_dir: String,
    /// The named derivation's folder (`report --routes`), when it is not the run directory.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub derived_dir: Option<String>,
    /// The files written, by name.
    pub files: Vec<String>,
}

/// What `run --json` prints once the reports are written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunOutput {
    pub run_id: String,
    pub run_dir: String,
    pub status: Status,
    pub items: usize,
    pub calls: usize,
    pub errors: usize,
    pub spent_usd: f64,
    pub table_changes: usize,
    pub changes: Vec<CellDecision>,
    pub undecided: Vec<CellDecision>,
    pub warnings: Vec<String>,
    /// Why the run exits 1 although its reports are written.
    pub failures: Vec<String>,
    /// `run --adaptive`: as in [`Report::adaptive`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<super::adaptive::AdaptiveJson>,
    /// `--history`: as in [`Report::history`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::derive::history::Pooling>,
}

impl RunOutput {
    /// The outcome of a run whose reports are written in `run_dir`.
    pub fn of(d: &Derived, run_dir: String, failures: &[String]) -> RunOutput {
        let r = Report::of(d);
        RunOutput {
            run_id: r.run_id,
            run_dir,
            status: r.status,
            items: r.items,
            calls: r.calls,
            errors: r.errors,
            spent_usd: r.spent_usd,
            table_changes: r.table_changes,
            changes: r.changes,
            undecided: r.undecided,
            warnings: r.warnings,
            failures: failures.to_vec(),
            adaptive: r.adaptive,
            history: r.history,
        }
    }
}

/// What `run --json` prints when the run stopped before its reports (a signal, a failed write).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunStopped {
    pub run_id: String,
    pub run_dir: String,
    /// `partial`.
    pub status: Status,
    /// Why it stopped ("Stopped by SIGINT").
    pub stopped: String,
    pub calls: usize,
    pub errors: usize,
    pub spent_usd: f64,
    pub planned_calls_not_made: usize,
}

/// What `diff RUN_DIR --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffOutput {
    pub run_dir: String,
    /// Whether the table changes (`routes.diff` is not empty).
    pub changed: bool,
    /// The changed cells from `report.json`; `null` for a folder without one.
    pub changes: Option<Vec<CellDecision>>,
    /// `routes.diff`: the change cell by cell, then the unified diff of the routes file.
    pub diff: String,
}

/// A change `apply` writes (or would): the cell's route change, and whether the cell follows
/// `[default]` rather than a route of its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppliedChange {
    #[serde(flatten)]
    pub change: Change,
    pub via_default: bool,
}

/// A cell `apply` writes explicitly so that it ends where the proposal says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pinned {
    pub cell: String,
    pub route: RouteJson,
    pub reason: String,
}

/// What `apply --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApplyOutput {
    pub run_id: String,
    /// The routes file written (or that would be).
    pub routes: String,
    /// Cells taken from the proposal, in table order.
    pub accepted: Vec<String>,
    pub changes: Vec<AppliedChange>,
    pub pinned: Vec<Pinned>,
    pub written: bool,
    pub dry_run: bool,
    /// Where the previous file was kept, when it was written.
    pub backup: Option<String>,
}

/// One model on one task type in both runs of `report A B --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoveJson {
    pub model: String,
    pub task_type: String,
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    /// B − A on the items both runs graded, quality points.
    pub delta_quality: Option<Interval>,
    pub cost_per_call_usd_a: Option<f64>,
    pub cost_per_call_usd_b: Option<f64>,
    pub p95_latency_ms_a: Option<f64>,
    pub p95_latency_ms_b: Option<f64>,
    pub error_rate_a: Option<f64>,
    pub error_rate_b: Option<f64>,
    /// Why the row deserves a look (empty: nothing moved past the thresholds).
    pub notable: Vec<String>,
}

/// A cell whose measured route differs between the two runs (routes as text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableChange {
    pub cell: String,
    pub a: String,
    pub b: String,
}

/// One simulated scenario in both runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimPairJson {
    pub scenario: String,
    pub classifier: String,
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    pub cost_per_1k_requests_usd_a: Option<f64>,
    pub cost_per_1k_requests_usd_b: Option<f64>,
    pub p95_latency_ms_a: Option<f64>,
    pub p95_latency_ms_b: Option<f64>,
}

/// What `report A B --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonOutput {
    pub a: String,
    pub b: String,
    /// The comparison files written.
    pub files: Vec<String>,
    /// Rows with something notable.
    pub notable: usize,
    pub moves: Vec<MoveJson>,
    pub table_changes: Vec<TableChange>,
    pub simulation: Vec<SimPairJson>,
    pub notes: Vec<String>,
    /// Whether the two runs' figures rest on the same items, and each model's quality on the
    /// items both graded.
    pub samples: SamplesJson,
}

/// `samples` of [`ComparisonOutput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesJson {
    /// True when the headline figures (quality A and B, the simulated tables) are means over
    /// different items: a run is adaptive or pooled history, or the datasets differ.
    pub differ: bool,
    pub reasons: Vec<super::compare::SampleReason>,
    pub models: Vec<CommonQualityJson>,
}

/// One model's quality on the items both runs graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonQualityJson {
    pub model: String,
    pub items_a: usize,
    pub items_b: usize,
    pub items_both: usize,
    /// Mean score (0–1) on the common items.
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    /// B − A on the common items (paired bootstrap).
    pub delta_quality: Option<Interval>,
}

impl SamplesJson {
    fn of(s: &super::compare::Samples) -> SamplesJson {
        SamplesJson {
            differ: s.differ(),
            reasons: s.reasons.clone(),
            models: s
                .models
                .iter()
                .map(|c| CommonQualityJson {
                    model: c.model.to_string(),
                    items_a: c.items_a,
                    items_b: c.items_b,
                    items_both: c.items_both,
                    quality_a: c.quality_a,
                    quality_b: c.quality_b,
                    delta_quality: c.delta.map(Interval::from),
                })
                .collect(),
        }
    }
}

impl ComparisonOutput {
    /// The comparison `c`, whose files went to `files`.
    pub fn of(c: &super::compare::Comparison, files: &[String]) -> ComparisonOutput {
        ComparisonOutput {
            a: c.a.clone(),
            b: c.b.clone(),
            files: files.to_vec(),
            notable: c.moves.iter().filter(|m| !m.notable.is_empty()).count(),
            moves: c
                .moves
                .iter()
                .map(|m| MoveJson {
                    model: m.model.to_string(),
                    task_type: m.task.as_str().into(),
                    quality_a: m.quality_a,
                    quality_b: m.quality_b,
                    delta_quality: m.delta_quality.map(Interval::from),
                    cost_per_call_usd_a: m.cost_per_call_a,
                    cost_per_call_usd_b: m.cost_per_call_b,
                    p95_latency_ms_a: m.p95_a,
                    p95_latency_ms_b: m.p95_b,
                    error_rate_a: m.error_rate_a,
                    error_rate_b: m.error_rate_b,
                    notable: m.notable.clone(),
                })
                .collect(),
            table_changes: c
                .table_changes
                .iter()
                .map(|(cell, a, b)| TableChange {
                    cell: cell.clone(),
                    a: a.clone(),
                    b: b.clone(),
                })
                .collect(),
            simulation: c
                .simulation
                .iter()
                .map(|p| SimPairJson {
                    scenario: p.scenario.clone(),
                    classifier: p.classifier.clone(),
                    quality_a: p.quality_a,
                    quality_b: p.quality_b,
                    cost_per_1k_requests_usd_a: p.cost_per_1k_a,
                    cost_per_1k_requests_usd_b: p.cost_per_1k_b,
                    p95_latency_ms_a: p.p95_a,
                    p95_latency_ms_b: p.p95_b,
                })
                .collect(),
            notes: c.notes.clone(),
            samples: SamplesJson::of(&c.samples),
        }
    }
}

impl Exporter for ReportJson {
    fn file_name(&self) -> &'static str {
        crate::store::run_dir::RunFile::ReportJson.name()
    }

    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        let mut bytes = serde_json::to_vec_pretty(&Report::of(d))?;
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

/// Read the basis back from a run directory's `report.json`, if it has one. Only the `routes`
/// object is read, so that a `report.json` written before other fields existed still serves.
pub fn basis(dir: &std::path::Path) -> Option<Basis> {
    #[derive(serde::Deserialize)]
    struct Head {
        routes: Basis,
    }
    let bytes = std::fs::read(crate::store::run_dir::RunDir::new(dir).report_json()).ok()?;
    serde_json::from_slice::<Head>(&bytes)
        .ok()
        .map(|h| h.routes)
}
