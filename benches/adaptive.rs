//! The adaptive sampling benchmark: `cargo bench --bench adaptive` (not part of `cargo test`).
//!
//! On the decision benchmark's scenarios (`benches/common`: the simulated roster with shared item
//! difficulty and the recorded `llmdrift-happy-500` pool), each resample is decided twice on the
//! same items: by the full fixed design (every item × every candidate, [`policy::recommend`]) and
//! by the sequential design of `run --adaptive` ([`sequential::replay`]: stratified seeded batches,
//! Hwang–Shih–DeCani error spending, challengers dropped for futility, pairs stopped once they
//! cannot change a decision). It
//! prints, per case and `n`:
//!
//! - **same decision**: cells whose proposed primary is the same under both designs, and how the
//!   others differ (only the full design moved, only the adaptive one moved, both moved to
//!   different models);
//! - **harmful** (adaptive, and full for reference): the new primary truly worse than the old by
//!   more than the cell's margin;
//! - **detected** (adaptive / full): cells whose current primary is truly beaten that moved to a
//!   truly better model;
//! - **candidate calls**: the adaptive design's calls as a share of the full design's.
//!
//! The pure stopping rule is simulated here without the runner: the replay reads only the
//! outcomes the design would have called, so it is exactly what a run makes and decides.
//! `ROUTECAL_DECISIONS_RESAMPLES` sets the resamples per case (default 100); `ROUTECAL_ADAPTIVE_LOOKS`
//! the looks (default [`sequential::DEFAULT_LOOKS`]), `ROUTECAL_ADAPTIVE_GAMMA` the spending
//! function's γ and `ROUTECAL_ADAPTIVE_FUTILITY` the futility threshold (defaults: those of a new
//! adaptive run).

mod common;

use std::path::Path;

use common::{NS, RHO, Tally, Truth, pool_means, pool_sample, real_pool, roster_config};
use common::{sim_sample, sim_scenarios};
use rayon::prelude::*;
use routecal::config::Config;
use routecal::dataset::Dataset;
use routecal::derive::analyze::Analysis;
use routecal::derive::policy::{self, Observations};
use routecal::derive::sequential::{self, Design, Spending};

fn main() {
    if !std::env::args().any(|a| a == "--bench") && std::env::args().len() <= 1 {
        // `cargo test --all-targets` runs benches without `--bench`: nothing to do there.
        return;
    }
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse().ok());
    let resamples: usize = env("ROUTECAL_DECISIONS_RESAMPLES").unwrap_or(100);
    let looks: usize = env("ROUTECAL_ADAPTIVE_LOOKS").unwrap_or(sequential::DEFAULT_LOOKS);
    let work = tempfile::tempdir().expect("a temp folder");
    println!(
        "# Adaptive sampling benchmark ({resamples} resamples per case, {looks} looks; n = items per task type)\n"
    );
    let mut all = Pair::default();
    all.add(&sim_cases(work.path(), resamples, looks));
    all.add(&real_case(work.path(), resamples, looks));
    println!("{HEADER}\n{}", all.row("every case above", 0));
}

const HEADER: &str = "| case | n | same decision | differ: only full moved / only adaptive moved / other model | harmful (adaptive) | harmful (full) | detected adaptive / full | candidate calls |\n|---|---|---|---|---|---|---|---|";

/// The two designs' tallies on the same resamples.
#[derive(Default)]
struct Pair {
    full: Tally,
    adaptive: Tally,
    cells: usize,
    same: usize,
    /// Disagreements: the full design moved, the adaptive one kept.
    only_full: usize,
    /// Disagreements: the adaptive design moved, the full one kept.
    only_adaptive: usize,
    calls_made: usize,
    calls_full: usize,
}

impl Pair {
    fn add(&mut self, o: &Pair) {
        for (into, from) in [(&mut self.full, &o.full), (&mut self.adaptive, &o.adaptive)] {
            into.cells += from.cells;
            into.harmful += from.harmful;
            into.improvable += from.improvable;
            into.detected += from.detected;
            into.changed += from.changed;
        }
        self.cells += o.cells;
        self.same += o.same;
        self.only_full += o.only_full;
        self.only_adaptive += o.only_adaptive;
        self.calls_made += o.calls_made;
        self.calls_full += o.calls_full;
    }

    fn row(&self, label: &str, n: usize) -> String {
        let r = |k: usize, of: usize| {
            if of == 0 {
                "–".to_string()
            } else {
                format!("{:.1}%", 100.0 * k as f64 / of as f64)
            }
        };
        let n = if n == 0 { "all".into() } else { n.to_string() };
        let other = self.cells - self.same - self.only_full - self.only_adaptive;
        format!(
            "| {label} | {n} | {} | {} / {} / {} | {} | {} | {} / {} | {} |",
            r(self.same, self.cells),
            r(self.only_full, self.cells),
            r(self.only_adaptive, self.cells),
            r(other, self.cells),
            r(self.adaptive.harmful, self.adaptive.cells),
            r(self.full.harmful, self.full.cells),
            r(self.adaptive.detected, self.adaptive.improvable),
            r(self.full.detected, self.full.improvable),
            r(self.calls_made, self.calls_full),
        )
    }
}

/// One resample decided by both designs and scored against the truth.
fn both(cfg: &Config, design: &Design, ds: &Dataset, a: &Analysis, truth: &Truth) -> Pair {
    let full = policy::recommend(cfg, &Observations::new(a, ds));
    let adaptive = sequential::replay(cfg, design, ds, a, design.looks);
    let mut p = Pair::default();
    p.full.score(cfg, &full, truth);
    p.adaptive.score(cfg, &adaptive.rec, truth);
    for (f, s) in full.decisions.iter().zip(&adaptive.rec.decisions) {
        assert_eq!(f.cell, s.cell, "both designs list the same cells");
        p.cells += 1;
        let (moved_f, moved_s) = (
            f.new.primary != f.old.primary,
            s.new.primary != s.old.primary,
        );
        p.same += usize::from(f.new.primary == s.new.primary);
        p.only_full += usize::from(moved_f && !moved_s);
        p.only_adaptive += usize::from(moved_s && !moved_f);
    }
    p.calls_made = adaptive.summary.calls.made;
    p.calls_full = adaptive.summary.calls.full;
    p
}

/// The design of a new adaptive run under `cfg`, with the benchmark's overrides:
/// `ROUTECAL_ADAPTIVE_GAMMA` (the Hwang–Shih–DeCani γ) and `ROUTECAL_ADAPTIVE_FUTILITY`.
fn design(cfg: &Config, looks: usize) -> Design {
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<f64>().ok());
    let mut d = sequential::default_design(cfg);
    d.looks = looks;
    if let Some(gamma) = env("ROUTECAL_ADAPTIVE_GAMMA") {
        d.spending = Spending::HwangShihDecani { gamma };
    }
    if let Some(power) = env("ROUTECAL_ADAPTIVE_FUTILITY") {
        d.futility.power = power;
    }
    d
}

fn sim_cases(dir: &Path, resamples: usize, looks: usize) -> Pair {
    println!("## sim: shipped roster, shared item difficulty (ρ = {RHO})\n\n{HEADER}");
    let mut total = Pair::default();
    for (label, current, rates) in &sim_scenarios() {
        let cfg = roster_config(dir, current);
        let design = design(&cfg, looks);
        for n in NS {
            let runs: Vec<Pair> = (0..resamples)
                .into_par_iter()
                .map(|r| {
                    let (ds, a) = sim_sample(n, rates, (n * 100_003 + r) as u64);
                    both(&cfg, &design, &ds, &a, &Truth::of(rates))
                })
                .collect();
            let mut case = Pair::default();
            runs.iter().for_each(|p| case.add(p));
            println!("{}", case.row(label, n));
            total.add(&case);
        }
    }
    println!("{}\n", total.row("sim, every case", 0));
    total
}

fn real_case(dir: &Path, resamples: usize, looks: usize) -> Pair {
    let (cfg, pool, a) = real_pool(dir);
    let design = design(&cfg, looks);
    println!("## real: llmdrift-happy-500, samples without replacement\n\n{HEADER}");
    let mut total = Pair::default();
    for n in NS {
        let runs: Vec<Pair> = (0..resamples)
            .into_par_iter()
            .map(|r| {
                let (sample, rest) = pool_sample(&pool, n, r);
                let truth = Truth::of(&pool_means(&a, &rest));
                both(&cfg, &design, &sample, &a, &truth)
            })
            .collect();
        let mut case = Pair::default();
        runs.iter().for_each(|p| case.add(p));
        println!("{}", case.row("llmdrift-happy-500", n));
        total.add(&case);
    }
    println!();
    total
}
