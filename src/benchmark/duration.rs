//! How long a plan will take, endpoint by endpoint, from each endpoint's limits and the
//! expected latency of its calls: printed with the plan so that a CI timeout or a cron slot
//! can be sized before the first call.
//!
//! An endpoint makes at most `max_concurrency` calls at once and at most `requests_per_minute`
//! a minute, so it finishes `calls` calls in about `calls / min(max_concurrency / latency,
//! requests_per_minute / 60)` seconds. The latency of a call is its model's `latency_model`
//! (first token + per output token) when it has one, else [`DEFAULT_FIRST_TOKEN_MS`] +
//! [`DEFAULT_MS_PER_OUTPUT_TOKEN`] per expected output token, capped at the endpoint's
//! `timeout_s`. Offline endpoints (`keywords`, `replay`) answer at once; `sim` waits its
//! simulated latency times `time_scale`. Retries and `Retry-After` pauses are not foreseen.

use std::collections::BTreeMap;

use super::plan::PlannedCall;
use crate::base::types::ModelId;
use crate::config::{Config, Endpoint, EndpointKind};

/// Time to the first token assumed for a live model without a `latency_model`.
pub const DEFAULT_FIRST_TOKEN_MS: f64 = 1000.0;
/// Time per output token assumed for a live model without a `latency_model` (50 tokens/s).
pub const DEFAULT_MS_PER_OUTPUT_TOKEN: f64 = 20.0;

/// What limits an endpoint's pace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `max_concurrency` calls at once, each taking the expected latency.
    Concurrency,
    /// `requests_per_minute`.
    Rate,
    /// Offline: no wait.
    None,
}

/// The expected duration of one endpoint's share of a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointDuration {
    pub endpoint: String,
    pub calls: usize,
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    /// Mean expected latency of a call, in seconds.
    pub latency_s: f64,
    /// Expected wall time, in seconds.
    pub seconds: f64,
    pub bound: Bound,
}

/// The expected latency of a call to `model` on `ep` answering `out_tokens` tokens, in seconds.
fn latency_s(cfg: &Config, ep: &Endpoint, model: &ModelId, out_tokens: u64) -> f64 {
    let scale = match ep.kind {
        EndpointKind::Keywords | EndpointKind::Replay => return 0.0,
        EndpointKind::Sim => ep.time_scale,
        _ => 1.0,
    };
    let out = out_tokens as f64;
    let ms = match &cfg.model(model).latency_model {
        Some(lm) => lm.ttft_ms + lm.ms_per_output_token * out,
        None => DEFAULT_FIRST_TOKEN_MS + DEFAULT_MS_PER_OUTPUT_TOKEN * out,
    };
    (ms * scale / 1e3).min(ep.timeout.as_secs_f64())
}

/// One expected call: its endpoint, its model and its expected output tokens.
pub type CallShape<'a> = (&'a str, &'a ModelId, u64);

/// The shapes of a plan's calls.
pub fn shapes(calls: &[PlannedCall]) -> impl Iterator<Item = CallShape<'_>> {
    calls
        .iter()
        .map(|c| (c.endpoint.as_str(), &c.request.model, c.est_output_tokens))
}

/// The expected duration of `calls` per endpoint; `rpm` gives an endpoint's request rate
/// (its own `requests_per_minute`, else its provider's default).
pub fn estimate<'a>(
    cfg: &Config,
    calls: impl IntoIterator<Item = CallShape<'a>>,
    rpm: impl Fn(&Endpoint) -> Option<u32>,
) -> Vec<EndpointDuration> {
    let mut per: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for (endpoint, model, out_tokens) in calls {
        let ep = &cfg.endpoints[endpoint];
        let e = per.entry(ep.name.as_str()).or_default();
        e.0 += 1;
        e.1 += latency_s(cfg, ep, model, out_tokens);
    }
    per.into_iter()
        .map(|(name, (n, total_latency))| {
            let ep = &cfg.endpoints[name];
            let latency = total_latency / n.max(1) as f64;
            let rpm = rpm(ep);
            let by_concurrency =
                (latency > 0.0).then(|| n as f64 * latency / ep.max_concurrency.max(1) as f64);
            let by_rate = rpm.filter(|&r| r > 0).map(|r| n as f64 * 60.0 / r as f64);
            let (seconds, bound) = match (by_concurrency, by_rate) {
                (Some(c), Some(r)) if r >= c => (r, Bound::Rate),
                (Some(c), _) => (c, Bound::Concurrency),
                (None, Some(r)) => (r, Bound::Rate),
                (None, None) => (0.0, Bound::None),
            };
            EndpointDuration {
                endpoint: name.to_string(),
                calls: n,
                max_concurrency: ep.max_concurrency,
                requests_per_minute: rpm,
                latency_s: latency,
                seconds,
                bound,
            }
        })
        .collect()
}

impl EndpointDuration {
    /// `api: 4800 calls, 8 at once, 60 a minute, ~1.3 s a call → about 1 h 20 min (bound by requests_per_minute)`
    pub fn describe(&self) -> String {
        let rate = self
            .requests_per_minute
            .map_or(String::new(), |r| format!(", {r} a minute"));
        let bound = match self.bound {
            Bound::Concurrency => " (bound by max_concurrency)",
            Bound::Rate => " (bound by requests_per_minute)",
            Bound::None => "",
        };
        format!(
            "{}: {} calls, {} at once{rate}, ~{:.1} s a call → {}{bound}",
            self.endpoint,
            self.calls,
            self.max_concurrency,
            self.latency_s,
            about(self.seconds)
        )
    }
}

/// `about 12 min`, or `under a second`.
pub fn about(seconds: f64) -> String {
    if seconds < 0.5 {
        human(seconds)
    } else {
        format!("about {}", human(seconds))
    }
}

/// A duration for people: `under a second`, `45 s`, `12 min`, `1 h 20 min`.
pub fn human(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match s {
        0 => "under a second".into(),
        1..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", (s + 30) / 60),
        _ => {
            let m = (s + 30) / 60;
            format!("{} h {} min", m / 60, m % 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_would_say_them() {
        assert_eq!(human(0.2), "under a second");
        assert_eq!(human(45.0), "45 s");
        assert_eq!(human(719.0), "12 min");
        assert_eq!(human(4800.0), "1 h 20 min");
    }

    fn config(endpoint_extra: &str) -> Config {
        let src = format!(
            "[classifier]\nmodel = \"a/x\"\n[endpoints.api]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n{endpoint_extra}\n\
             [models.\"a/x\"]\nendpoint = \"api\"\ntier = \"budget\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n\
             [default]\nprimary = \"a/x\"\n"
        );
        Config::parse(
            std::path::Path::new("routes.toml"),
            src,
            crate::config::prices::PriceTable::shipped(),
            jiff::Timestamp::now(),
        )
        .unwrap()
    }

    fn calls(n: usize, out_tokens: u64) -> Vec<PlannedCall> {
        (0..n)
            .map(|i| PlannedCall {
                key: format!("k{i}"),
                kind: crate::store::journal::CallKind::Candidate,
                item_id: format!("q{i}"),
                endpoint: "api".into(),
                request: crate::provider::CallRequest {
                    model: crate::base::types::ModelId::parse("a/x").unwrap(),
                    wire_name: "x".into(),
                    prompt: "p".into(),
                    messages: None,
                    max_tokens: 512,
                    temperature: None,
                    purpose: crate::provider::Purpose::Candidate,
                    repeat: 0,
                },
                target: None,
                est_input_tokens: 10,
                est_output_tokens: out_tokens,
            })
            .collect()
    }

    #[test]
    fn the_slower_of_concurrency_and_rate_bounds_an_endpoint() {
        // 4,800 calls at 60 a minute: 80 minutes, however many run at once.
        let cfg = config("max_concurrency = 8\nrequests_per_minute = 60");
        let d = &estimate(&cfg, shapes(&calls(4800, 100)), |e| e.requests_per_minute)[0];
        assert_eq!((d.calls, d.bound), (4800, Bound::Rate));
        assert!((d.seconds - 4800.0).abs() < 1e-6, "{d:?}");
        assert!(
            d.describe()
                .contains("about 1 h 20 min (bound by requests_per_minute)")
        );
        // No rate limit: 100 calls of 9 s (1 s + 400 tokens × 20 ms), 4 at once.
        let cfg = config("max_concurrency = 4");
        let d = &estimate(&cfg, shapes(&calls(100, 400)), |e| e.requests_per_minute)[0];
        assert_eq!(d.bound, Bound::Concurrency);
        assert!(
            (d.latency_s - 9.0).abs() < 1e-9 && (d.seconds - 225.0).abs() < 1e-6,
            "{d:?}"
        );
        // A short timeout caps the expected latency.
        let cfg = config("max_concurrency = 4\ntimeout_s = 2");
        let d = &estimate(&cfg, shapes(&calls(100, 400)), |e| e.requests_per_minute)[0];
        assert!((d.latency_s - 2.0).abs() < 1e-9, "{d:?}");
    }
}
