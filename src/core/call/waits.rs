//! The `wait` events: why a queued call is not sent yet, told when it joins the queue and
//! again each time what holds it changes (a call queued behind the concurrency cap, then held
//! by its key's requests bucket at the head, is told both).

use super::io::EventKind;
use super::state::State;
use super::{Engine, Id};
use crate::core::limiter::{Blocker, Decision};
use crate::core::Ms;

impl Engine {
    /// The `wait` events of one poll (only while events are recorded): each call that joined
    /// the queue (`fresh`) and is not sent, and each head its key's limiter held (`blocked`,
    /// with what held it and until when) whose reason is not the one it was last told.
    pub(super) fn wait_events(
        &mut self,
        now_ms: Ms,
        fresh: Vec<Id>,
        blocked: Vec<(Id, Blocker, Ms)>,
    ) {
        // The scheduler's next look; held until a store's answer (no time of its own), at
        // most the store's timeout.
        let wake = self
            .sched_wake
            .map_or(0.0, |w| match w >= super::fleet::UNTIL_ANSWERED {
                true => crate::core::store::STORE_TIMEOUT_MS,
                false => (w - now_ms).max(0.0),
            });
        for id in fresh {
            let Some(call) = self.calls.get(&id).filter(|c| c.state == State::Queued) else {
                continue;
            };
            let decision = self.keys.limiter(call.slot).check(now_ms, call.cost);
            let reason = match decision {
                Decision::Wait { blocker, .. } => blocker_reason(blocker),
                Decision::Never { dim, .. } => dim.name(),
                Decision::Admit(_) => match self.config.concurrency {
                    Some(c) if self.scheduler.in_flight() >= c => "concurrency",
                    _ => "queue",
                },
            };
            // Its key's own wait, where that is longer than the scheduler's next look (the
            // adaptive controller's spacing wakes it sooner, to no avail while paused).
            let delay = match decision {
                Decision::Wait {
                    until_ms,
                    blocker: Blocker::Paused | Blocker::Dim(_) | Blocker::FirstResponse,
                } if until_ms.is_finite() => wake.max(until_ms - now_ms),
                _ => wake,
            };
            self.tell_wait(now_ms, id, reason, delay);
        }
        // (A store's hold is told by the fleet's turns, with their own waits.)
        for (id, blocker, until_ms) in blocked {
            if blocker != Blocker::Store {
                let delay = if until_ms.is_finite() {
                    (until_ms - now_ms).max(0.0)
                } else {
                    0.0
                };
                self.tell_wait(now_ms, id, blocker_reason(blocker), delay);
            }
        }
    }

    /// A `wait` event for `id`, unless `reason` is the one it was last told.
    pub(super) fn tell_wait(&mut self, now_ms: Ms, id: Id, reason: &'static str, delay_ms: Ms) {
        let Some(call) = self.calls.get_mut(&id).filter(|c| c.told != reason) else {
            return;
        };
        call.told = reason;
        self.event(EventKind::Wait, id, reason, delay_ms, now_ms);
    }
}

/// The reason a `wait` event gives for what holds a call.
fn blocker_reason(blocker: Blocker) -> &'static str {
    match blocker {
        Blocker::Paused => "paused",
        Blocker::FirstResponse => "first_response",
        Blocker::Store => "store",
        Blocker::Dim(d) => d.name(),
    }
}
