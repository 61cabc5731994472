//! A run directory `reports/<run-id>/`: its manifest (`run.json`), its journal and its lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::UsageError;

pub const MANIFEST: &str = "run.json";
pub const JOURNAL: &str = "journal.jsonl";
pub const LOCK: &str = "run.lock";

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

    pub fn started(&self) -> jiff::Timestamp {
        self.started_at
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
    }
}

/// A fresh run directory under `root`, named by time and suite.
pub fn create(root: &Path, now: jiff::Timestamp, label: &str) -> anyhow::Result<(String, PathBuf)> {
    std::fs::create_dir_all(root)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", root.display()))?;
    let stamp = now.strftime("%Y%m%d-%H%M%S").to_string();
    let label: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
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

/// An exclusive lock on a run directory, released on drop.
pub struct Lock {
    path: PathBuf,
}

impl Lock {
    pub fn acquire(dir: &Path) -> anyhow::Result<Lock> {
        let path = dir.join(LOCK);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut f) => {
                writeln!(f, "{}", std::process::id())?;
                f.sync_all()?;
                Ok(Lock { path })
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let owner = std::fs::read_to_string(&path).unwrap_or_default();
                Err(UsageError(format!(
                    "{} is locked by another run (pid {}); if that process is gone, remove {}",
                    dir.display(),
                    owner.trim(),
                    path.display()
                ))
                .into())
            }
            Err(e) => Err(anyhow::anyhow!("cannot lock {}: {e}", dir.display())),
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
