//! How one client shares a server bucket with other processes it cannot see.
//!
//! Several uncoordinated processes of one organisation draw from the same server bucket; each
//! sees only the server's level in the headers of its *own* responses. A client therefore
//! counts on a **share** of the bucket's refill (its local copy refills at `share × rate`) and
//! adjusts it as TCP adjusts a congestion window, which is what makes the shares of several
//! clients converge to a fair split without any of them knowing how many there are:
//!
//! * **Additive increase.** The share grows by [`INCREASE_PER_WINDOW`] per window of the
//!   limit (per minute for per-minute limits), up to 1.
//! * **Multiplicative decrease.** When a response shows the server's level *below* what the
//!   copy predicted (beyond what rounding explains), others took more than this client left
//!   them: the share is halved ([`DECREASE`]), at most once per [`DECREASE_GAP_MS`] (one
//!   disagreement is often seen by several responses in a row), down to [`MIN_SHARE`].
//! * **Blind start.** A bucket configured by the caller is full at start, but other processes
//!   may be starting too: until the first response says anything, a client spends at most
//!   [`BLIND_SHARE`] of each bucket (or its first request, if that alone is larger) beyond
//!   the refill. The first response then sets the share to 1 when the
//!   server agrees with the copy (a client alone loses nothing: the first response usually
//!   arrives before the spent quarter has refilled). When it does not, the bucket was spent
//!   before this client's opening could tell by whom: by other processes starting too, or by
//!   an earlier run (a process restarted, a deployment rolled), which draws nothing now. The
//!   share then stays at the blind quarter, others presumed, and the next responses decide
//!   (a decrease on disagreement, the increase otherwise). Halving it there held a process
//!   restarted on a spent bucket to an eighth of the refill for its first minutes (a lone
//!   process's 200 requests took 1.18 times their lower bound, `simulate --start-level 0`,
//!   against 1.08). The engine asks for this
//!   ([`crate::core::limiter::Limiter::start_blind`]); a bare limiter counts on the whole
//!   bucket. A bucket *learned* from headers starts at
//!   [`LEARNED_SHARE`], with others presumed.
//! * **Headroom.** Others take tokens in lumps (a request at a time) that a share only
//!   averages, so a request waits for its cost plus what the others are expected to take in
//!   [`OTHERS_HEADROOM_MS`] (`(1 - share) × rate` of it, at most [`OTHERS_HEADROOM_LUMPS`]
//!   requests like it). Once others have been seen, it also
//!   leaves what this client itself used in the last [`OWN_HEADROOM_MS`] (its reservations,
//!   less what their settlements gave back): the more a client
//!   has been getting, the more it leaves, so a client that lost the race for the refill
//!   (whose failed attempts the winner never sees) gets the next lump. Without this term, a
//!   client that takes every token the moment it refills starves the others.
//!
//! The share only ever delays a request (see [`crate::core::limiter::Limiter::stated_wait`]):
//! it never fails one.
//!
//! Also kept here: the reservations of this client's requests that are still in flight. The
//! server may not count them yet (OTPM metered in real time, or a request still on its way),
//! so a copy raised to the server's level keeps them out.
//!
//! No `exp`: decays are hyperbolic (`w / (w + dt)`), which keeps libm out of the Wasm module.

use super::{clamp, Ms};

/// What a client counts on before the first response: a quarter of each configured bucket.
pub const BLIND_SHARE: f64 = 0.25;

/// The share of a bucket learned from headers: the whole refill until shown otherwise.
pub const LEARNED_SHARE: f64 = 1.0;

/// The smallest share: a client is never starved of its own estimate entirely (nor kept
/// waiting much longer than a window for a request that fits).
pub const MIN_SHARE: f64 = 0.1;

/// Additive increase of the share per window of the limit.
pub const INCREASE_PER_WINDOW: f64 = 0.05;

/// Multiplicative decrease on evidence that others took more than was left to them.
pub const DECREASE: f64 = 0.5;

/// At most one decrease in this many ms.
pub const DECREASE_GAP_MS: Ms = 5_000.0;

/// Headroom for the others' lumps: what they are expected to take in this many ms...
pub const OTHERS_HEADROOM_MS: Ms = 20_000.0;

/// ...but at most this many requests like the one waiting (a lump is a request).
pub const OTHERS_HEADROOM_LUMPS: f64 = 2.0;

/// How many windows without a cut of the share count as alone again
/// ([`Share::alone_lately`]).
pub const QUIET_WINDOWS: f64 = 2.0;

/// Headroom left to others once they have been seen: what this client used in this many ms.
pub const OWN_HEADROOM_MS: Ms = 5_000.0;

/// One client's share of one server bucket. Plain numbers, like the bucket it goes with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    /// The fraction of the refill this client counts on, in `[MIN_SHARE, 1]`.
    share: f64,
    /// The share has grown up to this time.
    grown_at_ms: Ms,
    /// The last decrease.
    cut_at_ms: Ms,
    /// A response has been seen since the bucket exists (before: blind).
    seen: bool,
    /// The cost of the first admission while blind (0 before it): a first request larger than
    /// the blind quarter is the whole opening.
    first: f64,
    /// Others have been seen drawing from the bucket.
    shared: bool,
    /// What this client took recently (hyperbolically forgotten over a window), and when.
    own: f64,
    own_at_ms: Ms,
    /// This client's reservations in flight: taken at admission, released when the request
    /// settles, is refunded or ends with its reservation kept
    /// ([`crate::core::limiter::Limiter::lost`]). Exact: forgotten over a window, as it once
    /// was, it lost about a tenth of what stayed in flight every six seconds of steady load
    /// (its releases took off whole amounts), and the figures' floor with it.
    inflight: f64,
}

impl Share {
    fn new(share: f64, seen: bool, shared: bool, now_ms: Ms) -> Self {
        Share {
            share,
            grown_at_ms: now_ms,
            cut_at_ms: Ms::NEG_INFINITY,
            seen,
            first: 0.0,
            shared,
            own: 0.0,
            own_at_ms: now_ms,
            inflight: 0.0,
        }
    }

    /// A client that counts on the whole refill until shown otherwise.
    pub fn alone(now_ms: Ms) -> Self {
        Self::new(1.0, true, false, now_ms)
    }

    /// A configured bucket before any response, when other processes may be starting too:
    /// [`BLIND_SHARE`].
    pub fn blind(now_ms: Ms) -> Self {
        Self::new(BLIND_SHARE, false, false, now_ms)
    }

    /// A bucket learned from headers just now: [`LEARNED_SHARE`] (the whole refill: the
    /// learned level already counts what others took). `others`: the server's level showed
    /// that others drew from it (then this client leaves some of what it takes, module docs).
    pub fn learned(now_ms: Ms, others: bool) -> Self {
        Self::new(LEARNED_SHARE, true, others, now_ms)
    }

    /// The share now (after [`Share::grow`]).
    pub fn share(&self) -> f64 {
        self.share
    }

    /// Still blind: no response seen since the bucket exists.
    pub fn blind_now(&self) -> bool {
        !self.seen
    }

    /// Others have been seen drawing from the bucket.
    pub fn shared(&self) -> bool {
        self.shared
    }

    /// No sign of others lately: none seen ever, or no figure below the copy's prediction
    /// has cut the share for [`QUIET_WINDOWS`] windows.
    pub fn alone_lately(&self, now_ms: Ms, window_ms: Ms) -> bool {
        !self.shared || now_ms - self.cut_at_ms >= QUIET_WINDOWS * window_ms
    }

    /// Additive increase up to `now_ms` (nothing while blind). Returns the share of the
    /// refill to count on: the whole refill while blind (the opening holds back instead).
    pub fn grow(&mut self, now_ms: Ms, window_ms: Ms) -> f64 {
        if self.seen && now_ms > self.grown_at_ms {
            let dt = now_ms - self.grown_at_ms;
            self.share = (self.share + INCREASE_PER_WINDOW * dt / window_ms).min(1.0);
        }
        self.grown_at_ms = self.grown_at_ms.max(now_ms);
        if self.seen {
            self.share
        } else {
            1.0
        }
    }

    /// A response showed the server's level. `overshoot`: below what the copy predicted,
    /// beyond what rounding explains. The first response ends the blind start: the whole
    /// refill when the server agrees, else the blind share kept, others presumed (module
    /// docs). The responses to the same opening may disagree in a row: the next decrease
    /// comes no sooner than [`DECREASE_GAP_MS`] later.
    pub fn observed(&mut self, now_ms: Ms, window_ms: Ms, overshoot: bool) {
        if !self.seen {
            self.seen = true;
            self.grown_at_ms = now_ms;
            if overshoot {
                self.cut_at_ms = now_ms;
            } else {
                self.share = 1.0;
            }
        } else {
            self.grow(now_ms, window_ms);
            if overshoot && now_ms - self.cut_at_ms >= DECREASE_GAP_MS {
                self.share = (self.share * DECREASE).max(MIN_SHARE);
                self.cut_at_ms = now_ms;
            }
        }
        self.shared |= overshoot;
    }

    /// A response that says nothing about this bucket: the server does not report it, so
    /// there is nothing to share it by; the blind start ends with the whole refill.
    pub fn unreported(&mut self, now_ms: Ms) {
        if !self.seen {
            self.seen = true;
            self.share = 1.0;
            self.grown_at_ms = now_ms;
        }
    }

    /// What the level must be to admit a request costing `n` from a bucket of `capacity`
    /// refilled at `rate_per_ms`: `n` plus the headroom (module docs). Never more than the
    /// capacity, so nothing that fits becomes "never"; a client alone (share 1, nobody seen)
    /// needs no headroom.
    pub fn need(&self, now_ms: Ms, n: f64, capacity: f64, rate_per_ms: f64, window_ms: Ms) -> f64 {
        if n <= 0.0 {
            return n;
        }
        let headroom = if self.seen {
            let others = ((1.0 - self.share) * rate_per_ms * OTHERS_HEADROOM_MS)
                .min(OTHERS_HEADROOM_LUMPS * n);
            let own = if self.shared {
                self.own_rate(now_ms, window_ms) * OWN_HEADROOM_MS
            } else {
                0.0
            };
            others + own
        } else {
            // Keep back what the opening may not spend: all but a quarter of the bucket, or
            // all but the first request when that alone was larger.
            capacity - (BLIND_SHARE * capacity).max(self.first)
        };
        (n + headroom).min(capacity.max(n))
    }

    /// This client took `n` (an admission).
    pub fn took(&mut self, now_ms: Ms, n: f64, window_ms: Ms) {
        if !self.seen && self.first == 0.0 {
            self.first = n;
        }
        self.add_own(now_ms, n, window_ms);
        self.inflight += n;
    }

    /// A request of this client settled `delta` from its reservation (negative: it used less):
    /// what it took is what it used.
    pub fn used(&mut self, now_ms: Ms, delta: f64, window_ms: Ms) {
        self.add_own(now_ms, delta, window_ms);
    }

    fn add_own(&mut self, now_ms: Ms, n: f64, window_ms: Ms) {
        self.own = (decay(self.own, now_ms - self.own_at_ms, window_ms) + n).max(0.0);
        self.own_at_ms = self.own_at_ms.max(now_ms);
    }

    /// A reservation of `n` is no longer in flight (settled, refunded, or ended kept).
    pub fn released(&mut self, n: f64) {
        self.inflight = (self.inflight - n).max(0.0);
    }

    /// This client's reservations in flight.
    pub fn inflight(&self) -> f64 {
        self.inflight
    }

    /// This share, with the reservations in flight of `before` (a share started afresh while
    /// requests are out: they still are).
    pub fn keeping_inflight(mut self, before: &Share) -> Self {
        self.inflight = before.inflight;
        self
    }

    /// What this client took per ms, recently (over about a window).
    pub fn own_rate(&self, now_ms: Ms, window_ms: Ms) -> f64 {
        decay(self.own, now_ms - self.own_at_ms, window_ms) / window_ms
    }
}

/// `x` forgotten over `dt` ms with time scale `w`: `x × w / (w + dt)`.
pub(crate) fn decay(x: f64, dt: Ms, w: Ms) -> f64 {
    let dt = clamp(dt, 0.0, Ms::MAX);
    x * w / (w + dt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Ms = 60_000.0;

    #[test]
    fn a_client_alone_takes_the_whole_refill_after_the_first_response() {
        let mut s = Share::blind(0.0);
        // Blind: a quarter of the bucket, whatever the cost.
        assert_eq!(s.need(0.0, 1_000.0, 8_000.0, 8_000.0 / W, W), 7_000.0);
        // A first request larger than the quarter is the whole opening.
        let mut big = s;
        big.took(0.0, 5_000.0, W);
        assert_eq!(big.need(0.0, 100.0, 8_000.0, 8_000.0 / W, W), 3_100.0);
        s.observed(5_000.0, W, false);
        assert_eq!(s.share(), 1.0);
        assert_eq!(s.need(5_000.0, 1_000.0, 8_000.0, 8_000.0 / W, W), 1_000.0);
    }

    #[test]
    fn a_bucket_found_spent_at_the_first_response_keeps_the_blind_share() {
        let mut s = Share::blind(0.0);
        s.took(0.0, 1.0, W);
        s.observed(500.0, W, true);
        // Spent before the opening: by others or an earlier run. Others presumed, not cut.
        assert_eq!(s.share(), BLIND_SHARE);
        assert!(s.shared());
        // The same opening's next answers disagree too: no cut within the gap.
        s.observed(4_000.0, W, true);
        assert!(s.share() >= BLIND_SHARE);
        // A later disagreement is others drawing now: halved.
        s.observed(6_000.0, W, true);
        assert!(s.share() < BLIND_SHARE * 0.51, "{}", s.share());
    }

    #[test]
    fn decrease_is_multiplicative_and_spaced_increase_additive() {
        let mut s = Share::learned(0.0, true);
        s.observed(0.0, W, false);
        assert_eq!(s.share(), LEARNED_SHARE);
        s.observed(1_000.0, W, true);
        let after = s.share();
        assert!((after - DECREASE).abs() < 1e-12, "{after}");
        s.observed(2_000.0, W, true); // within DECREASE_GAP_MS: no second cut
        assert!(s.share() > after);
        assert!((s.grow(62_000.0, W) - (s.share())).abs() < 1e-12);
        assert!(s.share() > after + INCREASE_PER_WINDOW * 0.99);
        for t in 1..100 {
            s.observed(t as f64 * 6_000.0 + 100_000.0, W, true);
        }
        assert_eq!(s.share(), MIN_SHARE);
    }

    #[test]
    fn the_more_a_client_took_the_more_it_leaves_once_others_are_seen() {
        let mut s = Share::blind(0.0);
        s.observed(0.0, W, false);
        s.took(0.0, 4_000.0, W);
        assert_eq!(
            s.need(0.0, 1_000.0, 8_000.0, 8_000.0 / W, W),
            1_000.0,
            "alone"
        );
        s.observed(1.0, W, true);
        assert!(s.shared());
        let need = s.need(1.0, 1_000.0, 8_000.0, 8_000.0 / W, W);
        // Share halved: others' headroom (0.5 × 8000/min × 20 s, at most two requests like
        // this one) plus what we took in 5 s.
        let others = (0.5 * 8_000.0 / W * OTHERS_HEADROOM_MS).min(2_000.0);
        assert!(need > 1_000.0 + others, "{need}");
        assert!(need <= 8_000.0);
    }

    /// The headroom a client leaves others is what it used: a reservation given back at
    /// settlement was never taken from them. (Counted as reserved, a client whose requests
    /// state `max_tokens` 2,048 and use 350 left others six times its use, and two such
    /// processes took 1.29-1.53 times the shortest makespan.)
    #[test]
    fn the_headroom_left_to_others_counts_what_was_used_not_reserved() {
        let mut s = Share::learned(0.0, true);
        s.took(0.0, 6_000.0, W);
        let reserved = s.need(0.0, 1_000.0, 60_000.0, 1.0, W);
        s.used(0.0, -5_000.0, W);
        let used = s.need(0.0, 1_000.0, 60_000.0, 1.0, W);
        // What it took in the last minute, 6,000 then 1,000, over the horizon (5 s).
        assert!(
            (reserved - used - 5_000.0 / W * OWN_HEADROOM_MS).abs() < 1e-6,
            "{reserved} {used}"
        );
        // Usage above the reservation counts too; nothing goes below zero.
        s.used(0.0, 2_000.0, W);
        assert!(s.own_rate(0.0, W) > 2_999.0 / W);
        s.used(0.0, -9_000.0, W);
        assert_eq!(s.own_rate(0.0, W), 0.0);
    }

    #[test]
    fn inflight_reservations_stay_until_released() {
        let mut s = Share::blind(0.0);
        s.took(0.0, 1_024.0, W);
        s.took(0.0, 1_024.0, W);
        s.released(1_024.0);
        assert_eq!(s.inflight(), 1_024.0);
        s.took(10.0 * W, 512.0, W);
        assert_eq!(
            s.inflight(),
            1_536.0,
            "a long request's reservation does not fade"
        );
        s.released(5_000.0);
        assert_eq!(s.inflight(), 0.0, "never negative");
    }
}
