//! What both ends of an HTTP/1.1 connection share: the one reading of a
//! head's framing headers, the strict chunked body decoder, and the `date`
//! header.

use bytes::{Buf, BytesMut};
use http::StatusCode;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The longest chunk-size line (with its extensions) or trailer line.
pub const MAX_LINE: usize = 1024;
/// The most chunk-extension bytes in one body, over all its chunks.
pub const MAX_EXTENSIONS: usize = 16 * 1024;
/// The most trailer bytes, and trailer lines, after a chunked body.
pub const MAX_TRAILERS: usize = 8 * 1024;
pub const MAX_TRAILER_LINES: usize = 32;

/// A message that breaks the protocol, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

/// Where the chunked decoder stands, and what it has counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Chunk {
    step: Step,
    extensions: usize,
    trailers: usize,
    trailer_lines: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Step {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
}

impl Chunk {
    /// The data still to come of the chunk being read: with what is
    /// already decoded, a lower bound on the body's size.
    pub fn pending(&self) -> u64 {
        match self.step {
            Step::Data(rest) => rest,
            _ => 0,
        }
    }
}

/// Runs the chunked decoder (RFC 9112 §7.1) over `buf`, appending the data
/// to `out`, so that a body costs its size in memory however it is cut
/// into chunks. True once the last chunk and the trailers are read; the
/// trailers are checked and dropped.
///
/// Strict: a chunk-size is `1*HEXDIG` with nothing around it, every line
/// ends in CRLF (no bare LF, no bare CR), extensions follow the grammar
/// (`;name` or `;name=value`, no whitespace) and are bounded, and so are
/// the trailers.
pub fn decode_chunked(buf: &mut BytesMut, state: &mut Chunk, out: &mut BytesMut) -> Result<bool, Invalid> {
    loop {
        match state.step {
            Step::Size => {
                let Some(len) = crlf_line(buf)? else { return Ok(false) };
                let line = &buf[..len];
                let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
                if digits == 0 || digits > 16 {
                    return Err(Invalid("invalid chunk size"));
                }
                let ext = &line[digits..];
                if !ext.is_empty() {
                    chunk_extensions(ext)?;
                    state.extensions += ext.len();
                    if state.extensions > MAX_EXTENSIONS {
                        return Err(Invalid("too many chunk extensions"));
                    }
                }
                let size = line[..digits].iter().fold(0u64, |n, d| n << 4 | u64::from(hex(*d)));
                buf.advance(len + 2);
                state.step = if size == 0 { Step::Trailers } else { Step::Data(size) };
            }
            Step::Data(rest) => {
                if buf.is_empty() {
                    return Ok(false);
                }
                let n = rest.min(buf.len() as u64) as usize;
                out.extend_from_slice(&buf[..n]);
                buf.advance(n);
                state.step = if rest == n as u64 { Step::DataEnd } else { Step::Data(rest - n as u64) };
            }
            Step::DataEnd => {
                if buf.len() < 2 {
                    return Ok(false);
                }
                if &buf[..2] != b"\r\n" {
                    return Err(Invalid("chunk data is not followed by CRLF"));
                }
                buf.advance(2);
                state.step = Step::Size;
            }
            Step::Trailers => {
                let Some(len) = crlf_line(buf)? else { return Ok(false) };
                if len == 0 {
                    buf.advance(2);
                    return Ok(true);
                }
                state.trailers += len + 2;
                state.trailer_lines += 1;
                if state.trailers > MAX_TRAILERS || state.trailer_lines > MAX_TRAILER_LINES {
                    return Err(Invalid("the trailers are too large"));
                }
                field_line(&buf[..len])?;
                buf.advance(len + 2);
            }
        }
    }
}

fn hex(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        _ => d - b'A' + 10,
    }
}

/// The length of the CRLF-terminated line at the start of `buf`, without
/// its CRLF; `None` until the line has arrived. A bare LF or CR is invalid.
fn crlf_line(buf: &[u8]) -> Result<Option<usize>, Invalid> {
    const LONG: Invalid = Invalid("a chunk line is too long");
    let window = &buf[..buf.len().min(MAX_LINE + 2)];
    match memchr::memchr2(b'\n', b'\r', window) {
        None if window.len() > MAX_LINE => Err(LONG),
        None => Ok(None),
        Some(i) if window[i] == b'\n' => Err(Invalid("a line ends in a bare LF")),
        Some(i) if i > MAX_LINE => Err(LONG),
        Some(i) => match buf.get(i + 1) {
            None => Ok(None),
            Some(b'\n') => Ok(Some(i)),
            Some(_) => Err(Invalid("a line holds a bare CR")),
        },
    }
}

/// `tchar` (RFC 9110 §5.6.2).
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `*( ";" token [ "=" ( token / quoted-string ) ] )`, with no whitespace.
fn chunk_extensions(mut ext: &[u8]) -> Result<(), Invalid> {
    const BAD: Invalid = Invalid("invalid chunk extension");
    while !ext.is_empty() {
        ext = ext.strip_prefix(b";").ok_or(BAD)?;
        let name = ext.iter().take_while(|b| is_tchar(**b)).count();
        if name == 0 {
            return Err(BAD);
        }
        ext = &ext[name..];
        if let Some(v) = ext.strip_prefix(b"=") {
            let len = if v.first() == Some(&b'"') {
                quoted_string(v).ok_or(BAD)?
            } else {
                v.iter().take_while(|b| is_tchar(**b)).count()
            };
            if len == 0 {
                return Err(BAD);
            }
            ext = &v[len..];
        }
    }
    Ok(())
}

/// The length of the quoted-string at the start of `v`, quotes included.
fn quoted_string(v: &[u8]) -> Option<usize> {
    let mut i = 1;
    while i < v.len() {
        match v[i] {
            b'"' => return Some(i + 1),
            b'\\' if v.get(i + 1).is_some_and(|c| *c == b'\t' || (0x20..0x7f).contains(c) || *c >= 0x80) => i += 2,
            b'\t' | 0x20 | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => i += 1,
            _ => return None,
        }
    }
    None
}

/// `field-name ":" OWS field-value OWS`: a trailer line.
fn field_line(line: &[u8]) -> Result<(), Invalid> {
    const BAD: Invalid = Invalid("invalid trailer field");
    let name = line.iter().take_while(|b| is_tchar(**b)).count();
    if name == 0 || line.get(name) != Some(&b':') {
        return Err(BAD);
    }
    if line[name + 1..].iter().any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f) {
        return Err(BAD);
    }
    Ok(())
}

/// What a head says about how its body is framed, gathered header by
/// header: the one reading of `content-length`, `transfer-encoding` and
/// `connection` that the server and the client share (RFC 9112 §6).
#[derive(Debug, Default, Clone, Copy)]
pub struct FramingHeaders {
    length: Option<u64>,
    /// `transfer-encoding` was given.
    encoded: bool,
    /// The last coding so far is `chunked`.
    chunked_last: bool,
    /// `chunked` came before another coding, or twice.
    chunked_early: bool,
    /// A coding other than `chunked` (which we do not implement).
    other_coding: bool,
    close: bool,
    keep_alive: bool,
}

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    Length(u64),
    Chunked,
    /// Until the connection closes (answers only).
    Close,
}

impl FramingHeaders {
    /// Reads one header if it is about framing; false when it is not.
    pub fn read(&mut self, name: &[u8], value: &[u8]) -> Result<bool, Invalid> {
        use crate::http::ascii::eq_ignore_case;
        match name.len() {
            14 if eq_ignore_case(name, b"content-length") => self.content_length(value).map(|()| true),
            17 if eq_ignore_case(name, b"transfer-encoding") => self.transfer_encoding(value).map(|()| true),
            10 if eq_ignore_case(name, b"connection") => {
                for token in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
                    // `close` anywhere wins over `keep-alive` anywhere.
                    self.close |= token.eq_ignore_ascii_case(b"close");
                    self.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// `1*DIGIT`, once: no sign, no list, no space inside, no second one.
    fn content_length(&mut self, value: &[u8]) -> Result<(), Invalid> {
        let v = value.trim_ascii();
        if v.is_empty() || v.len() > 18 || !v.iter().all(u8::is_ascii_digit) {
            return Err(Invalid("invalid content-length"));
        }
        if self.length.is_some() {
            return Err(Invalid("more than one content-length"));
        }
        self.length = Some(v.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')));
        Ok(())
    }

    /// A list of codings; repeated headers continue the list.
    fn transfer_encoding(&mut self, value: &[u8]) -> Result<(), Invalid> {
        const BAD: Invalid = Invalid("invalid transfer-encoding");
        self.encoded = true;
        let mut any = false;
        for coding in value.split(|b| *b == b',').map(<[u8]>::trim_ascii) {
            if coding.is_empty() {
                continue;
            }
            // A coding may carry parameters (`gzip;q=1`); `chunked` takes none.
            let name = coding.split(|b| *b == b';').next().unwrap_or(&[]).trim_ascii();
            let chunked = name.eq_ignore_ascii_case(b"chunked");
            if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) || (chunked && name.len() != coding.len()) {
                return Err(BAD);
            }
            // Something after `chunked`: it is not last, or comes twice.
            self.chunked_early |= self.chunked_last;
            self.chunked_last = chunked;
            self.other_coding |= !chunked;
            any = true;
        }
        if any {
            Ok(())
        } else {
            Err(BAD)
        }
    }

    /// Whether the connection may carry another message after this one,
    /// before framing is considered.
    pub fn persistent(&self, http11: bool) -> bool {
        !self.close && (http11 || self.keep_alive)
    }

    /// A request's framing, or the status to refuse it with (and close).
    pub fn request(&self, http11: bool) -> Result<Framing, (StatusCode, &'static str)> {
        const BAD: StatusCode = StatusCode::BAD_REQUEST;
        if !self.encoded {
            return Ok(match self.length {
                None | Some(0) => Framing::None,
                Some(n) => Framing::Length(n),
            });
        }
        if self.length.is_some() {
            // A smuggling attempt or a broken client; neither is answered.
            return Err((BAD, "both transfer-encoding and content-length"));
        }
        if !http11 {
            return Err((BAD, "transfer-encoding in HTTP/1.0"));
        }
        if self.chunked_early {
            return Err((BAD, "chunked is not the last transfer coding, or comes twice"));
        }
        if !self.chunked_last {
            return Err((BAD, "the request body's transfer-encoding does not end in chunked"));
        }
        if self.other_coding {
            return Err((StatusCode::NOT_IMPLEMENTED, "a transfer coding other than chunked is not implemented"));
        }
        Ok(Framing::Chunked)
    }

    /// An answer's framing (`bodiless` for answers to HEAD, 204 and 304).
    pub fn response(&self, bodiless: bool) -> Result<Framing, Invalid> {
        if self.encoded && self.length.is_some() {
            return Err(Invalid("both transfer-encoding and content-length"));
        }
        if self.encoded && (self.chunked_early || self.other_coding) {
            return Err(Invalid("a transfer coding other than chunked"));
        }
        Ok(match (bodiless, self.encoded, self.length) {
            (true, _, _) => Framing::None,
            // Encoded, with `chunked` as its one coding (checked above).
            (false, true, _) => Framing::Chunked,
            (false, false, Some(0)) => Framing::None,
            (false, false, Some(n)) => Framing::Length(n),
            (false, false, None) => Framing::Close,
        })
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
    use proptest::prelude::*;

    /// Decodes `input` whole: the body, or the error.
    fn decode(input: &[u8]) -> Result<Option<Vec<u8>>, Invalid> {
        let (mut buf, mut state, mut out) = (BytesMut::from(input), Chunk::default(), BytesMut::new());
        Ok(decode_chunked(&mut buf, &mut state, &mut out)?.then(|| out.to_vec()))
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        assert_eq!(decode(b"3\r\nabc\r\n0\r\n\r\n"), Ok(Some(b"abc".to_vec())));
        assert_eq!(decode(b"A;x=1;y;z=\"a b\\\"\"\r\n0123456789\r\n0\r\n\r\n"), Ok(Some(b"0123456789".to_vec())));
        assert_eq!(decode(b"1\r\na\r\n0\r\nX-T: 1\r\nY:\r\n\r\n"), Ok(Some(b"a".to_vec())));
        assert_eq!(decode(b"1\r\na\r\n0\r\n"), Ok(None), "waits for the end of the trailers");
        assert_eq!(decode(b"1\r"), Ok(None), "waits for the LF");
    }

    #[test]
    fn chunked_framing_is_strict() {
        for bad in [
            &b"3\nabc\r\n0\r\n\r\n"[..],  // bare LF after the size
            b"3\rabc\r\n0\r\n\r\n",       // bare CR
            b"3 \r\nabc\r\n0\r\n\r\n",    // space after the size
            b" 3\r\nabc\r\n0\r\n\r\n",    // space before it
            b"3\t;x\r\nabc\r\n0\r\n\r\n", // whitespace before an extension
            b"0x3\r\nabc\r\n0\r\n\r\n",   // a prefix
            b"+3\r\nabc\r\n0\r\n\r\n",
            b"\r\nabc\r\n0\r\n\r\n",        // no size
            b"11111111111111111\r\n",       // 17 hex digits
            b"3\r\nabcd\r\n0\r\n\r\n",      // longer than its size
            b"3\r\nabc\n0\r\n\r\n",         // data ends in a bare LF
            b"3;\r\nabc\r\n0\r\n\r\n",      // an extension with no name
            b"3;a=\r\nabc\r\n0\r\n\r\n",    // no value
            b"3;a=\"b\r\nabc\r\n0\r\n\r\n", // an open quote
            b"3;a b\r\nabc\r\n0\r\n\r\n",
            b"1\r\na\r\n0\r\nbad trailer\r\n\r\n",
            b"1\r\na\r\n0\r\nX: a\x01b\r\n\r\n",
            b"1\r\na\r\n0\r\nX: 1\n\r\n",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn chunk_lines_extensions_and_trailers_are_bounded() {
        let long = format!("1;{}\r\n", "a".repeat(MAX_LINE));
        assert_eq!(decode(long.as_bytes()), Err(Invalid("a chunk line is too long")));
        // Waiting for the end of a line holds at most MAX_LINE bytes.
        assert_eq!(decode(&vec![b'1'; MAX_LINE + 2]), Err(Invalid("a chunk line is too long")));
        let ext = format!("1;{}\r\na\r\n", "e".repeat(1000)).repeat(MAX_EXTENSIONS / 1000 + 1);
        assert_eq!(decode(ext.as_bytes()), Err(Invalid("too many chunk extensions")));
        let trailers = format!("0\r\n{}", "x: 1\r\n".repeat(MAX_TRAILER_LINES + 1));
        assert_eq!(decode(trailers.as_bytes()), Err(Invalid("the trailers are too large")));
    }

    #[test]
    fn one_byte_chunks_cost_their_data_not_their_framing() {
        let body = "1\r\na\r\n".repeat(100_000) + "0\r\n\r\n";
        let (mut buf, mut state, mut out) = (BytesMut::from(body.as_bytes()), Chunk::default(), BytesMut::new());
        assert_eq!(decode_chunked(&mut buf, &mut state, &mut out), Ok(true));
        assert_eq!(out.len(), 100_000);
        assert!(out.capacity() < 2 * 100_000 + 64, "one buffer, grown by doubling: {}", out.capacity());
    }

    fn encode(body: &[u8], sizes: &[usize], ext: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let (mut rest, mut i) = (body, 0);
        while !rest.is_empty() {
            let n = sizes[i % sizes.len()].clamp(1, rest.len());
            out.extend_from_slice(format!("{n:x}{}\r\n", if ext { ";n=v" } else { "" }).as_bytes());
            out.extend_from_slice(&rest[..n]);
            out.extend_from_slice(b"\r\n");
            rest = &rest[n..];
            i += 1;
        }
        out.extend_from_slice(b"0\r\nx-t: 1\r\n\r\n");
        out
    }

    proptest! {
        /// Any body, cut into any chunks and fed in any pieces, decodes to
        /// itself, and leaves what follows it in the buffer.
        #[test]
        fn chunked_bodies_survive_any_split(
            body in proptest::collection::vec(any::<u8>(), 0..600),
            sizes in proptest::collection::vec(1usize..90, 1..8),
            cut in proptest::collection::vec(1usize..40, 1..40),
            ext in any::<bool>(),
        ) {
            let mut wire = encode(&body, &sizes, ext);
            wire.extend_from_slice(b"NEXT");
            let (mut buf, mut state, mut out) = (BytesMut::new(), Chunk::default(), BytesMut::new());
            let (mut at, mut i, mut done) = (0, 0, false);
            while !done {
                let n = cut[i % cut.len()].min(wire.len() - at);
                prop_assert!(n > 0, "ran out of input before the end");
                buf.extend_from_slice(&wire[at..at + n]);
                at += n;
                i += 1;
                done = decode_chunked(&mut buf, &mut state, &mut out).unwrap();
            }
            prop_assert_eq!(&out[..], &body[..]);
            buf.extend_from_slice(&wire[at..]);
            prop_assert_eq!(&buf[..], b"NEXT");
        }

        /// Random input never panics and never yields more data than it holds.
        #[test]
        fn random_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (mut buf, mut state, mut out) = (BytesMut::from(&bytes[..]), Chunk::default(), BytesMut::new());
            let _ = decode_chunked(&mut buf, &mut state, &mut out);
            prop_assert!(out.len() <= bytes.len());
        }
    }

    #[test]
    fn event_streams_are_recognised_in_any_case() {
        assert!(is_event_stream(b"text/event-stream"));
        assert!(is_event_stream(b"Text/Event-Stream; charset=utf-8"));
        assert!(!is_event_stream(b"application/json"));
        assert!(!is_event_stream(b"text/event"));
    }
}
