//! A minimal LSP client for tests: it runs the real `hapax lsp` binary and
//! speaks JSON-RPC with Content-Length framing over its stdio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]
#![allow(dead_code, reason = "each test file uses a different part of the client")]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any one answer may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `hapax` binary: `$HAPAX_BIN`, or `target/debug/hapax` after making
/// sure it is built from the current sources.
pub fn hapax_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("HAPAX_BIN") {
            return PathBuf::from(bin);
        }
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace().join("target"), PathBuf::from);
        let bin = target.join("debug").join("hapax");
        let status = Command::new(env!("CARGO")).args(["build", "-q", "-p", "hapax"]).current_dir(workspace()).status();
        match status {
            Ok(s) if s.success() => {}
            other => {
                assert!(bin.exists(), "cannot build the hapax binary ({other:?}) and {} does not exist", bin.display());
                eprintln!("warning: `cargo build -p hapax` failed ({other:?}); testing the existing {}", bin.display());
            }
        }
        bin
    })
    .clone()
}

/// A test that cannot run here because `why` (a tool it needs is missing):
/// under CI (`CI` set, not empty) the test fails; elsewhere it says it
/// skipped, and the caller returns.
pub fn skip_or_fail(why: &str) {
    let ci = std::env::var("CI").unwrap_or_default();
    assert!(ci.is_empty(), "{why}; under CI (CI={ci}) a test may not skip");
    eprintln!("skipped: {why}; under CI this test would fail");
}

pub fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

/// A fresh folder for one test's files.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hapax-lsp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

pub struct Client {
    child: Child,
    stdin: ChildStdin,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received while waiting for responses, oldest first.
    pub notifications: Vec<Value>,
}

fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut buf = vec![0; len?];
    r.read_exact(&mut buf).ok()?;
    serde_json::from_slice(&buf).ok()
}

impl Client {
    /// Starts `hapax lsp` and initializes it with `root` as the workspace.
    pub fn start(root: &Path) -> Client {
        Self::start_with(root, json!({}))
    }

    pub fn start_with(root: &Path, init_options: Value) -> Client {
        let mut child = Command::new(hapax_bin())
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn hapax lsp");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            while let Some(v) = read_message(&mut r) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        let mut c = Client { child, stdin, rx, next_id: 0, notifications: Vec::new() };
        let caps = json!({
            "textDocument": {
                "completion": { "completionItem": { "snippetSupport": true } },
                "publishDiagnostics": { "relatedInformation": true },
            },
            "workspace": { "workspaceFolders": true },
        });
        let r = c.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": uri(root),
                "capabilities": caps,
                "workspaceFolders": [{ "uri": uri(root), "name": "test" }],
                "initializationOptions": init_options,
            }),
        );
        assert!(r["result"]["capabilities"].is_object(), "initialize: {r}");
        c.notify("initialized", json!({}));
        c
    }

    pub fn send(&mut self, v: &Value) {
        let body = serde_json::to_string(v).expect("json");
        write!(self.stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).expect("write to server");
        self.stdin.flush().expect("flush");
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request without waiting; returns its id.
    pub fn send_request(&mut self, method: &str, params: Value) -> i64 {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        id
    }

    fn recv(&mut self, deadline: Instant) -> Option<Value> {
        match self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(v) => Some(v),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        }
    }

    /// Waits for the response to request `id`; keeps notifications.
    pub fn response(&mut self, id: i64) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let Some(v) = self.recv(deadline) else { panic!("no response to request {id} within {TIMEOUT:?}") };
            if v.get("id").and_then(Value::as_i64) == Some(id) && v.get("method").is_none() {
                return v;
            }
            if v.get("method").is_some() && v.get("id").is_none() {
                self.notifications.push(v);
            }
        }
    }

    /// Sends a request and waits for its response (the whole message).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// The result of a request, failing the test on an error response.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let r = self.request(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// Waits for the next `publishDiagnostics` for `uri` (taking one already
    /// received first) and returns its diagnostics.
    pub fn diagnostics(&mut self, uri: &str) -> Vec<Value> {
        let is_for = |v: &Value| v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri;
        if let Some(i) = self.notifications.iter().position(is_for) {
            let v = self.notifications.remove(i);
            return v["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let Some(v) = self.recv(deadline) else { panic!("no diagnostics for {uri} within {TIMEOUT:?}") };
            if is_for(&v) {
                return v["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            if v.get("method").is_some() {
                self.notifications.push(v);
            }
        }
    }

    /// Waits for the `publishDiagnostics` of `uri` at document `version`,
    /// skipping older ones.
    pub fn diagnostics_at(&mut self, uri: &str, version: i64) -> Vec<Value> {
        loop {
            let is_for = |v: &Value| v["method"] == "textDocument/publishDiagnostics" && v["params"]["uri"] == uri;
            let found = match self.notifications.iter().position(is_for) {
                Some(i) => self.notifications.remove(i),
                None => {
                    let deadline = Instant::now() + TIMEOUT;
                    let Some(v) = self.recv(deadline) else {
                        panic!("no diagnostics for {uri} v{version} within {TIMEOUT:?}")
                    };
                    if !is_for(&v) {
                        if v.get("method").is_some() {
                            self.notifications.push(v);
                        }
                        continue;
                    }
                    v
                }
            };
            if found["params"]["version"].as_i64() == Some(version) {
                return found["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
        }
    }

    /// Forgets the notifications received so far.
    pub fn clear(&mut self) {
        self.notifications.clear();
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "hapax", "version": 1, "text": text } }),
        );
    }

    pub fn change_full(&mut self, uri: &str, version: i64, text: &str) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version }, "contentChanges": [{ "text": text }] }),
        );
    }

    /// `shutdown` then `exit`; returns the exit code.
    pub fn shutdown(mut self) -> i32 {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown: {r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "the server did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The codes of a list of LSP diagnostics, sorted.
pub fn codes(diags: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = diags.iter().filter_map(|d| d["code"].as_str().map(str::to_string)).collect();
    v.sort();
    v
}

/// The zero-based line and UTF-16 column of the first occurrence of
/// `needle` in `text`, plus `delta` characters.
pub fn pos_of(text: &str, needle: &str, delta: usize) -> Value {
    let at = text.find(needle).unwrap_or_else(|| panic!("`{needle}` not in text")) + delta;
    pos_at(text, at)
}

/// The LSP position of a byte offset.
pub fn pos_at(text: &str, offset: usize) -> Value {
    let before = &text[..offset];
    let line = before.matches('\n').count();
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let character = before[line_start..].encode_utf16().count();
    json!({ "line": line, "character": character })
}

/// The labels of a completion result.
pub fn labels(result: &Value) -> Vec<String> {
    let items = if result.is_array() { result.clone() } else { result["items"].clone() };
    items
        .as_array()
        .map(|a| a.iter().filter_map(|i| i["label"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}
