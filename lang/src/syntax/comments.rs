//! Collects `#` comments (the grammar skips them) so the formatter can keep
//! them.

use super::ast::Comment;
use crate::span::Span;

/// Every comment in `text`, in order. A `#` inside a string is not one.
pub fn collect_comments(text: &str) -> Vec<Comment> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut in_str = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            match b {
                b'\\' => i += 1,
                b'"' | b'\n' | b'\r' => in_str = false,
                _ => {}
            }
        } else if b == b'"' {
            in_str = true;
        } else if b == b'#' {
            let start = i;
            // A comment ends at any line break the grammar knows: `\n`,
            // `\r\n` or a lone `\r`.
            while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                i += 1;
            }
            out.push(Comment { span: Span::new(start, i), text: text[start..i].to_string() });
            continue;
        }
        i += 1;
    }
    out
}
