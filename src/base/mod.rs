//! Foundations every stage shares: the domain vocabulary, errors and exit codes, line-oriented
//! input, and keeping API keys out of everything written.

pub mod error;
pub mod jsonl;
pub mod secrets;
pub mod types;
