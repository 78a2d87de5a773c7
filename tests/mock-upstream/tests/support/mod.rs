//! Test client helpers: a tiny hyper client that keeps every body frame and
//! any body error, plus SSE parsing.

#![allow(dead_code)]

use bytes::Bytes;
use hapax_mock_upstream::{Config, MockServer};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::net::SocketAddr;
use tokio::net::TcpStream;

pub async fn start(config: Config) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), config).await.unwrap()
}

/// A response with its body split into the frames as received.
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub frames: Vec<Bytes>,
    /// Set when the body ended with an error (e.g. an abrupt disconnect).
    pub body_error: Option<String>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8(self.frames.concat()).unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text()).unwrap_or_else(|e| panic!("{e}: {}", self.text()))
    }

    /// `(event name, data)` of each SSE event.
    pub fn events(&self) -> Vec<(Option<String>, String)> {
        let text = self.text();
        assert!(text.is_empty() || text.ends_with("\n\n"), "unterminated event: {text:?}");
        text.split_terminator("\n\n")
            .map(|event| {
                let mut name = None;
                let mut data = None;
                for line in event.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(d.to_owned());
                    } else {
                        panic!("unexpected SSE line {line:?}");
                    }
                }
                (name, data.expect("event without data"))
            })
            .collect()
    }

    /// The JSON of each `data:` event, skipping `[DONE]`.
    pub fn event_json(&self) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(_, data)| data != "[DONE]")
            .map(|(_, data)| serde_json::from_str(&data).unwrap())
            .collect()
    }
}

/// One client connection, HTTP/1.1 or h2c.
pub enum Client {
    H1(http1::SendRequest<Full<Bytes>>),
    H2(http2::SendRequest<Full<Bytes>>),
}

impl Client {
    pub async fn connect(addr: SocketAddr, h2: bool) -> Self {
        let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
        if h2 {
            let (sender, conn) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
            tokio::spawn(conn);
            Self::H2(sender)
        } else {
            let (sender, conn) = http1::handshake(io).await.unwrap();
            tokio::spawn(conn);
            Self::H1(sender)
        }
    }

    /// Sends a request; `Err` when no response arrives at all.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<Resp, hyper::Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("http://mock{path}"))
            .header("content-type", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body.to_owned()))).unwrap();
        let resp = match self {
            Self::H1(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
            Self::H2(s) => {
                s.ready().await?;
                s.send_request(req).await?
            }
        };
        let (parts, mut body) = resp.into_parts();
        let mut frames = Vec::new();
        let mut body_error = None;
        while let Some(frame) = body.frame().await {
            match frame {
                // h2 may end the stream with an empty DATA frame.
                Ok(frame) => frames.extend(frame.into_data().ok().filter(|d| !d.is_empty())),
                Err(e) => {
                    body_error = Some(e.to_string());
                    break;
                }
            }
        }
        Ok(Resp { status: parts.status, headers: parts.headers, frames, body_error })
    }
}

/// Sends one request on a fresh HTTP/1.1 connection.
pub async fn try_call(
    server: &MockServer,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<Resp, hyper::Error> {
    Client::connect(server.addr(), false).await.send(method, path, headers, body).await
}

/// Like [`try_call`], panicking when no response arrives.
pub async fn call(server: &MockServer, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    try_call(server, method, path, headers, body).await.unwrap()
}

pub async fn post(server: &MockServer, path: &str, headers: &[(&str, &str)], body: &Value) -> Resp {
    call(server, Method::POST, path, headers, &body.to_string()).await
}

pub const ANTHROPIC: (&str, &str) = ("anthropic-version", "2023-06-01");
