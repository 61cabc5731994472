//! `run.json`: what a run was made from (its inputs and their hashes, its settings), where it
//! stands ([`Status`]) and what it did ([`Totals`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::run_dir::{RunDir, RunFile};
use crate::base::error::UsageError;
use crate::base::fsio::write_atomic;

/// An input file of the run as recorded: its path as given and the SHA-256 of its bytes (hex).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRef {
    /// The path as given (relative to the folder routecal ran in).
    pub path: String,
    /// SHA-256 of the file's bytes, lowercase hex.
    pub sha256: String,
}

/// What the run did, over every part of a resumed run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Calls the plan holds (every item × candidate × repeat, and classifier calls).
    pub planned_calls: usize,
    /// Calls made (any attempt).
    pub calls: usize,
    /// Calls whose latest attempt failed.
    pub errors: usize,
    /// Spent on live endpoints during the run.
    pub spent_usd: f64,
    /// Expected spend of the plan on live endpoints.
    pub estimated_usd: f64,
    /// Wall time of the calls, seconds, added up over every part.
    pub duration_s: f64,
}

/// The run's settings that a resume must keep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Repeats of every item per candidate.
    pub repeats: u32,
    /// The `--max-spend` budget, USD.
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
    /// The evidence across weeks the run was derived with (`--history DIR --window W`):
    /// `report` and `run --resume` re-derive with the same unless told otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistorySettings>,
}

/// `--history DIR --window W` as a run recorded them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistorySettings {
    /// The folder of earlier runs, absolute.
    pub dir: String,
    /// The window, as given; absent when none was (the default of `--window` applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
}

impl HistorySettings {
    /// What `--history DIR [--window W]` records; `None` without `--history`.
    pub fn from_args(dir: Option<&Path>, window: Option<&str>) -> Option<HistorySettings> {
        let dir = dir?;
        Some(HistorySettings {
            dir: std::path::absolute(dir)
                .unwrap_or_else(|_| dir.to_path_buf())
                .display()
                .to_string(),
            window: window.map(str::to_string),
        })
    }
}

/// The design of an adaptive run (see `derive::sequential`). A run.json written before the
/// spending function and the futility rule were recorded reads as the design it was made with:
/// O'Brien–Fleming-type spending and the cell-level conditional-power futility stop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AdaptiveDesign {
    /// Looks (batches); look `k` of `K` has drawn `⌈k·N_t/K⌉` items of each task type `t`.
    pub looks: usize,
    /// Seed of the item order.
    pub seed: u64,
    /// How the one-sided error is spent over the looks.
    #[serde(default = "Spending::obrien_fleming")]
    pub spending: Spending,
    /// When a challenger, or a whole cell, stops for futility.
    #[serde(default = "Futility::cell_conditional_power")]
    pub futility: Futility,
    /// The budget in candidate calls of `run --max-calls N`, as (item, model) pairs
    /// (`N / repeats`): the design starts no look that would take it past this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pairs: Option<usize>,
}

/// An error-spending function of the Lan–DeMets family: the share of the one-sided error
/// spent by information fraction `τ`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "snake_case")]
pub enum Spending {
    /// `α(τ) = 2 − 2·Φ(z_{1−α/2}/√τ)` (Lan & DeMets 1983).
    #[serde(rename = "obrien_fleming")]
    OBrienFleming,
    /// `α(τ) = α·(1 − e^{−γτ})/(1 − e^{−γ})` (Hwang, Shih & DeCani 1990, *Statistics in
    /// Medicine* 9:1439–1445); `γ = −4` is close to O'Brien–Fleming, more negative `γ` spends
    /// less early and keeps the last look's level nearer `α`.
    HwangShihDecani { gamma: f64 },
}

impl Spending {
    /// The spending function of run.json files that do not name one.
    pub fn obrien_fleming() -> Spending {
        Spending::OBrienFleming
    }
}

/// The futility rule of an adaptive design (non-binding: it never raises the error rate).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Futility {
    pub rule: FutilityRule,
    /// The chance of adoption by the last look below which a challenger (or cell) stops,
    /// 0 to 1 (0: no futility stop).
    pub power: f64,
}

/// What the futility threshold is compared with, and where it applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FutilityRule {
    /// A cell stops undecided when every open challenger's conditional power under the current
    /// trend is below the threshold, from the second look to the one before the last.
    CellConditionalPower,
    /// Each open challenger stops receiving items once its predictive power is below the
    /// threshold (and a cell stops when none is left), from the first look to the one before
    /// the last.
    ChallengerPredictivePower,
}

impl Futility {
    /// The futility rule of run.json files that do not name one.
    pub fn cell_conditional_power() -> Futility {
        Futility {
            rule: FutilityRule::CellConditionalPower,
            power: 0.10,
        }
    }
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

/// Where a run stands, as `run.json` records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Calls are being made (or the process died while making them).
    Running,
    /// Every planned call was made and the reports were written.
    Complete,
    /// Stopped before the end (a signal, the budget, a failed write or an endpoint): the
    /// journal holds what was made, and `run --resume` continues.
    Partial,
}

impl Status {
    /// The word `run.json` and the reports print: "running", "complete", "partial".
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Complete => "complete",
            Status::Partial => "partial",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `run.json`: what a run was made from and what it did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `routecal`.
    pub tool: String,
    /// The routecal version that started the run.
    pub version: String,
    /// The run directory's name (`YYYYMMDD-HHMMSS-<suite>`).
    pub run_id: String,
    /// RFC 3339; prices with dates or time windows are resolved at this time.
    pub started_at: String,
    /// RFC 3339, when the run last stopped or ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Where the run stands: `running`, `complete` or `partial`.
    pub status: Status,
    /// The routes file the run measured.
    pub routes: FileRef,
    /// The labelled dataset.
    pub dataset: FileRef,
    /// The price table (the shipped snapshot or `--prices`).
    pub prices: FileRef,
    /// The copy of the routes file kept in the run directory ([`RunFile::RoutesCopy`]) and its
    /// sha256; absent in runs made before routecal kept one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes_copy: Option<FileRef>,
    /// What a resume must keep.
    pub settings: Settings,
    /// The candidate models, as `provider/name`.
    pub models: Vec<String>,
    /// The classifier and its alternatives.
    pub classifiers: Vec<String>,
    /// Answers came from the `sim` endpoint.
    pub simulated: bool,
    /// Calls, errors, spend and time over the whole run.
    pub totals: Totals,
}

impl Manifest {
    /// Read `run.json` from the run directory `dir`. A folder without one is a usage error
    /// ("… is not a run directory"); a file that does not parse names the file.
    pub fn load(dir: &Path) -> anyhow::Result<Manifest> {
        let p = RunDir::new(dir).manifest();
        let bytes = std::fs::read(&p).map_err(|e| {
            UsageError(format!(
                "{} is not a run directory (cannot read {}: {e})",
                dir.display(),
                p.display()
            ))
        })?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    }

    /// Write `run.json` (pretty JSON and a final newline) into `dir`, atomically.
    pub fn save(&self, dir: &Path) -> anyhow::Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        write_atomic(&RunDir::new(dir).manifest(), &bytes)
    }

    /// Keep `source` (the routes file's text as it was read for the run) in the run directory
    /// as [`RunFile::RoutesCopy`], atomically, and record it in the manifest.
    pub fn keep_routes_copy(&mut self, dir: &Path, source: &str) -> anyhow::Result<()> {
        write_atomic(&RunDir::new(dir).routes_copy(), source.as_bytes())?;
        self.routes_copy = Some(FileRef {
            path: RunFile::RoutesCopy.name().into(),
            sha256: crate::base::types::sha256_hex(source.as_bytes()),
        });
        Ok(())
    }

    /// When the run started (`started_at`); now when the recorded time does not parse.
    pub fn started(&self) -> jiff::Timestamp {
        self.started_at
            .parse()
            .unwrap_or_else(|_| jiff::Timestamp::now())
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
            std::fs::read(RunDir::new(dir.path()).routes_copy()).unwrap(),
            source.as_bytes()
        );
        let copy = m.routes_copy.clone().unwrap();
        assert_eq!(copy.path, "routes.measured.toml");
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
    fn status_is_stored_as_its_word() {
        for (s, word) in [
            (Status::Running, "running"),
            (Status::Complete, "complete"),
            (Status::Partial, "partial"),
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), word);
            assert_eq!(serde_json::from_value::<Status>(word.into()).unwrap(), s);
            assert_eq!(s.to_string(), word);
        }
        assert!(serde_json::from_value::<Status>("done".into()).is_err());
    }
}
