//! The canonical tensor encoding (`decode_tensors`, `Tensor::decode`): decoding is strict, so
//! anything that decodes must re-encode to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prova_tensor::{Tensor, decode_tensors, encode_tensors};

/// Equal, except that NaNs compare by position only: the JSON form writes every NaN as
/// `"NaN"` and reads it back as the canonical quiet NaN, so sign and payload bits of a NaN do
/// not survive JSON (docs/security.md); everything else must, bit for bit.
fn same_modulo_nan(a: &Tensor, b: &Tensor) -> bool {
    if a.dtype() != b.dtype() || a.shape() != b.shape() || a.len() != b.len() {
        return false;
    }
    (0..a.len()).all(|i| match (a.get_f64(i), b.get_f64(i)) {
        (Some(x), Some(y)) if x.is_nan() || y.is_nan() => x.is_nan() && y.is_nan(),
        _ => {
            let n = a.dtype().size();
            a.data()[i * n..(i + 1) * n] == b.data()[i * n..(i + 1) * n]
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(ts) = decode_tensors(data) {
        assert_eq!(encode_tensors(&ts), data);
    }
    if let Ok(t) = Tensor::decode(data) {
        assert_eq!(t.encode(), data);
        // The JSON form reads back to the same tensor (bit for bit, NaN payloads aside).
        let back = Tensor::from_json(&t.to_json()).expect("own JSON parses");
        assert!(same_modulo_nan(&back, &t), "{t:?} -> {back:?}");
    }
    if let Ok((t, used)) = Tensor::decode_prefix(data) {
        assert_eq!(t.encode(), &data[..used]);
    }
});
