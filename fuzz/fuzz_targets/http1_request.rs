//! A request head (the server's parser), its body by its framing, and any
//! request pipelined after it: see `hapax_runtime::fuzz::http1_request`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hapax_runtime::fuzz::http1_request(data));
