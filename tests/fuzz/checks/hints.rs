//! `hints`: the body-hint parsers (`core::hints`) and the first-event peek (`core::peek`).
//!
//! Input: text (lossy UTF-8), given whole to each parser, and as the text after
//! `try again in `.
//!
//! Checks, against references written out from the documentation:
//! * `parse_proto_duration`: digits, optionally `.` and 1 to 9 digits, then `s` (after
//!   trimming), read by `str::parse::<f64>`, in ms, within `[0, ABSURD_MS]`; else absent;
//! * `parse_try_again`: the Go duration after the first `try again in ` (any case) in the
//!   first `MAX_MESSAGE_BYTES`, cut at a space, `,`, `;`, `)` or a line break, one final `.`
//!   removed, read by `parse_go_duration`, within the guard; every wait is finite, `>= 0`;
//! * `is_per_day_quota`: `perday`, `per_day` or `per-day` in any case, in at most
//!   `MAX_VALUE_BYTES`;
//! * `exceeds_limit`: in the first `MAX_MESSAGE_BYTES`, the first number after `limit ` and
//!   the first after `requested ` (any case; a digit, then digits and `,`, one final `,`
//!   dropped, at most 20 characters), the second larger;
//! * the peek: the raw bytes, fed whole or cut in two anywhere, give the same first event,
//!   which is the first event but a ping that the SSE parser dispatches within `MAX_PEEK_BYTES`.

use llm_pacer::core::headers::{parse_go_duration, ABSURD_MS};
use llm_pacer::core::hints::{
    exceeds_limit, is_per_day_quota, parse_proto_duration, parse_try_again, MAX_MESSAGE_BYTES,
    MAX_VALUE_BYTES,
};
use llm_pacer::core::peek::{FirstEvent, Peeked, MAX_PEEK_BYTES, PREAMBLE};
use llm_pacer::core::sse::SseParser;

/// The guard of every retry hint: a wait of at least a millisecond (under it is "now", no
/// hint) and at most `ABSURD_MS`.
fn guard(ms: f64) -> Option<f64> {
    (ms.is_finite() && (1.0..=ABSURD_MS).contains(&ms)).then_some(ms)
}

fn reference_proto(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.len() > MAX_VALUE_BYTES {
        return None;
    }
    let num = s.strip_suffix('s')?;
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => {
            if f.is_empty() || f.len() > 9 {
                return None;
            }
            (i, f)
        }
        None => (num, "0"),
    };
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    guard(num.parse::<f64>().ok()? * 1000.0)
}

fn reference_try_again(m: &str) -> Option<f64> {
    let b = &m.as_bytes()[..m.len().min(MAX_MESSAGE_BYTES)];
    let lower: Vec<u8> = b.to_ascii_lowercase();
    let needle = b"try again in ";
    let at = lower.windows(needle.len()).position(|w| w == needle)?;
    let rest = &b[at + needle.len()..];
    let end = rest
        .iter()
        .position(|c| b" ,;)\n\r\t".contains(c))
        .unwrap_or(rest.len());
    let mut word = &rest[..end];
    if word.last() == Some(&b'.') {
        word = &word[..word.len() - 1];
    }
    if word.len() > MAX_VALUE_BYTES {
        return None;
    }
    parse_go_duration(std::str::from_utf8(word).ok()?).and_then(guard)
}

fn reference_number_after(s: &[u8], needle: &str) -> Option<u128> {
    let lower = s.to_ascii_lowercase();
    let mut at = 0;
    while at + needle.len() <= lower.len() {
        if lower[at..].starts_with(needle.as_bytes()) {
            let rest = &lower[at + needle.len()..];
            let word: Vec<u8> = rest
                .iter()
                .copied()
                .take_while(|c| c.is_ascii_digit() || *c == b',')
                .collect();
            let word = word.strip_suffix(b",").unwrap_or(&word);
            if word.first().is_some_and(u8::is_ascii_digit) && word.len() <= 20 {
                let digits: String = word
                    .iter()
                    .filter(|c| **c != b',')
                    .map(|&c| c as char)
                    .collect();
                return digits.parse().ok();
            }
        }
        at += 1;
    }
    None
}

fn reference_exceeds(s: &str) -> bool {
    let b = &s.as_bytes()[..s.len().min(MAX_MESSAGE_BYTES)];
    match (
        reference_number_after(b, "limit "),
        reference_number_after(b, "requested "),
    ) {
        (Some(l), Some(r)) => r > l,
        _ => false,
    }
}

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let over = format!("Request too large: Limit 30000, Requested {text}");
    for s in [text.as_ref(), &format!("Please try again in {text}"), &over] {
        assert_eq!(
            exceeds_limit(s),
            reference_exceeds(s),
            "over the limit {s:?}"
        );
        assert_eq!(parse_proto_duration(s), reference_proto(s), "proto {s:?}");
        let t = parse_try_again(s);
        assert_eq!(t, reference_try_again(s), "try again {s:?}");
        if let Some(v) = t {
            assert!(v.is_finite() && (1.0..=ABSURD_MS).contains(&v));
        }
        let lower = s.to_ascii_lowercase();
        let want = s.len() <= MAX_VALUE_BYTES
            && ["perday", "per_day", "per-day"]
                .iter()
                .any(|n| lower.contains(n));
        assert_eq!(is_per_day_quota(s), want, "per day {s:?}");
    }
    check_peek(data);
}

#[path = "../../support/first_event.rs"]
mod first_event;
use first_event::first_event as peek;

fn check_peek(data: &[u8]) {
    let whole = peek(&[data]);
    let cut = data.first().map_or(0, |&b| usize::from(b)) % (data.len() + 1);
    let (a, b) = data.split_at(cut);
    assert_eq!(peek(&[a, b]), whole, "cut at {cut}");
    // The reference: the SSE parser's first event within the bound that does not only open
    // the stream (a ping, `message_start`, ...).
    let mut parser = SseParser::new();
    let mut first = None;
    parser.feed(&data[..data.len().min(MAX_PEEK_BYTES)], |e| {
        if first.is_none() && !PREAMBLE.contains(&e.event) {
            first = Some(e.to_owned());
        }
    });
    let want = match first {
        Some(e) => Peeked::Event(e),
        None if data.len() >= MAX_PEEK_BYTES => Peeked::GiveUp,
        None => Peeked::More,
    };
    assert_eq!(whole, want);
}
