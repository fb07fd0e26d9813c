//! Limit keys: one [`Limiter`] per organisation and model class, and a bound on how many are
//! kept.
//!
//! A provider meters each organisation's use of each model class on buckets of their own, so
//! the engine keeps one limiter state (buckets, learned limits, a 429's pause) per
//! [`LimitKey`]: an opaque `id` the driver chooses (the Wasm driver hashes the origin and a
//! one-way fingerprint of the credential into it; a test or the simulator picks any number)
//! and the model `class` (which names the configured limits that apply, see
//! [`crate::core::models::limits_for`]). Two requests share a state exactly when their keys are
//! equal.
//!
//! Each key has a *slot*, a small number the scheduler and the calls refer to. Slots are
//! counted: [`Keys::retain`] when a call starts using one, [`Keys::release`] when it ends. A
//! key with no live call, idle for [`IDLE_MS`] and whose buckets are full again with no pause
//! in force, holds nothing a fresh state would not (except what it learned from headers, which
//! the next response teaches again): [`Keys::sweep`] drops it and its slot is reused. So
//! memory follows the keys in use in the last [`IDLE_MS`] or so, not every key ever seen.
//!
//! Every operation is O(log k) for k keys (a lookup by id and an ordered set of idle slots).
//!
//! ```
//! use llm_pacer::core::keys::{Keys, LimitKey, IDLE_MS};
//! use llm_pacer::core::limiter::{Limiter, Limits};
//!
//! let mut keys = Keys::default();
//! let fresh = |_: &LimitKey| Limiter::new(Limits { rpm: Some(60.0), ..Limits::default() }, 0.0);
//! let a = keys.slot(&LimitKey::new(1, "sonnet"), 0.0, fresh);
//! let b = keys.slot(&LimitKey::new(1, "haiku"), 0.0, fresh);
//! assert_ne!(a, b);
//! assert_eq!(keys.slot(&LimitKey::new(1, "sonnet"), 0.0, fresh), a);
//! keys.retain(a);
//! keys.release(a, 0.0);
//! keys.sweep(IDLE_MS + 60_000.0);
//! assert_eq!(keys.len(), 0, "idle and full: dropped (b never had a call)");
//! ```

use super::index::{time_key, IdMap, PairSet};
use super::limiter::{DimState, Limiter};
use super::Ms;

/// How long a key with no live call stays at least, ms: past it, a key whose buckets are full
/// and which is not paused is dropped. Ten minutes keeps what a key learned from headers
/// across the pauses of an ordinary program, and bounds the keys held to those used lately.
pub const IDLE_MS: Ms = 600_000.0;

/// The limits a request draws on: an organisation (and origin), as an opaque id the driver
/// chooses, and a model class.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LimitKey {
    /// Opaque: the driver's choice (a hash of the origin and the credential's fingerprint, or
    /// of what the `limitKey` option returned). Never a secret.
    pub id: u64,
    /// The model class ([`crate::core::models::class_of`]); `""` when the request names none.
    pub class: String,
}

impl LimitKey {
    /// A key from its parts.
    pub fn new(id: u64, class: &str) -> Self {
        LimitKey {
            id,
            class: class.into(),
        }
    }

    /// A 64-bit hash of the whole key (FNV-1a over the id and the class), its index.
    fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in self.id.to_le_bytes().iter().chain(self.class.as_bytes()) {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        h
    }
}

/// A key's slot number.
pub type Slot = u32;

/// What is known of one key's limits now.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyLimits {
    /// The key.
    pub key: LimitKey,
    /// Its known dimensions ([`Limiter::snapshot`]).
    pub dims: Vec<DimState>,
}

#[derive(Debug, Clone)]
struct Meta {
    key: LimitKey,
    /// The index entry it is filed under (its hash, probed past collisions).
    index: u64,
    /// Calls using the key now.
    live: u32,
    /// When the key was first seen, for a stable listing order.
    serial: u64,
    /// Its entry in `idle`, while it has no live call.
    idle_at: Option<u64>,
}

/// The limiter state of every key in use, by slot.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// By slot; a freed slot's limiter stays until the slot is reused.
    limiters: Vec<Limiter>,
    /// By slot; `None` for a free slot.
    meta: Vec<Option<Meta>>,
    /// Key hash -> slot.
    index: IdMap<Slot>,
    free: Vec<Slot>,
    /// (when to look at it, slot) for every key with no live call.
    idle: PairSet,
    /// (serial, slot) of every key held: the order they were first seen.
    order: PairSet,
    serial: u64,
    count: usize,
}

impl Keys {
    /// The slot of `key`, made with the limiter `fresh(key)` if the key is new. A new key
    /// has no live call: unless a call [`Keys::retain`]s it, a later sweep drops it.
    pub fn slot(
        &mut self,
        key: &LimitKey,
        now_ms: Ms,
        fresh: impl FnOnce(&LimitKey) -> Limiter,
    ) -> Slot {
        let mut h = key.hash();
        loop {
            match self.index.get(&h) {
                Some(&s)
                    if self.meta[s as usize]
                        .as_ref()
                        .is_some_and(|m| &m.key == key) =>
                {
                    return s
                }
                Some(_) => h = h.wrapping_add(1), // a collision: probe on
                None => break,
            }
        }
        let limiter = fresh(key);
        let meta = Meta {
            key: key.clone(),
            index: h,
            live: 0,
            serial: self.serial,
            idle_at: None,
        };
        self.serial += 1;
        let s = match self.free.pop() {
            Some(s) => {
                self.limiters[s as usize] = limiter;
                self.meta[s as usize] = Some(meta);
                s
            }
            None => {
                self.limiters.push(limiter);
                self.meta.push(Some(meta));
                (self.meta.len() - 1) as Slot
            }
        };
        self.index.insert(h, s);
        self.order.insert((self.serial - 1, u64::from(s)));
        self.count += 1;
        self.mark_idle(s, now_ms + IDLE_MS);
        s
    }

    fn mark_idle(&mut self, s: Slot, at: Ms) {
        if let Some(m) = self.meta[s as usize].as_mut() {
            if let Some(k) = m.idle_at.take() {
                self.idle.remove(&(k, u64::from(s)));
            }
            let k = time_key(at);
            m.idle_at = Some(k);
            self.idle.insert((k, u64::from(s)));
        }
    }

    /// A call starts using slot `s`.
    pub fn retain(&mut self, s: Slot) {
        if let Some(m) = self.meta.get_mut(s as usize).and_then(Option::as_mut) {
            m.live += 1;
            if let Some(k) = m.idle_at.take() {
                self.idle.remove(&(k, u64::from(s)));
            }
        }
    }

    /// A call stops using slot `s` (it ended, whatever the way).
    pub fn release(&mut self, s: Slot, now_ms: Ms) {
        if let Some(m) = self.meta.get_mut(s as usize).and_then(Option::as_mut) {
            m.live = m.live.saturating_sub(1);
            if m.live == 0 {
                self.mark_idle(s, now_ms + IDLE_MS);
            }
        }
    }

    /// Drop the keys idle for [`IDLE_MS`] whose buckets are full and which no pause holds; a
    /// key idle that long but not yet full is looked at again when it is full.
    pub fn sweep(&mut self, now_ms: Ms) {
        let now = time_key(now_ms);
        while let Some((k, s)) = self.idle.first() {
            if k > now {
                break;
            }
            self.idle.pop_first();
            let slot = s as Slot;
            let lim = &self.limiters[slot as usize];
            let full_at = lim
                .snapshot(now_ms)
                .iter()
                .map(|d| d.reset_at_ms)
                .fold(lim.paused_until(now_ms).unwrap_or(now_ms), f64::max);
            if full_at > now_ms {
                if let Some(m) = self.meta[slot as usize].as_mut() {
                    m.idle_at = None;
                }
                self.mark_idle(slot, full_at);
                continue;
            }
            if let Some(m) = self.meta[slot as usize].take() {
                self.index.remove(&m.index);
                self.order.remove(&(m.serial, u64::from(slot)));
                self.free.push(slot);
                self.count -= 1;
            }
        }
    }

    /// The limiter of slot `s`.
    pub fn limiter(&self, s: Slot) -> &Limiter {
        &self.limiters[s as usize]
    }

    /// The limiter of slot `s`, to change it.
    pub fn limiter_mut(&mut self, s: Slot) -> &mut Limiter {
        &mut self.limiters[s as usize]
    }

    /// Every slot's limiter (a freed slot's too), indexed by slot: what the scheduler reads.
    pub fn limiters_mut(&mut self) -> &mut [Limiter] {
        &mut self.limiters
    }

    /// Whether any key in use knows a limit (configured or learned): the adaptive controller
    /// stands aside then ([`super::adaptive`]).
    pub fn any_limits_known(&self) -> bool {
        self.meta
            .iter()
            .zip(&self.limiters)
            .any(|(m, l)| m.is_some() && l.limits_known())
    }

    /// The key of slot `s`, if the slot is in use.
    pub fn key(&self, s: Slot) -> Option<&LimitKey> {
        self.meta.get(s as usize)?.as_ref().map(|m| &m.key)
    }

    /// The slot of `key`, if it is held.
    pub fn find(&self, key: &LimitKey) -> Option<Slot> {
        let mut h = key.hash();
        loop {
            let &s = self.index.get(&h)?;
            if self.meta[s as usize]
                .as_ref()
                .is_some_and(|m| &m.key == key)
            {
                return Some(s);
            }
            h = h.wrapping_add(1);
        }
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no key is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Every key held, in the order they were first seen, with its slot.
    pub fn slots(&self) -> Vec<(Slot, &LimitKey)> {
        self.order
            .all()
            .into_iter()
            .filter_map(|(_, s)| {
                let slot = s as Slot;
                self.key(slot).map(|k| (slot, k))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::limiter::{Cost, Decision, Limits};

    fn rpm(n: f64) -> impl Fn(&LimitKey) -> Limiter {
        move |_| {
            Limiter::new(
                Limits {
                    rpm: Some(n),
                    ..Limits::default()
                },
                0.0,
            )
        }
    }

    #[test]
    fn equal_keys_share_a_slot_and_others_do_not() {
        let mut k = Keys::default();
        let a = k.slot(&LimitKey::new(7, "sonnet"), 0.0, rpm(1.0));
        assert_eq!(k.slot(&LimitKey::new(7, "sonnet"), 0.0, rpm(1.0)), a);
        let b = k.slot(&LimitKey::new(7, "haiku"), 0.0, rpm(1.0));
        let c = k.slot(&LimitKey::new(8, "sonnet"), 0.0, rpm(1.0));
        assert!(a != b && b != c && a != c);
        assert_eq!(k.len(), 3);
        assert_eq!(k.find(&LimitKey::new(8, "sonnet")), Some(c));
        assert_eq!(k.find(&LimitKey::new(9, "sonnet")), None);
        let order: Vec<Slot> = k.slots().iter().map(|e| e.0).collect();
        assert_eq!(order, [a, b, c]);
    }

    #[test]
    fn a_key_in_use_or_not_full_is_kept_and_an_idle_full_one_dropped() {
        let mut k = Keys::default();
        let a = k.slot(&LimitKey::new(1, ""), 0.0, rpm(1.0));
        k.retain(a);
        let Decision::Admit(_) = k.limiter_mut(a).acquire(0.0, Cost::default()) else {
            panic!()
        };
        k.sweep(10.0 * IDLE_MS);
        assert_eq!(k.len(), 1, "a live call holds it");
        let t = 10.0 * IDLE_MS;
        k.release(a, t);
        // One request per minute, taken at 0: full long ago. Dropped once idle long enough.
        k.sweep(t + IDLE_MS - 1.0);
        assert_eq!(k.len(), 1, "not idle long enough");
        k.sweep(t + IDLE_MS);
        assert_eq!(k.len(), 0);
        // A key paused past the idle time is kept until the pause ends.
        let b = k.slot(&LimitKey::new(2, ""), t, rpm(1.0));
        assert_eq!(b, a, "the slot is reused");
        k.limiter_mut(b).pause_until(t + 5.0 * IDLE_MS);
        k.sweep(t + IDLE_MS);
        assert_eq!(k.len(), 1);
        k.sweep(t + 5.0 * IDLE_MS);
        assert_eq!(k.len(), 0);
    }

    #[test]
    fn ten_thousand_keys_do_not_stay() {
        let mut k = Keys::default();
        for i in 0..10_000u64 {
            let s = k.slot(&LimitKey::new(i, "m"), i as f64, rpm(60.0));
            k.retain(s);
            let _ = k.limiter_mut(s).acquire(i as f64, Cost::default());
            k.release(s, i as f64);
        }
        assert_eq!(k.len(), 10_000);
        k.sweep(10_000.0 + IDLE_MS);
        assert_eq!(k.len(), 0);
        // Slots are reused: the next 10 000 keys take no new room.
        let before = k.limiters.len();
        for i in 0..10_000u64 {
            k.slot(&LimitKey::new(i + 1_000_000, "m"), 0.0, rpm(60.0));
        }
        assert_eq!(k.limiters.len(), before);
    }
}
