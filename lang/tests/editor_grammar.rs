//! The editor grammars are kept in step with the language: every block kind,
//! setting and choice the checker knows is highlighted by the VS Code
//! TextMate grammar and the Vim syntax file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::schema::BLOCKS;
use std::path::Path;

fn words() -> Vec<&'static str> {
    let mut w: Vec<&str> = Vec::new();
    for b in BLOCKS {
        w.push(b.keyword());
        for s in b.settings {
            w.push(s.key);
            w.extend(s.choices.iter().copied());
        }
    }
    w.sort_unstable();
    w.dedup();
    w
}

fn check(file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(file);
    let text = std::fs::read_to_string(&path).expect("editor grammar exists");
    let missing: Vec<&str> = words()
        .into_iter()
        .filter(|w| !text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).any(|t| t == *w))
        .collect();
    assert!(missing.is_empty(), "{file} does not know {missing:?}");
}

#[test]
fn textmate_grammar_knows_every_keyword() {
    check("lsp/editors/vscode/syntaxes/hapax.tmLanguage.json");
}

#[test]
fn vim_syntax_knows_every_keyword() {
    check("lsp/editors/nvim/syntax/hapax.vim");
}
