//! A continuously refilled token bucket: the server's own arithmetic.
//!
//! Capacity `C` per window `W` ms refills at `C / W` tokens per ms, continuously (not reset per
//! fixed minute), up to `C`. The level may go below zero: a settlement that finds the real
//! usage larger than the reservation is a debt the refill pays back, exactly as the server
//! would have counted it.

use super::Ms;

/// One bucket. Plain numbers only, so its state is easy to store or move.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    capacity: f64,
    window_ms: Ms,
    level: f64,
    at_ms: Ms,
}

impl Bucket {
    /// A full bucket of `capacity` per `window_ms`, as of `now_ms`.
    pub fn new(capacity: f64, window_ms: Ms, now_ms: Ms) -> Self {
        let _ = (capacity, window_ms, now_ms);
        todo!("Bucket::new")
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
    /// Tokens per ms.
    pub fn rate_per_ms(&self) -> f64 {
        self.capacity / self.window_ms
    }
    /// The level at `now_ms` (refilled, capped at capacity; may be negative). Times earlier
    /// than the last update are treated as the last update (time never runs backwards here).
    pub fn level(&self, now_ms: Ms) -> f64 {
        let _ = now_ms;
        todo!("Bucket::level")
    }
    /// Take `n` tokens now (the level may go negative).
    pub fn take(&mut self, now_ms: Ms, n: f64) {
        let _ = (now_ms, n);
        todo!("Bucket::take")
    }
    /// Give back `n` tokens now (capped at capacity).
    pub fn give(&mut self, now_ms: Ms, n: f64) {
        let _ = (now_ms, n);
        todo!("Bucket::give")
    }
    /// Milliseconds from `now_ms` until the level is at least `n`: `Some(0.0)` if it is now,
    /// `None` if never (`n > capacity`).
    pub fn time_until(&self, now_ms: Ms, n: f64) -> Option<Ms> {
        let _ = (now_ms, n);
        todo!("Bucket::time_until")
    }
    /// When the bucket is full again (epoch ms).
    pub fn full_at(&self, now_ms: Ms) -> Ms {
        let _ = now_ms;
        todo!("Bucket::full_at")
    }
    /// Set the level now (clamped to at most capacity).
    pub fn set_level(&mut self, now_ms: Ms, level: f64) {
        let _ = (now_ms, level);
        todo!("Bucket::set_level")
    }
    /// Change capacity and window now, keeping the level (clamped to the new capacity).
    pub fn set_capacity(&mut self, now_ms: Ms, capacity: f64, window_ms: Ms) {
        let _ = (now_ms, capacity, window_ms);
        todo!("Bucket::set_capacity")
    }
}
