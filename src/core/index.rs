//! The one ordered map behind every index of the engine and the scheduler.
//!
//! The core needs five orderings — the scheduler's queue and its entries by id, the engine's
//! calls by id, its backoff timers and its deadlines. As five `BTreeMap`/`BTreeSet` types they
//! cost some 28 KB of Wasm (each instantiation is compiled on its own), and even one
//! `BTreeMap` costs 10 KB (5.5 KB gzipped): more than a quarter of everything else in the
//! core. So they all share [`Tree`], one small ordered map keyed by three `u64`s — the queue
//! by `(priority, seq, id)`, the timers and deadlines by `(time, id, 0)`, the by-id maps
//! ([`IdMap`]) by `(id, 0, 0)`, pointing into a slab.
//!
//! [`Tree`] is a treap in an arena: a binary search tree by key that is a heap by a random
//! priority per node, which keeps its expected depth O(log n) whatever the order of the keys.
//! The priorities come from a fixed-seed generator, so the shape, like everything here, is
//! deterministic. Every operation is O(log n) expected; iteration is in key order.

use std::cmp::Ordering;

/// A time as an ordered key for the timer, deadline and blocked-key indexes: for finite
/// non-negative floats the bit pattern orders like the value. Negative times clamp to 0, NaN
/// and +inf to the end.
pub(crate) fn time_key(t: super::Ms) -> u64 {
    if t.is_nan() {
        u64::MAX
    } else if t <= 0.0 {
        0
    } else {
        t.to_bits()
    }
}

/// The time of a [`time_key`].
pub(crate) fn time_of(k: u64) -> super::Ms {
    f64::from_bits(k)
}

/// A key of [`Tree`]: three `u64`s, compared in order.
pub(crate) type Key = (u64, u64, u64);

/// No node.
const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node {
    key: Key,
    value: u64,
    /// Heap order: a parent's priority is at least its children's.
    priority: u32,
    left: u32,
    right: u32,
}

/// An ordered map from [`Key`] to `u64`, a treap in an arena (see the [module docs](self)).
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    /// Arena slots free for reuse.
    free: Vec<u32>,
    root: u32,
    len: usize,
    /// The priority generator's state (xorshift32).
    seed: u32,
}

impl Default for Tree {
    fn default() -> Self {
        Tree {
            nodes: Vec::new(),
            free: Vec::new(),
            root: NIL,
            len: 0,
            seed: 0x9E37_79B9,
        }
    }
}

impl Tree {
    pub(crate) fn new() -> Self {
        Self::default()
    }
    pub(crate) fn len(&self) -> usize {
        self.len
    }
    fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }
    fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }
    /// The node holding `key`, or `NIL`.
    fn find(&self, key: &Key) -> u32 {
        let mut t = self.root;
        while t != NIL {
            let n = self.node(t);
            t = match key.cmp(&n.key) {
                Ordering::Less => n.left,
                Ordering::Greater => n.right,
                Ordering::Equal => return t,
            };
        }
        NIL
    }
    pub(crate) fn get(&self, key: &Key) -> Option<u64> {
        let t = self.find(key);
        (t != NIL).then(|| self.node(t).value)
    }
    pub(crate) fn contains_key(&self, key: &Key) -> bool {
        self.find(key) != NIL
    }
    /// Split the subtree `t` into the keys below `key` and the rest.
    fn split(&mut self, t: u32, key: &Key) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        let n = *self.node(t);
        if n.key < *key {
            let (l, r) = self.split(n.right, key);
            self.node_mut(t).right = l;
            (t, r)
        } else {
            let (l, r) = self.split(n.left, key);
            self.node_mut(t).left = r;
            (l, t)
        }
    }
    /// Join two subtrees, every key of `a` below every key of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL || b == NIL {
            return if a == NIL { b } else { a };
        }
        if self.node(a).priority > self.node(b).priority {
            let r = self.merge(self.node(a).right, b);
            self.node_mut(a).right = r;
            a
        } else {
            let l = self.merge(a, self.node(b).left);
            self.node_mut(b).left = l;
            b
        }
    }
    /// Insert, or replace the value of an existing key.
    pub(crate) fn insert(&mut self, key: Key, value: u64) {
        let t = self.find(&key);
        if t != NIL {
            self.node_mut(t).value = value;
            return;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 17;
        self.seed ^= self.seed << 5;
        let node = Node {
            key,
            value,
            priority: self.seed,
            left: NIL,
            right: NIL,
        };
        let n = match self.free.pop() {
            Some(i) => {
                *self.node_mut(i) = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        let (l, r) = self.split(self.root, &key);
        let l = self.merge(l, n);
        self.root = self.merge(l, r);
        self.len += 1;
    }
    pub(crate) fn remove(&mut self, key: &Key) -> Option<u64> {
        // Walk down, remembering the link that points at the current node.
        let (mut parent, mut left) = (NIL, false);
        let mut t = self.root;
        while t != NIL {
            let n = *self.node(t);
            match key.cmp(&n.key) {
                Ordering::Less => (parent, left, t) = (t, true, n.left),
                Ordering::Greater => (parent, left, t) = (t, false, n.right),
                Ordering::Equal => {
                    let m = self.merge(n.left, n.right);
                    if parent == NIL {
                        self.root = m;
                    } else if left {
                        self.node_mut(parent).left = m;
                    } else {
                        self.node_mut(parent).right = m;
                    }
                    self.free.push(t);
                    self.len -= 1;
                    return Some(n.value);
                }
            }
        }
        None
    }
    /// The least key and its value.
    pub(crate) fn first(&self) -> Option<(Key, u64)> {
        let mut t = self.root;
        if t == NIL {
            return None;
        }
        while self.node(t).left != NIL {
            t = self.node(t).left;
        }
        let n = self.node(t);
        Some((n.key, n.value))
    }
    /// Up to `limit` keys, ascending: all of them, or only those above `after`.
    pub(crate) fn keys(&self, after: Option<&Key>, limit: usize) -> Vec<Key> {
        let mut out = Vec::new();
        let mut stack = Vec::new();
        // The path to the first key wanted: the nodes above `after` wait on the stack.
        let mut t = self.root;
        while t != NIL {
            let n = self.node(t);
            if after.is_some_and(|a| n.key <= *a) {
                t = n.right;
            } else {
                stack.push(t);
                t = n.left;
            }
        }
        while out.len() < limit {
            let Some(t) = stack.pop() else {
                break;
            };
            out.push(self.node(t).key);
            let mut c = self.node(t).right;
            while c != NIL {
                stack.push(c);
                c = self.node(c).left;
            }
        }
        out
    }
    pub(crate) fn clear(&mut self) {
        *self = Tree {
            seed: self.seed,
            ..Tree::default()
        };
    }
}

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
        self.0.first().map(|((a, b, _), _)| (a, b))
    }
    pub(crate) fn pop_first(&mut self) {
        if let Some((key, _)) = self.0.first() {
            self.0.remove(&key);
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    /// Every pair, in order.
    pub(crate) fn all(&self) -> Vec<(u64, u64)> {
        self.0
            .keys(None, usize::MAX)
            .into_iter()
            .map(|(a, b, _)| (a, b))
            .collect()
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
        self.index.get(&(id, 0, 0)).map(|s| s as usize)
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
    /// The values, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().flatten()
    }
    /// The ids, ascending.
    pub(crate) fn ids(&self) -> Vec<u64> {
        let keys = self.index.keys(None, usize::MAX);
        keys.into_iter().map(|(id, _, _)| id).collect()
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
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn id_map_inserts_replaces_removes_and_reuses_slots() {
        let mut m = IdMap::default();
        m.insert(7, "a");
        m.insert(3, "b");
        m.insert(7, "c");
        assert_eq!((m.len(), m.get(&7), m[&3]), (2, Some(&"c"), "b"));
        assert_eq!(m.ids(), [3, 7]);
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

    /// An operation on a [`Tree`] and on a `BTreeMap`, the oracle.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(Key, u64),
        Remove(Key),
        PopFirst,
        Clear,
    }

    fn small_key() -> impl Strategy<Value = Key> {
        // Few distinct values per component, so that keys collide and share prefixes.
        (0u64..4, 0u64..8, 0u64..40)
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (small_key(), any::<u64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            5 => small_key().prop_map(Op::Remove),
            2 => Just(Op::PopFirst),
            1 => Just(Op::Clear),
        ]
    }

    /// Heap order by priority and search order by key, everywhere; returns the depth.
    fn check_shape(t: &Tree, n: u32, lo: Option<Key>, hi: Option<Key>) -> usize {
        if n == NIL {
            return 0;
        }
        let node = t.node(n);
        assert!(lo.is_none_or(|lo| node.key > lo) && hi.is_none_or(|hi| node.key < hi));
        for c in [node.left, node.right] {
            assert!(c == NIL || t.node(c).priority <= node.priority);
        }
        let l = check_shape(t, node.left, lo, Some(node.key));
        let r = check_shape(t, node.right, Some(node.key), hi);
        1 + l.max(r)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Every answer is the `BTreeMap`'s, after every operation.
        #[test]
        fn tree_behaves_as_a_btree_map(ops in proptest::collection::vec(op(), 0..300), probe in small_key()) {
            let mut t = Tree::new();
            let mut oracle: BTreeMap<Key, u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        t.insert(k, v);
                        oracle.insert(k, v);
                    }
                    Op::Remove(k) => prop_assert_eq!(t.remove(&k), oracle.remove(&k)),
                    Op::PopFirst => {
                        let first = t.first();
                        prop_assert_eq!(first, oracle.first_key_value().map(|(k, v)| (*k, *v)));
                        if let Some((k, _)) = first {
                            t.remove(&k);
                            oracle.remove(&k);
                        }
                    }
                    Op::Clear => {
                        t.clear();
                        oracle.clear();
                    }
                }
                prop_assert_eq!(t.len(), oracle.len());
                prop_assert_eq!(t.get(&probe), oracle.get(&probe).copied());
                prop_assert_eq!(t.contains_key(&probe), oracle.contains_key(&probe));
                check_shape(&t, t.root, None, None);
            }
            let all: Vec<Key> = oracle.keys().copied().collect();
            prop_assert_eq!(t.keys(None, usize::MAX), all.clone());
            let after: Vec<Key> = oracle.keys().copied().filter(|k| *k > probe).take(5).collect();
            prop_assert_eq!(t.keys(Some(&probe), 5), after);
            prop_assert_eq!(t.nodes.len() - t.free.len(), t.len(), "every freed slot is listed");
        }
    }

    #[test]
    fn a_hundred_thousand_sorted_inserts_keep_the_tree_shallow() {
        let mut t = Tree::new();
        for i in 0..100_000 {
            t.insert((i, 0, 0), i);
        }
        let depth = check_shape(&t, t.root, None, None);
        assert!(depth < 60, "depth {depth}");
        for i in (0..100_000).step_by(2) {
            assert_eq!(t.remove(&(i, 0, 0)), Some(i));
        }
        assert_eq!(t.first(), Some(((1, 0, 0), 1)));
        assert!(check_shape(&t, t.root, None, None) < 60);
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
