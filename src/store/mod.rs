//! The store a benchmark run writes and everything else reads: the run directory (manifest,
//! lock) and its append-only journal.

pub mod journal;
pub mod run_dir;
