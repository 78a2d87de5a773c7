//! Rate limits and quotas: one [`Limiter`] per `limit` declaration, with a
//! counter per key (`by client.id`: one per client). Time is passed in (in
//! milliseconds since the epoch), so the property tests run on a
//! simulated clock. Call sites hold a [`RateLimiter`], the trait a shared
//! (cluster) backend implements too.
//!
//! - `requests N per 1m` / `tokens N per 1m` (a sliding window): at most N
//!   in any window of that length. Costs that arrive within 1/64 of the
//!   window of each other are kept together, stamped with the later time, so
//!   the count is exact or errs towards refusing (a request may wait up to
//!   1/64 of the window longer than strictly needed), never towards
//!   admitting more.
//! - `per day|week|month|...` (a calendar period): at most N from one UTC
//!   boundary to the next. Its usage is written to the usage store under
//!   `data_dir` (see [`Limiter::drain`]) and read back at start, so a
//!   restart does not give a quota back.
//! - `burst B` (requests): at most B requests at once; the allowance
//!   refills at N per window. Without it, only the window limits.
//! - A request reserves its cost in every dimension at once, under the
//!   key's lock: concurrent requests can never pass a limit together (no
//!   check-then-increment race). Tokens are reserved from an estimate and
//!   settled to the real usage afterwards ([`RateLimiter::settle`]).
//! - An operator may reset a key or grant it a one-off extra allowance for
//!   the current window or period ([`RateLimiter::add_allowance`]).
//! - `notify ... at 80%`: a reservation that takes a key across the share
//!   says so in its [`Grant`], once per key and window.
//! - Each key's admitted and refused requests and its tokens are tallied
//!   per hour for the usage analytics ([`Limiter::drain`]).
//!
//! The table of keys is bounded ([`MAX_KEYS`]): idle keys are dropped when
//! it fills, and when every key is active a new key is refused rather than
//! an active one forgotten (forgetting would let its client start over).

use crate::telemetry::audit::chain::days_from_civil;
use hapax_lang::graph::{Calendar, Limit, Rate, Window};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Keys per limit, at most.
pub const MAX_KEYS: usize = 100_000;
/// A key longer than this is kept by its hash.
const MAX_KEY_LEN: usize = 256;
/// Costs closer than window / `GRAIN` share an entry.
const GRAIN: u64 = 64;
const HOUR_MS: u64 = 3_600_000;
/// Hours of analytics a key keeps unwritten, at most (the store is written
/// every second; more only piles up while it cannot be).
const MAX_PENDING_HOURS: usize = 48;

/// What call sites use: the local [`Limiter`], or a shared backend.
pub trait RateLimiter: Send + Sync {
    fn name(&self) -> &str;
    fn limits_requests(&self) -> bool;
    fn limits_tokens(&self) -> bool;
    /// Reserves one request and `tokens` for `key`, or refuses with when
    /// to come back. All or nothing.
    fn reserve(&self, key: &str, now: u64, tokens: u64) -> Result<Grant, Refusal>;
    /// Settles a grant's tokens to what was really used.
    fn settle(&self, grant: &Grant, used: u64, now: u64);
    /// Gives a whole grant back (the request was refused by a later limit).
    fn release(&self, grant: &Grant);
    /// A key's usage now.
    fn usage(&self, key: &str, now: u64) -> KeyUsage;
    /// How many keys are tracked, and up to `max` of them, the most used
    /// first.
    fn keys(&self, now: u64, max: usize) -> (usize, Vec<KeyUsage>);
    /// Forgets a key's usage in every window; whether it had any.
    fn reset(&self, key: &str, now: u64) -> bool;
    /// Raises the key's limit by `requests` and `tokens` until the current
    /// window (sliding: from now) or calendar period ends.
    fn add_allowance(&self, key: &str, requests: u64, tokens: u64, now: u64);
}

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
                *c = c.saturating_add(cost);
            }
            _ => self.entries.push_back((stamp, cost)),
        }
        self.sum = self.sum.saturating_add(cost);
    }

    /// How long until `cost` more would fit under `limit` (ms); `None`
    /// when it never can.
    fn wait(&self, span: Span, now: u64, limit: u64, cost: u64) -> Option<u64> {
        if cost > limit {
            return None;
        }
        let need = self.sum.saturating_add(cost).saturating_sub(limit);
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
        let i = self.entries.partition_point(|(t, _)| *t < stamp);
        if let Some(e) = self.entries.get_mut(i) {
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

/// An extra allowance: `amount` more until `until` (ms).
#[derive(Debug, Clone, Copy, Default)]
struct Extra {
    amount: u64,
    until: u64,
}

impl Extra {
    fn at(self, now: u64) -> u64 {
        if now < self.until {
            self.amount
        } else {
            0
        }
    }
}

/// One hour of a key's traffic: admitted and refused requests and the
/// tokens used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// The hour's start (ms since the epoch).
    pub hour: u64,
    pub requests: u64,
    pub tokens: u64,
    pub refused: u64,
}

/// One dimension of one key.
#[derive(Debug, Clone, Default)]
struct Dim {
    used: Use,
    extra: Extra,
    /// The window the last notification was for (a calendar period's
    /// start, or when a sliding one was sent) and how many thresholds
    /// were announced in it.
    notified: Option<(u64, usize)>,
}

const REQUESTS: usize = 0;
const TOKENS: usize = 1;
const DIMENSIONS: [&str; 2] = ["requests", "tokens"];

/// One key's state.
#[derive(Debug, Clone, Default)]
struct KeyState {
    dims: [Dim; 2],
    bucket: Option<Bucket>,
    /// Hours of analytics not yet written.
    pending: Vec<Tally>,
    /// A calendar dimension changed since it was last written.
    dirty: bool,
}

impl KeyState {
    /// Nothing in any window and nothing left to write but analytics: the
    /// key may be dropped (its analytics spilled first, see
    /// [`Limiter::forget_idle`]).
    fn idle(&self, now: u64) -> bool {
        self.dims.iter().all(|d| d.used.sum == 0 && d.extra.at(now) == 0) && !self.dirty
    }

    fn tally(&mut self, now: u64) -> &mut Tally {
        let hour = now / HOUR_MS * HOUR_MS;
        if self.pending.last().is_none_or(|t| t.hour != hour) {
            if self.pending.len() >= MAX_PENDING_HOURS {
                self.pending.remove(0);
            }
            self.pending.push(Tally { hour, ..Tally::default() });
        }
        let last = self.pending.len() - 1;
        &mut self.pending[last]
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

/// A key's usage crossed a `notify` threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Crossing {
    pub dimension: &'static str,
    /// The threshold crossed, a share of the limit.
    pub at: f64,
    pub used: u64,
    pub limit: u64,
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
    /// `notify` thresholds this reservation took the key across.
    pub crossed: Vec<Crossing>,
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

/// One dimension of a key's usage, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DimUsage {
    pub used: u64,
    /// The limit, with any extra allowance in force.
    pub limit: u64,
    pub extra: u64,
    pub remaining: u64,
    pub reset_ms: u64,
}

/// A key's usage, for the admin API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyUsage {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests: Option<DimUsage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<DimUsage>,
}

impl KeyUsage {
    /// The largest share of a limit used, in parts per million.
    fn share(&self) -> u64 {
        [&self.requests, &self.tokens]
            .into_iter()
            .flatten()
            .map(|d| (u128::from(d.used) * 1_000_000 / u128::from(d.limit.max(1))) as u64)
            .max()
            .unwrap_or(0)
    }
}

/// A calendar dimension's usage of one key, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaRow {
    pub key: String,
    pub dimension: &'static str,
    pub period_start: u64,
    pub used: u64,
    pub extra: u64,
    pub extra_until: u64,
}

/// What changed since the last [`Limiter::drain`].
#[derive(Debug, Default)]
pub struct Drained {
    pub quotas: Vec<QuotaRow>,
    pub tallies: Vec<(String, Tally)>,
}

/// One `limit` declaration's counters, in this process.
pub struct Limiter {
    pub name: String,
    pub fingerprint: u64,
    dims: [Option<(u64, Span)>; 2],
    burst: Option<u64>,
    /// The `notify` shares, ascending and distinct.
    thresholds: Vec<f64>,
    shards: Vec<Mutex<HashMap<String, KeyState>>>,
    /// The analytics of keys dropped before they were written (at most
    /// [`MAX_KEYS`] entries; more are lost).
    spilled: Mutex<Vec<(String, Tally)>>,
}

const SHARDS: usize = 16;

type Table = HashMap<String, KeyState>;

impl Limiter {
    pub fn new(limit: &Limit) -> Limiter {
        let dim = |r: &Option<Rate>| r.map(|r| (r.count.max(0.0) as u64, Span::of(r.window)));
        let mut thresholds: Vec<f64> = limit.notify.iter().map(|n| n.at).collect();
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        Limiter {
            name: limit.decl.name.clone(),
            fingerprint: limit.decl.fingerprint,
            dims: [dim(&limit.requests), dim(&limit.tokens)],
            burst: limit.burst,
            thresholds,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            spilled: Mutex::new(Vec::new()),
        }
    }

    /// The key a value stands under: itself, or its hash when long.
    pub fn key(value: &str) -> String {
        if value.len() <= MAX_KEY_LEN {
            value.to_string()
        } else {
            format!("sha256:{}", crate::telemetry::audit::chain::sha256_hex(value.as_bytes()))
        }
    }

    /// Whether the limit has a calendar period, whose usage is kept across
    /// restarts.
    pub fn has_calendar(&self) -> bool {
        self.dims.iter().flatten().any(|(_, s)| matches!(s, Span::Calendar(_)))
    }

    fn shard(&self, key: &str) -> std::sync::MutexGuard<'_, Table> {
        let h = hapax_lang::expr::stable_hash(key) as usize;
        self.shards[h % self.shards.len()].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self, i: usize) -> std::sync::MutexGuard<'_, Table> {
        self.shards[i].lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Drops the keys with nothing in their windows, keeping their
    /// analytics for the next [`Limiter::drain`].
    fn forget_idle(&self, table: &mut Table, now: u64) {
        let mut spilled = self.spilled.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        table.retain(|key, s| {
            self.expire(s, now);
            if !s.idle(now) {
                return true;
            }
            let room = MAX_KEYS.saturating_sub(spilled.len());
            spilled.extend(s.pending.drain(..).take(room).map(|t| (key.clone(), t)));
            false
        });
    }

    fn expire(&self, state: &mut KeyState, now: u64) {
        for (dim, spec) in state.dims.iter_mut().zip(self.dims) {
            if let Some((_, span)) = spec {
                dim.used.expire(span, now);
            }
        }
    }

    fn usage_of(&self, key: &str, state: Option<&KeyState>, now: u64) -> KeyUsage {
        let dim = |d: usize| {
            let (limit, span) = self.dims[d]?;
            let empty = Dim::default();
            let dim = state.map_or(&empty, |s| &s.dims[d]);
            let extra = dim.extra.at(now);
            let s = status_of(&dim.used, limit.saturating_add(extra), span, now);
            Some(DimUsage { used: dim.used.sum, limit: s.limit, extra, remaining: s.remaining, reset_ms: s.reset_ms })
        };
        KeyUsage { key: key.to_string(), requests: dim(REQUESTS), tokens: dim(TOKENS) }
    }

    /// Announces the thresholds `dim` is now at or over, once per window.
    fn crossings(&self, dim: &mut Dim, d: usize, span: Span, limit: u64, now: u64, out: &mut Vec<Crossing>) {
        let (window, in_window) = match (span, dim.notified) {
            (Span::Calendar(c), Some((t, _))) => (period(c, now).0, t == period(c, now).0),
            (Span::Calendar(c), None) => (period(c, now).0, false),
            (Span::Sliding(w), Some((t, _))) => (if now < t + w { t } else { now }, now < t + w),
            (Span::Sliding(_), None) => (now, false),
        };
        let done = if in_window { dim.notified.map_or(0, |n| n.1) } else { 0 };
        let mut level = done;
        for &at in &self.thresholds[done..] {
            if (dim.used.sum as f64) < at * limit as f64 {
                break;
            }
            level += 1;
            let reset_ms = status_of(&dim.used, limit, span, now).reset_ms;
            out.push(Crossing { dimension: DIMENSIONS[d], at, used: dim.used.sum, limit, reset_ms });
        }
        if level > done {
            dim.notified = Some((window, level));
        }
    }

    /// Takes what changed since the last call: the calendar usage of the
    /// keys whose usage moved, and the analytics tallies. Keys left with
    /// nothing to remember are dropped.
    pub fn drain(&self, now: u64) -> Drained {
        let mut out = Drained::default();
        for i in 0..self.shards.len() {
            let mut table = self.lock(i);
            for (key, state) in table.iter_mut() {
                self.expire(state, now);
                if state.dirty {
                    state.dirty = false;
                    for (d, spec) in self.dims.iter().enumerate() {
                        let Some((_, Span::Calendar(c))) = spec else { continue };
                        let dim = &state.dims[d];
                        let period_start = dim.used.entries.front().map_or(period(*c, now).0, |e| e.0);
                        out.quotas.push(QuotaRow {
                            key: key.clone(),
                            dimension: DIMENSIONS[d],
                            period_start,
                            used: dim.used.sum,
                            extra: dim.extra.at(now),
                            extra_until: dim.extra.until,
                        });
                    }
                }
                out.tallies.extend(state.pending.drain(..).map(|t| (key.clone(), t)));
            }
            self.forget_idle(&mut table, now);
        }
        out.tallies.append(&mut self.spilled.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        out
    }

    /// Takes back the calendar usage the store kept: rows of the current
    /// periods only.
    pub fn restore(&self, rows: Vec<QuotaRow>, now: u64) {
        for row in rows {
            let Some(d) = DIMENSIONS.iter().position(|n| *n == row.dimension) else { continue };
            let Some((_, Span::Calendar(c))) = self.dims[d] else { continue };
            if row.period_start != period(c, now).0 {
                continue;
            }
            let mut table = self.shard(&row.key);
            let state = table.entry(row.key.clone()).or_default();
            let dim = &mut state.dims[d];
            dim.used = Use { entries: VecDeque::from([(row.period_start, row.used)]), sum: row.used };
            if row.extra_until > now {
                dim.extra = Extra { amount: row.extra, until: row.extra_until };
            }
        }
    }
}

impl RateLimiter for Limiter {
    fn name(&self) -> &str {
        &self.name
    }

    fn limits_requests(&self) -> bool {
        self.dims[REQUESTS].is_some()
    }

    fn limits_tokens(&self) -> bool {
        self.dims[TOKENS].is_some()
    }

    fn reserve(&self, key: &str, now: u64, tokens: u64) -> Result<Grant, Refusal> {
        let mut table = self.shard(key);
        if !table.contains_key(key) && table.len() >= MAX_KEYS / SHARDS {
            self.forget_idle(&mut table, now);
            if table.len() >= MAX_KEYS / SHARDS {
                let status = Status { limit: 0, remaining: 0, reset_ms: 0 };
                return Err(Refusal { retry_ms: Some(1000), dimension: "keys", status });
            }
        }
        let state = table.entry(key.to_string()).or_default();
        let costs = [1, tokens];
        // Check every dimension before taking anything.
        for d in [REQUESTS, TOKENS] {
            let Some((limit, span)) = self.dims[d] else { continue };
            let dim = &mut state.dims[d];
            dim.used.expire(span, now);
            let limit = limit.saturating_add(dim.extra.at(now));
            match dim.used.wait(span, now, limit, costs[d]) {
                Some(0) => {}
                wait => {
                    let status = status_of(&dim.used, limit, span, now);
                    state.tally(now).refused += 1;
                    return Err(Refusal { retry_ms: wait, dimension: DIMENSIONS[d], status });
                }
            }
        }
        if let (Some(burst), Some((limit, span))) = (self.burst, self.dims[REQUESTS]) {
            let rate = limit as f64 / span.len_ms(now) as f64;
            let b = state.bucket.get_or_insert(Bucket { tokens: burst as f64, at: now });
            b.tokens = (b.tokens + (now.saturating_sub(b.at)) as f64 * rate).min(burst as f64);
            b.at = now;
            if b.tokens < 1.0 {
                let wait = ((1.0 - b.tokens) / rate.max(f64::MIN_POSITIVE)).ceil() as u64;
                let status = status_of(&state.dims[REQUESTS].used, limit, span, now);
                state.tally(now).refused += 1;
                return Err(Refusal { retry_ms: Some(wait.max(1)), dimension: "requests", status });
            }
            b.tokens -= 1.0;
        }
        let mut grant = Grant {
            key: key.to_string(),
            at: now,
            tokens: 0,
            requests: None,
            tokens_status: None,
            crossed: Vec::new(),
        };
        for d in [REQUESTS, TOKENS] {
            let Some((limit, span)) = self.dims[d] else { continue };
            let dim = &mut state.dims[d];
            dim.used.add(span, now, costs[d]);
            let limit = limit.saturating_add(dim.extra.at(now));
            let status = Some(status_of(&dim.used, limit, span, now));
            if d == REQUESTS {
                grant.requests = status;
            } else {
                grant.tokens = tokens;
                grant.tokens_status = status;
            }
            if !self.thresholds.is_empty() {
                self.crossings(dim, d, span, limit, now, &mut grant.crossed);
            }
            state.dirty |= matches!(span, Span::Calendar(_));
        }
        state.tally(now).requests += 1;
        Ok(grant)
    }

    fn settle(&self, grant: &Grant, used: u64, now: u64) {
        let mut table = self.shard(&grant.key);
        let Some(state) = table.get_mut(&grant.key) else { return };
        state.tally(now).tokens += used;
        let Some((_, span)) = self.dims[TOKENS] else { return };
        if used == grant.tokens {
            return;
        }
        let dim = &mut state.dims[TOKENS].used;
        if used < grant.tokens {
            dim.refund(span, grant.at, grant.tokens - used);
        } else {
            // More than reserved: counted now (it may take the key over its
            // limit; the next request then waits).
            dim.expire(span, now);
            dim.add(span, now, used - grant.tokens);
        }
        state.dirty |= matches!(span, Span::Calendar(_));
    }

    fn release(&self, grant: &Grant) {
        let mut table = self.shard(&grant.key);
        let Some(state) = table.get_mut(&grant.key) else { return };
        for (d, cost) in [(REQUESTS, 1), (TOKENS, grant.tokens)] {
            if let Some((_, span)) = self.dims[d] {
                state.dims[d].used.refund(span, grant.at, cost);
                state.dirty |= matches!(span, Span::Calendar(_));
            }
        }
        if let Some(b) = &mut state.bucket {
            b.tokens += 1.0;
        }
        let t = state.tally(grant.at);
        t.requests = t.requests.saturating_sub(1);
    }

    fn usage(&self, key: &str, now: u64) -> KeyUsage {
        let mut table = self.shard(key);
        let state = table.get_mut(key);
        if let Some(s) = state {
            self.expire(s, now);
            return self.usage_of(key, Some(s), now);
        }
        self.usage_of(key, None, now)
    }

    fn keys(&self, now: u64, max: usize) -> (usize, Vec<KeyUsage>) {
        let mut all = Vec::new();
        let mut total = 0;
        for i in 0..self.shards.len() {
            let mut table = self.lock(i);
            for (key, state) in table.iter_mut() {
                self.expire(state, now);
                if state.dims.iter().any(|d| d.used.sum > 0 || d.extra.at(now) > 0) {
                    total += 1;
                    all.push(self.usage_of(key, Some(state), now));
                }
            }
        }
        all.sort_by(|a, b| b.share().cmp(&a.share()).then_with(|| a.key.cmp(&b.key)));
        all.truncate(max);
        (total, all)
    }

    fn reset(&self, key: &str, now: u64) -> bool {
        let mut table = self.shard(key);
        let Some(state) = table.get_mut(key) else { return false };
        self.expire(state, now);
        let had = state.dims.iter().any(|d| d.used.sum > 0);
        for dim in &mut state.dims {
            dim.used = Use::default();
            dim.notified = None;
        }
        state.bucket = None;
        state.dirty |= self.has_calendar();
        had
    }

    fn add_allowance(&self, key: &str, requests: u64, tokens: u64, now: u64) {
        let mut table = self.shard(key);
        let state = table.entry(key.to_string()).or_default();
        for (d, amount) in [(REQUESTS, requests), (TOKENS, tokens)] {
            let Some((_, span)) = self.dims[d] else { continue };
            if amount == 0 {
                continue;
            }
            let until = match span {
                Span::Calendar(c) => period(c, now).1,
                Span::Sliding(w) => now + w,
            };
            let extra = &mut state.dims[d].extra;
            *extra = Extra { amount: extra.at(now).saturating_add(amount), until: until.max(extra.until) };
            state.dirty |= matches!(span, Span::Calendar(_));
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
            notify: Vec::new(),
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
