//! The edge between the compiler's byte offsets and LSP positions, which
//! count UTF-16 code units per line, and between file paths and URIs.

use hapax_lang::span::Span;
use lsp_types::{Position, Range, Uri};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Line starts of one text, for converting offsets both ways.
pub struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// The zero-based line holding `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// The position of a byte offset; an offset inside a character counts
    /// from that character's start.
    pub fn position(&self, offset: usize) -> Position {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.starts[line];
        let character = self.text[start..offset].encode_utf16().count();
        Position { line: line as u32, character: character as u32 }
    }

    /// The byte offset of a position, clamped to the end of its line (and
    /// of the text).
    pub fn offset(&self, pos: Position) -> usize {
        let line = pos.line as usize;
        let Some(&start) = self.starts.get(line) else {
            return self.text.len();
        };
        let end = self.line_end(line);
        let mut units = 0usize;
        for (i, c) in self.text[start..end].char_indices() {
            if units >= pos.character as usize {
                return start + i;
            }
            units += c.len_utf16();
        }
        end
    }

    /// The byte offset of the end of a line, before its newline.
    pub fn line_end(&self, line: usize) -> usize {
        match self.starts.get(line + 1) {
            Some(&next) => next - 1,
            None => self.text.len(),
        }
    }

    pub fn range(&self, span: Span) -> Range {
        Range { start: self.position(span.start as usize), end: self.position(span.end as usize) }
    }

    /// The byte range of an LSP range (start and end ordered).
    pub fn span(&self, range: Range) -> (usize, usize) {
        let a = self.offset(range.start);
        let b = self.offset(range.end);
        (a.min(b), a.max(b))
    }

    /// The range covering the whole text.
    pub fn whole(&self) -> Range {
        Range { start: Position { line: 0, character: 0 }, end: self.position(self.text.len()) }
    }
}

/// The folder untitled buffers are placed in, so that they have a path.
const UNTITLED: &str = "/hapax-untitled";

/// The file path of a URI. A `file:` URI gives its path; any other (an
/// untitled buffer) gets a stable made-up path so it can still be checked.
pub fn uri_to_path(uri: &Uri) -> PathBuf {
    let s = uri.as_str();
    let path = match s.strip_prefix("file://") {
        Some(rest) => {
            let path = rest.find('/').map_or("", |i| &rest[i..]);
            PathBuf::from(percent_decode(path))
        }
        None => {
            let name: String =
                s.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
            Path::new(UNTITLED).join(name)
        }
    };
    hapax_lang::loader::normalize(&path)
}

/// The `file:` URI of a path.
pub fn path_to_uri(path: &Path) -> Option<Uri> {
    let mut s = String::from("file://");
    let text = path.to_string_lossy();
    if !text.starts_with('/') {
        s.push('/');
    }
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    Uri::from_str(&s).ok()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_round_trip() {
        let text = "a→b\n😀x\n";
        let idx = LineIndex::new(text);
        let x = text.find('x').unwrap();
        assert_eq!(idx.position(x), Position { line: 1, character: 2 });
        assert_eq!(idx.offset(Position { line: 1, character: 2 }), x);
        let b = text.find('b').unwrap();
        assert_eq!(idx.position(b), Position { line: 0, character: 2 });
        assert_eq!(idx.offset(Position { line: 0, character: 99 }), 5);
        assert_eq!(idx.offset(Position { line: 9, character: 0 }), text.len());
    }

    #[test]
    fn uris() {
        let uri = path_to_uri(Path::new("/tmp/a b/c.hapax")).unwrap();
        assert_eq!(uri.as_str(), "file:///tmp/a%20b/c.hapax");
        assert_eq!(uri_to_path(&uri), PathBuf::from("/tmp/a b/c.hapax"));
        let untitled = Uri::from_str("untitled:Untitled-1").unwrap();
        assert!(uri_to_path(&untitled).starts_with(UNTITLED));
    }
}
