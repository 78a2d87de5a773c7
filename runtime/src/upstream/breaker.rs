//! The circuit breaker of one provider: closed until `failures` failures
//! happen within `within`, then open (requests skip the provider) for
//! `open_for`, then half-open: one probe goes through, and its outcome closes
//! or reopens the breaker.
//!
//! The lock is held for a few instructions and never across an await.

use prometheus::IntGauge;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, as exported in `hapax_breaker_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

#[derive(Debug)]
enum Inner {
    Closed {
        failures: VecDeque<Instant>,
    },
    Open {
        until: Instant,
    },
    /// `probe`: when the one allowed probe started, if it has.
    HalfOpen {
        probe: Option<Instant>,
    },
}

/// Whether a request may go to the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Yes,
    /// The request is the half-open probe.
    Probe,
    No,
}

pub struct Breaker {
    failures: u32,
    within: Duration,
    open_for: Duration,
    inner: Mutex<Inner>,
    gauge: IntGauge,
}

impl Breaker {
    pub fn new(cfg: &hapax_lang::graph::Breaker, gauge: IntGauge) -> Self {
        gauge.set(BreakerState::Closed as i64);
        Breaker {
            failures: cfg.failures.max(1),
            within: cfg.within,
            open_for: cfg.open_for,
            inner: Mutex::new(Inner::Closed { failures: VecDeque::new() }),
            gauge,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock cannot leave `Inner` inconsistent
        // (every update is a single assignment), so a poisoned lock is fine.
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    /// Asks to send a request.
    pub fn admit(&self) -> Admit {
        self.admit_at(Instant::now())
    }

    pub fn record_failure(&self) {
        self.record_failure_at(Instant::now())
    }

    // The clock is a parameter, so that the unit tests set the time instead
    // of sleeping past `open_for` and `within`.

    fn state_at(&self, now: Instant) -> BreakerState {
        match &*self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until } if now >= *until => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    fn admit_at(&self, now: Instant) -> Admit {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { .. } => Admit::Yes,
            Inner::Open { until } => {
                if now < *until {
                    return Admit::No;
                }
                *inner = Inner::HalfOpen { probe: Some(now) };
                self.gauge.set(BreakerState::HalfOpen as i64);
                Admit::Probe
            }
            Inner::HalfOpen { probe } => {
                // A probe whose outcome never came (the client went away)
                // must not keep the breaker half-open forever.
                let stale = probe.is_none_or(|t| now.duration_since(t) >= self.open_for.max(Duration::from_secs(1)));
                if stale {
                    *probe = Some(now);
                    Admit::Probe
                } else {
                    Admit::No
                }
            }
        }
    }

    pub fn record_success(&self) {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { failures } => failures.clear(),
            _ => {
                *inner = Inner::Closed { failures: VecDeque::new() };
                self.gauge.set(BreakerState::Closed as i64);
                tracing::info!(target: "hapax::breaker", "circuit breaker closed");
            }
        }
    }

    fn record_failure_at(&self, now: Instant) {
        let mut inner = self.lock();
        match &mut *inner {
            Inner::Closed { failures } => {
                while failures.front().is_some_and(|t| now.duration_since(*t) > self.within) {
                    failures.pop_front();
                }
                failures.push_back(now);
                if failures.len() >= self.failures as usize {
                    *inner = Inner::Open { until: now + self.open_for };
                    self.gauge.set(BreakerState::Open as i64);
                }
            }
            Inner::HalfOpen { .. } => {
                *inner = Inner::Open { until: now + self.open_for };
                self.gauge.set(BreakerState::Open as i64);
            }
            // Failures of requests admitted before the breaker opened.
            Inner::Open { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(failures: u32, within_ms: u64, open_ms: u64) -> Breaker {
        let cfg = hapax_lang::graph::Breaker {
            failures,
            within: Duration::from_millis(within_ms),
            open_for: Duration::from_millis(open_ms),
        };
        Breaker::new(&cfg, IntGauge::new("g", "g").unwrap())
    }

    /// The instant `ms` milliseconds after `t0`.
    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn opens_after_failures_then_half_opens() {
        let b = breaker(3, 10_000, 50);
        let t0 = Instant::now();
        for _ in 0..2 {
            assert_eq!(b.admit_at(t0), Admit::Yes);
            b.record_failure_at(t0);
        }
        assert_eq!(b.state_at(t0), BreakerState::Closed);
        b.record_failure_at(t0);
        assert_eq!(b.state_at(t0), BreakerState::Open);
        assert_eq!(b.admit_at(at(t0, 49)), Admit::No, "open until `open_for` has passed");
        assert_eq!(b.state_at(at(t0, 50)), BreakerState::HalfOpen);
        assert_eq!(b.admit_at(at(t0, 50)), Admit::Probe);
        assert_eq!(b.admit_at(at(t0, 51)), Admit::No, "only one probe at a time");
        // The probe fails: open again for `open_for` from then.
        b.record_failure_at(at(t0, 60));
        assert_eq!(b.state_at(at(t0, 60)), BreakerState::Open);
        assert_eq!(b.admit_at(at(t0, 109)), Admit::No);
        assert_eq!(b.admit_at(at(t0, 110)), Admit::Probe);
        b.record_success();
        assert_eq!(b.state_at(at(t0, 110)), BreakerState::Closed);
        assert_eq!(b.admit_at(at(t0, 110)), Admit::Yes);
    }

    #[test]
    fn a_probe_without_an_outcome_is_replaced() {
        // The probe's client went away: after max(open_for, 1 s) another
        // request becomes the probe.
        let b = breaker(1, 10_000, 50);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        assert_eq!(b.admit_at(at(t0, 50)), Admit::Probe);
        assert_eq!(b.admit_at(at(t0, 1049)), Admit::No);
        assert_eq!(b.admit_at(at(t0, 1050)), Admit::Probe);
        assert_eq!(b.admit_at(at(t0, 1051)), Admit::No);
    }

    #[test]
    fn old_failures_do_not_count() {
        let b = breaker(2, 20, 1000);
        let t0 = Instant::now();
        b.record_failure_at(t0);
        b.record_failure_at(at(t0, 21));
        assert_eq!(b.state_at(at(t0, 21)), BreakerState::Closed, "the first failure is older than `within`");
        b.record_failure_at(at(t0, 30));
        assert_eq!(b.state_at(at(t0, 30)), BreakerState::Open, "two failures within 20 ms");
    }
}
