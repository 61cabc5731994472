//! `anthropic`: the Messages API (`POST {base}/messages`, `x-api-key`, `anthropic-version`),
//! plain or streamed.

use futures::StreamExt;
use futures::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::http::{self, Http, Key, Redactor, Sent};
use super::{Answer, CallError, CallRequest, ErrorKind, Latency, Provider};
use crate::config::Endpoint;

pub struct Anthropic {
    http: Http,
    key: Key,
    version: HeaderValue,
    stream: bool,
}

impl Anthropic {
    pub fn new(ep: &Endpoint, key: Key) -> anyhow::Result<Anthropic> {
        let version = HeaderValue::from_str(&ep.anthropic_version).map_err(|_| {
            anyhow::anyhow!(
                "endpoint {:?}: anthropic_version {:?} cannot be sent as a header",
                ep.name,
                ep.anthropic_version
            )
        })?;
        Ok(Anthropic {
            http: Http::new(ep, Redactor::new([key.clone()]))?,
            key,
            version,
            stream: ep.stream,
        })
    }

    fn body(&self, req: &CallRequest) -> Value {
        let mut body = json!({
            "model": &*req.wire_name,
            "max_tokens": req.max_tokens,
            "messages": [{"role": "user", "content": &*req.prompt}],
        });
        if let Some(t) = req.temperature {
            // The Messages API takes 0..1; routes.toml allows OpenAI's 0..2.
            body["temperature"] = json!(t.min(1.0));
        }
        if self.stream {
            body["stream"] = json!(true);
        }
        body
    }

    async fn ask(&self, req: &CallRequest) -> Result<Answer, CallError> {
        let headers = http::headers([
            (HeaderName::from_static("x-api-key"), self.key.header("")?),
            (
                HeaderName::from_static("anthropic-version"),
                self.version.clone(),
            ),
        ]);
        let sent = self
            .http
            .post("/messages", headers, &self.body(req))
            .await?;
        if self.stream {
            self.read_stream(sent).await
        } else {
            let v = self.http.json(sent).await?;
            parse_message(&v, &self.http.redactor)
        }
    }

    async fn read_stream(&self, sent: Sent) -> Result<Answer, CallError> {
        let t0 = sent.sent_at;
        let mut events = std::pin::pin!(self.http.events(sent));
        let mut a = Answer {
            http_status: Some(200),
            ..Answer::default()
        };
        let mut stopped = false;
        while let Some(ev) = events.next().await {
            let ev = ev?;
            if ev.data.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                CallError::new(
                    ErrorKind::BadBody,
                    format!(
                        "expected a JSON event in the stream ({e}), found {}",
                        self.http.redactor.scrub(&http::truncate(&ev.data, 120))
                    ),
                )
            })?;
            let kind = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or(ev.event.as_str());
            match kind {
                "message_start" => read_usage(v.pointer("/message/usage"), &mut a),
                "content_block_delta" => {
                    if let Some(t) = v.pointer("/delta/text").and_then(Value::as_str)
                        && !t.is_empty()
                    {
                        if a.ttft_ms.is_none() {
                            a.ttft_ms = Some(http::ms_since(t0));
                        }
                        a.text.push_str(t);
                    }
                }
                "message_delta" => read_usage(v.get("usage"), &mut a),
                "message_stop" => {
                    stopped = true;
                    break;
                }
                // Anthropic reports an overload in the middle of a 200 stream this way.
                "error" => {
                    return Err(CallError::new(
                        ErrorKind::Server,
                        format!(
                            "error event in the stream: {}",
                            self.http
                                .redactor
                                .scrub(&http::ErrorBody::parse(ev.data.as_bytes()).message)
                        ),
                    ));
                }
                _ => {}
            }
        }
        http::finish_stream(a, stopped, "message_stop", &self.http.redactor)
    }
}

impl Provider for Anthropic {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(self.ask(req))
    }
}

fn read_usage(u: Option<&Value>, a: &mut Answer) {
    let Some(u) = u else { return };
    a.input_tokens = http::as_count(u.get("input_tokens")).or(a.input_tokens);
    a.output_tokens = http::as_count(u.get("output_tokens")).or(a.output_tokens);
}

/// A non-streamed message: the text blocks joined; other blocks (thinking, tool use) skipped.
pub fn parse_message(v: &Value, redactor: &Redactor) -> Result<Answer, CallError> {
    let blocks = v
        .get("content")
        .and_then(Value::as_array)
        .ok_or_else(|| http::bad_body("expected a content array in the message", v, redactor))?;
    let text: String = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str).unwrap_or("text") == "text")
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let mut a = Answer {
        text: redactor.scrub(&text),
        latency: Latency::Measure,
        http_status: Some(200),
        ..Answer::default()
    };
    read_usage(v.get("usage"), &mut a);
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_blocks_are_joined_and_usage_read() {
        let v = json!({"id":"msg_1","type":"message","role":"assistant","model":"claude-x",
            "content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hello"},{"type":"text","text":" there"}],
            "stop_reason":"end_turn","usage":{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":0}});
        let a = parse_message(&v, &Redactor::default()).unwrap();
        assert_eq!(a.text, "Hello there");
        assert_eq!((a.input_tokens, a.output_tokens), (Some(12), Some(3)));
        assert_eq!(a.cost, None);
        let e = parse_message(&json!({"type":"message"}), &Redactor::default()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadBody);
    }
}
