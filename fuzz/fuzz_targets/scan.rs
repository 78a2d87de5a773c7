//! A request body through the JSON scanner, against serde_json: see
//! `hapax_runtime::fuzz::scan`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hapax_runtime::fuzz::scan(data));
