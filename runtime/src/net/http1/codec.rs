//! What both ends of an HTTP/1.1 connection need: the chunked body decoder
//! and the `date` header.

use bytes::{Buf, Bytes, BytesMut};
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest chunk-size or trailer line.
pub const MAX_LINE: usize = 4096;

/// A message that breaks the protocol, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Where the chunked decoder stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chunk {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

/// Runs the chunked decoder over `buf`; true once the last chunk and the
/// trailers are read.
pub fn decode_chunked(buf: &mut BytesMut, state: &mut Chunk, out: &mut Vec<Bytes>) -> Result<bool, Invalid> {
    loop {
        match *state {
            Chunk::Size => {
                let Some((len, used)) = line(buf)? else { return Ok(false) };
                let digits = buf[..len].split(|b| *b == b';').next().unwrap_or(&[]).trim_ascii();
                if digits.is_empty() || digits.len() > 16 {
                    return Err(Invalid("invalid chunk size"));
                }
                let mut size: u64 = 0;
                for d in digits {
                    let v = (*d as char).to_digit(16).ok_or(Invalid("invalid chunk size"))?;
                    size = size * 16 + u64::from(v);
                }
                buf.advance(used);
                *state = if size == 0 { Chunk::Trailers } else { Chunk::Data(size) };
            }
            Chunk::Data(rest) => {
                if buf.is_empty() {
                    return Ok(false);
                }
                let n = rest.min(buf.len() as u64) as usize;
                out.push(buf.split_to(n).freeze());
                *state = if rest == n as u64 { Chunk::DataEnd } else { Chunk::Data(rest - n as u64) };
            }
            Chunk::DataEnd => {
                let Some((len, used)) = line(buf)? else { return Ok(false) };
                if len != 0 {
                    return Err(Invalid("chunk data is longer than its size"));
                }
                buf.advance(used);
                *state = Chunk::Size;
            }
            Chunk::Trailers => {
                let Some((len, used)) = line(buf)? else { return Ok(false) };
                buf.advance(used);
                if len == 0 {
                    return Ok(true);
                }
            }
        }
    }
}

/// The line at the start of `buf`: its length without its end (LF, with an
/// optional CR before it), and with it; `None` until its end has arrived.
fn line(buf: &[u8]) -> Result<Option<(usize, usize)>, Invalid> {
    match memchr::memchr(b'\n', &buf[..buf.len().min(MAX_LINE + 2)]) {
        None if buf.len() > MAX_LINE => Err(Invalid("a chunk line is too long")),
        None => Ok(None),
        Some(i) => Ok(Some((if i > 0 && buf[i - 1] == b'\r' { i - 1 } else { i }, i + 1))),
    }
}

/// The pieces of a body as one buffer.
pub fn concat(mut parts: Vec<Bytes>, total: usize) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => parts.pop().unwrap_or_default(),
        _ => {
            let mut all = BytesMut::with_capacity(total);
            for p in &parts {
                all.extend_from_slice(p);
            }
            all.freeze()
        }
    }
}

/// Whether a `content-type` value says `text/event-stream` (in any case,
/// parameters allowed).
pub fn is_event_stream(content_type: &[u8]) -> bool {
    const SSE: &[u8] = b"text/event-stream";
    content_type.get(..SSE.len()).is_some_and(|v| v.eq_ignore_ascii_case(SSE))
}

/// Appends the current `date` header line; the text is made at most once
/// a second per thread.
pub fn put_date(out: &mut Vec<u8>) {
    thread_local! {
        static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [0; 29])) };
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != now {
            let text = httpdate::fmt_http_date(UNIX_EPOCH + std::time::Duration::from_secs(now));
            if text.len() == 29 {
                d.1.copy_from_slice(text.as_bytes());
                d.0 = now;
            }
        }
        out.extend_from_slice(b"date: ");
        out.extend_from_slice(&d.1);
        out.extend_from_slice(b"\r\n");
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_streams_are_recognised_in_any_case() {
        assert!(is_event_stream(b"text/event-stream"));
        assert!(is_event_stream(b"Text/Event-Stream; charset=utf-8"));
        assert!(!is_event_stream(b"application/json"));
        assert!(!is_event_stream(b"text/event"));
    }
}
