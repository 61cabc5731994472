//! `report.md`: fits a pull-request description or a CI step summary.

use std::fmt::Write;

use super::Exporter;
use super::sections::{self, Align, Span, Table};
use super::text::{
    CLASSIFIER_COLUMNS, classifier_figures, in_seconds, ms_in, pct, quality, signed_usd, usd,
};
use crate::base::types::TaskType;
use crate::derive::Derived;
use crate::derive::policy::{fmt_delta, fmt_p};

pub struct Markdown;

fn fmt_pct_level(confidence: f64) -> String {
    let v = confidence * 100.0;
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v}")
    }
}

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
        "## Cells ({} of {} change)\n\nΔ is proposed − current on the items both answered; traffic is the share of the dataset's items in the cell. The quality interval is the decision's own: two-sided at {}%, so its lower bound is the one-sided test at {}% (a printed level means Holm's procedure widened it). Numbers in brackets point to the reasons below the table.\n",
        changes,
        d.rec.decisions.len(),
        sections::level(sections::two_sided(d.cfg.policy.confidence)),
        sections::level(d.cfg.policy.confidence)
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

fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "report.md"
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
            o.push_str(&super::history::markdown(h));
        }
        o.push_str("## Run\n\n");
        let _ = writeln!(
            o,
            "- **Dataset** `{}` ({} items) · **routes** `{}`",
            m.dataset.path,
            d.ds.items.len(),
            m.routes.path
        );
        let _ = writeln!(
            o,
            "- **Models** {} · **classifiers** {}",
            d.analysis
                .models
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", "),
            d.cfg
                .classifiers()
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
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

        if let Some(st) = &d.stability {
            let rate = |x: Option<f64>| x.map(pct).unwrap_or("–".into());
            let _ = writeln!(
                o,
                "**Stability** on {} bootstrap resamples of the items (stratified by task type, seed {}): flap rate {} over the {} kept cells whose challenger is within the noise ({} where it leads by under one standard error); proposed changes come back in {} of resamples.\n",
                st.resamples,
                st.seed,
                rate(st.flap_rate()),
                st.cells.iter().filter(|c| c.within_noise).count(),
                rate(st.flap_rate_within_one_se()),
                rate(st.change_reproducibility())
            );
            let shaky: Vec<Vec<String>> = st
                .cells
                .iter()
                .filter(|c| c.agree < st.resamples)
                .map(|c| {
                    vec![
                        format!("`{}`", c.cell),
                        format!("`{}`", c.proposed),
                        format!("{} of {}", c.agree, st.resamples),
                        format!("{} of {}", c.moved, st.resamples),
                    ]
                })
                .collect();
            if !shaky.is_empty() {
                md_table(
                    &mut o,
                    &[
                        "cell",
                        "proposed primary",
                        "same in resamples",
                        "moved from current",
                    ],
                    &shaky,
                );
            }
        }
        if !d.diff.is_empty() {
            let _ = writeln!(
                o,
                "<details><summary>routes.toml diff</summary>\n\n```diff\n{}```\n</details>\n",
                d.toml_diff.replace("```", "ʼʼʼ")
            );
        }

        // Leaderboard.
        let _ = writeln!(
            o,
            "## Leaderboard by task type\n\nQuality pools priorities and averages an item's repeats first; intervals are {}% over items (Wilson for pass/fail scores, seeded bootstrap otherwise; p95 by bootstrap over items). Δ vs best is paired on the items both were graded on (Agresti–Min paired difference, unadjusted; the decisions' own tests are in the table above).\n",
            fmt_pct_level(d.cfg.policy.confidence)
        );
        for t in TaskType::ALL {
            let rows = d.analysis.ranked(*t);
            if rows.is_empty() {
                continue;
            }
            let _ = writeln!(o, "### {t}\n");
            let best = rows[0].model.clone();
            let p50_s = in_seconds(rows.iter().map(|m| m.p50_ms));
            let p95_s = in_seconds(rows.iter().flat_map(|m| [m.p95_ms, m.p95.map(|e| e.high)]));
            let vs_best = |m: &crate::base::types::ModelId| -> String {
                if *m == best {
                    return "best".into();
                }
                d.comparisons
                    .iter()
                    .filter(|c| c.task == Some(*t))
                    .find_map(|c| {
                        if c.a == *m && c.b == best {
                            Some(c.clone())
                        } else if c.b == *m && c.a == best {
                            Some(c.reversed())
                        } else {
                            None
                        }
                    })
                    .map(|c| {
                        format!(
                            "{}, {}{}",
                            fmt_delta(&c.delta),
                            fmt_p(c.p_value),
                            if c.significant {
                                ""
                            } else {
                                " (not significant)"
                            }
                        )
                    })
                    .unwrap_or("–".into())
            };
            md_table(
                &mut o,
                &[
                    "model",
                    "n",
                    "quality [CI]",
                    "Δ vs best [CI]",
                    "cost / call",
                    "p50",
                    "p95 [CI]",
                    "errors [CI]",
                ],
                &rows
                    .iter()
                    .map(|m| {
                        vec![
                            format!("`{}`", m.model),
                            m.n_graded.to_string(),
                            quality(m.quality),
                            vs_best(&m.model),
                            usd(m.cost_per_call),
                            ms_in(m.p50_ms, p50_s),
                            match m.p95 {
                                Some(e) => format!(
                                    "{} [{}, {}]",
                                    ms_in(Some(e.value), p95_s),
                                    ms_in(Some(e.low), p95_s),
                                    ms_in(Some(e.high), p95_s)
                                ),
                                None => ms_in(m.p95_ms, p95_s),
                            },
                            match m.errors {
                                Some(e) => format!(
                                    "{} [{}, {}]",
                                    pct(m.error_rate),
                                    pct(e.low),
                                    pct(e.high)
                                ),
                                None => pct(m.error_rate),
                            },
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }

        // Classifier.
        o.push_str("## Classifier\n\n");
        md_table(
            &mut o,
            &CLASSIFIER_COLUMNS,
            &d.analysis
                .classifier_summary
                .iter()
                .map(|c| {
                    let name = format!("`{}`", c.model);
                    std::iter::once(name).chain(classifier_figures(c)).collect()
                })
                .collect::<Vec<_>>(),
        );
        if d.classifier_value.len() > 1 {
            o.push_str("### Classifier return on cost\n\nThe recommended table routed through each classifier's real predictions; cost per 1,000 requests includes the classifier.\n\n");
            let base = d
                .classifier_value
                .iter()
                .filter(|v| v.classifier_cost_per_1k.is_some())
                .min_by(|x, y| {
                    x.classifier_cost_per_1k
                        .unwrap_or(f64::INFINITY)
                        .total_cmp(&y.classifier_cost_per_1k.unwrap_or(f64::INFINITY))
                });
            let p95_s = in_seconds(d.classifier_value.iter().map(|v| v.p95_latency_ms));
            md_table(
                &mut o,
                &[
                    "classifier",
                    "accuracy",
                    "classifier cost / 1k req",
                    "quality",
                    "cost / 1k req",
                    "p95",
                    "quality lost to misroutes",
                    "vs the cheapest classifier",
                ],
                &d.classifier_value
                    .iter()
                    .map(|v| {
                        let versus = match base {
                            Some(b) if b.classifier != v.classifier => {
                                match (v.quality, b.quality, v.cost_per_1k, b.cost_per_1k) {
                                    (Some(q), Some(qb), Some(c), Some(cb)) => format!(
                                        "{:+.3} quality for {} per 1k req",
                                        q - qb,
                                        signed_usd(Some(c - cb))
                                    ),
                                    _ => "–".into(),
                                }
                            }
                            Some(_) => "cheapest".into(),
                            None => "–".into(),
                        };
                        vec![
                            format!("`{}`", v.classifier),
                            pct(v.accuracy),
                            usd(v.classifier_cost_per_1k),
                            v.quality.map(|q| format!("{q:.3}")).unwrap_or("–".into()),
                            usd(v.cost_per_1k),
                            ms_in(v.p95_latency_ms, p95_s),
                            v.misclassification_loss.map(pct).unwrap_or("–".into()),
                            versus,
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }

        // Simulation.
        o.push_str("## Simulation\n\nEvery item routed by the classifier's real predictions (misroutes included) and answered by the recorded answer of the model the table picks; a retryable failure of the primary goes to the fallback. Cost includes the classifier. The `recommended` rows are in-sample: the table was fitted on these very items, so they flatter it. The `recommended (out of sample)` rows route each item by a table refitted without the item's fold (cross-fitting, `[policy] crossfit_folds`): read those.\n\n");
        let p95_s = in_seconds(d.sim.iter().map(|r| r.p95_latency_ms));
        md_table(
            &mut o,
            &[
                "scenario",
                "classifier",
                "n",
                "quality",
                "cost / 1k req",
                "p95",
                "fallback rate",
                "misrouted",
                "quality lost to misroutes",
            ],
            &d.sim
                .iter()
                .map(|r| {
                    vec![
                        cell(&r.scenario.to_string()),
                        cell(&r.classifier),
                        r.n.to_string(),
                        r.quality.map(|q| format!("{q:.3}")).unwrap_or("–".into()),
                        usd(r.cost_per_1k),
                        ms_in(r.p95_latency_ms, p95_s),
                        pct(r.fallback_rate),
                        r.misrouted_rate.map(pct).unwrap_or("–".into()),
                        r.misclassification_loss.map(pct).unwrap_or("–".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let (basis, label) = crate::derive::simulate::misclassification_basis(&d.sim);
        for c in d.cfg.classifiers() {
            if let Some(loss) =
                crate::derive::simulate::misclassification_loss(&d.sim, &basis, c.as_str())
            {
                let _ = writeln!(
                    o,
                    "- Misclassification by `{c}` {} ({label}).",
                    super::text::misroute_effect(loss)
                );
            }
        }
        o.push('\n');
        if let Some(sw) = &d.strong_weak {
            let cpt = |x: Option<f64>| x.map(pct).unwrap_or("not reached".into());
            let _ = writeln!(
                o,
                "### Strong and weak model (RouteLLM figures)\n\nStrong `{}` (quality {:.3}), weak `{}` (quality {:.3}) on the {} items both were graded on. PGR is the share of the quality gap a router recovers; APGR its average over the share of calls sent to the strong model; CPT(x%) the share of strong calls needed to recover x% of the gap. A random router has APGR 50%; above 100% means routing beats the strong model alone (the weak one wins some items).\n",
                sw.strong, sw.quality_strong, sw.weak, sw.quality_weak, sw.n
            );
            md_table(
                &mut o,
                &["router", "APGR", "CPT(50%)", "CPT(80%)"],
                &[
                    Some(&sw.cells),
                    sw.cells_out_of_sample.as_ref(),
                    Some(&sw.oracle),
                ]
                .into_iter()
                .flatten()
                .map(|c| {
                    vec![
                        cell(&format!(
                            "{}{}",
                            c.router,
                            if c.router.ends_with("out of sample") {
                                format!(
                                    " (`{}` predictions, ordered on the other folds)",
                                    sw.classifier
                                )
                            } else if c.router.starts_with("cells") {
                                format!(" (`{}` predictions, in-sample order)", sw.classifier)
                            } else {
                                String::new()
                            }
                        )),
                        pct(c.apgr),
                        cpt(c.cpt50),
                        cpt(c.cpt80),
                    ]
                })
                .collect::<Vec<_>>(),
            );
            for (scenario, share, pgr) in &sw.tables {
                let _ = writeln!(
                    o,
                    "- The {scenario} table (through `{}`) sends {} of requests to the strong model and recovers {} of the gap.",
                    sw.classifier,
                    pct(*share),
                    pct(*pgr)
                );
            }
            o.push_str("\nThe curves are in `threshold_curve.csv`.\n\n");
        }

        // Warnings.
        let warnings = d.warnings();
        if !warnings.is_empty() {
            o.push_str("## Warnings\n\n");
            for w in warnings {
                let _ = writeln!(o, "- {}", cell(&w));
            }
            o.push('\n');
        }
        Ok(o.into_bytes())
    }
}
