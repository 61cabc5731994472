//! Retries: capped exponential backoff with full jitter, honouring `Retry-After`.

use std::time::Duration;

use rand::RngExt;

use crate::provider::{CallError, ErrorKind};

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
    /// A `Retry-After` longer than this is treated as an exhausted quota: waiting hours inside
    /// a batch run helps nobody.
    pub max_retry_after: Duration,
}

impl RetryPolicy {
    pub fn new(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(300),
        }
    }

    /// How long to wait before attempt `attempt + 1` after `err` on attempt `attempt` (1-based),
    /// or `None` when the call should not be retried.
    pub fn next_delay(&self, attempt: u32, err: &CallError) -> Option<Duration> {
        if !err.kind.retryable() || attempt >= self.max_attempts {
            return None;
        }
        if let Some(ra) = err.retry_after {
            if ra > self.max_retry_after {
                return None;
            }
            return Some(ra);
        }
        let exp = self
            .base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.cap);
        let jitter = rand::rng().random_range(0.0..=1.0);
        Some(exp.mul_f64(jitter))
    }
}

/// Whether a `Retry-After` this long means the quota is exhausted rather than a short throttle.
pub fn is_exhausted(err: &CallError, policy: &RetryPolicy) -> bool {
    err.kind == ErrorKind::QuotaExhausted
        || err.retry_after.is_some_and(|d| d > policy.max_retry_after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_jittered_and_honours_retry_after() {
        let p = RetryPolicy::new(5);
        let e = CallError::new(ErrorKind::Server, "503");
        for attempt in 1..5 {
            let d = p.next_delay(attempt, &e).unwrap();
            assert!(d <= p.base.saturating_mul(1 << (attempt - 1)).min(p.cap));
        }
        assert_eq!(p.next_delay(5, &e), None);
        let mut ra = CallError::new(ErrorKind::RateLimited, "429");
        ra.retry_after = Some(Duration::from_secs(7));
        assert_eq!(p.next_delay(1, &ra), Some(Duration::from_secs(7)));
        ra.retry_after = Some(Duration::from_secs(3600));
        assert_eq!(p.next_delay(1, &ra), None);
        assert!(is_exhausted(&ra, &p));
        assert_eq!(
            p.next_delay(1, &CallError::new(ErrorKind::Auth, "401")),
            None
        );
    }
}
