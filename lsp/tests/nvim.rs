//! A real editor as the client: headless Neovim starts `hapax lsp` on a
//! policy with errors, waits for the diagnostics and writes what it got.
//!
//! Needs `nvim` (Debian: `apt-get install -y neovim`). Without it the test
//! is skipped with a notice, except under CI (`CI` set), where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod common;

use common::*;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const INIT: &str = r#"
local hapax, policy, out = os.getenv("HAPAX_BIN"), os.getenv("POLICY"), os.getenv("OUT")
local result = { ok = false, diagnostics = {}, completion = {} }
local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(policy))
  local config = { name = "hapax", cmd = { hapax, "lsp" }, root_dir = vim.fn.fnamemodify(policy, ":h") }
  if vim.lsp.start then
    vim.lsp.start(config)
  else
    -- Neovim 0.7 has no vim.lsp.start.
    local id = vim.lsp.start_client(config)
    vim.lsp.buf_attach_client(0, id)
  end
  result.ok = vim.wait(15000, function() return #vim.diagnostic.get(0) > 0 end, 20)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result.diagnostics, { code = d.code, lnum = d.lnum, col = d.col, source = d.source, message = d.message })
  end
  -- Completion after `to ` on line 7 (zero-based 6).
  local params = { textDocument = { uri = vim.uri_from_bufnr(0) }, position = { line = 6, character = 5 } }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 5000) or {}
  for _, r in pairs(responses) do
    for _, item in ipairs(r.result or {}) do
      table.insert(result.completion, item.label)
    end
  end
end)
if not ok then result.error = tostring(err) end
local f = io.open(out, "w")
f:write(vim.fn.json_encode(result))
f:close()
vim.cmd("qa!")
"#;

const POLICY: &str = "provider echo { type mock }\n\nroute chat {\n  match POST \"/v1/chat/completions\"\n  to    ehco\n  timout 3s\n  to \n}\n";

#[test]
fn neovim_shows_the_diagnostics() {
    let has_nvim = Command::new("nvim")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !has_nvim {
        skip_or_fail("nvim is not installed (apt-get install -y neovim)");
        return;
    }
    let dir = temp_dir("nvim");
    let policy = dir.join("policy.hapax");
    let init = dir.join("init.lua");
    let out = dir.join("out.json");
    std::fs::write(&policy, POLICY).expect("write policy");
    std::fs::write(&init, INIT).expect("write init.lua");
    let mut child = Command::new("nvim")
        .args(["--headless", "--clean", "-n", "-u"])
        .arg(&init)
        .env("HAPAX_BIN", hapax_bin())
        .env("POLICY", &policy)
        .env("OUT", &out)
        .env("XDG_STATE_HOME", &dir)
        .env("XDG_DATA_HOME", &dir)
        .env("XDG_CACHE_HOME", &dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn nvim");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("nvim did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&out).expect("nvim wrote no result");
    let result: Value = serde_json::from_str(&text).expect("result is JSON");
    assert!(result.get("error").is_none(), "{result}");
    assert_eq!(result["ok"], true, "{result}");
    let diags = result["diagnostics"].as_array().cloned().unwrap_or_default();
    assert_eq!(codes(&diags), ["E0202", "E0204", "E0206"], "{result}");
    let unknown = diags.iter().find(|d| d["code"] == "E0204").expect("E0204");
    assert_eq!((unknown["lnum"].as_i64(), unknown["col"].as_i64()), (Some(4), Some(8)));
    assert_eq!(unknown["source"], "hapax");
    let completion = result["completion"].as_array().cloned().unwrap_or_default();
    assert_eq!(completion, [Value::from("echo")], "{result}");
}
