//! The hash chain that makes the audit log tamper-evident. Each line is a
//! JSON object whose last field is its own hash:
//!
//! ```text
//! {"kind":"request",...,"prev":"<hash of the line before>","hash":"<sha256 of this line without its hash field>"}
//! ```
//!
//! `hash` is the SHA-256 (hex) of the line's text with `,"hash":"…"` taken
//! out, so no canonical form is needed; `prev` links it to the line before,
//! across rotated files. [`verify`] finds the first line that was edited
//! (its hash no longer matches), removed, inserted or moved (its `prev` no
//! longer names the line before it).

use std::io::BufRead;
use std::path::Path;

/// `prev` of the very first event a log ever wrote.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The length of `,"hash":"` + 64 hex digits + `"}`.
const TAIL: usize = 9 + 64 + 2;

/// SHA-256 in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = String::with_capacity(64);
    for b in d.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Seals an event: `body` is a JSON object that already carries `prev`.
/// Returns the line (without newline) and its hash.
pub fn seal(body: &str) -> (String, String) {
    let hash = sha256_hex(body.as_bytes());
    let mut line = String::with_capacity(body.len() + TAIL);
    line.push_str(body.strip_suffix('}').unwrap_or(body));
    line.push_str(",\"hash\":\"");
    line.push_str(&hash);
    line.push_str("\"}");
    (line, hash)
}

/// A line's `prev` and `hash` once its own hash checks out, else why not.
pub fn open(line: &str) -> Result<(String, String), &'static str> {
    if line.len() < TAIL || !line.is_char_boundary(line.len() - TAIL) {
        return Err("not a sealed audit line");
    }
    let (head, tail) = line.split_at(line.len() - TAIL);
    let hash = tail
        .strip_prefix(",\"hash\":\"")
        .and_then(|t| t.strip_suffix("\"}"))
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or("not a sealed audit line")?;
    let body = format!("{head}}}");
    if sha256_hex(body.as_bytes()) != hash {
        return Err("the line was changed: its hash does not match its content");
    }
    let value: serde_json::Value = serde_json::from_str(&body).map_err(|_| "the line is not JSON")?;
    let prev = value.get("prev").and_then(|p| p.as_str()).ok_or("the line has no `prev`")?;
    Ok((prev.to_string(), hash.to_string()))
}

/// The last hash and sequence number of a log file, to continue its chain
/// (`None` when the file is missing or empty).
pub fn tail_of(path: &Path) -> Option<(String, u64)> {
    let file = std::fs::File::open(path).ok()?;
    let mut last = None;
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if !line.trim().is_empty() {
            last = Some(line);
        }
    }
    let line = last?;
    let (_, hash) = open(&line).ok()?;
    let seq = serde_json::from_str::<serde_json::Value>(&line).ok()?.get("seq")?.as_u64()?;
    Some((hash, seq))
}

/// Where a chain breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Break {
    pub file: String,
    /// 1-based.
    pub line: usize,
    pub why: String,
}

/// What an intact chain holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intact {
    pub lines: usize,
    /// Whether the first line starts the log ([`GENESIS`]) or continues a
    /// file no longer given (rotated away, or not named).
    pub from_genesis: bool,
}

/// Verifies files in order as one chain.
pub fn verify(files: &[&Path]) -> Result<Intact, Break> {
    let mut prev: Option<String> = None;
    let mut lines = 0;
    let mut from_genesis = false;
    for path in files {
        let name = path.display().to_string();
        let fail = |line: usize, why: String| Break { file: name.clone(), line, why };
        let file = std::fs::File::open(path).map_err(|e| fail(0, format!("cannot read: {e}")))?;
        for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| fail(n, format!("cannot read: {e}")))?;
            if line.is_empty() {
                return Err(fail(n, "an empty line".into()));
            }
            let (p, hash) = open(&line).map_err(|why| fail(n, why.to_string()))?;
            match &prev {
                None => from_genesis = p == GENESIS,
                Some(expected) if *expected != p => {
                    return Err(fail(
                        n,
                        "the chain is broken here: a line before it was removed or inserted, or lines were reordered"
                            .into(),
                    ))
                }
                Some(_) => {}
            }
            prev = Some(hash);
            lines += 1;
        }
    }
    Ok(Intact { lines, from_genesis })
}

/// RFC 3339 UTC with milliseconds: `2026-12-02T16:04:05.123Z`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (y, m, day) = civil(secs / 86_400);
    let s = secs % 86_400;
    format!("{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z", s / 3600, (s / 60) % 60, s % 60, d.subsec_millis())
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
pub fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + u64::from(m <= 2), m, d)
}

/// Days since 1970-01-01 of a date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A UTC time, RFC 3339 or a prefix of it (`2026-12-02`,
/// `2026-12-02T16`, `2026-12-02T16:04:05Z`), in ms since the epoch.
pub fn parse_utc(s: &str) -> Option<u64> {
    let s = s.trim_end_matches('Z');
    let (date, time) = s.split_once('T').unwrap_or((s, ""));
    let mut d = date.split('-').map(|p| p.parse::<u64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    if d.next().is_some() || !(1970..=9999).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let mut secs = 0;
    for (i, part) in time.split(':').filter(|p| !p.is_empty()).enumerate() {
        let whole = part.split('.').next()?.parse::<u64>().ok()?;
        let (unit, max) = [(3600, 23), (60, 59), (1, 60)].get(i).copied()?;
        if whole > max {
            return None;
        }
        secs += whole * unit;
    }
    Some((days_from_civil(y, m, day) * 86_400 + secs) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let (line, hash) = seal(&format!("{{\"seq\":{i},\"kind\":\"test\",\"prev\":\"{prev}\"}}"));
                prev = hash;
                line
            })
            .collect()
    }

    fn verify_lines(lines: &[String]) -> Result<Intact, Break> {
        let dir = std::env::temp_dir().join(format!("hapax-chain-{}-{}", std::process::id(), rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a.jsonl"), dir.join("b.jsonl"));
        let half = lines.len() / 2;
        std::fs::write(&a, lines[..half].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        std::fs::write(&b, lines[half..].iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        let r = verify(&[&a, &b]);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn an_intact_chain_verifies_across_files() {
        assert_eq!(verify_lines(&chain(10)), Ok(Intact { lines: 10, from_genesis: true }));
    }

    #[test]
    fn edits_removals_insertions_and_swaps_name_the_first_bad_line() {
        let good = chain(10);
        let at = |r: Result<Intact, Break>| r.map_err(|b| (b.file.ends_with("a.jsonl"), b.line));
        // Edited line 3 (in the first file).
        let mut edited = good.clone();
        edited[2] = edited[2].replace("\"kind\":\"test\"", "\"kind\":\"tset\"");
        assert_eq!(at(verify_lines(&edited)), Err((true, 3)));
        // Line 4 removed: line 4 (the old 5) no longer follows line 3.
        let mut removed = good.clone();
        removed.remove(3);
        assert_eq!(at(verify_lines(&removed)), Err((true, 4)));
        // A sealed line of another chain inserted at 2.
        let mut inserted = good.clone();
        inserted.insert(1, chain(1)[0].clone());
        assert_eq!(at(verify_lines(&inserted)), Err((true, 2)));
        // Lines 7 and 8 swapped (second file, lines 2 and 3).
        let mut swapped = good.clone();
        swapped.swap(6, 7);
        assert_eq!(at(verify_lines(&swapped)), Err((false, 2)));
        // A hash rewritten to match the edit still breaks the next link.
        let mut forged = good.clone();
        let body = forged[2].replace("\"kind\":\"test\"", "\"kind\":\"tset\"");
        let body = format!("{}}}", &body[..body.len() - TAIL]);
        forged[2] = seal(&body).0;
        assert_eq!(at(verify_lines(&forged)), Err((true, 4)));
    }

    #[test]
    fn dates_are_rfc3339_utc() {
        assert_eq!(rfc3339(std::time::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_796_227_445_123);
        assert_eq!(rfc3339(t), "2026-12-02T16:04:05.123Z");
        assert_eq!(civil(11_016), (2000, 2, 29));
    }

    #[test]
    fn utc_times_and_their_prefixes_parse() {
        assert_eq!(parse_utc("1970-01-02"), Some(86_400_000));
        assert_eq!(parse_utc("1970-01-01T01"), Some(3_600_000));
        assert_eq!(parse_utc("1970-01-01T00:01:02.5Z"), Some(62_000));
        for bad in ["", "2026", "2026-13-01", "2026-12-02T25", "2026-12-02Tx", "2026-12-02-01"] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
