//! The charts of report.html read at a glance with nine crowded models (the
//! `tests/fixtures/nine-models` suite, on a `sim` endpoint): every axis' tick labels are
//! distinct, in order and reach past the data; no two texts of a chart overlap; every panel of
//! a kind uses the same scale; each task's current and proposed primaries are marked.

use crate::common::svg_text::{self, SvgText as Text};
use crate::common::*;

/// Every unrotated text of a chart, at the charts' width estimate.
fn texts(svg: &str) -> Vec<Text> {
    svg_text::texts(svg, svg_text::estimate)
}

/// The x axis' tick labels, left to right.
fn x_ticks(t: &[Text]) -> Vec<&str> {
    svg_text::x_ticks(t)
        .into_iter()
        .map(|x| x.text.as_str())
        .collect()
}

/// A tick label as a number: "$0.5" → 0.5, "2 s" → 2000, "200 ms" → 200.
fn tick_value(s: &str) -> f64 {
    if let Some(v) = s.strip_prefix('$') {
        return v.parse().unwrap();
    }
    match s.split_once(' ') {
        Some((v, "s")) => v.parse::<f64>().unwrap() * 1000.0,
        Some((v, "ms")) => v.parse().unwrap(),
        _ => panic!("not a tick label: {s:?}"),
    }
}

/// Each `<figure id="PREFIX-...">`'s SVG.
fn figures<'a>(html: &'a str, prefix: &str) -> Vec<(&'a str, &'a str)> {
    let open = format!("<figure id=\"{prefix}-");
    html.match_indices(&open)
        .map(|(i, _)| {
            let body = &html[i..];
            let id_end = body[9..].find('"').unwrap() + 9;
            let svg = &body[body.find("<svg").unwrap()..body.find("</svg>").unwrap()];
            (&body[9..id_end], svg)
        })
        .collect()
}

#[test]
fn nine_crowded_models_get_readable_axes_and_labels_that_do_not_collide() {
    let tmp = tempfile::tempdir().unwrap();
    let suite = repo().join("tests/fixtures/nine-models");
    let dir = run_ok(tmp.path(), &suite, &tmp.path().join("reports"));
    let html = read(&dir.join("report.html"));
    for kind in ["cost-quality", "latency"] {
        let figs = figures(&html, kind);
        assert_eq!(figs.len(), 6, "{kind}: one panel per task type");
        let logs = figs.iter().filter(|f| f.1.contains("log scale")).count();
        assert!(
            logs == 0 || logs == figs.len(),
            "{kind}: {logs} of {} panels logarithmic",
            figs.len()
        );
        for (id, svg) in &figs {
            let t = texts(svg);
            let ticks = x_ticks(&t);
            let values: Vec<f64> = ticks.iter().map(|s| tick_value(s)).collect();
            assert!(ticks.len() >= 3, "{id}: {ticks:?}");
            assert!(values.windows(2).all(|w| w[0] < w[1]), "{id}: {ticks:?}");
            for (i, a) in t.iter().enumerate() {
                let inside = a.x0 >= -1.0 && a.x1 <= 641.0 && a.y0 >= -1.0 && a.y1 <= 401.0;
                assert!(inside, "{id}: {a:?} spills out of the 640 × 400 chart");
                for b in &t[i + 1..] {
                    let overlap = a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
                    assert!(!overlap, "{id}: {a:?} overlaps {b:?}");
                }
            }
        }
    }
    // The latency axis reaches the slowest call drawn: the sim roster's p95 reaches 16 s.
    for (id, svg) in figures(&html, "latency") {
        let last = x_ticks(&texts(svg)).last().map(|s| tick_value(s)).unwrap();
        assert!(last >= 16_000.0, "{id}: the axis stops at {last} ms");
    }
    // The table's current primaries are marked, with the key naming the marks.
    for (id, svg) in figures(&html, "cost-quality") {
        assert!(svg.contains(">\ncurrent\n</text>"), "{id}");
    }
}
