//! `routecal report RUN_DIR`: re-derive every report from the journal, with no calls.

use std::path::{Path, PathBuf};

use crate::cli::ReportArgs;
use crate::derive;
use crate::report::{self, text};
use crate::run_dir::{self, Manifest};
use crate::runner::journal;

pub fn report(a: ReportArgs) -> anyhow::Result<u8> {
    let manifest = Manifest::load(&a.run_dir)?;
    let routes = a
        .routes
        .clone()
        .unwrap_or_else(|| locate(&a.run_dir, &manifest.routes.path));
    let dataset = a
        .dataset
        .clone()
        .unwrap_or_else(|| locate(&a.run_dir, &manifest.dataset.path));
    // Prices with dates or time windows resolve at the run's start, as they did during the run.
    let (cfg, ds) = super::load_inputs(&routes, &dataset, manifest.started())?;
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
    let contents = journal::read(&a.run_dir.join(run_dir::JOURNAL))?;
    let mut derived = derive::derive(&manifest, &cfg, &ds, &contents)?;
    derived.journal_notes.extend(notes);
    let files = report::write_all(&a.run_dir, &derived)?;
    if !a.quiet {
        print!("{}", text::summary(&derived));
        for w in derived.warnings() {
            println!("warning: {w}");
        }
        println!("\nRewrote {} files in {}", files.len(), a.run_dir.display());
    }
    super::ok()
}

/// A path recorded in run.json: relative to the working directory of the run, which is usually
/// the folder that holds `reports/`; try there when the current directory differs.
fn locate(run_dir: &Path, recorded: &str) -> PathBuf {
    let p = PathBuf::from(recorded);
    if p.is_absolute() || p.exists() {
        return p;
    }
    match run_dir.parent().and_then(Path::parent) {
        Some(root) if root.join(&p).exists() => root.join(p),
        _ => p,
    }
}
