//! `run --max-spend`: a spending limit on live endpoints, checked before each call starts.
//!
//! A call may start only when the money already spent, plus the estimate of every call in
//! flight, plus its own estimate, stays within the limit. Once a call is refused, the budget is
//! closed and no further call starts, so a stopped run leaves a clean set of unmade calls for
//! `run --resume`. Calls in flight finish and are journaled; what they really cost may exceed
//! their estimate, so the overshoot is bounded by the calls in flight, not by zero.

use std::sync::Mutex;

use crate::config::Config;

use super::plan::PlannedCall;

/// The estimated cost of one call on a live endpoint, in USD; 0 off live endpoints and for
/// unpriced models (a run with `--max-spend` refuses unpriced live models before any call).
pub fn call_estimate(cfg: &Config, call: &PlannedCall) -> f64 {
    if !cfg.endpoints[&call.endpoint].kind.is_live() {
        return 0.0;
    }
    cfg.model(&call.request.model)
        .price
        .as_ref()
        .map_or(0.0, |p| {
            p.cost(call.est_input_tokens, call.est_output_tokens).0
        })
}

#[derive(Debug, Default)]
struct State {
    spent: f64,
    in_flight: f64,
    closed: bool,
    not_started: usize,
}

/// A spending limit shared by every endpoint of a run (and its judge phase).
#[derive(Debug)]
pub struct Budget {
    limit: f64,
    state: Mutex<State>,
}

impl Budget {
    /// A limit of `limit` USD of which `spent` is already gone (an earlier part of the run).
    pub fn new(limit: f64, spent: f64) -> Budget {
        Budget {
            limit,
            state: Mutex::new(State {
                spent,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call estimated at `est` may start; when it may, `est` is held until
    /// [`Budget::settle`]. A refusal closes the budget for every later call.
    pub fn try_start(&self, est: f64) -> bool {
        let mut s = self.state();
        if !s.closed && s.spent + s.in_flight + est <= self.limit {
            s.in_flight += est;
            return true;
        }
        s.closed = true;
        s.not_started += 1;
        false
    }

    /// A started call finished: release its estimate, count what it cost.
    pub fn settle(&self, est: f64, cost: f64) {
        let mut s = self.state();
        s.in_flight = (s.in_flight - est).max(0.0);
        s.spent += cost;
    }

    /// Whether a call was refused (tests).
    #[cfg(test)]
    pub fn closed(&self) -> bool {
        self.state().closed
    }

    /// Calls refused so far.
    pub fn not_started(&self) -> usize {
        self.state().not_started
    }

    /// Money settled so far (tests).
    #[cfg(test)]
    pub fn spent(&self) -> f64 {
        self.state().spent
    }

    pub fn limit(&self) -> f64 {
        self.limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_start_while_spent_and_in_flight_stay_within_the_limit() {
        let b = Budget::new(1.0, 0.25);
        assert!(b.try_start(0.5));
        // 0.25 spent + 0.5 in flight + 0.5 would pass 1.0.
        assert!(!b.try_start(0.5));
        assert!(b.closed());
        // Closed: even a call that would fit does not start.
        assert!(!b.try_start(0.0));
        assert_eq!(b.not_started(), 2);
        b.settle(0.5, 0.7);
        assert!((b.spent() - 0.95).abs() < 1e-12);
    }

    #[test]
    fn an_open_budget_holds_each_estimate_until_settled() {
        let b = Budget::new(1.0, 0.0);
        assert!(b.try_start(0.4));
        assert!(b.try_start(0.4));
        b.settle(0.4, 0.1);
        assert!(b.try_start(0.4));
        assert!(!b.closed());
        assert_eq!(b.not_started(), 0);
    }
}
