//! The runtime router: classify a prompt, look its cell up in the table, answer on the cell's
//! primary, and once on its same-tier fallback when the primary fails retryably (5xx, timeout,
//! connection failure; never on other 4xx). It reads the same `routes.toml` the benchmark writes.

pub(crate) mod cache;
pub(crate) mod from_log;
pub mod log;
pub mod monitor;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::base::types::{Cell, ModelId, Priority, TaskType, sha256_hex};
use crate::classify;
use crate::config::Config;
use crate::config::prices::PriceTable;
use crate::dataset::Message;
use crate::provider::meter;
use crate::provider::{self, Answer, CallError, CallRequest, ErrorKind, Provider, Purpose};

use cache::ClassificationCache;
pub use log::{RouteLog, RouteRecord};

/// Default time to live of a cached classification.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(24 * 3600);

/// How a router is set up beyond the routes file.
pub struct RouterOptions {
    /// Persisted classification cache; `None` keeps it in memory only.
    pub cache_path: Option<std::path::PathBuf>,
    pub cache_ttl: Duration,
    pub log_path: Option<std::path::PathBuf>,
    /// How the log is split into files (`--log-rotate`).
    pub log_rotation: log::Rotation,
    /// Write the prompt itself into the log (needed by `dataset from-log`).
    pub log_prompts: bool,
    /// Classify with this declared model instead of `[classifier] model` (e.g. one of the
    /// `alternatives` the benchmark measured).
    pub classifier: Option<ModelId>,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            cache_path: None,
            cache_ttl: DEFAULT_CACHE_TTL,
            log_path: None,
            log_rotation: log::Rotation::None,
            log_prompts: false,
            classifier: None,
        }
    }
}

/// What the classifier said, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    pub labels: (TaskType, Priority),
    pub cache_hit: bool,
    /// The reply did not parse (or the classifier failed): general/default was used.
    pub parse_miss: bool,
    pub classifier_error: Option<ErrorKind>,
    pub cost_usd: Option<f64>,
}

/// A routed request.
#[derive(Debug, Clone)]
pub struct Routed {
    pub answer: String,
    pub classification: Classification,
    /// `false` when the cell is not in the table and `[default]` was used.
    pub cell_listed: bool,
    pub primary: ModelId,
    pub routed_to: ModelId,
    pub fell_back: bool,
    /// Why the primary failed, when the fallback answered.
    pub primary_error: Option<CallError>,
    /// Classifier plus answering calls; `None` when a model is unpriced.
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
}

/// A request that got no answer.
#[derive(Debug, Clone)]
pub struct RouteFailure {
    pub classification: Classification,
    pub primary: ModelId,
    /// The model whose error ended the request.
    pub model: ModelId,
    pub error: CallError,
    pub fell_back: bool,
    /// Why the primary failed, when the fallback was tried (and failed too).
    pub primary_error: Option<CallError>,
}

impl std::fmt::Display for RouteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} failed: {}", self.model, self.error)?;
        if !self.fell_back && !self.error.kind.retryable() {
            write!(f, " (not retryable, so no fallback)")?;
        }
        Ok(())
    }
}

impl std::error::Error for RouteFailure {}

/// What a request asks: a prompt, or a conversation whose last user message is `prompt`.
struct Input {
    prompt: Arc<str>,
    messages: Option<Arc<[Message]>>,
}

impl Input {
    /// SHA-256 (hex) of the prompt, or of the canonical conversation as a dataset item's.
    fn sha256(&self) -> String {
        match &self.messages {
            Some(m) => sha256_hex(crate::dataset::canonical_messages(m).as_bytes()),
            None => sha256_hex(self.prompt.as_bytes()),
        }
    }
}

/// What every request to one endpoint shares: its concurrency and its request rate, as in a
/// benchmark run, so a batch of prompts never hammers a local server or a rate-limited key.
struct EndpointLimits {
    slots: tokio::sync::Semaphore,
    rate: Option<governor::DefaultDirectRateLimiter>,
}

/// The router: the table, a provider per endpoint, the cache and the log.
pub struct Router {
    cfg: Arc<Config>,
    providers: HashMap<String, Arc<dyn Provider>>,
    limits: HashMap<String, EndpointLimits>,
    cache: Mutex<ClassificationCache>,
    log: Option<RouteLog>,
    log_prompts: bool,
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

impl Router {
    /// A router over the routes file at `path`, with an in-memory cache and no log.
    pub fn from_file(path: &Path) -> anyhow::Result<Router> {
        Router::with_options(path, RouterOptions::default())
    }

    pub fn with_options(path: &Path, opts: RouterOptions) -> anyhow::Result<Router> {
        let mut cfg = Config::load(path, PriceTable::shipped(), jiff::Timestamp::now())?;
        if let Some(m) = &opts.classifier {
            if !cfg.models.contains_key(m) {
                return Err(crate::base::error::UsageError(format!(
                    "--classifier {m}: not a model of {}",
                    path.display()
                ))
                .into());
            }
            cfg.classifier.model = m.clone();
        }
        let providers = provider::build_all(&cfg)?;
        Ok(Router::new(Arc::new(cfg), providers, opts))
    }

    /// A router over an already loaded config and its providers.
    pub fn new(
        cfg: Arc<Config>,
        providers: HashMap<String, Arc<dyn Provider>>,
        opts: RouterOptions,
    ) -> Router {
        let cache = match &opts.cache_path {
            Some(p) => ClassificationCache::open(p, opts.cache_ttl, now_ms()),
            None => ClassificationCache::in_memory(opts.cache_ttl),
        };
        let limits = providers
            .iter()
            .filter_map(|(name, p)| {
                let ep = cfg.endpoints.get(name)?;
                let limits = EndpointLimits {
                    slots: tokio::sync::Semaphore::new(ep.max_concurrency.max(1)),
                    rate: crate::benchmark::requests_per_minute(ep, &**p)
                        .and_then(crate::benchmark::spaced_limiter),
                };
                Some((name.clone(), limits))
            })
            .collect();
        Router {
            cfg,
            providers,
            limits,
            cache: Mutex::new(cache),
            log: opts
                .log_path
                .as_deref()
                .map(|p| RouteLog::rotated(p, opts.log_rotation)),
            log_prompts: opts.log_prompts,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The cache key: the classifier and its prompt are part of it, so changing either
    /// re-classifies.
    fn cache_key(&self, prompt: &str) -> String {
        sha256_hex(
            format!(
                "{}\n{}\n{}",
                self.cfg.classifier.model, self.cfg.classifier.prompt_template, prompt
            )
            .as_bytes(),
        )
    }

    /// Call one model once, with its endpoint's timeout.
    async fn call(&self, model: &ModelId, req: &CallRequest) -> (Result<Answer, CallError>, f64) {
        let ep = self.cfg.endpoint_of(model);
        let Some(p) = self.providers.get(&ep.name) else {
            return (
                Err(CallError::new(
                    ErrorKind::BadRequest,
                    format!("no provider for endpoint {}", ep.name),
                )),
                0.0,
            );
        };
        let t0 = Instant::now();
        // Waiting for the endpoint's limits counts in the request's latency, not in its timeout.
        let limits = self.limits.get(&ep.name);
        let _slot = match limits {
            Some(l) => l.slots.acquire().await.ok(),
            None => None,
        };
        if let Some(rate) = limits.and_then(|l| l.rate.as_ref()) {
            rate.until_ready().await;
        }
        let out = match tokio::time::timeout(ep.timeout, p.call(req)).await {
            Ok(r) => r,
            Err(_) => Err(CallError::new(
                ErrorKind::Timeout,
                format!("no answer within {:.0} s", ep.timeout.as_secs_f64()),
            )),
        };
        (out, t0.elapsed().as_secs_f64() * 1e3)
    }

    /// The classifier's request for a prompt.
    fn classifier_request(&self, prompt: &str) -> CallRequest {
        let c = &self.cfg.classifier;
        CallRequest {
            model: c.model.clone(),
            wire_name: Arc::from(self.cfg.model(&c.model).wire_name.as_str()),
            prompt: classify::render_prompt(&c.prompt_template, prompt).into(),
            messages: None,
            max_tokens: c.max_tokens,
            temperature: Some(0.0),
            purpose: Purpose::Classify {
                text: Arc::from(prompt),
            },
            repeat: 0,
        }
    }

    /// A candidate's request: the prompt, or the conversation, with the model's system prompt
    /// from the routes file applied (see [`crate::dataset::with_system`]).
    fn answer_request(&self, model: &ModelId, input: &Input) -> CallRequest {
        CallRequest {
            model: model.clone(),
            wire_name: Arc::from(self.cfg.model(model).wire_name.as_str()),
            prompt: input.prompt.clone(),
            messages: crate::dataset::with_system(
                &input.prompt,
                input.messages.as_ref(),
                self.cfg.system.for_model(model),
            ),
            max_tokens: self.cfg.defaults.max_tokens,
            temperature: self.cfg.defaults.temperature,
            purpose: Purpose::Candidate,
            repeat: 0,
        }
    }

    fn cost(&self, model: &ModelId, req: &CallRequest, a: &Answer) -> Option<f64> {
        let tokens = meter::answer_tokens(&req.input_text(), a);
        meter::cost(self.cfg.model(model), &tokens, a.cost).0
    }

    /// Labels for a prompt: the cache, else the classifier (a reply that does not parse, or a
    /// failed classifier, gives general/default and counts as a parse miss).
    pub async fn classify(&self, prompt: &str) -> Classification {
        let key = self.cache_key(prompt);
        if let Some(labels) = self.cache.lock().expect("cache lock").get(&key, now_ms()) {
            return Classification {
                labels,
                cache_hit: true,
                parse_miss: false,
                classifier_error: None,
                cost_usd: Some(0.0),
            };
        }
        let c = &self.cfg.classifier;
        let req = self.classifier_request(prompt);
        let (out, _) = self.call(&c.model, &req).await;
        match out {
            Ok(a) => {
                let cost = self.cost(&c.model, &req, &a);
                match classify::parse_labels(&a.text) {
                    Some(labels) => {
                        self.cache
                            .lock()
                            .expect("cache lock")
                            .put(&key, labels, now_ms());
                        Classification {
                            labels,
                            cache_hit: false,
                            parse_miss: false,
                            classifier_error: None,
                            cost_usd: cost,
                        }
                    }
                    None => Classification {
                        labels: (TaskType::General, Priority::Default),
                        cache_hit: false,
                        parse_miss: true,
                        classifier_error: None,
                        cost_usd: cost,
                    },
                }
            }
            Err(e) => Classification {
                labels: (TaskType::General, Priority::Default),
                cache_hit: false,
                parse_miss: true,
                classifier_error: Some(e.kind),
                cost_usd: Some(0.0),
            },
        }
    }

    /// Route one prompt: classify, look up, answer on the primary, fall back once on a
    /// retryable failure. Every request is logged when a log is configured.
    pub async fn route(&self, prompt: &str) -> Result<Routed, RouteFailure> {
        self.route_input(&Input {
            prompt: Arc::from(prompt),
            messages: None,
        })
        .await
    }

    /// Route a chat request: `messages` as checked by
    /// [`crate::dataset::parse_messages`] (an optional system turn first, the last turn from
    /// the user). The classifier sees the last user message; the models get every turn in
    /// their wire format.
    ///
    /// # Panics
    /// When `messages` is empty.
    pub async fn route_chat(&self, messages: Arc<[Message]>) -> Result<Routed, RouteFailure> {
        let last = messages.last().expect("a conversation has a last turn");
        self.route_input(&Input {
            prompt: last.content.clone(),
            messages: Some(messages.clone()),
        })
        .await
    }

    async fn route_input(&self, input: &Input) -> Result<Routed, RouteFailure> {
        let t0 = Instant::now();
        let classification = self.classify(&input.prompt).await;
        let cell = Cell::new(classification.labels.0, classification.labels.1);
        let cell_listed = self.cfg.table.cells.contains_key(&cell);
        let route = self.cfg.table.route(cell).clone();
        let result = self
            .answer(input, &route, classification)
            .await
            .map(|mut r| {
                r.cell_listed = cell_listed;
                r
            });
        let latency_ms = t0.elapsed().as_secs_f64() * 1e3;
        let result = result.map(|mut r| {
            r.latency_ms = latency_ms;
            r
        });
        self.log(input, cell, cell_listed, &result, latency_ms);
        result
    }

    /// Answer on the route's primary, and once on its fallback when the primary fails
    /// retryably. The answer's `cell_listed` and `latency_ms` are left for the caller to set.
    async fn answer(
        &self,
        input: &Input,
        route: &crate::config::Route,
        classification: Classification,
    ) -> Result<Routed, RouteFailure> {
        let add = |total: Option<f64>, c: Option<f64>| match (total, c) {
            (Some(a), Some(b)) => Some(a + b),
            _ => None,
        };
        let answered = |model: &ModelId,
                        req: &CallRequest,
                        a: Answer,
                        primary_error: Option<CallError>| Routed {
            cost_usd: add(classification.cost_usd, self.cost(model, req, &a)),
            answer: a.text,
            classification: classification.clone(),
            cell_listed: true,
            primary: route.primary.clone(),
            routed_to: model.clone(),
            fell_back: primary_error.is_some(),
            primary_error,
            latency_ms: 0.0,
        };
        let failed = |model: &ModelId, error, primary_error: Option<CallError>| RouteFailure {
            classification: classification.clone(),
            primary: route.primary.clone(),
            model: model.clone(),
            error,
            fell_back: primary_error.is_some(),
            primary_error,
        };
        let req = self.answer_request(&route.primary, input);
        let e = match self.call(&route.primary, &req).await.0 {
            Ok(a) => return Ok(answered(&route.primary, &req, a, None)),
            Err(e) => e,
        };
        let Some(fb) = route.fallback.as_ref().filter(|_| e.kind.retryable()) else {
            return Err(failed(&route.primary, e, None));
        };
        let req = self.answer_request(fb, input);
        match self.call(fb, &req).await.0 {
            Ok(a) => Ok(answered(fb, &req, a, Some(e))),
            Err(e2) => Err(failed(fb, e2, Some(e))),
        }
    }

    /// Append the request's line to the log, when there is one. The answer matters more than
    /// its log line: a failed append is reported, not fatal.
    fn log(
        &self,
        input: &Input,
        cell: Cell,
        listed: bool,
        result: &Result<Routed, RouteFailure>,
        latency_ms: f64,
    ) {
        if let Some(log) = &self.log {
            let record = self.record(input, cell, listed, result, latency_ms);
            if let Err(e) = log.append(&record) {
                crate::eoutln!("warning: cannot append to {}: {e}", log.path().display());
            }
        }
    }

    fn record(
        &self,
        input: &Input,
        cell: Cell,
        listed: bool,
        result: &Result<Routed, RouteFailure>,
        latency_ms: f64,
    ) -> RouteRecord {
        let (c, primary, routed_to, fell_back, ok, error_kind, primary_error_kind, cost) =
            match result {
                Ok(r) => (
                    &r.classification,
                    &r.primary,
                    &r.routed_to,
                    r.fell_back,
                    true,
                    None,
                    r.primary_error.as_ref().map(|e| e.kind),
                    r.cost_usd,
                ),
                Err(f) => (
                    &f.classification,
                    &f.primary,
                    &f.model,
                    f.fell_back,
                    false,
                    Some(f.error.kind),
                    f.primary_error.as_ref().map(|e| e.kind),
                    f.classification.cost_usd,
                ),
            };
        RouteRecord {
            ts: jiff::Timestamp::now().to_string(),
            prompt_sha256: input.sha256(),
            task: c.labels.0.to_string(),
            priority: c.labels.1.to_string(),
            cell: if listed {
                cell.to_string()
            } else {
                "default".into()
            },
            primary: primary.to_string(),
            routed_to: routed_to.to_string(),
            fallback_used: fell_back,
            ok,
            error_kind,
            primary_error_kind,
            cost_usd: cost,
            latency_ms,
            classifier_cache_hit: c.cache_hit,
            classifier_parse_miss: c.parse_miss,
            classifier_error_kind: c.classifier_error,
            prompt: (self.log_prompts && input.messages.is_none())
                .then(|| input.prompt.to_string()),
            messages: input
                .messages
                .as_ref()
                .filter(|_| self.log_prompts)
                .map(|turns| turns.iter().map(log::LoggedTurn::from).collect()),
        }
    }
}

#[cfg(test)]
mod tests;
