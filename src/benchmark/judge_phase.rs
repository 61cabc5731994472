//! The judge phase of `run`: once the candidates have answered, the `[judge]` model is asked
//! about every answer whose item has a `judge` grader. The calls go through the same runner
//! (the judge's endpoint keeps its own concurrency and rate limits) and land in the same
//! journal as `kind = judge` rows whose `target` is the judged call's key, so grading stays a
//! pure function of the journal.
//!
//! **Verdict cache.** A verdict depends only on the judge model and the judge prompt (which holds
//! the rubric, the reference, the prompt and the answer), so it is cached under the SHA-256 of
//! the two in `judge-cache.jsonl` next to the run directories (in `--out`, `reports/` by
//! default). A later run that meets the same answer reuses the verdict: its journal row has
//! `attempts = 0` and a cost of 0 (`cost_source = not_billed`), and no call is made. Only
//! valid verdicts are cached; a failed call or a reply without a verdict is asked again next
//! time. Delete the file to re-judge everything.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::base::error::{InputError, InputErrors};
use crate::base::types::{ModelId, Usd, sha256_hex};
use crate::benchmark::plan::{Plan, PlannedCall};
use crate::benchmark::progress::ProgressMode;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::grade::{Grader, judge};
use crate::provider::tokens;
use crate::provider::{CallRequest, CostSource, Provider, Purpose};
use crate::store::journal::{self, CallKind, JournalRow, JournalWriter};

/// The verdict cache's file name, in the folder that holds the run directories.
pub const CACHE_FILE: &str = "judge-cache.jsonl";

/// Judge replies are short: an explanation and a verdict.
pub const EXPECTED_JUDGE_OUTPUT_TOKENS: u64 = 250;

/// Items graded by a judge need a `[judge]` model; checked before anything is called.
pub fn check(cfg: &Config, ds: &Dataset) -> Result<(), InputErrors> {
    if cfg.judge.is_some() {
        return Ok(());
    }
    let errs: Vec<InputError> = ds
        .items
        .iter()
        .filter(|i| i.grader.needs_judge())
        .take(5)
        .map(|i| {
            InputError::new(
                &ds.path,
                format!(
                    "a judge grader needs a judge model, and {} has no [judge] section: add [judge] with model = \"provider/model\" (a declared model)",
                    cfg.path.display()
                ),
            )
            .at_line(i.line)
            .field("grader.kind")
        })
        .collect();
    if errs.is_empty() {
        Ok(())
    } else {
        Err(InputErrors(errs))
    }
}

/// What the judge phase is expected to cost, for the plan printed before any call.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeEstimate {
    pub model: ModelId,
    /// Answers to judge (before the verdict cache is consulted).
    pub calls: usize,
    pub est_cost: Option<Usd>,
    pub live: bool,
}

/// Answers to judge: items with a judge grader × candidates × repeats, at most.
pub fn estimate(cfg: &Config, ds: &Dataset, repeats: u32) -> Option<JudgeEstimate> {
    let j = cfg.judge.as_ref()?;
    let items: Vec<&crate::dataset::Item> =
        ds.items.iter().filter(|i| i.grader.needs_judge()).collect();
    if items.is_empty() {
        return None;
    }
    let per_answer = cfg.candidates().count() * repeats as usize;
    let model = cfg.model(&j.model);
    // The prompt template, the item's prompt and rubric, and an answer of the plan's length.
    let input: u64 = items
        .iter()
        .map(|i| {
            let rubric = match &i.grader {
                Grader::Judge { rubric, reference } => {
                    tokens::estimate(rubric) + reference.as_deref().map_or(0, tokens::estimate)
                }
                _ => 0,
            };
            tokens::estimate(&j.prompt_template)
                + tokens::estimate(&i.prompt)
                + rubric
                + crate::benchmark::plan::EXPECTED_OUTPUT_TOKENS
        })
        .sum();
    let calls = items.len() * per_answer;
    let est_cost = model.price.as_ref().map(|p| {
        let per_call = p.cost(
            input / items.len() as u64,
            EXPECTED_JUDGE_OUTPUT_TOKENS.min(j.max_tokens as u64),
        );
        Usd(per_call.0 * calls as f64)
    });
    Some(JudgeEstimate {
        model: j.model.clone(),
        calls,
        est_cost,
        live: cfg.endpoint_of(&j.model).kind.is_live(),
    })
}

impl JudgeEstimate {
    /// One line for the plan printed before the first call.
    pub fn describe(&self) -> String {
        let cost = match (self.est_cost, self.live) {
            (None, _) => "UNPRICED".to_string(),
            (Some(c), true) => crate::base::fmt::usd(Some(c.0)),
            (Some(c), false) => format!(
                "{} at list prices, not spent",
                crate::base::fmt::usd(Some(c.0))
            ),
        };
        format!(
            "Judge {}: up to {} verdicts (fewer with cached ones), est. cost {cost}\n",
            self.model, self.calls
        )
    }
}

/// What the judge phase did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JudgeTotals {
    /// Judge calls made (each one journaled).
    pub calls: usize,
    pub errors: usize,
    /// Verdicts reused from the cache, or from an identical answer judged in this run.
    pub reused: usize,
    /// Money spent on live endpoints.
    pub spent: Usd,
    /// Verdicts not asked because the budget (`--max-spend`) would have been passed.
    pub not_started: usize,
    /// Verdicts not asked (or abandoned in flight) because the run or the judge's endpoint stopped.
    pub stopped_calls: usize,
}

/// One cached verdict (a line of `judge-cache.jsonl`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CachedVerdict {
    /// SHA-256 of the judge model and the judge prompt.
    key: String,
    judge: ModelId,
    response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    /// What the verdict cost when it was asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cost_usd: Option<f64>,
    cached_at: String,
}

/// The cache key of a verdict.
pub fn verdict_key(judge: &ModelId, judge_prompt: &str) -> String {
    let mut bytes = Vec::with_capacity(judge.as_str().len() + 1 + judge_prompt.len());
    bytes.extend_from_slice(judge.as_str().as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(judge_prompt.as_bytes());
    sha256_hex(&bytes)
}

/// The journal key of the judge call about the call `target`.
pub fn judge_key(judge: &ModelId, target: &str) -> String {
    format!("{}|{judge}|{target}", CallKind::Judge.as_str())
}

/// A cache file that cannot be read is no cache (lines that do not parse are skipped): the
/// worst outcome is paying for a verdict again.
fn load_cache(path: &Path, judge: &ModelId) -> HashMap<String, CachedVerdict> {
    let Ok(file) = std::fs::File::open(path) else {
        return HashMap::new();
    };
    let mut lines = crate::base::jsonl::Lines::new(std::io::BufReader::new(file), 16 << 20);
    let mut out = HashMap::new();
    while let Ok(Some((_, line))) = lines.next_line() {
        if let crate::base::jsonl::Line::Text(raw) = line
            && let Ok(v) = serde_json::from_slice::<CachedVerdict>(raw)
            && &v.judge == judge
        {
            out.insert(v.key.clone(), v);
        }
    }
    out
}

fn append_cache(path: &Path, verdicts: &[CachedVerdict]) -> anyhow::Result<()> {
    if verdicts.is_empty() {
        return Ok(());
    }
    let mut buf = Vec::new();
    for v in verdicts {
        serde_json::to_writer(&mut buf, v)?;
        buf.push(b'\n');
    }
    // One write of whole lines in append mode, so two runs sharing the folder interleave lines,
    // never bytes.
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot open the verdict cache {}: {e}", path.display()))?;
    f.write_all(&buf)?;
    f.sync_data()?;
    Ok(())
}

/// An answer waiting for its verdict.
struct Pending {
    target: String,
    item_id: String,
    prompt: Arc<str>,
    vkey: String,
}

/// The judge phase of a run: what it reads, where it writes, what limits it.
pub struct JudgePhase<'a> {
    pub rt: &'a tokio::runtime::Runtime,
    pub cfg: &'a Arc<Config>,
    pub ds: &'a Dataset,
    pub providers: &'a HashMap<String, Arc<dyn Provider>>,
    pub journal_path: &'a Path,
    /// Where the verdict cache lives (next to the run directories).
    pub cache_dir: &'a Path,
    pub mode: ProgressMode,
    pub budget: Option<Arc<crate::benchmark::budget::Budget>>,
    pub stop: &'a Arc<crate::benchmark::stop::Stop>,
    /// Ask again the verdicts whose latest call failed.
    pub retry_errors: bool,
}

impl JudgePhase<'_> {
    /// Ask the judge about every answer that needs a verdict and has none in the journal yet,
    /// each call within the budget when one is given.
    pub fn run(&self) -> anyhow::Result<JudgeTotals> {
        let Some(jc) = self.cfg.judge.as_ref() else {
            return Ok(JudgeTotals::default());
        };
        let contents = journal::read(self.journal_path)?;
        let pending = self.pending(jc, &contents);
        if pending.is_empty() {
            return Ok(JudgeTotals::default());
        }
        let cache_path = self.cache_dir.join(CACHE_FILE);
        let cache = load_cache(&cache_path, &jc.model);
        // One call per distinct verdict not in the cache; identical answers share it.
        let (asked, calls) = self.calls(jc, &pending, &cache);
        if self.mode != ProgressMode::Quiet {
            crate::eoutln!(
                "Judge {}: {} answers to grade, {} verdicts to ask, {} reused",
                jc.model,
                pending.len(),
                calls.len(),
                pending.len() - calls.len()
            );
        }
        let mut totals = self.ask(calls)?;
        // The rows just written, by verdict key: cache the valid verdicts, and serve the
        // answers that share a verdict.
        let contents = journal::read(self.journal_path)?;
        let asked_keys: HashMap<String, &str> = asked
            .iter()
            .map(|(vkey, p)| (judge_key(&jc.model, &p.target), *vkey))
            .collect();
        let mut fresh: HashMap<&str, &JournalRow> = HashMap::new();
        for r in contents.rows.iter().filter(|r| r.kind == CallKind::Judge) {
            if let Some(vkey) = asked_keys.get(&r.key) {
                fresh.insert(vkey, r);
            }
        }
        append_cache(&cache_path, &new_verdicts(jc, &fresh))?;
        let reused = self.reused(jc, &pending, &asked_keys, &cache, &fresh);
        if !reused.is_empty() {
            let mut w = JournalWriter::open_append(self.journal_path)?;
            for r in &reused {
                w.append(r)?;
            }
            w.finish()?;
        }
        totals.reused = reused.len();
        Ok(totals)
    }

    /// The answers that need a verdict and have none in the journal (with `retry_errors`, a
    /// verdict whose latest call failed is asked again).
    fn pending(
        &self,
        jc: &crate::config::JudgeConfig,
        contents: &journal::JournalContents,
    ) -> Vec<Pending> {
        let ds = self.ds;
        let mut latest: HashMap<&str, bool> = HashMap::new();
        for r in contents
            .rows
            .iter()
            .filter(|r| r.kind == CallKind::Judge && r.model == jc.model)
        {
            if let Some(t) = r.target.as_deref() {
                latest.insert(t, r.ok);
            }
        }
        let judged: HashSet<&str> = latest
            .into_iter()
            .filter(|&(_, ok)| ok || !self.retry_errors)
            .map(|(t, _)| t)
            .collect();
        let index: HashMap<&str, usize> = ds
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.as_str(), i))
            .collect();
        // The last row of each candidate call wins, as in the analysis.
        let mut answers: BTreeMap<&str, &JournalRow> = BTreeMap::new();
        for r in contents
            .rows
            .iter()
            .filter(|r| r.kind == CallKind::Candidate)
        {
            answers.insert(&r.key, r);
        }
        let mut pending = Vec::new();
        for (key, row) in answers {
            let (Some(&idx), true, Some(answer)) = (
                index.get(row.item.as_str()),
                row.ok,
                row.response.as_deref(),
            ) else {
                continue;
            };
            let Grader::Judge { rubric, reference } = &ds.items[idx].grader else {
                continue;
            };
            if judged.contains(key) {
                continue;
            }
            // The judge reads the conversation the candidate answered (system prompt included).
            let item = &ds.items[idx];
            let conversation = item.conversation(self.cfg.system.for_model(&row.model));
            let prompt = judge::render(
                &jc.prompt_template,
                rubric,
                reference.as_deref(),
                &judge::question(&item.prompt, conversation.as_deref()),
                answer,
            );
            pending.push(Pending {
                target: key.to_string(),
                item_id: row.item.clone(),
                vkey: verdict_key(&jc.model, &prompt),
                prompt: prompt.into(),
            });
        }
        pending
    }

    /// One call per distinct verdict not in the cache: the verdicts asked (by verdict key) and
    /// their calls.
    fn calls<'p>(
        &self,
        jc: &crate::config::JudgeConfig,
        pending: &'p [Pending],
        cache: &HashMap<String, CachedVerdict>,
    ) -> (HashMap<&'p str, &'p Pending>, Vec<PlannedCall>) {
        let judge_model = self.cfg.model(&jc.model);
        let mut asked: HashMap<&str, &Pending> = HashMap::new();
        let mut calls = Vec::new();
        for p in pending {
            if cache.contains_key(&p.vkey) || asked.contains_key(p.vkey.as_str()) {
                continue;
            }
            asked.insert(&p.vkey, p);
            let est_in = tokens::estimate(&p.prompt);
            calls.push(PlannedCall {
                key: judge_key(&jc.model, &p.target),
                kind: CallKind::Judge,
                item_id: p.item_id.clone(),
                endpoint: judge_model.endpoint.clone(),
                request: CallRequest {
                    model: jc.model.clone(),
                    wire_name: Arc::from(judge_model.wire_name.as_str()),
                    prompt: p.prompt.clone(),
                    messages: None,
                    max_tokens: jc.max_tokens,
                    temperature: Some(0.0),
                    purpose: Purpose::Judge,
                    // The prompt holds the answer, so every verdict is the first of its prompt.
                    repeat: 0,
                },
                target: Some(p.target.clone()),
                est_input_tokens: est_in,
                est_output_tokens: EXPECTED_JUDGE_OUTPUT_TOKENS.min(jc.max_tokens as u64),
            });
        }
        (asked, calls)
    }

    /// Make the judge's calls, journaled like any other.
    fn ask(&self, calls: Vec<PlannedCall>) -> anyhow::Result<JudgeTotals> {
        let mut totals = JudgeTotals::default();
        if calls.is_empty() {
            return Ok(totals);
        }
        let plan = Plan {
            items: self.ds.items.len(),
            repeats: 1,
            calls,
            per_model: Vec::new(),
            skipped: 0,
        };
        let sinks = crate::benchmark::Sinks {
            journal: JournalWriter::open_append(self.journal_path)?,
            record: None,
            budget: self.budget.clone(),
            stop: self.stop.clone(),
        };
        let t = self.rt.block_on(crate::benchmark::execute(
            plan,
            self.cfg.clone(),
            self.providers,
            sinks,
            self.mode,
        ))?;
        totals.calls = t.calls;
        totals.not_started = t.not_started;
        totals.stopped_calls = t.stopped_calls;
        totals.errors = t.errors;
        totals.spent = t.spent;
        Ok(totals)
    }

    /// Journal rows for the answers served by a cached verdict or by one asked for an identical
    /// answer.
    fn reused(
        &self,
        jc: &crate::config::JudgeConfig,
        pending: &[Pending],
        asked_keys: &HashMap<String, &str>,
        cache: &HashMap<String, CachedVerdict>,
        fresh: &HashMap<&str, &JournalRow>,
    ) -> Vec<JournalRow> {
        let judge_model = self.cfg.model(&jc.model);
        let mut reused = Vec::new();
        let now_ms = jiff::Timestamp::now().as_millisecond();
        for p in pending {
            let key = judge_key(&jc.model, &p.target);
            if asked_keys.contains_key(&key) {
                continue;
            }
            let mut row = JournalRow {
                ok: true,
                // No attempt was made: the verdict was reused.
                given_cost_usd: Some(0.0),
                cost_usd: Some(0.0),
                cost_source: CostSource::NotBilled,
                target: Some(p.target.clone()),
                started_ms: now_ms,
                finished_ms: now_ms,
                ..JournalRow::new(
                    key,
                    CallKind::Judge,
                    p.item_id.clone(),
                    jc.model.clone(),
                    0,
                    judge_model.endpoint.clone(),
                )
            };
            if let Some(v) = cache.get(&p.vkey) {
                row.response = Some(v.response.clone());
                row.input_tokens = v.input_tokens;
                row.output_tokens = v.output_tokens;
            } else if let Some(r) = fresh.get(p.vkey.as_str()) {
                row.ok = r.ok;
                row.response = r.response.clone();
                row.error_kind = r.error_kind;
                row.error = r.error.clone();
                row.input_tokens = r.input_tokens;
                row.output_tokens = r.output_tokens;
            } else {
                // The call for this verdict did not reach the journal (an interrupted run):
                // leave the answer for the next run.
                continue;
            }
            reused.push(row);
        }
        reused
    }
}

/// The valid verdicts just asked, as cache entries in key order.
fn new_verdicts(
    jc: &crate::config::JudgeConfig,
    fresh: &HashMap<&str, &JournalRow>,
) -> Vec<CachedVerdict> {
    let now = jiff::Timestamp::now().to_string();
    let mut new_cache: Vec<CachedVerdict> = fresh
        .iter()
        .filter(|(_, r)| r.ok)
        .filter_map(|(vkey, r)| {
            let reply = r.response.as_deref()?;
            judge::parse_verdict(reply).ok()?;
            Some(CachedVerdict {
                key: vkey.to_string(),
                judge: jc.model.clone(),
                response: reply.to_string(),
                input_tokens: r.input_tokens,
                output_tokens: r.output_tokens,
                cost_usd: r.cost_usd,
                cached_at: now.clone(),
            })
        })
        .collect();
    new_cache.sort_by(|a, b| a.key.cmp(&b.key));
    new_cache
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_keys_depend_on_the_judge_and_the_whole_prompt() {
        let a = ModelId::parse("j/one").unwrap();
        let b = ModelId::parse("j/two").unwrap();
        let k = verdict_key(&a, "rubric|prompt|answer");
        assert_eq!(k, verdict_key(&a, "rubric|prompt|answer"));
        assert_ne!(k, verdict_key(&b, "rubric|prompt|answer"));
        assert_ne!(k, verdict_key(&a, "rubric|prompt|answer."));
        assert_eq!(k.len(), 64);
    }

    #[test]
    fn the_cache_skips_lines_it_cannot_read_and_other_judges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CACHE_FILE);
        let j = ModelId::parse("j/one").unwrap();
        let v = CachedVerdict {
            key: "k1".into(),
            judge: j.clone(),
            response: "Rating: [[7]]".into(),
            input_tokens: Some(10),
            output_tokens: Some(5),
            cost_usd: Some(0.001),
            cached_at: "2026-11-25T00:00:00Z".into(),
        };
        let other = CachedVerdict {
            key: "k2".into(),
            judge: ModelId::parse("j/two").unwrap(),
            ..v.clone()
        };
        append_cache(&p, &[v.clone(), other]).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{not json\n")
            .unwrap();
        let c = load_cache(&p, &j);
        assert_eq!(c.len(), 1);
        assert_eq!(c["k1"], v);
        assert!(load_cache(&dir.path().join("none.jsonl"), &j).is_empty());
    }
}
