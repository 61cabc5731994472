//! `[endpoints.NAME]`: how models are reached (kind, URL, key variable, limits, retries, and the
//! settings of replay and sim endpoints).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::locate::{Check, looks_like_key};
use super::raw::RawEndpoint;

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
    /// The kind as `routes.toml` spells it.
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

/// Default shared item difficulty of `sim` endpoints: the correlation of two models' latent
/// draws on one item. Real models fail the same hard items; 0.6 gives pass/fail agreement
/// between models of 0.8–0.9 pass rates close to what recorded suites show.
pub const DEFAULT_ITEM_CORRELATION: f64 = 0.6;

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

/// A checked `[endpoints.NAME]`, every default filled in.
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

/// `[endpoints.NAME]`, every one checked; errors and warnings go to `ck`.
pub(super) fn build(
    raw: BTreeMap<String, RawEndpoint>,
    ck: &mut Check,
) -> BTreeMap<String, Endpoint> {
    let base_dir = ck
        .loc
        .path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut endpoints = BTreeMap::new();
    for (name, e) in raw {
        let endpoint = endpoint(name.clone(), e, &base_dir, ck);
        endpoints.insert(name, endpoint);
    }
    endpoints
}

/// One endpoint: its limits, the checks of a live endpoint's connection settings, its backoff,
/// its sim settings and its recording, in that order (the order its errors are listed in).
fn endpoint(name: String, e: RawEndpoint, base_dir: &Path, ck: &mut Check) -> Endpoint {
    let limits = limits(&name, &e, ck);
    check_connection(&name, &e, ck);
    let backoff = backoff(&name, &e, ck);
    let sim = sim_settings(&name, &e, ck);
    let path = recording(&name, &e, base_dir, ck);
    Endpoint {
        line: ck.loc.line(&["endpoints", &name]),
        name,
        kind: e.kind,
        base_url: e.base_url.map(|u| u.trim_end_matches('/').to_string()),
        api_key_env: e.api_key_env,
        max_concurrency: limits.max_concurrency,
        requests_per_minute: limits.requests_per_minute,
        timeout: limits.timeout,
        max_attempts: limits.max_attempts,
        path,
        stream: e.stream,
        provider_keys: e.provider_keys,
        anthropic_version: e
            .anthropic_version
            .unwrap_or_else(|| DEFAULT_ANTHROPIC_VERSION.to_string()),
        backoff,
        seed: sim.seed,
        time_scale: sim.time_scale,
        max_response_bytes: limits.max_response_bytes,
        max_line_bytes: limits.max_line_bytes,
        reasoning_room_tokens: limits.reasoning_room_tokens,
        item_correlation: sim.item_correlation,
    }
}

/// An endpoint's concurrency, rate, attempt, size and time limits, defaults filled in.
struct Limits {
    max_concurrency: usize,
    requests_per_minute: Option<u32>,
    max_attempts: u32,
    max_response_bytes: u64,
    max_line_bytes: u64,
    reasoning_room_tokens: u32,
    timeout: Duration,
}

fn limits(name: &str, e: &RawEndpoint, ck: &mut Check) -> Limits {
    let k = |f: &'static str| ["endpoints", name, f];
    let kind = e.kind;
    let mut positive = |field: &'static str, v: Option<i64>, default: i64| -> i64 {
        match v {
            Some(x) if x < 1 => {
                ck.err(&k(field), format!("must be at least 1, found {x}"));
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
            ck.err(
                &k("reasoning_room_tokens"),
                format!("must be a number of tokens from 0 to 1000000, found {x}"),
            );
            DEFAULT_REASONING_ROOM_TOKENS
        }
    };
    let timeout_s = e.timeout_s.unwrap_or(60.0);
    let timeout_ok = timeout_s > 0.0 && timeout_s.is_finite();
    if !timeout_ok {
        ck.err(
            &k("timeout_s"),
            format!("must be a positive number of seconds, found {timeout_s}"),
        );
    }
    Limits {
        max_concurrency: max_concurrency as usize,
        requests_per_minute: rpm.map(|r| r as u32),
        max_attempts: max_attempts as u32,
        max_response_bytes,
        max_line_bytes,
        reasoning_room_tokens,
        timeout: Duration::from_secs_f64(if timeout_ok { timeout_s } else { 60.0 }),
    }
}

/// A live endpoint's URL and key variable; the settings that only some kinds take.
fn check_connection(name: &str, e: &RawEndpoint, ck: &mut Check) {
    let k = |f: &'static str| ["endpoints", name, f];
    let kind = e.kind;
    if kind.is_live() {
        match &e.base_url {
            None => ck.err(
                &["endpoints", name],
                format!("a {} endpoint needs base_url", kind.as_str()),
            ),
            Some(u) => {
                if let Err(msg) = check_base_url(kind, u) {
                    ck.err(&k("base_url"), msg);
                }
            }
        }
        if e.api_key_env.is_none() && kind != EndpointKind::Openai {
            ck.err(
                &["endpoints", name],
                format!(
                    "a {} endpoint needs api_key_env (the environment variable that holds the key)",
                    kind.as_str()
                ),
            );
        }
    }
    // A key written here is reported by the literal-key scan, without echoing it.
    if let Some(v) = &e.api_key_env
        && !looks_like_key(v)
        && !is_env_name(v)
    {
        ck.err(
            &k("api_key_env"),
            format!("{v:?} is not an environment variable name"),
        );
    }
    if e.stream && !matches!(kind, EndpointKind::Openai | EndpointKind::Anthropic) {
        ck.err(
            &k("stream"),
            format!(
                "a {} endpoint cannot stream; stream is for openai and anthropic endpoints",
                kind.as_str()
            ),
        );
    }
    check_provider_keys(name, e, ck);
    if e.anthropic_version.is_some() && kind != EndpointKind::Anthropic {
        ck.err(
            &k("anthropic_version"),
            "anthropic_version is only for anthropic endpoints",
        );
    }
}

/// A Promptster endpoint's bring-your-own keys: a header name and a variable name each.
fn check_provider_keys(name: &str, e: &RawEndpoint, ck: &mut Check) {
    if !e.provider_keys.is_empty() && e.kind != EndpointKind::Promptster {
        ck.err(
            &["endpoints", name, "provider_keys"],
            "provider_keys is only for promptster endpoints",
        );
    }
    for (provider, pk) in &e.provider_keys {
        let at = ["endpoints", name, "provider_keys", provider.as_str()];
        // A key written into either field is reported by the literal-key scan, unechoed.
        if !looks_like_key(&pk.header)
            && reqwest::header::HeaderName::from_bytes(pk.header.as_bytes()).is_err()
        {
            ck.err(
                &at,
                format!("header {:?} is not an HTTP header name", pk.header),
            );
        }
        if !looks_like_key(&pk.env) && !is_env_name(&pk.env) {
            ck.err(
                &at,
                format!("env {:?} is not an environment variable name", pk.env),
            );
        }
    }
}

/// `backoff_base_ms`, `backoff_cap_ms` and `max_retry_after_s` over the defaults.
fn backoff(name: &str, e: &RawEndpoint, ck: &mut Check) -> Backoff {
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
            Some(x) => ck.err(
                &["endpoints", name, field],
                format!("must be a non-negative duration under a day, found {x}"),
            ),
            None => {}
        }
    }
    backoff
}

/// A `sim` endpoint's seed, time scale and item correlation.
struct SimSettings {
    seed: u64,
    time_scale: f64,
    item_correlation: f64,
}

fn sim_settings(name: &str, e: &RawEndpoint, ck: &mut Check) -> SimSettings {
    let k = |f: &'static str| ["endpoints", name, f];
    if e.kind != EndpointKind::Sim {
        for (field, set) in [
            ("seed", e.seed.is_some()),
            ("time_scale", e.time_scale.is_some()),
            ("item_correlation", e.item_correlation.is_some()),
        ] {
            if set {
                ck.err(&k(field), format!("{field} is only for sim endpoints"));
            }
        }
    }
    let seed = match e.seed {
        Some(s) if s < 0 => {
            ck.err(
                &k("seed"),
                format!("must be a non-negative integer, found {s}"),
            );
            0
        }
        Some(s) => s as u64,
        None => 0,
    };
    let time_scale = match e.time_scale {
        Some(t) if !(0.0..=1000.0).contains(&t) => {
            ck.err(
                &k("time_scale"),
                format!(
                    "must be within 0..1000 (0 answers at once, 1 waits the simulated latency), found {t}"
                ),
            );
            1.0
        }
        Some(t) => t,
        None => 1.0,
    };
    let item_correlation = match e.item_correlation {
        Some(r) if !(0.0..1.0).contains(&r) => {
            ck.err(
                &k("item_correlation"),
                format!("must be within [0, 1) (shared item difficulty), found {r}"),
            );
            DEFAULT_ITEM_CORRELATION
        }
        Some(r) => r,
        None => DEFAULT_ITEM_CORRELATION,
    };
    SimSettings {
        seed,
        time_scale,
        item_correlation,
    }
}

/// A replay endpoint's recording, resolved against the routes file's folder.
fn recording(name: &str, e: &RawEndpoint, base_dir: &Path, ck: &mut Check) -> Option<PathBuf> {
    match (e.kind, &e.path) {
        (EndpointKind::Replay, None) => {
            ck.err(
                &["endpoints", name],
                "a replay endpoint needs path (the recording file)",
            );
            None
        }
        (EndpointKind::Replay, Some(p)) => {
            let full = base_dir.join(p);
            if !full.is_file() {
                ck.err(
                    &["endpoints", name, "path"],
                    format!("recording {} does not exist", full.display()),
                );
            }
            Some(full)
        }
        (_, Some(_)) => {
            ck.err(
                &["endpoints", name, "path"],
                "path is only for replay endpoints",
            );
            None
        }
        (_, None) => None,
    }
}

/// An environment variable name: ASCII letters, digits and `_`.
pub(super) fn is_env_name(v: &str) -> bool {
    !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A live endpoint's base URL: http(s), no credentials, not the redirecting bare Promptster domain.
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
