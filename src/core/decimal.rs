//! Decimal strings to `f64`, correctly rounded, in a few hundred bytes of Wasm.
//!
//! `str::parse::<f64>` is exact and fast, but it links some 14 KB of tables (the powers of
//! five of the Eisel–Lemire algorithm) into the Wasm module, which is more than every header
//! parser together. The numbers a server writes in a header are short, so this module takes
//! the classic road instead:
//!
//! * **Fast path** (Clinger): at most 2^53 as an integer of significant digits, times or
//!   divided by a power of ten up to 10^22. Both operands are exact doubles, so the one
//!   IEEE multiplication or division rounds correctly. Every realistic header value is here.
//! * **Exact path**, for everything else: start from an estimate within a few ulps, then
//!   compare the exact decimal value with the halfway points between neighbouring doubles in
//!   big-integer arithmetic (multiplications and shifts only, no division), stepping one ulp
//!   at a time, and round half to even. At most [`MAX_DIGITS`] significant digits are kept;
//!   the rest only tells "a little more than that", which is enough: a halfway point between
//!   two doubles never has more than 767 significant digits.
//!
//! The result is the same double as `str::parse::<f64>` gives for the same text (checked
//! bit for bit by the tests, over hard cases and random ones), including `inf` for values
//! beyond `f64::MAX` and subnormals near zero.

use std::cmp::Ordering;

/// Significant digits kept exactly; more than the 767 any halfway point can have.
const MAX_DIGITS: usize = 780;

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

/// The value of the digits of `mantissa` (a `.` among them is skipped) times `10^exp`.
fn value(mantissa: &[u8], exp: i64) -> f64 {
    let digits: Vec<u8> = mantissa
        .iter()
        .filter(|&&c| c != b'.')
        .map(|&c| c - b'0')
        .collect();
    let Some(first) = digits.iter().position(|&d| d != 0) else {
        return 0.0;
    };
    let last = digits.iter().rposition(|&d| d != 0).unwrap_or(first);
    // The significant digits: an integer of `count` digits, the first and the last non-zero.
    let sig = &digits[first..=last];
    let count = sig.len();
    let exp = exp + (digits.len() - 1 - last) as i64;
    let int = |d: &[u8]| d.iter().fold(0u64, |a, &c| a * 10 + u64::from(c));
    // The value lies in [10^lead, 10^(lead + 1)).
    let lead = exp + count as i64 - 1;
    if lead > 308 {
        return f64::INFINITY; // >= 1e309 > f64::MAX
    }
    if lead < -325 {
        return 0.0; // < 1e-325, below half the least subnormal
    }
    // Fast path: both operands exact, one correctly rounded operation.
    if count <= 19 {
        let d = int(sig);
        if d <= 1 << 53 && (-22..=22).contains(&exp) {
            let p = pow10(exp.unsigned_abs() as u32);
            return if exp < 0 { d as f64 / p } else { d as f64 * p };
        }
    }
    // An estimate from the first 19 digits, within a few ulps.
    let head = count.min(19);
    let w = int(&sig[..head]);
    let mut e = exp + (count - head) as i64;
    let mut z = w as f64;
    while e > 22 {
        z *= 1e22;
        e -= 22;
    }
    while e < -22 {
        z /= 1e22;
        e += 22;
    }
    z = if e < 0 {
        z / pow10(e.unsigned_abs() as u32)
    } else {
        z * pow10(e as u32)
    };
    if z.is_infinite() {
        z = f64::MAX;
    }
    // The exact value: `num / den`, with the digits past MAX_DIGITS (not all zero: the last
    // significant digit is not) as `sticky`.
    let kept = count.min(MAX_DIGITS);
    let sticky = count > kept;
    let exp = exp + (count - kept) as i64;
    let mut num = Big::from_u64(0);
    for &c in &sig[..kept] {
        num.mul_small(10);
        num.add_small(u32::from(c));
    }
    // The denominator is 10^den_exp.
    let den_exp = if exp >= 0 {
        num.mul_pow10(exp as u32);
        0
    } else {
        exp.unsigned_abs() as u32
    };
    // `value <=> midpoint(x, next_up(x))`, the exact value being a little more when sticky.
    let vs_half_above = |x: f64| {
        let (m, q) = decompose(x);
        // The midpoint is (2m + 1) * 2^(q - 1).
        let h = q - 1;
        let mut lhs = num.clone();
        let mut rhs = Big::from_u64(2 * m + 1);
        rhs.mul_pow10(den_exp);
        if h >= 0 {
            rhs.shl(h as u32);
        } else {
            lhs.shl(h.unsigned_abs() as u32);
        }
        match lhs.cmp(&rhs) {
            Ordering::Equal if sticky => Ordering::Greater,
            o => o,
        }
    };
    let odd = |x: f64| x.to_bits() & 1 == 1;
    loop {
        if z.is_infinite() {
            return z; // stepped past f64::MAX
        }
        match vs_half_above(z) {
            Ordering::Greater => {
                z = f64::from_bits(z.to_bits() + 1);
                continue;
            }
            Ordering::Equal if odd(z) => {
                z = f64::from_bits(z.to_bits() + 1);
                continue;
            }
            _ => {}
        }
        if z > 0.0 {
            let below = f64::from_bits(z.to_bits() - 1);
            match vs_half_above(below) {
                Ordering::Less => {
                    z = below;
                    continue;
                }
                Ordering::Equal if odd(z) => {
                    z = below;
                    continue;
                }
                _ => {}
            }
        }
        return z;
    }
}

/// `10^n` as a double, exact for `n <= 22` (every factor and product is an exact double).
fn pow10(n: u32) -> f64 {
    (0..n).fold(1.0, |p, _| p * 10.0)
}

/// A finite double `x >= 0` as `m * 2^q` with an integer `m < 2^53`.
fn decompose(x: f64) -> (u64, i64) {
    let bits = x.to_bits();
    let biased = (bits >> 52) as i64;
    let frac = bits & ((1 << 52) - 1);
    if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), biased - 1075)
    }
}

/// A non-negative big integer, little-endian base-2^32 limbs, no leading zero limbs.
#[derive(Clone)]
struct Big(Vec<u32>);

impl Big {
    fn from_u64(v: u64) -> Big {
        let mut b = Big(vec![v as u32, (v >> 32) as u32]);
        b.trim();
        b
    }
    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }
    fn mul_small(&mut self, f: u32) {
        let mut carry = 0u64;
        for l in &mut self.0 {
            let v = u64::from(*l) * u64::from(f) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }
    fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in &mut self.0 {
            if carry == 0 {
                return;
            }
            let v = u64::from(*l) + carry;
            *l = v as u32;
            carry = v >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }
    fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        self.mul_small(10u32.pow(n));
    }
    fn shl(&mut self, bits: u32) {
        if self.0.is_empty() {
            return;
        }
        let mut out = vec![0; (bits / 32) as usize];
        let mut carry = 0u64;
        for &l in &self.0 {
            let v = (u64::from(l) << (bits % 32)) | carry;
            out.push(v as u32);
            carry = v >> 32;
        }
        if carry > 0 {
            out.push(carry as u32);
        }
        self.0 = out;
    }
    fn cmp(&self, other: &Big) -> Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }
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
    fn hard_cases_match_std() {
        // Halfway between two doubles but for a digit past MAX_DIGITS: up, not to even.
        let halfway_tail = format!("9007199254740993.{}1", "0".repeat(900));
        let below_tail = format!("9007199254740992.{}", "9".repeat(900));
        let tiny_tail = format!("2.4703282292062327208828439643411{}1e-324", "0".repeat(800));
        let long_frac = format!("0.{}1", "0".repeat(400));
        let long_int = format!("1{}", "0".repeat(400));
        for s in [
            "0",
            "0.0",
            "0e999999999999999999999",
            "1e999999999999999999999",
            "1e-999999999999999999999",
            "9007199254740992",
            "9007199254740993", // halfway: to even (down)
            "9007199254740995", // halfway: to even (up)
            "9007199254740993.0000000000000000001",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623158079e308",
            "1.7976931348623159e308",
            "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497792",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "7.4109846876186981e-324",
            "1e-324",
            "3e-324",
            "1e-325",
            "1e-400",
            "1e308",
            "1e309",
            "123456789012345678901234567890",
            "0.1",
            "0.3",
            "1.1",
            "8.64",
            "2.5e-05",
            "1e22",
            "1e23",
            "9007199254740993e22",
            "4503599627370496.5",
            "4503599627370497.5",
            "1.00000000000000011102230246251565404236316680908203125",
            "1.00000000000000011102230246251565404236316680908203124",
            "1.00000000000000011102230246251565404236316680908203126",
            &halfway_tail,
            &below_tail,
            &tiny_tail,
            &long_frac,
            &long_int,
        ] {
            same(s);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Every finite double, written shortest, long and in exponent form, reads back.
        #[test]
        fn doubles_round_trip(bits in any::<u64>()) {
            let x = f64::from_bits(bits).abs();
            prop_assume!(x.is_finite());
            for s in [format!("{x}"), format!("{x:e}"), format!("{x:.30e}"), format!("{x:.20}")] {
                same(&s);
            }
        }

        /// Random digit strings: near halfway points, many digits, any exponent.
        #[test]
        fn digit_strings_match_std(
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
            same(&s);
        }

        /// Exact halfway points between neighbouring doubles, and the numbers just around.
        #[test]
        fn halfway_points_round_to_even(bits in 0u64..0x7fef_ffff_ffff_ffff) {
            let (m, q) = decompose(f64::from_bits(bits));
            // (2m + 1) * 2^(q - 1), written out exactly in decimal.
            let mut digits = Big::from_u64(2 * m + 1);
            let h = q - 1;
            let (mut int, exp10) = if h >= 0 {
                digits.shl(h as u32);
                (digits, 0i64)
            } else {
                // x * 2^-k = x * 5^k / 10^k.
                for _ in 0..h.unsigned_abs() {
                    digits.mul_small(5);
                }
                (digits, h)
            };
            let mut text = Vec::new();
            while !int.0.is_empty() {
                let mut rem = 0u64;
                for l in int.0.iter_mut().rev() {
                    let v = (rem << 32) | u64::from(*l);
                    *l = (v / 10) as u32;
                    rem = v % 10;
                }
                int.trim();
                text.push(b'0' + rem as u8);
            }
            text.reverse();
            let s = format!("{}e{exp10}", String::from_utf8(text).unwrap());
            same(&s);
            let (mantissa, exp) = s.split_at(s.find('e').unwrap());
            same(&format!("{mantissa}.000001{exp}"));
            // Just above, by a digit past MAX_DIGITS.
            same(&format!("{mantissa}.{}1{exp}", "0".repeat(MAX_DIGITS)));
        }
    }
}
