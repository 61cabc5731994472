//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network, no fonts
//! to fetch) with what `report.md` says plus charts: cost per 1,000 requests against quality
//! per task type with the Pareto front, latency distributions, and the classifier's confusion
//! matrix. Charts are drawn from aggregates (Polars quantiles, summaries), never row by row.
//!
//! Every text that comes from a run (answers, prompts, item ids, model names, reasons) goes
//! through [`escape`]; a Content-Security-Policy forbids scripts as a second line of defence.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use super::Exporter;
use super::charts::{self, CostQualityPoint, LatencyCurve, Scale};
use super::figures::{LatencyByModelTask, answers_of, confusion_of, latency_quantiles};
use super::sections::{self, Align, Span, Table};
use crate::base::fmt::usd;
use crate::base::types::{ModelId, TaskType};
use crate::derive::Derived;

/// The `report.html` exporter.
pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        crate::store::run_dir::RunFile::ReportHtml.name()
    }

    fn serialize(&self, d: &Derived) -> anyhow::Result<Vec<u8>> {
        Ok(page(d)?.into_bytes())
    }
}

/// Escape text for HTML element content and quoted attribute values. Control characters other
/// than tab and line ends (a NUL in a model's answer) are not allowed in HTML: they become U+FFFD.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Longest answer or prompt shown, in characters; the rest is in results.csv.
const SHOWN_CHARS: usize = 3000;

const STYLE: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;margin:0 auto;max-width:1480px;padding:0 24px 48px}
h1{font-size:1.6em;margin:28px 0 8px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{margin:26px 0 8px}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:10px;white-space:pre-wrap;word-break:break-word;max-height:28em;overflow:auto}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{border-bottom:1px solid #e5e5e5;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#fafafa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.changed td{background:#fffbe6}
table.leaderboard td.n,table.simulation td.n,table.classifier-value td.n{white-space:normal}
dl.head{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0 16px}dl.head dt{font-weight:600}dl.head dd{margin:0}
.banner{background:#b00020;color:#fff;padding:10px 14px;font-weight:700;border-radius:4px;margin-top:16px}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts figure{margin:0;flex:1 1 560px;max-width:660px}
figure svg{width:100%;height:auto;border:1px solid #eee;border-radius:4px}
figcaption{font-size:13px;color:#555;margin-top:4px}
ul.legend{list-style:none;padding:0;margin:4px 0 8px;display:flex;flex-wrap:wrap;gap:4px 18px;font-size:13px}
.swatch{display:inline-block;width:11px;height:11px;border-radius:50%;margin-right:6px;vertical-align:-1px}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:12px}.pair h4{margin:6px 0 2px;font-size:14px}
.warn li{margin:2px 0}.muted{color:#666}
.scroll{overflow-x:auto}table.decisions td:first-child{white-space:nowrap}table.decisions td:nth-child(3) code{white-space:nowrap}
details.why summary{cursor:pointer;min-width:10em}details.why p{margin:4px 0;min-width:18em;max-width:30em;font-size:13px}
p.verdict{font-size:16px}table.verdict td:first-child{font-weight:600}
details.example{margin:6px 0;border:1px solid #e5e5e5;border-radius:6px;padding:6px 10px}details.example summary{cursor:pointer}
"#;

fn page(d: &Derived) -> anyhow::Result<String> {
    let mut o = String::new();
    let m = d.manifest;
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>routecal run {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&m.run_id)
    );
    if m.simulated {
        o.push_str("<div class=\"banner\">SIMULATED: answers in this run come from the sim endpoint, not from real models.</div>\n");
    }
    let _ = writeln!(
        o,
        "<h1>routecal run <code>{}</code></h1>",
        escape(&m.run_id)
    );
    verdict(&mut o, d);
    changes(&mut o, d);
    headline(&mut o, d);
    let warnings = d.warnings();
    if !warnings.is_empty() {
        o.push_str("<h2 id=\"warnings\">Warnings</h2>\n<ul class=\"warn\">\n");
        for w in warnings {
            let _ = writeln!(o, "<li>{}</li>", escape(&w));
        }
        o.push_str("</ul>\n");
    }
    tasks(&mut o, d)?;
    classifier(&mut o, d)?;
    simulation(&mut o, d);
    examples(&mut o, d)?;
    let _ = writeln!(
        o,
        "<p class=\"muted\">Made by routecal {} from <code>journal.jsonl</code> of run <code>{}</code>; \
         <code>routecal report DIR</code>, DIR being the folder that holds this file, rebuilds it with no calls.</p>\n</body>\n</html>",
        escape(env!("CARGO_PKG_VERSION")),
        escape(&m.run_id)
    );
    Ok(o)
}

fn codes<'a>(xs: impl Iterator<Item = &'a ModelId>) -> String {
    xs.map(|x| format!("<code>{}</code>", escape(x.as_str())))
        .collect::<Vec<_>>()
        .join(", ")
}

fn headline(o: &mut String, d: &Derived) {
    let m = d.manifest;
    o.push_str("<h2 id=\"run\">Run</h2>\n<dl class=\"head\">\n");
    let mut row = |k: &str, v: String| {
        let _ = writeln!(o, "<dt>{k}</dt><dd>{v}</dd>");
    };
    row(
        "Dataset",
        format!(
            "<code>{}</code> ({} items)",
            escape(&m.dataset.path),
            d.ds.items.len()
        ),
    );
    row("Routes", format!("<code>{}</code>", escape(&m.routes.path)));
    if let Some(h) = d.table_headline() {
        row("Tables", escape(&h));
    }
    row("Models", codes(d.analysis.models.iter()));
    row("Classifiers", codes(d.cfg.classifiers().iter()));
    row(
        "Calls",
        format!("{} ({} errors)", m.totals.calls, m.totals.errors),
    );
    row(
        "Spend",
        format!(
            "{} on live endpoints · {} at list prices",
            usd(Some(m.totals.spent_usd)),
            usd(Some(d.analysis.spend()))
        ),
    );
    row(
        "When",
        format!(
            "{} · {:.1} s · {}",
            escape(&whole_seconds(&m.started_at)),
            m.totals.duration_s,
            escape(m.status.as_str())
        ),
    );
    if !d.analysis.latency_sources.is_empty() {
        row(
            "Latency",
            d.analysis
                .latency_sources
                .iter()
                .map(|(k, v)| {
                    let v = v.to_string();
                    format!("<code>{}</code> {}", escape(k.as_str()), escape(&v))
                })
                .collect::<Vec<_>>()
                .join(", "),
        );
    }
    o.push_str("</dl>\n");
}

fn spans(c: &[Span]) -> String {
    c.iter()
        .map(|s| match s {
            Span::Text(t) => escape(t),
            Span::Code(t) => format!("<code>{}</code>", escape(t)),
            Span::Strong(t) => format!("<strong><code>{}</code></strong>", escape(t)),
        })
        .collect()
}

/// Tables whose figure columns may wrap (many columns of estimates with intervals).
const WRAPPING: [&str; 3] = ["leaderboard", "simulation", "classifier-value"];

/// A figure that may wrap only before an interval's bracket or after a comma that follows one
/// ("10.7 s" / "[9.9 s, 12.1 s]"), never between a number and its unit: every other space
/// becomes a no-break space.
fn interval_breaks(s: &str) -> String {
    s.replace(' ', "\u{a0}")
        .replace("\u{a0}[", " [")
        .replace("],\u{a0}", "], ")
}

/// A section table; a row's note goes into a `<details>` in its last cell, one click away.
fn draw(o: &mut String, class: &str, t: &Table) {
    let wraps = WRAPPING.contains(&class);
    let _ = write!(
        o,
        "<div class=\"scroll\"><table class=\"{class}\">\n<thead><tr>"
    );
    for c in &t.columns {
        let cls = match c.align {
            Align::Left => "",
            Align::Right => " class=\"n\"",
        };
        let _ = write!(o, "<th{cls}>{}</th>", escape(&c.header));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        o.push_str(if r.highlight {
            "<tr class=\"changed\">"
        } else {
            "<tr>"
        });
        let last = r.cells.len().saturating_sub(1);
        for (i, (c, col)) in r.cells.iter().zip(&t.columns).enumerate() {
            let cls = match col.align {
                Align::Left => "",
                Align::Right => " class=\"n\"",
            };
            let body = match (&r.note, i == last) {
                (Some(n), true) => format!(
                    "<details class=\"why\"><summary>{}</summary><p>{}</p></details>",
                    spans(c),
                    escape(n)
                ),
                _ if wraps && col.align == Align::Right => interval_breaks(&spans(c)),
                _ => spans(c),
            };
            let _ = write!(o, "<td{cls}>{body}</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n");
}

/// What accepting everything does, first.
fn verdict(o: &mut String, d: &Derived) {
    let Some(v) = sections::verdict(d) else {
        return;
    };
    o.push_str("<h2 id=\"verdict\">Verdict</h2>\n");
    let _ = writeln!(o, "<p class=\"verdict\">{}</p>", escape(&v.summary));
    draw(o, "verdict", &v.table);
    if !v.attention.is_empty() {
        o.push_str("<ul class=\"warn\">\n");
        for line in &v.attention {
            let _ = writeln!(o, "<li>{}</li>", escape(line));
        }
        o.push_str("</ul>\n");
    }
}

/// One compact row per cell; the reason one click away.
fn changes(o: &mut String, d: &Derived) {
    let _ = writeln!(
        o,
        "<h2 id=\"changes\">Cells ({} of {} change)</h2>\n<p>Δ is proposed − current on the items both answered; traffic is the share of the dataset's items in the cell. {} Open a row's evidence for its reason.</p>",
        d.rec.changes().count(),
        d.rec.decisions.len(),
        escape(&sections::interval_legend(d))
    );
    draw(o, "decisions", &sections::cells(d));
    if !d.diff.is_empty() {
        let _ = writeln!(
            o,
            "<details><summary>routes.toml diff</summary>\n<pre>{}</pre>\n</details>",
            escape(&d.toml_diff)
        );
    }
    if let Some(h) = &d.history {
        section(o, &super::history::section(h));
    }
    if let Some(s) = super::adaptive::section(d) {
        section(o, &s);
    }
}

/// An item shown in the examples: the cells whose change it illustrates and both scores.
struct Example {
    cells: Vec<String>,
    item: String,
    old: ModelId,
    new: ModelId,
    old_score: f64,
    new_score: f64,
}

/// `(new − old score, item id, old score, new score)` of one item both models were graded on.
type ItemDelta<'a> = (f64, &'a str, f64, f64);

/// The items of task `task` (every item for `None`) where `new` gains most over `old` and
/// where it loses most, each only when there is a gain or a loss; ties go to dataset order.
fn extremes<'a>(
    d: &'a Derived,
    old: &ModelId,
    new: &ModelId,
    task: Option<TaskType>,
) -> Vec<ItemDelta<'a>> {
    let mut deltas: Vec<ItemDelta> = Vec::new();
    for item in
        d.ds.items
            .iter()
            .filter(|i| task.is_none_or(|t| i.task == t))
    {
        let score = |m: &ModelId| {
            d.analysis
                .outcomes
                .get(&(item.id.clone(), m.clone()))
                .and_then(|x| x.score)
        };
        if let (Some(a), Some(b)) = (score(old), score(new)) {
            deltas.push((b - a, item.id.as_str(), a, b));
        }
    }
    // Largest gain first; on ties, dataset order.
    let best = deltas.iter().fold(None::<&ItemDelta>, |acc, x| match acc {
        Some(a) if a.0 >= x.0 => Some(a),
        _ => Some(x),
    });
    let worst = deltas.iter().fold(None::<&ItemDelta>, |acc, x| match acc {
        Some(a) if a.0 <= x.0 => Some(a),
        _ => Some(x),
    });
    // An item where it "gains most" must show a gain; the loss likewise.
    let mut chosen: Vec<ItemDelta> = best.into_iter().filter(|b| b.0 > 0.0).copied().collect();
    if let Some(w) = worst.filter(|w| w.0 < 0.0) {
        chosen.push(*w);
    }
    chosen
}

/// For each changed primary, its extreme items; an item shared by cells with the same change is
/// shown once, naming all of them.
fn pick_examples(d: &Derived) -> Vec<Example> {
    let mut picked: Vec<Example> = Vec::new();
    for c in d.rec.changes() {
        let (old, new) = (&c.old.primary, &c.new.primary);
        if old == new {
            continue;
        }
        for x in extremes(d, old, new, c.cell.map(|x| x.task)) {
            if let Some(e) = picked
                .iter_mut()
                .find(|e| e.item == x.1 && &e.old == old && &e.new == new)
            {
                e.cells.push(c.label());
                continue;
            }
            picked.push(Example {
                cells: vec![c.label()],
                item: x.1.to_string(),
                old: old.clone(),
                new: new.clone(),
                old_score: x.2,
                new_score: x.3,
            });
        }
    }
    picked
}

/// What a reviewer wants to see before accepting a change: for each changed primary, the item
/// where the proposed model gains most over the current one, and the one where it loses most.
fn examples(o: &mut String, d: &Derived) -> anyhow::Result<()> {
    let picked = pick_examples(d);
    if picked.is_empty() {
        return Ok(());
    }
    let wanted: BTreeSet<(String, String)> = picked
        .iter()
        .flat_map(|e| {
            [
                (e.item.clone(), e.old.to_string()),
                (e.item.clone(), e.new.to_string()),
            ]
        })
        .collect();
    let answers = answers_of(&d.analysis.results, &wanted)?;
    o.push_str(
        "<h2 id=\"examples\">Examples</h2>\n<p>For each proposed primary, the item where it gains most over the current one and the item where it loses most, each when there is one (an item where both score the same is not shown). Every answer is in <code>results.csv</code>.</p>\n",
    );
    for e in &picked {
        draw_example(o, d, e, &answers);
    }
    Ok(())
}

/// One example: the prompt, then both answers with their scores and grade reasons.
fn draw_example(
    o: &mut String,
    d: &Derived,
    e: &Example,
    answers: &HashMap<(String, String), (String, String)>,
) {
    let Some(item) = d.ds.get(&e.item) else {
        return;
    };
    let _ = writeln!(
        o,
        "<details class=\"example\"><summary><b>{}</b> · <code>{}</code> ({}, {}): score {:.2} → {:.2}</summary>",
        escape(&e.cells.join(", ")),
        escape(&e.item),
        item.task,
        item.priority,
        e.old_score,
        e.new_score
    );
    let _ = writeln!(o, "<pre>{}</pre>", escape(&shorten(&item.prompt)));
    o.push_str("<div class=\"pair\">\n");
    for (label, model, score) in [
        ("current", &e.old, e.old_score),
        ("proposed", &e.new, e.new_score),
    ] {
        let (answer, reason) = answers
            .get(&(e.item.clone(), model.to_string()))
            .cloned()
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<div><h4>{label}: <code>{}</code> · score {score:.2}</h4><p class=\"muted\">{}</p><pre>{}</pre></div>",
            escape(model.as_str()),
            escape(&reason),
            escape(&shorten(&answer))
        );
    }
    o.push_str("</div>\n</details>\n");
}

fn shorten(s: &str) -> String {
    // Keys are scrubbed before the cut, so a cut never leaves part of one unrecognised.
    let s = &crate::base::secrets::scrub(s);
    let n = s.chars().count();
    if n <= SHOWN_CHARS {
        return s.to_string();
    }
    let head: String = s.chars().take(SHOWN_CHARS).collect();
    format!("{head}\n… ({} more characters)", n - SHOWN_CHARS)
}

fn legend(o: &mut String, models: &[(usize, &ModelId)]) {
    o.push_str("<ul class=\"legend\">");
    for (i, m) in models {
        let _ = write!(
            o,
            "<li><span class=\"swatch\" style=\"background:{}\"></span><code>{}</code></li>",
            charts::color_hex(*i),
            escape(m.as_str())
        );
    }
    o.push_str("</ul>\n");
}

/// The model part of an id, short enough to label a point.
fn short_label(m: &ModelId) -> String {
    let name = m.name();
    let name = name.rsplit('/').next().unwrap_or(name);
    if name.chars().count() > 28 {
        format!("{}…", name.chars().take(27).collect::<String>())
    } else {
        name.to_string()
    }
}

/// One task type's panels, before drawing: the scales are chosen over every task first.
struct TaskPanel<'a> {
    task: TaskType,
    rows: Vec<&'a crate::derive::analyze::ModelTask>,
    points: Vec<CostQualityPoint>,
    unplotted: Vec<String>,
    curves: Vec<LatencyCurve>,
}

/// The task's cells' primaries: current ones, and proposed ones that are new in a cell.
fn marked<'a>(d: &'a Derived, t: TaskType) -> (BTreeSet<&'a ModelId>, BTreeSet<&'a ModelId>) {
    let cells = || {
        d.rec
            .decisions
            .iter()
            .filter(move |c| c.cell.is_some_and(|x| x.task == t))
    };
    let current = cells().map(|c| &c.old.primary).collect();
    let proposed = cells()
        .filter(|c| c.new.primary != c.old.primary)
        .map(|c| &c.new.primary)
        .collect();
    (current, proposed)
}

fn task_panel<'a>(
    d: &'a Derived,
    t: TaskType,
    color_of: &HashMap<&ModelId, usize>,
    latency: &LatencyByModelTask,
) -> Option<TaskPanel<'a>> {
    let rows = d.analysis.ranked(t);
    if rows.is_empty() {
        return None;
    }
    let (current, proposed) = marked(d, t);
    let mut points = Vec::new();
    let mut unplotted = Vec::new();
    for m in &rows {
        match (m.quality, m.cost_per_call) {
            (Some(q), Some(c)) => points.push(CostQualityPoint {
                label: short_label(&m.model),
                color: color_of.get(&m.model).copied().unwrap_or(0),
                cost_per_1k: c * 1000.0,
                quality: q.value,
                quality_low: q.low,
                quality_high: q.high,
                current: current.contains(&m.model),
                proposed: proposed.contains(&m.model),
            }),
            (None, _) => unplotted.push(format!(
                "<code>{}</code> (no graded answer)",
                escape(m.model.as_str())
            )),
            (_, None) => unplotted.push(format!(
                "<code>{}</code> (unpriced)",
                escape(m.model.as_str())
            )),
        }
    }
    let curves = rows
        .iter()
        .filter_map(|m| {
            Some(LatencyCurve {
                label: m.model.to_string(),
                color: color_of.get(&m.model).copied().unwrap_or(0),
                quantiles: latency
                    .get(&(m.model.to_string(), t.as_str().to_string()))?
                    .clone(),
            })
        })
        .collect();
    Some(TaskPanel {
        task: t,
        rows,
        points,
        unplotted,
        curves,
    })
}

fn tasks(o: &mut String, d: &Derived) -> anyhow::Result<()> {
    let color_of: HashMap<&ModelId, usize> = d
        .analysis
        .models
        .iter()
        .enumerate()
        .map(|(i, m)| (m, i))
        .collect();
    let latency = latency_quantiles(&d.analysis.results)?;
    let _ = write!(
        o,
        "<h2 id=\"tasks\">By task type</h2>\n<p>Quality pools priorities; intervals are {}% (Wilson for pass/fail graders, seeded bootstrap otherwise). Filled points are on the Pareto front (no other model is both cheaper and better); rings are dominated. A square marks a model that is the primary of one of the task type's cells now, a diamond one the recommended table makes a primary there. Latency curves show, for each model, the share of successful calls that finished within a time. Every panel of a kind uses the same scale.</p>\n",
        crate::base::fmt::confidence_percent(d.cfg.policy.confidence)
    );
    let panels: Vec<TaskPanel> = TaskType::ALL
        .iter()
        .filter_map(|t| task_panel(d, *t, &color_of, &latency))
        .collect();
    let cost_scale = Scale::fitting(
        panels
            .iter()
            .flat_map(|p| p.points.iter().map(|x| x.cost_per_1k)),
    );
    let latency_scale = Scale::fitting(panels.iter().flat_map(|p| {
        p.curves
            .iter()
            .flat_map(|c| c.quantiles.iter().map(|q| q.1))
    }));
    for p in &panels {
        task_charts(o, d, p, &color_of, (cost_scale, latency_scale))?;
        if let Some(t) = sections::leaderboard(d, p.task) {
            draw(o, "leaderboard", &t);
        }
    }
    Ok(())
}

/// A task type's key, cost–quality chart and latency chart.
fn task_charts(
    o: &mut String,
    d: &Derived,
    p: &TaskPanel,
    color_of: &HashMap<&ModelId, usize>,
    (cost_scale, latency_scale): (Scale, Scale),
) -> anyhow::Result<()> {
    let t = p.task;
    let _ = writeln!(o, "<h3 id=\"task-{t}\">{t}</h3>");
    let mut in_legend: Vec<(usize, &ModelId)> = p
        .rows
        .iter()
        .map(|m| (color_of.get(&m.model).copied().unwrap_or(0), &m.model))
        .collect();
    in_legend.sort();
    legend(o, &in_legend);
    let drawn = charts::cost_quality(&charts::CostQuality {
        title: &format!("{t}: cost and quality"),
        confidence: d.cfg.policy.confidence,
        points: &p.points,
        scale: cost_scale,
    })?;
    let mut notes = Vec::new();
    if !drawn.unlabelled.is_empty() {
        notes.push(format!(
            "unlabelled for want of room (see the colour key): {}",
            drawn
                .unlabelled
                .iter()
                .map(|l| escape(l))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !p.unplotted.is_empty() {
        notes.push(format!("not plotted: {}", p.unplotted.join(", ")));
    }
    o.push_str("<div class=\"charts\">\n");
    let _ = writeln!(
        o,
        "<figure id=\"cost-quality-{t}\">{}<figcaption>{t}: cost per 1,000 requests against quality{}</figcaption></figure>",
        drawn.svg,
        notes.iter().map(|n| format!("; {n}")).collect::<String>()
    );
    let _ = writeln!(
        o,
        "<figure id=\"latency-{t}\">{}<figcaption>{t}: latency distribution of successful calls (quantiles)</figcaption></figure>",
        charts::latency(&format!("{t}: latency"), &p.curves, latency_scale)?
    );
    o.push_str("</div>\n");
    Ok(())
}

fn classifier(o: &mut String, d: &Derived) -> anyhow::Result<()> {
    section(o, &sections::classifier(d));
    let matrices = confusion_of(&d.analysis.confusion)?;
    if !matrices.is_empty() {
        o.push_str("<div class=\"charts\">\n");
        for (name, m) in &matrices {
            let _ = writeln!(
                o,
                "<figure class=\"confusion\">{}<figcaption>Confusion of <code>{}</code>: rows are true task types, columns predicted ones; shade is the share of the row.</figcaption></figure>",
                charts::confusion(name, m)?,
                escape(name)
            );
        }
        o.push_str("</div>\n");
    }
    Ok(())
}

/// The classifiers' return on cost, the simulation, the strong–weak figures and stability.
fn simulation(o: &mut String, d: &Derived) {
    let parts = [
        sections::classifier_value(d),
        Some(sections::simulation(d)),
        sections::strong_weak(d),
        sections::stability(d),
    ];
    for s in parts.iter().flatten() {
        section(o, s);
    }
}

/// Escaped text whose `backtick spans` become `<code>`.
fn inline(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

/// A section: heading, paragraphs, tables under their sub-headings, bullets.
fn section(o: &mut String, s: &sections::Section) {
    let _ = writeln!(
        o,
        "<h{l} id=\"{}\">{}</h{l}>",
        s.id,
        escape(&s.title),
        l = s.level
    );
    for p in &s.paragraphs {
        let _ = writeln!(o, "<p>{}</p>", inline(p));
    }
    for (sub, t) in &s.tables {
        if let Some(sub) = sub {
            let _ = writeln!(o, "<h{l}>{}</h{l}>", escape(sub), l = s.level + 1);
        }
        draw(o, s.id, t);
    }
    if !s.bullets.is_empty() {
        o.push_str("<ul>\n");
        for b in &s.bullets {
            let _ = writeln!(o, "<li>{}</li>", inline(b));
        }
        o.push_str("</ul>\n");
    }
}

/// A manifest timestamp to the second ("2026-11-30T08:07:10Z"); text that is no timestamp as it is.
fn whole_seconds(at: &str) -> String {
    at.parse::<jiff::Timestamp>()
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_start_prints_to_the_second() {
        assert_eq!(
            super::whole_seconds("2026-11-30T08:07:10.968215838Z"),
            "2026-11-30T08:07:10Z"
        );
        assert_eq!(super::whole_seconds("unknown"), "unknown");
    }

    use super::*;

    #[test]
    fn escape_neutralises_markup_and_attribute_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> ' & "#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &#39; &amp; "
        );
        assert_eq!(escape("plain – text\n\tend"), "plain – text\n\tend");
        assert_eq!(escape("a\0b\u{1b}[31m"), "a\u{FFFD}b\u{FFFD}[31m");
    }

    #[test]
    fn shorten_keeps_short_text_and_counts_what_it_cuts() {
        assert_eq!(shorten("abc"), "abc");
        let long = "é".repeat(SHOWN_CHARS + 5);
        let s = shorten(&long);
        assert!(
            s.ends_with("… (5 more characters)"),
            "{}",
            &s[s.len() - 40..]
        );
        assert_eq!(s.chars().filter(|c| *c == 'é').count(), SHOWN_CHARS);
    }
}
