//! The hapax policy language: parser, checker, formatter and compiler.
//!
//! `.hapax` files are parsed by a pest grammar (`grammar/hapax.pest`) into a
//! syntax tree that keeps every span and comment; the checker resolves names
//! across imported files, validates settings and types and compiles the
//! program into an immutable [`Graph`](graph::Graph) that the runtime
//! executes. Parsing never fails and checking reports every problem, so the
//! language server can run the same front end on half-typed files. This
//! crate does no I/O beyond reading files through a [`Vfs`](loader::Vfs).

pub mod authz;
pub mod check;
pub mod codes;
pub mod diag;
pub mod expr;
pub mod fmt;
pub mod fxhash;
pub mod graph;
pub mod loader;
pub mod refuse;
pub mod schema;
pub mod span;
pub mod suggest;
pub mod syntax;
pub mod testing;

pub use check::{check, check_paths, Checked, Mode};
pub use codes::Code;
pub use diag::{Diagnostic, Diagnostics, Severity};
pub use graph::Graph;
pub use loader::{load, MemFs, RealFs, Vfs};
pub use refuse::{refuse, Refused};
