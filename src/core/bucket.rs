//! A continuously refilled token bucket: the server's own arithmetic.
//!
//! Capacity `C` per window `W` ms refills at `C / W` tokens per ms, continuously (not reset per
//! fixed minute), up to `C`. The level may go below zero: a settlement that finds the real
//! usage larger than the reservation is a debt the refill pays back, exactly as the server
//! would have counted it, down to `-C` at most (a usage report beyond that is not believed).
//!
//! A server that counts by windows instead (the quota comes back whole at its reset, not bit
//! by bit) is mirrored by a *hold* ([`Bucket::hold`]): until the hold ends, the refill
//! accrues unseen, and it comes at once at the end.

use super::{clamp, Ms};

/// One bucket. Plain numbers only, so its state is easy to store or move.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    capacity: f64,
    window_ms: Ms,
    level: f64,
    at_ms: Ms,
    /// Tokens per ms that others take from the same server bucket (a client's estimate; 0 on
    /// the server itself). The local copy refills at `capacity / window - drain`.
    drain_per_ms: f64,
    /// The last time the level was seen at capacity (at or before `at_ms`).
    full_ms: Ms,
    /// Until then the refill since `at_ms` is held back, and it comes whole at this time
    /// ([`Bucket::hold`]); `-inf` when there is no hold.
    held_until_ms: Ms,
    /// The hold ends a window: the bucket is full at its end, whatever the refill held back.
    held_window: bool,
    /// The least that comes back at the hold's end, above the level then (0: only the refill
    /// held back; [`Bucket::hold_giving`]).
    held_back: f64,
}

/// Two buckets are equal when they hold the same: `full_ms`, the bookkeeping of
/// [`Bucket::full_since`], is not part of what a store keeps ([`Bucket::raw`]).
impl PartialEq for Bucket {
    fn eq(&self, o: &Self) -> bool {
        (
            self.capacity,
            self.window_ms,
            self.level,
            self.at_ms,
            self.drain_per_ms,
            self.held_until_ms,
            self.held_window,
            self.held_back,
        ) == (
            o.capacity,
            o.window_ms,
            o.level,
            o.at_ms,
            o.drain_per_ms,
            o.held_until_ms,
            o.held_window,
            o.held_back,
        )
    }
}

impl Bucket {
    /// A full bucket of `capacity` per `window_ms`, as of `now_ms`. Capacity and window must
    /// be finite and positive (validated by the caller; a non-positive window is taken as 1 ms).
    pub fn new(capacity: f64, window_ms: Ms, now_ms: Ms) -> Self {
        Bucket {
            capacity,
            window_ms: window_ms.max(1.0),
            level: capacity,
            at_ms: now_ms,
            drain_per_ms: 0.0,
            full_ms: now_ms,
            held_until_ms: Ms::NEG_INFINITY,
            held_window: false,
            held_back: 0.0,
        }
    }
    /// A full bucket of `limit` per minute.
    pub fn per_minute(limit: f64, now_ms: Ms) -> Self {
        Self::new(limit, 60_000.0, now_ms)
    }
    /// Capacity.
    pub fn capacity(&self) -> f64 {
        self.capacity
    }
    /// Window, ms.
    pub fn window_ms(&self) -> Ms {
        self.window_ms
    }
    /// Tokens per ms the server refills.
    pub fn rate_per_ms(&self) -> f64 {
        self.capacity / self.window_ms
    }
    /// Tokens per ms this copy refills: the server's rate less the drain by others.
    pub fn net_rate_per_ms(&self) -> f64 {
        (self.rate_per_ms() - self.drain_per_ms).max(0.0)
    }
    /// The estimated drain by other consumers, tokens per ms.
    pub fn drain_per_ms(&self) -> f64 {
        self.drain_per_ms
    }
    /// Set the drain by others (clamped to `[0, max_share * rate]`, `max_share` in `[0, 1)`),
    /// from `now_ms` on. A client sharing the server's bucket with unseen others refills its
    /// copy at the rate that is left to it.
    pub fn set_drain(&mut self, now_ms: Ms, drain_per_ms: f64, max_share: f64) {
        self.advance(now_ms);
        let cap = self.rate_per_ms() * clamp(max_share, 0.0, 0.99);
        self.drain_per_ms = if drain_per_ms.is_finite() {
            clamp(drain_per_ms, 0.0, cap)
        } else {
            0.0
        };
    }
    /// The level at `now_ms` (refilled, capped at capacity; may be negative). Times earlier
    /// than the last update are treated as the last update (time never runs backwards here).
    /// While a hold is on, the level is as last set.
    pub fn level(&self, now_ms: Ms) -> f64 {
        if self.level >= self.capacity {
            return self.capacity;
        }
        if now_ms < self.held_until_ms {
            return self.level;
        }
        if self.held_window && self.held_until_ms > self.at_ms {
            return self.capacity;
        }
        let dt = (now_ms - self.at_ms).max(0.0);
        let level = (self.level + dt * self.net_rate_per_ms()).min(self.capacity);
        if self.held_until_ms > self.at_ms {
            // A hold ended since the level was set: at least what it gives back.
            return level.max((self.level + self.held_back).min(self.capacity));
        }
        level
    }
    /// Bring the level up to `now_ms`; during a hold the refill keeps accruing from `at_ms`.
    fn advance(&mut self, now_ms: Ms) {
        if now_ms > self.at_ms && now_ms >= self.held_until_ms {
            self.level = self.level(now_ms);
            self.at_ms = now_ms;
        }
        self.note_full();
    }
    /// A level at capacity once refilled stays there until the next change: note when.
    fn note_full(&mut self) {
        if self.level >= self.capacity {
            self.full_ms = self.at_ms;
        }
    }
    /// Has the level been at capacity at some time after `since_ms` (up to `now_ms`)? A
    /// reservation made at `since_ms` has then been absorbed by the cap: the refill it held
    /// back was lost at the capacity anyway, on the server as here, so giving it back now
    /// would lift the level above what the server holds.
    pub fn full_since(&self, since_ms: Ms, now_ms: Ms) -> bool {
        self.full_ms > since_ms || (now_ms > since_ms && self.level(now_ms) >= self.capacity)
    }
    /// Take `n` tokens now. The level may go negative (a debt), but never below `-capacity`:
    /// one absurd usage report must not park every later request for days. A debt of one
    /// capacity is paid back in one window.
    pub fn take(&mut self, now_ms: Ms, n: f64) {
        self.advance(now_ms);
        self.level = (self.level - n).max(-self.capacity);
    }
    /// Give back `n` tokens now (capped at capacity).
    pub fn give(&mut self, now_ms: Ms, n: f64) {
        self.advance(now_ms);
        self.level = (self.level + n).min(self.capacity);
        self.note_full();
    }
    /// Milliseconds from `now_ms` until the level is at least `n`: `Some(0.0)` if it is now,
    /// `None` if never (`n > capacity`).
    pub fn time_until(&self, now_ms: Ms, n: f64) -> Option<Ms> {
        if n > self.capacity {
            return None;
        }
        if self.level(now_ms) >= n {
            return Some(0.0);
        }
        let (from, level) = self.next_refill(now_ms);
        let refill = if level >= n {
            0.0
        } else {
            (n - level) / self.net_rate_per_ms()
        };
        Some(from - now_ms + refill)
    }
    /// Milliseconds from `now_ms` until the server's bucket holds `n` by its own arithmetic:
    /// this copy's level with `back` given back (reservations that may yet settle lower),
    /// refilled from then at the server's full rate (no drain of others), and nothing before
    /// a hold in force ends: then the refill it held back comes at once, or the whole window.
    /// 0 when the level holds `n` now.
    pub fn stated_wait(&self, now_ms: Ms, n: f64, back: f64) -> Ms {
        let back = if back > 0.0 { back } else { 0.0 };
        let rate = self.rate_per_ms();
        let level = (self.level(now_ms) + back).min(self.capacity);
        if level >= n {
            return 0.0;
        }
        if now_ms >= self.held_until_ms {
            return (n - level) / rate;
        }
        let at_end = if self.held_window {
            self.capacity
        } else {
            let held = (self.held_until_ms - self.at_ms).max(0.0) * rate;
            (self.level + held.max(self.held_back) + back).min(self.capacity)
        };
        self.held_until_ms - now_ms + (n - at_end).max(0.0) / rate
    }
    /// When the bucket is full again (epoch ms).
    pub fn full_at(&self, now_ms: Ms) -> Ms {
        let (from, level) = self.next_refill(now_ms.max(self.at_ms));
        from + (self.capacity - level).max(0.0) / self.net_rate_per_ms()
    }
    /// From when, at the earliest `now_ms`, the level refills continuously, and the level
    /// then: the end of a hold in force, with what it held back.
    fn next_refill(&self, now_ms: Ms) -> (Ms, f64) {
        let from = now_ms.max(self.held_until_ms);
        (from, self.level(from))
    }
    /// Set the level now (clamped to at most capacity): the refill counts from now on.
    pub fn set_level(&mut self, now_ms: Ms, level: f64) {
        self.advance(now_ms);
        self.level = level.min(self.capacity);
        self.at_ms = self.at_ms.max(now_ms);
        self.note_full();
    }
    /// Hold the refill back until `until_ms`: a server that counts by windows gives nothing
    /// back before the reset it states. At the end, all the refill held back since the level
    /// was last set comes at once, or (`window`: the end of a window, known as one) the
    /// bucket is full. Replaces a hold in force; a time not after `now_ms` (or not finite)
    /// ends it.
    pub fn hold(&mut self, now_ms: Ms, until_ms: Ms, window: bool) {
        self.advance(now_ms);
        let on = until_ms.is_finite() && until_ms > now_ms;
        self.held_until_ms = if on { until_ms } else { Ms::NEG_INFINITY };
        self.held_window = on && window;
        self.held_back = 0.0;
    }
    /// [`Bucket::hold`] (not a window's end), at least `back` coming back at its end above the
    /// level then, whatever the refill held back: one request, the oldest of a sliding log
    /// expiring. (Relative: a copy below zero by requests of its own in flight gets one back,
    /// not up to one.)
    pub fn hold_giving(&mut self, now_ms: Ms, until_ms: Ms, back: f64) {
        self.hold(now_ms, until_ms, false);
        if self.held_until_ms.is_finite() && back > 0.0 {
            self.held_back = back;
        }
    }
    /// The stored level and the time of it (not refilled to any later time): with the
    /// capacity and window, all of a bucket a store keeps ([`Bucket::from_raw`]).
    pub fn raw(&self) -> (f64, Ms) {
        (self.level, self.at_ms)
    }
    /// A bucket from what [`Bucket::raw`] gave (no drain: a store's bucket is the fleet's).
    /// The level is clamped to `[-capacity, capacity]`, as `take` and `give` keep it.
    pub fn from_raw(capacity: f64, window_ms: Ms, level: f64, at_ms: Ms) -> Self {
        let level = clamp(level, -capacity, capacity);
        Bucket {
            level,
            at_ms,
            full_ms: if level >= capacity {
                at_ms
            } else {
                f64::NEG_INFINITY
            },
            ..Bucket::new(capacity, window_ms, at_ms)
        }
    }
    /// Change capacity and window now, keeping the level (clamped to `[-capacity, capacity]`
    /// of the new capacity, as `take` and `give` keep it: a debt is never deeper than one
    /// capacity).
    pub fn set_capacity(&mut self, now_ms: Ms, capacity: f64, window_ms: Ms) {
        self.advance(now_ms);
        let share = if self.rate_per_ms() > 0.0 {
            self.drain_per_ms / self.rate_per_ms()
        } else {
            0.0
        };
        self.capacity = capacity;
        self.window_ms = window_ms.max(1.0);
        self.level = clamp(self.level, -capacity, capacity);
        self.drain_per_ms = share * self.rate_per_ms();
        self.note_full();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refills_continuously_not_per_fixed_minute() {
        let mut b = Bucket::per_minute(600.0, 0.0); // 10 per second
        b.take(0.0, 600.0);
        assert_eq!(b.level(0.0), 0.0);
        assert!((b.level(1_000.0) - 10.0).abs() < 1e-9);
        assert!((b.level(30_000.0) - 300.0).abs() < 1e-9);
        assert_eq!(b.level(120_000.0), 600.0, "capped at capacity");
    }

    #[test]
    fn debt_is_bounded_by_one_capacity() {
        // 1e9 tokens reported against 8 000 a minute: at most two minutes to full, not 86 days.
        let mut b = Bucket::new(8_000.0, 60_000.0, 0.0);
        b.take(0.0, 1.0e9);
        assert_eq!(b.level(0.0), -8_000.0);
        assert_eq!(b.time_until(0.0, 8_000.0), Some(120_000.0));
    }

    #[test]
    fn debt_is_paid_back_by_the_refill() {
        let mut b = Bucket::per_minute(60.0, 0.0);
        b.take(0.0, 90.0);
        assert_eq!(b.level(0.0), -30.0);
        assert_eq!(b.time_until(0.0, 1.0), Some(31_000.0));
    }

    #[test]
    fn never_when_the_cost_exceeds_the_capacity() {
        let b = Bucket::per_minute(100.0, 0.0);
        assert_eq!(b.time_until(0.0, 100.0), Some(0.0));
        assert_eq!(b.time_until(0.0, 100.5), None);
    }

    #[test]
    fn time_does_not_run_backwards() {
        let mut b = Bucket::per_minute(60.0, 10_000.0);
        b.take(10_000.0, 60.0);
        assert_eq!(b.level(5_000.0), 0.0);
        b.give(5_000.0, 1.0);
        assert_eq!(b.level(10_000.0), 1.0);
        assert_eq!(b.full_at(10_000.0), 69_000.0);
    }

    #[test]
    fn give_is_capped_and_capacity_changes_keep_the_level() {
        let mut b = Bucket::per_minute(60.0, 0.0);
        b.give(0.0, 10.0);
        assert_eq!(b.level(0.0), 60.0);
        b.set_capacity(0.0, 30.0, 60_000.0);
        assert_eq!(b.level(0.0), 30.0);
        b.set_level(0.0, 12.0);
        assert_eq!(b.level(0.0), 12.0);
        assert_eq!(b.rate_per_ms(), 0.0005);
    }

    #[test]
    fn a_drain_by_others_slows_the_local_refill() {
        let mut b = Bucket::per_minute(600.0, 0.0); // 10 per second
        b.take(0.0, 600.0);
        b.set_drain(0.0, 0.0075, 0.9); // others take 7.5 per second
        assert!((b.level(1_000.0) - 2.5).abs() < 1e-9);
        assert!((b.time_until(0.0, 5.0).unwrap() - 2_000.0).abs() < 1e-6);
        b.set_drain(0.0, 1.0, 0.9); // clamped to 90% of the rate
        assert!((b.drain_per_ms() - 0.009).abs() < 1e-12);
        assert!((b.net_rate_per_ms() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn a_hold_keeps_the_refill_back_and_gives_all_of_it_at_its_end() {
        let mut b = Bucket::per_minute(60.0, 0.0); // 1 per second
        b.take(0.0, 60.0);
        b.hold(0.0, 30_000.0, false);
        assert_eq!(b.level(29_999.0), 0.0);
        // Taken during the hold: the refill since the level was set still comes at its end.
        b.take(10_000.0, 5.0);
        assert_eq!(b.level(20_000.0), -5.0);
        assert_eq!(b.level(30_000.0), 25.0);
        assert_eq!(b.time_until(10_000.0, 1.0), Some(20_000.0));
        assert_eq!(b.time_until(10_000.0, 35.0), Some(30_000.0));
        assert_eq!(b.full_at(10_000.0), 65_000.0);
        // A level set during the hold counts its refill from then.
        b.set_level(20_000.0, 0.0);
        assert_eq!(b.level(30_000.0), 10.0);
        // Over, the refill is continuous again; a hold not in the future ends one in force.
        assert_eq!(b.level(31_000.0), 11.0);
        b.hold(31_000.0, 40_000.0, false);
        b.hold(32_000.0, 32_000.0, true);
        assert_eq!(b.level(33_000.0), 13.0);
        b.hold(33_000.0, f64::NAN, true);
        assert_eq!(b.level(34_000.0), 14.0);
    }

    #[test]
    fn a_hold_giving_one_back_ends_one_above_its_level_at_least() {
        // A day's bucket of 100 (one back every 864 s), spent, held 20 s: one back at the
        // end, where the refill held back is a fortieth of one.
        let mut b = Bucket::new(100.0, 86_400_000.0, 0.0);
        b.take(0.0, 100.0);
        b.hold_giving(0.0, 20_000.0, 1.0);
        assert_eq!(b.level(19_999.0), 0.0);
        assert_eq!(b.level(20_000.0), 1.0);
        assert_eq!(b.time_until(0.0, 1.0), Some(20_000.0));
        assert_eq!(b.stated_wait(0.0, 1.0, 0.0), 20_000.0);
        // Taken at the end, it is spent: the refill is continuous again.
        b.take(20_000.0, 1.0);
        assert!(b.level(21_000.0) < 0.1);
        // One above the level, not up to one: a copy two below (requests of its own in flight)
        // is one below at the end.
        let mut b = Bucket::new(100.0, 86_400_000.0, 0.0);
        b.take(0.0, 102.0);
        b.hold_giving(0.0, 20_000.0, 1.0);
        assert!(
            (b.level(20_000.0) + 1.0).abs() < 0.1,
            "{}",
            b.level(20_000.0)
        );
        // Less than the refill held back changes nothing.
        let mut b = Bucket::per_minute(60.0, 0.0);
        b.take(0.0, 60.0);
        b.hold_giving(0.0, 30_000.0, 1.0);
        assert_eq!(b.level(30_000.0), 30.0);
    }

    #[test]
    fn a_hold_to_the_end_of_a_window_ends_full() {
        let mut b = Bucket::per_minute(60.0, 0.0);
        b.take(0.0, 50.0);
        b.hold(0.0, 20_000.0, true);
        b.take(5_000.0, 10.0);
        assert_eq!(b.level(19_999.0), 0.0);
        assert_eq!(b.time_until(5_000.0, 60.0), Some(15_000.0));
        assert_eq!(b.full_at(5_000.0), 20_000.0);
        assert_eq!(b.level(20_000.0), 60.0);
        b.take(21_000.0, 30.0);
        assert_eq!(b.level(22_000.0), 31.0);
    }
}
