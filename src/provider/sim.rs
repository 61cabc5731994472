//! `sim`: a seeded simulator for load, fault and scale tests. Each model answers by its
//! `sim` profile (a log-normal latency, shares of 5xx and 429 errors, a pass rate); every draw
//! depends only on the endpoint's seed, the model, the prompt, the repeat and the attempt, so a
//! run is reproducible whatever the scheduling order. Latencies are labelled `simulated`, answers
//! say they are simulated, and a run with a sim endpoint is marked SIMULATED in its reports.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{
    Answer, CallError, CallRequest, ErrorKind, Latency, LatencySource, Provider, Purpose,
    keywords::classify_keywords,
};
use crate::base::types::ModelId;
use crate::config::{Endpoint, Model, SimProfile};
use crate::grade::RecordedGrade;

/// z of the 95th percentile of the standard normal.
const Z95: f64 = 1.644_853_626_951_472_2;

pub struct Sim {
    seed: u64,
    time_scale: f64,
    item_correlation: f64,
    profiles: HashMap<ModelId, SimProfile>,
    /// Attempts so far per call identity, so that a retry draws anew (deterministically).
    attempts: Mutex<HashMap<u64, u32>>,
}

/// What one simulated call does.
#[derive(Debug, Clone, PartialEq)]
pub struct Draw {
    pub latency_ms: f64,
    pub outcome: DrawOutcome,
    pub output_tokens: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DrawOutcome {
    Pass,
    Fail,
    ServerError,
    RateLimited,
}

impl Sim {
    pub fn new<'a>(ep: &Endpoint, models: impl IntoIterator<Item = &'a Model>) -> Sim {
        Sim {
            seed: ep.seed,
            time_scale: ep.time_scale,
            item_correlation: ep.item_correlation,
            profiles: models
                .into_iter()
                .map(|m| (m.id.clone(), m.sim.clone().unwrap_or_default()))
                .collect(),
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn profile(&self, model: &ModelId) -> SimProfile {
        self.profiles.get(model).cloned().unwrap_or_default()
    }

    /// The draws of one attempt of a call, with no shared item difficulty (an independent
    /// pass/fail coin): a pure function of its arguments.
    pub fn draw(seed: u64, p: &SimProfile, call_id: u64, attempt: u32) -> Draw {
        Sim::draw_on_item(seed, p, call_id, attempt, &ItemDifficulty::NONE)
    }

    /// The draws of one attempt of a call on an item of the given difficulty: the call passes
    /// when `√ρ·w + √(1 − ρ)·e < Φ⁻¹(quality)`, `w` the item's latent difficulty and `e` the
    /// call's own noise, both standard normal. Every model still passes with probability
    /// `quality`; models fail the same hard items with correlation `ρ` on the latent scale
    /// (a one-factor probit model). `ρ = 0` is the independent coin.
    pub fn draw_on_item(
        seed: u64,
        p: &SimProfile,
        call_id: u64,
        attempt: u32,
        item: &ItemDifficulty,
    ) -> Draw {
        let mut rng = SplitMix(mix(seed ^ mix(call_id) ^ mix(attempt as u64 + 1)));
        let (u1, u2) = (rng.unit_open(), rng.unit_open());
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let sigma = (p.p95_ms / p.p50_ms).ln() / Z95;
        let latency_ms = p.p50_ms * (sigma * z).exp();
        let u = rng.unit();
        let outcome = if u < p.error_rate {
            DrawOutcome::ServerError
        } else if u < p.error_rate + p.rate_limited_rate {
            DrawOutcome::RateLimited
        } else if item.passes(p.quality, rng.unit()) {
            DrawOutcome::Pass
        } else {
            DrawOutcome::Fail
        };
        let spread = 0.5 + rng.unit();
        let output_tokens = ((p.output_tokens as f64 * spread).round() as u64).max(1);
        Draw {
            latency_ms,
            outcome,
            output_tokens,
        }
    }

    async fn answer(&self, req: &CallRequest) -> Result<Answer, CallError> {
        let p = self.profile(&req.model);
        let call_id = call_id(req);
        let attempt = {
            let mut a = self.attempts.lock().unwrap_or_else(|e| e.into_inner());
            let n = a.entry(call_id).or_insert(0);
            *n += 1;
            *n
        };
        let item = ItemDifficulty::of(self.seed, &req.prompt, self.item_correlation);
        let d = Sim::draw_on_item(self.seed, &p, call_id, attempt, &item);
        if self.time_scale > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(
                d.latency_ms * self.time_scale / 1e3,
            ))
            .await;
        }
        let err = |kind, status: u16, what: &str| {
            let mut e = CallError::new(kind, format!("simulated {what} (sim endpoint)"));
            e.http_status = Some(status);
            Err(e)
        };
        let pass = match d.outcome {
            DrawOutcome::ServerError => return err(ErrorKind::Server, 500, "server error"),
            DrawOutcome::RateLimited => return err(ErrorKind::RateLimited, 429, "rate limit"),
            DrawOutcome::Pass => true,
            DrawOutcome::Fail => false,
        };
        let text = match &req.purpose {
            // A passing classifier gives the keyword rules' labels, a failing one a wrong guess.
            Purpose::Classify { text } => {
                let (t, p) = classify_keywords(text);
                if pass {
                    format!("{} {}", t.as_str(), p.as_str())
                } else if t.as_str() == "general" {
                    format!("factual {}", p.as_str())
                } else {
                    format!("general {}", p.as_str())
                }
            }
            Purpose::Judge => format!("SIMULATED verdict: [[{}]]", if pass { 8 } else { 3 }),
            Purpose::Candidate => format!(
                "SIMULATED answer of {} ({})",
                req.model,
                if pass { "pass" } else { "fail" }
            ),
        };
        Ok(Answer {
            text,
            // Input tokens are estimated from the prompt; the output count is simulated.
            input_tokens: None,
            output_tokens: Some(d.output_tokens),
            cost: None,
            latency: Latency::Given(d.latency_ms, LatencySource::Simulated),
            server_latency_ms: None,
            ttft_ms: None,
            grade: Some(RecordedGrade {
                score: if pass { 1.0 } else { 0.0 },
                reason: format!("simulated (pass rate {})", p.quality),
            }),
            http_status: None,
            ..Answer::default()
        })
    }
}

impl Provider for Sim {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(self.answer(req))
    }
}

/// The identity of a call: model, prompt and repeat.
/// An item's shared difficulty: its latent `w` and the correlation `ρ` it carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ItemDifficulty {
    pub w: f64,
    pub rho: f64,
}

impl ItemDifficulty {
    /// No shared difficulty: each call an independent coin.
    pub const NONE: ItemDifficulty = ItemDifficulty { w: 0.0, rho: 0.0 };

    /// The difficulty of the item with this prompt, the same for every model of the endpoint.
    pub fn of(seed: u64, prompt: &str, rho: f64) -> ItemDifficulty {
        let mut h = Fnv::default();
        h.write(b"item-difficulty");
        h.write(prompt.as_bytes());
        let mut rng = SplitMix(mix(seed ^ mix(h.0)));
        let u = rng.unit_open();
        ItemDifficulty {
            w: crate::base::normal::z(u),
            rho,
        }
    }

    /// Whether a call with pass rate `quality` passes, given its own uniform draw `u`.
    fn passes(&self, quality: f64, u: f64) -> bool {
        if self.rho <= 0.0 {
            return u < quality;
        }
        let e = crate::base::normal::z(u.clamp(1e-12, 1.0 - 1e-12));
        self.rho.sqrt() * self.w + (1.0 - self.rho).sqrt() * e
            < crate::base::normal::z(quality.clamp(1e-12, 1.0 - 1e-12))
    }
}

fn call_id(req: &CallRequest) -> u64 {
    let mut h = Fnv::default();
    h.write(req.model.as_str().as_bytes());
    h.write(&[0]);
    h.write(req.prompt.as_bytes());
    h.write(&[0]);
    h.write(&req.repeat.to_le_bytes());
    h.0
}

/// FNV-1a: stable across builds and platforms, unlike the standard library's hasher.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix(self.0)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in (0, 1).
    fn unit_open(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Purpose;
    use std::sync::Arc;

    fn profile() -> SimProfile {
        SimProfile {
            p50_ms: 400.0,
            p95_ms: 1200.0,
            error_rate: 0.05,
            rate_limited_rate: 0.10,
            quality: 0.6,
            output_tokens: 100,
        }
    }

    fn sim(seed: u64) -> Sim {
        let mut profiles = HashMap::new();
        profiles.insert(ModelId::parse("sim/a").unwrap(), profile());
        Sim {
            seed,
            time_scale: 0.0,
            item_correlation: 0.0,
            profiles,
            attempts: Mutex::new(HashMap::new()),
        }
    }

    fn req(i: usize) -> CallRequest {
        CallRequest {
            model: ModelId::parse("sim/a").unwrap(),
            wire_name: Arc::from("a"),
            prompt: Arc::from(format!("prompt {i}")),
            messages: None,
            max_tokens: 64,
            temperature: None,
            purpose: Purpose::Candidate,
            repeat: 0,
        }
    }

    fn block<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn summary(s: &Sim, n: usize) -> Vec<String> {
        block(async {
            let mut out = Vec::new();
            for i in 0..n {
                out.push(match s.answer(&req(i)).await {
                    Ok(a) => format!("{:?} {} {:?}", a.latency, a.text, a.output_tokens),
                    Err(e) => format!("{:?}", e.kind),
                });
            }
            out
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_run_and_another_seed_another() {
        let a = summary(&sim(7), 200);
        assert_eq!(a, summary(&sim(7), 200));
        assert_ne!(a, summary(&sim(8), 200));
    }

    #[test]
    fn rates_and_latency_quantiles_follow_the_profile() {
        let p = profile();
        let n = 20_000;
        let draws: Vec<Draw> = (0..n).map(|i| Sim::draw(3, &p, i, 1)).collect();
        let share =
            |o: DrawOutcome| draws.iter().filter(|d| d.outcome == o).count() as f64 / n as f64;
        assert!((share(DrawOutcome::ServerError) - 0.05).abs() < 0.01);
        assert!((share(DrawOutcome::RateLimited) - 0.10).abs() < 0.015);
        // Quality applies to the calls that did not fail: 0.85 × 0.6 = 0.51 pass overall.
        assert!((share(DrawOutcome::Pass) - 0.51).abs() < 0.02);
        let mut lat: Vec<f64> = draws.iter().map(|d| d.latency_ms).collect();
        lat.sort_by(f64::total_cmp);
        let q = |x: f64| lat[(x * (n as f64 - 1.0)) as usize];
        assert!((q(0.5) / 400.0 - 1.0).abs() < 0.05, "p50 {}", q(0.5));
        assert!((q(0.95) / 1200.0 - 1.0).abs() < 0.08, "p95 {}", q(0.95));
        let mean_tokens = draws.iter().map(|d| d.output_tokens).sum::<u64>() as f64 / n as f64;
        assert!((mean_tokens - 100.0).abs() < 3.0, "{mean_tokens}");
    }

    #[test]
    fn a_retry_draws_again_and_answers_are_labelled_simulated() {
        let s = sim(1);
        let (outcomes, first_ok) = block(async {
            let r = req(0);
            let mut v = Vec::new();
            for _ in 0..40 {
                v.push(s.answer(&r).await.map(|a| a.latency).map_err(|e| e.kind));
            }
            let mut ok = None;
            for i in 0..100 {
                if let Ok(a) = s.answer(&req(1000 + i)).await {
                    ok = Some(a);
                    break;
                }
            }
            (v, ok.unwrap())
        });
        // Forty attempts of one call are not one outcome repeated.
        assert!(outcomes.iter().any(|o| o.is_err()) && outcomes.iter().any(|o| o.is_ok()));
        assert!(matches!(
            first_ok.latency,
            Latency::Given(ms, LatencySource::Simulated) if ms > 0.0
        ));
        assert!(first_ok.text.starts_with("SIMULATED"));
        let g = first_ok.grade.unwrap();
        assert!(g.score == 0.0 || g.score == 1.0);
        assert!(g.reason.contains("simulated"));
        assert_eq!(first_ok.input_tokens, None);
    }

    #[test]
    fn errors_carry_their_status_and_kind() {
        let s = sim(2);
        let errs: Vec<CallError> = block(async {
            let mut v = Vec::new();
            for i in 0..400 {
                if let Err(e) = s.answer(&req(i)).await {
                    v.push(e);
                }
            }
            v
        });
        assert!(
            errs.iter()
                .any(|e| e.kind == ErrorKind::Server && e.http_status == Some(500))
        );
        assert!(
            errs.iter()
                .any(|e| e.kind == ErrorKind::RateLimited && e.http_status == Some(429))
        );
        assert!(errs.iter().all(|e| e.kind.retryable()));
    }

    #[test]
    fn shared_item_difficulty_keeps_pass_rates_and_makes_models_fail_the_same_items() {
        let strong = SimProfile {
            error_rate: 0.0,
            rate_limited_rate: 0.0,
            quality: 0.86,
            ..profile()
        };
        let weak = SimProfile {
            quality: 0.76,
            ..strong.clone()
        };
        let n = 20_000;
        let (mut ps, mut pw, mut discordant_shared, mut discordant_indep) = (0, 0, 0, 0);
        for i in 0..n {
            let prompt = format!("item {i}");
            for (rho, discordant) in [(0.6, &mut discordant_shared), (0.0, &mut discordant_indep)] {
                let item = ItemDifficulty::of(9, &prompt, rho);
                let s = Sim::draw_on_item(9, &strong, 2 * i as u64, 1, &item).outcome;
                let w = Sim::draw_on_item(9, &weak, 2 * i as u64 + 1, 1, &item).outcome;
                if rho > 0.0 {
                    ps += usize::from(s == DrawOutcome::Pass);
                    pw += usize::from(w == DrawOutcome::Pass);
                }
                *discordant += usize::from(s != w);
            }
        }
        let share = |k: usize| k as f64 / n as f64;
        assert!((share(ps) - 0.86).abs() < 0.01, "{}", share(ps));
        assert!((share(pw) - 0.76).abs() < 0.01, "{}", share(pw));
        // Independent coins disagree on 0.86·0.24 + 0.14·0.76 = 31% of items; a shared
        // difficulty of ρ = 0.6 cuts that by a third (bivariate normal with ρ = 0.6 at
        // thresholds Φ⁻¹(0.86) and Φ⁻¹(0.76): 21%).
        assert!((share(discordant_indep) - 0.3128).abs() < 0.015);
        let shared = share(discordant_shared);
        assert!((0.19..0.23).contains(&shared), "{shared}");
    }
}
