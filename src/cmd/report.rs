//! `routecal report RUN_DIR`: re-derive every report from the journal, with no calls.
//! `routecal report A B`: compare two runs (what moved from A to B), written into B.

use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::derive;
use crate::report::{self, compare, text};
use crate::run_dir::{self, Lock, Manifest};
use crate::runner::journal::{self, JournalContents};

/// Run `report` with one run directory or two; the exit code.
pub fn report(a: ReportArgs) -> anyhow::Result<u8> {
    match &a.later {
        None => one(&a),
        Some(later) => two(&a, later),
    }
}

/// A run directory read back: its manifest, the inputs it is derived against, its journal.
struct Loaded {
    manifest: Manifest,
    cfg: Config,
    ds: Dataset,
    journal: JournalContents,
    notes: Vec<String>,
}

impl Loaded {
    fn derive(&self) -> anyhow::Result<derive::Derived<'_>> {
        let mut d = derive::derive(&self.manifest, &self.cfg, &self.ds, &self.journal)?;
        d.journal_notes.extend(self.notes.iter().cloned());
        Ok(d)
    }

    /// [`Loaded::derive`] from a journal moved out of the run, freed as soon as it is analysed.
    fn derive_owned(&self, journal: JournalContents) -> anyhow::Result<derive::Derived<'_>> {
        let mut d = derive::derive_owned(&self.manifest, &self.cfg, &self.ds, journal)?;
        d.journal_notes.extend(self.notes.iter().cloned());
        Ok(d)
    }
}

fn load(dir: &Path, routes: Option<&Path>, dataset: Option<&Path>) -> anyhow::Result<Loaded> {
    let manifest = Manifest::load(dir)?;
    let routes = routes
        .map(Path::to_path_buf)
        .unwrap_or_else(|| locate(dir, &manifest.routes.path));
    let dataset = dataset
        .map(Path::to_path_buf)
        .unwrap_or_else(|| locate(dir, &manifest.dataset.path));
    // Prices with dates or time windows resolve at the run's start, as they did during the run.
    let prices = super::run_prices(dir, &manifest)?;
    let (cfg, ds) =
        super::load_inputs_priced(&routes, &dataset, manifest.started(), prices.table())?;
    let mut notes = Vec::new();
    if cfg.sha256 != manifest.routes.sha256 {
        notes.push(format!(
            "{} changed since the run: its current policy, prices and table apply",
            routes.display()
        ));
    }
    if ds.sha256 != manifest.dataset.sha256 {
        notes.push(format!(
            "{} changed since the run: its current graders apply",
            dataset.display()
        ));
    }
    let journal = journal::read(&dir.join(run_dir::JOURNAL))?;
    Ok(Loaded {
        manifest,
        cfg,
        ds,
        journal,
        notes,
    })
}

fn one(a: &ReportArgs) -> anyhow::Result<u8> {
    // Read the manifest first: a folder that is not a run directory is bad input, not a lock.
    Manifest::load(&a.run_dir)?;
    let _lock = Lock::acquire(&a.run_dir)?;
    let mut run = load(&a.run_dir, a.routes.as_deref(), a.dataset.as_deref())?;
    let journal = std::mem::take(&mut run.journal);
    let derived = run.derive_owned(journal)?;
    let files = report::write_all(&a.run_dir, &derived)?;
    if a.json {
        let mut out = report::json::summary(&derived);
        out["run_dir"] = super::display_path(&a.run_dir).into();
        out["files"] = files.into();
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !a.quiet {
        out!("{}", text::summary(&derived));
        for w in derived.warnings() {
            outln!("warning: {w}");
        }
        outln!(
            "\nRewrote {} files in {}",
            files.len(),
            super::display_path(&a.run_dir)
        );
    }
    super::ok()
}

fn two(a: &ReportArgs, later: &Path) -> anyhow::Result<u8> {
    Manifest::load(&a.run_dir)?;
    Manifest::load(later)?;
    // The comparison is written into the later run; the earlier one is only read.
    let _lock = Lock::acquire(later)?;
    let (ra, rb) = (load(&a.run_dir, None, None)?, load(later, None, None)?);
    let (da, db) = (ra.derive()?, rb.derive()?);
    let c = compare::compare(&da, &db);
    let stem = format!("compare-{}", c.a);
    let md_path = later.join(format!("{stem}.md"));
    let csv_path = later.join(format!("{stem}.csv"));
    let csv = report::frame_to_csv(&compare::frame(&c)?)?;
    report::write_atomic(&md_path, compare::markdown(&c).as_bytes())?;
    report::write_atomic(&csv_path, &csv)?;
    if a.json {
        let moves: Vec<serde_json::Value> = c
            .moves
            .iter()
            .map(|m| {
                serde_json::json!({
                    "model": m.model,
                    "task_type": m.task.as_str(),
                    "quality_a": m.quality_a,
                    "quality_b": m.quality_b,
                    "delta_quality": m.delta_quality.map(|d| serde_json::json!({"value": d.value, "low": d.low, "high": d.high})),
                    "cost_per_call_usd_a": m.cost_per_call_a,
                    "cost_per_call_usd_b": m.cost_per_call_b,
                    "p95_latency_ms_a": m.p95_a,
                    "p95_latency_ms_b": m.p95_b,
                    "error_rate_a": m.error_rate_a,
                    "error_rate_b": m.error_rate_b,
                    "notable": m.notable,
                })
            })
            .collect();
        let out = serde_json::json!({
            "a": c.a,
            "b": c.b,
            "files": [super::display_path(&md_path), super::display_path(&csv_path)],
            "notable": c.moves.iter().filter(|m| !m.notable.is_empty()).count(),
            "moves": moves,
            "notes": c.notes,
        });
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !a.quiet {
        out!("{}", compare::text(&c));
        outln!(
            "\nWrote {} and {}",
            super::display_path(&md_path),
            super::display_path(&csv_path)
        );
    }
    super::ok()
}

/// A path recorded in run.json: relative to the working directory of the run, which is usually
/// the folder that holds `reports/`; try there when the current directory differs.
pub(crate) fn locate(run_dir: &Path, recorded: &str) -> PathBuf {
    let p = PathBuf::from(recorded);
    if p.is_absolute() || p.exists() {
        return p;
    }
    match run_dir.parent().and_then(Path::parent) {
        Some(root) if root.join(&p).exists() => root.join(p),
        _ => p,
    }
}
