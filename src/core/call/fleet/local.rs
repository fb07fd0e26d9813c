//! A store held in this process: the engine's reservations and store work carried out on a
//! [`KeyState`] directly, as `llm-pacer/redis`'s script and `llm-pacer/cloudflare`'s object
//! carry them out across I/O. The simulator's shared store (`simulate --store-ms`) and the
//! tests drive an engine through it.

use super::{StoreAnswer, StoreOp};
use crate::core::call::{Action, Engine, Id};
use crate::core::store::{amounts, KeyState, Reserve};
use crate::core::Ms;

impl Engine {
    /// This engine's [`Action::Reserve`] `a` carried out on its key's state `store`, at the
    /// store's `now_ms`: the call and the answer to report ([`Engine::on_reserved`]). `None`
    /// for another action.
    pub fn reserve_in(
        &self,
        store: &mut KeyState,
        now_ms: Ms,
        a: &Action,
    ) -> Option<(Id, StoreAnswer)> {
        let Action::Reserve {
            id,
            slot,
            input,
            output,
            booked_output,
            turn,
            ..
        } = *a
        else {
            return None;
        };
        let limits = self.store_limits(slot);
        let cost = amounts(input, output);
        let r = store.reserve_booking(now_ms, limits, cost, amounts(input, booked_output), turn);
        // A store that knows no limit took nothing (a driver reads its empty levels).
        Some((id, StoreAnswer::of(r, store.levels(now_ms) != [None; 4])))
    }
}

impl StoreAnswer {
    /// What a store answers the engine for its [`KeyState::reserve_booking`] decision `r`;
    /// `metered`: the key held a bucket when it admitted (a store that knew no limit took
    /// nothing: [`StoreAnswer::AdmitUnmetered`]).
    pub fn of(r: Reserve, metered: bool) -> StoreAnswer {
        match r {
            Reserve::Admit if metered => StoreAnswer::Admit,
            Reserve::Admit => StoreAnswer::AdmitUnmetered,
            Reserve::Wait { wait_ms, dim } => StoreAnswer::Wait {
                wait_ms,
                dim,
                paused: dim.is_none(),
            },
            Reserve::Probing { wait_ms } => StoreAnswer::Wait {
                wait_ms,
                dim: None,
                paused: false,
            },
            Reserve::Never { dim } => StoreAnswer::Never { dim },
        }
    }
}

impl StoreOp {
    /// Carry this out on the state of its key, `store`, at the store's `now_ms`.
    pub fn carry(&self, store: &mut KeyState, now_ms: Ms) {
        use crate::core::limiter::Dim;
        match *self {
            StoreOp::Settle {
                reserved_input,
                reserved_output,
                input,
                output,
                ..
            } => store.settle(
                now_ms,
                amounts(reserved_input, reserved_output),
                amounts(input, output),
            ),
            StoreOp::Refund {
                input,
                output,
                turn_only: false,
                ..
            } => store.refund(now_ms, amounts(input, output)),
            StoreOp::Refund { input, output, .. } => store.unbook(now_ms, amounts(input, output)),
            StoreOp::Learn { dims, .. } => {
                for (dim, (limit, remaining)) in Dim::ALL.into_iter().zip(dims) {
                    store.learn(now_ms, dim, limit, remaining);
                }
            }
            StoreOp::GiveBack { dims, .. } => {
                for (dim, (given, up_to)) in Dim::ALL.into_iter().zip(dims) {
                    store.give_back(now_ms, dim, given, up_to);
                }
            }
            StoreOp::Pause { retry_after_ms, .. } => store.pause(now_ms, retry_after_ms),
            StoreOp::Probed { open, .. } => store.probed(open),
        }
    }
}
