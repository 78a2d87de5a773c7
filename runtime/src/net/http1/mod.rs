//! HTTP/1.1 of our own, at both ends of the gateway: the [`server`] that
//! answers clients on plain and TLS `http/1.1` connections, and the
//! [`client`] that talks to providers. HTTP/2 (h2c by prior knowledge, TLS
//! with ALPN `h2`, providers with `pool { http2 on }`) is hyper's.

pub mod client;
pub mod codec;
#[cfg(test)]
mod differential;
#[cfg(test)]
mod fuzz_regressions;
pub mod server;
mod timer;
