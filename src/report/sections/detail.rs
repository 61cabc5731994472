//! The sections after the verdict and the cells, built once as data for report.md and
//! report.html: stability, the leaderboard per task type, the classifier and its return on
//! cost, the simulation with the strong–weak figures, and the warnings. Paragraphs may hold
//! `inline code` between backticks; each writer draws it its own way.

use super::{Align, Row, Section, Table, code, col, text};
use crate::base::fmt::{
    confidence_percent, in_seconds, interval_3dp, ms_in, p_value, percent_1dp, signed_delta_3dp,
    signed_usd, usd,
};
use crate::base::types::{ModelId, TaskType};
use crate::derive::Derived;
use crate::report::text::{CLASSIFIER_COLUMNS, classifier_figures};

fn rows(cells: impl IntoIterator<Item = Vec<super::Cell>>) -> Vec<Row> {
    cells
        .into_iter()
        .map(|cells| Row {
            cells,
            highlight: false,
            note: None,
        })
        .collect()
}

fn q3(x: Option<f64>) -> String {
    x.map(|q| format!("{q:.3}")).unwrap_or("–".into())
}

/// Columns: the first left-aligned, the rest right-aligned (figures).
fn figures_columns(headers: &[&str]) -> Vec<super::Column> {
    headers
        .iter()
        .enumerate()
        .map(|(i, h)| col(*h, if i == 0 { Align::Left } else { Align::Right }))
        .collect()
}

/// Stability under resampling, when the policy asked for it (`[policy] stability_resamples`).
pub fn stability(d: &Derived) -> Option<Section> {
    let st = d.stability.as_ref()?;
    let rate = |x: Option<f64>| x.map(percent_1dp).unwrap_or("–".into());
    let paragraph = format!(
        "On {} bootstrap resamples of the items (stratified by task type, seed {}): flap rate {} over the {} kept cells whose challenger is within the noise ({} where it leads by under one standard error); proposed changes come back in {} of resamples.",
        st.resamples,
        st.seed,
        rate(st.flap_rate()),
        st.cells.iter().filter(|c| c.within_noise).count(),
        rate(st.flap_rate_within_one_se()),
        rate(st.change_reproducibility())
    );
    let shaky: Vec<Vec<super::Cell>> = st
        .cells
        .iter()
        .filter(|c| c.agree < st.resamples)
        .map(|c| {
            vec![
                code(c.cell.clone()),
                code(c.proposed.to_string()),
                text(format!("{} of {}", c.agree, st.resamples)),
                text(format!("{} of {}", c.moved, st.resamples)),
            ]
        })
        .collect();
    let tables = if shaky.is_empty() {
        Vec::new()
    } else {
        vec![(
            None,
            Table {
                columns: figures_columns(&[
                    "cell",
                    "proposed primary",
                    "same in resamples",
                    "moved from current",
                ]),
                rows: rows(shaky),
            },
        )]
    };
    Some(Section {
        level: 2,
        id: "stability",
        title: "Stability".into(),
        paragraphs: vec![paragraph],
        tables,
        bullets: Vec::new(),
    })
}

/// "Δ vs best" of `m` on task `t`: the paired comparison with the task's best model.
fn vs_best(d: &Derived, t: TaskType, m: &ModelId, best: &ModelId) -> String {
    if m == best {
        return "best".into();
    }
    d.comparisons
        .iter()
        .filter(|c| c.task == Some(t))
        .find_map(|c| {
            if c.a == *m && c.b == *best {
                Some(c.clone())
            } else if c.b == *m && c.a == *best {
                Some(c.reversed())
            } else {
                None
            }
        })
        .map(|c| {
            format!(
                "{}, {}{}",
                signed_delta_3dp(&c.delta),
                p_value(c.p_value),
                if c.significant {
                    ""
                } else {
                    " (not significant)"
                }
            )
        })
        .unwrap_or("–".into())
}

/// One task type's leaderboard, best quality first; `None` when no model answered it.
pub fn leaderboard(d: &Derived, t: TaskType) -> Option<Table> {
    let ranked = d.analysis.ranked(t);
    let best = ranked.first()?.model.clone();
    let lv = confidence_percent(d.cfg.policy.confidence);
    let p50_s = in_seconds(ranked.iter().map(|m| m.p50_ms));
    let p95_s = in_seconds(
        ranked
            .iter()
            .flat_map(|m| [m.p95_ms, m.p95.map(|e| e.high)]),
    );
    let headers = [
        "model".to_string(),
        "n".into(),
        format!("quality [{lv}% CI]"),
        format!("Δ vs best [{lv}% CI]"),
        "cost / 1k req".into(),
        "p50".into(),
        format!("p95 [{lv}% CI]"),
        format!("errors [{lv}% CI]"),
    ];
    let body = ranked.iter().map(|m| {
        vec![
            code(m.model.to_string()),
            text(m.n_graded.to_string()),
            text(interval_3dp(m.quality)),
            text(vs_best(d, t, &m.model, &best)),
            text(usd(m.cost_per_call.map(|c| c * 1000.0))),
            text(ms_in(m.p50_ms, p50_s)),
            text(match m.p95 {
                Some(e) => format!(
                    "{} [{}, {}]",
                    ms_in(Some(e.value), p95_s),
                    ms_in(Some(e.low), p95_s),
                    ms_in(Some(e.high), p95_s)
                ),
                None => ms_in(m.p95_ms, p95_s),
            }),
            text(match m.errors {
                Some(e) => format!(
                    "{} [{}, {}]",
                    percent_1dp(m.error_rate),
                    percent_1dp(e.low),
                    percent_1dp(e.high)
                ),
                None => percent_1dp(m.error_rate),
            }),
        ]
    });
    Some(Table {
        columns: figures_columns(&headers.iter().map(String::as_str).collect::<Vec<_>>()),
        rows: rows(body),
    })
}

/// The leaderboard of every task type with answers.
pub fn leaderboards(d: &Derived) -> Section {
    Section {
        level: 2,
        id: "leaderboard",
        title: "Leaderboard by task type".into(),
        paragraphs: vec![format!(
            "Quality pools priorities and averages an item's repeats first; intervals are {}% over items (Wilson for pass/fail scores, seeded bootstrap otherwise; p95 by bootstrap over items). Δ vs best is paired on the items both were graded on (Agresti–Min paired difference, unadjusted; the decisions' own tests are in the cells table).",
            confidence_percent(d.cfg.policy.confidence)
        )],
        tables: TaskType::ALL
            .iter()
            .filter_map(|t| Some((Some(t.to_string()), leaderboard(d, *t)?)))
            .collect(),
        bullets: Vec::new(),
    }
}

/// Each classifier's accuracy, parse misses, cost and latency.
pub fn classifier(d: &Derived) -> Section {
    let body = d.analysis.classifier_summary.iter().map(|c| {
        std::iter::once(code(c.model.to_string()))
            .chain(classifier_figures(c).into_iter().map(text))
            .collect()
    });
    Section {
        level: 2,
        id: "classifier",
        title: "Classifier".into(),
        paragraphs: Vec::new(),
        tables: vec![(
            None,
            Table {
                columns: figures_columns(&CLASSIFIER_COLUMNS),
                rows: rows(body),
            },
        )],
        bullets: Vec::new(),
    }
}

/// The recommended table through each classifier, when more than one was measured.
pub fn classifier_value(d: &Derived) -> Option<Section> {
    if d.classifier_value.len() < 2 {
        return None;
    }
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
    let body = d.classifier_value.iter().map(|v| {
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
            code(v.classifier.to_string()),
            text(percent_1dp(v.accuracy)),
            text(usd(v.classifier_cost_per_1k)),
            text(q3(v.quality)),
            text(usd(v.cost_per_1k)),
            text(ms_in(v.p95_latency_ms, p95_s)),
            text(
                v.misclassification_loss
                    .map(percent_1dp)
                    .unwrap_or("–".into()),
            ),
            text(versus),
        ]
    });
    Some(Section {
        level: 3,
        id: "classifier-value",
        title: "Classifier return on cost".into(),
        paragraphs: vec!["The recommended table routed through each classifier's real predictions; cost per 1,000 requests includes the classifier.".into()],
        tables: vec![(
            None,
            Table {
                columns: figures_columns(&[
                    "classifier",
                    "accuracy",
                    "classifier cost / 1k req",
                    "quality",
                    "cost / 1k req",
                    "p95",
                    "quality lost to misroutes",
                    "vs the cheapest classifier",
                ]),
                rows: rows(body),
            },
        )],
        bullets: Vec::new(),
    })
}

/// Every simulated table through every classifier; the out-of-sample rows highlighted.
pub fn simulation(d: &Derived) -> Section {
    use crate::derive::simulate::{Scenario, misclassification_basis, misclassification_loss};
    let p95_s = in_seconds(d.sim.iter().map(|r| r.p95_latency_ms));
    let body = d
        .sim
        .iter()
        .map(|r| Row {
            cells: vec![
                text(r.scenario.to_string()),
                code(r.classifier.clone()),
                text(r.n.to_string()),
                text(q3(r.quality)),
                text(usd(r.cost_per_1k)),
                text(ms_in(r.p95_latency_ms, p95_s)),
                text(percent_1dp(r.fallback_rate)),
                text(r.misrouted_rate.map(percent_1dp).unwrap_or("–".into())),
                text(
                    r.misclassification_loss
                        .map(percent_1dp)
                        .unwrap_or("–".into()),
                ),
            ],
            highlight: r.scenario == Scenario::RecommendedOutOfSample,
            note: None,
        })
        .collect();
    let mut columns = figures_columns(&[
        "scenario",
        "classifier",
        "n",
        "quality",
        "cost / 1k req",
        "p95",
        "fallback rate",
        "misrouted",
        "quality lost to misroutes",
    ]);
    columns[1].align = Align::Left;
    let (basis, label) = misclassification_basis(&d.sim);
    let bullets = d
        .cfg
        .classifiers()
        .iter()
        .filter_map(|c| {
            let loss = misclassification_loss(&d.sim, &basis, c.as_str())?;
            Some(format!(
                "Misclassification by `{c}` {} ({label}).",
                crate::report::text::misroute_effect(loss)
            ))
        })
        .collect();
    Section {
        level: 2,
        id: "simulation",
        title: "Simulation".into(),
        paragraphs: vec!["Every item routed by the classifier's real predictions (misroutes included) and answered by the recorded answer of the model the table picks; a retryable failure of the primary goes to the fallback. Cost includes the classifier. The `recommended` rows are in-sample: the table was fitted on these very items, so they flatter it. The `recommended (out of sample)` rows route each item by a table refitted without the item's fold (cross-fitting, `[policy] crossfit_folds`): read those.".into()],
        tables: vec![(None, Table { columns, rows: body })],
        bullets,
    }
}

/// RouteLLM's figures for the strongest and the weakest model, when both were measured.
pub fn strong_weak(d: &Derived) -> Option<Section> {
    let sw = d.strong_weak.as_ref()?;
    let cpt = |x: Option<f64>| x.map(percent_1dp).unwrap_or("not reached".into());
    let body = [
        Some(&sw.cells),
        sw.cells_out_of_sample.as_ref(),
        Some(&sw.oracle),
    ]
    .into_iter()
    .flatten()
    .map(|c| {
        let how = if c.router.ends_with("out of sample") {
            format!(
                " (`{}` predictions, ordered on the other folds)",
                sw.classifier
            )
        } else if c.router.starts_with("cells") {
            format!(" (`{}` predictions, in-sample order)", sw.classifier)
        } else {
            String::new()
        };
        vec![
            text(format!("{}{how}", c.router)),
            text(percent_1dp(c.apgr)),
            text(cpt(c.cpt50)),
            text(cpt(c.cpt80)),
        ]
    });
    let mut bullets: Vec<String> = sw
        .tables
        .iter()
        .map(|(scenario, share, pgr)| {
            format!(
                "The {scenario} table (through `{}`) sends {} of requests to the strong model and recovers {} of the gap.",
                sw.classifier,
                percent_1dp(*share),
                percent_1dp(*pgr)
            )
        })
        .collect();
    bullets.push("The curves are in `threshold_curve.csv`.".into());
    Some(Section {
        level: 3,
        id: "strong-weak",
        title: "Strong and weak model (RouteLLM figures)".into(),
        paragraphs: vec![format!(
            "Strong `{}` (quality {:.3}), weak `{}` (quality {:.3}) on the {} items both were graded on. PGR is the share of the quality gap a router recovers; APGR its average over the share of calls sent to the strong model; CPT(x%) the share of strong calls needed to recover x% of the gap. A random router has APGR 50%; above 100% means routing beats the strong model alone (the weak one wins some items).",
            sw.strong, sw.quality_strong, sw.weak, sw.quality_weak, sw.n
        )],
        tables: vec![(
            None,
            Table {
                columns: figures_columns(&["router", "APGR", "CPT(50%)", "CPT(80%)"]),
                rows: rows(body),
            },
        )],
        bullets,
    })
}

/// The run's warnings, when there are any.
pub fn warnings(d: &Derived) -> Option<Section> {
    let w = d.warnings();
    (!w.is_empty()).then(|| Section {
        level: 2,
        id: "warnings",
        title: "Warnings".into(),
        paragraphs: Vec::new(),
        tables: Vec::new(),
        bullets: w,
    })
}

/// Every model on every task type in one table (the terminal's compact leaderboard): task,
/// model, graded items, quality with its interval, cost per call, p95 (one unit for the whole
/// column), error rate.
pub fn models(d: &Derived) -> Table {
    let mts: Vec<_> = TaskType::ALL
        .iter()
        .flat_map(|t| d.analysis.model_task.iter().filter(move |m| m.task == *t))
        .collect();
    let p95 = crate::base::fmt::ms_column(&mts.iter().map(|m| m.p95_ms).collect::<Vec<_>>());
    let body = mts.iter().zip(p95).map(|(mt, p95)| {
        vec![
            text(mt.task.to_string()),
            code(mt.model.to_string()),
            text(mt.n_graded.to_string()),
            text(interval_3dp(mt.quality)),
            text(usd(mt.cost_per_call)),
            text(p95),
            text(percent_1dp(mt.error_rate)),
        ]
    });
    let q = format!(
        "quality [{}% CI]",
        confidence_percent(d.cfg.policy.confidence)
    );
    let mut columns = figures_columns(&["task", "model", "n", &q, "cost/call", "p95", "errors"]);
    columns[1].align = Align::Left;
    Table {
        columns,
        rows: rows(body),
    }
}
