//! The application: `hapax serve` from start to drain, the policy it loads
//! (and refuses, see [`enforcement`]), hot reload and the admin listener.
//! The top of the crate: it wires the layers below together.

pub mod admin;
pub mod admin_limits;
pub mod enforcement;
pub mod policy;
pub mod reload;
pub mod serve;
