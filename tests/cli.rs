//! End-to-end tests of the `hapax` binary's language commands: check, fmt,
//! test, graph, explain and init, with their exit codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hapax() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hapax"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("NO_COLOR", "1");
    c
}

fn run(args: &[&str]) -> Output {
    hapax().args(args).output().expect("hapax runs")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hapax-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// The secrets the contract example reads, so that it checks clean.
fn with_env(c: &mut Command) -> &mut Command {
    c.env("OPENAI_API_KEY", "test").env("ANTHROPIC_API_KEY", "test").env("HOSTNAME", "node-1")
}

#[test]
fn shipped_policies_check_clean_with_deny_warnings() {
    let o = with_env(&mut hapax()).args(["check", "--deny-warnings", "--serve", "policies"]).output().expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no problems"), "{}", text(&o));
}

/// The contract example is valid language, so `check` passes it; the
/// declarations `serve` does not enforce yet are warnings there (W0106),
/// fail `--deny-warnings`, and are the errors `serve` gives under
/// `--serve` (E0701), one per use and nothing else.
#[test]
fn the_contract_checks_and_serve_refuses_what_it_does_not_enforce() {
    let check = |args: &[&str]| with_env(&mut hapax()).args(args).output().expect("runs");
    let o = check(&["check", "policies/contract"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let w = out.matches("warning[W0106]").count();
    assert!(w >= 10 && out.contains(&format!("0 errors, {w} warnings")), "{out}");
    assert!(out.contains("`budget` is declared but `hapax serve` does not enforce it yet"), "{out}");
    assert_eq!(check(&["check", "--deny-warnings", "policies/contract"]).status.code(), Some(1));
    let o = check(&["check", "--serve", "policies/contract"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_eq!(out.matches("error[E0701]").count(), w, "{out}");
    assert!(out.contains(&format!("{w} errors, 0 warnings")), "{out}");
    let o = check(&["check", "--format", "json", "policies/contract"]);
    let codes: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json")["code"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(codes.len(), w, "{codes:?}");
    assert!(codes.iter().all(|c| c == "W0106"), "{codes:?}");
}

#[test]
fn shipped_policy_tests_pass() {
    let o = run(&["test", "policies"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 passed, 0 failed"), "{}", text(&o));
    let o = run(&["test", "policies/contract"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("5 passed, 0 failed") && !text(&o).contains("skipped"), "{}", text(&o));
}

#[test]
fn shipped_policies_are_formatted() {
    let o = run(&["fmt", "--check", "policies", "policies/contract"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn exit_codes_and_json() {
    let d = tempdir("exit");
    let bad = d.join("bad.hapax");
    std::fs::write(&bad, "provider p { type opanai }\nroute r { match \"/v1/*\"; to q }\n").expect("write");
    let o = run(&["check", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = text(&o);
    assert!(out.contains("error[E0307]") && out.contains("error[E0204]"), "{out}");
    assert!(out.contains("bad.hapax:1:19"), "{out}");

    let o = run(&["check", "--format", "json", bad.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(lines.len(), 2);
    for key in ["code", "severity", "file", "line", "column", "end_line", "end_column", "message", "help"] {
        assert!(lines[0].get(key).is_some(), "missing {key}");
    }

    let o = run(&["check", "/no/such/file.hapax"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    let warn = d.join("warn.hapax");
    std::fs::write(&warn, "limit l { requests 5 per 1m }\n").expect("write");
    assert_eq!(run(&["check", warn.to_str().expect("utf-8")]).status.code(), Some(0));
    assert_eq!(run(&["check", "--deny-warnings", warn.to_str().expect("utf-8")]).status.code(), Some(1));
}

#[test]
fn failing_policy_test_explains_why() {
    let d = tempdir("test");
    let f = d.join("t.hapax");
    std::fs::write(
        &f,
        "provider a { type mock }\nprovider b { type mock }\nroute r { match \"/v1/*\"; to a }\ntest wrong { expect { route r; target [b] } }\n",
    )
    .expect("write");
    let o = run(&["test", f.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    let out = text(&o);
    assert!(
        out.contains("FAILED  wrong") && out.contains("expected targets [b], but route `r` can send to [a]"),
        "{out}"
    );
}

#[test]
fn fmt_rewrites_and_refuses_broken_files() {
    let d = tempdir("fmt");
    let f = d.join("a.hapax");
    std::fs::write(&f, "provider p {\ntype mock # x\n    latency 20ms\n}\n").expect("write");
    assert_eq!(run(&["fmt", "--check", f.to_str().expect("utf-8")]).status.code(), Some(1));
    assert!(run(&["fmt", f.to_str().expect("utf-8")]).status.success());
    assert_eq!(std::fs::read_to_string(&f).expect("read"), "provider p {\n  type    mock  # x\n  latency 20ms\n}\n");
    let broken = d.join("b.hapax");
    std::fs::write(&broken, "provider p {\n").expect("write");
    let o = run(&["fmt", broken.to_str().expect("utf-8")]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&broken).expect("read"), "provider p {\n", "a broken file is left alone");
}

#[test]
fn graph_formats() {
    let o = run(&["graph", "--format", "json", "policies/contract"]);
    assert!(o.status.success(), "{}", text(&o));
    let g: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let chat = &g["routes"][0];
    assert_eq!(chat["name"], "chat_gpt4");
    assert_eq!(chat["targets"][0]["weight_percent"], 90.0);
    assert_eq!(chat["sticky"], true);
    let dot = text(&run(&["graph", "--format", "dot", "policies/contract"]));
    assert!(dot.starts_with("digraph hapax {") && dot.contains("\"route:chat_gpt4\" -> \"provider:openai\""), "{dot}");
    let t = text(&run(&["graph", "policies/quickstart.hapax"]));
    assert!(t.contains("route chat") && t.contains("100% -> mock"), "{t}");
}

#[test]
fn explain_and_init() {
    let o = run(&["explain", "E0501"]);
    assert!(o.status.success() && text(&o).contains("split weights"), "{}", text(&o));
    let o = run(&["explain", "route"]);
    assert!(o.status.success() && text(&o).contains("syntax:"), "{}", text(&o));
    assert_eq!(run(&["explain", "nonsense_word"]).status.code(), Some(2));
    let d = tempdir("init");
    assert!(run(&["init", d.to_str().expect("utf-8")]).status.success());
    let o = run(&["check", "--deny-warnings", d.join("hapax.hapax").to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(run(&["init", d.to_str().expect("utf-8")]).status.code(), Some(2), "init does not overwrite");
}

/// The contract's example (the copy of `shared/design/LANGUAGE.md`'s in
/// `tests/fixtures`), as one file beside the files it names, checks with no
/// error and its test passes; `serve` refuses what it does not enforce yet.
#[test]
fn contract_example_is_valid() {
    let example = include_str!("fixtures/language_example.hapax");
    let d = tempdir("contract");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/contract");
    for f in ["certs/server.pem", "certs/server.key", "rbac.cedar", "scripts/add_system_prompt.rhai", "keys/jwks.json"]
    {
        let to = d.join(f);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("dirs");
        std::fs::copy(src.join(f), &to).expect("copy");
    }
    let file = d.join("contract.hapax");
    std::fs::write(&file, example).expect("write");
    let o = with_env(&mut hapax()).args(["check", file.to_str().expect("utf-8")]).output().expect("runs");
    assert!(o.status.success(), "{}", text(&o));
    // The warnings: the queue the example declares but never uses, and what
    // serve refuses.
    let out = text(&o);
    assert!(out.contains("0 errors,") && out.contains("queue `batch_jobs` is never used"), "{out}");
    let warnings = out.matches("warning[").count();
    assert_eq!(warnings, 1 + out.matches("warning[W0106]").count(), "{out}");
    for what in ["`listen h3`", "`queue`", "`budget`", "`cluster`"] {
        assert!(out.contains(&format!("warning[W0106]: {what} is declared")), "{what}: {out}");
    }
    let o = run(&["test", file.to_str().expect("utf-8")]);
    assert!(
        o.status.success() && text(&o).contains("1 passed, 0 failed") && !text(&o).contains("skipped"),
        "{}",
        text(&o)
    );
}
