//! Feed chunks to a [`FirstEvent`] until it answers: the first answer other than
//! [`Peeked::More`], or `More` when the chunks run out. One helper for the tests of the peek
//! (`src/core/peek.rs`, `tests/classify.rs`, the fuzz check `tests/fuzz/checks/hints.rs`),
//! each including this file (`#[path]`) beside its own imports of `FirstEvent` and `Peeked`.

use super::{FirstEvent, Peeked};

/// What a fresh [`FirstEvent`] answers to `chunks`, fed in order.
pub fn first_event(chunks: &[&[u8]]) -> Peeked {
    let mut p = FirstEvent::new();
    for c in chunks {
        match p.feed(c) {
            Peeked::More => {}
            other => return other,
        }
    }
    Peeked::More
}
