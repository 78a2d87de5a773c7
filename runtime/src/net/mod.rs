//! The network: listeners, TLS, the HTTP/1.1 server and client and their
//! codec, and the worker threads that run them (one single-threaded
//! runtime per core, with busy polling). Nothing here knows the
//! application: a listener is handed a [`listen::Service`], which answers
//! requests and words the refusals.

pub mod busy_poll;
pub mod http1;
pub mod https;
pub mod listen;
pub mod tls;
pub mod workers;
