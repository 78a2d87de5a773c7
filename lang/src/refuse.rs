//! Failing closed: reporting every use of a declaration that `hapax serve`
//! does not enforce. The list of what it refuses belongs to the runtime (it
//! is the one that knows what it runs); this module only finds the uses in a
//! checked policy set and turns them into diagnostics: errors for `serve`
//! and `check --serve`, warnings for `check` and the language server.

use crate::check::{Checked, Mode};
use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::span::FileId;
use crate::syntax::ast::{Directive, ExprKind, Head};

/// One refused declaration, written as a path into the language schema:
/// a top-level block (`authz`), a setting in its block's context
/// (`route.use`, `gateway.listen`) or a setting with its first word
/// (`gateway.listen h3`).
pub type Refused = &'static str;

/// Adds one diagnostic per use of a refused declaration to `checked`:
/// `E0701` in [`Mode::Serve`], `W0106` in [`Mode::Check`].
pub fn refuse(checked: &mut Checked, refused: &[Refused], mode: Mode) {
    if refused.is_empty() {
        return;
    }
    let code = match mode {
        Mode::Serve => Code::NotEnforced,
        Mode::Check => Code::NotEnforcedWarning,
    };
    let mut found = Vec::new();
    for (i, ast) in checked.asts.iter().enumerate() {
        walk(&ast.items, "", refused, &mut |d, what| found.push((FileId(i as u32), d.head_span(), what)));
    }
    for (file, span, what) in found {
        checked.diags.push(
            Diagnostic::new(code, file, span, format!("`{what}` is declared but `hapax serve` does not enforce it yet"))
                .help("remove it to serve this policy: `serve` refuses what it cannot enforce (the README lists what it runs today)"),
        );
    }
    checked.diags.sort();
}

/// Calls `hit` for every directive below `context` that a refused path
/// names, with the words that name it (`authz`, `use`, `listen h3`).
fn walk(items: &[Directive], context: &str, refused: &[Refused], hit: &mut dyn FnMut(&Directive, String)) {
    for d in items {
        let Head::Key(key) = &d.head else { continue };
        let path = if context.is_empty() { key.name.clone() } else { format!("{context}.{}", key.name) };
        let word = match d.args.first().map(|a| &a.value.kind) {
            Some(ExprKind::Ident(w)) => Some(w.as_str()),
            _ => None,
        };
        let whole = refused.contains(&path.as_str());
        let with_word =
            word.is_some_and(|w| refused.iter().any(|r| r.strip_prefix(path.as_str()) == Some(&format!(" {w}"))));
        if whole {
            hit(d, key.name.clone());
            // A refused block's own settings need no diagnostic of their own.
            continue;
        }
        if let (true, Some(w)) = (with_word, word) {
            hit(d, format!("{} {w}", key.name));
            continue;
        }
        if let Some(block) = &d.block {
            walk(&block.items, &path, refused, hit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{check, load, MemFs};
    use std::path::PathBuf;

    fn run(src: &str, refused: &[Refused], mode: Mode) -> Vec<(Code, String)> {
        let mut fs = MemFs::default();
        fs.files.insert(PathBuf::from("/p/main.hapax"), src.to_string());
        let mut c = check(load(&[PathBuf::from("/p/main.hapax")], &fs).expect("loads"), &fs, mode);
        c.diags.0.clear();
        refuse(&mut c, refused, mode);
        c.diags.0.iter().map(|d| (d.code, d.message.clone())).collect()
    }

    const POLICY: &str = "gateway {\n  listen http \"127.0.0.1:1\"\n  listen h3 \"127.0.0.1:2\" { cert \"c\"; key \"k\" }\n}\nprovider p { type mock }\nlimit l { requests 1 per 1m }\nroute r {\n  match POST \"/v1/*\"\n  to p\n  use l\n}\n";

    #[test]
    fn blocks_settings_and_listener_kinds_are_found() {
        let got = run(POLICY, &["limit", "route.use", "gateway.listen h3"], Mode::Serve);
        let msgs: Vec<&str> = got.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "`listen h3` is declared but `hapax serve` does not enforce it yet",
                "`limit` is declared but `hapax serve` does not enforce it yet",
                "`use` is declared but `hapax serve` does not enforce it yet",
            ]
        );
        assert!(got.iter().all(|(c, _)| *c == Code::NotEnforced));
    }

    #[test]
    fn check_mode_warns_and_an_empty_list_finds_nothing() {
        let got = run(POLICY, &["limit"], Mode::Check);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Code::NotEnforcedWarning);
        assert!(run(POLICY, &[], Mode::Serve).is_empty());
        // The http listener is not the refused h3 one.
        assert!(run(POLICY, &["gateway.listen https"], Mode::Serve).is_empty());
    }
}
