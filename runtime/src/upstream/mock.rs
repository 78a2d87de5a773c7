//! The built-in `mock` provider: answers locally, in whatever format the
//! client speaks, with a deterministic completion, after the provider's
//! `latency`. Streams come in word-sized chunks. Failure modes for tests and
//! benchmarks: `slow` (ten times the latency, at least two seconds, before
//! the answer), `flaky` (every second request fails with 500) and `error`
//! (every request fails with 500).

use crate::http::error::GatewayError;
use crate::http::ingress::{Endpoint, Ingress};
use crate::upstream::call::{Reply, ReplyBody, UpStream};
use crate::upstream::provider::Upstream;
use bytes::Bytes;
use hapax_lang::graph::MockMode;
use http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The words of every mock completion.
const WORDS: &[&str] =
    &["This ", "is ", "a ", "mock ", "answer ", "from ", "hapax. ", "No ", "model ", "was ", "called."];

fn text() -> String {
    WORDS.concat()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub async fn answer(up: &Upstream, ingress: &Ingress, model: &str) -> Result<Reply, GatewayError> {
    let n = up.mock.count.fetch_add(1, Ordering::Relaxed);
    let latency = up.mock.latency;
    let (delay, fail) = match up.mock.mode {
        MockMode::Normal => (latency, false),
        MockMode::Slow => ((latency * 10).max(Duration::from_secs(2)), false),
        MockMode::Flaky => (latency, n % 2 == 1),
        MockMode::Error => (latency, true),
    };
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    if fail {
        let body = crate::http::error::error_body(
            ingress.api(),
            StatusCode::INTERNAL_SERVER_ERROR,
            "the mock provider failed on purpose",
            "mock_error",
        );
        return Err(GatewayError::upstream_status(&up.name, StatusCode::INTERNAL_SERVER_ERROR, body, None));
    }
    let id = format!("mock-{n}");
    let prompt = ingress.tokens();
    let completion = WORDS.len() as u64;
    let body = if ingress.stream && ingress.endpoint != Endpoint::Embeddings {
        let include_usage = ingress.include_usage;
        let frames = stream_frames(ingress.endpoint, &id, model, prompt, completion, include_usage);
        let gap = latency / 10;
        ReplyBody::Stream(UpStream::Local(Box::pin(futures_util::stream::unfold(
            (frames.into_iter(), true),
            move |(mut it, first)| async move {
                let next = it.next()?;
                if !first && !gap.is_zero() {
                    tokio::time::sleep(gap).await;
                }
                Some((next, (it, false)))
            },
        ))))
    } else {
        ReplyBody::Full(Bytes::from(whole(ingress, &id, model, prompt, completion).to_string()))
    };
    Ok(Reply { api: ingress.api(), headers: HeaderMap::new(), body })
}

fn whole(ingress: &Ingress, id: &str, model: &str, prompt: u64, completion: u64) -> Value {
    let usage =
        json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion });
    match ingress.endpoint {
        Endpoint::Chat | Endpoint::Models => json!({
            "id": format!("chatcmpl-{id}"),
            "object": "chat.completion",
            "created": now(),
            "model": model,
            "choices": [{
                "index": 0,
                "message": { "role": "assistant", "content": text() },
                "finish_reason": "stop"
            }],
            "usage": usage
        }),
        Endpoint::Completions => json!({
            "id": format!("cmpl-{id}"),
            "object": "text_completion",
            "created": now(),
            "model": model,
            "choices": [{ "index": 0, "text": text(), "logprobs": null, "finish_reason": "stop" }],
            "usage": usage
        }),
        Endpoint::Embeddings => {
            let inputs: Vec<String> = match ingress.json().and_then(|j| j.get("input")) {
                Some(Value::Array(items)) => items.iter().map(|i| i.to_string()).collect(),
                Some(v) => vec![v.to_string()],
                None => vec![String::new()],
            };
            let data: Vec<Value> = inputs
                .iter()
                .enumerate()
                .map(|(i, s)| json!({ "object": "embedding", "index": i, "embedding": embedding(s) }))
                .collect();
            json!({
                "object": "list",
                "data": data,
                "model": model,
                "usage": { "prompt_tokens": prompt, "total_tokens": prompt }
            })
        }
        Endpoint::Messages => json!({
            "id": format!("msg_{id}"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{ "type": "text", "text": text() }],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": { "input_tokens": prompt, "output_tokens": completion }
        }),
    }
}

/// A deterministic unit-length vector of eight dimensions.
fn embedding(input: &str) -> Vec<f64> {
    let mut h = hapax_lang::expr::stable_hash(input);
    let mut v: Vec<f64> = (0..8)
        .map(|_| {
            h = h.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((h >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    for x in &mut v {
        *x /= norm;
    }
    v
}

fn sse(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

fn named(event: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

fn stream_frames(
    endpoint: Endpoint,
    id: &str,
    model: &str,
    prompt: u64,
    completion: u64,
    include_usage: bool,
) -> Vec<Bytes> {
    let created = now();
    let mut out = Vec::with_capacity(WORDS.len() + 6);
    match endpoint {
        Endpoint::Messages => {
            out.push(named(
                "message_start",
                &json!({ "type": "message_start", "message": {
                    "id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": { "input_tokens": prompt, "output_tokens": 1 }
                }}),
            ));
            out.push(named(
                "content_block_start",
                &json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ));
            for w in WORDS {
                out.push(named(
                    "content_block_delta",
                    &json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": w } }),
                ));
            }
            out.push(named("content_block_stop", &json!({ "type": "content_block_stop", "index": 0 })));
            out.push(named(
                "message_delta",
                &json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                         "usage": { "output_tokens": completion } }),
            ));
            out.push(named("message_stop", &json!({ "type": "message_stop" })));
            return out;
        }
        Endpoint::Completions => {
            let cid = format!("cmpl-{id}");
            for w in WORDS {
                out.push(sse(&json!({ "id": cid, "object": "text_completion", "created": created, "model": model,
                    "choices": [{ "index": 0, "text": w, "logprobs": null, "finish_reason": null }] })));
            }
            out.push(sse(&json!({ "id": cid, "object": "text_completion", "created": created, "model": model,
                "choices": [{ "index": 0, "text": "", "logprobs": null, "finish_reason": "stop" }] })));
        }
        _ => {
            let cid = format!("chatcmpl-{id}");
            let chunk = |delta: Value, finish: Value| {
                sse(&json!({ "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }] }))
            };
            out.push(chunk(json!({ "role": "assistant", "content": "" }), Value::Null));
            for w in WORDS {
                out.push(chunk(json!({ "content": w }), Value::Null));
            }
            out.push(chunk(json!({}), json!("stop")));
            if include_usage {
                out.push(sse(
                    &json!({ "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [], "usage": { "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion } }),
                ));
            }
        }
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}
