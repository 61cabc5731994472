//! Report sections built once as data (headers, alignment, rows, notes) and drawn by the text,
//! Markdown and HTML writers, which only lay rows out. Numbers are formatted here, through the
//! shared formats of [`super::text`], so every format prints the same figures.

mod detail;

pub use self::detail::{
    classifier, classifier_value, leaderboard, leaderboards, models, simulation, stability,
    strong_weak, warnings,
};

use crate::base::fmt::{confidence_percent, percent_1dp, seconds, signed_seconds, signed_usd, usd};
use crate::derive::policy::{Decision, Outcome};
use crate::derive::{Derived, TableFigures, Verdict};

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One column: its header (units included) and alignment.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub header: String,
    pub align: Align,
}

/// A piece of a cell: plain text, or a code span (a model or cell name).
#[derive(Debug, Clone, PartialEq)]
pub enum Span {
    Text(String),
    Code(String),
    /// Emphasised text (the proposed route).
    Strong(String),
}

/// One table cell: spans drawn one after another.
pub type Cell = Vec<Span>;

/// One row: its cells, whether it is highlighted (a change), and an optional longer note that
/// a writer puts one click away (HTML `<details>`) or in a numbered footnote (Markdown).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub cells: Vec<Cell>,
    pub highlight: bool,
    pub note: Option<String>,
}

/// A section's table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
}

impl Table {
    /// The cells as plain text (code spans unmarked), for the terminal.
    pub fn plain_rows(&self) -> Vec<Vec<String>> {
        self.rows
            .iter()
            .map(|r| r.cells.iter().map(|c| plain(c)).collect())
            .collect()
    }
}

/// A cell's text without markup.
pub fn plain(c: &[Span]) -> String {
    c.iter()
        .map(|s| match s {
            Span::Text(t) | Span::Code(t) | Span::Strong(t) => t.as_str(),
        })
        .collect()
}

/// A cell of plain text.
pub(crate) fn text(s: impl Into<String>) -> Cell {
    vec![Span::Text(s.into())]
}

/// A cell holding one code span (a model or cell name).
pub(crate) fn code(s: impl Into<String>) -> Cell {
    vec![Span::Code(s.into())]
}

/// A column with its header and alignment.
pub(crate) fn col(header: impl Into<String>, align: Align) -> Column {
    Column {
        header: header.into(),
        align,
    }
}

/// A section below the verdict and the cells: its heading (`level` 2 or 3, `id` the HTML
/// anchor), paragraphs (`inline code` between backticks), tables each under an optional
/// sub-heading, and bullet notes after them. Writers draw it in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    pub level: u8,
    pub id: &'static str,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub tables: Vec<(Option<String>, Table)>,
    pub bullets: Vec<String>,
}

/// The verdict: what accepting every change does, and to how much traffic.
pub struct VerdictSection {
    /// One line of prose: rerouted share, changed cells.
    pub summary: String,
    /// Current against recommended: quality, cost per 1k requests, p95.
    pub table: Table,
    /// Lines naming the undecided and too-few-items cells (empty when there are none).
    pub attention: Vec<String>,
}

/// The verdict section, `None` without simulated tables.
pub fn verdict(d: &Derived) -> Option<VerdictSection> {
    let v = d.verdict()?;
    Some(VerdictSection {
        summary: verdict_summary(&v),
        table: verdict_table(&v),
        attention: attention(&v),
    })
}

fn verdict_summary(v: &Verdict) -> String {
    if v.changed.is_empty() {
        return format!(
            "Accepting changes nothing: no cell's route changes ({} items, through {}).",
            v.items, v.classifier
        );
    }
    format!(
        "Accepting every change reroutes {} of traffic ({} of {} dataset items, by their true cell) across {} changed cells; figures through the {} classifier{}.",
        percent_1dp(v.rerouted_share()),
        v.rerouted_items,
        v.items,
        v.changed.len(),
        v.classifier,
        if v.out_of_sample {
            ", the recommended table out of sample (refitted without each item's fold)"
        } else {
            ", the recommended table in-sample (fitted on these items: it flatters the table)"
        }
    )
}

fn verdict_table(v: &Verdict) -> Table {
    let (c, r) = (v.current, v.recommended);
    let rec = if v.out_of_sample {
        "recommended (out of sample)"
    } else {
        "recommended (in-sample)"
    };
    let q = |x: Option<f64>| x.map(|x| format!("{x:.3}")).unwrap_or("–".into());
    let dq = match (c.quality, r.quality) {
        (Some(a), Some(b)) => format!("{:+.3}", b - a),
        _ => "–".into(),
    };
    let diff = |f: fn(&TableFigures) -> Option<f64>| match (f(&c), f(&r)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let rows = vec![
        vec![
            text("quality (mean score)"),
            text(q(c.quality)),
            text(q(r.quality)),
            text(dq),
        ],
        vec![
            text("cost / 1k requests"),
            text(usd(c.cost_per_1k)),
            text(usd(r.cost_per_1k)),
            text(signed_usd(diff(|f| f.cost_per_1k))),
        ],
        vec![
            text("p95 latency"),
            text(seconds(c.p95_ms)),
            text(seconds(r.p95_ms)),
            text(signed_seconds(diff(|f| f.p95_ms))),
        ],
    ];
    Table {
        columns: vec![
            col("", Align::Left),
            col("current", Align::Right),
            col(rec, Align::Right),
            col("Δ", Align::Right),
        ],
        rows: rows
            .into_iter()
            .map(|cells| Row {
                cells,
                highlight: false,
                note: None,
            })
            .collect(),
    }
}

fn attention(v: &Verdict) -> Vec<String> {
    let mut out = Vec::new();
    if !v.undecided.is_empty() {
        out.push(format!(
            "Undecided, kept ({}): {}",
            v.undecided.len(),
            v.undecided.join(", ")
        ));
    }
    if !v.too_few.is_empty() {
        out.push(format!(
            "Too few items, kept ({}): {}",
            v.too_few.len(),
            v.too_few.join(", ")
        ));
    }
    out
}

/// A decision's evidence badge; an undecided cell says how many more paired items would settle
/// it ("undecided, ~190 more items"), and a kept primary whose fallback changes says so
/// ("undecided, ~190 more items; fallback changed"), so that every highlighted row names its
/// change.
pub fn badge(c: &Decision) -> String {
    let fallback = |s: String| {
        if c.changed() {
            format!("{s}; fallback changed")
        } else {
            s
        }
    };
    match c.outcome {
        Outcome::Changed => "changed".into(),
        Outcome::Undecided => fallback(match c.items_needed {
            Some(n) => format!("undecided, ~{n} more items"),
            None => "undecided".into(),
        }),
        Outcome::KeptTooFewSamples => fallback("too few items".into()),
        Outcome::KeptBest | Outcome::KeptUnmeasured | Outcome::KeptNoCandidate => {
            if c.changed() {
                "fallback changed".into()
            } else {
                "kept".into()
            }
        }
    }
}

/// One compact row per cell, busiest cells of each kind first is not attempted: the policy's
/// order (default, then task-major) is kept so rows are easy to find.
pub fn cells(d: &Derived) -> Table {
    let conf = d.cfg.policy.confidence;
    let columns = vec![
        col("cell", Align::Left),
        col("traffic", Align::Right),
        col("current → proposed", Align::Left),
        col(
            format!("Δ quality [{}% CI]", confidence_percent(two_sided(conf))),
            Align::Right,
        ),
        col("Δ cost / 1k req", Align::Right),
        col("Δ p95", Align::Right),
        col("evidence", Align::Left),
    ];
    let shares = d.traffic_shares();
    let rows = d
        .rec
        .decisions
        .iter()
        .map(|c| Row {
            cells: cell_row(d, c, shares.get(&c.cell).copied().unwrap_or(0.0)),
            highlight: c.changed(),
            note: Some(note(c)),
        })
        .collect();
    Table { columns, rows }
}

/// The sentence under the cells table's title that says what its quality interval is: the
/// decision's own, at the run's confidence unless a printed level says it was widened (by Holm's
/// procedure, and in an adaptive run by the look's error spending).
pub(crate) fn interval_legend(d: &Derived) -> String {
    let conf = d.cfg.policy.confidence;
    let widened = if d.adaptive.is_some() {
        "Holm's procedure or, in this adaptive run, the deciding look's error spending widened it"
    } else {
        "Holm's procedure widened it"
    };
    format!(
        "The quality interval is the decision's own: two-sided at {}%, so its lower bound is the one-sided test at {}% (a printed level means {widened}).",
        confidence_percent(two_sided(conf)),
        confidence_percent(conf)
    )
}

/// The two-sided level whose lower bound is the one-sided test at `confidence`: `2c − 1`.
pub fn two_sided(confidence: f64) -> f64 {
    2.0 * confidence - 1.0
}

/// The quality interval the decision used ("+0.150 [+0.020, +0.252]"): its test's when the
/// challenger was tested (Holm may widen it: the level is then printed), else the unadjusted
/// paired interval at `confidence`, two-sided (its level printed too).
fn decision_interval(e: &crate::derive::policy::Evidence, confidence: f64) -> String {
    let fmt = |q: &crate::derive::stats::Estimate, at: f64| {
        let suffix = if (at - two_sided(confidence)).abs() > 1e-9 {
            format!(" at {}%", confidence_percent(at))
        } else {
            String::new()
        };
        format!("{:+.3} [{:+.3}, {:+.3}]{suffix}", q.value, q.low, q.high)
    };
    match (&e.test, &e.quality) {
        (Some(t), _) => fmt(
            &t.tested.interval,
            (t.confidence() * 1000.0).round() / 1000.0,
        ),
        (None, Some(q)) => fmt(&q.delta, confidence),
        (None, None) => "–".into(),
    }
}

fn cell_row(d: &Derived, c: &Decision, share: f64) -> Vec<Cell> {
    // Δ columns describe accepting the row: new − old. Kept primaries have no such change; the
    // closest challenger's figures are in the row's note.
    let e = c
        .evidence
        .as_ref()
        .filter(|_| c.new.primary != c.old.primary);
    let dq = e
        .map(|e| decision_interval(e, d.cfg.policy.confidence))
        .unwrap_or("–".into());
    let routes = routes(c);
    vec![
        code(c.label()),
        text(percent_1dp(share)),
        routes,
        text(dq),
        text(signed_usd(e.and_then(|e| e.delta_cost_per_1k))),
        text(signed_seconds(e.and_then(|e| e.delta_p95_ms))),
        text(badge(c)),
    ]
}

/// "A → **B**" when the primary changes, "A" when it stays; a fallback shows only when it
/// changes while the primary stays (the full routes are in the row's note).
fn routes(c: &Decision) -> Cell {
    if c.new.primary != c.old.primary {
        return vec![
            Span::Code(c.old.primary.to_string()),
            Span::Text(" → ".into()),
            Span::Strong(c.new.primary.to_string()),
        ];
    }
    let mut v = vec![Span::Code(c.old.primary.to_string())];
    if c.old.fallback != c.new.fallback {
        let f = |x: &Option<crate::base::types::ModelId>| {
            x.as_ref().map(|m| m.to_string()).unwrap_or("none".into())
        };
        v.push(Span::Text(" (fallback ".into()));
        v.push(Span::Code(f(&c.old.fallback)));
        v.push(Span::Text(" → ".into()));
        v.push(Span::Strong(f(&c.new.fallback)));
        v.push(Span::Text(")".into()));
    }
    v
}

/// The prose behind a row: the full routes, the policy's reason (it names the closest
/// challenger, its test and what an undecided cell needs), the fallback's, and the flags.
fn note(c: &Decision) -> String {
    let sentence = |s: &str| {
        let s = s.trim();
        if s.ends_with('.') {
            s.to_string()
        } else {
            format!("{s}.")
        }
    };
    let mut parts = vec![sentence(&if c.changed() {
        format!(
            "{} → {}",
            super::text::route(&c.old),
            super::text::route(&c.new)
        )
    } else {
        format!("Route {}", super::text::route(&c.old))
    })];
    parts.push(sentence(&c.reason));
    if !c.fallback_reason.is_empty() {
        parts.push(sentence(&format!("Fallback: {}", c.fallback_reason)));
    }
    if !c.flags.is_empty() {
        let texts: Vec<String> = c.flags.iter().map(ToString::to_string).collect();
        parts.push(sentence(&format!("Flags: {}", texts.join("; "))));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_joins_spans() {
        let c = vec![
            Span::Code("a".into()),
            Span::Text(" → ".into()),
            Span::Strong("b".into()),
        ];
        assert_eq!(plain(&c), "a → b");
    }
}
