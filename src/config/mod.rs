//! `routes.toml`: the one human-edited file the router and the benchmark share.
//!
//! Parsing keeps the source so that every error, including the cross-field ones found after
//! deserialisation, names the file, the line and the dotted key.

pub mod prices;
pub mod routes_file;
pub mod system;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::base::error::{InputError, InputErrors};
use crate::base::types::{Cell, ModelId, Priority, TaskType, Tier, sha256_hex};
use crate::config::prices::{Price, PriceTable};

/// The classifier prompt of the router: two lowercase words, task type then priority.
pub const DEFAULT_CLASSIFIER_PROMPT: &str = "Classify this prompt. Reply with exactly two lowercase words separated by a space:
WORD 1 (task_type): one of [code, math, extraction, creative, factual, general]
WORD 2 (priority): 'latency' if it reads time-sensitive/real-time, 'quality' if correctness is critical, else 'default'
Prompt: {prompt}
Reply with ONLY the two words.";

/// How a model is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointKind {
    Promptster,
    Openai,
    Anthropic,
    Replay,
    Sim,
    Keywords,
}

impl EndpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointKind::Promptster => "promptster",
            EndpointKind::Openai => "openai",
            EndpointKind::Anthropic => "anthropic",
            EndpointKind::Replay => "replay",
            EndpointKind::Sim => "sim",
            EndpointKind::Keywords => "keywords",
        }
    }

    /// Kinds that send requests over the network and may spend money.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            EndpointKind::Promptster | EndpointKind::Openai | EndpointKind::Anthropic
        )
    }
}

// ---------- raw, as written ----------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    classifier: RawClassifier,
    #[serde(default)]
    judge: Option<RawJudge>,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    endpoints: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    models: BTreeMap<String, RawModel>,
    default: RawRoute,
    #[serde(default)]
    routes: BTreeMap<String, BTreeMap<String, RawRoute>>,
    #[serde(default)]
    policy: PolicyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClassifier {
    model: String,
    #[serde(default)]
    alternatives: Vec<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJudge {
    model: String,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    prompt: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRun {
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    repeats: Option<u32>,
    system: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    kind: EndpointKind,
    base_url: Option<String>,
    api_key_env: Option<String>,
    max_concurrency: Option<i64>,
    requests_per_minute: Option<i64>,
    timeout_s: Option<f64>,
    max_attempts: Option<i64>,
    path: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    provider_keys: BTreeMap<String, ProviderKey>,
    anthropic_version: Option<String>,
    backoff_base_ms: Option<f64>,
    backoff_cap_ms: Option<f64>,
    max_retry_after_s: Option<f64>,
    seed: Option<i64>,
    time_scale: Option<f64>,
    max_response_bytes: Option<i64>,
    max_line_bytes: Option<i64>,
    reasoning_room_tokens: Option<i64>,
    item_correlation: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    endpoint: String,
    tier: OneOrMany,
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    per_request_usd: Option<f64>,
    cache_read_per_mtok: Option<f64>,
    cache_write_per_mtok: Option<f64>,
    #[serde(default = "yes")]
    candidate: bool,
    wire_name: Option<String>,
    latency_model: Option<LatencyModel>,
    sim: Option<RawSimProfile>,
    system: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSimProfile {
    p50_ms: Option<f64>,
    p95_ms: Option<f64>,
    error_rate: Option<f64>,
    rate_limited_rate: Option<f64>,
    quality: Option<f64>,
    output_tokens: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    primary: String,
    fallback: Option<String>,
}

// ---------- validated ----------

/// Default shared item difficulty of `sim` endpoints: the correlation of two models' latent
/// draws on one item. Real models fail the same hard items; 0.6 gives pass/fail agreement
/// between models of 0.8–0.9 pass rates close to what recorded suites show.
pub const DEFAULT_ITEM_CORRELATION: f64 = 0.6;

/// Knobs of the recommendation policy; every one has a default.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Fewer graded items for a task type keep the current route and flag the cell.
    pub min_samples: usize,
    /// Non-inferiority margin of latency and default cells: a challenger chosen for its lower
    /// p95 or cost must be shown (lower confidence bound of the paired Δquality) to lose at most
    /// this many quality points against the current primary.
    pub quality_slack: f64,
    /// Non-inferiority margin of quality cells: a cheaper challenger must be shown to lose at
    /// most this many quality points against the current primary.
    pub quality_margin: f64,
    /// Confidence level of intervals and tests.
    pub confidence: f64,
    /// A challenger must beat the current route's cost per call (default cells) or p95 latency
    /// (latency cells) by at least this share, significantly, to replace it (0.05 = 5% lower).
    pub min_effect: f64,
    /// A challenger that is significantly better on quality (the lower confidence bound of the
    /// paired Δ above 0, Holm-adjusted) replaces the current primary when its measured Δ is at
    /// least this many points (scores are in [0, 1]); latency and default cells also need it
    /// above `quality_slack`.
    pub min_quality_effect: f64,
    /// Candidates that fail more often than this are not eligible.
    pub max_error_rate: f64,
    /// Bootstrap resamples for intervals.
    pub bootstrap_resamples: usize,
    /// Folds of the cross-fit that reports the recommended table's figures out of sample
    /// (items stratified by task type; each fold scored by a table fitted on the others).
    /// 0 turns it off.
    pub crossfit_folds: usize,
    /// Seed of every resampling, so a report is reproducible.
    pub seed: u64,
    /// Bootstrap resamples of the items on which the policy is re-run to measure how stable
    /// each decision is (the flap rate); 0 turns the measurement off.
    pub stability_resamples: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            min_samples: 20,
            quality_slack: 0.03,
            quality_margin: 0.01,
            confidence: 0.95,
            min_effect: 0.05,
            min_quality_effect: 0.05,
            max_error_rate: 0.10,
            bootstrap_resamples: 1000,
            crossfit_folds: 5,
            seed: 20_260_528,
            stability_resamples: 0,
        }
    }
}

/// Modelled latency for replayed answers that carry none: `ttft_ms + ms_per_output_token × tokens`.
/// Results computed with it are labelled `modelled`, never `measured`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyModel {
    pub ttft_ms: f64,
    pub ms_per_output_token: f64,
    /// Where the figures come from (printed in reports).
    pub source: String,
}

/// How a `sim` endpoint answers for one model (`[models."…"] sim = { … }`): a log-normal
/// latency with the given median and 95th percentile, a share of server errors and of 429s,
/// and a pass rate. Everything it produces is labelled simulated.
#[derive(Debug, Clone, PartialEq)]
pub struct SimProfile {
    pub p50_ms: f64,
    pub p95_ms: f64,
    /// Share of calls that fail with a 5xx.
    pub error_rate: f64,
    /// Share of calls that fail with a 429.
    pub rate_limited_rate: f64,
    /// Share of answers graded 1 (the rest 0), by the `recorded` grader.
    pub quality: f64,
    /// Mean output tokens of an answer.
    pub output_tokens: u64,
}

impl Default for SimProfile {
    fn default() -> Self {
        SimProfile {
            p50_ms: 800.0,
            p95_ms: 2_000.0,
            error_rate: 0.0,
            rate_limited_rate: 0.0,
            quality: 0.7,
            output_tokens: 200,
        }
    }
}

/// A bring-your-own provider key a Promptster endpoint sends with calls to one provider:
/// the header's name is configuration because only one name is documented.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderKey {
    /// The request header, e.g. `X-ANTHROPIC-API-KEY`.
    pub header: String,
    /// The environment variable holding the key.
    pub env: String,
}

/// How the runner retries an endpoint's retryable errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first retry waits up to this long (full jitter); each further one doubles it.
    pub base: Duration,
    /// No computed wait exceeds this.
    pub cap: Duration,
    /// A `Retry-After` longer than this fails the call as an exhausted quota instead of waiting.
    pub max_retry_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }
}

/// The `anthropic-version` header sent when the endpoint does not set one.
pub const DEFAULT_ANTHROPIC_VERSION: &str = "2023-06-01";

#[derive(Debug, Clone)]
pub struct Endpoint {
    pub name: String,
    /// The line of the endpoint's table in the routes file (for errors found later, such as an
    /// unset key variable).
    pub line: Option<usize>,
    pub kind: EndpointKind,
    pub base_url: Option<String>,
    pub api_key_env: Option<String>,
    pub max_concurrency: usize,
    pub requests_per_minute: Option<u32>,
    pub timeout: Duration,
    pub max_attempts: u32,
    /// Replay recording, resolved against the routes file's folder.
    pub path: Option<PathBuf>,
    /// Stream answers (SSE) to measure time to first token (openai and anthropic).
    pub stream: bool,
    /// Promptster: provider name → the header and variable of a bring-your-own key.
    pub provider_keys: BTreeMap<String, ProviderKey>,
    /// Anthropic: the `anthropic-version` header.
    pub anthropic_version: String,
    pub backoff: Backoff,
    /// Sim: the seed of every draw.
    pub seed: u64,
    /// Sim: simulated latencies are waited for this many times over (0 answers at once,
    /// 1 in real time); the journal keeps the simulated figure either way.
    pub time_scale: f64,
    /// Live endpoints: the most bytes read of one response body (a JSON answer, an error body
    /// or a whole event stream); more is a `too_large` error.
    pub max_response_bytes: u64,
    /// Live endpoints: the most bytes of one line of an event stream.
    pub max_line_bytes: u64,
    /// Tokens added to `max_tokens` for a reasoning model, whose hidden reasoning counts
    /// against the same limit as its answer (0 adds nothing).
    pub reasoning_room_tokens: u32,
    /// Sim: correlation ρ of the latent pass/fail draws of two models on the same item (shared
    /// item difficulty); 0 draws an independent coin per call.
    pub item_correlation: f64,
}

/// Default of `max_response_bytes`: 8 MiB, far above any answer of a few thousand tokens
/// (streamed or not), far below what would strain memory.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 << 20;
/// Default of `max_line_bytes`: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: u64 = 1 << 20;
/// Default of `reasoning_room_tokens`.
pub const DEFAULT_REASONING_ROOM_TOKENS: u32 = 16_384;

#[derive(Debug, Clone)]
pub struct Model {
    pub id: ModelId,
    pub endpoint: String,
    pub tiers: Vec<Tier>,
    /// `None` when neither an override nor the price table knows the model.
    pub price: Option<Price>,
    /// Whether the benchmark asks it every item (a classifier-only model is not a candidate).
    pub candidate: bool,
    /// The model name sent on the wire, when it differs from the part after `provider/`.
    pub wire_name: String,
    pub latency_model: Option<LatencyModel>,
    /// The model's behaviour on a `sim` endpoint (defaults when the model sets none).
    pub sim: Option<SimProfile>,
}

impl Model {
    pub fn shares_tier(&self, other: &Model) -> bool {
        self.tiers.iter().any(|t| other.tiers.contains(t))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub primary: ModelId,
    pub fallback: Option<ModelId>,
}

/// The routing table: explicit cells, and the route for every cell not listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    pub default: Route,
    pub cells: BTreeMap<Cell, Route>,
}

impl RouteTable {
    /// The route a cell resolves to (a missing cell uses `[default]`).
    pub fn route(&self, cell: Cell) -> &Route {
        self.cells.get(&cell).unwrap_or(&self.default)
    }
}

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

#[derive(Debug, Clone)]
pub struct CallDefaults {
    pub temperature: Option<f64>,
    pub max_tokens: u32,
    pub repeats: u32,
}

/// Something worth telling the user that does not stop a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    pub line: Option<usize>,
    pub message: String,
}

/// A validated routes file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub source: String,
    pub sha256: String,
    pub classifier: ClassifierConfig,
    pub judge: Option<JudgeConfig>,
    pub defaults: CallDefaults,
    /// `[run] system` and the models' own system prompts.
    pub system: system::SystemPrompts,
    pub endpoints: BTreeMap<String, Endpoint>,
    pub models: BTreeMap<ModelId, Model>,
    pub table: RouteTable,
    pub policy: PolicyConfig,
    pub warnings: Vec<Warning>,
}

impl Config {
    pub fn model(&self, id: &ModelId) -> &Model {
        &self.models[id]
    }

    pub fn endpoint_of(&self, id: &ModelId) -> &Endpoint {
        &self.endpoints[&self.models[id].endpoint]
    }

    /// Models the benchmark asks every item, in a stable order.
    pub fn candidates(&self) -> impl Iterator<Item = &Model> {
        self.models.values().filter(|m| m.candidate)
    }

    /// The classifier followed by its alternatives.
    pub fn classifiers(&self) -> Vec<ModelId> {
        let mut v = vec![self.classifier.model.clone()];
        v.extend(self.classifier.alternatives.iter().cloned());
        v
    }

    /// Load and validate; `prices` resolves model prices at time `at`.
    pub fn load(path: &Path, prices: &PriceTable, at: jiff::Timestamp) -> anyhow::Result<Config> {
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(path, format!("cannot read the routes file: {e}")))?;
        let source = String::from_utf8(bytes).map_err(|e| {
            let line = line_of_byte(
                &String::from_utf8_lossy(e.as_bytes()),
                e.utf8_error().valid_up_to(),
            );
            InputError::new(path, "the routes file is not valid UTF-8").at_line(line)
        })?;
        Ok(Config::parse(path, source, prices, at)?)
    }

    pub fn parse(
        path: &Path,
        source: String,
        prices: &PriceTable,
        at: jiff::Timestamp,
    ) -> Result<Config, InputErrors> {
        let doc = toml_edit::Document::parse(source.as_str()).map_err(|e| {
            let line = e.span().map(|s| line_of_byte(&source, s.start));
            InputErrors(vec![
                InputError::new(path, format!("not valid TOML: {}", first_line(e.message())))
                    .line_opt(line),
            ])
        })?;
        let loc = Locator {
            doc: &doc,
            source: &source,
            path,
        };
        let raw: RawFile = toml::from_str(&source).map_err(|e| {
            // A span over the whole document (a missing top-level table) points at no line.
            let offset = e
                .span()
                .filter(|s| !(s.start == 0 && (s.end == 0 || s.end >= source.trim_end().len())))
                .map(|s| s.start);
            let field = offset.and_then(|o| loc.key_at(o));
            let mut err = InputError::new(path, first_line(e.message()).to_string())
                .line_opt(offset.map(|o| line_of_byte(&source, o)));
            err.field = field;
            InputErrors(vec![err])
        })?;
        let mut errs = Vec::new();
        scan_for_literal_keys(&doc, &loc, &mut errs);
        let cfg = build(raw, &loc, prices, at, &mut errs);
        if errs.is_empty() {
            let mut cfg = cfg.expect("a config when no error was found");
            cfg.sha256 = sha256_hex(source.as_bytes());
            cfg.source = source;
            Ok(cfg)
        } else {
            Err(InputErrors(errs))
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

/// 1-based line of a byte offset.
pub fn line_of_byte(source: &str, offset: usize) -> usize {
    source.as_bytes()[..offset.min(source.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Finds where a dotted key sits in the source.
struct Locator<'a> {
    doc: &'a toml_edit::Document<&'a str>,
    source: &'a str,
    path: &'a Path,
}

impl Locator<'_> {
    fn line(&self, keys: &[&str]) -> Option<usize> {
        let mut item = self.doc.as_item();
        let mut last_span = None;
        for k in keys {
            item = match item {
                toml_edit::Item::Table(t) => {
                    if let Some((key, _)) = t.get_key_value(k) {
                        last_span = key.span().or(last_span);
                    }
                    t.get(k)?
                }
                toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                    let v = t.get(k)?;
                    let span = v.span().or(last_span);
                    return span.map(|s| line_of_byte(self.source, s.start));
                }
                _ => return last_span.map(|s| line_of_byte(self.source, s.start)),
            };
            if let Some(s) = item.span() {
                last_span = Some(s);
            }
        }
        last_span.map(|s| line_of_byte(self.source, s.start))
    }

    fn err(&self, keys: &[&str], message: impl Into<String>) -> InputError {
        InputError::new(self.path, message)
            .line_opt(self.line(keys))
            .field(keys.join("."))
    }

    /// The innermost dotted key whose value contains a byte offset.
    fn key_at(&self, offset: usize) -> Option<String> {
        fn walk(item: &toml_edit::Item, offset: usize, path: &mut Vec<String>) -> bool {
            let entries: Vec<(String, &toml_edit::Item, Option<std::ops::Range<usize>>)> =
                match item {
                    toml_edit::Item::Table(t) => t
                        .iter()
                        .map(|(k, v)| {
                            let ks = t.get_key_value(k).and_then(|(key, _)| key.span());
                            (k.to_string(), v, ks)
                        })
                        .collect(),
                    _ => return false,
                };
            for (k, v, key_span) in entries {
                let in_key = key_span.as_ref().is_some_and(|s| s.contains(&offset));
                let in_value = v.span().is_some_and(|s| s.contains(&offset));
                if in_key || in_value {
                    path.push(k);
                    walk(v, offset, path);
                    return true;
                }
                if v.is_table() {
                    path.push(k);
                    if walk(v, offset, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            false
        }
        let mut path = Vec::new();
        walk(self.doc.as_item(), offset, &mut path);
        if path.is_empty() {
            None
        } else {
            Some(path.join("."))
        }
    }
}

/// Prefixes of real API keys; a value that starts with one is a secret written into the file.
const KEY_PREFIXES: &[&str] = &[
    "pk_live_", "pk_test_", "sk-", "sk_", "gsk_", "xai-", "AIza", "csk-", "pplx-",
];

fn looks_like_key(s: &str) -> bool {
    s.len() >= 16
        && !s.contains(char::is_whitespace)
        && KEY_PREFIXES.iter().any(|p| s.starts_with(p))
}

fn scan_for_literal_keys(
    doc: &toml_edit::Document<&str>,
    loc: &Locator,
    errs: &mut Vec<InputError>,
) {
    fn walk(item: &toml_edit::Item, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        match item {
            toml_edit::Item::Table(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    walk(v, path, found);
                    path.pop();
                }
            }
            toml_edit::Item::Value(v) => walk_value(v, path, found),
            _ => {}
        }
    }
    fn walk_value(v: &toml_edit::Value, path: &mut Vec<String>, found: &mut Vec<Vec<String>>) {
        match v {
            toml_edit::Value::String(s) if looks_like_key(s.value()) => found.push(path.clone()),
            toml_edit::Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    path.push(k.to_string());
                    walk_value(v, path, found);
                    path.pop();
                }
            }
            toml_edit::Value::Array(a) => {
                for v in a.iter() {
                    walk_value(v, path, found);
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(doc.as_item(), &mut Vec::new(), &mut found);
    for p in found {
        let keys: Vec<&str> = p.iter().map(String::as_str).collect();
        errs.push(loc.err(
            &keys,
            "this value looks like an API key written into the file; keys belong in the environment: \
             name the variable with api_key_env and remove the key from the file",
        ));
    }
}

/// `cache_read_per_mtok` / `cache_write_per_mtok` of a model: they replace the table's cache
/// prices (or give an override its cache prices); without a price to attach to they are an error.
fn cache_price_overrides(
    (read, write): (Option<f64>, Option<f64>),
    price: &mut Option<Price>,
    mut err: impl FnMut(&'static str, String),
) {
    for (field, v) in [
        ("cache_read_per_mtok", read),
        ("cache_write_per_mtok", write),
    ] {
        let Some(v) = v else { continue };
        if !(v >= 0.0 && v.is_finite()) {
            err(field, format!("must be a non-negative price, found {v}"));
            continue;
        }
        let Some(p) = price.as_mut() else {
            err(
                field,
                "a cache price needs input_per_mtok and output_per_mtok (the model is not in the price table)".into(),
            );
            continue;
        };
        let rate = Some(crate::config::prices::Rate::flat(v));
        if field == "cache_read_per_mtok" {
            p.cache_read = rate;
        } else {
            p.cache_write = rate;
        }
    }
}

fn build(
    raw: RawFile,
    loc: &Locator,
    prices: &PriceTable,
    at: jiff::Timestamp,
    errs: &mut Vec<InputError>,
) -> Option<Config> {
    let mut warnings = Vec::new();
    let system = system::build(&raw.run, &raw.endpoints, &raw.models, loc, errs);
    let base_dir = loc.path.parent().map(Path::to_path_buf).unwrap_or_default();

    // Endpoints.
    let mut endpoints = BTreeMap::new();
    for (name, e) in raw.endpoints {
        let k = |f: &'static str| ["endpoints", name.as_str(), f];
        let kind = e.kind;
        let mut positive = |field: &'static str, v: Option<i64>, default: i64| -> i64 {
            match v {
                Some(x) if x < 1 => {
                    errs.push(loc.err(&k(field), format!("must be at least 1, found {x}")));
                    default
                }
                Some(x) => x,
                None => default,
            }
        };
        let max_concurrency = positive(
            "max_concurrency",
            e.max_concurrency,
            if kind.is_live() { 8 } else { 64 },
        );
        let rpm = e
            .requests_per_minute
            .map(|_| positive("requests_per_minute", e.requests_per_minute, 60));
        let max_attempts = positive(
            "max_attempts",
            e.max_attempts,
            if kind.is_live() { 5 } else { 1 },
        );
        let max_response_bytes = positive(
            "max_response_bytes",
            e.max_response_bytes,
            DEFAULT_MAX_RESPONSE_BYTES as i64,
        ) as u64;
        let max_line_bytes = positive(
            "max_line_bytes",
            e.max_line_bytes,
            DEFAULT_MAX_LINE_BYTES as i64,
        ) as u64;
        let reasoning_room_tokens = match e.reasoning_room_tokens {
            None => DEFAULT_REASONING_ROOM_TOKENS,
            Some(x) if (0..=1_000_000).contains(&x) => x as u32,
            Some(x) => {
                errs.push(loc.err(
                    &k("reasoning_room_tokens"),
                    format!("must be a number of tokens from 0 to 1000000, found {x}"),
                ));
                DEFAULT_REASONING_ROOM_TOKENS
            }
        };
        let timeout_s = e.timeout_s.unwrap_or(60.0);
        if !(timeout_s > 0.0 && timeout_s.is_finite()) {
            errs.push(loc.err(
                &k("timeout_s"),
                format!("must be a positive number of seconds, found {timeout_s}"),
            ));
        }
        if kind.is_live() {
            match &e.base_url {
                None => errs.push(loc.err(
                    &["endpoints", &name],
                    format!("a {} endpoint needs base_url", kind.as_str()),
                )),
                Some(u) => {
                    if let Err(msg) = check_base_url(kind, u) {
                        errs.push(loc.err(&k("base_url"), msg));
                    }
                }
            }
            if e.api_key_env.is_none() && kind != EndpointKind::Openai {
                errs.push(loc.err(
                    &["endpoints", &name],
                    format!("a {} endpoint needs api_key_env (the environment variable that holds the key)", kind.as_str()),
                ));
            }
        }
        // A key written here is reported by the literal-key scan, without echoing it.
        if let Some(v) = &e.api_key_env
            && !looks_like_key(v)
            && !is_env_name(v)
        {
            errs.push(loc.err(
                &k("api_key_env"),
                format!("{v:?} is not an environment variable name"),
            ));
        }
        if e.stream && !matches!(kind, EndpointKind::Openai | EndpointKind::Anthropic) {
            errs.push(loc.err(
                &k("stream"),
                format!(
                    "a {} endpoint cannot stream; stream is for openai and anthropic endpoints",
                    kind.as_str()
                ),
            ));
        }
        if !e.provider_keys.is_empty() && kind != EndpointKind::Promptster {
            errs.push(loc.err(
                &k("provider_keys"),
                "provider_keys is only for promptster endpoints",
            ));
        }
        for (provider, pk) in &e.provider_keys {
            let at = [
                "endpoints",
                name.as_str(),
                "provider_keys",
                provider.as_str(),
            ];
            // A key written into either field is reported by the literal-key scan, unechoed.
            if !looks_like_key(&pk.header)
                && reqwest::header::HeaderName::from_bytes(pk.header.as_bytes()).is_err()
            {
                errs.push(loc.err(
                    &at,
                    format!("header {:?} is not an HTTP header name", pk.header),
                ));
            }
            if !looks_like_key(&pk.env) && !is_env_name(&pk.env) {
                errs.push(loc.err(
                    &at,
                    format!("env {:?} is not an environment variable name", pk.env),
                ));
            }
        }
        if e.anthropic_version.is_some() && kind != EndpointKind::Anthropic {
            errs.push(loc.err(
                &k("anthropic_version"),
                "anthropic_version is only for anthropic endpoints",
            ));
        }
        let mut backoff = Backoff::default();
        for (field, v, slot, unit) in [
            (
                "backoff_base_ms",
                e.backoff_base_ms,
                &mut backoff.base,
                1e-3,
            ),
            ("backoff_cap_ms", e.backoff_cap_ms, &mut backoff.cap, 1e-3),
            (
                "max_retry_after_s",
                e.max_retry_after_s,
                &mut backoff.max_retry_after,
                1.0,
            ),
        ] {
            match v {
                Some(x) if x >= 0.0 && (x * unit) < 86_400.0 => {
                    *slot = Duration::from_secs_f64(x * unit)
                }
                Some(x) => errs.push(loc.err(
                    &k(field),
                    format!("must be a non-negative duration under a day, found {x}"),
                )),
                None => {}
            }
        }
        let sim = kind == EndpointKind::Sim;
        if !sim {
            for (field, set) in [
                ("seed", e.seed.is_some()),
                ("time_scale", e.time_scale.is_some()),
                ("item_correlation", e.item_correlation.is_some()),
            ] {
                if set {
                    errs.push(loc.err(&k(field), format!("{field} is only for sim endpoints")));
                }
            }
        }
        let seed = match e.seed {
            Some(s) if s < 0 => {
                errs.push(loc.err(
                    &k("seed"),
                    format!("must be a non-negative integer, found {s}"),
                ));
                0
            }
            Some(s) => s as u64,
            None => 0,
        };
        let time_scale = match e.time_scale {
            Some(t) if !(0.0..=1000.0).contains(&t) => {
                errs.push(loc.err(
                    &k("time_scale"),
                    format!(
                        "must be within 0..1000 (0 answers at once, 1 waits the simulated latency), found {t}"
                    ),
                ));
                1.0
            }
            Some(t) => t,
            None => 1.0,
        };
        let item_correlation = match e.item_correlation {
            Some(r) if !(0.0..1.0).contains(&r) => {
                errs.push(loc.err(
                    &k("item_correlation"),
                    format!("must be within [0, 1) (shared item difficulty), found {r}"),
                ));
                DEFAULT_ITEM_CORRELATION
            }
            Some(r) => r,
            None => DEFAULT_ITEM_CORRELATION,
        };
        let path = match (kind, &e.path) {
            (EndpointKind::Replay, None) => {
                errs.push(loc.err(
                    &["endpoints", &name],
                    "a replay endpoint needs path (the recording file)",
                ));
                None
            }
            (EndpointKind::Replay, Some(p)) => {
                let full = base_dir.join(p);
                if !full.is_file() {
                    errs.push(loc.err(
                        &k("path"),
                        format!("recording {} does not exist", full.display()),
                    ));
                }
                Some(full)
            }
            (_, Some(_)) => {
                errs.push(loc.err(&k("path"), "path is only for replay endpoints"));
                None
            }
            (_, None) => None,
        };
        endpoints.insert(
            name.clone(),
            Endpoint {
                line: loc.line(&["endpoints", &name]),
                name,
                kind,
                base_url: e.base_url.map(|u| u.trim_end_matches('/').to_string()),
                api_key_env: e.api_key_env,
                max_concurrency: max_concurrency as usize,
                requests_per_minute: rpm.map(|r| r as u32),
                timeout: Duration::from_secs_f64(if timeout_s > 0.0 && timeout_s.is_finite() {
                    timeout_s
                } else {
                    60.0
                }),
                max_attempts: max_attempts as u32,
                path,
                stream: e.stream,
                provider_keys: e.provider_keys,
                anthropic_version: e
                    .anthropic_version
                    .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.to_string()),
                backoff,
                seed,
                time_scale,
                max_response_bytes,
                max_line_bytes,
                reasoning_room_tokens,
                item_correlation,
            },
        );
    }

    // Models.
    let mut models = BTreeMap::new();
    for (name, m) in raw.models {
        let id = match ModelId::parse(&name) {
            Ok(id) => id,
            Err(msg) => {
                errs.push(loc.err(&["models", &name], msg));
                continue;
            }
        };
        if !endpoints.contains_key(&m.endpoint) {
            let known: Vec<&str> = endpoints.keys().map(String::as_str).collect();
            errs.push(loc.err(
                &["models", &name, "endpoint"],
                format!(
                    "unknown endpoint {:?} (declared: {})",
                    m.endpoint,
                    list_or_none(&known)
                ),
            ));
        }
        let tier_names = match m.tier {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(ts) => ts,
        };
        let mut tiers = Vec::new();
        for t in tier_names {
            match t.parse::<Tier>() {
                Ok(t) => tiers.push(t),
                Err(msg) => errs.push(loc.err(&["models", &name, "tier"], msg)),
            }
        }
        if tiers.is_empty() {
            errs.push(loc.err(&["models", &name, "tier"], "name at least one tier"));
        }
        let mut price = match (m.input_per_mtok, m.output_per_mtok) {
            (Some(i), Some(o)) => {
                for (f, v) in [
                    ("input_per_mtok", i),
                    ("output_per_mtok", o),
                    ("per_request_usd", m.per_request_usd.unwrap_or(0.0)),
                ] {
                    if !(v >= 0.0 && v.is_finite()) {
                        errs.push(loc.err(
                            &["models", &name, f],
                            format!("must be a non-negative price, found {v}"),
                        ));
                    }
                }
                Some(Price::flat(i, o, m.per_request_usd.unwrap_or(0.0)))
            }
            (None, None) => {
                let mut p = prices.lookup(&id, at);
                if let (Some(p), Some(fee)) = (&mut p, m.per_request_usd) {
                    p.per_request_usd = fee;
                }
                p
            }
            _ => {
                errs.push(loc.err(
                    &["models", &name],
                    "set both input_per_mtok and output_per_mtok, or neither",
                ));
                None
            }
        };
        let cache_prices = (m.cache_read_per_mtok, m.cache_write_per_mtok);
        cache_price_overrides(cache_prices, &mut price, |f, msg| {
            errs.push(loc.err(&["models", &name, f], msg))
        });
        let kind = endpoints.get(&m.endpoint).map(|e| e.kind);
        if price.is_none() && kind != Some(EndpointKind::Keywords) {
            warnings.push(Warning {
                line: loc.line(&["models", &name]),
                message: format!(
                    "{id} has no price (not in the price table, no input_per_mtok/output_per_mtok): its cost is reported as unknown, never as zero"
                ),
            });
        }
        if let Some(lm) = &m.latency_model
            && !(lm.ttft_ms >= 0.0 && lm.ms_per_output_token >= 0.0)
        {
            errs.push(loc.err(
                &["models", &name, "latency_model"],
                "latency figures must be non-negative",
            ));
        }
        let sim = m.sim.map(|raw| {
            if kind.is_some_and(|k| k != EndpointKind::Sim) {
                errs.push(loc.err(
                    &["models", &name, "sim"],
                    format!(
                        "sim is only for models on a sim endpoint ({} is a {} endpoint)",
                        m.endpoint,
                        kind.map(EndpointKind::as_str).unwrap_or("?")
                    ),
                ));
            }
            sim_profile(raw, |f, msg| {
                errs.push(loc.err(&["models", &name, "sim", f], msg))
            })
        });
        models.insert(
            id.clone(),
            Model {
                sim,
                wire_name: m.wire_name.unwrap_or_else(|| id.name().to_string()),
                id,
                endpoint: m.endpoint,
                tiers,
                price,
                candidate: m.candidate && kind != Some(EndpointKind::Keywords),
                latency_model: m.latency_model,
            },
        );
    }
    if models.values().filter(|m| m.candidate).count() == 0 {
        errs.push(loc.err(&["models"], "declare at least one candidate model"));
    }

    let declared = |keys: &[&str], s: &str, errs: &mut Vec<InputError>| -> Option<ModelId> {
        match ModelId::parse(s) {
            Ok(id) if models.contains_key(&id) => Some(id),
            Ok(_) => {
                errs.push(loc.err(
                    keys,
                    format!("unknown model {s:?}: declare it under [models.\"{s}\"]"),
                ));
                None
            }
            Err(msg) => {
                errs.push(loc.err(keys, msg));
                None
            }
        }
    };

    // Classifier and judge.
    let classifier_model = declared(&["classifier", "model"], &raw.classifier.model, errs);
    let mut alternatives = Vec::new();
    for a in &raw.classifier.alternatives {
        if let Some(id) = declared(&["classifier", "alternatives"], a, errs) {
            alternatives.push(id);
        }
    }
    let prompt_template = raw
        .classifier
        .prompt
        .unwrap_or_else(|| DEFAULT_CLASSIFIER_PROMPT.to_string());
    if !prompt_template.contains("{prompt}") {
        errs.push(loc.err(
            &["classifier", "prompt"],
            "the classifier prompt must contain {prompt}",
        ));
    }
    let judge = raw.judge.and_then(|j| {
        let prompt_template = j
            .prompt
            .unwrap_or_else(|| crate::grade::judge::DEFAULT_JUDGE_PROMPT.to_string());
        // Without the answer there is nothing to judge; without the prompt, nothing to judge it by.
        for needed in ["{answer}", "{prompt}"] {
            if !prompt_template.contains(needed) {
                errs.push(loc.err(
                    &["judge", "prompt"],
                    format!("the judge prompt must contain {needed}"),
                ));
            }
        }
        if j.max_tokens == Some(0) {
            errs.push(loc.err(&["judge", "max_tokens"], "must be at least 1"));
        }
        declared(&["judge", "model"], &j.model, errs).map(|model| JudgeConfig {
            model,
            max_tokens: j.max_tokens.unwrap_or(512),
            prompt_template,
        })
    });

    // The table.
    let mut route = |keys: &[&str], r: &RawRoute, errs: &mut Vec<InputError>| -> Option<Route> {
        let mut pk = keys.to_vec();
        pk.push("primary");
        let primary = declared(&pk, &r.primary, errs)?;
        let mut fk = keys.to_vec();
        fk.push("fallback");
        let fallback = r.fallback.as_ref().and_then(|f| declared(&fk, f, errs));
        if let Some(f) = &fallback {
            if *f == primary {
                errs.push(loc.err(&fk, "the fallback must differ from the primary"));
            } else if let (Some(p), Some(fm)) = (models.get(&primary), models.get(f))
                && !p.shares_tier(fm)
            {
                warnings.push(Warning {
                    line: loc.line(&fk),
                    message: format!(
                        "{}: fallback {f} is not in a tier of the primary {primary}",
                        keys.join(".")
                    ),
                });
            }
        }
        Some(Route { primary, fallback })
    };
    let default = route(&["default"], &raw.default, errs);
    let mut cells = BTreeMap::new();
    for (task, prios) in &raw.routes {
        let t = match task.parse::<TaskType>() {
            Ok(t) => t,
            Err(msg) => {
                errs.push(loc.err(&["routes", task], msg));
                continue;
            }
        };
        for (prio, r) in prios {
            let p = match prio.parse::<Priority>() {
                Ok(p) => p,
                Err(msg) => {
                    errs.push(loc.err(&["routes", task, prio], msg));
                    continue;
                }
            };
            if let Some(rt) = route(&["routes", task, prio], r, errs) {
                cells.insert(Cell::new(t, p), rt);
            }
        }
    }

    // Run defaults and policy.
    let defaults = CallDefaults {
        temperature: raw.run.temperature,
        max_tokens: raw.run.max_tokens.unwrap_or(1024),
        repeats: raw.run.repeats.unwrap_or(1),
    };
    if defaults.repeats == 0 {
        errs.push(loc.err(&["run", "repeats"], "must be at least 1"));
    }
    if let Some(t) = defaults.temperature
        && !(0.0..=2.0).contains(&t)
    {
        errs.push(loc.err(
            &["run", "temperature"],
            format!("must be within 0..2, found {t}"),
        ));
    }
    let p = &raw.policy;
    if !(0.5..1.0).contains(&p.confidence) {
        errs.push(loc.err(
            &["policy", "confidence"],
            format!("must be within [0.5, 1), found {}", p.confidence),
        ));
    }
    if !(0.0..=1.0).contains(&p.quality_slack) {
        errs.push(loc.err(
            &["policy", "quality_slack"],
            format!("must be within [0, 1], found {}", p.quality_slack),
        ));
    }
    if !(0.0..=1.0).contains(&p.quality_margin) {
        errs.push(loc.err(
            &["policy", "quality_margin"],
            format!(
                "must be within [0, 1] (quality points), found {}",
                p.quality_margin
            ),
        ));
    }
    if p.crossfit_folds == 1 || p.crossfit_folds > 20 {
        errs.push(loc.err(
            &["policy", "crossfit_folds"],
            format!(
                "must be 0 (off) or within 2..=20, found {}",
                p.crossfit_folds
            ),
        ));
    }
    if !(0.0..1.0).contains(&p.min_effect) {
        errs.push(loc.err(
            &["policy", "min_effect"],
            format!(
                "must be within [0, 1) (a share: 0.05 = 5% lower), found {}",
                p.min_effect
            ),
        ));
    }
    if !(0.0..=1.0).contains(&p.min_quality_effect) {
        errs.push(loc.err(
            &["policy", "min_quality_effect"],
            format!(
                "must be within [0, 1] (quality points), found {}",
                p.min_quality_effect
            ),
        ));
    }
    if !(0.0..=1.0).contains(&p.max_error_rate) {
        errs.push(loc.err(
            &["policy", "max_error_rate"],
            format!("must be within [0, 1], found {}", p.max_error_rate),
        ));
    }
    if p.stability_resamples > 10_000 {
        errs.push(loc.err(
            &["policy", "stability_resamples"],
            "use at most 10000 resamples (50 measure the flap rate well)",
        ));
    }
    if p.bootstrap_resamples < 100 {
        errs.push(loc.err(
            &["policy", "bootstrap_resamples"],
            "use at least 100 resamples",
        ));
    }

    Some(Config {
        path: loc.path.to_path_buf(),
        source: String::new(),
        sha256: String::new(),
        classifier: ClassifierConfig {
            model: classifier_model?,
            alternatives,
            prompt_template,
            max_tokens: raw.classifier.max_tokens.unwrap_or(8),
        },
        judge,
        defaults,
        system,
        endpoints,
        models,
        table: RouteTable {
            default: default?,
            cells,
        },
        policy: raw.policy,
        warnings,
    })
}

/// A validated sim profile; `bad(field, message)` receives every invalid field.
fn sim_profile(raw: RawSimProfile, mut bad: impl FnMut(&str, String)) -> SimProfile {
    let d = SimProfile::default();
    let mut positive = |f: &str, v: Option<f64>, default: f64| match v {
        Some(x) if x > 0.0 && x.is_finite() => x,
        Some(x) => {
            bad(
                f,
                format!("must be a positive number of milliseconds, found {x}"),
            );
            default
        }
        None => default,
    };
    let p50_ms = positive("p50_ms", raw.p50_ms, d.p50_ms);
    let p95_ms = positive("p95_ms", raw.p95_ms, p50_ms * 2.5);
    let mut share = |f: &str, v: Option<f64>, default: f64| match v {
        Some(x) if (0.0..=1.0).contains(&x) => x,
        Some(x) => {
            bad(f, format!("must be a share within [0, 1], found {x}"));
            default
        }
        None => default,
    };
    let error_rate = share("error_rate", raw.error_rate, 0.0);
    let rate_limited_rate = share("rate_limited_rate", raw.rate_limited_rate, 0.0);
    let quality = share("quality", raw.quality, d.quality);
    if p95_ms < p50_ms {
        bad(
            "p95_ms",
            format!("must be at least p50_ms ({p50_ms}), found {p95_ms}"),
        );
    }
    if error_rate + rate_limited_rate > 1.0 {
        bad(
            "rate_limited_rate",
            format!(
                "error_rate + rate_limited_rate must not exceed 1, found {}",
                error_rate + rate_limited_rate
            ),
        );
    }
    let output_tokens = match raw.output_tokens {
        Some(t) if t >= 1 => t as u64,
        Some(t) => {
            bad("output_tokens", format!("must be at least 1, found {t}"));
            d.output_tokens
        }
        None => d.output_tokens,
    };
    SimProfile {
        p50_ms,
        p95_ms: p95_ms.max(p50_ms),
        error_rate,
        rate_limited_rate,
        quality,
        output_tokens,
    }
}

fn list_or_none(items: &[&str]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

fn is_env_name(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn check_base_url(kind: EndpointKind, url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "{url:?} must start with https:// (or http:// for a local server)"
        ));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("credentials do not belong in base_url; use api_key_env".into());
    }
    if kind == EndpointKind::Promptster && parsed.host_str() == Some("promptster.dev") {
        return Err(format!(
            "{url:?}: the bare domain redirects to www and the redirect drops the Authorization header; use https://www.promptster.dev/v1"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::prices::Rate;

    const GOOD: &str = r#"
[classifier]
model = "builtin/keywords"

[endpoints.kw]
kind = "keywords"

[endpoints.api]
kind = "openai"
base_url = "http://127.0.0.1:8088/v1"

[models."builtin/keywords"]
endpoint = "kw"
tier = "budget"

[models."openai/gpt-4-0613"]
endpoint = "api"
tier = "frontier"

[models."openai/gpt-4-0314"]
endpoint = "api"
tier = ["frontier", "budget"]

[default]
primary = "openai/gpt-4-0613"
fallback = "openai/gpt-4-0314"

[routes.math.quality]
primary = "openai/gpt-4-0314"
"#;

    fn parse(src: &str) -> Result<Config, InputErrors> {
        Config::parse(
            Path::new("routes.toml"),
            src.to_string(),
            PriceTable::shipped(),
            "2026-11-25T12:00:00Z".parse().unwrap(),
        )
    }

    fn one_error(src: &str) -> InputError {
        let errs = parse(src).expect_err("an error").0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        errs.into_iter().next().unwrap()
    }

    #[test]
    fn parses_a_good_file() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.candidates().count(), 2);
        let cell = Cell::new(TaskType::Math, Priority::Quality);
        assert_eq!(c.table.route(cell).primary.as_str(), "openai/gpt-4-0314");
        assert_eq!(
            c.table.route(Cell::new(TaskType::Code, Priority::Latency)),
            &c.table.default
        );
        assert_eq!(
            c.model(&ModelId::parse("openai/gpt-4-0314").unwrap())
                .price
                .as_ref()
                .unwrap()
                .input
                .base,
            30.0
        );
        assert_eq!(c.policy, PolicyConfig::default());
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn unknown_model_in_a_cell_names_line_and_key() {
        let src = GOOD.replace(
            "primary = \"openai/gpt-4-0314\"",
            "primary = \"openai/gpt-9\"",
        );
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("routes.math.quality.primary"));
        assert_eq!(
            e.line,
            Some(src.lines().position(|l| l.contains("gpt-9")).unwrap() + 1)
        );
        assert!(e.message.contains("gpt-9"));
    }

    #[test]
    fn unknown_field_is_located() {
        let src = GOOD.replace("kind = \"openai\"", "kind = \"openai\"\nmax_concurency = 4");
        let e = one_error(&src);
        assert!(e.message.contains("max_concurency"), "{e}");
        assert_eq!(
            e.line,
            Some(
                src.lines()
                    .position(|l| l.contains("max_concurency"))
                    .unwrap()
                    + 1
            )
        );
        assert_eq!(e.field.as_deref(), Some("endpoints.api.max_concurency"));
    }

    #[test]
    fn negative_limit_and_literal_key_are_rejected() {
        let src = GOOD.replace(
            "kind = \"openai\"",
            "kind = \"openai\"\nmax_concurrency = -3",
        );
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("endpoints.api.max_concurrency"));
        let src = GOOD.replace(
            "kind = \"openai\"",
            "kind = \"openai\"\napi_key_env = \"pk_live_abcdefghijklmnop\"",
        );
        let errs = parse(&src).unwrap_err().0;
        assert!(
            errs.iter().any(|e| e.message.contains("API key")),
            "{errs:?}"
        );
        let shown = format!("{}", InputErrors(errs));
        assert!(!shown.contains("pk_live_abcdefghijklmnop"), "{shown}");
    }

    #[test]
    fn bare_promptster_domain_names_the_www_fix() {
        let src = GOOD.replace(
            "kind = \"openai\"\nbase_url = \"http://127.0.0.1:8088/v1\"",
            "kind = \"promptster\"\nbase_url = \"https://promptster.dev/v1\"\napi_key_env = \"PROMPTSTER_API_KEY\"",
        );
        let e = one_error(&src);
        assert!(e.message.contains("www.promptster.dev"), "{e}");
    }

    #[test]
    fn unknown_task_type_and_bad_toml() {
        let src = GOOD.replace("[routes.math.quality]", "[routes.maths.quality]");
        let e = one_error(&src);
        assert!(e.message.contains("maths"));
        assert_eq!(e.field.as_deref(), Some("routes.maths"));
        let e = one_error("[classifier\nmodel = 1");
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn live_endpoint_knobs_are_read_and_checked() {
        let src = GOOD.replace(
            "kind = \"openai\"\n",
            "kind = \"openai\"\nstream = true\nbackoff_base_ms = 5\nbackoff_cap_ms = 40\nmax_retry_after_s = 2\n",
        );
        let c = parse(&src).unwrap();
        let ep = &c.endpoints["api"];
        assert!(ep.stream);
        assert_eq!(ep.backoff.base, Duration::from_millis(5));
        assert_eq!(ep.backoff.cap, Duration::from_millis(40));
        assert_eq!(ep.backoff.max_retry_after, Duration::from_secs(2));
        assert_eq!(ep.anthropic_version, DEFAULT_ANTHROPIC_VERSION);
        assert_eq!(
            ep.line,
            Some(src.lines().position(|l| l == "[endpoints.api]").unwrap() + 1)
        );

        let e = one_error(&GOOD.replace(
            "kind = \"openai\"\n",
            "kind = \"openai\"\nbackoff_cap_ms = -1\n",
        ));
        assert_eq!(e.field.as_deref(), Some("endpoints.api.backoff_cap_ms"));
        let e = one_error(&GOOD.replace(
            "kind = \"openai\"\n",
            "kind = \"openai\"\nprovider_keys = { anthropic = { header = \"X-ANTHROPIC-API-KEY\", env = \"K\" } }\n",
        ));
        assert_eq!(e.field.as_deref(), Some("endpoints.api.provider_keys"));
        let e = one_error(&GOOD.replace(
            "kind = \"openai\"\n",
            "kind = \"openai\"\nanthropic_version = \"2023-06-01\"\n",
        ));
        assert_eq!(e.field.as_deref(), Some("endpoints.api.anthropic_version"));
    }

    #[test]
    fn response_limits_reasoning_room_and_cache_prices_are_read_and_checked() {
        let c = parse(GOOD).unwrap();
        let ep = &c.endpoints["api"];
        assert_eq!(ep.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert_eq!(ep.max_line_bytes, DEFAULT_MAX_LINE_BYTES);
        assert_eq!(ep.reasoning_room_tokens, DEFAULT_REASONING_ROOM_TOKENS);
        let src = GOOD.replace(
            "kind = \"openai\"\n",
            "kind = \"openai\"\nmax_response_bytes = 4096\nmax_line_bytes = 512\nreasoning_room_tokens = 0\n",
        );
        let ep = &parse(&src).unwrap().endpoints["api"];
        assert_eq!(
            (
                ep.max_response_bytes,
                ep.max_line_bytes,
                ep.reasoning_room_tokens
            ),
            (4096, 512, 0)
        );
        for (bad, field) in [
            ("max_response_bytes = 0", "max_response_bytes"),
            ("max_line_bytes = -1", "max_line_bytes"),
            ("reasoning_room_tokens = -5", "reasoning_room_tokens"),
        ] {
            let e = one_error(&GOOD.replace(
                "kind = \"openai\"\n",
                &format!("kind = \"openai\"\n{bad}\n"),
            ));
            assert_eq!(e.field.as_deref(), Some(&*format!("endpoints.api.{field}")));
        }
        // Cache prices: on a table price, on an override, and refused without a price.
        let table = GOOD.replace(
            "[models.\"openai/gpt-4-0613\"]\n",
            "[models.\"openai/gpt-4-0613\"]\ncache_read_per_mtok = 0.5\n",
        );
        let p = parse(&table).unwrap().models[&ModelId::parse("openai/gpt-4-0613").unwrap()]
            .price
            .clone()
            .unwrap();
        assert_eq!(p.cache_read, Some(Rate::flat(0.5)));
        assert_eq!(p.input.base, 30.0);
        let over = GOOD.replace(
            "[models.\"openai/gpt-4-0613\"]\n",
            "[models.\"openai/gpt-4-0613\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncache_write_per_mtok = 1.25\n",
        );
        let p = parse(&over).unwrap().models[&ModelId::parse("openai/gpt-4-0613").unwrap()]
            .price
            .clone()
            .unwrap();
        assert_eq!(
            (p.cache_read, p.cache_write),
            (None, Some(Rate::flat(1.25)))
        );
        let unknown = GOOD.replace(
            "[models.\"openai/gpt-4-0613\"]\n",
            "[models.\"nobody/no-such-model-xyz\"]\nendpoint = \"api\"\ntier = \"budget\"\ncache_read_per_mtok = 0.5\n\n[models.\"openai/gpt-4-0613\"]\n",
        );
        let e = one_error(&unknown);
        assert_eq!(
            e.field.as_deref(),
            Some("models.nobody/no-such-model-xyz.cache_read_per_mtok")
        );
    }

    #[test]
    fn promptster_provider_keys_and_no_streaming() {
        let promptster = GOOD.replace(
            "kind = \"openai\"\nbase_url = \"http://127.0.0.1:8088/v1\"",
            "kind = \"promptster\"\nbase_url = \"https://www.promptster.dev/v1\"\napi_key_env = \"PROMPTSTER_API_KEY\"",
        );
        let src = promptster.replace(
            "api_key_env = \"PROMPTSTER_API_KEY\"",
            "api_key_env = \"PROMPTSTER_API_KEY\"\n[endpoints.api.provider_keys]\nanthropic = { header = \"X-ANTHROPIC-API-KEY\", env = \"ANTHROPIC_API_KEY\" }",
        );
        let c = parse(&src).unwrap();
        assert_eq!(
            c.endpoints["api"].provider_keys["anthropic"],
            ProviderKey {
                header: "X-ANTHROPIC-API-KEY".into(),
                env: "ANTHROPIC_API_KEY".into()
            }
        );
        let e = one_error(&src.replace("X-ANTHROPIC-API-KEY", "X ANTHROPIC"));
        assert_eq!(
            e.field.as_deref(),
            Some("endpoints.api.provider_keys.anthropic")
        );
        let e = one_error(&promptster.replace(
            "api_key_env = \"PROMPTSTER_API_KEY\"",
            "api_key_env = \"PROMPTSTER_API_KEY\"\nstream = true",
        ));
        assert_eq!(e.field.as_deref(), Some("endpoints.api.stream"));
        assert!(e.message.contains("cannot stream"), "{e}");
    }

    #[test]
    fn judge_and_policy_sections_are_checked() {
        let src = format!("{GOOD}\n[judge]\nmodel = \"openai/gpt-4-0613\"\n");
        let c = parse(&src).unwrap();
        let j = c.judge.unwrap();
        assert_eq!(j.model.as_str(), "openai/gpt-4-0613");
        assert!(j.prompt_template.contains("[[5]]"));
        let src = format!(
            "{GOOD}\n[judge]\nmodel = \"openai/gpt-4-0613\"\nprompt = \"rate {{answer}}\"\n"
        );
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("judge.prompt"));
        assert!(e.message.contains("{prompt}"), "{e}");
        let src = format!("{GOOD}\n[judge]\nmodel = \"openai/nope\"\n");
        assert_eq!(one_error(&src).field.as_deref(), Some("judge.model"));
        let src = format!("{GOOD}\n[policy]\nmin_quality_effect = 2\n");
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("policy.min_quality_effect"));
        assert_eq!(
            e.line,
            Some(
                src.lines()
                    .position(|l| l.starts_with("min_quality"))
                    .unwrap()
                    + 1
            )
        );
    }

    #[test]
    fn cross_tier_fallback_is_a_warning() {
        let src = GOOD.replace("tier = [\"frontier\", \"budget\"]", "tier = \"budget\"");
        let c = parse(&src).unwrap();
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert!(c.warnings[0].message.contains("default"));
    }

    const SIM: &str = r#"
[endpoints.fake]
kind = "sim"
seed = 42
time_scale = 0
max_concurrency = 200

[models."sim/fast"]
endpoint = "fake"
tier = "budget"
sim = { p50_ms = 300, p95_ms = 900, error_rate = 0.02, rate_limited_rate = 0.01, quality = 0.6 }

[models."sim/slow"]
endpoint = "fake"
tier = "budget"
"#;

    #[test]
    fn a_sim_endpoint_and_its_profiles() {
        let c = parse(&format!("{GOOD}{SIM}")).unwrap();
        let ep = &c.endpoints["fake"];
        assert_eq!(
            (ep.kind, ep.seed, ep.time_scale),
            (EndpointKind::Sim, 42, 0.0)
        );
        assert!(!ep.kind.is_live());
        assert_eq!(ep.max_concurrency, 200);
        let fast = c.model(&ModelId::parse("sim/fast").unwrap());
        let p = fast.sim.as_ref().unwrap();
        assert_eq!((p.p50_ms, p.p95_ms, p.quality), (300.0, 900.0, 0.6));
        assert_eq!(p.output_tokens, SimProfile::default().output_tokens);
        // A model without a profile answers by the defaults.
        assert!(c.model(&ModelId::parse("sim/slow").unwrap()).sim.is_none());
        assert_eq!(c.endpoints["api"].time_scale, 1.0);
    }

    #[test]
    fn bad_sim_fields_name_the_line_and_the_field() {
        let line_of = |src: &str, needle: &str| {
            Some(src.lines().position(|l| l.contains(needle)).unwrap() + 1)
        };
        let src = format!("{GOOD}{SIM}").replace("error_rate = 0.02", "error_rate = 1.5");
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("models.sim/fast.sim.error_rate"));
        assert_eq!(e.line, line_of(&src, "error_rate = 1.5"));
        assert!(e.message.contains("1.5"), "{e}");

        let src = format!("{GOOD}{SIM}").replace("p95_ms = 900", "p95_ms = 100");
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("models.sim/fast.sim.p95_ms"));

        let src = format!("{GOOD}{SIM}").replace("quality = 0.6", "qualty = 0.6");
        let e = one_error(&src);
        assert!(e.message.contains("qualty"), "{e}");
        assert_eq!(e.line, line_of(&src, "qualty"));

        let src = format!("{GOOD}{SIM}").replace("seed = 42", "seed = -1");
        assert_eq!(
            one_error(&src).field.as_deref(),
            Some("endpoints.fake.seed")
        );

        let src = format!("{GOOD}{SIM}").replace("time_scale = 0", "time_scale = -2");
        assert_eq!(
            one_error(&src).field.as_deref(),
            Some("endpoints.fake.time_scale")
        );

        // Sim settings on another kind of endpoint or model.
        let src = GOOD.replace("kind = \"openai\"", "kind = \"openai\"\nseed = 3");
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("endpoints.api.seed"));
        assert_eq!(e.line, line_of(&src, "seed = 3"));
        let src = GOOD.replace(
            "tier = [\"frontier\", \"budget\"]",
            "tier = [\"frontier\", \"budget\"]\nsim = { quality = 0.5 }",
        );
        let e = one_error(&src);
        assert_eq!(e.field.as_deref(), Some("models.openai/gpt-4-0314.sim"));
        assert!(e.message.contains("openai endpoint"), "{e}");
    }
}
