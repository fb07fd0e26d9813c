//! An incremental parser for `text/event-stream` (Server-Sent Events), as the WHATWG HTML
//! standard specifies it (§9.2.6 "Interpreting an event stream").
//!
//! Bytes come in chunks cut anywhere — inside a line, inside a CRLF pair, inside a multi-byte
//! UTF-8 character — and complete events come out. What the standard says, and this parser
//! does:
//!
//! * one leading UTF-8 byte order mark is skipped;
//! * lines end with CRLF, LF or CR (a CR at the end of one chunk and an LF at the start of the
//!   next are one line break);
//! * a line starting with `:` is a comment; `field: value` loses one space after the colon; a
//!   line with no colon is a field with an empty value;
//! * `event` sets the type, `data` appends its value and a LF, `id` sets the last event id
//!   (unless it contains NUL), `retry` is read when it is all ASCII digits; other fields are
//!   ignored;
//! * an empty line dispatches: if the data buffer is empty nothing is dispatched (and the type
//!   is reset), else the final LF is removed and the event goes out with its type (`message`
//!   when none was given);
//! * an event not closed by an empty line when the stream ends is dropped.
//!
//! Each line is decoded as UTF-8 on its own, with invalid sequences replaced by U+FFFD (CR and
//! LF never occur inside a multi-byte sequence, so cutting at line breaks is safe).
//!
//! One extension for safety: a line longer than [`MAX_LINE_BYTES`] is dropped, not buffered,
//! so a stream without line breaks cannot make the parser grow without bound. And one that a
//! reader asks for ([`SseParser::reading_error_lines`], the peek at a stream's first event): a
//! field named `error`, which the standard ignores, reads as `event: error` with its value as
//! data (llama.cpp's server sends its errors so: `error: {"code":503,...}`).
//!
//! ```
//! use llm_pacer::core::sse::SseParser;
//!
//! let mut p = SseParser::new();
//! let mut events = Vec::new();
//! p.feed(b"event: message_delta\r\ndata: {\"usage\":", |e| events.push(e.to_owned()));
//! p.feed(b"{\"output_tokens\":7}}\r\n\r\n", |e| events.push(e.to_owned()));
//! assert_eq!(events.len(), 1);
//! assert_eq!(events[0].event, "message_delta");
//! assert_eq!(events[0].data, "{\"usage\":{\"output_tokens\":7}}");
//! ```

use super::estimate::TextCount;
use super::find;

/// Lines longer than this (in bytes) are dropped: 8 MiB.
pub const MAX_LINE_BYTES: usize = 8 << 20;

/// A dispatched event, borrowed from the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    /// The event type: the last `event` field, or `message` when none was given.
    pub event: &'a str,
    /// The data: the `data` fields joined with LF.
    pub data: &'a str,
    /// The last event id seen so far (it persists across events, as the standard says).
    pub id: &'a str,
}

impl Event<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> OwnedEvent {
        OwnedEvent {
            event: self.event.to_owned(),
            data: self.data.to_owned(),
            id: self.id.to_owned(),
        }
    }
}

/// An owned [`Event`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedEvent {
    /// See [`Event::event`].
    pub event: String,
    /// See [`Event::data`].
    pub data: String,
    /// See [`Event::id`].
    pub id: String,
}

/// The incremental parser. See the [module docs](self).
#[derive(Debug, Clone, Default)]
pub struct SseParser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The current line is too long: drop bytes until its end.
    overflow: bool,
    /// The last byte seen was a CR: an LF right after it ends no new line.
    after_cr: bool,
    /// Still at the very start of the stream (a BOM may come).
    at_start: bool,
    /// Bytes of a possible BOM seen at the start so far.
    bom_seen: usize,
    event: String,
    data: String,
    has_data: bool,
    last_id: String,
    retry_ms: Option<u64>,
    /// Which event types' data is kept (see [`SseParser::keeping`]); all when `None`.
    keep: Option<fn(&str) -> bool>,
    /// A field `error` is an `error` event's data (see [`SseParser::reading_error_lines`]).
    error_lines: bool,
}

const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser {
            at_start: true,
            ..Default::default()
        }
    }

    /// A parser that drops unread the data of events whose type (named by an `event` field
    /// before their `data`) `keep` rejects: they are not dispatched. For a reader that wants a
    /// few events of a long stream (an unnamed event is always kept).
    pub fn keeping(self, keep: fn(&str) -> bool) -> Self {
        SseParser {
            keep: Some(keep),
            ..self
        }
    }

    /// A parser that reads a field named `error` (ignored by the standard) as `event: error`
    /// followed by `data:` with its value: the line `error: {"code":503}` then an empty line
    /// dispatch an `error` event with data `{"code":503}`. For the peek at a stream's first
    /// event only (llama.cpp's server sends its errors so); the caller's stream is not parsed
    /// this way.
    pub fn reading_error_lines(self) -> Self {
        SseParser {
            error_lines: true,
            ..self
        }
    }

    /// The reconnection time the stream asked for with `retry`, ms, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// Feed the next chunk; `on_event` is called for each event it completes, in order.
    pub fn feed<F: FnMut(Event<'_>)>(&mut self, chunk: &[u8], mut on_event: F) {
        let mut rest = chunk;
        if self.at_start {
            // Match the BOM byte by byte: it may itself be cut across chunks.
            while self.bom_seen < BOM.len() {
                match rest.first() {
                    None => return,
                    Some(&b) if b == BOM[self.bom_seen] => {
                        self.bom_seen += 1;
                        rest = &rest[1..];
                    }
                    Some(_) => {
                        // Not a BOM: the bytes matched so far are ordinary line content.
                        let seen = BOM[..self.bom_seen].to_vec();
                        self.at_start = false;
                        self.push_bytes(&seen, &mut on_event);
                        break;
                    }
                }
            }
            self.at_start = false;
        }
        self.push_bytes(rest, &mut on_event);
    }

    fn push_bytes(&mut self, mut rest: &[u8], on_event: &mut dyn FnMut(Event<'_>)) {
        while !rest.is_empty() {
            if self.after_cr && rest[0] == b'\n' {
                rest = &rest[1..];
            }
            self.after_cr = false;
            match rest.iter().position(|&b| b == b'\n' || b == b'\r') {
                Some(i) => {
                    self.after_cr = rest[i] == b'\r';
                    if self.line.is_empty() && !self.overflow && i <= MAX_LINE_BYTES {
                        // A whole line in this chunk: read where it is, not copied.
                        self.process_line(&rest[..i], on_event);
                    } else {
                        self.append(&rest[..i]);
                        self.end_line(on_event);
                    }
                    rest = &rest[i + 1..];
                }
                None => {
                    self.append(rest);
                    rest = &[];
                }
            }
        }
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        if self.line.len() + bytes.len() > MAX_LINE_BYTES {
            self.overflow = true;
            self.line = Vec::new();
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self, on_event: &mut dyn FnMut(Event<'_>)) {
        if self.overflow {
            self.overflow = false;
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.process_line(&line, on_event);
        // Keep the allocation for the next line.
        self.line = line;
        self.line.clear();
    }

    fn process_line(&mut self, line: &[u8], on_event: &mut dyn FnMut(Event<'_>)) {
        if line.is_empty() {
            self.dispatch(on_event);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        // `error: <value>` read as `event: error` and `data: <value>`.
        let name = if self.error_lines && name == b"error" {
            self.event.clear();
            self.event.push_str("error");
            b"data"
        } else {
            name
        };
        match name {
            b"event" => {
                self.event.clear();
                self.event.push_str(&String::from_utf8_lossy(value));
            }
            b"data" if self.event.is_empty() || self.keep.is_none_or(|k| k(&self.event)) => {
                self.data.push_str(&String::from_utf8_lossy(value));
                self.data.push('\n');
                self.has_data = true;
            }
            b"id" if !value.contains(&0) => {
                self.last_id.clear();
                self.last_id.push_str(&String::from_utf8_lossy(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All ASCII digits: only an overflow can fail, and it is ignored.
                let n = value.iter().try_fold(0u64, |n, &d| {
                    n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
                });
                if let Some(n) = n {
                    self.retry_ms = Some(n);
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, on_event: &mut dyn FnMut(Event<'_>)) {
        if !self.has_data {
            self.event.clear();
            return;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let event = if self.event.is_empty() {
            "message"
        } else {
            &self.event
        };
        on_event(Event {
            event,
            data: &self.data,
            id: &self.last_id,
        });
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }
}

/// Could an event of this type carry usage ([`may_carry_usage`]) or output text
/// ([`may_carry_text`])? What a usage reader keeps ([`SseParser::keeping`]): the data of the
/// thousands of other events of a long stream (Anthropic's `content_block_delta`, a Responses
/// stream's `response.output_text.delta`) is never buffered.
pub fn may_carry_usage_or_text(event: &str) -> bool {
    matches!(
        event,
        "message_start"
            | "message_delta"
            | "response.completed"
            | "response.incomplete"
            | "response.failed"
            | "message"
    )
}

/// Could this event report token usage? A cheap test on the raw event, so a driver parses
/// the JSON of only the few events that matter (a long stream has thousands of deltas):
///
/// * Anthropic: `message_start` (`message.usage`) and `message_delta` (`usage`, cumulative);
/// * OpenAI Responses: `response.completed` / `response.incomplete` / `response.failed`
///   (`response.usage`);
/// * OpenAI Chat Completions (unnamed events): a chunk whose `usage` is not `null` (with
///   `stream_options.include_usage`, every chunk carries `"usage":null` but the last);
/// * Gemini (`streamGenerateContent?alt=sse`, unnamed events): a chunk with `usageMetadata`.
pub fn may_carry_usage(event: &str, data: &str) -> bool {
    match event {
        "message_start" | "message_delta" => true,
        "response.completed" | "response.incomplete" | "response.failed" => true,
        "message" => has_non_null_usage(data) || find(data.as_bytes(), GEMINI_USAGE).is_some(),
        _ => false,
    }
}

/// Gemini's usage key.
const GEMINI_USAGE: &[u8] = b"\"usageMetadata\"";

/// Is the usage of this event (one [`may_carry_usage`] accepts) the stream's final word, so
/// that it holds even if the stream is not read to its end? Every such event but Anthropic's
/// `message_start`, whose usage is the prompt's with a provisional `output_tokens` (the
/// `message_delta`s that follow carry the output's), and a Gemini chunk before the one with
/// its `finishReason` (each carries the usage so far). The OpenAI SDK cancels its reader after
/// the Chat Completions `[DONE]`, past the chunk with the usage.
pub fn is_final_usage(event: &str, data: &str) -> bool {
    event != "message_start"
        && (find(data.as_bytes(), GEMINI_USAGE).is_none()
            || find(data.as_bytes(), b"\"finishReason\"").is_some())
}

/// Does this event's usage count the stream so far, as Gemini's chunks' `usageMetadata`
/// does? The last such usage of a stream that ended is then its final word, with or without
/// a `finishReason` (a prompt blocked, `promptFeedback.blockReason`, states none and streams
/// no output).
pub fn is_usage_so_far(data: &str) -> bool {
    find(data.as_bytes(), GEMINI_USAGE).is_some()
}

/// Is this event a Chat Completions stream's end (`data: [DONE]`)? The stream has said all
/// it will: a reader that stops there (the OpenAI SDK cancels its reader at `[DONE]`) read
/// it whole.
pub fn is_done(event: &str, data: &str) -> bool {
    event == "message" && data.trim() == "[DONE]"
}

/// Could this event carry output text that no usage report will cover? An OpenAI Chat
/// Completions (or legacy completions) chunk (an unnamed event with `choices`) with no
/// `"usage"` key at all: with `stream_options.include_usage` every chunk carries
/// `"usage":null` and the last one the usage, so only streams without it are parsed for
/// their text (to estimate the output instead of keeping the whole reservation).
pub fn may_carry_text(event: &str, data: &str) -> bool {
    event == "message"
        && find(data.as_bytes(), b"\"choices\"").is_some()
        && find(data.as_bytes(), b"\"usage\"").is_none()
}

/// The output text of a Chat Completions chunk (see [`may_carry_text`]), counted the way the
/// estimate prices text, and how many non-empty text values it holds: the string values of
/// `content`, `refusal`, `reasoning_content`, `arguments` and `name` (tool calls) and `text`
/// (legacy completions). A scan of the raw JSON, no parse: an escape sequence counts as its
/// characters (`\n` as two, `\u00e9` as six ASCII), which errs high, as the estimate does.
pub fn delta_text(data: &str) -> (TextCount, u32) {
    const KEYS: [&[u8]; 6] = [
        b"\"content\"",
        b"\"refusal\"",
        b"\"reasoning_content\"",
        b"\"arguments\"",
        b"\"name\"",
        b"\"text\"",
    ];
    let bytes = data.as_bytes();
    let mut text = TextCount::default();
    let mut values = 0;
    for key in KEYS {
        let mut at = 0;
        while let Some(i) = find(&bytes[at..], key) {
            at += i + key.len();
            let rest = bytes[at..].trim_ascii_start();
            let Some(rest) = rest.strip_prefix(b":") else {
                continue;
            };
            let Some(value) = rest.trim_ascii_start().strip_prefix(b"\"") else {
                continue; // not a string (`null`, an array, ...)
            };
            // Up to the closing quote: the first `"` not escaped by an odd run of `\`.
            let mut end = 0;
            let mut escaped = false;
            while end < value.len() && (escaped || value[end] != b'"') {
                escaped = !escaped && value[end] == b'\\';
                end += 1;
            }
            if end > 0 {
                // As `TextCount::of` counts: ASCII bytes, and the first byte of every other
                // character (the value is whole characters: it ends before an ASCII quote).
                for &c in &value[..end] {
                    if c.is_ascii() {
                        text.ascii += 1;
                    } else if c & 0xC0 != 0x80 {
                        text.other += 1;
                    }
                }
                values += 1;
            }
        }
    }
    (text, values)
}

/// True if `data` has a `"usage"` key whose value does not start with `null`.
fn has_non_null_usage(data: &str) -> bool {
    const KEY: &[u8] = b"\"usage\"";
    let mut rest = data.as_bytes();
    while let Some(i) = find(rest, KEY) {
        rest = &rest[i + KEY.len()..];
        if let Some(v) = rest.trim_ascii_start().strip_prefix(b":") {
            if !v.trim_ascii_start().starts_with(b"null") {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn only_a_message_start_usage_is_provisional() {
        // Anthropic: the prompt's usage first, the output's in the deltas after it.
        assert!(!is_final_usage("message_start", "{}"));
        assert!(is_final_usage("message_delta", "{}"));
        // Gemini: every chunk reports the usage so far; the last one has its finishReason.
        let chunk = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":9}}"#;
        assert!(may_carry_usage("message", chunk));
        assert!(!is_final_usage("message", chunk));
        let last = r#"{"candidates":[{"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":4}}"#;
        assert!(is_final_usage("message", last));
        // OpenAI Responses and Chat Completions: one report, at the end.
        for event in [
            "response.completed",
            "response.incomplete",
            "response.failed",
            "message",
        ] {
            assert!(is_final_usage(event, "{}"), "{event}");
        }
    }

    #[test]
    fn the_text_of_a_chunk_is_counted_without_parsing_it() {
        let chunk = r#"{"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello there"},"logprobs":{"content":[]}}]}"#;
        assert_eq!(delta_text(chunk), (TextCount::of("Hello there"), 1));
        let empty = r#"{"choices":[{"delta":{"role":"assistant","content":"","refusal":null}}]}"#;
        assert_eq!(delta_text(empty), (TextCount::default(), 0));
        // An escaped quote does not end the value; a key inside a value is not a key.
        let tricky = r#"{"choices":[{"delta":{"content":"say \"content\": \"x\" ok"}}]}"#;
        assert_eq!(delta_text(tricky).1, 1);
        assert_eq!(
            delta_text(tricky).0,
            TextCount::of(r#"say \"content\": \"x\" ok"#)
        );
        let tool = r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"name":"get","arguments":"{\"a\":1}"}}]}}]}"#;
        assert_eq!(delta_text(tool), (TextCount::of(r#"get{\"a\":1}"#), 2));
        let legacy = r#"{"choices":[{"text":"été","index":0}]}"#;
        assert_eq!(delta_text(legacy), (TextCount { ascii: 1, other: 2 }, 1));
        let reasoning = r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#;
        assert_eq!(delta_text(reasoning), (TextCount::of("hmm"), 1));
        assert_eq!(
            delta_text(r#"{"choices":[{"delta":{"content":"unterminated"#).1,
            1
        );
    }

    #[test]
    fn only_chunks_of_streams_without_usage_are_read_for_text() {
        let chunk = r#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#;
        assert!(may_carry_text("message", chunk));
        let with_usage = r#"{"id":"c","choices":[{"delta":{"content":"Hi"}}],"usage":null}"#;
        assert!(!may_carry_text("message", with_usage));
        assert!(!may_carry_text("content_block_delta", chunk));
        assert!(!may_carry_text("message", "[DONE]"));
        assert!(is_done("message", "[DONE]") && is_done("message", " [DONE]"));
        assert!(!is_done("message_stop", "[DONE]") && !is_done("message", "{}"));
    }

    fn parse_chunks(chunks: &[&[u8]]) -> Vec<OwnedEvent> {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c, |e| out.push(e.to_owned()));
        }
        out
    }

    fn ev(event: &str, data: &str) -> (String, String) {
        (event.to_owned(), data.to_owned())
    }

    fn pairs(events: &[OwnedEvent]) -> Vec<(String, String)> {
        events
            .iter()
            .map(|e| (e.event.clone(), e.data.clone()))
            .collect()
    }

    #[test]
    fn anthropic_stream() {
        let s = b"event: message_start\n\
data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":25}}}\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: message_delta\n\
data: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
        let got = pairs(&parse_chunks(&[s]));
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].0, "message_start");
        assert_eq!(got[1], ev("ping", "{\"type\": \"ping\"}"));
        assert_eq!(got[2].0, "message_delta");
        assert_eq!(got[3].0, "message_stop");
    }

    #[test]
    fn line_endings_crlf_lf_cr_and_split_crlf() {
        let got = pairs(&parse_chunks(&[
            b"data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r",
            b"\n\r\n",
        ]));
        assert_eq!(
            got,
            vec![
                ev("message", "a"),
                ev("message", "b"),
                ev("message", "c"),
                ev("message", "d")
            ]
        );
    }

    #[test]
    fn a_cr_then_lf_in_the_next_chunk_is_one_break() {
        // If the LF counted as a second break, "x" would be dispatched after "data: x\r".
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: x\r", |e| out.push(e.to_owned()));
        assert!(out.is_empty());
        p.feed(b"\ndata: y\r\n\r\n", |e| out.push(e.to_owned()));
        assert_eq!(pairs(&out), vec![ev("message", "x\ny")]);
    }

    #[test]
    fn multi_line_data_comments_and_field_forms() {
        let s = b": a comment\ndata\ndata:first\ndata:  two spaces\nevent:named\nunknown: x\n\n";
        let got = pairs(&parse_chunks(&[s]));
        assert_eq!(got, vec![ev("named", "\nfirst\n two spaces")]);
    }

    #[test]
    fn empty_data_buffer_dispatches_nothing_and_resets_the_type() {
        let got = pairs(&parse_chunks(&[b"event: a\n\ndata: x\n\n"]));
        assert_eq!(got, vec![ev("message", "x")]);
    }

    #[test]
    fn data_with_empty_value_is_dispatched_as_empty() {
        let got = pairs(&parse_chunks(&[b"data:\n\n"]));
        assert_eq!(got, vec![ev("message", "")]);
    }

    #[test]
    fn unterminated_event_at_the_end_is_dropped() {
        let got = parse_chunks(&[b"data: complete\n\ndata: incomplete\n"]);
        assert_eq!(pairs(&got), vec![ev("message", "complete")]);
    }

    #[test]
    fn bom_is_skipped_once_even_when_split() {
        let got = pairs(&parse_chunks(&[&[0xEF], &[0xBB, 0xBF], b"data: a\n\n"]));
        assert_eq!(got, vec![ev("message", "a")]);
        // A second BOM is content: the field name is then not `data`.
        let got = parse_chunks(&[&[0xEF, 0xBB, 0xBF, 0xEF, 0xBB, 0xBF], b"data: a\n\n"]);
        assert!(got.is_empty());
    }

    #[test]
    fn partial_bom_is_line_content() {
        // 0xEF then 'd': not a BOM; the 0xEF becomes part of the first line's field name.
        let got = parse_chunks(&[&[0xEF], b"data: a\n\ndata: b\n\n"]);
        assert_eq!(pairs(&got), vec![ev("message", "b")]);
    }

    #[test]
    fn multibyte_utf8_split_across_chunks() {
        let s = "data: héllo → 世界\n\n".as_bytes();
        for cut in 0..s.len() {
            let got = pairs(&parse_chunks(&[&s[..cut], &s[cut..]]));
            assert_eq!(got, vec![ev("message", "héllo → 世界")], "cut at {cut}");
        }
    }

    #[test]
    fn id_persists_and_ignores_nul_retry_needs_digits() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(
            b"id: 7\ndata: a\n\nid: b\0c\ndata: b\n\nretry: 12x\nretry: 3000\ndata: c\n\n",
            |e| out.push(e.to_owned()),
        );
        assert_eq!(out[0].id, "7");
        assert_eq!(out[1].id, "7");
        assert_eq!(p.retry_ms(), Some(3000));
    }

    #[test]
    fn retry_takes_any_u64_and_ignores_an_overflow() {
        let mut p = SseParser::new();
        p.feed(b"retry: 0018446744073709551615\n", |_| {});
        assert_eq!(p.retry_ms(), Some(u64::MAX));
        p.feed(
            b"retry: 7\nretry: 18446744073709551616\nretry: +5\nretry:\n",
            |_| {},
        );
        assert_eq!(
            p.retry_ms(),
            Some(7),
            "overflow, sign and empty are ignored"
        );
    }

    #[test]
    fn overlong_line_is_dropped_and_parsing_resumes() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_LINE_BYTES / 2 + 1];
        p.feed(b"data: ", |e| out.push(e.to_owned()));
        p.feed(&big, |e| out.push(e.to_owned()));
        p.feed(&big, |e| out.push(e.to_owned()));
        p.feed(b"\ndata: ok\n\n", |e| out.push(e.to_owned()));
        assert_eq!(pairs(&out), vec![ev("message", "ok")]);
    }

    #[test]
    fn usage_filter() {
        assert!(may_carry_usage("message_start", "{}"));
        assert!(may_carry_usage("message_delta", "{}"));
        assert!(may_carry_usage("response.completed", "{}"));
        assert!(!may_carry_usage("content_block_delta", "{\"usage\":{}}"));
        assert!(!may_carry_usage(
            "message",
            "{\"choices\":[],\"usage\":null}"
        ));
        assert!(!may_carry_usage("message", "{\"usage\" :  null}"));
        assert!(!may_carry_usage("message", "[DONE]"));
        assert!(may_carry_usage(
            "message",
            "{\"choices\":[],\"usage\":{\"prompt_tokens\":3}}"
        ));
        assert!(may_carry_usage(
            "message",
            "{\"a\":{\"usage\":null},\"usage\": {\"x\":1}}"
        ));
    }

    proptest! {
        /// However the bytes are cut into chunks, the events are the same.
        #[test]
        fn chunking_does_not_matter(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("".to_owned()),
                    Just(": c".to_owned()),
                    "data: [a-zé世 ]{0,6}",
                    "event: [a-z_]{1,6}",
                    "id: [0-9]{1,3}",
                ],
                0..30,
            ),
            ends in proptest::collection::vec(prop_oneof![Just("\n"), Just("\r\n"), Just("\r")], 30),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut text = String::new();
            for (l, e) in lines.iter().zip(ends.iter()) {
                text.push_str(l);
                text.push_str(e);
            }
            let bytes = text.as_bytes();
            let whole = parse_chunks(&[bytes]);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut at = 0;
            for c in cuts {
                chunks.push(&bytes[at..c]);
                at = c;
            }
            chunks.push(&bytes[at..]);
            prop_assert_eq!(parse_chunks(&chunks), whole);
        }

        /// A parser keeping some event types gives the events of those types a parser keeping
        /// all gives, however the bytes are cut, for streams that name an event before its
        /// data (as every LLM API does).
        #[test]
        fn keeping_drops_only_the_events_not_kept(
            events in proptest::collection::vec(
                (
                    proptest::option::of(prop_oneof![
                        Just("message_start"),
                        Just("message_delta"),
                        Just("message"),
                        Just("content_block_delta"),
                        Just("ping"),
                    ]),
                    proptest::collection::vec("[a-z{}\":é ]{0,8}", 0..3),
                ),
                0..12,
            ),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let mut text = String::new();
            for (name, data) in &events {
                if let Some(n) = name {
                    text.push_str(&format!("event: {n}\n"));
                }
                for d in data {
                    text.push_str(&format!("data: {d}\n"));
                }
                text.push('\n');
            }
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut kept = Vec::new();
            let mut p = SseParser::new().keeping(may_carry_usage_or_text);
            let mut at = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                p.feed(&bytes[at..c], |e| kept.push(e.to_owned()));
                at = c;
            }
            let all: Vec<OwnedEvent> = parse_chunks(&[bytes])
                .into_iter()
                .filter(|e| may_carry_usage_or_text(&e.event))
                .collect();
            prop_assert_eq!(kept, all);
        }
    }

    /// The usage reader keeps every event that may carry usage or text: no other type does.
    #[test]
    fn the_kept_types_are_those_that_may_carry_usage_or_text() {
        for event in [
            "message_start",
            "message_delta",
            "message_stop",
            "content_block_delta",
            "ping",
            "error",
            "response.completed",
            "response.incomplete",
            "response.failed",
            "response.output_text.delta",
            "message",
        ] {
            let data = "{\"choices\":[],\"usage\":{\"x\":1}}";
            let no_usage = "{\"choices\":[]}";
            let may = may_carry_usage(event, data) || may_carry_text(event, no_usage);
            assert_eq!(may_carry_usage_or_text(event), may, "{event}");
        }
    }
}
