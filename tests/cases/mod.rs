mod apply;
mod bad_input;
mod offline_suites;
mod reports;
