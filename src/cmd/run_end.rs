//! How `routecal run` ends: the call phases (candidates and classifiers, then the judge), then
//! the run's status in run.json, its reports, its warnings and its exit code — also when it was
//! stopped by a signal, a failed write or an endpoint that refused calls.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use super::run::{live_spend, print_outcome};
use crate::base::fmt;
use crate::benchmark::session::{self, Made, Session};
use crate::benchmark::stop::{self, Stop, StopReason};
use crate::benchmark::{self, budget::Budget, plan::Plan, progress::ProgressMode};
use crate::cli::RunArgs;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::derive;
use crate::report;
use crate::store::journal;
use crate::store::manifest::{Manifest, Status};
use crate::store::run_dir::RunDir;

/// What a run needs to save its status and end.
pub(super) struct RunState<'a> {
    pub a: &'a RunArgs,
    pub dir: &'a Path,
    pub cfg: &'a Arc<Config>,
    pub ds: &'a Dataset,
    pub repeats: u32,
    pub stop: &'a Stop,
    /// The sequential design of an adaptive run.
    pub adaptive: Option<crate::derive::sequential::Design>,
}

impl RunState<'_> {
    /// Make the calls, then end the run: its status, its reports, its exit code. The runtime
    /// (and with it the signal handler) lives until the run's status is saved.
    pub fn execute(
        &self,
        manifest: &mut Manifest,
        plan: Plan,
        session: Session,
        budget: Option<&Budget>,
    ) -> anyhow::Result<u8> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        let stop = session.stop.clone();
        let quiet = session.mode == ProgressMode::Quiet;
        rt.block_on(async { stop::listen_for_signals(stop, quiet) });
        let made = match session.call(&rt, plan) {
            Ok(made) => made,
            Err(e) => {
                self.save_stopped(manifest, None);
                return Err(e.context("the run stopped"));
            }
        };
        if let Some(StopReason::Signal(sig)) = self.stop.reason() {
            self.save_stopped(manifest, Some(&made));
            return Ok(StopReason::Signal(sig).exit_code());
        }
        let code = self.finish(manifest, &made, budget)?;
        drop(rt);
        Ok(code)
    }

    /// The planned calls the journal does not hold yet (any attempt counts); for an adaptive
    /// run, those its design still calls.
    fn missing(&self, contents: &journal::JournalContents) -> anyhow::Result<usize> {
        if let Some(design) = &self.adaptive {
            return session::adaptive_missing(self.cfg, self.ds, self.repeats, design, contents);
        }
        let keys: HashSet<String> = contents.rows.iter().map(|r| r.key.clone()).collect();
        Ok(
            benchmark::plan::build(self.cfg, self.ds, self.repeats, &keys)
                .calls
                .len(),
        )
    }

    /// Totals over the whole journal (every part of a resumed run), status `partial`.
    fn tally(&self, m: &mut Manifest, contents: &journal::JournalContents, made: Option<&Made>) {
        m.finished_at = Some(jiff::Timestamp::now().to_string());
        m.status = Status::Partial;
        let made_rows = contents.rows.iter().filter(|r| r.attempts > 0);
        m.totals.calls = made_rows.count();
        m.totals.errors = latest_failed(&contents.rows);
        m.totals.spent_usd = live_spend(self.cfg, contents);
        m.totals.duration_s += made.map_or(0.0, |m| m.elapsed_s);
    }

    /// A run stopped by a signal or a failed write: run.json says `partial` (when it can still
    /// be written), and the way to continue is printed.
    fn save_stopped(&self, m: &mut Manifest, made: Option<&Made>) {
        let path = RunDir::new(self.dir).journal();
        let contents = journal::read(&path).unwrap_or_default();
        self.tally(m, &contents, made);
        let saved = m.save(self.dir);
        let missing = self.missing(&contents).unwrap_or(0);
        let why = match self.stop.reason() {
            Some(StopReason::Signal(s)) => format!("Stopped by {}", stop::signal_name(s)),
            Some(StopReason::WriteFailed(e)) => format!("Stopped because a write failed ({e})"),
            None => "Stopped".to_string(),
        };
        if self.a.json {
            let out = crate::report::json::RunStopped {
                run_id: m.run_id.clone(),
                run_dir: super::display_path(self.dir),
                status: m.status,
                stopped: why.clone(),
                calls: m.totals.calls,
                errors: m.totals.errors,
                spent_usd: m.totals.spent_usd,
                planned_calls_not_made: missing,
            };
            outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        }
        eoutln!(
            "{why}: {} calls in the journal, {missing} planned calls not made{}. Continue with: routecal run --resume {}",
            contents.rows.len(),
            match &saved {
                Ok(()) => String::new(),
                Err(e) => format!(" (run.json could not be updated: {e:#})"),
            },
            super::display_path(self.dir)
        );
    }

    /// The end of a run whose calls are done (or stopped at an endpoint or the budget): status,
    /// reports, outcome, warnings; the exit code.
    fn finish(&self, m: &mut Manifest, made: &Made, budget: Option<&Budget>) -> anyhow::Result<u8> {
        let contents = journal::read(&RunDir::new(self.dir).journal())?;
        let missing = self.missing(&contents)?;
        let failures = derive::failures::failures(&contents.rows);
        self.tally(m, &contents, Some(made));
        // Not `complete` before the reports exist: a failure writing them leaves `partial`.
        m.save(self.dir)?;
        let complete = missing == 0 && made.not_started == 0 && made.stopped_calls == 0;
        let mut derived_manifest = m.clone();
        if complete {
            derived_manifest.status = Status::Complete;
        }
        let (dir, window) = (self.a.history.as_deref(), self.a.window.as_deref());
        let found = derive::history::earlier(dir, window, &derived_manifest, self.cfg, self.ds)?;
        let mut derived = derive::derive_with_history(
            &derived_manifest,
            self.cfg,
            self.ds,
            contents,
            found.earlier.as_ref(),
        )?;
        derived.journal_notes.extend(found.warning);
        report::write_all(self.dir, &derived).map_err(|e| {
            e.context(format!(
                "the reports of {} could not be written (run.json says partial); every call is in the journal: once there is room, `routecal report {0}` writes them without a call",
                super::display_path(self.dir)
            ))
        })?;
        derived_manifest.save(self.dir)?;
        let loud = self.loud_failures(&failures);
        print_outcome(self.a, &derived, self.dir, self.ds, &loud);
        if derived_manifest.status == Status::Partial && made.not_started > 0 {
            self.budget_advice(&derived_manifest, missing.max(made.not_started), budget);
        }
        if loud.is_empty() {
            return super::ok();
        }
        for l in &loud {
            eoutln!("error: {l}");
        }
        Ok(crate::base::error::exit::RUNTIME)
    }

    /// Why the run must exit 1 although its reports are written: endpoints that refused
    /// calls, and models failing more than `--fail-on-error`.
    fn loud_failures(&self, failures: &[derive::failures::ModelFailures]) -> Vec<String> {
        let dir = super::display_path(self.dir);
        let mut out: Vec<String> = self
            .stop
            .endpoint_failures()
            .iter()
            .map(|(name, f)| {
                format!(
                    "endpoint {name} refused calls ({}): {}; its other {} calls were not made. Fix the cause, then: routecal run --resume {dir} --retry-errors",
                    f.kind.as_str(),
                    f.message,
                    f.not_started
                )
            })
            .collect();
        let rate = self
            .a
            .fail_on_error
            .unwrap_or(derive::failures::DEFAULT_FAIL_ON_ERROR);
        // A model none of whose calls answered measured nothing, whatever the threshold.
        for f in failures
            .iter()
            .filter(|f| f.share() > rate || f.failed == f.calls)
        {
            let why = if f.failed == f.calls {
                "no call answered".to_string()
            } else {
                format!("more than --fail-on-error {:.0}%", rate * 100.0)
            };
            // A replay recording has no answer for these prompts: asking again cannot help.
            let advice = if f.by_kind.iter().all(|(k, _)| k == "not_recorded") {
                "The recording holds no answer to these prompts as sent (a changed prompt, system prompt or model?): record them again with --record, or measure them on a live endpoint".to_string()
            } else {
                format!("Retry with: routecal run --resume {dir} --retry-errors")
            };
            out.push(format!(
                "{} — {why}; the reports are written, but they measure too few answers. {advice}",
                f.describe(),
            ));
        }
        out
    }

    fn budget_advice(&self, m: &Manifest, not_made: usize, budget: Option<&Budget>) {
        let limit = budget.map_or(0.0, |b| b.limit());
        let advice = format!(
            "routecal run --resume {} --max-spend <more than {}>",
            super::display_path(self.dir),
            fmt::usd(Some(limit))
        );
        eoutln!(
            "warning: stopped at --max-spend {}: {not_made} planned calls not made ({} spent on live endpoints); the reports cover the calls made. Continue with: {advice}",
            fmt::usd(Some(limit)),
            fmt::usd(Some(m.totals.spent_usd)),
        );
    }
}

/// Calls whose latest attempt failed.
fn latest_failed(rows: &[journal::JournalRow]) -> usize {
    let mut latest: std::collections::HashMap<&str, bool> = std::collections::HashMap::new();
    for r in rows.iter().filter(|r| r.attempts > 0) {
        latest.insert(&r.key, r.ok);
    }
    latest.values().filter(|ok| !**ok).count()
}
