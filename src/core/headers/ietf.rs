//! The IETF `RateLimit` and `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers):
//! the `requests` dimension they describe.

use super::sf;
use super::*;

/// The `requests` dimension from the IETF fields (empty if they say nothing about requests).
pub(super) fn ietf_requests(policy: &[&str], ratelimit: &[&str], now_ms: Ms) -> DimInfo {
    // A syntax error anywhere in a field makes the whole field absent.
    let policy: &[&str] = if sf::list_ok(policy) { policy } else { &[] };
    let ratelimit: &[&str] = if sf::list_ok(ratelimit) {
        ratelimit
    } else {
        &[]
    };

    // The most restrictive service limit in requests: least remaining, then longest reset.
    let mut best: Option<(Limit, Option<Policy>)> = None;
    sf::for_each_member(ratelimit, |m| {
        let Some(limit) = Limit::from_member(&m) else {
            return;
        };
        let policy = find_policy(policy, limit.name);
        if policy.is_some_and(|p| !p.in_requests) {
            return;
        }
        let rank = |l: &Limit| {
            (
                l.remaining.unwrap_or(f64::INFINITY),
                -l.reset_s.unwrap_or(0.0),
            )
        };
        if best.as_ref().is_none_or(|(b, _)| rank(&limit) < rank(b)) {
            best = Some((limit, policy));
        }
    });
    let (remaining, reset_s, policy) = match best {
        Some((l, p)) => (l.remaining, l.reset_s, p),
        None => {
            // Policies alone: the lowest sustained rate (ties: the smaller quota).
            let mut best: Option<Policy> = None;
            sf::for_each_member(policy, |m| {
                if let Some(p) = Policy::from_member(&m) {
                    if p.in_requests && p.rate().is_some() {
                        let rank = |p: &Policy| (p.rate(), p.quota);
                        if best.is_none_or(|b| rank(&p) < rank(&b)) {
                            best = Some(p);
                        }
                    }
                }
            });
            (None, None, best)
        }
    };
    let (limit, window_ms) = match policy.and_then(|p| Some((p.quota, p.window_s?))) {
        Some((q, w)) if q >= 1.0 => (Some(q), Some(w * 1000.0)),
        _ => (None, None),
    };
    let reset_at_ms = reset_s.and_then(|t| reset_after(now_ms, t * 1000.0));
    let d = DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms,
        rounded: false,
    };
    if d.is_empty() {
        DimInfo::default()
    } else {
        d
    }
}

/// A quota policy item of `RateLimit-Policy`.
#[derive(Debug, Clone, Copy)]
struct Policy {
    quota: f64,
    window_s: Option<f64>,
    in_requests: bool,
}

impl Policy {
    fn from_member(m: &sf::Member<'_>) -> Option<Policy> {
        m.name()?;
        let quota = match m.param(b"q")? {
            sf::Bare::Int(q) if q >= 0 && (q as f64) <= MAX_COUNT => q as f64,
            _ => return None,
        };
        let window_s = match m.param(b"w") {
            None => None,
            Some(sf::Bare::Int(w)) if w > 0 && (w as f64) * 1000.0 <= ABSURD_MS => Some(w as f64),
            // A window that is not an Integer > 0 (or absurd): the policy gives no limit.
            Some(_) => None,
        };
        let in_requests = match m.param(b"qu") {
            None => true,
            Some(sf::Bare::Str(u) | sf::Bare::Token(u)) => {
                sf::text_eq(u, b"requests") || sf::text_eq(u, b"request")
            }
            Some(_) => return None,
        };
        Some(Policy {
            quota,
            window_s,
            in_requests,
        })
    }

    /// Quota per second, if the policy has a window and a quota > 0.
    fn rate(&self) -> Option<f64> {
        let w = self.window_s?;
        (self.quota > 0.0).then(|| self.quota / w)
    }
}

/// The first valid policy named `name`.
fn find_policy(policy: &[&str], name: &[u8]) -> Option<Policy> {
    let mut found = None;
    sf::for_each_member(policy, |m| {
        if found.is_none() && m.name().is_some_and(|n| sf::text_eq(n, name)) {
            found = Policy::from_member(&m);
        }
    });
    found
}

/// A service limit item of `RateLimit`.
#[derive(Debug, Clone, Copy)]
struct Limit<'a> {
    name: &'a [u8],
    remaining: Option<f64>,
    reset_s: Option<f64>,
}

impl<'a> Limit<'a> {
    fn from_member(m: &sf::Member<'a>) -> Option<Limit<'a>> {
        let name = m.name()?;
        let remaining = match m.param(b"r") {
            None => None,
            Some(sf::Bare::Int(r)) if r >= 0 && (r as f64) <= MAX_COUNT => Some(r as f64),
            Some(_) => return None,
        };
        let reset_s = match m.param(b"t") {
            None => None,
            Some(sf::Bare::Int(t)) if t >= 0 && (t as f64) * 1000.0 <= ABSURD_MS => Some(t as f64),
            Some(_) => return None,
        };
        // The draft requires `r`, but its own examples send `t` alone: take what there is.
        if remaining.is_none() && reset_s.is_none() {
            return None;
        }
        Some(Limit {
            name,
            remaining,
            reset_s,
        })
    }
}
