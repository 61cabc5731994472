//! The store a benchmark run writes and everything else reads: the run directory and the names
//! of its files, the manifest (`run.json`), the lock and the append-only journal.

pub mod journal;
pub mod lock;
pub(crate) mod manifest;
pub(crate) mod run_dir;
