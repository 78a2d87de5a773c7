//! Search in the audit files and filters for the live tail:
//! `?client=&route=&decision=allow|deny&kind=&since=&until=&limit=`.
//! `since`/`until` are RFC 3339 UTC times or their prefixes (`2026-12-02`).
//! Search reads the active file and the rotated ones newest first, holding
//! at most `limit` events, and answers newest first.

use serde_json::Value;
use std::collections::VecDeque;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Answers hold at most this many events.
pub const MAX_LIMIT: usize = 1000;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub client: Option<String>,
    pub route: Option<String>,
    pub decision: Option<String>,
    pub kind: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: usize,
}

impl Filter {
    /// From a query string; an unknown parameter or a bad value is an error.
    pub fn parse(query: Option<&str>) -> Result<Filter, String> {
        let mut f = Filter { limit: 100, ..Filter::default() };
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let v = decode(v).ok_or_else(|| format!("`{k}` is not valid percent-encoded UTF-8"))?;
            if v.len() > 256 {
                return Err(format!("`{k}` is too long"));
            }
            match k {
                "client" => f.client = Some(v),
                "route" => f.route = Some(v),
                "kind" => f.kind = Some(v),
                "decision" if v == "allow" || v == "deny" => f.decision = Some(v),
                "decision" => return Err("`decision` is `allow` or `deny`".into()),
                "since" => f.since = Some(v),
                "until" => f.until = Some(v),
                "limit" => {
                    f.limit = v.parse().map_err(|_| "`limit` is a number".to_string())?;
                    f.limit = f.limit.clamp(1, MAX_LIMIT);
                }
                _ => {
                    return Err(format!(
                        "unknown parameter `{k}`: use client, route, decision, kind, since, until, limit"
                    ))
                }
            }
        }
        Ok(f)
    }

    pub fn matches(&self, e: &Value) -> bool {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("");
        let is = |want: &Option<String>, k: &str| want.as_deref().is_none_or(|w| field(k) == w);
        let ts = field("ts");
        is(&self.client, "client")
            && is(&self.route, "route")
            && is(&self.decision, "decision")
            && is(&self.kind, "kind")
            && self.since.as_deref().is_none_or(|s| ts >= s)
            && self.until.as_deref().is_none_or(|u| ts < u || ts.starts_with(u))
    }
}

/// Percent-decoding of a query value (`+` is a space).
pub fn decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The active files and their rotated ones, newest first.
fn newest_first(active: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for a in active {
        out.push(a.clone());
        let mut old = super::writer::rotated(a);
        old.reverse();
        out.extend(old);
    }
    out
}

/// The newest `filter.limit` events that match, newest first.
pub fn search(active: &[PathBuf], filter: &Filter) -> Vec<Value> {
    let mut found: Vec<Value> = Vec::new();
    for path in newest_first(active) {
        if found.len() >= filter.limit {
            break;
        }
        let want = filter.limit - found.len();
        let mut last: VecDeque<Value> = VecDeque::with_capacity(want.min(64));
        scan(&path, |e| {
            if filter.matches(&e) {
                if last.len() == want {
                    last.pop_front();
                }
                last.push_back(e);
            }
        });
        found.extend(last.into_iter().rev());
    }
    found
}

fn scan(path: &Path, mut each: impl FnMut(Value)) {
    let Ok(file) = std::fs::File::open(path) else { return };
    for line in std::io::BufReader::new(file).lines() {
        let Ok(line) = line else { break };
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            each(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters_parse_and_match() {
        let f = Filter::parse(Some("client=al%20ice&decision=deny&since=2026-12-02&limit=5000")).unwrap();
        assert_eq!(f.client.as_deref(), Some("al ice"));
        assert_eq!(f.limit, MAX_LIMIT);
        let e = json!({ "client": "al ice", "decision": "deny", "ts": "2026-12-02T10:00:00.000Z" });
        assert!(f.matches(&e));
        assert!(!f.matches(&json!({ "client": "al ice", "decision": "allow", "ts": "2026-12-02T10:00:00.000Z" })));
        assert!(!f.matches(&json!({ "client": "al ice", "decision": "deny", "ts": "2026-12-01T23:59:59.999Z" })));
        let u = Filter::parse(Some("until=2026-12-02")).unwrap();
        assert!(u.matches(&json!({ "ts": "2026-12-02T23:00:00.000Z" })));
        assert!(!u.matches(&json!({ "ts": "2026-12-03T00:00:00.000Z" })));
        assert!(Filter::parse(Some("decision=maybe")).is_err());
        assert!(Filter::parse(Some("who=x")).is_err());
        assert!(Filter::parse(Some("client=%ZZ")).is_err());
    }
}
