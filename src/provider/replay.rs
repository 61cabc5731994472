//! `replay`: answers from a recording file, keyed by model and the SHA-256 of the prompt.
//! A prompt that was not recorded is an error row, never an invented answer.

use std::collections::HashMap;
use std::path::Path;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::{
    Answer, CallError, CallRequest, CostSource, ErrorKind, Latency, LatencySource, Provider,
};
use crate::base::error::{InputError, InputErrors};
use crate::base::jsonl::{Line, Lines, StrictError, parse_strict};
use crate::base::types::{ModelId, sha256_hex};
use crate::config::{LatencyModel, Model};
use crate::grade::RecordedGrade;
use crate::provider::tokens;

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
    /// Prompt-cache and reasoning counts, as the provider reported them (top-level keys).
    #[serde(flatten)]
    pub usage: super::UsageDetail,
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

/// Longest accepted recording line (a recorded answer can be long; the dataset's limit is 16 MiB).
pub const MAX_RECORDING_LINE_BYTES: usize = 64 << 20;

/// One recording line: none when blank, else the answer or the field at fault and why.
fn parse_line(raw: Line) -> Result<Option<RecordedAnswer>, (Option<String>, String)> {
    let raw = match raw {
        Line::TooLong(len) => {
            return Err((
                None,
                format!(
                    "the line is {len} bytes; the limit is {} MiB",
                    MAX_RECORDING_LINE_BYTES >> 20
                ),
            ));
        }
        Line::Text(raw) => raw,
    };
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let text = std::str::from_utf8(raw).map_err(|e| {
        (
            None,
            format!("not valid UTF-8 (at byte {} of the line)", e.valid_up_to()),
        )
    })?;
    let v = parse_strict(text).map_err(|e| match &e {
        StrictError::DuplicateKey(k) => (Some(k.clone()), e.to_string()),
        StrictError::Syntax(m) => (None, format!("not a recorded answer: {m}")),
    })?;
    let r: RecordedAnswer =
        serde_json::from_value(v).map_err(|e| (None, format!("not a recorded answer: {e}")))?;
    if r.prompt_sha256.len() != 64 || !r.prompt_sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err((Some("prompt_sha256".into()), "must be 64 hex digits".into()));
    }
    Ok(Some(r))
}

/// A loaded recording.
pub struct Recording {
    answers: HashMap<(String, String), Vec<RecordedAnswer>>,
    latency_models: HashMap<ModelId, LatencyModel>,
}

impl Recording {
    /// Load a recording; `models` are the models served from it (for their latency models).
    /// The file is read line by line: no line longer than [`MAX_RECORDING_LINE_BYTES`] is held.
    pub fn open(path: &Path, models: Vec<Model>) -> anyhow::Result<Recording> {
        let file = std::fs::File::open(path)
            .map_err(|e| InputError::new(path, format!("cannot read the recording: {e}")))?;
        let mut rec = Recording::read(path, std::io::BufReader::with_capacity(1 << 16, file))?;
        rec.latency_models = models
            .into_iter()
            .filter_map(|m| Some((m.id, m.latency_model?)))
            .collect();
        Ok(rec)
    }

    /// A recording held in memory (tests).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Recording, InputErrors> {
        Recording::read(path, bytes)
    }

    fn read(path: &Path, source: impl std::io::BufRead) -> Result<Recording, InputErrors> {
        let mut answers: HashMap<(String, String), Vec<RecordedAnswer>> = HashMap::new();
        let mut errs = Vec::new();
        let mut lines = Lines::new(source, MAX_RECORDING_LINE_BYTES);
        while errs.len() < 20 {
            let (line, raw) = match lines.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => break,
                Err(e) => {
                    errs.push(InputError::new(
                        path,
                        format!("cannot read the recording: {e}"),
                    ));
                    break;
                }
            };
            let at = |m: String| InputError::new(path, m).at_line(line);
            match parse_line(raw) {
                Ok(None) => {}
                Ok(Some(r)) => answers
                    .entry((r.model.clone(), r.prompt_sha256.to_ascii_lowercase()))
                    .or_default()
                    .push(r),
                Err((field, m)) => errs.push(match field {
                    Some(f) => at(m).field(f),
                    None => at(m),
                }),
            }
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

    /// Whether the recording holds an answer (any repeat) of `model` to the conversation whose
    /// key text ([`CallRequest::key_text`]) hashes to `sha256` (hex).
    pub(crate) fn holds(&self, model: &str, sha256: &str) -> bool {
        self.answers
            .contains_key(&(model.to_string(), sha256.to_ascii_lowercase()))
    }

    fn answer(&self, req: &CallRequest) -> Result<Answer, CallError> {
        let key = (
            req.model.as_str().to_string(),
            sha256_hex(req.key_text().as_bytes()),
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
            usage: recorded.usage,
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
            messages: None,
            max_tokens: 10,
            temperature: None,
            purpose: Purpose::Candidate,
            repeat,
        }
    }

    #[test]
    fn usage_counts_are_read_and_unknown_keys_still_refused() {
        let sha = sha256_hex(b"2+2?");
        let line = format!(
            r#"{{"model":"a/m","prompt_sha256":"{sha}","response":"4","cache_read_tokens":7,"reasoning_tokens":3}}"#
        );
        let rec = Recording::parse(Path::new("r.jsonl"), line.as_bytes()).unwrap();
        let a = rec.answer(&req("a/m", "2+2?", 0)).unwrap();
        assert_eq!(a.usage.cache_read_tokens, Some(7));
        assert_eq!(a.usage.cache_write_tokens, None);
        assert_eq!(a.usage.reasoning_tokens, Some(3));
        let typo = format!(
            r#"{{"model":"a/m","prompt_sha256":"{sha}","response":"4","cache_reads_tokens":7}}"#
        );
        let err = Recording::parse(Path::new("r.jsonl"), typo.as_bytes())
            .err()
            .expect("an unknown key is refused");
        assert!(format!("{err}").contains("cache_reads_tokens"), "{err}");
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

    #[test]
    fn duplicate_keys_and_long_lines_are_refused() {
        let sha = "a".repeat(64);
        let line = format!(
            r#"{{"model":"a/m","prompt_sha256":"{sha}","response":"one","response":"two"}}"#
        );
        let e = Recording::parse(Path::new("r.jsonl"), format!("\n{line}\n").as_bytes())
            .err()
            .unwrap();
        assert_eq!(
            (e.0[0].line, e.0[0].field.as_deref()),
            (Some(2), Some("response"))
        );
        let mut big = Vec::new();
        big.extend(std::iter::repeat_n(b' ', MAX_RECORDING_LINE_BYTES + 1));
        let e = Recording::parse(Path::new("r.jsonl"), &big).err().unwrap();
        assert!(e.0[0].message.contains("the limit is 64 MiB"), "{}", e.0[0]);
    }
}
