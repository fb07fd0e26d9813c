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
use js_sys::{Array, Object, Promise, Uint8Array, JSON};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
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
    let clone = response.clone().ok()?;
    let reader = clone.body()?.get_reader();
    let read = js::method(&reader, "read")?;
    let mut first = FirstEvent::new();
    let event = loop {
        let Ok(p) = read.call0(&reader) else {
            break None;
        };
        let race = Promise::race(&Array::of2(&p, deadline));
        // The deadline resolves with `undefined`; a read, with an object.
        let chunk = match JsFuture::from(race).await {
            Ok(c) if c.is_object() => c,
            _ => break None,
        };
        if js::get_opt(&chunk, "done").and_then(|v| v.as_bool()) == Some(true) {
            break None;
        }
        let Some(value) =
            js::get_opt(&chunk, "value").and_then(|v| v.dyn_into::<Uint8Array>().ok())
        else {
            break None;
        };
        match first.feed(&value.to_vec()) {
            Peeked::More => continue,
            Peeked::Event(e) => break Some(e),
            Peeked::GiveUp => break None,
        }
    };
    cancel(&reader);
    let event = event?;
    let error = JSON::parse(&event.data)
        .ok()
        .filter(JsValue::is_object)
        .and_then(|doc| body::error_of(&doc));
    let status = classify::stream_error_status(&event.event, error.as_ref())?;
    Some((status, error))
}

/// Stop reading the clone: a pending read ends, its branch of the tee is released (the
/// caller's branch goes on).
fn cancel(reader: &Object) {
    if let Some(Ok(p)) = js::method(reader, "cancel").map(|f| f.call0(reader)) {
        js::ignore(Promise::resolve(&p));
    }
}
