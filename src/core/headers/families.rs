//! The header families beyond Anthropic, OpenAI and the IETF draft (see the
//! [parent module](super) for what each provider sends): Groq's marker, Mistral's windowed
//! names (and Cerebras's, which spell `req` as `requests`; a `-month` is a quota, not paced)
//! and `ratelimitbysize-*`, the
//! unprefixed `x-ratelimit-{limit,remaining,reset}` (OpenRouter and others) and Together's
//! `x-tokenlimit-*`.

use super::{
    dim_info, parse_limit, parse_number, parse_remaining, reset_after, valid_wait, window_of,
    DimInfo, Family, Field, Key, RawDim, MINUTE_MS,
};
use crate::core::Ms;

/// Mistral's windows, shortest first: second, minute, hour, day.
const WINDOWS: [Ms; 4] = [1_000.0, MINUTE_MS, 3_600_000.0, 86_400_000.0];

/// The index of Mistral's `-month` names, after [`WINDOWS`]: a quota, never a window paced.
const MONTH: usize = 4;

/// A reset number at least this large is epoch milliseconds (OpenRouter).
pub(super) const EPOCH_MS_FROM: f64 = 1.0e12;
/// At least this large (and below [`EPOCH_MS_FROM`]), epoch seconds.
const EPOCH_S_FROM: f64 = 1.0e9;

/// `limit`, `remaining` or `reset`.
pub(super) fn field(f: &[u8]) -> Option<Field> {
    match f {
        b"limit" => Some(Field::Limit),
        b"remaining" => Some(Field::Remaining),
        b"reset" => Some(Field::Reset),
        _ => None,
    }
}

/// What a lowercased header name means in these families (and the IETF drafts' up to 06),
/// if anything.
pub(super) fn key_of(l: &[u8]) -> Option<Key> {
    if let Some(rest) = l.strip_prefix(b"ratelimit-") {
        return field(rest).map(Key::Older);
    }
    if let Some(rest) = l.strip_prefix(b"x-tokenlimit-") {
        return field(rest).map(Key::TokenLimit);
    }
    if let Some(rest) = l.strip_prefix(b"ratelimitbysize-") {
        return field(rest).map(|f| Key::Mistral(1, f, 1));
    }
    let rest = l.strip_prefix(b"x-ratelimit-")?;
    if let Some(f) = field(rest) {
        return Some(Key::Plain(f));
    }
    // `limit-tokens-minute`: field, dimension, window.
    let dash = rest.iter().position(|&b| b == b'-')?;
    let f = field(&rest[..dash])?;
    let rest = &rest[dash + 1..];
    // Cerebras spells Mistral's `req` out: `x-ratelimit-limit-requests-day`.
    let (dim, window) = if let Some(w) = rest
        .strip_prefix(b"req-")
        .or_else(|| rest.strip_prefix(b"requests-"))
    {
        (0, w)
    } else {
        (1, rest.strip_prefix(b"tokens-")?)
    };
    let window = match window {
        b"second" => 0,
        b"minute" => 1,
        b"hour" => 2,
        b"day" => 3,
        b"month" => MONTH,
        _ => return None,
    };
    Some(Key::Mistral(dim, f, window))
}

/// These families' fields as read, before the `Date` header is known.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Raw {
    /// `x-groq-region` was present.
    pub(super) groq: bool,
    /// Mistral: [requests, tokens] x [second, minute, hour, day, month]; resets in ms from
    /// now.
    mistral: [[RawDim; 5]; 2],
    /// Unprefixed `x-ratelimit-*`; the reset as the number sent (seconds or an epoch).
    plain: RawDim,
    /// Together's `x-tokenlimit-*`; the reset in ms from now.
    tokens: RawDim,
    /// Any `x-tokenlimit-*` name was present: Together.
    together: bool,
}

/// What these families say.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct More {
    pub(super) requests: DimInfo,
    pub(super) tokens: DimInfo,
    pub(super) family: Option<Family>,
    /// [`RateLimitInfo::quota_spent`](super::RateLimitInfo::quota_spent).
    pub(super) quota_spent: bool,
}

/// A reset given in seconds from now, in ms, valid as a wait.
fn reset_seconds(v: &str) -> Option<Ms> {
    parse_number(v).and_then(|s| valid_wait(s * 1000.0))
}

/// A reset sent as a bare number: epoch milliseconds from [`EPOCH_MS_FROM`], epoch seconds
/// from [`EPOCH_S_FROM`] (both on the server's clock, moved to ours through `date`), anything
/// smaller seconds from now. The local reset time, if valid.
pub(super) fn reset_number(n: f64, now_ms: Ms, date: Option<Ms>) -> Option<Ms> {
    let epoch = if n >= EPOCH_MS_FROM {
        Some(n)
    } else if n >= EPOCH_S_FROM {
        Some(n * 1000.0)
    } else {
        None
    };
    match epoch {
        Some(at) => reset_after(now_ms, at - date.unwrap_or(now_ms)),
        None => valid_wait(n * 1000.0).and_then(|d| reset_after(now_ms, d)),
    }
}

impl Raw {
    pub(super) fn feed(&mut self, key: Key, v: &str) {
        let pick = |f: Field| -> fn(&str) -> Option<f64> {
            match f {
                Field::Limit => parse_limit,
                Field::Remaining => parse_remaining,
                Field::Reset => reset_seconds,
            }
        };
        match key {
            Key::GroqMarker => self.groq = true,
            Key::Mistral(dim, f, w) => self.mistral[dim][w].fill(f, v, pick(f)),
            Key::Plain(f) => self.plain.fill(
                f,
                v,
                match f {
                    Field::Reset => parse_number,
                    other => pick(other),
                },
            ),
            Key::TokenLimit(f) => {
                self.together = true;
                self.tokens.fill(f, v, pick(f));
            }
            _ => {}
        }
    }

    pub(super) fn finish(&self, now_ms: Ms, date: Option<Ms>) -> More {
        let delta = |r: &RawDim| r.reset.and_then(|d| reset_after(now_ms, d));
        // Mistral: per dimension, the shortest window that says anything.
        let mistral = |dim: usize| {
            self.mistral[dim]
                .iter()
                .zip(WINDOWS)
                .map(|(r, w)| dim_info(r.limit, r.remaining, delta(r), w, false))
                .find(|d| !d.is_empty())
                .unwrap_or_default()
        };
        let (m_requests, m_tokens) = (mistral(0), mistral(1));
        // Of each dimension the shortest window is paced; a longer one, and a month, is a
        // quota: spent (nothing left) while no paced figure is, it is what a 429 refused.
        let (mut quota, mut paced) = (false, false);
        for dim in &self.mistral {
            let said = |r: &RawDim| r.limit.is_some() || r.remaining.is_some() || r.reset.is_some();
            let shortest = dim[..MONTH].iter().position(said);
            for (w, r) in dim.iter().enumerate() {
                let spent = r.remaining.is_some_and(|x| x < 1.0);
                if Some(w) == shortest {
                    paced |= spent;
                } else {
                    quota |= spent;
                }
            }
        }
        let window = if self.together { 1_000.0 } else { MINUTE_MS };
        let p = self.plain;
        let reset_at_ms = p.reset.and_then(|n| reset_number(n, now_ms, date));
        let window = if self.together {
            window
        } else {
            window_of(p.limit, p.remaining, reset_at_ms.map(|t| t - now_ms))
        };
        let requests = dim_info(p.limit, p.remaining, reset_at_ms, window, false);
        let tokens = if self.together {
            let t = self.tokens;
            dim_info(t.limit, t.remaining, delta(&t), 1_000.0, false)
        } else {
            DimInfo::default()
        };
        let family = if !(m_requests.is_empty() && m_tokens.is_empty()) {
            Some(Family::Mistral)
        } else if requests.is_empty() && tokens.is_empty() {
            None
        } else if self.together {
            Some(Family::Together)
        } else {
            Some(Family::XRateLimit)
        };
        // Each dimension whole from the first family that speaks of it: Mistral, then these.
        let pick = |a: DimInfo, b: DimInfo| if a.is_empty() { b } else { a };
        More {
            requests: pick(m_requests, requests),
            tokens: pick(m_tokens, tokens),
            family,
            quota_spent: quota && !paced,
        }
    }
}
