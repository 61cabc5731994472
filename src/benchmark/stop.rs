//! Stopping a run early, and why: a journal (or recording) that cannot be written, a signal,
//! or an endpoint that refuses every call (`auth`, `quota_exhausted`).
//!
//! A stop has two stages. **Stop** means no new call starts (and no retry of a failed one).
//! **Abandon** means calls in flight are dropped without waiting for their answers (they were
//! not journaled, so a resume makes them again). A failed journal write abandons at once (an
//! answer that cannot be journaled is lost anyway); a first SIGTERM/SIGINT stops and lets the
//! calls in flight finish for at most [`SIGNAL_GRACE`]; a second one abandons them.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::provider::ErrorKind;

/// How long calls in flight may finish after the first SIGTERM/SIGINT before they are abandoned.
pub const SIGNAL_GRACE: Duration = Duration::from_secs(5);

/// Why a whole run stopped early.
#[derive(Debug, Clone, PartialEq)]
pub enum StopReason {
    /// The journal or the recording could not be written (a full disk, say); the message says which.
    WriteFailed(String),
    /// SIGHUP (1), SIGINT (2) or SIGTERM (15).
    Signal(i32),
}

impl StopReason {
    /// The exit code a run stopped this way ends with: 128 + the signal, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            StopReason::Signal(s) => (128 + s).clamp(0, 255) as u8,
            StopReason::WriteFailed(_) => crate::base::error::exit::RUNTIME,
        }
    }
}

/// An endpoint whose calls were stopped because it refuses them (a revoked key, no credit).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointFailure {
    pub kind: ErrorKind,
    /// The first refusing call's error, already free of keys.
    pub message: String,
    /// Calls of the endpoint not started because of it.
    pub not_started: usize,
}

/// The stop state shared by the runner, its writer thread and the signal handler.
#[derive(Default)]
pub struct Stop {
    stopped: AtomicBool,
    abandoned: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    endpoints: Mutex<BTreeMap<String, EndpointFailure>>,
    notify: Notify,
}

impl Stop {
    /// No new call starts from now on; the first reason given is kept.
    pub fn stop(&self, reason: StopReason) {
        let mut r = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if r.is_none() {
            *r = Some(reason);
        }
        self.stopped.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Calls in flight are dropped without waiting for their answers.
    pub fn abandon(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.abandoned.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    pub fn is_abandoned(&self) -> bool {
        self.abandoned.load(Ordering::SeqCst)
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves once calls in flight are to be abandoned.
    pub async fn abandoned(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_abandoned() {
                return;
            }
            notified.await;
        }
    }

    /// Stop the calls of `endpoint` (the first failure is kept).
    pub fn fail_endpoint(&self, endpoint: &str, kind: ErrorKind, message: &str) {
        let mut e = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        e.entry(endpoint.to_string()).or_insert(EndpointFailure {
            kind,
            message: message.to_string(),
            not_started: 0,
        });
    }

    /// Whether calls of `endpoint` may start; counts the call as not started when not.
    pub fn may_start(&self, endpoint: &str) -> bool {
        if self.is_stopped() {
            return false;
        }
        let mut e = self.endpoints.lock().unwrap_or_else(|p| p.into_inner());
        match e.get_mut(endpoint) {
            Some(f) => {
                f.not_started += 1;
                false
            }
            None => true,
        }
    }

    /// Endpoints stopped because they refused calls, by name.
    pub fn endpoint_failures(&self) -> BTreeMap<String, EndpointFailure> {
        self.endpoints
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// `SIGINT`, `SIGTERM`, `SIGHUP`, or `signal N`.
pub fn signal_name(sig: i32) -> String {
    match sig {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

/// Listen for SIGINT, SIGTERM and SIGHUP (a closed terminal) on the current runtime: the first stops the run gracefully
/// (calls in flight get [`SIGNAL_GRACE`]), the second abandons the calls in flight.
pub fn listen_for_signals(stop: std::sync::Arc<Stop>, quiet: bool) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let sig = tokio::select! {
                _ = int.recv() => 2,
                _ = term.recv() => 15,
                _ = hup.recv() => 1,
            };
            seen += 1;
            if seen == 1 {
                stop.stop(StopReason::Signal(sig));
                if !quiet {
                    crate::eoutln!(
                        "Stopping ({}): no new call starts; calls in flight get {} s to finish (signal again to abandon them)",
                        signal_name(sig),
                        SIGNAL_GRACE.as_secs()
                    );
                }
                let s = stop.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(SIGNAL_GRACE).await;
                    s.abandon();
                });
            } else {
                stop.abandon();
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_is_kept_and_failed_endpoints_start_nothing() {
        let s = Stop::default();
        assert!(s.may_start("api"));
        s.fail_endpoint("api", ErrorKind::Auth, "auth (HTTP 401): bad key");
        s.fail_endpoint("api", ErrorKind::Server, "later");
        assert!(!s.may_start("api"));
        assert!(!s.may_start("api"));
        assert!(s.may_start("other"));
        let f = &s.endpoint_failures()["api"];
        assert_eq!((f.kind, f.not_started), (ErrorKind::Auth, 2));
        s.stop(StopReason::Signal(15));
        s.stop(StopReason::WriteFailed("disk".into()));
        assert_eq!(s.reason(), Some(StopReason::Signal(15)));
        assert!(!s.may_start("other"));
        assert!(!s.is_abandoned());
        assert_eq!(s.reason().unwrap().exit_code(), 143);
        assert_eq!(StopReason::Signal(2).exit_code(), 130);
    }
}
