//! Statistics: intervals for means, proportions and quantiles, and paired comparisons.
//!
//! Every resampling is seeded ([`rng_for`]), so the same journal gives the same report. Intervals
//! resample *items*: with repeats, an item's calls are averaged (or kept together) first, so that
//! `k` repeats of one prompt never count as `k` independent observations.

use rand::Rng;
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

impl crate::base::fmt::Interval for Estimate {
    fn value(&self) -> f64 {
        self.value
    }
    fn low(&self) -> f64 {
        self.low
    }
    fn high(&self) -> f64 {
        self.high
    }
}

impl Estimate {
    /// An estimate with no spread (one observation, or a degenerate resample).
    pub fn point(value: f64) -> Estimate {
        Estimate {
            value,
            low: value,
            high: value,
        }
    }

    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// The interval lies entirely above zero.
    pub fn above_zero(&self) -> bool {
        self.low > 0.0
    }

    /// The interval lies entirely below zero.
    pub fn below_zero(&self) -> bool {
        self.high < 0.0
    }
}

pub fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Sample standard deviation (n − 1 in the denominator).
pub fn sd(xs: &[f64]) -> Option<f64> {
    if xs.len() < 2 {
        return None;
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    Some((ss / (xs.len() - 1) as f64).sqrt())
}

/// Two-sided standard normal quantile for a confidence level (0.95 → 1.959964).
pub fn z_for(confidence: f64) -> f64 {
    inverse_normal_cdf(0.5 + confidence / 2.0)
}

/// The standard normal quantile `Φ⁻¹(p)`; −∞ at 0 and +∞ at 1.
///
/// Acklam's rational approximation (relative error < 1.2e-9), kept rather than statrs'
/// `Normal::inverse_cdf` on purpose: the two differ in the tenth significant digit, which every
/// interval printed at full precision in the CSVs would show (and a Wilson bound that is 0 today
/// would become 1e-17), so reports derived before and after would differ. The test
/// `the_normal_quantile_agrees_with_statrs` holds it to statrs within 1.2e-9.
pub fn inverse_normal_cdf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    acklam(p)
}

/// Acklam's algorithm for `Φ⁻¹(p)`, `0 < p < 1`.
fn acklam(p: f64) -> f64 {
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
        -acklam(1.0 - p)
    }
}

/// Complementary error function (statrs' `erfc`).
pub fn erfc(x: f64) -> f64 {
    statrs::function::erf::erfc(x)
}

/// Upper tail of the χ² distribution with one degree of freedom, through the identity
/// `P(χ²₁ > x) = erfc(√(x/2))` and statrs' `erfc` (accurate to about 1e-16, where statrs'
/// `ChiSquared::sf` goes through the regularised incomplete gamma function and is less so).
pub fn chi2_1_sf(x: f64) -> f64 {
    if x <= 0.0 {
        1.0
    } else {
        erfc((x / 2.0).sqrt())
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

/// Discordant pairs at or below which McNemar's test uses the exact binomial distribution; above
/// it, the χ² approximation with continuity correction is accurate.
pub const MCNEMAR_EXACT_BELOW: usize = 25;

/// McNemar's test on paired pass/fail outcomes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct McNemar {
    /// Items the first sample passed and the second failed.
    pub a_only: usize,
    /// Items the second sample passed and the first failed.
    pub b_only: usize,
    /// Two-sided p-value of "both pass equally often".
    pub p_value: f64,
    /// Whether the exact binomial test was used (few discordant pairs).
    pub exact: bool,
}

impl McNemar {
    pub fn method(&self) -> &'static str {
        if self.exact {
            "mcnemar_exact"
        } else {
            "mcnemar_chi2"
        }
    }
}

/// McNemar's test of paired 0/1 scores; `None` when a score is not 0 or 1.
pub fn mcnemar(a: &[f64], b: &[f64]) -> Option<McNemar> {
    assert_eq!(a.len(), b.len(), "paired samples must align");
    let binary = |x: f64| x == 0.0 || x == 1.0;
    if !a.iter().chain(b).all(|&x| binary(x)) {
        return None;
    }
    let a_only = a.iter().zip(b).filter(|(x, y)| **x > **y).count();
    let b_only = a.iter().zip(b).filter(|(x, y)| **x < **y).count();
    let n = a_only + b_only;
    let (p_value, exact) = if n == 0 {
        (1.0, true)
    } else if n <= MCNEMAR_EXACT_BELOW {
        (binomial_two_sided(a_only.min(b_only), n), true)
    } else {
        let d = (a_only as f64 - b_only as f64).abs() - 1.0;
        (chi2_1_sf(d.max(0.0).powi(2) / n as f64), false)
    };
    Some(McNemar {
        a_only,
        b_only,
        p_value,
        exact,
    })
}

/// Two-sided exact binomial (sign) test of `k` successes in `n` fair trials, `k ≤ n / 2`:
/// `min(1, 2 · P(X ≤ k))`.
///
/// The tail is summed from statrs' binomial coefficients, exact integers in an `f64` for the
/// `n ≤` [`MCNEMAR_EXACT_BELOW`] it is used at, and scaled by `2⁻ⁿ` (exact): so `P(X ≤ k)` is
/// exact to the last bit there, where statrs' `Binomial::cdf` (a regularised incomplete beta)
/// is off by a few ulps (2 · P(X ≤ 0) for n = 1 gives 0.9999999999999991, not 1).
pub fn binomial_two_sided(k: usize, n: usize) -> f64 {
    let k = k.min(n.saturating_sub(k));
    let (n64, k64) = (n as u64, k as u64);
    let count: f64 = (0..=k64)
        .map(|i| statrs::function::factorial::binomial(n64, i))
        .sum();
    (2.0 * count * 0.5f64.powi(n as i32)).min(1.0)
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

/// From this many items on, bootstrap indices are drawn by multiply-shift (see [`draw_each`]);
/// above the shipped suites (at most 270 items), so their figures keep the exact uniform draw.
pub const FAST_DRAW_MIN_ITEMS: usize = 512;

/// Draw `n` indices in `0..n` with replacement, handing each to `f` as it is drawn. Large samples
/// draw by one multiply and shift of a 64-bit draw (Lemire's method without the rejection step:
/// its bias is below n / 2^64, nil at any sample size); small ones keep the exact uniform draw
/// of `random_range`, so small suites' figures are unchanged.
#[inline]
fn draw_each(rng: &mut Xoshiro256PlusPlus, n: usize, mut f: impl FnMut(usize)) {
    if n >= FAST_DRAW_MIN_ITEMS {
        for _ in 0..n {
            f(((rng.next_u64() as u128 * n as u128) >> 64) as usize);
        }
    } else {
        for _ in 0..n {
            f(rng.random_range(0..n));
        }
    }
}

/// Percentile bootstrap where `one` draws a resample (through [`draw_each`]) and returns its
/// statistic, or NaN when it is undefined on that resample (such resamples are left out).
fn bootstrap_with(
    n: usize,
    point: f64,
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
    mut one: impl FnMut(&mut Xoshiro256PlusPlus) -> f64,
) -> Estimate {
    if n < 2 {
        return Estimate::point(point);
    }
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        let s = one(rng);
        if s.is_finite() {
            stats.push(s);
        }
    }
    if stats.is_empty() {
        return Estimate::point(point);
    }
    let (low, high) = percentile_interval(&mut stats, confidence);
    Estimate {
        value: point,
        low,
        high,
    }
}

/// Percentile bootstrap of any statistic of `n` items: `stat` sees the indices of one resample
/// (drawn with replacement) and returns the statistic, or NaN when it is undefined on that
/// resample (such resamples are left out). `point` is the statistic on the data itself.
pub fn bootstrap<F>(
    n: usize,
    point: f64,
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
    mut stat: F,
) -> Estimate
where
    F: FnMut(&[usize]) -> f64,
{
    let mut idx = Vec::with_capacity(n);
    bootstrap_with(n, point, resamples, confidence, rng, |rng| {
        idx.clear();
        draw_each(rng, n, |i| idx.push(i));
        stat(&idx)
    })
}

/// Percentile bootstrap interval of the mean.
pub fn bootstrap_mean(
    xs: &[f64],
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    let m = mean(xs)?;
    let n = xs.len() as f64;
    // Summed as drawn, in draw order, from the neutral element `Sum` starts with: the same
    // figure as summing the drawn indices afterwards.
    Some(bootstrap_with(
        xs.len(),
        m,
        resamples,
        confidence,
        rng,
        |rng| {
            let mut sum = -0.0;
            draw_each(rng, xs.len(), |i| sum += xs[i]);
            sum / n
        },
    ))
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

/// Paired bootstrap of the relative difference of two means, `mean(a) / mean(b) − 1`
/// (e.g. −0.30 reads "a costs 30% less than b on the same items").
pub fn paired_relative_mean(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    assert_eq!(a.len(), b.len(), "paired samples must align");
    let (sa, sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if a.is_empty() || sb <= 0.0 {
        return None;
    }
    Some(bootstrap_with(
        a.len(),
        sa / sb - 1.0,
        resamples,
        confidence,
        rng,
        |rng| {
            let (mut x, mut y) = (0.0, 0.0);
            draw_each(rng, a.len(), |i| {
                x += a[i];
                y += b[i];
            });
            if y > 0.0 { x / y - 1.0 } else { f64::NAN }
        },
    ))
}

/// The `q` quantile of every value of the given groups (an item's calls form one group).
pub fn pooled_quantile(groups: &[&[f64]], q: f64) -> Option<f64> {
    let all: Vec<f64> = groups.iter().flat_map(|g| g.iter().copied()).collect();
    quantile(&all, q)
}

/// Bootstrap interval of a quantile over items: whole items (all their calls) are resampled.
pub fn bootstrap_quantile(
    groups: &[&[f64]],
    q: f64,
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    let point = pooled_quantile(groups, q)?;
    let pooled = Pooled::new(groups, q);
    let mut w = vec![0u32; groups.len()];
    Some(bootstrap_with(
        groups.len(),
        point,
        resamples,
        confidence,
        rng,
        |rng| {
            w.fill(0);
            let mut sums = (0, 0);
            draw_each(rng, groups.len(), |i| {
                w[i] += 1;
                pooled.add(i, &mut sums);
            });
            pooled.weighted_quantile(sums, &w, q)
        },
    ))
}

/// Paired bootstrap of the relative difference of a quantile, `Q(a) / Q(b) − 1`, resampling the
/// items both groups share (the p95 latency of two models on the same prompts).
pub fn paired_relative_quantile(
    a: &[&[f64]],
    b: &[&[f64]],
    q: f64,
    resamples: usize,
    confidence: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Option<Estimate> {
    assert_eq!(a.len(), b.len(), "paired samples must align");
    let (qa, qb) = (pooled_quantile(a, q)?, pooled_quantile(b, q)?);
    if qb <= 0.0 {
        return None;
    }
    let (pa, pb) = (Pooled::new(a, q), Pooled::new(b, q));
    let mut w = vec![0u32; a.len()];
    Some(bootstrap_with(
        a.len(),
        qa / qb - 1.0,
        resamples,
        confidence,
        rng,
        |rng| {
            w.fill(0);
            let (mut sa, mut sb) = ((0, 0), (0, 0));
            draw_each(rng, a.len(), |i| {
                w[i] += 1;
                pa.add(i, &mut sa);
                pb.add(i, &mut sb);
            });
            let (ya, yb) = (
                pa.weighted_quantile(sa, &w, q),
                pb.weighted_quantile(sb, &w, q),
            );
            if yb > 0.0 { ya / yb - 1.0 } else { f64::NAN }
        },
    ))
}

/// The values of several groups sorted once, each with its group, so that the quantile of a
/// resample (each group counted as many times as it was drawn) is found without copying and
/// sorting the resample: the resample's quantile lies near the data's, so the scan starts at a
/// pivot (the data's own quantile), whose rank in the resample is a sum over the drawn groups of
/// their values below it. The result equals the quantile of the concatenated resample exactly.
struct Pooled {
    values: Vec<f64>,
    owner: Vec<u32>,
    lens: Vec<u32>,
    /// Index in `values` where scans start.
    pivot: usize,
    /// Per group, how many of its values sit before `pivot`.
    below: Vec<u32>,
}

impl Pooled {
    fn new(groups: &[&[f64]], q: f64) -> Pooled {
        let mut pairs: Vec<(f64, u32)> = groups
            .iter()
            .enumerate()
            .flat_map(|(g, vs)| vs.iter().map(move |&v| (v, g as u32)))
            .collect();
        pairs.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
        let pivot = if pairs.is_empty() {
            0
        } else {
            (q.clamp(0.0, 1.0) * (pairs.len() - 1) as f64).floor() as usize
        };
        let mut below = vec![0u32; groups.len()];
        for p in &pairs[..pivot] {
            below[p.1 as usize] += 1;
        }
        Pooled {
            values: pairs.iter().map(|p| p.0).collect(),
            owner: pairs.iter().map(|p| p.1).collect(),
            lens: groups.iter().map(|g| g.len() as u32).collect(),
            pivot,
            below,
        }
    }

    /// Count one draw of group `g` into `(total, before)`: the resample's number of values and
    /// how many of them sit before the pivot.
    #[inline]
    fn add(&self, g: usize, sums: &mut (u64, u64)) {
        sums.0 += self.lens[g] as u64;
        sums.1 += self.below[g] as u64;
    }

    /// The linear-interpolation `q` quantile of the multiset where group `g` counts `w[g]` times;
    /// `(total, before)` are the draws' sums from [`Pooled::add`].
    fn weighted_quantile(&self, (total, before): (u64, u64), w: &[u32], q: f64) -> f64 {
        if total == 0 {
            return f64::NAN;
        }
        let pos = q.clamp(0.0, 1.0) * (total - 1) as f64;
        let lo = pos.floor() as u64;
        let hi = pos.ceil() as u64;
        let vlo = self.at_rank(lo, before, w);
        let vhi = if hi == lo {
            vlo
        } else {
            self.at_rank(hi, before, w)
        };
        vlo + (vhi - vlo) * (pos - lo as f64)
    }

    /// The value of 0-based rank `r` in the weighted order, `before` being the weight of the
    /// values before the pivot.
    fn at_rank(&self, r: u64, before: u64, w: &[u32]) -> f64 {
        if r >= before {
            let mut seen = before;
            for k in self.pivot..self.values.len() {
                seen += w[self.owner[k] as usize] as u64;
                if seen > r {
                    return self.values[k];
                }
            }
        } else {
            let mut start = before;
            for k in (0..self.pivot).rev() {
                start -= w[self.owner[k] as usize] as u64;
                if start <= r {
                    return self.values[k];
                }
            }
        }
        unreachable!("rank {r} lies within the resample's weight")
    }
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

fn quantile_in_place(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_unstable_by(f64::total_cmp);
    quantile_sorted(xs, q)
}

/// Linear-interpolation quantile of unsorted data.
pub fn quantile(xs: &[f64], q: f64) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut v = xs.to_vec();
    Some(quantile_in_place(&mut v, q))
}

/// Items needed for a paired mean difference of the observed size to be significant, from the
/// normal approximation `n = (z · sd / |Δ|)²`; `None` when the difference is zero.
pub fn items_to_resolve(differences: &[f64], confidence: f64) -> Option<usize> {
    let d = mean(differences)?.abs();
    let s = sd(differences)?;
    if d < 1e-12 {
        return None;
    }
    let n = (z_for(confidence) * s / d).powi(2).ceil();
    (n.is_finite() && n < 1e9).then_some(n as usize)
}

#[cfg(test)]
mod tests {

    #[test]
    fn folded_bootstraps_equal_the_generic_one() {
        for n in [7, 300, 2_000] {
            let xs: Vec<f64> = (0..n)
                .map(|i| ((i * 37) % 11) as f64 / 10.0 - 0.3)
                .collect();
            let ys: Vec<f64> = (0..n).map(|i| 0.5 + ((i * 13) % 7) as f64).collect();
            let m = mean(&xs).unwrap();
            let nf = n as f64;
            let generic = bootstrap(n, m, 200, 0.95, &mut rng_for(3, "x"), |idx| {
                idx.iter().map(|&i| xs[i]).sum::<f64>() / nf
            });
            let folded = bootstrap_mean(&xs, 200, 0.95, &mut rng_for(3, "x")).unwrap();
            assert_eq!(generic, folded, "n = {n}");
            let (sx, sy): (f64, f64) = (xs.iter().sum(), ys.iter().sum());
            let generic = bootstrap(n, sx / sy - 1.0, 200, 0.95, &mut rng_for(4, "r"), |idx| {
                let (x, y) = idx
                    .iter()
                    .fold((0.0, 0.0), |(x, y), &i| (x + xs[i], y + ys[i]));
                if y > 0.0 { x / y - 1.0 } else { f64::NAN }
            });
            let folded = paired_relative_mean(&xs, &ys, 200, 0.95, &mut rng_for(4, "r")).unwrap();
            assert_eq!(generic, folded, "n = {n}");
            // Quantiles of groups of two values each, against copying and sorting each resample.
            let groups: Vec<&[f64]> = ys.chunks(2).collect();
            let g = groups.len();
            let mut buf = Vec::new();
            let point = pooled_quantile(&groups, 0.95).unwrap();
            let generic = bootstrap(g, point, 200, 0.95, &mut rng_for(5, "q"), |idx| {
                buf.clear();
                for &i in idx {
                    buf.extend_from_slice(groups[i]);
                }
                quantile_in_place(&mut buf, 0.95)
            });
            let folded =
                bootstrap_quantile(&groups, 0.95, 200, 0.95, &mut rng_for(5, "q")).unwrap();
            assert_eq!(generic, folded, "n = {n}");
        }
    }

    #[test]
    fn a_weighted_scan_equals_the_quantile_of_the_concatenated_resample() {
        let mut rng = rng_for(11, "pooled");
        for round in 0..200 {
            let n = 1 + round % 13;
            let groups: Vec<Vec<f64>> = (0..n)
                .map(|_| {
                    (0..rng.random_range(0..5))
                        .map(|_| (rng.random_range(0..40) as f64) * 2.5)
                        .collect()
                })
                .collect();
            let refs: Vec<&[f64]> = groups.iter().map(Vec::as_slice).collect();
            let idx: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let mut w = vec![0; n];
            for &i in &idx {
                w[i] += 1;
            }
            let mut flat: Vec<f64> = idx
                .iter()
                .flat_map(|&i| groups[i].iter().copied())
                .collect();
            for q in [0.0, 0.05, 0.3, 0.5, 0.77, 0.95, 1.0] {
                let pooled = Pooled::new(&refs, q);
                let mut sums = (0, 0);
                for &i in &idx {
                    pooled.add(i, &mut sums);
                }
                let got = pooled.weighted_quantile(sums, &w, q);
                if flat.is_empty() {
                    assert!(got.is_nan());
                } else {
                    let want = quantile_in_place(&mut flat, q);
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "q {q} groups {groups:?} idx {idx:?}"
                    );
                }
            }
        }
    }

    use super::*;

    #[test]
    fn normal_quantiles_and_tails() {
        assert!((z_for(0.95) - 1.959964).abs() < 1e-5);
        assert!((z_for(0.90) - 1.644854).abs() < 1e-5);
        assert!((inverse_normal_cdf(0.01) + 2.326348).abs() < 1e-5);
        // P(χ²₁ > 3.841459) = 0.05; P(χ²₁ > 6.634897) = 0.01.
        assert!((chi2_1_sf(3.841459) - 0.05).abs() < 1e-6);
        assert!((chi2_1_sf(6.634897) - 0.01).abs() < 1e-6);
        assert!((erfc(-1.0) - 1.842701).abs() < 1e-6);
    }

    #[test]
    fn the_normal_quantile_agrees_with_statrs() {
        use statrs::distribution::{ContinuousCDF, Normal};
        let n = Normal::standard();
        let mut worst: f64 = 0.0;
        for i in 1..2000 {
            for p in [i as f64 / 2000.0, 10f64.powf(-(i as f64) / 200.0)] {
                let (ours, theirs) = (inverse_normal_cdf(p), n.inverse_cdf(p));
                worst = worst.max((ours - theirs).abs() / theirs.abs().max(1.0));
            }
        }
        assert!(worst < 1.2e-9, "worst relative difference {worst:e}");
        assert_eq!(inverse_normal_cdf(0.0), f64::NEG_INFINITY);
        assert_eq!(inverse_normal_cdf(1.0), f64::INFINITY);
    }

    #[test]
    fn statrs_tails_match_the_former_hand_written_ones() {
        use statrs::distribution::{ChiSquared, ContinuousCDF};
        // The exact binomial tail summed term by term, as routecal computed it before statrs.
        let summed = |k: usize, n: usize| {
            let mut term = 0.5f64.powi(n as i32);
            let mut tail = term;
            for i in 1..=k {
                term *= (n - i + 1) as f64 / i as f64;
                tail += term;
            }
            (2.0 * tail).min(1.0)
        };
        for n in 1..=MCNEMAR_EXACT_BELOW {
            for k in 0..=n / 2 {
                let (a, b) = (binomial_two_sided(k, n), summed(k, n));
                assert!((a - b).abs() <= 1e-15 * b, "k={k} n={n}: {a} vs {b}");
            }
        }
        // The χ²₁ tail against statrs' own χ² distribution, and against the Chebyshev erfc
        // routecal used before (Numerical Recipes, relative error < 1.2e-7).
        let chebyshev = |x: f64| {
            let t = 1.0 / (1.0 + 0.5 * x);
            let poly = -x * x - 1.265_512_23
                + t * (1.000_023_68
                    + t * (0.374_091_96
                        + t * (0.096_784_18
                            + t * (-0.186_288_06
                                + t * (0.278_868_07
                                    + t * (-1.135_203_98
                                        + t * (1.488_515_87
                                            + t * (-0.822_152_23 + t * 0.170_872_77))))))));
            t * poly.exp()
        };
        let chi2 = ChiSquared::new(1.0).unwrap();
        for i in 1..400 {
            let x = i as f64 / 20.0;
            let ours = chi2_1_sf(x);
            assert!((ours - chi2.sf(x)).abs() <= 1e-9 * ours, "x={x}");
            assert!(
                (ours - chebyshev((x / 2.0).sqrt())).abs() <= 1.2e-7 * ours,
                "x={x}"
            );
        }
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
    fn mcnemar_exact_and_chi2_match_hand_computation() {
        // 1 vs 9 discordant pairs: 2 · (C(10,0) + C(10,1)) / 2^10 = 22/1024.
        let mut a = vec![1.0; 1];
        a.extend(vec![0.0; 9]);
        a.extend(vec![1.0; 5]);
        let mut b = vec![0.0; 1];
        b.extend(vec![1.0; 9]);
        b.extend(vec![1.0; 5]);
        let t = mcnemar(&a, &b).unwrap();
        assert_eq!((t.a_only, t.b_only, t.exact), (1, 9, true));
        assert!((t.p_value - 22.0 / 1024.0).abs() < 1e-12, "{t:?}");
        // 10 vs 30: χ² = (|10 − 30| − 1)² / 40 = 9.025, p = 0.002663.
        let a: Vec<f64> = (0..40).map(|i| if i < 10 { 1.0 } else { 0.0 }).collect();
        let b: Vec<f64> = a.iter().map(|x| 1.0 - x).collect();
        let t = mcnemar(&a, &b).unwrap();
        assert!(!t.exact);
        assert!((t.p_value - 0.002663).abs() < 1e-5, "{t:?}");
        // No discordant pair: nothing to tell apart.
        assert_eq!(mcnemar(&[1.0, 0.0], &[1.0, 0.0]).unwrap().p_value, 1.0);
        assert!(mcnemar(&[0.5], &[1.0]).is_none());
    }

    #[test]
    fn binomial_tails() {
        assert_eq!(binomial_two_sided(0, 1), 1.0);
        assert!((binomial_two_sided(0, 5) - 2.0 / 32.0).abs() < 1e-15);
        assert!((binomial_two_sided(2, 5) - 1.0).abs() < 1e-15);
        assert!((binomial_two_sided(1, 19) - 40.0 / 524_288.0).abs() < 1e-15);
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
        // A constant shift is recovered exactly, whatever the resample.
        let ys: Vec<f64> = xs.iter().map(|x| x - 0.1).collect();
        let d = paired_bootstrap(&xs, &ys, 200, 0.95, &mut rng_for(1, "p")).unwrap();
        assert!((d.low - 0.1).abs() < 1e-12 && (d.high - 0.1).abs() < 1e-12);
    }

    #[test]
    fn relative_mean_of_a_constant_ratio_is_exact() {
        let b = [2.0, 4.0, 6.0, 8.0];
        let a: Vec<f64> = b.iter().map(|x| x * 0.7).collect();
        let r = paired_relative_mean(&a, &b, 200, 0.95, &mut rng_for(3, "r")).unwrap();
        assert!((r.value + 0.3).abs() < 1e-12, "{r:?}");
        assert!((r.low + 0.3).abs() < 1e-12 && (r.high + 0.3).abs() < 1e-12);
    }

    #[test]
    fn quantile_intervals_resample_whole_items() {
        // Two items of two calls each: every resample's p50 is one of a few values.
        let g1 = [100.0, 100.0];
        let g2 = [300.0, 300.0];
        let groups: Vec<&[f64]> = vec![&g1, &g2];
        assert_eq!(pooled_quantile(&groups, 0.5), Some(200.0));
        let e = bootstrap_quantile(&groups, 0.5, 500, 0.95, &mut rng_for(5, "q")).unwrap();
        assert_eq!((e.value, e.low, e.high), (200.0, 100.0, 300.0));
        // The same latencies scaled by 0.8: the relative p95 difference is −20% on every resample.
        let h1 = [80.0, 80.0];
        let h2 = [240.0, 240.0];
        let faster: Vec<&[f64]> = vec![&h1, &h2];
        let r = paired_relative_quantile(&faster, &groups, 0.95, 200, 0.95, &mut rng_for(5, "q"))
            .unwrap();
        assert!((r.value + 0.2).abs() < 1e-12 && r.below_zero(), "{r:?}");
    }

    #[test]
    fn linear_quantiles() {
        let xs = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&xs, 0.5), Some(3.0));
        assert_eq!(quantile(&xs, 0.95), Some(4.8));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn items_needed_to_resolve_a_difference() {
        // Differences of mean 0.1 and sd 0.5: (1.96 · 0.5 / 0.1)² = 96.04 → 97 items.
        let d: Vec<f64> = (0..50)
            .map(|i| if i % 2 == 0 { 0.6 } else { -0.4 })
            .collect();
        let s = sd(&d).unwrap();
        let expected = (z_for(0.95) * s / 0.1).powi(2).ceil() as usize;
        assert_eq!(items_to_resolve(&d, 0.95), Some(expected));
        assert!((95..=100).contains(&expected), "{expected}");
        assert_eq!(items_to_resolve(&[0.0, 0.0], 0.95), None);
    }
}
