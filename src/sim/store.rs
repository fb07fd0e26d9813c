//! The store a fleet shares (`--store-ms`): every llm-pacer client of a run reserves, settles
//! and learns in one [`KeyState`] per limit key, at the simulator's clock (the store's own,
//! as Redis's `TIME`), as `llm-pacer/redis` and `llm-pacer/cloudflare` hold them. Each
//! reservation's answer reaches its client a round trip later; the work that needs no answer
//! (settlements, learned figures, pauses) is carried out when it is queued.

use crate::core::call::{Action, Engine, Id, StoreAnswer};
use crate::core::fingerprint::store_key;
use crate::core::keys::Slot;
use crate::core::store::KeyState;
use crate::core::Ms;
use std::collections::HashMap;

/// The fleet's store.
#[derive(Debug, Default)]
pub(crate) struct SimStore {
    keys: HashMap<String, KeyState>,
    /// Reservations asked, for the report.
    pub reserves: u64,
}

/// The store's key of `engine`'s limit key `slot` (the drivers' [`store_key`]).
fn key(engine: &Engine, slot: Slot) -> String {
    engine.key_of(slot).map_or_else(String::new, store_key)
}

impl SimStore {
    /// `engine`'s [`Action::Reserve`] `a`, at `now_ms`: the call and the answer it gets.
    pub fn reserve(
        &mut self,
        engine: &Engine,
        now_ms: Ms,
        a: &Action,
    ) -> Option<(Id, StoreAnswer)> {
        let Action::Reserve { slot, .. } = *a else {
            return None;
        };
        self.reserves += 1;
        let s = self.keys.entry(key(engine, slot)).or_default();
        engine.reserve_in(s, now_ms, a)
    }

    /// The store work `engine` queued ([`Engine::drain_store_ops`]), carried out at `now_ms`.
    pub fn carry(&mut self, engine: &mut Engine, now_ms: Ms) {
        for op in engine.drain_store_ops() {
            let s = self.keys.entry(key(engine, op.slot())).or_default();
            op.carry(s, now_ms);
        }
    }
}
