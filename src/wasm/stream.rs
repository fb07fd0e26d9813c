//! The first event of a `200` event stream, peeked before the caller gets the response, so
//! that an error sent as the first event (Anthropic `event: error` / `overloaded_error`,
//! OpenAI's error chunk) is retried like the status it stands for.
//!
//! The peek reads a clone (a tee): the response the caller gets keeps every byte, already
//! buffered, so a healthy stream reaches the caller as soon as its first event is parsed,
//! with nothing to replay by hand. Bounded: at most [`MAX_PEEK_BYTES`](crate::core::peek::MAX_PEEK_BYTES), and no later than the
//! deadline promise (the pacer's clock); past either, the stream goes to the caller as it is.
//! The decision is the core's ([`FirstEvent`], [`classify::stream_error_status`]).

use super::{body, js};
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
/// the bounds. The clone read here is cancelled; `response` itself is left unread.
pub async fn first_event_error(
    response: &Response,
    deadline: &Promise,
) -> Option<(u16, Option<ErrorInfo>)> {
    let mut first = FirstEvent::new();
    let mut event = None;
    body::read_clone(response, deadline, &mut |chunk| match first.feed(chunk) {
        Peeked::More => true,
        Peeked::Event(e) => {
            event = Some(e);
            false
        }
        Peeked::GiveUp => false,
    })
    .await;
    let event = event?;
    let doc = JSON::parse(&event.data).ok().filter(JsValue::is_object);
    let error = doc.as_ref().and_then(body::error_of);
    // A numeric `error.code` (vLLM: the HTTP status).
    let code = doc
        .and_then(|d| js::get_opt(&d, "error"))
        .and_then(|e| js::number(&e, "code"));
    let status = classify::stream_error_status(&event.event, error.as_ref(), code)?;
    Some((status, error))
}
