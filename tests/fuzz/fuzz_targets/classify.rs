//! `cargo fuzz run --fuzz-dir tests/fuzz classify`: see `checks::classify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::classify::check(data));
