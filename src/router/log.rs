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

/// How `route --log` splits its log into files (`--log-rotate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rotation {
    /// One file, the `--log` path.
    #[default]
    None,
    /// One file a day: `routes.jsonl` → `routes-2026-11-30.jsonl` (the UTC date of the request).
    Daily,
    /// The `--log` path until a line would take it past this many bytes; it is then renamed
    /// to `routes.2026-11-30T08-45-12.123Z.jsonl` (the UTC time of the rotation) and a new
    /// file begins.
    Size(u64),
}

impl std::str::FromStr for Rotation {
    type Err = String;

    /// `daily`, or a size: a whole number with an optional unit `KB`, `MB`, `GB` (powers of
    /// 1000) or `KiB`, `MiB`, `GiB` (powers of 1024), e.g. `100MiB`.
    fn from_str(s: &str) -> Result<Rotation, String> {
        if s == "daily" {
            return Ok(Rotation::Daily);
        }
        let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let unit = &s[digits.len()..];
        let factor: u64 = match unit {
            "" | "B" => 1,
            "KB" => 1_000,
            "MB" => 1_000_000,
            "GB" => 1_000_000_000,
            "KiB" => 1 << 10,
            "MiB" => 1 << 20,
            "GiB" => 1 << 30,
            _ => return Err(format!("{s:?}: give daily or a size such as 100MiB")),
        };
        match digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(factor))
        {
            Some(n) if n >= 1024 => Ok(Rotation::Size(n)),
            Some(_) => Err(format!("{s:?}: a log file of at least 1KiB")),
            None => Err(format!("{s:?}: give daily or a size such as 100MiB")),
        }
    }
}

/// Appends records to a log file, or to the files of a rotated log.
pub struct RouteLog {
    path: PathBuf,
    rotation: Rotation,
}

impl RouteLog {
    /// A log at `path`, one file.
    pub fn new(path: &Path) -> Self {
        RouteLog::rotated(path, Rotation::None)
    }

    /// A log at `path` split into files as `rotation` says.
    pub fn rotated(path: &Path, rotation: Rotation) -> Self {
        RouteLog {
            path: path.to_path_buf(),
            rotation,
        }
    }

    /// The `--log` path (with daily rotation, the files are named after it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Append one record, as one write under an exclusive lock (several router processes can
    /// share a log, rotated or not).
    pub fn append(&self, r: &RouteRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
        line.push(b'\n');
        match self.rotation {
            Rotation::None => super::cache::append_locked(&self.path, &line),
            Rotation::Daily => {
                let date =
                    r.ts.get(..10)
                        .filter(|d| d.len() == 10)
                        .unwrap_or("undated");
                super::cache::append_locked(&with_suffix(&self.path, "-", date), &line)
            }
            Rotation::Size(max) => append_rotating(&self.path, &line, max),
        }
    }
}

/// `dir/stem{sep}{tag}.ext`: `routes.jsonl` with `-`, `2026-11-30` → `routes-2026-11-30.jsonl`.
fn with_suffix(path: &Path, sep: &str, tag: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}{sep}{tag}.{}", ext.to_string_lossy()),
        None => format!("{stem}{sep}{tag}"),
    };
    path.with_file_name(name)
}

/// Append `line` to `path` under its lock, first renaming a file that the line would take past
/// `max` bytes. A process that opened the file before another renamed it finds, once it holds
/// the lock, that `path` is another file now, and opens that one.
fn append_rotating(path: &Path, line: &[u8], max: u64) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    loop {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        f.lock()?;
        let held = f.metadata()?;
        let same =
            std::fs::metadata(path).is_ok_and(|m| m.ino() == held.ino() && m.dev() == held.dev());
        if !same {
            // Rotated away while this process waited for the lock.
            let _ = f.unlock();
            continue;
        }
        if held.len() > 0 && held.len() + line.len() as u64 > max {
            std::fs::rename(path, rotated_name(path))?;
            let _ = f.unlock();
            continue;
        }
        let result = f.write_all(line);
        let _ = f.unlock();
        return result;
    }
}

/// A free name for a file rotated now: `routes.2026-11-30T08-45-12.123Z.jsonl` (with `-2`, `-3`…
/// when two rotations fall in the same millisecond).
fn rotated_name(path: &Path) -> PathBuf {
    let now = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H-%M-%S.%3fZ")
        .to_string();
    let mut candidate = with_suffix(path, ".", &now);
    let mut n = 2;
    while candidate.exists() {
        candidate = with_suffix(path, ".", &format!("{now}-{n}"));
        n += 1;
    }
    candidate
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

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ts: &str, prompt: &str) -> RouteRecord {
        RouteRecord {
            ts: ts.into(),
            prompt_sha256: "0".repeat(64),
            task: "code".into(),
            priority: "quality".into(),
            cell: "code.quality".into(),
            primary: "a/b".into(),
            routed_to: "a/b".into(),
            fallback_used: false,
            ok: true,
            error_kind: None,
            primary_error_kind: None,
            cost_usd: Some(0.001),
            latency_ms: 12.0,
            classifier_cache_hit: false,
            classifier_parse_miss: false,
            classifier_error_kind: None,
            prompt: Some(prompt.into()),
            messages: None,
        }
    }

    #[test]
    fn rotation_parses_daily_and_sizes() {
        assert_eq!("daily".parse(), Ok(Rotation::Daily));
        assert_eq!("100MiB".parse(), Ok(Rotation::Size(100 << 20)));
        assert_eq!("2MB".parse(), Ok(Rotation::Size(2_000_000)));
        assert_eq!("4096".parse(), Ok(Rotation::Size(4096)));
        for bad in [
            "weekly",
            "10",
            "MiB",
            "5TB",
            "-3MiB",
            "99999999999999999999GiB",
        ] {
            assert!(bad.parse::<Rotation>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_daily_log_writes_one_file_per_utc_date() {
        let d = tempfile::tempdir().unwrap();
        let log = RouteLog::rotated(&d.path().join("routes.jsonl"), Rotation::Daily);
        log.append(&record("2026-11-29T23:59:59.900Z", "a"))
            .unwrap();
        log.append(&record("2026-11-30T00:00:00.100Z", "b"))
            .unwrap();
        log.append(&record("2026-11-30T10:00:00Z", "c")).unwrap();
        let read = |name: &str| read(&d.path().join(name)).unwrap();
        assert_eq!(read("routes-2026-11-29.jsonl").0.len(), 1);
        assert_eq!(read("routes-2026-11-30.jsonl").0.len(), 2);
        assert!(!d.path().join("routes.jsonl").exists());
    }

    #[test]
    fn a_size_rotated_log_keeps_every_line_and_each_file_under_the_limit() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("routes.jsonl");
        let log = RouteLog::rotated(&path, Rotation::Size(4096));
        for i in 0..100 {
            log.append(&record("2026-11-30T10:00:00Z", &format!("prompt {i}")))
                .unwrap();
        }
        let mut prompts = Vec::new();
        let files: Vec<PathBuf> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(files.len() > 5, "{files:?}");
        for f in &files {
            assert!(std::fs::metadata(f).unwrap().len() <= 4096, "{f:?}");
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                name.starts_with("routes") && name.ends_with(".jsonl"),
                "{name}"
            );
            let (records, skipped) = read(f).unwrap();
            assert_eq!(skipped, 0);
            prompts.extend(records.into_iter().map(|r| r.prompt.unwrap()));
        }
        prompts.sort();
        let mut want: Vec<String> = (0..100).map(|i| format!("prompt {i}")).collect();
        want.sort();
        assert_eq!(prompts, want, "every line once, none torn");
    }
}
