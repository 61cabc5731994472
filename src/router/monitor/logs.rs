//! Reading route logs for the monitor: several files or glob patterns, each streamed line by
//! line into an [`Aggregate`], so memory holds one line and the fixed-size figures, never the
//! records.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use crate::base::jsonl::{Line, Lines};
use crate::router::log::MAX_LOG_LINE_BYTES;

use super::Aggregate;

/// Why the monitor's logs could not be read (a usage error: the caller names it and exits 2).
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("{pattern:?} is not a valid glob pattern: {msg}")]
    BadPattern { pattern: String, msg: String },
    #[error("no route log matches {0}")]
    NoMatch(String),
    #[error("cannot read the route log {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The log files the arguments name, in order: an argument that is an existing path is taken
/// as it is; any other is a glob pattern (`logs/router-*.jsonl`, `**` for any depth), whose
/// matches are taken in sorted order, and which must match at least one file. A file named
/// twice (directly or through patterns) is read once, at its first place.
pub fn expand(args: &[PathBuf]) -> Result<Vec<PathBuf>, LogsError> {
    let mut out: Vec<PathBuf> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for arg in args {
        let matches = if arg.exists() {
            vec![arg.clone()]
        } else {
            matches_of(arg)?
        };
        for path in matches {
            let id = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            if seen.insert(id) {
                out.push(path);
            }
        }
    }
    Ok(out)
}

fn matches_of(arg: &Path) -> Result<Vec<PathBuf>, LogsError> {
    let pattern = arg.to_string_lossy().into_owned();
    let paths = glob::glob(&pattern).map_err(|e| LogsError::BadPattern {
        pattern: pattern.clone(),
        msg: e.to_string(),
    })?;
    let mut found: Vec<PathBuf> = paths
        .filter_map(Result::ok)
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    if found.is_empty() {
        return Err(LogsError::NoMatch(arg.display().to_string()));
    }
    Ok(found)
}

/// Stream one route log into `agg`, skipping (and counting) lines that do not parse or are
/// longer than [`MAX_LOG_LINE_BYTES`], as [`crate::router::log::read`] does. Returns the
/// number of skipped lines.
pub fn read_into(path: &Path, agg: &mut Aggregate) -> Result<usize, LogsError> {
    let err = |source| LogsError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(err)?;
    let mut lines = Lines::new(BufReader::with_capacity(1 << 16, file), MAX_LOG_LINE_BYTES);
    let mut skipped = 0;
    while let Some((_, line)) = lines.next_line().map_err(err)? {
        match line {
            Line::Text(raw) if raw.iter().all(u8::is_ascii_whitespace) => {}
            Line::Text(raw) => match serde_json::from_slice::<super::line::LogLine>(raw) {
                Ok(r) => agg.add_line(&r),
                Err(_) => skipped += 1,
            },
            Line::TooLong(_) => skipped += 1,
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand_sorted_and_a_file_named_twice_is_read_once() {
        let d = tempfile::tempdir().unwrap();
        for n in ["b.jsonl", "a.jsonl", "c.txt"] {
            std::fs::write(d.path().join(n), "").unwrap();
        }
        let a = d.path().join("a.jsonl");
        let got = expand(&[a.clone(), d.path().join("*.jsonl")]).unwrap();
        assert_eq!(got, vec![a, d.path().join("b.jsonl")]);
        let none = expand(&[d.path().join("*.log")]).unwrap_err();
        assert!(matches!(none, LogsError::NoMatch(_)), "{none}");
        assert!(none.to_string().contains("*.log"), "{none}");
        let bad = expand(&[d.path().join("[a.jsonl")]).unwrap_err();
        assert!(matches!(bad, LogsError::BadPattern { .. }), "{bad}");
    }
}
