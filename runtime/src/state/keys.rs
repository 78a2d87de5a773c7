//! API keys issued by hapax: the SQLite store under `data_dir` (shared by
//! `hapax keys`, the admin API and `serve`), and the live table the
//! request path checks keys against.
//!
//! A key reads `hpx_<id>_<secret>`: the id (12 hex digits) names the key in
//! logs and commands; the secret (256 random bits, base64url) is shown once
//! and stored only as its SHA-256, compared in constant time. `serve` keeps
//! the keys in memory and reloads them within [`REFRESH`] of any change by
//! another process (SQLite's `data_version`), so a key created, revoked or
//! rotated by the CLI or the admin API takes effect without a reload.

use arc_swap::ArcSwap;
use hapax_lang::expr::ClientInfo;
use rand::RngCore;
use rusqlite::{params, Connection};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How often `serve` looks for changes made by other processes.
pub const REFRESH: Duration = Duration::from_millis(200);
/// The store's file, under `data_dir`.
pub const FILE: &str = "keys.sqlite";
const PREFIX: &str = "hpx_";

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the key store `{path}`: {source}")]
    Store { path: PathBuf, source: rusqlite::Error },
    #[error("cannot create `{0}`: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("no key `{0}`")]
    NotFound(String),
    #[error("key `{0}` is revoked")]
    Revoked(String),
}

/// What a key stands for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub client: String,
    pub team: Option<String>,
    pub tier: Option<String>,
    pub roles: Vec<String>,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub expires: Option<u64>,
    pub revoked: Option<u64>,
}

impl KeyInfo {
    /// `active`, `expired` or `revoked`, at `now` (Unix seconds).
    pub fn state(&self, now: u64) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.expires.is_some_and(|e| e <= now) {
            "expired"
        } else {
            "active"
        }
    }
}

/// What `create` is asked for.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub client: String,
    pub team: Option<String>,
    pub tier: Option<String>,
    pub roles: Vec<String>,
    pub expires_in: Option<Duration>,
}

/// A duration in the language's syntax: `90d`, `12h`, `30m`, `45s`, `500ms`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let secs = match unit {
        "ms" => return Some(Duration::from_millis(n)),
        "s" => n,
        "m" => n.checked_mul(60)?,
        "h" => n.checked_mul(3600)?,
        "d" => n.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(secs))
}

/// Checks what a key is asked for: a client name, and names without commas
/// or control characters.
pub fn validate(new: &NewKey) -> Result<(), String> {
    let ok = |s: &str| !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_control() || c == ',');
    if !ok(&new.client) {
        return Err("a key needs a `client`: 1 to 128 characters, no commas or control characters".into());
    }
    for v in new.team.iter().chain(new.tier.iter()).chain(new.roles.iter()) {
        if !ok(v) {
            return Err(format!("`{v}` is not a valid team, tier or role name"));
        }
    }
    Ok(())
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn sha256(secret: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Splits `hpx_<id>_<secret>` into its id and secret.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = (20..=64).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    (id_ok && secret_ok).then_some((id, secret))
}

fn random_key() -> (String, String, [u8; 32]) {
    let mut rng = rand::rng();
    let mut id = [0u8; 6];
    rng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64url(&secret);
    let hash = sha256(secret.as_bytes());
    (format!("{PREFIX}{id}_{secret}"), id, hash)
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        let chars = c.len() + 1;
        for i in 0..chars {
            out.push(A[(n >> (18 - 6 * i)) as usize & 63] as char);
        }
    }
    out
}

/// The SQLite file of keys.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and `data_dir` when missing) the store.
    pub fn open(data_dir: &Path) -> Result<Store, KeyError> {
        std::fs::create_dir_all(data_dir).map_err(|e| KeyError::Dir(data_dir.to_path_buf(), e))?;
        let path = data_dir.join(FILE);
        let err = |source| KeyError::Store { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS keys (
               id       TEXT PRIMARY KEY,
               hash     BLOB NOT NULL,
               client   TEXT NOT NULL,
               team     TEXT,
               tier     TEXT,
               roles    TEXT NOT NULL,
               created  INTEGER NOT NULL,
               expires  INTEGER,
               revoked  INTEGER
             );",
        )
        .map_err(err)?;
        Ok(Store { conn, path })
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> KeyError + '_ {
        |source| KeyError::Store { path: self.path.clone(), source }
    }

    /// Issues a key; returns it (the only time it is seen) and its record.
    pub fn create(&self, new: &NewKey) -> Result<(String, KeyInfo), KeyError> {
        let (key, id, hash) = random_key();
        let created = now();
        let info = KeyInfo {
            id,
            client: new.client.clone(),
            team: new.team.clone(),
            tier: new.tier.clone(),
            roles: new.roles.clone(),
            created,
            expires: new.expires_in.map(|d| created.saturating_add(d.as_secs())),
            revoked: None,
        };
        self.conn
            .execute(
                "INSERT INTO keys (id, hash, client, team, tier, roles, created, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    info.id,
                    &hash[..],
                    info.client,
                    info.team,
                    info.tier,
                    info.roles.join(","),
                    info.created as i64,
                    info.expires.map(|e| e as i64)
                ],
            )
            .map_err(self.err())?;
        Ok((key, info))
    }

    /// Every key, oldest first.
    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        Ok(self.rows()?.into_iter().map(|(info, _)| info).collect())
    }

    fn rows(&self) -> Result<Vec<(KeyInfo, Vec<u8>)>, KeyError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, client, team, tier, roles, created, expires, revoked, hash FROM keys ORDER BY created, id",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([], |r| {
                let roles: String = r.get(4)?;
                Ok((
                    KeyInfo {
                        id: r.get(0)?,
                        client: r.get(1)?,
                        team: r.get(2)?,
                        tier: r.get(3)?,
                        roles: roles.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                        created: r.get::<_, i64>(5)? as u64,
                        expires: r.get::<_, Option<i64>>(6)?.map(|v| v as u64),
                        revoked: r.get::<_, Option<i64>>(7)?.map(|v| v as u64),
                    },
                    r.get::<_, Vec<u8>>(8)?,
                ))
            })
            .map_err(self.err())?;
        rows.collect::<Result<Vec<_>, _>>().map_err(self.err())
    }

    /// The id of a key given as the key itself or as its id.
    fn id_of(key_or_id: &str) -> &str {
        parse(key_or_id).map_or(key_or_id, |(id, _)| id)
    }

    fn get(&self, id: &str) -> Result<KeyInfo, KeyError> {
        self.list()?.into_iter().find(|k| k.id == id).ok_or_else(|| KeyError::NotFound(id.to_string()))
    }

    /// Revokes a key (given as the key or its id).
    pub fn revoke(&self, key_or_id: &str) -> Result<KeyInfo, KeyError> {
        let id = Self::id_of(key_or_id);
        let n = self
            .conn
            .execute("UPDATE keys SET revoked = ?1 WHERE id = ?2 AND revoked IS NULL", params![now() as i64, id])
            .map_err(self.err())?;
        let info = self.get(id)?;
        if n == 0 && info.revoked.is_none() {
            return Err(KeyError::NotFound(id.to_string()));
        }
        Ok(info)
    }

    /// Issues a new key for the same client, team, tier, roles and expiry,
    /// and revokes the old one, in one transaction.
    pub fn rotate(&self, key_or_id: &str) -> Result<(String, KeyInfo), KeyError> {
        let id = Self::id_of(key_or_id);
        let old = self.get(id)?;
        if old.revoked.is_some() {
            return Err(KeyError::Revoked(id.to_string()));
        }
        let tx = self.conn.unchecked_transaction().map_err(self.err())?;
        let left = old.expires.map(|e| Duration::from_secs(e.saturating_sub(now())));
        let new = NewKey {
            client: old.client.clone(),
            team: old.team.clone(),
            tier: old.tier.clone(),
            roles: old.roles.clone(),
            expires_in: left,
        };
        let made = self.create(&new)?;
        self.conn
            .execute("UPDATE keys SET revoked = ?1 WHERE id = ?2", params![now() as i64, id])
            .map_err(self.err())?;
        tx.commit().map_err(self.err())?;
        Ok(made)
    }

    /// A number that changes when another connection changed the file.
    fn data_version(&self) -> Result<i64, KeyError> {
        self.conn.query_row("PRAGMA data_version", [], |r| r.get(0)).map_err(self.err())
    }
}

/// One key as the request path sees it.
struct Entry {
    hash: [u8; 32],
    expires: Option<u64>,
    client: Arc<ClientInfo>,
}

/// The keys `serve` checks requests against: loaded from the store, and
/// reloaded when it changes.
pub struct Live {
    table: ArcSwap<HashMap<String, Entry>>,
    /// Where key changes seen in the store are recorded, if anywhere.
    pub audit: arc_swap::ArcSwapOption<crate::telemetry::audit::Auditor>,
}

/// Why a credential was refused (said to the client in general terms; the
/// log may say which).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Malformed,
    Unknown,
    Wrong,
    Expired,
}

impl Live {
    /// Opens the store under `data_dir`, loads it, and keeps it current
    /// from a background task (inside the tokio runtime) that holds only a
    /// weak reference, so it ends when the table is dropped.
    pub fn start(data_dir: &Path) -> Result<Arc<Live>, KeyError> {
        let store = Store::open(data_dir)?;
        // The version the loaded table stands for: read before loading, so
        // a change between the two is loaded again, never missed.
        let mut seen = store.data_version()?;
        let live = Arc::new(Live { table: ArcSwap::from_pointee(load(&store)?), audit: Default::default() });
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(live) = weak.upgrade() else { return };
                match store.data_version() {
                    Ok(v) if v != seen => match load(&store) {
                        Ok(t) => {
                            seen = v;
                            live.record_changes(&live.table.load(), &t);
                            live.table.store(Arc::new(t));
                            tracing::info!(target: "hapax::auth", keys = live.table.load().len(), "keys reloaded");
                        }
                        Err(e) => tracing::warn!(target: "hapax::auth", error = %e, "cannot reload the keys"),
                    },
                    Ok(_) => {}
                    Err(e) => tracing::warn!(target: "hapax::auth", error = %e, "cannot read the key store"),
                }
            }
        });
        Ok(live)
    }

    /// Audits the keys that appeared in or left the store (by the CLI or
    /// the admin API, in this process or another).
    fn record_changes(&self, old: &HashMap<String, Entry>, new: &HashMap<String, Entry>) {
        let Some(audit) = self.audit.load_full() else { return };
        let changes = new
            .iter()
            .filter(|(id, _)| !old.contains_key(*id))
            .map(|(id, e)| (id, e, "key_added"))
            .chain(old.iter().filter(|(id, _)| !new.contains_key(*id)).map(|(id, e)| (id, e, "key_removed")));
        for (id, e, action) in changes {
            audit.emit(
                crate::telemetry::audit::Event::new("key")
                    .set("action", action)
                    .set("key_id", id.as_str())
                    .set("client", e.client.id.as_str())
                    .set("roles", e.client.roles.clone()),
            );
        }
    }

    /// The client a key stands for, if it is a live key.
    pub fn check(&self, key: &str, now: u64) -> Result<(String, Arc<ClientInfo>), Refusal> {
        let (id, secret) = parse(key).ok_or(Refusal::Malformed)?;
        let table = self.table.load();
        let entry = table.get(id).ok_or(Refusal::Unknown)?;
        let hash = sha256(secret.as_bytes());
        if !same(&hash, &entry.hash) {
            return Err(Refusal::Wrong);
        }
        if entry.expires.is_some_and(|e| e <= now) {
            return Err(Refusal::Expired);
        }
        Ok((id.to_string(), entry.client.clone()))
    }
}

/// Compares two hashes in constant time: how much of them matched says
/// nothing (and, being hashes of the secret, would say little anyway).
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The live keys of a store: not revoked.
fn load(store: &Store) -> Result<HashMap<String, Entry>, KeyError> {
    let mut out = HashMap::new();
    for (info, hash) in store.rows()? {
        if info.revoked.is_some() || hash.len() != 32 {
            continue;
        }
        let mut h = [0u8; 32];
        h.copy_from_slice(&hash);
        let client = ClientInfo { id: info.client, tier: info.tier, team: info.team, roles: info.roles };
        out.insert(info.id, Entry { hash: h, expires: info.expires, client: Arc::new(client) });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hapax-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn keys_are_random_prefixed_and_stored_only_as_hashes() {
        let d = dir("store");
        let s = Store::open(&d).unwrap();
        let new = NewKey { client: "acme".into(), roles: vec!["admin".into()], ..Default::default() };
        let (k1, i1) = s.create(&new).unwrap();
        let (k2, _) = s.create(&new).unwrap();
        assert_ne!(k1, k2);
        assert!(k1.starts_with("hpx_") && parse(&k1) == Some((i1.id.as_str(), &k1[17..])), "{k1}");
        assert!(k1.len() >= 4 + 12 + 1 + 43, "256 bits of secret: {k1}");
        let raw = std::fs::read(d.join(FILE)).unwrap_or_default();
        let wal = std::fs::read(d.join(format!("{FILE}-wal"))).unwrap_or_default();
        let secret = parse(&k1).unwrap().1.as_bytes();
        for bytes in [&raw, &wal] {
            assert!(!bytes.windows(secret.len()).any(|w| w == secret), "the secret is not stored");
        }
        assert_eq!(s.list().unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn revoked_rotated_expired_and_forged_keys_are_refused() {
        let d = dir("live");
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = Store::open(&d).unwrap();
        let (good, info) =
            s.create(&NewKey { client: "c".into(), team: Some("t".into()), ..Default::default() }).unwrap();
        let (short, _) = s
            .create(&NewKey { client: "c".into(), expires_in: Some(Duration::from_secs(60)), ..Default::default() })
            .unwrap();
        let live = rt.block_on(async { Live::start(&d) }).unwrap();
        let t = now();
        let (id, client) = live.check(&good, t).unwrap();
        assert_eq!((id.as_str(), client.id.as_str(), client.team.as_deref()), (info.id.as_str(), "c", Some("t")));
        assert!(live.check(&short, t).is_ok());
        assert_eq!(live.check(&short, t + 61).err(), Some(Refusal::Expired));
        // A right id with a wrong secret, a made-up id, garbage.
        let wrong = format!("{}_{}", &good[..16], "A".repeat(43));
        assert_eq!(live.check(&wrong, t).err(), Some(Refusal::Wrong));
        assert_eq!(live.check(&format!("hpx_000000000000_{}", "A".repeat(43)), t).err(), Some(Refusal::Unknown));
        for bad in ["", "hpx_", "sk-abc", "hpx_zz_zz", &good[..20]] {
            assert_eq!(live.check(bad, t).err(), Some(Refusal::Malformed), "{bad}");
        }
        // Rotation and revocation are seen by a live table of another
        // connection within REFRESH.
        let other = Store::open(&d).unwrap();
        let (rotated, _) = other.rotate(&good).unwrap();
        assert!(other.revoke(&info.id).unwrap().revoked.is_some(), "revoking twice is no error");
        rt.block_on(async {
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            while live.check(&good, t).is_ok() || live.check(&rotated, t).is_err() {
                assert!(std::time::Instant::now() < deadline, "the change was not seen");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        assert_eq!(other.rotate(&good).err().map(|e| e.to_string()), Some(format!("key `{}` is revoked", info.id)));
        let _ = std::fs::remove_dir_all(&d);
    }
}
