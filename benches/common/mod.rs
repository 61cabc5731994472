//! Scenarios shared by the decision benchmark (`benches/decisions.rs`), the adaptive sampling
//! benchmark (`benches/adaptive.rs`) and the history benchmark (`benches/history.rs`): the simulated roster with shared item difficulty,
//! the recorded `llmdrift-happy-500` pool, and the scoring of cell decisions against the truth.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{RngExt, SeedableRng};
use routecal::base::types::{Cell, ModelId, Priority, TaskType};
use routecal::config::{Config, SimProfile};
use routecal::dataset::Dataset;
use routecal::derive::analyze::{Analysis, ItemOutcome};
use routecal::derive::policy;
use routecal::provider::sim::{DrawOutcome, ItemDifficulty, Sim};

pub const NS: [usize; 4] = [30, 60, 120, 250];

/// Pass rate and cost per call of each model.
pub type Rates = BTreeMap<ModelId, (f64, f64)>;
pub const RHO: f64 = 0.6;

/// The shipped roster: pass rate, cost per call (USD), tier.
pub const ROSTER: [(&str, f64, f64, &str); 9] = [
    ("anthropic/claude-opus-4-6", 0.86, 0.030, "frontier"),
    ("openai/gpt-5.2", 0.85, 0.020, "frontier"),
    ("google/gemini-3.1-pro-preview", 0.84, 0.015, "frontier"),
    ("deepseek/deepseek-reasoner", 0.82, 0.004, "frontier"),
    ("google/gemini-3-flash-preview", 0.78, 0.002, "frontier"),
    ("deepseek/deepseek-chat", 0.76, 0.001, "frontier"),
    ("cerebras/gpt-oss-120b", 0.74, 0.0008, "frontier"),
    ("groq/llama-3.3-70b", 0.70, 0.0006, "frontier"),
    ("perplexity/sonar", 0.68, 0.0010, "frontier"),
];

// ---------------------------------------------------------------------------------------------
// Scoring

/// Tallies over the cell decisions of one case.
#[derive(Default)]
pub struct Tally {
    pub cells: usize,
    pub changed: usize,
    pub harmful: usize,
    pub better: usize,
    /// Cells whose current primary is truly worse than the best (by the case's gap).
    pub improvable: usize,
    /// Of those, decisions that moved to a truly better model.
    pub detected: usize,
    /// Cells where a cheaper challenger is within the margin.
    pub saveable: usize,
    pub saved: usize,
    pub flaps: usize,
    pub pairs: usize,
    pub claimed_in: Vec<f64>,
    pub claimed_oos: Vec<f64>,
}

/// The truth one decision is scored against: each model's true pass rate and cost per call.
pub struct Truth {
    rates: HashMap<ModelId, (f64, f64)>,
}

impl Truth {
    /// The truth of a table of (pass rate, cost per call) per model.
    pub fn of<'a>(rates: impl IntoIterator<Item = (&'a ModelId, &'a (f64, f64))>) -> Truth {
        Truth {
            rates: rates.into_iter().map(|(m, r)| (m.clone(), *r)).collect(),
        }
    }

    /// True pass rate; 0 for a model the truth does not know.
    pub fn quality(&self, m: &ModelId) -> f64 {
        self.rates.get(m).map_or(0.0, |x| x.0)
    }

    /// True cost per call; unbounded for a model the truth does not know.
    pub fn cost(&self, m: &ModelId) -> f64 {
        self.rates.get(m).map_or(f64::MAX, |x| x.1)
    }
}

pub fn margin(cfg: &Config, cell: Option<Cell>) -> f64 {
    match cell.map(|c| c.priority) {
        Some(Priority::Quality) => cfg.policy.quality_margin,
        _ => cfg.policy.quality_slack,
    }
}

impl Tally {
    pub fn score(&mut self, cfg: &Config, rec: &policy::Recommendation, t: &Truth) {
        let best = cfg
            .models
            .keys()
            .filter(|m| cfg.models[*m].candidate)
            .map(|m| t.quality(m))
            .fold(f64::MIN, f64::max);
        for d in &rec.decisions {
            let (old, new) = (&d.old.primary, &d.new.primary);
            let (qo, qn) = (t.quality(old), t.quality(new));
            let m = margin(cfg, d.cell);
            self.cells += 1;
            self.changed += usize::from(old != new);
            self.harmful += usize::from(qn < qo - m);
            self.better += usize::from(qn > qo);
            if best > qo + 0.005 {
                self.improvable += 1;
                self.detected += usize::from(qn > qo);
            }
            let saver_exists = cfg.models.keys().any(|c| {
                cfg.models[c].candidate
                    && t.cost(c) < 0.5 * t.cost(old)
                    && t.quality(c) >= qo - m
                    && t.quality(c) < qo
            });
            if saver_exists {
                self.saveable += 1;
                self.saved += usize::from(t.cost(new) < t.cost(old) && qn >= qo - m);
            }
        }
    }

    pub fn flap(&mut self, a: &policy::Recommendation, b: &policy::Recommendation) {
        for (x, y) in a.decisions.iter().zip(&b.decisions) {
            self.pairs += 1;
            self.flaps += usize::from(x.new.primary != y.new.primary);
        }
    }

    pub fn row(&self, label: &str, n: usize) -> String {
        let r = |k: usize, of: usize| {
            if of == 0 {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * k as f64 / of as f64)
            }
        };
        let mean = |xs: &[f64]| {
            if xs.is_empty() {
                "–".to_string()
            } else {
                format!("{:+.1}", 100.0 * xs.iter().sum::<f64>() / xs.len() as f64)
            }
        };
        format!(
            "| {label} | {n} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r(self.harmful, self.cells),
            r(self.changed, self.cells),
            r(self.detected, self.improvable),
            r(self.improvable - self.detected, self.improvable),
            r(self.saved, self.saveable),
            r(self.flaps, self.pairs),
            mean(&self.claimed_in),
            mean(&self.claimed_oos),
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Simulated roster with shared item difficulty

pub fn roster_toml(dir: &Path, current: &str) -> PathBuf {
    let mut t = String::from(
        "[classifier]\nmodel = \"builtin/keywords\"\n\n[endpoints.rec]\nkind = \"replay\"\npath = \"rec.jsonl\"\n\n[endpoints.kw]\nkind = \"keywords\"\n\n[models.\"builtin/keywords\"]\nendpoint = \"kw\"\ntier = \"budget\"\n\n",
    );
    for (m, _, _, tier) in ROSTER {
        t.push_str(&format!(
            "[models.\"{m}\"]\nendpoint = \"rec\"\ntier = \"{tier}\"\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n\n"
        ));
    }
    let fallback = if current == ROSTER[1].0 {
        ROSTER[0].0
    } else {
        ROSTER[1].0
    };
    t.push_str(&format!(
        "[default]\nprimary = \"{current}\"\nfallback = \"{fallback}\"\n\n"
    ));
    for task in TaskType::ALL {
        for prio in Priority::ALL {
            t.push_str(&format!(
                "[routes.{task}.{prio}]\nprimary = \"{current}\"\nfallback = \"{fallback}\"\n\n"
            ));
        }
    }
    t.push_str("[policy]\nbootstrap_resamples = 200\n");
    let path = dir.join(format!("routes-{}.toml", current.replace('/', "_")));
    std::fs::write(&path, t).unwrap();
    std::fs::write(dir.join("rec.jsonl"), "").unwrap();
    path
}

/// One weekly sample: `n` items per task type, every roster model answering each through the
/// `sim` provider's own draw (shared item difficulty ρ).
pub fn sim_sample(n: usize, rates: &Rates, seed: u64) -> (Dataset, Analysis) {
    let mut lines = String::new();
    let mut outcomes = BTreeMap::new();
    for task in TaskType::ALL {
        for k in 0..n {
            let id = format!("{task}-{k}-{seed}");
            let prio = Priority::ALL[k % 3];
            lines.push_str(&format!(
                "{{\"id\":\"{id}\",\"prompt\":\"{id}\",\"task_type\":\"{task}\",\"priority\":\"{prio}\",\"grader\":{{\"kind\":\"recorded\"}}}}\n"
            ));
            let item = ItemDifficulty::of(seed, &id, RHO);
            for (j, (m, (quality, cost))) in rates.iter().enumerate() {
                let profile = SimProfile {
                    p50_ms: 800.0,
                    p95_ms: 2000.0,
                    error_rate: 0.0,
                    rate_limited_rate: 0.0,
                    quality: *quality,
                    output_tokens: 200,
                };
                let call = seed ^ ((k as u64) << 20) ^ ((j as u64) << 8) ^ task_code(*task);
                let d = Sim::draw_on_item(seed, &profile, call, 1, &item);
                let pass = d.outcome == DrawOutcome::Pass;
                outcomes.insert(
                    (id.clone(), m.clone()),
                    ItemOutcome {
                        score: Some(if pass { 1.0 } else { 0.0 }),
                        cost_usd: Some(*cost),
                        latency_ms: Some(d.latency_ms),
                        ok: true,
                        retryable_error: false,
                        n_calls: 1,
                        n_errors: 0,
                        latencies: vec![d.latency_ms],
                        binary: true,
                    },
                );
            }
        }
    }
    let ds = Dataset::parse(Path::new("sample.jsonl"), lines.as_bytes()).expect("valid sample");
    (
        ds,
        Analysis::from_outcomes(outcomes, rates.keys().cloned().collect()),
    )
}

pub fn task_code(t: TaskType) -> u64 {
    (TaskType::ALL.iter().position(|x| *x == t).unwrap_or(0) as u64 + 1) << 40
}

/// The sim scenarios: (label, current primary, pass rate and cost of each model). The current
/// primary truly best; truly worse by a gap of 5–25 points (deepseek-chat at 0.86 − gap, opus
/// the only better model); a much cheaper challenger within 1 point.
pub fn sim_scenarios() -> Vec<(String, String, Rates)> {
    let id = |s: &str| ModelId::parse(s).unwrap();
    let base: BTreeMap<ModelId, (f64, f64)> = ROSTER
        .iter()
        .map(|(m, p, c, _)| (id(m), (*p, *c)))
        .collect();
    let mut cases: Vec<(String, String, Rates)> = Vec::new();
    cases.push((
        "current truly best".into(),
        ROSTER[0].0.into(),
        base.clone(),
    ));
    for gap in [0.05, 0.10, 0.15, 0.20, 0.25] {
        let mut r = base.clone();
        r.insert(id("deepseek/deepseek-chat"), (0.86 - gap, 0.001));
        for (m, (p, _)) in r.iter_mut() {
            if m.as_str() != "anthropic/claude-opus-4-6" && m.as_str() != "deepseek/deepseek-chat" {
                *p = p.min(0.86 - gap);
            }
        }
        cases.push((
            format!("current worse by {:.0} pts", gap * 100.0),
            "deepseek/deepseek-chat".into(),
            r,
        ));
    }
    let mut cheap = base.clone();
    cheap.insert(id("deepseek/deepseek-chat"), (0.85, 0.001));
    cases.push((
        "cheaper challenger within 1 pt".into(),
        ROSTER[0].0.into(),
        cheap,
    ));
    cases
}

/// The roster's routes file with `current` as every cell's primary, loaded.
pub fn roster_config(dir: &Path, current: &str) -> Config {
    Config::load(
        &roster_toml(dir, current),
        routecal::config::prices::PriceTable::shipped(),
        jiff::Timestamp::now(),
    )
    .expect("the bench's routes file loads")
}

/// The recorded `llmdrift-happy-500` pool, run offline once into `dir`: its routes file, its
/// dataset and the analysis of every recorded answer.
pub fn real_pool(dir: &Path) -> (Config, Dataset, Analysis) {
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/llmdrift-happy-500");
    let out = dir.join("pool");
    let status = Command::new(env!("CARGO_BIN_EXE_routecal"))
        .args(["run", "--suite"])
        .arg(&suite)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .status()
        .expect("routecal runs");
    assert!(status.success(), "the pool runs offline");
    let run = std::fs::read_dir(&out)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let (cfg, pool) = routecal::cmd::load_inputs(
        &suite.join("routes.toml"),
        &suite.join("dataset.jsonl"),
        jiff::Timestamp::now(),
    )
    .expect("the pool loads");
    let journal = routecal::store::journal::read(&run.join("journal.jsonl")).unwrap();
    let a = routecal::derive::analyze::analyze(&cfg, &pool, &journal.rows).unwrap();
    (cfg, pool, a)
}

/// Resample `r` of `n` items drawn from the pool without replacement, and the rest of the pool.
pub fn pool_sample(pool: &Dataset, n: usize, r: usize) -> (Dataset, Dataset) {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64((n * 7_919 + r) as u64);
    let mut ids: Vec<&str> = pool.items.iter().map(|i| i.id.as_str()).collect();
    for k in 0..n {
        let j = rng.random_range(k..ids.len());
        ids.swap(k, j);
    }
    let chosen: std::collections::HashSet<&str> = ids[..n].iter().copied().collect();
    let sample = pool.subset(|i| chosen.contains(i.id.as_str()));
    let rest = pool.subset(|i| !chosen.contains(i.id.as_str()));
    (sample, rest)
}

pub fn merge(runs: Vec<(Tally, policy::Recommendation)>) -> Tally {
    let mut all = Tally::default();
    for w in runs.windows(2).step_by(2) {
        all.flap(&w[0].1, &w[1].1);
    }
    for (t, _) in runs {
        all.cells += t.cells;
        all.changed += t.changed;
        all.harmful += t.harmful;
        all.better += t.better;
        all.improvable += t.improvable;
        all.detected += t.detected;
        all.saveable += t.saveable;
        all.saved += t.saved;
        all.claimed_in.extend(t.claimed_in);
        all.claimed_oos.extend(t.claimed_oos);
    }
    all
}

/// Mean score and cost per call of each model over `ds`.
pub fn pool_means(a: &Analysis, ds: &Dataset) -> HashMap<ModelId, (f64, f64)> {
    let mut sums: HashMap<ModelId, (f64, f64, usize)> = HashMap::new();
    for ((item, m), o) in &a.outcomes {
        if ds.get(item).is_none() {
            continue;
        }
        let e = sums.entry(m.clone()).or_default();
        e.0 += o.score.unwrap_or(0.0);
        e.1 += o.cost_usd.unwrap_or(0.0);
        e.2 += 1;
    }
    sums.into_iter()
        .map(|(m, (q, c, n))| (m, (q / n as f64, c / n as f64)))
        .collect()
}
