//! The plan: every call a run will make (items × (classifiers + candidates) × repeats) and
//! what it is expected to cost, known before the first call.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use crate::base::types::{ModelId, Usd};
use crate::classify;
use crate::config::Config;
use crate::dataset::Dataset;
use crate::provider::tokens;
use crate::provider::{CallRequest, Purpose};

use crate::store::journal::{CallKind, call_key};

/// Expected answer length when estimating spend: most answers stop well before `max_tokens`.
pub const EXPECTED_OUTPUT_TOKENS: u64 = 400;

/// One call to make.
#[derive(Debug, Clone)]
pub struct PlannedCall {
    pub key: String,
    pub kind: CallKind,
    /// The item's id.
    pub item_id: String,
    pub endpoint: String,
    pub request: CallRequest,
    /// For a judge call: the key of the call it judges.
    pub target: Option<String>,
    /// Estimated input and output tokens.
    pub est_input_tokens: u64,
    pub est_output_tokens: u64,
}

/// The calls and spend estimate of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPlan {
    pub model: ModelId,
    pub endpoint: String,
    pub kind: CallKind,
    pub calls: usize,
    pub est_input_tokens: u64,
    pub est_output_tokens: u64,
    /// `None` when the model has no price.
    pub est_cost: Option<Usd>,
    /// Whether the calls spend money (live endpoints) or replay/simulate.
    pub live: bool,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub items: usize,
    pub repeats: u32,
    pub calls: Vec<PlannedCall>,
    pub per_model: Vec<ModelPlan>,
    /// Calls already in the journal, skipped.
    pub skipped: usize,
}

impl Plan {
    /// Expected spend of the calls that go to live endpoints (unpriced models excluded).
    pub fn est_live_spend(&self) -> Usd {
        self.per_model
            .iter()
            .filter(|m| m.live)
            .filter_map(|m| m.est_cost)
            .fold(Usd(0.0), |a, b| a + b)
    }

    pub fn unpriced(&self) -> Vec<&ModelId> {
        self.per_model
            .iter()
            .filter(|m| m.est_cost.is_none())
            .map(|m| &m.model)
            .collect()
    }
}

/// Build the plan, leaving out calls whose key is in `done`.
pub fn build(cfg: &Config, ds: &Dataset, repeats: u32, done: &HashSet<String>) -> Plan {
    build_where(cfg, ds, repeats, done, &|_, _| true)
}

/// [`build`] for the (item index, model) pairs `keep` accepts, classifiers and candidates
/// alike: one batch of an adaptive run.
pub fn build_where(
    cfg: &Config,
    ds: &Dataset,
    repeats: u32,
    done: &HashSet<String>,
    keep: &dyn Fn(usize, &ModelId) -> bool,
) -> Plan {
    let mut calls = Vec::new();
    let mut skipped = 0;
    let mut stats: BTreeMap<(CallKind, ModelId), (usize, u64, u64)> = BTreeMap::new();
    let classifiers = cfg.classifiers();
    let candidates: Vec<&crate::config::Model> = cfg.candidates().collect();

    for (idx, item) in ds.items.iter().enumerate() {
        let max_tokens = item.max_tokens.unwrap_or(cfg.defaults.max_tokens);
        for repeat in 0..repeats {
            for c in classifiers.iter().filter(|c| keep(idx, c)) {
                let key = call_key(CallKind::Classifier, &item.id, c, repeat);
                if done.contains(&key) {
                    skipped += 1;
                    continue;
                }
                let prompt: Arc<str> =
                    classify::render_prompt(&cfg.classifier.prompt_template, &item.prompt).into();
                let est_in = tokens::estimate(&prompt);
                let est_out = 3;
                let m = cfg.model(c);
                let e = stats.entry((CallKind::Classifier, c.clone())).or_default();
                *e = (e.0 + 1, e.1 + est_in, e.2 + est_out);
                calls.push(PlannedCall {
                    key,
                    kind: CallKind::Classifier,
                    item_id: item.id.clone(),
                    endpoint: m.endpoint.clone(),
                    request: CallRequest {
                        model: c.clone(),
                        wire_name: Arc::from(m.wire_name.as_str()),
                        prompt,
                        messages: None,
                        max_tokens: cfg.classifier.max_tokens,
                        temperature: Some(0.0),
                        purpose: Purpose::Classify {
                            text: item.prompt.clone(),
                        },
                        repeat,
                    },
                    target: None,
                    est_input_tokens: est_in,
                    est_output_tokens: est_out,
                });
            }
            for m in candidates.iter().filter(|m| keep(idx, &m.id)) {
                let key = call_key(CallKind::Candidate, &item.id, &m.id, repeat);
                if done.contains(&key) {
                    skipped += 1;
                    continue;
                }
                // The conversation this model is sent: the item with its system prompt.
                let messages = item.conversation(cfg.system.for_model(&m.id));
                let item_input = tokens::estimate(&match &messages {
                    Some(turns) => crate::dataset::turns_text(turns).into(),
                    None => item.input_text(),
                });
                let est_out = EXPECTED_OUTPUT_TOKENS.min(max_tokens as u64);
                let e = stats
                    .entry((CallKind::Candidate, m.id.clone()))
                    .or_default();
                *e = (e.0 + 1, e.1 + item_input, e.2 + est_out);
                calls.push(PlannedCall {
                    key,
                    kind: CallKind::Candidate,
                    item_id: item.id.clone(),
                    endpoint: m.endpoint.clone(),
                    request: CallRequest {
                        model: m.id.clone(),
                        wire_name: Arc::from(m.wire_name.as_str()),
                        prompt: item.prompt.clone(),
                        messages,
                        max_tokens,
                        temperature: cfg.defaults.temperature,
                        purpose: Purpose::Candidate,
                        repeat,
                    },
                    target: None,
                    est_input_tokens: item_input,
                    est_output_tokens: est_out,
                });
            }
        }
    }

    let per_model = model_plans(cfg, stats);

    Plan {
        items: ds.items.len(),
        repeats,
        calls,
        per_model,
        skipped,
    }
}

/// Calls, tokens and estimated cost per (kind, model), from the planned calls' tallies.
fn model_plans(
    cfg: &Config,
    stats: BTreeMap<(CallKind, ModelId), (usize, u64, u64)>,
) -> Vec<ModelPlan> {
    stats
        .into_iter()
        .map(|((kind, model), (n, tin, tout))| {
            let m = cfg.model(&model);
            let ep = cfg.endpoint_of(&model);
            let free = ep.kind == crate::config::EndpointKind::Keywords;
            ModelPlan {
                est_cost: if free {
                    Some(Usd(0.0))
                } else {
                    m.price.as_ref().map(|p| {
                        // Per-call pricing (tiers, request fees) applied to the average call.
                        let calls = n.max(1) as u64;
                        let per_call = p.cost(tin / calls, tout / calls);
                        Usd(per_call.0 * n as f64)
                    })
                },
                endpoint: m.endpoint.clone(),
                live: ep.kind.is_live(),
                model,
                kind,
                calls: n,
                est_input_tokens: tin,
                est_output_tokens: tout,
            }
        })
        .collect()
}
