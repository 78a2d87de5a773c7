//! Translation between the OpenAI Chat Completions and Anthropic Messages formats, both ways:
//! requests, responses, streams (as incremental state machines that emit ready-to-write SSE
//! frames), usage extraction and error bodies.
//!
//! Everything here is pure and synchronous: no I/O, no clock except the `created` timestamp of
//! OpenAI responses. A request that cannot be expressed in the target format is refused with a
//! [`TranslateError`] (HTTP 400) rather than silently changed in meaning; fields that have no
//! counterpart and do not change the answer's meaning (`top_k`, `seed`, `response_format`, ...)
//! are dropped.

use std::fmt;

mod error_map;
mod fast_json;
mod request;
mod response;
mod to_anthropic_stream;
mod to_openai_stream;
mod usage;

pub use error_map::{
    anthropic_error_to_openai, error_type_for_status, openai_error_to_anthropic, status_for_error_type,
    upstream_error_to_anthropic, upstream_error_to_openai,
};
pub use request::{anthropic_request_to_openai, openai_request_to_anthropic};
pub use response::{
    anthropic_response_to_openai, finish_reason_for_stop_reason, openai_response_to_anthropic,
    stop_reason_for_finish_reason,
};
pub use to_anthropic_stream::OpenAiToAnthropicStream;
pub use to_openai_stream::AnthropicToOpenAiStream;
pub use usage::{delivered_text, mentions_usage, AnthropicUsageTap, OpenAiUsageTap, Usage};

use super::{anthropic, openai};

/// One of the two wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Api {
    /// OpenAI Chat Completions.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::OpenAi => "openai",
            Self::Anthropic => "anthropic",
        })
    }
}

/// Why a body could not be translated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranslateError {
    /// The request uses something the target format cannot express.
    #[error("{feature} cannot be expressed in the {target} api")]
    Unsupported {
        /// What it is, with user input in backticks.
        feature: String,
        /// The format translated to.
        target: Api,
    },
    /// A message is malformed.
    #[error("invalid message at index {index}: {reason}")]
    InvalidMessage {
        /// The message's position in `messages`.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A tool call's `arguments` are not a JSON object.
    #[error("the arguments of tool call `{id}` are not a json object")]
    InvalidToolArguments {
        /// The tool call's id.
        id: String,
        /// The parse error, when the text is not JSON at all.
        #[source]
        source: Option<serde_json::Error>,
    },
    /// An image URL is neither `http(s)` nor a base64 `data:` URL.
    #[error("invalid image url: {reason}")]
    InvalidImageUrl {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The upstream sent a stream event that is not valid JSON of the expected shape.
    #[error("the {api} upstream sent an invalid stream event: {source}")]
    UpstreamEvent {
        /// The upstream's format.
        api: Api,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

impl TranslateError {
    /// Whether the upstream, not the client, is at fault.
    pub fn is_upstream(&self) -> bool {
        matches!(self, Self::UpstreamEvent { .. })
    }

    /// The HTTP status to answer the client with: 502 for upstream faults, 400 otherwise.
    pub fn status(&self) -> u16 {
        if self.is_upstream() {
            502
        } else {
            400
        }
    }

    /// This error as an OpenAI error body.
    pub fn to_openai_error(&self) -> openai::ErrorBody {
        openai::ErrorBody::new(error_type_for_status(self.status()), self.to_string())
    }

    /// This error as an Anthropic error body.
    pub fn to_anthropic_error(&self) -> anthropic::ErrorBody {
        anthropic::ErrorBody::new(error_type_for_status(self.status()), self.to_string())
    }

    fn unsupported(feature: impl Into<String>, target: Api) -> Self {
        Self::Unsupported { feature: feature.into(), target }
    }
}

#[cfg(test)]
mod tests_request;
#[cfg(test)]
mod tests_response;
#[cfg(test)]
mod tests_stream;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_status_and_render_lowercase() {
        let err = TranslateError::unsupported("content part `input_audio`", Api::Anthropic);
        assert_eq!(err.status(), 400);
        assert_eq!(err.to_string(), "content part `input_audio` cannot be expressed in the anthropic api");
        let body = err.to_openai_error();
        assert_eq!(body.error.kind, "invalid_request_error");

        let source = match serde_json::from_str::<serde_json::Value>("{") {
            Err(source) => source,
            Ok(_) => unreachable!("`{{` is not json"),
        };
        let err = TranslateError::UpstreamEvent { api: Api::OpenAi, source };
        assert!(err.is_upstream());
        assert_eq!(err.status(), 502);
        assert_eq!(err.to_anthropic_error().error.kind, "api_error");
    }
}
