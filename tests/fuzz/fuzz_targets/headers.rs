//! `cargo fuzz run --fuzz-dir tests/fuzz headers`: see `checks::headers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::headers::check(data));
