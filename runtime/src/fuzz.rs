//! Fuzz harnesses for the decoders that read hostile bytes: each function
//! runs one decoder over arbitrary input and panics when an invariant that
//! must hold breaks. The targets in `fuzz/fuzz_targets/` call them (cargo-fuzz
//! builds with `--cfg fuzzing`), and so do the unit tests that replay the
//! seeds and every crash input kept under `fuzz/regressions/`
//! (`net/http1/fuzz_regressions.rs`).
//!
//! - [`http1_request`]: a request head with the server's parser, then its
//!   body by its framing (chunked through the codec's decoder, a length by
//!   taking bytes), then any pipelined request after it.
//! - [`http1_response`]: a provider's answer with the client's parser and
//!   body decoder.
//! - [`sse`]: the event-stream parser, fed in pieces (and the scan of the
//!   text a stream delivered, which a cut-short stream is charged for).
//! - [`scan`]: the JSON body scanner, against `serde_json`.
//!
//! Every decoder is also checked against a small reference written here from
//! the grammar (RFC 9112 §7.1 for chunked bodies, the WHATWG rules for event
//! streams, `serde_json` for JSON), and fed whole and in pieces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "fuzz harness: a failed invariant must crash"
)]
// cargo-fuzz builds every crate with `--cfg fuzzing`; the workspace does not
// declare that name, and only a module-level allow silences the check.
#![allow(unexpected_cfgs, reason = "`fuzzing` is set by cargo-fuzz, not declared by the workspace")]

#[cfg(any(fuzzing, test))]
pub use harness::{http1_request, http1_response, scan, sse};

#[cfg(any(fuzzing, test))]
mod harness {
    use crate::net::http1::codec::{self, decode_chunked, Chunk, Framing};
    use crate::net::http1::{client, server};
    use crate::wire::scan::{self as json, Model};
    use crate::wire::{SseEvent, SseParser};
    use bytes::BytesMut;
    use http::{Method, Version};

    /// The most pipelined requests one input is read as.
    const MAX_PIPELINED: usize = 8;

    /// A request head, its body, and any request pipelined after it.
    pub fn http1_request(data: &[u8]) {
        let mut at = 0;
        for _ in 0..MAX_PIPELINED {
            match one_request(&data[at..]) {
                Some(used) => at += used,
                None => return,
            }
            if at == data.len() {
                return;
            }
        }
    }

    /// Reads one request off the front of `data`; how many bytes it took
    /// when the connection could carry another.
    fn one_request(data: &[u8]) -> Option<usize> {
        let mut buf = BytesMut::from(data);
        let head = match server::parse_head(&mut buf) {
            Err((status, why)) => {
                assert!(status.is_client_error() || status.is_server_error(), "refused with {status}");
                assert!(!why.is_empty());
                // A refusal closes the connection. Most leave the buffer as
                // it was; one found after the head is split off (an invalid
                // target) has taken the head, and nothing more.
                assert!(data.ends_with(&buf), "a refusal changed the bytes");
                if buf.len() != data.len() {
                    let head = &data[..data.len() - buf.len()];
                    assert!(why == "invalid target" && head.ends_with(b"\n"), "refused ({why}), consumed {head:?}");
                }
                return None;
            }
            Ok(None) => {
                assert_eq!(&buf[..], data, "a partial head consumed bytes");
                return None;
            }
            Ok(Some(head)) => head,
        };
        let used = data.len() - buf.len();
        assert!(used > 0 && data[..used].ends_with(b"\n"), "a head ends with its blank line");
        check_request_head(&head, &data[..used]);

        let rest = &data[used..];
        let body_len = match head.framing {
            Framing::None => 0,
            Framing::Close => panic!("a request framed by the end of the connection"),
            // The server takes `n` bytes once they are all there.
            Framing::Length(n) => usize::try_from(n).ok().filter(|n| *n <= rest.len())?,
            Framing::Chunked => {
                let (done, consumed) = chunked_body(rest);
                if !done {
                    return None;
                }
                consumed
            }
        };
        assert!(body_len <= rest.len());
        head.keep_alive.then_some(used + body_len)
    }

    /// What must hold of a head the server took, checked against its
    /// headers as they came.
    fn check_request_head(head: &server::Head, raw: &[u8]) {
        // The same bytes alone give the same head (the body never shapes it),
        // and any prefix of them is an incomplete head.
        let mut alone = BytesMut::from(raw);
        let again = server::parse_head(&mut alone).expect("the head alone parses").expect("and is complete");
        assert!(alone.is_empty());
        assert_eq!((again.framing, again.keep_alive), (head.framing, head.keep_alive));
        for cut in [raw.len() - 1, raw.len() / 2] {
            assert!(
                matches!(server::parse_head(&mut BytesMut::from(&raw[..cut])), Ok(None)),
                "a prefix of a complete head is not incomplete (cut at {cut})"
            );
        }

        let http11 = match head.version {
            Version::HTTP_11 => true,
            Version::HTTP_10 => false,
            v => panic!("version {v:?}"),
        };
        let (mut lengths, mut codings, mut encoded, mut hosts) = (Vec::new(), Vec::new(), false, 0);
        let (mut close, mut keep_alive, mut expect) = (false, false, false);
        for (name, value) in head.headers.raw() {
            assert!(!name.is_empty() && name.iter().all(|b| codec::is_tchar(*b)), "header name {name:?}");
            assert!(value.iter().all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)), "header value {value:?}");
            let tokens = || value.split(|b| *b == b',').map(<[u8]>::trim_ascii);
            if name.eq_ignore_ascii_case(b"content-length") {
                lengths.push(value.trim_ascii());
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                encoded = true;
                codings.extend(tokens().filter(|t| !t.is_empty()));
            } else if name.eq_ignore_ascii_case(b"connection") {
                close |= tokens().any(|t| t.eq_ignore_ascii_case(b"close"));
                keep_alive |= tokens().any(|t| t.eq_ignore_ascii_case(b"keep-alive"));
            } else if name.eq_ignore_ascii_case(b"host") {
                hosts += 1;
            } else if name.eq_ignore_ascii_case(b"expect") {
                expect = http11 && value.trim_ascii().eq_ignore_ascii_case(b"100-continue");
            }
        }
        // RFC 9112 §3.2: exactly one host (HTTP/1.0 may leave it out).
        assert!(hosts == 1 || (!http11 && hosts == 0), "{hosts} hosts");
        assert_eq!(head.keep_alive, !close && (http11 || keep_alive), "persistence");
        assert_eq!(head.expect_continue, expect, "expect: 100-continue");
        let decimal = |v: &[u8]| -> u64 {
            assert!(!v.is_empty() && v.len() <= 18 && v.iter().all(u8::is_ascii_digit), "content-length {v:?}");
            v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0'))
        };
        match head.framing {
            // RFC 9112 §6.1: chunked, once and last, HTTP/1.1, no length.
            Framing::Chunked => {
                assert!(http11 && lengths.is_empty(), "chunked with a length, or in HTTP/1.0");
                assert!(codings.len() == 1 && codings[0].eq_ignore_ascii_case(b"chunked"), "codings {codings:?}");
            }
            Framing::Length(n) => {
                assert!(!encoded && lengths.len() == 1, "length {n} from {lengths:?} {codings:?}");
                assert!(n > 0 && decimal(lengths[0]) == n);
            }
            Framing::None => {
                assert!(!encoded && lengths.len() <= 1, "no body from {lengths:?} {codings:?}");
                assert!(lengths.iter().all(|v| decimal(v) == 0));
            }
            Framing::Close => panic!("a request framed by close"),
        }
    }

    /// Decodes a chunked body off the front of `rest` whole and in pieces,
    /// checks both against the reference, and returns whether it is complete
    /// and how many bytes it took.
    fn chunked_body(rest: &[u8]) -> (bool, usize) {
        let whole = chunked_whole(rest);
        for step in [1, 7, 64] {
            if step == 1 && rest.len() > 4096 {
                continue;
            }
            assert_eq!(chunked_pieces(rest, step), whole, "fed {step} bytes at a time");
        }
        check_against_reference(rest, &whole);
        match whole {
            Decoded::Done { consumed, .. } => (true, consumed),
            Decoded::Partial { .. } | Decoded::Invalid => (false, 0),
        }
    }

    /// What a chunked decoder made of its input.
    #[derive(Debug, PartialEq, Eq)]
    enum Decoded {
        /// The body, and how many bytes of input it took.
        Done {
            body: Vec<u8>,
            consumed: usize,
        },
        /// It waits for more; what it has decoded so far.
        Partial {
            body: Vec<u8>,
        },
        Invalid,
    }

    fn chunked_whole(input: &[u8]) -> Decoded {
        let (mut buf, mut state, mut out) = (BytesMut::from(input), Chunk::default(), BytesMut::new());
        let r = decode_chunked(&mut buf, &mut state, &mut out);
        assert!(out.len() <= input.len(), "decoded more than the input");
        match r {
            Err(_) => Decoded::Invalid,
            Ok(true) => Decoded::Done { body: out.to_vec(), consumed: input.len() - buf.len() },
            Ok(false) => Decoded::Partial { body: out.to_vec() },
        }
    }

    fn chunked_pieces(input: &[u8], step: usize) -> Decoded {
        let (mut buf, mut state, mut out) = (BytesMut::new(), Chunk::default(), BytesMut::new());
        let mut at = 0;
        while at < input.len() {
            let n = step.min(input.len() - at);
            buf.extend_from_slice(&input[at..at + n]);
            at += n;
            match decode_chunked(&mut buf, &mut state, &mut out) {
                Err(_) => return Decoded::Invalid,
                Ok(true) => return Decoded::Done { body: out.to_vec(), consumed: at - buf.len() },
                Ok(false) => {}
            }
        }
        Decoded::Partial { body: out.to_vec() }
    }

    /// Ours against the reference: what ours accepts, the reference accepts
    /// alike; what ours refuses, the reference refuses or it broke a limit;
    /// a body the reference accepts within the limits, ours accepts.
    fn check_against_reference(input: &[u8], ours: &Decoded) {
        let (reference, within) = reference::chunked(input);
        match (ours, &reference) {
            (Decoded::Done { .. }, _) => assert_eq!(ours, &reference, "the reference reads it otherwise"),
            (Decoded::Invalid, Decoded::Invalid) => {}
            (Decoded::Invalid, _) => assert!(!within, "refused within the limits: reference {reference:?}"),
            (Decoded::Partial { .. }, Decoded::Done { .. }) => {
                assert!(!within, "waits for more where the reference has the whole body")
            }
            (Decoded::Partial { .. }, Decoded::Partial { .. }) => assert_eq!(ours, &reference, "partial bodies differ"),
            // Ours may notice a broken byte later (e.g. the one byte after a
            // chunk's data, before the second one arrives).
            (Decoded::Partial { .. }, Decoded::Invalid) => {}
        }
    }

    /// A strict chunked decoder written from the grammar (RFC 9112 §7.1,
    /// RFC 9110 §5.6 for tokens and quoted strings), slow and plain, that
    /// also says whether the input stayed within the codec's limits.
    mod reference {
        use super::Decoded;
        use crate::net::http1::codec::{MAX_EXTENSIONS, MAX_LINE, MAX_TRAILERS, MAX_TRAILER_LINES};

        enum Line<'a> {
            Whole(&'a [u8]),
            Partial(usize),
            Broken,
        }

        /// The CRLF-terminated line at `at`; a bare CR or LF breaks it.
        fn line(input: &[u8], at: usize) -> Line<'_> {
            let mut i = at;
            while i < input.len() {
                match input[i] {
                    b'\n' => return Line::Broken,
                    b'\r' => {
                        return match input.get(i + 1) {
                            None => Line::Partial(i - at),
                            Some(b'\n') => Line::Whole(&input[at..i]),
                            Some(_) => Line::Broken,
                        }
                    }
                    _ => i += 1,
                }
            }
            Line::Partial(input.len() - at)
        }

        fn tchar(b: u8) -> bool {
            matches!(b, b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        }

        /// `token`, then the rest.
        fn token(s: &[u8]) -> Option<&[u8]> {
            let n = s.iter().position(|b| !tchar(*b)).unwrap_or(s.len());
            (n > 0).then(|| &s[n..])
        }

        /// `quoted-string`, then the rest.
        fn quoted(s: &[u8]) -> Option<&[u8]> {
            let mut rest = s.strip_prefix(b"\"")?;
            loop {
                let (&c, tail) = rest.split_first()?;
                rest = match c {
                    b'"' => return Some(tail),
                    b'\\' => {
                        let (&q, tail) = tail.split_first()?;
                        if !(q == b'\t' || q == b' ' || (0x21..=0x7e).contains(&q) || q >= 0x80) {
                            return None;
                        }
                        tail
                    }
                    b'\t' | b' ' | 0x21 | 0x23..=0x5b | 0x5d..=0x7e | 0x80..=0xff => tail,
                    _ => return None,
                };
            }
        }

        /// `*( ";" chunk-ext-name [ "=" chunk-ext-val ] )` with no BWS.
        fn extensions(mut s: &[u8]) -> bool {
            while !s.is_empty() {
                let Some(after) = s.strip_prefix(b";").and_then(token) else { return false };
                s = after;
                if let Some(v) = s.strip_prefix(b"=") {
                    let Some(after) = (if v.first() == Some(&b'"') { quoted(v) } else { token(v) }) else {
                        return false;
                    };
                    s = after;
                }
            }
            true
        }

        /// `field-name ":" OWS field-value OWS`.
        fn field_line(s: &[u8]) -> bool {
            match token(s).and_then(|v| v.strip_prefix(b":")) {
                Some(value) => value.iter().all(|b| *b == b'\t' || (*b >= 0x20 && *b != 0x7f)),
                None => false,
            }
        }

        /// The body of the chunked message at the start of `input`, and
        /// whether every line, the extensions and the trailers stayed within
        /// the codec's limits (over them, ours refuses what this accepts).
        pub(super) fn chunked(input: &[u8]) -> (Decoded, bool) {
            let (mut at, mut body, mut within) = (0, Vec::new(), true);
            let (mut extension_bytes, mut trailer_bytes, mut trailer_lines) = (0, 0, 0);
            let partial = |body: Vec<u8>, within: bool| (Decoded::Partial { body }, within);
            // The chunks.
            loop {
                let size_line = match line(input, at) {
                    Line::Whole(l) => l,
                    Line::Partial(n) => return partial(body, within && n <= MAX_LINE),
                    Line::Broken => return (Decoded::Invalid, within),
                };
                within &= size_line.len() <= MAX_LINE;
                at += size_line.len() + 2;
                let digits = size_line.iter().position(|b| !b.is_ascii_hexdigit()).unwrap_or(size_line.len());
                if digits == 0 || digits > 16 || !extensions(&size_line[digits..]) {
                    return (Decoded::Invalid, within);
                }
                extension_bytes += size_line.len() - digits;
                within &= extension_bytes <= MAX_EXTENSIONS;
                let text = std::str::from_utf8(&size_line[..digits]).expect("hex digits");
                let size = u64::from_str_radix(text, 16).expect("at most 16 hex digits");
                if size == 0 {
                    break;
                }
                let left = (input.len() - at) as u64;
                if left < size {
                    body.extend_from_slice(&input[at..]);
                    return partial(body, within);
                }
                let size = size as usize;
                body.extend_from_slice(&input[at..at + size]);
                at += size;
                match input.get(at..at + 2) {
                    Some(b"\r\n") => at += 2,
                    Some(_) => return (Decoded::Invalid, within),
                    None if input[at..].is_empty() || input[at..] == *b"\r" => return partial(body, within),
                    None => return (Decoded::Invalid, within),
                }
            }
            // The trailers, up to the blank line.
            loop {
                match line(input, at) {
                    Line::Whole([]) => return (Decoded::Done { body, consumed: at + 2 }, within),
                    Line::Whole(l) => {
                        within &= l.len() <= MAX_LINE;
                        trailer_bytes += l.len() + 2;
                        trailer_lines += 1;
                        within &= trailer_bytes <= MAX_TRAILERS && trailer_lines <= MAX_TRAILER_LINES;
                        if !field_line(l) {
                            return (Decoded::Invalid, within);
                        }
                        at += l.len() + 2;
                    }
                    Line::Partial(n) => return partial(body, within && n <= MAX_LINE),
                    Line::Broken => return (Decoded::Invalid, within),
                }
            }
        }
    }

    fn keep_all(_: &str) -> bool {
        true
    }

    /// A provider's answer: the first byte picks the request's method, the
    /// rest is what the provider sent.
    pub fn http1_response(data: &[u8]) {
        let Some((&pick, data)) = data.split_first() else { return };
        let method = match pick % 3 {
            0 => Method::POST,
            1 => Method::GET,
            _ => Method::HEAD,
        };
        let mut buf = BytesMut::from(data);
        let head = match client::parse_head(&mut buf, &method, keep_all) {
            Err(_) | Ok(None) => return,
            Ok(Some(head)) => head,
        };
        let status = head.status.as_u16();
        assert!(!head.status.is_informational(), "an interim answer {status} taken as the answer");
        let rest = &data[data.len() - buf.len()..];
        if method == Method::HEAD || status == 204 || status == 304 {
            assert_eq!(head.framing, client::Framing::Done, "a bodiless answer with a body");
        }
        if head.reusable {
            assert_ne!(head.framing, client::Framing::Close, "a close-delimited answer on a reusable connection");
        }
        let start = head.framing;
        let (body, end, error) = response_body(&mut buf, head.framing);
        assert!(body.len() <= rest.len(), "decoded more than the input");
        match start {
            client::Framing::Done => assert!(body.is_empty() && buf.len() == rest.len() && !error),
            client::Framing::Close => assert!(body == rest && buf.is_empty() && !error),
            client::Framing::Length(total) => {
                let n = usize::try_from(total).unwrap_or(usize::MAX).min(rest.len());
                assert!(body == rest[..n] && !error, "a length-delimited body");
                assert_eq!(end == client::Framing::Done, rest.len() as u64 >= total, "where the body ends");
            }
            client::Framing::Chunked(_) => {
                let ours = match (end, error) {
                    (_, true) => Decoded::Invalid,
                    (client::Framing::Done, false) => Decoded::Done { body, consumed: rest.len() - buf.len() },
                    (_, false) => Decoded::Partial { body },
                };
                // The codec's decoder straight, and in pieces, agree with
                // the client's, and all with the reference.
                assert_eq!(chunked_whole(rest), ours, "the client's decoder differs from the codec's");
                if rest.len() <= 4096 {
                    assert_eq!(response_bytewise(rest), ours, "the client's decoder fed a byte at a time");
                }
                check_against_reference(rest, &ours);
            }
        }
    }

    /// A chunked answer's body read by the client's decoder as it would be
    /// if it came one byte per read.
    fn response_bytewise(input: &[u8]) -> Decoded {
        let (mut buf, mut framing) = (BytesMut::new(), client::Framing::Chunked(Chunk::default()));
        let mut body = Vec::new();
        for (i, b) in input.iter().enumerate() {
            buf.extend_from_slice(&[*b]);
            match client::decode(&mut buf, &mut framing) {
                Ok(Some(data)) => body.extend_from_slice(&data),
                Ok(None) => {}
                Err(_) => return Decoded::Invalid,
            }
            if framing == client::Framing::Done {
                return Decoded::Done { body, consumed: i + 1 - buf.len() };
            }
        }
        Decoded::Partial { body }
    }

    /// Reads the body as the client does, until it needs more input: the
    /// body, where the framing stands, and whether it failed.
    fn response_body(buf: &mut BytesMut, mut framing: client::Framing) -> (Vec<u8>, client::Framing, bool) {
        let mut body = Vec::new();
        loop {
            match client::decode(buf, &mut framing) {
                Ok(Some(data)) => {
                    assert!(!data.is_empty(), "an empty piece of body");
                    body.extend_from_slice(&data);
                }
                Ok(None) => return (body, framing, false),
                Err(_) => return (body, framing, true),
            }
        }
    }

    /// An event stream: the first byte seeds how it is cut into pieces, the
    /// rest is the stream. The events are the same however it is cut, and
    /// the same as the reference's; a piece [`SseParser::pass_whole`] takes
    /// unread would have given events only.
    pub fn sse(data: &[u8]) {
        let Some((&seed, stream)) = data.split_first() else { return };
        let pieces = cut(stream, seed);

        let mut whole = SseParser::new();
        let mut expected = whole.feed(stream);
        expected.extend(whole.finish());
        assert_eq!(expected, reference_sse(stream), "the reference reads the stream otherwise");

        // `cut` feeds every piece; `passing` lets pass_whole take what it will.
        let (mut cut_parser, mut passing) = (SseParser::new(), SseParser::new());
        let mut all = Vec::new();
        for piece in &pieces {
            let events = cut_parser.feed(piece);
            if !passing.pass_whole(piece) {
                assert_eq!(passing.feed(piece), events, "after a passed piece, the parsers differ");
            }
            all.extend(events);
        }
        let last = cut_parser.finish();
        assert_eq!(passing.finish(), last, "after passed pieces, the parsers end otherwise");
        all.extend(last);
        assert_eq!(all, expected, "cut into {} pieces", pieces.len());

        // What a cut-short stream is charged for reads the same bytes.
        assert!(crate::wire::delivered_text(stream) <= stream.len() as u64, "more text than bytes");
        let size: usize = expected.iter().map(|e| e.data.len() + e.event.as_ref().map_or(0, String::len)).sum();
        assert!(size <= 3 * stream.len(), "events larger than the stream could make");
        for e in &expected {
            assert!(!e.data.contains('\r'), "a CR in data");
            assert!(e.event.as_ref().is_none_or(|n| !n.is_empty() && !n.contains(['\r', '\n'])), "event {e:?}");
        }
    }

    /// Cuts `stream` into pieces of 0 to 31 bytes, by a generator seeded
    /// with `seed`.
    fn cut(stream: &[u8], seed: u8) -> Vec<&[u8]> {
        let mut x = u32::from(seed).wrapping_mul(2_654_435_761) | 1;
        let (mut pieces, mut rest) = (Vec::new(), stream);
        while !rest.is_empty() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let n = (x % 32) as usize;
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            pieces.push(piece);
            rest = tail;
        }
        pieces
    }

    /// The WHATWG parsing rules over the whole stream, decoded first (one
    /// leading BOM dropped, bad UTF-8 replaced); an event still being built
    /// at the end is kept, as the parser's `finish` does.
    fn reference_sse(stream: &[u8]) -> Vec<SseEvent> {
        let text = String::from_utf8_lossy(stream);
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        let mut lines = Vec::new();
        let mut rest = text;
        while let Some(i) = rest.find(['\r', '\n']) {
            lines.push(&rest[..i]);
            rest = if rest[i..].starts_with("\r\n") { &rest[i + 2..] } else { &rest[i + 1..] };
        }
        lines.push(rest);
        lines.push("");
        let (mut events, mut event, mut data) = (Vec::new(), None::<String>, None::<String>);
        for line in lines {
            if line.is_empty() {
                if let Some(data) = data.take() {
                    events.push(SseEvent { event: event.take(), data });
                }
                event = None;
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_owned()),
                },
                "event" => event = (!value.is_empty()).then(|| value.to_owned()),
                _ => {}
            }
        }
        events
    }

    /// A JSON value as `serde_json` reads it, with every member of an object
    /// kept in order (duplicates too, as the scanner sees them).
    #[derive(Debug)]
    enum Json {
        Null,
        Bool(bool),
        Number,
        Str(String),
        List(Vec<Json>),
        Object(Vec<(String, Json)>),
    }

    impl<'de> serde::Deserialize<'de> for Json {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Json;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("JSON")
                }
                fn visit_unit<E>(self) -> Result<Json, E> {
                    Ok(Json::Null)
                }
                fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                    Ok(Json::Bool(b))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
                    Ok(Json::Number)
                }
                fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
                    Ok(Json::Number)
                }
                fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
                    Ok(Json::Number)
                }
                fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                    Ok(Json::Str(s.to_owned()))
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                    let mut items = Vec::new();
                    while let Some(v) = a.next_element()? {
                        items.push(v);
                    }
                    Ok(Json::List(items))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                    let mut members = Vec::new();
                    while let Some(m) = a.next_entry()? {
                        members.push(m);
                    }
                    Ok(Json::Object(members))
                }
            }
            d.deserialize_any(V)
        }
    }

    /// Where a value sits, for counting characters (see `wire::scan`).
    #[derive(Clone, Copy, PartialEq)]
    enum Count {
        Content,
        Item,
        Text,
        Messages,
        Message,
    }

    /// The characters the scanner counts for `v` where it sits, written
    /// from its documentation.
    fn chars(v: &Json, c: Count) -> usize {
        match v {
            Json::Str(s) if matches!(c, Count::Content | Count::Item | Count::Text) => s.chars().count(),
            Json::Number if c == Count::Item => 4,
            Json::List(items) => match c {
                Count::Content => items.iter().map(|i| chars(i, Count::Item)).sum(),
                Count::Messages => items.iter().map(|i| chars(i, Count::Message)).sum(),
                Count::Item => 4 * items.len(),
                _ => 0,
            },
            Json::Object(members) => {
                let (wanted, inner) = match c {
                    Count::Item => ("text", Count::Text),
                    Count::Message => ("content", Count::Content),
                    _ => return 0,
                };
                members.iter().filter(|(k, _)| k == wanted).map(|(_, v)| chars(v, inner)).sum()
            }
            _ => 0,
        }
    }

    /// The names the scanner reads at the top, which may come only once.
    const READ: [&str; 7] = ["model", "stream", "stream_options", "messages", "system", "prompt", "input"];

    /// A request body: the scanner accepts what `serde_json` accepts as an
    /// object (save a duplicate of a field it reads), refuses what serde
    /// refuses (save lone surrogate escapes, which serde refuses in a string
    /// it decodes and lets through a value it skips), and reads the same
    /// fields.
    pub fn scan(data: &[u8]) {
        let ours = json::scan(data);
        let theirs = serde_json::from_slice::<Json>(data);
        // `\uD800`-`\uDFFF` escapes: serde decodes pairs into one character,
        // and refuses lone ones; the scanner counts an escape as one.
        let surrogates = data.windows(3).any(|w| w[0] == b'\\' && w[1] == b'u' && matches!(w[2], b'd' | b'D'));
        match (ours, theirs) {
            (Ok(fields), Ok(Json::Object(members))) => {
                for name in READ {
                    let n = members.iter().filter(|(k, _)| k == name).count();
                    assert!(n <= 1, "`{name}` {n} times, accepted");
                }
                let get = |name: &str| members.iter().find(|(k, _)| k == name).map(|(_, v)| v);
                let model = match get("model") {
                    None | Some(Json::Null) => Model::None,
                    Some(Json::Str(s)) => Model::Str(s.clone().into()),
                    Some(_) => Model::NotAString,
                };
                assert_eq!(fields.model, model);
                assert_eq!(fields.stream, matches!(get("stream"), Some(Json::Bool(true))), "stream");
                let usage = match get("stream_options") {
                    Some(Json::Object(o)) => o.iter().rev().find(|(k, _)| k == "include_usage").map(|(_, v)| v),
                    _ => None,
                };
                assert_eq!(fields.include_usage, matches!(usage, Some(Json::Bool(true))), "include_usage");
                if !surrogates {
                    let count = |name, c| get(name).map_or(0, |v| chars(v, c));
                    assert_eq!(fields.chars.messages, count("messages", Count::Messages), "messages");
                    assert_eq!(fields.chars.system, count("system", Count::Content), "system");
                    assert_eq!(fields.chars.prompt, count("prompt", Count::Content), "prompt");
                    assert_eq!(fields.chars.input, count("input", Count::Content), "input");
                }
            }
            (Ok(_), Ok(other)) => panic!("accepted a body that is not an object: {other:?}"),
            (Ok(_), Err(e)) => assert!(surrogates, "accepted what serde_json refuses: {e}"),
            (Err(json::Invalid::Duplicate(name)), Ok(Json::Object(members))) => {
                let n = members.iter().filter(|(k, _)| k == name).count();
                assert!(n > 1, "`{name}` refused as a duplicate, found {n} times");
            }
            (Err(json::Invalid::Duplicate(name)), Ok(other)) => panic!("a duplicate `{name}` in {other:?}"),
            (Err(e @ json::Invalid::Syntax { .. }), Ok(Json::Object(_))) => {
                panic!("refused an object serde_json accepts: {e}")
            }
            (Err(_), _) => {}
        }
    }
}
