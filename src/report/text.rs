//! Plain-text tables for the terminal, and the number formats every report shares.

use crate::derive::Derived;
use crate::derive::analyze::ClassifierSummary;
use crate::derive::stats::Estimate;

use super::sections::{self, Align, Table};

pub fn quality(e: Option<Estimate>) -> String {
    match e {
        Some(e) => format!("{:.3} [{:.3}, {:.3}]", e.value, e.low, e.high),
        None => "–".into(),
    }
}

pub fn usd(x: Option<f64>) -> String {
    match x {
        None => "unknown".into(),
        Some(0.0) => "$0".into(),
        Some(v) if v.abs() < 0.01 => format!("${v:.6}"),
        Some(v) => format!("${v:.4}"),
    }
}

pub fn signed_usd(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => format!("{}{}", if v < 0.0 { "−" } else { "+" }, usd(Some(v.abs()))),
    }
}

pub fn ms(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v >= 10_000.0 => format!("{:.1} s", v / 1000.0),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

pub fn signed_ms(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => format!("{}{}", if v < 0.0 { "−" } else { "+" }, ms(Some(v.abs()))),
    }
}

/// Milliseconds printed in seconds, always: one unit for a whole column ("5.31 s", "10.70 s").
pub fn seconds(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) if v.abs() < 1000.0 => format!("{:.3} s", v / 1000.0),
        Some(v) => format!("{:.2} s", v / 1000.0),
    }
}

/// [`seconds`] with its sign ("−1.20 s", "+0.35 s").
pub fn signed_seconds(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(v) => format!(
            "{}{}",
            if v < 0.0 { "−" } else { "+" },
            seconds(Some(v.abs()))
        ),
    }
}

/// Whether a column holding these latencies (ms) prints in seconds: when any reaches 10 s.
pub fn in_seconds(xs: impl IntoIterator<Item = Option<f64>>) -> bool {
    xs.into_iter().flatten().any(|v| v >= 10_000.0)
}

/// A latency (ms) in the unit [`in_seconds`] chose for its column.
pub fn ms_in(x: Option<f64>, seconds: bool) -> String {
    match x {
        None => "–".into(),
        Some(v) if seconds => format!("{:.1} s", v / 1000.0),
        Some(v) if v < 10.0 => format!("{v:.2} ms"),
        Some(v) => format!("{v:.0} ms"),
    }
}

/// A column of latencies in milliseconds, printed in one unit: seconds when any reaches 10 s,
/// milliseconds otherwise.
pub fn ms_column(xs: &[Option<f64>]) -> Vec<String> {
    let s = in_seconds(xs.iter().copied());
    xs.iter().map(|x| ms_in(*x, s)).collect()
}

/// "costs the recommended table 1.2% of its quality", or "gains …" when misroutes happen to
/// help (a negative loss): the sentence after "Misclassification by X".
pub fn misroute_effect(loss: f64) -> String {
    format!(
        "{} the recommended table {} of its quality",
        if loss < 0.0 { "gains" } else { "costs" },
        pct(loss.abs())
    )
}

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

/// A left-aligned text table with a header rule.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    aligned(header, &vec![Align::Left; header.len()], rows)
}

/// A text table with a header rule; columns padded by display width (wide and combining
/// characters count as the terminal draws them) and aligned as asked.
pub fn aligned(header: &[&str], align: &[Align], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    let line = |cells: &[&str]| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = " ".repeat(widths[i] - width(c));
            let last = i + 1 == cells.len();
            match align.get(i).copied().unwrap_or(Align::Left) {
                Align::Right => {
                    s.push_str(&pad);
                    s.push_str(c);
                }
                Align::Left => {
                    s.push_str(c);
                    if !last {
                        s.push_str(&pad);
                    }
                }
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&line(&rule.iter().map(String::as_str).collect::<Vec<_>>()));
    for r in rows {
        out.push_str(&line(&r.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    out
}

/// A section table drawn for the terminal.
pub fn draw(t: &Table) -> String {
    let header: Vec<&str> = t.columns.iter().map(|c| c.header.as_str()).collect();
    let align: Vec<Align> = t.columns.iter().map(|c| c.align).collect();
    aligned(&header, &align, &t.plain_rows())
}

/// What `run` prints at the end: the verdict, one row per cell, then the figures per task
/// type and model.
pub fn summary(d: &Derived) -> String {
    let mut out = String::new();
    if let Some(v) = sections::verdict(d) {
        out.push_str(&v.summary);
        out.push('\n');
        out.push_str(&draw(&v.table));
        for line in &v.attention {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&draw(&sections::cells(d)));
    out.push_str("(the reason behind each row is in report.md and report.html)\n\n");
    out.push_str(&draw(&sections::models(d)));
    out
}

pub fn route(r: &crate::config::Route) -> String {
    match &r.fallback {
        Some(f) => format!("{} (fallback {f})", r.primary),
        None => r.primary.to_string(),
    }
}

/// The classifier table's columns, shared by report.md and report.html.
pub const CLASSIFIER_COLUMNS: [&str; 8] = [
    "classifier",
    "n",
    "task accuracy",
    "priority accuracy",
    "both",
    "parse misses",
    "cost / call",
    "mean latency",
];

/// A classifier's figures, in the order of [`CLASSIFIER_COLUMNS`] after its name.
pub fn classifier_figures(c: &ClassifierSummary) -> [String; 7] {
    [
        c.n.to_string(),
        pct(c.task_accuracy),
        pct(c.priority_accuracy),
        pct(c.both_accuracy),
        c.parse_misses.to_string(),
        usd(c.cost_per_call),
        ms(c.mean_latency_ms),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_column_keeps_one_unit() {
        assert_eq!(
            ms_column(&[Some(10_700.0), Some(5_305.0), None]),
            ["10.7 s", "5.3 s", "–"]
        );
        assert_eq!(
            ms_column(&[Some(9_999.0), Some(5.0)]),
            ["9999 ms", "5.00 ms"]
        );
        assert_eq!(signed_seconds(Some(-1200.0)), "−1.20 s");
        assert_eq!(
            misroute_effect(-0.004),
            "gains the recommended table 0.4% of its quality"
        );
        assert_eq!(
            misroute_effect(0.012),
            "costs the recommended table 1.2% of its quality"
        );
    }

    #[test]
    fn tables_pad_by_display_width_and_align_numbers_right() {
        let t = aligned(
            &["name", "n"],
            &[Align::Left, Align::Right],
            &[
                vec!["模型".into(), "1".into()],
                vec!["e\u{301}".into(), "100".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        let w = |s: &str| unicode_width::UnicodeWidthStr::width(s);
        assert!(lines.iter().all(|l| w(l) == w(lines[0])), "{t}");
        assert!(lines[2].ends_with("    1"), "{t}");
    }
}
