//! `routecal report RUN_DIR`: re-derive every report from the journal, with no calls.
//! `routecal report A B`: compare two runs (what moved from A to B), written into B.

use std::path::{Path, PathBuf};

use crate::base::error::{InputError, UsageError};
use crate::base::types::sha256_hex;
use crate::cli::ReportArgs;
use crate::config::Config;
use crate::config::prices::PriceTable;
use crate::dataset::Dataset;
use crate::derive;
use crate::report::{self, compare, text};
use crate::store::journal::{self, JournalContents};
use crate::store::lock::Lock;
use crate::store::manifest::{FileRef, HistorySettings, Manifest};
use crate::store::run_dir::{self, DERIVED_PREFIX, RunDir, RunFile};

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
    fn derive_owned(
        &self,
        journal: JournalContents,
        earlier: Option<&derive::history::Earlier>,
    ) -> anyhow::Result<derive::Derived<'_>> {
        let mut d =
            derive::derive_with_history(&self.manifest, &self.cfg, &self.ds, journal, earlier)?;
        d.journal_notes.extend(self.notes.iter().cloned());
        Ok(d)
    }
}

fn load(dir: &Path, routes: Option<&Path>, dataset: Option<&Path>) -> anyhow::Result<Loaded> {
    let manifest = Manifest::load(dir)?;
    let dataset = dataset
        .map(Path::to_path_buf)
        .unwrap_or_else(|| locate(dir, &manifest.dataset.path));
    // Prices with dates or time windows resolve at the run's start, as they did during the run.
    let at = manifest.started();
    // The price table the run was made with (its --prices file, else the snapshot).
    let prices = super::run_prices(dir, &manifest)?;
    let (cfg, mut notes) = match routes {
        Some(p) => (Config::load(p, prices.table(), at)?, Vec::new()),
        None => run_routes(dir, &manifest, at, prices.table())?,
    };
    let ds = Dataset::load(&dataset)?;
    crate::benchmark::judge_phase::check(&cfg, &ds)?;
    if ds.sha256 != manifest.dataset.sha256 {
        notes.push(format!(
            "{} changed since the run (sha256 {}…, now {}…): its current graders apply",
            dataset.display(),
            short(&manifest.dataset.sha256),
            short(&ds.sha256)
        ));
    }
    let journal = journal::read(&RunDir::new(dir).journal())?;
    Ok(Loaded {
        manifest,
        cfg,
        ds,
        journal,
        notes,
    })
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// The routes file a run measured: its own copy in the run directory (checked against the
/// sha256 in run.json), read as if it stood at the recorded path (a replay endpoint's relative
/// path resolves from there). A run made before copies were kept falls back to the recorded
/// path, with a note when that file no longer has the hash the run recorded.
fn run_routes(
    dir: &Path,
    manifest: &Manifest,
    at: jiff::Timestamp,
    prices: &PriceTable,
) -> anyhow::Result<(Config, Vec<String>)> {
    let recorded = locate(dir, &manifest.routes.path);
    let Some(copy) = &manifest.routes_copy else {
        let cfg = Config::load(&recorded, prices, at)?;
        let mut notes = Vec::new();
        if cfg.sha256 != manifest.routes.sha256 {
            notes.push(format!(
                "run {} keeps no copy of the routes file it measured (it was made before routecal \
                 kept one), and {} changed since the run (sha256 {}…, now {}…): the run is derived \
                 against the file as it is now, so its current-table figures, policy and prices \
                 are not those it measured",
                manifest.run_id,
                recorded.display(),
                short(&manifest.routes.sha256),
                short(&cfg.sha256)
            ));
        }
        return Ok((cfg, notes));
    };
    let path = dir.join(&copy.path);
    let bytes = std::fs::read(&path)
        .map_err(|e| InputError::new(&path, format!("cannot read the run's routes copy: {e}")))?;
    let sha = sha256_hex(&bytes);
    if sha != copy.sha256 {
        return Err(InputError::new(
            &path,
            format!(
                "the run's routes copy has sha256 {}…, not the {}… recorded in {}: it was \
                 edited; restore it, or derive against another file with --routes FILE",
                short(&sha),
                short(&copy.sha256),
                RunFile::Manifest.name()
            ),
        )
        .into());
    }
    let source = String::from_utf8(bytes)
        .map_err(|_| InputError::new(&path, "the run's routes copy is not valid UTF-8"))?;
    Ok((Config::parse(&recorded, source, prices, at)?, Vec::new()))
}

fn one(a: &ReportArgs) -> anyhow::Result<u8> {
    // Read the manifest first: a folder that is not a run directory is bad input, not a lock.
    Manifest::load(&a.run_dir)?;
    let name = a.name.as_deref().map(check_name).transpose()?;
    let _lock = Lock::acquire(&a.run_dir)?;
    let mut run = load(&a.run_dir, a.routes.as_deref(), a.dataset.as_deref())?;
    // Against other inputs than the run's, the result is a named derivation beside the run's
    // own reports, which stay as they are.
    let out_dir = if a.routes.is_some() || a.dataset.is_some() || name.is_some() {
        let name = name.unwrap_or_else(|| default_name(a, &run));
        RunDir::new(&a.run_dir).derivation(&name)
    } else {
        a.run_dir.clone()
    };
    // A derivation's reports name the files it was derived against, not the run's.
    if let Some(p) = &a.routes {
        run.manifest.routes = FileRef {
            path: super::display_path(p),
            sha256: run.cfg.sha256.clone(),
        };
    }
    if let Some(p) = &a.dataset {
        run.manifest.dataset = FileRef {
            path: super::display_path(p),
            sha256: run.ds.sha256.clone(),
        };
    }
    let journal = std::mem::take(&mut run.journal);
    let (dir, window) = (a.history.as_deref(), a.window.as_deref());
    let found = derive::history::earlier(dir, window, &run.manifest, &run.cfg, &run.ds)?;
    let mut derived = run.derive_owned(journal, found.earlier.as_ref())?;
    derived.journal_notes.extend(found.warning);
    // Created only once the derivation succeeded: a failure leaves no empty folder.
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", out_dir.display()))?;
    let files = report::write_all(&out_dir, &derived)?;
    // The run's own reports now read the history given here: run.json records it, so a later
    // `report RUN` re-derives the same (as after `run --history`).
    if out_dir == a.run_dir && a.history.is_some() {
        let mut m = Manifest::load(&a.run_dir)?;
        m.settings.history = HistorySettings::from_args(a.history.as_deref(), a.window.as_deref());
        m.save(&a.run_dir)?;
    }
    if a.json {
        let out = report::json::ReportOutput {
            report: report::json::Report::of(&derived),
            run_dir: super::display_path(&a.run_dir),
            derived_dir: (out_dir != a.run_dir).then(|| super::display_path(&out_dir)),
            files,
        };
        outln!("{}", serde_json::to_string_pretty(&out)?);
    } else if !a.quiet {
        out!("{}", text::summary(&derived));
        for w in derived.warnings() {
            outln!("warning: {w}");
        }
        if out_dir == a.run_dir {
            outln!(
                "\nRewrote {} files in {}",
                files.len(),
                super::display_path(&a.run_dir)
            );
        } else {
            outln!(
                "\nWrote {} files in {} (the run's own reports are unchanged); \
                 `routecal diff {}` and `routecal apply {}` read this derivation",
                files.len(),
                super::display_path(&out_dir),
                super::display_path(&out_dir),
                super::display_path(&out_dir)
            );
        }
    }
    super::ok()
}

/// A derivation's name as given with `--name`: letters, digits, `-`, `_` and `.`, not starting
/// with a dot.
fn check_name(n: &str) -> anyhow::Result<String> {
    let ok = !n.is_empty()
        && !n.starts_with('.')
        && n.len() <= 100
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(n.to_string())
    } else {
        Err(UsageError(format!(
            "--name {n:?}: a derivation's name is letters, digits, '-', '_' and '.', \
             not starting with '.'"
        ))
        .into())
    }
}

/// The name of a derivation when `--name` is not given: the routes file's (or dataset's) stem
/// and the first 8 hex digits of a hash of both inputs, so the same inputs reuse one folder.
fn default_name(a: &ReportArgs, run: &Loaded) -> String {
    let stem = a
        .routes
        .as_deref()
        .or(a.dataset.as_deref())
        .and_then(Path::file_stem)
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "inputs".into());
    let stem = run_dir::safe_name(&stem);
    let hash = sha256_hex(format!("{}:{}", run.cfg.sha256, run.ds.sha256).as_bytes());
    format!("{stem}-{}", &hash[..8])
}

/// A folder a proposal is read from: a run directory, or a named derivation inside one
/// (`RUN_DIR/derived-<name>`). Returns the run directory (its manifest and lock) and the
/// folder holding the proposal.
pub(crate) fn proposal_dirs(dir: &Path) -> (PathBuf, PathBuf) {
    let is_derivation = !RunDir::new(dir).manifest().exists()
        && dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(DERIVED_PREFIX));
    match dir.parent() {
        Some(run) if is_derivation && RunDir::new(run).manifest().is_file() => {
            (run.to_path_buf(), dir.to_path_buf())
        }
        _ => (dir.to_path_buf(), dir.to_path_buf()),
    }
}

fn two(a: &ReportArgs, later: &Path) -> anyhow::Result<u8> {
    Manifest::load(&a.run_dir)?;
    Manifest::load(later)?;
    // The comparison is written into the later run; the earlier one is only read.
    let _lock = Lock::acquire(later)?;
    // Each run is derived against the routes file it measured (its own copy), so A's
    // "current table" is A's, whatever was applied since.
    let (ra, rb) = (load(&a.run_dir, None, None)?, load(later, None, None)?);
    let (da, db) = (ra.derive()?, rb.derive()?);
    let mut c = compare::compare(&da, &db);
    for (side, run) in [("A", &ra), ("B", &rb)] {
        for n in &run.notes {
            if !a.json && !a.quiet {
                eoutln!("warning: {side}: {n}");
            }
            c.notes.push(format!("{side}: {n}"));
        }
    }
    let (md_path, csv_path) = RunDir::new(later).comparison(&c.a);
    let csv = report::frame_to_csv(&compare::frame(&c)?)?;
    crate::base::fsio::write_atomic(&md_path, compare::markdown(&c).as_bytes())?;
    crate::base::fsio::write_atomic(&csv_path, &csv)?;
    if a.json {
        let files = [
            super::display_path(&md_path),
            super::display_path(&csv_path),
        ];
        outln!(
            "{}",
            serde_json::to_string_pretty(&report::json::ComparisonOutput::of(&c, &files))?
        );
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
