//! Latency percentiles of one monitor group in bounded memory.
//!
//! A group keeps its first [`EXACT_UP_TO`] latencies and answers percentiles exactly (linear
//! interpolation between the two nearest requests, as before). Past that it moves every value
//! into an HDR histogram (`hdrhistogram`, 3 significant digits, microsecond units), whose size
//! depends on the range of the values, not their number. Both forms depend only on the multiset
//! of values recorded, so reading several logs gives the same figures as reading them
//! concatenated, in any order.
//!
//! Error bound of a percentile from the histogram: it interpolates between the same two ranks
//! as the exact figure, each read as the middle of its histogram bucket, so it is within
//! [`RELATIVE_ERROR`] of the exact figure plus one microsecond (rounding to microseconds).

use hdrhistogram::Histogram;

/// Latencies a group holds one by one before it switches to the histogram.
pub(crate) const EXACT_UP_TO: usize = 1024;

/// Significant decimal digits the histogram keeps.
const SIGNIFICANT_DIGITS: u8 = 3;

/// Largest relative error of a percentile read from the histogram (half a bucket at 3
/// significant digits: buckets are at most 1/1024 of their value wide).
pub const RELATIVE_ERROR: f64 = 0.0005;

/// Largest latency the histogram records, in microseconds (about 35 years); longer ones are
/// recorded as this.
const MAX_US: u64 = 1 << 50;

/// Latencies of one group, in milliseconds.
#[derive(Debug, Clone)]
pub(crate) enum Latencies {
    /// Up to [`EXACT_UP_TO`] values, in the order recorded.
    Exact(Vec<f64>),
    /// Every value, in microseconds (a bucket counts up to 2^32 − 1 values, then saturates).
    Sketch(Box<Histogram<u32>>),
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies::Exact(Vec::new())
    }
}

fn new_histogram() -> Histogram<u32> {
    // Auto-resizing: the counts grow with the largest value seen, never with the count.
    Histogram::new(SIGNIFICANT_DIGITS).expect("3 significant digits is a valid precision")
}

/// Record `ms` in the auto-resizing histogram (which only fails past [`MAX_US`]'s range).
fn record(h: &mut Histogram<u32>, ms: f64) {
    let us = to_us(ms);
    if h.record(us).is_err() {
        h.saturating_record(us);
    }
}

fn to_us(ms: f64) -> u64 {
    // `as` saturates: negative values become 0.
    ((ms * 1000.0).round() as u64).min(MAX_US)
}

impl Latencies {
    /// Record one latency in milliseconds; a value that is not finite is ignored.
    pub fn record(&mut self, ms: f64) {
        if !ms.is_finite() {
            return;
        }
        match self {
            Latencies::Exact(v) if v.len() < EXACT_UP_TO => v.push(ms),
            Latencies::Exact(v) => {
                let mut h = new_histogram();
                for x in v.iter().copied().chain([ms]) {
                    record(&mut h, x);
                }
                *self = Latencies::Sketch(Box::new(h));
            }
            Latencies::Sketch(h) => record(h, ms),
        }
    }

    /// True once the group answers from the histogram (within [`RELATIVE_ERROR`]).
    #[cfg(test)]
    pub fn is_estimate(&self) -> bool {
        matches!(self, Latencies::Sketch(_))
    }

    /// The bound on the relative error of [`Latencies::quantile`]: 0 while exact,
    /// [`RELATIVE_ERROR`] from the histogram (plus 1 µs of rounding); `None` with no value.
    pub fn rel_error_bound(&self) -> Option<f64> {
        match self {
            Latencies::Exact(v) if v.is_empty() => None,
            Latencies::Exact(_) => Some(0.0),
            Latencies::Sketch(h) if h.is_empty() => None,
            Latencies::Sketch(_) => Some(RELATIVE_ERROR),
        }
    }

    /// The `q` quantile (0 ≤ q ≤ 1) in milliseconds, `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        match self {
            Latencies::Exact(v) if v.is_empty() => None,
            Latencies::Exact(v) => Some(linear_quantile(v, q)),
            Latencies::Sketch(h) if h.is_empty() => None,
            Latencies::Sketch(h) => {
                // The same interpolation as the exact form, between the two ranks around q.
                let idx = q.clamp(0.0, 1.0) * (h.len() - 1) as f64;
                let (lo, hi) = (idx.floor() as u64, idx.ceil() as u64);
                let (a, b) = (value_at_rank(h, lo), value_at_rank(h, hi));
                Some((a + (idx - lo as f64) * (b - a)) / 1000.0)
            }
        }
    }
}

/// The value (µs, the middle of its bucket) of the request at 0-based `rank` in sorted order.
fn value_at_rank(h: &Histogram<u32>, rank: u64) -> f64 {
    let mut seen = 0u64;
    for v in h.iter_recorded() {
        seen += v.count_at_value() as u64;
        if seen > rank {
            return h.median_equivalent(v.value_iterated_to()) as f64;
        }
    }
    h.median_equivalent(h.max()) as f64
}

/// The exact quantile with linear interpolation between the two nearest values (the method
/// the monitor always used).
fn linear_quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let idx = q.clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let (lo, hi) = (idx.floor() as usize, idx.ceil() as usize);
    s[lo] + (idx - lo as f64) * (s[hi] - s[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_groups_are_exact_with_linear_interpolation() {
        let mut l = Latencies::default();
        for x in (100..140).rev() {
            l.record(x as f64);
        }
        assert!(!l.is_estimate());
        assert_eq!(l.quantile(0.5), Some(119.5));
        assert_eq!(l.quantile(0.95), Some(100.0 + 0.95 * 39.0));
        assert_eq!(Latencies::default().quantile(0.5), None);
    }

    #[test]
    fn large_groups_stay_within_the_stated_error_and_do_not_grow() {
        let mut l = Latencies::default();
        let mut all = Vec::new();
        // A spread from 0.2 ms to about 60 s.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let ms = 0.2 * (1.0 + (x % 1_000_000) as f64).powf(0.9);
            l.record(ms);
            all.push(ms);
        }
        assert!(l.is_estimate());
        let exact = Latencies::Exact(all.clone());
        for q in [0.5, 0.95, 0.99] {
            let got = l.quantile(q).unwrap();
            let want = exact.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= want * RELATIVE_ERROR + 0.001,
                "q {q}: {got} vs {want}"
            );
        }
        let Latencies::Sketch(h) = &l else {
            unreachable!()
        };
        let before = h.distinct_values();
        for _ in 0..100_000 {
            l.record(30.0);
        }
        let Latencies::Sketch(h) = &l else {
            unreachable!()
        };
        assert_eq!(h.distinct_values(), before, "no growth with the count");
    }

    #[test]
    fn the_figures_do_not_depend_on_the_order_of_the_values() {
        let values: Vec<f64> = (0..5000).map(|i| (i * 7919 % 5000) as f64 / 3.0).collect();
        let (mut a, mut b) = (Latencies::default(), Latencies::default());
        values.iter().for_each(|x| a.record(*x));
        values.iter().rev().for_each(|x| b.record(*x));
        assert_eq!(a.quantile(0.5), b.quantile(0.5));
        assert_eq!(a.quantile(0.95), b.quantile(0.95));
    }

    #[test]
    fn hostile_values_do_not_panic() {
        let mut l = Latencies::default();
        for x in [f64::MAX, -5.0, 0.0, 1e300, f64::NAN, f64::INFINITY] {
            for _ in 0..300 {
                l.record(x);
            }
        }
        assert!(l.is_estimate());
        assert!(l.quantile(0.95).unwrap() > 0.0);
    }
}
