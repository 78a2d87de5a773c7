//! The usage store: `usage.db` under `data_dir`, a SQLite file that keeps
//! what the limiters must not forget and what operators ask about:
//!
//! - `quota`: each key's usage of a calendar period (`per day`, `per
//!   month`, ...) and its extra allowance, by limit name and definition, so
//!   a restart does not give a quota back and a changed definition starts
//!   afresh;
//! - `usage_hourly`: each key's admitted and refused requests and tokens
//!   per hour ([`HOURLY_KEPT`] of them), summed by hour or day on query.
//!
//! The limiters are drained into it every [`EVERY`] by a thread of its own
//! (and once more at shutdown), never from the request path: a `kill -9`
//! loses at most that last second.

use crate::state::limiter::{Drained, Limiter, QuotaRow, Tally};
use crate::telemetry::metrics::Metrics;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const FILE: &str = "usage.db";
/// How often the limiters are written.
pub const EVERY: Duration = Duration::from_secs(1);
/// How long hourly analytics are kept.
pub const HOURLY_KEPT: Duration = Duration::from_secs(90 * 24 * 3600);
/// Keys per limit that get their own label in the metrics; the rest are
/// counted under `key="_other"`.
pub const LABELLED_KEYS: usize = 100;
/// Rows one query answers, at most.
pub const MAX_ROWS: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error("cannot create the data directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("usage store {path}: {source}")]
    Store { path: PathBuf, source: rusqlite::Error },
}

/// The SQLite file.
pub struct UsageStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

/// The grain of a usage query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Per {
    Hour,
    Day,
}

/// What to read: every bound optional; times in ms since the epoch.
#[derive(Debug, Clone)]
pub struct Query {
    pub limit: Option<String>,
    pub key: Option<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
    pub per: Per,
}

/// One row of a usage query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UsageRow {
    pub limit: String,
    pub key: String,
    /// The hour's or day's start, RFC 3339.
    pub start: String,
    pub requests: u64,
    pub tokens: u64,
    pub refused: u64,
}

impl UsageStore {
    /// Opens (creating it and `data_dir` when missing) the store.
    pub fn open(data_dir: &Path) -> Result<UsageStore, UsageError> {
        std::fs::create_dir_all(data_dir).map_err(|e| UsageError::Dir(data_dir.to_path_buf(), e))?;
        let path = data_dir.join(FILE);
        let err = |source| UsageError::Store { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS quota (
               limit_name   TEXT NOT NULL,
               fingerprint  INTEGER NOT NULL,
               key          TEXT NOT NULL,
               dimension    TEXT NOT NULL,
               period_start INTEGER NOT NULL,
               used         INTEGER NOT NULL,
               extra        INTEGER NOT NULL,
               extra_until  INTEGER NOT NULL,
               PRIMARY KEY (limit_name, fingerprint, key, dimension)
             );
             CREATE TABLE IF NOT EXISTS usage_hourly (
               limit_name TEXT NOT NULL,
               key        TEXT NOT NULL,
               hour       INTEGER NOT NULL,
               requests   INTEGER NOT NULL,
               tokens     INTEGER NOT NULL,
               refused    INTEGER NOT NULL,
               PRIMARY KEY (limit_name, key, hour)
             );
             CREATE INDEX IF NOT EXISTS usage_by_hour ON usage_hourly (hour);",
        )
        .map_err(err)?;
        Ok(UsageStore { conn: Mutex::new(conn), path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> UsageError + '_ {
        |source| UsageError::Store { path: self.path.clone(), source }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The calendar usage kept for a limit's definition.
    pub fn quotas(&self, limit: &str, fingerprint: u64) -> Result<Vec<QuotaRow>, UsageError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT key, dimension, period_start, used, extra, extra_until FROM quota
                 WHERE limit_name = ?1 AND fingerprint = ?2",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map(params![limit, fingerprint as i64], |r| {
                let dimension: String = r.get(1)?;
                Ok(QuotaRow {
                    key: r.get(0)?,
                    dimension: if dimension == "tokens" { "tokens" } else { "requests" },
                    period_start: r.get::<_, i64>(2)? as u64,
                    used: r.get::<_, i64>(3)? as u64,
                    extra: r.get::<_, i64>(4)? as u64,
                    extra_until: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Writes what a limiter drained, in one transaction.
    pub fn write(&self, limit: &str, fingerprint: u64, drained: &Drained) -> Result<(), UsageError> {
        if drained.quotas.is_empty() && drained.tallies.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.err())?;
        {
            let mut quota = tx
                .prepare(
                    "INSERT INTO quota VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (limit_name, fingerprint, key, dimension) DO UPDATE SET
                       period_start = excluded.period_start, used = excluded.used,
                       extra = excluded.extra, extra_until = excluded.extra_until",
                )
                .map_err(self.err())?;
            for q in &drained.quotas {
                quota
                    .execute(params![
                        limit,
                        fingerprint as i64,
                        q.key,
                        q.dimension,
                        q.period_start as i64,
                        q.used as i64,
                        q.extra as i64,
                        q.extra_until as i64
                    ])
                    .map_err(self.err())?;
            }
            let mut hourly = tx
                .prepare(
                    "INSERT INTO usage_hourly VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (limit_name, key, hour) DO UPDATE SET
                       requests = requests + excluded.requests, tokens = tokens + excluded.tokens,
                       refused = refused + excluded.refused",
                )
                .map_err(self.err())?;
            for (key, t) in &drained.tallies {
                hourly
                    .execute(params![limit, key, t.hour as i64, t.requests as i64, t.tokens as i64, t.refused as i64])
                    .map_err(self.err())?;
            }
        }
        tx.commit().map_err(self.err())
    }

    /// Usage per limit, key and hour or day, oldest first, at most
    /// [`MAX_ROWS`] rows.
    pub fn query(&self, q: &Query) -> Result<Vec<UsageRow>, UsageError> {
        let grain: i64 = match q.per {
            Per::Hour => 3_600_000,
            Per::Day => 86_400_000,
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT limit_name, key, (hour / ?1) * ?1 AS start, SUM(requests), SUM(tokens), SUM(refused)
                 FROM usage_hourly
                 WHERE (?2 IS NULL OR limit_name = ?2) AND (?3 IS NULL OR key = ?3)
                   AND hour >= ?4 AND hour < ?5
                 GROUP BY limit_name, key, start
                 ORDER BY start, limit_name, key
                 LIMIT ?6",
            )
            .map_err(self.err())?;
        let since = q.since.map_or(0, |s| s as i64 / grain * grain);
        let until = q.until.map_or(i64::MAX, |u| u as i64);
        let rows = stmt
            .query_map(params![grain, q.limit, q.key, since, until, MAX_ROWS as i64], |r| {
                let start = r.get::<_, i64>(2)? as u64;
                Ok(UsageRow {
                    limit: r.get(0)?,
                    key: r.get(1)?,
                    start: crate::telemetry::audit::chain::rfc3339(
                        std::time::UNIX_EPOCH + Duration::from_millis(start),
                    ),
                    requests: r.get::<_, i64>(3)? as u64,
                    tokens: r.get::<_, i64>(4)? as u64,
                    refused: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Drops hourly rows older than [`HOURLY_KEPT`] and quota rows of
    /// periods that ended more than a year ago.
    pub fn prune(&self, now: u64) -> Result<(), UsageError> {
        let conn = self.conn();
        let hourly = now.saturating_sub(HOURLY_KEPT.as_millis() as u64) as i64;
        conn.execute("DELETE FROM usage_hourly WHERE hour < ?1", [hourly]).map_err(self.err())?;
        let year = now.saturating_sub(400 * 86_400_000) as i64;
        conn.execute("DELETE FROM quota WHERE period_start < ?1", [year]).map_err(self.err())?;
        Ok(())
    }

    /// The newest hour with any usage (for tests and `hapax limits show`).
    pub fn newest_hour(&self) -> Result<Option<u64>, UsageError> {
        let conn = self.conn();
        let h: Option<Option<i64>> =
            conn.query_row("SELECT MAX(hour) FROM usage_hourly", [], |r| r.get(0)).optional().map_err(self.err())?;
        Ok(h.flatten().map(|h| h as u64))
    }
}

/// A limiter and the store it is written to.
pub struct Kept {
    pub limiter: Arc<Limiter>,
    pub store: Arc<UsageStore>,
}

/// Writes the limiters to their stores and counts their traffic in the
/// metrics, with a bounded set of key labels.
pub struct Flusher {
    metrics: Arc<Metrics>,
    /// The keys with a label of their own, by limit.
    labelled: HashMap<String, HashSet<String>>,
    last_prune: u64,
    last_error: Option<std::time::Instant>,
}

impl Flusher {
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Flusher { metrics, labelled: HashMap::new(), last_prune: 0, last_error: None }
    }

    /// Drains every limiter into its store.
    pub fn flush(&mut self, kept: &[Kept], now: u64) {
        for k in kept {
            let drained = k.limiter.drain(now);
            self.count(&k.limiter.name, &drained.tallies);
            if let Err(e) = k.store.write(&k.limiter.name, k.limiter.fingerprint, &drained) {
                self.failed(&e);
            }
        }
        if now.saturating_sub(self.last_prune) > 3_600_000 {
            self.last_prune = now;
            let stores: Vec<_> = kept.iter().map(|k| &k.store).collect();
            for s in stores.iter().take(1) {
                if let Err(e) = s.prune(now) {
                    self.failed(&e);
                }
            }
        }
    }

    fn failed(&mut self, e: &UsageError) {
        // Logged at most once a minute: a full disk must not flood the log.
        if self.last_error.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            self.last_error = Some(std::time::Instant::now());
            tracing::warn!(target: "hapax::limit", error = %e, "cannot write the usage store");
        }
    }

    fn count(&mut self, limit: &str, tallies: &[(String, Tally)]) {
        if tallies.is_empty() {
            return;
        }
        let labelled = self.labelled.entry(limit.to_string()).or_default();
        for (key, t) in tallies {
            if !labelled.contains(key) && labelled.len() < LABELLED_KEYS {
                labelled.insert(key.clone());
            }
            let label = if labelled.contains(key) { key.as_str() } else { "_other" };
            let m = &self.metrics;
            m.add(&m.limit_requests, &[limit, label, "admitted"], t.requests);
            m.add(&m.limit_requests, &[limit, label, "refused"], t.refused);
            m.add(&m.limit_tokens, &[limit, label], t.tokens);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_and_tallies_round_trip_and_sum_by_day() {
        let dir = std::env::temp_dir().join(format!("hapax-usage-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = UsageStore::open(&dir).unwrap();
        let day = 86_400_000;
        let t0 = 20_000 * day;
        let drained = Drained {
            quotas: vec![QuotaRow {
                key: "alice".into(),
                dimension: "tokens",
                period_start: t0,
                used: 42,
                extra: 0,
                extra_until: 0,
            }],
            tallies: vec![
                ("alice".into(), Tally { hour: t0, requests: 2, tokens: 30, refused: 1 }),
                ("alice".into(), Tally { hour: t0 + 3_600_000, requests: 1, tokens: 12, refused: 0 }),
            ],
        };
        store.write("q", 7, &drained).unwrap();
        store.write("q", 7, &drained).unwrap();
        assert_eq!(store.quotas("q", 7).unwrap(), drained.quotas, "a quota row is replaced, not added to");
        assert!(store.quotas("q", 8).unwrap().is_empty(), "another definition sees nothing");
        let q = Query { limit: Some("q".into()), key: None, since: None, until: None, per: Per::Hour };
        let hours = store.query(&q).unwrap();
        assert_eq!(
            hours.iter().map(|r| (r.requests, r.tokens, r.refused)).collect::<Vec<_>>(),
            [(4, 60, 2), (2, 24, 0)]
        );
        let days = store.query(&Query { per: Per::Day, ..q }).unwrap();
        assert_eq!(days.len(), 1);
        assert_eq!((days[0].requests, days[0].tokens, days[0].start.as_str()), (6, 84, "2024-10-04T00:00:00.000Z"));
        store.prune(t0 + HOURLY_KEPT.as_millis() as u64 + 2 * 3_600_000).unwrap();
        assert!(store
            .query(&Query { limit: None, key: None, since: None, until: None, per: Per::Hour })
            .unwrap()
            .is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
