//! A response's usage read from its JSON text (`core::usage`), run on the `estimate` target's
//! inputs (any bytes, read as JSON text).
//!
//! Checks: the text reads as the parsed document walked along `usage::PATHS` reads (a
//! top-level array's elements each in turn; `serde_json` standing in for `JSON.parse`, the
//! last of duplicate keys winning in both),
//! and a text split in two reads as the whole does; what is not JSON reports nothing.

use llm_pacer::core::limiter::Usage;
use llm_pacer::core::usage::{Object, Report, Scan, PATHS};
use serde_json::Value;

/// The reference: the parsed document walked along `PATHS` (a top-level array's elements
/// each in turn, as documents), each usage object read by `Object::read` (what the driver
/// does with a document the caller parsed). Also `tests/usage.rs`'s reference.
pub fn walked(doc: &Value) -> Option<Usage> {
    let mut r = Report::default();
    let docs = match doc {
        Value::Array(elements) => elements.iter().collect(),
        doc => vec![doc],
    };
    for doc in docs {
        for path in PATHS {
            let mut v = Some(doc);
            for key in path {
                v = v.and_then(|o| o.get(key));
            }
            if let Some(u) = v.filter(|v| v.is_object()) {
                r.take(&Object::read(|name| u.get(name).and_then(Value::as_f64)));
            }
        }
    }
    r.finish()
}

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let mut whole = Report::default();
    let read = whole.read_json(data);
    let mut halves = Scan::default();
    let cut = data.len() / 2;
    halves.feed(&data[..cut]);
    halves.feed(&data[cut..]);
    let mut split = Report::default();
    assert_eq!(halves.finish(&mut split), read, "split at {cut}");
    assert_eq!(split, whole, "split at {cut}");
    if !read {
        assert_eq!(whole.finish(), None, "text that is not JSON");
    }
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    assert!(read, "JSON the usage reader does not read");
    // Numbers longer than the reader keeps (no server writes one) are not read.
    if data
        .split(|b| !b.is_ascii_digit() && !b".eE+-".contains(b))
        .any(|run| run.len() > 200)
    {
        return;
    }
    let (got, want) = (whole.finish(), walked(&doc));
    // Numbers are read by the core's decimal parser: within 10^-14 past 15 significant
    // digits, so a value at a bound of the valid range may fall either side of it (and
    // count as 0 on one side).
    let fields = |u: Option<Usage>| {
        u.map(|u| {
            [
                u.input_tokens,
                u.cache_creation_input_tokens,
                u.cache_read_input_tokens,
                u.output_tokens,
            ]
        })
    };
    let at_bound =
        |v: f64| (v - Usage::MAX_TOKENS).abs() <= Usage::MAX_TOKENS * 1e-14 || v.abs() < 1e-300;
    let same = |g: f64, w: f64| {
        (g - w).abs() <= w.abs() * 1e-14 || (g == 0.0 && at_bound(w)) || (w == 0.0 && at_bound(g))
    };
    match (fields(got), fields(want)) {
        (Some(g), Some(w)) => assert!(
            g.iter().zip(w).all(|(&g, w)| same(g, w)),
            "{got:?} vs {want:?}"
        ),
        (None, None) => {}
        // Nothing valid on one side: the only field there was at a bound.
        (Some(f), None) | (None, Some(f)) => assert!(
            f.iter().all(|&v| v == 0.0 || at_bound(v)),
            "{got:?} vs {want:?}"
        ),
    }
}
