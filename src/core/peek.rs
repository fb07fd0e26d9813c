//! The first event of an event stream, read within a bound, so that an error sent as the
//! stream's first event (HTTP 200, then `event: error`) can be retried before the caller sees
//! a byte ([`classify::stream_error_status`](super::classify::stream_error_status)).
//!
//! The driver feeds the chunks of a copy of the body (a tee: the caller's copy keeps every
//! byte) until [`FirstEvent::feed`] says [`Peeked::Event`] (decide on it) or
//! [`Peeked::GiveUp`] (more than [`MAX_PEEK_BYTES`] without a complete event: deliver the
//! stream as it is). Comments, events without data (`: ping`, keep-alives), Anthropic's
//! `event: ping` (with its `{"type": "ping"}`, sent at any point of a stream) and the events
//! that only open a stream, with no content yet ([`PREAMBLE`]: Anthropic's `message_start`,
//! OpenAI Responses' `response.created` and `response.in_progress`) are no event: an error
//! after them is still the stream's first word. (Anthropic's `overloaded_error` is reported
//! after `message_start` too.)
//!
//! A line `error: {...}` (a field the SSE standard ignores) is read as an `error` event:
//! llama.cpp's server sends its errors so, with no `data` ([`SseParser::reading_error_lines`]).
//!
//! ```
//! use llm_pacer::core::peek::{FirstEvent, Peeked};
//!
//! let mut p = FirstEvent::new();
//! assert_eq!(p.feed(b": keep-alive\n\nevent: message_start\ndata: {}\n\n"), Peeked::More);
//! assert_eq!(p.feed(b"event: error\ndata: {\"type\":"), Peeked::More);
//! match p.feed(b"\"error\"}\n\nevent: message_start\n") {
//!     Peeked::Event(e) => assert_eq!((e.event.as_str(), e.data.as_str()), ("error", "{\"type\":\"error\"}")),
//!     other => panic!("{other:?}"),
//! }
//! ```

use super::sse::{OwnedEvent, SseParser};

/// The events that open a stream before any content: an error after them is still retried
/// (their content never reached the caller).
pub const PREAMBLE: [&str; 4] = [
    "ping",
    "message_start",
    "response.created",
    "response.in_progress",
];

/// At most this many bytes are read looking for the first event.
pub const MAX_PEEK_BYTES: usize = 64 << 10;

/// What the bytes so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peeked {
    /// No complete event yet: feed more.
    More,
    /// The first event.
    Event(OwnedEvent),
    /// No event within [`MAX_PEEK_BYTES`] (or the stream ended first): deliver as is.
    GiveUp,
}

/// The state of the search for the first event.
#[derive(Debug, Clone, Default)]
pub struct FirstEvent {
    parser: SseParser,
    seen: usize,
    done: bool,
}

impl FirstEvent {
    /// At the start of a stream.
    pub fn new() -> Self {
        FirstEvent {
            parser: SseParser::new().reading_error_lines(),
            ..Default::default()
        }
    }

    /// Feed the next chunk. Once an answer other than [`Peeked::More`] was given, every later
    /// call gives [`Peeked::GiveUp`].
    pub fn feed(&mut self, chunk: &[u8]) -> Peeked {
        if self.done {
            return Peeked::GiveUp;
        }
        let room = MAX_PEEK_BYTES.saturating_sub(self.seen);
        let take = &chunk[..chunk.len().min(room)];
        self.seen += take.len();
        let mut first = None;
        self.parser.feed(take, |e| {
            if first.is_none() && !PREAMBLE.contains(&e.event) {
                first = Some(e.to_owned());
            }
        });
        match first {
            Some(e) => {
                self.done = true;
                Peeked::Event(e)
            }
            None if self.seen >= MAX_PEEK_BYTES => {
                self.done = true;
                Peeked::GiveUp
            }
            None => Peeked::More,
        }
    }
}

#[cfg(test)]
#[path = "../../tests/support/first_event.rs"]
mod first_event;

#[cfg(test)]
mod tests {
    use super::first_event::first_event as first;
    use super::*;

    fn event(p: Peeked) -> (String, String) {
        match p {
            Peeked::Event(e) => (e.event, e.data),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_line_is_an_error_event() {
        // llama.cpp: `error: <json>`, then the blank line, no `data`.
        let wire = b"error: {\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}\n\n";
        for cut in 0..wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(
                event(first(&[a, b])),
                (
                    "error".into(),
                    "{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}"
                        .into()
                ),
                "cut at {cut}"
            );
        }
        // After the events that open a stream, with CRLF and no space after the colon.
        assert_eq!(
            event(first(&[
                b": hi\r\n\r\nevent: ping\r\ndata: {}\r\n\r\nerror:{\"code\":500}\r\n\r\n"
            ])),
            ("error".into(), "{\"code\":500}".into())
        );
        // A content event first: that is the first event, an error line after it changes
        // nothing.
        assert_eq!(
            event(first(&[b"data: {\"id\":1}\n\nerror: {\"code\":503}\n\n"])),
            ("message".into(), "{\"id\":1}".into())
        );
        // Only the peek reads them: the caller's parser (and the usage reader) keep to the
        // standard, for which the field is nothing and a line alone dispatches nothing.
        let mut p = SseParser::new();
        let mut n = 0;
        p.feed(b"error: {\"code\":503}\n\ndata: x\n\n", |e| {
            n += 1;
            assert_eq!((e.event, e.data), ("message", "x"));
        });
        assert_eq!(n, 1);
    }
}
