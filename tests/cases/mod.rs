mod bad_input;
mod judge;
mod offline_suites;
mod statistics;
