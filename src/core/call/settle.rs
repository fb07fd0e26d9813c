//! The end of a delivered body: its usage settles the reservation (or an estimate does), and
//! what the prompt cache holds is learned from it.

use super::io::EventKind;
use super::state::{Call, State};
use super::{Engine, Id};
use crate::core::estimate::Prefix;
use crate::core::limiter::Usage;
use crate::core::Ms;

impl Engine {
    /// The body of a delivered 2xx ended; `usage` is what it reported (`None`: unknown).
    pub fn on_done(&mut self, now_ms: Ms, id: Id, usage: Option<Usage>) {
        self.settle_as(now_ms, id, usage, "usage");
    }

    /// The body of a delivered 2xx ended with no usage, but `output_tokens` were estimated
    /// from its streamed text: settle the input as reserved and the output as estimated.
    pub fn on_done_estimated(&mut self, now_ms: Ms, id: Id, output_tokens: f64) {
        if let Some(&Call {
            state: State::Delivered { ticket },
            ..
        }) = self.calls.get(&id)
        {
            let usage = Usage {
                input_tokens: ticket.input,
                output_tokens,
                ..Usage::default()
            };
            self.settle_as(now_ms, id, Some(usage), "estimated");
        }
    }

    /// The body of a delivered 2xx stream stopped before its final usage (its reader
    /// cancelled it), after it reported its input (Anthropic's `message_start`): settle the
    /// input as reported and the output as reserved (what the server billed for the output
    /// of a stream cut short is not known). The usage known, the input, is what stats and the
    /// `settled` event count.
    pub fn on_done_input(&mut self, now_ms: Ms, id: Id, usage: Usage) {
        self.settle_with(now_ms, id, Some(usage), "input_only", true);
    }

    /// The input to reserve for an `estimate` whose prompt has `prefixes`, on key `key`: less
    /// the longest prefix the server holds in its prompt cache, never below `floor`; and
    /// that prefix's hash.
    pub(super) fn less_cached(
        &self,
        key: u64,
        prefixes: &[Prefix],
        estimate: f64,
        floor: f64,
        now_ms: Ms,
    ) -> (f64, Option<u64>) {
        let (cached, read) = self.prompt_cache.cached(key, prefixes, now_ms);
        ((estimate - cached).max(floor), read)
    }

    /// Forget the calls with prompt prefixes that have ended.
    pub(super) fn prune_prefixed(&mut self) {
        let calls = &self.calls;
        self.prefixed.retain(|i| calls.contains_key(i));
    }

    /// A delivered call's usage reports a prompt cache write or read: its breakpoints are
    /// cached now, and the prefix it read stays so. When that is news, the calls of its key
    /// still waiting (its next turn, sent as soon as the caller had read this one) are priced
    /// again.
    fn note_cached(&mut self, now_ms: Ms, id: Id, usage: &Usage) {
        if usage.cache_creation_input_tokens <= 0.0 && usage.cache_read_input_tokens <= 0.0 {
            return;
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let slot = call.slot;
        let Some(key) = self.keys.key(slot).map(|k| k.id) else {
            return;
        };
        if !self
            .prompt_cache
            .wrote(key, &call.prefixes, call.cache_read, now_ms)
        {
            return;
        }
        self.prune_prefixed();
        for &other in &self.prefixed {
            let Some(c) = self.calls.get(&other) else {
                continue;
            };
            if c.slot != slot || !c.state.waiting() {
                continue;
            }
            let (input, read) =
                self.less_cached(key, &c.prefixes, c.estimate, c.cost.input_floor, now_ms);
            let Some(c) = self.calls.get_mut(&other).filter(|c| input < c.cost.input) else {
                continue;
            };
            c.cost.input = input;
            c.cache_read = read;
            if c.state == State::Queued {
                self.scheduler
                    .push_to(slot, other, c.priority, c.seq, c.cost);
            }
        }
    }

    fn settle_as(&mut self, now_ms: Ms, id: Id, usage: Option<Usage>, reason: &'static str) {
        self.settle_with(now_ms, id, usage, reason, false);
    }

    /// [`Engine::settle_as`], with the output left as reserved when `output_reserved` (and
    /// then not counted as used). A usage that reports one of input and output validly but
    /// not the other (a stream's `null`, a string) leaves that other as reserved too: what
    /// the server counted there is not known, and giving the whole reservation back would
    /// count it as nothing.
    fn settle_with(
        &mut self,
        now_ms: Ms,
        id: Id,
        usage: Option<Usage>,
        reason: &'static str,
        output_reserved: bool,
    ) {
        let now_ms = self.clock(now_ms);
        let Some(&Call {
            state: State::Delivered { ticket },
            slot,
            ..
        }) = self.calls.get(&id)
        else {
            return;
        };
        let input_reserved = usage.is_some_and(|u| !Usage::valid(u.input_tokens));
        let output_reserved =
            output_reserved || usage.is_some_and(|u| !Usage::valid(u.output_tokens));
        if let Some(mut usage) = usage.and_then(Usage::sanitized) {
            self.note_cached(now_ms, id, &usage);
            let mut settled = usage;
            if input_reserved {
                // The reservation counted the prompt whole, cache writes included.
                settled.input_tokens = ticket.input;
                settled.cache_creation_input_tokens = 0.0;
            }
            if output_reserved {
                settled.output_tokens = ticket.output;
            }
            let gated = self.store_metered(id);
            let limiter = self.keys.limiter_mut(slot);
            let read = limiter.settle_shared(now_ms, ticket, &settled, gated);
            if !output_reserved {
                limiter.output_seen(usage.output_tokens);
            }
            self.fleet_settled(now_ms, id, slot, ticket, &settled, read);
            self.scheduler.wake(slot);
            if output_reserved {
                usage.output_tokens = 0.0;
            }
            self.stats.input_tokens_used += usage.metered_input();
            self.stats.output_tokens_used += usage.output_tokens;
            self.event(EventKind::Settled, id, reason, 0.0, now_ms);
            if let Some(e) = self.events.last_mut().filter(|e| e.id == id) {
                e.usage = Some(usage);
            }
        } else {
            // Unknown usage: the reservation stands as the best estimate.
            self.keys.limiter_mut(slot).lost(now_ms, &ticket);
            self.event(EventKind::Settled, id, "no_usage", 0.0, now_ms);
        }
        self.finish_call(now_ms, id);
    }
}
