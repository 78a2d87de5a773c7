//! The hapax gateway data plane: `hapax serve`.
//!
//! It loads a checked policy into an immutable snapshot (the compiled
//! routing graph plus each provider's runtime), serves the OpenAI and
//! Anthropic APIs over HTTP/1.1, h2c and TLS, and runs every request through
//! the stages listed in [`pipeline`]: ingress, route matching, target choice
//! with retries, fallbacks, circuit breakers and health checks, format
//! translation, streaming, accounting. Policy edits are picked up without a
//! restart; state of unchanged providers survives them.

#![forbid(unsafe_code)]

pub mod enforcement;
pub mod wire;

mod account;
mod admin;
mod ascii;
mod body;
mod breaker;
mod builtin;
mod busy_poll;
mod error;
mod execute;
mod http1;
mod ingress;
mod listen;
mod logging;
mod metrics;
mod mock;
mod outbound;
pub mod pipeline;
mod policy;
mod reload;
mod request;
mod respond;
mod response;
mod serve;
mod snapshot;
mod state;
mod stream;
mod tls;
mod translate;
mod upstream;
mod workers;

/// Runs `hapax serve` over the given policy files or folders (the
/// quickstart when none); returns the process exit status.
pub fn serve(paths: &[std::path::PathBuf]) -> u8 {
    serve::run(paths)
}
