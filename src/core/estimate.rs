//! A conservative estimate of a request's tokens from its JSON body, before it is sent.
//!
//! The limiter reserves input tokens (ITPM) and output tokens (OTPM) when a request is
//! admitted, and replaces the reservation with the real usage when the response reports it.
//! The estimate only has to be good enough to keep the pacer from sending a request the server
//! would refuse; erring high delays a request a little, erring low risks a 429. So it errs
//! high, and it is cheap: no tokenizer, one pass over the body.
//!
//! # Input tokens
//!
//! The content fields of the body are measured as JSON text: `system`, `messages`, `tools`
//! (Anthropic Messages); `messages`, `tools`, `functions`, `response_format` (OpenAI Chat
//! Completions); `input`, `instructions`, `tools`, `text` (OpenAI Responses); `prompt`
//! (legacy completions). Everything else at the top level (`model`, `max_tokens`,
//! `temperature`, `stream`, `metadata`, ...) is not sent to the model as tokens and is
//! skipped. Inside the content fields, keys and string values count as text, numbers and
//! booleans as their digits, plus a few characters of JSON punctuation per value, so tool
//! schemas, tool inputs and the per-message structure all add up like the text they are.
//!
//! Text costs [`ASCII_CHARS_PER_TOKEN`] characters per token for ASCII (English prose runs at
//! about 3.5-4.5 on current tokenizers, code and JSON nearer 3) and one token per non-ASCII
//! character (CJK runs at about one token per character or a little less; accented Latin,
//! Cyrillic and the like at less).
//!
//! Binary content never counts as text. A block whose `type` is an image (`image`,
//! `image_url`, `input_image`) costs [`IMAGE_TOKENS`]; a document, file or audio block
//! (`document`, `file`, `input_file`, `input_audio`) costs [`DOCUMENT_TOKENS`], except an
//! Anthropic `document` whose source is plain `text` or `content` blocks, which is measured
//! like any other text. Any other object with `"type": "base64"` (a source) has its `data`
//! skipped and costs [`DOCUMENT_TOKENS`], and a string that is a `data:` URL costs
//! [`IMAGE_TOKENS`]. A body with a non-empty `tools` list adds [`TOOLS_OVERHEAD_TOKENS`] (the
//! tool-use system prompt the provider inserts).
//!
//! Callers with better knowledge (a real tokenizer, PDFs of known page counts) pass their own
//! `estimate` option, which replaces this one.
//!
//! # Output tokens
//!
//! The body's `max_tokens`, else `max_completion_tokens`, else `max_output_tokens`: what the
//! output reservation (`outputReservation: "max_tokens"`) holds until the usage comes back.
//!
//! # Walking a body
//!
//! The walk is written once over the [`JsonView`] trait: the Wasm driver implements it for a
//! JavaScript value parsed with `JSON.parse`, the tests for a small tree.
//!
//! The work is bounded whatever the body: the walk looks at no more than [`MAX_NODES`] JSON
//! values and no deeper than [`MAX_DEPTH`]. A body with more values than that (hundreds of
//! thousands of messages: far beyond any model's context) is priced by [`estimate_sized`] as
//! its whole JSON text, every character ASCII text, which errs high. A view may measure a long
//! string itself ([`Shape::Measured`]) instead of handing it over whole.

/// ASCII characters per token: conservative (a little low) for current tokenizers.
pub const ASCII_CHARS_PER_TOKEN: f64 = 3.0;
/// The fixed cost of one image: the most Anthropic charges for an image it has resized (about
/// 1.15 megapixels, `width * height / 750`), and more than OpenAI's high-detail tiles.
pub const IMAGE_TOKENS: f64 = 1_600.0;
/// The fixed cost of one document, file or audio part whose size is unknown (a PDF costs
/// about 1 500-3 000 tokens per page: this is one or two pages). Pass an `estimate` option
/// for large documents.
pub const DOCUMENT_TOKENS: f64 = 3_000.0;
/// Added once when the body has a non-empty `tools` list.
pub const TOOLS_OVERHEAD_TOKENS: f64 = 350.0;
/// Deeper nesting than this is not walked (it is not a real request body).
pub const MAX_DEPTH: usize = 64;
/// The walk looks at no more JSON values than this (about a tenth of a second of work in the
/// Wasm driver); see [`estimate_sized`] for a body with more.
pub const MAX_NODES: u64 = 100_000;
/// Output limits above this are not believed (and not reserved).
pub const MAX_OUTPUT_TOKENS: f64 = 1.0e9;

/// The top-level fields whose content is sent to the model as tokens.
const CONTENT_FIELDS: &[&str] = &[
    "system",
    "messages",
    "tools",
    "functions",
    "response_format",
    "input",
    "instructions",
    "text",
    "prompt",
];

/// The top-level fields that give the output limit, in order of precedence.
const OUTPUT_FIELDS: &[&str] = &["max_tokens", "max_completion_tokens", "max_output_tokens"];

/// Characters of text, counted the way the estimate prices them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextCount {
    /// ASCII characters.
    pub ascii: u64,
    /// Other characters (Unicode scalar values).
    pub other: u64,
}

impl TextCount {
    /// Count the characters of `s`.
    pub fn of(s: &str) -> TextCount {
        let bytes = s.as_bytes();
        let ascii = bytes.iter().filter(|b| b.is_ascii()).count() as u64;
        // Every non-ASCII char starts with one byte that is not a continuation byte.
        let other = bytes
            .iter()
            .filter(|&&b| b >= 0x80 && (b & 0xC0) != 0x80)
            .count() as u64;
        TextCount { ascii, other }
    }

    /// `n` ASCII characters.
    pub fn ascii(n: u64) -> TextCount {
        TextCount { ascii: n, other: 0 }
    }

    /// Add another count.
    pub fn add(&mut self, other: TextCount) {
        self.ascii = self.ascii.saturating_add(other.ascii);
        self.other = self.other.saturating_add(other.other);
    }

    /// The tokens this text is estimated to cost.
    pub fn tokens(&self) -> f64 {
        self.ascii as f64 / ASCII_CHARS_PER_TOKEN + self.other as f64
    }
}

/// What a body contains, counted.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Counts {
    /// Text, JSON structure included.
    pub text: TextCount,
    /// Images.
    pub images: u32,
    /// Documents, files, audio and other binary parts.
    pub documents: u32,
    /// A non-empty `tools` list is present.
    pub tools: bool,
    /// The output limit, if the body gives a valid one.
    pub max_tokens: Option<f64>,
    /// JSON values walked.
    pub nodes: u64,
    /// The walk stopped at [`MAX_NODES`]: the counts cover only part of the body.
    pub truncated: bool,
}

/// The estimate for one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    /// Input tokens (whole tokens, rounded up).
    pub input_tokens: f64,
    /// The output limit from the body, if any.
    pub max_tokens: Option<f64>,
}

impl Counts {
    /// Price the counts: see the [module docs](self).
    pub fn estimate(&self) -> Estimate {
        let mut t = self.text.tokens();
        t += f64::from(self.images) * IMAGE_TOKENS;
        t += f64::from(self.documents) * DOCUMENT_TOKENS;
        if self.tools {
            t += TOOLS_OVERHEAD_TOKENS;
        }
        Estimate {
            input_tokens: t.ceil(),
            max_tokens: self.max_tokens,
        }
    }
}

/// One JSON value as the walk sees it: arrays and objects hand out their children as views,
/// so the walk looks only where it needs to (the base64 data of an image is never read).
#[derive(Debug, Clone, PartialEq)]
pub enum Shape<T> {
    /// `null`, or a value JSON cannot hold.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Str(String),
    /// A string the view measured itself (a long one, read in pieces rather than copied
    /// whole): its characters, and whether it is a `data:` URL with base64 content (see
    /// [`is_data_url`]; its characters then do not matter).
    Measured {
        /// Its characters.
        text: TextCount,
        /// It is an inline file.
        data_url: bool,
    },
    /// An array's items.
    Array(Vec<T>),
    /// An object's entries, in order.
    Object(Vec<(String, T)>),
}

/// A JSON value the walk can look into.
pub trait JsonView: Sized {
    /// This value's shape.
    fn shape(&self) -> Shape<Self>;
}

/// Is `s` a `data:` URL with base64 content (an inline file)?
pub fn is_data_url(s: &str) -> bool {
    s.len() > 5
        && s.as_bytes()[..5].eq_ignore_ascii_case(b"data:")
        && super::find(s.as_bytes(), b";base64,").is_some()
}

/// Count a request body. Anything but an object counts as nothing.
pub fn count<T: JsonView>(body: &T) -> Counts {
    let mut c = Counts::default();
    let Shape::Object(entries) = body.shape() else {
        return c;
    };
    for (key, value) in &entries {
        if CONTENT_FIELDS.contains(&key.as_str()) {
            let shape = value.shape();
            if key == "tools" {
                if let Shape::Array(items) = &shape {
                    c.tools |= !items.is_empty();
                }
            }
            walk_shape(shape, 0, &mut c);
        }
    }
    for field in OUTPUT_FIELDS {
        let Some((_, v)) = entries.iter().find(|(k, _)| k == field) else {
            continue;
        };
        if let Shape::Number(n) = v.shape() {
            if n.is_finite() && (0.0..=MAX_OUTPUT_TOKENS).contains(&n) {
                c.max_tokens = Some(n);
                break;
            }
        }
    }
    c
}

/// Count a body and price it: [`count`] then [`Counts::estimate`].
pub fn estimate<T: JsonView>(body: &T) -> Estimate {
    count(body).estimate()
}

/// [`estimate`] for a body whose JSON text is `chars` characters long: when the walk stops at
/// [`MAX_NODES`], the input is at least that whole text priced as ASCII text (structure
/// included, so it errs high).
pub fn estimate_sized<T: JsonView>(body: &T, chars: f64) -> Estimate {
    let c = count(body);
    let mut e = c.estimate();
    if c.truncated && chars.is_finite() {
        e.input_tokens = e.input_tokens.max((chars / ASCII_CHARS_PER_TOKEN).ceil());
    }
    e
}

/// JSON punctuation around a key and its value (quotes, colon, comma), counted as ASCII.
const PUNCT: u64 = 4;

fn walk_shape<T: JsonView>(shape: Shape<T>, depth: usize, c: &mut Counts) {
    if depth > MAX_DEPTH {
        return;
    }
    c.nodes += 1;
    if c.nodes > MAX_NODES {
        c.truncated = true;
        return;
    }
    match shape {
        Shape::Null => c.text.add(TextCount::ascii(4)),
        Shape::Bool(b) => c.text.add(TextCount::ascii(if b { 4 } else { 5 })),
        Shape::Number(n) => c.text.add(TextCount::ascii(number_len(n))),
        Shape::Str(s) => {
            if is_data_url(&s) {
                c.images = c.images.saturating_add(1);
            } else {
                c.text.add(TextCount::of(&s));
                c.text.add(TextCount::ascii(2));
            }
        }
        Shape::Measured { data_url: true, .. } => c.images = c.images.saturating_add(1),
        Shape::Measured { text, .. } => {
            c.text.add(text);
            c.text.add(TextCount::ascii(2));
        }
        Shape::Array(items) => {
            c.text.add(TextCount::ascii(2));
            for item in &items {
                if c.truncated {
                    return;
                }
                walk_shape(item.shape(), depth + 1, c);
                c.text.add(TextCount::ascii(1));
            }
        }
        Shape::Object(entries) => walk_object(&entries, depth, c),
    }
}

/// The value of `key` in an object, if it is a string.
fn str_field<T: JsonView>(entries: &[(String, T)], key: &str) -> Option<String> {
    let (_, v) = entries.iter().find(|(k, _)| k == key)?;
    match v.shape() {
        Shape::Str(s) => Some(s),
        _ => None,
    }
}

/// The object at `key`, if it is one.
fn object_field<T: JsonView>(entries: &[(String, T)], key: &str) -> Option<Vec<(String, T)>> {
    let (_, v) = entries.iter().find(|(k, _)| k == key)?;
    match v.shape() {
        Shape::Object(o) => Some(o),
        _ => None,
    }
}

fn walk_object<T: JsonView>(entries: &[(String, T)], depth: usize, c: &mut Counts) {
    match str_field(entries, "type").as_deref() {
        Some("image" | "image_url" | "input_image") => {
            c.images = c.images.saturating_add(1);
            return;
        }
        Some("document") => {
            // Anthropic: a `text` source holds plain text in `data`, a `content` source holds
            // content blocks; both are priced as text. Anything else (base64, url, file) is
            // a file of unknown size.
            let source = object_field(entries, "source");
            let source_type = source.as_ref().and_then(|s| str_field(s, "type"));
            if !matches!(source_type.as_deref(), Some("text" | "content")) {
                c.documents = c.documents.saturating_add(1);
                return;
            }
        }
        Some("file" | "input_file" | "input_audio" | "base64") => {
            c.documents = c.documents.saturating_add(1);
            return;
        }
        _ => {}
    }
    c.text.add(TextCount::ascii(2));
    for (k, v) in entries {
        if c.truncated {
            return;
        }
        c.text.add(TextCount::of(k));
        c.text.add(TextCount::ascii(PUNCT));
        walk_shape(v.shape(), depth + 1, c);
    }
}

/// The length of a number written as JSON, roughly (a few digits more for fractions).
fn number_len(n: f64) -> u64 {
    if !n.is_finite() {
        return 4;
    }
    let mut len = 1;
    let mut m = n.abs();
    while m >= 10.0 && len < 20 {
        m /= 10.0;
        len += 1;
    }
    if n < 0.0 {
        len += 1;
    }
    if n.fract() != 0.0 {
        len += 4;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed JSON tree for the tests.
    #[derive(Debug, Clone, PartialEq)]
    enum J {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<J>),
        Obj(Vec<(String, J)>),
    }

    impl JsonView for J {
        fn shape(&self) -> Shape<J> {
            match self {
                J::Null => Shape::Null,
                J::Bool(b) => Shape::Bool(*b),
                J::Num(n) => Shape::Number(*n),
                J::Str(s) => Shape::Str(s.clone()),
                J::Arr(a) => Shape::Array(a.clone()),
                J::Obj(o) => Shape::Object(o.clone()),
            }
        }
    }

    /// A small JSON parser (enough for the fixtures: no escapes beyond `\"` and `\\`).
    fn parse(s: &str) -> J {
        fn ws(b: &[u8], i: &mut usize) {
            while *i < b.len() && b[*i].is_ascii_whitespace() {
                *i += 1;
            }
        }
        fn string(s: &str, i: &mut usize) -> String {
            let b = s.as_bytes();
            assert_eq!(b[*i], b'"');
            *i += 1;
            let mut out = String::new();
            let mut start = *i;
            while b[*i] != b'"' {
                if b[*i] == b'\\' {
                    out.push_str(&s[start..*i]);
                    out.push(b[*i + 1] as char);
                    *i += 2;
                    start = *i;
                } else {
                    *i += 1;
                }
            }
            out.push_str(&s[start..*i]);
            *i += 1;
            out
        }
        fn value(s: &str, i: &mut usize) -> J {
            let b = s.as_bytes();
            ws(b, i);
            let v = match b[*i] {
                b'{' => {
                    *i += 1;
                    let mut o = Vec::new();
                    loop {
                        ws(b, i);
                        if b[*i] == b'}' {
                            *i += 1;
                            break;
                        }
                        let k = string(s, i);
                        ws(b, i);
                        assert_eq!(b[*i], b':');
                        *i += 1;
                        o.push((k, value(s, i)));
                        ws(b, i);
                        if b[*i] == b',' {
                            *i += 1;
                        }
                    }
                    J::Obj(o)
                }
                b'[' => {
                    *i += 1;
                    let mut a = Vec::new();
                    loop {
                        ws(b, i);
                        if b[*i] == b']' {
                            *i += 1;
                            break;
                        }
                        a.push(value(s, i));
                        ws(b, i);
                        if b[*i] == b',' {
                            *i += 1;
                        }
                    }
                    J::Arr(a)
                }
                b'"' => J::Str(string(s, i)),
                b't' => {
                    *i += 4;
                    J::Bool(true)
                }
                b'f' => {
                    *i += 5;
                    J::Bool(false)
                }
                b'n' => {
                    *i += 4;
                    J::Null
                }
                _ => {
                    let start = *i;
                    while *i < b.len()
                        && matches!(b[*i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        *i += 1;
                    }
                    J::Num(s[start..*i].parse().unwrap())
                }
            };
            ws(b, i);
            v
        }
        let mut i = 0;
        value(s, &mut i)
    }

    fn est(json: &str) -> Estimate {
        estimate(&parse(json))
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
        let c = count(&parse(&body));
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
        let c = count(&parse(&body));
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
        let c = count(&parse(&body));
        assert_eq!((c.documents, c.images), (4, 0));
        assert!(c.estimate().input_tokens < 4.0 * DOCUMENT_TOKENS + 100.0);

        let text = "d".repeat(30_000);
        let body = format!(
            r#"{{"messages":[{{"role":"user","content":[
                {{"type":"document","source":{{"type":"text","media_type":"text/plain","data":"{text}"}}}}]}}]}}"#
        );
        let c = count(&parse(&body));
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
                >= without.input_tokens
                    + TOOLS_OVERHEAD_TOKENS
                    + schema_chars / ASCII_CHARS_PER_TOKEN
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

    #[test]
    fn non_object_bodies_count_nothing() {
        assert_eq!(est(r#""just a string""#), Estimate::default());
        assert_eq!(est("[1,2,3]"), Estimate::default());
        assert_eq!(est("null"), Estimate::default());
    }

    #[test]
    fn deep_nesting_is_cut_off() {
        let mut v = J::Str("x".repeat(300));
        for _ in 0..2_000 {
            v = J::Arr(vec![v]);
        }
        let body = J::Obj(vec![("messages".into(), v)]);
        let e = estimate(&body);
        // Only the first MAX_DEPTH levels of brackets are counted; the string is not reached.
        assert!(e.input_tokens < 100.0, "{e:?}");
    }

    #[test]
    fn the_walk_stops_at_max_nodes_and_the_sized_estimate_prices_the_whole_text() {
        let n = MAX_NODES as usize + 10;
        let messages = J::Arr(
            (0..n)
                .map(|_| J::Obj(vec![("content".into(), J::Str("hello".into()))]))
                .collect(),
        );
        let body = J::Obj(vec![
            ("max_tokens".into(), J::Num(5.0)),
            ("messages".into(), messages),
        ]);
        let c = count(&body);
        assert!(c.truncated);
        assert_eq!(c.nodes, MAX_NODES + 1);
        // The text of the body, as `JSON.stringify` writes it: 24 characters per message.
        let chars = (n * 24 + 30) as f64;
        let e = estimate_sized(&body, chars);
        assert_eq!(e.input_tokens, (chars / ASCII_CHARS_PER_TOKEN).ceil());
        assert_eq!(e.max_tokens, Some(5.0));
        assert!(e.input_tokens > estimate(&body).input_tokens);

        // Under the bound, the sized estimate is the plain one.
        let small = parse(r#"{"messages":[{"role":"user","content":"hi"}]}"#);
        assert!(!count(&small).truncated);
        assert_eq!(estimate_sized(&small, 1.0e9), estimate(&small));
    }

    /// A view that measures every string itself, as the Wasm driver does for long ones.
    struct Measuring(J);

    impl JsonView for Measuring {
        fn shape(&self) -> Shape<Measuring> {
            match self.0.shape() {
                Shape::Str(s) => Shape::Measured {
                    text: TextCount::of(&s),
                    data_url: is_data_url(&s),
                },
                Shape::Array(a) => Shape::Array(a.into_iter().map(Measuring).collect()),
                Shape::Object(o) => {
                    Shape::Object(o.into_iter().map(|(k, v)| (k, Measuring(v))).collect())
                }
                Shape::Null => Shape::Null,
                Shape::Bool(b) => Shape::Bool(b),
                Shape::Number(n) => Shape::Number(n),
                Shape::Measured { text, data_url } => Shape::Measured { text, data_url },
            }
        }
    }

    #[test]
    fn measured_strings_count_as_the_strings_would() {
        let body = parse(&format!(
            r#"{{"messages":[{{"role":"user","content":"héllo {}"}}],
                "prompt":"data:image/png;base64,{}"}}"#,
            "x".repeat(10_000),
            "A".repeat(10_000)
        ));
        let plain = count(&body);
        let measured = count(&Measuring(body));
        assert_eq!(measured.text, plain.text);
        assert_eq!(measured.images, 1);
        assert_eq!(plain.images, 1);
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
}
