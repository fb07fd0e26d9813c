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
//! (legacy completions); `contents`, `systemInstruction`, `tools` (Gemini `generateContent`),
//! `content`, `requests` (Gemini embeddings). Everything else at the top level (`model`, `max_tokens`,
//! `temperature`, `stream`, `metadata`, ...) is not sent to the model as tokens and is
//! skipped. Inside the content fields, keys and string values count as text, numbers and
//! literals as their JSON text, plus a few characters of JSON punctuation per value, so tool
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
//! [`IMAGE_TOKENS`]. Gemini's `inlineData` (its `data` base64) and `fileData` parts cost
//! [`IMAGE_TOKENS`] when their `mimeType` is an image's, else [`DOCUMENT_TOKENS`].
//! A body with a non-empty `tools` list adds [`TOOLS_OVERHEAD_TOKENS`] (the
//! tool-use system prompt the provider inserts).
//!
//! Callers with better knowledge (a real tokenizer, PDFs of known page counts) pass their own
//! `estimate` option, which replaces this one.
//!
//! # Output tokens
//!
//! The body's `max_tokens`, else `max_completion_tokens`, else `max_output_tokens`, else
//! Gemini's `generationConfig.maxOutputTokens`: what the output reservation
//! (`outputReservation: "max_tokens"`) holds until the usage comes back, once for each of
//! OpenAI's `n` choices (Gemini's `generationConfig.candidateCount`).
//!
//! # Reading a body
//!
//! The body is read as JSON text, in pieces ([`Scan`]): the Wasm driver hands over a request's
//! string or bytes a piece at a time, so a large body (a base64 image, a long conversation)
//! never sits whole in the Wasm memory, and nothing is built: no `JSON.parse`, no tree, one
//! pass. What is not JSON (as `JSON.parse` would refuse it) is not estimated here: the driver
//! then prices it by its length, as text.
//!
//! The work is bounded whatever the body: the counts cover no more than [`MAX_NODES`] JSON
//! values and no deeper than [`MAX_DEPTH`]. A body with more values than that (hundreds of
//! thousands of messages: far beyond any model's context) is priced by
//! [`Body::estimate_sized`] as its whole JSON text, every character ASCII text, which errs
//! high.

pub(crate) mod json;
pub mod prefix;
mod rules;

pub use prefix::Prefix;

pub use json::{HEAD, MAX_NESTING};

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
/// Values nested deeper than this are not counted (it is not a real request body).
pub const MAX_DEPTH: usize = 64;
/// The counts cover no more JSON values than this; see [`Body::estimate_sized`] for a body
/// with more.
pub const MAX_NODES: u64 = 100_000;
/// Output limits above this are not believed (and not reserved).
pub const MAX_OUTPUT_TOKENS: f64 = 1.0e9;

/// The most choices (OpenAI's `n`) believed: OpenAI's own bound.
pub const MAX_CHOICES: f64 = 128.0;

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
    "contents",
    "systemInstruction",
    "system_instruction",
    "content",
    "requests",
];

/// The fields that give the output limit, in order of precedence: the first three at the top
/// level, the last (Gemini's) in the top-level `generationConfig`.
const OUTPUT_FIELDS: [&str; 4] = [
    "max_tokens",
    "max_completion_tokens",
    "max_output_tokens",
    "maxOutputTokens",
];

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
        TextCount::of_bytes(s.as_bytes())
    }

    /// Count the characters of UTF-8 `bytes` (a character cut at either end counts once).
    pub fn of_bytes(bytes: &[u8]) -> TextCount {
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
    /// OpenAI's `n`, if the body gives a valid one (a whole number from 1 to [`MAX_CHOICES`]).
    pub choices: Option<f64>,
    /// JSON values counted.
    pub nodes: u64,
    /// The counts stopped at [`MAX_NODES`]: they cover only part of the body.
    pub truncated: bool,
}

/// The estimate for one request.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Estimate {
    /// Input tokens (whole tokens, rounded up).
    pub input_tokens: f64,
    /// The output limit from the body, if any.
    pub max_tokens: Option<f64>,
    /// How many choices it asks for (OpenAI's `n`), if it says.
    pub choices: Option<f64>,
}

impl Counts {
    /// Price the counts: see the [module docs](self).
    pub fn estimate(&self) -> Estimate {
        Estimate {
            input_tokens: price(self.text, self.images, self.documents, self.tools),
            max_tokens: self.max_tokens,
            choices: self.choices,
        }
    }
}

/// Text, images and documents in tokens, with the tool-use prompt when `tools`; rounded up.
/// The rule of [`Counts::estimate`], and of a prompt prefix's part of it ([`prefix`]).
fn price(text: TextCount, images: u32, documents: u32, tools: bool) -> f64 {
    let mut t = text.tokens();
    t += f64::from(images) * IMAGE_TOKENS;
    t += f64::from(documents) * DOCUMENT_TOKENS;
    if tools {
        t += TOOLS_OVERHEAD_TOKENS;
    }
    t.ceil()
}

/// Is `s` a `data:` URL with base64 content (an inline file)? Only the start of a long
/// string is looked at (its first [`HEAD`] bytes).
pub fn is_data_url(s: &[u8]) -> bool {
    s.len() > 5 && s[..5].eq_ignore_ascii_case(b"data:") && super::find(s, b";base64,").is_some()
}

/// A request body read as JSON text, piece by piece: [`Scan::feed`] each piece in order
/// (split anywhere), then [`Scan::finish`].
///
/// ```
/// use llm_pacer::core::estimate::Scan;
///
/// let mut scan = Scan::default();
/// scan.feed(br#"{"model":"claude-x","max_tokens":64,"messages":[{"role":"user","#);
/// scan.feed(br#""content":"Hello there"}]}"#);
/// let body = scan.finish().expect("JSON");
/// assert_eq!(body.model.as_deref(), Some("claude-x"));
/// assert_eq!(body.counts.max_tokens, Some(64.0));
/// assert!(body.counts.estimate().input_tokens > 0.0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Scan {
    reader: json::Reader,
    rules: rules::Rules,
}

/// What a request body holds, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// Its counts.
    pub counts: Counts,
    /// Its top-level `model`, if a string (at most its first [`HEAD`] bytes).
    pub model: Option<String>,
    /// Where its prompt may be read from the server's prompt cache: empty unless it has a
    /// `cache_control` breakpoint ([`prefix`]).
    pub prefixes: Vec<Prefix>,
}

impl Scan {
    /// Read the next piece of the text.
    pub fn feed(&mut self, piece: &[u8]) {
        self.reader.feed(piece, &mut self.rules);
    }

    /// Has the text stopped being JSON already? (Nothing more needs reading.)
    pub fn failed(&self) -> bool {
        self.reader.failed()
    }

    /// The body, if the text was one JSON value. Anything but an object counts nothing.
    pub fn finish(mut self) -> Option<Body> {
        if !self.reader.finish(&mut self.rules) {
            return None;
        }
        let (counts, model, prefixes) = self.rules.finish();
        Some(Body {
            counts,
            model,
            prefixes,
        })
    }
}

impl Body {
    /// The estimate, for a body whose JSON text is `chars` characters long: when the counts
    /// stopped at [`MAX_NODES`], the input is at least that whole text priced as ASCII text
    /// (structure included, so it errs high).
    pub fn estimate_sized(&self, chars: f64) -> Estimate {
        let mut e = self.counts.estimate();
        if self.counts.truncated && chars.is_finite() {
            e.input_tokens = e.input_tokens.max((chars / ASCII_CHARS_PER_TOKEN).ceil());
        }
        e
    }

    /// The prompt's prefixes in the units of the caller's own count of its input (`input`,
    /// from the `estimate` option), and the input the call surely costs. Each prefix is taken
    /// to be the same share of the caller's count as of this estimate (rounded down: a
    /// cached part never looks larger than it is); the longest of them may be read from the
    /// server's prompt cache, which does not count it, so only the rest is sure. Without
    /// prefixes: none, and the whole count.
    ///
    /// ```
    /// use llm_pacer::core::estimate::scan;
    ///
    /// let system = "You are a careful assistant. ".repeat(300);
    /// let text = format!(
    ///     r#"{{"model":"claude-x","max_tokens":64,
    ///         "system":[{{"type":"text","text":"{system}","cache_control":{{"type":"ephemeral"}}}}],
    ///         "messages":[{{"role":"user","content":"Hello there"}}]}}"#
    /// );
    /// let body = scan(text.as_bytes()).expect("JSON");
    /// let (prefixes, sure) = body.counted(2_000.0);
    /// // The system prompt is nearly all of the prompt: nearly all of the caller's 2,000.
    /// assert!(prefixes[0].tokens > 1_900.0 && prefixes[0].tokens < 2_000.0);
    /// assert_eq!(sure, 2_000.0 - prefixes[0].tokens);
    /// ```
    pub fn counted(self, input: f64) -> (Vec<Prefix>, f64) {
        let whole = self.counts.estimate().input_tokens;
        let mut prefixes = self.prefixes;
        if prefixes.is_empty() || !(whole > 0.0 && input.is_finite() && input > 0.0) {
            return (Vec::new(), input);
        }
        let mut longest: f64 = 0.0;
        for p in &mut prefixes {
            p.tokens = (p.tokens / whole * input).min(input).floor();
            longest = longest.max(p.tokens);
        }
        (prefixes, input - longest)
    }
}

/// The class of the limit key of a request that only counts a prompt's tokens: Anthropic's
/// `/v1/messages/count_tokens`, OpenAI's `/v1/responses/input_tokens`, Gemini's
/// `:countTokens`. Such a request generates nothing and is not counted against the input or
/// output limits (Anthropic meters it by requests, apart from messages).
pub const TOKEN_COUNT_CLASS: &str = "count_tokens";

/// The class of the limit key of a batch API's request: Anthropic's Message Batches
/// (`/v1/messages/batches`, a batch's own path, its results, its cancel), OpenAI's Batch API
/// (`/v1/batches`...), Gemini's batch mode (`:batchGenerateContent`,
/// `:asyncBatchEmbedContent`, `/batches/...`): a path segment `batches`, or one of those
/// methods. The requests a batch holds are served later and metered apart from the model's
/// limits (Anthropic counts the batch endpoints' requests and the requests waiting in its
/// queue): priced as one prompt, a batch of 500 took a whole ITPM bucket from the key's own
/// calls.
pub const BATCH_CLASS: &str = "batches";

/// The paths' ends of the requests metered apart, and their classes.
const APART: [(&[u8], &str); 6] = [
    (b"/count_tokens", TOKEN_COUNT_CLASS),
    (b"/responses/input_tokens", TOKEN_COUNT_CLASS),
    (b":countTokens", TOKEN_COUNT_CLASS),
    (b"/batches", BATCH_CLASS),
    (b":batchGenerateContent", BATCH_CLASS),
    (b":asyncBatchEmbedContent", BATCH_CLASS),
];

/// The class of the limit key of a request at `url` that the providers meter apart from the
/// model's input and output limits ([`TOKEN_COUNT_CLASS`], [`BATCH_CLASS`]): it reserves no
/// tokens and goes on a limit key of that class. `None` for any other request.
pub fn metered_apart(url: &str) -> Option<&'static str> {
    let path = crate::core::before_query(url);
    let path = path.strip_suffix(b"/").unwrap_or(path);
    APART
        .iter()
        .find(|(end, _)| path.ends_with(end))
        .map(|(_, class)| *class)
        .or_else(|| crate::core::find(path, b"/batches/").map(|_| BATCH_CLASS))
}

/// Read a whole JSON text: `None` if it is not JSON.
pub fn scan(json: &[u8]) -> Option<Body> {
    let mut s = Scan::default();
    s.feed(json);
    s.finish()
}

/// The estimate of a whole JSON text ([`Body::estimate_sized`] with its length): `None` if it
/// is not JSON.
pub fn estimate(json: &[u8]) -> Option<Estimate> {
    Some(scan(json)?.estimate_sized(json.len() as f64))
}

/// The estimate of a body that was not read (not JSON, too large to read, a `Blob`) whose
/// length is `len` (bytes or UTF-16 code units; 0 when unknown): its input priced as ASCII
/// text, the rule [`Body::estimate_sized`] applies to a body with too many values, so that a
/// bigger body never looks cheaper; no output.
pub fn unread(len: f64) -> Estimate {
    Estimate {
        input_tokens: if len.is_finite() {
            (len.max(0.0) / ASCII_CHARS_PER_TOKEN).ceil()
        } else {
            0.0
        },
        max_tokens: None,
        choices: None,
    }
}
