//! A delivered stream: the response handed to the caller after its first event's peek, and
//! the crossings of its chunks on their way.
//!
//! The package's `pump` hands the caller a response with the same head whose body is the
//! bytes the peek read, then the rest of the stream as it comes, each chunk given to
//! [`SseUsage`] on its way (one crossing a chunk). One reader, no tee: when the caller stops
//! reading (cancels its reader, leaves a `for await` loop, or a pipe does it for it), the
//! stream itself is cancelled, as without the pacer, with the usage it carried so far already
//! read. A body the caller never reads is still read to its end for its usage (buffered for
//! the caller, as a tee would).

use super::inner::Inner;
use super::stream::{Peek, SseUsage};
use crate::core::call::Id;
use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use web_sys::Response;

impl Inner {
    /// The response the caller gets for `response`, whose body a peek read from: the same
    /// head, and a body that gives the bytes read, then the rest of the stream (the package's
    /// `pump`). With `usage`, the call whose stream it is: each chunk also goes to
    /// [`Inner::stream_chunk`], and its end to [`Inner::stream_end`]; and the caller's signal,
    /// whose abort fails the body at once, as it fails a `fetch` body (whether or not the
    /// `fetch` option heeds the signal).
    pub(super) fn resume(&self, response: Response, peek: Peek, usage: Option<Id>) -> Response {
        let Peek {
            reader,
            bytes,
            pending,
        } = peek;
        let mut signal = JsValue::UNDEFINED;
        let id = usage.filter(|&id| {
            let mut sse = SseUsage::new();
            sse.feed(&bytes);
            self.state.try_borrow_mut().is_ok_and(|mut st| {
                let Some(c) = st.calls.get_mut(&id) else {
                    return false;
                };
                c.stream = Some(sse);
                if let Some(s) = &c.signal {
                    signal = s.into();
                }
                true
            })
        });
        let resumed = self.driver.pump.as_ref().and_then(|f| {
            let args = js_sys::Array::of5(
                &response,
                reader.as_ref().map_or(&JsValue::UNDEFINED, |r| r.reader()),
                &JsValue::from_f64(id.map_or(-1.0, |id| id as f64)),
                &Uint8Array::from(&bytes[..]),
                pending.as_ref().map_or(&JsValue::UNDEFINED, |p| p),
            );
            args.push(&signal);
            f.apply(&JsValue::UNDEFINED, &args)
                .ok()?
                .dyn_into::<Response>()
                .ok()
        });
        match resumed {
            Some(r) => r,
            None => {
                // No package (or it failed): the stream goes unread by us, as it is.
                if let Some(id) = id {
                    self.stream_end(id, false);
                }
                response
            }
        }
    }

    /// The next chunk of delivered stream `id`; false once the call no longer reads it (it is
    /// gone): the package then hands over no more (the caller's body goes on).
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
