//! Exact, deterministic fixed-point conversion between integers and floats.
//!
//! A fixed-point number is an integer `value` (an `int256` on the Solidity side) and a count of
//! `decimals`: it means `value / 10^decimals`.
//!
//! * **fixed → float** returns the float nearest to the exact rational `value / 10^decimals`,
//!   ties to even (IEEE-754 round-to-nearest-even). It is computed by Rust's correctly rounded
//!   decimal parser, a pure function of the digits with no platform libm involved.
//! * **float → fixed** returns `round_half_even(x * 10^decimals)`, computed exactly in 256-bit
//!   integer arithmetic on the float's binary expansion (`x = m · 2^e`).
//!
//! Both fail, never saturate: non-finite floats, results that do not fit (`int256` one way,
//! a finite float the other) and more than [`MAX_DECIMALS`] decimals are errors.

use crate::TensorError;
use alloy_primitives::{I256, U256};

/// Largest accepted `decimals` (10^77 is the largest power of ten below 2^256).
pub const MAX_DECIMALS: u8 = 77;

fn check_decimals(decimals: u8) -> Result<(), TensorError> {
    if decimals > MAX_DECIMALS {
        return Err(TensorError::Fixed(format!(
            "decimals {decimals} exceeds the maximum of {MAX_DECIMALS}"
        )));
    }
    Ok(())
}

fn parse_exact<T: std::str::FromStr>(value: I256, decimals: u8) -> Result<T, TensorError> {
    check_decimals(decimals)?;
    format!("{value}e-{decimals}")
        .parse::<T>()
        .map_err(|_| TensorError::Fixed(format!("cannot convert {value}e-{decimals}")))
}

/// `value / 10^decimals` as the nearest f64 (ties to even). Errors when out of f64 range.
pub fn fixed_to_f64(value: I256, decimals: u8) -> Result<f64, TensorError> {
    let x: f64 = parse_exact(value, decimals)?;
    if !x.is_finite() {
        return Err(TensorError::Fixed(format!(
            "{value}e-{decimals} overflows f64"
        )));
    }
    Ok(x)
}

/// `value / 10^decimals` as the nearest f32 (ties to even), rounded once, directly from the
/// exact rational (not through f64). Errors when out of f32 range.
pub fn fixed_to_f32(value: I256, decimals: u8) -> Result<f32, TensorError> {
    let x: f32 = parse_exact(value, decimals)?;
    if !x.is_finite() {
        return Err(TensorError::Fixed(format!(
            "{value}e-{decimals} overflows f32"
        )));
    }
    Ok(x)
}

/// `round_half_even(x * 10^decimals)` exactly. Errors on NaN, infinities and overflow of int256.
pub fn f64_to_fixed(x: f64, decimals: u8) -> Result<I256, TensorError> {
    check_decimals(decimals)?;
    if !x.is_finite() {
        return Err(TensorError::Fixed(format!("{x} is not finite")));
    }
    let overflow = || TensorError::Fixed(format!("{x:e} * 10^{decimals} overflows int256"));
    let bits = x.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    // x = m * 2^e with m an integer.
    let (m, e) = if exp_bits == 0 {
        (frac, -1074i64)
    } else {
        (frac | (1 << 52), exp_bits - 1075)
    };
    if m == 0 {
        return Ok(I256::ZERO);
    }
    let n = U256::from(m)
        .checked_mul(U256::from(10u8).pow(U256::from(decimals)))
        .ok_or_else(overflow)?;
    let magnitude = if e >= 0 {
        let e = e as usize;
        if n.bit_len() + e > 255 {
            return Err(overflow());
        }
        n << e
    } else {
        let k = (-e) as usize;
        if k > 256 {
            U256::ZERO
        } else {
            let (q, rem) = if k == 256 {
                (U256::ZERO, n)
            } else {
                (n >> k, n - ((n >> k) << k))
            };
            let half = U256::from(1u8) << (k - 1);
            if rem > half || (rem == half && q.bit(0)) {
                q + U256::from(1u8)
            } else {
                q
            }
        }
    };
    if magnitude.bit_len() > 255 {
        return Err(overflow());
    }
    let v = I256::from_raw(magnitude);
    Ok(if negative { -v } else { v })
}

/// `round_half_even(x * 10^decimals)` exactly, for f32 (widening to f64 is exact).
pub fn f32_to_fixed(x: f32, decimals: u8) -> Result<I256, TensorError> {
    f64_to_fixed(x as f64, decimals)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: i64) -> I256 {
        I256::try_from(v).unwrap()
    }

    #[test]
    fn rounds_half_to_even() {
        assert_eq!(f64_to_fixed(0.5, 0).unwrap(), i(0));
        assert_eq!(f64_to_fixed(1.5, 0).unwrap(), i(2));
        assert_eq!(f64_to_fixed(2.5, 0).unwrap(), i(2));
        assert_eq!(f64_to_fixed(-2.5, 0).unwrap(), i(-2));
        assert_eq!(f64_to_fixed(-3.5, 0).unwrap(), i(-4));
        assert_eq!(f64_to_fixed(0.125, 2).unwrap(), i(12)); // 12.5 -> 12
        assert_eq!(f64_to_fixed(0.375, 2).unwrap(), i(38)); // 37.5 -> 38
        // 0.1 is slightly above 1/10 in binary: 0.1 * 10 = 1.000...0555 -> 1
        assert_eq!(f64_to_fixed(0.1, 1).unwrap(), i(1));
        assert_eq!(f32_to_fixed(0.7, 4).unwrap(), i(7000));
        assert_eq!(f64_to_fixed(-0.0, 18).unwrap(), i(0));
        assert_eq!(f64_to_fixed(5e-324, 77).unwrap(), i(0));
        assert!(
            f64_to_fixed(1e300, 0)
                .unwrap_err()
                .to_string()
                .contains("overflows")
        );
    }

    #[test]
    fn rejects_non_finite_and_big_decimals() {
        assert!(f64_to_fixed(f64::NAN, 0).is_err());
        assert!(f64_to_fixed(f64::INFINITY, 0).is_err());
        assert!(f64_to_fixed(1.0, 78).is_err());
        assert!(fixed_to_f32(i(1), 78).is_err());
        assert!(fixed_to_f32(I256::MAX, 0).is_err()); // 5.7e76 > f32::MAX
        assert!(fixed_to_f64(I256::MAX, 0).is_ok());
    }

    #[test]
    fn fixed_to_float_is_correctly_rounded() {
        assert_eq!(fixed_to_f32(i(1), 1).unwrap(), 0.1f32);
        assert_eq!(fixed_to_f64(i(1), 1).unwrap(), 0.1f64);
        assert_eq!(fixed_to_f32(i(-15), 1).unwrap(), -1.5);
        // 16777217 is halfway between two f32s: ties to even gives 16777216.
        assert_eq!(fixed_to_f32(i(16_777_217), 0).unwrap(), 16_777_216.0);
        // f32 rounding straight from the rational, not via f64: 1 + 2^-24 + 2^-60 is just
        // above a tie, so it rounds up, though its nearest f64 (1 + 2^-24) is a tie that would
        // round down to 1.0.
        let v: I256 = "1000000059604644776666398376226425170898437500"
            .parse()
            .unwrap();
        // v / 10^45 = 1.000000059604644776666... > 1 + 2^-24 (=1.0000000596046447753906...)
        assert_eq!(fixed_to_f32(v, 45).unwrap(), 1.0000001f32);
    }
}
