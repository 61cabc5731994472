mod bad_input;
mod hostile;
mod offline_suites;
