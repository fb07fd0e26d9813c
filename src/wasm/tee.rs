//! A clone of a response's body, read chunk by chunk (a tee: the response itself keeps every
//! byte for the caller): what the driver reads error bodies and a stream's first event from.

use super::js;
use js_sys::{Array, Object, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Response;

/// A clone of a response's body being read (a tee: the response itself keeps every byte).
pub struct Tee {
    reader: Object,
    read: js_sys::Function,
}

/// How a read of a [`Tee`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadEnd {
    /// The body ended.
    Ended,
    /// The reader's function said enough.
    Stopped,
    /// A read failed (or gave no bytes), or the deadline came first.
    Failed,
}

impl Tee {
    /// A reader of a clone of `response`'s body; `None` when it has no body or cannot be
    /// cloned (already read).
    pub fn of(response: &Response) -> Option<Tee> {
        let reader: Object = response.clone().ok()?.body()?.get_reader();
        let read = js::method(&reader, "read")?;
        Some(Tee { reader, read })
    }

    /// Give each chunk to `each` while it returns true, until the body ends, a read fails, or
    /// `deadline` (if any) resolves first.
    pub async fn each(
        &self,
        deadline: Option<&js_sys::Promise>,
        each: &mut dyn FnMut(&[u8]) -> bool,
    ) -> ReadEnd {
        loop {
            let Ok(p) = self.read.call0(&self.reader) else {
                return ReadEnd::Failed;
            };
            let p = match deadline {
                Some(d) => js_sys::Promise::race(&Array::of2(&p, d)).into(),
                None => p,
            };
            // The deadline resolves with `undefined`; a read, with an object.
            let chunk = match JsFuture::from(js_sys::Promise::from(p)).await {
                Ok(c) if c.is_object() => c,
                _ => return ReadEnd::Failed,
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

    /// Stop reading: a pending read ends, and the clone no longer holds the stream's bytes.
    pub fn cancel(&self) {
        cancel(&self.reader);
    }
}

/// Read a clone of `response`'s body, giving each chunk to `each` while it returns true.
/// True when the body ended; false when `each` stopped, on any failure (no body, a read that
/// fails, a chunk that is not bytes), or when `deadline` resolves first: the clone is then
/// cancelled. The response itself is left as it is (a tee: it keeps every byte).
pub async fn read_clone(
    response: &Response,
    deadline: &js_sys::Promise,
    each: &mut dyn FnMut(&[u8]) -> bool,
) -> bool {
    let Some(tee) = Tee::of(response) else {
        return false;
    };
    let end = tee.each(Some(deadline), each).await;
    if end != ReadEnd::Ended {
        tee.cancel();
    }
    end == ReadEnd::Ended
}

/// Stop reading a body: a pending read ends, the stream is released.
fn cancel(reader: &Object) {
    if let Some(Ok(p)) = js::method(reader, "cancel").map(|f| f.call0(reader)) {
        js::ignore(js_sys::Promise::resolve(&p));
    }
}
