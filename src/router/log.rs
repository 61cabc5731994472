//! The route log: one JSON line per routed request, safe to append from several processes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::jsonl::{Line, Lines};
use crate::provider::ErrorKind;

/// One routed request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteRecord {
    /// RFC 3339.
    pub ts: String,
    pub prompt_sha256: String,
    pub task: String,
    pub priority: String,
    /// `task.priority`, or `default` when the cell is not in the table.
    pub cell: String,
    pub primary: String,
    /// The model that answered (or last failed).
    pub routed_to: String,
    pub fallback_used: bool,
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
    /// Why the primary failed, when the fallback was used (whether the fallback answered or
    /// failed too; `error_kind` is then the fallback's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_error_kind: Option<ErrorKind>,
    /// Classifier plus answering calls; `None` when a model is unpriced.
    pub cost_usd: Option<f64>,
    pub latency_ms: f64,
    pub classifier_cache_hit: bool,
    pub classifier_parse_miss: bool,
    /// Why the classifier call failed (the request then went to general/default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classifier_error_kind: Option<ErrorKind>,
    /// The prompt itself, only with `--log-prompts` (a chat request logs `messages` instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// A chat request's turns as received (before a system prompt from the routes file is
    /// applied), only with `--log-prompts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<LoggedTurn>>,
}

/// One turn of a logged chat request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggedTurn {
    pub role: crate::dataset::Role,
    pub content: String,
}

impl From<&crate::dataset::Message> for LoggedTurn {
    fn from(m: &crate::dataset::Message) -> Self {
        LoggedTurn {
            role: m.role,
            content: m.content.to_string(),
        }
    }
}

/// Appends records to a log file.
pub struct RouteLog {
    path: PathBuf,
}

impl RouteLog {
    pub fn new(path: &Path) -> Self {
        RouteLog {
            path: path.to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn append(&self, r: &RouteRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        super::cache::append_locked(&self.path, &line)
    }
}

/// Longest route-log line read back (a line carries at most one prompt, itself at most 16 MiB,
/// JSON-escaped); a longer line is skipped like a damaged one.
pub const MAX_LOG_LINE_BYTES: usize = 64 << 20;

/// Read a route log, skipping lines that do not parse (or are longer than
/// [`MAX_LOG_LINE_BYTES`]); returns the records and the skipped count. The file is read line by
/// line, so memory holds the records, never the whole file.
pub fn read(path: &Path) -> std::io::Result<(Vec<RouteRecord>, usize)> {
    let file = std::fs::File::open(path)?;
    let mut lines = Lines::new(
        std::io::BufReader::with_capacity(1 << 16, file),
        MAX_LOG_LINE_BYTES,
    );
    let mut out = Vec::new();
    let mut skipped = 0;
    while let Some((_, line)) = lines.next_line()? {
        match line {
            Line::Text(raw) if raw.iter().all(u8::is_ascii_whitespace) => {}
            Line::Text(raw) => match serde_json::from_slice::<RouteRecord>(raw) {
                Ok(r) => out.push(r),
                Err(_) => skipped += 1,
            },
            Line::TooLong(_) => skipped += 1,
        }
    }
    Ok((out, skipped))
}
