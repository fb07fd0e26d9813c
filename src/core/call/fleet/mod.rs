//! The engine's side of a shared store (`store` option; the protocol is [`crate::core::store`]).
//!
//! With a store, a call admitted by the local limiter is not sent at once: the engine asks
//! the driver to reserve it in the store ([`Action::Reserve`](crate::core::call::Action::Reserve)), and the answer
//! ([`Engine::on_reserved`]) decides:
//! * admitted by the store: [`Action::Send`](crate::core::call::Action::Send);
//! * wait `w` ms (the fleet has taken the tokens; the store booked this process a turn `w`
//!   from now, [`crate::core::store`]): the local reservation is given back, the concurrency
//!   slot freed, the call goes back to its place in its key's queue, and the key is held
//!   until its turn ([`set_hold`](crate::core::limiter::Limiter::set_hold)): no timer per
//!   call. At the turn the first call the local limiter admits asks again,
//!   with `turn` set (the store measures it against its buckets alone); another admitted
//!   while a turn is still to come, or being taken, goes back to its place: one turn per key
//!   at a time (a surplus one booked meanwhile is given back, [`StoreOp::Refund`]). A
//!   settlement of one of the key's calls (tokens given back) brings its turn forward to
//!   now, once: it may go early. Of the output, a turn books what the key's requests are
//!   expected to use ([`Limiter::expected_output`](crate::core::limiter::Limiter::expected_output)),
//!   not their `max_tokens`. A turn a token bucket holds is also asked for early every
//!   [`TOKEN_RECHECK_MS`] at most (sooner where the key's calls are short): the store's wait
//!   cannot count what other processes' calls in flight will give back, and a process with
//!   nothing in flight would otherwise sleep it whole while the server's bucket stood full.
//!   So a call asks the store about twice while the fleet waits in line on requests, and once
//!   a re-check period while it waits on tokens, not once per process ahead of it. A
//!   deadline that comes first ends a call as usual (`timeout`);
//! * wait, naming no bucket and no pause: the key knows no limit yet and another process's
//!   request is out as the fleet's opening probe ([`crate::core::store`]): the call waits as
//!   for a turn, asked again after [`MIN_RECHECK_MS`], then twice as long each time up to
//!   [`PROBE_RECHECK_MS`], until the probe's figures let it in. The store's first metered
//!   admission of a key ends this process's own opening probe for it
//!   ([`Limiter::end_probe`](crate::core::limiter::Limiter::end_probe)): the store gates the
//!   fleet, and the process's other calls go to it at once rather than after that call's
//!   answer. A probe of this process's answered without figures, or not at all, ends the lease
//!   ([`StoreOp::Probed`]; a 2xx opens the key);
//! * never (the store's capacity is below the cost): sent anyway; the pacer never fails a
//!   call on its own estimate, and the server decides;
//! * unavailable (the store failed, or did not answer within the reservation's
//!   `timeout_ms`: [`STORE_TIMEOUT_MS`](crate::core::store::STORE_TIMEOUT_MS), or half the time left before the call's deadline):
//!   sent on the local admission, and so are the other reservations still out (what the
//!   store does for them, if it answers after all, is undone). The first such answer emits
//!   a `warning` event `store_unavailable` and puts every key's limiter on a conservative share ([`Limiter::start_blind`](crate::core::limiter::Limiter::start_blind): at most a
//!   quarter of each configured bucket beyond its refill until a response teaches it); the
//!   first reservation the store answers after that emits `store_resumed`. While it is down,
//!   calls the local limiter admits are sent at once (no reservation, which would cost each
//!   the store's whole timeout: a call with a `timeoutMs` under twice the server's time
//!   missed its deadline each time it was the one to ask); a call sent a
//!   [`STORE_PROBE_MS`](crate::core::store::STORE_PROBE_MS) after the last probe has one go
//!   beside it, for its key; and while calls wait on the local limiter, the engine asks it every [`STORE_PROBE_MS`](crate::core::store::STORE_PROBE_MS)
//!   ([`Action::ProbeStore`](crate::core::call::Action::ProbeStore), [`Engine::on_probed`]): when it answers, sharing resumes at once
//!   (each key's copy counts on its whole refill again, the store gating the fleet) rather than
//!   when the local limiter, held back by its conservative share, next admits a call. Headers'
//!   levels and a 429's pause are not queued for a store that is down: a client holding
//!   commands while the store hangs would run them late, on a fleet that has moved on.
//! * wait, blocked by the pause (a 429's retry-after, fleet-wide): the server's own word, so
//!   the key is paused locally too, and a call it would hold past `maxRetryAfterMs` is refused
//!   (`RETRY_AFTER_TOO_LONG`), as after a 429 of this process's own.
//!
//! Usage settled for a call the store admitted is queued as [`StoreOp::Settle`] for the
//! driver to carry out ([`Engine::drain_store_ops`]): per call one or two reserves, one
//! settle.
//!
//! **A call's own figures go after its settlement.** A server may settle a request before it
//! writes the head of its answer (a body that is not a stream): those figures count the
//! request as used, not as reserved. Learned first, they lower the store's level to a figure
//! that has given the unused reservation back, and the settlement then gives it back again
//! (the store above the server: a 429). So the [`StoreOp::Learn`] of a stored call's 2xx is
//! held until its settlement and queued after it: the store gives back, then comes down to
//! the server's figure if that is lower. A server that writes the head first is the other
//! way round: its figures still count the whole reservation, and lowered to them the store
//! took every give-back back (one process through it, `max_tokens` 4,096 against an OTPM of
//! 8,000: 1.93 times its bound in the simulator, 1.06 without a store). Where others draw
//! from the bucket, no process can tell the two orders apart from its copy, so while the
//! store answers, a call it admitted is settled as if its figures did not count its unused
//! output ([`Limiter::settle_shared`](crate::core::limiter::Limiter::settle_shared)), and
//! its held figures go to the store raised by it: two to eight processes went from 1.75 to
//! 1.80 times the bound to 1.08 to 1.15. On a server that settles first, with traffic from
//! outside the fleet on the same limits, the store may then stand above the server by that
//! call's unused output until later figures show it. For such an answer (no stream, its
//! figures held until its settlement) the settlement gives back no more than the local copy
//! did: not what this process's requests let go since may take on the server first, a full
//! bucket there clamping the give-back (`Limiter::settle_shared`'s `kept`). A
//! stream's head comes before its output and counts the whole reservation
//! ([`Engine::on_stream`]): its figures go at once, as a refusal's do.
//! A call the store held no bucket for ([`StoreAnswer::AdmitUnmetered`], each process's first
//! call of a fleet that knows no limit yet) is not settled there: a bucket another process's
//! reservation created since, full, never counted it. But a bucket learned since from figures
//! that counted its reservation would never get its unused part back either, and the fleet
//! would run that far below the server until the bucket was full (the fleet bench, sixteen
//! processes: each one's first `max_tokens`). So its figures go at once (they may create the
//! bucket, before this process's next reservations would create it full), and, if it is a
//! stream (whose head comes before the server gives back), at its settlement what that gave
//! back goes too ([`StoreOp::GiveBack`]): the store raises its level by that much, to no more
//! than those figures. An answer that is no stream may have been written after the server's
//! give-back (the mock's order): raised again at its settlement, after the store had admitted
//! others on those figures, the store stood that much above the server (a 429 in most runs of
//! the fleet bench at Tier 1's scale once the opening probe let the others in right after its
//! figures). It gives nothing back: the store stays below by its unused output, the cautious
//! side, for one call of the fleet (its probe) rather than one per process.

use super::{Engine, Id};
use crate::core::headers::DimInfo;
use crate::core::keys::Slot;
use crate::core::limiter::{level_before_reset, Dim, ROUNDING_SLACK};
use crate::core::store::WINDOW_MS;
use crate::core::Ms;

mod figures;
mod local;
mod reserve;

/// The store's answer to an [`Action::Reserve`](crate::core::call::Action::Reserve), as the driver reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StoreAnswer {
    /// Reserved in the store.
    Admit,
    /// Admitted, but the store holds no bucket for the key yet (no process knew a limit):
    /// nothing was taken, so nothing is settled there: a bucket created since, full, by
    /// another process's reservation never counted it (a probe: the store 1,000 above the
    /// server, a 429), and a late answer has nothing to undo.
    AdmitUnmetered,
    /// Not now: the store says wait this long (ms, from its own clock's now).
    Wait {
        /// Milliseconds.
        wait_ms: Ms,
        /// The bucket that holds it, if the store names one (none, and not `paused`: the
        /// key knows no limit yet and waits for the fleet's opening probe, asked again after
        /// [`MIN_RECHECK_MS`], then twice as long each time, up to [`PROBE_RECHECK_MS`];
        /// [`crate::core::store`]). A token bucket's wait
        /// counts none of the tokens the calls in flight across the fleet will give back at
        /// their settlement (a reservation of `max_tokens` that used a tenth of it): the
        /// call asks again after [`TOKEN_RECHECK_MS`] while it waits.
        dim: Option<Dim>,
        /// The wait is a 429's fleet-wide pause (the store's blocker `paused`): the server's
        /// own word, so the key is paused here too, and a call it would keep waiting longer
        /// than `maxRetryAfterMs` is refused (`RETRY_AFTER_TOO_LONG`), as after a 429 of this
        /// process's own.
        paused: bool,
    },
    /// The store's capacity for `dim` is below the cost.
    Never {
        /// The dimension.
        dim: Dim,
    },
    /// The store failed or did not answer in time.
    Unavailable,
}

/// The shortest wait a store's "not now" holds a call for, ms: a wait of 0 (or none) would
/// have the call ask again at once, in a loop.
pub const MIN_STORE_WAIT_MS: Ms = 10.0;

/// While a token bucket holds a store's turn, the key asks again after half the time its
/// calls hold their reservations (send to settlement, a moving average), between
/// [`MIN_RECHECK_MS`] and this, ms (this until a call of the store's has settled); after each
/// re-check told to wait again, twice as long as the last, up to this: a fleet that waits
/// long on a small bucket, with few calls in flight to give anything back, asked 108 times a
/// call at four processes, ten times a second each (the fleet bench, `--requests 32
/// --seconds 120`). The store's
/// wait is exact for what it knows; what it cannot know is when the calls in flight across
/// the fleet settle and give back what they reserved and did not use (Anthropic reserves
/// `max_tokens` up front). A process whose own calls settle asks at once after each (its
/// settlement brings the turn forward); one with nothing in flight would sleep the whole
/// wait, 20 s and more, while the server's bucket stood full (the fleet-store probe of
/// session 27: four processes at `max_tokens` 8,000 against an OTPM of 24,000, 400 used).
/// The re-check is
/// measured against the store's buckets alone (`turn`), so it is admitted once the tokens are
/// there; a request bucket's wait is exact (nothing is given back) and is slept whole.
pub const TOKEN_RECHECK_MS: Ms = 1_000.0;

/// See [`TOKEN_RECHECK_MS`].
pub const MIN_RECHECK_MS: Ms = 100.0;

/// While the fleet's opening probe is out (a [`StoreAnswer::Wait`] that names no bucket), a
/// key asks again after [`MIN_RECHECK_MS`], then twice as long each time, up to this, ms:
/// the probe's figures reach the store when its answer's head comes, which the store cannot
/// foresee (its lease is the longest the others wait).
pub const PROBE_RECHECK_MS: Ms = 500.0;

/// Work for the store that needs no answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StoreOp {
    /// Replace a reservation the store made by the usage reported.
    Settle {
        /// The limit key.
        slot: Slot,
        /// Input tokens reserved.
        reserved_input: f64,
        /// Output tokens reserved.
        reserved_output: f64,
        /// Input tokens used (metered: input + cache creation).
        input: f64,
        /// Output tokens used.
        output: f64,
    },
    /// A 429 asked every request of the key to wait this long: fleet-wide.
    Pause {
        /// The limit key.
        slot: Slot,
        /// Milliseconds, from the store's now.
        retry_after_ms: Ms,
    },
    /// Undo what a reservation did in the store when its answer came after the engine had
    /// stopped waiting for it ([`Engine::on_late_reserve`]).
    Refund {
        /// The limit key.
        slot: Slot,
        /// Input tokens of the reservation.
        input: f64,
        /// Output tokens of the reservation.
        output: f64,
        /// Only the turn it booked (the store said wait): the queue's cost given back, not
        /// the buckets'.
        turn_only: bool,
    },
    /// A response's headers: per dimension in [`Dim::ALL`] order, the per-minute limit and
    /// the remaining level (NaN: not sent). Raises nothing in the store; lowers its level.
    Learn {
        /// The limit key.
        slot: Slot,
        /// `(limit, remaining)` per dimension.
        dims: [(f64, f64); 4],
    },
    /// The settlement of a call the store never held ([`StoreAnswer::AdmitUnmetered`]) gave
    /// back on the server what it reserved and did not use: the store's level rises by that
    /// much, to no more than the call's own figures
    /// ([`KeyState::give_back`](crate::core::store::KeyState::give_back)).
    GiveBack {
        /// The limit key.
        slot: Slot,
        /// `(given, up to)` per dimension in [`Dim::ALL`] order (0 given: none).
        dims: [(f64, f64); 4],
    },
    /// The answer to a call admitted while the store held no bucket for its key (the fleet's
    /// opening probe, [`crate::core::store`]) carried no limit: the probe's lease ends, and
    /// a 2xx (`open`) opens the key, whose server sends no figures
    /// ([`KeyState::probed`](crate::core::store::KeyState::probed)).
    Probed {
        /// The limit key.
        slot: Slot,
        /// A 2xx: the key opens.
        open: bool,
    },
}

impl StoreOp {
    /// The limit key it is for.
    pub fn slot(&self) -> Slot {
        match *self {
            StoreOp::Settle { slot, .. }
            | StoreOp::Refund { slot, .. }
            | StoreOp::Pause { slot, .. }
            | StoreOp::Learn { slot, .. }
            | StoreOp::GiveBack { slot, .. }
            | StoreOp::Probed { slot, .. } => slot,
        }
    }
}

/// `(limit, remaining)` of a per-minute dimension the headers describe at `now_ms` (NaN
/// where unknown; a limit of another window is not a per-minute one: not passed on).
///
/// A rounded `remaining` (Anthropic's tokens, to the thousand) goes no lower than the level
/// its reset places, and no more than [`ROUNDING_SLACK`] above itself. The store comes down
/// to any figure below its own level (`KeyState::learn`): a count rounded down by up to a
/// thousand pulled it that far below the server at every answer, where the reset (in whole
/// seconds, read against the `Date` beside it) places the level to within two seconds of
/// refill, as the process's own limiter reads it (`limiter::observe`). The fleet bench at
/// Tier 1's scale (an OTPM of 6,140) ran 1.13 to 1.16 times its lower bound with counts
/// rounded down and 1.05 with exact ones (BENCHMARKS.md, session 33).
fn learned(d: &DimInfo, now_ms: Ms) -> (f64, f64) {
    let per_minute = d.window_ms.is_none_or(|w| (w - WINDOW_MS).abs() < 1.0);
    let limit = d.limit.filter(|_| per_minute).unwrap_or(f64::NAN);
    let mut remaining = d.remaining.unwrap_or(f64::NAN);
    if let Some(t) = d
        .reset_at_ms
        .filter(|t| d.rounded && t.is_finite() && limit > 0.0 && remaining.is_finite())
    {
        let floor = level_before_reset(limit, WINDOW_MS, t, now_ms);
        remaining = remaining.max(floor.min(remaining + ROUNDING_SLACK));
    }
    (limit, remaining)
}

/// A few call ids (those in flight at most): a `Vec`, which costs the Wasm build far less
/// than another `BTreeSet` instance.
#[derive(Debug, Clone, Default)]
struct Ids(Vec<Id>);

impl Ids {
    fn insert(&mut self, id: Id) {
        if !self.0.contains(&id) {
            self.0.push(id);
        }
    }

    fn contains(&self, id: Id) -> bool {
        self.0.contains(&id)
    }

    /// Whether it was there.
    fn remove(&mut self, id: &Id) -> bool {
        let at = self.0.iter().position(|x| x == id);
        at.map(|i| self.0.swap_remove(i)).is_some()
    }
}

/// A reservation out: its call, key and tokens (and the output a turn books).
#[derive(Debug, Clone, Copy)]
struct Asked {
    id: Id,
    slot: Slot,
    input: f64,
    output: f64,
    booked_output: f64,
}

/// The engine's link to its store.
#[derive(Debug, Clone, Default)]
pub(super) struct Fleet {
    /// False after an `Unavailable` answer, until the next store answer.
    down: bool,
    /// A probe was answered during an outage, and sharing resumed on its word; the outage
    /// is over (`store_resumed`) once a reservation is answered too. A store that answers a
    /// probe (which changes nothing) but refuses the writes of a reservation (out of memory,
    /// a read-only replica) is one outage, not a warning pair per probe.
    unconfirmed: bool,
    /// Reservations out, with what they asked for (the answer to one whose call has gone
    /// is undone).
    reserving: Vec<Asked>,
    /// Calls the store admitted (their settlement goes to the store).
    stored: Ids,
    /// Calls admitted while the store held no bucket for their key
    /// ([`StoreAnswer::AdmitUnmetered`]), with their 2xx's `remaining` figures once it came:
    /// not settled there, but given back up to those figures at their settlement
    /// ([`StoreOp::GiveBack`]; module docs).
    unmetered: Vec<(Id, Option<[f64; 4]>)>,
    /// Reservations still out when the store was found down: their calls went on their local
    /// admission at once, and what the store does for them, when it answers, is undone.
    abandoned: Vec<Asked>,
    /// The figures of a stored call's 2xx that is not a stream, held until its settlement
    /// (module docs): its [`StoreOp::Learn`].
    held: Vec<(Id, StoreOp)>,
    ops: Vec<StoreOp>,
    /// A probe ([`Action::ProbeStore`](crate::core::call::Action::ProbeStore)) is out, for this call's key.
    probing: Option<Id>,
    /// A probe due, for this key, that a call sent at once while down made due: asked at the
    /// end of the poll that sent it ([`Engine::fleet_probe`]).
    probe_due: Option<Slot>,
    /// While down: when to probe next.
    probe_at: Ms,
    /// This process's turn per key (module docs): at most one each.
    turns: Vec<(Slot, Turn)>,
    /// How long the calls the store admitted held their reservations, send to settlement: a
    /// moving average (0: none settled yet). It sets the re-check ([`TOKEN_RECHECK_MS`]).
    held_ms: Ms,
    /// Keys this process has told the store to open ([`StoreOp::Probed`]): told once.
    opened: Vec<Slot>,
    /// Keys the store has told to wait, until it admits one of their new requests: their
    /// calls reserve one at a time, so that a queue of them does not book a turn each (all
    /// but one given back) every time the key's hold ends.
    contended: Vec<Slot>,
}

/// This process's turn in the store's queue for one key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Turn {
    /// Booked: asked for at `at`; the store said it comes at `due` (`at` is earlier when a
    /// token bucket holds it: [`TOKEN_RECHECK_MS`]); the input and output tokens it booked.
    At {
        /// When the key's next call asks with `turn` set.
        at: Ms,
        /// The turn's time, as the store stated it.
        due: Ms,
        /// Input and output tokens booked.
        booked: (f64, f64),
        /// How long before `at` it was set: the last re-check's interval (0: none).
        gap: Ms,
    },
    /// Being taken: this call's reservation, with `turn` set, is out (it carries what the
    /// turn booked); `due` and `gap` as above.
    Out {
        /// The call asking.
        id: Id,
        /// The turn's time, as the store stated it.
        due: Ms,
        /// The interval of the re-check being made.
        gap: Ms,
    },
}

/// A turn this much past its time is forgotten: the store's queue bucket has refilled the
/// cost it booked long since, so a call asks as a new one (behind those waiting now).
const TURN_STALE_MS: Ms = 10_000.0;

/// The hold while a turn is being taken: until its answer (the engine releases it then).
pub(super) const UNTIL_ANSWERED: Ms = f64::MAX;

impl Fleet {
    /// Forget `id` as an unmetered call: its entry, if it had one (with its figures, if
    /// they came).
    fn unmetered_remove(&mut self, id: Id) -> Option<Option<[f64; 4]>> {
        let at = self.unmetered.iter().position(|(u, _)| *u == id)?;
        Some(self.unmetered.swap_remove(at).1)
    }

    /// `id` (of the key in `slot`) ends its attempt with no figures to come: if the store
    /// held no bucket for it (it may be the key's opening probe), the probe's lease ends
    /// ([`StoreOp::Probed`]), unless this process told the store the key is open.
    fn end_unmetered(&mut self, id: Id, slot: Slot) {
        if let Some(None) = self.unmetered_remove(id) {
            if !self.opened.contains(&slot) {
                self.ops.push(StoreOp::Probed { slot, open: false });
            }
        }
    }

    /// How long after a token bucket's "wait" a turn is asked for again ([`TOKEN_RECHECK_MS`];
    /// `probe`: the opening probe's, [`PROBE_RECHECK_MS`]): after a re-check `last` ms ago
    /// told to wait again (`again`), twice as long.
    fn recheck_ms(&self, again: bool, last: Ms, probe: bool) -> Ms {
        let (base, most) = if probe {
            (MIN_RECHECK_MS, PROBE_RECHECK_MS)
        } else if self.held_ms > 0.0 {
            let base = crate::core::clamp(self.held_ms / 2.0, MIN_RECHECK_MS, TOKEN_RECHECK_MS);
            (base, TOKEN_RECHECK_MS)
        } else {
            (TOKEN_RECHECK_MS, TOKEN_RECHECK_MS)
        };
        if again {
            (2.0 * last).max(base).min(most)
        } else {
            base
        }
    }

    /// The turn of `slot`, if any (a stale one dropped).
    fn turn(&mut self, slot: Slot, now_ms: Ms) -> Option<Turn> {
        self.turns.retain(|&(s, t)| match t {
            Turn::At { at, .. } => s != slot || at + TURN_STALE_MS >= now_ms,
            Turn::Out { .. } => true,
        });
        self.turns.iter().find(|(s, _)| *s == slot).map(|&(_, t)| t)
    }

    /// Set (`Some`) or clear the turn of `slot`.
    fn set_turn(&mut self, slot: Slot, turn: Option<Turn>) {
        self.turns.retain(|&(s, _)| s != slot);
        if let Some(t) = turn {
            self.turns.push((slot, t));
        }
    }

    /// The key whose turn `id` is taking, if it is, the turn's stated time and the interval
    /// of the re-check (the turn is then cleared).
    fn end_turn(&mut self, id: Id) -> Option<(Slot, Ms, Ms)> {
        let i = self
            .turns
            .iter()
            .position(|&(_, t)| matches!(t, Turn::Out { id: out, .. } if out == id))?;
        let (slot, Turn::Out { due, gap, .. } | Turn::At { due, gap, .. }) =
            self.turns.swap_remove(i);
        Some((slot, due, gap))
    }
}

impl Engine {
    /// Share limits through a store: admissions go through [`Action::Reserve`](crate::core::call::Action::Reserve).
    pub fn set_store(&mut self, on: bool) {
        self.fleet = on.then(Fleet::default);
    }

    /// Whether a store is configured.
    pub fn has_store(&self) -> bool {
        self.fleet.is_some()
    }

    /// Whether a store is configured and answers: it gates the fleet (the module docs).
    pub(in crate::core::call) fn store_gates(&self) -> bool {
        self.fleet.as_ref().is_some_and(|f| !f.down)
    }

    /// Whether the store answers and admitted `id` (held a bucket for it: it will settle it).
    pub(in crate::core::call) fn store_metered(&self, id: Id) -> bool {
        self.fleet
            .as_ref()
            .is_some_and(|f| !f.down && f.stored.contains(id))
    }

    /// How many calls the store link keeps an entry for: admitted by the store (or with no
    /// bucket there) and not settled, or with figures held. Each goes with its call: none
    /// once no call is live.
    pub fn store_entries(&self) -> usize {
        self.fleet
            .as_ref()
            .map_or(0, |f| f.stored.0.len() + f.unmetered.len() + f.held.len())
    }

    /// The limits per minute the engine knows for a key, `[rpm, itpm, otpm, tpm]` (0 =
    /// unknown): what a reservation tells the store, to create the buckets it lacks.
    pub fn store_limits(&self, slot: Slot) -> [f64; 4] {
        let l = self.keys.limiter(slot);
        Dim::ALL.map(|d| l.capacity(d).unwrap_or(0.0))
    }

    /// Store work queued since the last call (settlements).
    pub fn drain_store_ops(&mut self) -> Vec<StoreOp> {
        self.fleet
            .as_mut()
            .map(|f| std::mem::take(&mut f.ops))
            .unwrap_or_default()
    }
}
