//! What every live wire format shares: one keep-alive client per endpoint that never follows
//! redirects, keys that cannot leak, and the mapping of HTTP outcomes to typed errors.

use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use futures::Stream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::{Answer, CallError, ErrorKind};
use crate::base::error::InputError;
use crate::config::Endpoint;

/// Error bodies and messages are cut to this many characters.
const MAX_MESSAGE_CHARS: usize = 300;

/// At most this much of an error body (non-2xx) is read: its message is all that is kept.
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

static RUSTLS_PROVIDER: Once = Once::new();

/// A secret read from the environment. Its `Debug` is redacted; only the request headers see it.
#[derive(Clone)]
pub struct Key(Arc<SecretString>);

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(redacted)")
    }
}

impl Key {
    /// The key held by environment variable `var`, or an error located at `field` of the
    /// endpoint's table in the routes file.
    pub fn from_env(
        var: &str,
        ep: &Endpoint,
        routes: &std::path::Path,
        field: &str,
    ) -> anyhow::Result<Key> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                crate::base::secrets::register(v.trim());
                Ok(Key(Arc::new(SecretString::from(v.trim().to_string()))))
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Err(InputError::new(
                routes,
                format!(
                    "environment variable {var} is not set (or empty): endpoint {:?} needs its key there",
                    ep.name
                ),
            )
            .line_opt(ep.line)
            .field(format!("endpoints.{}.{field}", ep.name))
            .into()),
            Err(std::env::VarError::NotUnicode(_)) => Err(InputError::new(
                routes,
                format!("environment variable {var} does not hold valid UTF-8"),
            )
            .line_opt(ep.line)
            .field(format!("endpoints.{}.{field}", ep.name))
            .into()),
        }
    }

    #[cfg(test)]
    pub fn from_literal(v: &str) -> Key {
        Key(Arc::new(SecretString::from(v.to_string())))
    }

    pub fn starts_with(&self, prefix: &str) -> bool {
        self.0.expose_secret().starts_with(prefix)
    }

    /// A header value holding `prefix` + the key, marked sensitive so that hyper never logs it.
    pub fn header(&self, prefix: &str) -> Result<HeaderValue, CallError> {
        let mut v = HeaderValue::from_str(&format!("{prefix}{}", self.0.expose_secret())).map_err(
            |_| {
                CallError::new(
                    ErrorKind::Auth,
                    "the key holds characters an HTTP header cannot carry",
                )
            },
        )?;
        v.set_sensitive(true);
        Ok(v)
    }
}

/// Removes key values from any text that came back from a server or a transport error.
#[derive(Clone, Default)]
pub struct Redactor {
    keys: Vec<Key>,
}

impl Redactor {
    pub fn new(keys: impl IntoIterator<Item = Key>) -> Redactor {
        Redactor {
            keys: keys.into_iter().collect(),
        }
    }

    /// `text` without any run of [`crate::base::secrets::MIN_RUN`] or more characters of these keys
    /// (nor of any other key read from the environment).
    pub fn scrub(&self, text: &str) -> String {
        let own =
            crate::base::secrets::scrub_with(text, self.keys.iter().map(|k| k.0.expose_secret()));
        crate::base::secrets::scrub(&own)
    }
}

/// One endpoint's HTTP client: a pool of keep-alive connections to one base URL.
pub struct Http {
    client: reqwest::Client,
    base: String,
    pub redactor: Redactor,
    /// The endpoint's name, for errors that name a setting.
    endpoint: String,
    max_body: usize,
    max_line: usize,
}

/// The 2xx body of a request that asked for a stream: an event stream, or a plain JSON body
/// (a server that ignores `stream`, or one that answers an error that way).
pub enum StreamReply<'a> {
    Events(futures::stream::BoxStream<'a, Result<super::sse::Event, CallError>>),
    Json(serde_json::Value),
}

/// A 2xx response whose body has not been read yet, and when the request was sent.
pub struct Sent {
    pub response: reqwest::Response,
    pub sent_at: Instant,
}

impl Http {
    pub fn new(ep: &Endpoint, redactor: Redactor) -> anyhow::Result<Http> {
        RUSTLS_PROVIDER.call_once(|| {
            // Fails only when another provider was installed first, which is as good.
            let _ = rustls::crypto::ring::default_provider().install_default();
        });
        let base = ep
            .base_url
            .clone()
            .expect("validated: live endpoints have a base_url");
        let client = reqwest::Client::builder()
            // A redirect would drop the Authorization header (Promptster's bare domain does
            // exactly that) and turn into a confusing 401: a 3xx is an error that says so.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("routecal/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(ep.timeout.min(Duration::from_secs(10)))
            // The whole exchange, body included, checked on every read of the body: a server
            // that never stops sending is cut off here too.
            .timeout(ep.timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_keepalive(Duration::from_secs(30))
            .build()?;
        Ok(Http {
            client,
            base,
            redactor,
            endpoint: ep.name.clone(),
            max_body: usize::try_from(ep.max_response_bytes).unwrap_or(usize::MAX),
            max_line: usize::try_from(ep.max_line_bytes).unwrap_or(usize::MAX),
        })
    }

    /// POST `body` as JSON to `{base}{path}`; a non-2xx answer becomes a typed error.
    pub async fn post(
        &self,
        path: &str,
        headers: HeaderMap,
        body: &serde_json::Value,
    ) -> Result<Sent, CallError> {
        let url = format!("{}{path}", self.base);
        let sent_at = Instant::now();
        let response = self
            .client
            .post(&url)
            .headers(headers)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Sent { response, sent_at });
        }
        let resp_headers = response.headers().clone();
        // A failure to read an error body must not hide the status that came before it, and
        // only its start is read: the message is cut to a few hundred characters anyway.
        let bytes = read_prefix(response, MAX_ERROR_BODY_BYTES.min(self.max_body)).await;
        Err(status_error(
            status.as_u16(),
            &resp_headers,
            &bytes,
            &url,
            &self.redactor,
        ))
    }

    /// A 2xx answer to a stream request that held no event: its start, keys scrubbed.
    fn not_a_stream(&self, head: &[u8]) -> CallError {
        let text = self.redactor.scrub(&String::from_utf8_lossy(head));
        let mut e = CallError::new(
            ErrorKind::BadBody,
            format!(
                "expected an event stream, found a body without events: {}",
                truncate(text.trim(), 200)
            ),
        );
        e.http_status = Some(200);
        e
    }

    /// The `too_large` error of this endpoint.
    fn too_large(&self, what: &str, setting: &str, limit: usize) -> CallError {
        let mut e = CallError::new(
            ErrorKind::TooLarge,
            format!(
                "{what} is larger than {setting} = {limit} bytes of endpoint {:?}; nothing more was read",
                self.endpoint
            ),
        );
        e.http_status = Some(200);
        e
    }

    /// The whole 2xx body, read up to the endpoint's `max_response_bytes`.
    async fn body_bytes(&self, mut response: reqwest::Response) -> Result<Vec<u8>, CallError> {
        let limit = self.max_body;
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(self.too_large("the response body", "max_response_bytes", limit));
        }
        let mut out = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if out.len() + chunk.len() > limit {
                return Err(self.too_large("the response body", "max_response_bytes", limit));
            }
            out.extend_from_slice(&chunk);
            tokio::task::consume_budget().await;
        }
        Ok(out)
    }

    /// The whole body of a 2xx response as JSON.
    pub async fn json(&self, sent: Sent) -> Result<serde_json::Value, CallError> {
        let status = sent.response.status().as_u16();
        let bytes = self.body_bytes(sent.response).await?;
        self.parse_json(&bytes, status)
    }

    fn parse_json(&self, bytes: &[u8], status: u16) -> Result<serde_json::Value, CallError> {
        serde_json::from_slice(bytes).map_err(|e| {
            let mut err = CallError::new(
                ErrorKind::BadBody,
                format!(
                    "expected a JSON body, found {} bytes that do not parse ({e}): {}",
                    bytes.len(),
                    truncate(&self.redactor.scrub(&String::from_utf8_lossy(bytes)), 120)
                ),
            );
            err.http_status = Some(status);
            err
        })
    }

    /// The body of a 2xx answer to a stream request. A body whose first byte is `{` is JSON
    /// (read whole, within `max_response_bytes`); anything else is an event stream, parsed as
    /// it arrives with each line within `max_line_bytes` and the whole within
    /// `max_response_bytes`.
    pub async fn stream_reply(&self, sent: Sent) -> Result<StreamReply<'_>, CallError> {
        let mut response = sent.response;
        let status = response.status().as_u16();
        let mut first = Vec::new();
        while first.iter().all(u8::is_ascii_whitespace) {
            match response
                .chunk()
                .await
                .map_err(|e| self.transport_error(&e))?
            {
                Some(c) => {
                    if first.len() + c.len() > self.max_body {
                        return Err(self.too_large(
                            "the response body",
                            "max_response_bytes",
                            self.max_body,
                        ));
                    }
                    first.extend_from_slice(&c);
                }
                None => break,
            }
        }
        if first.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            let rest = self.body_bytes(response).await?;
            if first.len() + rest.len() > self.max_body {
                return Err(self.too_large(
                    "the response body",
                    "max_response_bytes",
                    self.max_body,
                ));
            }
            first.extend_from_slice(&rest);
            return Ok(StreamReply::Json(self.parse_json(&first, status)?));
        }
        Ok(StreamReply::Events(Box::pin(self.events(response, first))))
    }

    /// The events of a `text/event-stream` body whose first bytes were already read.
    fn events(
        &self,
        response: reqwest::Response,
        first: Vec<u8>,
    ) -> impl Stream<Item = Result<super::sse::Event, CallError>> + '_ {
        struct St {
            response: reqwest::Response,
            parser: super::sse::Parser,
            pending: Option<Vec<u8>>,
            read: usize,
            ended: bool,
            /// The start of the body and how many events it gave, to name a body that was no
            /// event stream at all (an HTML error page from a proxy, say).
            head: Vec<u8>,
            events: usize,
        }
        let st = St {
            response,
            parser: super::sse::Parser::new(self.max_line),
            read: 0,
            head: first[..first.len().min(300)].to_vec(),
            pending: Some(first),
            ended: false,
            events: 0,
        };
        futures::stream::unfold(Some(st), move |st| async move {
            let mut st = st?;
            loop {
                if let Some(ev) = st.parser.next_event() {
                    st.events += 1;
                    return Some((Ok(ev), Some(st)));
                }
                if st.ended {
                    return (st.events == 0 && !st.head.trim_ascii().is_empty())
                        .then(|| (Err(self.not_a_stream(&st.head)), None));
                }
                let chunk = match st.pending.take() {
                    Some(c) => Some(c),
                    None => match st.response.chunk().await {
                        Ok(c) => c.map(|b| b.to_vec()),
                        Err(e) => return Some((Err(self.transport_error(&e)), None)),
                    },
                };
                let Some(chunk) = chunk else {
                    st.parser.finish();
                    st.ended = true;
                    continue;
                };
                st.read += chunk.len();
                if st.read > self.max_body {
                    let e = self.too_large("the event stream", "max_response_bytes", self.max_body);
                    return Some((Err(e), None));
                }
                if let Err(e) = st.parser.feed(&chunk) {
                    let e = self.too_large("a line of the event stream", "max_line_bytes", e.limit);
                    return Some((Err(e), None));
                }
                // A server that sends without pause must not keep this task from yielding.
                tokio::task::consume_budget().await;
            }
        })
    }

    /// A transport failure as a typed, key-free error.
    pub fn transport_error(&self, e: &reqwest::Error) -> CallError {
        let kind = if e.is_timeout() {
            ErrorKind::Timeout
        } else if e.is_body() || e.is_decode() {
            // The connection broke or the length did not match while the body was read.
            ErrorKind::BadBody
        } else {
            ErrorKind::Connection
        };
        let mut msg = String::new();
        let mut cause: Option<&dyn std::error::Error> = Some(e);
        while let Some(c) = cause {
            let s = c.to_string();
            if !msg.contains(&s) {
                if !msg.is_empty() {
                    msg.push_str(": ");
                }
                msg.push_str(&s);
            }
            cause = c.source();
        }
        let mut err = CallError::new(
            kind,
            truncate(&self.redactor.scrub(&msg), MAX_MESSAGE_CHARS),
        );
        err.http_status = e.status().map(|s| s.as_u16());
        err
    }
}

/// At most `limit` bytes of a body; a failure to read ends it where it is.
async fn read_prefix(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < limit {
        match response.chunk().await {
            Ok(Some(c)) => {
                let room = limit - out.len();
                out.extend_from_slice(&c[..c.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// A header map from name/value pairs built by a wire format (names are static and valid).
pub fn headers(pairs: impl IntoIterator<Item = (HeaderName, HeaderValue)>) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(k, v);
    }
    h
}

/// The typed error of a non-2xx response.
pub fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    url: &str,
    redactor: &Redactor,
) -> CallError {
    let parsed = ErrorBody::parse(body);
    let message = redactor.scrub(&parsed.message);
    let retry_after = retry_after(headers, jiff::Timestamp::now());
    let quota = parsed.says_quota_exhausted();
    let (kind, message) = match status {
        300..=399 => {
            let location = headers
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("(no Location header)");
            (
                ErrorKind::Redirect,
                redirect_message(status, url, &redactor.scrub(location)),
            )
        }
        402 => (ErrorKind::QuotaExhausted, message),
        429 if quota && retry_after.is_none() => (ErrorKind::QuotaExhausted, message),
        429 => (ErrorKind::RateLimited, message),
        400 | 403 if quota => (ErrorKind::QuotaExhausted, message),
        401 | 403 => (ErrorKind::Auth, message),
        408 => (ErrorKind::Timeout, message),
        400..=499 => (ErrorKind::BadRequest, message),
        500..=599 => (ErrorKind::Server, message),
        _ => (
            ErrorKind::BadBody,
            format!("unexpected HTTP status {status}: {message}"),
        ),
    };
    CallError {
        kind,
        message,
        http_status: Some(status),
        retry_after: if kind.retryable() { retry_after } else { None },
    }
}

fn redirect_message(status: u16, url: &str, location: &str) -> String {
    let from = reqwest::Url::parse(url).ok();
    let to = from
        .as_ref()
        .and_then(|u| u.join(location).ok())
        .or_else(|| reqwest::Url::parse(location).ok());
    let host_fix = match (
        from.as_ref().and_then(|u| u.host_str()),
        to.as_ref().and_then(|u| u.host_str()),
    ) {
        (Some(f), Some(t)) if t.strip_prefix("www.") == Some(f) => format!(
            "; use the www. host in base_url (https://{t}{}), because the redirect from the bare domain drops the Authorization header",
            from.as_ref().map(|u| u.path()).unwrap_or("")
                .trim_end_matches(|c| c != '/')
                .trim_end_matches('/')
        ),
        _ => "; set base_url to the address it redirects to (a redirect would drop the Authorization header)".into(),
    };
    format!("HTTP {status} redirect to {location}: redirects are never followed{host_fix}")
}

/// An error body, parsed loosely: providers and proxies all say it differently.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorBody {
    pub message: String,
    /// `code` or `type` of the error, when given.
    pub code: Option<String>,
}

impl ErrorBody {
    /// `{"error":"…"}`, `{"error":{"code","message"}}`, `{"message":"…"}`, `{"detail":"…"}`,
    /// else the raw text, truncated.
    pub fn parse(body: &[u8]) -> ErrorBody {
        let text = String::from_utf8_lossy(body);
        let from_json = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                let str_of = |v: &serde_json::Value, k: &str| {
                    v.get(k).and_then(|x| match x {
                        serde_json::Value::String(s) => Some(s.clone()),
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        _ => None,
                    })
                };
                match v.get("error") {
                    Some(serde_json::Value::String(s)) => Some(ErrorBody {
                        message: s.clone(),
                        code: str_of(&v, "code"),
                    }),
                    Some(e @ serde_json::Value::Object(_)) => Some(ErrorBody {
                        message: str_of(e, "message")
                            .or_else(|| str_of(e, "detail"))
                            .unwrap_or_else(|| e.to_string()),
                        code: str_of(e, "code").or_else(|| str_of(e, "type")),
                    }),
                    _ => str_of(&v, "message")
                        .or_else(|| str_of(&v, "detail"))
                        .map(|m| ErrorBody {
                            message: m,
                            code: str_of(&v, "code").or_else(|| str_of(&v, "type")),
                        }),
                }
            });
        let mut b = from_json.unwrap_or_else(|| ErrorBody {
            message: if text.trim().is_empty() {
                "(empty body)".into()
            } else {
                text.trim().to_string()
            },
            code: None,
        });
        b.message = truncate(&b.message, MAX_MESSAGE_CHARS);
        if let Some(c) = &b.code
            && !b.message.contains(c.as_str())
        {
            b.message = format!("{} [{c}]", b.message);
        }
        b
    }

    /// Whether the error says a quota or credit is used up (hours away), as opposed to a
    /// per-minute throttle that a short wait cures.
    pub fn says_quota_exhausted(&self) -> bool {
        let text = format!(
            "{} {}",
            self.message.to_lowercase(),
            self.code.as_deref().unwrap_or("").to_lowercase()
        );
        let money = [
            "insufficient_quota",
            "credit",
            "billing",
            "balance",
            "payment",
            "insufficient funds",
        ];
        if money.iter().any(|m| text.contains(m)) {
            return true;
        }
        let throttle = [
            "per minute",
            "per second",
            "per min",
            "rpm",
            "tpm",
            "rate limit",
            "rate_limit",
            "too many requests",
        ];
        (text.contains("quota") || text.contains("exhausted"))
            && !throttle.iter().any(|t| text.contains(t))
    }
}

/// The wait a server asks for: `retry-after-ms`, else `Retry-After` in seconds or as an
/// HTTP date (relative to `now`; a date in the past means no wait).
pub fn retry_after(headers: &HeaderMap, now: jiff::Timestamp) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1e3));
    }
    let v = get("retry-after")?;
    if let Ok(s) = v.parse::<f64>() {
        return (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(v)
        .ok()?;
    let wait = at.duration_since(now);
    Some(if wait.is_negative() {
        Duration::ZERO
    } else {
        Duration::try_from(wait).unwrap_or_default()
    })
}

/// At most `max` characters, with an ellipsis when cut; every key read from the environment
/// is scrubbed **before** the cut, so a cut never leaves part of a key unrecognised.
pub fn truncate(s: &str, max: usize) -> String {
    crate::base::secrets::cut(s, max)
}

/// A 2xx body that lacks what the wire format promises.
pub fn bad_body(what: &str, body: &serde_json::Value, redactor: &Redactor) -> CallError {
    let mut e = CallError::new(
        ErrorKind::BadBody,
        format!(
            "{what}; found {}",
            redactor.scrub(&truncate(&body.to_string(), 160))
        ),
    );
    e.http_status = Some(200);
    e
}

/// An error a server put inside a 2xx body (a JSON body, or an event of a stream), classified
/// like the HTTP error it stands for: a numeric `code`/`status` of 400–599 is that status; an
/// error type that names a kind (`invalid_request_error`, `validation`, `rate_limit_error`,
/// `overloaded_error`, `authentication_error`, …) is the status of that kind; anything else is
/// a server error. `err` is the value of the `error` field, or the whole body when it has none;
/// `context` says where it was found.
pub fn error_in_body(
    err: &serde_json::Value,
    body: &serde_json::Value,
    context: &str,
    redactor: &Redactor,
) -> CallError {
    let status = equivalent_status(err, body);
    let raw = serde_json::json!({ "error": err }).to_string();
    let mut e = status_error(status, &HeaderMap::new(), raw.as_bytes(), "", redactor);
    e.message = format!("{context}: {}", e.message);
    e.http_status = Some(200);
    e.retry_after = None;
    e
}

/// The error a 2xx JSON body holds instead of an answer: its `error` field, or the body itself
/// when it says only `detail` or `message` (FastAPI-style servers). `answer_keys` are the
/// fields of an answer: a body with any of them is no error.
pub fn body_error<'v>(
    v: &'v serde_json::Value,
    answer_keys: &[&str],
) -> Option<&'v serde_json::Value> {
    if answer_keys.iter().any(|k| v.get(*k).is_some()) {
        return None;
    }
    v.get("error").or_else(|| {
        ["detail", "message"]
            .iter()
            .any(|k| v.get(*k).is_some_and(serde_json::Value::is_string))
            .then_some(v)
    })
}

fn equivalent_status(err: &serde_json::Value, body: &serde_json::Value) -> u16 {
    let field = |k: &str| err.get(k).or_else(|| body.get(k));
    for k in ["code", "status", "status_code"] {
        if let Some(n) = as_count(field(k)).filter(|n| (400..600).contains(n)) {
            return n as u16;
        }
    }
    let names: String = ["type", "error_type", "code", "status"]
        .iter()
        .filter_map(|k| field(k).and_then(serde_json::Value::as_str))
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    let has = |xs: &[&str]| xs.iter().any(|x| names.contains(x));
    if has(&["insufficient_quota", "billing", "credit"]) {
        402
    } else if has(&["rate_limit", "too_many_requests", "resource_exhausted"]) {
        429
    } else if has(&["authentication", "invalid_api_key", "unauthenticated"]) {
        401
    } else if has(&["permission"]) {
        403
    } else if has(&["not_found"]) {
        404
    } else if has(&[
        "invalid_request",
        "validation",
        "invalid_argument",
        "bad_request",
        "context_length",
    ]) {
        400
    } else {
        500
    }
}

/// How long a stream whose answer is complete (a finish reason came) may still take to send
/// its end marker before the answer is taken as it is.
pub const AFTER_FINISH_GRACE: Duration = Duration::from_secs(2);

/// The next event of a stream. Once the answer is complete but for its end marker (`finished`),
/// a pause longer than [`AFTER_FINISH_GRACE`] or a connection that breaks ends the stream
/// instead of failing the answer.
pub async fn next_event(
    events: &mut futures::stream::BoxStream<'_, Result<super::sse::Event, CallError>>,
    finished: bool,
) -> Option<Result<super::sse::Event, CallError>> {
    use futures::StreamExt;
    if !finished {
        return events.next().await;
    }
    match tokio::time::timeout(AFTER_FINISH_GRACE, events.next()).await {
        Err(_) => None,
        Ok(Some(Err(e))) if matches!(e.kind, ErrorKind::BadBody | ErrorKind::Connection) => None,
        Ok(next) => next,
    }
}

/// The end of a streamed answer: a stream that closed before its `end` event is a truncated
/// body (retryable); a complete one has the keys scrubbed from its text.
pub fn finish_stream(
    mut a: Answer,
    completed: bool,
    end: &str,
    redactor: &Redactor,
) -> Result<Answer, CallError> {
    if !completed {
        return Err(CallError::new(
            ErrorKind::BadBody,
            format!(
                "the event stream ended before {end} (truncated after {} characters)",
                a.text.chars().count()
            ),
        ));
    }
    a.text = redactor.scrub(&a.text);
    Ok(a)
}

/// A finish (stop) reason: a short string, keys scrubbed, then kept up to 40 characters
/// without control characters; anything else (null, a number, an object) is no reason.
pub fn finish_reason(v: Option<&serde_json::Value>, redactor: &Redactor) -> Option<String> {
    let s = redactor.scrub(v?.as_str()?.trim());
    (!s.is_empty()).then(|| s.chars().filter(|c| !c.is_control()).take(40).collect())
}

/// Milliseconds since `t`.
pub fn ms_since(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

/// A non-negative integer at a JSON value, accepting a float or a numeric string.
pub fn as_count(v: Option<&serde_json::Value>) -> Option<u64> {
    let v = v?;
    v.as_u64()
        .or_else(|| {
            v.as_f64()
                .filter(|f| *f >= 0.0 && f.is_finite())
                .map(|f| f.round() as u64)
        })
        .or_else(|| v.as_str()?.trim().parse().ok())
}

/// A non-negative number at a JSON value, accepting a numeric string.
pub fn as_number(v: Option<&serde_json::Value>) -> Option<f64> {
    let v = v?;
    v.as_f64()
        .or_else(|| v.as_str()?.trim().parse().ok())
        .filter(|f: &f64| f.is_finite() && *f >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn retry_after_in_seconds_milliseconds_or_http_date() {
        let now: jiff::Timestamp = "2026-05-28T12:00:00Z".parse().unwrap();
        assert_eq!(
            retry_after(&hm(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(
                &hm(&[("retry-after", "Thu, 28 May 2026 12:00:30 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(
                &hm(&[("retry-after", "Thu, 28 May 2026 11:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(&hm(&[("retry-after-ms", "250"), ("retry-after", "9")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&hm(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&hm(&[("retry-after", "-3")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn error_bodies_parse_loosely() {
        let m = |b: &str| ErrorBody::parse(b.as_bytes()).message;
        assert_eq!(m(r#"{"error":"bad key"}"#), "bad key");
        assert_eq!(
            m(r#"{"error":{"code":"invalid_model","message":"no such model"}}"#),
            "no such model [invalid_model]"
        );
        assert_eq!(m(r#"{"message":"slow down"}"#), "slow down");
        assert_eq!(
            m(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
            "Overloaded [overloaded_error]"
        );
        assert_eq!(
            m("<html>502 Bad Gateway</html>"),
            "<html>502 Bad Gateway</html>"
        );
        assert_eq!(m(""), "(empty body)");
        let long = "x".repeat(1000);
        assert_eq!(m(&long).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn quota_exhaustion_is_told_from_a_throttle() {
        let q = |b: &str| ErrorBody::parse(b.as_bytes()).says_quota_exhausted();
        assert!(q(
            r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota"}}"#
        ));
        assert!(q(r#"{"error":"Your credit balance is too low"}"#));
        assert!(q(r#"{"error":"monthly quota exhausted"}"#));
        assert!(!q(
            r#"{"error":"Rate limit reached: 5 requests per minute"}"#
        ));
        assert!(!q(r#"{"error":"Quota exceeded for requests per minute"}"#));
        assert!(!q("Too Many Requests"));
    }

    #[test]
    fn statuses_map_to_kinds() {
        let r = Redactor::default();
        let kind = |s: u16, h: &[(&str, &str)], b: &str| {
            status_error(s, &hm(h), b.as_bytes(), "https://x.test/v1/a", &r)
        };
        assert_eq!(kind(429, &[], "slow").kind, ErrorKind::RateLimited);
        let e = kind(429, &[("retry-after", "2")], "slow");
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(
            kind(
                429,
                &[],
                r#"{"error":{"type":"insufficient_quota","message":"x"}}"#
            )
            .kind,
            ErrorKind::QuotaExhausted
        );
        assert_eq!(kind(402, &[], "pay").kind, ErrorKind::QuotaExhausted);
        assert_eq!(kind(401, &[], "").kind, ErrorKind::Auth);
        assert_eq!(kind(403, &[], "").kind, ErrorKind::Auth);
        assert_eq!(kind(404, &[], "").kind, ErrorKind::BadRequest);
        assert_eq!(kind(400, &[], "").kind, ErrorKind::BadRequest);
        assert_eq!(
            kind(503, &[("retry-after", "1")], "").retry_after,
            Some(Duration::from_secs(1))
        );
        assert_eq!(kind(529, &[], "overloaded").kind, ErrorKind::Server);
        assert!(kind(500, &[], "").kind.retryable());
        assert!(!kind(400, &[("retry-after", "1")], "").kind.retryable());
        assert_eq!(kind(400, &[("retry-after", "1")], "").retry_after, None);
    }

    #[test]
    fn a_redirect_to_www_names_the_fix() {
        let e = status_error(
            307,
            &hm(&[("location", "https://www.promptster.dev/v1/prompts/test")]),
            b"",
            "https://promptster.dev/v1/prompts/test",
            &Redactor::default(),
        );
        assert_eq!(e.kind, ErrorKind::Redirect);
        assert!(!e.kind.retryable());
        assert!(
            e.message.contains("https://www.promptster.dev/v1"),
            "{}",
            e.message
        );
    }

    #[test]
    fn keys_are_scrubbed_and_never_debug_printed() {
        let k = Key::from_literal("pk_live_0123456789abcdef");
        let r = Redactor::new([k.clone(), Key::from_literal("ab")]);
        assert_eq!(
            r.scrub("bad key pk_live_0123456789abcdef, ab"),
            "bad key [redacted], ab"
        );
        assert!(!format!("{k:?}").contains("0123456789"));
        let e = status_error(
            401,
            &HeaderMap::new(),
            br#"{"error":"invalid key pk_live_0123456789abcdef"}"#,
            "https://x.test/v1",
            &r,
        );
        assert!(!e.message.contains("0123456789abcdef"), "{}", e.message);
    }

    #[test]
    fn errors_inside_a_2xx_body_are_classified_like_their_status() {
        let r = Redactor::default();
        let kind = |v: serde_json::Value| {
            let err = v.get("error").cloned().unwrap_or(v.clone());
            let e = error_in_body(&err, &v, "in a 200", &r);
            assert_eq!(e.http_status, Some(200));
            e.kind
        };
        use serde_json::json;
        assert_eq!(
            kind(
                json!({"error":"Input validation error: `temperature` must be strictly positive","error_type":"validation"})
            ),
            ErrorKind::BadRequest
        );
        assert_eq!(
            kind(json!({"error":{"message":"The upstream timed out","code":504}})),
            ErrorKind::Server
        );
        assert_eq!(
            kind(json!({"error":{"message":"slow","code":"429"}})),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind(
                json!({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})
            ),
            ErrorKind::Server
        );
        assert_eq!(
            kind(json!({"error":{"type":"invalid_request_error","message":"prompt is too long"}})),
            ErrorKind::BadRequest
        );
        assert_eq!(
            kind(json!({"error":{"type":"authentication_error","message":"bad key"}})),
            ErrorKind::Auth
        );
        assert_eq!(
            kind(json!({"error":{"type":"insufficient_quota","message":"pay"}})),
            ErrorKind::QuotaExhausted
        );
        assert_eq!(kind(json!({"error":"something broke"})), ErrorKind::Server);
    }

    #[test]
    fn an_error_body_is_told_from_an_answer() {
        use serde_json::json;
        let answer = ["choices"];
        let v = json!({"error":{"message":"x"}});
        assert_eq!(body_error(&v, &answer), Some(&v["error"]));
        let v = json!({"detail":"model not found"});
        assert_eq!(body_error(&v, &answer), Some(&v));
        let v = json!({"choices":[],"message":"hello"});
        assert_eq!(body_error(&v, &answer), None);
        assert_eq!(body_error(&json!({"id":"x"}), &answer), None);
        assert_eq!(body_error(&json!({"message":{"role":"x"}}), &answer), None);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hé", 2), "hé");
    }
}
