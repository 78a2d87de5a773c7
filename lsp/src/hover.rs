//! Hover: keyword documentation, the declaration a reference points to,
//! expression paths and functions, and the price of a model.

use crate::nav::{decl_of, symbol_at, At};
use crate::syntax::{arg_at, at, context_of};
use hapax_lang::check::Checked;
use hapax_lang::schema;
use hapax_lang::span::{FileId, Span};
use hapax_lang::syntax::ast::{ExprKind, Head};
use hapax_stdlib::docs::{self, KeywordDoc};
use hapax_stdlib::functions;
use hapax_stdlib::prices::{self, ModelPrice};

/// Markdown for a keyword: its summary, syntax and example.
pub fn keyword_markdown(d: &KeywordDoc) -> String {
    let title = if d.context.is_empty() { format!("`{}`", d.key) } else { format!("`{}` in `{}`", d.key, d.context) };
    format!("**{title}**\n\n{}\n\n```hapax\n{}\n```\n\nExample:\n\n```hapax\n{}\n```", d.summary, d.syntax, d.example)
}

/// Dollars with at least two decimals and at most four: `$2.50`, `$0.075`.
fn money(v: f64) -> String {
    let mut s = format!("{v:.4}");
    while s.ends_with('0') && s.find('.').is_some_and(|dot| s.len() - dot > 3) {
        s.pop();
    }
    format!("${s}")
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Markdown for a price-table entry.
pub fn price_markdown(p: &ModelPrice) -> String {
    let mut s = format!(
        "**{}** ({})\n\n| tokens | USD per 1M |\n| --- | --- |\n| input | {} |\n",
        p.model,
        p.provider,
        money(p.input_per_mtok)
    );
    if let Some(c) = p.cached_input_per_mtok {
        s.push_str(&format!("| cached input | {} |\n", money(c)));
    }
    s.push_str(&format!(
        "| output | {} |\n\ncontext window: {} tokens",
        money(p.output_per_mtok),
        thousands(p.context_window)
    ));
    s
}

/// The hover text at `offset` in file `fid`, and the span it is about.
pub fn hover(checked: &Checked, fid: FileId, offset: usize) -> Option<(String, Span)> {
    let text = &checked.sources.get(fid).text;
    let ast = checked.asts.get(fid.0 as usize)?;
    if let Some(found) = symbol_at(checked, fid, offset) {
        return Some((declaration_markdown(checked, &found), found.loc.span));
    }
    let chain = at(ast, offset);
    let d = chain.last()?;
    if let Head::Key(k) = &d.head {
        if k.span.contains(offset) {
            let ctx = context_of(&chain[..chain.len() - 1]);
            return docs::lookup(&ctx, &k.name).map(|doc| (keyword_markdown(doc), k.span));
        }
    }
    let e = arg_at(d, offset)?;
    match &e.kind {
        ExprKind::Str { value, .. } => {
            if let Some(p) = prices::lookup(value) {
                return Some((price_markdown(p), e.span));
            }
            None
        }
        ExprKind::Call { name, .. } => functions::lookup(&name.name).map(|f| {
            (format!("```hapax\n{}({}) -> {}\n```\n\n{}", f.name, f.params.join(", "), f.returns, f.summary), name.span)
        }),
        ExprKind::Ident(_) | ExprKind::Field { .. } => {
            let path = e.dotted()?.join(".");
            path_markdown(&path).map(|m| (m, e.span)).or_else(|| {
                // A choice word: the setting's own documentation.
                let ctx = context_of(&chain[..chain.len() - 1]);
                let setting = schema::block(&ctx).and_then(|b| b.setting(d.key()))?;
                let word = e.as_ident()?;
                if setting.choices.contains(&word) {
                    docs::lookup(&ctx, d.key()).map(|doc| {
                        (format!("`{word}`: one of `{}`\n\n{}", setting.choices.join("`, `"), doc.summary), e.span)
                    })
                } else {
                    None
                }
            })
        }
        _ => {
            let _ = text;
            None
        }
    }
}

/// Documentation of an expression path (`request.model`) or root
/// (`request`); deeper JSON paths get their root's entry.
fn path_markdown(path: &str) -> Option<String> {
    let all = docs::expression_paths();
    if let Some((p, ty, doc)) = all.iter().find(|(p, _, _)| *p == path) {
        return Some(format!("```hapax\n{p}: {ty}\n```\n\n{doc}"));
    }
    if let Some((root, fields)) = schema::PATHS.iter().find(|(r, _)| *r == path) {
        let list: Vec<String> = fields.iter().map(|f| format!("`{root}.{f}`")).collect();
        return Some(format!("**`{root}`**\n\nfields: {}", list.join(", ")));
    }
    let mut prefix = path;
    while let Some((head, _)) = prefix.rsplit_once('.') {
        if let Some((p, ty, doc)) = all.iter().find(|(p, _, _)| *p == head) {
            return Some(format!("```hapax\n{p}: {ty}\n```\n\n{doc}"));
        }
        prefix = head;
    }
    None
}

/// What a reference points to (the declaration's first lines), or for a
/// declaration its kind and how often it is used.
fn declaration_markdown(checked: &Checked, found: &At) -> String {
    let kw = found.kind.keyword();
    match decl_of(checked, found.kind, &found.name) {
        Some((name_loc, block)) if !found.is_decl => {
            let file = checked.sources.get(block.file);
            let body = file.text.get(block.span.range()).unwrap_or("");
            let mut lines: Vec<&str> = body.lines().take(12).collect();
            if body.lines().count() > 12 {
                lines.push("  ...");
            }
            let (line, _) = file.human_line_col(name_loc.span.start as usize);
            let name = file
                .path
                .file_name()
                .map_or_else(|| file.path.display().to_string(), |n| n.to_string_lossy().into_owned());
            format!("```hapax\n{}\n```\n\n{kw} `{}` declared in `{name}` line {line}", lines.join("\n"), found.name)
        }
        Some(_) => {
            let uses = checked.symbols.refs.iter().filter(|r| r.kind == found.kind && r.name == found.name).count();
            let summary = docs::lookup("", kw).map_or("", |d| d.summary);
            format!("**{kw} `{}`**: used {uses} time{}\n\n{summary}", found.name, if uses == 1 { "" } else { "s" })
        }
        None => format!("unknown {kw} `{}`: nothing of that name is declared", found.name),
    }
}
