//! Exact decimal numbers with DynamoDB's limits: up to 38 significant digits, magnitude from
//! 1E-130 to 9.9999999999999999999999999999999999999E+125, or zero. No floating point anywhere.
//!
//! Representation: sign, significant digits (no leading or trailing zeros) and an exponent,
//! value = 0.d₁d₂…dₙ × 10^exp. Zero has no digits. Equality, ordering and hashing are numeric.

use std::cmp::Ordering;
use std::fmt;

use crate::limits::NUMBER_DIGITS_MAX;

/// Largest exponent (value = 0.d… × 10^exp): 9.99…E+125 = 0.999… × 10^126.
const EXP_MAX: i32 = 126;
/// Smallest exponent: 1E-130 = 0.1 × 10^-129.
const EXP_MIN: i32 = -129;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("A value provided cannot be converted into a number")]
    Syntax,
    #[error("Attempting to store more than 38 significant digits in a Number")]
    Precision,
    #[error(
        "Number overflow. Attempting to store a number with magnitude larger than supported range"
    )]
    Overflow,
    #[error("Number underflow. Attempting to store a number with magnitude smaller than supported range")]
    Underflow,
}

/// The bytes DynamoDB counts for a number of `digits` significant digits, value
/// `0.d₁…dₙ × 10^exp`, negative or not. The documented rule ("one byte per two significant
/// digits, plus one") is the rule of base-100 digits aligned on the decimal point: the digits
/// are paired from the point outwards, every pair from the first significant one to the last
/// costs a byte, plus one byte, plus one for a negative number's terminator; zero costs one.
/// So `15` costs 2 but `1.5` costs 3 (`01.50`), and `3.14159` costs 5, as DynamoDB measured
/// them (nubo-db/dynamodb-conformance's captures).
pub(crate) fn number_size(neg: bool, exp: i32, digits: usize) -> usize {
    if digits == 0 {
        return 1;
    }
    // The place value of the first digit is 10^(exp-1), of the last 10^(exp-digits); a pair
    // holds the place values 10^(2k) and 10^(2k+1).
    let first = (exp - 1).div_euclid(2);
    let last = (exp - digits as i32).div_euclid(2);
    (first - last + 1) as usize + 1 + usize::from(neg)
}

#[derive(Clone)]
pub struct Number {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Number({self})")
    }
}

impl Number {
    pub fn zero() -> Number {
        Number {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// Builds from raw parts, normalizing and checking DynamoDB's limits.
    fn from_parts(neg: bool, mut digits: Vec<u8>, mut exp: i32) -> Result<Number, NumberError> {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        exp -= lead as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Ok(Number::zero());
        }
        if exp > EXP_MAX {
            return Err(NumberError::Overflow);
        }
        if exp < EXP_MIN {
            return Err(NumberError::Underflow);
        }
        if digits.len() > NUMBER_DIGITS_MAX {
            return Err(NumberError::Precision);
        }
        Ok(Number { neg, digits, exp })
    }

    /// Parses DynamoDB's number syntax: `[+-]digits[.digits][(e|E)[+-]digits]`, also `.5` and
    /// `5.`.
    pub fn parse(s: &str) -> Result<Number, NumberError> {
        let b = s.as_bytes();
        let mut i = 0;
        let mut neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            neg = b[i] == b'-';
            i += 1;
        }
        let mut digits = Vec::new();
        let mut int_digits: i64 = 0;
        let mut seen_digit = false;
        while i < b.len() && b[i].is_ascii_digit() {
            digits.push(b[i] - b'0');
            int_digits += 1;
            seen_digit = true;
            i += 1;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                digits.push(b[i] - b'0');
                seen_digit = true;
                i += 1;
            }
        }
        if !seen_digit {
            return Err(NumberError::Syntax);
        }
        let mut e: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let mut eneg = false;
            if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                eneg = b[i] == b'-';
                i += 1;
            }
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                e = (e * 10 + (b[i] - b'0') as i64).min(1_000_000);
                i += 1;
            }
            if i == start {
                return Err(NumberError::Syntax);
            }
            if eneg {
                e = -e;
            }
        }
        if i != b.len() {
            return Err(NumberError::Syntax);
        }
        let exp = (int_digits + e).clamp(-1_000_000, 1_000_000) as i32;
        // Leading zeros do not count as significant digits; trailing zeros are trimmed.
        let lead = digits.iter().take_while(|d| **d == 0).count();
        let trail = digits.iter().rev().take_while(|d| **d == 0).count();
        let significant = digits.len().saturating_sub(lead + trail);
        if significant > NUMBER_DIGITS_MAX {
            return Err(NumberError::Precision);
        }
        Number::from_parts(neg, digits, exp)
    }

    pub fn from_i64(v: i64) -> Number {
        let neg = v < 0;
        let s = v.unsigned_abs().to_string();
        let digits: Vec<u8> = s.bytes().map(|c| c - b'0').collect();
        let exp = digits.len() as i32;
        Number::from_parts(neg, digits, exp).unwrap_or_else(|_| Number::zero())
    }

    /// The value as an i64 when it is an integer that fits.
    pub fn to_i64(&self) -> Option<i64> {
        if self.digits.is_empty() {
            return Some(0);
        }
        if self.exp < self.digits.len() as i32 || self.exp > 19 {
            return None;
        }
        let mut v: i128 = 0;
        for i in 0..self.exp as usize {
            v = v * 10 + *self.digits.get(i).unwrap_or(&0) as i128;
        }
        if self.neg {
            v = -v;
        }
        i64::try_from(v).ok()
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    pub fn is_negative(&self) -> bool {
        self.neg && !self.digits.is_empty()
    }

    fn cmp_magnitude(&self, other: &Number) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        self.exp
            .cmp(&other.exp)
            .then_with(|| self.digits.cmp(&other.digits))
    }

    /// Digits aligned to a common least exponent: (big-endian digits, exponent of the last).
    fn aligned(a: &Number, b: &Number) -> (Vec<u8>, Vec<u8>, i32) {
        let low = (a.exp - a.digits.len() as i32).min(b.exp - b.digits.len() as i32);
        let high = a.exp.max(b.exp);
        let width = (high - low) as usize;
        let place = |n: &Number| {
            let mut v = vec![0u8; width];
            let start = (high - n.exp) as usize;
            for (i, d) in n.digits.iter().enumerate() {
                v[start + i] = *d;
            }
            v
        };
        (place(a), place(b), high)
    }

    fn add_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; a.len() + 1];
        let mut carry = 0u8;
        for i in (0..a.len()).rev() {
            let s = a[i] + b[i] + carry;
            out[i + 1] = s % 10;
            carry = s / 10;
        }
        out[0] = carry;
        out
    }

    /// a − b where a ≥ b in magnitude.
    fn sub_magnitudes(a: &[u8], b: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; a.len()];
        let mut borrow = 0i8;
        for i in (0..a.len()).rev() {
            let mut d = a[i] as i8 - b[i] as i8 - borrow;
            if d < 0 {
                d += 10;
                borrow = 1;
            } else {
                borrow = 0;
            }
            out[i] = d as u8;
        }
        out
    }

    /// Exact sum; DynamoDB's errors when the result leaves the supported range or precision.
    pub fn checked_add(&self, other: &Number) -> Result<Number, NumberError> {
        if self.is_zero() {
            return Ok(other.clone());
        }
        if other.is_zero() {
            return Ok(self.clone());
        }
        let (a, b, high) = Number::aligned(self, other);
        if self.neg == other.neg {
            let sum = Number::add_magnitudes(&a, &b);
            return Number::from_parts(self.neg, sum, high + 1);
        }
        match self.cmp_magnitude(other) {
            Ordering::Equal => Ok(Number::zero()),
            Ordering::Greater => Number::from_parts(self.neg, Number::sub_magnitudes(&a, &b), high),
            Ordering::Less => Number::from_parts(other.neg, Number::sub_magnitudes(&b, &a), high),
        }
    }

    pub fn checked_sub(&self, other: &Number) -> Result<Number, NumberError> {
        self.checked_add(&other.negated())
    }

    pub fn negated(&self) -> Number {
        Number {
            neg: !self.neg && !self.digits.is_empty(),
            digits: self.digits.clone(),
            exp: self.exp,
        }
    }

    /// The bytes DynamoDB counts for this number ([`number_size`]).
    pub fn size_bytes(&self) -> usize {
        number_size(self.neg, self.exp, self.digits.len())
    }

    /// Significant digits.
    pub fn precision(&self) -> usize {
        self.digits.len()
    }

    /// An encoding whose bytewise order is the numeric order.
    ///
    /// Negative: `0x01`, `255 − (exp + 129)`, each digit as `9 − d`, then `0xFF`.
    /// Zero: `0x02`. Positive: `0x03`, `exp + 129`, each digit as `d`.
    pub fn sortable_bytes(&self) -> Vec<u8> {
        if self.digits.is_empty() {
            return vec![0x02];
        }
        let e = (self.exp - EXP_MIN) as u8;
        let mut out = Vec::with_capacity(self.digits.len() + 3);
        if self.neg {
            out.push(0x01);
            out.push(255 - e);
            out.extend(self.digits.iter().map(|d| 9 - d));
            out.push(0xFF);
        } else {
            out.push(0x03);
            out.push(e);
            out.extend_from_slice(&self.digits);
        }
        out
    }

    pub fn from_sortable_bytes(b: &[u8]) -> Result<Number, NumberError> {
        let (&tag, rest) = b.split_first().ok_or(NumberError::Syntax)?;
        match tag {
            0x02 if rest.is_empty() => Ok(Number::zero()),
            0x03 => {
                let (&e, digits) = rest.split_first().ok_or(NumberError::Syntax)?;
                if digits.iter().any(|d| *d > 9) || digits.is_empty() {
                    return Err(NumberError::Syntax);
                }
                Number::from_parts(false, digits.to_vec(), e as i32 + EXP_MIN)
            }
            0x01 => {
                let (&e, rest) = rest.split_first().ok_or(NumberError::Syntax)?;
                let digits = rest.strip_suffix(&[0xFF]).ok_or(NumberError::Syntax)?;
                if digits.iter().any(|d| *d > 9) || digits.is_empty() {
                    return Err(NumberError::Syntax);
                }
                let digits = digits.iter().map(|d| 9 - d).collect();
                Number::from_parts(true, digits, (255 - e) as i32 + EXP_MIN)
            }
            _ => Err(NumberError::Syntax),
        }
    }
}

impl fmt::Display for Number {
    /// DynamoDB's canonical text: no exponent, no leading or trailing zeros, `-0` is `0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.digits.is_empty() {
            return f.write_str("0");
        }
        let mut s = String::with_capacity(self.digits.len() + 8);
        if self.neg {
            s.push('-');
        }
        let n = self.digits.len() as i32;
        let d = |x: &u8| (b'0' + x) as char;
        if self.exp <= 0 {
            s.push_str("0.");
            for _ in 0..(-self.exp) {
                s.push('0');
            }
            s.extend(self.digits.iter().map(d));
        } else if self.exp < n {
            s.extend(self.digits[..self.exp as usize].iter().map(d));
            s.push('.');
            s.extend(self.digits[self.exp as usize..].iter().map(d));
        } else {
            s.extend(self.digits.iter().map(d));
            for _ in 0..(self.exp - n) {
                s.push('0');
            }
        }
        f.write_str(&s)
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Number {}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_negative(), other.is_negative()) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl std::hash::Hash for Number {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Normalized: equal numbers have equal parts.
        self.is_negative().hash(state);
        self.digits.hash(state);
        self.exp.hash(state);
    }
}

impl std::str::FromStr for Number {
    type Err = NumberError;
    fn from_str(s: &str) -> Result<Number, NumberError> {
        Number::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sizes DynamoDB gave these literals (nubo-db/dynamodb-conformance's captures of the
    /// item size limit, measured a byte at a time).
    #[test]
    fn number_sizes_are_dynamodbs() {
        for (text, size) in [
            ("0", 1),
            ("1", 2),
            ("12", 2),
            ("123", 3),
            ("1234", 3),
            ("12345678901234567890123456789012345678", 20),
            ("0042", 2),
            ("100", 2),
            ("1010", 3),
            ("0.0000001", 2),
            ("1E125", 2),
            ("1E-100", 2),
            ("1.5", 3),
            ("15", 2),
            ("1.2", 3),
            ("1.200", 3),
            ("1.234", 4),
            ("3.14159", 5),
            ("123456", 4),
            ("100.5", 4),
            ("0.15", 2),
            ("-42", 3),
            ("-0", 1),
        ] {
            let n = Number::parse(text).expect(text);
            assert_eq!(n.size_bytes(), size, "{text}");
        }
    }
    use proptest::prelude::*;

    fn n(s: &str) -> Number {
        Number::parse(s).expect("parses")
    }

    #[test]
    fn canonical_text() {
        for (input, want) in [
            ("1.50", "1.5"),
            ("-0", "0"),
            ("+0.000", "0"),
            ("1e3", "1000"),
            ("0.000001", "0.000001"),
            ("-12.3400e-2", "-0.1234"),
            ("00012", "12"),
            (".5", "0.5"),
            ("5.", "5"),
            ("1E-130", &format!("0.{}1", "0".repeat(129))),
        ] {
            assert_eq!(n(input).to_string(), want, "{input}");
        }
        assert_eq!(n("1E+125").to_string(), format!("1{}", "0".repeat(125)));
    }

    #[test]
    fn limits_and_syntax_errors() {
        assert_eq!(Number::parse("1E+126"), Err(NumberError::Overflow));
        assert_eq!(
            Number::parse("9.9999999999999999999999999999999999999E+125").map(|x| x.precision()),
            Ok(38)
        );
        assert_eq!(Number::parse("1E-131"), Err(NumberError::Underflow));
        assert_eq!(
            Number::parse("123456789012345678901234567890123456789"),
            Err(NumberError::Precision)
        );
        assert!(
            Number::parse("1234567890123456789012345678901234567800000").is_ok(),
            "trailing zeros are free"
        );
        for bad in [
            "", "-", "abc", "1e", "1.2.3", " 1", "1 ", "0x10", "NaN", "Infinity", "e5", ".",
        ] {
            assert_eq!(Number::parse(bad), Err(NumberError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(n("0.1").checked_add(&n("0.2")).expect("add"), n("0.3"));
        assert_eq!(
            n("1").checked_sub(&n("1.000")).expect("sub").to_string(),
            "0"
        );
        assert_eq!(n("-5").checked_add(&n("3")).expect("add").to_string(), "-2");
        assert_eq!(
            n("99").checked_add(&n("1")).expect("add").to_string(),
            "100"
        );
        assert_eq!(
            n("9.9999999999999999999999999999999999999E+125").checked_add(&n("1E+125")),
            Err(NumberError::Overflow)
        );
        assert_eq!(
            n("1").checked_add(&n("1E-100")),
            Err(NumberError::Precision)
        );
    }

    fn big(s: &str) -> (bool, String) {
        // Reference comparison via integer strings: (negative, digits without leading zeros).
        let neg = s.starts_with('-');
        let d = s.trim_start_matches('-').trim_start_matches('0');
        (neg && !d.is_empty(), d.to_string())
    }

    fn ref_cmp(a: &str, b: &str) -> Ordering {
        let (an, ad) = big(a);
        let (bn, bd) = big(b);
        let mag = ad.len().cmp(&bd.len()).then_with(|| ad.cmp(&bd));
        match (an, bn) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => mag,
            (true, true) => mag.reverse(),
        }
    }

    proptest! {
        #[test]
        fn ordering_and_sortable_bytes_match_integers(a in any::<i64>(), b in any::<i64>(), sa in 0i32..5, sb in 0i32..5) {
            // a × 10^-sa vs b × 10^-sb, compared exactly via i128 scaled to a common scale.
            let x = Number::parse(&format!("{a}e-{sa}")).expect("x");
            let y = Number::parse(&format!("{b}e-{sb}")).expect("y");
            let scale = sa.max(sb);
            let xa = a as i128 * 10i128.pow((scale - sa) as u32);
            let yb = b as i128 * 10i128.pow((scale - sb) as u32);
            prop_assert_eq!(x.cmp(&y), xa.cmp(&yb));
            prop_assert_eq!(x.sortable_bytes().cmp(&y.sortable_bytes()), xa.cmp(&yb));
            prop_assert_eq!(Number::from_sortable_bytes(&x.sortable_bytes()).expect("decode"), x.clone());
            prop_assert_eq!(Number::parse(&x.to_string()).expect("reparse"), x.clone());
        }

        #[test]
        fn add_sub_match_i128(a in any::<i64>(), b in any::<i64>()) {
            let x = Number::from_i64(a);
            let y = Number::from_i64(b);
            let s = x.checked_add(&y).expect("add");
            prop_assert_eq!(s.to_string(), (a as i128 + b as i128).to_string());
            let d = x.checked_sub(&y).expect("sub");
            prop_assert_eq!(d.to_string(), (a as i128 - b as i128).to_string());
            prop_assert_eq!(ref_cmp(&x.to_string(), &y.to_string()), a.cmp(&b));
            prop_assert_eq!(x.to_i64(), Some(a));
        }

        #[test]
        fn parse_never_panics(s in "[-+0-9.eE]{0,50}") {
            let _ = Number::parse(&s);
        }
    }
}
