//! Reading earlier runs from a folder of run directories into [`Week`]s.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use super::{NotRead, Pooled, Pooling, Week};
use crate::base::error::UsageError;
use crate::base::types::ModelId;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::derive::analyze::Analysis;
use crate::grade::Grader;
use crate::store::journal::{self, CallKind};
use crate::store::manifest::{Manifest, THROUGHPUT_KEYS};
use crate::store::run_dir::{RunDir, RunFile};

/// How far back earlier runs count: a whole number of hours, days or weeks (`72h`, `28d`,
/// `4w`), measured from this run's start to an earlier run's finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    text: String,
    seconds: i64,
}

/// The longest window in weeks (about a thousand years): any run's start minus it is a time
/// routecal can hold, so a window never wraps to an empty one.
const MAX_WEEKS: i64 = 52_000;

impl Window {
    /// Parse `4w`, `28d` or `72h`; a usage error (exit 2) names the flag otherwise: a spelling
    /// that is not digits then `h`, `d` or `w`, a window of 0 or less, or one longer than
    /// `MAX_WEEKS`.
    pub(crate) fn parse(s: &str) -> Result<Window, UsageError> {
        let bad = |why: &str| UsageError(format!("--window {s:?}: {why}"));
        let spelling =
            || bad("expected a whole number of hours, days or weeks, such as 72h, 28d or 4w");
        // One spelling only: ASCII digits then the unit, nothing around them (no spaces, sign,
        // fraction or capital unit), so a window reads the same in run.json and on every shell.
        let unit = s.chars().last().ok_or_else(spelling)?;
        let per = match unit {
            'h' => 3_600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return Err(spelling()),
        };
        let digits = &s[..s.len() - unit.len_utf8()];
        let negative = digits.strip_prefix('-');
        let whole = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
        if negative.is_some_and(whole) {
            return Err(bad(
                "must be more than 0 (it reaches back from the run's start)",
            ));
        }
        if !whole(digits) {
            return Err(spelling());
        }
        let max = MAX_WEEKS * 7 * 86_400 / per;
        let too_large = || bad(&format!("is too large (at most {max}{unit})"));
        let n: i64 = digits.parse().map_err(|_| too_large())?;
        if n == 0 {
            return Err(bad(
                "must be more than 0 (it reaches back from the run's start)",
            ));
        }
        if n > max {
            return Err(too_large());
        }
        Ok(Window {
            text: s.to_string(),
            seconds: n * per,
        })
    }

    /// The window in seconds.
    pub(crate) fn seconds(&self) -> i64 {
        self.seconds
    }
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// `--history DIR --window W`, checked before any call is made.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spec {
    pub(crate) dir: PathBuf,
    pub(crate) window: Window,
}

impl Spec {
    /// The flags as given: `None` without `--history`; a usage error (exit 2) for a folder
    /// that does not exist or a window that does not parse (`--window` defaults to `4w`).
    pub(crate) fn from_args(
        dir: Option<&Path>,
        window: Option<&str>,
    ) -> anyhow::Result<Option<Spec>> {
        let Some(dir) = dir else {
            if window.is_some() {
                return Err(UsageError("--window needs --history DIR".into()).into());
            }
            return Ok(None);
        };
        if !dir.is_dir() {
            let why = if dir.exists() {
                "is not a folder"
            } else {
                "does not exist (a first run has no history: leave --history out until the folder holds a run)"
            };
            return Err(UsageError(format!(
                "--history {}: {why}; give the folder of run directories, such as reports/",
                dir.display()
            ))
            .into());
        }
        Ok(Some(Spec {
            dir: dir.to_path_buf(),
            window: Window::parse(window.unwrap_or("4w"))?,
        }))
    }
}

/// The earlier runs read for one derivation.
#[derive(Debug, Clone)]
pub(crate) struct Earlier {
    pub(crate) spec: Spec,
    /// Newest first.
    pub(crate) weeks: Vec<Week>,
    /// Runs in the folder passed over, with the reason.
    pub(crate) skipped: Vec<Skipped>,
}

/// A run in the `--history` folder that was not read.
#[derive(Debug, Clone)]
pub(crate) struct Skipped {
    pub(crate) why: NotRead,
    /// `run id: reason`, as report.md's "Not read" lines and report.json's `skipped` show it.
    pub(crate) text: String,
}

/// The earlier runs of `spec.dir` that count for this run, newest first, and the runs that
/// were passed over with the reason. A run counts when it is complete, is not this run
/// (`run_id`), and finished within the window before `started`. Its items count when graded
/// as this week's dataset grades them (same grader for an item this week also has; the same
/// `[judge]` for judge-graded items), its models when configured as this week.
pub(crate) fn load(
    spec: &Spec,
    run_id: &str,
    started: jiff::Timestamp,
    cfg: &Config,
    ds: &Dataset,
) -> anyhow::Result<Earlier> {
    // A folder of run directories, or one run directory (such as last week's run downloaded).
    let mut entries: Vec<PathBuf> = if RunDir::new(&spec.dir).manifest().is_file() {
        vec![spec.dir.clone()]
    } else {
        std::fs::read_dir(&spec.dir)
            .map_err(|e| UsageError(format!("--history {}: {e}", spec.dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| RunDir::new(p).manifest().is_file())
            .collect()
    };
    entries.sort();
    let from = started
        .checked_sub(jiff::SignedDuration::from_secs(spec.window.seconds()))
        .unwrap_or(jiff::Timestamp::MIN);
    let mut weeks: Vec<(jiff::Timestamp, Week)> = Vec::new();
    let mut skipped = Vec::new();
    // The run ids met so far: a run copied twice into the folder is read once (the copy whose
    // folder sorts first).
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for dir in entries {
        let mut skip = |why, text| skipped.push(Skipped { why, text });
        // Named by the folder's name, not its path: `run` and `report` list it alike.
        let name = dir.file_name().unwrap_or(dir.as_os_str()).to_string_lossy();
        let Ok(m) = Manifest::load(&dir) else {
            let text = format!("{name}: run.json does not parse");
            skip(NotRead::Unreadable, text);
            continue;
        };
        if m.run_id == run_id {
            continue;
        }
        if !seen.insert(m.run_id.clone()) {
            skip(
                NotRead::Duplicate,
                format!("{name}: duplicate of {}", m.run_id),
            );
            continue;
        }
        let finished = m.finished_at.as_deref().and_then(|t| t.parse().ok());
        match finished {
            _ if m.status != crate::store::manifest::Status::Complete => {
                skip(NotRead::Unfinished, format!("{}: {}", m.run_id, m.status))
            }
            Some(f) if f >= from && f <= started => match read_week(&dir, &m, cfg, ds) {
                Ok(w) => weeks.push((f, w)),
                Err(e) => skip(NotRead::Unreadable, format!("{}: {e:#}", m.run_id)),
            },
            // Runs finished after this run started are not history of it (and are not listed, so
            // re-deriving later gives the same report).
            Some(f) if f < from => skip(
                NotRead::TooOld,
                format!(
                    "{}: finished {f}, before the {} window",
                    m.run_id, spec.window
                ),
            ),
            _ => {}
        }
    }
    weeks.sort_by_key(|w| std::cmp::Reverse(w.0));
    Ok(Earlier {
        spec: spec.clone(),
        weeks: weeks.into_iter().map(|(_, w)| w).collect(),
        skipped,
    })
}

/// The earlier runs one derivation reads, and why none were when the folder run.json names
/// is gone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Found {
    /// The earlier runs read; `None` without history.
    pub(crate) earlier: Option<Earlier>,
    /// Set when run.json `settings.history` names a folder that is not there (a run made in CI
    /// and downloaded, say): the derivation goes on without history and warns so.
    pub(crate) warning: Option<String>,
}

/// `--history DIR --window W` for the run of `manifest`: the earlier runs read, or none
/// without `--history`. What `run` and `report` call. Without `--history` the run's recorded
/// settings apply (so `report` re-derives what `run` did); a recorded folder that is gone is
/// a warning, a folder given on the command line that is not there a usage error (exit 2).
pub(crate) fn earlier(
    dir: Option<&Path>,
    window: Option<&str>,
    manifest: &Manifest,
    cfg: &Config,
    ds: &Dataset,
) -> anyhow::Result<Found> {
    let read = |spec: Option<Spec>| -> anyhow::Result<Found> {
        let earlier = spec
            .map(|s| load(&s, &manifest.run_id, manifest.started(), cfg, ds))
            .transpose()?;
        Ok(Found {
            earlier,
            warning: None,
        })
    };
    if dir.is_some() {
        return read(Spec::from_args(dir, window)?);
    }
    // The recorded settings whole: a `--window` without `--history` does not change them.
    let Some(recorded) = manifest.settings.history.as_ref() else {
        return read(None);
    };
    let recorded_dir = PathBuf::from(&recorded.dir);
    if recorded_dir.is_dir() {
        return read(Spec::from_args(
            Some(&recorded_dir),
            recorded.window.as_deref(),
        )?);
    }
    let warning = format!(
        "run.json settings.history names {}, which is not a folder here: derived without \
         the earlier runs; to pool them, give their folder with --history DIR",
        recorded.dir
    );
    Ok(Found {
        earlier: None,
        warning: Some(warning),
    })
}

/// What `--history` would read for a run not started yet (the plan of `run --dry-run`): the
/// runs of the folder within the window before `now`, or those a resumed run recorded.
pub(crate) fn planned(
    dir: Option<&Path>,
    window: Option<&str>,
    resumed: Option<&Manifest>,
    now: jiff::Timestamp,
    (cfg, ds): (&Config, &Dataset),
) -> anyhow::Result<Option<Earlier>> {
    if let Some(m) = resumed {
        return Ok(earlier(dir, window, m, cfg, ds)?.earlier);
    }
    match Spec::from_args(dir, window)? {
        Some(spec) => Ok(Some(load(&spec, "", now, cfg, ds)?)),
        None => Ok(None),
    }
}

impl Earlier {
    /// Per earlier run (newest first), the graded items it holds for each model configured as
    /// this week, counted only where the run will use them: a model's runs older than one that
    /// found it moved, or than one where it was configured otherwise, are not counted (the
    /// rule pooling follows). What the plan says history would add.
    pub(crate) fn items_by_run(&self) -> Vec<(&str, BTreeMap<&ModelId, usize>)> {
        let mut usable: BTreeMap<&ModelId, usize> = BTreeMap::new();
        for m in self.weeks.iter().flat_map(|w| &w.comparable) {
            usable
                .entry(m)
                .or_insert_with(|| super::usable_weeks(m, &self.weeks).len());
        }
        self.weeks
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let mut per: BTreeMap<&ModelId, usize> = BTreeMap::new();
                for (_, model) in w.outcomes.keys() {
                    if usable.get(model).is_some_and(|&n| i < n) {
                        *per.entry(model).or_insert(0) += 1;
                    }
                }
                (w.run_id.as_str(), per)
            })
            .collect()
    }
}

/// One earlier run read as a [`Week`], analysed at this week's prices and graders.
fn read_week(dir: &Path, m: &Manifest, cfg: &Config, ds: &Dataset) -> anyhow::Result<Week> {
    let theirs = routes_source(dir, m)?;
    let data = locate(dir, &m.dataset.path);
    let old = Dataset::load(&data)
        .map_err(|e| anyhow::anyhow!("its dataset {} cannot be read: {e}", data.display()))?;
    let judge_same = judge_table(&theirs) == judge_table(&cfg.source);
    let keep = |g: &Grader, id: &str| match ds.get(id) {
        Some(now) => same_grader(g, &now.grader),
        None => judge_same || !matches!(g, Grader::Judge { .. }),
    };
    let sub = old.subset(|i| keep(&i.grader, &i.id));
    let candidates: BTreeSet<&ModelId> = cfg.candidates().map(|m| &m.id).collect();
    // A complete run without its journal graded nothing that can be read: not an empty week.
    let journal_path = RunDir::new(dir).journal();
    if !journal_path.is_file() {
        anyhow::bail!("its {} is missing", RunFile::Journal.name());
    }
    let rows: Vec<journal::JournalRow> = journal::read(&journal_path)?
        .rows
        .into_iter()
        .filter(|r| r.kind == CallKind::Judge || candidates.contains(&r.model))
        .filter(|r| r.kind != CallKind::Judge || judge_same)
        .collect();
    let a: Analysis = crate::derive::analyze::analyze(cfg, &sub, &rows)?;
    let comparable = candidates
        .iter()
        .filter(|id| {
            model_table(&theirs, id).is_some_and(|t| Some(t) == model_table(&cfg.source, id))
        })
        .map(|id| (*id).clone())
        .collect();
    Ok(Week {
        run_id: m.run_id.clone(),
        items: sub.items.iter().map(|i| (i.id.clone(), i.task)).collect(),
        outcomes: a.outcomes,
        comparable,
        moved: moved_in(dir),
    })
}

fn same_grader(a: &Grader, b: &Grader) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

/// The routes file the run measured: its copy in the run directory, else the recorded path.
fn routes_source(dir: &Path, m: &Manifest) -> anyhow::Result<String> {
    let path = match &m.routes_copy {
        Some(c) => dir.join(&c.path),
        None => locate(dir, &m.routes.path),
    };
    std::fs::read_to_string(&path)
        .map_err(|e| anyhow::anyhow!("its routes file {} cannot be read: {e}", path.display()))
}

/// A path recorded in run.json: as written, else from the folder that holds `reports/`.
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

/// Keys of a model's table that change what it costs or where it routes, never its answers.
const PRICE_KEYS: &[&str] = &[
    "input_per_mtok",
    "output_per_mtok",
    "cached_input_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "tier",
    "tiers",
    "latency_model",
];

/// What makes a model's answers what they are: its `[models."id"]` table without prices and
/// tiers, its endpoint's table without throughput settings, and `[defaults]`.
fn model_table(source: &str, id: &ModelId) -> Option<String> {
    let t: toml::Table = toml::from_str(source).ok()?;
    let mut model = t.get("models")?.get(id.as_str())?.as_table()?.clone();
    for k in PRICE_KEYS {
        model.remove(*k);
    }
    let endpoint = model
        .get("endpoint")
        .and_then(|e| e.as_str())
        .and_then(|e| t.get("endpoints")?.get(e)?.as_table().cloned())
        .map(|mut ep| {
            for k in THROUGHPUT_KEYS {
                ep.remove(*k);
            }
            ep
        });
    Some(format!("{model:?}|{endpoint:?}|{:?}", t.get("defaults")))
}

fn judge_table(source: &str) -> Option<String> {
    let t: toml::Table = toml::from_str(source).ok()?;
    Some(format!("{:?}", t.get("judge")))
}

/// The models an earlier run's own report found moved (`report.json`, `history.models`).
fn moved_in(dir: &Path) -> BTreeSet<ModelId> {
    let Ok(bytes) = std::fs::read(dir.join("report.json")) else {
        return BTreeSet::new();
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return BTreeSet::new();
    };
    v["history"]["models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["status"] == "moved")
        .filter_map(|c| ModelId::parse(c["model"].as_str()?).ok())
        .collect()
}

/// Pool the earlier runs into this week's analysis: the evidence the policy decides on and the
/// record of what was done (for the report).
impl Earlier {
    pub(crate) fn apply(&self, a: &Analysis, ds: &Dataset, alpha: f64) -> (Pooled, Pooling) {
        let items: Vec<(String, crate::base::types::TaskType)> =
            ds.items.iter().map(|i| (i.id.clone(), i.task)).collect();
        let pooled = super::pool(&a.outcomes, &items, &a.models, &self.weeks, alpha);
        // The folder as run.json records it (absolute), so `report` prints what `run` did.
        let dir = crate::store::manifest::HistorySettings::from_args(Some(&self.spec.dir), None)
            .map_or_else(|| self.spec.dir.display().to_string(), |h| h.dir);
        let record = Pooling {
            dir,
            window: self.spec.window.to_string(),
            runs: self.weeks.iter().map(|w| w.run_id.clone()).collect(),
            skipped: self.skipped.iter().map(|s| s.text.clone()).collect(),
            not_read: self.skipped.iter().map(|s| s.why).collect(),
            alpha,
            models: pooled.checks.clone(),
        };
        (pooled, record)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Earlier, Spec, Week, Window};
    use crate::base::types::ModelId;
    use crate::derive::analyze::ItemOutcome;

    #[test]
    fn a_window_is_digits_then_h_d_or_w_and_nothing_else() {
        for (s, secs) in [
            ("72h", 72 * 3_600),
            ("28d", 28 * 86_400),
            ("4w", 4 * 604_800),
        ] {
            assert_eq!(Window::parse(s).unwrap().seconds(), secs, "{s}");
        }
        for s in [
            " 4w", "4w ", "4 w", "+4w", "-4w", "0w", "4W", "4", "w", "", "4.5d", "4ww", "P4W",
            "4 weeks", "٤w",
        ] {
            let e = Window::parse(s).unwrap_err().0;
            assert!(e.starts_with("--window "), "{s:?}: {e}");
        }
    }

    #[test]
    fn a_window_of_zero_or_less_or_too_long_says_so_not_that_it_is_misspelt() {
        for s in ["0w", "00d", "0h", "-4w", "-0d"] {
            let e = Window::parse(s).unwrap_err().0;
            assert!(e.contains("must be more than 0"), "{s:?}: {e}");
        }
        let longest = super::MAX_WEEKS;
        assert!(Window::parse(&format!("{longest}w")).is_ok());
        assert!(Window::parse(&format!("{}h", longest * 168)).is_ok());
        for (s, most) in [
            (format!("{}w", longest + 1), format!("at most {longest}w")),
            ("15250284452472w".to_string(), format!("at most {longest}w")),
            (
                "99999999999999999999999h".to_string(),
                format!("at most {}h", longest * 168),
            ),
        ] {
            let e = Window::parse(&s).unwrap_err().0;
            assert!(
                e.contains("is too large") && e.contains(&most),
                "{s:?}: {e}"
            );
        }
        for s in ["4 w", "-w", "--4w", "4"] {
            let e = Window::parse(s).unwrap_err().0;
            assert!(e.contains("expected a whole number"), "{s:?}: {e}");
        }
    }

    fn week(run: &str, comparable: &[&ModelId], moved: &[&ModelId], items: usize) -> Week {
        let mut outcomes = BTreeMap::new();
        for m in comparable {
            for i in 0..items {
                outcomes.insert((format!("q{i}"), (*m).clone()), ItemOutcome::default());
            }
        }
        Week {
            run_id: run.into(),
            outcomes,
            comparable: comparable.iter().map(|m| (*m).clone()).collect(),
            moved: moved.iter().map(|m| (*m).clone()).collect(),
            ..Week::default()
        }
    }

    #[test]
    fn the_plan_counts_no_item_older_than_the_run_that_found_the_model_moved() {
        let a = ModelId::parse("p/a").unwrap();
        let b = ModelId::parse("p/b").unwrap();
        // Newest first: week2 found `a` moved, so week1 is not `a`'s history; `b` changed
        // configuration in week2's time, so only week3 counts for it.
        let e = Earlier {
            spec: Spec {
                dir: "reports".into(),
                window: Window::parse("4w").unwrap(),
            },
            weeks: vec![
                week("week3", &[&a, &b], &[], 3),
                week("week2", &[&a], &[&a], 2),
                week("week1", &[&a, &b], &[], 1),
            ],
            skipped: Vec::new(),
        };
        let got: Vec<(String, Vec<(String, usize)>)> = e
            .items_by_run()
            .into_iter()
            .map(|(r, per)| {
                let per = per.into_iter().map(|(m, k)| (m.to_string(), k)).collect();
                (r.to_string(), per)
            })
            .collect();
        let want = vec![
            ("week3".into(), vec![("p/a".into(), 3), ("p/b".into(), 3)]),
            ("week2".into(), vec![("p/a".into(), 2)]),
            ("week1".into(), vec![]),
        ];
        assert_eq!(got, want);
    }
}
