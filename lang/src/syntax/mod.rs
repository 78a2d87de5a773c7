//! Syntax: the grammar-driven parser, the tree it builds and the comments it
//! keeps. Nothing here knows what a directive means.

pub mod ast;
pub mod comments;
pub mod parser;

pub use parser::{parse, parse_expr, parse_number};
