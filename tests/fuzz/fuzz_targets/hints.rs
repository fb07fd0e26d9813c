//! `cargo fuzz run --fuzz-dir tests/fuzz hints`: see `checks::hints`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::hints::check(data));
