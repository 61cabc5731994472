//! A run directory `reports/<run-id>/`: its manifest (`run.json`), its journal and its lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::base::error::UsageError;

pub const MANIFEST: &str = "run.json";
pub const JOURNAL: &str = "journal.jsonl";
/// The lock file; see [`Lock`].
pub const LOCK: &str = "run.lock";
/// A byte-identical copy of the routes file the run measured (its sha256 is in `run.json`),
/// so that the run is derived against its own table whatever happens to the file later.
pub const ROUTES_COPY: &str = "routes.measured.toml";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub planned_calls: usize,
    pub calls: usize,
    pub errors: usize,
    /// Spent on live endpoints during the run.
    pub spent_usd: f64,
    /// Expected spend of the plan on live endpoints.
    pub estimated_usd: f64,
    pub duration_s: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub repeats: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_spend_usd: Option<f64>,
    /// SHA-256 of the routes file without its throughput settings ([`answers_sha256`]): a
    /// resume may change the file as long as this stays the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_answers_sha256: Option<String>,
    /// The sequential design of a `run --adaptive` (absent for the full fixed design): every
    /// replay of the run's looks reads it from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveDesign>,
}

/// The design of an adaptive run (see `derive::sequential`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdaptiveDesign {
    /// Looks (batches); look `k` of `K` has drawn `⌈k·N_t/K⌉` items of each task type `t`.
    pub looks: usize,
    /// Seed of the item order.
    pub seed: u64,
}

/// Endpoint settings that change how fast answers come, never which answers or what they
/// cost: a resume may change them freely.
pub const THROUGHPUT_KEYS: &[&str] = &[
    "max_concurrency",
    "requests_per_minute",
    "timeout_s",
    "max_attempts",
    "backoff_base_ms",
    "backoff_cap_ms",
    "max_retry_after_s",
    "api_key_env",
    // A sim endpoint waits its simulated latency × time_scale; the latency it reports is the same.
    "time_scale",
];

/// SHA-256 of a routes file's meaning without its endpoints' [`THROUGHPUT_KEYS`]: comments,
/// layout, key order and throughput settings do not change it; models, wire names, endpoint
/// kinds and base URLs, prompts, prices, repeats and every other setting do. `None` when the
/// text is not TOML.
pub fn answers_sha256(routes_text: &str) -> Option<String> {
    let mut t: toml::Table = toml::from_str(routes_text).ok()?;
    if let Some(toml::Value::Table(eps)) = t.get_mut("endpoints") {
        for (_, ep) in eps.iter_mut() {
            if let toml::Value::Table(ep) = ep {
                for k in THROUGHPUT_KEYS {
                    ep.remove(*k);
                }
            }
        }
    }
    let mut canon = String::new();
    canonical(&toml::Value::Table(t), &mut canon);
    Some(crate::base::types::sha256_hex(canon.as_bytes()))
}

/// A TOML value as text with its tables' keys sorted, so that key order does not matter.
fn canonical(v: &toml::Value, out: &mut String) {
    match v {
        toml::Value::Table(t) => {
            let mut keys: Vec<&String> = t.keys().collect();
            keys.sort();
            out.push('{');
            for k in keys {
                out.push_str(&format!("{k:?}="));
                canonical(&t[k], out);
                out.push(',');
            }
            out.push('}');
        }
        toml::Value::Array(a) => {
            out.push('[');
            for x in a {
                canonical(x, out);
                out.push(',');
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `run.json`: what a run was made from and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub tool: String,
    pub version: String,
    pub run_id: String,
    /// RFC 3339; prices with dates or time windows are resolved at this time.
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// `running`, `complete` or `partial`.
    pub status: String,
    pub routes: FileRef,
    pub dataset: FileRef,
    pub prices: FileRef,
    /// The copy of the routes file kept in the run directory ([`ROUTES_COPY`]) and its sha256;
    /// absent in runs made before routecal kept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_copy: Option<FileRef>,
    pub settings: Settings,
    pub models: Vec<String>,
    pub classifiers: Vec<String>,
    /// Answers came from the `sim` endpoint.
    pub simulated: bool,
    pub totals: Totals,
}

impl Manifest {
    pub fn load(dir: &Path) -> anyhow::Result<Manifest> {
        let p = dir.join(MANIFEST);
        let bytes = std::fs::read(&p).map_err(|e| {
            UsageError(format!(
                "{} is not a run directory (cannot read {}: {e})",
                dir.display(),
                p.display()
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    }

    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        crate::report::write_atomic(&dir.join(MANIFEST), &bytes)
    }

    /// Keep `source` (the routes file's text as it was read for the run) in the run directory
    /// as [`ROUTES_COPY`], atomically, and record it in the manifest.
    pub fn keep_routes_copy(&mut self, dir: &Path, source: &str) -> anyhow::Result<()> {
        crate::report::write_atomic(&dir.join(ROUTES_COPY), source.as_bytes())?;
        self.routes_copy = Some(FileRef {
            path: ROUTES_COPY.into(),
            sha256: crate::base::types::sha256_hex(source.as_bytes()),
        });
        Ok(())
    }

    pub fn started(&self) -> jiff::Timestamp {
        self.started_at
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }
}

/// `name` fit for a folder name: ASCII letters, digits, `-` and `_` kept, anything else `-`.
pub fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A fresh run directory under `root`, named by time and suite.
pub fn create(root: &Path, now: jiff::Timestamp, label: &str) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let label = safe_name(label);
    for n in 1.. {
        let id = if n == 1 {
            format!("{stamp}-{label}")
        } else {
            format!("{stamp}-{label}-{n}")
        };
        let dir = root.join(&id);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(anyhow::anyhow!("cannot create {}: {e}", dir.display())),
        }
    }
    unreachable!()
}

/// An exclusive lock on a run directory, held until drop: two cron jobs, or a `report` and an
/// `apply`, never write one run directory at once.
///
/// The lock is the operating system's advisory lock on `run.lock` (`flock` on Unix), so it is
/// released whenever the holder exits, a `kill -9` included: a crashed run never leaves a stale
/// lock behind. The file stays (unlinking it would let a third process lock a fresh file while a
/// second one waits on the old) and names the holder's pid while held.
pub struct Lock {
    file: std::fs::File,
}

impl Lock {
    pub fn acquire(dir: &Path) -> anyhow::Result<Lock> {
        let path = dir.join(LOCK);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot lock {}: {e}", dir.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                let owner = owner.trim();
                return Err(UsageError(format!(
                    "{} is in use by another routecal process{}; try again when it has finished",
                    dir.display(),
                    if owner.is_empty() {
                        String::new()
                    } else {
                        format!(" ({owner})")
                    }
                ))
                .into());
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(anyhow::anyhow!("cannot lock {}: {e}", dir.display()));
            }
        }
        let mut lock = Lock { file };
        lock.file.set_len(0)?;
        writeln!(
            lock.file,
            "pid {} since {}",
            std::process::id(),
            jiff::Timestamp::now()
        )?;
        lock.file.sync_all()?;
        Ok(lock)
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Clear the holder's name before the lock goes with the file handle.
        let _ = self.file.set_len(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_routes_copy_is_byte_identical_and_its_hash_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut m: Manifest = serde_json::from_value(serde_json::json!({
            "tool": "routecal", "version": "0", "run_id": "r", "started_at": "2026-11-30T00:00:00Z",
            "status": "running", "routes": {"path": "routes.toml", "sha256": "x"},
            "dataset": {"path": "d.jsonl", "sha256": "y"}, "prices": {"path": "p", "sha256": "z"},
            "settings": {"repeats": 1}, "models": [], "classifiers": [], "simulated": false,
            "totals": {"planned_calls": 0, "calls": 0, "errors": 0, "spent_usd": 0.0,
                       "estimated_usd": 0.0, "duration_s": 0.0}
        }))
        .unwrap();
        assert_eq!(m.routes_copy, None, "older run.json files have no copy");
        let source = "# héllo\r\n[default]\nprimary = \"a/b\"\n";
        m.keep_routes_copy(dir.path(), source).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join(ROUTES_COPY)).unwrap(),
            source.as_bytes()
        );
        let copy = m.routes_copy.clone().unwrap();
        assert_eq!(copy.path, ROUTES_COPY);
        assert_eq!(
            copy.sha256,
            crate::base::types::sha256_hex(source.as_bytes())
        );
        m.save(dir.path()).unwrap();
        assert_eq!(Manifest::load(dir.path()).unwrap().routes_copy, Some(copy));
    }

    #[test]
    fn throughput_settings_layout_and_comments_do_not_change_the_answers_hash() {
        let base = "[endpoints.api]\nkind = \"openai\"\nbase_url = \"http://a\"\nmax_concurrency = 4\n\n[models.\"a/b\"]\nendpoint = \"api\"\ninput_per_mtok = 1.0\n";
        let h = answers_sha256(base).unwrap();
        let faster = "# faster now\n[models.\"a/b\"]\ninput_per_mtok = 1.0\nendpoint = \"api\"\n[endpoints.api]\nbase_url = \"http://a\"\nkind = \"openai\"\nmax_concurrency = 16\nrequests_per_minute = 600\ntimeout_s = 90\n";
        assert_eq!(answers_sha256(faster).unwrap(), h);
        for changed in [
            base.replace("http://a", "http://b"),
            base.replace("input_per_mtok = 1.0", "input_per_mtok = 2.0"),
            base.replace("a/b", "a/c"),
            base.replace("\"openai\"", "\"promptster\""),
        ] {
            assert_ne!(answers_sha256(&changed).unwrap(), h, "{changed}");
        }
        assert_eq!(answers_sha256("not = [toml"), None);
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = Lock::acquire(dir.path()).unwrap();
        let held = std::fs::read_to_string(dir.path().join(LOCK)).unwrap();
        assert!(
            held.starts_with(&format!("pid {} ", std::process::id())),
            "{held}"
        );
        let err = Lock::acquire(dir.path()).err().expect("refused");
        assert!(err.is::<UsageError>(), "{err}");
        assert!(
            err.to_string()
                .contains("in use by another routecal process")
        );
        drop(first);
        assert_eq!(std::fs::read_to_string(dir.path().join(LOCK)).unwrap(), "");
        let _again = Lock::acquire(dir.path()).unwrap();
    }
}
