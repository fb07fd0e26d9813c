//! `numbers`: the hand-written number and time parsers against independent implementations.
//!
//! Input: text (lossy UTF-8), given whole to each parser, and once more trimmed.
//!
//! * the decimal parser (`src/core/decimal.rs`, compiled here from the same file) gives
//!   `str::parse::<f64>`'s value within 10^-14 on every input of its grammar (the same bits
//!   for up to 15 significant digits and a power of ten up to 22), and refuses the rest;
//! * `parse_http_date` gives what `httpdate` gives, on every input;
//! * `parse_rfc3339` gives what `humantime::parse_rfc3339_weak` gives (with the numeric
//!   offset applied by hand) wherever the latter accepts, and refuses what it refuses;
//! * `parse_go_duration` accepts exactly Go's grammar, gives the sum of its parts (read by
//!   `str::parse::<f64>`) to within a nanosecond per part, agrees with `humantime` on the
//!   inputs both read, and is never negative or beyond `i64::MAX` nanoseconds.

use super::{decimal, decimal_grammar, reference_http_date};
use llm_pacer::core::headers::{parse_go_duration, parse_http_date, parse_rfc3339};

/// Run the checks on one input.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    check_str(&text);
    if text.trim() != text {
        check_str(text.trim());
    }
}

/// The checks on one string.
pub fn check_str(s: &str) {
    check_decimal(s);
    assert_eq!(
        parse_http_date(s),
        reference_http_date(s),
        "HTTP-date {s:?}"
    );
    check_rfc3339(s);
    check_go_duration(s);
}

fn check_decimal(s: &str) {
    let got = decimal::parse(s);
    if decimal_grammar(s) {
        let want: f64 = s.parse().expect("std reads the grammar");
        let got = got.unwrap_or_else(|| panic!("decimal refuses {s:?}"));
        const REL: f64 = 1e-14;
        let close = match (got.is_finite(), want.is_finite()) {
            (true, true) => (got - want).abs() <= want * REL + 5e-321,
            (false, false) => true,
            (false, true) => want >= f64::MAX * (1.0 - REL),
            (true, false) => got >= f64::MAX * (1.0 - REL),
        };
        assert!(close, "{s:?}: {got:e} vs {want:e}");
        if fast_path(s) {
            assert_eq!(got.to_bits(), want.to_bits(), "{s:?}: {got:e} != {want:e}");
        }
    } else {
        assert_eq!(got, None, "decimal accepts {s:?}, outside its grammar");
    }
}

/// Does `s` (of the decimal grammar) have at most 15 significant digits and a power of ten
/// within 22 either way, where the parser is exact?
fn fast_path(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => match s[i + 1..].parse::<i64>() {
            Ok(e) if e.abs() < 1_000_000 => (&s[..i], e),
            _ => return false,
        },
        None => (s, 0),
    };
    let frac = mantissa.find('.').map_or(0, |p| mantissa.len() - p - 1) as i64;
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_start_matches('0');
    let trimmed = digits.trim_end_matches('0');
    let exp = exp - frac + (digits.len() - trimmed.len()) as i64;
    trimmed.len() <= 15 && (-22..=22).contains(&exp)
}

/// `YYYY-MM-DDTHH:MM:SS[.digits]` then `Z` or `±HH:MM`, read by `humantime` (which knows no
/// offsets: the body is read as UTC, then the offset is subtracted).
fn reference_rfc3339(s: &str) -> Option<f64> {
    const BASE: usize = "2026-11-22T13:04:32".len();
    // The documented cap on the length (a fraction "of any length" stops here).
    if !s.is_ascii() || s.len() > 64 {
        return None;
    }
    let (body, offset_min) = if let Some(b) = s.strip_suffix(['Z', 'z']) {
        (b, 0)
    } else {
        let (body, off) = s.split_at_checked(s.len().checked_sub(6)?)?;
        let sign = match off.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (hh, mm) = (&off[1..3], &off[4..6]);
        let two = |t: &str| {
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse::<i64>().ok())?
        };
        let (hh, mm) = (two(hh)?, two(mm)?);
        if &off[3..4] != ":" || hh > 23 || mm > 59 {
            return None;
        }
        (body, sign * (hh * 60 + mm))
    };
    if body.len() < BASE || !matches!(body.as_bytes()[10], b'T' | b't') {
        return None;
    }
    // A fraction is `.` and at least one digit (humantime takes more shapes).
    let frac = &body[BASE..];
    if !frac.is_empty()
        && (!frac.starts_with('.')
            || frac.len() < 2
            || !frac[1..].bytes().all(|c| c.is_ascii_digit()))
    {
        return None;
    }
    let body = format!("{}T{}", &body[..10], &body[11..]);
    let t = humantime::parse_rfc3339_weak(&body).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    Some(
        d.as_secs() as f64 * 1000.0 + f64::from(d.subsec_nanos()) / 1e6
            - (offset_min * 60_000) as f64,
    )
}

fn check_rfc3339(s: &str) {
    assert_eq!(parse_rfc3339(s), reference_rfc3339(s), "RFC 3339 {s:?}");
}

/// Go's `time.ParseDuration` grammar (no sign but `+`), each part read with
/// `str::parse::<f64>`: the total in nanoseconds and the number of parts, or `None`.
fn reference_go(s: &str) -> Option<(f64, usize)> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some((0.0, 0));
    }
    if s.is_empty() {
        return None;
    }
    let (mut total, mut parts, mut rest) = (0.0, 0, s);
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        // One dot at most, and a digit on one side of it.
        if num.matches('.').count() > 1 || num.is_empty() || num == "." {
            return None;
        }
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let ns = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        let v: f64 = num.parse().expect("digits and a dot");
        total += v * ns;
        parts += 1;
        rest = tail;
    }
    Some((total, parts))
}

fn check_go_duration(s: &str) {
    /// `i64::MAX` nanoseconds, in ms.
    const MAX_MS: f64 = i64::MAX as f64 / 1e6;
    let got = parse_go_duration(s);
    if let Some(ms) = got {
        assert!(
            ms.is_finite() && (0.0..=MAX_MS).contains(&ms),
            "{s:?} -> {ms}"
        );
    }
    let want = if s.starts_with('-') {
        None
    } else {
        reference_go(s)
    };
    match (got, want) {
        (Some(_), None) => panic!("Go duration {s:?} accepted outside the grammar"),
        (None, Some((ns, _))) if ns < 9.2e18 => panic!("Go duration {s:?} ({ns} ns) refused"),
        (None, _) => {}
        (Some(ms), Some((ns, parts))) => {
            let want_ms = ns / 1e6;
            // Go truncates each part to whole nanoseconds; both sums round.
            let tol = parts as f64 * 1e-6 + want_ms * 1e-12;
            assert!(
                (ms - want_ms).abs() <= tol,
                "Go duration {s:?}: {ms} ms, want {want_ms}"
            );
            // humantime reads whole numbers with the same units (and more).
            if !s.contains(['.', '+']) {
                if let Ok(d) = humantime::parse_duration(s) {
                    assert_eq!(ms, d.as_nanos() as f64 / 1e6, "{s:?} against humantime");
                }
            }
        }
    }
}
