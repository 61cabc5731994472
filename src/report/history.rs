//! The "Evidence across weeks" section of report.md and the `history` field of report.json.

use std::fmt::Write;

use crate::derive::history::{Pooling, Status};

/// The report.md section: which earlier runs were read, each model's change test, whose
/// history was pooled and whose was dropped.
pub(crate) fn markdown(p: &Pooling) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "## Evidence across weeks\n\nEarlier runs in `{}` finished within {} before this run: {}. Each model's items this run are tested against its earlier items (paired where an item repeats, a two-sample test per task type otherwise; two-sided at {}, one test per model, unadjusted). A model that shows no change has its earlier items pooled into the decisions' evidence; one that moved, is new or is configured differently is decided on this run's items alone. Simulated tables are scored on this run's items; the out-of-sample refits pool the history as the decisions do, without the held-out fold's items.\n",
        p.dir.replace('`', "'"),
        p.window,
        if p.runs.is_empty() {
            "none".to_string()
        } else {
            p.runs.join(", ")
        },
        crate::base::fmt::percent_1dp(p.alpha),
    );
    o.push_str("| model | evidence | earlier runs | items now | earlier items | repeated | Δ (now − earlier) | p |\n|---|---|---|---:|---:|---:|---:|---:|\n");
    for c in &p.models {
        let status = match c.status {
            Status::Pooled => "pooled",
            Status::Moved => "**moved: history dropped**",
            Status::NoHistory => "this run only",
        };
        let _ = writeln!(
            o,
            "| `{}` | {status} | {} | {} | {} | {} | {} | {} |",
            c.model,
            c.weeks,
            c.items_now,
            c.items_history,
            c.repeated,
            c.delta
                .map_or("–".into(), |d| format!("{:+.1} pts", 100.0 * d)),
            c.p_value.map_or("–".into(), |p| format!("{p:.3}")),
        );
    }
    for s in &p.skipped {
        let _ = writeln!(o, "\nNot read: {}", super::markdown::cell(s));
    }
    o.push('\n');
    o
}
