//! Pacing a provider that signals its own rate limit (AIMD). When a
//! provider answers 429, or its `x-ratelimit-remaining-requests` (or
//! Anthropic's `anthropic-ratelimit-requests-remaining`) falls under
//! [`NEAR`] of its limit, Hapax holds the requests it sends there to a rate:
//! first the rate the provider accepted in the last second, then, at each
//! further signal (at most once per [`COOLDOWN`]), that rate halved (a 429)
//! or cut by a fifth (near the limit). Each quiet [`COOLDOWN`] adds a tenth
//! of the first rate; at twice the first rate (demand has fallen under the
//! provider's limit) it lets go. A request over the rate is not sent: the
//! next target of the route is tried, and without one the client gets 429
//! with `Retry-After` (see `pipeline::execute`).
//!
//! Not held back, the cost is one relaxed atomic load per request, and two
//! atomic operations per success.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The share of the provider's limit left that counts as near it.
pub const NEAR: f64 = 0.05;
/// The least time between two decreases, and between two increases.
pub const COOLDOWN: Duration = Duration::from_secs(1);
/// The lowest rate (requests per second) Hapax holds a provider to.
pub const MIN_RATE: f64 = 0.5;

pub struct Pacer {
    held: AtomicBool,
    /// Answers the provider accepted per second: the second they are
    /// counted in, this second's and the last one's.
    second: AtomicU64,
    this: AtomicU64,
    last: AtomicU64,
    pace: Mutex<Pace>,
    epoch: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    /// Requests per second let through, while held back.
    rate: f64,
    /// Twice the rate first held at: reached again, it lets go.
    ceiling: f64,
    /// The allowance (at most one second's worth) and when it was topped up.
    tokens: f64,
    at: Instant,
    changed: Instant,
}

/// What the provider said about its limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// It answered 429.
    Limited,
    /// It answered, with this share of its limit left.
    Left(f64),
    /// It answered and said nothing about its limit.
    Quiet,
}

impl Default for Pacer {
    fn default() -> Self {
        let now = Instant::now();
        Pacer {
            held: AtomicBool::new(false),
            second: AtomicU64::new(0),
            this: AtomicU64::new(0),
            last: AtomicU64::new(0),
            pace: Mutex::new(Pace { rate: 0.0, ceiling: 0.0, tokens: 0.0, at: now, changed: now }),
            epoch: now,
        }
    }
}

impl Pacer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pace> {
        self.pace.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The rate Hapax holds the provider to, if it does.
    pub fn rate(&self) -> Option<f64> {
        self.held.load(Ordering::Relaxed).then(|| self.lock().rate)
    }

    /// May a request be sent now? Else, how long until one may.
    pub fn admit(&self, now: Instant) -> Result<(), Duration> {
        if !self.held.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut p = self.lock();
        if !self.held.load(Ordering::Relaxed) {
            return Ok(());
        }
        p.tokens = (p.tokens + now.saturating_duration_since(p.at).as_secs_f64() * p.rate).min(p.rate.max(1.0));
        p.at = now;
        if p.tokens >= 1.0 {
            p.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - p.tokens) / p.rate))
    }

    fn count(&self, now: Instant) {
        let second = now.saturating_duration_since(self.epoch).as_secs() + 1;
        let seen = self.second.load(Ordering::Relaxed);
        if seen != second && self.second.compare_exchange(seen, second, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            let this = self.this.swap(0, Ordering::Relaxed);
            self.last.store(if second == seen + 1 { this } else { 0 }, Ordering::Relaxed);
        }
        self.this.fetch_add(1, Ordering::Relaxed);
    }

    /// The accepted rate of the last whole second (or of this one, if
    /// higher).
    fn accepted(&self) -> f64 {
        self.last.load(Ordering::Relaxed).max(self.this.load(Ordering::Relaxed)) as f64
    }

    /// Takes in what an answer said; returns the new rate when it changed
    /// (`Some(None)`: let go).
    pub fn signal(&self, s: Signal, now: Instant) -> Option<Option<f64>> {
        if s != Signal::Limited {
            self.count(now);
        }
        let cut = match s {
            Signal::Limited => 0.5,
            Signal::Left(share) if share <= NEAR => 0.8,
            _ => {
                if !self.held.load(Ordering::Relaxed) {
                    return None;
                }
                let mut p = self.lock();
                if !self.held.load(Ordering::Relaxed) || now.saturating_duration_since(p.changed) < COOLDOWN {
                    return None;
                }
                p.changed = now;
                p.rate += (p.ceiling / 20.0).max(MIN_RATE);
                if p.rate >= p.ceiling {
                    self.held.store(false, Ordering::Relaxed);
                    return Some(None);
                }
                return Some(Some(p.rate));
            }
        };
        let mut p = self.lock();
        let held = self.held.load(Ordering::Relaxed);
        if held && now.saturating_duration_since(p.changed) < COOLDOWN {
            return None;
        }
        if !held {
            let first = self.accepted().max(MIN_RATE);
            p.ceiling = 2.0 * first;
            p.rate = first;
            p.tokens = 0.0;
            p.at = now;
        } else {
            p.rate = (p.rate * cut).max(MIN_RATE);
        }
        p.changed = now;
        self.held.store(true, Ordering::Relaxed);
        Some(Some(p.rate))
    }
}

/// The share of its request limit a provider says is left, from its
/// rate-limit headers (OpenAI's or Anthropic's names).
pub fn left(headers: &http::HeaderMap) -> Option<f64> {
    let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<f64>().ok();
    let (remaining, limit) = num("x-ratelimit-remaining-requests")
        .zip(num("x-ratelimit-limit-requests"))
        .or_else(|| num("anthropic-ratelimit-requests-remaining").zip(num("anthropic-ratelimit-requests-limit")))?;
    (limit > 0.0).then(|| (remaining / limit).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_holds_to_the_accepted_rate_and_quiet_seconds_raise_it_until_let_go() {
        let p = Pacer::default();
        let t0 = p.epoch;
        // 20 answers accepted in the first second.
        for i in 0..20 {
            assert!(p.admit(t0 + Duration::from_millis(i * 50)).is_ok());
            assert_eq!(p.signal(Signal::Quiet, t0 + Duration::from_millis(i * 50)), None);
        }
        let t1 = t0 + Duration::from_millis(1000);
        assert_eq!(p.signal(Signal::Limited, t1), Some(Some(20.0)));
        // A second 429 within the cooldown does not cut again; one after it
        // halves the rate.
        assert_eq!(p.signal(Signal::Limited, t1 + Duration::from_millis(10)), None);
        let t2 = t1 + COOLDOWN;
        assert_eq!(p.signal(Signal::Limited, t2), Some(Some(10.0)));
        // Held to 10/s: the allowance refills at that rate.
        assert!(p.admit(t2).is_ok(), "a second of allowance was left");
        let mut t = t2;
        while p.admit(t).is_ok() {}
        t += Duration::from_millis(100);
        assert!(p.admit(t).is_ok());
        let wait = p.admit(t + Duration::from_millis(50)).unwrap_err();
        assert!(wait.abs_diff(Duration::from_millis(50)) < Duration::from_micros(10), "{wait:?}");
        // Quiet answers add a twentieth of the ceiling (40) each second...
        let mut rates = Vec::new();
        for _ in 0..40 {
            t += COOLDOWN;
            if let Some(r) = p.signal(Signal::Quiet, t) {
                rates.push(r);
            }
        }
        assert_eq!(rates[0], Some(12.0));
        // ...until it lets go at twice the rate first held at.
        assert_eq!(rates.len(), 15, "{rates:?}");
        assert_eq!(rates.last(), Some(&None));
        assert_eq!(p.rate(), None);
        assert!(p.admit(t).is_ok());
    }

    #[test]
    fn near_the_provider_s_limit_the_rate_is_cut_by_a_fifth() {
        let p = Pacer::default();
        let t0 = p.epoch + Duration::from_secs(5);
        for _ in 0..8 {
            p.signal(Signal::Quiet, t0);
        }
        assert_eq!(p.signal(Signal::Left(0.5), t0), None, "far from the limit: nothing changes");
        assert_eq!(p.signal(Signal::Left(0.01), t0), Some(Some(10.0)), "held to the accepted rate");
        assert_eq!(p.signal(Signal::Left(0.01), t0 + COOLDOWN), Some(Some(8.0)));
    }

    #[test]
    fn headers_give_the_share_left() {
        let mut h = http::HeaderMap::new();
        assert_eq!(left(&h), None);
        h.insert("x-ratelimit-limit-requests", "200".parse().unwrap());
        h.insert("x-ratelimit-remaining-requests", "5".parse().unwrap());
        assert_eq!(left(&h), Some(0.025));
        let mut a = http::HeaderMap::new();
        a.insert("anthropic-ratelimit-requests-limit", "50".parse().unwrap());
        a.insert("anthropic-ratelimit-requests-remaining", "junk".parse().unwrap());
        assert_eq!(left(&a), None);
    }
}
