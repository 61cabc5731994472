mod bad_input;
mod hostile;
mod hostile_answers;
mod offline_suites;
mod providers;
mod router;
