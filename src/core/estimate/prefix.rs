//! Where a request's prompt may be read from the server's prompt cache: the prefixes of an
//! Anthropic request at its content blocks, hashed, with their estimated tokens.
//!
//! Anthropic caches a request's prompt up to each `cache_control` breakpoint (tools, then
//! `system`, then `messages`, in that order), and a later request whose prompt starts the same
//! reads it from the cache: those tokens do not count against ITPM. A breakpoint also looks
//! back for a hit at the block boundaries before it, about twenty blocks. An agent marks its
//! last block each turn, so the next turn's prompt holds the last turn's marked prefix, no
//! longer marked, a few blocks before its own breakpoint.
//!
//! A change to `thinking` or `tool_choice`, or to whether the prompt holds an image anywhere,
//! invalidates the cached messages (not the tools or the system prompt): the settings' values
//! and the presence of images are part of every prefix within `messages`, the settings read
//! for the hash and not counted as input.
//!
//! A top-level `cache_control` (automatic caching) is a breakpoint at the last block of
//! `messages`, for its `ttl` (5 minutes, or an hour with `"1h"`).
//!
//! So the scan notes, at the end of every block (each element of `tools`, `system` and
//! `messages`, and each block of a message's `content`), a hash of the content field up to
//! there and the tokens it was estimated at; keeps the points at a breakpoint and the
//! [`LOOKBACK`] points before each; and, once the body is read, combines each point with the
//! fields before it in the server's order and with the model. The
//! hash is of the JSON values as read, not of their text: a `cache_control` member is left
//! out (moving a breakpoint changes no prefix), and so is JSON whitespace. What the prefixes
//! are worth is decided by [`crate::core::prompt_cache`], from what the server reported.

use xxhash_rust::xxh64::Xxh64;

/// The block boundaries before a breakpoint at which a hit is looked for: the server looks
/// back about 20 blocks; every block here is at least one point, so 20 points reach no
/// further than the server does.
pub const LOOKBACK: usize = 20;
/// A breakpoint's time to live: Anthropic's default (`"ttl": "5m"`).
pub const TTL_MS: f64 = 5.0 * 60_000.0;
/// A breakpoint's time to live with `"ttl": "1h"`.
pub const TTL_LONG_MS: f64 = 60.0 * 60_000.0;

/// A streaming hash of one JSON value's content (a string's decoded bytes as they come).
#[derive(Clone)]
pub(crate) struct Hasher(Xxh64);

impl Default for Hasher {
    fn default() -> Self {
        Hasher(Xxh64::new(0))
    }
}

impl std::fmt::Debug for Hasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hasher")
    }
}

impl Hasher {
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    pub(crate) fn digest(&self) -> u64 {
        self.0.digest()
    }

    pub(crate) fn reset(&mut self) {
        self.0.reset(0);
    }
}

/// `h` followed by a tagged value (a value's own hash, or a count): a multiply and a rotate
/// a step, as FxHash does, which is enough for values that are hashes already.
fn fold(h: u64, tag: u8, value: u64) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let h = (h.rotate_left(5) ^ u64::from(tag)).wrapping_mul(K);
    (h.rotate_left(5) ^ value).wrapping_mul(K)
}

/// A prefix of a request's prompt that the server may have cached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prefix {
    /// A hash of the model and the prompt up to here, in the server's order.
    pub hash: u64,
    /// The input tokens up to here, as the estimate counts them.
    pub tokens: f64,
    /// A breakpoint (`cache_control`) is here: the server caches the prefix for this long, ms.
    pub ttl_ms: Option<f64>,
}

/// The content fields the server caches, in its order; and the settings whose change
/// invalidates the cached messages (`thinking`, `tool_choice`), which are not content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Field {
    Tools = 0,
    System = 1,
    Messages = 2,
    Settings = 3,
}

impl Field {
    pub(crate) fn of(name: &[u8]) -> Option<Field> {
        match name {
            b"tools" => Some(Field::Tools),
            b"system" => Some(Field::System),
            b"messages" => Some(Field::Messages),
            b"thinking" | b"tool_choice" => Some(Field::Settings),
            _ => None,
        }
    }
}

/// A block boundary, before the fields ahead of it are known; `S`: what the field holds up
/// to there, as the rules count it.
#[derive(Debug, Clone, Copy)]
struct Point<S> {
    field: Field,
    hash: u64,
    sum: S,
    ttl_ms: Option<f64>,
}

/// The events of the JSON value's members that count in a prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Open(bool),
    Close,
    Key(u64),
    Scalar(u8, u64),
}

/// The prefixes of one body, as its content fields are read; `S`: the rules' counts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prefixes<S> {
    /// The field being read, and its hash so far.
    field: Option<Field>,
    hash: u64,
    /// Each field's hash and sum once read (the last one, if given twice).
    whole: [Option<(u64, S)>; 3],
    /// The last points that were not breakpoints, at most [`LOOKBACK`].
    recent: Vec<Point<S>>,
    /// The breakpoints and the points before each.
    kept: Vec<Point<S>>,
    /// Automatic caching (a top-level `cache_control`): a breakpoint at the end of
    /// `messages` (its last message, which holds the last block) for this long, ms, whose
    /// last points are these.
    auto: Option<f64>,
    tail: Vec<Point<S>>,
    /// The settings' hash: part of every prefix within `messages`.
    settings: u64,
    model: u64,
}

impl<S: Copy + Default> Prefixes<S> {
    /// A top-level field's value begins.
    pub(crate) fn field(&mut self, field: Option<Field>) {
        self.field = field;
        self.hash = 0;
        // The look-back stays within a field: the fields may come in any order in the body.
        self.recent.clear();
    }

    /// A top-level `cache_control`: the server places a breakpoint at the last block, to live
    /// `ttl_ms` (the longest one given).
    pub(crate) fn auto(&mut self, ttl_ms: f64) {
        self.auto = Some(self.auto.map_or(ttl_ms, |t| t.max(ttl_ms)));
    }

    /// The top-level `model`'s hash.
    pub(crate) fn model(&mut self, hash: u64) {
        self.model = hash;
    }

    /// An event inside the current field.
    pub(crate) fn event(&mut self, e: Event) {
        if self.field.is_none() {
            return;
        }
        let (tag, v) = match e {
            Event::Open(array) => (b'[', u64::from(array)),
            Event::Close => (b']', 0),
            Event::Key(h) => (b'k', h),
            Event::Scalar(kind, h) => (kind, h),
        };
        self.hash = fold(self.hash, tag, v);
    }

    /// A block ends here; `sum` is the field's content so far; `ttl_ms` if it is a breakpoint.
    pub(crate) fn point(&mut self, sum: S, ttl_ms: Option<f64>) {
        let Some(field) = self.field.filter(|&f| f != Field::Settings) else {
            return;
        };
        let p = Point {
            field,
            hash: self.hash,
            sum,
            ttl_ms,
        };
        if ttl_ms.is_some() {
            self.kept.append(&mut self.recent);
            self.kept.push(p);
        } else {
            if self.recent.len() == LOOKBACK {
                self.recent.remove(0);
            }
            self.recent.push(p);
        }
    }

    /// The current field's value ended, its content `sum` in all.
    pub(crate) fn field_end(&mut self, sum: S) {
        if let Some(f) = self.field.take() {
            if f == Field::Settings {
                self.settings = fold(self.settings, b'x', self.hash);
                return;
            }
            self.whole[f as usize] = Some((self.hash, sum));
            if f == Field::Messages {
                self.tail = std::mem::take(&mut self.recent);
            }
        }
    }

    /// The prefixes, each with the fields before it in the server's order; none if the body
    /// has no breakpoint. `price` turns a sum into tokens; `images`: the prompt holds one.
    pub(crate) fn finish(self, price: impl Fn(&S, Field) -> f64, images: bool) -> Vec<Prefix> {
        let Prefixes {
            whole,
            mut kept,
            model,
            auto,
            mut tail,
            settings,
            ..
        } = self;
        if let (Some(last), Some(ttl)) = (tail.last_mut(), auto) {
            last.ttl_ms = last.ttl_ms.or(Some(ttl));
            kept.append(&mut tail);
        }
        kept.into_iter()
            .map(|p| {
                let mut h = fold(0, b'm', model);
                let mut tokens = price(&p.sum, p.field);
                for f in [Field::Tools, Field::System] {
                    if f < p.field {
                        let w = whole[f as usize];
                        h = fold(h, f as u8, w.map_or(0, |(hash, _)| hash));
                        tokens += w.map_or(0.0, |(_, sum)| price(&sum, f));
                    }
                }
                if p.field == Field::Messages {
                    h = fold(h, b'x', settings);
                    if images {
                        h = fold(h, b'i', 1);
                    }
                }
                Prefix {
                    hash: fold(h, p.field as u8, p.hash),
                    tokens,
                    ttl_ms: p.ttl_ms,
                }
            })
            .collect()
    }
}

/// The hash of some bytes (a number's or literal's text).
pub(crate) fn of_bytes(bytes: &[u8]) -> u64 {
    let mut h = Hasher::default();
    h.update(bytes);
    h.digest()
}
