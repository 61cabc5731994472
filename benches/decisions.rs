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

mod common;

use std::path::Path;

use common::{NS, RHO, Tally, Truth, merge, pool_means, pool_sample, real_pool, roster_config};
use common::{sim_sample, sim_scenarios};
use rayon::prelude::*;
use routecal::base::types::{Cell, ModelId};
use routecal::config::Config;
use routecal::dataset::Dataset;
use routecal::derive::analyze::Analysis;
use routecal::derive::crossfit::CrossFit;
use routecal::derive::policy::{self, Observations};
use routecal::derive::simulate::{self, Routing};

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
    if let Some(q) = simulate::simulate(a, ds, simulate::Scenario::Recommended, table).quality {
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
        if let Some(q) =
            simulate::simulate(a, ds, simulate::Scenario::RecommendedOutOfSample, routing).quality
        {
            tally.claimed_oos.push(q - true_oos);
        }
    }
}

fn sim_cases(dir: &Path, resamples: usize) {
    let cases = sim_scenarios();
    println!("## sim: shipped roster, shared item difficulty (ρ = {RHO})\n\n{HEADER}");
    for (label, current, rates) in &cases {
        let cfg = roster_config(dir, current);
        for n in NS {
            let runs: Vec<(Tally, policy::Recommendation)> = (0..resamples)
                .into_par_iter()
                .map(|r| {
                    let (ds, a) = sim_sample(n, rates, (n * 100_003 + r) as u64);
                    let rec = policy::recommend(&cfg, &Observations::new(&a, &ds));
                    let mut t = Tally::default();
                    let truth = Truth::of(rates);
                    t.score(&cfg, &rec, &truth);
                    claims(&cfg, &a, &ds, &rec, |_, m| truth.quality(m), &mut t);
                    (t, rec)
                })
                .collect();
            println!("{}", merge(runs).row(label, n));
        }
    }
    println!();
}

// ---------------------------------------------------------------------------------------------
// The real recorded pool

fn real_case(dir: &Path, resamples: usize) {
    let (cfg, pool, a) = real_pool(dir);
    println!(
        "## real: llmdrift-happy-500 (500 items × 4 recorded models), samples without replacement, the rest of the pool as truth\n\n{HEADER}"
    );
    for n in NS {
        let runs: Vec<(Tally, policy::Recommendation)> = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let (sample, rest) = pool_sample(&pool, n, r);
                let truth = Truth::of(&pool_means(&a, &rest));
                let rec = policy::recommend(&cfg, &Observations::new(&a, &sample));
                let mut t = Tally::default();
                t.score(&cfg, &rec, &truth);
                claims(&cfg, &a, &sample, &rec, |_, m| truth.quality(m), &mut t);
                (t, rec)
            })
            .collect();
        println!("{}", merge(runs).row("llmdrift-happy-500", n));
    }
    println!();
}
