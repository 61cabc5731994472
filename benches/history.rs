//! The history benchmark: `cargo bench --bench history` (not part of `cargo test`).
//!
//! Four weeks of a team's weekly re-benchmark, each a fresh sample, where the truth is known;
//! every week's items are tested against the earlier weeks' ([`history::pool`], the procedure
//! `run --history` applies) and pooled while no change is shown. It measures:
//!
//! - **(a) savings with pooled evidence**: the decision benchmark's scenarios (simulated roster
//!   with shared item difficulty, `benches/common`), the week-4 decisions made on week 4's
//!   items alone and on weeks 1–4 pooled: harmful changes, detections, savings kept, and the
//!   share of unchanged models whose history was dropped (false alarms of the change test).
//! - **(b) detecting a model that moved**: one model's pass rate drops by 10 points from week
//!   3 on; the share of runs in which week 3's check drops its history (detection), for
//!   several weekly sizes.
//! - both on the recorded `llmdrift-happy-500` pool (weekly samples without replacement from
//!   the 500 items, independently each week, so items repeat across weeks and are tested
//!   paired; the drop is made by failing each of the model's passed answers with probability
//!   0.10 / its pass rate from week 3 on).
//!
//! `ROUTECAL_HISTORY_RESAMPLES` sets the resamples per case (default 100).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

use common::*;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use routecal::base::types::{ModelId, TaskType};
use routecal::config::Config;
use routecal::dataset::Dataset;
use routecal::derive::analyze::{Analysis, ItemOutcome};
use routecal::derive::history::{self, ModelCheck, Status, Week};
use routecal::derive::policy::{self, Observations};

const WEEKS: usize = 4;
/// The change test's level: `1 − confidence` at the default confidence, as `run` uses.
const ALPHA: f64 = 0.05;
/// Items per task type a week, as in the decision benchmark.
const NS: [usize; 4] = [30, 60, 120, 250];
/// Items a week (all task types together) for the detection curve.
const WEEKLY: [usize; 4] = [60, 120, 250, 500];
const DRIFT: f64 = 0.10;
const DRIFTER: &str = "deepseek/deepseek-chat";

fn main() {
    if !std::env::args().any(|a| a == "--bench") && std::env::args().len() <= 1 {
        return;
    }
    let resamples: usize = std::env::var("ROUTECAL_HISTORY_RESAMPLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let work = tempfile::tempdir().expect("a temp folder");
    println!("# History benchmark ({resamples} resamples per case, {WEEKS} weeks)\n");
    savings_sim(work.path(), resamples);
    drift_sim(work.path(), resamples);
    real(work.path(), resamples);
}

// ---------------------------------------------------------------------------------------------
// The weekly procedure

/// One week's graded sample: its items (id, task type) and outcomes.
struct Sample {
    items: Vec<(String, TaskType)>,
    outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
}

impl Sample {
    fn of(ds: &Dataset, a: Analysis) -> Sample {
        Sample {
            items: ds.items.iter().map(|i| (i.id.clone(), i.task)).collect(),
            outcomes: a.outcomes,
        }
    }
}

/// Weeks in order, each pooled with the earlier ones as `run --history` does (a week's own
/// check marks the models it found moved); the checks of every week and the last week's
/// pooled evidence.
fn weekly(samples: &[Sample], models: &[ModelId]) -> (Vec<Vec<ModelCheck>>, history::Pooled) {
    let mut earlier: Vec<Week> = Vec::new();
    let mut checks = Vec::new();
    for (k, s) in samples.iter().enumerate() {
        let p = history::pool(&s.outcomes, &s.items, models, &earlier, ALPHA);
        checks.push(p.checks.clone());
        if k + 1 == samples.len() {
            return (checks, p);
        }
        earlier.insert(
            0,
            Week {
                run_id: format!("week-{}", k + 1),
                items: s.items.iter().cloned().collect(),
                outcomes: s.outcomes.clone(),
                comparable: models.iter().cloned().collect(),
                moved: p
                    .checks
                    .iter()
                    .filter(|c| c.status == Status::Moved)
                    .map(|c| c.model.clone())
                    .collect(),
            },
        );
    }
    unreachable!("at least one week")
}

/// The policy's decisions on `items` with `outcomes`.
fn decide(
    cfg: &Config,
    models: &[ModelId],
    outcomes: BTreeMap<(String, ModelId), ItemOutcome>,
    items: &[(String, TaskType)],
) -> policy::Recommendation {
    let a = Analysis::from_outcomes(outcomes, models.to_vec());
    let obs = Observations::over(&a, items.iter().map(|(id, t)| (id.as_str(), *t)));
    policy::recommend(cfg, &obs)
}

/// Tallies of one case: week 4 alone, weeks 1–4 pooled, and the change test's false alarms
/// (unchanged models whose history a week dropped) over weeks 2–4.
#[derive(Default)]
struct Pair {
    single: Tally,
    pooled: Tally,
    alarms: usize,
    tests: usize,
}

impl Pair {
    fn add(&mut self, o: Pair) {
        add(&mut self.single, o.single);
        add(&mut self.pooled, o.pooled);
        self.alarms += o.alarms;
        self.tests += o.tests;
    }

    fn rows(&self, label: &str, n: &str) -> String {
        let r = |k: usize, of: usize| {
            if of == 0 {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * k as f64 / of as f64)
            }
        };
        let row = |t: &Tally, weeks: &str, alarms: String| {
            format!(
                "| {label} | {n} | {weeks} | {} | {} | {} | {} | {alarms} |",
                r(t.harmful, t.cells),
                r(t.changed, t.cells),
                r(t.detected, t.improvable),
                r(t.saved, t.saveable),
            )
        };
        format!(
            "{}\n{}",
            row(&self.single, "1", "–".into()),
            row(&self.pooled, "4 pooled", r(self.alarms, self.tests))
        )
    }
}

fn add(a: &mut Tally, b: Tally) {
    a.cells += b.cells;
    a.changed += b.changed;
    a.harmful += b.harmful;
    a.improvable += b.improvable;
    a.detected += b.detected;
    a.saveable += b.saveable;
    a.saved += b.saved;
}

const PAIR_HEADER: &str = "| case | n | weeks of evidence | harmful | changed | detected (of improvable) | savings kept | unchanged models' history dropped |\n|---|---|---|---|---|---|---|---|";

/// Score week 4's decisions alone and pooled against the truth.
fn score_pair(
    cfg: &Config,
    models: &[ModelId],
    samples: &[Sample],
    truth: &Truth,
    moved: &BTreeSet<ModelId>,
) -> Pair {
    let (checks, pooled) = weekly(samples, models);
    let last = samples.last().expect("weeks");
    let mut pair = Pair::default();
    let single = decide(cfg, models, last.outcomes.clone(), &last.items);
    pair.single.score(cfg, &single, truth);
    let rec = decide(cfg, models, pooled.outcomes, &pooled.items);
    pair.pooled.score(cfg, &rec, truth);
    for c in checks.iter().skip(1).flatten() {
        if !moved.contains(&c.model) && c.status != Status::NoHistory {
            pair.tests += 1;
            pair.alarms += usize::from(c.status == Status::Moved);
        }
    }
    pair
}

// ---------------------------------------------------------------------------------------------
// Simulated roster

fn id(s: &str) -> ModelId {
    ModelId::parse(s).unwrap()
}

fn base_rates() -> Rates {
    ROSTER
        .iter()
        .map(|(m, p, c, _)| (id(m), (*p, *c)))
        .collect()
}

fn sim_weeks(n: usize, rates: &[Rates], seed: u64) -> Vec<Sample> {
    rates
        .iter()
        .enumerate()
        .map(|(w, r)| {
            let (ds, a) = sim_sample(n, r, seed * 16 + w as u64);
            Sample::of(&ds, a)
        })
        .collect()
}

fn savings_sim(dir: &Path, resamples: usize) {
    let base = base_rates();
    let mut cheap = base.clone();
    cheap.insert(id("deepseek/deepseek-chat"), (0.85, 0.001));
    let mut worse = base.clone();
    worse.insert(id("deepseek/deepseek-chat"), (0.76, 0.001));
    for (m, (p, _)) in worse.iter_mut() {
        if m.as_str() != "anthropic/claude-opus-4-6" && m.as_str() != "deepseek/deepseek-chat" {
            *p = p.min(0.76);
        }
    }
    let cases: [(&str, &str, Rates); 3] = [
        ("current truly best", ROSTER[0].0, base),
        ("cheaper challenger within 1 pt", ROSTER[0].0, cheap),
        ("current worse by 10 pts", "deepseek/deepseek-chat", worse),
    ];
    println!(
        "## (a) sim: week 4 decided on its own items and on weeks 1–4 pooled (n = items per task type a week)\n\n{PAIR_HEADER}"
    );
    for (label, current, rates) in &cases {
        let cfg = Config::load(
            &roster_toml(dir, current),
            routecal::config::prices::PriceTable::shipped(),
            jiff::Timestamp::now(),
        )
        .expect("the bench's routes file loads");
        let models: Vec<ModelId> = rates.keys().cloned().collect();
        let truth = Truth::of(rates);
        for n in NS {
            let all = (0..resamples)
                .into_par_iter()
                .map(|r| {
                    let weeks = sim_weeks(n, &vec![rates.clone(); WEEKS], (n * 100_003 + r) as u64);
                    score_pair(&cfg, &models, &weeks, &truth, &BTreeSet::new())
                })
                .reduce(Pair::default, |mut a, b| {
                    a.add(b);
                    a
                });
            println!("{}", all.rows(label, &n.to_string()));
        }
    }
    println!();
}

/// Detection of one model's drop in week 3, and what week 4 then pools for it.
#[derive(Default)]
struct Detection {
    /// Week 3's decisions on pooled evidence (sim only).
    week3: Tally,
    runs: usize,
    detected_week3: usize,
    /// Week 4 pooled the drifter's history from week 3 only (the change found in week 3).
    week4_from_change: usize,
    alarms: usize,
    tests: usize,
}

impl Detection {
    fn add(mut self, o: Detection) -> Detection {
        self.runs += o.runs;
        self.detected_week3 += o.detected_week3;
        self.week4_from_change += o.week4_from_change;
        self.alarms += o.alarms;
        self.tests += o.tests;
        add(&mut self.week3, o.week3);
        self
    }

    fn of(checks: &[Vec<ModelCheck>], drifter: &ModelId) -> Detection {
        let find = |w: usize| checks[w].iter().find(|c| &c.model == drifter).unwrap();
        let detected = find(2).status == Status::Moved;
        let mut d = Detection {
            runs: 1,
            detected_week3: usize::from(detected),
            week4_from_change: usize::from(detected && find(3).weeks == 1),
            ..Detection::default()
        };
        for c in checks[2].iter().filter(|c| &c.model != drifter) {
            d.tests += 1;
            d.alarms += usize::from(c.status == Status::Moved);
        }
        d
    }

    fn row(&self, label: &str, size: &str) -> String {
        let r = |k: usize, of: usize| format!("{:.1}%", 100.0 * k as f64 / of.max(1) as f64);
        let harmful = if self.week3.cells == 0 {
            "–".to_string()
        } else {
            r(self.week3.harmful, self.week3.cells)
        };
        format!(
            "| {label} | {size} | {} | {} | {} | {harmful} |",
            r(self.detected_week3, self.runs),
            r(self.week4_from_change, self.detected_week3),
            r(self.alarms, self.tests)
        )
    }
}

const DETECTION_HEADER: &str = "| data | items a week | drop detected in week 3 | of those, week 4 pools from week 3 on | unchanged models flagged in week 3 | harmful changes in week 3 (pooled) |\n|---|---|---|---|---|---|";

fn drift_sim(dir: &Path, resamples: usize) {
    println!(
        "## (b) sim: {DRIFTER} drops by {:.0} points from week 3 on (fresh items every week)\n\n{DETECTION_HEADER}",
        DRIFT * 100.0
    );
    let base = base_rates();
    let mut dropped = base.clone();
    dropped.get_mut(&id(DRIFTER)).unwrap().0 -= DRIFT;
    let weeks = [base.clone(), base, dropped.clone(), dropped.clone()];
    let models: Vec<ModelId> = weeks[0].keys().cloned().collect();
    let cfg = Config::load(
        &roster_toml(dir, ROSTER[0].0),
        routecal::config::prices::PriceTable::shipped(),
        jiff::Timestamp::now(),
    )
    .expect("the bench's routes file loads");
    let truth = Truth::of(&dropped);
    for size in WEEKLY {
        let n = (size as f64 / TaskType::ALL.len() as f64).round() as usize;
        let d = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let samples = sim_weeks(n, &weeks, (size * 7_001 + r) as u64);
                let (checks, _) = weekly(&samples, &models);
                let mut d = Detection::of(&checks, &id(DRIFTER));
                // Week 3's decisions on its pooled evidence, scored against week 3's truth.
                let (_, p3) = weekly(&samples[..3], &models);
                let rec = decide(&cfg, &models, p3.outcomes, &p3.items);
                d.week3.score(&cfg, &rec, &truth);
                d
            })
            .reduce(Detection::default, Detection::add);
        let total = n * TaskType::ALL.len();
        println!("{}", d.row("sim", &format!("{total} ({n} per task type)")));
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// The recorded pool

/// One week of the recorded pool: `n` items drawn without replacement; from week 3 on the
/// drifter fails each passed item with probability `DRIFT / its pass rate`.
fn real_week(
    pool: &Dataset,
    a: &Analysis,
    n: usize,
    seed: u64,
    drift: Option<(&ModelId, f64)>,
) -> Sample {
    let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
    let mut ids: Vec<&str> = pool.items.iter().map(|i| i.id.as_str()).collect();
    for k in 0..n {
        let j = rng.random_range(k..ids.len());
        ids.swap(k, j);
    }
    let chosen: HashSet<&str> = ids[..n].iter().copied().collect();
    let ds = pool.subset(|i| chosen.contains(i.id.as_str()));
    let mut outcomes = BTreeMap::new();
    for ((item, m), o) in &a.outcomes {
        if !chosen.contains(item.as_str()) {
            continue;
        }
        let mut o = o.clone();
        if let Some((d, rate)) = drift
            && d == m
            && o.score == Some(1.0)
            && rng.random::<f64>() < DRIFT / rate
        {
            o.score = Some(0.0);
        }
        outcomes.insert((item.clone(), m.clone()), o);
    }
    Sample {
        items: ds.items.iter().map(|i| (i.id.clone(), i.task)).collect(),
        outcomes,
    }
}

fn real(dir: &Path, resamples: usize) {
    let (cfg, pool, a) = real_pool(dir);
    let truth = Truth::of(&pool_means(&a, &pool));
    let models = a.models.clone();
    println!("## (a) real: llmdrift-happy-500, week 4 alone and weeks 1–4 pooled\n\n{PAIR_HEADER}");
    for n in [60, 120, 250] {
        let all = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let weeks: Vec<Sample> = (0..WEEKS)
                    .map(|w| real_week(&pool, &a, n, ((n * 31 + r) * 8 + w) as u64, None))
                    .collect();
                score_pair(&cfg, &models, &weeks, &truth, &BTreeSet::new())
            })
            .reduce(Pair::default, |mut x, y| {
                x.add(y);
                x
            });
        println!("{}", all.rows("llmdrift-happy-500", &n.to_string()));
    }
    let drifter = cfg.table.default.primary.clone();
    let rate = truth.quality(&drifter);
    println!(
        "\n## (b) real: the current primary {drifter} ({rate:.3}) drops by {:.0} points from week 3 on\n\n{DETECTION_HEADER}",
        DRIFT * 100.0
    );
    for n in WEEKLY.iter().copied().filter(|n| *n <= pool.items.len()) {
        let d = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let weeks: Vec<Sample> = (0..WEEKS)
                    .map(|w| {
                        let drift = (w >= 2).then_some((&drifter, rate));
                        real_week(&pool, &a, n, ((n * 37 + r) * 8 + w) as u64, drift)
                    })
                    .collect();
                let (checks, _) = weekly(&weeks, &models);
                Detection::of(&checks, &drifter)
            })
            .reduce(Detection::default, Detection::add);
        println!("{}", d.row("llmdrift-happy-500", &n.to_string()));
    }
    println!();
}
