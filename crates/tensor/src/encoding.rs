//! The canonical byte encoding of tensors, the one that is hashed.
//!
//! ```text
//! tensor  := dtype:u8  rank:u8  dims:u64le * rank  data
//! tensors := count:u32le  tensor * count
//! ```
//! `data` is row-major little-endian, its length implied by dtype and shape. Decoding is strict:
//! no trailing bytes, every invariant of [`Tensor::new`] re-checked.

use crate::{DType, MAX_RANK, Tensor, TensorError, tensor::byte_size};
use alloy_primitives::{B256, keccak256};

impl Tensor {
    pub(crate) fn encoded_len(&self) -> usize {
        2 + 8 * self.shape().len() + self.data().len()
    }

    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.dtype().code());
        out.push(self.shape().len() as u8);
        for d in self.shape() {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(self.data());
    }

    /// The canonical encoding of this one tensor.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    /// Decodes one tensor from the front of `bytes`, returning it and the bytes consumed.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), TensorError> {
        let err = |m: &str| TensorError::Encoding(m.to_string());
        let (&code, rest) = bytes
            .split_first()
            .ok_or_else(|| err("missing dtype byte"))?;
        let dtype = DType::from_code(code)?;
        let (&rank, rest) = rest.split_first().ok_or_else(|| err("missing rank byte"))?;
        let rank = rank as usize;
        if rank > MAX_RANK {
            return Err(TensorError::RankTooLarge {
                rank,
                max: MAX_RANK,
            });
        }
        let dims_len = rank * 8;
        let dims = rest.get(..dims_len).ok_or_else(|| err("truncated shape"))?;
        let shape: Vec<u64> = dims
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        let size = byte_size(dtype, &shape)?;
        let rest = &rest[dims_len..];
        let data = usize::try_from(size)
            .ok()
            .and_then(|n| rest.get(..n))
            .ok_or_else(|| err("truncated data"))?;
        let used = 2 + dims_len + data.len();
        Ok((Tensor::new(dtype, shape, data.to_vec())?, used))
    }

    /// Decodes exactly one tensor; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, TensorError> {
        let (t, used) = Self::decode_prefix(bytes)?;
        if used != bytes.len() {
            return Err(TensorError::Encoding(format!(
                "{} trailing bytes",
                bytes.len() - used
            )));
        }
        Ok(t)
    }
}

/// Canonical encoding of a list of tensors (a model's inputs or outputs).
pub fn encode_tensors(tensors: &[Tensor]) -> Vec<u8> {
    let len = 4 + tensors.iter().map(Tensor::encoded_len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&(tensors.len() as u32).to_le_bytes());
    for t in tensors {
        t.encode_into(&mut out);
    }
    out
}

/// keccak256 of [`encode_tensors`]: the input hash and output hash of an inference.
pub fn hash_tensors(tensors: &[Tensor]) -> B256 {
    keccak256(encode_tensors(tensors))
}

/// Decodes [`encode_tensors`] strictly.
pub fn decode_tensors(bytes: &[u8]) -> Result<Vec<Tensor>, TensorError> {
    let count = bytes
        .get(..4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .ok_or_else(|| TensorError::Encoding("missing tensor count".into()))?;
    let mut rest = &bytes[4..];
    // Each tensor takes at least two bytes: a count beyond that is a lie; don't pre-allocate it.
    if count as usize > rest.len() / 2 {
        return Err(TensorError::Encoding(format!(
            "count {count} exceeds the bytes given"
        )));
    }
    let mut out = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (t, used) = Tensor::decode_prefix(rest)?;
        out.push(t);
        rest = &rest[used..];
    }
    if !rest.is_empty() {
        return Err(TensorError::Encoding(format!(
            "{} trailing bytes",
            rest.len()
        )));
    }
    Ok(out)
}
