//! Rate limits and quotas: one [`Limiter`] per `limit` declaration, with a
//! counter per key (`by client.id`: one per client). Time is passed in (in
//! milliseconds since the epoch), so the property tests run on a
//! simulated clock.
//!
//! - `requests N per 1m` / `tokens N per 1m` (a sliding window): at most N
//!   in any window of that length. Costs that arrive within 1/64 of the
//!   window of each other are kept together, stamped with the later time, so
//!   the count is exact or errs towards refusing (a request may wait up to
//!   1/64 of the window longer than strictly needed), never towards
//!   admitting more.
//! - `per day|week|month|...` (a calendar period): at most N from one UTC
//!   boundary to the next.
//! - `burst B` (requests): at most B requests at once; the allowance
//!   refills at N per window. Without it, only the window limits.
//! - A request reserves its cost in every dimension at once, under the
//!   key's lock: concurrent requests can never pass a limit together (no
//!   check-then-increment race). Tokens are reserved from an estimate and
//!   settled to the real usage afterwards ([`Limiter::settle`]).
//!
//! The table of keys is bounded ([`MAX_KEYS`]): idle keys are dropped when
//! it fills, and when every key is active a new key is refused rather than
//! an active one forgotten (forgetting would let its client start over).

use hapax_lang::graph::{Calendar, Limit, Rate, Window};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Keys per limit, at most.
pub const MAX_KEYS: usize = 100_000;
/// A key longer than this is kept by its hash.
const MAX_KEY_LEN: usize = 256;
/// Costs closer than window / `GRAIN` share an entry.
const GRAIN: u64 = 64;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// One dimension's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Sliding(u64),
    Calendar(Calendar),
}

impl Span {
    fn of(w: Window) -> Span {
        match w {
            Window::Sliding(d) => Span::Sliding((d.as_millis() as u64).max(1)),
            Window::Calendar(c) => Span::Calendar(c),
        }
    }

    /// The length of the window (a calendar period's current length).
    fn len_ms(self, now: u64) -> u64 {
        match self {
            Span::Sliding(w) => w,
            Span::Calendar(c) => {
                let (start, end) = period(c, now);
                end - start
            }
        }
    }
}

/// The calendar period holding `now`: its start and end (ms), at UTC
/// boundaries; weeks start on Monday.
pub fn period(c: Calendar, now: u64) -> (u64, u64) {
    const MIN: u64 = 60_000;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;
    let fixed = |len: u64, offset: u64| {
        let start = (now + offset) / len * len - offset;
        (start, start + len)
    };
    match c {
        Calendar::Minute => fixed(MIN, 0),
        Calendar::Hour => fixed(HOUR, 0),
        Calendar::Day => fixed(DAY, 0),
        // 1970-01-05 was a Monday: shift so weeks start there.
        Calendar::Week => fixed(7 * DAY, 3 * DAY),
        Calendar::Month => {
            let days = now / DAY;
            let (y, m, _) = crate::telemetry::audit::chain::civil(days);
            let start = days_from_civil(y, m, 1) * DAY;
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (start, days_from_civil(ny, nm, 1) * DAY)
        }
        Calendar::Year => {
            let (y, _, _) = crate::telemetry::audit::chain::civil(now / DAY);
            (days_from_civil(y, 1, 1) * DAY, days_from_civil(y + 1, 1, 1) * DAY)
        }
    }
}

/// Days since 1970-01-01 of a date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The use of one dimension by one key.
#[derive(Debug, Clone, Default)]
struct Use {
    /// Sliding: (time, cost), oldest first. Calendar: one entry, stamped
    /// with the period's start.
    entries: VecDeque<(u64, u64)>,
    sum: u64,
}

impl Use {
    fn expire(&mut self, span: Span, now: u64) {
        let cutoff = match span {
            Span::Sliding(w) => now.saturating_sub(w),
            Span::Calendar(c) => period(c, now).0.saturating_sub(1),
        };
        while let Some(&(t, cost)) = self.entries.front() {
            if t > cutoff {
                break;
            }
            self.sum -= cost;
            self.entries.pop_front();
        }
    }

    fn add(&mut self, span: Span, now: u64, cost: u64) {
        let stamp = match span {
            Span::Sliding(_) => now,
            Span::Calendar(c) => period(c, now).0,
        };
        let grain = match span {
            Span::Sliding(w) => w / GRAIN,
            Span::Calendar(_) => 0,
        };
        match self.entries.back_mut() {
            // Kept together, at the later time: it expires later, never sooner.
            Some((t, c)) if stamp.saturating_sub(*t) <= grain => {
                *t = (*t).max(stamp);
                *c += cost;
            }
            _ => self.entries.push_back((stamp, cost)),
        }
        self.sum += cost;
    }

    /// How long until `cost` more would fit under `limit` (ms); `None`
    /// when it never can.
    fn wait(&self, span: Span, now: u64, limit: u64, cost: u64) -> Option<u64> {
        if cost > limit {
            return None;
        }
        let need = (self.sum + cost).saturating_sub(limit);
        if need == 0 {
            return Some(0);
        }
        match span {
            Span::Calendar(c) => Some(period(c, now).1 - now),
            Span::Sliding(w) => {
                let mut freed = 0;
                for &(t, c) in &self.entries {
                    freed += c;
                    if freed >= need {
                        return Some((t + w).saturating_sub(now).max(1));
                    }
                }
                Some(w)
            }
        }
    }

    /// Takes back up to `cost` reserved at `at` (settling to less).
    fn refund(&mut self, span: Span, at: u64, cost: u64) {
        let stamp = match span {
            Span::Sliding(_) => at,
            Span::Calendar(c) => period(c, at).0,
        };
        // Entries only ever move later, so the reservation is in the first
        // entry stamped at or after it (if it has not expired).
        if let Some(e) = self.entries.iter_mut().find(|(t, _)| *t >= stamp) {
            let back = cost.min(e.1);
            e.1 -= back;
            self.sum -= back;
        }
    }
}

/// `burst`: a bucket of at most `capacity` requests, refilled at `rate`
/// per ms.
#[derive(Debug, Clone)]
struct Bucket {
    tokens: f64,
    at: u64,
}

/// One key's state.
#[derive(Debug, Clone, Default)]
struct KeyState {
    requests: Use,
    tokens: Use,
    bucket: Option<Bucket>,
}

impl KeyState {
    fn idle(&self) -> bool {
        self.requests.sum == 0 && self.tokens.sum == 0
    }
}

/// A dimension's figures for the rate-limit headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    pub limit: u64,
    pub remaining: u64,
    /// Milliseconds until the count next goes down (a sliding window) or
    /// the period ends (a calendar one).
    pub reset_ms: u64,
}

/// What admission granted: to settle once the real usage is known.
#[derive(Debug, Clone)]
pub struct Grant {
    pub key: String,
    pub at: u64,
    pub tokens: u64,
    pub requests: Option<Status>,
    pub tokens_status: Option<Status>,
}

/// Why not, and when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// Milliseconds until the request would be admitted; `None` when it
    /// never would (its cost alone is over the limit).
    pub retry_ms: Option<u64>,
    pub dimension: &'static str,
    pub status: Status,
}

/// One `limit` declaration's counters.
pub struct Limiter {
    pub name: String,
    requests: Option<(u64, Span)>,
    tokens: Option<(u64, Span)>,
    burst: Option<u64>,
    shards: Vec<Mutex<HashMap<String, KeyState>>>,
}

const SHARDS: usize = 16;

impl Limiter {
    pub fn new(limit: &Limit) -> Limiter {
        let dim = |r: &Option<Rate>| r.map(|r| (r.count.max(0.0) as u64, Span::of(r.window)));
        Limiter {
            name: limit.decl.name.clone(),
            requests: dim(&limit.requests),
            tokens: dim(&limit.tokens),
            burst: limit.burst,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    pub fn limits_requests(&self) -> bool {
        self.requests.is_some()
    }

    pub fn limits_tokens(&self) -> bool {
        self.tokens.is_some()
    }

    /// The key a value stands under: itself, or its hash when long.
    pub fn key(value: &str) -> String {
        if value.len() <= MAX_KEY_LEN {
            value.to_string()
        } else {
            format!("sha256:{}", crate::telemetry::audit::chain::sha256_hex(value.as_bytes()))
        }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, KeyState>> {
        let h = hapax_lang::expr::stable_hash(key) as usize;
        &self.shards[h % self.shards.len()]
    }

    /// Reserves one request and `tokens` for `key`, or refuses with when to
    /// come back. All or nothing.
    pub fn reserve(&self, key: &str, now: u64, tokens: u64) -> Result<Grant, Refusal> {
        let mut table = self.shard(key).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !table.contains_key(key) && table.len() >= MAX_KEYS / SHARDS {
            table.retain(|_, s| {
                s.requests.expire(self.requests.map_or(Span::Sliding(1), |r| r.1), now);
                s.tokens.expire(self.tokens.map_or(Span::Sliding(1), |r| r.1), now);
                !s.idle()
            });
            if table.len() >= MAX_KEYS / SHARDS {
                let status = Status { limit: 0, remaining: 0, reset_ms: 0 };
                return Err(Refusal { retry_ms: Some(1000), dimension: "keys", status });
            }
        }
        let state = table.entry(key.to_string()).or_default();
        // Check every dimension before taking anything.
        if let Some((limit, span)) = self.requests {
            state.requests.expire(span, now);
            if let Some(wait) = state.requests.wait(span, now, limit, 1).filter(|w| *w > 0) {
                let status = status_of(&state.requests, limit, span, now);
                return Err(Refusal { retry_ms: Some(wait), dimension: "requests", status });
            }
        }
        if let Some((limit, span)) = self.tokens {
            state.tokens.expire(span, now);
            match state.tokens.wait(span, now, limit, tokens) {
                Some(0) => {}
                wait => {
                    let status = status_of(&state.tokens, limit, span, now);
                    return Err(Refusal { retry_ms: wait, dimension: "tokens", status });
                }
            }
        }
        if let (Some(burst), Some((limit, span))) = (self.burst, self.requests) {
            let rate = limit as f64 / span.len_ms(now) as f64;
            let b = state.bucket.get_or_insert(Bucket { tokens: burst as f64, at: now });
            b.tokens = (b.tokens + (now.saturating_sub(b.at)) as f64 * rate).min(burst as f64);
            b.at = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / rate.max(f64::MIN_POSITIVE)).ceil() as u64;
                let status = status_of(&state.requests, limit, span, now);
                return Err(Refusal { retry_ms: Some(wait.max(1)), dimension: "requests", status });
            }
            b.tokens -= 1.0;
        }
        let mut grant = Grant { key: key.to_string(), at: now, tokens: 0, requests: None, tokens_status: None };
        if let Some((limit, span)) = self.requests {
            state.requests.add(span, now, 1);
            grant.requests = Some(status_of(&state.requests, limit, span, now));
        }
        if let Some((limit, span)) = self.tokens {
            state.tokens.add(span, now, tokens);
            grant.tokens = tokens;
            grant.tokens_status = Some(status_of(&state.tokens, limit, span, now));
        }
        Ok(grant)
    }

    /// Settles a grant's tokens to what was really used.
    pub fn settle(&self, grant: &Grant, used: u64, now: u64) {
        let Some((_, span)) = self.tokens else { return };
        if used == grant.tokens {
            return;
        }
        let mut table = self.shard(&grant.key).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(state) = table.get_mut(&grant.key) else { return };
        if used < grant.tokens {
            state.tokens.refund(span, grant.at, grant.tokens - used);
        } else {
            // More than reserved: counted now (it may take the key over its
            // limit; the next request then waits).
            state.tokens.expire(span, now);
            state.tokens.add(span, now, used - grant.tokens);
        }
    }

    /// Gives a whole grant back (the request was refused by a later limit).
    pub fn release(&self, grant: &Grant) {
        let mut table = self.shard(&grant.key).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(state) = table.get_mut(&grant.key) else { return };
        if let Some((_, span)) = self.requests {
            state.requests.refund(span, grant.at, 1);
        }
        if let Some((_, span)) = self.tokens {
            state.tokens.refund(span, grant.at, grant.tokens);
        }
        if let Some(b) = &mut state.bucket {
            b.tokens += 1.0;
        }
    }
}

fn status_of(u: &Use, limit: u64, span: Span, now: u64) -> Status {
    let reset_ms = match span {
        Span::Calendar(c) => period(c, now).1 - now,
        Span::Sliding(w) => u.entries.front().map_or(0, |(t, _)| (t + w).saturating_sub(now)),
    };
    Status { limit, remaining: limit.saturating_sub(u.sum), reset_ms }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hapax_lang::graph::Decl;
    use proptest::prelude::*;
    use std::time::Duration;

    fn limit(requests: Option<(u64, Window)>, tokens: Option<(u64, Window)>, burst: Option<u64>) -> Limiter {
        let rate = |r: Option<(u64, Window)>| r.map(|(n, w)| Rate { count: n as f64, window: w });
        Limiter::new(&Limit {
            decl: Decl {
                name: "l".into(),
                loc: hapax_lang::span::Loc {
                    file: hapax_lang::span::FileId(0),
                    span: hapax_lang::span::Span::new(0, 0),
                },
                fingerprint: 0,
            },
            by: None,
            requests: rate(requests),
            tokens: rate(tokens),
            burst,
            scope: hapax_lang::graph::Scope::Local,
        })
    }

    const MIN: u64 = 60_000;

    #[test]
    fn a_sliding_window_refuses_the_excess_and_says_when_to_return() {
        let l = limit(Some((3, Window::Sliding(Duration::from_secs(60)))), None, None);
        let t0 = 1_000_000_000;
        for i in 0..3 {
            assert!(l.reserve("k", t0 + i * 10_000, 0).is_ok());
        }
        let r = l.reserve("k", t0 + 30_000, 0).unwrap_err();
        // The first request leaves the window at t0 + 60 s.
        assert_eq!(r.retry_ms, Some(30_000));
        assert_eq!(r.status.remaining, 0);
        assert!(l.reserve("k", t0 + 60_000, 0).is_ok());
        // Another key is counted apart.
        assert!(l.reserve("other", t0 + 30_000, 0).is_ok());
    }

    #[test]
    fn a_calendar_quota_resets_at_the_utc_boundary() {
        let l = limit(None, Some((100, Window::Calendar(Calendar::Day))), None);
        let day = 24 * 60 * MIN;
        let late = 20_000 * day + day - 1000; // one second before midnight UTC
        assert!(l.reserve("k", late, 100).is_ok());
        let r = l.reserve("k", late, 1).unwrap_err();
        assert_eq!(r.retry_ms, Some(1000));
        assert!(l.reserve("k", late + 1000, 100).is_ok(), "a new day");
        // A cost over the whole limit never fits.
        assert_eq!(l.reserve("k", late + 2000, 101).unwrap_err().retry_ms, None);
    }

    #[test]
    fn months_and_weeks_have_their_real_boundaries() {
        let day = 24 * 60 * MIN;
        // 2024-02-15 (leap year): February has 29 days.
        let feb15 = days_from_civil(2024, 2, 15) * day;
        assert_eq!(
            period(Calendar::Month, feb15),
            (days_from_civil(2024, 2, 1) * day, days_from_civil(2024, 3, 1) * day)
        );
        let (s, e) = period(Calendar::Month, days_from_civil(2026, 12, 31) * day + 5);
        assert_eq!((s, e), (days_from_civil(2026, 12, 1) * day, days_from_civil(2027, 1, 1) * day));
        // 2026-12-02 is a Wednesday: its week began Monday 2026-11-30.
        let (s, _) = period(Calendar::Week, days_from_civil(2026, 12, 2) * day + 3_600_000);
        assert_eq!(s, days_from_civil(2026, 11, 30) * day);
    }

    #[test]
    fn tokens_are_settled_to_the_real_usage() {
        let l = limit(None, Some((1000, Window::Sliding(Duration::from_secs(60)))), None);
        let t = 5_000_000;
        let g = l.reserve("k", t, 800).unwrap();
        assert!(l.reserve("k", t + 1, 300).is_err());
        l.settle(&g, 100, t + 2);
        assert!(l.reserve("k", t + 3, 300).is_ok(), "the refund made room");
        let g2 = l.reserve("k", t + 4, 100).unwrap();
        l.settle(&g2, 900, t + 5);
        assert!(l.reserve("k", t + 6, 1).is_err(), "the overrun is counted");
    }

    #[test]
    fn burst_caps_what_comes_at_once() {
        let l = limit(Some((600, Window::Sliding(Duration::from_secs(60)))), None, Some(5));
        let t = 9_000_000;
        for _ in 0..5 {
            assert!(l.reserve("k", t, 0).is_ok());
        }
        let r = l.reserve("k", t, 0).unwrap_err();
        assert_eq!(r.retry_ms, Some(100), "one request refills every 100 ms");
        assert!(l.reserve("k", t + 100, 0).is_ok());
    }

    #[test]
    fn the_key_table_is_bounded_and_keeps_active_keys() {
        let l = limit(Some((1, Window::Sliding(Duration::from_secs(3600)))), None, None);
        let t = 7_000_000;
        let mut refused = 0;
        for i in 0..(MAX_KEYS + 5_000) {
            if l.reserve(&format!("k{i}"), t, 0).is_err() {
                refused += 1;
            }
        }
        assert!(refused >= 5_000, "{refused}");
        // A known key is still limited.
        assert!(l.reserve("k0", t + 1, 0).is_err());
        // Once the window passes the idle keys go and new keys fit.
        assert!(l.reserve("new", t + 3_600_001, 0).is_ok());
    }

    proptest! {
        /// Whatever the arrival times and costs, no window of the declared
        /// length ever holds more than the limit (plus nothing: burst only
        /// restricts).
        #[test]
        fn no_window_ever_holds_more_than_the_limit(
            gaps in proptest::collection::vec(0u64..5_000, 1..400),
            costs in proptest::collection::vec(1u64..50, 400),
            limit_n in 1u64..200,
            window_s in 1u64..30,
            burst in proptest::option::of(1u64..20),
        ) {
            let w = window_s * 1000;
            let l = limit(Some((limit_n, Window::Sliding(Duration::from_millis(w)))), Some((limit_n * 20, Window::Sliding(Duration::from_millis(w)))), burst);
            let mut t = 1_000_000u64;
            let mut admitted: Vec<(u64, u64)> = Vec::new();
            for (gap, cost) in gaps.iter().zip(&costs) {
                t += gap;
                if l.reserve("k", t, *cost).is_ok() {
                    admitted.push((t, *cost));
                }
            }
            for (i, &(start, _)) in admitted.iter().enumerate() {
                let inside = admitted[i..].iter().take_while(|(u, _)| *u < start + w);
                let (n, tokens) = inside.fold((0u64, 0u64), |(n, s), (_, c)| (n + 1, s + c));
                prop_assert!(n <= limit_n, "{n} requests in a window of {w} ms, limit {limit_n}");
                prop_assert!(tokens <= limit_n * 20, "{tokens} tokens in a window");
            }
        }

        /// Concurrent callers on one key never pass the limit together.
        #[test]
        fn concurrent_callers_never_overshoot(threads in 2usize..8, tries in 10usize..200, limit_n in 1u64..100) {
            let l = std::sync::Arc::new(limit(None, Some((limit_n * 10, Window::Sliding(Duration::from_secs(60)))), None));
            let admitted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
            let handles: Vec<_> = (0..threads).map(|_| {
                let (l, admitted) = (l.clone(), admitted.clone());
                std::thread::spawn(move || for _ in 0..tries {
                    if l.reserve("k", 1_000_000, 7).is_ok() {
                        admitted.fetch_add(7, std::sync::atomic::Ordering::Relaxed);
                    }
                })
            }).collect();
            for h in handles { h.join().unwrap(); }
            prop_assert!(admitted.load(std::sync::atomic::Ordering::Relaxed) <= limit_n * 10);
        }
    }
}
