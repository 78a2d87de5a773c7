//! A request as a listener hands it to the service: method, target, the
//! headers as they came, and the body.
//!
//! The headers are a list of slices of one shared buffer (for HTTP/1.1, the
//! head as it was read), looked up by name in any case. A request carries a
//! handful of headers and the gateway reads three or four of them, so a
//! scan costs less than hashing every name into a map, and nothing is
//! copied or allocated per header.

use crate::http::body::ReqBody;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, Method, Uri};

/// What the service answers.
pub struct Request {
    pub method: Method,
    pub uri: Uri,
    pub headers: Headers,
    pub body: ReqBody,
}

impl Request {
    /// A request from hyper's (HTTP/2); its headers are copied into a list.
    pub fn from_http(req: http::Request<ReqBody>) -> Self {
        let (parts, body) = req.into_parts();
        Request { method: parts.method, uri: parts.uri, headers: Headers::from_map(&parts.headers), body }
    }
}

/// A request's headers, in the order they came. Names are HTTP tokens
/// (ASCII) and values contain no control characters other than tab; both
/// were checked when the head was parsed.
#[derive(Clone, Default)]
pub struct Headers {
    buf: Bytes,
    spans: Vec<Span>,
}

/// Where a name and its value lie in the buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Span {
    pub name: u32,
    pub name_len: u32,
    pub value: u32,
    pub value_len: u32,
}

impl Headers {
    /// Headers whose names and values lie in `buf` where `spans` say; the
    /// caller has checked them (see the type's documentation).
    pub fn new(buf: Bytes, spans: Vec<Span>) -> Self {
        debug_assert!(spans.iter().all(|s| {
            let (n, v) = (s.name as usize + s.name_len as usize, s.value as usize + s.value_len as usize);
            n <= buf.len() && v <= buf.len() && buf[s.name as usize..n].is_ascii()
        }));
        Headers { buf, spans }
    }

    /// The headers of a map, copied into one buffer.
    pub fn from_map(map: &HeaderMap) -> Self {
        let size = map.iter().map(|(n, v)| n.as_str().len() + v.len()).sum();
        let mut buf = BytesMut::with_capacity(size);
        let mut spans = Vec::with_capacity(map.len());
        for (name, value) in map {
            let at = buf.len() as u32;
            buf.put_slice(name.as_str().as_bytes());
            buf.put_slice(value.as_bytes());
            let name_len = name.as_str().len() as u32;
            spans.push(Span { name: at, name_len, value: at + name_len, value_len: value.len() as u32 });
        }
        Headers { buf: buf.freeze(), spans }
    }

    /// The first value of `name`, in any case.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.as_bytes();
        self.raw().find(|(n, _)| crate::http::ascii::eq_ignore_case(n, name)).map(|(_, v)| v)
    }

    /// The first value of `name` as text, when it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every name and value, in order; names as they were sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> + '_ {
        // Names were checked to be tokens, hence ASCII.
        self.raw().map(|(n, v)| (std::str::from_utf8(n).unwrap_or(""), v))
    }

    /// Every name and value as bytes, in order.
    pub fn raw(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|s| {
            let name = self.buf.get(s.name as usize..(s.name + s.name_len) as usize).unwrap_or_default();
            let value = self.buf.get(s.value as usize..(s.value + s.value_len) as usize).unwrap_or_default();
            (name, value)
        })
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v)))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_ignore_case_and_keep_order() {
        let mut map = HeaderMap::new();
        map.append("x-team", "a".parse().unwrap());
        map.append("x-team", "b".parse().unwrap());
        map.append("content-type", "application/json".parse().unwrap());
        let h = Headers::from_map(&map);
        assert_eq!(h.len(), 3);
        assert_eq!(h.get("X-Team"), Some(&b"a"[..]));
        assert_eq!(h.get_str("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(h.get("x-none"), None);
        let all: Vec<_> = h.iter().filter(|(n, _)| *n == "x-team").map(|(_, v)| v).collect();
        assert_eq!(all, [&b"a"[..], &b"b"[..]]);
        assert!(Headers::default().is_empty());
    }
}
