//! The parser driver: runs the pest grammar and builds the [`Ast`].
//!
//! Parsing never fails. A file without syntax errors is parsed in one pass
//! of the `file` rule. Otherwise the driver parses one directive at a time,
//! reports the error, skips to the next statement and goes on, descending
//! into blocks whose head parses, so that every error in the file is found
//! and the editor still gets a tree of a half-typed file.

use super::ast::*;
use super::comments::collect_comments;
use crate::codes::Code;
use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use pest::iterators::Pair;
use pest::Parser as _;

#[derive(pest_derive::Parser)]
#[grammar = "../../grammar/hapax.pest"]
struct Grammar;

/// How many spaces, dots and brackets one statement may have.
pub const MAX_STATEMENT_WEIGHT: usize = 4096;

/// Where the statement holding `at` ends: `;`, a brace, or a line break
/// outside brackets.
fn statement_end(text: &str, at: usize) -> usize {
    let mut open = 0usize;
    for (i, b) in code_bytes(&text[at..]) {
        match b {
            b'(' | b'[' => open += 1,
            b')' | b']' => open = open.saturating_sub(1),
            b';' | b'{' | b'}' => return at + i,
            b'\n' | b'\r' if open == 0 => return at + i,
            _ => {}
        }
    }
    text.len()
}

/// How many operators and operands one expression may have.
pub const MAX_EXPRESSION_PARTS: usize = 1024;

/// How deeply `(` and `[` may nest. Deeper input is refused before it
/// reaches the recursive parts of the front end.
pub const MAX_NESTING: usize = 64;

/// Blanks out (keeping every byte offset) each statement that nests deeper
/// than [`MAX_NESTING`], reporting it.
fn limit_nesting(file: FileId, text: &str, diags: &mut Vec<Diagnostic>) -> Option<String> {
    let mut depth = 0usize;
    let mut braces = 0usize;
    // Spaces, dots and brackets in the current statement: a bound on how
    // many operators, accessors and nested groups one statement can have.
    let mut weight = 0usize;
    let mut open = 0usize;
    let mut stmt_start = 0usize;
    // Regions to blank out, with the offset to report.
    let mut cut: Vec<(usize, usize, usize)> = Vec::new();
    let mut deep_block: Option<usize> = None;
    for (i, b) in code_bytes(text) {
        if matches!(b, b' ' | b'.' | b'[' | b'(') {
            weight += 1;
            if weight == MAX_STATEMENT_WEIGHT + 1 {
                let end = statement_end(text, i);
                cut.push((stmt_start, end, i));
            }
        }
        match b {
            b'(' | b'[' => open += 1,
            b')' | b']' => open = open.saturating_sub(1),
            b'\n' | b'\r' if open == 0 => {
                weight = 0;
                stmt_start = i + 1;
            }
            b';' | b'{' | b'}' => {
                weight = 0;
                open = 0;
                stmt_start = i + 1;
            }
            _ => {}
        }
        match b {
            b'(' | b'[' => {
                depth += 1;
                if depth == MAX_NESTING + 1 {
                    let start = text[..i].rfind(['\n', '\r', ';', '{', '}']).map_or(0, |p| p + 1);
                    let end = text[i..].find(['\n', '\r', ';', '{', '}']).map_or(text.len(), |p| i + p);
                    cut.push((start, end, i));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            b'\n' | b'\r' | b';' => depth = 0,
            b'{' => {
                depth = 0;
                braces += 1;
                if braces == MAX_NESTING + 1 {
                    deep_block = Some(i);
                }
            }
            b'}' => {
                depth = 0;
                if braces == MAX_NESTING + 1 {
                    if let Some(start) = deep_block.take() {
                        cut.push((start, i + 1, start));
                    }
                }
                braces = braces.saturating_sub(1);
            }
            _ => {}
        }
    }
    if let Some(start) = deep_block {
        cut.push((start, text.len(), start));
    }
    if cut.is_empty() {
        return None;
    }
    let mut out = text.as_bytes().to_vec();
    for (start, end, at) in cut {
        diags.push(
            Diagnostic::new(
                Code::Syntax,
                file,
                Span::new(at, at + 1),
                format!("blocks, lists or parentheses nest more than {MAX_NESTING} deep"),
            )
            .help("flatten the policy"),
        );
        for b in &mut out[start..end] {
            if *b != b'\n' && *b != b'\r' {
                *b = b' ';
            }
        }
    }
    // Only ASCII bytes were replaced by spaces, but a multi-byte character
    // may have been cut: fall back to a lossy conversion then.
    Some(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}

/// Parses one file. Returns the tree and the syntax errors found.
pub fn parse(file: FileId, text: &str) -> (Ast, Vec<Diagnostic>) {
    let mut early = Vec::new();
    if let Some(limited) = limit_nesting(file, text, &mut early) {
        let (ast, mut diags) = parse_text(file, &limited);
        early.append(&mut diags);
        // Comments come from the real text.
        let ast = Ast { comments: collect_comments(text), ..ast };
        return (ast, early);
    }
    parse_text(file, text)
}

fn parse_text(file: FileId, text: &str) -> (Ast, Vec<Diagnostic>) {
    let comments = collect_comments(text);
    let comment_ends: Vec<(usize, usize)> =
        comments.iter().map(|c| (c.span.end as usize, c.span.start as usize)).collect();
    // A large file without syntax errors is parsed in two halves at once.
    if text.len() >= PARALLEL_THRESHOLD {
        if let Some(mid) = split_point(text) {
            let (first, second) = std::thread::scope(|s| {
                // The same stack size as the main thread's, so that a big
                // file is no easier to overflow than a small one.
                let first = std::thread::Builder::new()
                    .stack_size(8 << 20)
                    .spawn_scoped(s, || parse_chunk(file, text, 0..mid, &comment_ends));
                let second = parse_chunk(file, text, mid..text.len(), &comment_ends);
                (first.ok().and_then(|h| h.join().ok()).flatten(), second)
            });
            if let (Some(mut items), Some(rest)) = (first, second) {
                items.extend(rest);
                return (Ast { items, comments }, Vec::new());
            }
        }
    }
    let mut p = Driver { file, text, diags: Vec::new(), comment_ends: &comment_ends };
    let items = match parse_chunk(file, text, 0..text.len(), &comment_ends) {
        Some(items) => items,
        None => p.items(0, false).0,
    };
    (Ast { items, comments }, p.diags)
}

/// Files at least this large are parsed on two threads.
const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// Parses a range of whole top-level statements with the `file` rule;
/// `None` when it has a syntax error.
fn parse_chunk(
    file: FileId,
    text: &str,
    range: std::ops::Range<usize>,
    comment_ends: &[(usize, usize)],
) -> Option<Vec<Directive>> {
    let start = range.start;
    let mut pairs = Grammar::parse(Rule::file, &text[range]).ok()?;
    let mut d = Driver { file, text, diags: Vec::new(), comment_ends };
    let items = pairs
        .next()
        .into_iter()
        .flat_map(|f| f.into_inner())
        .filter(|p| p.as_rule() == Rule::directive)
        .map(|p| d.directive(p, start))
        .collect();
    d.diags.is_empty().then_some(items)
}

/// The start of a top-level line near the middle of the file, outside any
/// block, string, comment or bracket.
fn split_point(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let half = bytes.len() / 2;
    let mut depth = 0i64;
    for (i, b) in code_bytes(text) {
        match b {
            b'{' | b'(' | b'[' => depth += 1,
            b'}' | b')' | b']' => depth -= 1,
            b'\n' if i >= half && depth == 0 && bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) => {
                return Some(i + 1);
            }
            _ => {}
        }
    }
    None
}

/// The bytes of `text` outside string literals and comments, with their
/// offsets. The line break that ends a comment or an unterminated string is
/// yielded: it still ends the statement.
pub(crate) fn code_bytes(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let (at, b) = (i, bytes[i]);
            i += 1;
            if in_str {
                match b {
                    b'\\' => i += 1,
                    b'"' => in_str = false,
                    b'\n' | b'\r' => {
                        in_str = false;
                        return Some((at, b));
                    }
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_str = true,
                    b'#' => {
                        while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                            i += 1;
                        }
                    }
                    _ => return Some((at, b)),
                }
            }
        }
        None
    })
}

/// Parses a standalone expression (used by tests and tools).
pub fn parse_expr(file: FileId, text: &str) -> Result<Expr, Vec<Diagnostic>> {
    let mut d = Driver { file, text, diags: Vec::new(), comment_ends: &[] };
    match Grammar::parse(Rule::expr, text) {
        Ok(mut pairs) => match pairs.next() {
            Some(pair) if pair.as_span().end() == text.trim_end().len() => {
                let e = d.expr(pair, 0);
                if d.diags.is_empty() {
                    Ok(e)
                } else {
                    Err(d.diags)
                }
            }
            _ => Err(vec![Diagnostic::new(Code::Syntax, file, Span::new(0, text.len()), "expected one expression")]),
        },
        Err(e) => {
            d.pest_error(&e, 0);
            Err(d.diags)
        }
    }
}

struct Driver<'t> {
    file: FileId,
    text: &'t str,
    diags: Vec<Diagnostic>,
    /// (end, start) of every comment, sorted by end.
    comment_ends: &'t [(usize, usize)],
}

impl<'t> Driver<'t> {
    // ------------------------------------------------------------ recovery

    /// Parses directives from `pos` until end of input (or the closing brace
    /// when `in_block`). Returns them, the offset after them and whether the
    /// block was closed.
    fn items(&mut self, mut pos: usize, in_block: bool) -> (Vec<Directive>, usize, bool) {
        let mut out = Vec::new();
        loop {
            pos = self.skip_trivia(pos, true);
            let Some(c) = self.text[pos..].chars().next() else {
                return (out, pos, false);
            };
            if c == '}' {
                if in_block {
                    return (out, pos + 1, true);
                }
                self.diags.push(
                    Diagnostic::new(Code::UnexpectedBrace, self.file, Span::new(pos, pos + 1), "unexpected `}`")
                        .help("remove it, or add the `{` it was meant to close"),
                );
                pos += 1;
                continue;
            }
            let rest = &self.text[pos..];
            let parsed = Grammar::parse(Rule::directive, rest);
            if let Ok(pairs) = &parsed {
                let end = pairs.clone().next().map_or(0, |p| p.as_span().end());
                // A directive followed by `{` parsed without its block: the
                // error is inside the block, which is recovered below.
                let after = self.skip_trivia(pos + end, false);
                if !self.text[after..].starts_with('{') {
                    if let Some(pair) = parsed.ok().and_then(|mut p| p.next()) {
                        let mut d = self.directive(pair, pos);
                        let (next, broken) = self.end_of_statement(pos + end, in_block);
                        d.broken = broken;
                        out.push(d);
                        pos = next;
                    }
                    continue;
                }
            }
            if let Some((directive, next)) = self.recover_block(pos, in_block) {
                out.push(directive);
                pos = next;
                continue;
            }
            match parsed {
                Err(err) => self.pest_error(&err, pos),
                Ok(_) => {
                    let brace = self.skip_trivia(pos, false);
                    let e = Diagnostic::new(
                        Code::Syntax,
                        self.file,
                        Span::new(brace, brace + 1),
                        "cannot parse this statement",
                    );
                    self.diags.push(e);
                }
            }
            pos = self.skip_statement(pos);
        }
    }

    fn recover_block(&mut self, pos: usize, _in_block: bool) -> Option<(Directive, usize)> {
        let rest = &self.text[pos..];
        let mut pairs = Grammar::parse(Rule::head, rest).ok()?;
        let head = pairs.next()?;
        let mut inner = head.into_inner();
        let key = inner.next()?;
        let args = inner.next()?;
        let brace = inner.next()?;
        if brace.as_rule() != Rule::open_brace {
            return None;
        }
        let open = pos + brace.as_span().start();
        let key = self.ident(key, pos);
        let args = self.args(args, pos);
        let (items, end, closed) = self.items(open + 1, true);
        if !closed {
            self.diags.push(
                Diagnostic::new(
                    Code::UnclosedBlock,
                    self.file,
                    Span::new(open, open + 1),
                    format!("`{}` block is not closed", key.name),
                )
                .label("this `{` has no matching `}`")
                .help("add `}` at the end of the block"),
            );
        }
        let one_line = !self.text[open..end].contains('\n');
        let span = Span::new(pos, end);
        let block = Block { items, span: Span::new(open, end), one_line };
        let next = self.expect_end_of_statement(end, true);
        Some((Directive { head: Head::Key(key), args, block: Some(block), span, broken: false }, next))
    }

    /// After a directive: a newline, `;`, a comment, `}` or the end.
    /// Returns where to go on and whether the statement was broken.
    fn end_of_statement(&mut self, pos: usize, in_block: bool) -> (usize, bool) {
        let p = self.skip_trivia(pos, false);
        match self.text[p..].chars().next() {
            None | Some('\n' | '\r' | ';' | '#') => (p, false),
            Some('}') if in_block => (p, false),
            Some(_) => {
                let end = self.word_end(p);
                let d = Diagnostic::new(
                    Code::Syntax,
                    self.file,
                    Span::new(p, end),
                    format!("expected the end of the statement, found {}", self.found(p)),
                )
                .help("put each setting on its own line, or separate settings with `;`");
                let d = self.with_hint(d, p);
                self.diags.push(d);
                (self.skip_statement(p), true)
            }
        }
    }

    fn expect_end_of_statement(&mut self, pos: usize, in_block: bool) -> usize {
        self.end_of_statement(pos, in_block).0
    }

    /// Skips to the end of the statement at `pos`: the end of its line, or
    /// past the matching `}` when the line opens a block.
    fn skip_statement(&self, pos: usize) -> usize {
        let mut depth = 0i32;
        for (i, b) in code_bytes(&self.text[pos..]) {
            match b {
                b'{' => depth += 1,
                b'}' if depth == 0 => return pos + i,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        return pos + i + 1;
                    }
                }
                b'\n' | b';' if depth == 0 => return pos + i,
                _ => {}
            }
        }
        self.text.len()
    }

    fn skip_trivia(&self, mut pos: usize, newlines: bool) -> usize {
        let bytes = self.text.as_bytes();
        while pos < bytes.len() {
            match bytes[pos] {
                b' ' | b'\t' => pos += 1,
                b'\n' | b'\r' | b';' if newlines => pos += 1,
                b'\\' if bytes.get(pos + 1) == Some(&b'\n') => pos += 2,
                b'#' if newlines => {
                    while pos < bytes.len() && bytes[pos] != b'\n' {
                        pos += 1;
                    }
                }
                b'#' => return pos.min(bytes.len()),
                _ => break,
            }
        }
        pos
    }

    fn word_end(&self, pos: usize) -> usize {
        let rest = &self.text[pos..];
        let len = rest
            .char_indices()
            .find(|&(i, c)| i > 0 && !(c.is_alphanumeric() || c == '_' || c == '-'))
            .map_or(rest.len(), |(i, _)| i);
        pos + len.max(rest.chars().next().map_or(0, char::len_utf8))
    }

    fn found(&self, pos: usize) -> String {
        let rest = &self.text[pos..];
        match rest.chars().next() {
            None => "the end of the file".into(),
            Some('\n' | '\r') => "the end of the line".into(),
            Some(c) if c.is_alphanumeric() || c == '_' => format!("`{}`", &self.text[pos..self.word_end(pos)]),
            Some(c) => format!("`{c}`"),
        }
    }

    fn pest_error(&mut self, err: &pest::error::Error<Rule>, base: usize) {
        use pest::error::{ErrorVariant, InputLocation};
        let at = base
            + match err.location {
                InputLocation::Pos(p) => p,
                InputLocation::Span((s, _)) => s,
            };
        let at = at.min(self.text.len());
        let expected = match &err.variant {
            ErrorVariant::ParsingError { positives, .. } => describe_expected(positives),
            ErrorVariant::CustomError { message } => message.clone(),
        };
        let found = self.found(at);
        let end = if at < self.text.len() && !matches!(self.text.as_bytes()[at], b'\n' | b'\r') {
            self.word_end(at)
        } else {
            at
        };
        let d =
            Diagnostic::new(Code::Syntax, self.file, Span::new(at, end), format!("expected {expected}, found {found}"));
        let d = self.with_hint(d, at);
        self.diags.push(d);
    }

    /// Sharpens a syntax error by what stands at `at`: a broken string, or
    /// `=`/`:` written out of habit from other config languages.
    fn with_hint(&self, mut d: Diagnostic, at: usize) -> Diagnostic {
        let rest = &self.text[at..];
        let line = rest.lines().next().unwrap_or("");
        if let Some(body) = line.strip_prefix('"') {
            let closed = body.char_indices().any(|(i, c)| c == '"' && !body[..i].ends_with('\\'));
            if !closed {
                return Diagnostic::new(
                    Code::BadString,
                    self.file,
                    Span::new(at, at + line.trim_end().len()),
                    "unterminated string",
                )
                .help("close the string with `\"` on the same line");
            }
            return Diagnostic::new(Code::BadString, self.file, d.loc.span, "invalid escape in string")
                .help("the escapes are `\\\"`, `\\\\`, `\\n`, `\\t`, `\\r` and `\\u{...}`");
        }
        if rest.starts_with('=') && !rest.starts_with("==") && !rest.starts_with("=~") {
            d = d.help("settings take their value without `=`: write `key value`; to compare, use `==`");
        } else if rest.starts_with(':') {
            d = d.help("settings take their value without `:`: write `key value`");
        } else if ["==", "!=", "<", ">", "=~"].iter().any(|op| rest.starts_with(op)) {
            d = d.help("a comparison needs a value on both sides, e.g. `request.model == \"gpt-4o\"`");
        }
        d
    }

    // ------------------------------------------------------------ building

    /// A pair's span without the whitespace and comments that implicit
    /// whitespace may have consumed at its end.
    fn span(&self, pair: &Pair<Rule>, base: usize) -> Span {
        let s = pair.as_span();
        let start = base + s.start();
        let mut end = base + s.end();
        let bytes = self.text.as_bytes();
        while end > start {
            match self.comment_ends.binary_search_by_key(&end, |&(e, _)| e) {
                Ok(i) if self.comment_ends[i].1 >= start => end = self.comment_ends[i].1,
                _ if matches!(bytes[end - 1], b' ' | b'\t') => end -= 1,
                _ => break,
            }
        }
        Span::new(start, end)
    }

    fn ident(&self, pair: Pair<Rule>, base: usize) -> Ident {
        Ident { name: pair.as_str().to_string(), span: self.span(&pair, base) }
    }

    fn directive(&mut self, pair: Pair<Rule>, base: usize) -> Directive {
        let span = self.span(&pair, base);
        let Some(inner) = pair.into_inner().next() else {
            return Directive {
                head: Head::Key(Ident { name: String::new(), span }),
                args: vec![],
                block: None,
                span,
                broken: true,
            };
        };
        let is_arm = inner.as_rule() == Rule::arm;
        let mut parts = inner.into_inner();
        let head = match parts.next() {
            Some(p) if is_arm => Head::Arm(self.primary_like(p, base)),
            Some(p) => Head::Key(self.ident(p, base)),
            None => Head::Key(Ident { name: String::new(), span }),
        };
        let mut args = Vec::new();
        let mut block = None;
        for p in parts {
            match p.as_rule() {
                Rule::args => args = self.args(p, base),
                Rule::block => block = Some(self.block(p, base)),
                _ => {}
            }
        }
        // Implicit whitespace may have consumed a trailing comment: the
        // directive ends with its last token.
        let head_end = match &head {
            Head::Key(k) => k.span.end,
            Head::Arm(e) => e.span.end,
        };
        let end = block.as_ref().map(|b| b.span.end).or(args.last().map(|a| a.value.span.end)).unwrap_or(head_end);
        let span = Span { start: span.start, end };
        Directive { head, args, block, span, broken: false }
    }

    fn block(&mut self, pair: Pair<Rule>, base: usize) -> Block {
        let span = self.span(&pair, base);
        let one_line = !pair.as_str().contains('\n');
        let items =
            pair.into_inner().filter(|p| p.as_rule() == Rule::directive).map(|d| self.directive(d, base)).collect();
        Block { items, span, one_line }
    }

    fn args(&mut self, pair: Pair<Rule>, base: usize) -> Vec<Arg> {
        let mut out: Vec<Arg> = Vec::new();
        for p in pair.into_inner() {
            if p.as_rule() == Rule::comma {
                if let Some(last) = out.last_mut() {
                    last.comma = true;
                }
            } else {
                let value = self.primary_like(p, base);
                out.push(Arg { value, comma: false });
            }
        }
        out
    }

    /// Builds any expression-producing pair.
    fn primary_like(&mut self, pair: Pair<Rule>, base: usize) -> Expr {
        match pair.as_rule() {
            Rule::rate => {
                let span = self.span(&pair, base);
                let mut it = pair.into_inner();
                let count = it.next().map(|p| self.primary_like(p, base));
                let _per = it.next();
                let per = it.next().map(|p| self.primary_like(p, base));
                match (count, per) {
                    (Some(count), Some(per)) => {
                        Expr { kind: ExprKind::Rate { count: Box::new(count), per: Box::new(per) }, span }
                    }
                    _ => self.bad(span),
                }
            }
            Rule::range => {
                let span = self.span(&pair, base);
                let mut it = pair.into_inner();
                let lo = it.next().map(|p| self.primary_like(p, base));
                let hi = it.next().map(|p| self.primary_like(p, base));
                match (lo, hi) {
                    (Some(lo), Some(hi)) => Expr { kind: ExprKind::Range { lo: Box::new(lo), hi: Box::new(hi) }, span },
                    _ => self.bad(span),
                }
            }
            Rule::calendar => Expr { kind: ExprKind::Ident(pair.as_str().to_string()), span: self.span(&pair, base) },
            _ => self.expr(pair, base),
        }
    }

    fn bad(&self, span: Span) -> Expr {
        Expr { kind: ExprKind::Ident(String::new()), span }
    }

    fn expr(&mut self, pair: Pair<Rule>, base: usize) -> Expr {
        let span = self.span(&pair, base);
        match pair.as_rule() {
            Rule::expr => self.pratt(pair, base),
            Rule::index_inner | Rule::primary => match pair.into_inner().next() {
                Some(p) => self.expr(p, base),
                None => self.bad(span),
            },
            Rule::postfix => {
                let mut it = pair.into_inner();
                let Some(first) = it.next() else { return self.bad(span) };
                let mut e = self.expr(first, base);
                for acc in it {
                    let aspan = self.span(&acc, base);
                    let Some(inner) = acc.into_inner().next() else { continue };
                    let s = e.span.to(aspan);
                    e = if inner.as_rule() == Rule::field {
                        let name = self.ident(inner, base);
                        Expr { kind: ExprKind::Field { base: Box::new(e), name }, span: s }
                    } else {
                        let index = self.expr(inner, base);
                        Expr { kind: ExprKind::Index { base: Box::new(e), index: Box::new(index) }, span: s }
                    };
                }
                e
            }
            Rule::paren => match pair.into_inner().next() {
                Some(p) => {
                    let e = self.expr(p, base);
                    Expr { kind: ExprKind::Paren(Box::new(e)), span }
                }
                None => self.bad(span),
            },
            Rule::call => {
                let mut it = pair.into_inner();
                let Some(name) = it.next() else { return self.bad(span) };
                let Some(args) = it.next() else {
                    return Expr { kind: ExprKind::Ident(name.as_str().to_string()), span };
                };
                let name = self.ident(name, base);
                let args = args.into_inner().map(|p| self.expr(p, base)).collect();
                Expr { kind: ExprKind::Call { name, args }, span }
            }
            Rule::list => {
                let items = pair
                    .into_inner()
                    .map(|el| {
                        let espan = self.span(&el, base);
                        let mut words: Vec<Expr> = el.into_inner().map(|p| self.expr(p, base)).collect();
                        if words.len() == 1 {
                            words.pop().unwrap_or_else(|| self.bad(espan))
                        } else {
                            Expr { kind: ExprKind::Words(words), span: espan }
                        }
                    })
                    .collect();
                Expr { kind: ExprKind::List(items), span }
            }
            Rule::ident => Expr { kind: ExprKind::Ident(pair.as_str().to_string()), span },
            Rule::string => {
                let raw = pair.as_str().to_string();
                let value = unescape(&raw[1..raw.len() - 1]);
                Expr { kind: ExprKind::Str { value, raw }, span }
            }
            Rule::amount => {
                let raw = pair.as_str().to_string();
                let mut it = pair.into_inner();
                let Some(number) = it.next() else { return self.bad(span) };
                let Some(currency) = it.next() else {
                    // The optional currency may have consumed trailing spaces.
                    let nspan = self.span(&number, base);
                    return self.number(number.as_str(), nspan);
                };
                let amount = match parse_number(number.as_str()) {
                    Ok((a, Unit::None)) => a,
                    _ => {
                        self.diags.push(
                            Diagnostic::new(
                                Code::BadUnit,
                                self.file,
                                span,
                                "an amount of money is a plain number followed by a currency",
                            )
                            .help("write it like `500 USD` or `0.15 USD`"),
                        );
                        0.0
                    }
                };
                Expr { kind: ExprKind::Money { amount, currency: currency.as_str().to_string(), raw }, span }
            }
            Rule::number => self.number(pair.as_str(), span),
            _ => self.primary_like(pair, base),
        }
    }

    /// Applies operator precedence to a flat `expr` sequence.
    fn pratt(&mut self, pair: Pair<Rule>, base: usize) -> Expr {
        use pest::pratt_parser::{Assoc, Op, PrattParser};
        use std::sync::OnceLock;
        static PRATT: OnceLock<PrattParser<Rule>> = OnceLock::new();
        let pratt = PRATT.get_or_init(|| {
            PrattParser::new()
                .op(Op::infix(Rule::or_op, Assoc::Left))
                .op(Op::infix(Rule::and_op, Assoc::Left))
                .op(Op::prefix(Rule::not_op))
                .op(Op::infix(Rule::cmp_op, Assoc::Left))
        });
        // Long operator chains would make every later pass recurse as deep
        // as the chain is long.
        let parts = pair.clone().into_inner().count();
        if parts > MAX_EXPRESSION_PARTS {
            let span = self.span(&pair, base);
            self.diags.push(
                Diagnostic::new(
                    Code::Syntax,
                    self.file,
                    Span::new(span.start as usize, span.start as usize + 1),
                    format!("this expression has more than {MAX_EXPRESSION_PARTS} operators and operands"),
                )
                .help("split the condition, or use `in [...]` for long lists of choices"),
            );
            return self.bad(span);
        }
        let file_base = base;
        pratt
            .map_primary(|p| self.expr(p, base))
            .map_prefix(move |op, e| {
                let s = op.as_span();
                let span = Span::new(file_base + s.start(), file_base + s.end()).to(e.span);
                Expr { kind: ExprKind::Not(Box::new(e)), span }
            })
            .map_infix(|lhs, op, rhs| {
                let op = match op.as_rule() {
                    Rule::or_op => BinOp::Or,
                    Rule::and_op => BinOp::And,
                    _ => cmp_op(&op),
                };
                let span = lhs.span.to(rhs.span);
                Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span }
            })
            .parse(pair.into_inner())
    }

    fn number(&mut self, raw: &str, span: Span) -> Expr {
        match parse_number(raw) {
            Ok((value, unit)) => Expr { kind: ExprKind::Number { value, unit, raw: raw.to_string() }, span },
            Err(suffix) => {
                let mut d =
                    Diagnostic::new(Code::BadUnit, self.file, span, format!("unknown unit `{suffix}` in `{raw}`"));
                d = match crate::suggest::did_you_mean(&suffix, UNITS.iter().map(|(u, _, _)| *u)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help("durations use us ms s m h d w, sizes KiB MiB GiB (or KB MB GB), counts k M G, and `%` for percentages"),
                };
                self.diags.push(d);
                let digits: String = raw.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
                Expr {
                    kind: ExprKind::Number {
                        value: digits.parse().unwrap_or(0.0),
                        unit: Unit::None,
                        raw: raw.to_string(),
                    },
                    span,
                }
            }
        }
    }
}

/// Number suffixes: (suffix, unit, multiplier into the unit's base).
pub const UNITS: &[(&str, Unit, f64)] = &[
    ("k", Unit::Count, 1e3),
    ("M", Unit::Count, 1e6),
    ("G", Unit::Count, 1e9),
    ("us", Unit::Duration, 1e-3),
    ("ms", Unit::Duration, 1.0),
    ("s", Unit::Duration, 1e3),
    ("m", Unit::Duration, 60e3),
    ("h", Unit::Duration, 3600e3),
    ("d", Unit::Duration, 86400e3),
    ("w", Unit::Duration, 7.0 * 86400e3),
    ("B", Unit::Size, 1.0),
    ("KiB", Unit::Size, 1024.0),
    ("MiB", Unit::Size, 1024.0 * 1024.0),
    ("GiB", Unit::Size, 1024.0 * 1024.0 * 1024.0),
    ("TiB", Unit::Size, 1024.0 * 1024.0 * 1024.0 * 1024.0),
    ("KB", Unit::Size, 1e3),
    ("MB", Unit::Size, 1e6),
    ("GB", Unit::Size, 1e9),
    ("%", Unit::Percent, 1.0),
];

/// Parses `200k`, `250ms`, `99.9%`; returns the unknown suffix on failure.
pub fn parse_number(raw: &str) -> Result<(f64, Unit), String> {
    let split = raw.find(|c: char| c.is_ascii_alphabetic() || c == '%').unwrap_or(raw.len());
    let (digits, suffix) = raw.split_at(split);
    let value: f64 = digits.replace('_', "").parse().map_err(|_| suffix.to_string())?;
    if suffix.is_empty() {
        return Ok((value, Unit::None));
    }
    UNITS
        .iter()
        .find(|(s, _, _)| *s == suffix)
        .map(|&(_, unit, mult)| (value * mult, unit))
        .ok_or_else(|| suffix.to_string())
}

fn cmp_op(pair: &Pair<Rule>) -> BinOp {
    match pair.as_str() {
        "==" => BinOp::Eq,
        "!=" => BinOp::Ne,
        "=~" => BinOp::Regex,
        "<=" => BinOp::Le,
        ">=" => BinOp::Ge,
        "<" => BinOp::Lt,
        ">" => BinOp::Gt,
        "matches" => BinOp::Matches,
        "contains" => BinOp::Contains,
        "in" => BinOp::In,
        _ => BinOp::NotIn,
    }
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.by_ref().skip(1).take_while(|&c| c != '}').collect();
                out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('\u{fffd}'));
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn describe_expected(rules: &[Rule]) -> String {
    let mut words: Vec<&str> = rules
        .iter()
        .filter_map(|r| {
            Some(match r {
                Rule::key | Rule::directive | Rule::setting => "a setting name",
                Rule::arm => "a split arm",
                Rule::expr | Rule::postfix | Rule::primary | Rule::call | Rule::amount => "a value",
                Rule::string | Rule::str_inner => "a string",
                Rule::number => "a number",
                Rule::ident | Rule::field => "a name",
                Rule::escape => "a valid escape",
                Rule::cmp_op | Rule::or_op | Rule::and_op => "an operator",
                Rule::calendar => "a calendar period",
                Rule::currency => "a currency",
                Rule::block | Rule::open_brace => "`{`",
                Rule::list | Rule::element => "a list",
                Rule::EOI => "the end of the file",
                Rule::args | Rule::comma => return None,
                _ => return None,
            })
        })
        .collect();
    words.dedup();
    if words.is_empty() {
        return "a statement".into();
    }
    if words.len() == 1 {
        return words[0].to_string();
    }
    let last = words.pop().unwrap_or_default();
    format!("{} or {}", words.join(", "), last)
}

/// Runs only the generated parser over a whole file (for benchmarks).
#[doc(hidden)]
pub fn pest_only(text: &str) -> bool {
    Grammar::parse(Rule::file, text).is_ok()
}
