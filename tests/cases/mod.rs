mod bad_input;
mod hostile;
mod hostile_answers;
mod judge;
mod offline_suites;
mod providers;
mod router;
mod statistics;
