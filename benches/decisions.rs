//! The decision benchmark: `cargo bench --bench decisions` (not part of `cargo test`).
//!
//! It re-benchmarks like a team does each week — a fresh sample of `n` items per task type — many
//! times over, where the truth is known, and scores every cell decision of the policy against it:
//!
//! - **sim**: the shipped roster with known pass rates and *shared item difficulty*, drawn by
//!   the `sim` provider's own [`Sim::draw_on_item`]: each item has a latent difficulty
//!   `w ~ N(0, 1)`, and model `m` passes it when `√ρ·w + √(1 − ρ)·e < Φ⁻¹(p_m)` with
//!   `e ~ N(0, 1)` its own noise (ρ = 0.6, the `sim` default), so every model passes with
//!   probability `p_m` and strong and weak models fail the same hard items, as real ones do. Scenarios: the current primary truly best; truly worse by a gap g (0.05–0.25);
//!   a much cheaper challenger within 1 point.
//! - **real**: the recorded `llmdrift-happy-500` pool (500 questions × 4 real models, graded):
//!   samples of `n` items without replacement, the rest of the pool as the truth.
//!
//! Per `n` it prints the rates of harmful changes (the new primary truly worse than the old by
//! more than the cell's margin), correct changes, misses, flaps (two independent weeks propose
//! different primaries), the detection rate against the true gap, the savings kept, and the
//! recommended table's claimed quality in-sample and out of sample (cross-fitted) minus its true
//! quality. `ROUTECAL_DECISIONS_RESAMPLES` sets the resamples per case (default 100).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use routecal::base::types::{Cell, ModelId, Priority, TaskType};
use routecal::config::{Config, SimProfile};
use routecal::dataset::Dataset;
use routecal::derive::analyze::{Analysis, ItemOutcome};
use routecal::derive::crossfit::CrossFit;
use routecal::derive::policy::{self, Observations};
use routecal::derive::simulate::{self, Routing};
use routecal::provider::sim::{DrawOutcome, ItemDifficulty, Sim};

const NS: [usize; 4] = [30, 60, 120, 250];

/// Pass rate and cost per call of each model.
type Rates = BTreeMap<ModelId, (f64, f64)>;
const RHO: f64 = 0.6;

/// The shipped roster: pass rate, cost per call (USD), tier.
const ROSTER: [(&str, f64, f64, &str); 9] = [
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

fn main() {
    if !std::env::args().any(|a| a == "--bench") && std::env::args().len() <= 1 {
        // `cargo test --all-targets` runs benches without `--bench`: nothing to do there.
        return;
    }
    let resamples: usize = std::env::var("ROUTECAL_DECISIONS_RESAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let work = tempfile::tempdir().expect("a temp folder");
    println!("# Decision benchmark ({resamples} resamples per case; n = items per task type)\n");
    sim_cases(work.path(), resamples);
    real_case(work.path(), resamples);
}

// ---------------------------------------------------------------------------------------------
// Scoring

/// Tallies over the cell decisions of one case.
#[derive(Default)]
struct Tally {
    cells: usize,
    changed: usize,
    harmful: usize,
    better: usize,
    /// Cells whose current primary is truly worse than the best (by the case's gap).
    improvable: usize,
    /// Of those, decisions that moved to a truly better model.
    detected: usize,
    /// Cells where a cheaper challenger is within the margin.
    saveable: usize,
    saved: usize,
    flaps: usize,
    pairs: usize,
    claimed_in: Vec<f64>,
    claimed_oos: Vec<f64>,
}

/// The truth one decision is scored against.
struct Truth<'a> {
    quality: &'a dyn Fn(&ModelId) -> f64,
    cost: &'a dyn Fn(&ModelId) -> f64,
}

fn margin(cfg: &Config, cell: Option<Cell>) -> f64 {
    match cell.map(|c| c.priority) {
        Some(Priority::Quality) => cfg.policy.quality_margin,
        _ => cfg.policy.quality_slack,
    }
}

impl Tally {
    fn score(&mut self, cfg: &Config, rec: &policy::Recommendation, t: &Truth) {
        let best = cfg
            .models
            .keys()
            .filter(|m| cfg.models[*m].candidate)
            .map(|m| (t.quality)(m))
            .fold(f64::MIN, f64::max);
        for d in &rec.decisions {
            let (old, new) = (&d.old.primary, &d.new.primary);
            let (qo, qn) = ((t.quality)(old), (t.quality)(new));
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
                    && (t.cost)(c) < 0.5 * (t.cost)(old)
                    && (t.quality)(c) >= qo - m
                    && (t.quality)(c) < qo
            });
            if saver_exists {
                self.saveable += 1;
                self.saved += usize::from((t.cost)(new) < (t.cost)(old) && qn >= qo - m);
            }
        }
    }

    fn flap(&mut self, a: &policy::Recommendation, b: &policy::Recommendation) {
        for (x, y) in a.decisions.iter().zip(&b.decisions) {
            self.pairs += 1;
            self.flaps += usize::from(x.new.primary != y.new.primary);
        }
    }

    fn row(&self, label: &str, n: usize) -> String {
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

const HEADER: &str = "| case | n | harmful | changed | detected (of improvable) | missed | savings kept | flaps | claimed − true, in-sample (pts) | claimed − true, out of sample (pts) |\n|---|---|---|---|---|---|---|---|---|---|";

/// Claimed (in-sample and cross-fitted) minus true quality of the recommended table.
fn claims(
    cfg: &Config,
    a: &Analysis,
    ds: &Dataset,
    rec: &policy::Recommendation,
    truth: impl Fn(&crate::Cell, &ModelId) -> f64,
    tally: &mut Tally,
) {
    let true_q = {
        let per_item: Vec<f64> = ds
            .items
            .iter()
            .map(|i| {
                let c = Cell::new(i.task, i.priority);
                truth(&c, &rec.table.route(c).primary)
            })
            .collect();
        per_item.iter().sum::<f64>() / per_item.len() as f64
    };
    let table = Routing::Table {
        table: &rec.table,
        classifier: None,
    };
    if let Some(q) = simulate::simulate(a, ds, "in", table).quality {
        tally.claimed_in.push(q - true_q);
    }
    if let Some(fit) = CrossFit::fit(cfg, a, ds) {
        // The cross-fitted figure claims what a table fitted this way delivers: its truth is
        // the mean true quality of the fold tables' choices.
        let true_oos: f64 = ds
            .items
            .iter()
            .map(|i| {
                let c = Cell::new(i.task, i.priority);
                truth(
                    &c,
                    &fit.table_for(&i.id)
                        .expect("every item has a fold")
                        .route(c)
                        .primary,
                )
            })
            .sum::<f64>()
            / ds.items.len() as f64;
        let routing = Routing::CrossFitted {
            fit: &fit,
            classifier: None,
        };
        if let Some(q) = simulate::simulate(a, ds, "oos", routing).quality {
            tally.claimed_oos.push(q - true_oos);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Simulated roster with shared item difficulty

fn roster_toml(dir: &Path, current: &str) -> PathBuf {
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
fn sim_sample(n: usize, rates: &Rates, seed: u64) -> (Dataset, Analysis) {
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

fn task_code(t: TaskType) -> u64 {
    (TaskType::ALL.iter().position(|x| *x == t).unwrap_or(0) as u64 + 1) << 40
}

fn sim_cases(dir: &Path, resamples: usize) {
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

    println!("## sim: shipped roster, shared item difficulty (ρ = {RHO})\n\n{HEADER}");
    for (label, current, rates) in &cases {
        let cfg = Config::load(
            &roster_toml(dir, current),
            routecal::config::prices::PriceTable::shipped(),
            jiff::Timestamp::now(),
        )
        .expect("the bench's routes file loads");
        for n in NS {
            let runs: Vec<(Tally, policy::Recommendation)> = (0..resamples)
                .into_par_iter()
                .map(|r| {
                    let (ds, a) = sim_sample(n, rates, (n * 100_003 + r) as u64);
                    let rec = policy::recommend(&cfg, &Observations::new(&a, &ds));
                    let mut t = Tally::default();
                    let q = |m: &ModelId| rates.get(m).map(|x| x.0).unwrap_or(0.0);
                    let c = |m: &ModelId| rates.get(m).map(|x| x.1).unwrap_or(f64::MAX);
                    t.score(
                        &cfg,
                        &rec,
                        &Truth {
                            quality: &q,
                            cost: &c,
                        },
                    );
                    claims(&cfg, &a, &ds, &rec, |_, m| q(m), &mut t);
                    (t, rec)
                })
                .collect();
            println!("{}", merge(runs).row(label, n));
        }
    }
    println!();
}

fn merge(runs: Vec<(Tally, policy::Recommendation)>) -> Tally {
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

// ---------------------------------------------------------------------------------------------
// The real recorded pool

fn real_case(dir: &Path, resamples: usize) {
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
    println!(
        "## real: llmdrift-happy-500 (500 items × 4 recorded models), samples without replacement, the rest of the pool as truth\n\n{HEADER}"
    );
    for n in NS {
        let runs: Vec<(Tally, policy::Recommendation)> = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64((n * 7_919 + r) as u64);
                let mut ids: Vec<&str> = pool.items.iter().map(|i| i.id.as_str()).collect();
                for k in 0..n {
                    let j = rng.random_range(k..ids.len());
                    ids.swap(k, j);
                }
                let chosen: std::collections::HashSet<&str> = ids[..n].iter().copied().collect();
                let sample = pool.subset(|i| chosen.contains(i.id.as_str()));
                let rest = pool.subset(|i| !chosen.contains(i.id.as_str()));
                let truth = pool_means(&a, &rest);
                let q = |m: &ModelId| truth.get(m).map(|x| x.0).unwrap_or(0.0);
                let c = |m: &ModelId| truth.get(m).map(|x| x.1).unwrap_or(f64::MAX);
                let rec = policy::recommend(&cfg, &Observations::new(&a, &sample));
                let mut t = Tally::default();
                t.score(
                    &cfg,
                    &rec,
                    &Truth {
                        quality: &q,
                        cost: &c,
                    },
                );
                claims(&cfg, &a, &sample, &rec, |_, m| q(m), &mut t);
                (t, rec)
            })
            .collect();
        println!("{}", merge(runs).row("llmdrift-happy-500", n));
    }
    println!();
}

/// Mean score and cost per call of each model over `ds`.
fn pool_means(a: &Analysis, ds: &Dataset) -> HashMap<ModelId, (f64, f64)> {
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
