//! Retries: capped exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

use rand::RngExt;

use crate::config::{Backoff, Endpoint};
use crate::provider::CallError;

/// When a failed attempt is tried again.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// A `Retry-After` longer than this is treated as an exhausted quota: waiting hours inside
    /// a batch run helps nobody.
    pub max_retry_after: Duration,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Wait this long, then try again.
    Retry(Duration),
    /// Give up; the error is final as it is.
    Fail,
    /// Give up: the server asks for a wait longer than the policy allows.
    WaitTooLong(Duration),
}

impl RetryPolicy {
    /// A policy with the default backoff (tests).
    #[cfg(test)]
    pub fn new(max_attempts: u32) -> Self {
        Self::with_backoff(max_attempts, Backoff::default())
    }

    pub fn with_backoff(max_attempts: u32, b: Backoff) -> Self {
        RetryPolicy {
            max_attempts: max_attempts.max(1),
            base: b.base,
            cap: b.cap.max(b.base),
            max_retry_after: b.max_retry_after,
        }
    }

    pub fn for_endpoint(ep: &Endpoint) -> Self {
        Self::with_backoff(ep.max_attempts, ep.backoff)
    }

    /// What to do after `err` on attempt `attempt` (1-based).
    pub fn decide(&self, attempt: u32, err: &CallError) -> Decision {
        if !err.kind.retryable() {
            return Decision::Fail;
        }
        if let Some(ra) = err.retry_after
            && ra > self.max_retry_after
        {
            return Decision::WaitTooLong(ra);
        }
        if attempt >= self.max_attempts {
            return Decision::Fail;
        }
        Decision::Retry(match err.retry_after {
            Some(ra) => ra,
            None => self.backoff(attempt),
        })
    }

    /// Full jitter: uniform in [0, min(cap, base × 2^(attempt-1))], so that calls that failed
    /// together do not retry together.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20))
            .min(self.cap);
        exp.mul_f64(rand::rng().random_range(0.0..=1.0))
    }

    /// How long to wait before attempt `attempt + 1`, or `None` when the call should not be
    /// retried (tests).
    #[cfg(test)]
    pub fn next_delay(&self, attempt: u32, err: &CallError) -> Option<Duration> {
        match self.decide(attempt, err) {
            Decision::Retry(d) => Some(d),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ErrorKind;

    fn err(kind: ErrorKind, retry_after: Option<Duration>) -> CallError {
        let mut e = CallError::new(kind, "x");
        e.retry_after = retry_after;
        e
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let p = RetryPolicy::new(10);
        let e = err(ErrorKind::Server, None);
        let mut distinct = std::collections::HashSet::new();
        for attempt in 1..10 {
            for _ in 0..20 {
                let d = p.next_delay(attempt, &e).unwrap();
                assert!(d <= p.base.saturating_mul(1 << (attempt - 1)).min(p.cap));
                distinct.insert(d);
            }
        }
        assert!(distinct.len() > 100, "the waits are jittered");
        assert_eq!(p.next_delay(10, &e), None);
    }

    #[test]
    fn retry_after_is_honoured_within_the_limit() {
        let p = RetryPolicy::new(5);
        let ra = err(ErrorKind::RateLimited, Some(Duration::from_secs(7)));
        assert_eq!(p.decide(1, &ra), Decision::Retry(Duration::from_secs(7)));
        assert_eq!(p.decide(5, &ra), Decision::Fail);
        let long = err(ErrorKind::RateLimited, Some(Duration::from_secs(3600)));
        assert_eq!(
            p.decide(1, &long),
            Decision::WaitTooLong(Duration::from_secs(3600))
        );
    }

    #[test]
    fn only_retryable_kinds_are_retried() {
        let p = RetryPolicy::new(5);
        for k in [
            ErrorKind::Auth,
            ErrorKind::BadRequest,
            ErrorKind::Redirect,
            ErrorKind::QuotaExhausted,
            ErrorKind::NotRecorded,
        ] {
            assert_eq!(p.decide(1, &err(k, None)), Decision::Fail, "{k:?}");
        }
        for k in [
            ErrorKind::RateLimited,
            ErrorKind::Server,
            ErrorKind::Timeout,
            ErrorKind::Connection,
            ErrorKind::BadBody,
        ] {
            assert!(
                matches!(p.decide(1, &err(k, None)), Decision::Retry(_)),
                "{k:?}"
            );
        }
    }

    #[test]
    fn one_attempt_means_no_retry() {
        let p = RetryPolicy::new(1);
        assert_eq!(p.decide(1, &err(ErrorKind::Server, None)), Decision::Fail);
    }
}
