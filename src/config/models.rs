//! `[models."provider/name"]`: the models, their endpoint, tiers, prices (from the file or the
//! price table), latency model and sim profile.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::endpoints::{Endpoint, EndpointKind};
use super::locate::Check;
use super::raw::{OneOrMany, RawModel, RawSimProfile};
use crate::base::types::{ModelId, Tier};
use crate::config::prices::{Price, PriceTable};

/// Modelled latency for replayed answers that carry none: `ttft_ms + ms_per_output_token × tokens`.
/// Results computed with it are labelled `modelled`, never `measured`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyModel {
    pub ttft_ms: f64,
    pub ms_per_output_token: f64,
    /// Where the figures come from (printed in reports).
    pub source: String,
}

/// How a `sim` endpoint answers for one model (`[models."…"] sim = { … }`): a log-normal
/// latency with the given median and 95th percentile, a share of server errors and of 429s,
/// and a pass rate. Everything it produces is labelled simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct SimProfile {
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Share of calls that fail with a 5xx.
    pub error_rate: f64,
    /// Share of calls that fail with a 429.
    pub rate_limited_rate: f64,
    /// Share of answers graded 1 (the rest 0), by the `recorded` grader.
    pub quality: f64,
    /// Mean output tokens of an answer.
    pub output_tokens: u64,
}

impl Default for SimProfile {
    fn default() -> Self {
        SimProfile {
            p50_ms: 800.0,
            p95_ms: 2_000.0,
            error_rate: 0.0,
            rate_limited_rate: 0.0,
            quality: 0.7,
            output_tokens: 200,
        }
    }
}

/// A checked `[models."provider/name"]`.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: ModelId,
    pub endpoint: String,
    pub tiers: Vec<Tier>,
    /// `None` when neither an override nor the price table knows the model.
    pub price: Option<Price>,
    /// Whether the benchmark asks it every item (a classifier-only model is not a candidate).
    pub candidate: bool,
    /// The model name sent on the wire, when it differs from the part after `provider/`.
    pub wire_name: String,
    pub latency_model: Option<LatencyModel>,
    /// The model's behaviour on a `sim` endpoint (defaults when the model sets none).
    pub sim: Option<SimProfile>,
}

impl Model {
    /// Whether the two models have a tier in common (a fallback should).
    pub fn shares_tier(&self, other: &Model) -> bool {
        self.tiers.iter().any(|t| other.tiers.contains(t))
    }
}

/// Where a model's price comes from when the file sets none: the price table at the run's time.
pub(super) struct Pricing<'a> {
    pub(super) table: &'a PriceTable,
    pub(super) at: jiff::Timestamp,
}

/// `[models."provider/name"]`, every one checked against the endpoints; at least one must be a
/// candidate.
pub(super) fn build(
    raw: BTreeMap<String, RawModel>,
    endpoints: &BTreeMap<String, Endpoint>,
    pricing: &Pricing,
    ck: &mut Check,
) -> BTreeMap<ModelId, Model> {
    let mut models = BTreeMap::new();
    for (name, m) in raw {
        if let Some(model) = model(&name, m, endpoints, pricing, ck) {
            models.insert(model.id.clone(), model);
        }
    }
    if models.values().filter(|m| m.candidate).count() == 0 {
        ck.err(&["models"], "declare at least one candidate model");
    }
    models
}

/// One model: its id, endpoint, tiers, price, latency model and sim profile.
fn model(
    name: &str,
    m: RawModel,
    endpoints: &BTreeMap<String, Endpoint>,
    pricing: &Pricing,
    ck: &mut Check,
) -> Option<Model> {
    let id = match ModelId::parse(name) {
        Ok(id) => id,
        Err(msg) => {
            ck.err(&["models", name], msg);
            return None;
        }
    };
    if !endpoints.contains_key(&m.endpoint) {
        let known: Vec<&str> = endpoints.keys().map(String::as_str).collect();
        ck.err(
            &["models", name, "endpoint"],
            format!(
                "unknown endpoint {:?} (declared: {})",
                m.endpoint,
                list_or_none(&known)
            ),
        );
    }
    let tiers = tiers(name, &m.tier, ck);
    let mut price = price(name, &id, &m, pricing, ck);
    let cache_prices = (m.cache_read_per_mtok, m.cache_write_per_mtok);
    cache_price_overrides(cache_prices, &mut price, |f, msg| {
        ck.err(&["models", name, f], msg)
    });
    let kind = endpoints.get(&m.endpoint).map(|e| e.kind);
    if price.is_none() && kind != Some(EndpointKind::Keywords) {
        ck.warn(
            &["models", name],
            format!(
                "{id} has no price (not in the price table, no input_per_mtok/output_per_mtok): its cost is reported as unknown, never as zero"
            ),
        );
    }
    if let Some(lm) = &m.latency_model
        && !(lm.ttft_ms >= 0.0 && lm.ms_per_output_token >= 0.0)
    {
        ck.err(
            &["models", name, "latency_model"],
            "latency figures must be non-negative",
        );
    }
    let sim = m.sim.map(|raw| {
        if kind.is_some_and(|k| k != EndpointKind::Sim) {
            ck.err(
                &["models", name, "sim"],
                format!(
                    "sim is only for models on a sim endpoint ({} is a {} endpoint)",
                    m.endpoint,
                    kind.map(EndpointKind::as_str).unwrap_or("?")
                ),
            );
        }
        sim_profile(raw, |f, msg| ck.err(&["models", name, "sim", f], msg))
    });
    Some(Model {
        sim,
        wire_name: m.wire_name.unwrap_or_else(|| id.name().to_string()),
        id,
        endpoint: m.endpoint,
        tiers,
        price,
        candidate: m.candidate && kind != Some(EndpointKind::Keywords),
        latency_model: m.latency_model,
    })
}

/// `tier = "small"` or `tier = ["small", "medium"]`: at least one, each a known tier.
fn tiers(name: &str, tier: &OneOrMany, ck: &mut Check) -> Vec<Tier> {
    let names = match tier {
        OneOrMany::One(t) => std::slice::from_ref(t),
        OneOrMany::Many(ts) => ts.as_slice(),
    };
    let mut tiers = Vec::new();
    for t in names {
        match t.parse::<Tier>() {
            Ok(t) => tiers.push(t),
            Err(msg) => ck.err(&["models", name, "tier"], msg),
        }
    }
    if tiers.is_empty() {
        ck.err(&["models", name, "tier"], "name at least one tier");
    }
    tiers
}

/// The model's price: both of `input_per_mtok` and `output_per_mtok` (with `per_request_usd`),
/// or neither (the price table's, with `per_request_usd` over it).
fn price(
    name: &str,
    id: &ModelId,
    m: &RawModel,
    pricing: &Pricing,
    ck: &mut Check,
) -> Option<Price> {
    match (m.input_per_mtok, m.output_per_mtok) {
        (Some(i), Some(o)) => {
            for (f, v) in [
                ("input_per_mtok", i),
                ("output_per_mtok", o),
                ("per_request_usd", m.per_request_usd.unwrap_or(0.0)),
            ] {
                if !(v >= 0.0 && v.is_finite()) {
                    ck.err(
                        &["models", name, f],
                        format!("must be a non-negative price, found {v}"),
                    );
                }
            }
            Some(Price::flat(i, o, m.per_request_usd.unwrap_or(0.0)))
        }
        (None, None) => {
            let mut p = pricing.table.lookup(id, pricing.at);
            if let (Some(p), Some(fee)) = (&mut p, m.per_request_usd) {
                p.per_request_usd = fee;
            }
            p
        }
        _ => {
            ck.err(
                &["models", name],
                "set both input_per_mtok and output_per_mtok, or neither",
            );
            None
        }
    }
}

/// `cache_read_per_mtok` / `cache_write_per_mtok` of a model: they replace the table's cache
/// prices (or give an override its cache prices); without a price to attach to they are an error.
fn cache_price_overrides(
    (read, write): (Option<f64>, Option<f64>),
    price: &mut Option<Price>,
    mut err: impl FnMut(&'static str, String),
) {
    for (field, v) in [
        ("cache_read_per_mtok", read),
        ("cache_write_per_mtok", write),
    ] {
        let Some(v) = v else { continue };
        if !(v >= 0.0 && v.is_finite()) {
            err(field, format!("must be a non-negative price, found {v}"));
            continue;
        }
        let Some(p) = price.as_mut() else {
            err(
                field,
                "a cache price needs input_per_mtok and output_per_mtok (the model is not in the price table)".into(),
            );
            continue;
        };
        let rate = Some(crate::config::prices::Rate::flat(v));
        if field == "cache_read_per_mtok" {
            p.cache_read = rate;
        } else {
            p.cache_write = rate;
        }
    }
}

/// A validated sim profile; `bad(field, message)` receives every invalid field.
fn sim_profile(raw: RawSimProfile, mut bad: impl FnMut(&str, String)) -> SimProfile {
    let d = SimProfile::default();
    let mut positive = |f: &str, v: Option<f64>, default: f64| match v {
        Some(x) if x > 0.0 && x.is_finite() => x,
        Some(x) => {
            bad(
                f,
                format!("must be a positive number of milliseconds, found {x}"),
            );
            default
        }
        None => default,
    };
    let p50_ms = positive("p50_ms", raw.p50_ms, d.p50_ms);
    let p95_ms = positive("p95_ms", raw.p95_ms, p50_ms * 2.5);
    let mut share = |f: &str, v: Option<f64>, default: f64| match v {
        Some(x) if (0.0..=1.0).contains(&x) => x,
        Some(x) => {
            bad(f, format!("must be a share within [0, 1], found {x}"));
            default
        }
        None => default,
    };
    let error_rate = share("error_rate", raw.error_rate, 0.0);
    let rate_limited_rate = share("rate_limited_rate", raw.rate_limited_rate, 0.0);
    let quality = share("quality", raw.quality, d.quality);
    if p95_ms < p50_ms {
        bad(
            "p95_ms",
            format!("must be at least p50_ms ({p50_ms}), found {p95_ms}"),
        );
    }
    if error_rate + rate_limited_rate > 1.0 {
        bad(
            "rate_limited_rate",
            format!(
                "error_rate + rate_limited_rate must not exceed 1, found {}",
                error_rate + rate_limited_rate
            ),
        );
    }
    let output_tokens = match raw.output_tokens {
        Some(t) if t >= 1 => t as u64,
        Some(t) => {
            bad("output_tokens", format!("must be at least 1, found {t}"));
            d.output_tokens
        }
        None => d.output_tokens,
    };
    SimProfile {
        p50_ms,
        p95_ms: p95_ms.max(p50_ms),
        error_rate,
        rate_limited_rate,
        quality,
        output_tokens,
    }
}

/// `a, b, c`, or `none`.
pub(super) fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// The model `s` names, when it parses and is declared under `[models]`; else an error at
/// `keys`.
pub(super) fn declared(
    models: &BTreeMap<ModelId, Model>,
    keys: &[&str],
    s: &str,
    ck: &mut Check,
) -> Option<ModelId> {
    match ModelId::parse(s) {
        Ok(id) if models.contains_key(&id) => Some(id),
        Ok(_) => {
            ck.err(
                keys,
                format!("unknown model {s:?}: declare it under [models.\"{s}\"]"),
            );
            None
        }
        Err(msg) => {
            ck.err(keys, msg);
            None
        }
    }
}
