//! A whole editor session against the real `hapax lsp` binary over stdio.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

mod common;

use common::*;
use serde_json::{json, Value};

const BROKEN: &str = r#"provider openai {
  type    mock
  latency 20ms
  timout  30s
}

provider echo { type mock; latency 20ms }

limit per_client {
  by       client.id
  requests 600 per 1m
}

route chat {
  match POST "/v1/chat/completions"
  use   per_client
  to    opnai model "gpt-4o"
}

route everything_else {
  match POST "/v1/*"
  to echo
}
"#;

fn fixed() -> String {
    BROKEN.replace("timout ", "timeout").replace("opnai", "openai")
}

struct Doc {
    uri: String,
    version: i64,
}

impl Doc {
    /// Replaces the text, with `¦` marking the cursor; completes there.
    fn complete(&mut self, c: &mut Client, marked: &str) -> Vec<String> {
        let at = marked.find('¦').expect("marker");
        let text = marked.replace('¦', "");
        self.version += 1;
        c.change_full(&self.uri, self.version, &text);
        let r = c.call(
            "textDocument/completion",
            json!({ "textDocument": { "uri": self.uri }, "position": pos_at(&text, at) }),
        );
        labels(&r)
    }
}

fn has(labels: &[String], want: &[&str]) -> bool {
    want.iter().all(|w| labels.iter().any(|l| l == w))
}

#[test]
fn whole_session() {
    let dir = temp_dir("session");
    let path = dir.join("main.hapax");
    std::fs::write(&path, BROKEN).expect("write");
    let uri = uri(&path);
    let mut c = Client::start(&dir);

    // Diagnostics on open: the same codes as `hapax check`, with help.
    c.open(&uri, BROKEN);
    let diags = c.diagnostics(&uri);
    // The limit and its use are valid and enforced: no W0106.
    assert_eq!(codes(&diags), ["E0202", "E0204"], "{diags:?}");
    let unknown = diags.iter().find(|d| d["code"] == "E0204").expect("E0204");
    assert_eq!(unknown["source"], "hapax");
    assert_eq!(unknown["severity"], 1);
    assert_eq!(unknown["range"]["start"], json!({ "line": 16, "character": 8 }));
    assert_eq!(unknown["range"]["end"], json!({ "line": 16, "character": 13 }));
    let msg = unknown["message"].as_str().unwrap_or("");
    assert!(msg.starts_with("unknown provider `opnai`\n") && msg.contains("did you mean `openai`?"), "{msg}");

    // Quick fixes attached to the diagnostic.
    let actions = c.call(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": unknown["range"], "context": { "diagnostics": [unknown] } }),
    );
    let actions = actions.as_array().cloned().unwrap_or_default();
    let fix = actions
        .iter()
        .find(|a| a["title"] == "change to `openai`")
        .unwrap_or_else(|| panic!("no did-you-mean fix: {actions:?}"));
    assert_eq!(fix["kind"], "quickfix");
    assert_eq!(fix["diagnostics"][0]["code"], "E0204");
    assert_eq!(fix["edit"]["changes"][&uri][0]["newText"], "openai");
    assert_eq!(fix["edit"]["changes"][&uri][0]["range"], unknown["range"]);
    assert!(actions.iter().any(|a| a["title"] == "declare provider `opnai`"), "{actions:?}");

    // Fixing the file leaves only the warnings about what serve refuses.
    c.change_full(&uri, 2, &fixed());
    assert_eq!(codes(&c.diagnostics(&uri)), Vec::<String>::new());
    let text = fixed();

    // Hover: a keyword, a reference, a model.
    let h = c.call(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "limit per_client", 1) }),
    );
    let v = h["contents"]["value"].as_str().unwrap_or("");
    assert!(v.contains("`limit`") && v.contains("```hapax"), "{v}");
    let h = c.call(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "use   per_client", 7) }),
    );
    let v = h["contents"]["value"].as_str().unwrap_or("");
    assert!(v.contains("limit per_client {") && v.contains("requests 600 per 1m"), "{v}");
    let h = c.call(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "\"gpt-4o\"", 3) }),
    );
    let v = h["contents"]["value"].as_str().unwrap_or("");
    assert!(v.contains("gpt-4o") && v.contains("context window"), "{v}");
    let h = c.call(
        "textDocument/hover",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "client.id", 8) }),
    );
    assert!(h["contents"]["value"].as_str().unwrap_or("").contains("client.id"), "{h}");

    // Definition and references.
    let d = c.call(
        "textDocument/definition",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "to echo", 4) }),
    );
    assert_eq!(d["uri"], uri);
    assert_eq!(d["range"]["start"], json!({ "line": 6, "character": 9 }));
    let refs = c.call(
        "textDocument/references",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "provider echo", 10), "context": { "includeDeclaration": true } }),
    );
    assert_eq!(refs.as_array().map(Vec::len), Some(2), "{refs}");

    // Rename, and refused renames.
    let prep = c.call(
        "textDocument/prepareRename",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "use   per_client", 8) }),
    );
    assert_eq!(prep["placeholder"], "per_client");
    let edit = c.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "use   per_client", 8), "newName": "per_team" }),
    );
    let edits = edit["changes"][&uri].as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 2, "{edit}");
    assert!(edits.iter().all(|e| e["newText"] == "per_team"));
    let clash = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "to echo", 4), "newName": "openai" }),
    );
    let message = clash["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("already declared"), "{clash}");
    let bad = c.request(
        "textDocument/rename",
        json!({ "textDocument": { "uri": uri }, "position": pos_of(&text, "to echo", 4), "newName": "9lives" }),
    );
    assert!(bad["error"]["message"].as_str().unwrap_or("").contains("not a valid name"), "{bad}");

    // Outline, folding, workspace symbols, semantic tokens.
    let symbols = c.call("textDocument/documentSymbol", json!({ "textDocument": { "uri": uri } }));
    let names: Vec<&str> =
        symbols.as_array().map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect()).unwrap_or_default();
    assert_eq!(names, ["openai", "echo", "per_client", "chat", "everything_else"]);
    let children: Vec<&str> = symbols[0]["children"]
        .as_array()
        .map(|a| a.iter().filter_map(|s| s["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(children, ["type", "latency", "timeout"]);
    let folds = c.call("textDocument/foldingRange", json!({ "textDocument": { "uri": uri } }));
    assert!(folds.as_array().is_some_and(|f| f.iter().any(|r| r["startLine"] == 0 && r["endLine"] == 3)), "{folds}");
    let ws = c.call("workspace/symbol", json!({ "query": "chat" }));
    assert!(ws.as_array().is_some_and(|a| a.iter().any(|s| s["name"] == "chat")), "{ws}");
    let toks = c.call("textDocument/semanticTokens/full", json!({ "textDocument": { "uri": uri } }));
    let data = toks["data"].as_array().cloned().unwrap_or_default();
    assert!(!data.is_empty() && data.len() % 5 == 0);
    // The first token is the keyword `provider` at 0:0, then the declared name.
    assert_eq!(
        &data[..10],
        &[json!(0), json!(0), json!(8), json!(0), json!(0), json!(0), json!(9), json!(6), json!(1), json!(3)]
    );

    // Formatting: one whole-document edit, none once formatted, none with syntax errors.
    let edits = c.call(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    let edits = edits.as_array().cloned().unwrap_or_default();
    assert_eq!(edits.len(), 1, "{edits:?}");
    assert_eq!(edits[0]["range"]["start"], json!({ "line": 0, "character": 0 }));
    let formatted = edits[0]["newText"].as_str().unwrap_or("").to_string();
    assert!(formatted.contains("  to    echo\n"), "{formatted}");
    c.change_full(&uri, 3, &formatted);
    let edits = c.call(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));
    c.change_full(&uri, 4, "route r {\n  to \"x\n");
    let edits = c.call(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": uri }, "options": { "tabSize": 2, "insertSpaces": true } }),
    );
    assert_eq!(edits, json!([]));

    // Completion by context.
    let mut doc = Doc { uri: uri.clone(), version: 10 };
    let top = doc.complete(&mut c, "provider a { type mock }\n¦");
    assert!(has(&top, &["route", "provider", "gateway", "limit", "test"]), "{top:?}");
    let r = c.call(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri }, "position": { "line": 1, "character": 0 } }),
    );
    let route = r.as_array().and_then(|a| a.iter().find(|i| i["label"] == "route")).cloned().unwrap_or_default();
    assert_eq!(route["insertText"], "route ${1:name} {\n  match POST \"$2\"\n  to $3\n}");
    assert_eq!(route["insertTextFormat"], 2);

    let inside = doc.complete(&mut c, "provider a {\n  type mock\n  ¦\n}\n");
    assert!(has(&inside, &["type", "base_url", "api_key", "pool", "health", "breaker"]), "{inside:?}");
    assert!(!inside.iter().any(|l| l == "match" || l == "route"), "{inside:?}");
    let pool = doc.complete(&mut c, "provider a {\n  pool {\n    ¦\n  }\n}\n");
    assert_eq!(pool, ["max_idle", "idle_timeout", "http2"]);
    let half = doc.complete(&mut c, "provider a {\n  type mock\n  ba¦");
    assert!(has(&half, &["base_url"]), "{half:?}");

    let decls = "provider openai { type mock }\nprovider echo { type mock }\nlimit l1 { requests 1 per 1m }\nqueue q1 { capacity 10 }\n";
    let to = doc.complete(&mut c, &format!("{decls}route r {{\n  match POST \"/x\"\n  to ¦\n}}\n"));
    assert_eq!(to, ["echo", "openai"]);
    let model_kw = doc.complete(&mut c, &format!("{decls}route r {{\n  to openai ¦\n}}\n"));
    assert_eq!(model_kw, ["model"]);
    let fallback = doc.complete(&mut c, &format!("{decls}route r {{\n  fallback [echo, ¦]\n}}\n"));
    assert_eq!(fallback, ["echo", "openai"]);
    let arm = doc.complete(&mut c, &format!("{decls}route r {{\n  split by client.id {{\n    50% -> ¦\n  }}\n}}\n"));
    assert_eq!(arm, ["echo", "openai"]);
    let uses = doc.complete(&mut c, &format!("{decls}route r {{\n  use ¦\n}}\n"));
    assert_eq!(uses, ["l1"]);
    let queue = doc.complete(&mut c, &format!("{decls}route r {{\n  queue ¦\n}}\n"));
    assert_eq!(queue, ["q1"]);
    let ty = doc.complete(&mut c, "provider a {\n  type ¦\n}\n");
    assert_eq!(ty, ["openai", "anthropic", "ollama", "azure", "openai_compatible", "mock"]);
    let scope = doc.complete(&mut c, "limit l {\n  scope ¦\n}\n");
    assert_eq!(scope, ["local", "cluster"]);
    let paths = doc.complete(&mut c, "route r {\n  when request.¦\n}\n");
    assert!(has(&paths, &["method", "path", "model", "stream", "tokens", "header", "body"]), "{paths:?}");
    let client = doc.complete(&mut c, "limit l {\n  by client.¦\n}\n");
    assert_eq!(client, ["id", "tier", "team", "roles"]);
    let expr = doc.complete(&mut c, "route r {\n  when ¦\n}\n");
    assert!(has(&expr, &["request", "client", "time", "len", "lower"]), "{expr:?}");
    let model = doc.complete(&mut c, &format!("{decls}route r {{\n  to openai model \"gpt-4¦\"\n}}\n"));
    assert!(has(&model, &["gpt-4o", "gpt-4o-mini", "claude-sonnet-4-5"]), "{model:?}");
    let test_client = doc.complete(&mut c, "client research { team \"r\" }\ntest t {\n  request { client ¦ }\n}\n");
    assert_eq!(test_client, ["research"]);
    let comment = doc.complete(&mut c, "# route ¦\n");
    assert!(comment.is_empty(), "{comment:?}");

    assert_eq!(c.shutdown(), 0);
}

#[test]
fn editing_an_imported_file_updates_its_importer() {
    let dir = temp_dir("imports");
    let providers = dir.join("providers.hapax");
    let main = dir.join("main.hapax");
    let ptext = "provider echo { type mock }\n";
    let mtext = "import \"providers.hapax\"\n\nroute r {\n  match POST \"/v1/*\"\n  to echo\n}\n";
    std::fs::write(&providers, ptext).expect("write");
    std::fs::write(&main, mtext).expect("write");
    let (puri, muri) = (uri(&providers), uri(&main));
    let mut c = Client::start(&dir);
    c.open(&muri, mtext);
    assert_eq!(codes(&c.diagnostics(&muri)), Vec::<String>::new());
    c.open(&puri, ptext);
    c.diagnostics(&puri);
    c.clear();

    // Renaming the provider in its file breaks the route in the other one.
    c.change_full(&puri, 2, "provider echo2 { type mock }\n");
    let diags = c.diagnostics(&muri);
    assert_eq!(codes(&diags), ["E0204"], "{diags:?}");

    // Go to definition crosses files.
    c.change_full(&puri, 3, ptext);
    assert_eq!(codes(&c.diagnostics(&muri)), Vec::<String>::new());
    let d = c.call(
        "textDocument/definition",
        json!({ "textDocument": { "uri": muri }, "position": pos_of(mtext, "to echo", 4) }),
    );
    assert_eq!(d["uri"], puri);

    // Renaming from the declaration edits both files.
    let edit = c.call(
        "textDocument/rename",
        json!({ "textDocument": { "uri": puri }, "position": pos_of(ptext, "echo", 1), "newName": "mock1" }),
    );
    assert_eq!(edit["changes"][&puri].as_array().map(Vec::len), Some(1), "{edit}");
    assert_eq!(edit["changes"][&muri].as_array().map(Vec::len), Some(1), "{edit}");

    // Closing the importer clears nothing it does not own; closing both clears all.
    c.clear();
    c.change_full(&puri, 4, "provider echo { type mock; bogus 1 }\n");
    assert_eq!(codes(&c.diagnostics(&puri)), ["E0202"]);
    c.notify("textDocument/didClose", json!({ "textDocument": { "uri": puri } }));
    c.notify("textDocument/didClose", json!({ "textDocument": { "uri": muri } }));
    assert_eq!(c.diagnostics(&puri), Vec::<Value>::new());
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn every_request_is_answered() {
    let dir = temp_dir("robust");
    let mut c = Client::start(&dir);
    // A request about a file that was never opened and does not exist.
    let missing = uri(&dir.join("missing.hapax"));
    let r = c.request(
        "textDocument/hover",
        json!({ "textDocument": { "uri": missing }, "position": { "line": 0, "character": 0 } }),
    );
    assert!(r.get("result").is_some() || r.get("error").is_some());
    // Unknown methods and bad params get errors, not silence.
    let r = c.request("textDocument/unknownThing", json!({}));
    assert_eq!(r["error"]["code"], -32601);
    let r = c.request("textDocument/completion", json!({ "nonsense": true }));
    assert_eq!(r["error"]["code"], -32602);
    // Positions past the end of a document are clamped.
    let path = dir.join("x.hapax");
    c.open(&uri(&path), "route {\n  to \"\u{1F600}");
    let r = c.call(
        "textDocument/completion",
        json!({ "textDocument": { "uri": uri(&path) }, "position": { "line": 99, "character": 99 } }),
    );
    assert!(r.is_array() || r.is_null());
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn split_weight_and_declare_fixes() {
    let dir = temp_dir("fixes");
    let path = dir.join("split.hapax");
    let text = "provider a { type mock }\nprovider b { type mock }\n\nroute r {\n  match POST \"/x\"\n  split {\n    90% -> a\n    20% -> b\n  }\n  fallback [c]\n}\n";
    let uri = uri(&path);
    let mut c = Client::start(&dir);
    c.open(&uri, text);
    let diags = c.diagnostics(&uri);
    assert_eq!(codes(&diags), ["E0204", "E0501"], "{diags:?}");
    let actions = c.call(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": uri }, "range": { "start": { "line": 0, "character": 0 }, "end": { "line": 20, "character": 0 } }, "context": { "diagnostics": [] } }),
    );
    let actions = actions.as_array().cloned().unwrap_or_default();
    let split =
        actions.iter().find(|a| a["diagnostics"][0]["code"] == "E0501").unwrap_or_else(|| panic!("{actions:?}"));
    let edit = &split["edit"]["changes"][&uri][0];
    assert_eq!(edit["newText"], "10%");
    assert_eq!(edit["range"]["start"], json!({ "line": 7, "character": 4 }));
    let declare =
        actions.iter().find(|a| a["title"] == "declare provider `c`").unwrap_or_else(|| panic!("{actions:?}"));
    let new_text = declare["edit"]["changes"][&uri][0]["newText"].as_str().unwrap_or("");
    assert!(new_text.contains("provider c {"), "{new_text}");
    // Applying both fixes leaves a clean file.
    let fixed = text.replace("20% -> b", "10% -> b") + new_text;
    c.change_full(&uri, 2, &fixed);
    assert_eq!(c.diagnostics(&uri), Vec::<Value>::new());
    assert_eq!(c.shutdown(), 0);
}

/// What `hapax serve` refuses shows in the editor as the warning
/// `hapax check` gives (the binary hands the runtime's list to the server).
#[test]
fn declarations_serve_refuses_are_warnings_in_the_editor() {
    let dir = temp_dir("refused");
    let main = dir.join("main.hapax");
    let text = "provider echo { type mock }\nbudget b { spend 5 USD per day }\nroute r {\n  match POST \"/v1/*\"\n  to echo\n  budget b\n}\n";
    std::fs::write(&main, text).expect("write");
    let muri = uri(&main);
    let mut c = Client::start(&dir);
    c.open(&muri, text);
    let diags = c.diagnostics(&muri);
    assert_eq!(codes(&diags), ["W0106", "W0106"], "{diags:?}");
    assert_eq!(diags[0]["severity"], 2, "a warning: {diags:?}");
    assert!(diags[0]["message"].as_str().unwrap_or("").contains("`budget` is declared but `hapax serve`"), "{diags:?}");
    assert_eq!(diags[1]["range"]["start"]["line"], 5, "{diags:?}");
    assert_eq!(c.shutdown(), 0);
}

/// The Cedar file an `authz` block names is checked with the policy: its
/// errors are published under its own URI, and cleared once it is fixed.
#[test]
fn cedar_file_diagnostics_are_published_and_cleared() {
    let dir = temp_dir("cedar");
    let main = dir.join("main.hapax");
    let cedar = dir.join("rbac.cedar");
    let text = "provider p { type mock }\nauthz { cedar \"rbac.cedar\" }\nroute r { match POST \"/v1/chat/completions\"; to p }\n";
    let broken = "// who may call\npermit (principal, action == Hapax::Action::\"cal\", resource);\n";
    std::fs::write(&main, text).expect("write");
    std::fs::write(&cedar, broken).expect("write");
    let (muri, curi) = (uri(&main), uri(&cedar));
    let mut c = Client::start(&dir);

    // Opening the policy publishes the Cedar file's errors under its URI.
    c.open(&muri, text);
    let diags = c.diagnostics(&curi);
    let e0802: Vec<&Value> = diags.iter().filter(|d| d["code"] == "E0802").collect();
    assert_eq!(e0802.len(), 1, "{diags:?}");
    let e = e0802[0];
    assert_eq!(e["source"], "hapax");
    assert_eq!(e["severity"], 1);
    assert_eq!(e["range"]["start"], pos_of(broken, "Hapax::Action::\"cal\"", 0), "{e}");
    assert_eq!(e["range"]["end"], pos_of(broken, ", resource", 0), "{e}");
    let msg = e["message"].as_str().unwrap_or("");
    assert!(msg.contains("unrecognized action") && msg.contains("did you mean `Hapax::Action::\"call\"`?"), "{msg}");
    // None of them lands in the policy itself.
    let own = c.diagnostics(&muri);
    assert!(own.iter().all(|d| !d["code"].as_str().unwrap_or("").starts_with("E08")), "{own:?}");

    // Fixed on disk, then the policy saved: the Cedar file's list is emptied.
    std::fs::write(&cedar, broken.replace("\"cal\"", "\"call\"")).expect("write");
    c.notify("textDocument/didSave", json!({ "textDocument": { "uri": muri } }));
    assert_eq!(c.diagnostics(&curi), Vec::<Value>::new());

    // Broken again and re-checked by an edit of the policy: back again.
    std::fs::write(&cedar, broken).expect("write");
    c.change_full(&muri, 2, text);
    assert_eq!(codes(&c.diagnostics(&curi)).iter().filter(|c| *c == "E0802").count(), 1);

    // Opened in the editor, the Cedar buffer overlays the disk and is still
    // checked as Cedar with its policy, not as a .hapax file of its own.
    c.notify(
        "textDocument/didOpen",
        json!({ "textDocument": { "uri": curi, "languageId": "cedar", "version": 1, "text": broken } }),
    );
    let diags = c.diagnostics(&curi);
    assert!(
        diags.iter().all(|d| d["code"].as_str().unwrap_or("").starts_with("E08") || d["code"] == "W0107"),
        "{diags:?}"
    );
    assert_eq!(diags.iter().filter(|d| d["code"] == "E0802").count(), 1, "{diags:?}");
    c.change_full(&curi, 2, &broken.replace("\"cal\"", "\"call\""));
    assert_eq!(c.diagnostics_at(&curi, 2), Vec::<Value>::new());
    assert_eq!(c.shutdown(), 0);
}
