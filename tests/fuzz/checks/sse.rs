//! `sse`: the incremental event-stream parser (`core::sse`).
//!
//! Input: the bytes of a stream.
//!
//! Checks:
//! * the events (and the `retry` value) are those of a naive whole-input reading of the
//!   WHATWG algorithm, written out here from the standard;
//! * they do not depend on how the bytes are cut into chunks: one chunk, one byte at a time,
//!   a single cut (anywhere in a short input, else next to the BOM, line breaks and
//!   multi-byte characters), and cuts of pseudo-random sizes, empty chunks included;
//! * an event's type is never empty and holds no line break, its data no CR, its id no NUL;
//! * the usage a driver reads from the events (as `src/wasm/body.rs` does) is, once
//!   sanitised, finite and within `[0, Usage::MAX_TOKENS]`; and an unnamed event whose JSON
//!   has a non-null `"usage"` key is never skipped by the cheap `may_carry_usage` test.

use llm_pacer::core::limiter::Usage;
use llm_pacer::core::sse::{may_carry_usage, OwnedEvent, SseParser};

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let (events, retry) = parse_chunks(data, &[data.len()]);
    let want = reference(data);
    assert_eq!(
        (&events, retry),
        (&want.0, want.1),
        "against the reference reading"
    );
    for e in &events {
        assert!(!e.event.is_empty(), "an empty event type");
        assert!(!e.event.contains(['\r', '\n']), "a line break in a type");
        assert!(!e.data.contains('\r'), "a CR in data");
        assert!(
            !e.id.contains(['\0', '\r', '\n']),
            "NUL or a line break in an id"
        );
    }
    let same = |cuts: &[usize], how: &str| {
        let got = parse_chunks(data, cuts);
        assert_eq!((&got.0, got.1), (&events, retry), "cut {how}: {cuts:?}");
    };
    same(&vec![1; data.len()], "byte by byte");
    // One cut: anywhere in a short input, else at the start (a BOM) and on either side of
    // the first line breaks and multi-byte characters.
    let positions: Vec<usize> = if data.len() <= 48 {
        (1..data.len()).collect()
    } else {
        let special = data
            .iter()
            .enumerate()
            .filter(|(_, &b)| b == b'\r' || b == b'\n' || b >= 0x80)
            .flat_map(|(i, _)| [i, i + 1])
            .take(32);
        (1..4).chain(special).filter(|&p| p < data.len()).collect()
    };
    for p in positions {
        same(&[p, data.len() - p], "once");
    }
    // Sizes 0..=16 from a small generator seeded by the input, twice.
    let mut x = data.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3)
    });
    for _ in 0..2 {
        let mut sizes = Vec::new();
        let mut total = 0;
        while total < data.len() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x % 17) as usize;
            sizes.push(n);
            total += n;
        }
        same(&sizes, "at random");
    }
    check_usage(&events);
}

/// Feed `data` in chunks of the given sizes (the last one clipped, the rest of `data` fed at
/// the end).
fn parse_chunks(data: &[u8], sizes: &[usize]) -> (Vec<OwnedEvent>, Option<u64>) {
    let mut p = SseParser::new();
    let mut events = Vec::new();
    let mut rest = data;
    for &n in sizes {
        let (chunk, tail) = rest.split_at(n.min(rest.len()));
        p.feed(chunk, |e| events.push(e.to_owned()));
        rest = tail;
    }
    p.feed(rest, |e| events.push(e.to_owned()));
    (events, p.retry_ms())
}

/// The WHATWG algorithm on the whole stream at once.
fn reference(data: &[u8]) -> (Vec<OwnedEvent>, Option<u64>) {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    // Complete lines only: what follows the last line break never ends.
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\r' => {
                lines.push(&data[start..i]);
                i += if data.get(i + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                start = i;
            }
            b'\n' => {
                lines.push(&data[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    let (mut events, mut retry) = (Vec::new(), None);
    let (mut event, mut buf, mut id) = (String::new(), String::new(), String::new());
    for line in lines {
        if line.is_empty() {
            if !buf.is_empty() {
                buf.pop(); // the last LF
                events.push(OwnedEvent {
                    event: if event.is_empty() {
                        "message".into()
                    } else {
                        event.clone()
                    },
                    data: std::mem::take(&mut buf),
                    id: id.clone(),
                });
            }
            event.clear();
            continue;
        }
        if line[0] == b':' {
            continue;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(c) => {
                let v = &line[c + 1..];
                (&line[..c], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        let text = String::from_utf8_lossy(value);
        match name {
            b"event" => event = text.into_owned(),
            b"data" => {
                buf.push_str(&text);
                buf.push('\n');
            }
            b"id" if !value.contains(&0) => id = text.into_owned(),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                if let Ok(n) = text.parse::<u64>() {
                    retry = Some(n);
                }
            }
            _ => {}
        }
    }
    (events, retry)
}

/// The usage as the Wasm driver reads it from the events (`src/wasm/body.rs`, `UsageAcc`).
fn check_usage(events: &[OwnedEvent]) {
    let mut fields: [Option<f64>; 4] = [None; 4];
    for e in events {
        let doc: Option<serde_json::Value> = serde_json::from_str(&e.data).ok();
        if e.event == "message" && e.data.contains("\"usage\"") {
            let usage = doc.as_ref().and_then(|d| d.get("usage"));
            if usage.is_some_and(|u| !u.is_null()) {
                assert!(
                    may_carry_usage(&e.event, &e.data),
                    "an event with usage skipped: {:?}",
                    e.data
                );
            }
        }
        if !may_carry_usage(&e.event, &e.data) {
            continue;
        }
        let Some(doc) = doc else { continue };
        for path in [
            &["usage"][..],
            &["message", "usage"],
            &["response", "usage"],
        ] {
            let Some(u) = path.iter().try_fold(&doc, |v, k| v.get(k)) else {
                continue;
            };
            if !u.is_object() {
                continue;
            }
            let n = |k: &str| u.get(k).and_then(serde_json::Value::as_f64);
            for (slot, v) in fields.iter_mut().zip([
                n("input_tokens").or_else(|| n("prompt_tokens")),
                n("cache_creation_input_tokens"),
                n("cache_read_input_tokens"),
                n("output_tokens").or_else(|| n("completion_tokens")),
            ]) {
                if v.is_some() {
                    *slot = v;
                }
            }
        }
    }
    let f = |v: Option<f64>| v.unwrap_or(f64::NAN);
    let usage = Usage {
        input_tokens: f(fields[0]),
        cache_creation_input_tokens: f(fields[1]),
        cache_read_input_tokens: f(fields[2]),
        output_tokens: f(fields[3]),
    };
    if let Some(u) = usage.sanitized() {
        for v in [
            u.input_tokens,
            u.cache_creation_input_tokens,
            u.cache_read_input_tokens,
            u.output_tokens,
            u.metered_input(),
        ] {
            assert!((0.0..=2.0 * Usage::MAX_TOKENS).contains(&v), "usage {u:?}");
        }
    } else {
        assert!(
            fields
                .iter()
                .flatten()
                .all(|v| !(0.0..=Usage::MAX_TOKENS).contains(v)),
            "valid usage dropped: {fields:?}"
        );
    }
}
