//! Semantic tokens: keywords, declared names, references, strings, numbers,
//! comments, operators, choice words, expression paths and functions.

use crate::position::LineIndex;
use hapax_lang::check::Checked;
use hapax_lang::schema;
use hapax_lang::span::{FileId, Span};
use hapax_lang::syntax::ast::{Directive, Expr, ExprKind, Head};
use lsp_types::{SemanticToken, SemanticTokenModifier, SemanticTokenType, SemanticTokensLegend};
use std::collections::HashSet;

const KEYWORD: u32 = 0;
const VARIABLE: u32 = 1;
const STRING: u32 = 2;
const NUMBER: u32 = 3;
const COMMENT: u32 = 4;
const OPERATOR: u32 = 5;
const ENUM_MEMBER: u32 = 6;
const PROPERTY: u32 = 7;
const FUNCTION: u32 = 8;

const DECLARATION: u32 = 1 << 0;
const DEFINITION: u32 = 1 << 1;

/// The token types and modifiers, in the order of the constants above.
pub fn legend() -> SemanticTokensLegend {
    SemanticTokensLegend {
        token_types: vec![
            SemanticTokenType::KEYWORD,
            SemanticTokenType::VARIABLE,
            SemanticTokenType::STRING,
            SemanticTokenType::NUMBER,
            SemanticTokenType::COMMENT,
            SemanticTokenType::OPERATOR,
            SemanticTokenType::ENUM_MEMBER,
            SemanticTokenType::PROPERTY,
            SemanticTokenType::FUNCTION,
        ],
        token_modifiers: vec![SemanticTokenModifier::DECLARATION, SemanticTokenModifier::DEFINITION],
    }
}

struct Collector<'a> {
    text: &'a str,
    refs: HashSet<(u32, u32)>,
    decls: HashSet<(u32, u32)>,
    out: Vec<(Span, u32, u32)>,
}

impl Collector<'_> {
    fn push(&mut self, span: Span, ty: u32, mods: u32) {
        if !span.is_empty() {
            self.out.push((span, ty, mods));
        }
    }

    /// Emits each word of `op` found, in order, between `from` and `to`.
    fn operator(&mut self, op: &str, from: u32, to: u32) {
        let mut pos = from as usize;
        let end = (to as usize).min(self.text.len());
        for word in op.split_whitespace() {
            let Some(hay) = self.text.get(pos..end) else {
                return;
            };
            let Some(i) = hay.find(word) else { return };
            let start = pos + i;
            self.push(Span::new(start, start + word.len()), OPERATOR, 0);
            pos = start + word.len();
        }
    }

    fn directive(&mut self, d: &Directive, top: bool) {
        match &d.head {
            Head::Key(k) => self.push(k.span, KEYWORD, 0),
            Head::Arm(w) => {
                self.expr(w);
                let to = d.args.first().map_or(d.span.end, |a| a.value.span.start);
                self.operator("->", w.span.end, to);
            }
        }
        for (i, a) in d.args.iter().enumerate() {
            if top && i == 0 && matches!(a.value.kind, ExprKind::Ident(_)) && d.key() != "import" {
                self.push(a.value.span, VARIABLE, DECLARATION | DEFINITION);
                continue;
            }
            self.expr(&a.value);
        }
        if let Some(b) = &d.block {
            for item in &b.items {
                self.directive(item, false);
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        let key = (e.span.start, e.span.end);
        match &e.kind {
            ExprKind::Ident(n) => {
                if self.decls.contains(&key) {
                    self.push(e.span, VARIABLE, DECLARATION | DEFINITION);
                } else if self.refs.contains(&key) {
                    self.push(e.span, VARIABLE, 0);
                } else if schema::PATHS.iter().any(|(r, _)| r == n) {
                    self.push(e.span, PROPERTY, 0);
                } else if matches!(n.as_str(), "and" | "or" | "not" | "per") {
                    self.push(e.span, OPERATOR, 0);
                } else {
                    self.push(e.span, ENUM_MEMBER, 0);
                }
            }
            ExprKind::Str { .. } => self.push(e.span, STRING, 0),
            ExprKind::Number { .. } | ExprKind::Money { .. } => self.push(e.span, NUMBER, 0),
            ExprKind::Rate { count, per } => {
                self.expr(count);
                self.operator("per", count.span.end, per.span.start);
                self.expr(per);
            }
            ExprKind::Range { lo, hi } => {
                self.expr(lo);
                self.operator("..", lo.span.end, hi.span.start);
                self.expr(hi);
            }
            ExprKind::Field { base, name } => {
                self.expr(base);
                self.push(name.span, PROPERTY, 0);
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.expr(index);
            }
            ExprKind::Call { name, args } => {
                self.push(name.span, FUNCTION, 0);
                for a in args {
                    self.expr(a);
                }
            }
            ExprKind::List(items) | ExprKind::Words(items) => {
                for i in items {
                    self.expr(i);
                }
            }
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Not(inner) => {
                self.operator("not", e.span.start, inner.span.start);
                self.expr(inner);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.operator(op.as_str(), lhs.span.end, rhs.span.start);
                self.expr(rhs);
            }
        }
    }
}

/// The semantic tokens of one file, encoded relative to each other.
pub fn tokens(checked: &Checked, fid: FileId) -> Vec<SemanticToken> {
    let text = &checked.sources.get(fid).text;
    let Some(ast) = checked.asts.get(fid.0 as usize) else {
        return Vec::new();
    };
    let refs =
        checked.symbols.refs.iter().filter(|r| r.loc.file == fid).map(|r| (r.loc.span.start, r.loc.span.end)).collect();
    let decls = checked
        .symbols
        .decls
        .iter()
        .filter(|(d, _)| d.loc.file == fid)
        .map(|(d, _)| (d.loc.span.start, d.loc.span.end))
        .collect();
    let mut c = Collector { text, refs, decls, out: Vec::new() };
    for d in &ast.items {
        c.directive(d, true);
    }
    for comment in &ast.comments {
        c.push(comment.span, COMMENT, 0);
    }
    let mut toks = c.out;
    toks.sort_by_key(|(s, _, _)| (s.start, s.end));
    let idx = LineIndex::new(text);
    let mut out = Vec::with_capacity(toks.len());
    let (mut prev_line, mut prev_col, mut prev_end) = (0u32, 0u32, 0u32);
    for (span, ty, mods) in toks {
        if span.start < prev_end || span.end as usize > text.len() {
            continue;
        }
        let start = idx.position(span.start as usize);
        let end = idx.position(span.end as usize);
        if start.line != end.line {
            continue;
        }
        let delta_line = start.line - prev_line;
        let delta_start = if delta_line == 0 { start.character - prev_col } else { start.character };
        out.push(SemanticToken {
            delta_line,
            delta_start,
            length: end.character - start.character,
            token_type: ty,
            token_modifiers_bitset: mods,
        });
        prev_line = start.line;
        prev_col = start.character;
        prev_end = span.end;
    }
    out
}
