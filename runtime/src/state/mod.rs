//! State: the snapshot a request runs on (the compiled graph plus what is
//! derived from it) and the registry of what outlives a reload.

pub mod registry;
pub mod snapshot;

pub use registry::State;
