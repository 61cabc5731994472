//! How far the policy's decisions can be trusted to be more than noise: the items are
//! resampled (a bootstrap stratified by task type, with a fixed seed), the policy is run again
//! on each resample, and every cell's primary is compared with the full data's decision.
//!
//! The *flap rate* is the share of (resample, cell) pairs, over the cells whose current route
//! the full data keeps while its closest challenger is within the noise (no significant quality
//! difference, kept as undecided or best), in which a resample moves the route.
//! Hysteresis exists to keep it at zero.

use crate::base::types::ModelId;
use crate::config::Config;
use crate::derive::policy::{self, Observations, Outcome, Recommendation};
use crate::derive::stats;

/// One cell across the resamples.
#[derive(Debug, Clone, PartialEq)]
pub struct CellStability {
    pub cell: String,
    pub current: ModelId,
    /// The full data's decision.
    pub proposed: ModelId,
    pub outcome: Outcome,
    /// The full data keeps the current route while no challenger is significantly different.
    pub within_noise: bool,
    /// The challenger's quality lead over the current primary in standard errors (from the
    /// interval's half-width; negative when it trails), when there is a challenger.
    pub lead_in_se: Option<f64>,
    /// Resamples whose primary equals the full data's.
    pub agree: usize,
    /// Resamples whose primary differs from the current one.
    pub moved: usize,
}

impl CellStability {
    pub fn kept(&self) -> bool {
        self.current == self.proposed
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Stability {
    pub resamples: usize,
    pub seed: u64,
    pub cells: Vec<CellStability>,
}

impl Stability {
    fn rate(&self, cells: impl Iterator<Item = usize>) -> Option<f64> {
        let (mut moved, mut n) = (0, 0);
        for m in cells {
            moved += m;
            n += self.resamples;
        }
        (n > 0).then(|| moved as f64 / n as f64)
    }

    /// Moves of the current route, over the cells whose current route is within the noise.
    pub fn flap_rate(&self) -> Option<f64> {
        self.rate(
            self.cells
                .iter()
                .filter(|c| c.within_noise)
                .map(|c| c.moved),
        )
    }

    /// Moves of the current route, over the cells within the noise whose challenger is less than
    /// one standard error away from the current primary.
    pub fn flap_rate_within_one_se(&self) -> Option<f64> {
        self.rate(
            self.cells
                .iter()
                .filter(|c| c.within_noise && c.lead_in_se.is_some_and(|l| l.abs() < 1.0))
                .map(|c| c.moved),
        )
    }

    /// Moves of the current route, over every cell the full data keeps.
    pub fn kept_move_rate(&self) -> Option<f64> {
        self.rate(self.cells.iter().filter(|c| c.kept()).map(|c| c.moved))
    }

    /// Share of resamples that propose the same primary, over the cells the full data changes.
    pub fn change_reproducibility(&self) -> Option<f64> {
        let changed: Vec<&CellStability> = self.cells.iter().filter(|c| !c.kept()).collect();
        let n = changed.len() * self.resamples;
        (n > 0).then(|| changed.iter().map(|c| c.agree).sum::<usize>() as f64 / n as f64)
    }
}

/// Whether a kept cell's current route is within the noise of its closest challenger: the
/// full data keeps it, and the paired test finds no quality difference between the two.
fn within_noise(d: &policy::Decision) -> bool {
    d.old.primary == d.new.primary
        && d.evidence
            .as_ref()
            .and_then(|e| e.quality.as_ref())
            .is_some_and(|q| !q.significant)
}

fn lead_in_se(d: &policy::Decision, confidence: f64) -> Option<f64> {
    let q = d.evidence.as_ref()?.quality.as_ref()?;
    let se = (q.delta.high - q.delta.low) / 2.0 / stats::z_for(confidence);
    (se > 0.0).then(|| q.delta.value / se)
}

/// Run the policy on `resamples` bootstrap resamples of the items.
pub fn measure(cfg: &Config, obs: &Observations, resamples: usize, seed: u64) -> Stability {
    let full: Recommendation = policy::recommend(cfg, obs);
    let mut cells: Vec<CellStability> = full
        .decisions
        .iter()
        .map(|d| CellStability {
            cell: d.label(),
            current: d.old.primary.clone(),
            proposed: d.new.primary.clone(),
            outcome: d.outcome,
            within_noise: within_noise(d),
            lead_in_se: lead_in_se(d, cfg.policy.confidence),
            agree: 0,
            moved: 0,
        })
        .collect();
    let mut rng = stats::rng_for(seed, "stability");
    for _ in 0..resamples {
        let again = policy::primaries(&policy::recommend(cfg, &obs.resample(&mut rng)));
        for c in &mut cells {
            if let Some(p) = again.get(&c.cell) {
                c.agree += usize::from(*p == c.proposed);
                c.moved += usize::from(*p != c.current);
            }
        }
    }
    Stability {
        resamples,
        seed,
        cells,
    }
}
