//! Chart axes whose ticks a reader can read: every tick label distinct, in order, apart from
//! its neighbours at the drawn size, and the axis running from a tick at or below the smallest
//! value to a tick at or above the largest, so the ticks bracket all the data.
//!
//! A logarithmic axis is drawn as a linear axis over log10 of the values, with its ticks on the
//! 1–2–5 sequence (thinned to 1–5 or to decades when the labels would touch); a linear axis
//! takes the finest 1–2–5 step whose labels fit.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// How an axis maps values: chosen once for every panel of a kind, so that panels compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Linear,
    Log,
}

impl Scale {
    /// Logarithmic when every value is positive and they span more than a factor of 20;
    /// linear otherwise (and without values).
    pub fn fitting(values: impl IntoIterator<Item = f64>) -> Scale {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values.into_iter().filter(|v| v.is_finite()) {
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if lo > 0.0 && hi / lo > 20.0 {
            Scale::Log
        } else {
            Scale::Linear
        }
    }
}

/// Width of a tick label in pixels: `chars × CHAR_EM × font px`, a generous average for a
/// sans-serif face (the same estimate the label placer uses).
pub const CHAR_EM: f64 = 0.6;

/// Smallest gap between two neighbouring tick labels, in pixels.
const TICK_GAP: f64 = 6.0;

/// An axis: its scale, its drawn range and its ticks with their labels. Coordinates handed to
/// plotters are "transformed" values: the value itself, or its log10 on a logarithmic axis.
#[derive(Debug, Clone)]
pub struct Axis {
    pub scale: Scale,
    /// First and last tick, in data units: every value lies between them.
    pub lo: f64,
    pub hi: f64,
    /// `(value, label)`, ascending.
    pub ticks: Vec<(f64, String)>,
}

impl Axis {
    /// The axis over `values` drawn `pixels` long with labels `font_px` high, each printed by
    /// `label`. Ticks are the finest 1–2–5 sequence whose labels are distinct and do not touch.
    pub fn new(
        scale: Scale,
        values: impl IntoIterator<Item = f64>,
        label: &dyn Fn(f64) -> String,
        pixels: f64,
        font_px: f64,
    ) -> Axis {
        let vals: Vec<f64> = values.into_iter().filter(|v| v.is_finite()).collect();
        let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let scale =
            if scale == Scale::Log && lo.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
                Scale::Linear
            } else {
                scale
            };
        let (lo, hi) = if vals.is_empty() {
            (0.0, 1.0)
        } else {
            (lo, hi)
        };
        let candidates = match scale {
            Scale::Log => log_candidates(lo, hi),
            Scale::Linear => linear_candidates(lo, hi),
        };
        let fit = |ticks: &Vec<f64>| {
            let labelled: Vec<(f64, String)> = ticks.iter().map(|&v| (v, label(v))).collect();
            fits(scale, &labelled, pixels, font_px).then_some(labelled)
        };
        let ticks = candidates
            .iter()
            .find_map(fit)
            .or_else(|| {
                // Nothing fits: the two ends alone, which always bracket the data.
                let last = candidates.last()?;
                let ends = [*last.first()?, *last.last()?];
                Some(ends.iter().map(|&v| (v, label(v))).collect())
            })
            .unwrap_or_else(|| vec![(lo, label(lo)), (hi, label(hi))]);
        Axis {
            scale,
            lo: ticks.first().map_or(lo, |t| t.0),
            hi: ticks.last().map_or(hi, |t| t.0),
            ticks,
        }
    }

    /// A value in plotters' coordinates.
    pub fn t(&self, v: f64) -> f64 {
        match self.scale {
            Scale::Linear => v,
            Scale::Log => v.log10(),
        }
    }

    /// The drawn range, in plotters' coordinates.
    pub fn range(&self) -> Range<f64> {
        let (a, b) = (self.t(self.lo), self.t(self.hi));
        if b > a { a..b } else { a - 0.5..a + 0.5 }
    }

    /// The coordinate plotters draws on: the range, with grid lines and labels at the ticks
    /// only.
    pub fn coord(&self) -> Coord {
        Coord {
            range: self.range(),
            keys: self.ticks.iter().map(|t| self.t(t.0)).collect(),
        }
    }

    /// The label of the tick at plotters' coordinate `t` (empty between ticks).
    pub fn label_at(&self, t: f64) -> String {
        self.ticks
            .iter()
            .find(|(v, _)| (self.t(*v) - t).abs() < 1e-9)
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }
}

/// A linear coordinate over `range` whose key points (grid lines, tick labels) are exactly
/// `keys`.
#[derive(Debug, Clone)]
pub struct Coord {
    range: Range<f64>,
    keys: Vec<f64>,
}

impl Ranged for Coord {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.range.start) / (self.range.end - self.range.start);
        limit.0 + ((limit.1 - limit.0) as f64 * f + 1e-3).floor() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.keys.clone()
        }
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

/// Do the labels read: distinct, and each pair of neighbours at least [`TICK_GAP`] apart?
fn fits(scale: Scale, ticks: &[(f64, String)], pixels: f64, font_px: f64) -> bool {
    if ticks.len() < 2 {
        return false;
    }
    let t = |v: f64| match scale {
        Scale::Linear => v,
        Scale::Log => v.log10(),
    };
    let (a, b) = (t(ticks[0].0), t(ticks[ticks.len() - 1].0));
    let at = |v: f64| (t(v) - a) / (b - a) * pixels;
    let width = |s: &str| s.chars().count() as f64 * CHAR_EM * font_px;
    let mut seen = std::collections::HashSet::new();
    ticks.iter().all(|(_, l)| seen.insert(l.as_str()))
        && ticks
            .windows(2)
            .all(|w| at(w[1].0) - at(w[0].0) >= (width(&w[0].1) + width(&w[1].1)) / 2.0 + TICK_GAP)
}

/// Tick sets from finest to coarsest on the 1–2–5, 1–5 and decade sequences, each running from
/// the largest tick at or below `lo` to the smallest at or above `hi`.
fn log_candidates(lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let mantissas: [&[f64]; 3] = [&[1.0, 2.0, 5.0], &[1.0, 5.0], &[1.0]];
    mantissas
        .iter()
        .map(|ms| {
            let mut all = Vec::new();
            for k in (lo.log10().floor() as i32 - 1)..=(hi.log10().ceil() as i32 + 1) {
                for m in *ms {
                    all.push(round_sig(m * 10f64.powi(k)));
                }
            }
            let start = all
                .iter()
                .copied()
                .filter(|&v| v <= lo * (1.0 + 1e-12))
                .fold(f64::NEG_INFINITY, f64::max);
            let end = all
                .iter()
                .copied()
                .filter(|&v| v >= hi * (1.0 - 1e-12))
                .fold(f64::INFINITY, f64::min);
            all.into_iter()
                .filter(|&v| v >= start && v <= end)
                .collect()
        })
        .collect()
}

/// Tick sets from finest to coarsest: multiples of 1–2–5 steps bracketing `[lo, hi]`.
fn linear_candidates(lo: f64, hi: f64) -> Vec<Vec<f64>> {
    let span = if hi > lo {
        hi - lo
    } else {
        hi.abs().max(1.0) * 0.2
    };
    let (lo, hi) = if hi > lo {
        (lo, hi)
    } else {
        (lo - span / 2.0, hi + span / 2.0)
    };
    let mut steps = Vec::new();
    let base = 10f64.powi((span / 10.0).log10().floor() as i32);
    for k in 0..6 {
        for m in [1.0, 2.0, 5.0] {
            steps.push(round_sig(m * base * 10f64.powi(k)));
        }
    }
    steps
        .into_iter()
        .filter(|s| span / s <= 10.0)
        .map(|step| {
            let first = (lo / step + 1e-9).floor() as i64;
            let last = (hi / step - 1e-9).ceil() as i64;
            (first..=last).map(|i| round_sig(i as f64 * step)).collect()
        })
        .collect()
}

/// `v` to 12 significant digits, so that `3 × 0.1` is the tick 0.3.
fn round_sig(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(11 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// A decimal without trailing zeros: 0.5 → "0.5", 20 → "20", 0.05 → "0.05".
fn trimmed(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

/// A money tick: "$0.05", "$1", "$20".
pub fn money_tick(v: f64) -> String {
    format!("${}", trimmed(v))
}

/// A duration tick in the unit the whole axis uses: seconds when the axis reaches 1 s
/// ("0.5 s", "2 s", "20 s"), milliseconds below ("200 ms").
pub fn duration_tick(in_seconds: bool) -> impl Fn(f64) -> String {
    move |ms| {
        if in_seconds {
            format!("{} s", trimmed(ms / 1000.0))
        } else {
            format!("{} ms", trimmed(ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(a: &Axis) -> Vec<&str> {
        a.ticks.iter().map(|t| t.1.as_str()).collect()
    }

    #[test]
    fn a_log_latency_axis_reaches_the_largest_value_with_distinct_readable_ticks() {
        let values = [180.0, 950.0, 6200.0, 16_300.0];
        let a = Axis::new(Scale::Log, values, &duration_tick(true), 560.0, 9.7);
        let l = labels(&a);
        assert!(a.hi >= 16_300.0 && a.lo <= 180.0, "{a:?}");
        let mut seen = std::collections::HashSet::new();
        assert!(l.iter().all(|x| seen.insert(*x)), "{l:?}");
        assert!(a.ticks.windows(2).all(|w| w[0].0 < w[1].0), "{l:?}");
        assert!(!l.contains(&"7 s"), "no 6-7-8-9 run on a log axis: {l:?}");
        assert!(l.len() >= 4, "{l:?}");
    }

    #[test]
    fn a_narrow_axis_thins_its_ticks_instead_of_overlapping_them() {
        let values = [0.01, 300.0];
        let wide = Axis::new(Scale::Log, values, &money_tick, 560.0, 9.7);
        let narrow = Axis::new(Scale::Log, values, &money_tick, 120.0, 9.7);
        assert!(narrow.ticks.len() < wide.ticks.len(), "{narrow:?} {wide:?}");
        assert!(fits(Scale::Log, &narrow.ticks, 120.0, 9.7), "{narrow:?}");
    }

    #[test]
    fn a_linear_axis_brackets_the_data_on_round_steps() {
        let a = Axis::new(Scale::Linear, [0.37, 2.9], &money_tick, 560.0, 9.7);
        assert!(a.lo <= 0.37 && a.hi >= 2.9, "{a:?}");
        let steps: Vec<f64> = a.ticks.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(
            steps.iter().all(|s| (s - steps[0]).abs() < 1e-9),
            "{steps:?}"
        );
        assert_eq!(money_tick(0.05), "$0.05");
        assert_eq!(duration_tick(true)(20_000.0), "20 s");
        assert_eq!(duration_tick(false)(200.0), "200 ms");
    }

    #[test]
    fn the_scale_kind_is_log_only_for_wide_positive_spans() {
        assert_eq!(Scale::fitting([0.5, 3.0]), Scale::Linear);
        assert_eq!(Scale::fitting([0.1, 30.0]), Scale::Log);
        assert_eq!(Scale::fitting([0.0, 30.0]), Scale::Linear);
        assert_eq!(Scale::fitting([]), Scale::Linear);
    }
}
