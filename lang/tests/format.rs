//! The formatter: snapshots of every shipped policy, and properties over
//! generated programs (`fmt(parse(x))` parses, means the same, keeps every
//! comment and is idempotent).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, reason = "test helpers fail loudly, as tests do")]

use hapax_lang::fmt::format;
use hapax_lang::span::FileId;
use hapax_lang::syntax::ast::{Ast, Directive, Expr, ExprKind, Head};
use hapax_lang::syntax::parse;
use proptest::prelude::*;
use std::path::Path;

/// A span-free rendering of the tree: equal shapes mean equal programs.
fn shape(ast: &Ast) -> String {
    let mut out = String::new();
    for d in &ast.items {
        directive(d, &mut out);
    }
    out
}

fn directive(d: &Directive, out: &mut String) {
    out.push('(');
    match &d.head {
        Head::Key(k) => out.push_str(&k.name),
        Head::Arm(w) => {
            out.push_str("arm ");
            expr(w, out);
        }
    }
    for a in &d.args {
        out.push(' ');
        expr(&a.value, out);
        if a.comma {
            out.push(',');
        }
    }
    if let Some(b) = &d.block {
        out.push_str(" {");
        for i in &b.items {
            directive(i, out);
        }
        out.push('}');
    }
    out.push(')');
}

fn expr(e: &Expr, out: &mut String) {
    match &e.kind {
        ExprKind::Ident(n) => out.push_str(n),
        ExprKind::Str { value, .. } => out.push_str(&format!("{value:?}")),
        ExprKind::Number { value, unit, .. } => out.push_str(&format!("{value}{unit:?}")),
        ExprKind::Money { amount, currency, .. } => out.push_str(&format!("{amount}{currency}")),
        ExprKind::Rate { count, per } => {
            out.push_str("(rate ");
            expr(count, out);
            out.push(' ');
            expr(per, out);
            out.push(')');
        }
        ExprKind::Range { lo, hi } => {
            out.push_str("(range ");
            expr(lo, out);
            out.push(' ');
            expr(hi, out);
            out.push(')');
        }
        ExprKind::Field { base, name } => {
            expr(base, out);
            out.push('.');
            out.push_str(&name.name);
        }
        ExprKind::Index { base, index } => {
            expr(base, out);
            out.push('[');
            expr(index, out);
            out.push(']');
        }
        ExprKind::Call { name, args } => {
            out.push_str(&format!("(call {}", name.name));
            for a in args {
                out.push(' ');
                expr(a, out);
            }
            out.push(')');
        }
        ExprKind::List(items) | ExprKind::Words(items) => {
            out.push_str(if matches!(e.kind, ExprKind::List(_)) { "(list" } else { "(words" });
            for a in items {
                out.push(' ');
                expr(a, out);
            }
            out.push(')');
        }
        ExprKind::Paren(inner) => {
            out.push_str("(paren ");
            expr(inner, out);
            out.push(')');
        }
        ExprKind::Not(inner) => {
            out.push_str("(not ");
            expr(inner, out);
            out.push(')');
        }
        ExprKind::Binary { op, lhs, rhs } => {
            out.push_str(&format!("({} ", op.as_str()));
            expr(lhs, out);
            out.push(' ');
            expr(rhs, out);
            out.push(')');
        }
    }
}

fn assert_format_properties(src: &str) {
    let (before, errors) = parse(FileId(0), src);
    assert!(errors.is_empty(), "generated program does not parse: {errors:?}\n{src}");
    let out = format(src).expect("parses, so it formats");
    let (after, errors) = parse(FileId(0), &out);
    assert!(errors.is_empty(), "formatted program does not parse: {errors:?}\n{out}");
    assert_eq!(shape(&before), shape(&after), "formatting changed the meaning:\n{src}\n---\n{out}");
    let texts = |a: &Ast| a.comments.iter().map(|c| c.text.trim_end().to_string()).collect::<Vec<_>>();
    assert_eq!(texts(&before), texts(&after), "comments were lost or reordered:\n{src}\n---\n{out}");
    assert_eq!(format(&out).expect("formats"), out, "not idempotent:\n{out}");
}

fn policy_files() -> Vec<std::path::PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("policies/ exists") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "hapax") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn policies_are_formatted_and_snapshotted() {
    let files = policy_files();
    assert!(files.len() >= 10, "expected the shipped policies, found {files:?}");
    for f in files {
        let src = std::fs::read_to_string(&f).expect("readable");
        assert_format_properties(&src);
        let out = format(&src).expect("formats");
        let name = f
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies"))
            .unwrap_or(&f)
            .display()
            .to_string()
            .replace(['/', '.'], "_");
        insta::assert_snapshot!(name, out);
        assert_eq!(out, src, "{} is not in canonical form; run `hapax fmt`", f.display());
    }
}

#[test]
fn contract_example_formats() {
    assert_format_properties(include_str!("../../tests/fixtures/language_example.hapax"));
}

// ---------------------------------------------------------------- generators

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}".prop_filter("not a keyword", |s| {
        !matches!(s.as_str(), "and" | "or" | "not" | "in" | "matches" | "contains" | "per")
    })
}

fn leaf() -> impl Strategy<Value = String> {
    prop_oneof![
        name(),
        "[a-z ]{0,8}".prop_map(|s| format!("\"{s}\"")),
        Just("\"esc \\\" \\n \\u{41}\"".to_string()),
        (0u32..5000, prop::sample::select(vec!["", "ms", "s", "m", "h", "d", "KiB", "MiB", "%", "k", "M"]))
            .prop_map(|(n, u)| format!("{n}{u}")),
        (0u32..100, 0u32..100).prop_map(|(a, b)| format!("{a}.{b}%")),
        Just("request.body.messages[0].content".to_string()),
        Just("request.header[\"x-team\"]".to_string()),
        Just("env(\"KEY\")".to_string()),
    ]
}

fn expr_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        name(),
        "[a-z]{0,5}".prop_map(|s| format!("\"{s}\"")),
        (0u32..99).prop_map(|n| n.to_string()),
        Just("client.tier".to_string())
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(vec!["==", "!=", "<", ">=", "matches", "contains", "in", "and", "or", "=~"]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| {
                    // Only and/or take compound operands without parentheses.
                    let wrap =
                        |x: String| if x.contains(' ') && !matches!(op, "and" | "or") { format!("({x})") } else { x };
                    format!("{} {op} {}", wrap(a), wrap(b))
                }),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.clone().prop_map(|a| format!("({a})")),
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
            (name(), prop::collection::vec(inner, 0..3)).prop_map(|(f, v)| format!("{f}({})", v.join(", "))),
        ]
    })
}

fn arg() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => leaf(),
        1 => expr_text().prop_map(|e| format!("({e})")),
        1 => (1u32..999, prop::sample::select(vec!["1m", "minute", "month", "1h"])).prop_map(|(n, w)| format!("{n} per {w}")),
        1 => (1u32..99, 100u32..999).prop_map(|(a, b)| format!("{a}ms..{b}ms")),
        1 => (0u32..999).prop_map(|n| format!("{n} USD")),
        1 => prop::collection::vec(leaf(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
    ]
}

#[derive(Debug, Clone)]
struct Gen {
    key: String,
    args: Vec<String>,
    children: Option<(Vec<Gen>, bool)>,
    comment: Option<String>,
    blank_before: bool,
    pad: usize,
}

fn directive_gen() -> impl Strategy<Value = Gen> {
    let simple =
        (name(), prop::collection::vec(arg(), 0..4), prop::option::of("[a-z ]{0,10}"), any::<bool>(), 1usize..4)
            .prop_map(|(key, args, comment, blank_before, pad)| Gen {
                key,
                args,
                children: None,
                comment: comment.map(|c| format!("# {c}")),
                blank_before,
                pad,
            });
    simple.prop_recursive(3, 24, 5, |inner| {
        (
            name(),
            prop::collection::vec(arg(), 0..2),
            prop::collection::vec(inner, 0..5),
            any::<bool>(),
            prop::option::of("[a-z ]{0,10}"),
            any::<bool>(),
        )
            .prop_map(|(key, args, kids, one_line, comment, blank_before)| {
                // A block on one line cannot hold comments.
                let one_line = one_line && kids.iter().all(|k| k.comment.is_none() && k.children.is_none());
                Gen {
                    key,
                    args,
                    children: Some((kids, one_line)),
                    comment: comment.map(|c| format!("# {c}")),
                    blank_before,
                    pad: 1,
                }
            })
    })
}

fn render(g: &Gen, depth: usize, out: &mut String) {
    let indent = "   ".repeat(depth);
    out.push_str(&indent);
    render_inline(g, depth, out);
    if let Some(c) = &g.comment {
        out.push(' ');
        out.push_str(c);
    }
    out.push('\n');
}

fn render_inline(g: &Gen, depth: usize, out: &mut String) {
    out.push_str(&g.key);
    for a in &g.args {
        out.push_str(&" ".repeat(g.pad));
        out.push_str(a);
    }
    if let Some((kids, one_line)) = &g.children {
        if *one_line {
            out.push_str(" {");
            for (i, k) in kids.iter().enumerate() {
                out.push_str(if i == 0 { " " } else { "; " });
                render_inline(k, depth + 1, out);
            }
            out.push_str(" }");
        } else {
            out.push_str(" {\n");
            for k in kids {
                if k.blank_before {
                    out.push('\n');
                }
                render(k, depth + 1, out);
            }
            out.push_str(&"   ".repeat(depth));
            out.push('}');
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn fmt_preserves_meaning_and_is_idempotent(items in prop::collection::vec(directive_gen(), 0..6), head in prop::option::of("[a-z ]{0,12}")) {
        let mut src = String::new();
        if let Some(h) = head {
            src.push_str(&format!("# {h}\n\n"));
        }
        for g in &items {
            if g.blank_before {
                src.push('\n');
            }
            render(g, 0, &mut src);
        }
        assert_format_properties(&src);
    }

    #[test]
    fn parser_never_panics(src in "[ -~\n]{0,200}") {
        let _ = parse(FileId(0), &src);
        let _ = format(&src);
    }
}

/// Inputs the fuzzer (or a person) found to break the front end; each must
/// now parse, check and format without a panic, and format idempotently.
#[test]
fn fuzz_regressions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).expect("fuzz/regressions exists") {
        let p = e.expect("entry").path();
        // Folders there hold the runtime's fuzz targets' regressions.
        if !p.is_file() {
            continue;
        }
        let src = String::from_utf8_lossy(&std::fs::read(&p).expect("readable")).into_owned();
        let mut fs = hapax_lang::MemFs::default();
        fs.files.insert(std::path::PathBuf::from("/p/main.hapax"), src.clone());
        let loaded = hapax_lang::load(&[std::path::PathBuf::from("/p/main.hapax")], &fs).expect("loads");
        let _ = hapax_lang::check(loaded, &fs, hapax_lang::Mode::Check);
        if let Ok(out) = format(&src) {
            assert_eq!(format(&out).expect("formats"), out, "{}", p.display());
            let (a, _) = parse(FileId(0), &src);
            let (b, _) = parse(FileId(0), &out);
            assert_eq!(a.comments.len(), b.comments.len(), "{}", p.display());
        }
        n += 1;
    }
    assert!(n >= 3);
}
