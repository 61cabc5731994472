//! The "Evidence across weeks" section of report.md and report.html (the `history` field of
//! report.json is the derivation's own [`Pooling`], serialised).

use super::sections::{Align, Row, Section, Span, Table, code, col, text};
use std::collections::BTreeMap;

use crate::derive::history::{Earlier, NotRead, Pooling, Status};

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

/// The terminal summary's lines for `--history` (what `run` and `report` print): the earlier
/// runs read, the models pooled with the earlier items they add, the models whose history was
/// dropped because they moved (named), the models decided on this run alone, and the runs not
/// read, counted by reason.
pub(crate) fn terminal(p: &Pooling) -> String {
    let runs = match p.runs.len() {
        0 => "no earlier run in the window".to_string(),
        1 => format!("1 earlier run read ({})", p.runs[0]),
        n => format!("{n} earlier runs read ({})", p.runs.join(", ")),
    };
    let mut out = format!(
        "Evidence across weeks (--history {}, window {}): {runs}\n",
        p.dir, p.window
    );
    let list = |status: Status, each: &dyn Fn(&crate::derive::history::ModelCheck) -> String| {
        let names: Vec<String> = p
            .models
            .iter()
            .filter(|c| c.status == status)
            .map(each)
            .collect();
        names.join(", ")
    };
    let pooled = list(Status::Pooled, &|c| {
        format!(
            "{} ({} earlier items: {} repeated this run, +{} new)",
            c.model,
            c.items_history,
            c.repeated,
            c.extra_items()
        )
    });
    if !pooled.is_empty() {
        out.push_str(&format!("  pooled: {pooled}\n"));
    }
    let moved = list(Status::Moved, &|c| {
        format!(
            "{} ({:+.1} pts, p = {:.3})",
            c.model,
            100.0 * c.delta.unwrap_or(0.0),
            c.p_value.unwrap_or(0.0)
        )
    });
    if !moved.is_empty() {
        out.push_str(&format!("  moved, history dropped: {moved}\n"));
    }
    let alone = list(Status::NoHistory, &|c| c.model.to_string());
    if !alone.is_empty() && !p.runs.is_empty() {
        out.push_str(&format!(
            "  this run only (new, reconfigured or no earlier item): {alone}\n"
        ));
    }
    out.push_str(&not_read_line(&p.not_read_counts(), "report.md names them"));
    out
}

/// "  not read: 2 runs (1 too old for the window, 1 not complete; …)", or nothing.
fn not_read_line(counts: &BTreeMap<NotRead, usize>, where_named: &str) -> String {
    if counts.is_empty() {
        return String::new();
    }
    let n: usize = counts.values().sum();
    let why: Vec<String> = counts
        .iter()
        .map(|(w, k)| format!("{k} {}", w.describe()))
        .collect();
    format!(
        "  not read: {n} run{} ({}; {where_named})\n",
        if n == 1 { "" } else { "s" },
        why.join(", ")
    )
}

/// The plan's lines for `run --dry-run --history`: which earlier runs would be read and the
/// graded items each holds per model configured as this week, or that none is in the window.
pub(crate) fn plan_text(e: &Earlier) -> String {
    let head = format!(
        "History (--history {}, window {}): ",
        e.spec.dir.display(),
        e.spec.window
    );
    let mut out = match e.weeks.len() {
        0 => format!("{head}none in the window; each model is decided on this run's items\n"),
        n => format!(
            "{head}{n} earlier run{} would be read; the change test decides what is pooled\n",
            if n == 1 { "" } else { "s" }
        ),
    };
    for (run, per) in e.items_by_run() {
        let items: Vec<String> = per.iter().map(|(m, k)| format!("{m} {k}")).collect();
        let items = if items.is_empty() {
            "no item of a model configured as this run".to_string()
        } else {
            format!("graded items: {}", items.join(", "))
        };
        out.push_str(&format!("  {run}: {items}\n"));
    }
    let counts = crate::derive::history::count_not_read(e.skipped.iter().map(|s| s.why));
    out.push_str(&not_read_line(&counts, "--json lists them"));
    out
}

/// The plan's `history` object (`run --dry-run --json --history`): the folder, the window, the
/// runs that would be read with their graded items per model, and the runs not read.
pub(crate) fn plan_json(e: &Earlier) -> serde_json::Value {
    let runs: Vec<serde_json::Value> = e
        .items_by_run()
        .into_iter()
        .map(|(run, per)| {
            let items: serde_json::Map<String, serde_json::Value> = per
                .into_iter()
                .map(|(m, k)| (m.to_string(), k.into()))
                .collect();
            serde_json::json!({"run_id": run, "items": items})
        })
        .collect();
    serde_json::json!({
        "dir": e.spec.dir.display().to_string(),
        "window": e.spec.window.to_string(),
        "runs": runs,
        "skipped": e.skipped.iter().map(|s| s.text.clone()).collect::<Vec<_>>(),
    })
}
