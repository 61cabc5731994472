//! `promptster`: `POST {base}/prompts/test`, one prompt to one provider/model.
//!
//! Only part of the API is published, and two documents show two response shapes, so the client
//! is strict on what it sends and tolerant on what it reads: the text under `response` or
//! `result`, metadata at the top level or under `metadata`, every field optional, unknown
//! fields ignored.

use std::collections::BTreeMap;

use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName};
use serde_json::{Value, json};

use super::http::{self, Http, Key, Redactor};
use super::{Answer, CallError, CallRequest, CostSource, Latency, Provider, UsageDetail};
use crate::config::Endpoint;

/// Free `pk_test_` keys are limited to this many requests a minute by the service.
pub const TEST_KEY_REQUESTS_PER_MINUTE: u32 = 5;

pub struct Promptster {
    http: Http,
    key: Key,
    /// Provider name → the header and key of a bring-your-own provider key.
    provider_keys: BTreeMap<String, (HeaderName, Key)>,
    reasoning_room: u32,
}

impl Promptster {
    pub fn new(
        ep: &Endpoint,
        key: Key,
        provider_keys: BTreeMap<String, (HeaderName, Key)>,
    ) -> anyhow::Result<Promptster> {
        let mut secrets = vec![key.clone()];
        secrets.extend(provider_keys.values().map(|(_, k)| k.clone()));
        Ok(Promptster {
            http: Http::new(ep, Redactor::new(secrets))?,
            key,
            provider_keys,
            reasoning_room: ep.reasoning_room_tokens,
        })
    }

    /// Whether the key is a free test key (the service allows it 5 requests a minute).
    pub fn is_test_key(&self) -> bool {
        self.key.starts_with("pk_test_")
    }

    async fn ask(&self, req: &CallRequest) -> Result<Answer, CallError> {
        if req.messages.as_ref().is_some_and(|m| m.len() > 1) {
            // `/prompts/test` takes one prompt: flattening turns into it would measure another
            // question.
            return Err(CallError::new(
                super::ErrorKind::BadRequest,
                "promptster's /prompts/test takes one prompt, not a conversation: \
                 give chat items to an openai or anthropic endpoint",
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.key.header("Bearer ")?);
        if let Some((name, k)) = self.provider_keys.get(req.model.provider()) {
            headers.insert(name.clone(), k.header("")?);
        }
        let mut body = json!({
            "provider": req.model.provider(),
            "model": &*req.wire_name,
            "prompt": &*req.prompt,
            // A reasoning model gets room for its hidden reasoning, as on an openai endpoint.
            "max_tokens": if super::openai::thinks(&req.wire_name) {
                req.max_tokens.saturating_add(self.reasoning_room)
            } else {
                req.max_tokens
            },
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        let sent = self.http.post("/prompts/test", headers, &body).await?;
        let v = self.http.json(sent).await?;
        if let Some(err) = http::body_error(&v, &["response", "result"]) {
            return Err(http::error_in_body(
                err,
                &v,
                "error in a 200 response",
                &self.http.redactor,
            ));
        }
        parse_test_response(&v, &self.http.redactor)
    }
}

impl Provider for Promptster {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(self.ask(req))
    }

    fn default_requests_per_minute(&self) -> Option<(u32, &'static str)> {
        self.is_test_key()
            .then_some((TEST_KEY_REQUESTS_PER_MINUTE, "a pk_test_ key"))
    }
}

/// Either documented shape of a `/prompts/test` answer.
pub fn parse_test_response(v: &Value, redactor: &Redactor) -> Result<Answer, CallError> {
    let text = ["response", "result"]
        .iter()
        .find_map(|k| v.get(*k).and_then(Value::as_str))
        .ok_or_else(|| {
            http::bad_body(
                "expected the answer under response (or result)",
                v,
                redactor,
            )
        })?;
    let meta = v.get("metadata").filter(|m| m.is_object());
    // A field under metadata wins over the same field at the top level.
    let field = |k: &str| meta.and_then(|m| m.get(k)).or_else(|| v.get(k));
    let count = |keys: &[&str]| keys.iter().find_map(|k| http::as_count(field(k)));
    Ok(Answer {
        text: redactor.scrub(text),
        input_tokens: http::as_count(field("input_tokens")),
        output_tokens: http::as_count(field("output_tokens")),
        usage: UsageDetail {
            cache_read_tokens: count(&[
                "cache_read_tokens",
                "cached_tokens",
                "cache_read_input_tokens",
            ]),
            cache_write_tokens: count(&["cache_write_tokens", "cache_creation_input_tokens"]),
            reasoning_tokens: count(&["reasoning_tokens"]),
        },
        finish_reason: ["finish_reason", "stop_reason"]
            .iter()
            .find_map(|k| http::finish_reason(field(k), redactor)),
        cost: http::as_number(field("cost_usd")).map(|c| (c, CostSource::Reported)),
        latency: Latency::Measure,
        server_latency_ms: http::as_number(field("latency_ms")),
        ttft_ms: None,
        grade: None,
        http_status: Some(200),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_shape() {
        let v = json!({"id":"test_abc123","provider":"anthropic","model":"claude-sonnet-4-20250514",
            "prompt":"hi","response":"Hello there, how are you?",
            "metadata":{"input_tokens":13,"output_tokens":8,"total_tokens":21,"cost_usd":0.00004,"latency_ms":612}});
        let a = parse_test_response(&v, &Redactor::default()).unwrap();
        assert_eq!(a.text, "Hello there, how are you?");
        assert_eq!((a.input_tokens, a.output_tokens), (Some(13), Some(8)));
        assert_eq!(a.cost, Some((0.00004, CostSource::Reported)));
        assert_eq!(a.server_latency_ms, Some(612.0));
    }

    #[test]
    fn quick_start_shape_and_missing_metadata() {
        let v = json!({"result":"Hi","metadata":{"provider":"openai","model":"gpt-4o","latency_ms":"88","extra":[1]}});
        let a = parse_test_response(&v, &Redactor::default()).unwrap();
        assert_eq!(a.text, "Hi");
        assert_eq!(a.server_latency_ms, Some(88.0));
        assert_eq!(a.cost, None);
        assert_eq!(a.input_tokens, None);
        let a = parse_test_response(
            &json!({"response":"x","input_tokens":4}),
            &Redactor::default(),
        )
        .unwrap();
        assert_eq!(a.input_tokens, Some(4));
        let e = parse_test_response(&json!({"metadata":{}}), &Redactor::default()).unwrap_err();
        assert_eq!(e.kind, super::super::ErrorKind::BadBody);
    }
}
