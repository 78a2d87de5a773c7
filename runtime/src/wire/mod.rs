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

/// Appends `n` in decimal.
pub fn put_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub use sse::{SseEvent, SseParser};
pub use translate::{
    anthropic_error_to_openai, anthropic_request_to_openai, anthropic_response_to_openai, delivered_text,
    error_type_for_status, finish_reason_for_stop_reason, mentions_usage, openai_error_to_anthropic,
    openai_request_to_anthropic, openai_response_to_anthropic, status_for_error_type, stop_reason_for_finish_reason,
    upstream_error_to_anthropic, upstream_error_to_openai, AnthropicToOpenAiStream, AnthropicUsageTap, Api,
    OpenAiToAnthropicStream, OpenAiUsageTap, TranslateError, Usage,
};

#[cfg(test)]
mod tests {
    use super::put_decimal;

    #[test]
    fn numbers_print_in_decimal() {
        for n in [0, 7, 10, 1234567890, u64::MAX] {
            let mut buf = Vec::new();
            put_decimal(&mut buf, n);
            assert_eq!(String::from_utf8_lossy(&buf), n.to_string());
        }
    }
}
