//! What an adaptive run (`run --adaptive`) reports beside the decisions: the look that settled
//! each cell and on how many items, the calls and dollars saved against the full fixed design,
//! and what the cells left undecided would need. Nothing is written for a full-design run.

use super::sections::{Align, Row, Section, Table, code, col, text};
use crate::derive::Derived;
use crate::derive::policy::{Decision, Outcome};
use crate::derive::sequential::{CellLook, Futility, FutilityRule, Spending, Summary};
use serde::{Deserialize, Serialize};

use crate::base::fmt::usd;

/// Candidate calls of the run's design (pairs × repeats): (made, full design).
fn calls(d: &Derived, s: &Summary) -> (usize, usize) {
    let reps = d.manifest.settings.repeats.max(1) as usize;
    (s.calls.made * reps, s.calls.full * reps)
}

/// Dollars the calls not made would have cost at list prices.
fn saved_usd(d: &Derived, s: &Summary) -> Option<f64> {
    let reps = d.manifest.settings.repeats.max(1) as f64;
    s.calls.saved_usd.map(|x| x * reps)
}

/// Judge calls of the run's design (judged pairs × repeats): (made, full design).
fn judge_calls(d: &Derived, s: &Summary) -> (usize, usize) {
    let reps = d.manifest.settings.repeats.max(1) as usize;
    (s.calls.judged_made * reps, s.calls.judged_full * reps)
}

/// Dollars the judge calls not made would have cost: the judge's mean cost per paid verdict
/// in this run × the calls saved; `None` when no verdict was paid for or the judge is unpriced.
fn judge_saved_usd(d: &Derived, s: &Summary) -> Option<f64> {
    let j = &d.analysis.judge_summary;
    let (made, full) = judge_calls(d, s);
    let per_call = j.cost_usd? / (j.asked > 0).then_some(j.asked as f64)?;
    Some(per_call * (full - made.min(full)) as f64)
}

/// What an undecided cell would need, in words.
fn needs(dec: &Decision) -> String {
    match (dec.outcome, dec.items_needed, dec.samples_needed) {
        (Outcome::Undecided, Some(n), _) => format!("about {n} more paired items"),
        (Outcome::Undecided, None, _) => "more items would not settle it at this difference".into(),
        (Outcome::KeptTooFewSamples, _, Some(n)) => format!("{n} more graded items"),
        _ => String::new(),
    }
}

fn pairs<'a>(d: &'a Derived, s: &'a Summary) -> impl Iterator<Item = (&'a CellLook, &'a Decision)> {
    s.cells.iter().zip(&d.rec.decisions)
}

/// One cell of an adaptive run: when it was settled and on what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveCell {
    /// `default` or `task.priority`.
    pub cell: String,
    /// The decision's outcome (as in `changes`/`undecided`).
    pub outcome: String,
    /// The look (1-based) that settled the cell; `None` while open at the last look done.
    pub decided_at_look: Option<usize>,
    /// Stopped undecided because no open challenger could still be adopted by the last look.
    pub stopped_for_futility: bool,
    /// Graded items of the cell's task type when it was settled (or at the last look).
    pub items: usize,
    /// The one-sided level the cell was tested at.
    pub level: f64,
    /// Undecided cells: more paired items that would settle the closest challenger.
    pub items_needed: Option<usize>,
    /// Challengers not yet shown unable to win when the cell stopped (for a futility stop:
    /// those whose chance of adoption had fallen below the threshold).
    pub open_challengers: Vec<String>,
}

/// `adaptive` in report.json and `run --json`: absent for a full-design run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveJson {
    /// The sequential method, in words.
    pub method: String,
    /// Looks of the design.
    pub looks: usize,
    /// Seed of the item order.
    pub seed: u64,
    /// The error-spending function, as recorded in run.json.
    pub spending: Spending,
    /// The futility rule and threshold, as recorded in run.json.
    pub futility: Futility,
    /// Looks evaluated before the run ended.
    pub looks_done: usize,
    /// `run --max-calls N`: the budget in candidate calls (answers × repeats); absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_candidate_calls: Option<usize>,
    /// The run ended before its last look because the next look's calls would have passed
    /// the call budget.
    pub stopped_by_call_budget: bool,
    /// One-sided level spent at each look.
    pub levels: Vec<f64>,
    pub candidate_calls: usize,
    pub candidate_calls_full_design: usize,
    pub candidate_calls_saved: usize,
    /// What the calls not made would have cost, USD at list prices.
    pub saved_usd_at_list_prices: Option<f64>,
    /// Judge calls the full design would make (its judged answers × repeats).
    pub judge_calls_full_design: usize,
    /// Judge calls not made: the judged answers the design did not ask for.
    pub judge_calls_saved: usize,
    /// What those judge calls would have cost, USD (the judge's mean cost per paid verdict in
    /// this run); `None` without a paid verdict or a priced judge.
    pub judge_saved_usd: Option<f64>,
    /// Cells no look settled (neither decided nor stopped for futility); the top-level
    /// `undecided` lists every kept cell the sample could not decide.
    pub cells_open: usize,
    pub cells: Vec<AdaptiveCell>,
}

/// The adaptive figures of a derived run; `None` for a full-design run.
pub fn json(d: &Derived) -> Option<AdaptiveJson> {
    let s = d.adaptive.as_ref()?;
    let (made, full) = calls(d, s);
    let cells = pairs(d, s)
        .map(|(c, dec)| AdaptiveCell {
            cell: dec.label(),
            outcome: dec.outcome.as_str().into(),
            decided_at_look: c.decided_at,
            stopped_for_futility: c.futile,
            items: c.items,
            level: c.level,
            items_needed: dec.items_needed,
            open_challengers: dec
                .open_challengers
                .iter()
                .map(|(m, _)| m.to_string())
                .collect(),
        })
        .collect();
    Some(AdaptiveJson {
        method: format!(
            "group-sequential, Lan-DeMets {} error spending",
            spending_name(s.design.spending)
        ),
        looks: s.design.looks,
        seed: s.design.seed,
        spending: s.design.spending,
        futility: s.design.futility,
        looks_done: s.looks_done,
        max_candidate_calls: s
            .design
            .max_pairs
            .map(|p| p * d.manifest.settings.repeats.max(1) as usize),
        stopped_by_call_budget: s.stopped_by_budget,
        levels: s.levels.clone(),
        candidate_calls: made,
        candidate_calls_full_design: full,
        candidate_calls_saved: full - made.min(full),
        saved_usd_at_list_prices: saved_usd(d, s),
        judge_calls_full_design: judge_calls(d, s).1,
        judge_calls_saved: {
            let (made, full) = judge_calls(d, s);
            full - made.min(full)
        },
        judge_saved_usd: judge_saved_usd(d, s),
        cells_open: pairs(d, s).filter(|(c, _)| c.decided_at.is_none()).count(),
        cells,
    })
}

/// A one-sided level with two significant digits once it is below 0.001 (early looks test at
/// levels like 0.0000042), else four decimals.
fn level(l: f64) -> String {
    if l >= 0.001 || l <= 0.0 {
        return format!("{l:.4}");
    }
    let decimals = (-l.log10()).ceil() as usize + 1;
    format!("{l:.decimals$}")
}

/// The spending function in words.
fn spending_name(s: Spending) -> String {
    match s {
        Spending::OBrienFleming => "O'Brien-Fleming-type".into(),
        Spending::HwangShihDecani { gamma } => format!("Hwang-Shih-DeCani (gamma {gamma})"),
    }
}

/// The futility rule in words.
fn futility_text(f: Futility) -> String {
    let pct = format!("{}%", f.power * 100.0);
    match (f.rule, f.power > 0.0) {
        (_, false) => {
            "No futility stop: an undecided cell reads its challengers to the last look.".into()
        }
        (FutilityRule::CellConditionalPower, true) => format!(
            "A cell stops undecided when no open challenger could still be adopted by the last look (conditional power under the current trend below {pct}, looks 2 to the one before the last)."
        ),
        (FutilityRule::ChallengerPredictivePower, true) => format!(
            "An open challenger stops receiving items once its predictive power of adoption by the last look is below {pct}, and a cell with none left stops undecided (looks 1 to the one before the last)."
        ),
    }
}

/// One line for the terminal summary of an adaptive run: looks, calls made and saved, and why
/// it ended early when it did; `None` for a full-design run.
pub fn terminal(d: &Derived) -> Option<String> {
    let s = d.adaptive.as_ref()?;
    let (made, full) = calls(d, s);
    let decided = pairs(d, s).filter(|(c, _)| c.decided_at.is_some()).count();
    let ended = if s.stopped_by_budget {
        " (stopped by the call budget)"
    } else {
        ""
    };
    Some(format!(
        "Adaptive: {} of {} looks{ended}; {made} of the full design's {full} candidate calls ({} saved, {} at list prices); {decided} of {} cells settled at a look (report.md, \"Adaptive sampling\").",
        s.looks_done,
        s.design.looks,
        full - made.min(full),
        usd(saved_usd(d, s)),
        s.cells.len(),
    ))
}

/// The "Adaptive sampling" section of report.md and report.html; `None` for a full-design run.
pub fn section(d: &Derived) -> Option<Section> {
    let s = d.adaptive.as_ref()?;
    let (made, full) = calls(d, s);
    let levels: Vec<String> = s.levels.iter().map(|&l| level(l)).collect();
    let mut paragraphs = vec![
        format!(
            "Items in seeded batches stratified by task type, {} looks ({} evaluated); one-sided levels per look {} (Lan–DeMets {} error spending, docs/adaptive.md). A cell is decided at the first look that settles it (`changed` or `kept_best`). {} Calls stop for the pairs that can no longer change a decision.",
            s.design.looks,
            s.looks_done,
            levels.join(", "),
            spending_name(s.design.spending),
            futility_text(s.design.futility),
        ),
        format!(
            "Candidate calls: {made} of the full design's {full} ({} saved, {} at list prices).",
            full - made.min(full),
            usd(saved_usd(d, s)),
        ),
    ];
    if s.stopped_by_budget {
        let reps = d.manifest.settings.repeats.max(1) as usize;
        paragraphs.push(format!(
            "Stopped by the call budget ({} candidate calls) after look {}: the next look would have passed it. Cells still open keep their current route, decided on the items drawn so far.",
            s.design.max_pairs.unwrap_or(0) * reps,
            s.looks_done,
        ));
    }
    let (judged, judged_full) = judge_calls(d, s);
    if judged_full > 0 {
        paragraphs.push(format!(
            "Judge calls: {judged} of the full design's {judged_full} ({} saved, {}).",
            judged_full - judged.min(judged_full),
            usd(judge_saved_usd(d, s)),
        ));
    }
    let rows = pairs(d, s)
        .map(|(c, dec)| Row {
            cells: vec![
                code(dec.label()),
                text(dec.outcome.as_str()),
                text(match (c.decided_at, c.futile) {
                    (None, _) => "open".to_string(),
                    (Some(k), false) => k.to_string(),
                    (Some(k), true) => format!("{k} (futility)"),
                }),
                text(c.items.to_string()),
                text(level(c.level)),
                text(needs(dec)),
            ],
            highlight: dec.outcome == Outcome::Changed,
            note: None,
        })
        .collect();
    let columns = vec![
        col("cell", Align::Left),
        col("outcome", Align::Left),
        col("decided at look", Align::Right),
        col("items", Align::Right),
        col("one-sided level", Align::Right),
        col("still needs", Align::Left),
    ];
    Some(Section {
        level: 2,
        id: "adaptive",
        title: "Adaptive sampling".into(),
        paragraphs,
        tables: vec![(None, Table { columns, rows })],
        bullets: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::level;

    #[test]
    fn tiny_levels_keep_two_significant_digits() {
        assert_eq!(level(0.0000042), "0.0000042");
        assert_eq!(level(0.00027), "0.00027");
        assert_eq!(level(0.000999), "0.00100");
        assert_eq!(level(0.0490), "0.0490");
        assert_eq!(level(0.05), "0.0500");
        assert_eq!(level(0.0), "0.0000");
    }
}
