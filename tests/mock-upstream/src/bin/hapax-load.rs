//! `hapax-load`: a small, repeatable HTTP load generator for benchmarks.
//!
//! Each of `--concurrency` workers owns one keep-alive connection (HTTP/1.1,
//! or h2c with `--http2`) and sends POSTs back to back until `--duration`
//! has passed or `--requests` measured requests were issued. Requests started
//! during `--warmup` are not measured; requests still in flight at the end of
//! the duration are not counted. Prints one JSON line:
//!
//! `{"requests","errors","non_2xx","duration_s","rps","p50_us","p90_us",
//! "p99_us","max_us","ttfb_p50_us","ttfb_p99_us"}`
//!
//! `requests` counts responses (any status) and `rps` is `requests /
//! duration_s`; `errors` counts connection failures, protocol errors and
//! timeouts. Latency is from sending the request to the end of the response
//! body; with `--stream`, `ttfb_*` is the time to the first body byte (null
//! otherwise). Percentiles are null when nothing was measured.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST};
use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde::Serialize;
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, timeout_at, Instant};

/// Pause after a failed connect so a dead target is not hammered.
const CONNECT_BACKOFF: Duration = Duration::from_millis(10);
/// Duration when neither `--duration` nor `--requests` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);

/// Sends POST requests over keep-alive connections and reports latency.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Target URL (http:// only).
    #[arg(long)]
    url: String,
    /// Concurrent workers, each with its own connection.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    concurrency: u32,
    /// How long to measure, e.g. 10s, 500ms, 2m [default: 10s unless --requests is given].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Stop after this many measured requests.
    #[arg(long)]
    requests: Option<u64>,
    /// Run this long before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    warmup: Duration,
    /// File holding the request body.
    #[arg(long, conflicts_with = "body_json")]
    body: Option<PathBuf>,
    /// The request body inline [default: a small chat completion request].
    #[arg(long)]
    body_json: Option<String>,
    /// Extra request header `name: value` (repeatable).
    #[arg(long = "header", value_parser = parse_header)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// Measure time to first byte too (the default body then asks for a stream).
    #[arg(long)]
    stream: bool,
    /// Use HTTP/2 with prior knowledge (h2c).
    #[arg(long)]
    http2: bool,
    /// Per-request timeout; a timed-out request counts as an error.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    timeout: Duration,
}

/// Everything the workers share.
struct Plan {
    addr: (String, u16),
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    http2: bool,
    stream: bool,
    timeout: Duration,
    measure_start: Instant,
    deadline: Option<Instant>,
    max_requests: Option<u64>,
    issued: AtomicU64,
}

impl Plan {
    fn new(args: Args) -> Result<Self, String> {
        let uri: Uri = args.url.parse().map_err(|e| format!("invalid --url: {e}"))?;
        if uri.scheme_str() != Some("http") {
            return Err("--url must start with http://".into());
        }
        let authority = uri.authority().ok_or("--url has no host")?.clone();
        let addr = (authority.host().to_owned(), authority.port_u16().unwrap_or(80));

        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let uri = if args.http2 {
            uri
        } else {
            let host = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
            headers.insert(HOST, host);
            // HTTP/1.1 requests use the origin form: path and query only.
            let path = uri.path_and_query().map_or("/", |p| p.as_str());
            path.parse().map_err(|e| format!("invalid --url path: {e}"))?
        };
        for (name, value) in args.headers {
            headers.insert(name, value);
        }

        let body = match (args.body, args.body_json) {
            (Some(path), _) => {
                std::fs::read(&path).map_err(|e| format!("cannot read --body {}: {e}", path.display()))?.into()
            }
            (None, Some(json)) => json.into(),
            (None, None) => format!(
                r#"{{"model":"mock","stream":{},"messages":[{{"role":"user","content":"Hello from hapax-load"}}]}}"#,
                args.stream
            )
            .into(),
        };

        let duration = match (args.duration, args.requests) {
            (None, None) => Some(DEFAULT_DURATION),
            (duration, _) => duration,
        };
        let measure_start = Instant::now() + args.warmup;
        Ok(Self {
            addr,
            uri,
            headers,
            body,
            http2: args.http2,
            stream: args.stream,
            timeout: args.timeout,
            measure_start,
            deadline: duration.map(|d| measure_start + d),
            max_requests: args.requests,
            issued: AtomicU64::new(0),
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut req = Request::new(Full::new(self.body.clone()));
        *req.method_mut() = Method::POST;
        *req.uri_mut() = self.uri.clone();
        *req.headers_mut() = self.headers.clone();
        req
    }

    /// Claims one measured request; false once `--requests` are used up.
    fn claim(&self) -> bool {
        self.max_requests.is_none_or(|max| self.issued.fetch_add(1, Ordering::Relaxed) < max)
    }
}

/// One worker's connection.
enum Sender {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    async fn connect(plan: &Plan) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let tcp = TcpStream::connect((plan.addr.0.as_str(), plan.addr.1)).await?;
        tcp.set_nodelay(true)?;
        let io = TokioIo::new(tcp);
        Ok(if plan.http2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await?;
            tokio::spawn(conn);
            Self::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await?;
            tokio::spawn(conn);
            Self::H1(sender)
        })
    }

    async fn ready(&mut self) -> hyper::Result<()> {
        match self {
            Self::H1(s) => s.ready().await,
            Self::H2(s) => s.ready().await,
        }
    }

    async fn send(&mut self, req: Request<Full<Bytes>>) -> hyper::Result<Response<Incoming>> {
        match self {
            Self::H1(s) => s.send_request(req).await,
            Self::H2(s) => s.send_request(req).await,
        }
    }
}

/// A completed request.
struct Sample {
    ok: bool,
    total: Duration,
    ttfb: Option<Duration>,
}

/// Why a request failed.
enum Failure {
    Connect,
    Request,
}

/// Counts and histograms (microseconds) of one worker, or of all.
struct Tally {
    requests: u64,
    errors: u64,
    non_2xx: u64,
    latency: Histogram<u64>,
    ttfb: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        // Auto-resizing histograms with 3 significant figures.
        #[expect(clippy::expect_used, reason = "3 significant figures is within hdrhistogram's 0..=5")]
        let histogram = || Histogram::new(3).expect("3 significant figures is valid");
        Self { requests: 0, errors: 0, non_2xx: 0, latency: histogram(), ttfb: histogram() }
    }

    fn record(&mut self, sample: &Sample) {
        self.requests += 1;
        if !sample.ok {
            self.non_2xx += 1;
        }
        record_us(&mut self.latency, sample.total);
        if let Some(ttfb) = sample.ttfb {
            record_us(&mut self.ttfb, ttfb);
        }
    }

    fn merge(&mut self, other: &Self) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.non_2xx += other.non_2xx;
        // Both are auto-resizing, so adding cannot run out of range.
        let _ = self.latency.add(&other.latency);
        let _ = self.ttfb.add(&other.ttfb);
    }
}

fn record_us(histogram: &mut Histogram<u64>, duration: Duration) {
    let us = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX).max(1);
    if histogram.record(us).is_err() {
        histogram.saturating_record(us);
    }
}

async fn worker(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::new();
    let mut sender = None;
    loop {
        let now = Instant::now();
        if plan.deadline.is_some_and(|d| now >= d) {
            break;
        }
        let measured = now >= plan.measure_start;
        if measured && !plan.claim() {
            break;
        }
        let attempt = timeout(plan.timeout, send_one(&plan, &mut sender));
        let outcome = match plan.deadline {
            Some(deadline) => match timeout_at(deadline, attempt).await {
                Ok(outcome) => outcome,
                // Cut off by the end of the run: not counted.
                Err(_) => break,
            },
            None => attempt.await,
        };
        match outcome {
            Ok(Ok(sample)) if measured => tally.record(&sample),
            Ok(Ok(_)) => {}
            Ok(Err(failure)) => {
                sender = None;
                tally.errors += u64::from(measured);
                if matches!(failure, Failure::Connect) {
                    sleep(CONNECT_BACKOFF).await;
                }
            }
            Err(_) => {
                sender = None;
                tally.errors += u64::from(measured);
            }
        }
    }
    tally
}

/// Sends one request on the worker's connection, reconnecting if needed.
async fn send_one(plan: &Plan, slot: &mut Option<Sender>) -> Result<Sample, Failure> {
    let reusable = match slot.take() {
        // A connection the server closed while idle is replaced silently.
        Some(mut sender) => sender.ready().await.is_ok().then_some(sender),
        None => None,
    };
    let sender = match reusable {
        Some(sender) => slot.insert(sender),
        None => slot.insert(Sender::connect(plan).await.map_err(|_| Failure::Connect)?),
    };
    let start = Instant::now();
    let response = sender.send(plan.request()).await.map_err(|_| Failure::Request)?;
    let ok = response.status().is_success();
    let mut body = response.into_body();
    let mut ttfb = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Failure::Request)?;
        if plan.stream && ttfb.is_none() && frame.data_ref().is_some_and(|d| !d.is_empty()) {
            ttfb = Some(start.elapsed());
        }
    }
    Ok(Sample { ok, total: start.elapsed(), ttfb })
}

/// The printed summary, in field order.
#[derive(Serialize)]
struct Summary {
    requests: u64,
    errors: u64,
    non_2xx: u64,
    duration_s: f64,
    rps: f64,
    p50_us: Option<u64>,
    p90_us: Option<u64>,
    p99_us: Option<u64>,
    max_us: Option<u64>,
    ttfb_p50_us: Option<u64>,
    ttfb_p99_us: Option<u64>,
}

impl Summary {
    fn new(tally: &Tally, elapsed: Duration) -> Self {
        let quantile = |h: &Histogram<u64>, q: f64| (!h.is_empty()).then(|| h.value_at_quantile(q));
        let secs = elapsed.as_secs_f64();
        let rps = if secs > 0.0 { tally.requests as f64 / secs } else { 0.0 };
        Self {
            requests: tally.requests,
            errors: tally.errors,
            non_2xx: tally.non_2xx,
            duration_s: (secs * 1000.0).round() / 1000.0,
            rps: (rps * 10.0).round() / 10.0,
            p50_us: quantile(&tally.latency, 0.5),
            p90_us: quantile(&tally.latency, 0.9),
            p99_us: quantile(&tally.latency, 0.99),
            max_us: (!tally.latency.is_empty()).then(|| tally.latency.max()),
            ttfb_p50_us: quantile(&tally.ttfb, 0.5),
            ttfb_p99_us: quantile(&tally.ttfb, 0.99),
        }
    }
}

/// Parses `10s`, `500ms`, `250us`, `2m`, `1h` or plain seconds (`1.5`).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit.trim() {
        "" | "s" => value,
        "ms" => value / 1e3,
        "us" => value / 1e6,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        other => return Err(format!("unknown duration unit {other:?} (use us, ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| e.to_string())
}

/// Parses `name: value`.
fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), String> {
    let (name, value) = text.split_once(':').ok_or_else(|| format!("header {text:?} is not `name: value`"))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).map_err(|e| e.to_string())?;
    let value = HeaderValue::from_str(value.trim()).map_err(|e| e.to_string())?;
    Ok((name, value))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let concurrency = args.concurrency;
    let plan = match Plan::new(args) {
        Ok(plan) => Arc::new(plan),
        Err(e) => {
            eprintln!("hapax-load: {e}");
            return ExitCode::from(2);
        }
    };
    let workers: Vec<_> = (0..concurrency).map(|_| tokio::spawn(worker(plan.clone()))).collect();
    let mut total = Tally::new();
    for worker in workers {
        match worker.await {
            Ok(tally) => total.merge(&tally),
            Err(_) => total.errors += 1,
        }
    }
    let elapsed = Instant::now().saturating_duration_since(plan.measure_start);
    match serde_json::to_string(&Summary::new(&total, elapsed)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hapax-load: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("s").is_err());
    }

    #[test]
    fn headers_parse() {
        let (name, value) = parse_header("X-Api-Key:  secret ").unwrap();
        assert_eq!(name, "x-api-key");
        assert_eq!(value, "secret");
        assert!(parse_header("no colon").is_err());
    }
}
