//! State: the snapshot a request runs on (the compiled graph plus what is
//! derived from it), the registry of what outlives a reload, and the
//! embedded stores under `data_dir` (API keys, usage), and the limiters.

pub mod jwks;
pub mod keys;
pub mod limiter;
pub mod registry;
pub mod snapshot;
pub mod usage;

pub use registry::State;
