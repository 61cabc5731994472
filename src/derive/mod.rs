//! Everything after the runner, as one pure function of the journal: analysis, policy,
//! simulation, the recommended file and its diff. `run` and `report` share it.

pub mod analyze;
pub mod crossfit;
pub(crate) mod failures;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod history;
pub(crate) mod paired;
pub mod policy;
pub mod sequential;
pub mod simulate;
pub mod stability;
pub mod stats;

use std::path::Path;

use self::analyze::Analysis;
use self::policy::{QualityComparison, Recommendation};
use self::simulate::{ClassifierValue, Scenario, SimRow, StrongWeak};
use self::stability::Stability;
use crate::config::Config;
use crate::config::routes_file;
use crate::dataset::Dataset;
use crate::derive::crossfit::CrossFit;
use crate::store::journal::JournalContents;
use crate::store::manifest::Manifest;

pub struct Derived<'a> {
    pub manifest: &'a Manifest,
    pub cfg: &'a Config,
    pub ds: &'a Dataset,
    pub analysis: Analysis,
    pub rec: Recommendation,
    /// Every pair of candidates compared on quality, per task type and over every item.
    pub comparisons: Vec<QualityComparison>,
    /// The decisions re-made on bootstrap resamples (`[policy] stability_resamples`).
    pub stability: Option<Stability>,
    pub sim: Vec<SimRow>,
    /// RouteLLM-comparable figures for the strongest and the cheapest candidate.
    pub strong_weak: Option<StrongWeak>,
    /// What each declared classifier is worth for its cost.
    pub classifier_value: Vec<ClassifierValue>,
    pub recommended_toml: String,
    /// What `routes.diff` holds: the change cell by cell, then the unified diff of the file;
    /// empty when the file does not change.
    pub diff: String,
    /// The unified diff of the routes file alone.
    pub toml_diff: String,
    pub journal_notes: Vec<String>,
    /// The sequential design's replay, for a run made with `--adaptive`: `rec` is then its
    /// recommendation (cells frozen at the look that settled them).
    pub adaptive: Option<sequential::Summary>,
    /// Evidence across weeks (`--history`): which models' earlier items were pooled into the
    /// decisions, and which were dropped because the model moved. `None` without `--history`.
    pub history: Option<history::Pooling>,
}

/// What accepting every proposed change does, as figures (no formatting): the simulated
/// current and recommended tables through the run's classifier, and who is affected.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The classifier both tables were routed through.
    pub classifier: String,
    /// The current table's simulated figures.
    pub current: TableFigures,
    /// The recommended table's figures: out of sample (cross-fitted) when available.
    pub recommended: TableFigures,
    /// Whether `recommended` is the out-of-sample row (else in-sample, fitted on these items).
    pub out_of_sample: bool,
    /// Dataset items whose true cell gets a different primary model.
    pub rerouted_items: usize,
    /// Items in the dataset.
    pub items: usize,
    /// Cells whose route changes (primary or fallback).
    pub changed: Vec<String>,
    /// Cells the sample could not decide (they keep their route).
    pub undecided: Vec<String>,
    /// Cells with too few graded items to decide.
    pub too_few: Vec<String>,
}

/// One simulated table: quality (mean score, 0–1), USD per 1,000 requests, p95 latency in ms.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TableFigures {
    pub quality: Option<f64>,
    pub cost_per_1k: Option<f64>,
    pub p95_ms: Option<f64>,
}

impl From<&SimRow> for TableFigures {
    fn from(r: &SimRow) -> Self {
        TableFigures {
            quality: r.quality,
            cost_per_1k: r.cost_per_1k,
            p95_ms: r.p95_latency_ms,
        }
    }
}

impl Verdict {
    /// Share of the dataset's items whose primary changes (0–1).
    pub fn rerouted_share(&self) -> f64 {
        if self.items == 0 {
            0.0
        } else {
            self.rerouted_items as f64 / self.items as f64
        }
    }
}

impl Derived<'_> {
    /// What the whole table does, in one line: the current and the recommended table through the
    /// run's classifier, the recommended one out of sample (cross-fitted) first, its in-sample
    /// figure beside it. `None` without simulated tables.
    pub fn table_headline(&self) -> Option<String> {
        use crate::base::fmt::usd;
        let cls = self.cfg.classifier.model.as_str();
        let row = |scenario: Scenario| {
            self.sim
                .iter()
                .find(|r| r.scenario == scenario && r.classifier == cls)
        };
        let q = |r: &simulate::SimRow| r.quality.map(|q| format!("{q:.3}")).unwrap_or("–".into());
        let (cur, rec) = (row(Scenario::Current)?, row(Scenario::Recommended)?);
        let recommended = match row(Scenario::RecommendedOutOfSample) {
            Some(oos) => format!(
                "recommended {} out of sample ({} in-sample, fitted on these items) at {}/1k requests",
                q(oos),
                q(rec),
                usd(oos.cost_per_1k)
            ),
            None => format!(
                "recommended {} in-sample (fitted on these items) at {}/1k requests",
                q(rec),
                usd(rec.cost_per_1k)
            ),
        };
        Some(format!(
            "through {cls}: current table quality {} at {}/1k requests; {recommended}",
            q(cur),
            usd(cur.cost_per_1k)
        ))
    }

    /// What accepting everything does; `None` without the current and recommended simulations.
    pub fn verdict(&self) -> Option<Verdict> {
        let cls = self.cfg.classifier.model.as_str();
        let row = |scenario: Scenario| {
            self.sim
                .iter()
                .find(|r| r.scenario == scenario && r.classifier == cls)
        };
        let current = row(Scenario::Current)?;
        let (recommended, out_of_sample) = match row(Scenario::RecommendedOutOfSample) {
            Some(r) => (r, true),
            None => (row(Scenario::Recommended)?, false),
        };
        let rerouted_items = self
            .ds
            .items
            .iter()
            .filter(|it| {
                let cell = crate::base::types::Cell::new(it.task, it.priority);
                self.cfg.table.route(cell).primary != self.rec.table.route(cell).primary
            })
            .count();
        let cells = |f: &dyn Fn(&policy::Decision) -> bool| {
            self.rec
                .decisions
                .iter()
                .filter(|d| f(d))
                .map(|d| d.label())
                .collect::<Vec<_>>()
        };
        Some(Verdict {
            classifier: cls.to_string(),
            current: current.into(),
            recommended: recommended.into(),
            out_of_sample,
            rerouted_items,
            items: self.ds.items.len(),
            changed: cells(&|d| d.changed()),
            undecided: cells(&|d| d.outcome == policy::Outcome::Undecided),
            too_few: cells(&|d| d.outcome == policy::Outcome::KeptTooFewSamples),
        })
    }

    /// Share of the dataset's items (0–1) per decision's cell, in one pass over the items: a
    /// cell's own items; for the `[default]` route (`None`), the items whose cell has no
    /// decision of its own.
    pub fn traffic_shares(
        &self,
    ) -> std::collections::HashMap<Option<crate::base::types::Cell>, f64> {
        use std::collections::HashMap;
        let mut shares: HashMap<Option<crate::base::types::Cell>, f64> =
            self.rec.decisions.iter().map(|d| (d.cell, 0.0)).collect();
        let total = self.ds.items.len();
        if total == 0 {
            return shares;
        }
        let unit = 1.0 / total as f64;
        for it in &self.ds.items {
            let c = Some(crate::base::types::Cell::new(it.task, it.priority));
            let key = if shares.contains_key(&c) { c } else { None };
            *shares.entry(key).or_default() += unit;
        }
        shares
    }

    /// Everything a reviewer should not miss.
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = Vec::new();
        if self.manifest.status != crate::store::manifest::Status::Complete {
            w.push(format!(
                "this run is {}: not every planned call was made (it was stopped, killed or is still running), so its figures and decisions rest on the calls in the journal alone{}; `routecal run --resume RUN_DIR` continues it, and `apply` refuses it without --force",
                self.manifest.status.as_str(),
                if self.adaptive.is_some() {
                    " (an adaptive run: up to its last whole look)"
                } else {
                    ""
                }
            ));
        }
        w.extend(self.cfg.warnings.iter().map(|w| w.message.clone()));
        w.extend(self.journal_notes.iter().cloned());
        w.extend(self.analysis.notes.iter().cloned());
        // A flag shared by several cells (the same tier without another provider, say) is one
        // warning listing the cells, not one line per cell.
        let mut flagged: Vec<(&policy::Flag, Vec<String>)> = Vec::new();
        for d in &self.rec.decisions {
            for f in &d.flags {
                match flagged.iter_mut().find(|(flag, _)| *flag == f) {
                    Some((_, cells)) => cells.push(d.label()),
                    None => flagged.push((f, vec![d.label()])),
                }
            }
        }
        for (flag, cells) in flagged {
            w.push(format!("{}: {flag}", cells.join(", ")));
        }
        for c in self.history.iter().flat_map(|h| h.moved()) {
            w.push(format!(
                "{} moved since the earlier runs ({:+.1} points, p = {:.3}): its history is dropped and it is decided on this run's items alone",
                c.model,
                100.0 * c.delta.unwrap_or(0.0),
                c.p_value.unwrap_or(0.0)
            ));
        }
        let j = &self.analysis.judge_summary;
        if j.unparsable + j.errors > 0 {
            w.push(format!(
                "{} of {} judge verdicts are missing ({} unparsable replies, {} failed calls): those answers are ungradable, not zero",
                j.unparsable + j.errors,
                j.verdicts,
                j.unparsable,
                j.errors
            ));
        }
        for mt in &self.analysis.model_task {
            if mt.error_rate > self.cfg.policy.max_error_rate {
                w.push(format!(
                    "{} fails {} of its {} calls",
                    mt.model,
                    crate::base::fmt::percent_1dp(mt.error_rate),
                    mt.task
                ));
            }
        }
        for (m, src) in &self.analysis.latency_sources {
            if src.is_modelled() {
                let how = self
                    .cfg
                    .models
                    .get(m)
                    .and_then(|x| x.latency_model.as_ref())
                    .map(|l| l.source.clone())
                    .unwrap_or_default();
                w.push(format!("latency of {m} is modelled, not measured: {how}"));
            }
        }
        for row in &self.sim {
            if row.scenario == Scenario::Recommended && row.fallback_rate > 0.05 {
                w.push(format!(
                    "the recommended table falls back on {} of requests ({})",
                    crate::base::fmt::percent_1dp(row.fallback_rate),
                    row.classifier
                ));
            }
        }
        w
    }
}

pub fn derive<'a>(
    manifest: &'a Manifest,
    cfg: &'a Config,
    ds: &'a Dataset,
    journal: &JournalContents,
) -> anyhow::Result<Derived<'a>> {
    let analysis = analyze::analyze(cfg, ds, &journal.rows)?;
    from_analysis(manifest, cfg, ds, analysis, journal_notes(journal), None)
}

/// [`derive`], freeing the journal's rows as soon as the analysis holds what it needs of them
/// (at a million rows, the rows are the largest thing in memory).
pub fn derive_owned<'a>(
    manifest: &'a Manifest,
    cfg: &'a Config,
    ds: &'a Dataset,
    journal: JournalContents,
) -> anyhow::Result<Derived<'a>> {
    derive_with_history(manifest, cfg, ds, journal, None)
}

/// [`derive_owned`], the decisions made on this run's items pooled with the earlier runs'
/// items of the models that show no change ([`history`]; `None`: this run's items alone).
pub(crate) fn derive_with_history<'a>(
    manifest: &'a Manifest,
    cfg: &'a Config,
    ds: &'a Dataset,
    journal: JournalContents,
    earlier: Option<&history::Earlier>,
) -> anyhow::Result<Derived<'a>> {
    let analysis = analyze::analyze(cfg, ds, &journal.rows)?;
    let notes = journal_notes(&journal);
    drop(journal);
    from_analysis(manifest, cfg, ds, analysis, notes, earlier)
}

fn journal_notes(journal: &JournalContents) -> Vec<String> {
    let mut journal_notes = Vec::new();
    if journal.torn_tail {
        journal_notes.push(
            "the journal's last line was cut short (an interrupted write) and was ignored"
                .to_string(),
        );
    }
    if !journal.bad_lines.is_empty() {
        journal_notes.push(format!(
            "{} journal lines did not parse and were ignored",
            journal.bad_lines.len()
        ));
    }
    journal_notes.extend(crate::derive::failures::notes(&journal.rows));
    journal_notes
}

fn from_analysis<'a>(
    manifest: &'a Manifest,
    cfg: &'a Config,
    ds: &'a Dataset,
    analysis: analyze::Analysis,
    journal_notes: Vec<String>,
    earlier: Option<&history::Earlier>,
) -> anyhow::Result<Derived<'a>> {
    // 1 − 0.95 prints as 0.050000000000000044: rounded, as the level is written in the reports.
    let alpha = ((1.0 - cfg.policy.confidence) * 1e12).round() / 1e12;
    let (pooled, history) = match earlier.map(|e| e.apply(&analysis, ds, alpha)) {
        Some((p, record)) => {
            let a = Analysis::from_outcomes(p.outcomes, analysis.models.clone());
            (Some((a, p.items)), Some(record))
        }
        None => (None, None),
    };
    let (rec, comparisons, stability) = {
        let obs = match &pooled {
            Some((a, items)) => {
                policy::Observations::over(a, items.iter().map(|(id, t)| (id.as_str(), *t)))
            }
            None => policy::Observations::new(&analysis, ds),
        };
        let p = &cfg.policy;
        // Independent and each seeded by its own labels: computed side by side.
        let (rec, (comparisons, stability)) = rayon::join(
            || recommend(manifest, cfg, ds, &analysis, &obs),
            || {
                rayon::join(
                    || policy::pairwise(cfg, &obs),
                    || {
                        (p.stability_resamples > 0)
                            .then(|| stability::measure(cfg, &obs, p.stability_resamples, p.seed))
                    },
                )
            },
        );
        (rec, comparisons, stability)
    };
    let (rec, adaptive) = rec;
    let classifiers = cfg.classifiers();
    let fit = match &pooled {
        Some((a, items)) => CrossFit::fit_pooled(cfg, a, items, ds),
        None => CrossFit::fit(cfg, &analysis, ds),
    };
    let sim = simulate::standard(
        &analysis,
        ds,
        &cfg.table,
        &rec.table,
        &classifiers,
        fit.as_ref(),
    );
    let strong_weak =
        simulate::strong_weak(&analysis, ds, &cfg.classifier.model, &sim, fit.as_ref());
    let classifier_value =
        simulate::classifier_value(&analysis.classifier_summary, &sim, &classifiers);
    let recommended_toml = routes_file::render(&cfg.source, &rec.table, None)?;
    let name = Path::new(&manifest.routes.path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("routes.toml")
        .to_string();
    let toml_diff = routes_file::unified_diff(
        &cfg.source,
        &recommended_toml,
        &name,
        crate::store::run_dir::RunFile::RecommendedRoutes.name(),
    );
    let diff = routes_file::routes_diff(
        &routes_file::cell_changes(&cfg.table, &rec.table),
        &toml_diff,
    );
    Ok(Derived {
        manifest,
        cfg,
        ds,
        analysis,
        rec,
        comparisons,
        stability,
        sim,
        strong_weak,
        classifier_value,
        recommended_toml,
        diff,
        toml_diff,
        journal_notes,
        adaptive,
        history,
    })
}

/// The policy's recommendation: of the full design, or replayed look by look for an adaptive
/// run ([`sequential::replay`]).
fn recommend(
    manifest: &Manifest,
    cfg: &Config,
    ds: &Dataset,
    analysis: &analyze::Analysis,
    obs: &policy::Observations,
) -> (policy::Recommendation, Option<sequential::Summary>) {
    match &manifest.settings.adaptive {
        None => (policy::recommend(cfg, obs), None),
        Some(design) => {
            let r = sequential::replay(cfg, design, ds, analysis, design.looks);
            (r.rec, Some(r.summary))
        }
    }
}
