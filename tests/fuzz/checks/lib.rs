//! The invariants the fuzz targets hold the core to, one module per target, each with a
//! `check(data: &[u8])` that panics on a violation.
//!
//! Two crates compile this file: the fuzz crate (`tests/fuzz/`, as its library, used by the
//! targets in `fuzz_targets/`) and the main crate's `tests/fuzz_corpus.rs` (through
//! `#[path]`), which replays every committed corpus file under plain `cargo test`. Every
//! nested module is named with `#[path]` so the two agree on where the files are.
//!
//! The checks assert behaviour, not only the absence of panics: differential checks against
//! independent implementations (`str::parse::<f64>`, `httpdate`, `humantime`, the WHATWG
//! event-stream algorithm written out naively), the bounds each module documents, and
//! metamorphic relations (chunking, header-name case, unknown headers).

#[path = "classify.rs"]
pub mod classify;
#[path = "../../../src/core/decimal.rs"]
#[allow(dead_code, unreachable_pub)]
mod decimal;
#[path = "engine.rs"]
pub mod engine;
#[path = "estimate.rs"]
pub mod estimate;
#[path = "headers.rs"]
pub mod headers;
#[path = "hints.rs"]
pub mod hints;
#[path = "numbers.rs"]
pub mod numbers;
#[path = "sse.rs"]
pub mod sse;
#[path = "usage.rs"]
pub mod usage;

/// The local time a response arrives at, unless an input says otherwise:
/// 2026-11-22T13:04:30Z.
pub const NOW: f64 = 1_795_352_670_000.0;

/// Does `s` match `digits [. digits] [(e|E) [+|-] digits]`, with at least one digit before
/// the exponent? The grammar of the numbers in headers (no sign, no `inf`, no `NaN`).
pub fn decimal_grammar(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits(0);
    let mut i = int_end;
    let mut mantissa_digits = int_end;
    if i < b.len() && b[i] == b'.' {
        let end = digits(i + 1);
        mantissa_digits += end - i - 1;
        i = end;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let end = digits(i);
        if end == i {
            return false;
        }
        i = end;
    }
    i == b.len()
}

/// A header number as the documentation defines it: the grammar of [`decimal_grammar`]
/// without an exponent (delay-seconds and counts are digits, with a fraction at most), finite. Its value is the decimal parser's, which the `numbers` check holds to
/// `str::parse::<f64>`'s (within 10^-14, exact for short numbers): the checks that use this
/// one are about which header is read, not about digits.
pub fn reference_number(s: &str) -> Option<f64> {
    if !decimal_grammar(s) || s.contains(['e', 'E']) {
        return None;
    }
    let v = decimal::parse(s).unwrap_or_else(|| panic!("{s:?} refused, which the grammar allows"));
    v.is_finite().then_some(v)
}

/// What `httpdate` reads in `s`, in epoch ms.
pub fn reference_http_date(s: &str) -> Option<f64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(d.as_secs() as f64 * 1000.0)
}

/// Header lines `name: value` (split at the first colon; a line without one is a name with
/// an empty value), as a driver hands them over: the value keeps its spaces (the parser
/// trims them).
pub fn header_lines(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .map(|l| match l.split_once(':') {
            Some((n, v)) => (n, v),
            None => (l, ""),
        })
        .collect()
}
