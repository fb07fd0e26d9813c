//! The pure policy engine: no clock, no randomness of its own, no I/O, no JavaScript.
//!
//! Every function that depends on time takes `now_ms` (epoch milliseconds, `f64`, as
//! `Date.now()` gives it); every function that needs randomness takes `u`, a uniform draw in
//! `[0, 1)`. The same inputs always give the same outputs, so the drivers (the Wasm fetch
//! wrapper and the simulator) and the tests can run it in real or virtual time alike.

pub mod adaptive;
pub mod backoff;
pub mod bucket;
pub mod budget;
pub mod call;
pub mod classify;
pub mod config;
mod decimal;
pub mod estimate;
pub mod fingerprint;
pub mod headers;
pub mod hints;
pub(crate) mod index;
pub mod keys;
pub mod limiter;
pub mod models;
pub mod peek;
pub mod presets;
pub mod prompt_cache;
pub mod scheduler;
pub mod sha256;
pub mod share;
pub mod sse;
pub mod store;
pub mod time;
pub mod transit;
pub mod usage;

/// Milliseconds, as `f64` (JavaScript's native number). Absolute times are epoch milliseconds.
pub type Ms = f64;

/// `x` clamped into `[lo, hi]`, as [`f64::clamp`] computes it (NaN stays NaN, `-0.0` stays
/// `-0.0`), for bounds the caller knows are ordered, without `f64::clamp`'s check of them:
/// its panic message formats the bounds, which alone links the whole float formatter
/// (some 16 KB) into the Wasm module.
pub(crate) fn clamp(x: f64, lo: f64, hi: f64) -> f64 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// A URL's bytes before its query or fragment (the first `?` or `#`).
pub(crate) fn before_query(url: &str) -> &[u8] {
    let b = url.as_bytes();
    b.split(|&c| c == b'?' || c == b'#').next().unwrap_or(b)
}

/// Where `needle` first occurs in `hay` (`Some(0)` for an empty needle): byte windows, not
/// `str::find` or `contains`, whose two-way searcher weighs some 2 KB of Wasm. The inputs
/// (header values, model names, the start of a string) are short.
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}
