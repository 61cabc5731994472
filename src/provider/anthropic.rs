//! `anthropic`: the Messages API (`POST {base}/messages`, `x-api-key`, `anthropic-version`),
//! plain or streamed.

use futures::future::BoxFuture;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::http::{self, Http, Key, Redactor, StreamReply};
use super::sse::Event;
use super::{Answer, CallError, CallRequest, ErrorKind, Latency, Provider};
use crate::config::Endpoint;
use crate::dataset::Role;

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
        if let Some(turns) = &req.messages {
            // The Messages API takes the system prompt as a top-level field, not a turn.
            let (system, rest) = match turns.split_first() {
                Some((first, rest)) if first.role == Role::System => (Some(first), rest),
                _ => (None, &turns[..]),
            };
            if let Some(s) = system {
                body["system"] = json!(&*s.content);
            }
            body["messages"] = rest
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": &*m.content}))
                .collect();
        }
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
        if !self.stream {
            let v = self.http.json(sent).await?;
            return parse_message(&v, &self.http.redactor);
        }
        let t0 = sent.sent_at;
        match self.http.stream_reply(sent).await? {
            StreamReply::Events(events) => self.read_stream(events, t0).await,
            // A server that ignored `stream`, or answered an error as plain JSON.
            StreamReply::Json(v) => parse_message(&v, &self.http.redactor),
        }
    }

    /// The events of a streamed message. It is complete at `message_stop`, or at its end when
    /// a `message_delta` gave the `stop_reason`; a stream that ends without either was cut short.
    async fn read_stream(
        &self,
        mut events: futures::stream::BoxStream<'_, Result<Event, CallError>>,
        t0: std::time::Instant,
    ) -> Result<Answer, CallError> {
        let mut a = Answer {
            http_status: Some(200),
            ..Answer::default()
        };
        let mut stopped = false;
        while let Some(ev) = http::next_event(&mut events, a.finish_reason.is_some()).await {
            let ev = ev?;
            if ev.data.trim().is_empty() {
                continue;
            }
            let v: Value = serde_json::from_str(&ev.data).map_err(|e| {
                CallError::new(
                    ErrorKind::BadBody,
                    format!(
                        "expected a JSON event in the stream ({e}), found {}",
                        http::truncate(&self.http.redactor.scrub(&ev.data), 120)
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
                "message_delta" => {
                    if let Some(r) =
                        http::finish_reason(v.pointer("/delta/stop_reason"), &self.http.redactor)
                    {
                        a.finish_reason = Some(r);
                    }
                    read_usage(v.get("usage"), &mut a);
                }
                "message_stop" => {
                    stopped = true;
                    break;
                }
                // Anthropic reports an overload in the middle of a 200 stream this way.
                "error" => {
                    let err = v.get("error").unwrap_or(&v);
                    return Err(http::error_in_body(
                        err,
                        &v,
                        "error event in the stream",
                        &self.http.redactor,
                    ));
                }
                _ => {}
            }
        }
        let complete = stopped || a.finish_reason.is_some();
        http::finish_stream(
            a,
            complete,
            "message_stop or a stop_reason",
            &self.http.redactor,
        )
    }
}

impl Provider for Anthropic {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(self.ask(req))
    }
}

/// `usage` of a message (or of a stream event). Anthropic's `input_tokens` leaves out the
/// cached prompt tokens; the answer's input is the whole prompt: uncached + cache reads +
/// cache writes. Later events repeat or update earlier counts.
fn read_usage(u: Option<&Value>, a: &mut Answer) {
    let Some(u) = u.filter(|u| u.is_object()) else {
        return;
    };
    let d = &mut a.usage;
    d.cache_read_tokens = http::as_count(u.get("cache_read_input_tokens")).or(d.cache_read_tokens);
    d.cache_write_tokens =
        http::as_count(u.get("cache_creation_input_tokens")).or(d.cache_write_tokens);
    if let Some(uncached) = http::as_count(u.get("input_tokens")) {
        let cached = d.cache_read_tokens.unwrap_or(0) + d.cache_write_tokens.unwrap_or(0);
        a.input_tokens = Some(uncached + cached);
    }
    a.output_tokens = http::as_count(u.get("output_tokens")).or(a.output_tokens);
}

/// A non-streamed message: the text blocks joined; other blocks (thinking, tool use) skipped.
/// A body with an `error` (`{"type":"error","error":{…}}`) is classified like its HTTP error.
pub fn parse_message(v: &Value, redactor: &Redactor) -> Result<Answer, CallError> {
    if let Some(err) = http::body_error(v, &["content"]) {
        return Err(http::error_in_body(
            err,
            v,
            "error in a 200 response",
            redactor,
        ));
    }
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
        finish_reason: http::finish_reason(v.get("stop_reason"), redactor),
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

    #[test]
    fn cached_input_is_part_of_the_input_and_max_tokens_is_a_truncation() {
        let v = json!({"content":[{"type":"text","text":"Hel"}],"stop_reason":"max_tokens",
            "usage":{"input_tokens":100,"cache_read_input_tokens":600,"cache_creation_input_tokens":300,"output_tokens":5}});
        let a = parse_message(&v, &Redactor::default()).unwrap();
        assert_eq!(a.input_tokens, Some(1000));
        assert_eq!(a.usage.cache_read_tokens, Some(600));
        assert_eq!(a.usage.cache_write_tokens, Some(300));
        assert!(a.truncated());
        let e = parse_message(
            &json!({"type":"error","error":{"type":"invalid_request_error","message":"bad"}}),
            &Redactor::default(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadRequest);
    }
}
