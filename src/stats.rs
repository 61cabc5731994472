//! Statistics: intervals for means and proportions, paired comparisons, quantiles.
//!
//! Every resampling is seeded, so the same journal gives the same report.

use rand::RngExt;
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;

/// A point estimate with a two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Two-sided standard normal quantile for a confidence level (0.95 → 1.959964).
pub fn z_for(confidence: f64) -> f64 {
    inverse_normal_cdf(0.5 + confidence / 2.0)
}

/// Acklam's rational approximation of the standard normal quantile (relative error < 1.2e-9).
pub fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let p_low = 0.02425;
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    if p < p_low {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - p_low {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

/// Wilson score interval of a proportion `successes / n`.
pub fn wilson(successes: f64, n: usize, confidence: f64) -> Option<Estimate> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = successes / n_f;
    let z = z_for(confidence);
    let z2 = z * z;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denom;
    Some(Estimate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    })
}

/// A seeded generator for one named group, so groups resample independently yet reproducibly.
pub fn rng_for(seed: u64, label: &str) -> Xoshiro256PlusPlus {
    // FNV-1a of the label, mixed into the seed.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in label.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Xoshiro256PlusPlus::seed_from_u64(seed ^ h)
}

/// Percentile bootstrap interval of the mean.
pub fn bootstrap_mean(
    xs: &[f64],
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    let m = mean(xs)?;
    if xs.len() == 1 {
        return Some(Estimate {
            value: m,
            low: m,
            high: m,
        });
    }
    let n = xs.len();
    let mut means: Vec<f64> = (0..resamples)
        .map(|_| (0..n).map(|_| xs[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    let (low, high) = percentile_interval(&mut means, confidence);
    Some(Estimate {
        value: m,
        low,
        high,
    })
}

/// Paired bootstrap of the mean difference `a[i] - b[i]` (same items, resampled together).
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    assert_eq!(a.len(), b.len(), "paired samples must align");
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    bootstrap_mean(&d, resamples, confidence, rng)
}

fn percentile_interval(sample: &mut [f64], confidence: f64) -> (f64, f64) {
    sample.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    (
        quantile_sorted(sample, alpha),
        quantile_sorted(sample, 1.0 - alpha),
    )
}

/// Linear-interpolation quantile (the "type 7" of R and numpy's default) of sorted data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Linear-interpolation quantile of unsorted data.
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Some(quantile_sorted(&v, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles() {
        assert!((z_for(0.95) - 1.959964).abs() < 1e-5);
        assert!((z_for(0.90) - 1.644854).abs() < 1e-5);
        assert!((inverse_normal_cdf(0.01) + 2.326348).abs() < 1e-5);
    }

    #[test]
    fn wilson_matches_hand_computation() {
        // 8 of 10 at 95%: centre (0.8 + 1.92/10)/(1.384) ... = [0.4902, 0.9433]
        let e = wilson(8.0, 10, 0.95).unwrap();
        assert!((e.low - 0.4902).abs() < 1e-3, "{e:?}");
        assert!((e.high - 0.9433).abs() < 1e-3, "{e:?}");
        let all = wilson(10.0, 10, 0.95).unwrap();
        assert_eq!(all.high, 1.0);
        assert!(all.low < 1.0 && all.low > 0.69);
        assert!(wilson(0.0, 0, 0.95).is_none());
    }

    #[test]
    fn bootstrap_is_seeded_and_brackets_the_mean() {
        let xs: Vec<f64> = (0..40).map(|i| (i % 10) as f64 / 10.0).collect();
        let a = bootstrap_mean(&xs, 1000, 0.95, &mut rng_for(7, "g")).unwrap();
        let b = bootstrap_mean(&xs, 1000, 0.95, &mut rng_for(7, "g")).unwrap();
        assert_eq!(a, b);
        assert!((a.value - 0.45).abs() < 1e-12);
        assert!(a.low < 0.45 && a.high > 0.45);
        // The standard error is 0.287/sqrt(40) = 0.0454, so the interval is about ±0.089.
        assert!((a.high - a.low - 2.0 * 0.089).abs() < 0.03, "{a:?}");
    }

    #[test]
    fn paired_difference_of_identical_samples_is_zero() {
        let xs = [0.1, 0.5, 0.9, 0.3];
        let d = paired_bootstrap(&xs, &xs, 200, 0.95, &mut rng_for(1, "p")).unwrap();
        assert_eq!((d.value, d.low, d.high), (0.0, 0.0, 0.0));
    }

    #[test]
    fn linear_quantiles() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&xs, 0.5), Some(3.0));
        assert_eq!(quantile(&xs, 0.95), Some(4.8));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
