//! The serde types of `routes.toml` as written, before any check: every cross-field rule and
//! every default that depends on another field is applied by the section builders.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::endpoints::{EndpointKind, ProviderKey};
use super::models::LatencyModel;
use super::policy::PolicyConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) classifier: RawClassifier,
    #[serde(default)]
    pub(super) judge: Option<RawJudge>,
    #[serde(default)]
    pub(super) run: RawRun,
    #[serde(default)]
    pub(super) endpoints: BTreeMap<String, RawEndpoint>,
    #[serde(default)]
    pub(super) models: BTreeMap<String, RawModel>,
    pub(super) default: RawRoute,
    #[serde(default)]
    pub(super) routes: BTreeMap<String, BTreeMap<String, RawRoute>>,
    #[serde(default)]
    pub(super) policy: PolicyConfig,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawClassifier {
    pub(super) model: String,
    #[serde(default)]
    pub(super) alternatives: Vec<String>,
    #[serde(default)]
    pub(super) prompt: Option<String>,
    #[serde(default)]
    pub(super) max_tokens: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJudge {
    pub(super) model: String,
    #[serde(default)]
    pub(super) max_tokens: Option<u32>,
    #[serde(default)]
    pub(super) prompt: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRun {
    pub(super) temperature: Option<f64>,
    pub(super) max_tokens: Option<u32>,
    pub(super) repeats: Option<u32>,
    pub(super) adaptive: Option<bool>,
    pub(super) adaptive_looks: Option<usize>,
    pub(super) adaptive_futility: Option<f64>,
    pub(super) system: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEndpoint {
    pub(super) kind: EndpointKind,
    pub(super) base_url: Option<String>,
    pub(super) api_key_env: Option<String>,
    pub(super) max_concurrency: Option<i64>,
    pub(super) requests_per_minute: Option<i64>,
    pub(super) timeout_s: Option<f64>,
    pub(super) max_attempts: Option<i64>,
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) stream: bool,
    #[serde(default)]
    pub(super) provider_keys: BTreeMap<String, ProviderKey>,
    pub(super) anthropic_version: Option<String>,
    pub(super) backoff_base_ms: Option<f64>,
    pub(super) backoff_cap_ms: Option<f64>,
    pub(super) max_retry_after_s: Option<f64>,
    pub(super) seed: Option<i64>,
    pub(super) time_scale: Option<f64>,
    pub(super) max_response_bytes: Option<i64>,
    pub(super) max_line_bytes: Option<i64>,
    pub(super) reasoning_room_tokens: Option<i64>,
    pub(super) item_correlation: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawModel {
    pub(super) endpoint: String,
    pub(super) tier: OneOrMany,
    pub(super) input_per_mtok: Option<f64>,
    pub(super) output_per_mtok: Option<f64>,
    pub(super) per_request_usd: Option<f64>,
    pub(super) cache_read_per_mtok: Option<f64>,
    pub(super) cache_write_per_mtok: Option<f64>,
    #[serde(default = "yes")]
    pub(super) candidate: bool,
    pub(super) wire_name: Option<String>,
    pub(super) latency_model: Option<LatencyModel>,
    pub(super) sim: Option<RawSimProfile>,
    pub(super) system: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSimProfile {
    pub(super) p50_ms: Option<f64>,
    pub(super) p95_ms: Option<f64>,
    pub(super) error_rate: Option<f64>,
    pub(super) rate_limited_rate: Option<f64>,
    pub(super) quality: Option<f64>,
    pub(super) output_tokens: Option<i64>,
}

pub(super) fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    pub(super) primary: String,
    pub(super) fallback: Option<String>,
}
