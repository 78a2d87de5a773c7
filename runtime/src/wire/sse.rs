//! An incremental parser for `text/event-stream` bodies, per the WHATWG HTML "server-sent
//! events" parsing rules.
//!
//! Upstream bodies arrive in chunks that split events, lines and even UTF-8 characters at
//! arbitrary bytes; the parser keeps only the unfinished line and the event being built, so
//! memory stays bounded by the largest event, never the whole stream.

/// One dispatched event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `None` when absent or empty (the spec's default type `message`).
    pub event: Option<String>,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Incremental SSE parser: [`feed`](Self::feed) it byte chunks, collect events.
#[derive(Debug)]
pub struct SseParser {
    /// The bytes of a line whose terminator has not arrived yet.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`: a `\n` at the start of the next one belongs to it.
    skip_lf: bool,
    /// Whether the first line (which may start with a byte order mark) was seen.
    bom_checked: bool,
    event: Option<String>,
    data: String,
    has_data: bool,
    /// The longest line, and the most data an event may hold.
    limit: usize,
    /// A line or an event was longer than `limit`: the stream is broken and
    /// nothing more is parsed.
    overflowed: bool,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::with_limit(MAX_EVENT)
    }
}

/// The longest line or event a parser takes by default.
pub const MAX_EVENT: usize = 1024 * 1024;

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// A parser that takes lines and events of at most `limit` bytes.
    pub fn with_limit(limit: usize) -> Self {
        SseParser {
            line: Vec::new(),
            skip_lf: false,
            bom_checked: false,
            event: None,
            data: String::new(),
            has_data: false,
            limit,
            overflowed: false,
        }
    }

    /// Whether a line or an event passed the limit; the parser then stops.
    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// Takes `chunk` as read without parsing it, when that is the same as
    /// parsing it and ignoring its events: nothing is pending and the chunk
    /// ends with a blank line, so it holds whole events only. Returns whether
    /// it did.
    pub fn pass_whole(&mut self, chunk: &[u8]) -> bool {
        let idle = self.line.is_empty() && !self.skip_lf && !self.has_data && self.event.is_none();
        if idle && chunk.ends_with(b"\n\n") {
            self.bom_checked = true;
            return true;
        }
        false
    }

    /// Parses `chunk` and returns the events it completes.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.feed_into(chunk, &mut out);
        out
    }

    /// Parses `chunk` and appends the events it completes to `out`.
    pub fn feed_into(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) {
        self.feed_each(chunk, |event, data| {
            out.push(SseEvent { event: event.map(str::to_owned), data: data.to_owned() })
        });
    }

    /// Parses `chunk` and hands each event it completes to `each`, as its
    /// `event:` field and its data, without copying them out.
    pub fn feed_each(&mut self, chunk: &[u8], mut each: impl FnMut(Option<&str>, &str)) {
        if self.overflowed {
            return;
        }
        let mut rest = chunk;
        if self.skip_lf {
            if let Some(tail) = rest.strip_prefix(b"\n") {
                rest = tail;
            }
            if !chunk.is_empty() {
                self.skip_lf = false;
            }
        }
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (line, tail) = rest.split_at(pos);
            if self.line.is_empty() {
                self.process_line(line, &mut each);
            } else {
                // Keep the buffer's capacity across lines: take it, use it, put it back empty.
                let mut buffered = std::mem::take(&mut self.line);
                buffered.extend_from_slice(line);
                self.process_line(&buffered, &mut each);
                buffered.clear();
                self.line = buffered;
            }
            if self.overflowed {
                return;
            }
            let Some((&terminator, after)) = tail.split_first() else {
                break;
            };
            rest = after;
            if terminator == b'\r' {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
        }
        if self.line.len() + rest.len() > self.limit {
            self.overflow();
            return;
        }
        self.line.extend_from_slice(rest);
    }

    fn overflow(&mut self) {
        self.overflowed = true;
        self.line = Vec::new();
        self.data = String::new();
        self.has_data = false;
        self.event = None;
    }

    /// Ends the stream: a last line without terminator is processed, and an event still being
    /// built is returned. (The spec discards such an event; upstreams that omit the final blank
    /// line are common enough that keeping it is the better trade.)
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut out = None;
        let mut keep = |event: Option<&str>, data: &str| {
            out = Some(SseEvent { event: event.map(str::to_owned), data: data.to_owned() })
        };
        if !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut keep);
        }
        self.process_line(b"", &mut keep);
        self.skip_lf = false;
        out
    }

    fn process_line(&mut self, line: &[u8], each: &mut impl FnMut(Option<&str>, &str)) {
        let mut line = line;
        if !self.bom_checked {
            self.bom_checked = true;
            if let Some(tail) = line.strip_prefix("\u{feff}".as_bytes()) {
                line = tail;
            }
        }
        if line.is_empty() {
            self.dispatch(each);
            return;
        }
        if line.first() == Some(&b':') {
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &line[line.len()..]),
        };
        match field {
            b"data" => {
                if self.data.len() + value.len() + 1 > self.limit || line.len() > self.limit {
                    self.overflow();
                    return;
                }
                if self.has_data {
                    self.data.push('\n');
                }
                push_text(&mut self.data, value);
                self.has_data = true;
            }
            b"event" => {
                self.event = if value.is_empty() {
                    None
                } else {
                    let mut name = String::new();
                    push_text(&mut name, value);
                    Some(name)
                };
            }
            // `id` and `retry` matter to browsers reconnecting, not to a proxy reading a
            // response once; other field names are ignored by the spec.
            _ => {}
        }
    }

    fn dispatch(&mut self, each: &mut impl FnMut(Option<&str>, &str)) {
        let event = self.event.take();
        if !self.has_data {
            return;
        }
        self.has_data = false;
        each(event.as_deref(), &self.data);
        // The buffer keeps its capacity for the next event.
        self.data.clear();
    }
}

/// Appends `bytes` as text, invalid UTF-8 replaced by U+FFFD (checking valid
/// text first: the lossy decoder takes it a piece at a time).
fn push_text(out: &mut String, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(text) => out.push_str(text),
        Err(_) => out.push_str(&String::from_utf8_lossy(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(event: Option<&str>, data: &str) -> SseEvent {
        SseEvent { event: event.map(str::to_owned), data: data.to_owned() }
    }

    #[test]
    fn a_line_or_an_event_longer_than_the_limit_stops_the_parser() {
        // A line that never ends holds at most the limit.
        let mut p = SseParser::with_limit(64);
        for _ in 0..100 {
            p.feed(&[b'x'; 10]);
        }
        assert!(p.overflowed());
        assert!(p.line.capacity() <= 64, "{}", p.line.capacity());
        // Many short data lines make one long event.
        let mut p = SseParser::with_limit(64);
        let events = p.feed("data: 0123456789\n".repeat(10).as_bytes());
        assert!(events.is_empty() && p.overflowed());
        assert!(p.feed(b"data: ok\n\n").is_empty(), "nothing more is parsed");
        // Within the limit all is as before, across chunks.
        let mut p = SseParser::with_limit(64);
        let mut events = p.feed(b"data: 0123456789\n");
        events.extend(p.feed(b"data: 0123456789\n\n"));
        assert_eq!(events, [ev(None, "0123456789\n0123456789")]);
        assert!(!p.overflowed());
    }

    fn parse_whole(input: &[u8]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = parser.feed(input);
        events.extend(parser.finish());
        events
    }

    fn parse_split(input: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        let mut start = 0;
        for &cut in cuts {
            parser.feed_into(&input[start..cut], &mut events);
            start = cut;
        }
        parser.feed_into(&input[start..], &mut events);
        events.extend(parser.finish());
        events
    }

    const SAMPLES: &[&[u8]] = &[
        b"event: message_start\ndata: {\"a\":1}\n\nevent: ping\ndata: {}\n\n",
        b"data: one\r\ndata: two\r\n\r\n: comment\r\ndata: three\r\n\r\n",
        b"data: x\rdata: y\r\rdata:z\n\n",
        "\u{feff}data: h\u{e9}llo \u{1f600}\n\ndata: [DONE]\n\n".as_bytes(),
        b"event: a\nevent: b\ndata\ndata:\n\nid: 7\nretry: 10\ndata:  two spaces\n\n",
        b"event: orphan\n\ndata: last without blank line",
    ];

    #[test]
    fn parses_fields_and_events() {
        assert_eq!(parse_whole(SAMPLES[0]), vec![ev(Some("message_start"), "{\"a\":1}"), ev(Some("ping"), "{}")]);
    }

    #[test]
    fn joins_data_lines_and_ignores_comments_with_crlf() {
        assert_eq!(parse_whole(SAMPLES[1]), vec![ev(None, "one\ntwo"), ev(None, "three")]);
    }

    #[test]
    fn lone_cr_ends_lines() {
        assert_eq!(parse_whole(SAMPLES[2]), vec![ev(None, "x\ny"), ev(None, "z")]);
    }

    #[test]
    fn strips_bom_and_keeps_utf8() {
        assert_eq!(parse_whole(SAMPLES[3]), vec![ev(None, "h\u{e9}llo \u{1f600}"), ev(None, "[DONE]")]);
    }

    #[test]
    fn field_rules() {
        // The last `event:` wins, a bare `data` line is an empty data line, `id`/`retry` are
        // ignored and only one leading space is stripped.
        assert_eq!(parse_whole(SAMPLES[4]), vec![ev(Some("b"), "\n"), ev(None, " two spaces")]);
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_finish_flushes() {
        assert_eq!(parse_whole(SAMPLES[5]), vec![ev(None, "last without blank line")]);
    }

    #[test]
    fn finish_on_clean_end_yields_nothing() {
        let mut parser = SseParser::new();
        assert_eq!(parser.feed(b"data: a\n\n").len(), 1);
        assert_eq!(parser.finish(), None);
    }

    #[test]
    fn every_single_split_gives_the_same_events() {
        for input in SAMPLES {
            let expected = parse_whole(input);
            for cut in 0..=input.len() {
                assert_eq!(
                    parse_split(input, &[cut]),
                    expected,
                    "input {:?} cut at {cut}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }

    #[test]
    fn every_pair_of_splits_gives_the_same_events() {
        for input in SAMPLES {
            let expected = parse_whole(input);
            for first in 0..=input.len() {
                for second in first..=input.len() {
                    assert_eq!(parse_split(input, &[first, second]), expected);
                }
            }
        }
    }

    #[test]
    fn byte_at_a_time_gives_the_same_events() {
        for input in SAMPLES {
            let cuts: Vec<usize> = (1..input.len()).collect();
            assert_eq!(parse_split(input, &cuts), parse_whole(input));
        }
    }

    #[test]
    fn empty_chunks_do_not_lose_a_pending_cr() {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        parser.feed_into(b"data: a\r", &mut events);
        parser.feed_into(b"", &mut events);
        parser.feed_into(b"\n\r\n", &mut events);
        assert_eq!(events, vec![ev(None, "a")]);
    }
}
