//! Paired inference for route decisions: one procedure gives a decision's interval, its test,
//! its minimum detectable effect and the items that would settle it, so a printed interval and
//! the test behind a decision can never disagree.
//!
//! - **The difference.** For paired scores `a_i, b_i ∈ [0, 1]` the difference of means is
//!   estimated with Agresti and Min's adjustment for matched proportions (Agresti & Min, 2005,
//!   "Simple improved confidence intervals for comparing matched proportions", *Statistics in
//!   Medicine* 24:729–740): half a pseudo-observation is added to each of the four cells of the
//!   2×2 table, that is, the differences `d_i = a_i − b_i` gain one `+1` and one `−1` pair at weight
//!   ½ each and one `0` at weight 1 (`n + 2` observations). For pass/fail scores this is exactly
//!   their adjusted Wald interval; for graded scores it is the same shrinkage. It keeps the
//!   interval honest when every pair agrees (an unadjusted standard error would be 0).
//! - **Tests.** A one-sided test of `H0: Δ ≤ θ` rejects at level `α` exactly when the lower bound
//!   of the two-sided `1 − 2α` interval lies above `θ` (normal reference distribution).
//! - **Families.** Several challengers of one cell are tested together with Holm's step-down
//!   procedure (Holm, 1979, "A simple sequentially rejective multiple test procedure",
//!   *Scandinavian Journal of Statistics* 6:65–70), which controls the family-wise error rate.
//!   Each hypothesis is printed with the interval at the level it was tested at, so the
//!   interval and the adjusted decision agree.
//! - **Sizing.** The minimum detectable effect at `n` items is `(z_{1−α} + z_{power}) · s / √n`,
//!   with `s` the adjusted standard deviation of the differences and 80% power.

pub use crate::base::normal::{upper_tail, z};

/// The power the minimum detectable effect and the items-needed figures are computed for.
pub const POWER: f64 = 0.8;

/// A paired difference of mean scores (`a − b`) with its adjusted standard error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairedDifference {
    /// Pairs measured.
    pub n: usize,
    /// The plain difference of means, `mean(a) − mean(b)`: what reports print as Δ.
    pub delta: f64,
    /// The adjusted difference the test is centred on (pulled slightly toward 0).
    pub centre: f64,
    /// Adjusted standard deviation of one difference.
    pub sd: f64,
}

impl PairedDifference {
    /// From paired scores in `[0, 1]`; `None` without pairs.
    pub fn new(a: &[f64], b: &[f64]) -> Option<PairedDifference> {
        let n = a.len().min(b.len());
        if n == 0 {
            return None;
        }
        let (mut sum, mut sum_sq) = (0.0, 0.0);
        for (x, y) in a.iter().zip(b) {
            let d = x - y;
            sum += d;
            sum_sq += d * d;
        }
        let nf = n as f64;
        // Pseudo-observations: +1 and −1 at weight ½ each, 0 at weight 1.
        let m = nf + 2.0;
        let centre = sum / m;
        let var = ((sum_sq + 1.0) / m - centre * centre).max(0.0);
        Some(PairedDifference {
            n,
            delta: sum / nf,
            centre,
            sd: var.sqrt(),
        })
    }

    /// Standard error of the adjusted difference.
    pub fn se(&self) -> f64 {
        self.sd / (self.n as f64 + 2.0).sqrt()
    }

    /// The two-sided interval whose lower bound is the one-sided test at level `alpha`
    /// (confidence `1 − 2·alpha`), clamped to `[−1, 1]`; `value` is the plain difference.
    pub fn interval(&self, alpha: f64) -> crate::derive::stats::Estimate {
        let h = z(1.0 - alpha) * self.se();
        crate::derive::stats::Estimate {
            value: self.delta,
            low: (self.centre - h).max(-1.0),
            high: (self.centre + h).min(1.0),
        }
    }

    /// One-sided p-value of `H0: Δ ≤ theta` (small when the difference is surely above `theta`).
    pub fn p_above(&self, theta: f64) -> f64 {
        let se = self.se();
        if se <= 0.0 {
            return if self.centre > theta { 0.0 } else { 1.0 };
        }
        upper_tail((self.centre - theta) / se)
    }

    /// Smallest true difference a one-sided test at level `alpha` detects with [`POWER`] at
    /// this sample size.
    pub fn mde(&self, alpha: f64) -> f64 {
        (z(1.0 - alpha) + z(POWER)) * self.se()
    }

    /// Pairs needed for the interval at level `alpha` to exclude `theta` on the side the
    /// observed difference lies (with [`POWER`]), assuming the observed difference and spread
    /// hold; `None` when the observed difference sits on `theta`.
    pub fn items_to_settle(&self, theta: f64, alpha: f64) -> Option<usize> {
        let gap = (self.centre - theta).abs();
        if gap < 1e-9 {
            return None;
        }
        let n = ((z(1.0 - alpha) + z(POWER)) * self.sd / gap).powi(2) - 2.0;
        (n.is_finite() && n < 1e9).then(|| n.max(1.0).ceil() as usize)
    }
}

/// One hypothesis of a family: `H0: Δ ≤ theta` for one paired difference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hypothesis {
    pub difference: PairedDifference,
    pub theta: f64,
}

/// The outcome of one hypothesis under Holm's procedure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tested {
    /// Unadjusted one-sided p-value.
    pub p: f64,
    /// Holm-adjusted p-value (monotone step-down, capped at 1).
    pub p_adjusted: f64,
    /// The one-sided level this hypothesis was tested at (`alpha / (k − step + 1)`, or the
    /// level of the step where the procedure stopped).
    pub level: f64,
    /// The two-sided interval at `1 − 2·level`: its lower bound is above `theta` exactly when
    /// the hypothesis is rejected.
    pub interval: crate::derive::stats::Estimate,
    pub rejected: bool,
}

/// Holm's step-down test of a family of one-sided hypotheses at family-wise level `alpha`,
/// in the order given.
pub fn holm(family: &[Hypothesis], alpha: f64) -> Vec<Tested> {
    let k = family.len();
    let ps: Vec<f64> = family
        .iter()
        .map(|h| h.difference.p_above(h.theta))
        .collect();
    let mut order: Vec<usize> = (0..k).collect();
    order.sort_by(|&x, &y| ps[x].total_cmp(&ps[y]).then(x.cmp(&y)));
    let mut out: Vec<Option<Tested>> = vec![None; k];
    let mut stopped_at: Option<f64> = None;
    let mut running_max: f64 = 0.0;
    for (step, &i) in order.iter().enumerate() {
        let step_level = alpha / (k - step) as f64;
        running_max = running_max.max((ps[i] * (k - step) as f64).min(1.0));
        let level = stopped_at.unwrap_or(step_level);
        let rejected = stopped_at.is_none() && ps[i] < step_level;
        if !rejected && stopped_at.is_none() {
            stopped_at = Some(step_level);
        }
        let h = family[i];
        // After a stop every later p is at least the stopping one, so its interval at the
        // stopping level cannot clear θ either: interval and decision agree.
        let interval = h.difference.interval(level);
        out[i] = Some(Tested {
            p: ps[i],
            p_adjusted: running_max,
            level,
            interval,
            rejected,
        });
    }
    out.into_iter()
        .map(|t| t.expect("every index tested"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(both: usize, a_only: usize, b_only: usize, neither: usize) -> (Vec<f64>, Vec<f64>) {
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (n, x, y) in [
            (both, 1.0, 1.0),
            (a_only, 1.0, 0.0),
            (b_only, 0.0, 1.0),
            (neither, 0.0, 0.0),
        ] {
            a.extend(std::iter::repeat_n(x, n));
            b.extend(std::iter::repeat_n(y, n));
        }
        (a, b)
    }

    #[test]
    fn the_interval_is_agresti_mins_adjusted_wald_interval() {
        // 60 pairs: 10 only a passed, 4 only b passed. By hand with half a pseudo-count in each
        // cell: n' = 62, p12 = 10.5/62, p21 = 4.5/62, centre = 6/62 = 0.096774,
        // var = (p12 + p21 − centre²)/n' = (0.241935 − 0.009365)/62, se = 0.061247.
        let (a, b) = pairs(40, 10, 4, 6);
        let d = PairedDifference::new(&a, &b).unwrap();
        assert!((d.delta - 0.1).abs() < 1e-12);
        assert!((d.centre - 6.0 / 62.0).abs() < 1e-12);
        let se = ((15.0 / 62.0 - (6.0f64 / 62.0).powi(2)) / 62.0).sqrt();
        assert!((d.se() - se).abs() < 1e-12, "{} vs {se}", d.se());
        let ci = d.interval(0.025);
        assert!((ci.low - (6.0 / 62.0 - 1.959964 * se)).abs() < 1e-6);
        assert!((ci.high - (6.0 / 62.0 + 1.959964 * se)).abs() < 1e-6);
    }

    #[test]
    fn identical_answers_still_have_a_spread() {
        let a = vec![1.0; 30];
        let d = PairedDifference::new(&a, &a).unwrap();
        assert_eq!(d.delta, 0.0);
        assert!(d.se() > 0.0);
        let ci = d.interval(0.025);
        assert!(ci.low < 0.0 && ci.high > 0.0);
    }

    #[test]
    fn a_test_rejects_exactly_when_the_interval_clears_its_threshold() {
        for (both, ao, bo, ne) in [
            (40, 10, 4, 6),
            (20, 12, 2, 26),
            (50, 3, 3, 4),
            (10, 9, 0, 1),
        ] {
            let (a, b) = pairs(both, ao, bo, ne);
            let d = PairedDifference::new(&a, &b).unwrap();
            for theta in [-0.1, -0.03, 0.0, 0.05] {
                for alpha in [0.025, 0.00625] {
                    let rejects = d.p_above(theta) < alpha;
                    assert_eq!(rejects, d.interval(alpha).low > theta, "{theta} {alpha}");
                }
            }
        }
    }

    #[test]
    fn holm_rejects_what_bonferroni_misses_and_prints_consistent_intervals() {
        // Three challengers: p-values about 0.004, 0.02 and 0.4. Bonferroni at 0.025/3 = 0.0083
        // rejects only the first; Holm then tests the second at 0.025/2 = 0.0125 — and stops.
        let strong = PairedDifference {
            n: 100,
            delta: 0.15,
            centre: 0.15,
            sd: 0.55,
        };
        let fam = [
            Hypothesis {
                difference: strong,
                theta: 0.0,
            },
            Hypothesis {
                difference: PairedDifference {
                    centre: 0.11,
                    delta: 0.11,
                    ..strong
                },
                theta: 0.0,
            },
            Hypothesis {
                difference: PairedDifference {
                    centre: 0.01,
                    delta: 0.01,
                    ..strong
                },
                theta: 0.0,
            },
        ];
        let t = holm(&fam, 0.025);
        assert!(t[0].rejected && t[0].p < 0.025 / 3.0);
        assert!(
            t[1].p > 0.025 / 3.0,
            "the second is not significant after Bonferroni"
        );
        assert!(t[1].p < 0.025, "but is significant alone");
        assert_eq!(t[1].rejected, t[1].p < 0.025 / 2.0);
        assert!(!t[2].rejected);
        for x in &t {
            assert_eq!(x.rejected, x.interval.low > 0.0);
            assert!(x.p_adjusted >= x.p);
        }
    }

    #[test]
    fn more_items_shrink_the_detectable_effect_and_settle_a_gap() {
        let (a, b) = pairs(40, 8, 2, 10);
        let d = PairedDifference::new(&a, &b).unwrap();
        let mde = d.mde(0.025);
        assert!(
            mde > d.centre,
            "a 10-point lead is below what 60 items detect"
        );
        let more = d.items_to_settle(0.0, 0.025).unwrap();
        assert!(more > 60, "{more}");
        let (a4, b4): (Vec<f64>, Vec<f64>) = (a.repeat(4), b.repeat(4));
        assert!(PairedDifference::new(&a4, &b4).unwrap().mde(0.025) < mde / 1.9);
    }
}
