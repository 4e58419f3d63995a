//! Property tests for every encoder/decoder pair of prova-tensor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use prova_tensor::{
    DType, I256, Tensor, decode_tensors, encode_tensors,
    fixed::{f32_to_fixed, f64_to_fixed, fixed_to_f32, fixed_to_f64},
};

fn shape() -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(0u64..5, 0..4)
}

fn tensor() -> impl Strategy<Value = Tensor> {
    (0u8..8, shape()).prop_flat_map(|(code, shape)| {
        let dtype = DType::from_code(code).unwrap();
        let n = shape.iter().product::<u64>() as usize;
        let bytes = if dtype == DType::Bool {
            prop::collection::vec(0u8..2, n).boxed()
        } else {
            prop::collection::vec(any::<u8>(), n * dtype.size()).boxed()
        };
        bytes.prop_map(move |data| Tensor::new(dtype, shape.clone(), data).unwrap())
    })
}

proptest! {
    #[test]
    fn canonical_encoding_round_trips(ts in prop::collection::vec(tensor(), 0..4)) {
        let bytes = encode_tensors(&ts);
        prop_assert_eq!(decode_tensors(&bytes).unwrap(), ts.clone());
        for t in &ts {
            prop_assert_eq!(&Tensor::decode(&t.encode()).unwrap(), t);
        }
    }

    #[test]
    fn json_round_trips_bit_for_bit(t in tensor()) {
        // Every bit pattern, NaN payloads aside (JSON has one NaN), comes back identical.
        let json = t.to_json();
        let back = Tensor::from_json(&json).unwrap();
        if t.dtype().is_float() {
            prop_assert_eq!(back.shape(), t.shape());
            for i in 0..t.len() {
                let (a, b) = (t.get_f64(i).unwrap(), back.get_f64(i).unwrap());
                prop_assert!(a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()), "{a} vs {b}");
            }
        } else {
            prop_assert_eq!(back, t);
        }
    }

    #[test]
    fn decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = decode_tensors(&bytes);
        let _ = Tensor::decode(&bytes);
        let _ = Tensor::from_json(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn f32_to_fixed_and_back(x in any::<f32>().prop_filter("finite", |x| x.is_finite()), d in 0u8..30) {
        // Going to fixed point and back lands on x whenever the fixed value keeps enough digits
        // (a float needs at most 9 significant digits to round-trip).
        let v = f32_to_fixed(x, d).unwrap();
        let back = fixed_to_f32(v, d).unwrap();
        if v.unsigned_abs() >= alloy_primitives_u256(1_000_000_000) {
            prop_assert_eq!(back.to_bits(), if x == 0.0 { 0f32.to_bits() } else { x.to_bits() });
        }
        // And it is always the nearest fixed value: |x*10^d - v| <= 1/2.
        let again = f32_to_fixed(back, d).unwrap();
        prop_assert_eq!(again, v);
    }

    #[test]
    fn fixed_to_f64_and_back(v in -(1i64 << 51)..(1i64 << 51), d in 0u8..16) {
        let v = I256::try_from(v).unwrap();
        let x = fixed_to_f64(v, d).unwrap();
        prop_assert_eq!(f64_to_fixed(x, d).unwrap(), v);
    }

    #[test]
    fn small_integers_are_exact_in_f32(v in -(1i64 << 24)..(1i64 << 24)) {
        let x = fixed_to_f32(I256::try_from(v).unwrap(), 0).unwrap();
        prop_assert_eq!(x as i64, v);
        prop_assert_eq!(f32_to_fixed(x, 0).unwrap(), I256::try_from(v).unwrap());
    }
}

fn alloy_primitives_u256(v: u64) -> prova_tensor::U256 {
    prova_tensor::U256::from(v)
}

#[test]
fn json_errors_are_precise() {
    let err = |s: &str| Tensor::from_json(s).unwrap_err().to_string();
    assert!(err(r#"{"dtype":"f16","shape":[1],"data":[1]}"#).contains("unknown dtype \"f16\""));
    assert!(
        err(r#"{"dtype":"f32","shape":[2],"data":[1]}"#)
            .contains("shape [2] needs 2 elements, data has 1")
    );
    assert!(
        err(r#"{"dtype":"i8","shape":[1],"data":[300]}"#)
            .contains("data[0]: 300 is not a valid i8 value")
    );
    assert!(err(r#"{"dtype":"i64","shape":[1],"data":[1.5]}"#).contains("not a valid i64"));
    assert!(err(r#"{"dtype":"bool","shape":[1],"data":[2]}"#).contains("not a valid bool"));
    assert!(err(r#"{"dtype":"f32","shape":[1],"data":["x"]}"#).contains("not a valid f32"));
    assert!(err(r#"{"dtype":"f32","shape":[1],"data":[1],"extra":1}"#).contains("unknown field"));
    assert!(
        err(r#"{"dtype":"f32","shape":[4294967296,4294967296,4294967296],"data":[]}"#)
            .contains("too large")
    );
    let t =
        Tensor::from_json(r#"{"dtype":"f32","shape":[3],"data":["NaN","Infinity","-Infinity"]}"#)
            .unwrap();
    assert!(t.get_f64(0).unwrap().is_nan());
    assert_eq!(
        t.to_json(),
        r#"{"dtype":"f32","shape":[3],"data":["NaN","Infinity","-Infinity"]}"#
    );
}

#[test]
fn canonical_encoding_is_pinned() {
    // Changing this encoding changes every input and output hash on chain.
    let t = Tensor::from_values::<i16>(vec![2], &[1, -2]).unwrap();
    assert_eq!(
        encode_tensors(&[t]),
        [
            1, 0, 0, 0, // count
            4, 1, // dtype i16, rank 1
            2, 0, 0, 0, 0, 0, 0, 0, // dim
            1, 0, 0xfe, 0xff, // data
        ]
    );
    assert!(
        decode_tensors(&[1, 0, 0, 0, 4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xfe])
            .unwrap_err()
            .to_string()
            .contains("truncated")
    );
    assert!(
        decode_tensors(&[0, 0, 0, 0, 9])
            .unwrap_err()
            .to_string()
            .contains("trailing")
    );
    assert!(
        decode_tensors(&[255, 255, 255, 255])
            .unwrap_err()
            .to_string()
            .contains("exceeds")
    );
}

proptest! {
    /// A bool tensor is accepted exactly when every byte is 0 or 1; otherwise the error names
    /// the first bad byte and its value, wherever it lies (inside or after the whole chunks
    /// the check reads at once, or the only one among many good ones).
    #[test]
    fn bool_bytes_are_checked(
        len in 1usize..300,
        bad in prop::collection::vec((0usize..300, 2u8..=255), 0..3),
        seed in any::<u64>(),
    ) {
        let mut data: Vec<u8> = (0..len).map(|i| ((seed >> (i % 64)) & 1) as u8).collect();
        for &(at, value) in &bad {
            data[at % len] = value;
        }
        let first = data.iter().enumerate().find(|(_, b)| **b > 1).map(|(i, &b)| (i, b));
        let got = Tensor::new(DType::Bool, vec![len as u64], data);
        match first {
            None => prop_assert!(got.is_ok()),
            Some((index, value)) => {
                let err = got.unwrap_err();
                prop_assert_eq!(
                    err.to_string(),
                    format!("bool element {index} has byte value {value}; only 0 and 1 are allowed")
                );
            }
        }
    }
}

/// The smallest bad bytes, 2 and 3, alone among many good ones, at either end and past the
/// chunks a vectorised check reads at once.
#[test]
fn every_bad_bool_byte_is_found() {
    for len in [1usize, 31, 32, 33, 64, 1000] {
        for at in [0, len / 2, len - 1] {
            for value in [2u8, 3, 128, 255] {
                let mut data = vec![1u8; len];
                data[at] = value;
                let err = Tensor::new(DType::Bool, vec![len as u64], data).unwrap_err();
                assert_eq!(
                    err.to_string(),
                    format!("bool element {at} has byte value {value}; only 0 and 1 are allowed")
                );
            }
        }
    }
    assert!(Tensor::new(DType::Bool, vec![3], vec![0, 1, 0]).is_ok());
}
