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
    fn cow_str_borrows_unless_escaped() {
        let plain: CowStr<'_> = serde_json::from_str("\"abc\"").unwrap_or(CowStr(Cow::Borrowed("")));
        assert!(matches!(plain.0, Cow::Borrowed("abc")));
        let escaped: CowStr<'_> = serde_json::from_str("\"a\\nb\"").unwrap_or(CowStr(Cow::Borrowed("")));
        assert_eq!(escaped.as_str(), "a\nb");
    }
}

/// The members of a JSON object, in order, as raw key (without its quotes) and raw value,
/// found by skimming: strings are skipped with their escapes, nested values by bracket depth,
/// nothing is decoded or validated. Ends at the first thing that is not a member (nothing at
/// all when the text is not an object). Used to read `usage`'s numbers in one pass.
pub(super) fn members(text: &[u8]) -> Members<'_> {
    let i = skip_ws(text, 0);
    Members { text, at: (text.get(i) == Some(&b'{')).then_some(i + 1) }
}

pub(super) struct Members<'a> {
    text: &'a [u8],
    /// Where the next member starts; `None` once done.
    at: Option<usize>,
}

impl<'a> Iterator for Members<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let text = self.text;
        let i = skip_ws(text, self.at.take()?);
        if text.get(i) != Some(&b'"') {
            return None;
        }
        let end = skip_string(text, i)?;
        let name = &text[i + 1..end - 1];
        let colon = skip_ws(text, end);
        if text.get(colon) != Some(&b':') {
            return None;
        }
        let start = skip_ws(text, colon + 1);
        let stop = skip_value(text, start)?;
        let after = skip_ws(text, stop);
        if text.get(after) == Some(&b',') {
            self.at = Some(after + 1);
        }
        Some((name, &text[start..stop]))
    }
}

/// The value of a top-level `key`, searched for from the last member back. An answer's
/// `usage` is its last member, so only that member is skimmed instead of the
/// whole answer. Skimming backwards is sound because outside strings JSON has
/// no backslash: a quote preceded by an even run of backslashes is a string's
/// delimiter.
pub(super) fn last_top_level_value<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let open = skip_ws(text, 0);
    if text.get(open) != Some(&b'{') {
        return None;
    }
    let close = rskip_ws(text, text.len()).checked_sub(1)?;
    if close <= open || text[close] != b'}' {
        return None;
    }
    let mut members = RMembers { text, end: rskip_ws(text, close), floor: open + 1, open: None };
    members.find(|(name, _)| *name == key.as_bytes()).map(|(_, value)| value)
}

/// The members of the object whose closing brace is at `close`, from the last to the first,
/// as raw key (without its quotes) and raw value, skimmed backwards as
/// [`last_top_level_value`] does. Ends at the object's opening brace ([`RMembers::open`]
/// then says where it is), or at the first thing that is not a member.
pub(super) fn rmembers(text: &[u8], close: usize) -> RMembers<'_> {
    let end = rskip_ws(text, close);
    if end > 0 && text[end - 1] == b'{' {
        // An empty object.
        return RMembers { text, end: 0, floor: 0, open: Some(end - 1) };
    }
    RMembers { text, end, floor: 0, open: None }
}

pub(super) struct RMembers<'a> {
    text: &'a [u8],
    /// Just past the next member's value; `floor` once done.
    end: usize,
    /// Nothing at or before it is read (past the opening brace, when known).
    floor: usize,
    open: Option<usize>,
}

impl RMembers<'_> {
    /// Where the object opens, once every member was read.
    pub(super) fn open(&self) -> Option<usize> {
        self.open
    }

    /// Ends the walk (at something that is not a member).
    fn stop<T>(&mut self) -> Option<T> {
        self.end = self.floor;
        None
    }
}

impl<'a> Iterator for RMembers<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (text, end) = (self.text, self.end);
        if end <= self.floor {
            return None;
        }
        let Some(start) = rskip_value(text, end) else { return self.stop() };
        let Some(colon) = rskip_ws(text, start).checked_sub(1).filter(|c| text[*c] == b':') else {
            return self.stop();
        };
        let name_end = rskip_ws(text, colon);
        if name_end <= self.floor + 1 || text[name_end - 1] != b'"' {
            return self.stop();
        }
        let Some(name_start) = rskip_string(text, name_end) else { return self.stop() };
        match rskip_ws(text, name_start).checked_sub(1).map(|sep| (sep, text[sep])) {
            Some((sep, b',')) => self.end = rskip_ws(text, sep),
            Some((sep, b'{')) => {
                self.open = Some(sep);
                self.end = self.floor;
            }
            _ => self.end = self.floor,
        }
        Some((&text[name_start + 1..name_end - 1], &text[start..end]))
    }
}

/// The index just past the last non-whitespace byte before `i`.
pub(super) fn rskip_ws(text: &[u8], mut i: usize) -> usize {
    while i > 0 && text[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    i
}

/// `end` is just past a closing quote; returns the index of the opening one.
pub(super) fn rskip_string(text: &[u8], end: usize) -> Option<usize> {
    let mut i = end.checked_sub(1)?;
    loop {
        i = memchr::memrchr(b'"', text.get(..i)?)?;
        let backslashes = text[..i].iter().rev().take_while(|b| **b == b'\\').count();
        if backslashes % 2 == 0 {
            return Some(i);
        }
    }
}

/// `end` is just past a value; returns the index where it starts.
fn rskip_value(text: &[u8], end: usize) -> Option<usize> {
    let mut i = end.checked_sub(1)?;
    match text[i] {
        b'"' => rskip_string(text, end),
        b'}' | b']' => {
            let mut depth = 0usize;
            loop {
                match text[i] {
                    b'"' => i = rskip_string(text, i + 1)?,
                    b'}' | b']' => depth += 1,
                    b'{' | b'[' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i);
                        }
                    }
                    _ => {}
                }
                i = i.checked_sub(1)?;
            }
        }
        _ => {
            // A number, `true`, `false` or `null`: back to the previous delimiter.
            while i > 0 && !matches!(text[i - 1], b':' | b',' | b'[' | b'{') && !text[i - 1].is_ascii_whitespace() {
                i -= 1;
            }
            Some(i)
        }
    }
}

fn skip_ws(text: &[u8], mut i: usize) -> usize {
    while text.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// `i` is at an opening quote; returns the index just past the closing one.
fn skip_string(text: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    loop {
        i += memchr::memchr2(b'"', b'\\', text.get(i..)?)?;
        if text[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// Returns the index just past the value starting at `i`.
fn skip_value(text: &[u8], mut i: usize) -> Option<usize> {
    match text.get(i)? {
        b'"' => skip_string(text, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            loop {
                match text.get(i)? {
                    b'"' => {
                        i = skip_string(text, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            // A number, `true`, `false` or `null`: up to the next delimiter.
            let start = i;
            while text.get(i).is_some_and(|b| !matches!(b, b',' | b'}' | b']') && !b.is_ascii_whitespace()) {
                i += 1;
            }
            (i > start).then_some(i)
        }
    }
}

#[cfg(test)]
mod skim_tests {
    use super::{last_top_level_value, members};
    use proptest::prelude::*;

    /// A top-level key's raw value, searched for from the first member.
    fn top_level_value<'a>(text: &'a [u8], key: &str) -> Option<&'a [u8]> {
        members(text).find(|(name, _)| *name == key.as_bytes()).map(|(_, value)| value)
    }

    #[test]
    fn finds_top_level_keys_only() {
        let body = br#"{"id":"x","choices":[{"message":{"content":"{\"usage\": 1} \\","usage":{"x":2}}}],
            "usage" : {"prompt_tokens":3,"completion_tokens":4}, "n": -1.5e3}"#;
        assert_eq!(top_level_value(body, "usage"), Some(&br#"{"prompt_tokens":3,"completion_tokens":4}"#[..]));
        assert_eq!(top_level_value(body, "n"), Some(&b"-1.5e3"[..]));
        assert_eq!(top_level_value(body, "id"), Some(&br#""x""#[..]));
        assert_eq!(top_level_value(body, "message"), None);
        assert_eq!(top_level_value(b"[1]", "usage"), None);
        assert_eq!(top_level_value(br#"{"usage": "#, "usage"), None);
        assert_eq!(top_level_value(br#"{"a":"unterminated"#, "usage"), None);
        for key in ["usage", "n", "id", "choices"] {
            assert_eq!(last_top_level_value(body, key), top_level_value(body, key), "{key}");
        }
        assert_eq!(last_top_level_value(body, "message"), None);
        assert_eq!(last_top_level_value(br#"{"a":"x\\\"\\","usage":1}"#, "a"), Some(&br#""x\\\"\\""#[..]));
        assert_eq!(last_top_level_value(b"[1]", "usage"), None);
        assert_eq!(last_top_level_value(b"{}", "usage"), None);
        assert_eq!(last_top_level_value(br#"{"usage": }"#, "usage"), None);
        assert_eq!(last_top_level_value(br#""usage":1}"#, "usage"), None);
    }

    proptest! {
        /// On any JSON object, the skimmer finds exactly what serde finds at the top level.
        #[test]
        fn agrees_with_serde(v in json_value(3), key in "[a-c]") {
            let text = serde_json::to_vec(&v).unwrap();
            let expect = v.as_object().and_then(|o| o.get(&key)).cloned();
            let got = top_level_value(&text, &key).map(|raw| serde_json::from_slice::<serde_json::Value>(raw).unwrap());
            prop_assert_eq!(got, expect.clone());
            // Backwards, in compact and in pretty text.
            let pretty = serde_json::to_vec_pretty(&v).unwrap();
            for text in [&text, &pretty] {
                let got = last_top_level_value(text, &key).map(|raw| serde_json::from_slice::<serde_json::Value>(raw).unwrap());
                prop_assert_eq!(&got, &expect);
            }
        }

        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = top_level_value(&bytes, "usage");
            let _ = last_top_level_value(&bytes, "usage");
        }

        /// Bytes that look like JSON objects, to reach the backward skimmer's branches.
        #[test]
        fn never_panics_on_near_json(bytes in proptest::collection::vec(prop::sample::select(b"{}[]\":,\\ a1".to_vec()), 0..60)) {
            let mut text = b"{".to_vec();
            text.extend(bytes);
            text.push(b'}');
            let _ = last_top_level_value(&text, "a");
        }
    }

    fn json_value(depth: u32) -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i32>().prop_map(|n| serde_json::json!(n)),
            "[a-c\"\\\\{}\\[\\],: ]{0,6}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(depth, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map("[a-c]", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
        .prop_map(|v| match v {
            serde_json::Value::Object(_) => v,
            other => serde_json::json!({ "a": other, "b": 1 }),
        })
    }
}
