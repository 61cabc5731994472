//! The classification cache: prompt hash → labels, with a time to live, persisted as JSON lines
//! so that repeated prompts across invocations cost no classifier call. A damaged file is
//! survived: unreadable lines are skipped, and the file is rewritten clean when compacted.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::base::jsonl::{self, Lines};
use crate::base::types::{Priority, TaskType};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Entry {
    task: TaskType,
    priority: Priority,
    /// Unix milliseconds when the labels were obtained.
    at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Line {
    key: String,
    #[serde(flatten)]
    entry: Entry,
}

/// Labels by key, loaded from and appended to a file.
pub struct ClassificationCache {
    path: Option<PathBuf>,
    ttl: Duration,
    entries: HashMap<String, Entry>,
    /// Lines in the file, live or not; the file is compacted when it holds mostly dead lines.
    lines_on_disk: usize,
    /// Lines that did not parse when loading (a damaged file).
    pub skipped_lines: usize,
}

/// A cache line is a key and two labels; anything much longer is damage, skipped unread.
const MAX_CACHE_LINE_BYTES: usize = 64 << 10;

impl ClassificationCache {
    /// A cache that lives only in memory.
    pub fn in_memory(ttl: Duration) -> Self {
        ClassificationCache {
            path: None,
            ttl,
            entries: HashMap::new(),
            lines_on_disk: 0,
            skipped_lines: 0,
        }
    }

    /// Load the cache at `path` (a missing file is an empty cache; damaged lines are skipped).
    pub fn open(path: &Path, ttl: Duration, now_ms: i64) -> Self {
        let mut cache = ClassificationCache {
            path: Some(path.to_path_buf()),
            ..Self::in_memory(ttl)
        };
        let Ok(file) = std::fs::File::open(path) else {
            return cache;
        };
        let mut lines = Lines::new(std::io::BufReader::new(file), MAX_CACHE_LINE_BYTES);
        while let Ok(Some((_, line))) = lines.next_line() {
            let raw = match line {
                jsonl::Line::Text(raw) if raw.iter().all(u8::is_ascii_whitespace) => continue,
                jsonl::Line::Text(raw) => raw,
                jsonl::Line::TooLong(_) => b"",
            };
            cache.lines_on_disk += 1;
            match serde_json::from_slice::<Line>(raw) {
                Ok(l) if cache.fresh(&l.entry, now_ms) => {
                    cache.entries.insert(l.key, l.entry);
                }
                Ok(_) => {}
                Err(_) => cache.skipped_lines += 1,
            }
        }
        if cache.skipped_lines > 0 || cache.lines_on_disk > 2 * cache.entries.len() + 1000 {
            cache.compact();
        }
        cache
    }

    fn fresh(&self, e: &Entry, now_ms: i64) -> bool {
        now_ms.saturating_sub(e.at_ms) < self.ttl.as_millis() as i64
    }

    /// The labels cached for `key`, if still fresh.
    pub fn get(&self, key: &str, now_ms: i64) -> Option<(TaskType, Priority)> {
        self.entries
            .get(key)
            .filter(|e| self.fresh(e, now_ms))
            .map(|e| (e.task, e.priority))
    }

    /// Remember labels; appended to the file at once (whole lines, under an exclusive lock).
    pub fn put(&mut self, key: &str, labels: (TaskType, Priority), now_ms: i64) {
        let entry = Entry {
            task: labels.0,
            priority: labels.1,
            at_ms: now_ms,
        };
        self.entries.insert(key.to_string(), entry);
        if let Some(path) = &self.path {
            let mut line = serde_json::to_vec(&Line {
                key: key.to_string(),
                entry,
            })
            .unwrap_or_default();
            line.push(b'\n');
            // A cache that cannot be written is only a slower router, never a failed request.
            let _ = append_locked(path, &line);
            self.lines_on_disk += 1;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Rewrite the file with the live entries only.
    fn compact(&mut self) {
        let Some(path) = &self.path else { return };
        let mut out = Vec::new();
        let mut keys: Vec<&String> = self.entries.keys().collect();
        keys.sort();
        for k in keys {
            if let Ok(mut l) = serde_json::to_vec(&Line {
                key: k.clone(),
                entry: self.entries[k],
            }) {
                l.push(b'\n');
                out.extend_from_slice(&l);
            }
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        if crate::base::fsio::write_atomic(path, &out).is_ok() {
            self.lines_on_disk = self.entries.len();
        }
    }
}

/// Append whole lines to a file shared by several processes: one write under an exclusive lock.
pub fn append_locked(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut f = OpenOptions::new().create(true).append(true).open(path)?;
    f.lock()?;
    let result = f.write_all(bytes);
    let _ = f.unlock();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    #[test]
    fn persists_expires_and_survives_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.jsonl");
        let ttl = Duration::from_secs(24 * 3600);
        let mut c = ClassificationCache::open(&path, ttl, 0);
        c.put("k1", (TaskType::Code, Priority::Quality), 0);
        let again = ClassificationCache::open(&path, ttl, HOUR);
        assert_eq!(
            again.get("k1", HOUR),
            Some((TaskType::Code, Priority::Quality))
        );
        assert_eq!(again.get("k1", 25 * HOUR), None, "expired after the TTL");
        // Damage: garbage bytes and a torn line.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(b"\xff\xfe garbage\n{\"key\":\"k2\",\"ta");
        std::fs::write(&path, bytes).unwrap();
        let damaged = ClassificationCache::open(&path, ttl, HOUR);
        assert_eq!(damaged.skipped_lines, 2);
        assert_eq!(
            damaged.get("k1", HOUR),
            Some((TaskType::Code, Priority::Quality))
        );
        // The damaged file was rewritten clean.
        let clean = ClassificationCache::open(&path, ttl, HOUR);
        assert_eq!(clean.skipped_lines, 0);
        assert_eq!(clean.len(), 1);
    }
}
