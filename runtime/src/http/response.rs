//! An answer as the service gives it to a listener: status, headers and
//! body. The headers are a short list written out in order; no map is built
//! for the four or five an answer carries. hyper's HTTP/2 server gets an
//! `http::Response` made from it.

use crate::http::body::Body;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::StatusCode;

pub struct Response {
    pub status: StatusCode,
    /// In the order they are sent; names are unique unless added twice.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Body,
}

impl Response {
    /// An answer with room for the headers the request path adds.
    pub fn new(status: StatusCode, body: Body) -> Self {
        Response { status, headers: Vec::with_capacity(6), body }
    }

    /// A JSON answer.
    pub fn json(status: StatusCode, body: impl Into<Bytes>) -> Self {
        let mut r = Response::new(status, Body::full(body));
        r.add(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }

    /// Adds a header after the others.
    pub fn add(&mut self, name: HeaderName, value: HeaderValue) {
        self.headers.push((name, value));
    }

    /// hyper's form of the answer (HTTP/2).
    pub fn into_http(self) -> http::Response<Body> {
        let mut r = http::Response::new(self.body);
        *r.status_mut() = self.status;
        let map = r.headers_mut();
        map.reserve(self.headers.len());
        for (n, v) in self.headers {
            map.append(n, v);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_keep_their_order_and_reach_hyper() {
        let mut r = Response::json(StatusCode::CREATED, "{}");
        r.add(HeaderName::from_static("x-a"), HeaderValue::from_static("1"));
        r.add(HeaderName::from_static("x-a"), HeaderValue::from_static("2"));
        let names: Vec<_> = r.headers.iter().map(|(n, v)| (n.as_str(), v.to_str().unwrap())).collect();
        assert_eq!(names, [("content-type", "application/json"), ("x-a", "1"), ("x-a", "2")]);
        let h = r.into_http();
        assert_eq!(h.status(), StatusCode::CREATED);
        assert_eq!(h.headers().get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
    }
}
