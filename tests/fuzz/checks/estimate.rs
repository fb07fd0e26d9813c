//! `estimate`: the token estimate of a request body (`core::estimate`), and the usage of a
//! response read from its text (`core::usage`, see [`super::usage`]), which share the JSON
//! reader.
//!
//! Input: any bytes, read as a body's JSON text.
//!
//! Checks: what `serde_json` reads as JSON the estimate reads too (it also reads lone
//! surrogate escapes and deeper nesting, as `JSON.parse` does); a text split in two reads as
//! the whole does; the input estimate is a finite, non-negative whole number; the output limit is
//! the first of `max_tokens`, `max_completion_tokens`, `max_output_tokens` that is a number
//! in `[0, MAX_OUTPUT_TOKENS]`; a body that is not an object costs nothing; fields that are
//! not content (`model`, `temperature`, ...) cost nothing; adding content never lowers the
//! estimate; the walk is deterministic; prompt prefixes come only with a `cache_control`
//! breakpoint, split anywhere the same, and never cost more than the whole estimate.

use llm_pacer::core::estimate::{scan, Estimate, Scan, MAX_OUTPUT_TOKENS};
use serde_json::{json, Map, Value};

/// The estimate of a value written as JSON text.
fn estimate(body: &Value) -> Estimate {
    let text = serde_json::to_vec(body).expect("a value writes");
    llm_pacer::core::estimate::estimate(&text).expect("JSON that serde_json wrote")
}

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    super::usage::check(data);
    let read = scan(data);
    let mut halves = Scan::default();
    let cut = data.len() / 2;
    halves.feed(&data[..cut]);
    halves.feed(&data[cut..]);
    assert_eq!(halves.finish(), read, "split at {cut}");
    if let Some(b) = &read {
        // Prompt prefixes (`core::estimate::prefix`): only behind a breakpoint, and never
        // more than the whole estimate (each field's part is rounded up on its own).
        // (or a key written with escapes)
        let marked = data.windows(13).any(|w| w == b"cache_control") || data.contains(&b'\\');
        assert!(
            marked || b.prefixes.is_empty(),
            "prefixes without a breakpoint"
        );
        let whole = b.estimate_sized(data.len() as f64).input_tokens;
        for p in &b.prefixes {
            assert!(p.tokens.is_finite() && p.tokens >= 0.0, "{p:?}");
            assert!(p.tokens <= whole + 3.0, "{p:?} above the estimate {whole}");
        }
    }
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    assert!(read.is_some(), "JSON the estimate does not read");
    // The body as serde_json writes it (numbers and escapes written its way, duplicate keys
    // gone), so that it compares with the variants below.
    let e = estimate(&body);
    check_bounds(&e);
    let Value::Object(map) = &body else {
        assert_eq!(e, Estimate::default(), "a body that is not an object");
        return;
    };
    let valid = |n: &f64| (0.0..=MAX_OUTPUT_TOKENS).contains(n);
    // Gemini's, in its `generationConfig` (either spelling; with both, the later one in the
    // text wins, which this map does not keep: either is taken).
    let gemini: Vec<f64> = ["generationConfig", "generation_config"]
        .iter()
        .filter_map(|k| map.get(*k)?.as_object()?.get("maxOutputTokens")?.as_f64())
        .filter(valid)
        .collect();
    let top = ["max_tokens", "max_completion_tokens", "max_output_tokens"]
        .iter()
        .filter_map(|k| map.get(*k)?.as_f64())
        .find(valid);
    let want_max = match (top, e.max_tokens) {
        (Some(t), _) => Some(t),
        (None, Some(got)) if gemini.contains(&got) => Some(got),
        (None, _) => gemini.first().copied(),
    };
    // Numbers are read by the core's decimal parser: exact for up to 15 significant digits,
    // within 10^-14 beyond (see `numbers`), so a limit written with more digits may differ in
    // its last bits, and one at a bound of the range may fall either side of it.
    let close = |a: f64, b: f64| (a - b).abs() <= b.abs() * 1e-14;
    match (e.max_tokens, want_max) {
        (Some(got), Some(want)) => assert!(close(got, want), "output limit {got} vs {want}"),
        (None, None) => {}
        (got, want) => {
            let at_bound = |v: f64| close(v, MAX_OUTPUT_TOKENS) || v.abs() <= 1e-300;
            let near = map.values().filter_map(Value::as_f64).any(at_bound);
            assert!(near, "output limit {got:?} vs {want:?}");
        }
    }

    // Only the content fields count.
    const CONTENT: &[&str] = &[
        "system",
        "messages",
        "tools",
        "functions",
        "response_format",
        "input",
        "instructions",
        "text",
        "prompt",
        "contents",
        "systemInstruction",
        "system_instruction",
        "content",
        "requests",
    ];
    let content: Map<String, Value> = map
        .iter()
        .filter(|(k, _)| CONTENT.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let only_content = estimate(&Value::Object(content));
    assert_eq!(
        only_content.input_tokens, e.input_tokens,
        "a field that is not content changed the input estimate"
    );

    // More content never costs less: a further message, or a prompt where there was none.
    let mut more = map.clone();
    let extra = json!({"role": "user", "content": "a further question, a few words long"});
    match more.get_mut("messages") {
        Some(Value::Array(list)) => list.push(extra),
        Some(_) => {}
        None => {
            more.insert("messages".into(), json!([extra]));
        }
    }
    if !more.contains_key("prompt") {
        more.insert("prompt".into(), json!("and a prompt"));
    }
    let e2 = estimate(&Value::Object(more));
    check_bounds(&e2);
    assert!(
        e2.input_tokens >= e.input_tokens,
        "more content, a lower estimate: {} < {}",
        e2.input_tokens,
        e.input_tokens
    );
}

fn check_bounds(e: &Estimate) {
    let t = e.input_tokens;
    assert!(
        t.is_finite() && t >= 0.0 && t.fract() == 0.0,
        "input estimate {t}"
    );
    if let Some(m) = e.max_tokens {
        assert!(
            m.is_finite() && (0.0..=MAX_OUTPUT_TOKENS).contains(&m),
            "max_tokens {m}"
        );
    }
}
