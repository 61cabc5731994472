//! routecal keeps an LLM routing table honest: it replays a labelled dataset through the
//! classifier and every candidate model, grades every answer, aggregates quality, cost and
//! latency, and proposes a new table with an explained diff against the current one.
//!
//! Data flow: `config` + `dataset` + `prices` → `runner::plan` → `runner` (→ `journal`) →
//! `analyze` (grading via `grade`) → `policy` → `simulate` → `report` / `routes_file`.

// Standard output and error go through `cmd::out`, which survives a reader that closes the pipe
// early (`println!`/`eprintln!` panic there).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

pub mod analyze;
pub mod classify;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod crossfit;
pub mod dataset;
pub mod derive;
pub mod error;
pub mod from_log;
pub mod grade;
pub mod jsonl;
pub mod judge_phase;
pub mod meter;
pub mod monitor;
pub mod paired;
pub mod policy;
pub mod prices;
pub mod provider;
pub mod report;
pub mod router;
pub mod routes_file;
pub mod run_dir;
pub mod runner;
pub mod secrets;
pub mod simulate;
pub mod stability;
pub mod stats;
#[doc(hidden)]
pub mod synth;
pub mod tokens;
pub mod types;
