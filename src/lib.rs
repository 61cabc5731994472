//! routecal keeps an LLM routing table honest: it replays a labelled dataset through the
//! classifier and every candidate model, grades every answer, aggregates quality, cost and
//! latency, and proposes a new table with an explained diff against the current one.
//!
//! Modules, in the order the data flows (see ARCHITECTURE.md):
//! `base` (vocabulary, errors, input lines, secrets) → `config` (routes.toml, prices, editing the
//! file) + `dataset` → `classify` → `provider` (one call, its tokens and cost) → `grade` →
//! `benchmark` (plan, runner, retries, budget, judge phase) → `store` (run directory, journal) →
//! `derive` (analysis, policy, simulation, statistics) → `report` (every written format); the
//! online side is `router` (route, cache, log, monitor, dataset from log); `cmd` holds the thin
//! commands over all of them.

// Standard output and error go through `base::out`, which survives a reader that closes the pipe
// early (`println!`/`eprintln!` panic there).
#![cfg_attr(not(test), warn(clippy::print_stdout, clippy::print_stderr))]

#[macro_use]
pub mod base;
pub mod benchmark;
pub(crate) mod classify;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod dataset;
pub mod derive;
pub(crate) mod grade;
pub mod provider;
pub mod report;
pub mod router;
pub mod store;
