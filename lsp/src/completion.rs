//! Completion by context: block kinds at top level, the settings of the
//! enclosing block, declared names where a reference goes, a setting's
//! choices, expression paths and functions, and model names from the
//! price table.

use crate::hover::{keyword_markdown, price_markdown};
use crate::position::LineIndex;
use crate::syntax::{context_of, context_path, cursor, enclosing, Tok};
use hapax_lang::schema::{self, Naming, RefKind, Setting};
use hapax_lang::syntax::ast::Ast;
use hapax_stdlib::{docs, functions, prices};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionTextEdit, Documentation, InsertTextFormat, MarkupContent, MarkupKind,
    Range, TextEdit,
};

/// What completion needs to know besides the text.
pub struct Request<'a> {
    pub text: &'a str,
    pub ast: &'a Ast,
    pub offset: usize,
    /// The declared names of a kind, with a detail line for each.
    pub names: &'a dyn Fn(RefKind) -> Vec<(String, String)>,
    /// Whether the client accepts snippets.
    pub snippets: bool,
    /// Completion was triggered by typing a space.
    pub after_space: bool,
}

/// Settings whose arguments are expressions, by context.
const EXPRESSIONS: &[(&str, &str)] = &[
    ("route", "when"),
    ("route", "split"),
    ("cache", "when"),
    ("cache", "key"),
    ("limit", "by"),
    ("budget", "for"),
    ("audit", "redact"),
];

pub fn complete(req: &Request) -> Vec<CompletionItem> {
    let cur = cursor(req.text, req.offset);
    if cur.in_comment {
        return Vec::new();
    }
    let chain = enclosing(req.ast, req.text, req.offset);
    let ctx = if chain.len() >= cur.stack.len() {
        context_of(&chain)
    } else {
        context_path(cur.stack.iter().map(String::as_str))
    };
    let key = cur.toks.first().and_then(Tok::word);
    let args: Vec<&Tok> = cur.toks.iter().skip(1).collect();

    if let Some(start) = cur.in_string {
        let prev = cur.toks.last().and_then(Tok::word);
        let price_block = ctx.is_empty() && key == Some("price") && args.is_empty();
        if prev == Some("model") || price_block {
            let range = LineIndex::new(req.text).range(hapax_lang::span::Span::new(start, req.offset));
            return models(Some(range));
        }
        return Vec::new();
    }

    if let Some((root, rest)) = cur.partial.split_once('.') {
        if !rest.contains('.') {
            if let Some((_, fields)) = schema::PATHS.iter().find(|(r, _)| *r == root) {
                let start = cur.partial_start + root.len() + 1;
                let range = LineIndex::new(req.text).range(hapax_lang::span::Span::new(start, req.offset));
                return fields.iter().map(|f| path_item(root, f, range)).collect();
            }
        }
        return Vec::new();
    }

    if cur.toks.is_empty() {
        if req.after_space {
            return Vec::new();
        }
        if ctx.is_empty() {
            return block_kinds(req.snippets);
        }
        if ctx == "route.split" {
            return vec![snippet_item(
                "50% -> provider",
                "${1:50}% -> ${2:provider}",
                "a split arm: weight and target",
                req.snippets,
            )];
        }
        return settings(&ctx, req.snippets);
    }

    // A split arm: `90% -> TARGET`.
    if let Some(i) = cur.toks.iter().position(|t| *t == Tok::Punct("->".into())) {
        return targets(req, &cur.toks[i + 1..]);
    }
    let Some(key) = key else { return Vec::new() };
    if ctx.is_empty() {
        return Vec::new();
    }
    let Some(setting) = schema::block(&ctx).and_then(|b| b.setting(key)) else {
        return Vec::new();
    };
    let words: Vec<&str> = args.iter().filter_map(|t| t.word()).collect();
    if key == "transform" {
        return match words.len() {
            0 => choices(&ctx, setting),
            1 => names(req, RefKind::Script),
            _ => Vec::new(),
        };
    }
    if setting.refers == Some(RefKind::Provider) {
        return targets(req, &cur.toks[1..]);
    }
    if let Some(kind) = setting.refers {
        return names(req, kind);
    }
    if key == "on_exceed" && words.first() == Some(&"downgrade") {
        return targets(req, &cur.toks[2..]);
    }
    if !setting.choices.is_empty() && args.is_empty() {
        return choices(&ctx, setting);
    }
    if key == "model" && args.is_empty() {
        return models(None);
    }
    let owner = ctx.rsplit('.').next().unwrap_or(&ctx);
    if EXPRESSIONS.contains(&(owner, key)) && (key != "split" || !words.is_empty()) {
        let operand = match args.last() {
            Some(Tok::Word(_) | Tok::Str(_)) => true,
            Some(Tok::Punct(p)) => p == "]" || p == ")",
            None => false,
        };
        return expression_starts(operand);
    }
    Vec::new()
}

fn markdown(value: String) -> Documentation {
    Documentation::MarkupContent(MarkupContent { kind: MarkupKind::Markdown, value })
}

fn snippet_item(label: &str, snippet: &str, detail: &str, snippets: bool) -> CompletionItem {
    CompletionItem {
        label: label.into(),
        kind: Some(CompletionItemKind::SNIPPET),
        detail: Some(detail.into()),
        insert_text: snippets.then(|| snippet.into()),
        insert_text_format: snippets.then_some(InsertTextFormat::SNIPPET),
        ..Default::default()
    }
}

/// The top-level block kinds, each with a snippet of its usual shape.
fn block_kinds(snippets: bool) -> Vec<CompletionItem> {
    schema::top_level()
        .map(|b| {
            let kw = b.context;
            let snippet = match (kw, b.naming) {
                ("route", _) => "route ${1:name} {\n  match POST \"$2\"\n  to $3\n}".to_string(),
                ("provider", _) => format!("provider ${{1:name}} {{\n  type ${{2|{}|}}\n  $0\n}}", schema::PROVIDER_TYPES.join(",")),
                ("import", _) => "import \"$1\"".to_string(),
                ("script", _) => "script ${1:name} \"scripts/${2:$1}.rhai\"".to_string(),
                ("price", _) => "price \"$1\" { input ${2:1} USD per 1M; output ${3:2} USD per 1M }".to_string(),
                ("test", _) => "test ${1:name} {\n  request { method POST; path \"${2:/v1/chat/completions}\"; model \"$3\" }\n  expect  { route $4 }\n}".to_string(),
                (_, Naming::Singleton) => format!("{kw} {{\n  $0\n}}"),
                _ => format!("{kw} ${{1:name}} {{\n  $0\n}}"),
            };
            let doc = docs::lookup("", kw);
            CompletionItem {
                label: kw.into(),
                kind: Some(CompletionItemKind::KEYWORD),
                detail: doc.map(|d| d.summary.to_string()),
                documentation: doc.map(|d| markdown(keyword_markdown(d))),
                insert_text: snippets.then_some(snippet),
                insert_text_format: snippets.then_some(InsertTextFormat::SNIPPET),
                ..Default::default()
            }
        })
        .collect()
}

/// The settings of a block.
fn settings(ctx: &str, snippets: bool) -> Vec<CompletionItem> {
    let Some(spec) = schema::block(ctx) else {
        return Vec::new();
    };
    spec.settings
        .iter()
        .map(|s| {
            let doc = docs::lookup(ctx, s.key);
            let snippet = if s.key == "split" {
                Some("split by ${1:client.id} {\n  ${2:50}% -> $3\n  ${4:50}% -> $5\n}".to_string())
            } else if s.block.is_some() && s.choices.is_empty() {
                Some(format!("{} {{\n  $0\n}}", s.key))
            } else if !s.choices.is_empty() && s.refers.is_none() && s.key != "match" {
                Some(format!("{} ${{1|{}|}}", s.key, s.choices.join(",")))
            } else {
                None
            };
            let snippet = snippet.filter(|_| snippets);
            CompletionItem {
                label: s.key.into(),
                kind: Some(if s.block.is_some() { CompletionItemKind::MODULE } else { CompletionItemKind::PROPERTY }),
                detail: doc.map(|d| d.summary.to_string()),
                documentation: doc.map(|d| markdown(keyword_markdown(d))),
                insert_text_format: snippet.as_ref().map(|_| InsertTextFormat::SNIPPET),
                insert_text: snippet,
                ..Default::default()
            }
        })
        .collect()
}

/// A setting's choices.
fn choices(ctx: &str, s: &Setting) -> Vec<CompletionItem> {
    let detail = docs::lookup(ctx, s.key).map(|d| d.syntax.to_string());
    s.choices
        .iter()
        .map(|c| CompletionItem {
            label: (*c).into(),
            kind: Some(CompletionItemKind::ENUM_MEMBER),
            detail: detail.clone(),
            ..Default::default()
        })
        .collect()
}

fn kind_of(kind: RefKind) -> CompletionItemKind {
    match kind {
        RefKind::Provider => CompletionItemKind::CLASS,
        RefKind::Route => CompletionItemKind::FUNCTION,
        RefKind::Script => CompletionItemKind::FILE,
        RefKind::Tier | RefKind::Client => CompletionItemKind::STRUCT,
        _ => CompletionItemKind::VARIABLE,
    }
}

/// The declared names of a kind.
fn names(req: &Request, kind: RefKind) -> Vec<CompletionItem> {
    (req.names)(kind)
        .into_iter()
        .map(|(name, detail)| CompletionItem {
            label: name,
            kind: Some(kind_of(kind)),
            detail: Some(detail),
            ..Default::default()
        })
        .collect()
}

/// After `to`, `fallback`, `->`, `downgrade`: a provider, then `model`, then
/// a model name.
fn targets(req: &Request, toks: &[Tok]) -> Vec<CompletionItem> {
    let words: Vec<&Tok> = toks.iter().filter(|t| !matches!(t, Tok::Punct(p) if p == "[" || p == "]")).collect();
    match words.last() {
        None | Some(Tok::Punct(_)) => names(req, RefKind::Provider),
        Some(Tok::Word(w)) if w == "model" => models(None),
        Some(Tok::Word(_)) if words.len() == 1 || matches!(words[words.len() - 2], Tok::Punct(_)) => {
            vec![CompletionItem {
                label: "model".into(),
                kind: Some(CompletionItemKind::KEYWORD),
                detail: Some("send a fixed model: `model \"gpt-4o\"`".into()),
                ..Default::default()
            }]
        }
        _ => Vec::new(),
    }
}

/// Model names from the price table; inside a string they replace `range`,
/// outside one they are inserted with their quotes.
fn models(range: Option<Range>) -> Vec<CompletionItem> {
    prices::table()
        .iter()
        .map(|p| {
            let detail = format!(
                "{} · ${} in / ${} out per 1M tokens · {}k context",
                p.provider,
                p.input_per_mtok,
                p.output_per_mtok,
                p.context_window / 1000
            );
            CompletionItem {
                label: p.model.clone(),
                kind: Some(CompletionItemKind::CONSTANT),
                detail: Some(detail),
                documentation: Some(markdown(price_markdown(p))),
                filter_text: Some(if range.is_some() { p.model.clone() } else { format!("\"{}", p.model) }),
                text_edit: range.map(|range| CompletionTextEdit::Edit(TextEdit { range, new_text: p.model.clone() })),
                insert_text: if range.is_none() { Some(format!("\"{}\"", p.model)) } else { None },
                ..Default::default()
            }
        })
        .collect()
}

fn path_item(root: &str, field: &str, range: Range) -> CompletionItem {
    let full = format!("{root}.{field}");
    let doc = docs::expression_paths().iter().find(|(p, _, _)| *p == full);
    CompletionItem {
        label: field.into(),
        kind: Some(CompletionItemKind::FIELD),
        detail: doc.map(|(_, ty, _)| (*ty).to_string()),
        documentation: doc.map(|(_, _, d)| markdown((*d).to_string())),
        text_edit: Some(CompletionTextEdit::Edit(TextEdit { range, new_text: field.into() })),
        ..Default::default()
    }
}

/// Where an expression may start: the path roots and the functions; after
/// an operand, the operators too.
fn expression_starts(after_operand: bool) -> Vec<CompletionItem> {
    let mut out: Vec<CompletionItem> = schema::PATHS
        .iter()
        .map(|(root, fields)| CompletionItem {
            label: (*root).into(),
            kind: Some(CompletionItemKind::MODULE),
            detail: Some(format!("{root}.{}", fields.join(" | "))),
            ..Default::default()
        })
        .collect();
    out.extend(functions::all().iter().map(|f| CompletionItem {
        label: f.name.into(),
        kind: Some(CompletionItemKind::FUNCTION),
        detail: Some(format!("{}({}) -> {}", f.name, f.params.join(", "), f.returns)),
        documentation: Some(markdown(f.summary.into())),
        ..Default::default()
    }));
    if after_operand {
        for op in ["and", "or", "not", "matches", "contains", "in"] {
            out.push(CompletionItem {
                label: op.into(),
                kind: Some(CompletionItemKind::OPERATOR),
                ..Default::default()
            });
        }
    }
    out
}
