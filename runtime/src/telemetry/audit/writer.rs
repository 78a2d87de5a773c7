//! The audit writer: one thread that takes events in order, redacts and
//! seals them into the chain, and writes them in batches to every sink.
//! Files are flushed to the OS after each batch and synced at rotation and
//! shutdown; they rotate by period (`rotate hourly|daily|weekly`) and size
//! (`max_size`) into `NAME-YYYYMMDDTHHMMSSZ-NNN.EXT` beside the active file,
//! and rotated files older than `keep` are deleted in the background.

use super::chain::{self, GENESIS};
use super::redact::Rules;
use super::webhook;
use super::{Config, Event, Msg, VERSION};
use crate::telemetry::metrics::Metrics;
use hapax_lang::graph::SinkKind;
use serde_json::{Map, Value};
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Messages written per batch, at most.
const BATCH: usize = 1024;
/// How often rotated files are pruned, besides at each rotation.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Checks that an audit file can be opened for appending (its folder is
/// made when missing).
pub fn check_path(path: &Path) -> Result<(), String> {
    open_append(path).map(drop).map_err(|e| format!("cannot open the audit file `{}`: {e}", path.display()))
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

/// A rotated, pruned JSON Lines file.
struct FileSink {
    path: PathBuf,
    /// Seconds per period (0: never by time).
    period: u64,
    keep: Option<Duration>,
    max_size: Option<u64>,
    out: BufWriter<File>,
    size: u64,
    /// The period the open file belongs to.
    current: u64,
}

fn period_secs(rotate: Option<&str>) -> u64 {
    match rotate {
        Some("hourly") => 3600,
        Some("daily") | None => 86_400,
        Some("weekly") => 7 * 86_400,
        _ => 0,
    }
}

/// The period a time falls in (weeks start on Monday).
fn period_of(t: SystemTime, period: u64) -> u64 {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    match period {
        0 => 0,
        p if p == 7 * 86_400 => (secs + 3 * 86_400) / p,
        p => secs / p,
    }
}

impl FileSink {
    fn open(
        path: PathBuf,
        rotate: Option<&str>,
        keep: Option<Duration>,
        max_size: Option<u64>,
    ) -> Result<Self, String> {
        let file = open_append(&path).map_err(|e| format!("cannot open the audit file `{}`: {e}", path.display()))?;
        let meta = file.metadata().ok();
        let size = meta.as_ref().map_or(0, std::fs::Metadata::len);
        let period = period_secs(rotate);
        // A file last written in an earlier period rotates at the next write.
        let written = meta.and_then(|m| m.modified().ok()).unwrap_or_else(SystemTime::now);
        let current = if size == 0 { period_of(SystemTime::now(), period) } else { period_of(written, period) };
        Ok(FileSink { path, period, keep, max_size, out: BufWriter::with_capacity(64 * 1024, file), size, current })
    }

    fn write(&mut self, line: &str, now: SystemTime) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        let by_time = self.period != 0 && period_of(now, self.period) != self.current;
        let by_size = self.max_size.is_some_and(|m| self.size > 0 && self.size + len > m);
        if by_time || by_size {
            self.rotate(now)?;
        }
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    /// Closes the active file under a dated name and starts a new one.
    fn rotate(&mut self, now: SystemTime) -> std::io::Result<()> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        let stamp = chain::rfc3339(now).replace(['-', ':'], "");
        let stamp = stamp.split('.').next().unwrap_or("").to_string() + "Z";
        let (stem, ext) = stem_ext(&self.path);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // A counter keeps names in order when several rotations fall in
        // one second (by size).
        let mut n = 0;
        let mut target = dir.join(format!("{stem}-{stamp}-{n:03}{ext}"));
        while target.exists() {
            n += 1;
            target = dir.join(format!("{stem}-{stamp}-{n:03}{ext}"));
        }
        std::fs::rename(&self.path, &target)?;
        let file = open_append(&self.path)?;
        self.out = BufWriter::with_capacity(64 * 1024, file);
        self.size = 0;
        self.current = period_of(now, self.period);
        tracing::info!(target: "hapax::audit", rotated = %target.display(), "audit file rotated");
        self.prune();
        Ok(())
    }

    /// Deletes rotated files older than `keep`.
    fn prune(&self) {
        let Some(keep) = self.keep else { return };
        for old in rotated(&self.path) {
            let age = std::fs::metadata(&old).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
            if age.is_some_and(|a| a > keep) {
                match std::fs::remove_file(&old) {
                    Ok(()) => {
                        tracing::info!(target: "hapax::audit", removed = %old.display(), "audit file past `keep` removed")
                    }
                    Err(e) => {
                        tracing::warn!(target: "hapax::audit", file = %old.display(), error = %e, "cannot remove an old audit file")
                    }
                }
            }
        }
    }

    /// After a crash: a last line cut short (no newline) is cut off, so
    /// that the chain goes on from the last whole line.
    fn repair(&mut self) {
        let _ = self.out.flush();
        let Ok(text) = std::fs::read(&self.path) else { return };
        if text.is_empty() || text.ends_with(b"\n") {
            return;
        }
        let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        match self.out.get_ref().set_len(keep as u64) {
            Ok(()) => {
                self.size = keep as u64;
                tracing::warn!(
                    target: "hapax::audit",
                    file = %self.path.display(),
                    bytes = text.len() - keep,
                    "the audit file ended in a partial line (a crash); it was cut off"
                );
            }
            Err(e) => {
                tracing::error!(target: "hapax::audit", file = %self.path.display(), error = %e, "cannot repair the audit file")
            }
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tracing::error!(target: "hapax::audit", file = %self.path.display(), error = %e, "cannot write the audit file");
        }
    }
}

/// `audit` and `.jsonl` of `logs/audit.jsonl`.
fn stem_ext(path: &Path) -> (String, String) {
    let stem = path.file_stem().map_or_else(|| "audit".into(), |s| s.to_string_lossy().into_owned());
    let ext = path.extension().map_or_else(String::new, |e| format!(".{}", e.to_string_lossy()));
    (stem, ext)
}

/// The rotated files of an active file, oldest first (their names sort by
/// date).
pub fn rotated(active: &Path) -> Vec<PathBuf> {
    let (stem, ext) = stem_ext(active);
    let dir = active.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let prefix = format!("{stem}-");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                        n.strip_prefix(&prefix).and_then(|r| r.strip_suffix(&ext)).is_some_and(is_stamp)
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Tasks to wait for at shutdown.
pub type Tasks = Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>;

/// `YYYYMMDDTHHMMSSZ-NNN`, the part of a rotated file's name after the stem.
fn is_stamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 20
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'Z'
        && b[16] == b'-'
        && b[17..].iter().all(u8::is_ascii_digit)
}

pub struct Writer {
    metrics: Arc<Metrics>,
    tail: tokio::sync::broadcast::Sender<Arc<str>>,
    runtime: tokio::runtime::Handle,
    /// The webhook tasks, for shutdown to wait on.
    tasks: Tasks,
    config: Option<Config>,
    files: Vec<FileSink>,
    stdout: bool,
    webhooks: Vec<(String, webhook::Sender)>,
    rules: Rules,
    prev: String,
    seq: u64,
    pruned: Instant,
}

impl Writer {
    pub fn new(
        metrics: Arc<Metrics>,
        tail: tokio::sync::broadcast::Sender<Arc<str>>,
        runtime: tokio::runtime::Handle,
        tasks: Tasks,
    ) -> Self {
        Writer {
            metrics,
            tail,
            runtime,
            tasks,
            config: None,
            files: Vec::new(),
            stdout: false,
            webhooks: Vec::new(),
            rules: Rules::default(),
            prev: GENESIS.to_string(),
            seq: 0,
            pruned: Instant::now(),
        }
    }

    /// Opens the sinks of `config`, keeping those that did not change. The
    /// chain goes on from the last line of the first file when this writer
    /// has written nothing yet (a restart).
    pub fn configure(&mut self, config: Config) -> Result<(), String> {
        if self.config.as_ref() == Some(&config) {
            return Ok(());
        }
        let mut files = Vec::new();
        let mut webhooks = Vec::new();
        let mut stdout = false;
        for s in &config.audit.sinks {
            match &s.kind {
                SinkKind::File(path) => {
                    for f in &mut self.files {
                        f.flush();
                    }
                    files.push(FileSink::open(path.clone(), s.rotate.as_deref(), s.keep, s.max_size)?);
                }
                SinkKind::Stdout => stdout = true,
                SinkKind::Webhook(url) => {
                    let kept = self.webhooks.iter().position(|(u, _)| u == url).map(|i| self.webhooks.swap_remove(i));
                    match kept {
                        Some(w) => webhooks.push(w),
                        None => {
                            let (sender, task) = webhook::Sender::start(url, self.metrics.clone(), &self.runtime)?;
                            self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(task);
                            webhooks.push((url.clone(), sender));
                        }
                    }
                }
            }
        }
        if self.seq == 0 {
            if let Some(first) = files.first_mut() {
                first.repair();
                let last =
                    chain::tail_of(&first.path).or_else(|| rotated(&first.path).last().and_then(|p| chain::tail_of(p)));
                if let Some((hash, seq)) = last {
                    self.prev = hash;
                    self.seq = seq;
                }
            }
        }
        for f in &files {
            f.prune();
        }
        self.files = files;
        self.webhooks = webhooks;
        self.stdout = stdout;
        self.rules = Rules::new(&config.audit.redact);
        self.config = Some(config);
        Ok(())
    }

    pub fn run(mut self, rx: Receiver<Msg>) {
        let mut done = Vec::new();
        loop {
            let first = match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    self.maintain();
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut msg = Some(first);
            let mut n = 0;
            while let Some(m) = msg.take() {
                match m {
                    Msg::Event(e) => self.write(e),
                    Msg::Configure(c) => {
                        self.flush_files();
                        if let Err(e) = self.configure(*c) {
                            tracing::error!(target: "hapax::audit", error = %e, "cannot apply the audit settings; keeping the old sinks");
                        }
                    }
                    Msg::Flush(tx) => done.push(tx),
                }
                n += 1;
                if n < BATCH {
                    msg = rx.try_recv().ok();
                }
            }
            self.flush_files();
            for tx in done.drain(..) {
                let _ = tx.send(());
            }
            self.maintain();
        }
        self.flush_files();
        for f in &self.files {
            let _ = f.out.get_ref().sync_all();
        }
    }

    fn flush_files(&mut self) {
        for f in &mut self.files {
            f.flush();
        }
        if self.stdout {
            let _ = std::io::stdout().flush();
        }
    }

    fn maintain(&mut self) {
        if self.pruned.elapsed() >= PRUNE_EVERY {
            self.pruned = Instant::now();
            for f in &self.files {
                f.prune();
            }
        }
    }

    /// Redacts, seals and writes one event.
    fn write(&mut self, e: Event) {
        let mut fields = e.fields;
        if let Some(raw) = &e.body {
            let body = serde_json::from_slice::<Value>(raw).unwrap_or_else(|_| Value::from("[not JSON]"));
            if let Some(Value::Object(req)) = fields.get_mut("request") {
                req.insert("body".into(), body);
            }
        }
        self.rules.apply(&mut fields);
        let mut obj = Map::with_capacity(fields.len() + 5);
        obj.insert("v".into(), Value::from(VERSION));
        obj.insert("seq".into(), Value::from(self.seq + 1));
        obj.insert("ts".into(), Value::from(chain::rfc3339(e.ts)));
        obj.insert("kind".into(), Value::from(e.kind));
        for (k, v) in fields {
            obj.entry(k).or_insert(v);
        }
        obj.insert("prev".into(), Value::from(self.prev.as_str()));
        let body = Value::Object(obj).to_string();
        let (line, hash) = chain::seal(&body);
        let now = SystemTime::now();
        for f in &mut self.files {
            if let Err(err) = f.write(&line, now) {
                tracing::error!(target: "hapax::audit", file = %f.path.display(), error = %err, "cannot write the audit file");
            }
        }
        if self.stdout {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(line.as_bytes()).and_then(|()| out.write_all(b"\n"));
        }
        let line: Arc<str> = Arc::from(line);
        for (_, w) in &self.webhooks {
            w.send(line.clone());
        }
        let _ = self.tail.send(line);
        self.prev = hash;
        self.seq += 1;
        self.metrics.audit_events.with_label_values(&[e.kind]).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_start_at_utc_boundaries() {
        let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(period_of(t(86_399), 86_400), period_of(t(0), 86_400));
        assert_ne!(period_of(t(86_400), 86_400), period_of(t(86_399), 86_400));
        // 1970-01-05 was a Monday.
        let monday = 4 * 86_400;
        assert_eq!(period_of(t(monday), 7 * 86_400), period_of(t(monday + 6 * 86_400 + 86_399), 7 * 86_400));
        assert_ne!(period_of(t(monday - 1), 7 * 86_400), period_of(t(monday), 7 * 86_400));
        assert_eq!(period_of(t(12_345), 0), 0);
    }

    #[test]
    fn only_rotated_names_are_taken_for_rotated_files() {
        assert!(is_stamp("20261202T160405Z-000"));
        assert!(is_stamp("20261202T160405Z-1234"));
        assert!(!is_stamp("1"));
        assert!(!is_stamp("20261202T160405Z"));
        assert!(!is_stamp("2026120xT160405Z-000"));
    }

    #[test]
    fn rotated_files_past_keep_are_removed_and_nothing_else() {
        let dir = std::env::temp_dir().join(format!("hapax-audit-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let touch = |name: &str, age: Duration| {
            let p = dir.join(name);
            std::fs::write(&p, "x\n").unwrap();
            let f = std::fs::File::options().write(true).open(&p).unwrap();
            f.set_modified(SystemTime::now() - age).unwrap();
            p
        };
        let day = Duration::from_secs(86_400);
        let old = touch("audit-20261101T000000Z-000.jsonl", 31 * day);
        let young = touch("audit-20261201T000000Z-000.jsonl", day);
        let other = touch("audit-1.jsonl", 31 * day);
        let active = touch("audit.jsonl", 31 * day);
        let f = FileSink::open(active.clone(), Some("daily"), Some(30 * day), None).unwrap();
        f.prune();
        assert!(!old.exists(), "past keep");
        assert!(young.exists() && other.exists() && active.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_partial_last_line_is_cut_and_the_chain_goes_on() {
        let dir = std::env::temp_dir().join(format!("hapax-audit-repair-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("audit.jsonl");
        let (line, hash) = chain::seal(&format!("{{\"seq\":1,\"prev\":\"{GENESIS}\"}}"));
        std::fs::write(&path, format!("{line}\n{{\"seq\":2,\"kind\":\"requ")).unwrap();
        let mut f = FileSink::open(path.clone(), None, None, None).unwrap();
        f.repair();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{line}\n"));
        assert_eq!(chain::tail_of(&path), Some((hash, 1)));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
