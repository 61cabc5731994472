mod bad_input;
mod hostile;
mod hostile_answers;
mod offline_suites;
mod router;
