//! A mock LLM provider speaking the real OpenAI and Anthropic wire formats,
//! for end-to-end tests and as the baseline of latency benchmarks.
//!
//! Endpoints: `POST /v1/chat/completions`, `POST /v1/completions`,
//! `POST /v1/embeddings`, `GET /v1/models` (and `GET /models`; Anthropic's
//! format when `anthropic-version` is sent), `POST /v1/messages` and
//! `POST /v1/messages/count_tokens`. Answers are deterministic: the text is
//! `"mock reply to: "` plus the first 40 characters of the last user message,
//! or a call of the first tool when tools are offered and the last message
//! contains `"call tool"`.
//!
//! Faults are injected per request with `x-mock-status`, `x-mock-delay-ms`,
//! `x-mock-trickle-ms`, `x-mock-disconnect-after` and `x-mock-reset` headers,
//! or for every request with [`Knobs`] (set at start, via
//! [`MockServer::set_knobs`], or `POST /_mock/config`). `GET /_mock/stats`
//! counts requests per path and `DELETE /_mock/stats` resets the counts.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use hapax_mock_upstream::{Config, MockServer};
//! let server = MockServer::start("127.0.0.1:0".parse().unwrap(), Config::default()).await?;
//! println!("{}", server.url("/v1/chat/completions"));
//! # Ok(()) }
//! ```

mod anthropic;
mod body;
mod common;
mod openai;
mod server;

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::server::{Counters, State};

/// Fault knobs. Request headers override them one by one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Knobs {
    /// Answer every API request with this status (400-599) and a proper error
    /// body; 429 also sets `retry-after: 1`.
    pub status: Option<u16>,
    /// Wait this long before answering the headers.
    pub delay_ms: u64,
    /// Wait this long between stream events.
    pub trickle_ms: u64,
    /// Close the connection abruptly after this many stream events (streaming
    /// responses only; the events sent are complete).
    pub disconnect_after: Option<usize>,
    /// Drop the TCP connection (with a reset) without any response. Over h2
    /// this drops every stream of the connection.
    pub reset: bool,
    /// Admit at most this many API requests per second (a fixed window, as
    /// a provider's rate limit): the rest get 429 with `retry-after`, and
    /// every answer carries OpenAI's `x-ratelimit-*-requests` headers.
    pub rate_limit: Option<u64>,
}

impl Knobs {
    /// Checks that `status` is an error status.
    pub fn validate(&self) -> Result<(), String> {
        match self.status {
            Some(status) if !(400..=599).contains(&status) => {
                Err(format!("mock status must be within 400-599, got {status}"))
            }
            _ => Ok(()),
        }
    }
}

/// Startup configuration of a [`MockServer`].
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Initial process-wide fault knobs.
    pub knobs: Knobs,
    /// Extra latency added to every API request (baseline benchmarks).
    pub latency: Duration,
    /// When set, OpenAI paths require `Authorization: Bearer KEY` and
    /// Anthropic paths `x-api-key: KEY`.
    pub require_key: Option<String>,
}

/// Request counts, as served by `GET /_mock/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// All API requests received (`/_mock` requests excluded).
    pub requests: u64,
    /// Requests per path.
    pub by_path: BTreeMap<String, u64>,
    /// Requests answered 429 by `rate_limit` (left out when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rate_limited: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A running mock upstream; dropping it stops accepting connections.
pub struct MockServer {
    addr: SocketAddr,
    state: Arc<State>,
    accept: JoinHandle<()>,
}

impl MockServer {
    /// Binds `addr` (port 0 picks a free port) and serves in the background
    /// on the current tokio runtime.
    pub async fn start(addr: SocketAddr, config: Config) -> io::Result<Self> {
        config.knobs.validate().map_err(io::Error::other)?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            latency: config.latency,
            require_key: config.require_key,
            knobs: RwLock::new(config.knobs),
            counters: Counters::default(),
            window: std::sync::Mutex::new((0, 0)),
        });
        let accept = tokio::spawn(server::accept_loop(listener, state.clone()));
        Ok(Self { addr, state, accept })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replaces the process-wide knobs, like `POST /_mock/config`.
    pub fn set_knobs(&self, knobs: Knobs) {
        self.state.set_knobs(knobs);
    }

    /// The current process-wide knobs.
    pub fn knobs(&self) -> Knobs {
        self.state.knobs()
    }

    /// Current request counts.
    pub fn stats(&self) -> Stats {
        self.state.counters.snapshot()
    }

    /// Waits until the server stops (it never does on its own).
    pub async fn wait(mut self) {
        // Only a panic or abort can end the accept loop; either way we're done.
        let _ = (&mut self.accept).await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
