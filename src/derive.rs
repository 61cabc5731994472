//! Everything after the runner, as one pure function of the journal: analysis, policy,
//! simulation, the recommended file and its diff. `run` and `report` share it.

use std::path::Path;

use crate::analyze::{self, Analysis};
use crate::config::Config;
use crate::dataset::Dataset;
use crate::policy::{self, Recommendation};
use crate::routes_file;
use crate::run_dir::Manifest;
use crate::runner::journal::JournalContents;
use crate::simulate::{self, SimRow};

pub struct Derived<'a> {
    pub manifest: &'a Manifest,
    pub cfg: &'a Config,
    pub ds: &'a Dataset,
    pub analysis: Analysis,
    pub rec: Recommendation,
    pub sim: Vec<SimRow>,
    pub recommended_toml: String,
    pub diff: String,
    pub journal_notes: Vec<String>,
}

impl Derived<'_> {
    /// Everything a reviewer should not miss.
    pub fn warnings(&self) -> Vec<String> {
        let mut w: Vec<String> = self
            .cfg
            .warnings
            .iter()
            .map(|w| w.message.clone())
            .collect();
        w.extend(self.journal_notes.iter().cloned());
        w.extend(self.analysis.notes.iter().cloned());
        for d in &self.rec.decisions {
            for f in &d.flags {
                w.push(format!("{}: {f}", d.label()));
            }
        }
        for mt in &self.analysis.model_task {
            if mt.error_rate > self.cfg.policy.max_error_rate {
                w.push(format!(
                    "{} fails {} of {} calls",
                    mt.model,
                    mt.task,
                    crate::report::text::pct(mt.error_rate)
                ));
            }
        }
        for (m, src) in &self.analysis.latency_sources {
            if src.contains("modelled") {
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
            if row.scenario == "recommended" && row.fallback_rate > 0.05 {
                w.push(format!(
                    "the recommended table falls back on {} of requests ({})",
                    crate::report::text::pct(row.fallback_rate),
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
    let rec = policy::recommend(cfg, &analysis);
    let sim = simulate::standard(&analysis, ds, &cfg.table, &rec.table, &cfg.classifiers());
    let recommended_toml = routes_file::render(&cfg.source, &rec.table, None)?;
    let name = Path::new(&manifest.routes.path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("routes.toml")
        .to_string();
    let diff = routes_file::unified_diff(
        &cfg.source,
        &recommended_toml,
        &name,
        "routes.recommended.toml",
    );
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
    Ok(Derived {
        manifest,
        cfg,
        ds,
        analysis,
        rec,
        sim,
        recommended_toml,
        diff,
        journal_notes,
    })
}
