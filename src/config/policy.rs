//! `[policy]`: the knobs of the recommendation policy, each with a default.

use serde::Deserialize;

use super::locate::Check;

/// Knobs of the recommendation policy; every one has a default.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Fewer graded items for a task type keep the current route and flag the cell.
    pub min_samples: usize,
    /// Non-inferiority margin of latency and default cells: a challenger chosen for its lower
    /// p95 or cost must be shown (lower confidence bound of the paired Δquality) to lose at most
    /// this many quality points against the current primary.
    pub quality_slack: f64,
    /// Non-inferiority margin of quality cells: a cheaper challenger must be shown to lose at
    /// most this many quality points against the current primary.
    pub quality_margin: f64,
    /// Confidence level of intervals and tests.
    pub confidence: f64,
    /// A challenger must beat the current route's cost per call (default cells) or p95 latency
    /// (latency cells) by at least this share, significantly, to replace it (0.05 = 5% lower).
    pub min_effect: f64,
    /// A challenger that is significantly better on quality (the lower confidence bound of the
    /// paired Δ above 0, Holm-adjusted) replaces the current primary when its measured Δ is at
    /// least this many points (scores are in [0, 1]); latency and default cells also need it
    /// above `quality_slack`.
    pub min_quality_effect: f64,
    /// Candidates that fail more often than this are not eligible.
    pub max_error_rate: f64,
    /// Bootstrap resamples for intervals.
    pub bootstrap_resamples: usize,
    /// Folds of the cross-fit that reports the recommended table's figures out of sample
    /// (items stratified by task type; each fold scored by a table fitted on the others).
    /// 0 turns it off.
    pub crossfit_folds: usize,
    /// Seed of every resampling, so a report is reproducible.
    pub seed: u64,
    /// Bootstrap resamples of the items on which the policy is re-run to measure how stable
    /// each decision is (the flap rate); 0 turns the measurement off.
    pub stability_resamples: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            min_samples: 20,
            quality_slack: 0.03,
            quality_margin: 0.01,
            confidence: 0.95,
            min_effect: 0.05,
            min_quality_effect: 0.05,
            max_error_rate: 0.10,
            bootstrap_resamples: 1000,
            crossfit_folds: 5,
            seed: 20_260_528,
            stability_resamples: 0,
        }
    }
}

/// `[policy]`: every knob within its range (the defaults are).
pub(super) fn check(p: &PolicyConfig, ck: &mut Check) {
    if !(0.5..1.0).contains(&p.confidence) {
        ck.err(
            &["policy", "confidence"],
            format!("must be within [0.5, 1), found {}", p.confidence),
        );
    }
    if !(0.0..=1.0).contains(&p.quality_slack) {
        ck.err(
            &["policy", "quality_slack"],
            format!("must be within [0, 1], found {}", p.quality_slack),
        );
    }
    if !(0.0..=1.0).contains(&p.quality_margin) {
        ck.err(
            &["policy", "quality_margin"],
            format!(
                "must be within [0, 1] (quality points), found {}",
                p.quality_margin
            ),
        );
    }
    if p.crossfit_folds == 1 || p.crossfit_folds > 20 {
        ck.err(
            &["policy", "crossfit_folds"],
            format!(
                "must be 0 (off) or within 2..=20, found {}",
                p.crossfit_folds
            ),
        );
    }
    if !(0.0..1.0).contains(&p.min_effect) {
        ck.err(
            &["policy", "min_effect"],
            format!(
                "must be within [0, 1) (a share: 0.05 = 5% lower), found {}",
                p.min_effect
            ),
        );
    }
    if !(0.0..=1.0).contains(&p.min_quality_effect) {
        ck.err(
            &["policy", "min_quality_effect"],
            format!(
                "must be within [0, 1] (quality points), found {}",
                p.min_quality_effect
            ),
        );
    }
    if !(0.0..=1.0).contains(&p.max_error_rate) {
        ck.err(
            &["policy", "max_error_rate"],
            format!("must be within [0, 1], found {}", p.max_error_rate),
        );
    }
    if p.stability_resamples > 10_000 {
        ck.err(
            &["policy", "stability_resamples"],
            "use at most 10000 resamples (50 measure the flap rate well)",
        );
    }
    if p.bootstrap_resamples < 100 {
        ck.err(
            &["policy", "bootstrap_resamples"],
            "use at least 100 resamples",
        );
    }
}
