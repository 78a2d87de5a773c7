//! What the gateway tells its operators: each request's record (the access
//! log line and its metrics), the metric registry, and logging set-up.

pub mod audit;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod record;
