//! `report.html`: one self-contained page (inline CSS and SVG, no script, no network, no fonts
//! to fetch) with what `report.md` says plus charts: cost per 1,000 requests against quality
//! per task type with the Pareto front, latency distributions, and the classifier's confusion
//! matrix. Charts are drawn from aggregates (Polars quantiles, summaries), never row by row.
//!
//! Every text that comes from a run (answers, prompts, item ids, model names, reasons) goes
//! through [`escape`]; a Content-Security-Policy forbids scripts as a second line of defence.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use polars::prelude::*;

use super::Exporter;
use super::charts::{self, Confusion, CostQualityPoint, LatencyCurve};
use super::sections::{self, Align, Span, Table};
use super::text::{CLASSIFIER_COLUMNS, classifier_figures, in_seconds, ms_in, pct, quality, usd};
use crate::base::types::{ModelId, TaskType};
use crate::derive::Derived;

/// The `report.html` exporter.
pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        "report.html"
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

/// Quantile levels drawn for each latency curve.
const LATENCY_LEVELS: [f64; 17] = [
    0.0, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975, 0.99, 1.0,
];

const STYLE: &str = r#"
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;margin:0 auto;max-width:1480px;padding:0 24px 48px}
h1{font-size:1.6em;margin:28px 0 8px}h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{margin:26px 0 8px}
code,pre{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
pre{background:#f6f8fa;border:1px solid #e1e4e8;border-radius:6px;padding:10px;white-space:pre-wrap;word-break:break-word;max-height:28em;overflow:auto}
table{border-collapse:collapse;margin:8px 0 16px;font-size:14px}
th,td{border-bottom:1px solid #e5e5e5;padding:5px 10px;text-align:left;vertical-align:top}
th{background:#fafafa;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.changed td{background:#fffbe6}
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
details.why summary{cursor:pointer;white-space:nowrap}details.why p{margin:4px 0;min-width:18em;max-width:30em;font-size:13px}
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
            escape(&m.status)
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

/// An HTML table; cells are already escaped. `highlight` rows are tinted.
fn table(
    o: &mut String,
    class: &str,
    header: &[&str],
    numeric: &[bool],
    rows: &[(bool, Vec<String>)],
) {
    let _ = write!(
        o,
        "<div class=\"scroll\"><table class=\"{class}\">\n<thead><tr>"
    );
    for h in header {
        let _ = write!(o, "<th>{h}</th>");
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for (highlight, r) in rows {
        o.push_str(if *highlight {
            "<tr class=\"changed\">"
        } else {
            "<tr>"
        });
        for (i, c) in r.iter().enumerate() {
            if numeric.get(i).copied().unwrap_or(false) {
                let _ = write!(o, "<td class=\"n\">{c}</td>");
            } else {
                let _ = write!(o, "<td>{c}</td>");
            }
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table></div>\n");
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

/// A section table; a row's note goes into a `<details>` in its last cell, one click away.
fn draw(o: &mut String, class: &str, t: &Table) {
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
    let conf = d.cfg.policy.confidence;
    let _ = writeln!(
        o,
        "<h2 id=\"changes\">Cells ({} of {} change)</h2>\n<p>Δ is proposed − current on the items both answered; traffic is the share of the dataset's items in the cell. The quality interval is the decision's own: two-sided at {}%, so its lower bound is the one-sided test at {}% (a printed level means Holm's procedure widened it). Open a row's evidence for its reason.</p>",
        d.rec.changes().count(),
        d.rec.decisions.len(),
        sections::level(sections::two_sided(conf)),
        sections::level(conf)
    );
    draw(o, "decisions", &sections::cells(d));
    if !d.diff.is_empty() {
        let _ = writeln!(
            o,
            "<details><summary>routes.toml diff</summary>\n<pre>{}</pre>\n</details>",
            escape(&d.toml_diff)
        );
    }
}

/// What a reviewer wants to see before accepting a change: for each changed primary, the item
/// where the proposed model gains most over the current one, and the one where it loses most.
fn examples(o: &mut String, d: &Derived) -> anyhow::Result<()> {
    struct Example {
        cells: Vec<String>,
        item: String,
        old: ModelId,
        new: ModelId,
        old_score: f64,
        new_score: f64,
    }
    let mut picked: Vec<Example> = Vec::new();
    for c in d.rec.changes() {
        let (old, new) = (&c.old.primary, &c.new.primary);
        if old == new {
            continue;
        }
        let task = c.cell.map(|x| x.task);
        let mut deltas: Vec<(f64, &str, f64, f64)> = Vec::new();
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
        let best = deltas
            .iter()
            .fold(None::<&(f64, &str, f64, f64)>, |acc, x| match acc {
                Some(a) if a.0 >= x.0 => Some(a),
                _ => Some(x),
            });
        let worst = deltas
            .iter()
            .fold(None::<&(f64, &str, f64, f64)>, |acc, x| match acc {
                Some(a) if a.0 <= x.0 => Some(a),
                _ => Some(x),
            });
        // An item where it "gains most" must show a gain; the loss likewise.
        let mut chosen: Vec<&(f64, &str, f64, f64)> =
            best.into_iter().filter(|b| b.0 > 0.0).collect();
        if let Some(w) = worst.filter(|w| w.0 < 0.0) {
            chosen.push(w);
        }
        for x in chosen {
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
        let Some(item) = d.ds.get(&e.item) else {
            continue;
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
    Ok(())
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

/// First-repeat answer and grade reason of the wanted (item, model) pairs, in one pass.
fn answers_of(
    results: &DataFrame,
    wanted: &BTreeSet<(String, String)>,
) -> anyhow::Result<HashMap<(String, String), (String, String)>> {
    let items = results.column("item_id")?.str()?;
    let models = results.column("model")?.str()?;
    let repeats = results.column("repeat")?.u32()?;
    let answers = results.column("answer")?.str()?;
    let reasons = results.column("grade_reason")?.str()?;
    let mut out = HashMap::new();
    for i in 0..results.height() {
        if repeats.get(i) != Some(0) {
            continue;
        }
        let key = (
            items.get(i).unwrap_or("").to_string(),
            models.get(i).unwrap_or("").to_string(),
        );
        if wanted.contains(&key) {
            out.insert(
                key,
                (
                    answers.get(i).unwrap_or("").to_string(),
                    reasons.get(i).unwrap_or("").to_string(),
                ),
            );
        }
    }
    Ok(out)
}

/// `(level, milliseconds)` points of one latency distribution, by (model, task type).
type LatencyByModelTask = BTreeMap<(String, String), Vec<(f64, f64)>>;

/// Latency quantiles per (model, task type) of successful calls, computed by Polars.
fn latency_quantiles(results: &DataFrame) -> anyhow::Result<LatencyByModelTask> {
    let mut aggs = Vec::with_capacity(LATENCY_LEVELS.len());
    for (i, q) in LATENCY_LEVELS.iter().enumerate() {
        aggs.push(
            col("latency_ms")
                .quantile(lit(*q), QuantileMethod::Linear)
                .alias(format!("q{i}")),
        );
    }
    let df = results
        .clone()
        .lazy()
        .filter(col("ok").and(col("latency_ms").is_not_null()))
        .group_by([col("model"), col("task_type")])
        .agg(aggs)
        .collect()?;
    let models = df.column("model")?.str()?;
    let tasks = df.column("task_type")?.str()?;
    let qs: Vec<&Float64Chunked> = (0..LATENCY_LEVELS.len())
        .map(|i| df.column(&format!("q{i}"))?.f64())
        .collect::<PolarsResult<_>>()?;
    let mut out = BTreeMap::new();
    for r in 0..df.height() {
        let curve: Vec<(f64, f64)> = LATENCY_LEVELS
            .iter()
            .zip(&qs)
            .filter_map(|(level, q)| Some((*level, q.get(r)?)))
            .collect();
        if !curve.is_empty() {
            out.insert(
                (
                    models.get(r).unwrap_or("").to_string(),
                    tasks.get(r).unwrap_or("").to_string(),
                ),
                curve,
            );
        }
    }
    Ok(out)
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
        "<h2 id=\"tasks\">By task type</h2>\n<p>Quality pools priorities; intervals are {}% (Wilson for pass/fail graders, seeded bootstrap otherwise). Filled points are on the Pareto front (no other model is both cheaper and better); rings are dominated. Latency curves show, for each model, the share of successful calls that finished within a time.</p>\n",
        sections::level(d.cfg.policy.confidence)
    );
    for t in TaskType::ALL {
        let rows = d.analysis.ranked(*t);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(o, "<h3 id=\"task-{t}\">{t}</h3>");
        let mut in_legend: Vec<(usize, &ModelId)> = rows
            .iter()
            .map(|m| (color_of.get(&m.model).copied().unwrap_or(0), &m.model))
            .collect();
        in_legend.sort();
        legend(o, &in_legend);

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
        let curves: Vec<LatencyCurve> = rows
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
        o.push_str("<div class=\"charts\">\n");
        let _ = writeln!(
            o,
            "<figure id=\"cost-quality-{t}\">{}<figcaption>{}: cost per 1,000 requests against quality{}</figcaption></figure>",
            charts::cost_quality(
                &format!("{t}: cost and quality"),
                d.cfg.policy.confidence,
                &points
            )?,
            t,
            if unplotted.is_empty() {
                String::new()
            } else {
                format!("; not plotted: {}", unplotted.join(", "))
            }
        );
        let _ = writeln!(
            o,
            "<figure id=\"latency-{t}\">{}<figcaption>{t}: latency distribution of successful calls (quantiles)</figcaption></figure>",
            charts::latency(&format!("{t}: latency"), &curves)?
        );
        o.push_str("</div>\n");
        let p50_s = in_seconds(rows.iter().map(|m| m.p50_ms));
        let p95_s = in_seconds(rows.iter().map(|m| m.p95_ms));
        let quality_header = format!("quality [{}% CI]", sections::level(d.cfg.policy.confidence));
        table(
            o,
            "leaderboard",
            &[
                "model",
                "n",
                &quality_header,
                "cost / call",
                "cost / 1k req",
                "p50",
                "p95",
                "errors",
            ],
            &[false, true, true, true, true, true, true, true],
            &rows
                .iter()
                .map(|m| {
                    (
                        false,
                        vec![
                            format!("<code>{}</code>", escape(m.model.as_str())),
                            m.n_graded.to_string(),
                            quality(m.quality),
                            escape(&usd(m.cost_per_call)),
                            escape(&usd(m.cost_per_call.map(|c| c * 1000.0))),
                            ms_in(m.p50_ms, p50_s),
                            ms_in(m.p95_ms, p95_s),
                            pct(m.error_rate),
                        ],
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    Ok(())
}

fn confusion_of(df: &DataFrame) -> anyhow::Result<BTreeMap<String, Confusion>> {
    let classifiers = df.column("classifier")?.str()?;
    let truth = df.column("task_type")?.str()?;
    let predicted = df.column("predicted_task_type")?.str()?;
    let n = df.column("n")?.cast(&DataType::UInt64)?;
    let n = n.u64()?;
    let labels: Vec<String> = TaskType::ALL.iter().map(|t| t.to_string()).collect();
    let index = |s: Option<&str>| labels.iter().position(|l| Some(l.as_str()) == s);
    let mut out: BTreeMap<String, Confusion> = BTreeMap::new();
    for i in 0..df.height() {
        let (Some(r), Some(c)) = (index(truth.get(i)), index(predicted.get(i))) else {
            continue;
        };
        let m = out
            .entry(classifiers.get(i).unwrap_or("").to_string())
            .or_insert_with(|| Confusion {
                labels: labels.clone(),
                counts: vec![vec![0; labels.len()]; labels.len()],
            });
        m.counts[r][c] += n.get(i).unwrap_or(0);
    }
    // Task types neither in the dataset nor ever predicted would only add empty rows.
    for m in out.values_mut() {
        let keep: Vec<usize> = (0..m.labels.len())
            .filter(|&k| m.counts[k].iter().sum::<u64>() > 0 || m.counts.iter().any(|r| r[k] > 0))
            .collect();
        m.labels = keep.iter().map(|&k| m.labels[k].clone()).collect();
        m.counts = keep
            .iter()
            .map(|&r| keep.iter().map(|&c| m.counts[r][c]).collect())
            .collect();
    }
    Ok(out)
}

fn classifier(o: &mut String, d: &Derived) -> anyhow::Result<()> {
    o.push_str("<h2 id=\"classifier\">Classifier</h2>\n");
    table(
        o,
        "classifiers",
        &CLASSIFIER_COLUMNS,
        &[false, true, true, true, true, true, true, true],
        &d.analysis
            .classifier_summary
            .iter()
            .map(|c| {
                let name = format!("<code>{}</code>", escape(c.model.as_str()));
                let figures = classifier_figures(c).map(|f| escape(&f));
                (false, std::iter::once(name).chain(figures).collect())
            })
            .collect::<Vec<_>>(),
    );
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

fn simulation(o: &mut String, d: &Derived) {
    o.push_str("<h2 id=\"simulation\">Simulation</h2>\n<p>Every item routed by the classifier's real predictions (misroutes included) and answered by the recorded answer of the model the table picks; a retryable failure of the primary goes to the fallback. Cost includes the classifier.</p>\n");
    let p95_s = in_seconds(d.sim.iter().map(|r| r.p95_latency_ms));
    table(
        o,
        "simulation",
        &[
            "scenario",
            "classifier",
            "n",
            "quality",
            "cost / 1k req",
            "p95",
            "fallback rate",
            "misrouted",
        ],
        &[false, false, true, true, true, true, true, true],
        &d.sim
            .iter()
            .map(|r| {
                (
                    r.scenario == crate::derive::simulate::Scenario::RecommendedOutOfSample,
                    vec![
                        escape(&r.scenario.to_string()),
                        escape(&r.classifier),
                        r.n.to_string(),
                        r.quality.map(|q| format!("{q:.3}")).unwrap_or("–".into()),
                        escape(&usd(r.cost_per_1k)),
                        ms_in(r.p95_latency_ms, p95_s),
                        pct(r.fallback_rate),
                        r.misrouted_rate.map(pct).unwrap_or("–".into()),
                    ],
                )
            })
            .collect::<Vec<_>>(),
    );
    let mut notes = Vec::new();
    let (basis, label) = crate::derive::simulate::misclassification_basis(&d.sim);
    for c in d.cfg.classifiers() {
        if let Some(loss) =
            crate::derive::simulate::misclassification_loss(&d.sim, &basis, c.as_str())
        {
            notes.push(format!(
                "<li>Misclassification by <code>{}</code> {} ({label}).</li>",
                escape(c.as_str()),
                escape(&super::text::misroute_effect(loss))
            ));
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(o, "<ul>{}</ul>", notes.join(""));
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
