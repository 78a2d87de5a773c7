//! Token usage in one shape for metrics and cost, read from either format's responses and
//! streams.

use serde::Deserialize;

use super::fast_json::{last_top_level_value, members, rmembers, rskip_string, rskip_ws};
use crate::wire::serde_util::Extra;
use crate::wire::{anthropic, openai};

/// Token counts of one call, normalized to OpenAI's convention: `input_tokens` counts every
/// prompt token, the cached and cache-writing ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    /// All prompt tokens.
    pub input_tokens: u64,
    /// Generated tokens (reasoning included).
    pub output_tokens: u64,
    /// Prompt tokens read from the provider's cache (a subset of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Prompt tokens written to the provider's cache (a subset of `input_tokens`; Anthropic
    /// bills them above the base rate, OpenAI never reports them).
    pub cache_creation_input_tokens: u64,
}

impl Usage {
    /// The usage of a whole answer in `api`'s format, skimmed off it.
    pub fn from_body(api: super::Api, body: &[u8]) -> Option<Usage> {
        match api {
            super::Api::OpenAi => Usage::from_openai_body(body),
            super::Api::Anthropic => Usage::from_anthropic_body(body),
        }
    }

    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Prompt tokens neither read from nor written to the cache.
    pub fn uncached_input_tokens(&self) -> u64 {
        self.input_tokens.saturating_sub(self.cached_input_tokens).saturating_sub(self.cache_creation_input_tokens)
    }

    /// From an OpenAI `usage` object.
    pub fn from_openai(usage: &openai::CompletionUsage) -> Self {
        Self {
            input_tokens: usage.prompt_tokens,
            output_tokens: usage.completion_tokens,
            cached_input_tokens: usage
                .prompt_tokens_details
                .as_ref()
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0),
            cache_creation_input_tokens: 0,
        }
    }

    /// From an OpenAI embeddings `usage` object.
    pub fn from_openai_embedding(usage: &openai::EmbeddingUsage) -> Self {
        Self { input_tokens: usage.prompt_tokens, ..Self::default() }
    }

    /// From an Anthropic `usage` object, whose `input_tokens` excludes cache reads and writes.
    pub fn from_anthropic(usage: &anthropic::Usage) -> Self {
        Self::from_anthropic_parts(
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_read_input_tokens.unwrap_or(0),
            usage.cache_creation_input_tokens.unwrap_or(0),
        )
    }

    pub(super) fn from_anthropic_parts(uncached_input: u64, output: u64, cache_read: u64, cache_write: u64) -> Self {
        Self {
            input_tokens: uncached_input.saturating_add(cache_read).saturating_add(cache_write),
            output_tokens: output,
            cached_input_tokens: cache_read,
            cache_creation_input_tokens: cache_write,
        }
    }

    /// As an OpenAI `usage` object.
    pub fn to_openai(&self) -> openai::CompletionUsage {
        openai::CompletionUsage {
            prompt_tokens: self.input_tokens,
            completion_tokens: self.output_tokens,
            total_tokens: self.total_tokens(),
            prompt_tokens_details: Some(openai::PromptTokensDetails {
                cached_tokens: Some(self.cached_input_tokens),
                audio_tokens: None,
                extra: Extra::new(),
            }),
            completion_tokens_details: None,
            extra: Extra::new(),
        }
    }

    /// As an Anthropic `usage` object.
    pub fn to_anthropic(&self) -> anthropic::Usage {
        anthropic::Usage {
            input_tokens: self.uncached_input_tokens(),
            output_tokens: self.output_tokens,
            cache_creation_input_tokens: Some(self.cache_creation_input_tokens),
            cache_read_input_tokens: Some(self.cached_input_tokens),
            extra: Extra::new(),
        }
    }

    /// From a whole OpenAI response body (chat, legacy completion or embeddings) that has a
    /// top-level `usage`; `None` when it has none or is not JSON. Nothing is decoded but the
    /// few numbers read: the answer is skimmed for them.
    pub fn from_openai_body(body: &[u8]) -> Option<Self> {
        let [input, output, details] =
            read_usage(body, ["prompt_tokens", "completion_tokens", "prompt_tokens_details"])?;
        let [cached] = details.map_or([None], |d| read(d, ["cached_tokens"]));
        Some(Self {
            input_tokens: count(input),
            output_tokens: count(output),
            cached_input_tokens: count(cached),
            cache_creation_input_tokens: 0,
        })
    }

    /// From a whole Anthropic response body; `None` when it has no `usage` or is not JSON.
    pub fn from_anthropic_body(body: &[u8]) -> Option<Self> {
        let keys = ["input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"];
        let [input, output, read_tokens, created] = read_usage(body, keys)?;
        Some(Self::from_anthropic_parts(count(input), count(output), count(read_tokens), count(created)))
    }
}

/// The top-level `usage` object of an answer, searched for from the end,
/// where answers put it.
fn usage_object(body: &[u8]) -> Option<&[u8]> {
    last_top_level_value(body, "usage").filter(|u| u.first() == Some(&b'{'))
}

/// The raw values of `keys` in the answer's top-level `usage` object: read backwards in one
/// pass when `usage` is the answer's last member, as answers have it; else found first.
fn read_usage<'a, const N: usize>(body: &'a [u8], keys: [&str; N]) -> Option<[Option<&'a [u8]>; N]> {
    last_usage(body, keys).or_else(|| Some(read(usage_object(body)?, keys)))
}

fn last_usage<'a, const N: usize>(body: &'a [u8], keys: [&str; N]) -> Option<[Option<&'a [u8]>; N]> {
    // The answer's closing brace, and the last member's value's, just before it.
    let close = rskip_ws(body, body.len()).checked_sub(1).filter(|c| body[*c] == b'}')?;
    let inner = rskip_ws(body, close).checked_sub(1).filter(|c| body[*c] == b'}')?;
    let mut found = [None; N];
    let mut members = rmembers(body, inner);
    for (name, value) in &mut members {
        if let Some(k) = keys.iter().position(|k| k.as_bytes() == name) {
            // Read backwards, the first of a repeated key comes last.
            found[k] = Some(value);
        }
    }
    // The object is the value of a key `usage`, after a `,` or the answer's `{`. It
    // ends where the answer does, so it is a member of the answer itself.
    let colon = rskip_ws(body, members.open()?).checked_sub(1).filter(|c| body[*c] == b':')?;
    let name_end = rskip_ws(body, colon);
    let name_start = name_end.checked_sub(1).filter(|q| body[*q] == b'"').and_then(|_| rskip_string(body, name_end))?;
    let before = rskip_ws(body, name_start).checked_sub(1)?;
    (&body[name_start + 1..name_end - 1] == b"usage" && matches!(body[before], b',' | b'{')).then_some(found)
}

/// The raw values of `keys` in a JSON object, in one pass (the first of a repeated key).
fn read<'a, const N: usize>(object: &'a [u8], keys: [&str; N]) -> [Option<&'a [u8]>; N] {
    let mut found = [None; N];
    for (name, value) in members(object) {
        if let Some(k) = keys.iter().position(|k| k.as_bytes() == name) {
            found[k].get_or_insert(value);
        }
    }
    found
}

/// A whole number; 0 when absent or not a whole number.
fn count(value: Option<&[u8]>) -> u64 {
    let Some(digits) = value.filter(|v| !v.is_empty() && v.len() <= 19 && v.iter().all(u8::is_ascii_digit)) else {
        return 0;
    };
    digits.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'))
}

/// Whether `text` holds `"usage"` anywhere (a prebuilt searcher: this runs on every
/// chunk of a stream).
pub fn mentions_usage(text: &[u8]) -> bool {
    static USAGE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\"usage\""));
    USAGE.find(text).is_some()
}

/// Watches the `data:` payloads of an OpenAI stream for the final `usage` object. Payloads that
/// do not contain `"usage"` are not parsed at all, so the tap costs one substring search per
/// chunk.
#[derive(Debug, Clone, Default)]
pub struct OpenAiUsageTap {
    usage: Option<Usage>,
}

impl OpenAiUsageTap {
    /// A tap that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks at one `data:` payload.
    pub fn on_data(&mut self, data: &str) {
        if !mentions_usage(data.as_bytes()) {
            return;
        }
        // `"usage": null` (every chunk but the last, when usage was asked
        // for) reads as no usage.
        if let Some(usage) = Usage::from_openai_body(data.as_bytes()) {
            self.usage = Some(usage);
        }
    }

    /// The last usage seen, if any.
    pub fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// Watches an Anthropic stream for usage: input counts in `message_start`, cumulative output
/// (and sometimes input) counts in `message_delta`. Other events are not parsed.
#[derive(Debug, Clone, Default)]
pub struct AnthropicUsageTap {
    seen: bool,
    uncached_input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct RawUsage {
    #[serde(default)]
    pub(super) input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) output_tokens: Option<u64>,
    #[serde(default)]
    pub(super) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(super) cache_read_input_tokens: Option<u64>,
}

impl AnthropicUsageTap {
    /// A tap that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Looks at one event; `event_name` may be empty, then the payload's `type` decides.
    pub fn on_event(&mut self, event_name: &str, data: &str) {
        #[derive(Deserialize)]
        struct Start {
            message: StartMessage,
        }
        #[derive(Deserialize)]
        struct StartMessage {
            #[serde(default)]
            usage: Option<RawUsage>,
        }
        #[derive(Deserialize)]
        struct Delta {
            #[serde(default)]
            usage: Option<RawUsage>,
        }
        let is_start = event_name == "message_start" || (event_name.is_empty() && data.contains("\"message_start\""));
        let is_delta = event_name == "message_delta" || (event_name.is_empty() && data.contains("\"message_delta\""));
        let usage = if is_start {
            serde_json::from_str::<Start>(data).ok().and_then(|start| start.message.usage)
        } else if is_delta {
            serde_json::from_str::<Delta>(data).ok().and_then(|delta| delta.usage)
        } else {
            None
        };
        if let Some(usage) = usage {
            self.absorb(&usage);
        }
    }

    pub(super) fn absorb(&mut self, usage: &RawUsage) {
        self.seen = true;
        if let Some(n) = usage.input_tokens {
            self.uncached_input = n;
        }
        if let Some(n) = usage.output_tokens {
            self.output = n;
        }
        if let Some(n) = usage.cache_read_input_tokens {
            self.cache_read = n;
        }
        if let Some(n) = usage.cache_creation_input_tokens {
            self.cache_write = n;
        }
    }

    /// The usage so far, if any was seen.
    pub fn usage(&self) -> Option<Usage> {
        self.seen
            .then(|| Usage::from_anthropic_parts(self.uncached_input, self.output, self.cache_read, self.cache_write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = serde_json::Value> {
        prop_oneof![
            any::<u32>().prop_map(|n| serde_json::json!(n)),
            Just(serde_json::Value::Null),
            "[a-z\"\\\\{}:, ]{0,8}".prop_map(serde_json::Value::String),
            proptest::collection::btree_map("[a-z_]{1,6}", any::<u8>(), 0..3).prop_map(|m| serde_json::json!(m)),
        ]
    }

    proptest! {
        /// Read backwards in one pass, `usage` gives what the general skim gives; and
        /// it is found that way whenever it is the answer's last member.
        #[test]
        fn the_one_pass_read_agrees_with_the_skim(
            before in proptest::collection::btree_map("[a-c]", leaf(), 0..3),
            usage in proptest::collection::btree_map(
                prop::sample::select(vec!["prompt_tokens", "completion_tokens", "total_tokens", "prompt_tokens_details", "x"]),
                leaf(),
                0..5,
            ),
            after in proptest::option::of(leaf()),
            pretty in any::<bool>(),
        ) {
            let mut answer = serde_json::Map::new();
            for (k, v) in before {
                answer.insert(k, v);
            }
            answer.insert("usage".into(), serde_json::json!(usage));
            if let Some(v) = &after {
                answer.insert("zz".into(), v.clone());
            }
            let answer = serde_json::Value::Object(answer);
            let text = if pretty { serde_json::to_vec_pretty(&answer) } else { serde_json::to_vec(&answer) }.unwrap();
            let keys = ["prompt_tokens", "completion_tokens", "prompt_tokens_details"];
            let skimmed = usage_object(&text).map(|u| read(u, keys));
            prop_assert!(skimmed.is_some());
            let one_pass = last_usage(&text, keys);
            if after.is_none() {
                prop_assert_eq!(one_pass, skimmed);
            } else {
                prop_assert_eq!(one_pass, None);
            }
            prop_assert_eq!(read_usage(&text, keys), skimmed);
        }

        #[test]
        fn the_one_pass_read_never_panics(bytes in proptest::collection::vec(prop::sample::select(b"{}[]\":,\\ u1".to_vec()), 0..60)) {
            let mut text = b"{\"usage\":{".to_vec();
            text.extend(bytes);
            text.extend_from_slice(b"}}");
            let _ = read_usage(&text, ["u", "1"]);
        }
    }

    #[test]
    fn openai_usage_counts_cached_tokens() {
        let usage: openai::CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,
                "prompt_tokens_details":{"cached_tokens":64,"audio_tokens":0},
                "completion_tokens_details":{"reasoning_tokens":5}}"#,
        )
        .unwrap();
        let usage = Usage::from_openai(&usage);
        assert_eq!(
            usage,
            Usage { input_tokens: 100, output_tokens: 20, cached_input_tokens: 64, cache_creation_input_tokens: 0 }
        );
        assert_eq!(usage.total_tokens(), 120);
        assert_eq!(usage.uncached_input_tokens(), 36);
    }

    #[test]
    fn anthropic_usage_adds_cache_reads_and_writes_to_input() {
        let usage: anthropic::Usage = serde_json::from_str(
            r#"{"input_tokens":10,"output_tokens":7,"cache_read_input_tokens":90,
                "cache_creation_input_tokens":5}"#,
        )
        .unwrap();
        let usage = Usage::from_anthropic(&usage);
        assert_eq!(usage.input_tokens, 105);
        assert_eq!(usage.cached_input_tokens, 90);
        assert_eq!(usage.cache_creation_input_tokens, 5);
        assert_eq!(usage.uncached_input_tokens(), 10);
        let back = usage.to_anthropic();
        assert_eq!(back.input_tokens, 10);
        assert_eq!(back.cache_read_input_tokens, Some(90));
        let openai = usage.to_openai();
        assert_eq!(openai.prompt_tokens, 105);
        assert_eq!(openai.total_tokens, 112);
        assert_eq!(openai.prompt_tokens_details.and_then(|d| d.cached_tokens), Some(90));
    }

    #[test]
    fn usage_from_whole_bodies() {
        let chat = br#"{"id":"x","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#;
        assert_eq!(Usage::from_openai_body(chat).map(|u| (u.input_tokens, u.output_tokens)), Some((3, 4)));
        let embeddings = br#"{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}"#;
        assert_eq!(Usage::from_openai_body(embeddings).map(|u| u.input_tokens), Some(8));
        assert_eq!(Usage::from_openai_body(b"{\"choices\":[]}"), None);
        assert_eq!(Usage::from_openai_body(b"not json"), None);
        let messages = br#"{"id":"m","type":"message","usage":{"input_tokens":1,"output_tokens":2,"cache_read_input_tokens":null}}"#;
        assert_eq!(Usage::from_anthropic_body(messages).map(|u| (u.input_tokens, u.output_tokens)), Some((1, 2)));
    }

    #[test]
    fn openai_tap_reads_only_the_usage_chunk() {
        let mut tap = OpenAiUsageTap::new();
        tap.on_data(r#"{"id":"c","choices":[{"index":0,"delta":{"content":"say \"usage\""}}]}"#);
        assert_eq!(tap.usage(), None);
        tap.on_data(r#"{"id":"c","choices":[{"index":0,"delta":{}}],"usage":null}"#);
        assert_eq!(tap.usage(), None);
        tap.on_data(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4}}}"#,
        );
        tap.on_data("[DONE]");
        assert_eq!(
            tap.usage(),
            Some(Usage { input_tokens: 9, output_tokens: 2, cached_input_tokens: 4, cache_creation_input_tokens: 0 })
        );
    }

    #[test]
    fn anthropic_tap_combines_start_and_delta() {
        let mut tap = AnthropicUsageTap::new();
        assert_eq!(tap.usage(), None);
        tap.on_event(
            "message_start",
            r#"{"type":"message_start","message":{"id":"m","type":"message","role":"assistant","content":[],"model":"c","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1,"cache_read_input_tokens":100,"cache_creation_input_tokens":0}}}"#,
        );
        tap.on_event("ping", r#"{"type":"ping"}"#);
        tap.on_event(
            "",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}"#,
        );
        assert_eq!(
            tap.usage(),
            Some(Usage {
                input_tokens: 125,
                output_tokens: 15,
                cached_input_tokens: 100,
                cache_creation_input_tokens: 0
            })
        );
    }
}

/// The text an event stream carries to its reader, in bytes of decoded
/// characters: the string values of `content`, `text`, `arguments`,
/// `partial_json`, `thinking` and `reasoning_content`, in either API's
/// events. What a stream cut short before its usage is charged for.
pub fn delivered_text(frame: &[u8]) -> u64 {
    static KEYS: std::sync::LazyLock<Vec<memchr::memmem::Finder<'static>>> = std::sync::LazyLock::new(|| {
        ["\"content\":", "\"text\":", "\"arguments\":", "\"partial_json\":", "\"thinking\":", "\"reasoning_content\":"]
            .into_iter()
            .map(memchr::memmem::Finder::new)
            .collect()
    });
    let mut total = 0;
    for key in KEYS.iter() {
        for at in key.find_iter(frame) {
            let mut i = at + key.needle().len();
            while frame.get(i).is_some_and(|b| b.is_ascii_whitespace()) {
                i += 1;
            }
            if frame.get(i) != Some(&b'"') {
                continue;
            }
            i += 1;
            while let Some(&b) = frame.get(i) {
                match b {
                    b'"' => break,
                    b'\\' if frame.get(i + 1) == Some(&b'u') => i += 6,
                    b'\\' => i += 2,
                    _ => i += 1,
                }
                total += 1;
            }
        }
    }
    total
}

#[cfg(test)]
mod delivered_tests {
    use super::delivered_text;

    #[test]
    fn counts_the_text_of_either_api_s_events() {
        let openai = br#"data: {"choices":[{"delta":{"content":"Hi \"you\"\n"}}]}"#;
        assert_eq!(delivered_text(openai), 9);
        let anthropic = br#"data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"caf\u00e9"}}"#;
        assert_eq!(delivered_text(anthropic), 4);
        assert_eq!(delivered_text(br#"{"content": null}"#), 0);
        assert_eq!(delivered_text(br#"{"content":"unterminated"#), 12);
    }
}
