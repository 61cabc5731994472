//! SVG charts for `report.html`, drawn with plotters from aggregates only (never from raw rows:
//! a run may hold a million calls). Each function takes plain figures and returns an SVG
//! document as a string; plotters escapes every text it draws.
//!
//! Marks are one element per model so a reader (and a test) can count them: the cost–quality
//! chart draws exactly one `<circle>` per model, the latency chart exactly one `<polyline>` per
//! model, each in the model's palette colour. Axes are [`Axis`]: ticks distinct, in order,
//! apart, bracketing the data; the caller picks one [`Scale`] per kind of panel. Point labels
//! never overlap each other or a mark ([`labels`]).

mod axis;
mod labels;

use plotters::coord::ranged1d::SegmentValue;
use plotters::coord::types::RangedCoordf64;

use self::axis::Coord;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub use self::axis::{Axis, Scale};
use self::labels::{Placer, Rect};

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
/// Plotters draws a font of `n` points `n × 96 / 119` px high in SVG (12 → 9.68 px).
const PX_PER_PT: f64 = 96.0 / 119.0;
/// Tick and point labels, in points.
const LABEL_PT: u32 = 12;
const MARGIN: u32 = 12;
/// Room right of the plot for half of the last tick label ("10000 s").
const MARGIN_RIGHT: u32 = 30;
const X_LABEL_AREA: u32 = 44;
const Y_LABEL_AREA: u32 = 56;
/// Caption band: the title, and the marker key on its right.
const CAPTION_PT: u32 = 18;

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow::anyhow!("cannot draw a chart: {e}")
}

fn label_px() -> f64 {
    LABEL_PT as f64 * PX_PER_PT
}

/// The x axis' length in pixels.
fn x_pixels() -> f64 {
    (WIDTH - MARGIN - MARGIN_RIGHT - Y_LABEL_AREA) as f64
}

/// One model on one task type: where it sits on cost and quality, and whether a cell of the
/// task routes to it now (`current`) or would after the change (`proposed`).
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
    /// The primary of at least one of the task's cells in the current table.
    pub current: bool,
    /// The primary of at least one of the task's cells in the recommended table, and new there.
    pub proposed: bool,
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

/// A drawn chart: the SVG document and the point labels that found no free spot (their models
/// are named by colour in the key beside the chart).
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub svg: String,
    pub unlabelled: Vec<String>,
}

/// What a cost–quality panel shows.
pub struct CostQuality<'a> {
    pub title: &'a str,
    /// The intervals' level (0–1), printed on the quality axis.
    pub confidence: f64,
    pub points: &'a [CostQualityPoint],
    /// The cost axis' scale, the same for every panel of the report ([`Scale::fitting`] over
    /// all of them).
    pub scale: Scale,
}

/// Cost per 1,000 requests (x) against quality (y) with interval bars; Pareto-optimal models
/// are filled circles joined by a dashed line, dominated ones are rings; a square marks a
/// current primary of the task's cells, a diamond a proposed one (keyed in the caption band).
/// Labels are placed clear of every mark or dropped ([`Drawn::unlabelled`]).
pub fn cost_quality(c: &CostQuality) -> anyhow::Result<Drawn> {
    let x = Axis::new(
        c.scale,
        c.points.iter().map(|p| p.cost_per_1k),
        &axis::money_tick,
        x_pixels(),
        label_px(),
    );
    let q_lo = c.points.iter().map(|p| p.quality_low).fold(1.0, f64::min);
    let q_hi = c.points.iter().map(|p| p.quality_high).fold(0.0, f64::max);
    let (q_lo, q_hi) = if c.points.is_empty() || q_hi < q_lo {
        (0.0, 1.0)
    } else {
        let pad = ((q_hi - q_lo) * 0.1).max(0.02);
        ((q_lo - pad).max(0.0), (q_hi + pad).min(1.0))
    };
    let y = q_lo..q_hi.max(q_lo + 0.01);
    let mut svg = String::new();
    let unlabelled;
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(c.title, (FONT, CAPTION_PT))
            .margin(MARGIN)
            .margin_right(MARGIN_RIGHT)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x.coord(), y)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc(match x.scale {
                Scale::Log => "cost per 1,000 requests (USD, log scale)",
                Scale::Linear => "cost per 1,000 requests (USD)",
            })
            .y_desc(format!(
                "quality (mean score, {}% CI)",
                crate::base::fmt::confidence_percent(c.confidence)
            ))
            .x_label_formatter(&|v| x.label_at(*v))
            .y_label_formatter(&|v| format!("{v:.2}"))
            .label_style((FONT, LABEL_PT))
            .draw()
            .map_err(plot_err)?;
        let front = pareto_front(c.points);
        let front_line = draw_front(&mut chart, c.points, &front, &x)?;
        draw_intervals(&mut chart, c.points, &x)?;
        draw_points(&mut chart, c.points, &front, &x)?;
        let at = |p: &CostQualityPoint, q: f64| {
            let (px, py) = chart.backend_coord(&(x.t(p.cost_per_1k), q));
            (px as f64, py as f64)
        };
        let (xr, yr) = chart.plotting_area().get_pixel_range();
        let area = Rect {
            x0: xr.start as f64 + 2.0,
            y0: yr.start as f64 + 2.0,
            x1: xr.end as f64 - 2.0,
            y1: yr.end as f64 - 2.0,
        };
        let mut obstacles = Vec::new();
        for p in c.points {
            let (px, py) = at(p, p.quality);
            let (_, top) = at(p, p.quality_high);
            let (_, bottom) = at(p, p.quality_low);
            let r = if p.current || p.proposed { 12.0 } else { 7.0 };
            obstacles.push(Rect::around(px, py, r));
            obstacles.push(Rect {
                x0: px - 6.0,
                y0: top - 2.0,
                x1: px + 6.0,
                y1: bottom + 2.0,
            });
        }
        let mut placer = Placer::new(area, obstacles);
        let pixels: Vec<(f64, f64)> = front_line.iter().map(|p| at(p, p.quality)).collect();
        for w in pixels.windows(2) {
            placer.block_line(w[0], w[1]);
        }
        unlabelled = draw_labels(&root, &mut placer, c.points, &front, &at)?;
        draw_marker_key(&root, c.points)?;
        root.present().map_err(plot_err)?;
    }
    Ok(Drawn { svg, unlabelled })
}

type CostChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Coord, RangedCoordf64>>;

/// The dashed Pareto line, cheapest first; returns the points it joins.
fn draw_front<'p>(
    chart: &mut CostChart,
    points: &'p [CostQualityPoint],
    front: &[bool],
    x: &Axis,
) -> anyhow::Result<Vec<&'p CostQualityPoint>> {
    let mut on_front: Vec<&CostQualityPoint> = points
        .iter()
        .zip(front)
        .filter(|(_, f)| **f)
        .map(|(p, _)| p)
        .collect();
    on_front.sort_by(|a, b| a.cost_per_1k.total_cmp(&b.cost_per_1k));
    if on_front.len() > 1 {
        let grey = RGBColor(0x55, 0x55, 0x55);
        chart
            .draw_series(DashedLineSeries::new(
                on_front.iter().map(|p| (x.t(p.cost_per_1k), p.quality)),
                6,
                4,
                grey.stroke_width(1),
            ))
            .map_err(plot_err)?;
    }
    Ok(on_front)
}

/// Interval bars: a vertical line with short caps, in pixels so that they look the same on a
/// logarithmic axis.
fn draw_intervals(
    chart: &mut CostChart,
    points: &[CostQualityPoint],
    x: &Axis,
) -> anyhow::Result<()> {
    for p in points {
        let c = color(p.color);
        let px = x.t(p.cost_per_1k);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(px, p.quality_low), (px, p.quality_high)],
                c.stroke_width(2),
            )))
            .map_err(plot_err)?;
        for q in [p.quality_low, p.quality_high] {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((px, q))
                        + PathElement::new(vec![(-5, 0), (5, 0)], c.stroke_width(2)),
                ))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// One circle per model (filled on the front), with a square around a current primary and a
/// diamond around a proposed one.
fn draw_points(
    chart: &mut CostChart,
    points: &[CostQualityPoint],
    front: &[bool],
    x: &Axis,
) -> anyhow::Result<()> {
    for (p, f) in points.iter().zip(front) {
        let c = color(p.color);
        let style = if *f { c.filled() } else { c.stroke_width(2) };
        let at = (x.t(p.cost_per_1k), p.quality);
        chart
            .draw_series(std::iter::once(
                EmptyElement::at(at) + Circle::new((0, 0), 6, style),
            ))
            .map_err(plot_err)?;
        if p.current {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at) + PathElement::new(square(10), BLACK.stroke_width(1)),
                ))
                .map_err(plot_err)?;
        }
        if p.proposed {
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(at) + PathElement::new(diamond(12), BLACK.stroke_width(2)),
                ))
                .map_err(plot_err)?;
        }
    }
    Ok(())
}

/// A closed square path of half-side `r` pixels around the origin.
fn square(r: i32) -> Vec<(i32, i32)> {
    vec![(-r, -r), (r, -r), (r, r), (-r, r), (-r, -r)]
}

/// A closed diamond path of half-diagonal `r` pixels around the origin.
fn diamond(r: i32) -> Vec<(i32, i32)> {
    vec![(0, -r), (r, 0), (0, r), (-r, 0), (0, -r)]
}

/// Labels, Pareto front and marked models first; returns the labels that found no spot.
fn draw_labels(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    placer: &mut Placer,
    points: &[CostQualityPoint],
    front: &[bool],
    at: &dyn Fn(&CostQualityPoint, f64) -> (f64, f64),
) -> anyhow::Result<Vec<String>> {
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| {
        let p = &points[i];
        (!(p.current || p.proposed), !front[i], i)
    });
    let font_px = label_px();
    let mut dropped = Vec::new();
    for i in order {
        let p = &points[i];
        let (px, py) = at(p, p.quality);
        let bar = (at(p, p.quality_high).1, at(p, p.quality_low).1);
        let (w, h) = labels::text_size(&p.label, font_px);
        let Some(spot) = placer.place(px, py, bar, w, h) else {
            dropped.push(p.label.clone());
            continue;
        };
        if let Some((a, b)) = spot.leader {
            root.draw(&PathElement::new(
                vec![
                    (a.0.round() as i32, a.1.round() as i32),
                    (b.0.round() as i32, b.1.round() as i32),
                ],
                RGBColor(0x99, 0x99, 0x99).stroke_width(1),
            ))
            .map_err(plot_err)?;
        }
        let font = (FONT, LABEL_PT)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(
            p.label.clone(),
            (spot.rect.x0.round() as i32, spot.rect.y0.round() as i32),
            font,
        ))
        .map_err(plot_err)?;
    }
    Ok(dropped)
}

/// The key of the square and diamond markers, at the right of the caption band.
fn draw_marker_key(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    points: &[CostQualityPoint],
) -> anyhow::Result<()> {
    // (marker path, stroke width, name)
    type Entry = (Vec<(i32, i32)>, u32, &'static str);
    let mut entries: Vec<Entry> = Vec::new();
    if points.iter().any(|p| p.current) {
        entries.push((square(6), 1, "current"));
    }
    if points.iter().any(|p| p.proposed) {
        entries.push((diamond(7), 2, "proposed"));
    }
    let font_px = label_px();
    let mut right = (WIDTH - MARGIN) as i32;
    for (shape, stroke, text) in entries.into_iter().rev() {
        let w = labels::text_size(text, font_px).0.ceil() as i32;
        let left = right - w;
        let y = 14;
        root.draw(&Text::new(
            text,
            (left, y),
            (FONT, LABEL_PT)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(plot_err)?;
        let cx = left - 12;
        root.draw(
            &(EmptyElement::at((cx, y)) + PathElement::new(shape, BLACK.stroke_width(stroke))),
        )
        .map_err(plot_err)?;
        right = cx - 16;
    }
    Ok(())
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
/// finished within a latency (x), on the latency `scale` every latency panel shares. The axis
/// reaches the slowest call drawn, in one unit. No legend inside the SVG: the page names the
/// colours next to the chart.
pub fn latency(title: &str, curves: &[LatencyCurve], scale: Scale) -> anyhow::Result<String> {
    let all: Vec<f64> = curves
        .iter()
        .flat_map(|c| c.quantiles.iter().map(|q| q.1))
        .collect();
    let max = all.iter().copied().fold(0.0, f64::max);
    let x = Axis::new(
        scale,
        all.iter().copied(),
        &axis::duration_tick(max >= 1000.0),
        x_pixels(),
        label_px(),
    );
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, CAPTION_PT))
            .margin(MARGIN)
            .margin_right(MARGIN_RIGHT)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(Y_LABEL_AREA)
            .build_cartesian_2d(x.coord(), 0.0..1.0)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .light_line_style(WHITE)
            .x_desc(match x.scale {
                Scale::Log => "latency (log scale)",
                Scale::Linear => "latency",
            })
            .y_desc("share of calls finished")
            .x_label_formatter(&|v| x.label_at(*v))
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .label_style((FONT, LABEL_PT))
            .draw()
            .map_err(plot_err)?;
        for c in curves {
            let col = color(c.color);
            chart
                .draw_series(LineSeries::new(
                    c.quantiles.iter().map(|&(q, ms)| (x.t(ms), q)),
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

/// The SVG text reader the integration tests use too (one copy, in `tests/common`).
#[cfg(test)]
#[path = "../../../tests/common/svg_text.rs"]
mod svg_text;

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
            current: false,
            proposed: false,
        }
    }

    /// A text's box as a [`Rect`].
    fn rect(t: &svg_text::SvgText) -> Rect {
        Rect {
            x0: t.x0,
            y0: t.y0,
            x1: t.x1,
            y1: t.y1,
        }
    }

    /// Every unrotated `<text>` of `svg`, at the width estimate the charts use.
    fn texts(svg: &str) -> Vec<svg_text::SvgText> {
        svg_text::texts(svg, labels::text_size)
    }

    #[test]
    fn the_shared_svg_reader_sizes_text_as_the_charts_do() {
        for (t, px) in [
            ("$0.50", 11.0),
            ("gemini-3.1-pro-preview", 12.0),
            ("", 10.0),
        ] {
            assert_eq!(labels::text_size(t, px), svg_text::estimate(t, px), "{t}");
        }
    }

    /// The x axis' tick labels, left to right, with their centres.
    fn x_ticks(svg: &str) -> Vec<(f64, String)> {
        let all = texts(svg);
        svg_text::x_ticks(&all)
            .into_iter()
            .map(|t| ((t.x0 + t.x1) / 2.0, t.text.clone()))
            .collect()
    }

    /// Tick texts distinct and increasing left to right (as `parse` reads them).
    fn assert_ticks_read(svg: &str, parse: fn(&str) -> f64) {
        let ticks = x_ticks(svg);
        assert!(ticks.len() >= 2, "{ticks:?}");
        let values: Vec<f64> = ticks.iter().map(|t| parse(&t.1)).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{ticks:?}");
    }

    /// No two unrotated texts of the SVG overlap, and none leaves the SVG.
    fn assert_no_text_overlaps(svg: &str) {
        let t = texts(svg);
        let page = Rect {
            x0: -1.0,
            y0: -1.0,
            x1: WIDTH as f64 + 1.0,
            y1: HEIGHT as f64 + 1.0,
        };
        for (i, a) in t.iter().enumerate() {
            assert!(rect(a).inside(&page), "{a:?} spills out of the chart");
            for b in &t[i + 1..] {
                assert!(!rect(a).overlaps(&rect(b)), "{a:?} overlaps {b:?}");
            }
        }
    }

    fn dollars(s: &str) -> f64 {
        s.trim_start_matches('$').parse().unwrap()
    }

    fn seconds(s: &str) -> f64 {
        match s.split_once(' ') {
            Some((v, "s")) => v.parse::<f64>().unwrap() * 1000.0,
            Some((v, "ms")) => v.parse().unwrap(),
            _ => panic!("not a duration tick: {s}"),
        }
    }

    /// Nine models whose costs and qualities crowd (the `sim` roster of the issue).
    fn nine() -> Vec<CostQualityPoint> {
        let roster = [
            ("claude-opus-4-6", 15.0, 0.90),
            ("gpt-5.2", 10.0, 0.84),
            ("gemini-3.1-pro-preview", 7.0, 0.84),
            ("deepseek-reasoner", 1.5, 0.89),
            ("gemini-3-flash-preview", 0.8, 0.73),
            ("deepseek-chat", 0.4, 0.73),
            ("gpt-oss-120b", 0.35, 0.64),
            ("llama-3.3-70b", 0.6, 0.62),
            ("sonar", 1.0, 0.73),
        ];
        roster
            .iter()
            .enumerate()
            .map(|(i, (l, c, q))| {
                let mut p = pt(l, i, c / 10.0, *q);
                p.current = i == 0;
                p.proposed = i == 3;
                p
            })
            .collect()
    }

    #[test]
    fn nine_crowded_models_get_readable_ticks_and_labels_that_do_not_collide() {
        let pts = nine();
        for scale in [Scale::Log, Scale::Linear] {
            let d = cost_quality(&CostQuality {
                title: "code: cost and quality",
                confidence: 0.95,
                points: &pts,
                scale,
            })
            .unwrap();
            assert_ticks_read(&d.svg, dollars);
            assert_no_text_overlaps(&d.svg);
            let labelled = pts
                .iter()
                .filter(|p| d.svg.contains(&format!(">\n{}\n<", p.label)));
            assert_eq!(
                labelled.count() + d.unlabelled.len(),
                pts.len(),
                "every model is labelled or listed as unlabelled"
            );
            assert!(d.unlabelled.len() <= 3, "{:?}", d.unlabelled);
            // The marker key names both marks.
            assert!(d.svg.contains(">\ncurrent\n<") && d.svg.contains(">\nproposed\n<"));
        }
    }

    #[test]
    fn a_log_latency_axis_reaches_the_slowest_call_without_overlapping_ticks() {
        let curves: Vec<LatencyCurve> = (0..9)
            .map(|i| LatencyCurve {
                label: format!("m/{i}"),
                color: i,
                quantiles: (0..=10)
                    .map(|k| {
                        let p50 = 250.0 * (i + 1) as f64;
                        (k as f64 / 10.0, p50 * (1.0 + k as f64 * 0.6))
                    })
                    .collect(),
            })
            .collect();
        // One call two hours long (the llm-drift recording has one): the axis reaches it and
        // its last label stays inside the chart.
        let mut curves = curves;
        curves[0].quantiles.last_mut().unwrap().1 = 7_922_853.0;
        let slowest = curves
            .iter()
            .flat_map(|c| c.quantiles.iter().map(|q| q.1))
            .fold(0.0, f64::max);
        assert!(slowest > 10_000.0);
        let svg = latency("code: latency", &curves, Scale::Log).unwrap();
        assert_ticks_read(&svg, seconds);
        assert_no_text_overlaps(&svg);
        let last = x_ticks(&svg).last().map(|t| seconds(&t.1)).unwrap();
        assert!(
            last >= slowest,
            "the axis stops at {last} ms below {slowest} ms"
        );
        assert!(svg.contains("log scale"));
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
        let svg = cost_quality(&CostQuality {
            title: "code",
            confidence: 0.8,
            points: &pts,
            scale: Scale::fitting(pts.iter().map(|p| p.cost_per_1k)),
        })
        .unwrap()
        .svg;
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
        let svg = latency("all tasks", &curves, Scale::Linear).unwrap();
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
