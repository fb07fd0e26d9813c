//! The shared store's arithmetic for a store that runs this module itself: the Durable Object
//! of `llm-pacer/cloudflare` (`PacerLimits`) holds each limit key's state as the plain numbers
//! of [`KeyState::save`] and does every operation through [`store_op`], so the fleet's limits
//! follow exactly the code the Redis script is tested against. Stateless and clock-free: the
//! caller passes the state and its own clock's `now`, and keeps what comes back.

use crate::core::store::{KeyState, STATE_LEN};
use wasm_bindgen::prelude::*;

/// One operation of `core::store` ([`KeyState::apply`]: `op` and `args` in its compact form)
/// on `state` (as [`KeyState::save`] wrote it; empty for a new key) at `now` (the store's
/// clock, epoch ms). Returns `[kind, wait_ms, dim, level × 4 (NaN: no bucket), state × 13]`.
#[wasm_bindgen(js_name = storeOp)]
pub fn store_op(state: &[f64], op: u32, now: f64, args: &[f64]) -> Box<[f64]> {
    let mut s = KeyState::load(state);
    let mut out = [f64::NAN; 7 + STATE_LEN];
    out[..3].copy_from_slice(&s.apply(now, op, args));
    for (o, l) in out[3..7].iter_mut().zip(s.levels(now)) {
        if let Some(l) = l {
            *o = l;
        }
    }
    out[7..].copy_from_slice(&s.save());
    out.into()
}
