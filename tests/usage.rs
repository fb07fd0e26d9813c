//! `core::usage`: a response's usage, read from its JSON text as a walk of the parsed document
//! (`JSON.parse`, then the driver's walk through `Object::read`) would read it.

use llm_pacer::core::limiter::Usage;
use llm_pacer::core::usage::*;
use proptest::prelude::*;
use serde_json::Value;

fn read(json: &str) -> Option<Usage> {
    let mut r = Report::default();
    assert!(r.read_json(json.as_bytes()), "not JSON: {json}");
    r.finish()
}

fn usage(input: f64, creation: f64, cached: f64, output: f64) -> Option<Usage> {
    Some(Usage {
        input_tokens: input,
        cache_creation_input_tokens: creation,
        cache_read_input_tokens: cached,
        output_tokens: output,
    })
}

/// The reference walk of a parsed document, the fuzz check's (`tests/fuzz/checks/usage.rs`).
#[path = "fuzz/checks/usage.rs"]
#[allow(dead_code)]
mod reference;
use reference::walked;

/// A document as the documents it is read as: a top-level array's elements, in order, or
/// itself.
fn documents(doc: &Value) -> Vec<&Value> {
    match doc {
        Value::Array(elements) => elements.iter().collect(),
        doc => vec![doc],
    }
}

/// What the package's walk of a parsed document (`usageNumbers` in
/// pkg-template/body-watch.js) hands over: per path, an object found there gives each field's
/// number (`typeof v == "number"`), NaN otherwise; for a top-level array, such rows for each
/// element that has a usage object.
fn numbers_of(doc: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    let array = doc.is_array();
    for doc in documents(doc) {
        let objects = PATHS.map(|path| {
            let mut v = Some(doc);
            for key in path {
                v = v.filter(|o| o.is_object()).and_then(|o| o.get(key));
            }
            v.filter(|v| v.is_object())
        });
        if array && objects.iter().all(Option::is_none) {
            continue;
        }
        for u in objects {
            out.extend(FIELDS.iter().map(|f| {
                u.and_then(|u| u.get(*f))
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::NAN)
            }));
        }
    }
    out
}

#[test]
fn the_package_walks_the_places_and_names_of_the_core() {
    // pkg-template/body-watch.js's USAGE_PLACES, between its markers, as JSON: `[paths, fields]`.
    let js = include_str!("../pkg-template/body-watch.js");
    let (_, rest) = js
        .split_once("// usage-places:begin")
        .expect("begin marker");
    let (block, _) = rest.split_once("// usage-places:end").expect("end marker");
    let (_, literal) = block
        .split_once("const USAGE_PLACES =")
        .expect("USAGE_PLACES");
    let compact: String = literal.chars().filter(|c| !c.is_whitespace()).collect();
    let json = compact.trim_end_matches(';').replace(",]", "]");
    let (paths, fields): (Vec<Vec<String>>, Vec<String>) =
        serde_json::from_str(&json).expect("USAGE_PLACES is a JSON-shaped literal");
    let want: Vec<Vec<String>> = PATHS
        .iter()
        .map(|p| p.iter().map(|k| k.to_string()).collect())
        .collect();
    assert_eq!(paths, want, "the package's paths are core::usage::PATHS");
    assert_eq!(
        fields, FIELDS,
        "the package's names are core::usage::FIELDS"
    );
}

fn taken(numbers: &[f64]) -> Option<Usage> {
    let mut r = Report::default();
    r.take_numbers(numbers);
    r.finish()
}

/// Gemini's `usageMetadata`: the prompt (cached part included) as input, the candidates and
/// the thinking as output; read as text, as a parsed document, or field by field.
#[test]
fn geminis_usage_metadata_is_read() {
    let text = r#"{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3,"cachedContentTokenCount":4,"totalTokenCount":18}}"#;
    let want = usage(10.0, f64::NAN, f64::NAN, 8.0).and_then(|u| u.sanitized());
    let mut r = Report::default();
    assert!(r.read_json(text.as_bytes()));
    assert_eq!(r.finish(), want);
    let doc: Value = serde_json::from_str(text).unwrap();
    assert_eq!(taken(&numbers_of(&doc)), want);
    assert_eq!(walked(&doc), want);
    // Thinking that used all of maxOutputTokens: no candidates count.
    let mut r = Report::default();
    assert!(r.read_json(br#"{"usageMetadata":{"promptTokenCount":10,"thoughtsTokenCount":5000}}"#));
    assert_eq!(
        r.finish(),
        usage(10.0, f64::NAN, f64::NAN, 5000.0).and_then(|u| u.sanitized())
    );
    // No thinking: the candidates alone.
    let mut r = Report::default();
    assert!(r.read_json(br#"{"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2}}"#));
    assert_eq!(
        r.finish(),
        usage(7.0, f64::NAN, f64::NAN, 2.0).and_then(|u| u.sanitized())
    );
}

/// Gemini's `streamGenerateContent` without `alt=sse`: the chunks as one JSON array, each with
/// its `usageMetadata` so far. Each element is read as a document, in order (the last one's
/// counts are the whole answer's); what is not an object in it, or is nested deeper, is no
/// document.
#[test]
fn a_top_level_array_is_read_element_by_element() {
    let text = r#"[{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":1,"totalTokenCount":10},"modelVersion":"gemini-2.5-flash"}
,
{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":40,"thoughtsTokenCount":12,"totalTokenCount":61},"modelVersion":"gemini-2.5-flash"}
]"#;
    let want = usage(9.0, f64::NAN, f64::NAN, 52.0).and_then(|u| u.sanitized());
    assert_eq!(read(text), want);
    let doc: Value = serde_json::from_str(text).unwrap();
    assert_eq!(walked(&doc), want);
    assert_eq!(taken(&numbers_of(&doc)), want);
    // In pieces, split inside the second element.
    let mut scan = Scan::default();
    let cut = text.find("lo").unwrap();
    scan.feed(&text.as_bytes()[..cut]);
    scan.feed(&text.as_bytes()[cut..]);
    let mut r = Report::default();
    assert!(scan.finish(&mut r));
    assert_eq!(r.finish(), want);
    // A later element's fields win field by field; one with no usage changes nothing; an
    // array or a number in the array is no document, nor is anything nested deeper.
    assert_eq!(
        read(
            r#"[{"usage":{"input_tokens":5,"output_tokens":1}},{"id":1},[{"usage":{"output_tokens":99}}],7,{"usage":{"output_tokens":3}},{"data":{"usage":{"output_tokens":98}}}]"#
        ),
        usage(5.0, f64::NAN, f64::NAN, 3.0).and_then(|u| u.sanitized())
    );
    // An empty array, or one of things that are no documents: no usage.
    assert_eq!(read("[]"), None);
    assert_eq!(
        read(r#"[[{"usage":{"input_tokens":5}}], 1, "usage"]"#),
        None
    );
}

#[test]
fn a_document_s_numbers_give_its_usage() {
    let doc: Value = serde_json::from_str(
        r#"{"usage":{"prompt_tokens":7,"completion_tokens":2},"message":{"usage":{"input_tokens":5,"cache_read_input_tokens":4}}}"#,
    )
    .unwrap();
    let numbers = numbers_of(&doc);
    assert_eq!(numbers.len(), PATHS.len() * FIELDS.len());
    // A later place wins field by field: input from `message.usage`, output from `usage`.
    assert_eq!(
        taken(&numbers),
        usage(5.0, f64::NAN, 4.0, 2.0).and_then(|u| u.sanitized())
    );
    assert_eq!(taken(&numbers), walked(&doc));
    // Nothing, or too few numbers for a row: no usage.
    assert_eq!(taken(&[]), None);
    assert_eq!(taken(&[3.0; 5]), None);
}

#[test]
fn each_api_s_place_and_names() {
    // Anthropic, a message.
    assert_eq!(
        read(
            r#"{"id":"msg_1","type":"message","content":[{"type":"text","text":"Hi"}],
            "usage":{"input_tokens":12,"cache_creation_input_tokens":3,"cache_read_input_tokens":40,"output_tokens":9}}"#
        ),
        usage(12.0, 3.0, 40.0, 9.0)
    );
    // Anthropic's `message_start` event.
    assert_eq!(
        read(
            r#"{"type":"message_start","message":{"id":"m","usage":{"input_tokens":25,"output_tokens":1}}}"#
        ),
        usage(25.0, 0.0, 0.0, 1.0)
    );
    // OpenAI Chat Completions.
    assert_eq!(
        read(
            r#"{"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}}}"#
        ),
        usage(7.0, 0.0, 0.0, 5.0)
    );
    // OpenAI Responses' `response.completed` event.
    assert_eq!(
        read(
            r#"{"type":"response.completed","response":{"usage":{"input_tokens":4,"output_tokens":6}}}"#
        ),
        usage(4.0, 0.0, 0.0, 6.0)
    );
    // None, or none that counts.
    assert_eq!(read(r#"{"usage":null}"#), None);
    assert_eq!(read(r#"{"usage":{"input_tokens":-1}}"#), None);
    assert_eq!(read(r#"[[{"usage":{"input_tokens":1}}]]"#), None);
    assert_eq!(
        read(r#"{"data":{"usage":{"input_tokens":1}}}"#),
        None,
        "not a place of usage"
    );
    assert_eq!(
        read(r#"{"message":{"data":{"usage":{"input_tokens":1}}}}"#),
        None
    );
    assert_eq!(read("42"), None);
}

#[test]
fn the_second_names_count_only_where_the_first_are_not_numbers() {
    assert_eq!(
        read(r#"{"usage":{"input_tokens":3,"prompt_tokens":9}}"#),
        usage(3.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(
        read(r#"{"usage":{"input_tokens":"3","prompt_tokens":9}}"#),
        usage(9.0, 0.0, 0.0, 0.0)
    );
    assert_eq!(
        read(r#"{"usage":{"output_tokens":null,"completion_tokens":8}}"#),
        usage(0.0, 0.0, 0.0, 8.0)
    );
}

#[test]
fn a_later_place_wins_field_by_field_and_the_last_duplicate_key_wins() {
    // `usage`, then `message.usage`: the later path's fields win, the others stay.
    assert_eq!(
        read(
            r#"{"message":{"usage":{"output_tokens":5}},"usage":{"input_tokens":1,"output_tokens":2}}"#
        ),
        usage(1.0, 0.0, 0.0, 5.0)
    );
    // A repeated key: the last value is the one `JSON.parse` keeps.
    assert_eq!(
        read(r#"{"usage":{"input_tokens":1},"usage":{"output_tokens":2}}"#),
        usage(0.0, 0.0, 0.0, 2.0)
    );
    assert_eq!(read(r#"{"usage":{"input_tokens":1},"usage":7}"#), None);
    assert_eq!(
        read(r#"{"message":{"usage":{"input_tokens":1}},"message":{}}"#),
        None
    );
    assert_eq!(
        read(r#"{"usage":{"input_tokens":1,"input_tokens":{"n":2}}}"#),
        None
    );
    assert_eq!(
        read(r#"{"usage":{"input_tokens":1,"input_tokens":4}}"#),
        usage(4.0, 0.0, 0.0, 0.0)
    );
    // Escaped key names are the names they spell.
    assert_eq!(
        read(r#"{"\u0075sage":{"input_\u0074okens":6}}"#),
        usage(6.0, 0.0, 0.0, 0.0)
    );
}

#[test]
fn text_that_is_not_one_json_value_reports_nothing() {
    let mut r = Report::default();
    assert!(!r.read_json(br#"{"usage":{"input_tokens":5}}, 1"#));
    assert!(!r.read_json(br#"{"usage":{"input_tokens":5}"#));
    assert!(!r.read_json(b""));
    assert_eq!(r.finish(), None);
}

#[test]
fn a_report_keeps_the_latest_of_each_field() {
    // A stream: `message_start`, then `message_delta` with the final output.
    let mut r = Report::default();
    assert!(r.read_json(
        br#"{"type":"message_start","message":{"usage":{"input_tokens":25,"output_tokens":1}}}"#
    ));
    assert!(r.read_json(br#"{"type":"message_delta","usage":{"output_tokens":15}}"#));
    assert_eq!(r.finish(), usage(25.0, 0.0, 0.0, 15.0));
}

#[test]
fn object_read_asks_for_the_second_names_only_when_needed() {
    let mut asked = Vec::new();
    let o = Object::read(|name| {
        asked.push(name);
        (name != "completion_tokens").then_some(1.0)
    });
    assert_eq!(
        asked,
        [
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens"
        ]
    );
    assert_eq!(o.usage(), usage(1.0, 1.0, 1.0, 1.0).unwrap());
}

/// Documents shaped like API answers and events, with usage objects in and out of place.
fn doc() -> impl Strategy<Value = Value> {
    let number = prop_oneof![
        (0u32..100_000).prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        (0.0f64..1e12).prop_map(Value::from),
        Just(Value::from(1e300)),
    ];
    let field = prop_oneof![
        8 => number.clone(),
        1 => Just(Value::Null),
        1 => Just(Value::from("12")),
        1 => Just(serde_json::json!({"cached_tokens": 3})),
    ];
    let name = prop_oneof![
        4 => proptest::sample::select(FIELDS.to_vec()).prop_map(str::to_owned),
        1 => Just("total_tokens".to_owned()),
    ];
    let usage_object = proptest::collection::btree_map(name, field, 0..6)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    let usage_value = prop_oneof![
        6 => usage_object,
        1 => Just(Value::Null),
        1 => Just(serde_json::json!([1, 2])),
        1 => number,
    ];
    let wrapper = proptest::collection::btree_map(
        prop_oneof![
            Just("usage".to_owned()),
            Just("id".to_owned()),
            Just("data".to_owned())
        ],
        usage_value.clone(),
        0..3,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect()));
    let top_key = prop_oneof![
        Just("usage".to_owned()),
        Just("message".to_owned()),
        Just("response".to_owned()),
        Just("content".to_owned()),
        Just("type".to_owned()),
    ];
    let top_value = prop_oneof![
        usage_value,
        wrapper.clone(),
        Just(Value::from("message_delta"))
    ];
    let object = proptest::collection::btree_map(top_key, top_value, 0..5)
        .prop_map(|m| Value::Object(m.into_iter().collect()));
    // A top-level array's elements: documents, and what is not one (an array, a number).
    let element = prop_oneof![
        6 => object.clone(),
        1 => wrapper.clone(),
        1 => object.clone().prop_map(|o| Value::Array(vec![o])),
        1 => Just(Value::from(3)),
    ];
    prop_oneof![
        8 => object,
        3 => proptest::collection::vec(element, 0..5).prop_map(Value::Array),
        1 => wrapper.prop_map(|w| Value::Array(vec![w])),
        1 => Just(Value::from(3)),
    ]
}

/// Equal usages, each count to within a part in 10^15: the text's decimals are read by the
/// bounded parser (`core::decimal`), which may miss a long one's last bit where std's rounds
/// it exactly (969383288.2375569 read as ...568); a token count has no such digits.
fn near(a: Option<Usage>, b: Option<Usage>) -> bool {
    let close = |x: f64, y: f64| x == y || (x - y).abs() <= 1e-15 * x.abs().max(y.abs());
    match (a, b) {
        (Some(a), Some(b)) => {
            close(a.input_tokens, b.input_tokens)
                && close(a.output_tokens, b.output_tokens)
                && close(a.cache_creation_input_tokens, b.cache_creation_input_tokens)
                && close(a.cache_read_input_tokens, b.cache_read_input_tokens)
        }
        (a, b) => a == b,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn reading_the_text_is_walking_the_document(doc in doc(), pretty: bool, cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..4)) {
        let text = if pretty { serde_json::to_string_pretty(&doc) } else { serde_json::to_string(&doc) }.unwrap();
        let want = walked(&doc);
        let mut r = Report::default();
        prop_assert!(r.read_json(text.as_bytes()));
        let got = r.finish();
        prop_assert!(near(got, want), "{got:?} != {want:?}");
        // In pieces, split anywhere.
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(text.len() + 1)).collect();
        at.sort_unstable();
        let mut scan = Scan::default();
        let mut from = 0;
        for to in at.into_iter().chain([text.len()]) {
            scan.feed(&text.as_bytes()[from..to]);
            from = to;
        }
        let mut r = Report::default();
        prop_assert!(scan.finish(&mut r));
        let got = r.finish();
        prop_assert!(near(got, want), "{got:?} != {want:?}");
        // As the package hands a parsed document over: its numbers.
        prop_assert_eq!(taken(&numbers_of(&doc)), want);
    }
}
