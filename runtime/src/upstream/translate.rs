//! Format translation: when the client speaks one API and the provider
//! another (OpenAI client → Anthropic provider, Anthropic client → OpenAI
//! provider), requests, answers, streams and errors are converted with the
//! `wire` module. When both speak the same API the body passes through as
//! bytes, rewritten only when the target names another model.

use crate::http::error::GatewayError;
use crate::http::ingress::Ingress;
use crate::wire::Api;
use crate::wire::{self, anthropic as a, openai as o, SseParser, Usage};
use bytes::Bytes;
use std::collections::VecDeque;

/// `max_tokens` is required by Anthropic; this is used when the OpenAI
/// client did not set one.
const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The body to send upstream.
pub fn request_body(ingress: &Ingress, to: Api, model: &str, rewrite: bool) -> Result<Bytes, GatewayError> {
    let out = match (ingress.api(), to) {
        (from, to) if from == to => {
            if !rewrite {
                return Ok(ingress.raw.clone());
            }
            let mut v = ingress.json().cloned().unwrap_or_default();
            if let Some(obj) = v.as_object_mut() {
                obj.insert("model".into(), serde_json::Value::String(model.to_string()));
            }
            serde_json::to_vec(&v)
        }
        (Api::OpenAi, _) => {
            let req: o::ChatRequest = serde_json::from_slice(&ingress.raw).map_err(|e| {
                GatewayError::bad_request(format!("the request is not a valid chat completion request: {e}"))
            })?;
            let mut out = wire::openai_request_to_anthropic(&req, DEFAULT_MAX_TOKENS).map_err(translate_error)?;
            out.model = model.to_string();
            serde_json::to_vec(&out)
        }
        (Api::Anthropic, _) => {
            let req: a::MessagesRequest = serde_json::from_slice(&ingress.raw)
                .map_err(|e| GatewayError::bad_request(format!("the request is not a valid messages request: {e}")))?;
            let mut out = wire::anthropic_request_to_openai(&req).map_err(translate_error)?;
            out.model = model.to_string();
            serde_json::to_vec(&out)
        }
    };
    out.map(Bytes::from).map_err(|e| GatewayError::internal(format!("cannot encode the upstream request: {e}")))
}

fn translate_error(e: wire::TranslateError) -> GatewayError {
    if e.is_upstream() {
        GatewayError::protocol("upstream", e)
    } else {
        GatewayError::unsupported(e.to_string())
    }
}

/// A whole answer from the provider, in the client's format, and its usage.
/// An answer already in that format is passed on as it is,
/// with no usage: the caller reads it later ([`Usage::from_body`]).
pub fn response_body(
    api: Api,
    from: Api,
    provider: &str,
    body: Bytes,
    model: &str,
) -> Result<(Bytes, Option<Usage>), GatewayError> {
    if api == from {
        return Ok((body, None));
    }
    let out = match api {
        Api::OpenAi => {
            let resp: a::MessagesResponse =
                serde_json::from_slice(&body).map_err(|e| GatewayError::protocol(provider, e))?;
            let usage = Usage::from_anthropic(&resp.usage);
            (serde_json::to_vec(&wire::anthropic_response_to_openai(&resp, model)), usage)
        }
        Api::Anthropic => {
            let resp: o::ChatResponse =
                serde_json::from_slice(&body).map_err(|e| GatewayError::protocol(provider, e))?;
            let usage = resp.usage.as_ref().map(Usage::from_openai).unwrap_or_default();
            (serde_json::to_vec(&wire::openai_response_to_anthropic(&resp, model)), usage)
        }
    };
    let bytes = out.0.map_err(|e| GatewayError::internal(format!("cannot encode the answer: {e}")))?;
    Ok((Bytes::from(bytes), Some(out.1)))
}

/// Watches or converts a stream, event by event.
pub enum StreamConv {
    /// Same format: chunks pass as they are; usage is read on the side.
    PassOpenAi(wire::OpenAiUsageTap),
    PassAnthropic(wire::AnthropicUsageTap),
    /// Anthropic provider, OpenAI client.
    ToOpenAi(Box<wire::AnthropicToOpenAiStream>),
    /// OpenAI provider, Anthropic client.
    ToAnthropic(Box<wire::OpenAiToAnthropicStream>),
}

impl StreamConv {
    pub fn new(api: Api, from: Api, model: &str, id: &str, include_usage: bool) -> Self {
        match (api, from) {
            (Api::OpenAi, Api::Anthropic) => StreamConv::ToOpenAi(Box::new(wire::AnthropicToOpenAiStream::new(
                model,
                format!("chatcmpl-{id}"),
                include_usage,
            ))),
            (Api::Anthropic, Api::OpenAi) => {
                StreamConv::ToAnthropic(Box::new(wire::OpenAiToAnthropicStream::new(model, format!("msg_{id}"))))
            }
            (Api::OpenAi, _) => StreamConv::PassOpenAi(Default::default()),
            (Api::Anthropic, _) => StreamConv::PassAnthropic(Default::default()),
        }
    }

    /// Takes one upstream chunk; pushes the frames to send. An error means
    /// the upstream sent garbage: the stream must end.
    pub fn on_chunk(&mut self, parser: &mut SseParser, chunk: Bytes, out: &mut VecDeque<Bytes>) -> Result<(), String> {
        let mut failed: Option<String> = None;
        match self {
            // Whole events with no `"usage"` in them tell the tap nothing:
            // they are not parsed at all.
            StreamConv::PassOpenAi(_) if !wire::mentions_usage(&chunk) && parser.pass_whole(&chunk) => {}
            StreamConv::PassOpenAi(tap) => parser.feed_each(&chunk, |_, data| tap.on_data(data)),
            StreamConv::PassAnthropic(tap) => {
                parser.feed_each(&chunk, |event, data| tap.on_event(event.unwrap_or(""), data))
            }
            StreamConv::ToOpenAi(t) => {
                parser.feed_each(&chunk, |event, data| emit(&mut failed, out, || t.on_event(event.unwrap_or(""), data)))
            }
            StreamConv::ToAnthropic(t) => {
                parser.feed_each(&chunk, |_, data| emit(&mut failed, out, || t.on_data(data)))
            }
        }
        if parser.overflowed() {
            return Err("a line or an event of the provider's stream is longer than max_event".into());
        }
        if matches!(self, StreamConv::PassOpenAi(_) | StreamConv::PassAnthropic(_)) {
            out.push_back(chunk);
        }
        failed.map_or(Ok(()), Err)
    }

    /// The upstream ended cleanly: flush what the translation still owes.
    pub fn finish(&mut self, parser: &mut SseParser, out: &mut VecDeque<Bytes>) {
        let last = parser.finish();
        match self {
            StreamConv::PassOpenAi(tap) => {
                if let Some(e) = last {
                    tap.on_data(&e.data);
                }
            }
            StreamConv::PassAnthropic(tap) => {
                if let Some(e) = last {
                    tap.on_event(e.event.as_deref().unwrap_or(""), &e.data);
                }
            }
            StreamConv::ToOpenAi(t) => {
                if let Some(e) = last {
                    if let Ok(frames) = t.on_event(e.event.as_deref().unwrap_or(""), &e.data) {
                        out.extend(frames);
                    }
                }
                out.extend(t.finish());
            }
            StreamConv::ToAnthropic(t) => {
                if let Some(e) = last {
                    if let Ok(frames) = t.on_data(&e.data) {
                        out.extend(frames);
                    }
                }
                out.extend(t.finish());
            }
        }
    }

    pub fn usage(&self) -> Option<Usage> {
        match self {
            StreamConv::PassOpenAi(t) => t.usage(),
            StreamConv::PassAnthropic(t) => t.usage(),
            StreamConv::ToOpenAi(t) => t.usage(),
            StreamConv::ToAnthropic(t) => t.usage(),
        }
    }
}

/// Adds a translator's frames for one event to `out`; after its first error
/// that error is kept and later events are not translated.
fn emit(
    failed: &mut Option<String>,
    out: &mut VecDeque<Bytes>,
    frames: impl FnOnce() -> Result<Vec<Bytes>, wire::TranslateError>,
) {
    if failed.is_none() {
        match frames() {
            Ok(frames) => out.extend(frames),
            Err(e) => *failed = Some(e.to_string()),
        }
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;
    use proptest::prelude::*;

    /// An OpenAI stream: content chunks (with `"usage": null` when `nulls`),
    /// a usage chunk, `[DONE]`.
    fn openai_stream(words: &[String], nulls: bool, prompt: u64, completion: u64) -> String {
        let null = if nulls { r#","usage":null"# } else { "" };
        let mut text = String::new();
        for w in words {
            text.push_str(&format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{w}\"}}}}]{null}}}\n\n"
            ));
        }
        text.push_str(&format!(
            "data: {{\"id\":\"c\",\"choices\":[],\"usage\":{{\"prompt_tokens\":{prompt},\"completion_tokens\":{completion},\"total_tokens\":{}}}}}\n\n",
            prompt + completion
        ));
        text.push_str("data: [DONE]\n\n");
        text
    }

    proptest! {
        /// However the stream is cut into chunks, it passes unchanged and its
        /// usage is read, whether or not chunks are skipped unparsed.
        #[test]
        fn a_passed_stream_is_unchanged_and_its_usage_read(
            words in proptest::collection::vec("[a-z \"]{0,6}", 0..6),
            nulls in any::<bool>(),
            prompt in 0u64..100_000,
            completion in 0u64..100_000,
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        ) {
            let words: Vec<String> = words.iter().map(|w| w.replace('"', "\\\"")).collect();
            let text = openai_stream(&words, nulls, prompt, completion);
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(text.len() + 1)).collect();
            at.push(0);
            at.push(text.len());
            at.sort_unstable();
            let mut conv = StreamConv::new(Api::OpenAi, Api::OpenAi, "m", "id", true);
            let mut parser = SseParser::new();
            let mut out = VecDeque::new();
            for pair in at.windows(2) {
                let chunk = Bytes::copy_from_slice(&text.as_bytes()[pair[0]..pair[1]]);
                prop_assert!(conv.on_chunk(&mut parser, chunk, &mut out).is_ok());
            }
            conv.finish(&mut parser, &mut out);
            let passed: Vec<u8> = out.iter().flat_map(|b| b.iter().copied()).collect();
            prop_assert_eq!(passed, text.as_bytes().to_vec());
            let usage = conv.usage();
            prop_assert_eq!(usage.map(|u| (u.input_tokens, u.output_tokens)), Some((prompt, completion)));
        }
    }
}
