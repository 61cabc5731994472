//! `run --record FILE`: every live answer as a replay recording line, written as it arrives, so
//! that a live run can be re-derived offline with a replay endpoint.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::base::error::UsageError;
use crate::base::types::{ModelId, sha256_hex};
use crate::provider::{Answer, CostSource, Latency, RecordedAnswer};

/// An open recording file (created empty, or truncated, when the run starts).
pub struct RecordWriter {
    path: PathBuf,
    out: BufWriter<File>,
    pub lines: usize,
}

impl RecordWriter {
    /// Create (or truncate) `path` before any call is made, so a bad path costs nothing.
    pub fn create(path: &Path) -> anyhow::Result<RecordWriter> {
        Self::open(
            path,
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true),
            "create",
        )
    }

    /// Open `path` for appending (a resumed run adds to the recording of its earlier part).
    pub fn append_to(path: &Path) -> anyhow::Result<RecordWriter> {
        Self::open(
            path,
            std::fs::OpenOptions::new().create(true).append(true),
            "open",
        )
    }

    fn open(path: &Path, how: &std::fs::OpenOptions, verb: &str) -> anyhow::Result<RecordWriter> {
        let file = how.open(path).map_err(|e| {
            UsageError(format!(
                "--record {}: cannot {verb} the recording: {e}",
                path.display()
            ))
        })?;
        Ok(RecordWriter {
            path: path.to_path_buf(),
            out: BufWriter::new(file),
            lines: 0,
        })
    }

    /// Append a successful answer. Only what the provider reported is written (tokens, cost),
    /// so that a replay estimates and prices exactly as the live run did.
    pub fn append(
        &mut self,
        model: &ModelId,
        prompt: &str,
        repeat: u32,
        answer: &Answer,
        measured_ms: f64,
    ) -> anyhow::Result<()> {
        let line = RecordedAnswer {
            model: model.to_string(),
            prompt_sha256: sha256_hex(prompt.as_bytes()),
            response: answer.text.clone(),
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
            usage: answer.usage,
            finish_reason: answer.finish_reason.clone(),
            latency_ms: match answer.latency {
                Latency::Measure => Some(measured_ms),
                Latency::Given(ms, _) => Some(ms),
                Latency::Unknown => None,
            },
            ttft_ms: answer.ttft_ms,
            server_latency_ms: answer.server_latency_ms,
            cost_usd: answer
                .cost
                .filter(|(_, src)| *src == CostSource::Reported)
                .map(|(c, _)| c),
            grade: None,
            repeat: Some(repeat),
        };
        let mut s = serde_json::to_string(&line)?;
        s.push('\n');
        self.out
            .write_all(s.as_bytes())
            .and_then(|_| self.out.flush())
            .map_err(|e| {
                anyhow::anyhow!("cannot write the recording {}: {e}", self.path.display())
            })?;
        self.lines += 1;
        Ok(())
    }

    pub fn finish(mut self) -> anyhow::Result<()> {
        self.out
            .flush()
            .and_then(|_| self.out.get_ref().sync_all())
            .map_err(|e| anyhow::anyhow!("cannot sync the recording {}: {e}", self.path.display()))
    }
}
