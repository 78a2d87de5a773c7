//! `mock-upstream`: serves the mock LLM provider until killed.
//!
//! Prints `listening on ADDR` once bound. `MOCK_REQUIRE_KEY` (if set and
//! non-empty) makes API requests require that key.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use hapax_mock_upstream::{Config, Knobs, MockServer};

/// A mock OpenAI / Anthropic upstream with fault knobs.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Answer every API request with this error status.
    #[arg(long, value_parser = clap::value_parser!(u16).range(400..=599))]
    status: Option<u16>,
    /// Wait this many milliseconds before answering the headers.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Wait this many milliseconds between stream events.
    #[arg(long, default_value_t = 0)]
    trickle_ms: u64,
    /// Close streams abruptly after this many events.
    #[arg(long)]
    disconnect_after: Option<usize>,
    /// Drop every connection without answering.
    #[arg(long)]
    reset: bool,
    /// Fixed latency added to every API request (kept by `POST /_mock/config`).
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = Config {
        knobs: Knobs {
            status: args.status,
            delay_ms: args.delay_ms,
            trickle_ms: args.trickle_ms,
            disconnect_after: args.disconnect_after,
            reset: args.reset,
            rate_limit: None,
        },
        latency: Duration::from_millis(args.latency_ms),
        require_key: std::env::var("MOCK_REQUIRE_KEY").ok().filter(|k| !k.is_empty()),
    };
    let server = match MockServer::start(args.listen, config).await {
        Ok(server) => server,
        Err(e) => {
            eprintln!("mock-upstream: cannot listen on {}: {e}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on {}", server.addr()).and_then(|()| stdout.flush()).is_err() {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    server.wait().await;
    ExitCode::SUCCESS
}
