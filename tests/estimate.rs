//! `core::estimate`: the token estimate of a request body, read as JSON text.

use llm_pacer::core::estimate::*;

fn est(json: &str) -> Estimate {
    estimate(json.as_bytes()).expect("JSON")
}

fn count(json: &str) -> Counts {
    scan(json.as_bytes()).expect("JSON").counts
}

/// The tokens of a body whose only content is `text` in one user message, with the
/// message structure measured the same way (the difference between two bodies).
fn text_tokens(text: &str) -> f64 {
    let with = format!(r#"{{"messages":[{{"role":"user","content":"{text}"}}]}}"#);
    est(&with).input_tokens - est(r#"{"messages":[{"role":"user","content":""}]}"#).input_tokens
}

#[test]
fn text_count_separates_ascii_and_other_characters() {
    assert_eq!(TextCount::of("abc"), TextCount { ascii: 3, other: 0 });
    assert_eq!(
        TextCount::of("héllo 世界 🎉"),
        TextCount { ascii: 6, other: 4 }
    );
    assert_eq!(TextCount::of("").tokens(), 0.0);
    assert_eq!(
        TextCount::of("abcdef").tokens(),
        6.0 / ASCII_CHARS_PER_TOKEN
    );
}

#[test]
fn ascii_text_costs_chars_over_ratio() {
    let t = "a".repeat(3_000);
    let got = text_tokens(&t);
    assert!((got - 1_000.0).abs() <= 1.0, "{got}");
}

#[test]
fn non_ascii_text_costs_one_token_per_character() {
    let t = "世".repeat(1_000);
    let got = text_tokens(&t);
    assert!((got - 1_000.0).abs() <= 1.0, "{got}");
}

#[test]
fn anthropic_body_counts_system_messages_and_blocks_but_not_parameters() {
    let body = r#"{
        "model": "claude-sonnet-4-5-a-very-long-model-name-that-must-not-count-at-all-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "max_tokens": 1024,
        "temperature": 0.5,
        "metadata": {"user_id": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hello there"}]},
            {"role": "assistant", "content": "Hi"}
        ]
    }"#;
    let e = est(body);
    assert_eq!(e.max_tokens, Some(1024.0));
    let text_len = "You are terse.Hello thereHi".len() as f64;
    // At least the text; the structure adds less than 100 characters' worth here.
    assert!(e.input_tokens >= text_len / ASCII_CHARS_PER_TOKEN, "{e:?}");
    assert!(
        e.input_tokens < (text_len + 200.0) / ASCII_CHARS_PER_TOKEN,
        "{e:?}"
    );
}

#[test]
fn base64_image_is_a_fixed_cost_not_text() {
    let data = "A".repeat(200_000);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[
            {{"type":"image","source":{{"type":"base64","media_type":"image/png","data":"{data}"}}}},
            {{"type":"text","text":"What is this?"}}]}}]}}"#
    );
    let e = est(&body);
    assert!(e.input_tokens >= IMAGE_TOKENS, "{e:?}");
    assert!(e.input_tokens < IMAGE_TOKENS + 50.0, "{e:?}");
    let c = count(&body);
    assert_eq!((c.images, c.documents), (1, 0));
}

#[test]
fn openai_image_parts_and_bare_data_urls_are_images() {
    let data = "B".repeat(100_000);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[
            {{"type":"text","text":"Describe"}},
            {{"type":"image_url","image_url":{{"url":"data:image/png;base64,{data}"}}}}]}}],
          "input":[{{"role":"user","content":[{{"type":"input_image","image_url":"https://x/y.png"}}]}}],
          "prompt":"data:image/jpeg;base64,{data}"}}"#
    );
    let c = count(&body);
    assert_eq!(c.images, 3);
    assert!(c.estimate().input_tokens < 3.0 * IMAGE_TOKENS + 100.0);
}

#[test]
fn documents_are_fixed_unless_their_source_is_text() {
    let pdf = "C".repeat(50_000);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[
            {{"type":"document","source":{{"type":"base64","media_type":"application/pdf","data":"{pdf}"}}}},
            {{"type":"document","source":{{"type":"url","url":"https://x/a.pdf"}}}},
            {{"type":"file","file":{{"file_data":"{pdf}"}}}},
            {{"type":"input_file","file_data":"{pdf}"}}]}}]}}"#
    );
    let c = count(&body);
    assert_eq!((c.documents, c.images), (4, 0));
    assert!(c.estimate().input_tokens < 4.0 * DOCUMENT_TOKENS + 100.0);

    let text = "d".repeat(30_000);
    let body = format!(
        r#"{{"messages":[{{"role":"user","content":[
            {{"type":"document","source":{{"type":"text","media_type":"text/plain","data":"{text}"}}}}]}}]}}"#
    );
    let c = count(&body);
    assert_eq!(c.documents, 0);
    assert!(c.estimate().input_tokens >= 10_000.0);
}

#[test]
fn tools_count_as_json_text_plus_an_overhead() {
    let without = est(r#"{"messages":[{"role":"user","content":"hi"}]}"#);
    let tools = r#"{"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"get_weather","description":"Get the weather","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}]}"#;
    let with = est(tools);
    let schema_chars = 150.0;
    assert!(
        with.input_tokens
            >= without.input_tokens + TOOLS_OVERHEAD_TOKENS + schema_chars / ASCII_CHARS_PER_TOKEN
                - 5.0,
        "{with:?} vs {without:?}"
    );
    // An empty list adds no overhead.
    let empty = est(r#"{"messages":[{"role":"user","content":"hi"}],"tools":[]}"#);
    assert!(empty.input_tokens < without.input_tokens + 5.0);
}

#[test]
fn tool_use_inputs_and_results_count() {
    let body = r#"{"messages":[
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{"query":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"}]}]}
    ]}"#;
    assert!(est(body).input_tokens >= 240.0 / ASCII_CHARS_PER_TOKEN);
}

#[test]
fn output_limit_precedence_and_validation() {
    assert_eq!(
        est(r#"{"max_tokens":10,"max_completion_tokens":20}"#).max_tokens,
        Some(10.0)
    );
    assert_eq!(
        est(r#"{"max_completion_tokens":20,"max_output_tokens":30}"#).max_tokens,
        Some(20.0)
    );
    assert_eq!(est(r#"{"max_output_tokens":30}"#).max_tokens, Some(30.0));
    assert_eq!(est(r#"{"max_tokens":-1}"#).max_tokens, None);
    assert_eq!(est(r#"{"max_tokens":"100"}"#).max_tokens, None);
    assert_eq!(est(r#"{"max_tokens":1e12}"#).max_tokens, None);
    // An invalid first field falls through to the next valid one.
    assert_eq!(
        est(r#"{"max_tokens":null,"max_completion_tokens":7}"#).max_tokens,
        Some(7.0)
    );
    assert_eq!(est(r#"{"messages":[]}"#).max_tokens, None);
}

/// Gemini's `generateContent`: `contents` and `systemInstruction` count as text, an
/// `inlineData` part is an image or a document by its `mimeType` (its base64 not text), and
/// the output limit is `generationConfig.maxOutputTokens` (the rest of that object does not
/// count). A probe: every Gemini request reserved 0 tokens.
#[test]
fn gemini_bodies_count_contents_system_and_parts_and_read_max_output_tokens() {
    let text = "word ".repeat(300);
    let data = "C".repeat(100_000);
    let body = format!(
        r#"{{"systemInstruction":{{"parts":[{{"text":"{text}"}}]}},
            "contents":[{{"role":"user","parts":[{{"text":"{text}"}},
              {{"inlineData":{{"mimeType":"image/png","data":"{data}"}}}},
              {{"inline_data":{{"mime_type":"application/pdf","data":"{data}"}}}},
              {{"fileData":{{"mimeType":"video/mp4","fileUri":"https://x/y"}}}}]}}],
            "generationConfig":{{"temperature":0.5,"maxOutputTokens":512,"stopSequences":["{text}"]}}}}"#
    );
    let c = count(&body);
    assert_eq!((c.images, c.documents), (1, 2));
    let e = est(&body);
    assert_eq!(e.max_tokens, Some(512.0));
    let texts = 2.0 * text_tokens(&text);
    let fixed = IMAGE_TOKENS + 2.0 * DOCUMENT_TOKENS;
    assert!(e.input_tokens >= texts + fixed, "{e:?}");
    assert!(
        e.input_tokens < texts + fixed + 200.0,
        "{e:?}: the config counted"
    );
    // Embeddings: `content`, and a batch's `requests`.
    assert!(
        est(&format!(
            r#"{{"content":{{"parts":[{{"text":"{text}"}}]}}}}"#
        ))
        .input_tokens
            >= text_tokens(&text)
    );
    let batch = format!(
        r#"{{"requests":[{{"model":"models/e","content":{{"parts":[{{"text":"{text}"}}]}}}}]}}"#
    );
    assert!(est(&batch).input_tokens >= text_tokens(&text));
}

/// OpenAI's `n`: a whole number from 1 to 128, else not believed.
#[test]
fn openais_n_is_read() {
    assert_eq!(est(r#"{"n":4,"max_tokens":10}"#).choices, Some(4.0));
    for bad in ["0", "1.5", "129", "\"4\"", "null", "-2"] {
        assert_eq!(est(&format!(r#"{{"n":{bad}}}"#)).choices, None, "{bad}");
    }
    assert_eq!(
        est(r#"{"messages":[{"n":3}]}"#).choices,
        None,
        "only at the top level"
    );
}

/// Gemini's `generationConfig.candidateCount`: each candidate may run to `maxOutputTokens`.
#[test]
fn geminis_candidate_count_is_read_as_choices() {
    let e = est(r#"{"contents":[],"generationConfig":{"candidateCount":3,"maxOutputTokens":100}}"#);
    assert_eq!((e.choices, e.max_tokens), (Some(3.0), Some(100.0)));
    assert_eq!(
        est(r#"{"contents":[{"parts":[{"candidateCount":3}]}]}"#).choices,
        None,
        "only in generationConfig"
    );
}

#[test]
fn non_object_bodies_count_nothing() {
    assert_eq!(est(r#""just a string""#), Estimate::default());
    assert_eq!(est("[1,2,3]"), Estimate::default());
    assert_eq!(est("null"), Estimate::default());
}

#[test]
fn deep_nesting_is_cut_off() {
    let body = format!(
        r#"{{"messages":{}"{}"{}}}"#,
        "[".repeat(2_000),
        "x".repeat(300),
        "]".repeat(2_000)
    );
    let e = est(&body);
    // Only the first MAX_DEPTH levels of brackets are counted; the string is not reached.
    assert!(e.input_tokens < 100.0, "{e:?}");
}

#[test]
fn the_counts_stop_at_max_nodes_and_the_sized_estimate_prices_the_whole_text() {
    let n = MAX_NODES as usize + 10;
    let messages = vec![r#"{"content":"hello"}"#; n].join(",");
    let body = format!(r#"{{"max_tokens":5,"messages":[{messages}]}}"#);
    let read = scan(body.as_bytes()).expect("JSON");
    assert!(read.counts.truncated);
    assert_eq!(read.counts.nodes, MAX_NODES + 1);
    let chars = body.len() as f64;
    let e = read.estimate_sized(chars);
    assert_eq!(e.input_tokens, (chars / ASCII_CHARS_PER_TOKEN).ceil());
    assert_eq!(e.max_tokens, Some(5.0));
    assert!(e.input_tokens > read.counts.estimate().input_tokens);

    // The output limit and the model are read after the bound too.
    let late = format!(r#"{{"messages":[{messages}],"max_tokens":7,"model":"m"}}"#);
    let read = scan(late.as_bytes()).expect("JSON");
    assert!(read.counts.truncated);
    assert_eq!(
        (read.counts.max_tokens, read.model.as_deref()),
        (Some(7.0), Some("m"))
    );

    // Under the bound, the sized estimate is the plain one.
    let small = scan(br#"{"messages":[{"role":"user","content":"hi"}]}"#).expect("JSON");
    assert!(!small.counts.truncated);
    assert_eq!(small.estimate_sized(1.0e9), small.counts.estimate());
}

/// Every split of `text` into two pieces, and one byte at a time, reads as the whole does.
fn pieces_read_as_the_whole(text: &[u8]) {
    let whole = scan(text);
    for cut in 0..=text.len() {
        let mut s = Scan::default();
        s.feed(&text[..cut]);
        s.feed(&text[cut..]);
        assert_eq!(s.finish(), whole, "cut at {cut}");
    }
    let mut s = Scan::default();
    for b in text {
        s.feed(std::slice::from_ref(b));
    }
    assert_eq!(s.finish(), whole, "byte by byte");
}

#[test]
fn a_body_split_anywhere_reads_as_the_whole_body() {
    pieces_read_as_the_whole(
        r#"{"model":"claude-é","max_tokens":1.5e2,"messages":[{"role":"user","content":[
            {"type":"text","text":"h\u00e9llo \ud83c\udf89 \"q\" 世界"},
            {"source":{"data":"AAAA","type":"base64"},"type":"image"},
            true,false,null,-0.25e-3]}]}"#
            .as_bytes(),
    );
    pieces_read_as_the_whole(b"[1, 2]  ");
    pieces_read_as_the_whole(b"{\"a\":tru}");
    pieces_read_as_the_whole(b"12");
}

/// Long strings are read eight bytes at a time: each kind of byte that ends or interrupts such
/// a run (a quote, an escape, a control byte, a character of two, three or four bytes), at
/// every offset of a string longer than two words, reads as it does one byte at a time, and
/// counts what it stands for.
#[test]
fn a_long_string_is_read_as_it_is_byte_by_byte() {
    for (special, ascii, other) in [
        ("\\\"", 1, 0),
        ("\\n", 1, 0),
        ("\\u00e9", 0, 1),
        ("é", 0, 1),
        ("世", 0, 1),
        ("🎉", 0, 1),
        ("", 0, 0),
    ] {
        for at in 0..=24 {
            let text = format!("{}{special}{}", "a".repeat(at), "b".repeat(24 - at));
            let body = format!(r#"{{"prompt":"{text}","model":"{text}"}}"#);
            pieces_read_as_the_whole(body.as_bytes());
            let read = scan(body.as_bytes()).expect("JSON");
            // The model is kept, decoded; the prompt counted.
            assert_eq!(
                read.model.as_deref(),
                Some(
                    text.replace("\\\"", "\"")
                        .replace("\\n", "\n")
                        .replace("\\u00e9", "é")
                        .as_str()
                )
            );
            let counts = read.counts;
            let plain = count(r#"{"prompt":"","model":""}"#);
            assert_eq!(
                counts.text.ascii,
                plain.text.ascii + 24 + ascii,
                "{special:?} at {at}"
            );
            assert_eq!(
                counts.text.other,
                plain.text.other + other,
                "{special:?} at {at}"
            );
        }
    }
    // A control byte inside a string is not JSON, wherever it is.
    for at in 0..=24 {
        let body = format!(
            "{{\"prompt\":\"{}\u{1}{}\"}}",
            "a".repeat(at),
            "b".repeat(24 - at)
        );
        assert_eq!(scan(body.as_bytes()), None, "control byte at {at}");
    }
}

#[test]
fn escapes_count_as_the_characters_they_stand_for() {
    let plain = count(r#"{"prompt":"é\n🎉A"}"#);
    let escaped = count(r#"{"prompt":"\u00e9\\n\ud83c\udf89\u0041"}"#);
    // `\\n` is two characters (a backslash and an n); `\n` one.
    assert_eq!(escaped.text.ascii, plain.text.ascii + 1);
    assert_eq!(escaped.text.other, plain.text.other);
    assert_eq!(
        plain.text,
        TextCount {
            ascii: 2 + 2,
            other: 2
        }
    );
}

#[test]
fn a_type_after_the_content_still_decides() {
    let data = "A".repeat(10_000);
    let before = count(&format!(
        r#"{{"messages":[{{"role":"user","content":[{{"type":"image","source":{{"type":"base64","data":"{data}"}}}}]}}]}}"#
    ));
    let after = count(&format!(
        r#"{{"messages":[{{"role":"user","content":[{{"source":{{"data":"{data}","type":"base64"}},"type":"image"}}]}}]}}"#
    ));
    assert_eq!(before, after);
    assert_eq!((after.images, after.documents), (1, 0));
    // A document whose text source is named last is text.
    let doc = count(&format!(
        r#"{{"messages":[{{"content":[{{"source":{{"data":"{data}","type":"text"}},"type":"document"}}]}}]}}"#
    ));
    assert_eq!(doc.documents, 0);
    assert!(doc.text.ascii >= 10_000);
}

#[test]
fn the_model_is_the_top_level_string() {
    let read = |t: &str| scan(t.as_bytes()).expect("JSON").model;
    assert_eq!(
        read(r#"{"messages":[{"model":"inner"}],"model":"gpt-x"}"#).as_deref(),
        Some("gpt-x")
    );
    assert_eq!(read(r#"{"model":7}"#), None);
    assert_eq!(read(r#"{"model":"a","model":{"b":1}}"#), None);
    assert_eq!(read(r#"["model","x"]"#), None);
}

#[test]
fn what_json_parse_refuses_is_not_read() {
    for bad in [
        "",
        " ",
        "{",
        "{\"a\"}",
        "{\"a\":1,}",
        "[1,]",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[-]",
        "[+1]",
        "[nul]",
        "[True]",
        "\"a\nb\"",
        "\"\\x\"",
        "\"\\u12G4\"",
        "{} {}",
        "'a'",
        "[1 2]",
        "{\"a\" 1}",
        "{1:2}",
        "]",
        "[}",
        "{]",
    ] {
        assert_eq!(scan(bad.as_bytes()), None, "{bad:?}");
    }
    for good in [
        "0",
        "-0",
        "1.5e+3",
        "[]",
        "{}",
        " [ 1 , { } ] ",
        "\"\\ud800\"",
        "\"\\/\"",
        "null",
    ] {
        assert!(scan(good.as_bytes()).is_some(), "{good:?}");
    }
}

#[test]
fn nesting_past_the_reader_s_bound_is_not_read() {
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    assert!(scan(deep(MAX_NESTING).as_bytes()).is_some());
    assert_eq!(scan(deep(MAX_NESTING + 1).as_bytes()), None);
}

#[test]
fn a_long_data_url_is_one_image_and_a_long_string_is_text() {
    let data = "A".repeat(100_000);
    let c = count(&format!(r#"{{"prompt":"data:image/png;base64,{data}"}}"#));
    assert_eq!((c.images, c.text.ascii), (1, 0));
    let c = count(&format!(r#"{{"prompt":"héllo {data}"}}"#));
    assert_eq!(c.images, 0);
    assert_eq!(
        c.text,
        TextCount {
            ascii: 100_005 + 2,
            other: 1
        }
    );
}
#[test]
fn more_content_never_costs_less() {
    let mut prev = 0.0;
    let mut messages = Vec::new();
    for i in 0..20 {
        messages.push(format!(
            r#"{{"role":"user","content":"message number {i}"}}"#
        ));
        let body = format!(r#"{{"messages":[{}]}}"#, messages.join(","));
        let e = est(&body).input_tokens;
        assert!(e > prev);
        prev = e;
    }
}

mod generated {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    /// JSON values shaped like request bodies: the rules' keys among others, strings with
    /// escapes and non-ASCII characters, numbers of every form.
    fn value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("type".to_string()),
            Just("source".to_string()),
            Just("image".to_string()),
            Just("text".to_string()),
            "[a-z\"\\\\é🎉\\n]{0,6}",
        ];
        let text = prop_oneof![
            Just("image".to_string()),
            Just("base64".to_string()),
            Just("document".to_string()),
            Just("data:image/png;base64,AAAA".to_string()),
            "[ -~é世🎉\\n\\t\\u{1}\"\\\\]{0,40}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            text.prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    fn body() -> impl Strategy<Value = Value> {
        prop::collection::vec(
            (
                prop_oneof![
                    Just("messages"),
                    Just("system"),
                    Just("tools"),
                    Just("model"),
                    Just("max_tokens"),
                    Just("other"),
                ],
                value(),
            ),
            0..5,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
    }

    proptest! {
        #[test]
        fn any_json_is_read_and_any_split_reads_as_the_whole(
            body in body(),
            pretty in any::<bool>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let text = if pretty {
                serde_json::to_vec_pretty(&body).unwrap()
            } else {
                serde_json::to_vec(&body).unwrap()
            };
            let whole = scan(&text);
            prop_assert!(whole.is_some(), "{}", String::from_utf8_lossy(&text));
            let whole = whole.unwrap();
            let model = body.get("model").and_then(Value::as_str).map(str::to_string);
            prop_assert_eq!(&whole.model, &model);
            let at = cut.index(text.len() + 1);
            let mut s = Scan::default();
            s.feed(&text[..at]);
            s.feed(&text[at..]);
            prop_assert_eq!(s.finish(), Some(whole.clone()));
            // One byte at a time: no run of plain string content read a word at a time.
            let mut s = Scan::default();
            for b in &text {
                s.feed(std::slice::from_ref(b));
            }
            prop_assert_eq!(s.finish(), Some(whole));
        }
    }
}

#[test]
fn a_batch_api_request_is_told_apart() {
    for url in [
        "https://api.anthropic.com/v1/messages/batches",
        "https://api.anthropic.com/v1/messages/batches/msgbatch_01/results",
        "https://api.anthropic.com/v1/messages/batches/msgbatch_01/cancel?beta=true",
        "https://api.openai.com/v1/batches",
        "https://api.openai.com/v1/batches/batch_abc/cancel",
        "https://example-resource.openai.azure.com/openai/batches?api-version=2024-10-21",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        "https://generativelanguage.googleapis.com/v1beta/batches/abc123",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        "http://127.0.0.1:8080/v1/messages/batches/",
    ] {
        assert_eq!(metered_apart(url), Some(BATCH_CLASS), "{url}");
    }
    for url in [
        "https://api.anthropic.com/v1/messages",
        "https://api.openai.com/v1/chat/completions?from=/v1/batches",
        "https://api.openai.com/v1/batches_old",
        // A synchronous embedding of many texts is metered as the model's own.
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-embedding-001:batchEmbedContents",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        "",
    ] {
        assert_ne!(metered_apart(url), Some(BATCH_CLASS), "{url}");
    }
}

#[test]
fn a_request_that_only_counts_tokens_is_told_apart() {
    for url in [
        "https://api.anthropic.com/v1/messages/count_tokens",
        "https://api.anthropic.com/v1/messages/count_tokens?beta=true",
        "https://api.openai.com/v1/responses/input_tokens",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:countTokens?key=k",
        "http://127.0.0.1:8080/v1/messages/count_tokens/",
    ] {
        assert_eq!(metered_apart(url), Some(TOKEN_COUNT_CLASS), "{url}");
    }
    for url in [
        "https://api.anthropic.com/v1/messages",
        "https://api.openai.com/v1/responses",
        "https://api.openai.com/v1/chat/completions?x=/count_tokens",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        "",
    ] {
        assert_ne!(metered_apart(url), Some(TOKEN_COUNT_CLASS), "{url}");
    }
}
