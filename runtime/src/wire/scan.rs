//! One pass over a request body: checks that it is JSON (RFC 8259: UTF-8,
//! the grammar, nesting at most [`MAX_DEPTH`] deep, numbers an `f64` holds,
//! no duplicate fields the gateway reads) and reads what the request path
//! needs of it on the way:
//! `model`, `stream`, `stream_options.include_usage`, and the characters of
//! the prompt for the token estimate. Nothing is allocated unless `model`
//! holds escapes.
//!
//! What is counted, by where a value sits (anything else counts nothing):
//! - `system`, `prompt`, `input` and each message's `content`: a string's
//!   characters; in a list, each string item's characters, four per number
//!   or per item of an inner list (token ids), and each part's `text`;
//! - `messages`: the `content` of each message object.

use std::borrow::Cow;

/// How deep arrays and objects may nest: as deep as `serde_json` reads
/// (its recursion limit of 128 refuses the 128th level).
pub const MAX_DEPTH: u32 = 127;

/// What the scan read.
#[derive(Debug, Default, PartialEq)]
pub struct Fields<'a> {
    pub model: Model<'a>,
    /// `stream` is `true`.
    pub stream: bool,
    /// `stream_options.include_usage` is `true`.
    pub include_usage: bool,
    /// Characters of `messages[].content`, `system`, `prompt` and `input`.
    pub chars: Chars,
}

/// The `model` field.
#[derive(Debug, Default, PartialEq)]
pub enum Model<'a> {
    /// Absent or `null`.
    #[default]
    None,
    Str(Cow<'a, str>),
    /// Neither a string nor `null`.
    NotAString,
}

/// Characters of text, by field.
#[derive(Debug, Default, PartialEq, Clone, Copy)]
pub struct Chars {
    pub messages: usize,
    pub system: usize,
    pub prompt: usize,
    pub input: usize,
}

/// Why a body is not a valid request.
#[derive(Debug, PartialEq)]
pub enum Invalid {
    /// Not JSON: what was wrong, and where (1-based line and column).
    Syntax { what: &'static str, line: usize, column: usize },
    /// A field the gateway reads appears twice.
    Duplicate(&'static str),
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Syntax { what, line, column } => write!(f, "{what} at line {line} column {column}"),
            Invalid::Duplicate(name) => write!(f, "duplicate field `{name}`"),
        }
    }
}

/// Scans a body that must be one JSON object.
pub fn scan(body: &[u8]) -> Result<Fields<'_>, Invalid> {
    let mut s = Scanner::new(body);
    s.ws();
    if s.peek() != Some(b'{') {
        return Err(s.error("expected an object"));
    }
    let fields = s.top()?;
    s.ws();
    if s.i < s.b.len() {
        return Err(s.error("trailing characters"));
    }
    Ok(fields)
}

/// What a value counts, by where it sits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Count {
    Nothing,
    /// A `content`, `system`, `prompt` or `input` value.
    Content,
    /// One item of a content list.
    Item,
    /// A part's `text`.
    Text,
    /// The `messages` list.
    Messages,
    /// One message.
    Message,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    depth: u32,
}

/// A string as it lies in the body, between its quotes.
struct Str<'a> {
    raw: &'a [u8],
    escaped: bool,
    chars: usize,
}

impl<'a> Str<'a> {
    /// The string's text; decoded (allocated) only when it holds escapes.
    /// `None` for an escape that is not a character (a lone surrogate).
    fn text(&self) -> Option<Cow<'a, str>> {
        if !self.escaped {
            // The string was checked to be UTF-8.
            return std::str::from_utf8(self.raw).ok().map(Cow::Borrowed);
        }
        let mut quoted = Vec::with_capacity(self.raw.len() + 2);
        quoted.push(b'"');
        quoted.extend_from_slice(self.raw);
        quoted.push(b'"');
        serde_json::from_slice::<String>(&quoted).ok().map(Cow::Owned)
    }

    fn is(&self, key: &str) -> bool {
        if self.escaped {
            self.text().is_some_and(|t| t == key)
        } else {
            self.raw == key.as_bytes()
        }
    }
}

impl<'a> Scanner<'a> {
    fn new(b: &'a [u8]) -> Self {
        Scanner { b, i: 0, depth: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn error(&self, what: &'static str) -> Invalid {
        self.error_at(self.i, what)
    }

    fn error_at(&self, at: usize, what: &'static str) -> Invalid {
        let before = &self.b[..at.min(self.b.len())];
        let line = before.iter().filter(|&&c| c == b'\n').count() + 1;
        let start = before.iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        let column = before[start..].iter().filter(|&&c| c & 0xC0 != 0x80).count() + 1;
        Invalid::Syntax { what, line, column }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8, what: &'static str) -> Result<(), Invalid> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn enter(&mut self) -> Result<(), Invalid> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.i += 1;
        Ok(())
    }

    /// Walks the members of the object at `i` (past any whitespace),
    /// calling `member` with each key once the scanner is at its value;
    /// `member` must scan the value.
    fn object(&mut self, mut member: impl FnMut(&mut Self, Str<'a>) -> Result<(), Invalid>) -> Result<(), Invalid> {
        self.enter()?;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a key"));
            }
            let key = self.string()?;
            self.expect(b':', "expected `:`")?;
            member(self, key)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `}`")),
            }
        }
    }

    /// Walks the items of the array at `i`, calling `item` at each one;
    /// `item` must scan it.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Result<(), Invalid>) -> Result<(), Invalid> {
        self.enter()?;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            item(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return Err(self.error("expected `,` or `]`")),
            }
        }
    }

    /// The top-level object, reading the fields the gateway needs.
    fn top(&mut self) -> Result<Fields<'a>, Invalid> {
        let mut f = Fields::default();
        let mut seen = [false; 7];
        const NAMES: [&str; 7] = ["model", "stream", "stream_options", "messages", "system", "prompt", "input"];
        self.object(|s, key| {
            let Some(n) = NAMES.iter().position(|name| key.is(name)) else {
                return s.value(Count::Nothing).map(drop);
            };
            if std::mem::replace(&mut seen[n], true) {
                return Err(Invalid::Duplicate(NAMES[n]));
            }
            match n {
                0 => f.model = s.model()?,
                1 => f.stream = s.literal_true()?,
                2 => f.include_usage = s.stream_options()?,
                3 => f.chars.messages = s.value(Count::Messages)?,
                4 => f.chars.system = s.value(Count::Content)?,
                5 => f.chars.prompt = s.value(Count::Content)?,
                _ => f.chars.input = s.value(Count::Content)?,
            }
            Ok(())
        })?;
        Ok(f)
    }

    fn model(&mut self) -> Result<Model<'a>, Invalid> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                let at = self.i;
                let text = self.string()?.text();
                text.map(Model::Str).ok_or_else(|| self.error_at(at, "invalid unicode escape"))
            }
            Some(b'n') => self.value(Count::Nothing).map(|_| Model::None),
            _ => self.value(Count::Nothing).map(|_| Model::NotAString),
        }
    }

    /// Whether the value is `true` (any other value is scanned and is not).
    fn literal_true(&mut self) -> Result<bool, Invalid> {
        self.ws();
        let yes = self.b[self.i..].starts_with(b"true");
        self.value(Count::Nothing)?;
        Ok(yes)
    }

    /// `include_usage` of a `stream_options` object (the last one given).
    fn stream_options(&mut self) -> Result<bool, Invalid> {
        self.ws();
        if self.peek() != Some(b'{') {
            return self.value(Count::Nothing).map(|_| false);
        }
        let mut include = false;
        self.object(|s, key| {
            if key.is("include_usage") {
                include = s.literal_true()?;
                Ok(())
            } else {
                s.value(Count::Nothing).map(drop)
            }
        })?;
        Ok(include)
    }

    /// Scans one value; returns the characters it counts where it sits.
    fn value(&mut self, count: Count) -> Result<usize, Invalid> {
        self.ws();
        match self.peek() {
            Some(b'"') => {
                let s = self.string()?;
                Ok(if matches!(count, Count::Content | Count::Item | Count::Text) { s.chars } else { 0 })
            }
            Some(b'{') => {
                let (wanted, inner) = match count {
                    Count::Item => ("text", Count::Text),
                    Count::Message => ("content", Count::Content),
                    _ => ("", Count::Nothing),
                };
                let mut n = 0;
                self.object(|s, key| {
                    let c = if !wanted.is_empty() && key.is(wanted) { inner } else { Count::Nothing };
                    n += s.value(c)?;
                    Ok(())
                })?;
                Ok(n)
            }
            Some(b'[') => {
                let (inner, each) = match count {
                    Count::Content => (Count::Item, 0),
                    Count::Messages => (Count::Message, 0),
                    // A list of token ids inside a list: four each.
                    Count::Item => (Count::Nothing, 4),
                    _ => (Count::Nothing, 0),
                };
                let mut n = 0;
                self.array(|s| {
                    n += s.value(inner)? + each;
                    Ok(())
                })?;
                Ok(n)
            }
            Some(b't') => self.word(b"true").map(|()| 0),
            Some(b'f') => self.word(b"false").map(|()| 0),
            Some(b'n') => self.word(b"null").map(|()| 0),
            Some(b'-' | b'0'..=b'9') => self.number().map(|()| if count == Count::Item { 4 } else { 0 }),
            _ => Err(self.error("expected a value")),
        }
    }

    fn word(&mut self, w: &'static [u8]) -> Result<(), Invalid> {
        if self.b[self.i..].starts_with(w) {
            self.i += w.len();
            Ok(())
        } else {
            Err(self.error("expected a value"))
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    /// A number; like `serde_json`, one too large for an `f64` is refused.
    fn number(&mut self) -> Result<(), Invalid> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("invalid number"));
            }
            return self.in_range(start);
        }
        if self.i - start > 300 {
            return self.in_range(start);
        }
        Ok(())
    }

    /// Only a number with an exponent or hundreds of digits can overflow.
    fn in_range(&self, start: usize) -> Result<(), Invalid> {
        let text = std::str::from_utf8(&self.b[start..self.i]).unwrap_or("");
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(()),
            _ => Err(self.error_at(start, "number out of range")),
        }
    }

    /// The string at `i` (an opening quote); counts its characters, an
    /// escape as one. Runs between escapes are found with `memchr` and
    /// looked at eight bytes at a time ([`Run`]).
    fn string(&mut self) -> Result<Str<'a>, Invalid> {
        self.i += 1;
        let start = self.i;
        // Keys, roles and model names are short and plain: a byte at a time
        // they end before a call to `memchr` would pay off.
        let short = self.b.len().min(start + 16);
        let mut j = start;
        while j < short && PLAIN[usize::from(self.b[j])] {
            j += 1;
        }
        if j < short && self.b[j] == b'"' {
            self.i = j + 1;
            return Ok(Str { raw: &self.b[start..j], escaped: false, chars: j - start });
        }
        self.i = j;
        let (mut escaped, mut chars) = (false, j - start);
        loop {
            let rest = &self.b[self.i..];
            let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
                self.i = self.b.len();
                return Err(self.error("unterminated string"));
            };
            let run = &rest[..at];
            let look = Run::of(run);
            if look.control {
                self.i += run.iter().position(|&c| c < 0x20).unwrap_or(0);
                return Err(self.error("control character in a string"));
            }
            // Runs end at ASCII quotes and backslashes, so a character
            // never spans two of them.
            if look.non_ascii {
                if let Err(e) = std::str::from_utf8(run) {
                    return Err(self.error_at(self.i + e.valid_up_to(), "invalid UTF-8"));
                }
            }
            chars += look.chars;
            self.i += at;
            if self.b[self.i] == b'"' {
                break;
            }
            escaped = true;
            let len = match self.b.get(self.i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => 2,
                Some(b'u')
                    if self.b.get(self.i + 2..self.i + 6).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    6
                }
                _ => return Err(self.error("invalid escape")),
            };
            self.i += len;
            chars += 1;
        }
        let raw = &self.b[start..self.i];
        self.i += 1;
        Ok(Str { raw, escaped, chars })
    }
}

/// Bytes that stand for themselves in a string: printable ASCII other than
/// the quote and the backslash.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c < 0x80 {
        t[c] = c != b'"' as usize && c != b'\\' as usize;
        c += 1;
    }
    t
};

/// What a run of string bytes (between escapes) holds.
struct Run {
    chars: usize,
    control: bool,
    non_ascii: bool,
}

impl Run {
    /// Eight bytes at a time: a byte below 0x20 is a control character; a
    /// byte `10xxxxxx` continues a character, any other starts one.
    fn of(run: &[u8]) -> Run {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let (mut control, mut high, mut continuing) = (0u64, 0u64, 0u32);
        let mut words = run.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            control |= w.wrapping_sub(ONES * 0x20) & !w & HIGH;
            high |= w & HIGH;
            continuing += (w & HIGH & !(w << 1)).count_ones();
        }
        let mut r = Run { chars: 0, control: control != 0, non_ascii: high != 0 };
        for &c in words.remainder() {
            r.control |= c < 0x20;
            r.non_ascii |= c >= 0x80;
            continuing += u32::from(c & 0xC0 == 0x80);
        }
        r.chars = run.len() - continuing as usize;
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    fn ok(text: &str) -> Fields<'_> {
        scan(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn reads_the_fields() {
        let f = ok(
            r#" {"model":"m","stream":true,"stream_options":{"x":[1],"include_usage":true},"messages":[{"role":"user","content":"12345678"}]} "#,
        );
        assert_eq!(f.model, Model::Str(Cow::Borrowed("m")));
        assert!(f.stream && f.include_usage);
        assert_eq!(f.chars.messages, 8);
        let f = ok(r#"{"model":"a\u00e9\"b","stream":"true","stream_options":true}"#);
        assert_eq!(f.model, Model::Str(Cow::Owned("aé\"b".into())));
        assert!(!f.stream && !f.include_usage);
        assert_eq!(ok(r#"{"model":null}"#).model, Model::None);
        assert_eq!(ok(r#"{"model":7}"#).model, Model::NotAString);
        assert_eq!(ok(r#"{"mod\u0065l":"x"}"#).model, Model::Str(Cow::Borrowed("x")));
    }

    #[test]
    fn counts_every_kind_of_content() {
        let chat = r#"{"messages":[
            {"role":"system","content":"abcd"},
            {"role":"user","content":[{"type":"text","text":"ab\u00e9c"},{"type":"image_url","image_url":{"url":"x"}},"wxyz"]},
            {"role":"assistant","content":null,"tool_calls":[{"function":{"arguments":"{\"text\":1}"}}]},
            {"role":"user","content":7},
            "not a message"
        ],"system":"é€𝄞"}"#;
        let f = ok(chat);
        assert_eq!(f.chars.messages, 12);
        assert_eq!(f.chars.system, 3);
        assert_eq!(ok(r#"{"input":[[1,2,3],5,"abcd"]}"#).chars.input, 3 * 4 + 4 + 4);
        assert_eq!(ok(r#"{"prompt":"abcdefgh","messages":"ignored"}"#).chars, Chars { prompt: 8, ..Chars::default() });
    }

    #[test]
    fn refuses_what_is_not_json_and_says_where() {
        for bad in [
            "",
            "[]",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "{\"a\":1,}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":1e}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12g4\"}",
            "{\"a\":\"\n\"}",
            "{} x",
            "{\"a\":[1 2]}",
            "{'a':1}",
            "{\"a\":\"unterminated}",
            "{\"a\":1e309}",
            "{\"a\":-1E+400}",
        ] {
            assert!(matches!(scan(bad.as_bytes()), Err(Invalid::Syntax { .. })), "{bad:?}");
        }
        assert_eq!(scan(b"{\n  \"a\": nope}"), Err(Invalid::Syntax { what: "expected a value", line: 2, column: 8 }));
        assert!(matches!(scan(b"{\"a\":\"\xff\"}"), Err(Invalid::Syntax { what: "invalid UTF-8", .. })));
        assert_eq!(scan(br#"{"model":"a","model":"b"}"#), Err(Invalid::Duplicate("model")));
        // A model must be text; elsewhere a lone surrogate escape passes (as
        // serde_json lets it through a value it skips).
        assert!(matches!(scan(br#"{"model":"\ud800"}"#), Err(Invalid::Syntax { what: "invalid unicode escape", .. })));
        assert!(scan(br#"{"x":"\ud800"}"#).is_ok());
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(scan(deep.as_bytes()), Err(Invalid::Syntax { what: "nesting too deep", .. })));
    }

    /// Found by the fuzz harness's check against serde_json: a body nested
    /// 128 deep was scanned as valid, and serde_json, whose recursion limit
    /// of 128 stops at the 128th level, refuses to read it into a value.
    #[test]
    fn nests_exactly_as_deep_as_serde_reads() {
        let deep = include_bytes!("../../../fuzz/regressions/scan/nested-128-deep");
        assert!(serde_json::from_slice::<serde_json::Value>(deep).is_err());
        assert!(matches!(scan(deep), Err(Invalid::Syntax { what: "nesting too deep", .. })));
        for depth in [MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1] {
            let inner = depth as usize - 1;
            let body = format!("{{\"a\":{}{}}}", "[".repeat(inner), "]".repeat(inner));
            let theirs = serde_json::from_slice::<serde_json::Value>(body.as_bytes()).is_ok();
            assert_eq!(scan(body.as_bytes()).is_ok(), theirs, "{depth} deep");
            assert_eq!(theirs, depth <= MAX_DEPTH, "{depth} deep");
        }
    }

    /// JSON values of every shape, with strings that need escapes.
    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(|n| serde_json::json!(n)),
            (-1e6f64..1e6).prop_map(|n| serde_json::json!(n)),
            "[ -~é\"\\\\\n\u{1F600}]{0,12}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
                prop::collection::btree_map(
                    prop_oneof![Just("content".to_string()), Just("text".to_string()), "[a-z]{1,5}"],
                    inner,
                    0..5
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// The eight-bytes-at-a-time look at a run agrees with one byte at a time.
        #[test]
        fn runs_are_read_as_bytes_are(run in prop::collection::vec(any::<u8>(), 0..40)) {
            let r = Run::of(&run);
            prop_assert_eq!(r.control, run.iter().any(|&c| c < 0x20));
            prop_assert_eq!(r.non_ascii, run.iter().any(|&c| c >= 0x80));
            prop_assert_eq!(r.chars, run.iter().filter(|&&c| c & 0xC0 != 0x80).count());
        }

        /// Bytes that are not quite JSON: the scan agrees with serde_json
        /// on what is valid, and never panics.
        #[test]
        fn agrees_with_serde_on_validity(v in json_value(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let text = serde_json::json!({ "k": v }).to_string();
            let mut bytes = text.into_bytes();
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            let ours = scan(&bytes).is_ok();
            let theirs = serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|v| v.is_object());
            prop_assert_eq!(ours, theirs, "{}", String::from_utf8_lossy(&bytes));
        }

        /// Valid bodies scan, compact or pretty, and give serde's fields.
        #[test]
        fn reads_what_serde_reads(
            model in prop_oneof![Just(serde_json::Value::Null), "[a-z\"é-]{0,8}".prop_map(serde_json::Value::String)],
            stream in any::<bool>(),
            messages in prop::collection::vec(json_value(), 0..4),
            pretty in any::<bool>(),
        ) {
            let v = serde_json::json!({ "model": model, "stream": stream, "messages": messages, "stream_options": { "include_usage": stream } });
            let text = if pretty { serde_json::to_string_pretty(&v).unwrap() } else { v.to_string() };
            let f = scan(text.as_bytes()).unwrap();
            prop_assert_eq!(f.model, match &model { serde_json::Value::String(s) => Model::Str(Cow::Owned(s.clone())), _ => Model::None });
            prop_assert_eq!(f.stream, stream);
            prop_assert_eq!(f.include_usage, stream);
            prop_assert!(serde_json::from_slice::<IgnoredAny>(text.as_bytes()).is_ok());
        }
    }
}
