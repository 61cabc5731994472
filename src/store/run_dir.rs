//! A run directory `reports/<run-id>/` and the name of every file in it: [`RunFile`] names them,
//! [`RunDir`] joins them to the folder. Nothing else in the crate spells a run directory's file
//! names. The manifest is in [`super::manifest`], the lock in [`super::lock`], the journal in
//! [`super::journal`].

use std::path::{Path, PathBuf};

/// Every file routecal writes into a run directory (or a derivation folder inside one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunFile {
    /// `run.json`: the manifest ([`super::manifest::Manifest`]).
    Manifest,
    /// `journal.jsonl`: one line per call, the run's record of truth.
    Journal,
    /// `run.lock`: see [`super::lock::Lock`].
    Lock,
    /// `routes.measured.toml`: a byte-identical copy of the routes file the run measured (its
    /// sha256 is in `run.json`), so that the run is derived against its own table whatever
    /// happens to the file later.
    RoutesCopy,
    /// `report.md`.
    ReportMd,
    /// `report.html`.
    ReportHtml,
    /// `report.json`.
    ReportJson,
    /// `routes.recommended.toml`: the proposed table.
    RecommendedRoutes,
    /// `routes.diff`: the proposal as a unified diff against the measured table.
    RoutesDiff,
    /// `results.csv`: one row per call.
    Results,
    /// `summary.csv`: per model and task type.
    Summary,
    /// `summary_by_priority.csv`: per model and cell.
    SummaryByPriority,
    /// `classifier.csv`: each classifier's accuracy.
    Classifier,
    /// `classifier_predictions.csv`: each classifier's prediction per item.
    ClassifierPredictions,
    /// `confusion.csv`: the classifiers' confusion counts.
    Confusion,
    /// `changes.csv`: the decision behind every cell.
    Changes,
    /// `simulation.csv`: the tables replayed over the dataset.
    Simulation,
    /// `comparisons.csv`: the paired quality comparisons.
    Comparisons,
    /// `threshold_curve.csv`: the strong/weak threshold curve.
    ThresholdCurve,
    /// `judge.csv`: the judge's verdicts.
    Judge,
}

impl RunFile {
    /// The file's name inside the run directory.
    pub const fn name(self) -> &'static str {
        match self {
            RunFile::Manifest => "run.json",
            RunFile::Journal => "journal.jsonl",
            RunFile::Lock => "run.lock",
            RunFile::RoutesCopy => "routes.measured.toml",
            RunFile::ReportMd => "report.md",
            RunFile::ReportHtml => "report.html",
            RunFile::ReportJson => "report.json",
            RunFile::RecommendedRoutes => "routes.recommended.toml",
            RunFile::RoutesDiff => "routes.diff",
            RunFile::Results => "results.csv",
            RunFile::Summary => "summary.csv",
            RunFile::SummaryByPriority => "summary_by_priority.csv",
            RunFile::Classifier => "classifier.csv",
            RunFile::ClassifierPredictions => "classifier_predictions.csv",
            RunFile::Confusion => "confusion.csv",
            RunFile::Changes => "changes.csv",
            RunFile::Simulation => "simulation.csv",
            RunFile::Comparisons => "comparisons.csv",
            RunFile::ThresholdCurve => "threshold_curve.csv",
            RunFile::Judge => "judge.csv",
        }
    }
}

/// Named derivations live in `RUN_DIR/derived-<name>/`.
pub const DERIVED_PREFIX: &str = "derived-";

/// A run directory (or a derivation folder inside one): its files' paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// The run directory at `path` (nothing is read or created).
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    /// The path of `file` in this folder.
    pub fn file(&self, file: RunFile) -> PathBuf {
        self.path.join(file.name())
    }

    /// `run.json`.
    pub fn manifest(&self) -> PathBuf {
        self.file(RunFile::Manifest)
    }

    /// `journal.jsonl`.
    pub fn journal(&self) -> PathBuf {
        self.file(RunFile::Journal)
    }

    /// `run.lock`.
    pub fn lock(&self) -> PathBuf {
        self.file(RunFile::Lock)
    }

    /// `routes.measured.toml`.
    pub fn routes_copy(&self) -> PathBuf {
        self.file(RunFile::RoutesCopy)
    }

    /// `routes.recommended.toml`.
    pub fn recommended_routes(&self) -> PathBuf {
        self.file(RunFile::RecommendedRoutes)
    }

    /// `routes.diff`.
    pub fn routes_diff(&self) -> PathBuf {
        self.file(RunFile::RoutesDiff)
    }

    /// `report.json`.
    pub fn report_json(&self) -> PathBuf {
        self.file(RunFile::ReportJson)
    }

    /// The folder of the named derivation `name` (`derived-<name>`).
    pub fn derivation(&self, name: &str) -> PathBuf {
        self.path.join(format!("{DERIVED_PREFIX}{name}"))
    }

    /// The comparison with the earlier run `earlier_run_id`, written into this (the later)
    /// run: `compare-<id>.md` and `compare-<id>.csv`.
    pub fn comparison(&self, earlier_run_id: &str) -> (PathBuf, PathBuf) {
        let stem = format!("compare-{earlier_run_id}");
        (
            self.path.join(format!("{stem}.md")),
            self.path.join(format!("{stem}.csv")),
        )
    }
}

/// `name` fit for a folder name: ASCII letters, digits, `-` and `_` kept, anything else `-`.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A fresh run directory under `root`, named by time and suite.
pub fn create(root: &Path, now: jiff::Timestamp, label: &str) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let label = safe_name(label);
    for n in 1.. {
        let id = if n == 1 {
            format!("{stamp}-{label}")
        } else {
            format!("{stamp}-{label}-{n}")
        };
        let dir = root.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(anyhow::anyhow!("cannot create {}: {e}", dir.display())),
        }
    }
    unreachable!()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_has_its_own_name_joined_to_the_folder() {
        use RunFile::*;
        let all = [
            Manifest,
            Journal,
            Lock,
            RoutesCopy,
            ReportMd,
            ReportHtml,
            ReportJson,
            RecommendedRoutes,
            RoutesDiff,
            Results,
            Summary,
            SummaryByPriority,
            Classifier,
            ClassifierPredictions,
            Confusion,
            Changes,
            Simulation,
            Comparisons,
            ThresholdCurve,
            Judge,
        ];
        let names: std::collections::HashSet<_> = all.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), all.len());
        let d = RunDir::new("/runs/r1");
        assert_eq!(d.journal(), Path::new("/runs/r1/journal.jsonl"));
        assert_eq!(d.manifest(), Path::new("/runs/r1/run.json"));
        assert_eq!(d.derivation("x"), Path::new("/runs/r1/derived-x"));
        assert_eq!(
            d.comparison("r0"),
            (
                PathBuf::from("/runs/r1/compare-r0.md"),
                PathBuf::from("/runs/r1/compare-r0.csv")
            )
        );
    }

    #[test]
    fn a_second_run_in_the_same_second_gets_a_suffix() {
        let root = tempfile::tempdir().unwrap();
        let now: jiff::Timestamp = "2026-11-30T08:00:00Z".parse().unwrap();
        let (a, _) = create(root.path(), now, "my suite").unwrap();
        let (b, dir) = create(root.path(), now, "my suite").unwrap();
        assert_eq!(a, "20261130-080000-my-suite");
        assert_eq!(b, "20261130-080000-my-suite-2");
        assert!(dir.is_dir());
    }
}
