//! Plain-text tables for the terminal (numbers print through [`crate::base::fmt`]).

use crate::base::fmt::{ms, percent_1dp, usd};
use crate::derive::Derived;
use crate::derive::analyze::ClassifierSummary;

use super::sections::{self, Align, Table};

/// "costs the recommended table 1.2% of its quality", or "gains …" when misroutes happen to
/// help (a negative loss): the sentence after "Misclassification by X".
pub fn misroute_effect(loss: f64) -> String {
    format!(
        "{} the recommended table {} of its quality",
        if loss < 0.0 { "gains" } else { "costs" },
        percent_1dp(loss.abs())
    )
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

/// What `run` prints at the end: the verdict, the evidence across weeks (with `--history`),
/// the adaptive design's looks and savings (with `--adaptive`),
/// one row per cell, then the figures per task type and model.
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
    if let Some(p) = &d.history {
        out.push_str(&super::history::terminal(p));
        out.push('\n');
    }
    if let Some(line) = super::adaptive::terminal(d) {
        out.push_str(&line);
        out.push_str("\n\n");
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
        percent_1dp(c.task_accuracy),
        percent_1dp(c.priority_accuracy),
        percent_1dp(c.both_accuracy),
        c.parse_misses.to_string(),
        usd(c.cost_per_call),
        ms(c.mean_latency_ms),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misroutes_that_help_read_as_a_gain() {
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
