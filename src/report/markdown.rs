//! `report.md`: fits a pull-request description or a CI step summary.

use std::fmt::Write;

use super::Exporter;
use super::sections::{self, Align, Span, Table};
use crate::base::fmt::usd;
use crate::derive::Derived;

pub struct Markdown;

/// Escape text for a Markdown table cell (pipes, newlines, HTML).
pub fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// A code span in a table cell: backticks cannot close it early, pipes cannot split the row.
fn code_span(s: &str) -> String {
    format!(
        "`{}`",
        s.replace('`', "ʼ")
            .replace('|', "\\|")
            .replace(['\n', '\r'], " ")
    )
}

fn spans(c: &[Span]) -> String {
    c.iter()
        .map(|s| match s {
            Span::Text(t) => cell(t),
            Span::Code(t) => code_span(t),
            Span::Strong(t) => format!("**{}**", code_span(t)),
        })
        .collect()
}

/// A section table in Markdown; rows with a note get a numbered marker in their last column and
/// the notes come back, in order, for a footnote list.
fn draw(out: &mut String, t: &Table) -> Vec<String> {
    let header: Vec<String> = t.columns.iter().map(|c| cell(&c.header)).collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let rule: Vec<&str> = t
        .columns
        .iter()
        .map(|c| match c.align {
            Align::Left => "---",
            Align::Right => "---:",
        })
        .collect();
    let _ = writeln!(out, "|{}|", rule.join("|"));
    let mut notes = Vec::new();
    for r in &t.rows {
        let mut cells: Vec<String> = r.cells.iter().map(|c| spans(c)).collect();
        if let (Some(n), Some(last)) = (&r.note, cells.last_mut()) {
            notes.push(n.clone());
            let _ = write!(last, " [{}]", notes.len());
        }
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out.push('\n');
    notes
}

fn verdict_and_cells(o: &mut String, d: &Derived) {
    o.push_str("## Verdict\n\n");
    if let Some(v) = sections::verdict(d) {
        let _ = writeln!(o, "{}\n", cell(&v.summary));
        draw(o, &v.table);
        for line in &v.attention {
            let _ = writeln!(o, "- {}", cell(line));
        }
        if !v.attention.is_empty() {
            o.push('\n');
        }
    }
    let changes = d.rec.changes().count();
    let _ = writeln!(
        o,
        "## Cells ({} of {} change)\n\nΔ is proposed − current on the items both answered; traffic is the share of the dataset's items in the cell. {} Numbers in brackets point to the reasons below the table.\n",
        changes,
        d.rec.decisions.len(),
        sections::interval_legend(d)
    );
    let notes = draw(o, &sections::cells(d));
    if !notes.is_empty() {
        let _ = writeln!(o, "<details><summary>Reasons ({})</summary>\n", notes.len());
        for (i, n) in notes.iter().enumerate() {
            let _ = writeln!(o, "{}. {}", i + 1, cell(n));
        }
        o.push_str("\n</details>\n\n");
    }
}

/// A section: its heading, paragraphs, tables (under their sub-headings) and bullets.
fn section(o: &mut String, s: &sections::Section) {
    let _ = writeln!(o, "{} {}\n", "#".repeat(s.level as usize), s.title);
    for p in &s.paragraphs {
        let _ = writeln!(o, "{p}\n");
    }
    for (sub, t) in &s.tables {
        if let Some(sub) = sub {
            let _ = writeln!(o, "{} {sub}\n", "#".repeat(s.level as usize + 1));
        }
        draw(o, t);
    }
    for b in &s.bullets {
        let _ = writeln!(o, "- {}", cell(b));
    }
    if !s.bullets.is_empty() {
        o.push('\n');
    }
}

/// The run's metadata: dataset, routes, models, calls and spend, tables, latency, judge.
fn run_head(o: &mut String, d: &Derived) {
    let m = &d.manifest;
    o.push_str("## Run\n\n");
    let _ = writeln!(
        o,
        "- **Dataset** `{}` ({} items) · **routes** `{}`",
        m.dataset.path,
        d.ds.items.len(),
        m.routes.path
    );
    let names = |xs: &mut dyn Iterator<Item = &crate::base::types::ModelId>| {
        xs.map(|x| format!("`{x}`")).collect::<Vec<_>>().join(", ")
    };
    let _ = writeln!(
        o,
        "- **Models** {} · **classifiers** {}",
        names(&mut d.analysis.models.iter()),
        names(&mut d.cfg.classifiers().iter())
    );
    let _ = writeln!(
        o,
        "- **Calls** {} ({} errors) · **spent** {} on live endpoints · **cost at list prices** {} · **duration** {:.1} s",
        m.totals.calls,
        m.totals.errors,
        usd(Some(m.totals.spent_usd)),
        usd(Some(d.analysis.spend())),
        m.totals.duration_s
    );
    if let Some(h) = d.table_headline() {
        let _ = writeln!(o, "- **Tables** {h}");
    }
    let lat: Vec<String> = d
        .analysis
        .latency_sources
        .iter()
        .map(|(k, v)| format!("`{k}` {v}"))
        .collect();
    if !lat.is_empty() {
        let _ = writeln!(o, "- **Latency** {}", lat.join(", "));
    }
    let j = &d.analysis.judge_summary;
    if j.verdicts > 0 {
        let _ = writeln!(
            o,
            "- **Judge** `{}`: {} verdicts ({} asked, {} reused from the verdict cache or an identical answer, {} unparsable, {} failed) · **judge cost** {} (not in the candidates' figures)",
            j.model.as_ref().map(|m| m.as_str()).unwrap_or("–"),
            j.verdicts,
            j.asked,
            j.reused,
            j.unparsable,
            j.errors,
            usd(j.cost_usd)
        );
    }
    o.push('\n');
}

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        crate::store::run_dir::RunFile::ReportMd.name()
    }

    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        let mut o = String::new();
        let m = &d.manifest;
        if m.simulated {
            o.push_str("> **SIMULATED**: answers in this run come from the `sim` endpoint, not from real models.\n\n");
        }
        let _ = writeln!(o, "# routecal run `{}`\n", m.run_id);
        verdict_and_cells(&mut o, d);
        if let Some(h) = &d.history {
            section(&mut o, &super::history::section(h));
        }
        if let Some(s) = super::adaptive::section(d) {
            section(&mut o, &s);
        }
        run_head(&mut o, d);
        if let Some(s) = sections::stability(d) {
            section(&mut o, &s);
        }
        if !d.diff.is_empty() {
            let _ = writeln!(
                o,
                "<details><summary>routes.toml diff</summary>\n\n```diff\n{}```\n</details>\n",
                d.toml_diff.replace("```", "ʼʼʼ")
            );
        }
        let body = [
            Some(sections::leaderboards(d)),
            Some(sections::classifier(d)),
            sections::classifier_value(d),
            Some(sections::simulation(d)),
            sections::strong_weak(d),
            sections::warnings(d),
        ];
        for s in body.iter().flatten() {
            section(&mut o, s);
        }
        Ok(o.into_bytes())
    }
}
