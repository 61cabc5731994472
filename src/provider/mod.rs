//! Providers: one trait, one file per wire format. The runner only sees [`Provider`].

mod anthropic;
pub(crate) mod http;
mod keywords;
pub(crate) mod meter;
mod openai;
mod promptster;
mod replay;
pub mod sim;
pub(crate) mod sse;
pub(crate) mod tokens;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::base::types::ModelId;
use crate::config::{Config, Endpoint, EndpointKind};
use crate::grade::RecordedGrade;
use http::Key;

pub use keywords::classify_keywords;
pub use replay::{RecordedAnswer, Recording};

/// Why a call is made.
#[derive(Debug, Clone)]
pub enum Purpose {
    /// A candidate answering a dataset item.
    Candidate,
    /// A classifier labelling `text` (the `prompt` field holds the rendered classifier prompt).
    Classify { text: Arc<str> },
    /// A judge grading an answer.
    Judge,
}

/// One request to one model.
#[derive(Debug, Clone)]
pub struct CallRequest {
    pub model: ModelId,
    /// The model name sent on the wire.
    pub wire_name: Arc<str>,
    pub prompt: Arc<str>,
    /// A chat item's conversation, sent as turns where the wire format has them (`prompt` is
    /// then its last user message); `None` sends `prompt` as the one user turn.
    pub messages: Option<Arc<[crate::dataset::Message]>>,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    pub purpose: Purpose,
    /// Which repeat of the same prompt this is (0-based).
    pub repeat: u32,
}

impl CallRequest {
    /// The text a recording is keyed on: the canonical conversation of a chat request
    /// ([`crate::dataset::canonical_messages`]), else the prompt.
    pub fn key_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.messages {
            Some(m) => crate::dataset::canonical_messages(m).into(),
            None => std::borrow::Cow::Borrowed(&self.prompt),
        }
    }

    /// Everything the model reads: the prompt, or every turn of the conversation (a line
    /// between turns). Token estimates of an answer without reported counts are taken of it.
    pub fn input_text(&self) -> std::borrow::Cow<'_, str> {
        match &self.messages {
            Some(m) => crate::dataset::turns_text(m).into(),
            None => std::borrow::Cow::Borrowed(&self.prompt),
        }
    }
}

/// Where a latency figure came from. Only `measured` is a wall-clock time taken by this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatencySource {
    Measured,
    Recorded,
    Modelled,
    Simulated,
}

impl LatencySource {
    pub fn as_str(self) -> &'static str {
        match self {
            LatencySource::Measured => "measured",
            LatencySource::Recorded => "recorded",
            LatencySource::Modelled => "modelled",
            LatencySource::Simulated => "simulated",
        }
    }
}

/// The latency of an answer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum Latency {
    /// The runner's wall-clock measurement of the call is the figure.
    #[default]
    Measure,
    /// A figure that came with the answer (recorded, modelled or simulated), in milliseconds.
    Given(f64, LatencySource),
    /// Nothing is known (a replayed answer recorded without latency and with no latency model).
    Unknown,
}

/// Where a cost figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostSource {
    /// Sent by the provider with the answer.
    Reported,
    /// Recorded with a replayed answer (the list price of the day it was made).
    Recorded,
    /// Tokens × the price table (or an override in routes.toml).
    PriceTable,
    /// No price is known: the cost is unknown, not zero.
    Unpriced,
    /// A built-in classifier that costs nothing.
    Free,
    /// A failed call: the providers routecal speaks to do not bill failures.
    NotBilled,
}

impl CostSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CostSource::Reported => "reported",
            CostSource::Recorded => "recorded",
            CostSource::PriceTable => "price_table",
            CostSource::Unpriced => "unpriced",
            CostSource::Free => "free",
            CostSource::NotBilled => "not_billed",
        }
    }
}

/// Token counts a provider reports beyond input and output. Each is a part of one of them:
/// cache reads and writes of the input, reasoning of the output.
///
/// Declared once for every file that stores them: the journal row and the replay recording
/// line flatten it (`#[serde(flatten)]`), so the three keys sit at the top level of each line
/// and an absent count writes no key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UsageDetail {
    /// Prompt tokens served from the provider's prompt cache (OpenAI `cached_tokens`,
    /// Anthropic `cache_read_input_tokens`, DeepSeek `prompt_cache_hit_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    /// Prompt tokens written to the prompt cache (Anthropic `cache_creation_input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    /// Hidden reasoning tokens, billed as output (`completion_tokens_details.reasoning_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
}

/// Whether a finish reason says the answer was cut by the token limit: OpenAI and compatible
/// servers `length`, Anthropic `max_tokens`, Gemini `MAX_TOKENS`, Mistral `model_length`, or
/// the context window running out. Case is ignored.
pub fn is_truncation(finish_reason: &str) -> bool {
    [
        "length",
        "max_tokens",
        "max_output_tokens",
        "model_length",
        "model_context_window_exceeded",
    ]
    .iter()
    .any(|r| finish_reason.eq_ignore_ascii_case(r))
}

/// A successful answer as the provider gave it.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub text: String,
    /// Every prompt token, cached ones included.
    pub input_tokens: Option<u64>,
    /// Every output token, reasoning included.
    pub output_tokens: Option<u64>,
    pub usage: UsageDetail,
    /// Why the model stopped, as the provider said it (`stop`, `length`, `end_turn`,
    /// `max_tokens`, …), at most 40 characters.
    pub finish_reason: Option<String>,
    /// A cost that came with the answer (reported by the provider or recorded).
    pub cost: Option<(f64, CostSource)>,
    /// The latency figure of this answer.
    pub latency: Latency,
    /// Server-side processing time, when the provider reports it.
    pub server_latency_ms: Option<f64>,
    /// Time to first token, when streamed.
    pub ttft_ms: Option<f64>,
    /// A grade recorded with a replayed answer.
    pub grade: Option<RecordedGrade>,
    pub http_status: Option<u16>,
}

/// What went wrong with a call. Retryable kinds are retried by the runner and trigger the
/// router's fallback; the others are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Replay has no answer for this prompt and model.
    NotRecorded,
    /// 429.
    RateLimited,
    /// 429 (or 402/403) saying a quota or credit is exhausted: retrying will not help soon.
    QuotaExhausted,
    /// 5xx.
    Server,
    Timeout,
    /// Connection refused, reset or dropped.
    Connection,
    /// A truncated, unparsable or unexpected body.
    BadBody,
    /// A 3xx: redirects are never followed.
    Redirect,
    /// 401/403: a missing or bad key.
    Auth,
    /// Other 4xx: the request is wrong (unknown model, bad parameter).
    BadRequest,
    /// The run's spend limit stopped the call before it was made.
    Budget,
    /// The response (or one line of an event stream) is larger than the endpoint's
    /// `max_response_bytes` (`max_line_bytes`): it is not read further nor retried.
    TooLarge,
}

impl ErrorKind {
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited
                | ErrorKind::Server
                | ErrorKind::Timeout
                | ErrorKind::Connection
                | ErrorKind::BadBody
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotRecorded => "not_recorded",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::QuotaExhausted => "quota_exhausted",
            ErrorKind::Server => "server",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Connection => "connection",
            ErrorKind::BadBody => "bad_body",
            ErrorKind::Redirect => "redirect",
            ErrorKind::Auth => "auth",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Budget => "budget",
            ErrorKind::TooLarge => "too_large",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CallError {
    pub kind: ErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl CallError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CallError {
            kind,
            message: message.into(),
            http_status: None,
            retry_after: None,
        }
    }
}

impl Answer {
    /// The answer was cut by the token limit.
    pub fn truncated(&self) -> bool {
        self.finish_reason.as_deref().is_some_and(is_truncation)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.as_str())?;
        if let Some(s) = self.http_status {
            write!(f, " (HTTP {s})")?;
        }
        // Scrubbed again at the last moment: a message built outside a provider is safe too.
        write!(f, ": {}", crate::base::secrets::scrub(&self.message))
    }
}

/// A way of asking a model. Implementations must be cheap to call concurrently.
pub trait Provider: Send + Sync {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>>;

    /// A requests-per-minute limit the provider needs when the endpoint sets none, and why
    /// (a Promptster test key is limited to 5 a minute).
    fn default_requests_per_minute(&self) -> Option<(u32, &'static str)> {
        None
    }
}

/// One provider per endpoint of the config.
pub fn build_all(cfg: &Config) -> anyhow::Result<HashMap<String, Arc<dyn Provider>>> {
    let mut out = HashMap::new();
    for (name, ep) in &cfg.endpoints {
        out.insert(name.clone(), build(ep, cfg)?);
    }
    Ok(out)
}

fn required_key(ep: &Endpoint, cfg: &Config) -> anyhow::Result<Key> {
    let var = ep
        .api_key_env
        .as_deref()
        .expect("validated: promptster and anthropic endpoints name api_key_env");
    Key::from_env(var, ep, &cfg.path, "api_key_env")
}

fn build(ep: &Endpoint, cfg: &Config) -> anyhow::Result<Arc<dyn Provider>> {
    Ok(match ep.kind {
        EndpointKind::Replay => {
            let path = ep
                .path
                .as_ref()
                .expect("validated: replay endpoints have a path");
            let models = cfg
                .models
                .values()
                .filter(|m| m.endpoint == ep.name)
                .cloned()
                .collect();
            Arc::new(Recording::open(path, models)?)
        }
        EndpointKind::Keywords => Arc::new(keywords::Keywords),
        EndpointKind::Sim => Arc::new(sim::Sim::new(
            ep,
            cfg.models.values().filter(|m| m.endpoint == ep.name),
        )),
        EndpointKind::Openai => {
            let key = match &ep.api_key_env {
                Some(var) => Some(Key::from_env(var, ep, &cfg.path, "api_key_env")?),
                None => None,
            };
            Arc::new(openai::OpenAi::new(ep, key)?)
        }
        EndpointKind::Anthropic => Arc::new(anthropic::Anthropic::new(ep, required_key(ep, cfg)?)?),
        EndpointKind::Promptster => {
            let key = required_key(ep, cfg)?;
            let mut byok = std::collections::BTreeMap::new();
            for (provider, pk) in &ep.provider_keys {
                let field = format!("provider_keys.{provider}");
                let k = Key::from_env(&pk.env, ep, &cfg.path, &field)?;
                let name = reqwest::header::HeaderName::from_bytes(pk.header.as_bytes())
                    .expect("validated: provider key headers are header names");
                byok.insert(provider.clone(), (name, k));
            }
            Arc::new(promptster::Promptster::new(ep, key, byok)?)
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn truncation_reasons_of_every_wire() {
        for r in ["length", "max_tokens", "MAX_TOKENS", "model_length"] {
            assert!(super::is_truncation(r), "{r}");
        }
        for r in [
            "stop",
            "end_turn",
            "tool_calls",
            "content_filter",
            "STOP",
            "",
        ] {
            assert!(!super::is_truncation(r), "{r}");
        }
    }
}
