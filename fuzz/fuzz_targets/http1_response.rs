//! A provider's answer: the first byte picks the method, the rest is the
//! head (the client's parser) and the body (its decoder): see
//! `hapax_runtime::fuzz::http1_response`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hapax_runtime::fuzz::http1_response(data));
