//! An event stream, cut into pieces seeded by the first byte, against the
//! reference parser: see `hapax_runtime::fuzz::sse`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hapax_runtime::fuzz::sse(data));
