//! The one ordered map type behind every index of the engine and the scheduler.
//!
//! Each distinct `BTreeMap<K, V>` is compiled on its own into the Wasm module, at some 5 KB
//! apiece. The core needs five orderings — the scheduler's queue and its entries by id, the
//! engine's calls by id, its backoff timers and its deadlines — so they all share [`Tree`], a
//! `BTreeMap` keyed by three `u64`s: the queue by `(priority, seq, id)`, the timers and
//! deadlines by `(time, id, 0)`, and the by-id maps ([`IdMap`]) by `(id, 0, 0)`, pointing into
//! a slab. Every operation stays O(log n), and iteration stays in key order (deterministic).

use std::collections::BTreeMap;

/// A key of [`Tree`]: three `u64`s, compared in order.
pub(crate) type Key = (u64, u64, u64);

/// The shared ordered map.
pub(crate) type Tree = BTreeMap<Key, u64>;

/// An ordered set of `(u64, u64)` pairs (the engine's `(time, id)` timers and deadlines).
#[derive(Debug, Clone, Default)]
pub(crate) struct PairSet(Tree);

impl PairSet {
    pub(crate) fn insert(&mut self, (a, b): (u64, u64)) {
        self.0.insert((a, b, 0), 0);
    }
    pub(crate) fn remove(&mut self, &(a, b): &(u64, u64)) {
        self.0.remove(&(a, b, 0));
    }
    pub(crate) fn first(&self) -> Option<(u64, u64)> {
        self.0.first_key_value().map(|(&(a, b, _), _)| (a, b))
    }
    pub(crate) fn pop_first(&mut self) {
        self.0.pop_first();
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

/// A map from `u64` ids to `T`: an index in [`Tree`] to slots of a slab (freed slots are
/// reused, so memory follows the most entries held at once).
#[derive(Debug, Clone)]
pub(crate) struct IdMap<T> {
    index: Tree,
    slots: Vec<Option<T>>,
    free: Vec<usize>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        IdMap {
            index: Tree::new(),
            slots: Vec::new(),
            free: Vec::new(),
        }
    }
}

impl<T> IdMap<T> {
    fn slot(&self, id: u64) -> Option<usize> {
        self.index.get(&(id, 0, 0)).map(|&s| s as usize)
    }
    pub(crate) fn get(&self, id: &u64) -> Option<&T> {
        self.slots.get(self.slot(*id)?)?.as_ref()
    }
    pub(crate) fn get_mut(&mut self, id: &u64) -> Option<&mut T> {
        let slot = self.slot(*id)?;
        self.slots.get_mut(slot)?.as_mut()
    }
    pub(crate) fn contains_key(&self, id: &u64) -> bool {
        self.index.contains_key(&(*id, 0, 0))
    }
    /// Insert or replace.
    pub(crate) fn insert(&mut self, id: u64, value: T) {
        if let Some(v) = self.get_mut(&id) {
            *v = value;
            return;
        }
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(value);
                slot
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        };
        self.index.insert((id, 0, 0), slot as u64);
    }
    pub(crate) fn remove(&mut self, id: &u64) -> Option<T> {
        let slot = self.index.remove(&(*id, 0, 0))? as usize;
        self.free.push(slot);
        self.slots[slot].take()
    }
    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }
    /// The ids, ascending.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &u64> {
        self.index.keys().map(|(id, _, _)| id)
    }
    pub(crate) fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.free.clear();
    }
}

impl<T> std::ops::Index<&u64> for IdMap<T> {
    type Output = T;
    fn index(&self, id: &u64) -> &T {
        self.get(id).expect("no entry found for key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_map_inserts_replaces_removes_and_reuses_slots() {
        let mut m = IdMap::default();
        m.insert(7, "a");
        m.insert(3, "b");
        m.insert(7, "c");
        assert_eq!((m.len(), m.get(&7), m[&3]), (2, Some(&"c"), "b"));
        assert_eq!(m.keys().copied().collect::<Vec<_>>(), [3, 7]);
        assert_eq!(m.remove(&7), Some("c"));
        assert_eq!(m.remove(&7), None);
        assert!(!m.contains_key(&7) && m.contains_key(&3));
        m.insert(9, "d");
        assert_eq!(m.slots.len(), 2, "the freed slot is reused");
        *m.get_mut(&9).unwrap() = "e";
        assert_eq!(m.get(&9), Some(&"e"));
        m.clear();
        assert_eq!((m.len(), m.get(&3)), (0, None));
    }

    #[test]
    fn pair_set_is_ordered() {
        let mut s = PairSet::default();
        for p in [(5, 1), (2, 9), (5, 0), (2, 3)] {
            s.insert(p);
        }
        s.remove(&(2, 3));
        assert_eq!((s.len(), s.first()), (3, Some((2, 9))));
        s.pop_first();
        assert_eq!(s.first(), Some((5, 0)));
    }
}
