//! Where the cursor is: the enclosing blocks (from the syntax tree, with a
//! lexical fallback for text the parser had to skip), the statement being
//! typed, and the expression under the cursor.

use hapax_lang::schema;
use hapax_lang::syntax::ast::{Ast, Block, Directive, Expr, ExprKind, Head};

/// Whether a block is closed by its own `}` (an unclosed block runs to the
/// end of the input).
pub fn is_closed(block: &Block, text: &str) -> bool {
    block.span.end > block.span.start + 1 && text.as_bytes().get(block.span.end as usize - 1) == Some(&b'}')
}

/// Whether `offset` is inside a block's braces.
pub fn inside(block: &Block, text: &str, offset: usize) -> bool {
    let start = block.span.start as usize;
    let end = block.span.end as usize;
    offset > start && (offset < end || (!is_closed(block, text) && offset <= end.max(text.len())))
}

/// The directives whose blocks hold `offset`, outermost first.
pub fn enclosing<'a>(ast: &'a Ast, text: &str, offset: usize) -> Vec<&'a Directive> {
    let mut chain = Vec::new();
    let mut items = &ast.items;
    'outer: loop {
        for d in items {
            if let Some(b) = &d.block {
                if inside(b, text, offset) {
                    chain.push(d);
                    items = &b.items;
                    continue 'outer;
                }
            }
        }
        return chain;
    }
}

/// The directives whose span holds `offset`, outermost first: the last one
/// is the statement under the cursor.
pub fn at(ast: &Ast, offset: usize) -> Vec<&Directive> {
    let mut chain = Vec::new();
    let mut items = &ast.items;
    'outer: loop {
        for d in items {
            if d.span.contains(offset) {
                chain.push(d);
                if let Some(b) = &d.block {
                    if offset > b.span.start as usize {
                        items = &b.items;
                        continue 'outer;
                    }
                }
                return chain;
            }
        }
        return chain;
    }
}

/// The context path (`provider.pool`, `route.split`) of nested block keys.
pub fn context_path<'k>(keys: impl IntoIterator<Item = &'k str>) -> String {
    let mut ctx = String::new();
    for key in keys {
        if ctx.is_empty() {
            ctx = key.to_string();
            continue;
        }
        ctx = schema::block(&ctx)
            .and_then(|b| b.setting(key))
            .and_then(|s| s.block)
            .map_or_else(|| format!("{ctx}.{key}"), str::to_string);
    }
    ctx
}

/// The context path of a chain of directives.
pub fn context_of(chain: &[&Directive]) -> String {
    context_path(chain.iter().map(|d| d.key()))
}

/// The innermost expression holding `offset`.
pub fn expr_at(e: &Expr, offset: usize) -> Option<&Expr> {
    if !e.span.contains(offset) {
        return None;
    }
    let inner: Option<&Expr> = match &e.kind {
        ExprKind::Rate { count, per } => expr_at(count, offset).or_else(|| expr_at(per, offset)),
        ExprKind::Range { lo, hi } => expr_at(lo, offset).or_else(|| expr_at(hi, offset)),
        ExprKind::Field { base, name } => {
            if name.span.contains(offset) {
                return Some(e);
            }
            expr_at(base, offset)
        }
        ExprKind::Index { base, index } => expr_at(base, offset).or_else(|| expr_at(index, offset)),
        ExprKind::Call { name, args } => {
            if name.span.contains(offset) {
                return Some(e);
            }
            args.iter().find_map(|a| expr_at(a, offset))
        }
        ExprKind::List(items) | ExprKind::Words(items) => items.iter().find_map(|a| expr_at(a, offset)),
        ExprKind::Paren(x) | ExprKind::Not(x) => expr_at(x, offset),
        ExprKind::Binary { lhs, rhs, .. } => expr_at(lhs, offset).or_else(|| expr_at(rhs, offset)),
        _ => None,
    };
    inner.or(Some(e))
}

/// The expression under the cursor in a directive's head (arm weight or
/// arguments).
pub fn arg_at(d: &Directive, offset: usize) -> Option<&Expr> {
    if let Head::Arm(w) = &d.head {
        if let Some(e) = expr_at(w, offset) {
            return Some(e);
        }
    }
    d.args.iter().find_map(|a| expr_at(&a.value, offset))
}

/// One token of the statement being typed.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// A name, number or dotted path.
    Word(String),
    /// A closed string's contents.
    Str(String),
    /// Punctuation or an operator: `[`, `,`, `->`, `==`.
    Punct(String),
}

impl Tok {
    pub fn word(&self) -> Option<&str> {
        match self {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// What is written before the cursor, read lexically so that it works on
/// text the parser could not make sense of.
#[derive(Debug, Default)]
pub struct Cursor {
    /// First words of the statements that opened the enclosing blocks.
    pub stack: Vec<String>,
    /// The complete tokens of the current statement before the cursor.
    pub toks: Vec<Tok>,
    /// The word the cursor is at the end of (may be empty).
    pub partial: String,
    /// Byte offset where `partial` starts.
    pub partial_start: usize,
    /// Inside an unclosed string: the offset of its first character.
    pub in_string: Option<usize>,
    pub in_comment: bool,
}

fn word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '%')
}

/// Reads `text` up to `offset`.
pub fn cursor(text: &str, offset: usize) -> Cursor {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let src = &text[..offset];
    let mut c = Cursor::default();
    let mut brackets = 0i32;
    let mut it = src.char_indices().peekable();
    while let Some((i, ch)) = it.next() {
        match ch {
            '#' => {
                let mut closed = false;
                for (_, x) in it.by_ref() {
                    if x == '\n' {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    c.in_comment = true;
                    return c;
                }
                if brackets == 0 {
                    c.toks.clear();
                }
            }
            '"' => {
                let mut s = String::new();
                let mut closed = false;
                while let Some((_, x)) = it.next() {
                    match x {
                        '\\' => {
                            if let Some((_, y)) = it.next() {
                                s.push(y);
                            }
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => break,
                        _ => s.push(x),
                    }
                }
                if !closed {
                    if src[i..].contains('\n') {
                        // An unterminated string ends at its line.
                        if brackets == 0 {
                            c.toks.clear();
                        }
                        continue;
                    }
                    c.in_string = Some(i + 1);
                    c.partial = s;
                    return c;
                }
                c.toks.push(Tok::Str(s));
            }
            '\\' if it.peek().map(|p| p.1) == Some('\n') => {
                it.next();
            }
            '\n' => {
                if brackets == 0 {
                    c.toks.clear();
                }
            }
            ';' => {
                c.toks.clear();
                brackets = 0;
            }
            '{' => {
                let key = match c.toks.first() {
                    Some(Tok::Word(w)) if !c.toks.iter().any(|t| *t == Tok::Punct("->".into())) => w.clone(),
                    Some(_) => "->".into(),
                    None => String::new(),
                };
                c.stack.push(key);
                c.toks.clear();
                brackets = 0;
            }
            '}' => {
                c.stack.pop();
                c.toks.clear();
                brackets = 0;
            }
            '[' | '(' => {
                brackets += 1;
                c.toks.push(Tok::Punct(ch.to_string()));
            }
            ']' | ')' => {
                brackets = (brackets - 1).max(0);
                c.toks.push(Tok::Punct(ch.to_string()));
            }
            ',' => c.toks.push(Tok::Punct(",".into())),
            '-' if it.peek().map(|p| p.1) == Some('>') => {
                it.next();
                c.toks.push(Tok::Punct("->".into()));
            }
            x if x.is_alphanumeric() || x == '_' => {
                let mut end = i + x.len_utf8();
                while let Some(&(j, y)) = it.peek() {
                    if word_char(y) && !(y == '-' && src[j + 1..].starts_with('>')) {
                        end = j + y.len_utf8();
                        it.next();
                    } else {
                        break;
                    }
                }
                if end == src.len() {
                    c.partial = src[i..end].to_string();
                    c.partial_start = i;
                    return c;
                }
                c.toks.push(Tok::Word(src[i..end].to_string()));
            }
            x if x.is_whitespace() => {}
            x => {
                let mut op = x.to_string();
                while let Some(&(_, y)) = it.peek() {
                    if "=!<>~".contains(y) {
                        op.push(y);
                        it.next();
                    } else {
                        break;
                    }
                }
                c.toks.push(Tok::Punct(op));
            }
        }
    }
    c.partial_start = offset;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_statement_being_typed() {
        let text = "provider a {\n  pool { max_idle 3; http2 o";
        let c = cursor(text, text.len());
        assert_eq!(c.stack, ["provider", "pool"]);
        assert_eq!(c.toks, [Tok::Word("http2".into())]);
        assert_eq!(c.partial, "o");
        let text = "route r {\n  to openai model \"gpt";
        let c = cursor(text, text.len());
        assert_eq!(c.in_string, Some(text.len() - 3));
        assert_eq!(c.toks.last(), Some(&Tok::Word("model".into())));
        let text = "route r {\n  split by client.id {\n    90% -> ";
        let c = cursor(text, text.len());
        assert_eq!(c.stack, ["route", "split"]);
        assert_eq!(c.toks, [Tok::Word("90%".into()), Tok::Punct("->".into())]);
        let text = "# a comment { \nroute r { when request.bo";
        let c = cursor(text, text.len());
        assert_eq!(c.stack, ["route"]);
        assert_eq!(c.partial, "request.bo");
    }

    #[test]
    fn context_paths() {
        assert_eq!(context_path(["provider", "pool"]), "provider.pool");
        assert_eq!(context_path(["route", "split"]), "route.split");
        assert_eq!(context_path(["auth", "jwt", "claims"]), "auth.jwt.claims");
        assert_eq!(context_path(["test", "request"]), "test.request");
    }
}
