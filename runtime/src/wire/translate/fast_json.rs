//! Fast paths for the stream translators: borrowed parsing of upstream events and direct JSON
//! writing of output frames, so a text delta costs one parse and one output buffer.

use std::borrow::Cow;

use serde::Deserialize;

/// A string borrowed from the input when it has no escapes. `Option<Cow<str>>` alone would
/// always allocate: serde only borrows a `Cow` that is a field's whole type.
#[derive(Debug, Deserialize)]
pub(super) struct CowStr<'a>(#[serde(borrow)] pub(super) Cow<'a, str>);

impl CowStr<'_> {
    pub(super) fn as_str(&self) -> &str {
        &self.0
    }
}

/// Returns the borrowed string of an optional [`CowStr`], empty when absent.
pub(super) fn str_or_empty<'s>(value: &'s Option<CowStr<'_>>) -> &'s str {
    value.as_ref().map_or("", CowStr::as_str)
}

/// Appends `text` as a JSON string literal, escaped as `serde_json` does.
pub(super) fn push_json_str(buf: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = text.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => {
                buf.extend_from_slice(&bytes[start..i]);
                buf.extend_from_slice(b"\\u00");
                buf.push(HEX[usize::from(byte >> 4)]);
                buf.push(HEX[usize::from(byte & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        buf.extend_from_slice(&bytes[start..i]);
        buf.extend_from_slice(escape);
        start = i + 1;
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Appends `n` in decimal.
pub(super) fn push_u64(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_like_serde_json() {
        for text in [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "lines\nand\r\ttabs",
            "\u{0}\u{1}\u{8}\u{c}\u{1f}\u{7f}",
            "unicode \u{e9}\u{1f600} stays raw",
        ] {
            let mut buf = Vec::new();
            push_json_str(&mut buf, text);
            let expected = serde_json::to_string(text).unwrap_or_default();
            assert_eq!(String::from_utf8_lossy(&buf), expected);
        }
    }

    #[test]
    fn numbers_print_in_decimal() {
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            let mut buf = Vec::new();
            push_u64(&mut buf, n);
            assert_eq!(String::from_utf8_lossy(&buf), n.to_string());
        }
    }

    #[test]
    fn cow_str_borrows_unless_escaped() {
        let plain: CowStr<'_> = serde_json::from_str("\"abc\"").unwrap_or(CowStr(Cow::Borrowed("")));
        assert!(matches!(plain.0, Cow::Borrowed("abc")));
        let escaped: CowStr<'_> = serde_json::from_str("\"a\\nb\"").unwrap_or(CowStr(Cow::Borrowed("")));
        assert_eq!(escaped.as_str(), "a\nb");
    }
}
