//! The runner: makes every planned call, endpoint by endpoint with each endpoint's own
//! concurrency and rate limits, and journals each call as it finishes.

pub mod journal;
pub mod plan;
pub mod progress;
pub mod retry;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::mpsc;

use crate::config::{Config, Endpoint};
use crate::provider::{Answer, CallError, ErrorKind, Latency, LatencySource, Provider};
use crate::types::Usd;
use crate::{meter, provider::CostSource};

use journal::{JournalRow, JournalWriter};
use plan::{Plan, PlannedCall};
use progress::{Progress, ProgressMode};
use retry::RetryPolicy;

/// A call as it came back from its endpoint, after retries.
struct Finished {
    call: PlannedCall,
    outcome: Result<Answer, CallError>,
    attempts: u32,
    /// Wall time of the last attempt.
    measured_ms: f64,
    started_ms: i64,
    finished_ms: i64,
}

/// Totals of a run's calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunTotals {
    pub calls: usize,
    pub errors: usize,
    /// Money spent on live endpoints during this run.
    pub spent: Usd,
    pub elapsed: Duration,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Make every call of `plan`, appending each result to `journal`.
pub async fn execute(
    plan: Plan,
    cfg: Arc<Config>,
    providers: &HashMap<String, Arc<dyn Provider>>,
    journal: JournalWriter,
    mode: ProgressMode,
) -> anyhow::Result<RunTotals> {
    let started = Instant::now();
    let mut by_endpoint: BTreeMap<String, Vec<PlannedCall>> = BTreeMap::new();
    for c in plan.calls {
        by_endpoint.entry(c.endpoint.clone()).or_default().push(c);
    }
    let totals: BTreeMap<String, u64> = by_endpoint
        .iter()
        .map(|(k, v)| (k.clone(), v.len() as u64))
        .collect();
    let (tx, rx) = mpsc::channel::<Finished>(1024);

    // One writer thread owns the journal and the progress display, so the hot path of a call
    // never contends on a lock.
    let writer_cfg = cfg.clone();
    let writer = std::thread::spawn(move || {
        write_results(rx, journal, Progress::new(mode, &totals), &writer_cfg)
    });

    let mut workers = Vec::new();
    for (name, calls) in by_endpoint {
        let ep = cfg.endpoints[&name].clone();
        let provider = providers
            .get(&name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no provider for endpoint {name:?}"))?;
        workers.push(tokio::spawn(run_endpoint(ep, provider, calls, tx.clone())));
    }
    drop(tx);
    for w in workers {
        w.await?;
    }
    let mut totals = tokio::task::spawn_blocking(move || writer.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the journal writer panicked"))??;
    totals.elapsed = started.elapsed();
    Ok(totals)
}

async fn run_endpoint(
    ep: Endpoint,
    provider: Arc<dyn Provider>,
    calls: Vec<PlannedCall>,
    tx: mpsc::Sender<Finished>,
) {
    let limiter: Option<Arc<DefaultDirectRateLimiter>> = ep
        .requests_per_minute
        .and_then(NonZeroU32::new)
        .map(|rpm| Arc::new(RateLimiter::direct(Quota::per_minute(rpm))));
    let policy = RetryPolicy::new(ep.max_attempts);
    let ep = &ep;
    futures::stream::iter(calls)
        .for_each_concurrent(ep.max_concurrency, |call| {
            let provider = provider.clone();
            let limiter = limiter.clone();
            let tx = tx.clone();
            async move {
                let fin =
                    call_with_retries(ep, &*provider, limiter.as_deref(), &policy, call).await;
                // The receiver only goes away when the writer failed; that error is reported there.
                let _ = tx.send(fin).await;
            }
        })
        .await;
}

async fn call_with_retries(
    ep: &Endpoint,
    provider: &dyn Provider,
    limiter: Option<&DefaultDirectRateLimiter>,
    policy: &RetryPolicy,
    call: PlannedCall,
) -> Finished {
    let started_ms = now_ms();
    let mut attempt = 0;
    loop {
        attempt += 1;
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        let t0 = Instant::now();
        let outcome = match tokio::time::timeout(ep.timeout, provider.call(&call.request)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::new(
                ErrorKind::Timeout,
                format!("no answer within {:.0} s", ep.timeout.as_secs_f64()),
            )),
        };
        let measured_ms = t0.elapsed().as_secs_f64() * 1e3;
        match outcome {
            Err(e) if policy.next_delay(attempt, &e).is_some() => {
                let delay = policy.next_delay(attempt, &e).unwrap_or_default();
                tokio::time::sleep(delay).await;
            }
            Err(mut e) => {
                if e.kind == ErrorKind::RateLimited && retry::is_exhausted(&e, policy) {
                    e.kind = ErrorKind::QuotaExhausted;
                }
                return Finished {
                    call,
                    outcome: Err(e),
                    attempts: attempt,
                    measured_ms,
                    started_ms,
                    finished_ms: now_ms(),
                };
            }
            Ok(a) => {
                return Finished {
                    call,
                    outcome: Ok(a),
                    attempts: attempt,
                    measured_ms,
                    started_ms,
                    finished_ms: now_ms(),
                };
            }
        }
    }
}

fn write_results(
    mut rx: mpsc::Receiver<Finished>,
    mut journal: JournalWriter,
    mut progress: Progress,
    cfg: &Config,
) -> anyhow::Result<RunTotals> {
    let mut totals = RunTotals::default();
    while let Some(fin) = rx.blocking_recv() {
        let live = cfg.endpoints[&fin.call.endpoint].kind.is_live();
        let row = to_row(fin, cfg);
        journal
            .append(&row)
            .map_err(|e| anyhow::anyhow!("cannot append to the journal: {e}"))?;
        totals.calls += 1;
        if !row.ok {
            totals.errors += 1;
        }
        let cost = row.cost_usd.unwrap_or(0.0);
        if live {
            totals.spent += Usd(cost);
        }
        progress.record(&row.endpoint, row.ok, if live { cost } else { 0.0 });
    }
    progress.finish();
    journal
        .finish()
        .map_err(|e| anyhow::anyhow!("cannot sync the journal: {e}"))?;
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
    } = fin;
    let req = &call.request;
    let mut row = JournalRow {
        key: call.key,
        kind: call.kind,
        item: call.item_id,
        model: req.model.clone(),
        repeat: req.repeat,
        endpoint: call.endpoint,
        ok: false,
        error_kind: None,
        error: None,
        http_status: None,
        attempts,
        response: None,
        input_tokens: None,
        output_tokens: None,
        tokens_source: None,
        given_cost_usd: None,
        cost_usd: None,
        cost_source: CostSource::Unpriced,
        latency_ms: None,
        latency_source: None,
        server_latency_ms: None,
        ttft_ms: None,
        grade: None,
        target: call.target,
        started_ms,
        finished_ms,
    };
    match outcome {
        Ok(a) => {
            let tokens = meter::tokens(&req.prompt, &a.text, a.input_tokens, a.output_tokens);
            let (cost, source) = meter::cost(cfg.model(&req.model), &tokens, a.cost);
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
            row.response = Some(a.text);
        }
        Err(e) => {
            row.error_kind = Some(e.kind);
            row.error = Some(e.message);
            row.http_status = e.http_status;
            row.cost_usd = Some(0.0);
            row.cost_source = CostSource::NotBilled;
            row.latency_ms = Some(measured_ms);
            row.latency_source = Some(LatencySource::Measured);
        }
    }
    row
}
