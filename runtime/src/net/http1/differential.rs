//! Our request decoder against hyper's HTTP/1 server, over a corpus of valid
//! and hostile requests (the request-smuggling classics among them).
//!
//! Each input is one connection's bytes. Ours reads it as the server does:
//! a head with [`parse_head`], its body by its framing (chunked through
//! [`decode_chunked`], a length by taking bytes), then the next request
//! while the connection persists. Hyper is served the same bytes over a
//! `tokio::io::duplex` pair by a service that echoes each request's body;
//! its answers say what it accepted. Where the two differ on whether a
//! request is accepted, ours must be the one refusing; where both accept,
//! they must read the same body. Each case says whether the two are
//! expected to differ, and why ours is stricter, so that the corpus
//! documents every disagreement and notices a new one.

use super::codec::{decode_chunked, Chunk, Framing};
use super::server::parse_head;
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One connection's bytes, what they are, and why ours refuses what hyper
/// accepts (`None`: the two agree).
struct Case {
    what: &'static str,
    input: &'static str,
    stricter: Option<&'static str>,
}

const fn agree(what: &'static str, input: &'static str) -> Case {
    Case { what, input, stricter: None }
}

const fn stricter(what: &'static str, input: &'static str, why: &'static str) -> Case {
    Case { what, input, stricter: Some(why) }
}

/// A request a decoder accepted: its method, target and body.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// What a decoder made of a connection: the requests it accepted, in order,
/// and how it stopped.
#[derive(Debug)]
struct Reading {
    messages: Vec<Message>,
    end: String,
}

/// The corpus. Inputs that smuggle end with a second request, so that a
/// decoder that frames the first one differently shows it.
const CASES: &[Case] = &[
    // Valid requests.
    agree("GET without a body", "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"),
    agree("POST with content-length", "POST /v1/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 7\r\n\r\n{\"a\":1}"),
    agree("POST with content-length: 0", "POST /v1/x HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n\r\n"),
    agree("a length with leading zeros (1*DIGIT)", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 003\r\n\r\nabc"),
    agree(
        "chunked, with an extension and a trailer",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3;n=v\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
    ),
    agree("chunked, an empty body", "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    agree(
        "chunked, a quoted extension value",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n2;q=\"a \\\" b\"\r\nok\r\n0\r\n\r\n",
    ),
    agree(
        "chunked, upper- and mixed-case sizes",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\nB\r\n0123456789b\r\n0\r\n\r\n",
    ),
    agree("`Chunked` in another case", "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: ChUnKeD\r\n\r\n1\r\na\r\n0\r\n\r\n"),
    agree(
        "a tab before and after the coding (OWS)",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:\tchunked\t\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "pipelined: GET, POST with a length, GET",
        "GET /1 HTTP/1.1\r\nHost: gw\r\n\r\nPOST /2 HTTP/1.1\r\nHost: gw\r\nContent-Length: 3\r\n\r\nabcGET /3 HTTP/1.1\r\nHost: gw\r\n\r\n",
    ),
    agree(
        "pipelined chunked requests",
        "POST /1 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\nPOST /2 HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n",
    ),
    agree(
        "connection: close ends the connection",
        "GET /1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n",
    ),
    agree("HTTP/1.0 without a host", "POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nok"),
    agree(
        "HTTP/1.0 closes after one request",
        "POST /1 HTTP/1.0\r\nContent-Length: 2\r\n\r\nokGET /2 HTTP/1.0\r\n\r\n",
    ),
    agree(
        "HTTP/1.0 with keep-alive",
        "POST /1 HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nokGET /2 HTTP/1.0\r\n\r\n",
    ),
    agree(
        "expect: 100-continue",
        "POST / HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    ),
    agree("an absolute-form target", "GET http://gw/v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"),
    agree("an empty line before the request line (RFC 9112 §2.2)", "\r\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n"),
    agree(
        "bare LF line ends in the head (RFC 9112 §2.2: a recipient MAY take LF)",
        "POST / HTTP/1.1\nHost: gw\nContent-Length: 3\n\nabc",
    ),
    agree("spaces around the length value", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length:   3  \r\n\r\nabc"),
    agree("a host with a port, and an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"),
    agree("GET with a body", "GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nokGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n"),
    agree(
        "an empty line between pipelined requests (RFC 9112 §2.2)",
        "POST /1 HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\n\r\na\r\nGET /2 HTTP/1.1\r\nHost: gw\r\n\r\n",
    ),
    agree("TE: trailers is not transfer-encoding", "GET / HTTP/1.1\r\nHost: gw\r\nTE: trailers\r\n\r\n"),
    // CL.TE and TE.CL: both framing headers.
    stricter(
        "CL.TE: content-length, then transfer-encoding: chunked",
        "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGGET /next HTTP/1.1\r\nHost: gw\r\n\r\n",
        "RFC 9112 §6.1: a server MAY reject a request with both; §6.3 ¶3: it \"ought to be handled as an error\" \
         (smuggling, §11.2). Hyper drops the length and reads it chunked",
    ),
    stricter(
        "TE.CL: transfer-encoding: chunked, then content-length",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n",
        "RFC 9112 §6.1 and §6.3 ¶3, as CL.TE: both framing headers are refused, never resolved",
    ),
    stricter(
        "CL.TE with content-length: 0",
        "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1 and §6.3 ¶3, as CL.TE",
    ),
    // TE.TE: obfuscated transfer-encoding.
    agree(
        "a space before the colon: `Transfer-Encoding : chunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "`Transfer-Encoding: xchunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: xchunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "`chunked, identity`: chunked is not last",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    stricter(
        "`identity, chunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: identity, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1: a server SHOULD answer 501 to a transfer coding it does not understand \
         (`identity` is no coding since RFC 7230); hyper ignores every coding but the last",
    ),
    stricter(
        "`gzip, chunked`: a coding we do not decode",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1: 501 for a coding the server does not implement; hyper hands the still-gzipped bytes on",
    ),
    stricter(
        "`chunked, chunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1: a sender MUST NOT apply chunked more than once; the body would need decoding twice",
    ),
    stricter(
        "two transfer-encoding lines: `gzip`, then `chunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1 (501 for an unimplemented coding; the lines form one list, RFC 9110 §5.3)",
    ),
    agree(
        "two transfer-encoding lines: `chunked`, then `identity`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    stricter(
        "two transfer-encoding lines, both `chunked`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
        "RFC 9112 §6.1: chunked at most once (the two lines are one list, `chunked, chunked`)",
    ),
    agree(
        "`chunked`, then an empty transfer-encoding line",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: \r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "a vertical tab before the coding",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:\x0bchunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "a vertical tab after the coding",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\x0b\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "a quoted coding: `\"chunked\"`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: \"chunked\"\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "`chunked;x=1`: chunked with a parameter",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked;x=1\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "transfer-encoding folded onto a second line (obs-fold)",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding:\r\n chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "a header folded onto a second line (obs-fold)",
        "GET / HTTP/1.1\r\nHost: gw\r\nX-A: a\r\n b\r\n\r\n",
    ),
    agree(
        "a header line starting with a space before the first header",
        "POST / HTTP/1.1\r\n Transfer-Encoding: chunked\r\nHost: gw\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "`Transfer_Encoding` is another header: no body, then garbage",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer_Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree("a header name with a space", "GET / HTTP/1.1\r\nHost: gw\r\nBad Name: x\r\n\r\n"),
    agree("a header name with `_`", "GET / HTTP/1.1\r\nHost: gw\r\nX_Team: a\r\n\r\n"),
    agree(
        "HTTP/1.0 with transfer-encoding: chunked",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "HTTP/1.0 with transfer-encoding and content-length",
        "POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    // Content-Length: duplicates, lists and signs.
    stricter(
        "two content-length lines, the same value",
        "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
        "RFC 9112 §6.3 ¶5 and RFC 9110 §8.6: a recipient MAY accept repeated identical lengths or refuse them; \
         one length, once, leaves nothing for two parsers to read differently",
    ),
    agree(
        "two content-length lines, different values",
        "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    ),
    agree("`Content-Length: 5, 5`", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5, 5\r\n\r\nhello"),
    agree("`Content-Length: +5`", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: +5\r\n\r\nhello"),
    agree("`Content-Length: -1`", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: -1\r\n\r\n"),
    agree("`Content-Length: 5 5`", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 5 5\r\n\r\nhello"),
    agree("`Content-Length: 0x5`", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 0x5\r\n\r\nhello"),
    agree(
        "a length of 20 digits",
        "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 99999999999999999999\r\n\r\nhello",
    ),
    agree("a length longer than the body sent", "POST / HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\nhello"),
    // Chunk lines.
    agree(
        "a bare LF after the chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
    ),
    agree(
        "a bare LF after the chunk data",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
    ),
    agree(
        "a bare LF after the last chunk",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\n\r\n",
    ),
    agree(
        "a bare LF in a chunk extension",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3;x\nabc\r\n0\r\n\r\n",
    ),
    agree(
        "a bare CR after the chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\rabc\r\n0\r\n\r\n",
    ),
    agree(
        "CR CR LF after the chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\r\nabc\r\n0\r\n\r\n",
    ),
    agree(
        "chunk data longer than its size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
    ),
    agree(
        "a chunk size of 17 hex digits (overflows 64 bits)",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\na\r\n0\r\n\r\n",
    ),
    agree(
        "a chunk size of 2^64 - 1, then too little data",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n",
    ),
    stricter(
        "a chunk size with 19 digits, mostly leading zeros",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0000000000000000003\r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1: recipients must guard against overflowing sizes; ours refuses more than 16 hex digits \
         outright, whatever their value",
    ),
    agree(
        "a `0x` prefix on the chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
    ),
    agree(
        "a negative chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n",
    ),
    stricter(
        "a space after the chunk size",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1: chunk-size is 1*HEXDIG; whitespace after it is outside the grammar (BWS is only allowed \
         before a `;`, §7.1.1)",
    ),
    stricter(
        "a tab, then an extension",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3\t;x=1\r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1.1 allows BWS before `;`; ours allows none, since parsers that differ on whitespace in \
         chunk lines are a smuggling vector (§11.2)",
    ),
    stricter(
        "an empty extension: `3;`",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1.1: chunk-ext-name is a token, not empty; hyper skips extensions unread",
    ),
    stricter(
        "an extension with a space in it",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3;a b\r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1.1: a chunk extension is `;token[=token/quoted-string]`; hyper skips extensions unread",
    ),
    stricter(
        "an unterminated quoted extension value",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n3;a=\"b\r\nabc\r\n0\r\n\r\n",
        "RFC 9112 §7.1.1 and RFC 9110 §5.6.4: a quoted-string ends in a quote; hyper skips extensions unread",
    ),
    // Trailers.
    agree(
        "two trailers",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n",
    ),
    agree(
        "a framing header as a trailer",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n",
    ),
    agree(
        "a trailer that is not a field line",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nnot a field\r\n\r\n",
    ),
    agree(
        "a bare LF inside the trailers",
        "POST / HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-A: 1\nX-B: 2\r\n\r\n",
    ),
    // Host.
    stricter(
        "HTTP/1.1 without a host",
        "GET / HTTP/1.1\r\n\r\n",
        "RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without Host",
    ),
    stricter(
        "two host lines",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "RFC 9112 §3.2: a server MUST answer 400 to a request with more than one Host line",
    ),
    stricter(
        "two host lines with the same value",
        "GET / HTTP/1.1\r\nHost: gw\r\nHost: gw\r\n\r\n",
        "RFC 9112 §3.2: more than one Host line is refused whatever their values",
    ),
    stricter(
        "a host that is no host",
        "GET / HTTP/1.1\r\nHost: a/b@c\r\n\r\n",
        "RFC 9112 §3.2: 400 for a Host with an invalid value (RFC 9110 §7.2: uri-host [\":\" port])",
    ),
    // Request lines.
    agree("lower-case version", "GET / http/1.1\r\nHost: gw\r\n\r\n"),
    agree("HTTP/2.0 in an HTTP/1 request line", "GET / HTTP/2.0\r\nHost: gw\r\n\r\n"),
    agree("a bare CR in the head", "GET / HTTP/1.1\r\nHost: gw\rX: 1\r\n\r\n"),
    agree("two spaces in the request line", "GET  / HTTP/1.1\r\nHost: gw\r\n\r\n"),
    agree("a NUL in a header value", "GET / HTTP/1.1\r\nHost: gw\r\nX: a\0b\r\n\r\n"),
    agree("a method that is not a token", "GE(T / HTTP/1.1\r\nHost: gw\r\n\r\n"),
];

/// Reads a connection's bytes as our server does.
fn ours(input: &[u8]) -> Reading {
    let mut buf = BytesMut::from(input);
    let mut messages = Vec::new();
    loop {
        if buf.is_empty() {
            return Reading { messages, end: "end of input".into() };
        }
        let head = match parse_head(&mut buf) {
            Err((status, why)) => return Reading { messages, end: format!("refused: {} {why}", status.as_u16()) },
            Ok(None) => return Reading { messages, end: "incomplete head".into() },
            Ok(Some(head)) => head,
        };
        let body = match head.framing {
            Framing::None => Vec::new(),
            Framing::Length(n) if (buf.len() as u64) < n => {
                return Reading { messages, end: "incomplete body".into() };
            }
            Framing::Length(n) => buf.split_to(n as usize).to_vec(),
            Framing::Chunked => {
                let (mut state, mut out) = (Chunk::default(), BytesMut::new());
                match decode_chunked(&mut buf, &mut state, &mut out) {
                    Ok(true) => out.to_vec(),
                    Ok(false) => return Reading { messages, end: "incomplete chunked body".into() },
                    Err(e) => return Reading { messages, end: format!("refused body: {}", e.0) },
                }
            }
            Framing::Close => panic!("a request framed by close"),
        };
        messages.push(Message { method: head.method.to_string(), target: head.uri.to_string(), body });
        if !head.keep_alive {
            return Reading { messages, end: "closed (not persistent)".into() };
        }
    }
}

/// Serves a connection's bytes to hyper's HTTP/1 server, with a service
/// that echoes each request's body, and reads back what it accepted.
async fn hyper(input: &'static [u8]) -> Reading {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let service = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
        let (method, target) = (req.method().to_string(), req.uri().to_string());
        let answer = match req.into_body().collect().await {
            Ok(body) => hyper::Response::builder()
                .header("x-echo-method", method)
                .header("x-echo-target", target)
                .body(Full::new(body.to_bytes())),
            Err(e) => hyper::Response::builder()
                .status(422)
                .header("x-body-error", e.to_string().replace(['\r', '\n'], " "))
                .body(Full::new(Bytes::new())),
        };
        answer
    });
    let conn = async move {
        let io = hyper_util::rt::TokioIo::new(server);
        let _ = hyper::server::conn::http1::Builder::new().half_close(true).serve_connection(io, service).await;
    };
    let talk = async move {
        // Hyper may refuse before it has read everything: write errors are
        // part of the answer.
        let _ = client.write_all(input).await;
        let _ = client.shutdown().await;
        let mut out = Vec::new();
        let _ = client.read_to_end(&mut out).await;
        out
    };
    let ((), out) = tokio::time::timeout(Duration::from_secs(10), async { tokio::join!(conn, talk) })
        .await
        .expect("hyper answers within 10 s");
    answers(&out)
}

/// The requests hyper's answers say it accepted: an echo is an accepted
/// request, anything else (its own 4xx or 5xx, the echo service's body
/// error) a refusal, and the end of the answers the end of the connection.
fn answers(mut out: &[u8]) -> Reading {
    let mut messages = Vec::new();
    loop {
        if out.is_empty() {
            return Reading { messages, end: "closed".into() };
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut resp = httparse::Response::new(&mut headers);
        let len = match resp.parse(out) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => panic!("hyper wrote something that is no answer: {:?}", String::from_utf8_lossy(out)),
        };
        let code = resp.code.expect("a status");
        let header = |name: &str| {
            resp.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| String::from_utf8_lossy(h.value))
        };
        if (100..200).contains(&code) {
            out = &out[len..];
            continue;
        }
        let body_len: usize = header("content-length").map_or(0, |v| v.parse().expect("a length"));
        let body = out[len..len + body_len].to_vec();
        let (method, target) = (header("x-echo-method"), header("x-echo-target"));
        let Some((method, target)) = method.zip(target) else {
            let why = header("x-body-error").map_or_else(String::new, |e| format!(" (body: {e})"));
            return Reading { messages, end: format!("refused: {code}{why}") };
        };
        messages.push(Message { method: method.into_owned(), target: target.into_owned(), body });
        out = &out[len + body_len..];
    }
}

fn show(r: &Reading) -> String {
    let bodies: Vec<_> = r.messages.iter().map(|m| format!("{:?}", String::from_utf8_lossy(&m.body))).collect();
    format!("accepted {} [{}], then {}", r.messages.len(), bodies.join(", "), r.end)
}

#[tokio::test]
async fn our_decoder_is_never_more_lenient_than_hyper() {
    let (mut agreeing, mut failures) = (Vec::new(), Vec::new());
    let mut disagreements = Vec::new();
    for case in CASES {
        let input = case.input.as_bytes();
        let (mine, theirs) = (ours(input), hyper(input).await);
        let both = mine.messages.len().min(theirs.messages.len());
        let line = format!("{}\n    ours:  {}\n    hyper: {}", case.what, show(&mine), show(&theirs));
        // Where both accept a request, they read it alike.
        if mine.messages[..both] != theirs.messages[..both] {
            failures.push(format!("both accept, but read different requests: {line}"));
            continue;
        }
        // Where they differ, ours refuses.
        if mine.messages.len() > theirs.messages.len() {
            failures.push(format!("ours accepts what hyper refuses: {line}"));
            continue;
        }
        let differ = mine.messages.len() != theirs.messages.len();
        match (differ, case.stricter) {
            (false, None) => agreeing.push(line),
            (true, Some(why)) => disagreements.push(format!("{line}\n    why:   {why}")),
            (true, None) => failures.push(format!("a disagreement the corpus does not explain: {line}")),
            (false, Some(_)) => failures.push(format!("marked as a disagreement, but the two agree: {line}")),
        }
    }
    eprintln!(
        "{} cases: {} agree, {} where ours is stricter.\n\nAgreeing:\n{}\n\nOurs stricter:\n{}",
        CASES.len(),
        agreeing.len(),
        disagreements.len(),
        agreeing.join("\n"),
        disagreements.join("\n")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
