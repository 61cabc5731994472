//! The "Evidence across weeks" section of report.md and report.html (the `history` field of
//! report.json is the derivation's own [`Pooling`], serialised).

use super::sections::{Align, Row, Section, Span, Table, code, col, text};
use crate::derive::history::{Pooling, Status};

/// The section: which earlier runs were read, each model's change test, whose history was
/// pooled and whose was dropped.
pub(crate) fn section(p: &Pooling) -> Section {
    let runs = if p.runs.is_empty() {
        "none".to_string()
    } else {
        p.runs.join(", ")
    };
    let mut paragraphs = vec![format!(
        "Earlier runs in `{}` finished within {} before this run: {runs}. Each model's items this run are tested against its earlier items (paired where an item repeats, a two-sample test per task type otherwise; two-sided at {}, one test per model, unadjusted). A model that shows no change has its earlier items pooled into the decisions' evidence; one that moved, is new or is configured differently is decided on this run's items alone. Simulated tables are scored on this run's items; the out-of-sample refits pool the history as the decisions do, without the held-out fold's items.",
        p.dir.replace('`', "'"),
        p.window,
        crate::base::fmt::percent_1dp(p.alpha),
    )];
    paragraphs.extend(p.skipped.iter().map(|s| format!("Not read: {s}")));
    let rows = p
        .models
        .iter()
        .map(|c| Row {
            cells: vec![
                code(c.model.to_string()),
                match c.status {
                    Status::Pooled => text("pooled"),
                    Status::Moved => vec![Span::Strong("moved: history dropped".into())],
                    Status::NoHistory => text("this run only"),
                },
                text(c.weeks.to_string()),
                text(c.items_now.to_string()),
                text(c.items_history.to_string()),
                text(c.repeated.to_string()),
                text(
                    c.delta
                        .map_or("–".into(), |d| format!("{:+.1} pts", 100.0 * d)),
                ),
                text(c.p_value.map_or("–".into(), |p| format!("{p:.3}"))),
            ],
            highlight: c.status == Status::Moved,
            note: None,
        })
        .collect();
    let columns = vec![
        col("model", Align::Left),
        col("evidence", Align::Left),
        col("earlier runs", Align::Right),
        col("items now", Align::Right),
        col("earlier items", Align::Right),
        col("repeated", Align::Right),
        col("Δ (now − earlier)", Align::Right),
        col("p", Align::Right),
    ];
    Section {
        level: 2,
        id: "history",
        title: "Evidence across weeks".into(),
        paragraphs,
        tables: vec![(None, Table { columns, rows })],
        bullets: Vec::new(),
    }
}
