//! `report.md`: fits a pull-request description or a CI step summary.

use std::fmt::Write;

use super::Exporter;
use super::text::{ms, pct, quality, route, signed_ms, signed_usd, usd};
use crate::derive::Derived;
use crate::policy::fmt_delta;
use crate::types::TaskType;

pub struct Markdown;

/// Escape text for a Markdown table cell (pipes, newlines, HTML).
pub fn cell(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
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
        let lat: Vec<String> = d
            .analysis
            .latency_sources
            .iter()
            .map(|(k, v)| format!("`{k}` {v}"))
            .collect();
        if !lat.is_empty() {
            let _ = writeln!(o, "- **Latency** {}", lat.join(", "));
        }
        o.push('\n');

        // Proposed changes.
        let changes: Vec<_> = d.rec.changes().collect();
        let _ = writeln!(
            o,
            "## Proposed changes ({} of {} cells)\n",
            changes.len(),
            d.rec.decisions.len()
        );
        let header = [
            "cell",
            "current",
            "proposed",
            "reason",
            "Δ quality [CI]",
            "Δ cost / 1k req",
            "Δ p95",
            "Δ errors",
            "n",
        ];
        let row = |c: &crate::policy::Decision| -> Vec<String> {
            let e = c.evidence.as_ref();
            vec![
                format!("`{}`", c.label()),
                cell(&route(&c.old)),
                cell(&route(&c.new)),
                cell(&c.reason),
                e.and_then(|e| e.delta_quality)
                    .map(|q| fmt_delta(&q))
                    .unwrap_or("–".into()),
                signed_usd(e.and_then(|e| e.delta_cost_per_1k)),
                signed_ms(e.and_then(|e| e.delta_p95_ms)),
                e.map(|e| format!("{:+.1} pp", e.delta_error_rate * 100.0))
                    .unwrap_or("–".into()),
                c.n.to_string(),
            ]
        };
        if changes.is_empty() {
            o.push_str("No route changes proposed.\n\n");
        } else {
            md_table(
                &mut o,
                &header,
                &changes.iter().map(|c| row(c)).collect::<Vec<_>>(),
            );
        }
        let kept: Vec<_> = d.rec.decisions.iter().filter(|x| !x.changed()).collect();
        if !kept.is_empty() {
            let _ = writeln!(
                o,
                "<details><summary>Kept cells ({})</summary>\n",
                kept.len()
            );
            md_table(
                &mut o,
                &header,
                &kept.iter().map(|c| row(c)).collect::<Vec<_>>(),
            );
            o.push_str("</details>\n\n");
        }
        if !d.diff.is_empty() {
            let _ = writeln!(
                o,
                "<details><summary>routes.toml diff</summary>\n\n```diff\n{}```\n</details>\n",
                d.diff.replace("```", "ʼʼʼ")
            );
        }

        // Leaderboard.
        o.push_str("## Leaderboard by task type\n\nQuality pools priorities; intervals are 95% (Wilson for pass/fail graders, seeded bootstrap otherwise).\n\n");
        for t in TaskType::ALL {
            let mut rows: Vec<_> = d
                .analysis
                .model_task
                .iter()
                .filter(|m| m.task == *t)
                .collect();
            if rows.is_empty() {
                continue;
            }
            rows.sort_by(|a, b| {
                b.quality
                    .map(|q| q.value)
                    .unwrap_or(-1.0)
                    .total_cmp(&a.quality.map(|q| q.value).unwrap_or(-1.0))
            });
            let _ = writeln!(o, "### {t}\n");
            md_table(
                &mut o,
                &[
                    "model",
                    "n",
                    "quality [95% CI]",
                    "cost / call",
                    "p50",
                    "p95",
                    "errors",
                ],
                &rows
                    .iter()
                    .map(|m| {
                        vec![
                            format!("`{}`", m.model),
                            m.n_graded.to_string(),
                            quality(m.quality),
                            usd(m.cost_per_call),
                            ms(m.p50_ms),
                            ms(m.p95_ms),
                            pct(m.error_rate),
                        ]
                    })
                    .collect::<Vec<_>>(),
            );
        }

        // Classifier.
        o.push_str("## Classifier\n\n");
        md_table(
            &mut o,
            &[
                "classifier",
                "n",
                "task accuracy",
                "priority accuracy",
                "both",
                "parse misses",
                "cost / call",
                "mean latency",
            ],
            &d.analysis
                .classifier_summary
                .iter()
                .map(|c| {
                    vec![
                        format!("`{}`", c.model),
                        c.n.to_string(),
                        pct(c.task_accuracy),
                        pct(c.priority_accuracy),
                        pct(c.both_accuracy),
                        c.parse_misses.to_string(),
                        usd(c.cost_per_call),
                        ms(c.mean_latency_ms),
                    ]
                })
                .collect::<Vec<_>>(),
        );

        // Simulation.
        o.push_str("## Simulation\n\nEvery item routed by the classifier's real predictions (misroutes included) and answered by the recorded answer of the model the table picks; a retryable failure of the primary goes to the fallback. Cost includes the classifier.\n\n");
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
            ],
            &d.sim
                .iter()
                .map(|r| {
                    vec![
                        cell(&r.scenario),
                        cell(&r.classifier),
                        r.n.to_string(),
                        r.quality.map(|q| format!("{q:.3}")).unwrap_or("–".into()),
                        usd(r.cost_per_1k),
                        ms(r.p95_latency_ms),
                        pct(r.fallback_rate),
                        r.misrouted_rate.map(pct).unwrap_or("–".into()),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        for c in d.cfg.classifiers() {
            if let Some(loss) =
                crate::simulate::misclassification_loss(&d.sim, "recommended", c.as_str())
            {
                let _ = writeln!(
                    o,
                    "- Misclassification by `{c}` costs the recommended table {} of its quality.",
                    pct(loss)
                );
            }
        }
        o.push('\n');

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
