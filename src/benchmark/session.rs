//! A run's calls from its start (or resume) to the last one: the candidate and classifier
//! calls, then the judge's verdicts on their answers. The full fixed design makes every planned
//! call at once; an adaptive run (`run --adaptive`, see [`crate::derive::sequential`]) makes
//! them look by look — one stratified batch of items, its verdicts, then the design's replay
//! over the journal decides which (model, task type) pairs the next batch still calls.
//!
//! The journal is the only state: a resumed adaptive run replays the same looks from it and
//! makes exactly the calls the interrupted one had left.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::base::types::ModelId;
use crate::benchmark::budget::Budget;
use crate::benchmark::judge_phase::JudgePhase;
use crate::benchmark::plan::{self, Plan};
use crate::benchmark::progress::ProgressMode;
use crate::benchmark::record::RecordWriter;
use crate::benchmark::stop::Stop;
use crate::benchmark::{self, Sinks};
use crate::config::Config;
use crate::dataset::Dataset;
use crate::derive::sequential::{self, Batches, Design};
use crate::provider::Provider;
use crate::store::journal::{self, JournalContents};
use crate::store::run_dir::RunDir;

/// What the call phases did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Made {
    pub elapsed_s: f64,
    /// Calls not started because of `--max-spend`.
    pub not_started: usize,
    /// Calls not started (or abandoned) because the run or their endpoint stopped.
    pub stopped_calls: usize,
}

impl Made {
    fn add(&mut self, t: &benchmark::RunTotals) {
        self.elapsed_s += t.elapsed.as_secs_f64();
        self.not_started += t.not_started;
        self.stopped_calls += t.stopped_calls;
    }
}

/// Where the recording goes: the writer of the first batch, and the file later batches append
/// to.
pub struct Recording {
    pub first: RecordWriter,
    pub path: PathBuf,
}

/// One run's calls, with everything that limits them.
pub struct Session<'a> {
    pub cfg: &'a Arc<Config>,
    pub ds: &'a Dataset,
    pub repeats: u32,
    pub providers: &'a HashMap<String, Arc<dyn Provider>>,
    /// The run directory (its journal is appended to).
    pub dir: &'a Path,
    /// Where run directories are created: the verdict cache lives there.
    pub out: &'a Path,
    pub record: Option<Recording>,
    pub budget: Option<Arc<Budget>>,
    pub stop: Arc<Stop>,
    pub mode: ProgressMode,
    /// Make again the calls whose latest attempt failed.
    pub retry_errors: bool,
    /// The sequential design, for an adaptive run.
    pub adaptive: Option<Design>,
}

impl Session<'_> {
    /// Make the calls: `plan` at once, or for an adaptive run look by look (the plan is then
    /// only its maximum). An error means a journal or recording write failed: the calls stopped
    /// at once.
    pub fn call(mut self, rt: &tokio::runtime::Runtime, plan: Plan) -> anyhow::Result<Made> {
        match self.adaptive {
            Some(design) => self.call_adaptive(rt, &design),
            None => {
                let mut made = Made::default();
                let record = self.record.take().map(|r| r.first);
                made.add(&self.execute(rt, plan, record)?);
                if !self.stop.is_stopped() {
                    self.judge(rt, &mut made)?;
                }
                Ok(made)
            }
        }
    }

    fn journal_path(&self) -> PathBuf {
        RunDir::new(self.dir).journal()
    }

    fn execute(
        &self,
        rt: &tokio::runtime::Runtime,
        plan: Plan,
        record: Option<RecordWriter>,
    ) -> anyhow::Result<benchmark::RunTotals> {
        let sinks = Sinks {
            journal: journal::JournalWriter::open_append(&self.journal_path())?,
            record,
            budget: self.budget.clone(),
            stop: self.stop.clone(),
        };
        rt.block_on(benchmark::execute(
            plan,
            self.cfg.clone(),
            self.providers,
            sinks,
            self.mode,
        ))
    }

    /// The judge's verdicts on every answer in the journal that needs one.
    fn judge(&self, rt: &tokio::runtime::Runtime, made: &mut Made) -> anyhow::Result<()> {
        let journal_path = self.journal_path();
        // The verdict cache lives next to the run directories.
        let cache_dir = self.dir.parent().unwrap_or(self.out).to_path_buf();
        let judged = JudgePhase {
            rt,
            cfg: self.cfg,
            ds: self.ds,
            providers: self.providers,
            journal_path: &journal_path,
            cache_dir: &cache_dir,
            mode: self.mode,
            budget: self.budget.clone(),
            stop: &self.stop,
            retry_errors: self.retry_errors,
        }
        .run()?;
        made.not_started += judged.not_started;
        made.stopped_calls += judged.stopped_calls;
        Ok(())
    }

    /// Look by look: the batch's calls, their verdicts, then the replay that decides the next
    /// batch. Stops when the design is finished, or the run, an endpoint or the budget stopped.
    fn call_adaptive(
        &mut self,
        rt: &tokio::runtime::Runtime,
        design: &Design,
    ) -> anyhow::Result<Made> {
        let mut made = Made::default();
        let batches = Batches::new(self.ds, design);
        for k in 1..=batches.looks() {
            let contents = journal::read(&self.journal_path())?;
            let Some(plan) = self.look_plan(design, &batches, &contents, k)? else {
                break;
            };
            if self.mode != ProgressMode::Quiet && !plan.calls.is_empty() {
                crate::eoutln!(
                    "Look {k} of {}: {} calls{}",
                    batches.looks(),
                    plan.calls.len(),
                    if plan.skipped > 0 {
                        format!(" ({} in the journal already)", plan.skipped)
                    } else {
                        String::new()
                    }
                );
            }
            let record = self.next_recording()?;
            made.add(&self.execute(rt, plan, record)?);
            if self.stop.is_stopped() {
                break;
            }
            self.judge(rt, &mut made)?;
            if self.stop.is_stopped() || made.not_started > 0 {
                break;
            }
        }
        Ok(made)
    }

    /// The recording writer of the next batch: the given one first, then appending.
    fn next_recording(&mut self) -> anyhow::Result<Option<RecordWriter>> {
        let Some(r) = self.record.take() else {
            return Ok(None);
        };
        let path = r.path.clone();
        self.record = Some(Recording {
            first: RecordWriter::append_to(&path)?,
            path,
        });
        Ok(Some(r.first))
    }

    /// The calls of look `k` not in the journal yet; `None` when the design finished before it.
    fn look_plan(
        &self,
        design: &Design,
        batches: &Batches,
        contents: &JournalContents,
        k: usize,
    ) -> anyhow::Result<Option<Plan>> {
        let needed = adaptive_needed(self.cfg, self.ds, design, contents, k)?;
        let Some(needed) = needed else {
            return Ok(None);
        };
        let done = done_keys(contents, self.retry_errors);
        Ok(Some(look_calls(
            self.cfg,
            self.ds,
            self.repeats,
            &done,
            batches,
            &needed,
            k,
        )))
    }
}

/// The models look `k` calls per task type, from the replay of looks `1..k` over the journal;
/// `None` when the design finished before look `k`.
fn adaptive_needed(
    cfg: &Config,
    ds: &Dataset,
    design: &Design,
    contents: &JournalContents,
    k: usize,
) -> anyhow::Result<Option<sequential::Needed>> {
    if k == 1 {
        return Ok(Some(sequential::all_needed(cfg, ds)));
    }
    let analysis = crate::derive::analyze::analyze(cfg, ds, &contents.rows)?;
    let replay = sequential::replay(cfg, design, ds, &analysis, k - 1);
    Ok((!replay.summary.finished()).then_some(replay.summary.needed))
}

/// The calls of look `k`: its batch's items, for the classifiers and the needed candidates.
fn look_calls(
    cfg: &Config,
    ds: &Dataset,
    repeats: u32,
    done: &HashSet<String>,
    batches: &Batches,
    needed: &sequential::Needed,
    k: usize,
) -> Plan {
    let classifiers = cfg.classifiers();
    let keep = |idx: usize, m: &ModelId| {
        batches.look_of(idx) == k
            && (classifiers.contains(m)
                || needed
                    .get(&ds.items[idx].task)
                    .is_some_and(|ms| ms.contains(m)))
    };
    plan::build_where(cfg, ds, repeats, done, &keep)
}

/// The planned calls of an adaptive run the journal does not hold yet: look by look, as the
/// journal's replay decides them (a look after a missing call still counts its own).
pub fn adaptive_missing(
    cfg: &Config,
    ds: &Dataset,
    repeats: u32,
    design: &Design,
    contents: &JournalContents,
) -> anyhow::Result<usize> {
    let batches = Batches::new(ds, design);
    let keys: HashSet<String> = contents.rows.iter().map(|r| r.key.clone()).collect();
    let mut missing = 0;
    for k in 1..=batches.looks() {
        let Some(needed) = adaptive_needed(cfg, ds, design, contents, k)? else {
            break;
        };
        missing += look_calls(cfg, ds, repeats, &keys, &batches, &needed, k)
            .calls
            .len();
    }
    Ok(missing)
}

/// The call keys a resumed run does not make again: every key in the journal, or with
/// `retry_errors` only those whose latest attempt answered.
pub fn done_keys(earlier: &JournalContents, retry_errors: bool) -> HashSet<String> {
    let mut latest: HashMap<&str, bool> = HashMap::new();
    for r in &earlier.rows {
        latest.insert(&r.key, r.ok);
    }
    latest
        .into_iter()
        .filter(|&(_, ok)| ok || !retry_errors)
        .map(|(k, _)| k.to_string())
        .collect()
}
