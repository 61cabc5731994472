//! `replay`: answers from a recording file, keyed by model and the SHA-256 of the prompt.
//! A prompt that was not recorded is an error row, never an invented answer.

use std::collections::HashMap;
use std::path::Path;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{
    Answer, CallError, CallRequest, CostSource, ErrorKind, Latency, LatencySource, Provider,
};
use crate::config::{LatencyModel, Model};
use crate::error::{InputError, InputErrors};
use crate::grade::RecordedGrade;
use crate::tokens;
use crate::types::{ModelId, sha256_hex};

/// One line of a recording (also what `run --record` writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedAnswer {
    pub model: String,
    pub prompt_sha256: String,
    pub response: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Prompt-cache and reasoning counts, as the provider reported them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u64>,
    /// Why the model stopped (`stop`, `length`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_latency_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<RecordedGrade>,
    /// Which repeat of the prompt this answer was (0-based). Without it, the answers of one
    /// model to one prompt are taken as repeats in file order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat: Option<u32>,
}

/// A loaded recording.
pub struct Recording {
    answers: HashMap<(String, String), Vec<RecordedAnswer>>,
    latency_models: HashMap<ModelId, LatencyModel>,
}

impl Recording {
    /// Load a recording; `models` are the models served from it (for their latency models).
    pub fn open(path: &Path, models: Vec<Model>) -> anyhow::Result<Recording> {
        let bytes = std::fs::read(path)
            .map_err(|e| InputError::new(path, format!("cannot read the recording: {e}")))?;
        let mut rec = Recording::parse(path, &bytes)?;
        rec.latency_models = models
            .into_iter()
            .filter_map(|m| Some((m.id, m.latency_model?)))
            .collect();
        Ok(rec)
    }

    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Recording, InputErrors> {
        let mut answers: HashMap<(String, String), Vec<RecordedAnswer>> = HashMap::new();
        let mut errs = Vec::new();
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
            if errs.len() >= 20 {
                break;
            }
            if raw.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let at = |m: String| InputError::new(path, m).at_line(i + 1);
            let r: RecordedAnswer = match serde_json::from_slice(raw) {
                Ok(r) => r,
                Err(e) => {
                    errs.push(at(format!("not a recorded answer: {e}")));
                    continue;
                }
            };
            if r.prompt_sha256.len() != 64
                || !r.prompt_sha256.bytes().all(|b| b.is_ascii_hexdigit())
            {
                errs.push(at("must be 64 hex digits".into()).field("prompt_sha256"));
                continue;
            }
            answers
                .entry((r.model.clone(), r.prompt_sha256.to_ascii_lowercase()))
                .or_default()
                .push(r);
        }
        if errs.is_empty() {
            Ok(Recording {
                answers,
                latency_models: HashMap::new(),
            })
        } else {
            Err(InputErrors(errs))
        }
    }

    pub fn len(&self) -> usize {
        self.answers.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    fn answer(&self, req: &CallRequest) -> Result<Answer, CallError> {
        let key = (
            req.model.as_str().to_string(),
            sha256_hex(req.prompt.as_bytes()),
        );
        let recorded = self
            .answers
            .get(&key)
            .and_then(|v| {
                if v.iter().any(|r| r.repeat.is_some()) {
                    v.iter().find(|r| r.repeat == Some(req.repeat))
                } else {
                    v.get(req.repeat as usize)
                }
            })
            .ok_or_else(|| {
                CallError::new(
                    ErrorKind::NotRecorded,
                    format!(
                        "no recorded answer of {} for prompt {} (repeat {})",
                        req.model,
                        &key.1[..12],
                        req.repeat
                    ),
                )
            })?;
        let output_tokens = recorded
            .output_tokens
            .unwrap_or_else(|| tokens::estimate(&recorded.response));
        let latency = match (recorded.latency_ms, self.latency_models.get(&req.model)) {
            (Some(ms), _) => Latency::Given(ms, LatencySource::Recorded),
            (None, Some(lm)) => Latency::Given(
                lm.ttft_ms + lm.ms_per_output_token * output_tokens as f64,
                LatencySource::Modelled,
            ),
            (None, None) => Latency::Unknown,
        };
        Ok(Answer {
            text: recorded.response.clone(),
            input_tokens: recorded.input_tokens,
            output_tokens: recorded.output_tokens,
            usage: super::UsageDetail {
                cache_read_tokens: recorded.cache_read_tokens,
                cache_write_tokens: recorded.cache_write_tokens,
                reasoning_tokens: recorded.reasoning_tokens,
            },
            finish_reason: recorded.finish_reason.clone(),
            cost: recorded.cost_usd.map(|c| (c, CostSource::Recorded)),
            latency,
            server_latency_ms: recorded.server_latency_ms,
            ttft_ms: recorded.ttft_ms,
            grade: recorded.grade.clone(),
            http_status: None,
        })
    }
}

impl Provider for Recording {
    fn call<'a>(&'a self, req: &'a CallRequest) -> BoxFuture<'a, Result<Answer, CallError>> {
        Box::pin(std::future::ready(self.answer(req)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Purpose;
    use std::sync::Arc;

    fn req(model: &str, prompt: &str, repeat: u32) -> CallRequest {
        CallRequest {
            model: ModelId::parse(model).unwrap(),
            wire_name: Arc::from("x"),
            prompt: Arc::from(prompt),
            max_tokens: 10,
            temperature: None,
            purpose: Purpose::Candidate,
            repeat,
        }
    }

    #[test]
    fn finds_by_model_and_prompt_hash_and_never_invents() {
        let line = format!(
            r#"{{"model":"a/m","prompt_sha256":"{}","response":"four","latency_ms":12.5,"cost_usd":0.001,"grade":{{"score":1.0}}}}"#,
            sha256_hex(b"2+2?")
        );
        let rec = Recording::parse(Path::new("r.jsonl"), line.as_bytes()).unwrap();
        let a = rec.answer(&req("a/m", "2+2?", 0)).unwrap();
        assert_eq!(a.text, "four");
        assert_eq!(a.latency, Latency::Given(12.5, LatencySource::Recorded));
        assert_eq!(a.cost, Some((0.001, CostSource::Recorded)));
        assert_eq!(
            rec.answer(&req("a/m", "2+3?", 0)).unwrap_err().kind,
            ErrorKind::NotRecorded
        );
        assert_eq!(
            rec.answer(&req("b/m", "2+2?", 0)).unwrap_err().kind,
            ErrorKind::NotRecorded
        );
        assert_eq!(
            rec.answer(&req("a/m", "2+2?", 1)).unwrap_err().kind,
            ErrorKind::NotRecorded
        );
    }

    #[test]
    fn a_repeat_field_picks_the_answer_whatever_the_line_order() {
        let sha = sha256_hex(b"2+2?");
        let body = format!(
            "{{\"model\":\"a/m\",\"prompt_sha256\":\"{sha}\",\"response\":\"second\",\"repeat\":1,\"server_latency_ms\":3.0}}\n\
             {{\"model\":\"a/m\",\"prompt_sha256\":\"{sha}\",\"response\":\"first\",\"repeat\":0}}\n"
        );
        let rec = Recording::parse(Path::new("r.jsonl"), body.as_bytes()).unwrap();
        assert_eq!(rec.answer(&req("a/m", "2+2?", 0)).unwrap().text, "first");
        let second = rec.answer(&req("a/m", "2+2?", 1)).unwrap();
        assert_eq!(second.text, "second");
        assert_eq!(second.server_latency_ms, Some(3.0));
        assert_eq!(
            rec.answer(&req("a/m", "2+2?", 2)).unwrap_err().kind,
            ErrorKind::NotRecorded
        );
    }

    #[test]
    fn bad_lines_are_located() {
        let e = Recording::parse(Path::new("r.jsonl"), b"\n{\"model\":\"a/m\"}\n")
            .err()
            .unwrap();
        assert_eq!(e.0[0].line, Some(2));
    }
}
