//! A `200` event stream: its first event, peeked before the caller gets the response, and its
//! usage, read as it streams.
//!
//! The first event: an error sent there (Anthropic `event: error` / `overloaded_error`,
//! OpenAI's error chunk) is retried like the status it stands for. The peek reads a clone (a
//! [`Tee`]): the response the caller gets keeps every byte, already buffered, so a healthy
//! stream reaches the caller as soon as its first event is parsed, with nothing to replay by
//! hand. Bounded: at most [`MAX_PEEK_BYTES`](crate::core::peek::MAX_PEEK_BYTES), and no later
//! than the deadline promise (the pacer's clock); past either, the stream goes to the caller
//! as it is. The decision is the core's ([`FirstEvent`], [`classify::stream_error_status`]).
//!
//! The usage: read on from the same clone, from where the peek stopped ([`Peek`]: one tee a
//! stream, not two), its chunks handed over by the package's `pump`, one crossing a chunk
//! ([`SseUsage`]).

use super::inner::Inner;
use super::tee::{ReadEnd, Tee};
use super::{body, js};
use crate::core::call::Id;
use crate::core::classify::{self, ErrorInfo};
use crate::core::estimate::TextCount;
use crate::core::limiter::Usage;
use crate::core::peek::{FirstEvent, Peeked};
use crate::core::sse::{self, SseParser};
use crate::core::usage::Report;
use js_sys::{Promise, JSON};
use wasm_bindgen::prelude::*;
use web_sys::Response;

/// How long the first event is waited for, ms (through the pacer's clock). Past it the
/// stream goes to the caller as it is (it has nothing to read yet anyway).
pub const PEEK_TIMEOUT_MS: f64 = 5_000.0;

/// The status the first event of `response`'s body stands for, with what its error said,
/// when that event is an error; `None` for a healthy stream, or when no event came within
/// the bounds. The clone read here is cancelled, but for a healthy stream (or one that gave
/// no event within [`MAX_PEEK_BYTES`](crate::core::peek::MAX_PEEK_BYTES)): that is returned as
/// a [`Peek`], whose usage is read on from where this stopped. `response` itself is left
/// unread.
pub async fn first_event(
    response: &Response,
    deadline: &Promise,
) -> (Option<(u16, Option<ErrorInfo>)>, Option<Peek>) {
    let Some(tee) = Tee::of(response) else {
        return (None, None);
    };
    let mut first = FirstEvent::new();
    let mut event = None;
    let mut bytes = Vec::new();
    let end = tee
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
    let tee = match end {
        ReadEnd::Ended => None,
        ReadEnd::Stopped => Some(tee),
        ReadEnd::Failed => {
            // Too slow (or failed): the stream goes as it is, its usage from a clone of its own.
            tee.cancel();
            return (None, None);
        }
    };
    let peek = Peek { tee, bytes };
    let Some(event) = event else {
        return (None, Some(peek));
    };
    let doc = JSON::parse(&event.data).ok().filter(JsValue::is_object);
    let error = doc.as_ref().and_then(body::error_of);
    // A numeric `error.code` (vLLM: the HTTP status).
    let code = doc
        .and_then(|d| js::get_opt(&d, "error"))
        .and_then(|e| js::number(&e, "code"));
    match classify::stream_error_status(&event.event, error.as_ref(), code) {
        Some(status) => {
            peek.cancel();
            (Some((status, error)), None)
        }
        None => (None, Some(peek)),
    }
}

/// A stream's body as far as the pacer read it before delivery (its first event, above): the
/// bytes read from the clone, and the clone to read on (`None` when it ended): its usage
/// is read on from there, with no second clone.
pub struct Peek {
    pub tee: Option<Tee>,
    pub bytes: Vec<u8>,
}

impl Peek {
    /// A stream not read yet: a clone of `response`, from its start.
    pub fn of(response: &Response) -> Option<Peek> {
        Some(Peek {
            tee: Some(Tee::of(response)?),
            bytes: Vec::new(),
        })
    }

    /// Stop reading it.
    pub fn cancel(&self) {
        if let Some(t) = &self.tee {
            t.cancel();
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

/// A delivered stream's usage, read from its bytes as they come (the package's `pump` hands
/// over the chunks of the clone its first event was peeked from).
#[derive(Debug)]
pub struct SseUsage {
    parser: SseParser,
    report: Report,
    streamed: StreamedText,
}

impl SseUsage {
    /// At the start of a stream.
    pub fn new() -> SseUsage {
        SseUsage {
            parser: SseParser::new(),
            report: Report::default(),
            streamed: StreamedText::default(),
        }
    }

    /// The next bytes of the stream.
    pub fn feed(&mut self, bytes: &[u8]) {
        let (report, streamed) = (&mut self.report, &mut self.streamed);
        self.parser.feed(bytes, |e| {
            if sse::may_carry_usage(e.event, e.data) {
                report.read_json(e.data.as_bytes());
            } else if sse::may_carry_text(e.event, e.data) {
                // A stream that will not report usage: its text estimates the output.
                let (text, values) = sse::delta_text(e.data);
                streamed.text.add(text);
                streamed.chunks = streamed.chunks.saturating_add(values);
            }
        });
    }

    /// What the stream reported once it ended (`complete`), or failed: its usage (`Ok`); for
    /// a stream that ended with no usage but streamed text (an OpenAI Chat Completions stream
    /// without `stream_options.include_usage`), its output tokens estimated from that text
    /// (`Err`); `Ok(None)` for one that failed (network error, abort) or reported nothing.
    pub fn finish(self, complete: bool) -> Result<Option<Usage>, f64> {
        if !complete {
            return Ok(None);
        }
        match self.report.finish() {
            Some(usage) => Ok(Some(usage)),
            None if self.streamed.chunks > 0 => Err(self.streamed.tokens()),
            None => Ok(None),
        }
    }
}

impl Inner {
    /// Read delivered stream `id`'s usage on from where its peek stopped: the bytes the peek
    /// read, then the clone's further chunks, which the package's `pump` hands to
    /// [`Inner::stream_chunk`] (one crossing a chunk: no future, closure or task of ours).
    pub(super) fn read_stream(&self, id: Id, peek: Peek) {
        let Peek { tee, bytes } = peek;
        let mut usage = SseUsage::new();
        usage.feed(&bytes);
        drop(bytes);
        let Some(tee) = tee else {
            // The peek read the whole stream.
            return self.usage_done(id, usage.finish(true));
        };
        let kept = self.state.try_borrow_mut().is_ok_and(|mut st| {
            st.calls
                .get_mut(&id)
                .map(|c| c.stream = Some(usage))
                .is_some()
        });
        let pumped = kept
            && self.driver.pump.as_ref().is_some_and(|f| {
                f.call2(
                    &JsValue::UNDEFINED,
                    tee.reader(),
                    &JsValue::from_f64(id as f64),
                )
                .is_ok()
            });
        if !pumped {
            tee.cancel();
            self.stream_end(id, false);
        }
    }

    /// The next chunk of delivered stream `id`; false once nobody reads it any more (the call
    /// is gone): the package then cancels the clone.
    pub(super) fn stream_chunk(&self, id: Id, bytes: &[u8]) -> bool {
        self.state.try_borrow_mut().is_ok_and(|mut st| {
            st.calls
                .get_mut(&id)
                .and_then(|c| c.stream.as_mut())
                .map(|u| u.feed(bytes))
                .is_some()
        })
    }

    /// Delivered stream `id` ended (`complete`), or its read failed: its usage settles the
    /// call.
    pub(super) fn stream_end(&self, id: Id, complete: bool) {
        let usage = self
            .state
            .try_borrow_mut()
            .ok()
            .and_then(|mut st| st.calls.get_mut(&id)?.stream.take());
        if let Some(u) = usage {
            self.usage_done(id, u.finish(complete));
        }
    }
}
