//! Decimal strings to `f64` in a few hundred bytes of Wasm, exact where it matters.
//!
//! `str::parse::<f64>` is exact and fast, but it links some 14 KB of tables (the powers of
//! five of the Eisel–Lemire algorithm) into the Wasm module, which is more than every header
//! parser together. The numbers a server writes in a header (`retry-after: 1.5`, `remaining:
//! 49999`, `reset: 8.64s`) are short, so this module takes the classic road, bounded:
//!
//! * **Exact** (Clinger's fast path): at most 2^53 as an integer of significant digits, times
//!   or divided by a power of ten up to 10^22. Both operands are exact doubles, so the one
//!   IEEE multiplication or division rounds correctly: the same double as
//!   `str::parse::<f64>`. Every realistic header value is here.
//! * **Within a few ulps**, for everything else: the first 19 significant digits (the rest
//!   only scale), times 10^22 as often as needed. At most 16 roundings, so the relative
//!   error stays below 10^-14: far finer than a millisecond on any wait.
//!
//! Work and memory are bounded whatever the text: one pass, nothing allocated.

/// Parse `digits [. digits] [(e|E) [+|-] digits]`, with at least one mantissa digit (`12`,
/// `1.5`, `.5`, `1.`, `1e-05`); no sign, no `inf` or `NaN`, nothing around. Values beyond
/// `f64::MAX` give infinity, as `str::parse::<f64>` does; text outside the grammar gives `None`.
pub(crate) fn parse(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let n = b.len();
    let digits_from = |mut i: usize| {
        while i < n && b[i].is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits_from(0);
    let (mant_end, frac_digits) = if int_end < n && b[int_end] == b'.' {
        let end = digits_from(int_end + 1);
        (end, end - int_end - 1)
    } else {
        (int_end, 0)
    };
    if int_end + frac_digits == 0 {
        return None;
    }
    let mut i = mant_end;
    let mut exp: i64 = 0;
    if i < n && (b[i] | 0x20) == b'e' {
        i += 1;
        let negative = i < n && b[i] == b'-';
        if i < n && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let start = i;
        while i < n && b[i].is_ascii_digit() {
            // Saturates far beyond any finite double; the magnitude checks below decide.
            if exp < 1_000_000 {
                exp = exp * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        if negative {
            exp = -exp;
        }
    }
    if i != n {
        return None;
    }
    Some(value(&b[..mant_end], exp - frac_digits as i64))
}

/// Significant digits read; the rest only scale the value.
const MAX_DIGITS: u32 = 19;

/// The value of the digits of `mantissa` (a `.` among them is skipped) times `10^exp`.
fn value(mantissa: &[u8], mut exp: i64) -> f64 {
    let mut w: u64 = 0;
    let mut kept = 0;
    for &c in mantissa.iter().filter(|&&c| c != b'.') {
        if kept == MAX_DIGITS {
            exp += 1;
        } else if w > 0 || c != b'0' {
            w = w * 10 + u64::from(c - b'0');
            kept += 1;
        }
    }
    if w == 0 {
        return 0.0;
    }
    while w % 10 == 0 {
        w /= 10;
        exp += 1;
    }
    // The value lies in [10^lead, 10^(lead + 1)).
    let lead = exp + i64::from(w.ilog10());
    if lead > 308 {
        return f64::INFINITY; // >= 1e309 > f64::MAX
    }
    if lead < -325 {
        return 0.0; // < 1e-325, below half the least subnormal
    }
    let mut z = w as f64;
    // Exact when w <= 2^53 and |exp| <= 22: one correctly rounded operation.
    while exp > 22 {
        z *= 1e22;
        exp -= 22;
    }
    while exp < -22 {
        z /= 1e22;
        exp += 22;
    }
    if exp < 0 {
        z / pow10(exp.unsigned_abs() as u32)
    } else {
        z * pow10(exp as u32)
    }
}

/// `10^n` as a double, exact for `n <= 22` (every factor and product is an exact double).
fn pow10(n: u32) -> f64 {
    (0..n).fold(1.0, |p, _| p * 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Same bits as the standard library's parser (which accepts a superset of the grammar).
    fn same(s: &str) {
        let want = s.parse::<f64>().unwrap();
        let got = parse(s).unwrap_or_else(|| panic!("{s:?} refused"));
        assert_eq!(got.to_bits(), want.to_bits(), "{s:?}: {got:e} != {want:e}");
    }

    /// Within the documented error of the standard library's value.
    fn close(s: &str) {
        let want = s.parse::<f64>().unwrap();
        let got = parse(s).unwrap_or_else(|| panic!("{s:?} refused"));
        assert!(within(got, want), "{s:?}: {got:e} vs {want:e}");
    }

    /// `got` is `want` within 10^-14 relative (and 5e-321 absolute, among subnormals); an
    /// infinity only for values that round to within that of `f64::MAX`.
    fn within(got: f64, want: f64) -> bool {
        const REL: f64 = 1e-14;
        match (got.is_finite(), want.is_finite()) {
            (true, true) => (got - want).abs() <= want * REL + 5e-321,
            (false, false) => true,
            (false, true) => want >= f64::MAX * (1.0 - REL),
            (true, false) => got >= f64::MAX * (1.0 - REL),
        }
    }

    #[test]
    fn grammar() {
        for ok in [
            "0", "12", "1.5", ".5", "1.", "1e3", "1E+3", "1e-05", "00.00e00",
        ] {
            assert!(parse(ok).is_some(), "{ok:?}");
        }
        for bad in [
            "", ".", "e3", ".e3", "1e", "1e+", "1e-", "+1", "-1", " 1", "1 ", "1 2", "1..2",
            "1.2.3", "1e2.5", "1e2e3", "١", "0x1", "1_000", "inf", "NaN", "1f",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn header_values_are_exact() {
        for s in [
            "0",
            "0.0",
            "1",
            "1.5",
            "0.1",
            "0.3",
            "1.1",
            "8.64",
            "2.5e-05",
            "1e22",
            "60",
            "49999",
            "0.001",
            "86400",
            "9007199254740992",
            "123456789.123456",
            "1000000000000000000000000",
        ] {
            same(s);
        }
    }

    #[test]
    fn hard_cases_are_close() {
        let long_frac = format!("0.{}1", "0".repeat(400));
        let long_int = format!("1{}", "0".repeat(400));
        let many = format!("9007199254740992.{}", "9".repeat(900));
        for s in [
            "0e999999999999999999999",
            "1e999999999999999999999",
            "1e-999999999999999999999",
            "9007199254740993",
            "4503599627370496.5",
            "0.000000000000000000000001",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "2.2250738585072011e-308",
            "4.9406564584124654e-324",
            "2.4703282292062328e-324",
            "1e-324",
            "3e-324",
            "1e-325",
            "1e-400",
            "1e308",
            "1e309",
            "123456789012345678901234567890",
            "1e23",
            "9007199254740993e22",
            "1.00000000000000011102230246251565404236316680908203125",
            &long_frac,
            &long_int,
            &many,
        ] {
            close(s);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every finite double, written shortest, long and in exponent form, reads back close.
        #[test]
        fn doubles_read_back_close(bits in any::<u64>()) {
            let x = f64::from_bits(bits).abs();
            prop_assume!(x.is_finite());
            for s in [format!("{x}"), format!("{x:e}"), format!("{x:.30e}"), format!("{x:.20}")] {
                close(&s);
            }
        }

        /// Random digit strings: many digits, any exponent.
        #[test]
        fn digit_strings_are_close(
            int in "[0-9]{0,40}",
            frac in proptest::option::of("[0-9]{0,40}"),
            exp in proptest::option::of(-400i32..400),
        ) {
            prop_assume!(!int.is_empty() || frac.as_ref().is_some_and(|f| !f.is_empty()));
            let mut s = int;
            if let Some(f) = frac {
                s.push('.');
                s.push_str(&f);
            }
            if let Some(e) = exp {
                s.push_str(&format!("e{e}"));
            }
            close(&s);
        }

        /// Up to 15 significant digits and a power of ten up to 22 either way: exact.
        #[test]
        fn the_fast_path_is_exact(
            digits in 0u64..1_000_000_000_000_000,
            point in 0usize..16,
            exp in -6i32..7,
        ) {
            let d = digits.to_string();
            let point = point.min(d.len());
            same(&format!("{}.{}e{exp}", &d[..d.len() - point], &d[d.len() - point..]));
        }
    }
}
