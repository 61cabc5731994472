//! Integration tests: the `routecal` binary, run as a user would. One test binary (one link).

mod cases;
mod common;
