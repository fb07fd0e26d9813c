//! What the server holds in its prompt cache, as this process has seen it: the prompt prefixes
//! that responses reported cached, until their time to live ends.
//!
//! Anthropic does not count tokens read from its prompt cache against ITPM. A request whose
//! prompt starts with a prefix the server cached a moment ago (the last turn of the same
//! conversation, the same system prompt and tools) costs only the rest: an agent sending a
//! 100,000-token conversation a turn costs a few thousand input tokens a turn, not 100,000.
//! Reserving the whole prompt would hold such calls back for minutes the server would not.
//!
//! So the engine asks [`PromptCache::cached`] what part of a request's estimate the server
//! will most likely read from its cache: the longest of the request's [`Prefix`]es that a
//! response of this key reported cached (usage with `cache_creation_input_tokens` or
//! `cache_read_input_tokens`) within its time to live, and reserves the rest. When the
//! response comes, [`PromptCache::wrote`] notes the request's breakpoints (and refreshes the
//! prefix it read, as the server does). A prefix reported by no response is never assumed:
//! the first turn of a conversation, or one whose cache expired, reserves its whole prompt,
//! as the server then counts it. A wrong guess (the server evicted the entry early) costs
//! one call's difference, which its usage settles.
//!
//! ```
//! use llm_pacer::core::estimate::Prefix;
//! use llm_pacer::core::prompt_cache::PromptCache;
//!
//! let mut cache = PromptCache::default();
//! let turn = [Prefix { hash: 7, tokens: 50_000.0, ttl_ms: Some(300_000.0) }];
//! assert_eq!(cache.cached(1, &turn, 0.0).0, 0.0); // never reported: not assumed
//! cache.wrote(1, &turn, None, 0.0);
//! assert_eq!(cache.cached(1, &turn, 1_000.0).0, 50_000.0);
//! assert_eq!(cache.cached(2, &turn, 1_000.0).0, 0.0); // another organisation's cache
//! assert_eq!(cache.cached(1, &turn, 301_000.0).0, 0.0); // expired
//! ```

use crate::core::estimate::Prefix;
use crate::core::Ms;

/// The prefixes remembered at most (a few hundred bytes each conversation).
pub const CAPACITY: usize = 4096;
/// A breakpoint below this many estimated tokens is not remembered: the server caches no
/// prompt shorter than 1,024 tokens (2,048 or 4,096 for some models), and reports nothing
/// that says which of a request's breakpoints it cached.
pub const MIN_TOKENS: f64 = 1024.0;
/// How long a prefix read from the cache stays there: the server refreshes it for its time
/// to live, which the reading request does not say; the shorter one is assumed.
pub const READ_TTL_MS: Ms = crate::core::estimate::prefix::TTL_MS;

/// The cached prefixes of every limit key, and when each expires.
#[derive(Debug, Clone, Default)]
pub struct PromptCache {
    /// (key and prefix hash, expiry), sorted by hash.
    entries: Vec<(u64, Ms)>,
}

/// A prefix of one organisation's cache.
fn entry(key: u64, prefix: u64) -> u64 {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&key.to_le_bytes());
    b[8..].copy_from_slice(&prefix.to_le_bytes());
    crate::core::estimate::prefix::of_bytes(&b)
}

impl PromptCache {
    /// The tokens of `prefixes` the server most likely reads from the cache of key `key` at
    /// `now_ms` (0 when none was reported cached), and the hash of that prefix.
    pub fn cached(&self, key: u64, prefixes: &[Prefix], now_ms: Ms) -> (f64, Option<u64>) {
        let mut best = (0.0, None);
        for p in prefixes {
            if p.tokens > best.0 && self.holds(entry(key, p.hash), now_ms) {
                best = (p.tokens, Some(p.hash));
            }
        }
        best
    }

    fn holds(&self, h: u64, now_ms: Ms) -> bool {
        match self.entries.binary_search_by(|e| e.0.cmp(&h)) {
            Ok(i) => self.entries[i].1 > now_ms,
            Err(_) => false,
        }
    }

    /// A response of key `key` reported a cache write or read at `now_ms`: its request's
    /// breakpoints are cached for their time to live, and the prefix it read (`read`, from
    /// [`PromptCache::cached`]) for [`READ_TTL_MS`] more. Whether a prefix not held before
    /// is held now.
    pub fn wrote(&mut self, key: u64, prefixes: &[Prefix], read: Option<u64>, now_ms: Ms) -> bool {
        let mut new = false;
        for p in prefixes {
            if let Some(ttl) = p.ttl_ms.filter(|_| p.tokens >= MIN_TOKENS) {
                new |= self.put(entry(key, p.hash), now_ms + ttl, now_ms);
            }
        }
        if let Some(h) = read {
            new |= self.put(entry(key, h), now_ms + READ_TTL_MS, now_ms);
        }
        new
    }

    /// Hold `h` until `until`: whether it was not held at `now_ms`.
    fn put(&mut self, h: u64, until: Ms, now_ms: Ms) -> bool {
        match self.entries.binary_search_by(|e| e.0.cmp(&h)) {
            Ok(i) => {
                let held = self.entries[i].1 > now_ms;
                self.entries[i].1 = self.entries[i].1.max(until);
                !held
            }
            Err(mut i) => {
                if self.entries.len() >= CAPACITY {
                    // Drop the expired ones, else half of them at random (the higher hashes):
                    // a prefix forgotten is only reserved whole again.
                    self.entries.retain(|e| e.1 > now_ms);
                    self.entries.truncate(CAPACITY / 2);
                    i = self.entries.partition_point(|e| e.0 < h);
                }
                self.entries.insert(i, (h, until));
                true
            }
        }
    }

    /// Prefixes remembered (expired ones included until room is needed).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Nothing remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
