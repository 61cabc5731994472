//! `openai`: OpenAI-compatible chat completions at any base URL (OpenAI, DeepSeek, Groq,
//! Cerebras, Gemini's compatible endpoint, OpenRouter, Together, Mistral, vLLM, Ollama,
//! llama.cpp server, a LiteLLM proxy).

use futures::future::BoxFuture;
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde_json::{Value, json};

use super::http::{self, Http, Key, Redactor, StreamReply};
use super::sse::Event;
use super::{Answer, CallError, CallRequest, CostSource, ErrorKind, Latency, Provider};
use crate::config::Endpoint;

/// Chat completions; the key is optional because local servers take none.
pub struct OpenAi {
    http: Http,
    key: Option<Key>,
    stream: bool,
    reasoning_room: u32,
}

impl OpenAi {
    pub fn new(ep: &Endpoint, key: Option<Key>) -> anyhow::Result<OpenAi> {
        Ok(OpenAi {
            http: Http::new(ep, Redactor::new(key.clone()))?,
            key,
            stream: ep.stream,
            reasoning_room: ep.reasoning_room_tokens,
        })
    }

    fn body(&self, req: &CallRequest) -> Value {
        let mut body = json!({
            "model": &*req.wire_name,
            "messages": chat_messages(req),
        });
        // A reasoning model's hidden reasoning counts against the same limit as its answer:
        // without room on top, a short limit is spent before the answer starts.
        let limit = if thinks(&req.wire_name) {
            req.max_tokens.saturating_add(self.reasoning_room)
        } else {
            req.max_tokens
        };
        if is_reasoning_model(&req.wire_name) {
            // OpenAI's reasoning models reject `max_tokens` and any temperature but their own.
            body["max_completion_tokens"] = json!(limit);
        } else {
            body["max_tokens"] = json!(limit);
            if let Some(t) = req.temperature {
                body["temperature"] = json!(t);
            }
        }
        if self.stream {
            body["stream"] = json!(true);
            // Without it OpenAI sends no usage when streaming; servers that ignore it are fine.
            body["stream_options"] = json!({"include_usage": true});
        }
        body
    }

    async fn ask(&self, req: &CallRequest) -> Result<Answer, CallError> {
        let mut headers = HeaderMap::new();
        if let Some(k) = &self.key {
            headers.insert(AUTHORIZATION, k.header("Bearer ")?);
        }
        let sent = self
            .http
            .post("/chat/completions", headers, &self.body(req))
            .await?;
        if self.stream {
            let t0 = sent.sent_at;
            // A streamed response's processing time covers only the start of the stream.
            return match self.http.stream_reply(sent).await? {
                StreamReply::Events(events) => self.read_stream(events, t0).await,
                // A server that ignored `stream`, or answered an error as plain JSON.
                StreamReply::Json(v) => parse_completion(&v, &self.http.redactor),
            };
        }
        let server_ms = processing_ms(sent.response.headers());
        let v = self.http.json(sent).await?;
        let mut a = parse_completion(&v, &self.http.redactor)?;
        a.server_latency_ms = server_ms;
        Ok(a)
    }

    /// The chunks of a streamed completion. It is complete at `data: [DONE]`, or at its end
    /// when a chunk gave a `finish_reason` (servers that never send `[DONE]`); a stream that
    /// ends without either was cut short.
    async fn read_stream(
        &self,
        mut events: futures::stream::BoxStream<'_, Result<Event, CallError>>,
        t0: std::time::Instant,
    ) -> Result<Answer, CallError> {
        let mut a = Answer {
            http_status: Some(200),
            ..Answer::default()
        };
        let mut done = false;
        while let Some(ev) = http::next_event(&mut events, a.finish_reason.is_some()).await {
            let ev = ev?;
            let data = ev.data.trim();
            if data == "[DONE]" {
                done = true;
                break;
            }
            if data.is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(data).map_err(|e| {
                CallError::new(
                    ErrorKind::BadBody,
                    format!(
                        "expected a JSON chunk in the event stream ({e}), found {}",
                        http::truncate(&self.http.redactor.scrub(data), 120)
                    ),
                )
            })?;
            // OpenRouter sends an error next to `choices` (finish_reason "error").
            let err = v
                .get("error")
                .or_else(|| http::body_error(&v, &["choices", "usage"]));
            if let Some(err) = err {
                // Proxies report upstream failures inside a 200 stream.
                return Err(http::error_in_body(
                    err,
                    &v,
                    "error inside the stream",
                    &self.http.redactor,
                ));
            }
            let piece = v
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !piece.is_empty() {
                if a.ttft_ms.is_none() {
                    a.ttft_ms = Some(http::ms_since(t0));
                }
                a.text.push_str(piece);
            }
            read_finish(
                v.pointer("/choices/0/finish_reason"),
                &mut a,
                &self.http.redactor,
            );
            read_usage(&v, &mut a);
        }
        let complete = done || a.finish_reason.is_some();
        http::finish_stream(
            a,
            complete,
            "data: [DONE] or a finish_reason",
            &self.http.redactor,
        )
    }
}

impl Provider for OpenAi {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(self.ask(req))
    }
}

/// Server-side processing time, when the server sends it (OpenAI and llama.cpp's server do).
fn processing_ms(h: &HeaderMap) -> Option<f64> {
    h.get("openai-processing-ms")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

fn read_finish(v: Option<&Value>, a: &mut Answer, redactor: &Redactor) {
    if let Some(r) = http::finish_reason(v, redactor) {
        a.finish_reason = Some(r);
    }
}

/// `usage` of a completion or a chunk: prompt and completion tokens (cached prompt tokens
/// included, as OpenAI counts them), cache hits (OpenAI `prompt_tokens_details.cached_tokens`,
/// DeepSeek `prompt_cache_hit_tokens`, xAI `cached_prompt_text_tokens`), reasoning tokens and a
/// reported cost.
fn read_usage(v: &Value, a: &mut Answer) {
    let Some(u) = v.get("usage").filter(|u| u.is_object()) else {
        return;
    };
    let hit = http::as_count(u.get("prompt_cache_hit_tokens"));
    let miss = http::as_count(u.get("prompt_cache_miss_tokens"));
    let prompt = http::as_count(u.get("prompt_tokens")).or(match (hit, miss) {
        (Some(h), Some(m)) => Some(h + m),
        _ => None,
    });
    a.input_tokens = prompt.or(a.input_tokens);
    a.output_tokens = http::as_count(u.get("completion_tokens")).or(a.output_tokens);
    let cached = http::as_count(u.pointer("/prompt_tokens_details/cached_tokens"))
        .or(hit)
        .or_else(|| http::as_count(u.get("cached_prompt_text_tokens")));
    let d = &mut a.usage;
    d.cache_read_tokens = cached.or(d.cache_read_tokens);
    d.cache_write_tokens = http::as_count(u.get("cache_creation_input_tokens"))
        .or(http::as_count(
            u.pointer("/prompt_tokens_details/cache_write_tokens"),
        ))
        .or(d.cache_write_tokens);
    d.reasoning_tokens = http::as_count(u.pointer("/completion_tokens_details/reasoning_tokens"))
        .or(d.reasoning_tokens);
    // OpenRouter and LiteLLM report the charge of the call with the usage.
    if let Some(c) = http::as_number(u.get("cost")) {
        a.cost = Some((c, CostSource::Reported));
    }
}

/// A non-streamed completion. Unknown fields are ignored; a body without choices is a bad
/// body, and one with an `error` instead is classified like the HTTP error it stands for.
pub fn parse_completion(v: &Value, redactor: &Redactor) -> Result<Answer, CallError> {
    if let Some(err) = http::body_error(v, &["choices"]) {
        return Err(http::error_in_body(
            err,
            v,
            "error in a 200 response",
            redactor,
        ));
    }
    let choice = v
        .pointer("/choices/0")
        .ok_or_else(|| http::bad_body("expected choices[0] in the completion", v, redactor))?;
    let content = choice
        .pointer("/message/content")
        .or_else(|| choice.get("text"))
        .ok_or_else(|| http::bad_body("expected choices[0].message.content", v, redactor))?;
    let text = match content {
        Value::String(s) => s.clone(),
        // A refusal or a reasoning-only answer: no text, still an answer.
        Value::Null => String::new(),
        // Content parts: keep the text ones.
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        _ => {
            return Err(http::bad_body(
                "expected choices[0].message.content to be text",
                v,
                redactor,
            ));
        }
    };
    let mut a = Answer {
        text: redactor.scrub(&text),
        latency: Latency::Measure,
        http_status: Some(200),
        ..Answer::default()
    };
    read_finish(choice.get("finish_reason"), &mut a, redactor);
    read_usage(v, &mut a);
    Ok(a)
}

/// Models that reason before they answer, with the reasoning counted against the output limit:
/// OpenAI's reasoning models, DeepSeek's reasoner and R1 family, QwQ, gpt-oss, Magistral,
/// grok-3-mini, and names that say `thinking` or `reasoning`.
pub(super) fn thinks(wire_name: &str) -> bool {
    if is_reasoning_model(wire_name) {
        return true;
    }
    let name = wire_name
        .rsplit('/')
        .next()
        .unwrap_or(wire_name)
        .to_ascii_lowercase();
    let words: Vec<&str> = name.split(['-', '_', ':', '.']).collect();
    words.iter().any(|w| {
        matches!(
            *w,
            "r1" | "qwq" | "reasoner" | "thinking" | "reasoning" | "magistral"
        )
    }) || name.starts_with("gpt-oss")
        || name.starts_with("grok-3-mini")
}

/// OpenAI's o-series and GPT-5 models (also behind a router prefix such as OpenRouter's
/// `openai/o3-mini`), which take `max_completion_tokens` and no `temperature`.
fn is_reasoning_model(wire_name: &str) -> bool {
    let name = wire_name
        .rsplit('/')
        .next()
        .unwrap_or(wire_name)
        .to_ascii_lowercase();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|p| {
        name.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.']))
    })
}

/// The request's turns as OpenAI `messages`: a chat item's conversation as it is (system,
/// user and assistant roles), else the prompt as the one user turn.
pub fn chat_messages(req: &CallRequest) -> Value {
    match &req.messages {
        Some(turns) => turns
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": &*m.content}))
            .collect(),
        None => json!([{"role": "user", "content": &*req.prompt}]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(wire_name: &str) -> CallRequest {
        CallRequest {
            model: crate::base::types::ModelId::parse("openai/x").unwrap(),
            wire_name: std::sync::Arc::from(wire_name),
            prompt: std::sync::Arc::from("hi"),
            messages: None,
            max_tokens: 64,
            temperature: Some(0.0),
            purpose: crate::provider::Purpose::Candidate,
            repeat: 0,
        }
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens_and_no_temperature() {
        let src = "[classifier]\nmodel = \"openai/x\"\n[endpoints.api]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:1/v1\"\n\
                   [models.\"openai/x\"]\nendpoint = \"api\"\ntier = \"budget\"\n\
                   input_per_mtok = 1.0\noutput_per_mtok = 1.0\n\
                   [default]\nprimary = \"openai/x\"\n";
        let cfg = crate::config::Config::parse(
            std::path::Path::new("routes.toml"),
            src.to_string(),
            crate::config::prices::PriceTable::shipped(),
            jiff::Timestamp::now(),
        )
        .unwrap();
        let p = OpenAi::new(&cfg.endpoints["api"], None).unwrap();
        for name in [
            "o3-mini",
            "o1",
            "gpt-5.2",
            "gpt-5-mini",
            "openai/o4-mini",
            "GPT-5",
        ] {
            let b = p.body(&request(name));
            // The answer's 64 tokens plus room for the hidden reasoning.
            assert_eq!(
                b["max_completion_tokens"],
                64 + crate::config::DEFAULT_REASONING_ROOM_TOKENS,
                "{name}"
            );
            assert!(
                b.get("max_tokens").is_none() && b.get("temperature").is_none(),
                "{name}"
            );
        }
        for name in [
            "gpt-4o",
            "gpt-4.1-mini",
            "o3x",
            "llama-3.3-70b",
            "gpt-50",
            "deepseek-chat",
            "r1x",
        ] {
            let b = p.body(&request(name));
            assert_eq!(b["max_tokens"], 64, "{name}");
            assert_eq!(b["temperature"], 0.0, "{name}");
            assert!(b.get("max_completion_tokens").is_none(), "{name}");
        }
        // Reasoning models that take max_tokens get the room there.
        for name in [
            "deepseek-reasoner",
            "deepseek-ai/DeepSeek-R1",
            "qwq-32b",
            "gpt-oss-120b",
            "claude-3-7-sonnet-thinking",
        ] {
            let b = p.body(&request(name));
            assert_eq!(
                b["max_tokens"],
                64 + crate::config::DEFAULT_REASONING_ROOM_TOKENS,
                "{name}"
            );
        }
    }

    #[test]
    fn cache_reasoning_and_finish_reason_are_read() {
        let r = Redactor::default();
        let v = json!({"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2006,"completion_tokens":300,
                "prompt_tokens_details":{"cached_tokens":1920},"completion_tokens_details":{"reasoning_tokens":200}}});
        let a = parse_completion(&v, &r).unwrap();
        assert_eq!((a.input_tokens, a.output_tokens), (Some(2006), Some(300)));
        assert_eq!(a.usage.cache_read_tokens, Some(1920));
        assert_eq!(a.usage.reasoning_tokens, Some(200));
        assert_eq!(a.finish_reason.as_deref(), Some("stop"));
        assert!(!a.truncated());
        // DeepSeek: hit + miss make the prompt.
        let v = json!({"choices":[{"message":{"content":""},"finish_reason":"length"}],
            "usage":{"completion_tokens":1024,"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}});
        let a = parse_completion(&v, &r).unwrap();
        assert_eq!(a.input_tokens, Some(100));
        assert_eq!(a.usage.cache_read_tokens, Some(64));
        assert!(a.truncated());
    }

    #[test]
    fn completion_text_usage_and_reported_cost() {
        let v = json!({"id":"x","object":"chat.completion","model":"m",
            "choices":[{"index":0,"message":{"role":"assistant","content":"84"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":33,"completion_tokens":2,"total_tokens":35,"cost":0.0001},
            "system_fingerprint":"fp"});
        let a = parse_completion(&v, &Redactor::default()).unwrap();
        assert_eq!(a.text, "84");
        assert_eq!((a.input_tokens, a.output_tokens), (Some(33), Some(2)));
        assert_eq!(a.cost, Some((0.0001, CostSource::Reported)));
    }

    #[test]
    fn null_content_is_an_empty_answer_and_missing_choices_a_bad_body() {
        let v = json!({"choices":[{"message":{"role":"assistant","content":null}}]});
        let a = parse_completion(&v, &Redactor::default()).unwrap();
        assert_eq!(a.text, "");
        assert_eq!(a.input_tokens, None);
        let e = parse_completion(&json!({"id":"x"}), &Redactor::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadBody);
        assert!(e.kind.retryable());
        let e = parse_completion(
            &json!({"error":{"message":"upstream timeout","code":504}}),
            &Redactor::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Server);
        assert!(e.message.contains("upstream timeout"), "{}", e.message);
    }
}
