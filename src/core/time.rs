//! The date and duration grammars the headers use: Go durations (OpenAI's resets), RFC 3339
//! timestamps (Anthropic's resets) and HTTP-dates (`Retry-After`, `Date`), into epoch or
//! plain milliseconds. Exact and allocation-free; `None` for anything malformed.

use super::Ms;

/// Parse a Go `time.Duration` string (`1h2m3.5s`, `20ms`, `1.5us`, `0s`) into milliseconds.
/// Negative, overflowing or malformed input gives `None`.
///
/// The grammar is Go's `time.ParseDuration`: an optional `+`, then one or more decimal
/// numbers (`1`, `1.5`, `.5`, `1.`), each followed by a unit among `ns`, `us`, `µs` (U+00B5),
/// `μs` (U+03BC), `ms`, `s`, `m`, `h`; or `0` alone. Like Go, it computes in whole
/// nanoseconds and fails beyond `i64::MAX` ns (about 292 years). Unlike Go, a leading `-` is
/// refused outright: a wait is never negative.
///
/// ```
/// use llm_pacer::core::time::parse_go_duration;
///
/// assert_eq!(parse_go_duration("6m0s"), Some(360_000.0));
/// assert_eq!(parse_go_duration("8.64s"), Some(8_640.0));
/// assert_eq!(parse_go_duration("1h2m3.5s"), Some(3_723_500.0));
/// assert_eq!(parse_go_duration("1.5us"), Some(0.0015));
/// assert_eq!(parse_go_duration("0"), Some(0.0));
/// assert_eq!(parse_go_duration("-1s"), None);
/// assert_eq!(parse_go_duration("10"), None); // a unit is required
/// // 2^63 ns twice: past what a duration holds, never wrapped round to 0.
/// assert_eq!(parse_go_duration("9223372036854775808ns9223372036854775808ns"), None);
/// ```
pub fn parse_go_duration(s: &str) -> Option<Ms> {
    const CAP: u64 = 1 << 63;
    let mut b = s.as_bytes();
    match b.first() {
        Some(b'-') => return None,
        Some(b'+') => b = &b[1..],
        _ => {}
    }
    if b == b"0" {
        return Some(0.0);
    }
    if b.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    while !b.is_empty() {
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return None;
        }
        // The integer part.
        let mut v: u64 = 0;
        let mut i = 0;
        while i < b.len() && b[i].is_ascii_digit() {
            if v > CAP / 10 {
                return None;
            }
            v = v * 10 + u64::from(b[i] - b'0');
            if v > CAP {
                return None;
            }
            i += 1;
        }
        let pre = i > 0;
        b = &b[i..];
        // The fraction: digits past what fits are ignored, as in Go.
        let (mut f, mut scale, mut post) = (0u64, 1.0f64, false);
        if b.first() == Some(&b'.') {
            b = &b[1..];
            let mut i = 0;
            let mut overflow = false;
            while i < b.len() && b[i].is_ascii_digit() {
                if !overflow {
                    if f > (CAP - 1) / 10 {
                        overflow = true;
                    } else {
                        let y = f * 10 + u64::from(b[i] - b'0');
                        if y > CAP {
                            overflow = true;
                        } else {
                            f = y;
                            scale *= 10.0;
                        }
                    }
                }
                i += 1;
            }
            post = i > 0;
            b = &b[i..];
        }
        if !pre && !post {
            return None;
        }
        // The unit: everything up to the next number.
        let mut i = 0;
        while i < b.len() && b[i] != b'.' && !b[i].is_ascii_digit() {
            i += 1;
        }
        let unit: u64 = match &b[..i] {
            b"ns" => 1,
            b"us" | b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60_000_000_000,
            b"h" => 3_600_000_000_000,
            _ => return None,
        };
        b = &b[i..];
        if v > CAP / unit {
            return None;
        }
        v *= unit;
        if f > 0 {
            // As Go does it: through a float, truncated.
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > CAP {
                return None;
            }
        }
        // Both at most 2^63: the sum of two of them is the one that could wrap.
        total = total.saturating_add(v);
        if total > CAP {
            return None;
        }
    }
    if total > CAP - 1 {
        return None;
    }
    Some(total as f64 / 1e6)
}

/// Parse an RFC 3339 timestamp into epoch milliseconds.
///
/// Accepts `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any length, then `Z` or a numeric
/// offset `±HH:MM` (`T` and `Z` in either case). Dates before 1970 and malformed or
/// out-of-range fields give `None`; a leap second (`:60`) reads as `:59`; digits of the
/// fraction past the ninth (nanoseconds) are ignored. Without the offset, the answers are
/// `humantime::parse_rfc3339_weak`'s (the tests hold the two to the same answers).
///
/// ```
/// use llm_pacer::core::time::parse_rfc3339;
///
/// let t = parse_rfc3339("2026-11-22T13:04:32Z").unwrap();
/// assert_eq!(t, 1_795_352_672_000.0);
/// assert_eq!(parse_rfc3339("2026-11-22T13:04:32.250Z"), Some(t + 250.0));
/// assert_eq!(parse_rfc3339("2026-11-22T08:04:32-05:00"), Some(t));
/// assert_eq!(parse_rfc3339("2026-11-22 13:04:32"), None); // no offset, no `T`
/// ```
pub fn parse_rfc3339(s: &str) -> Option<Ms> {
    const BASE: usize = "2026-11-22T13:04:32".len();
    const MAX_LEN: usize = 64;
    let b = s.as_bytes();
    if b.len() < BASE + 1 || b.len() > MAX_LEN || !s.is_ascii() {
        return None;
    }
    // The offset, in minutes east of UTC.
    let (body, offset_min) = match b[b.len() - 1] {
        b'Z' | b'z' => (&b[..b.len() - 1], 0i64),
        _ => {
            if b.len() < BASE + 6 {
                return None;
            }
            let (body, off) = b.split_at(b.len() - 6);
            let sign = match off[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh = digits(&off[1..3])?;
            let mm = digits(&off[4..6])?;
            if off[3] != b':' || hh > 23 || mm > 59 {
                return None;
            }
            (body, sign * (hh * 60 + mm))
        }
    };
    // `YYYY-MM-DDTHH:MM:SS`, then `.` and at least one digit, or nothing.
    if body.len() < BASE
        || !matches!(body[10], b'T' | b't')
        || [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')]
            .iter()
            .any(|&(i, c)| body[i] != c)
    {
        return None;
    }
    let frac = &body[BASE..];
    if !frac.is_empty()
        && (frac[0] != b'.' || frac.len() < 2 || !frac[1..].iter().all(u8::is_ascii_digit))
    {
        return None;
    }
    let field = |i: usize, len: usize| digits(&body[i..i + len]);
    let (hour, minute, second) = (field(11, 2)?, field(14, 2)?, field(17, 2)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = epoch_days(field(0, 4)?, field(5, 2)?, field(8, 2)?)?;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second.min(59);
    // Nanoseconds: the first nine digits of the fraction (the rest is below resolution).
    let mut nanos = 0;
    let mut unit = 100_000_000;
    for &c in frac.iter().skip(1) {
        nanos += unit * u32::from(c - b'0');
        unit /= 10;
    }
    Some(secs as f64 * 1000.0 + f64::from(nanos) / 1e6 - (offset_min * 60_000) as f64)
}

/// Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) into epoch milliseconds.
///
/// As the `httpdate` crate parses them (the tests hold the two to the same answers): ASCII
/// only, surrounding whitespace ignored, names case-sensitive, the weekday must match the
/// date, dates before 1970 or after 9999 are refused, no leap second, and RFC 850's two-digit
/// years are read as 1970–2069.
///
/// ```
/// use llm_pacer::core::time::parse_http_date;
///
/// let t = 784_111_777_000.0;
/// assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
/// assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
/// assert_eq!(parse_http_date("Mon, 06 Nov 1994 08:49:37 GMT"), None); // wrong weekday
/// ```
pub fn parse_http_date(s: &str) -> Option<Ms> {
    const WEEKDAYS: [&[u8]; 7] = [
        b"Monday",
        b"Tuesday",
        b"Wednesday",
        b"Thursday",
        b"Friday",
        b"Saturday",
        b"Sunday",
    ];
    let short_weekday = |b: &[u8]| WEEKDAYS.iter().position(|w| &w[..3] == b);
    let month = |b: &[u8]| {
        b"JanFebMarAprMayJunJulAugSepOctNovDec"
            .chunks(3)
            .position(|m| m == b)
            .map(|i| i as i64 + 1)
    };
    if !s.is_ascii() {
        return None;
    }
    // `str::trim`'s whitespace, in ASCII: HT, LF, VT, FF, CR and space.
    let space = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let b = s.as_bytes();
    let start = b.iter().position(|c| !space(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !space(c)).map_or(start, |i| i + 1);
    let b = &b[start..end];
    // The fixed text of a form: (offset, text) pairs.
    let fixed = |b: &[u8], parts: &[(usize, &str)]| {
        parts
            .iter()
            .all(|&(i, lit)| b.get(i..i + lit.len()) == Some(lit.as_bytes()))
    };
    // Where the fields of each form are (after the weekday, for RFC 850): the fixed text,
    // then the offsets of the day, the month, the year (and its digits) and the time.
    struct Form {
        len: usize,
        parts: &'static [(usize, &'static str)],
        day: usize,
        month: usize,
        year: (usize, usize),
        time: usize,
    }
    // IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`
    const IMF: Form = Form {
        len: 29,
        parts: &[(3, ", "), (7, " "), (11, " "), (16, " "), (25, " GMT")],
        day: 5,
        month: 8,
        year: (12, 4),
        time: 17,
    };
    // asctime: `Sun Nov  6 08:49:37 1994` (the day may be padded with a space)
    const ASCTIME: Form = Form {
        len: 24,
        parts: &[(3, " "), (7, " "), (10, " "), (19, " ")],
        day: 8,
        month: 4,
        year: (20, 4),
        time: 11,
    };
    // RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`, from the day on (the byte after the year is
    // not checked, as in `httpdate`)
    const RFC850: Form = Form {
        len: 22,
        parts: &[(2, "-"), (6, "-"), (18, " GMT")],
        day: 0,
        month: 3,
        year: (7, 2),
        time: 10,
    };
    let (weekday, b, form) = match b.len() {
        29 => (short_weekday(b.get(..3)?)?, b, &IMF),
        24 => (short_weekday(b.get(..3)?)?, b, &ASCTIME),
        _ => {
            let w = WEEKDAYS
                .iter()
                .position(|w| b.starts_with(w) && fixed(b, &[(w.len(), ", ")]))?;
            (w, &b[WEEKDAYS[w].len() + 2..], &RFC850)
        }
    };
    let t = form.time;
    if b.len() != form.len || !fixed(b, form.parts) || !fixed(b, &[(t + 2, ":"), (t + 5, ":")]) {
        return None;
    }
    let num = |i: usize, len: usize| digits(&b[i..i + len]);
    let day = if form.len == 24 && b[form.day] == b' ' {
        num(form.day + 1, 1)?
    } else {
        num(form.day, 2)?
    };
    let (h, m, sec) = (num(t, 2)?, num(t + 3, 2)?, num(t + 6, 2)?);
    let mon = month(&b[form.month..form.month + 3])?;
    let year = match (form.year, num(form.year.0, form.year.1)?) {
        ((_, 2), yy) if yy < 70 => 2000 + yy,
        ((_, 2), yy) => 1900 + yy,
        (_, y) => y,
    };
    if h > 23 || m > 59 || sec > 59 || year > 9999 {
        return None;
    }
    let days = epoch_days(year, mon, day)?;
    // 1970-01-01 was a Thursday (3, counting from Monday = 0).
    if (days + 3) % 7 != weekday as i64 {
        return None;
    }
    Some((days * 86_400 + h * 3_600 + m * 60 + sec) as f64 * 1000.0)
}

/// The value of a run of ASCII digits (all of `b` must be digits).
fn digits(b: &[u8]) -> Option<i64> {
    b.iter().try_fold(0, |v, &c| {
        c.is_ascii_digit().then(|| v * 10 + i64::from(c - b'0'))
    })
}

/// Days from 1970-01-01 to `year-month-day` in the Gregorian calendar, if that date exists
/// and is not before 1970.
fn epoch_days(year: i64, month: i64, day: i64) -> Option<i64> {
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day < 1 || day > month_days {
        return None;
    }
    // Counted from March, so that the leap day ends the year (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let shifted = (month + 9) % 12;
    let day_of_year = (153 * shifted + 2) / 5 + day - 1;
    let day_of_era = (y % 400) * 365 + (y % 400) / 4 - (y % 400) / 100 + day_of_year;
    Some(y / 400 * 146_097 + day_of_era - 719_468)
}
