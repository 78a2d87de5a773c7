//! Pieces shared by both wire formats: request content, the deterministic
//! answer, token counts, ids, SSE framing and handler results.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

/// Every text answer starts with this.
const REPLY_PREFIX: &str = "mock reply to: ";
/// How many characters of the last user message the answer echoes.
const ECHO_CHARS: usize = 40;
/// A last message containing this makes the mock call the first tool.
const TOOL_TRIGGER: &str = "call tool";

/// What a handler produces: a JSON document or a stream of SSE events.
pub(crate) enum Reply {
    Json(Bytes),
    Events(Events),
}

/// An API error; each wire format renders it in its own error shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: Cow<'static, str>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

/// Parses a JSON request body, mapping failures to a 400.
pub(crate) fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("We could not parse the JSON body of your request: {e}")))
}

/// Serializes a response document.
pub(crate) fn to_json(value: &impl Serialize) -> Bytes {
    let mut buf = Vec::with_capacity(256);
    write_json(&mut buf, value);
    Bytes::from(buf)
}

fn write_json(buf: &mut Vec<u8>, value: &impl Serialize) {
    // Our response types are plain structs with string keys, and writing to a
    // Vec cannot fail, so serialization is infallible.
    #[expect(clippy::expect_used, reason = "plain structs written to a Vec cannot fail")]
    serde_json::to_writer(buf, value).expect("response types always serialize");
}

/// Message content: a plain string or a list of typed blocks / parts.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block or part; only its text (if any) matters to the mock.
#[derive(Deserialize)]
pub(crate) struct Block {
    #[serde(default)]
    text: Option<String>,
}

impl Content {
    /// Number of characters of text in this content.
    pub(crate) fn chars(&self) -> usize {
        match self {
            Self::Text(s) => s.chars().count(),
            Self::Blocks(blocks) => blocks.iter().filter_map(|b| b.text.as_deref()).map(|t| t.chars().count()).sum(),
        }
    }

    /// The text of this content, blocks joined by a space.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Self::Text(s) => Cow::Borrowed(s),
            Self::Blocks(blocks) => {
                let mut texts = blocks.iter().filter_map(|b| b.text.as_deref());
                match (texts.next(), texts.next()) {
                    (None, _) => Cow::Borrowed(""),
                    (Some(one), None) => Cow::Borrowed(one),
                    (Some(first), Some(second)) => {
                        let mut s = format!("{first} {second}");
                        texts.for_each(|t| {
                            s.push(' ');
                            s.push_str(t);
                        });
                        Cow::Owned(s)
                    }
                }
            }
        }
    }
}

/// A chat message of either format.
#[derive(Deserialize)]
pub(crate) struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
}

impl Message {
    fn text(&self) -> Cow<'_, str> {
        self.content.as_ref().map_or(Cow::Borrowed(""), Content::text)
    }
}

/// A tool definition: OpenAI nests the name under `function`, Anthropic does not.
#[derive(Deserialize)]
pub(crate) struct Tool {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    function: Option<Function>,
}

#[derive(Deserialize)]
struct Function {
    name: String,
}

impl Tool {
    fn name(&self) -> Option<&str> {
        self.function.as_ref().map(|f| f.name.as_str()).or(self.name.as_deref())
    }
}

/// Total characters of all message contents.
pub(crate) fn message_chars(messages: &[Message]) -> usize {
    messages.iter().filter_map(|m| m.content.as_ref()).map(Content::chars).sum()
}

/// Prompt token estimate: a quarter of the characters, at least 1.
pub(crate) fn tokens_for_chars(chars: usize) -> u32 {
    u32::try_from(chars / 4).unwrap_or(u32::MAX).max(1)
}

/// The mock model's deterministic answer.
pub(crate) enum Answer {
    /// Plain text.
    Text(String),
    /// A call of the named tool with arguments `{}`.
    Tool(String),
}

impl Answer {
    /// Answers a conversation: a tool call if tools are offered and the last
    /// message asks for one, else an echo of the last user message.
    pub(crate) fn for_conversation(messages: &[Message], tools: &[Tool]) -> Self {
        let wants_tool = messages.last().is_some_and(|m| m.text().contains(TOOL_TRIGGER));
        if wants_tool {
            if let Some(name) = tools.first().and_then(Tool::name) {
                return Self::Tool(name.to_owned());
            }
        }
        let last_user = messages.iter().rev().find(|m| m.role == "user");
        Self::Text(reply_to(&last_user.map_or(Cow::Borrowed(""), Message::text)))
    }

    /// Output tokens: one per word, or 1 for a tool call.
    pub(crate) fn tokens(&self) -> u32 {
        match self {
            Self::Text(text) => word_count(text),
            Self::Tool(_) => 1,
        }
    }
}

/// `"mock reply to: "` followed by the first 40 characters of `text`.
pub(crate) fn reply_to(text: &str) -> String {
    let cut = text.char_indices().nth(ECHO_CHARS).map_or(text.len(), |(i, _)| i);
    let mut reply = String::with_capacity(REPLY_PREFIX.len() + cut);
    reply.push_str(REPLY_PREFIX);
    reply.push_str(&text[..cut]);
    reply
}

/// Number of whitespace-separated words.
pub(crate) fn word_count(text: &str) -> u32 {
    u32::try_from(text.split_whitespace().count()).unwrap_or(u32::MAX)
}

/// Splits `text` into words that keep their trailing whitespace, so the
/// pieces concatenate back to `text` exactly.
pub(crate) fn word_chunks(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let end = rest[word_end..].find(|c: char| !c.is_whitespace()).map_or(rest.len(), |i| word_end + i);
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A fresh id such as `chatcmpl-3f9a0c...`, unique within the process.
pub(crate) fn new_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64));
    let mut state = seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed));
    format!("{prefix}{:016x}", splitmix64(&mut state))
}

/// One step of the SplitMix64 generator (a bijection of the state sequence).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A sequence of SSE events kept in one buffer; each event becomes its own
/// body frame.
#[derive(Default)]
pub(crate) struct Events {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Events {
    /// Appends `data: JSON\n\n`.
    pub(crate) fn data(&mut self, value: &impl Serialize) {
        self.buf.extend_from_slice(b"data: ");
        self.finish(value);
    }

    /// Appends `event: NAME\ndata: JSON\n\n`.
    pub(crate) fn named(&mut self, name: &str, value: &impl Serialize) {
        self.buf.extend_from_slice(b"event: ");
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.extend_from_slice(b"\ndata: ");
        self.finish(value);
    }

    /// Appends the OpenAI terminator `data: [DONE]\n\n`.
    pub(crate) fn done(&mut self) {
        self.buf.extend_from_slice(b"data: [DONE]\n\n");
        self.ends.push(self.buf.len());
    }

    fn finish(&mut self, value: &impl Serialize) {
        write_json(&mut self.buf, value);
        self.buf.extend_from_slice(b"\n\n");
        self.ends.push(self.buf.len());
    }

    /// The whole buffer and the end offset of each event.
    pub(crate) fn into_parts(self) -> (Bytes, Vec<usize>) {
        (Bytes::from(self.buf), self.ends)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_concatenate_back() {
        let text = "mock reply to:  a\tb\n c ";
        let chunks: Vec<_> = word_chunks(text).collect();
        assert_eq!(chunks, ["mock ", "reply ", "to:  ", "a\t", "b\n ", "c "]);
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunks.len(), word_count(text) as usize);
    }

    #[test]
    fn reply_echoes_forty_chars() {
        let long = "é".repeat(50);
        assert_eq!(reply_to(&long), format!("mock reply to: {}", "é".repeat(40)));
        assert_eq!(reply_to("hi"), "mock reply to: hi");
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(new_id("x-"), new_id("x-"));
        assert!(new_id("msg_").starts_with("msg_"));
    }
}
