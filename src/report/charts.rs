//! SVG charts for `report.html`, drawn with plotters from aggregates only (never from raw rows:
//! a run may hold a million calls). Each function takes plain figures and returns an SVG
//! document as a string; plotters escapes every text it draws.
//!
//! Marks are one element per model so a reader (and a test) can count them: the cost–quality
//! chart draws exactly one `<circle>` per model, the latency chart exactly one `<polyline>` per
//! model, each in the model's palette colour.

use plotters::coord::ranged1d::{AsRangedCoord, SegmentValue, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::base::fmt::confidence_percent;

/// Ten distinguishable colours (Tableau 10); model `i` is drawn in `PALETTE[i % 10]` everywhere.
pub const PALETTE: [(u8, u8, u8); 10] = [
    (0x1F, 0x77, 0xB4),
    (0xFF, 0x7F, 0x0E),
    (0x2C, 0xA0, 0x2C),
    (0xD6, 0x27, 0x28),
    (0x94, 0x67, 0xBD),
    (0x8C, 0x56, 0x4B),
    (0xE3, 0x77, 0xC2),
    (0x7F, 0x7F, 0x7F),
    (0xBC, 0xBD, 0x22),
    (0x17, 0xBE, 0xCF),
];

/// The colour of the model at `index`, as plotters writes it into SVG (`#RRGGBB`).
pub fn color_hex(index: usize) -> String {
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    format!("#{r:02X}{g:02X}{b:02X}")
}

fn color(index: usize) -> RGBColor {
    let (r, g, b) = PALETTE[index % PALETTE.len()];
    RGBColor(r, g, b)
}

const FONT: &str = "sans-serif";
const WIDTH: u32 = 640;
const HEIGHT: u32 = 400;

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e}")
}

/// One model on one task type: where it sits on cost and quality.
#[derive(Debug, Clone, PartialEq)]
pub struct CostQualityPoint {
    pub label: String,
    /// Index into [`PALETTE`].
    pub color: usize,
    /// USD per 1,000 requests.
    pub cost_per_1k: f64,
    pub quality: f64,
    pub quality_low: f64,
    pub quality_high: f64,
}

/// Which points are on the Pareto front (no other point is at most as expensive and at least
/// as good, and strictly better on one of the two).
pub fn pareto_front(points: &[CostQualityPoint]) -> Vec<bool> {
    points
        .iter()
        .map(|p| {
            !points.iter().any(|q| {
                q.cost_per_1k <= p.cost_per_1k
                    && q.quality >= p.quality
                    && (q.cost_per_1k < p.cost_per_1k || q.quality > p.quality)
            })
        })
        .collect()
}

/// Cost per 1,000 requests (x) against quality (y) with interval bars; Pareto-optimal models
/// are filled circles joined by a dashed line, dominated ones are rings. The x axis turns
/// logarithmic when costs span more than a factor of 20. `confidence` is the intervals' level
/// (0–1), printed on the quality axis.
pub fn cost_quality(
    title: &str,
    confidence: f64,
    points: &[CostQualityPoint],
) -> anyhow::Result<String> {
    let y_desc = format!(
        "quality (mean score, {}% CI)",
        confidence_percent(confidence)
    );
    let costs: Vec<f64> = points.iter().map(|p| p.cost_per_1k).collect();
    let lo = costs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = costs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if points.is_empty() {
        (0.0, 1.0)
    } else {
        (lo, hi)
    };
    let q_lo = points
        .iter()
        .map(|p| p.quality_low)
        .fold(f64::INFINITY, f64::min);
    let q_hi = points
        .iter()
        .map(|p| p.quality_high)
        .fold(f64::NEG_INFINITY, f64::max);
    let (q_lo, q_hi) = if points.is_empty() {
        (0.0, 1.0)
    } else {
        let pad = ((q_hi - q_lo) * 0.1).max(0.02);
        ((q_lo - pad).max(0.0), (q_hi + pad).min(1.0))
    };
    let y = q_lo..q_hi.max(q_lo + 0.01);
    if lo > 0.0 && hi / lo > 20.0 {
        let (x0, x1) = (lo / 1.6, hi * 1.6);
        let at = |v: f64| (v.ln() - x0.ln()) / (x1.ln() - x0.ln());
        let flip: Vec<bool> = points.iter().map(|p| at(p.cost_per_1k) > 0.65).collect();
        draw_cost_quality(title, &y_desc, points, &flip, (x0..x1).log_scale(), y)
    } else {
        let span = (hi - lo).max(hi.abs() * 0.1).max(1e-6);
        let x0 = if lo >= 0.0 {
            (lo - span * 0.12).max(0.0)
        } else {
            lo - span * 0.12
        };
        let x1 = hi + span * 0.12;
        let flip: Vec<bool> = points
            .iter()
            .map(|p| (p.cost_per_1k - x0) / (x1 - x0) > 0.65)
            .collect();
        draw_cost_quality(title, &y_desc, points, &flip, x0..x1, y)
    }
}

/// `flip[i]`: label point `i` on its left, so that labels near the right edge stay inside.
fn draw_cost_quality<X>(
    title: &str,
    y_desc: &str,
    points: &[CostQualityPoint],
    flip: &[bool],
    x: X,
    y: std::ops::Range<f64>,
) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x, y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("cost per 1,000 requests (USD)")
            .y_desc(y_desc)
            .x_labels(6)
            .x_label_formatter(&|v| money(*v))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style((FONT, 12))
            .draw()
            .map_err(plot_err)?;

        let front = pareto_front(points);
        let mut on_front: Vec<&CostQualityPoint> = points
            .iter()
            .zip(&front)
            .filter(|(_, f)| **f)
            .map(|(p, _)| p)
            .collect();
        on_front.sort_by(|a, b| a.cost_per_1k.total_cmp(&b.cost_per_1k));
        if on_front.len() > 1 {
            let grey = RGBColor(0x55, 0x55, 0x55);
            chart
                .draw_series(DashedLineSeries::new(
                    on_front.iter().map(|p| (p.cost_per_1k, p.quality)),
                    6,
                    4,
                    grey.stroke_width(1),
                ))
                .map_err(plot_err)?;
        }
        // Interval bars: a vertical line with short caps, in pixels so that they look the same
        // on a logarithmic axis.
        for p in points {
            let c = color(p.color);
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (p.cost_per_1k, p.quality_low),
                        (p.cost_per_1k, p.quality_high),
                    ],
                    c.stroke_width(2),
                )))
                .map_err(plot_err)?;
            for q in [p.quality_low, p.quality_high] {
                chart
                    .draw_series(std::iter::once(
                        EmptyElement::at((p.cost_per_1k, q))
                            + PathElement::new(vec![(-5, 0), (5, 0)], c.stroke_width(2)),
                    ))
                    .map_err(plot_err)?;
            }
        }
        for ((p, f), left) in points.iter().zip(&front).zip(flip) {
            let c = color(p.color);
            let style = if *f { c.filled() } else { c.stroke_width(2) };
            let (dx, h) = if *left {
                (-9, HPos::Right)
            } else {
                (9, HPos::Left)
            };
            let font = (FONT, 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(h, VPos::Bottom));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((p.cost_per_1k, p.quality))
                        + Circle::new((0, 0), 6, style)
                        + Text::new(p.label.clone(), (dx, -4), font),
                ))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// A model's latency distribution as quantiles: `(level in [0, 1], milliseconds)`, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyCurve {
    pub label: String,
    /// Index into [`PALETTE`].
    pub color: usize,
    pub quantiles: Vec<(f64, f64)>,
}

/// Latency distributions as cumulative curves: for each model, the share of calls (y) that
/// finished within a latency (x). Logarithmic x when latencies span more than a factor of 20.
/// No legend inside the SVG: the page names the colours next to the chart.
pub fn latency(title: &str, curves: &[LatencyCurve]) -> anyhow::Result<String> {
    let all: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.quantiles.iter().map(|q| q.1))
        .collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if all.is_empty() { (0.0, 1.0) } else { (lo, hi) };
    if lo > 0.0 && hi / lo > 20.0 {
        draw_latency(title, curves, (lo / 1.2..hi * 1.2).log_scale())
    } else {
        let span = (hi - lo).max(hi.abs() * 0.1).max(1e-6);
        draw_latency(title, curves, (lo - span * 0.05).max(0.0)..hi + span * 0.05)
    }
}

fn draw_latency<X>(title: &str, curves: &[LatencyCurve], x: X) -> anyhow::Result<String>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
{
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 18))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(x, 0.0..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc("latency")
            .y_desc("share of calls finished")
            .x_label_formatter(&|v| millis(*v))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, 12))
            .draw()
            .map_err(plot_err)?;
        for c in curves {
            let col = color(c.color);
            chart
                .draw_series(LineSeries::new(
                    c.quantiles.iter().map(|&(q, ms)| (ms, q)),
                    col.stroke_width(2),
                ))
                .map_err(plot_err)?;
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// A classifier's confusion matrix: `counts[true][predicted]` over `labels`.
#[derive(Debug, Clone, PartialEq)]
pub struct Confusion {
    pub labels: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

/// The confusion matrix as a heat map: rows are the true task types, columns the predicted
/// ones; a cell's shade is its share of the row (the recall of that row), its text the count.
pub fn confusion(title: &str, m: &Confusion) -> anyhow::Result<String> {
    let n = m.labels.len().max(1) as i32;
    let side = 90 + 62 * n as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (side + 40, side + 20)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(80)
            // A segmented 0..k has k + 1 segments.
            .build_cartesian_2d((0..n - 1).into_segmented(), (0..n - 1).into_segmented())
            .map_err(plot_err)?;
        let name = |v: &SegmentValue<i32>| match v {
            // Row 0 is drawn at the top.
            SegmentValue::CenterOf(i) if (0..n).contains(i) => m.labels[*i as usize].clone(),
            _ => String::new(),
        };
        let row_name = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) if (0..n).contains(i) => {
                m.labels[(n - 1 - *i) as usize].clone()
            }
            _ => String::new(),
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted task type")
            .y_desc("true task type")
            .x_labels(n as usize)
            .y_labels(n as usize)
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .label_style((FONT, 12))
            .draw()
            .map_err(plot_err)?;
        for (r, row) in m.counts.iter().enumerate() {
            let total: u64 = row.iter().sum();
            let y = n - 1 - r as i32;
            for (c, &count) in row.iter().enumerate() {
                let share = if total == 0 {
                    0.0
                } else {
                    count as f64 / total as f64
                };
                let shade = heat(share);
                let x = c as i32;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [
                            (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                            (SegmentValue::Exact(x + 1), SegmentValue::Exact(y + 1)),
                        ],
                        shade.filled(),
                    )))
                    .map_err(plot_err)?;
                let ink = if share > 0.55 { WHITE } else { BLACK };
                chart
                    .draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (SegmentValue::CenterOf(x), SegmentValue::CenterOf(y)),
                        (FONT, 13)
                            .into_font()
                            .color(&ink)
                            .pos(Pos::new(HPos::Center, VPos::Center)),
                    )))
                    .map_err(plot_err)?;
            }
        }
        root.present().map_err(plot_err)?;
    }
    Ok(svg)
}

/// White to dark blue.
fn heat(share: f64) -> RGBColor {
    let s = share.clamp(0.0, 1.0);
    let mix = |from: f64, to: f64| (from + (to - from) * s).round() as u8;
    RGBColor(mix(247.0, 8.0), mix(251.0, 48.0), mix(255.0, 107.0))
}

/// `$0.43`, `$12`, `$0.0021`: enough digits to tell axis ticks apart.
fn money(v: f64) -> String {
    if v == 0.0 {
        "$0".into()
    } else if v.abs() >= 100.0 {
        format!("${v:.0}")
    } else if v.abs() >= 1.0 {
        format!("${v:.2}")
    } else {
        let digits = (-v.abs().log10()).ceil() as usize + 1;
        format!("${v:.digits$}")
    }
}

fn millis(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.0} s", v / 1000.0)
    } else if v >= 1000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.0} ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(label: &str, color: usize, cost: f64, q: f64) -> CostQualityPoint {
        CostQualityPoint {
            label: label.into(),
            color,
            cost_per_1k: cost,
            quality: q,
            quality_low: q - 0.05,
            quality_high: q + 0.05,
        }
    }

    #[test]
    fn pareto_front_keeps_the_cheapest_at_each_quality() {
        let pts = [
            pt("cheap", 0, 0.5, 0.6),
            pt("strong", 1, 20.0, 0.9),
            pt("dominated", 2, 25.0, 0.8),
            pt("middle", 3, 5.0, 0.75),
            pt("twin of middle", 4, 5.0, 0.75),
        ];
        assert_eq!(pareto_front(&pts), vec![true, true, false, true, true]);
    }

    #[test]
    fn cost_quality_draws_one_circle_per_model_filled_on_the_front() {
        let pts = [
            pt("a/<b>", 0, 0.5, 0.6),
            pt("c/d", 1, 20.0, 0.9),
            pt("e/f", 2, 25.0, 0.8),
        ];
        let svg = cost_quality("code", 0.8, &pts).unwrap();
        assert!(svg.contains("80% CI") && !svg.contains("95%"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        for (i, filled) in [(0, true), (1, true), (2, false)] {
            let c = color_hex(i);
            let needle = if filled {
                format!("fill=\"{c}\"")
            } else {
                format!("stroke=\"{c}\"")
            };
            let circles: Vec<&str> = svg
                .lines()
                .filter(|l| l.starts_with("<circle") && l.contains(&c))
                .collect();
            assert_eq!(circles.len(), 1, "{c}: {circles:?}");
            assert!(circles[0].contains(&needle), "{c}: {circles:?}");
        }
        assert!(svg.contains("a/&lt;b&gt;"), "labels are escaped");
        assert!(!svg.contains("a/<b>"));
        // A factor of 50 between costs: logarithmic axis, ticks as dollars.
        assert!(svg.contains("$"), "{svg}");
    }

    #[test]
    fn latency_draws_one_polyline_per_model() {
        let curves: Vec<LatencyCurve> = (0..3)
            .map(|i| LatencyCurve {
                label: format!("m/{i}"),
                color: i,
                quantiles: (0..=10)
                    .map(|k| (k as f64 / 10.0, 100.0 * (i + 1) as f64 + k as f64 * 50.0))
                    .collect(),
            })
            .collect();
        let svg = latency("all tasks", &curves).unwrap();
        for i in 0..3 {
            let c = color_hex(i);
            let lines = svg
                .lines()
                .filter(|l| l.starts_with("<polyline") && l.contains(&format!("stroke=\"{c}\"")))
                .count();
            assert_eq!(lines, 1, "model {i}: {svg}");
        }
    }

    #[test]
    fn confusion_shows_every_count() {
        let m = Confusion {
            labels: vec!["code".into(), "math".into()],
            counts: vec![vec![17, 3], vec![0, 11]],
        };
        let svg = confusion("keywords", &m).unwrap();
        for n in ["17", "3", "0", "11"] {
            assert!(svg.contains(&format!(">\n{n}\n</text>")), "{n}: {svg}");
        }
        assert!(svg.contains(">\ncode\n</text>") && svg.contains(">\nmath\n</text>"));
    }
}
