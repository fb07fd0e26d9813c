//! `cargo fuzz run --fuzz-dir tests/fuzz estimate`: see `checks::estimate`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::estimate::check(data));
