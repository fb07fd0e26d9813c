//! A `200` event stream: its first event, peeked before the caller gets the response, and its
//! usage, read as it streams.
//!
//! The first event: an error sent there (Anthropic `event: error` / `overloaded_error`,
//! OpenAI's error chunk, an OpenAI Responses `response.failed`, the error shapes of vLLM,
//! TGI and llama.cpp: [`body::event_error`]) is retried like the status it stands for. The peek reads the body
//! itself (no clone), within bounds: at most
//! [`MAX_PEEK_BYTES`](crate::core::peek::MAX_PEEK_BYTES), and no later than the deadline
//! promise (the pacer's clock); past either, the stream goes to the caller as it is. The
//! decision is the core's ([`FirstEvent`], [`classify::stream_error_status`]).
//!
//! The usage: [`SseUsage`] reads it from the bytes as they pass on to the caller (the driver's
//! side of that is in `delivered.rs`).

use super::body;
use super::body::BodyEnd;
use super::reader::{BodyReader, ReadEnd};
use crate::core::classify::{self, ErrorInfo};
use crate::core::estimate::TextCount;
use crate::core::peek::{FirstEvent, Peeked};
use crate::core::sse::{self, SseParser};
use crate::core::usage::Report;
use js_sys::{Promise, JSON};
use wasm_bindgen::prelude::*;
use web_sys::Response;

/// How long the first event is waited for, ms (through the pacer's clock). Past it the
/// stream goes to the caller as it is (it has nothing to read yet anyway).
pub const PEEK_TIMEOUT_MS: f64 = 5_000.0;

/// What the peek at a stream's first event found.
pub struct FirstLook {
    /// The status the first event stands for, with what its error said, when that event is an
    /// error (`None` for a healthy stream, or when no event came within the bounds).
    pub error: Option<(u16, Option<ErrorInfo>)>,
    /// What the peek read ([`Peek`]), which whoever gets the response next starts from (`None`
    /// when the body could not be read: no body, or locked).
    pub peek: Option<Peek>,
    /// The body broke (a read rejected with this error) before its first event: the caller
    /// would get nothing but that error, so the attempt ends as a network error does.
    pub broke: Option<JsValue>,
}

/// Peek at the first event of `response`'s body, within `deadline`.
pub async fn first_event(response: &Response, deadline: &Promise) -> FirstLook {
    let Some(reader) = BodyReader::of(response) else {
        return FirstLook {
            error: None,
            peek: None,
            broke: None,
        };
    };
    let mut first = FirstEvent::new();
    let mut event = None;
    let mut bytes = Vec::new();
    let end = reader
        .each(Some(deadline), &mut |chunk| {
            bytes.extend_from_slice(chunk);
            match first.feed(chunk) {
                Peeked::More => true,
                Peeked::Event(e) => {
                    event = Some(e);
                    false
                }
                Peeked::GiveUp => false,
            }
        })
        .await;
    let mut broke = None;
    let (reader, pending) = match end {
        ReadEnd::Ended => (None, None),
        // (A read that failed: the next one fails the same way, for the caller to see.)
        ReadEnd::Stopped | ReadEnd::Failed => (Some(reader), None),
        ReadEnd::Broke(e) => {
            broke = event.is_none().then_some(e);
            (Some(reader), None)
        }
        // Too slow: the stream goes as it is, the read under way its next chunk.
        ReadEnd::Late(read) => (Some(reader), Some(read)),
    };
    let peek = Some(Peek {
        reader,
        bytes,
        pending,
    });
    let Some(event) = event else {
        return FirstLook {
            error: None,
            peek,
            broke,
        };
    };
    let (error, code) = JSON::parse(&event.data)
        .map(|doc| body::event_error(&event.event, &doc))
        .unwrap_or_default();
    let error = classify::stream_error_status(&event.event, error.as_ref(), code)
        .map(|status| (status, error));
    FirstLook { error, peek, broke }
}

/// A stream's body as far as the pacer read it before delivery (its first event, above): the
/// bytes read, the reader to read on with (`None` when the body ended), and the read under way
/// when the peek's deadline came first.
pub struct Peek {
    pub(super) reader: Option<BodyReader>,
    pub(super) bytes: Vec<u8>,
    pub(super) pending: Option<Promise>,
}

impl Peek {
    /// Stop reading it: the stream is cancelled.
    pub fn cancel(&self) {
        if let Some(r) = &self.reader {
            r.cancel();
        }
    }
}

/// The text an OpenAI Chat Completions (or legacy completions) stream delivered, counted the
/// way the estimate prices text.
#[derive(Debug, Default)]
struct StreamedText {
    text: TextCount,
    /// Text values the deltas carried (each is about one token: a floor for the estimate).
    chunks: u32,
}

impl StreamedText {
    /// The output tokens: the text as the estimate prices it (about 3 ASCII characters or 1
    /// other character per token, more than tokenizers give), and never fewer than the deltas.
    fn tokens(&self) -> f64 {
        self.text.tokens().ceil().max(f64::from(self.chunks))
    }
}

/// A delivered stream's usage, read from its bytes as they come (the peek's, then each chunk
/// the package's `pump` passes on to the caller).
#[derive(Debug)]
pub struct SseUsage {
    parser: SseParser,
    report: Report,
    streamed: StreamedText,
    /// The stream said its last word: an event that carries its final usage (Anthropic's
    /// `message_delta`, a Responses API's `response.completed`, a Chat Completions chunk with
    /// `usage`), or its end (a Chat Completions `[DONE]`). What it reported or streamed then
    /// holds even if it is not read to its end (the OpenAI SDK cancels its reader at
    /// `[DONE]`).
    said_all: bool,
    /// The last usage counted the stream so far ([`sse::is_usage_so_far`]): at its end, it
    /// is the final word.
    so_far: bool,
}

impl SseUsage {
    /// At the start of a stream.
    pub fn new() -> SseUsage {
        SseUsage {
            parser: SseParser::new().keeping(sse::may_carry_usage_or_text),
            report: Report::default(),
            streamed: StreamedText::default(),
            said_all: false,
            so_far: false,
        }
    }

    /// The next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        let (report, streamed, said_all, so_far) = (
            &mut self.report,
            &mut self.streamed,
            &mut self.said_all,
            &mut self.so_far,
        );
        self.parser.feed(bytes, |e| {
            if sse::is_done(e.event, e.data) {
                *said_all = true;
            } else if sse::may_carry_usage(e.event, e.data) {
                report.read_json(e.data.as_bytes());
                *said_all |= sse::is_final_usage(e.event, e.data);
                *so_far = sse::is_usage_so_far(e.data);
            } else if sse::may_carry_text(e.event, e.data) {
                // A stream that will not report usage: its text estimates the output.
                let (text, values) = sse::delta_text(e.data);
                streamed.text.add(text);
                streamed.chunks = streamed.chunks.saturating_add(values);
            }
        });
    }

    /// What the stream reported once it ended (`complete`), or stopped (failed, aborted, or
    /// cancelled by its reader): its usage; for a stream that ended with no usage but
    /// streamed text (an OpenAI Chat Completions stream without
    /// `stream_options.include_usage`), its output tokens estimated from that text; for one
    /// whose only usage came before its final word (Anthropic's `message_start`, whose
    /// `output_tokens` is a placeholder), read to its end or not (a mid-stream `error` event
    /// ends it without `message_delta`), the input it reported: what the server billed for
    /// the output of a stream cut short is not known, so that stays as reserved; else
    /// nothing. A stream whose last usage counted it so far (Gemini's) said its last word by
    /// ending: that usage is final.
    pub fn finish(self, complete: bool) -> BodyEnd {
        let usage = self.report.finish();
        let said_all = self.said_all || (complete && self.so_far);
        if !said_all && (usage.is_some() || !complete) {
            return match usage {
                Some(u) if u.metered_input() + u.cache_read_input_tokens > 0.0 => BodyEnd::Input(u),
                _ => BodyEnd::Usage(None),
            };
        }
        match usage {
            Some(usage) => BodyEnd::Usage(Some(usage)),
            None if self.streamed.chunks > 0 => BodyEnd::Estimated(self.streamed.tokens()),
            None => BodyEnd::Usage(None),
        }
    }
}
