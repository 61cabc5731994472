//! Foundations every stage shares: the domain vocabulary, errors and exit codes, line-oriented
//! input, keeping API keys out of everything written, how numbers print and atomic writes.

pub mod chat;
pub mod error;
pub(crate) mod fmt;
pub(crate) mod fsio;
pub(crate) mod jsonl;
pub mod normal;
#[macro_use]
pub mod out;
pub mod secrets;
pub mod types;
