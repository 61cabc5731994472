//! Whether the two runs of `report A B` measured the same items, and each model's quality on
//! the items both graded.
//!
//! An adaptive run (`run --adaptive`) stops calling a model where no decision can change, so
//! its per-model means rest on a share of the items that differs by model and from a full run;
//! a run with `--history` decided on its own items pooled with earlier runs'. Their headline
//! figures are then means over different items, and only the items both runs graded compare
//! like with like (paired: the item's difficulty cancels).

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::base::fmt::{confidence_percent, fixed_3dp};
use crate::base::types::ModelId;
use crate::derive::Derived;
use crate::derive::stats::{self, Estimate};

/// Why the runs' figures rest on different items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleReason {
    /// Run A is adaptive (run.json `settings.adaptive`).
    AdaptiveA,
    /// Run B is adaptive.
    AdaptiveB,
    /// Run A decided on its items pooled with earlier runs' (run.json `settings.history`).
    HistoryA,
    /// Run B decided on pooled items.
    HistoryB,
    /// The runs used different datasets (by sha256).
    DifferentDatasets,
}

impl SampleReason {
    /// The reason in a sentence's words.
    pub fn describe(self) -> &'static str {
        match self {
            SampleReason::AdaptiveA | SampleReason::AdaptiveB => {
                "is adaptive (run --adaptive): its calls stopped where no decision could change, so each model was graded on its own share of the items"
            }
            SampleReason::HistoryA | SampleReason::HistoryB => {
                "pooled earlier runs' graded items into its decisions (--history): its report's decisions rest on more items than its own figures compared here"
            }
            SampleReason::DifferentDatasets => "the runs used different datasets",
        }
    }

    fn side(self) -> Option<&'static str> {
        match self {
            SampleReason::AdaptiveA | SampleReason::HistoryA => Some("A"),
            SampleReason::AdaptiveB | SampleReason::HistoryB => Some("B"),
            SampleReason::DifferentDatasets => None,
        }
    }
}

/// One model's quality on the items both runs graded.
#[derive(Debug, Clone, PartialEq)]
pub struct CommonQuality {
    pub model: ModelId,
    /// Items the model was graded on in A, in B, and in both.
    pub items_a: usize,
    pub items_b: usize,
    pub items_both: usize,
    /// Mean score (0–1) on the common items in each run.
    pub quality_a: Option<f64>,
    pub quality_b: Option<f64>,
    /// B − A on the common items (paired bootstrap, run B's policy).
    pub delta: Option<Estimate>,
}

/// What the comparison says of the runs' samples.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Samples {
    /// Why the headline figures (quality A and B per model and task, the simulated tables)
    /// rest on different items; empty when both runs are full designs on the same dataset.
    pub reasons: Vec<SampleReason>,
    /// Per model in both runs, its quality on the items both graded.
    pub models: Vec<CommonQuality>,
}

impl Samples {
    /// True when the headline figures are computed on different items.
    pub fn differ(&self) -> bool {
        !self.reasons.is_empty()
    }
}

/// The samples of runs `a` and `b`, each model's common items compared with run B's policy.
pub fn samples(a: &Derived, b: &Derived) -> Samples {
    let (ma, mb) = (a.manifest, b.manifest);
    let mut reasons = Vec::new();
    for (on, why) in [
        (ma.settings.adaptive.is_some(), SampleReason::AdaptiveA),
        (mb.settings.adaptive.is_some(), SampleReason::AdaptiveB),
        (
            a.history.is_some() || ma.settings.history.is_some(),
            SampleReason::HistoryA,
        ),
        (
            b.history.is_some() || mb.settings.history.is_some(),
            SampleReason::HistoryB,
        ),
        (
            ma.dataset.sha256 != mb.dataset.sha256,
            SampleReason::DifferentDatasets,
        ),
    ] {
        if on {
            reasons.push(why);
        }
    }
    let (sa, sb) = (scores(a), scores(b));
    let policy = &b.cfg.policy;
    let models = sa
        .iter()
        .filter_map(|(model, xa)| {
            let xb = sb.get(model)?;
            let (vb, va): (Vec<f64>, Vec<f64>) = xb
                .iter()
                .filter_map(|(item, s)| Some((*s, *xa.get(item)?)))
                .unzip();
            let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
            let mut rng = stats::rng_for(policy.seed, &format!("compare-common|{model}"));
            Some(CommonQuality {
                model: (*model).clone(),
                items_a: xa.len(),
                items_b: xb.len(),
                items_both: vb.len(),
                quality_a: mean(&va),
                quality_b: mean(&vb),
                delta: stats::paired_bootstrap(
                    &vb,
                    &va,
                    policy.bootstrap_resamples,
                    policy.confidence,
                    &mut rng,
                ),
            })
        })
        .collect();
    Samples { reasons, models }
}

/// Per model, its score on every item it was graded on (item ids are unique across task types).
fn scores<'a>(d: &'a Derived) -> BTreeMap<&'a ModelId, BTreeMap<&'a str, f64>> {
    let mut out: BTreeMap<&ModelId, BTreeMap<&str, f64>> = BTreeMap::new();
    for mt in &d.analysis.model_task {
        let per = out.entry(&mt.model).or_default();
        per.extend(mt.item_scores.iter().map(|(k, v)| (k.as_str(), *v)));
    }
    out
}

/// The sentence that says the samples differ, and why ("B is adaptive (…); A pooled …").
pub fn sentence(s: &Samples) -> String {
    let why: Vec<String> = s
        .reasons
        .iter()
        .map(|r| match r.side() {
            Some(side) => format!("{side} {}", r.describe()),
            None => r.describe().to_string(),
        })
        .collect();
    // Pooled history changes what a run decided on, not the items of its own figures.
    let own_items_differ = s
        .reasons
        .iter()
        .any(|r| !matches!(r, SampleReason::HistoryA | SampleReason::HistoryB));
    let tail = if own_items_differ {
        "Their quality figures per model and task are means over different items"
    } else {
        "The figures compared here are each run's own items, not the pooled evidence its decisions were made on"
    };
    format!(
        "The runs' samples differ: {}. {tail}; the table of the items both runs graded compares like with like.",
        why.join("; ")
    )
}

/// The models' rows: model, items A/B/both, quality A and B on the common items, Δ [CI].
pub fn rows(s: &Samples) -> Vec<Vec<String>> {
    s.models
        .iter()
        .map(|c| {
            vec![
                c.model.to_string(),
                format!("{}/{}/{}", c.items_a, c.items_b, c.items_both),
                fixed_3dp(c.quality_a),
                fixed_3dp(c.quality_b),
                c.delta
                    .map(|d| format!("{:+.3} [{:+.3}, {:+.3}]", d.value, d.low, d.high))
                    .unwrap_or("–".into()),
            ]
        })
        .collect()
}

/// The rows' header, with the interval's level.
pub fn header(confidence: f64) -> [String; 5] {
    [
        "model".into(),
        "items A/B/both".into(),
        "quality A (both)".into(),
        "quality B (both)".into(),
        format!("Δ quality [{}% CI]", confidence_percent(confidence)),
    ]
}

/// The markdown section (empty when the samples do not differ).
pub fn markdown(s: &Samples, confidence: f64) -> String {
    if !s.differ() {
        return String::new();
    }
    use crate::report::markdown::cell;
    let mut o = format!(
        "## Quality on the items both runs graded\n\n{}\n\n",
        cell(&sentence(s))
    );
    let h = header(confidence);
    let _ = writeln!(o, "| {} |", h.join(" | "));
    let _ = writeln!(o, "|{}", "---|".repeat(h.len()));
    for r in rows(s) {
        let r: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(o, "| {} |", r.join(" | "));
    }
    o.push('\n');
    o
}

/// The terminal lines (empty when the samples do not differ).
pub fn text(s: &Samples, confidence: f64) -> String {
    if !s.differ() {
        return String::new();
    }
    let h = header(confidence);
    let h: Vec<&str> = h.iter().map(String::as_str).collect();
    format!(
        "{}\nOn the items both runs graded:\n{}\n",
        sentence(s),
        crate::report::text::table(&h, &rows(s))
    )
}
