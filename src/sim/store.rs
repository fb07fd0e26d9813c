//! The store a fleet shares (`--store-ms`): every llm-pacer client of a run reserves, settles
//! and learns in one [`KeyState`] per limit key, at the simulator's clock (the store's own,
//! as Redis's `TIME`), as `llm-pacer/redis` and `llm-pacer/cloudflare` hold them. Each
//! reservation's answer reaches its client a round trip later; the work that needs no answer
//! (settlements, learned figures, pauses) is carried out when it is queued.

use crate::core::call::{Engine, StoreAnswer};
use crate::core::fingerprint::store_key;
use crate::core::keys::Slot;
use crate::core::store::{amounts, KeyState};
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
    /// A reservation of `engine`'s, as its [`Action::Reserve`](crate::core::call::Action::Reserve)
    /// asks it, at `now_ms`: the answer the engine gets.
    #[allow(clippy::too_many_arguments)]
    pub fn reserve(
        &mut self,
        engine: &Engine,
        now_ms: Ms,
        slot: Slot,
        input: f64,
        output: f64,
        booked_output: f64,
        turn: bool,
    ) -> StoreAnswer {
        self.reserves += 1;
        let limits = engine.store_limits(slot);
        let s = self.keys.entry(key(engine, slot)).or_default();
        let r = s.reserve_booking(
            now_ms,
            limits,
            amounts(input, output),
            amounts(input, booked_output),
            turn,
        );
        StoreAnswer::of(r, s.levels(now_ms) != [None; 4])
    }

    /// The store work `engine` queued ([`Engine::drain_store_ops`]), carried out at `now_ms`.
    pub fn carry(&mut self, engine: &mut Engine, now_ms: Ms) {
        for op in engine.drain_store_ops() {
            let s = self.keys.entry(key(engine, op.slot())).or_default();
            op.carry(s, now_ms);
        }
    }
}
