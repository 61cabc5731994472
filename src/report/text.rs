//! Plain-text tables for the terminal, and the number formats every report shares.

use crate::analyze::ClassifierSummary;
use crate::derive::Derived;
use crate::stats::Estimate;
use crate::types::TaskType;

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

pub fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// A left-aligned text table with a header rule.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i] - c.chars().count()));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header.to_vec());
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// What `run` prints at the end: the summary table and the proposed changes.
pub fn summary(d: &Derived) -> String {
    let mut out = String::new();
    let mut rows = Vec::new();
    for t in TaskType::ALL {
        for mt in d.analysis.model_task.iter().filter(|m| m.task == *t) {
            rows.push(vec![
                t.to_string(),
                mt.model.to_string(),
                mt.n_graded.to_string(),
                quality(mt.quality),
                usd(mt.cost_per_call),
                ms(mt.p95_ms),
                pct(mt.error_rate),
            ]);
        }
    }
    out.push_str(&table(
        &[
            "task",
            "model",
            "n",
            "quality [95% CI]",
            "cost/call",
            "p95",
            "errors",
        ],
        &rows,
    ));
    let changes: Vec<_> = d.rec.changes().collect();
    out.push('\n');
    if changes.is_empty() {
        out.push_str(&format!(
            "No route changes proposed ({} cells checked).\n",
            d.rec.decisions.len()
        ));
    } else {
        out.push_str(&format!(
            "Proposed changes ({} of {} cells):\n",
            changes.len(),
            d.rec.decisions.len()
        ));
        for c in changes {
            out.push_str(&format!(
                "  {}: {} → {}\n      {}\n",
                c.label(),
                route(&c.old),
                route(&c.new),
                c.reason
            ));
        }
    }
    let undecided: Vec<String> = d
        .rec
        .undecided()
        .map(|c| match c.items_needed {
            Some(n) => format!("{} (~{n} more items)", c.label()),
            None => c.label(),
        })
        .collect();
    if !undecided.is_empty() {
        out.push_str(&format!(
            "Undecided, kept ({}): {}\n",
            undecided.len(),
            undecided.join(", ")
        ));
    }
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
