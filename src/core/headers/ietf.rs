//! The IETF `RateLimit` and `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers),
//! and the earlier drafts' forms of them: the `requests` dimension they describe.

use super::sf;
use super::*;

/// The `requests` dimension from the IETF fields (empty if they say nothing about requests),
/// from the newest draft whose fields say anything, taken whole: draft-10's named `RateLimit`
/// members (or its named policies alone), else draft-07's `RateLimit` Dictionary, else the
/// separate `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` of draft-06 and
/// before (`older`, in that order: the first occurrence of each that is a valid List).
/// `date`: the server's `Date`, for a reset sent as an epoch.
pub(super) fn ietf_requests(
    policy: &[&str],
    ratelimit: &[&str],
    older: [Option<&str>; 3],
    now_ms: Ms,
    date: Option<Ms>,
) -> DimInfo {
    let d = draft10(policy, ratelimit, now_ms);
    if !d.is_empty() {
        return d;
    }
    let policy: &[&str] = if sf::fields_ok(policy, false) {
        policy
    } else {
        &[]
    };
    // draft-07: `RateLimit: limit=20, remaining=0, reset=7`; of a repeated key the
    // last counts, and a value that is not an Integer makes its key absent.
    let mut v = [None; 3];
    if sf::fields_ok(ratelimit, true) {
        for (k, m) in sf::members(ratelimit, true) {
            if let Some(f) = families::field(k) {
                v[f as usize] = m.int();
            }
        }
    }
    let mut d = DimInfo::default();
    if v.iter().any(Option::is_some) {
        d = draft07(v, policy, None, now_ms, date);
    }
    if d.is_empty() {
        // draft-06 and before: each field an Integer, the first member of its List (fetch
        // joins a repeated field into one). `RateLimit-Limit` may carry its own `w`, and in
        // drafts 00 to 03 the quota policies after it (`RateLimit-Limit: 10, 10;w=1, 50;w=60`):
        // its members are policies too, the limit itself first.
        let mut v = [None; 3];
        for (i, line) in older.iter().enumerate() {
            v[i] = sf::members(line.as_slice(), false)
                .next()
                .and_then(|(_, m)| m.int());
        }
        d = draft07(v, policy, older[0], now_ms, date);
    }
    d
}

/// The dimension from the three Integers of draft-07 (or draft-06): limit, remaining and
/// reset (delta-seconds; an epoch as [`families::reset_number`] reads one), each absent when
/// out of range. The window is that of the first quota policy (`20;w=10`) of the limit's
/// quota with a valid one, in `more` (draft-06's `RateLimit-Limit`, the limit itself first)
/// or else `policy`, else inferred ([`window_of`]). Without a limit, no window.
fn draft07(
    v: [Option<i64>; 3],
    policy: &[&str],
    more: Option<&str>,
    now_ms: Ms,
    date: Option<Ms>,
) -> DimInfo {
    let int = |n: Option<i64>, min: i64| n.filter(|&n| n >= min && n as f64 <= MAX_COUNT);
    let limit = int(v[0], 1).map(|n| n as f64);
    let remaining = int(v[1], 0).map(|n| n as f64);
    let reset_at_ms = v[2]
        .filter(|&n| n >= 0)
        .and_then(|n| families::reset_number(n as f64, now_ms, date));
    // A window: an Integer of seconds > 0, valid as a wait.
    let window = |w: Option<sf::Bare<'_>>| match w {
        Some(sf::Bare::Int(w)) if w > 0 => valid_wait(w as f64 * 1000.0),
        _ => None,
    };
    let mut window_ms = None;
    for lines in [more.as_slice(), policy] {
        for (_, m) in sf::members(lines, false) {
            if window_ms.is_none() && limit.is_some() && m.int() == v[0] {
                window_ms = window(m.param(b"w"));
            }
        }
    }
    if limit.is_some() && window_ms.is_none() {
        window_ms = Some(window_of(limit, remaining, reset_at_ms.map(|t| t - now_ms)));
    }
    DimInfo {
        limit,
        remaining,
        reset_at_ms,
        window_ms,
        rounded: false,
    }
}

/// draft-10: the named service limits of `RateLimit` and the named policies of
/// `RateLimit-Policy`.
fn draft10(policy: &[&str], ratelimit: &[&str], now_ms: Ms) -> DimInfo {
    // A syntax error anywhere in a field makes the whole field absent.
    let policy: &[&str] = if sf::fields_ok(policy, false) {
        policy
    } else {
        &[]
    };
    let ratelimit: &[&str] = if sf::fields_ok(ratelimit, false) {
        ratelimit
    } else {
        &[]
    };

    // The most restrictive service limit in requests: least remaining, then longest reset.
    let mut best: Option<(Limit, Option<Policy>)> = None;
    for (_, m) in sf::members(ratelimit, false) {
        let Some(limit) = Limit::from_member(&m) else {
            continue;
        };
        let policy = find_policy(policy, limit.name);
        if policy.is_some_and(|p| !p.in_requests) {
            continue;
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
    }
    let (remaining, reset_s, policy) = match best {
        Some((l, p)) => (l.remaining, l.reset_s, p),
        None => {
            // Policies alone: the lowest sustained rate (ties: the smaller quota).
            let mut best: Option<Policy> = None;
            for (_, m) in sf::members(policy, false) {
                if let Some(p) = Policy::from_member(&m) {
                    if p.in_requests && p.rate().is_some() {
                        let rank = |p: &Policy| (p.rate(), p.quota);
                        if best.is_none_or(|b| rank(&p) < rank(&b)) {
                            best = Some(p);
                        }
                    }
                }
            }
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
    for (_, m) in sf::members(policy, false) {
        if found.is_none() && m.name().is_some_and(|n| sf::text_eq(n, name)) {
            found = Policy::from_member(&m);
        }
    }
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
