//! The first event of a `200` event stream, peeked before the caller gets the response, so
//! that an error sent as the first event (Anthropic `event: error` / `overloaded_error`,
//! OpenAI's error chunk) is retried like the status it stands for.
//!
//! The peek reads a clone (a tee): the response the caller gets keeps every byte, already
//! buffered, so a healthy stream reaches the caller as soon as its first event is parsed,
//! with nothing to replay by hand. The same clone then gives the stream's usage ([`Peek`]):
//! one tee a stream, not two. Bounded: at most [`MAX_PEEK_BYTES`](crate::core::peek::MAX_PEEK_BYTES), and no later than the
//! deadline promise (the pacer's clock); past either, the stream goes to the caller as it is.
//! The decision is the core's ([`FirstEvent`], [`classify::stream_error_status`]).

use super::body::{self, Peek, ReadEnd};
use super::js;
use crate::core::classify::{self, ErrorInfo};
use crate::core::peek::{FirstEvent, Peeked};
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
    let Some(tee) = body::Tee::of(response) else {
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
