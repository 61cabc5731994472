//! Foundations every stage shares: the domain vocabulary, errors and exit codes, line-oriented
//! input, keeping API keys out of everything written, how numbers print and atomic writes.

pub mod error;
pub(crate) mod fmt;
pub(crate) mod fsio;
pub mod jsonl;
pub mod secrets;
pub mod types;
