//! `cargo fuzz run --fuzz-dir tests/fuzz numbers`: see `checks::numbers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::numbers::check(data));
