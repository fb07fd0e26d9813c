//! A response's body read chunk by chunk: its own (a stream's first event, peeked before the
//! caller gets it, is read from the body itself; the package then hands the caller a body that
//! starts with the bytes read) or a clone's (an error body: the response keeps every byte).

use super::js;
use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

/// A reader of a response's body (a `ReadableStreamDefaultReader`), or of a clone's.
pub struct BodyReader {
    reader: Object,
    read: js_sys::Function,
}

/// How a read of a [`BodyReader`] stopped.
pub enum ReadEnd {
    /// The body ended.
    Ended,
    /// The reader's function said enough.
    Stopped,
    /// A read gave no bytes, or could not be made.
    Failed,
    /// A read rejected, with this error (the connection broke, or the body was aborted).
    Broke(JsValue),
    /// The deadline came first: the read still pending.
    Late(Promise),
}

impl BodyReader {
    /// A reader of `response`'s body itself (which is then locked: nobody else can read it);
    /// `None` when it has no body or is locked or read already, or its body is not a web
    /// `ReadableStream` (a `fetch` polyfill's Node stream).
    pub fn of(response: &Response) -> Option<BodyReader> {
        Self::of_body(&js::get_opt(response, "body")?)
    }

    /// A reader of a clone of `response`'s body (a tee: the response keeps every byte);
    /// `None` when it has no body or cannot be cloned (already read), or its body is not a
    /// web `ReadableStream`.
    pub fn clone_of(response: &Response) -> Option<BodyReader> {
        let clone = response.clone().ok()?;
        Self::of_body(&js::get_opt(&clone, "body")?)
    }

    /// `body.getReader()`, looked up and called as any value's method: a body that is not a
    /// web stream gives `None`, never an exception through the module.
    fn of_body(body: &JsValue) -> Option<BodyReader> {
        if js::get_opt(body, "locked").and_then(|v| v.as_bool()) == Some(true) {
            return None;
        }
        let get = js::method(body, "getReader")?;
        let reader = get.call0(body).ok()?.dyn_into::<Object>().ok()?;
        let read = js::method(&reader, "read")?;
        Some(BodyReader { reader, read })
    }

    /// Give each chunk to `each` while it returns true, until the body ends, a read fails, or
    /// `deadline` (if any) resolves first.
    pub async fn each(
        &self,
        deadline: Option<&Promise>,
        each: &mut dyn FnMut(&[u8]) -> bool,
    ) -> ReadEnd {
        loop {
            let Ok(read) = self.read.call0(&self.reader) else {
                return ReadEnd::Failed;
            };
            let read = Promise::resolve(&read);
            let p = match deadline {
                Some(d) => Promise::race(&Array::of2(&read, d)),
                None => read.clone(),
            };
            // The deadline resolves with `undefined`; a read, with an object.
            let chunk = match JsFuture::from(p).await {
                Ok(c) if c.is_object() => c,
                Ok(_) => return ReadEnd::Late(read),
                Err(e) => return ReadEnd::Broke(e),
            };
            if js::get_opt(&chunk, "done").and_then(|v| v.as_bool()) == Some(true) {
                return ReadEnd::Ended;
            }
            let Some(value) =
                js::get_opt(&chunk, "value").and_then(|v| v.dyn_into::<Uint8Array>().ok())
            else {
                return ReadEnd::Failed;
            };
            if !each(&value.to_vec()) {
                return ReadEnd::Stopped;
            }
        }
    }

    /// Its reader (a `ReadableStreamDefaultReader`).
    pub fn reader(&self) -> &Object {
        &self.reader
    }

    /// Stop reading: a pending read ends, and the body (the stream, or the clone) is released.
    pub fn cancel(&self) {
        if let Some(Ok(p)) = js::method(&self.reader, "cancel").map(|f| f.call0(&self.reader)) {
            js::ignore(Promise::resolve(&p));
        }
    }
}

/// Read a clone of `response`'s body, giving each chunk to `each` while it returns true.
/// True when the body ended; false when `each` stopped, on any failure (no body, a read that
/// fails, a chunk that is not bytes), or when `deadline` resolves first: the clone is then
/// cancelled. The response itself is left as it is (a tee: it keeps every byte).
pub async fn read_clone(
    response: &Response,
    deadline: &Promise,
    each: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    let Some(reader) = BodyReader::clone_of(response) else {
        return false;
    };
    let ended = matches!(reader.each(Some(deadline), each).await, ReadEnd::Ended);
    if !ended {
        reader.cancel();
    }
    ended
}
