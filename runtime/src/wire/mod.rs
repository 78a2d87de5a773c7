//! The wire formats the gateway speaks and translates between: OpenAI Chat Completions (plus
//! legacy Completions, Embeddings and Models) and Anthropic Messages.
//!
//! [`openai`] and [`anthropic`] hold serde types that round-trip unknown fields, so a body
//! forwarded to an upstream of its own format loses nothing. [`translate`] converts requests,
//! responses, streams, usage and errors between the two; [`sse`] parses upstream event streams
//! incrementally; [`scan`] checks a request body and reads the fields the gateway routes on, in
//! one pass. Everything here is pure and synchronous: no tokio, no I/O, so the data plane
//! can call it from any task and tests run without a runtime.

pub mod anthropic;
pub mod openai;
pub mod scan;
mod serde_util;
pub mod sse;
pub mod translate;

pub use serde_util::Extra;
pub use sse::{SseEvent, SseParser};
pub use translate::{
    anthropic_error_to_openai, anthropic_request_to_openai, anthropic_response_to_openai, error_type_for_status,
    finish_reason_for_stop_reason, mentions_usage, openai_error_to_anthropic, openai_request_to_anthropic,
    openai_response_to_anthropic, status_for_error_type, stop_reason_for_finish_reason, upstream_error_to_anthropic,
    upstream_error_to_openai, AnthropicToOpenAiStream, AnthropicUsageTap, Api, OpenAiToAnthropicStream, OpenAiUsageTap,
    TranslateError, Usage,
};
