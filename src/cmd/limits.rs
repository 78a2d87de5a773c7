//! `hapax limits show POLICY`: each limit's keys with their usage,
//! remaining quota and reset, read from the running gateway's admin API
//! (`/admin/api/limits`), whose address is the policy's `gateway { admin }`
//! unless `--admin` names one. The admin credential comes from `--key` or
//! `HAPAX_ADMIN_KEY`.

use super::{load, print_diagnostics, FAILED, OK, USAGE};
use hapax_lang::Mode;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Subcommand)]
pub enum Limits {
    /// Usage, remaining quota and reset per limit and key.
    Show {
        /// The admin listener, such as `http://127.0.0.1:9090` (default: the
        /// policy's `gateway { admin }`).
        #[arg(long)]
        admin: Option<String>,
        /// An admin API key (default: `HAPAX_ADMIN_KEY`).
        #[arg(long)]
        key: Option<String>,
        /// Keys listed per limit, the closest to exhaustion first.
        #[arg(long, default_value_t = 50)]
        max: usize,
        /// Print the admin API's JSON.
        #[arg(long)]
        json: bool,
        /// Policy files or folders (as for `serve`).
        paths: Vec<PathBuf>,
    },
}

pub fn run(cmd: Limits) -> u8 {
    let Limits::Show { admin, key, max, json, paths } = cmd;
    let key = key.or_else(|| std::env::var("HAPAX_ADMIN_KEY").ok().filter(|k| !k.is_empty()));
    let admin = match admin {
        Some(a) => a,
        None => {
            let checked = match load(&paths, Mode::Check) {
                Ok(c) => c,
                Err(code) => return code,
            };
            if !checked.ok() {
                print_diagnostics(&checked);
                return FAILED;
            }
            match checked.graph.gateway.admin {
                Some(a) if !a.ends_with(":0") => format!("http://{a}"),
                _ => {
                    eprintln!("error: the policy names no fixed `gateway {{ admin }}` address; pass --admin URL");
                    return USAGE;
                }
            }
        }
    };
    let get = |path: &str| get(&admin, path, key.as_deref());
    let list = match get("/admin/api/limits") {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e}");
            return FAILED;
        }
    };
    let mut all = Vec::new();
    for l in list["data"].as_array().into_iter().flatten() {
        let name = l["name"].as_str().unwrap_or("");
        match get(&format!("/admin/api/limits/{}?max={max}", encode(name))) {
            Ok(v) => all.push(v),
            Err(e) => {
                eprintln!("error: {e}");
                return FAILED;
            }
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&Value::from(all)).unwrap_or_default());
        return OK;
    }
    if all.is_empty() {
        println!("the policy declares no limit");
    }
    for l in &all {
        print!("{}", table(l));
    }
    OK
}

/// One limit as text: its definition, then a row per key.
fn table(l: &Value) -> String {
    let rate = |d: &str| l.get(d).map(|r| format!("{d} {} per {}", r["count"], r["per"].as_str().unwrap_or("?")));
    let rates: Vec<String> = ["requests", "tokens"].into_iter().filter_map(rate).collect();
    let keys = l["keys"].as_u64().unwrap_or(0);
    let mut out =
        format!("limit {}: {}; {keys} key(s) with usage\n", l["name"].as_str().unwrap_or("?"), rates.join(", "));
    let rows: Vec<&Value> = l["data"].as_array().into_iter().flatten().collect();
    if rows.is_empty() {
        return out;
    }
    let cell = |u: &Value, d: &str| match u.get(d) {
        Some(x) => {
            let extra = x["extra"].as_u64().filter(|e| *e > 0).map_or(String::new(), |e| format!(" +{e}"));
            format!(
                "{}/{}{extra} ({} left, reset {}s)",
                x["used"],
                x["limit"],
                x["remaining"],
                x["reset_ms"].as_u64().unwrap_or(0).div_ceil(1000)
            )
        }
        None => "-".to_string(),
    };
    let table: Vec<[String; 3]> = rows
        .iter()
        .map(|u| [u["key"].as_str().unwrap_or("").to_string(), cell(u, "requests"), cell(u, "tokens")])
        .collect();
    let w0 = table.iter().map(|r| r[0].len()).max().unwrap_or(0).max(3);
    let w1 = table.iter().map(|r| r[1].len()).max().unwrap_or(0).max(8);
    out.push_str(&format!("  {:w0$}  {:w1$}  TOKENS\n", "KEY", "REQUESTS"));
    for [k, r, t] in table {
        out.push_str(&format!("  {k:w0$}  {r:w1$}  {t}\n"));
    }
    out
}

/// Percent-encodes a path segment.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET` over HTTP/1.1, the answer's JSON when it is a 200.
fn get(admin: &str, path: &str, key: Option<&str>) -> Result<Value, String> {
    let host = admin
        .strip_prefix("http://")
        .ok_or_else(|| format!("`{admin}`: the admin address is http://HOST:PORT"))?
        .trim_end_matches('/');
    let mut conn =
        std::net::TcpStream::connect(host).map_err(|e| format!("cannot reach the admin listener at {host}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    write!(conn, "GET {path} HTTP/1.1\r\nhost: {host}\r\n{auth}connection: close\r\n\r\n")
        .map_err(|e| format!("cannot send to {host}: {e}"))?;
    let mut raw = Vec::new();
    conn.take(64 * 1024 * 1024).read_to_end(&mut raw).map_err(|e| format!("cannot read from {host}: {e}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("the admin listener sent no answer")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    let json: Value = serde_json::from_str(&body).map_err(|_| format!("{path}: answered {status} with no JSON"))?;
    if status != "200" {
        let why = json["error"]["message"].as_str().unwrap_or("");
        return Err(format!("{path}: {status} {why}"));
    }
    Ok(json)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_reads_as_a_table() {
        let l = serde_json::json!({
            "name": "per_client", "requests": {"count": 3, "per": "1m"}, "keys": 1,
            "data": [{"key": "alice", "requests": {"used": 3, "limit": 3, "extra": 0, "remaining": 0, "reset_ms": 41_500}}]
        });
        let t = table(&l);
        assert!(t.starts_with("limit per_client: requests 3 per 1m; 1 key(s) with usage\n"), "{t}");
        assert!(t.contains("alice  3/3 (0 left, reset 42s)"), "{t}");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
        assert_eq!(dechunk("5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"), "hello!");
    }
}
