//! How calls are made: `[classifier]`, `[judge]` and the `[run]` defaults.

use std::collections::BTreeMap;

use super::locate::Check;
use super::models::{Model, declared};
use super::raw::{RawClassifier, RawJudge, RawRun};
use crate::base::types::ModelId;

/// The classifier prompt of the router: two lowercase words, task type then priority.
pub const DEFAULT_CLASSIFIER_PROMPT: &str = "Classify this prompt. Reply with exactly two lowercase words separated by a space:
WORD 1 (task_type): one of [code, math, extraction, creative, factual, general]
WORD 2 (priority): 'latency' if it reads time-sensitive/real-time, 'quality' if correctness is critical, else 'default'
Prompt: {prompt}
Reply with ONLY the two words.";

/// `[classifier]`: the model that labels prompts with a task type and priority.
#[derive(Debug, Clone)]
pub struct ClassifierConfig {
    pub model: ModelId,
    /// Further classifiers measured side by side (e.g. the free `keywords` one).
    pub alternatives: Vec<ModelId>,
    pub prompt_template: String,
    pub max_tokens: u32,
}

/// `[judge]`: the model that grades answers of items with a `judge` grader.
#[derive(Debug, Clone)]
pub struct JudgeConfig {
    pub model: ModelId,
    pub max_tokens: u32,
    /// The judge prompt; see [`crate::grade::judge::DEFAULT_JUDGE_PROMPT`] for its placeholders.
    pub prompt_template: String,
}

/// `[run]`: the settings every benchmark call gets unless its item says otherwise.
#[derive(Debug, Clone)]
pub struct CallDefaults {
    pub temperature: Option<f64>,
    pub max_tokens: u32,
    pub repeats: u32,
    /// `[run] adaptive`: runs use the sequential design of `run --adaptive` (default false).
    pub adaptive: bool,
    /// `[run] adaptive_looks`: looks of an adaptive run, 1 to [`MAX_LOOKS`] (default
    /// [`DEFAULT_LOOKS`]; 1 is the full fixed design).
    pub adaptive_looks: usize,
    /// `[run] adaptive_futility`: the predictive power below which an adaptive run stops
    /// calling a challenger, 0 to 0.5 (default
    /// [`DEFAULT_FUTILITY`]; 0 turns futility stops off).
    pub adaptive_futility: f64,
}

/// The most looks an adaptive run may take (each look waits for its batch to be graded).
pub const MAX_LOOKS: usize = 50;

/// Looks of an adaptive run when `[run] adaptive_looks` is not set.
pub const DEFAULT_LOOKS: usize = 10;

/// The futility threshold when `[run] adaptive_futility` is not set: a challenger whose
/// predictive power of adoption is below it stops receiving items.
pub const DEFAULT_FUTILITY: f64 = 0.10;

/// `[classifier]`: its model and alternatives must be declared, its prompt must hold `{prompt}`.
/// `None` when the model is not declared.
pub(super) fn classifier(
    raw: RawClassifier,
    models: &BTreeMap<ModelId, Model>,
    ck: &mut Check,
) -> Option<ClassifierConfig> {
    let model = declared(models, &["classifier", "model"], &raw.model, ck);
    let mut alternatives = Vec::new();
    for a in &raw.alternatives {
        if let Some(id) = declared(models, &["classifier", "alternatives"], a, ck) {
            alternatives.push(id);
        }
    }
    let prompt_template = raw
        .prompt
        .unwrap_or_else(|| DEFAULT_CLASSIFIER_PROMPT.to_string());
    if !prompt_template.contains("{prompt}") {
        ck.err(
            &["classifier", "prompt"],
            "the classifier prompt must contain {prompt}",
        );
    }
    Some(ClassifierConfig {
        model: model?,
        alternatives,
        prompt_template,
        max_tokens: raw.max_tokens.unwrap_or(8),
    })
}

/// `[judge]`, when there is one: a declared model, a prompt with `{answer}` and `{prompt}`.
pub(super) fn judge(
    raw: Option<RawJudge>,
    models: &BTreeMap<ModelId, Model>,
    ck: &mut Check,
) -> Option<JudgeConfig> {
    let j = raw?;
    let prompt_template = j
        .prompt
        .unwrap_or_else(|| crate::grade::judge::DEFAULT_JUDGE_PROMPT.to_string());
    // Without the answer there is nothing to judge; without the prompt, nothing to judge it by.
    for needed in ["{answer}", "{prompt}"] {
        if !prompt_template.contains(needed) {
            ck.err(
                &["judge", "prompt"],
                format!("the judge prompt must contain {needed}"),
            );
        }
    }
    if j.max_tokens == Some(0) {
        ck.err(&["judge", "max_tokens"], "must be at least 1");
    }
    declared(models, &["judge", "model"], &j.model, ck).map(|model| JudgeConfig {
        model,
        max_tokens: j.max_tokens.unwrap_or(512),
        prompt_template,
    })
}

/// `[run]`: temperature within 0..2, at least one repeat.
pub(super) fn defaults(raw: &RawRun, ck: &mut Check) -> CallDefaults {
    let defaults = CallDefaults {
        temperature: raw.temperature,
        max_tokens: raw.max_tokens.unwrap_or(1024),
        repeats: raw.repeats.unwrap_or(1),
        adaptive: raw.adaptive.unwrap_or(false),
        adaptive_looks: raw.adaptive_looks.unwrap_or(DEFAULT_LOOKS),
        adaptive_futility: raw.adaptive_futility.unwrap_or(DEFAULT_FUTILITY),
    };
    if !(1..=MAX_LOOKS).contains(&defaults.adaptive_looks) {
        ck.err(
            &["run", "adaptive_looks"],
            format!("must be from 1 to {MAX_LOOKS}"),
        );
    }
    if !(0.0..=0.5).contains(&defaults.adaptive_futility) {
        ck.err(&["run", "adaptive_futility"], "must be from 0 to 0.5");
    }
    if defaults.repeats == 0 {
        ck.err(&["run", "repeats"], "must be at least 1");
    }
    if let Some(t) = defaults.temperature
        && !(0.0..=2.0).contains(&t)
    {
        ck.err(
            &["run", "temperature"],
            format!("must be within 0..2, found {t}"),
        );
    }
    defaults
}
