//! `hapax fmt`: one canonical layout, comments kept, idempotent.
//!
//! Layout: two-space indentation; within a run of consecutive settings (not
//! broken by a blank line, a comment line or a multi-line block) the values
//! line up one column after the longest key; blocks written on one line stay
//! on one line with `; ` between settings; at most one blank line is kept
//! between statements, and top-level blocks that span lines are separated by
//! one; expressions are spaced canonically; trailing comments follow their
//! statement after two spaces.

use crate::diag::Diagnostic;
use crate::span::{FileId, Span};
use crate::syntax::ast::*;

/// Formats source text. A file with syntax errors is not formatted: its
/// errors are returned instead, so nothing is ever lost.
pub fn format(text: &str) -> Result<String, Vec<Diagnostic>> {
    let (ast, errors) = crate::syntax::parse(FileId(0), text);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(format_ast(&ast, text))
}

/// Formats a parsed file; `text` is the source it was parsed from.
pub fn format_ast(ast: &Ast, text: &str) -> String {
    let mut p = Printer { text, out: String::with_capacity(text.len() + 64), comments: &ast.comments, next_comment: 0 };
    p.items(&ast.items, 0, text.len(), true);
    // Comments after the last statement.
    p.comments_before(text.len() + 1, 0, !ast.items.is_empty());
    let trimmed = p.out.trim_end_matches('\n').len();
    p.out.truncate(trimmed);
    if !p.out.is_empty() {
        p.out.push('\n');
    }
    p.out
}

struct Printer<'a> {
    text: &'a str,
    out: String,
    comments: &'a [Comment],
    next_comment: usize,
}

impl Printer<'_> {
    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.out.push_str("  ");
        }
    }

    /// Whether there is an empty line between two offsets.
    fn blank_between(&self, a: usize, b: usize) -> bool {
        let s = self.text.get(a.min(b)..b).unwrap_or("");
        let mut newlines = 0;
        for line in s.split('\n').skip(1) {
            newlines += 1;
            if newlines >= 1 && line.trim().is_empty() && s.matches('\n').count() >= 2 {
                return true;
            }
        }
        false
    }

    /// Prints the comments that start before `offset` on their own lines.
    /// Returns whether any was printed.
    fn comments_before(&mut self, offset: usize, depth: usize, after_something: bool) -> bool {
        let mut printed = false;
        let mut prev_end: Option<usize> = None;
        while let Some(c) = self.comments.get(self.next_comment) {
            if c.span.start as usize >= offset {
                break;
            }
            let start = c.span.start as usize;
            let blank = match prev_end {
                Some(e) => self.blank_between(e, start),
                None => after_something && self.blank_before(start),
            };
            if blank && !self.out.ends_with("\n\n") && !self.out.is_empty() && !self.out.ends_with("{\n") {
                self.out.push('\n');
            }
            self.indent(depth);
            self.out.push_str(c.text.trim_end());
            self.out.push('\n');
            prev_end = Some(c.span.end as usize);
            self.next_comment += 1;
            printed = true;
        }
        printed
    }

    /// Whether the line before the one holding `offset` is blank.
    fn blank_before(&self, offset: usize) -> bool {
        let before = &self.text[..offset.min(self.text.len())];
        let Some(line_start) = before.rfind('\n') else { return false };
        let prev = &before[..line_start];
        match prev.rfind('\n') {
            Some(i) => prev[i + 1..].trim().is_empty(),
            None => prev.trim().is_empty() && !prev.is_empty(),
        }
    }

    /// A comment that starts on the same line after `end`.
    fn take_trailing_comment(&mut self, end: usize) -> Option<String> {
        let c = self.comments.get(self.next_comment)?;
        let start = c.span.start as usize;
        if start >= end && !self.text[end..start].contains('\n') {
            self.next_comment += 1;
            return Some(c.text.trim_end().to_string());
        }
        None
    }

    fn has_comments_in(&self, span: Span) -> bool {
        self.comments[self.next_comment..]
            .iter()
            .take_while(|c| c.span.start < span.end)
            .any(|c| c.span.start >= span.start)
    }

    fn prints_multiline(&self, d: &Directive) -> bool {
        d.block.as_ref().is_some_and(|b| {
            let comments = self.has_comments_in(b.span);
            comments || (!b.one_line && !b.items.is_empty()) || b.items.iter().any(|i| self.prints_multiline(i))
        })
    }

    fn items(&mut self, items: &[Directive], depth: usize, end: usize, top: bool) {
        let mut prev_end: Option<usize> = None;
        let mut prev_multiline = false;
        let mut i = 0;
        while i < items.len() {
            // A run of statements whose keys line up.
            let mut j = i + 1;
            while j < items.len()
                && !self.prints_multiline(&items[j - 1])
                && !self.prints_multiline(&items[j])
                && !self.blank_between(items[j - 1].span.end as usize, items[j].span.start as usize)
                && !self.comments[self.next_comment..].iter().any(|c| {
                    c.span.start >= items[j - 1].span.end
                        && c.span.start < items[j].span.start
                        && self.own_line(c.span.start as usize)
                })
            {
                j += 1;
            }
            let width = items[i..j]
                .iter()
                .filter(|d| (!d.args.is_empty() || d.block.is_some()) && matches!(d.head, Head::Key(_)))
                .map(|d| d.key().len())
                .max()
                .unwrap_or(0);
            let align = j - i > 1;
            // Render the run first so that trailing comments line up.
            let mut lines: Vec<(String, Option<String>)> = Vec::with_capacity(j - i);
            for d in &items[i..j] {
                let start = d.span.start as usize;
                let had_comments = self.comments_before(start, depth, prev_end.is_some());
                if had_comments {
                    let last = &self.comments[self.next_comment - 1];
                    if self.blank_between(last.span.end as usize, start) && !self.out.ends_with("\n\n") {
                        self.out.push('\n');
                    }
                }
                if let (Some(pe), false) = (prev_end, had_comments) {
                    let multiline = self.prints_multiline(d);
                    if (self.blank_between(pe, start) || (top && (multiline || prev_multiline)))
                        && !self.out.ends_with("\n\n")
                    {
                        self.out.push('\n');
                    }
                }
                // Comments can only precede the first statement of a run, so
                // what was printed so far stays where it is.
                let mark = self.out.len();
                self.indent(depth);
                self.directive(d, depth, if align { width } else { 0 });
                let text = self.out.split_off(mark);
                let comment = self.take_trailing_comment(d.span.end as usize);
                if j - i == 1 {
                    self.out.push_str(&text);
                    if let Some(c) = comment {
                        self.out.push_str("  ");
                        self.out.push_str(&c);
                    }
                    self.out.push('\n');
                } else {
                    lines.push((text, comment));
                }
                prev_end = Some(d.span.end as usize);
                prev_multiline = self.prints_multiline(d);
            }
            let col = lines.iter().filter(|(_, c)| c.is_some()).map(|(t, _)| t.chars().count()).max().unwrap_or(0);
            for (text, comment) in lines {
                self.out.push_str(&text);
                if let Some(c) = comment {
                    for _ in text.chars().count()..col + 2 {
                        self.out.push(' ');
                    }
                    self.out.push_str(&c);
                }
                self.out.push('\n');
            }
            i = j;
        }
        let _ = end;
    }

    fn own_line(&self, offset: usize) -> bool {
        let before = &self.text[..offset];
        before.rfind('\n').map_or(before, |i| &before[i + 1..]).trim().is_empty()
    }

    fn directive(&mut self, d: &Directive, depth: usize, width: usize) {
        match &d.head {
            Head::Key(k) => {
                self.out.push_str(&k.name);
                let pad = width.saturating_sub(k.name.len());
                if !d.args.is_empty() {
                    for _ in 0..=pad {
                        self.out.push(' ');
                    }
                } else if d.block.is_some() {
                    for _ in 0..pad {
                        self.out.push(' ');
                    }
                }
            }
            Head::Arm(w) => {
                self.expr(w);
                self.out.push_str(" ->");
                if !d.args.is_empty() {
                    self.out.push(' ');
                }
            }
        }
        for (n, a) in d.args.iter().enumerate() {
            if n > 0 {
                self.out.push(' ');
            }
            self.expr(&a.value);
            if a.comma && n + 1 < d.args.len() {
                self.out.push(',');
            }
        }
        if let Some(b) = &d.block {
            if !d.args.is_empty() || matches!(d.head, Head::Key(_)) {
                self.out.push(' ');
            }
            if b.items.is_empty() && !self.has_comments_in(b.span) {
                self.out.push_str("{}");
            } else if !self.prints_multiline(d) {
                self.out.push_str("{ ");
                for (n, item) in b.items.iter().enumerate() {
                    if n > 0 {
                        self.out.push_str("; ");
                    }
                    self.directive(item, depth + 1, 0);
                }
                self.out.push_str(" }");
            } else {
                self.out.push('{');
                if let Some(c) = self.take_trailing_comment(b.span.start as usize + 1) {
                    self.out.push_str("  ");
                    self.out.push_str(&c);
                }
                self.out.push('\n');
                self.items(&b.items, depth + 1, b.span.end as usize, false);
                // Comments at the end of the block, before `}`.
                self.comments_before((b.span.end as usize).saturating_sub(1), depth + 1, !b.items.is_empty());
                self.indent(depth);
                self.out.push('}');
            }
        }
    }

    fn expr(&mut self, e: &Expr) {
        self.expr_prec(e, 0);
    }

    fn expr_prec(&mut self, e: &Expr, _parent: u8) {
        match &e.kind {
            ExprKind::Ident(n) => self.out.push_str(n),
            ExprKind::Str { raw, .. } | ExprKind::Number { raw, .. } => self.out.push_str(raw),
            ExprKind::Money { raw, .. } => {
                let mut parts = raw.split_whitespace();
                let first = parts.next().unwrap_or("");
                self.out.push_str(first);
                for p in parts {
                    self.out.push(' ');
                    self.out.push_str(p);
                }
            }
            ExprKind::Rate { count, per } => {
                self.expr(count);
                self.out.push_str(" per ");
                self.expr(per);
            }
            ExprKind::Range { lo, hi } => {
                self.expr(lo);
                self.out.push_str("..");
                self.expr(hi);
            }
            ExprKind::Field { base, name } => {
                self.expr(base);
                self.out.push('.');
                self.out.push_str(&name.name);
            }
            ExprKind::Index { base, index } => {
                self.expr(base);
                self.out.push('[');
                self.expr(index);
                self.out.push(']');
            }
            ExprKind::Call { name, args } => {
                self.out.push_str(&name.name);
                self.out.push('(');
                self.list(args);
                self.out.push(')');
            }
            ExprKind::List(items) => {
                self.out.push('[');
                self.list(items);
                self.out.push(']');
            }
            ExprKind::Words(words) => {
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        self.out.push(' ');
                    }
                    self.expr(w);
                }
            }
            ExprKind::Paren(inner) => {
                self.out.push('(');
                self.expr(inner);
                self.out.push(')');
            }
            ExprKind::Not(inner) => {
                self.out.push_str("not ");
                self.expr(inner);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                self.expr(lhs);
                self.out.push(' ');
                self.out.push_str(op.as_str());
                self.out.push(' ');
                self.expr(rhs);
            }
        }
    }

    fn list(&mut self, items: &[Expr]) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(", ");
            }
            self.expr(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(s: &str) -> String {
        format(s).unwrap()
    }

    #[test]
    fn aligns_runs_and_keeps_comments() {
        let src = "# head\nprovider a {\n  type mock # the type\n  latency   20ms\n\n  # about models\n  models [\"x\",\"y\"]\n}\nroute r { match \"/v1/*\"; to a }\n";
        let out = fmt(src);
        assert_eq!(
            out,
            "# head\nprovider a {\n  type    mock  # the type\n  latency 20ms\n\n  # about models\n  models [\"x\", \"y\"]\n}\n\nroute r { match \"/v1/*\"; to a }\n"
        );
        assert_eq!(fmt(&out), out);
    }

    #[test]
    fn refuses_broken_input() {
        assert!(format("route {").is_err());
    }
}
