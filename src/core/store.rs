//! The shared-store protocol: what a store (Redis, a Durable Object) does for one limit key.
//!
//! A fleet of processes shares one organisation's limits. The store holds, per limit key, one
//! [`Bucket`] per metered dimension and the 429 pause, and does four operations on them,
//! each atomically and each at the store's own clock (`now_ms` is always the store's time,
//! never a caller's, so processes whose clocks disagree still agree on the arithmetic):
//!
//! * [`KeyState::reserve`]: all-or-nothing admission across the dimensions. Either every
//!   known bucket holds its cost and all are taken, or nothing is taken and the answer is the
//!   exact wait (ms from the store's now, so the caller sleeps a duration, not until a time of
//!   another clock) or never (a cost above a capacity). A caller told to wait is given a
//!   *turn* (see below).
//! * [`KeyState::settle`]: the real usage replaces the reservation (the difference is taken
//!   or given back, exactly as [`crate::core::limiter::Limiter::settle`] does locally).
//! * [`KeyState::learn`]: a limit and remaining level from response headers: the capacity
//!   follows the server, and the shared level is never above what the server reports.
//! * [`KeyState::give_back`]: what the settlement of a request the store never held gave
//!   back on the server (a fleet's first calls, sent before any process knew a limit), to
//!   no more than that request's own figures.
//! * [`KeyState::pause`]: a 429's retry-after, fleet-wide.
//! * [`KeyState::probed`]: the answer of the key's opening probe (below) carried no limit.
//!
//! **The opening probe.** A key for which no process knows a limit has no bucket, and the
//! fleet's first requests would all go at once: sixteen processes' first calls of 1,024
//! `max_tokens` against an OTPM of 6,140 drew nine 429s (the fleet bench, `--requests 32
//! --seconds 120`). So the store lets one request of such a key go (the probe, on a lease of
//! [`PROBE_MAX_MS`]) and tells the others to wait
//! ([`Reserve::Probing`]) until its answer's figures create the buckets
//! ([`KeyState::learn`]), as one process's limiter does for its own requests. Its answer had
//! no figures ([`KeyState::probed`]): a 2xx opens the key (the server sends none; every
//! request goes, as without a store), a refusal only ends the lease. A lease that ends with
//! no answer (the probe's process killed, an answer slower than the lease: one that is no
//! stream comes whole, and can take a minute) lets one more go, and twice as many as are out
//! after each [`PROBE_STEP_MS`] more, as one process opens (`limiter::probe`): sixteen
//! processes whose answers took 3 to 34 s (`--tokens-per-second 30`) had only one request
//! more out each step before (session 33's measurements are in BENCHMARKS.md).
//!
//! **Turns.** Waits alone would make every waiting process wake at the same instant (the
//! moment the next request fits) and all but one be told to wait again: round trips per call
//! growing with the fleet. So the store also keeps, per dimension, a *queue* bucket: the
//! real bucket less what it has promised to callers told to wait. A new request is measured
//! against the queue (it goes behind those already waiting); when told to wait, its cost is
//! taken from the queue (its turn is booked) and the wait is the time until its turn. Of
//! the output, a turn books what its key's requests are expected to use, not the
//! `max_tokens` it reserves ([`KeyState::reserve_booking`]): a queue of turns at `max_tokens`
//! stood far below where the fleet would be once their calls settled. At its
//! turn it asks again with `turn` set and is measured against the bucket alone (its cost is
//! in the queue already). A process also asks with its turn early, once after each
//! settlement of its own, and, while a token bucket holds it, once a re-check period
//! ([`crate::core::call::TOKEN_RECHECK_MS`]): tokens given back by any process's settlement
//! may let it in before its turn, and the store, which cannot know when calls in flight
//! settle, states the wait as if nothing came back. So a call asks about twice while the
//! fleet waits in line on requests, not once per process ahead of it. A process
//! whose calls of the key all leave before the turn (aborted, timed out, closed) gives it
//! back ([`KeyState::unbook`]); one that never comes back (killed) leaves a booked cost in
//! the queue bucket, which refills like any bucket: the turn is lost, not the capacity. Usage settled, refunds
//! and learned levels move both buckets alike. A process keeps one turn per key at a time
//! (the engine holds its other calls meanwhile, [`crate::core::call`]), so the queue holds a
//! few calls, not a batch at `max_tokens`: tokens given back at settlement reach the next
//! turns.
//!
//! The arithmetic is the local limiter's ([`Bucket`], [`EDGE_MARGIN_MS`]), with no share of
//! others to estimate: the store *is* the whole fleet's view. Where it runs inside the store
//! (the Lua script of `llm-pacer/redis`), a differential test (`examples/store_ops.rs`,
//! `tests/js/store-redis.test.mjs`) drives the same operation sequences through both.
//!
//! The state is plain numbers: per dimension a capacity, a level and the time of that level,
//! plus the pause's end. Buckets are created full, at the first reservation that names a
//! limit for them (the caller's configured or learned limit); later limits come from
//! [`KeyState::learn`] only, so one process's stale configuration cannot resize the fleet's
//! bucket.

use super::bucket::Bucket;
use super::limiter::{Dim, EDGE_MARGIN_MS, PROBE_MAX_MS, PROBE_STEP_MS};
use super::Ms;

/// The window of every shared bucket (limits are per minute), ms.
pub const WINDOW_MS: Ms = 60_000.0;

/// The headroom a reservation keeps, as ms of refill. The store takes a request's cost when it
/// admits it, before the server does, so for the requests the store saw the server's level is
/// never below the store's; what the store cannot see is the server's own arithmetic (an input
/// count above the estimate, a rounded `remaining`, a request from outside the fleet). A
/// request is therefore admitted only when its bucket holds its cost plus this much refill (at
/// most the capacity). The steady rate stays the refill rate; what it costs is this much
/// refill once per batch. The fleet benchmark (`scripts/bench/fleet.mjs`, K = 4 and 16):
/// 1 000 ms gave 1.058x / 1.080x the lower bound with no 429; 250 ms 1.048x / 1.043x with
/// 0 / 0.2% 429s. (The local limiter counts a transit of its own,
/// [`crate::core::transit::WITH_HEADERS_MS`], only near a full bucket.)
pub const TRANSIT_MS: Ms = 250.0;

/// What a bucket must hold to admit `n`: `n` plus [`TRANSIT_MS`] of refill, at most the
/// capacity (`n` itself when it costs nothing there).
pub fn need(b: &Bucket, n: f64) -> f64 {
    if n > 0.0 {
        (n + b.rate_per_ms() * TRANSIT_MS).min(b.capacity())
    } else {
        n
    }
}

/// What one request reserves in each dimension, in [`Dim::ALL`] order: `[1, input, output,
/// input + output]`. Built by [`amounts`].
pub type Amounts = [f64; 4];

/// `[1, input, output, input + output]`, each negative or NaN amount taken as 0.
pub fn amounts(input: f64, output: f64) -> Amounts {
    let nn = |x: f64| if x >= 0.0 { x } else { 0.0 };
    let (i, o) = (nn(input), nn(output));
    [1.0, i, o, i + o]
}

/// A store's answer to a reservation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reserve {
    /// Taken from every known bucket.
    Admit,
    /// Nothing taken: ask again after `wait_ms` (from the store's now). `dim` is what holds
    /// it (`None`: the 429 pause).
    Wait {
        /// Milliseconds to wait, `> 0`.
        wait_ms: Ms,
        /// The dimension with the longest wait, or `None` for the pause.
        dim: Option<Dim>,
    },
    /// Nothing taken: the key knows no limit yet and its opening probe is out; ask again
    /// once its answer may have taught the limits, at most `wait_ms` from now (the lease's
    /// end). The pacer's own estimate, never the server's word (module docs).
    Probing {
        /// Milliseconds until the probe's lease ends, `> 0`.
        wait_ms: Ms,
    },
    /// Nothing taken, and no wait can help: the cost exceeds `dim`'s capacity.
    Never {
        /// The dimension.
        dim: Dim,
    },
}

/// One limit key's shared state.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct KeyState {
    /// One bucket per [`Dim`] (indexed by `Dim as usize`); `None` = no limit known.
    pub buckets: [Option<Bucket>; 4],
    /// Per bucket, its queue: the same bucket less the costs of the turns booked and not yet
    /// taken (module docs). Never above the bucket; `None` exactly where the bucket is.
    pub queue: [Option<Bucket>; 4],
    /// While `now < paused_until_ms`, every reservation waits (a 429's retry-after).
    pub paused_until_ms: Ms,
    /// While no bucket is known: the end of the opening probe's lease (0: no probe out).
    pub probe_until_ms: Ms,
    /// The requests let go as probes since the first, none answered yet (0: none out).
    pub probe_sent: u32,
    /// A probe's 2xx carried no limit: the key opens (no probe, every request admitted).
    pub open: bool,
}

/// A queue is never above its bucket (it is the bucket less the turns booked).
fn cap_queue(b: &Bucket, q: &mut Bucket, now_ms: Ms) {
    let level = b.level(now_ms);
    if q.level(now_ms) > level {
        q.set_level(now_ms, level);
    }
}

fn valid_limit(l: f64) -> bool {
    l.is_finite() && l > 0.0
}

impl KeyState {
    /// A key that knows nothing.
    pub fn new() -> Self {
        KeyState::default()
    }

    /// Create the buckets the store does not know yet from `limits` (per minute, in
    /// [`Dim::ALL`] order; 0 or invalid = unknown), full at `now_ms`. Known buckets keep
    /// their capacity.
    pub fn ensure(&mut self, now_ms: Ms, limits: [f64; 4]) {
        for (d, &l) in limits.iter().enumerate() {
            if self.buckets[d].is_none() && valid_limit(l) {
                self.buckets[d] = Some(Bucket::new(l, WINDOW_MS, now_ms));
                self.queue[d] = self.buckets[d];
            }
        }
    }

    /// Apply `f` to each known bucket and its queue alike.
    fn both(&mut self, mut f: impl FnMut(Dim, &mut Bucket)) {
        for dim in Dim::ALL {
            let d = dim as usize;
            if let (Some(b), Some(q)) = (&mut self.buckets[d], &mut self.queue[d]) {
                f(dim, b);
                f(dim, q);
            }
        }
    }

    /// All-or-nothing admission of `cost` (see [`amounts`]) at the store's `now_ms`, after
    /// creating the buckets `limits` names ([`KeyState::ensure`]). `turn`: the caller was told
    /// to wait earlier and booked a turn (its cost is in the queue); otherwise it is a new
    /// request, which goes behind the turns booked (module docs).
    ///
    /// In this order, as [`crate::core::limiter::Limiter::check`]: never if a cost exceeds a
    /// capacity (the first such dimension); wait while paused (until the pause ends, blocked
    /// by the pause: or longer if a bucket needs longer, blocked by that bucket); admit if
    /// every known bucket's level (a new request: and its queue's) is at least its cost
    /// ([`need`]: plus a transit's refill); else wait until every one is (plus
    /// [`EDGE_MARGIN_MS`]), blocked by the longest. A new request told to wait books its turn:
    /// its cost is taken from the queue.
    pub fn reserve(&mut self, now_ms: Ms, limits: [f64; 4], cost: Amounts, turn: bool) -> Reserve {
        self.reserve_booking(now_ms, limits, cost, cost, turn)
    }

    /// [`KeyState::reserve`], where a request told to wait books `book` in the queue rather
    /// than its whole `cost` (each dimension at most the cost): what it is expected to use,
    /// not what it holds while in flight (`max_tokens`, most of which its settlement gives
    /// back). New requests then queue behind what the turns booked will leave, not behind
    /// their reservations. At the turn's admission the rest of the cost is taken from the
    /// queue too, so that a turn taken leaves the queue where an admission does. `turn` with
    /// `book` the amounts the turn booked.
    pub fn reserve_booking(
        &mut self,
        now_ms: Ms,
        limits: [f64; 4],
        cost: Amounts,
        book: Amounts,
        turn: bool,
    ) -> Reserve {
        let book: Amounts = [0, 1, 2, 3].map(|d| {
            if book[d] >= 0.0 {
                book[d].min(cost[d])
            } else {
                cost[d]
            }
        });
        self.ensure(now_ms, limits);
        for dim in Dim::ALL {
            if let Some(b) = &self.buckets[dim as usize] {
                if cost[dim as usize] > b.capacity() {
                    return Reserve::Never { dim };
                }
            }
        }
        let mut wait: Ms = 0.0;
        let mut blocker = None;
        for dim in Dim::ALL {
            let d = dim as usize;
            let (Some(b), Some(q)) = (self.buckets[d], self.queue[d]) else {
                continue;
            };
            let n = need(&b, cost[d]);
            // A turn's cost is in the queue already: only the bucket need hold it.
            let lines = if turn {
                [Some(b), None]
            } else {
                [Some(b), Some(q)]
            };
            for b in lines.into_iter().flatten() {
                if b.level(now_ms) < n {
                    let t = b.time_until(now_ms, n).unwrap_or(0.0) + EDGE_MARGIN_MS;
                    if t > wait {
                        wait = t;
                        blocker = Some(dim);
                    }
                }
            }
        }
        // The pause is the blocker when it is the longer wait: a wait named "paused" is then
        // the server's own (a 429's retry-after), which the pacer holds to `maxRetryAfterMs`.
        let answer = if self.paused_until_ms > now_ms && self.paused_until_ms - now_ms >= wait {
            Reserve::Wait {
                wait_ms: self.paused_until_ms - now_ms,
                dim: None,
            }
        } else if let Some(dim) = blocker {
            Reserve::Wait {
                wait_ms: wait,
                dim: Some(dim),
            }
        } else if self.buckets.iter().all(Option::is_none) && !self.open {
            self.probe(now_ms)
        } else {
            Reserve::Admit
        };
        let admit = answer == Reserve::Admit;
        for (d, &n) in cost.iter().enumerate() {
            if let (Some(b), Some(q)) = (&mut self.buckets[d], &mut self.queue[d]) {
                if admit {
                    b.take(now_ms, n);
                }
                match (turn, admit) {
                    (false, true) => q.take(now_ms, n),
                    (false, false) => q.take(now_ms, book[d]),
                    (true, true) => q.take(now_ms, n - book[d]),
                    (true, false) => {}
                }
                // A turn the queue never booked (the caller's turn outlived the store's state).
                cap_queue(b, q, now_ms);
            }
        }
        answer
    }

    /// Replace a reservation by the usage the response reported: in each token dimension the
    /// difference `actual - reserved` is taken (a debt, at most one capacity deep) or given
    /// back (up to capacity). The request dimension is unchanged.
    pub fn settle(&mut self, now_ms: Ms, reserved: Amounts, actual: Amounts) {
        self.both(|dim, b| {
            let d = actual[dim as usize] - reserved[dim as usize];
            if dim != Dim::Requests && d > 0.0 {
                b.take(now_ms, d);
            } else if dim != Dim::Requests && d < 0.0 {
                b.give(now_ms, -d);
            }
        });
    }

    /// Give back a reservation whose request never reached the server (to its buckets and,
    /// as the turn is over, to their queues).
    pub fn refund(&mut self, now_ms: Ms, reserved: Amounts) {
        self.both(|dim, b| b.give(now_ms, reserved[dim as usize]));
    }

    /// Give back the turn a request told to wait booked, which it will not take: to the queues
    /// only (at most up to their buckets).
    pub fn unbook(&mut self, now_ms: Ms, reserved: Amounts) {
        for (d, &n) in reserved.iter().enumerate() {
            if let (Some(b), Some(q)) = (&self.buckets[d], &mut self.queue[d]) {
                q.give(now_ms, n);
                cap_queue(b, q, now_ms);
            }
        }
    }

    /// What a response's headers say about `dim`: its `limit` (capacity per minute; invalid =
    /// keep the known one) and the `remaining` level (NaN = not sent). The bucket is created
    /// (full) if unknown, resized to the limit, and its level lowered to `remaining` if it
    /// was higher: the server counted what other clients took, or reservations not yet
    /// settled, that the store never saw. It is never raised: a response that left before
    /// others were admitted reports a level they have since taken from (but see
    /// [`KeyState::give_back`]).
    pub fn learn(&mut self, now_ms: Ms, dim: Dim, limit: f64, remaining: f64) {
        let d = dim as usize;
        if valid_limit(limit) {
            match (&mut self.buckets[d], &mut self.queue[d]) {
                (Some(b), Some(q)) => {
                    if b.capacity() != limit {
                        b.set_capacity(now_ms, limit, WINDOW_MS);
                        q.set_capacity(now_ms, limit, WINDOW_MS);
                    }
                }
                _ => {
                    self.buckets[d] = Some(Bucket::new(limit, WINDOW_MS, now_ms));
                    self.queue[d] = self.buckets[d];
                }
            }
        }
        if let (Some(b), Some(q)) = (&mut self.buckets[d], &mut self.queue[d]) {
            let level = b.level(now_ms);
            if remaining.is_finite() && remaining >= 0.0 && remaining < level {
                b.set_level(now_ms, remaining);
                // The queue keeps the same distance below: the turns booked stay booked.
                q.take(now_ms, level - b.level(now_ms));
            }
        }
    }

    /// The settlement of a request the store never held (admitted before the key had a
    /// bucket: the store took nothing, so it settles nothing) gave `given` back on the
    /// server: its reservation less its usage. A bucket learned since from figures that
    /// counted the request's reservation would never get that back: the store would run
    /// below the server until the bucket was full (a fleet's first calls' unused
    /// `max_tokens`, lost to all). So the level is raised by `given`, to no more than
    /// `up_to`, that request's own figure (`remaining`): a bucket that never counted the
    /// request (created full by a reservation since) stands at or above it already, and
    /// the figure is the server's level then, with any request the store has admitted since
    /// still to be taken. Never lowers (a figure as old as a long stream would lower a level
    /// refilled since); `given` not positive or `up_to` not a level: no change. The queue
    /// rises alike (the turns booked stay booked).
    pub fn give_back(&mut self, now_ms: Ms, dim: Dim, given: f64, up_to: f64) {
        let d = dim as usize;
        if let (Some(b), Some(q)) = (&mut self.buckets[d], &mut self.queue[d]) {
            let level = b.level(now_ms);
            if given > 0.0 && up_to.is_finite() && up_to > level {
                let up = given.min(up_to - level);
                b.give(now_ms, up);
                q.give(now_ms, up);
                cap_queue(b, q, now_ms);
            }
        }
    }

    /// A key that knows no limit: admitted as its opening probe (a lease taken) if none is
    /// out, else told to wait for the probe's answer (module docs). A lease that runs out
    /// with no answer lets one more go, and the fleet's count out may then double each
    /// [`PROBE_STEP_MS`]: the rule of one process's own opening (`limiter::probe`), each
    /// step counted from the request that made the count a power of two, not from the
    /// first, so a key no process asked about for a while opens no faster.
    fn probe(&mut self, now_ms: Ms) -> Reserve {
        if self.probe_until_ms > now_ms {
            return Reserve::Probing {
                wait_ms: self.probe_until_ms - now_ms,
            };
        }
        if self.probe_until_ms > 0.0 && self.probe_sent > 0 {
            self.probe_sent = self.probe_sent.saturating_add(1);
            if self.probe_sent.is_power_of_two() {
                self.probe_until_ms = now_ms + PROBE_STEP_MS;
            }
        } else {
            self.probe_sent = 1;
            self.probe_until_ms = now_ms + PROBE_MAX_MS;
        }
        Reserve::Admit
    }

    /// The answer to a request admitted with no bucket known carried no limit (`open`: a 2xx;
    /// else a refusal or an error): the probe's lease ends, and a 2xx opens the key, whose
    /// requests then go unmetered until figures create a bucket (module docs).
    pub fn probed(&mut self, open: bool) {
        self.probe_until_ms = 0.0;
        self.probe_sent = 0;
        self.open |= open;
    }

    /// A 429 asked every request to wait `retry_after_ms` from the store's now: the pause
    /// ends then, or later if one already in force ends later.
    pub fn pause(&mut self, now_ms: Ms, retry_after_ms: Ms) {
        if retry_after_ms.is_finite() && retry_after_ms > 0.0 {
            self.paused_until_ms = self.paused_until_ms.max(now_ms + retry_after_ms);
        }
    }

    /// The level of each dimension at `now_ms` (`None` where no limit is known).
    pub fn levels(&self, now_ms: Ms) -> [Option<f64>; 4] {
        self.buckets.map(|b| b.map(|b| b.level(now_ms)))
    }
}

/// How many numbers [`KeyState::save`] writes: per dimension a capacity, a level and the
/// time of that level, and its queue's level and time (NaN capacity: no bucket), then the
/// pause's end, the probe's lease's end, the key's opening (1: open) and the probes out.
pub const STATE_LEN: usize = 24;

/// The length of a state saved before the opening probe (no probe, not open): still read.
const STATE_LEN_BEFORE_PROBE: usize = 21;

/// The length of a state saved before the probes out were counted (one if a lease is on):
/// still read.
const STATE_LEN_BEFORE_COUNT: usize = 23;

/// The operations of [`KeyState::apply`], by number (the compact form a store that runs this
/// code, the Durable Object of `llm-pacer/cloudflare`, passes across the Wasm boundary).
pub mod op {
    /// Nothing changes; the answer carries the levels.
    pub const LEVELS: u32 = 0;
    /// `[rpm, itpm, otpm, tpm, input, output, turn, booked output]` (`turn` 1: the caller's
    /// turn; `booked output`: what a turn books of the output, NaN or absent = all of it:
    /// [`KeyState::reserve_booking`]).
    ///
    /// [`KeyState::reserve_booking`]: super::KeyState::reserve_booking
    pub const RESERVE: u32 = 1;
    /// `[reserved input, reserved output, input, output]`.
    pub const SETTLE: u32 = 2;
    /// `[reserved input, reserved output, turn only]` (`turn only` 1: [`KeyState::unbook`]).
    ///
    /// [`KeyState::unbook`]: super::KeyState::unbook
    pub const REFUND: u32 = 3;
    /// `[dim, limit, remaining]*`, `dim` from 1 in [`Dim::ALL`](super::Dim::ALL) order.
    pub const LEARN: u32 = 4;
    /// `[retry-after ms]`.
    pub const PAUSE: u32 = 5;
    /// `[dim, given, up to]*`, `dim` as for [`LEARN`] ([`KeyState::give_back`]).
    ///
    /// [`KeyState::give_back`]: super::KeyState::give_back
    pub const GIVE_BACK: u32 = 6;
    /// `[open]` (1: a 2xx; [`KeyState::probed`]).
    ///
    /// [`KeyState::probed`]: super::KeyState::probed
    pub const PROBED: u32 = 7;
}

impl KeyState {
    /// The state as [`STATE_LEN`] plain numbers ([`KeyState::load`] reads them back).
    pub fn save(&self) -> [f64; STATE_LEN] {
        let mut out = [f64::NAN; STATE_LEN];
        for (i, (b, q)) in self.buckets.iter().zip(self.queue.iter()).enumerate() {
            if let (Some(b), Some(q)) = (b, q) {
                let ((level, at), (ql, qat)) = (b.raw(), q.raw());
                out[5 * i..5 * i + 5].copy_from_slice(&[b.capacity(), level, at, ql, qat]);
            }
        }
        out[20] = self.paused_until_ms;
        out[21] = self.probe_until_ms;
        out[22] = if self.open { 1.0 } else { 0.0 };
        out[23] = f64::from(self.probe_sent);
        out
    }

    /// The state [`KeyState::save`] wrote (or its 21 numbers before the opening probe, its
    /// 23 before the probes out were counted).
    /// Anything else (another length, a bucket with an invalid capacity or a level or time
    /// that is not finite) reads as unknown: a new key, or no bucket in that dimension (the
    /// next reservation creates it full). A queue that is not finite, or above its bucket,
    /// reads as the bucket (no turn booked).
    pub fn load(s: &[f64]) -> KeyState {
        let mut k = KeyState::new();
        if ![STATE_LEN, STATE_LEN_BEFORE_PROBE, STATE_LEN_BEFORE_COUNT].contains(&s.len()) {
            return k;
        }
        for i in 0..4 {
            let [cap, level, at, ql, qat] = [0, 1, 2, 3, 4].map(|j| s[5 * i + j]);
            if valid_limit(cap) && level.is_finite() && at.is_finite() {
                let b = Bucket::from_raw(cap, WINDOW_MS, level, at);
                k.buckets[i] = Some(b);
                k.queue[i] = Some(if ql.is_finite() && qat.is_finite() {
                    let q = Bucket::from_raw(cap, WINDOW_MS, ql, qat);
                    let t = at.max(qat);
                    if q.level(t) <= b.level(t) {
                        q
                    } else {
                        b
                    }
                } else {
                    b
                });
            }
        }
        if s[20].is_finite() {
            k.paused_until_ms = s[20];
        }
        if let [probe, open, ref sent @ ..] = s[STATE_LEN_BEFORE_PROBE..] {
            if probe.is_finite() && probe > 0.0 {
                k.probe_until_ms = probe;
                // A count missing (a state saved before it) or out of range: the first probe.
                k.probe_sent = match sent {
                    [n] if *n >= 1.0 && *n <= f64::from(u32::MAX) => *n as u32,
                    _ => 1,
                };
            }
            k.open = open == 1.0;
        }
        k
    }

    /// One operation in the compact form ([`op`]; NaN = an argument not given) at `now_ms`:
    /// `[kind, wait_ms, dim]`, kind 0 done, 1 admitted, 2 wait (dim 0 = the pause, 5 = the
    /// opening probe, else the blocking dimension from 1), 3 never (dim from 1); NaN kind
    /// for an unknown operation.
    /// What the Lua script of `llm-pacer/redis` does for the same arguments.
    pub fn apply(&mut self, now_ms: Ms, op: u32, args: &[f64]) -> [f64; 3] {
        let a = |i: usize| args.get(i).copied().unwrap_or(f64::NAN);
        let dim_no = |d: Dim| (d as usize + 1) as f64;
        match op {
            op::LEVELS => {}
            op::RESERVE => {
                let limits = [a(0), a(1), a(2), a(3)];
                let cost = amounts(a(4), a(5));
                let book = if a(7) >= 0.0 {
                    amounts(a(4), a(7))
                } else {
                    cost
                };
                return match self.reserve_booking(now_ms, limits, cost, book, a(6) == 1.0) {
                    Reserve::Admit => [1.0, 0.0, 0.0],
                    Reserve::Wait { wait_ms, dim } => [2.0, wait_ms, dim.map_or(0.0, dim_no)],
                    Reserve::Probing { wait_ms } => [2.0, wait_ms, 5.0],
                    Reserve::Never { dim } => [3.0, 0.0, dim_no(dim)],
                };
            }
            op::SETTLE => self.settle(now_ms, amounts(a(0), a(1)), amounts(a(2), a(3))),
            op::REFUND if a(2) == 1.0 => self.unbook(now_ms, amounts(a(0), a(1))),
            op::REFUND => self.refund(now_ms, amounts(a(0), a(1))),
            op::LEARN => {
                for t in args.chunks_exact(3) {
                    if let Some(&dim) = Dim::ALL.iter().find(|&&d| dim_no(d) == t[0]) {
                        self.learn(now_ms, dim, t[1], t[2]);
                    }
                }
            }
            op::PAUSE => self.pause(now_ms, a(0)),
            op::PROBED => self.probed(a(0) == 1.0),
            op::GIVE_BACK => {
                for t in args.chunks_exact(3) {
                    if let Some(&dim) = Dim::ALL.iter().find(|&&d| dim_no(d) == t[0]) {
                        self.give_back(now_ms, dim, t[1], t[2]);
                    }
                }
            }
            _ => return [f64::NAN; 3],
        }
        [0.0; 3]
    }
}

/// The conservative share a process takes of each bucket while its store is unreachable:
/// the fleet's size is unknown then, so it assumes others spend the rest.
pub const FALLBACK_SHARE: f64 = 0.25;

/// How long a driver waits for its store's answer before it takes the store as unavailable
/// (the call then goes on its local admission), ms.
pub const STORE_TIMEOUT_MS: Ms = 1_000.0;

/// While the store is unavailable and calls wait on the local limiter, the engine asks it
/// again (a probe, [`crate::core::call::Action::ProbeStore`]) this long after its last failed
/// answer, ms: sharing resumes when it is back, not only when the local limiter next admits.
pub const STORE_PROBE_MS: Ms = 1_000.0;
