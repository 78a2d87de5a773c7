//! Providers at run time: each provider's transport, pool, health and
//! circuit breaker ([`provider`]), its pacing when it signals its own rate
//! limit ([`pacer`]), one attempt at a call ([`call`]), the
//! built-in mock provider, and the translation between the API the client
//! speaks and the one the provider speaks ([`translate`]).

pub mod breaker;
pub mod call;
pub mod mock;
pub mod pacer;
pub mod provider;
pub mod translate;
