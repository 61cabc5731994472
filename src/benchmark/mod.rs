//! The runner: makes every planned call, endpoint by endpoint with each endpoint's own
//! concurrency and rate limits, and journals each call as it finishes.

pub(crate) mod budget;
pub(crate) mod duration;
pub(crate) mod judge_phase;
pub(crate) mod plan;
pub(crate) mod progress;
pub(crate) mod record;
pub(crate) mod retry;
pub(crate) mod session;
pub(crate) mod stop;
#[doc(hidden)]
pub mod synth;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{mpsc, oneshot};

use crate::base::types::Usd;
use crate::config::{Config, Endpoint};
use crate::provider::{Answer, CallError, ErrorKind, Latency, LatencySource, Provider};
use crate::provider::{CostSource, meter};

use crate::store::journal::{JournalRow, JournalWriter};
use budget::Budget;
use plan::{Plan, PlannedCall};
use progress::{Progress, ProgressMode};
use record::RecordWriter;
use retry::{Decision, RetryPolicy};
use stop::{Stop, StopReason};

/// A call as it came back from its endpoint, after retries.
struct Finished {
    call: PlannedCall,
    outcome: Result<Answer, CallError>,
    attempts: u32,
    /// Wall time of the last attempt.
    measured_ms: f64,
    started_ms: i64,
    finished_ms: i64,
    /// The call's estimated cost, held by the budget until the row is journaled.
    est_usd: f64,
    /// Told once the row is in the journal (and the answer in the recording, when there is
    /// one): the call keeps its concurrency slot until then, so a kill loses at most
    /// `max_concurrency` calls per endpoint.
    journaled: Option<oneshot::Sender<()>>,
}

/// Totals of a run's calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct RunTotals {
    pub calls: usize,
    pub errors: usize,
    /// Money spent on live endpoints during this run.
    pub spent: Usd,
    pub elapsed: Duration,
    /// Calls not started because the budget (`--max-spend`) would have been passed.
    pub not_started: usize,
    /// Calls not started (or abandoned in flight) because the run or their endpoint stopped.
    pub stopped_calls: usize,
}

/// An endpoint's request rate: its own `requests_per_minute`, else its provider's default (a
/// Promptster test key), else none.
pub(crate) fn requests_per_minute(ep: &Endpoint, provider: &dyn Provider) -> Option<u32> {
    ep.requests_per_minute
        .or_else(|| provider.default_requests_per_minute().map(|(r, _)| r))
}

/// A limiter that spaces requests evenly at `rpm` a minute, with no burst: a server counting in
/// any 60-second window never sees more than the limit.
pub(crate) fn spaced_limiter(rpm: u32) -> Option<DefaultDirectRateLimiter> {
    NonZeroU32::new(rpm)
        .map(|r| RateLimiter::direct(Quota::per_minute(r).allow_burst(NonZeroU32::MIN)))
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Where a run's results go and what limits it: the journal (and the recording, when given),
/// the budget (`--max-spend`) and the shared stop state.
pub(crate) struct Sinks {
    pub journal: JournalWriter,
    pub record: Option<RecordWriter>,
    pub budget: Option<Arc<Budget>>,
    pub stop: Arc<Stop>,
}

/// Make every call of `plan`, appending each result to the journal (and each live answer to
/// the recording, when given). With a budget, a call starts only while the budget allows it.
///
/// A call starts only while `stop` allows it: a failed journal or recording write stops the
/// run at once (the error is returned once the calls in flight are abandoned), a signal stops
/// it gracefully, and an `auth` or `quota_exhausted` answer stops its endpoint. Whatever
/// stopped is left in `stop` for the caller to report.
pub(crate) async fn execute(
    plan: Plan,
    cfg: Arc<Config>,
    providers: &HashMap<String, Arc<dyn Provider>>,
    sinks: Sinks,
    mode: ProgressMode,
) -> anyhow::Result<RunTotals> {
    let Sinks {
        journal,
        record,
        budget,
        stop,
    } = sinks;
    let started = Instant::now();
    let mut by_endpoint: BTreeMap<String, Vec<(PlannedCall, f64)>> = BTreeMap::new();
    for c in plan.calls {
        let est = budget::call_estimate(&cfg, &c);
        by_endpoint
            .entry(c.endpoint.clone())
            .or_default()
            .push((c, est));
    }
    let totals: BTreeMap<String, u64> = by_endpoint
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    let (tx, rx) = mpsc::channel::<Finished>(1024);

    let mut endpoints = Vec::new();
    for (name, calls) in by_endpoint {
        let ep = cfg.endpoints[&name].clone();
        let provider = providers
            .get(&name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no provider for endpoint {name:?}"))?;
        let rpm = match (
            ep.requests_per_minute,
            provider.default_requests_per_minute(),
        ) {
            (None, Some((r, why))) if mode != ProgressMode::Quiet => {
                crate::eoutln!(
                    "Endpoint {name}: {r} requests a minute ({why}; set requests_per_minute to change it)"
                );
                Some(r)
            }
            _ => requests_per_minute(&ep, &*provider),
        };
        endpoints.push((ep, provider, rpm, calls));
    }
    // One writer thread owns the journal and the progress display, so the hot path of a call
    // never contends on a lock.
    let writer_cfg = cfg.clone();
    let writer_budget = budget.clone();
    let writer_stop = stop.clone();
    let writer = std::thread::spawn(move || {
        let out = WriterOut {
            journal,
            record,
            progress: Progress::new(mode, &totals),
        };
        let r = write_results(rx, out, &writer_cfg, writer_budget.as_deref(), &writer_stop);
        if let Err(e) = &r {
            write_failed(&writer_stop, e);
        }
        r
    });

    let mut workers = Vec::new();
    for (ep, provider, rpm, calls) in endpoints {
        workers.push(tokio::spawn(run_endpoint(
            ep,
            provider,
            rpm,
            calls,
            tx.clone(),
            budget.clone(),
            stop.clone(),
        )));
    }
    drop(tx);
    let mut stopped_calls = 0;
    for w in workers {
        stopped_calls += w.await?;
    }
    let mut totals = tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the journal writer panicked"))??;
    totals.elapsed = started.elapsed();
    totals.not_started = budget.map_or(0, |b| b.not_started());
    totals.stopped_calls = stopped_calls;
    Ok(totals)
}

/// A pause every call of one endpoint honours: a `Retry-After` is the server speaking about the
/// endpoint, not about the one call that happened to receive it.
#[derive(Default)]
struct Pause {
    until: Mutex<Option<tokio::time::Instant>>,
}

impl Pause {
    fn extend(&self, wait: Duration) {
        let until = tokio::time::Instant::now() + wait;
        let mut u = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if u.is_none_or(|cur| cur < until) {
            *u = Some(until);
        }
    }

    async fn wait(&self) {
        loop {
            let until = *self.until.lock().unwrap_or_else(|p| p.into_inner());
            match until {
                Some(t) if t > tokio::time::Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

/// The limits of one endpoint, shared by its calls.
struct Limits {
    limiter: Option<DefaultDirectRateLimiter>,
    pause: Pause,
    policy: RetryPolicy,
}

/// Make the calls of one endpoint; returns how many were not made (or not journaled) because
/// the run or the endpoint stopped.
async fn run_endpoint(
    ep: Endpoint,
    provider: Arc<dyn Provider>,
    rpm: Option<u32>,
    calls: Vec<(PlannedCall, f64)>,
    tx: mpsc::Sender<Finished>,
    budget: Option<Arc<Budget>>,
    stop: Arc<Stop>,
) -> usize {
    let limits = Limits {
        limiter: rpm.and_then(spaced_limiter),
        pause: Pause::default(),
        policy: RetryPolicy::for_endpoint(&ep),
    };
    let (ep, limits, budget, stop) = (&ep, &limits, budget.as_deref(), &*stop);
    let lost = std::sync::atomic::AtomicUsize::new(0);
    let lost_ref = &lost;
    futures::stream::iter(calls)
        .for_each_concurrent(ep.max_concurrency, |(call, est)| {
            let provider = provider.clone();
            let tx = tx.clone();
            async move {
                let lose = || lost_ref.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if !stop.may_start(&ep.name) {
                    lose();
                    return;
                }
                if budget.is_some_and(|b| !b.try_start(est)) {
                    return;
                }
                let (journaled, done) = oneshot::channel();
                let call = call_with_retries(ep, &*provider, limits, stop, call, est, journaled);
                let fin = tokio::select! {
                    fin = call => fin,
                    _ = stop.abandoned() => None,
                };
                let Some(fin) = fin else {
                    if let Some(b) = budget {
                        b.settle(est, 0.0);
                    }
                    lose();
                    return;
                };
                if let Err(e) = &fin.outcome
                    && matches!(e.kind, ErrorKind::Auth | ErrorKind::QuotaExhausted)
                {
                    stop.fail_endpoint(&ep.name, e.kind, &e.to_string());
                }
                // The receiver only goes away when the writer failed; that error is reported
                // there. No call may start without a writer to keep its answer.
                if tx.send(fin).await.is_ok() {
                    let _ = done.await;
                } else {
                    stop.stop(StopReason::WriteFailed("the journal writer stopped".into()));
                    stop.abandon();
                    lose();
                }
            }
        })
        .await;
    lost.into_inner()
}

/// One call, retried as its endpoint's policy says; `None` when the run or the endpoint
/// stopped before an attempt (the first one included) was sent.
async fn call_with_retries(
    ep: &Endpoint,
    provider: &dyn Provider,
    limits: &Limits,
    stop: &Stop,
    call: PlannedCall,
    est_usd: f64,
    journaled: oneshot::Sender<()>,
) -> Option<Finished> {
    let started_ms = now_ms();
    let mut attempt = 0;
    loop {
        limits.pause.wait().await;
        if let Some(l) = &limits.limiter {
            l.until_ready().await;
        }
        // Checked after the waits: a call held by the rate limiter when the run or its
        // endpoint stopped is not sent.
        if !stop.may_start(&ep.name) {
            return None;
        }
        attempt += 1;
        let t0 = Instant::now();
        let outcome = match tokio::time::timeout(ep.timeout, provider.call(&call.request)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::new(
                ErrorKind::Timeout,
                format!(
                    "no complete answer within {} s (timeout_s of endpoint {})",
                    ep.timeout.as_secs_f64(),
                    ep.name
                ),
            )),
        };
        let measured_ms = t0.elapsed().as_secs_f64() * 1e3;
        let outcome = match outcome {
            Ok(a) => Ok(a),
            Err(mut e) => match limits.policy.decide(attempt, &e) {
                Decision::Retry(delay) => {
                    if let Some(ra) = e.retry_after {
                        limits.pause.extend(ra);
                    }
                    tokio::time::sleep(delay).await;
                    continue;
                }
                Decision::WaitTooLong(ra) => {
                    e.kind = ErrorKind::QuotaExhausted;
                    e.message = format!(
                        "{} (the server asks to wait {:.0} s, more than max_retry_after_s = {:.0})",
                        e.message,
                        ra.as_secs_f64(),
                        limits.policy.max_retry_after.as_secs_f64()
                    );
                    Err(e)
                }
                Decision::Fail => Err(e),
            },
        };
        return Some(Finished {
            call,
            outcome,
            attempts: attempt,
            measured_ms,
            started_ms,
            finished_ms: now_ms(),
            est_usd,
            journaled: Some(journaled),
        });
    }
}

/// What the writer thread owns.
struct WriterOut {
    journal: JournalWriter,
    record: Option<RecordWriter>,
    progress: Progress,
}

/// No call may start once answers cannot be kept: stop the run and abandon the calls in
/// flight. Called before the failed row's call gives up its concurrency slot.
fn write_failed(stop: &Stop, e: &anyhow::Error) {
    stop.stop(StopReason::WriteFailed(format!("{e:#}")));
    stop.abandon();
}

fn write_results(
    mut rx: mpsc::Receiver<Finished>,
    out: WriterOut,
    cfg: &Config,
    budget: Option<&Budget>,
    stop: &Stop,
) -> anyhow::Result<RunTotals> {
    let WriterOut {
        mut journal,
        mut record,
        mut progress,
    } = out;
    let mut totals = RunTotals::default();
    while let Some(mut fin) = rx.blocking_recv() {
        let live = cfg.endpoints[&fin.call.endpoint].kind.is_live();
        // Cloned before the row takes the answer, and written after the journal has the row:
        // the journal is the source of truth.
        let to_record = match (&record, live, &fin.outcome) {
            (Some(_), true, Ok(a)) => Some((fin.call.request.clone(), a.clone(), fin.measured_ms)),
            _ => None,
        };
        let (est, journaled) = (fin.est_usd, fin.journaled.take());
        let row = to_row(fin, cfg);
        if let Err(e) = journal.append(&row) {
            let e = anyhow::anyhow!("cannot append to the journal: {e}");
            write_failed(stop, &e);
            return Err(e);
        }
        if let (Some(rec), Some((req, answer, ms))) = (&mut record, to_record)
            && let Err(e) = rec.append(&req.model, &req.key_text(), req.repeat, &answer, ms)
        {
            write_failed(stop, &e);
            return Err(e);
        }
        // The call gives up its concurrency slot only now, once its answer is kept.
        if let Some(j) = journaled {
            let _ = j.send(());
        }
        totals.calls += 1;
        if !row.ok {
            totals.errors += 1;
        }
        let cost = row.cost_usd.unwrap_or(0.0);
        if live {
            totals.spent += Usd(cost);
        }
        if let Some(b) = budget {
            b.settle(est, if live { cost } else { 0.0 });
        }
        progress.record(&row.endpoint, row.ok, if live { cost } else { 0.0 });
    }
    progress.finish();
    journal
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot sync the journal: {e}"))?;
    if let Some(rec) = record {
        rec.finish()?;
    }
    Ok(totals)
}

fn to_row(fin: Finished, cfg: &Config) -> JournalRow {
    let Finished {
        call,
        outcome,
        attempts,
        measured_ms,
        started_ms,
        finished_ms,
        ..
    } = fin;
    let req = &call.request;
    let simulated = cfg.endpoints[&call.endpoint].kind == crate::config::EndpointKind::Sim;
    let mut row = JournalRow {
        attempts,
        target: call.target,
        started_ms,
        finished_ms,
        ..JournalRow::new(
            call.key,
            call.kind,
            call.item_id,
            req.model.clone(),
            req.repeat,
            call.endpoint,
        )
    };
    match outcome {
        Ok(a) => {
            let tokens = meter::answer_tokens(&req.input_text(), &a);
            let (cost, source) = meter::cost(cfg.model(&req.model), &tokens, a.cost);
            row.record_usage(&a);
            let (latency, lsrc) = match a.latency {
                Latency::Measure => (Some(measured_ms), Some(LatencySource::Measured)),
                Latency::Given(ms, s) => (Some(ms), Some(s)),
                Latency::Unknown => (None, None),
            };
            row.ok = true;
            row.http_status = a.http_status;
            row.input_tokens = Some(tokens.input);
            row.output_tokens = Some(tokens.output);
            row.tokens_source = Some(tokens.source);
            row.given_cost_usd = a.cost.map(|c| c.0);
            row.cost_usd = cost;
            row.cost_source = source;
            row.latency_ms = latency;
            row.latency_source = lsrc;
            row.server_latency_ms = a.server_latency_ms;
            row.ttft_ms = a.ttft_ms;
            row.grade = a.grade;
            // Scrubbed here too: an answer from a recording or a simulation never saw a redactor.
            row.response = Some(crate::base::secrets::scrub(&a.text));
        }
        Err(e) => {
            row.error_kind = Some(e.kind);
            row.error = Some(crate::base::secrets::scrub(&e.message));
            row.http_status = e.http_status;
            row.cost_usd = Some(0.0);
            row.cost_source = CostSource::NotBilled;
            row.latency_ms = Some(measured_ms);
            row.latency_source = Some(if simulated {
                LatencySource::Simulated
            } else {
                LatencySource::Measured
            });
        }
    }
    row
}
