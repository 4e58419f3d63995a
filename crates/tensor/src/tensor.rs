use crate::{DType, Element, TensorError};
use alloy_primitives::{B256, keccak256};

/// Largest rank a tensor may have (ONNX models in practice stay far below).
pub const MAX_RANK: usize = 16;

/// A dense tensor: dtype, shape and canonical little-endian row-major data.
///
/// Invariants (checked by every constructor): rank ≤ [`MAX_RANK`], the element count fits in
/// `u64` and `usize`, `data.len() == elements * dtype.size()`, and bool bytes are 0 or 1.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<u64>,
    data: Vec<u8>,
}

/// Number of elements of `shape`, with checked arithmetic.
pub(crate) fn element_count(shape: &[u64]) -> Result<u64, TensorError> {
    if shape.len() > MAX_RANK {
        return Err(TensorError::RankTooLarge {
            rank: shape.len(),
            max: MAX_RANK,
        });
    }
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|n| usize::try_from(*n).is_ok())
        .ok_or_else(|| TensorError::ShapeOverflow(shape.to_vec()))
}

/// Byte size of a `dtype` tensor of `shape`, with checked arithmetic.
pub(crate) fn byte_size(dtype: DType, shape: &[u64]) -> Result<u64, TensorError> {
    element_count(shape)?
        .checked_mul(dtype.size() as u64)
        .ok_or_else(|| TensorError::ShapeOverflow(shape.to_vec()))
}

impl Tensor {
    /// A tensor from raw little-endian bytes, validated.
    pub fn new(dtype: DType, shape: Vec<u64>, data: Vec<u8>) -> Result<Self, TensorError> {
        let expected = byte_size(dtype, &shape)?;
        if expected != data.len() as u64 {
            return Err(TensorError::DataLength {
                dtype,
                shape,
                expected,
                got: data.len() as u64,
            });
        }
        // A bool is 0 or 1: OR every byte's other bits together first (a loop the compiler
        // vectorises; a search byte by byte took most of the time of a call on 2 MB of bools),
        // and look for the first bad byte only when there is one.
        if dtype == DType::Bool
            && data.iter().fold(0u8, |bits, b| bits | (b & !1)) != 0
            && let Some((index, &value)) = data.iter().enumerate().find(|(_, b)| **b > 1)
        {
            return Err(TensorError::BadBool { index, value });
        }
        Ok(Self { dtype, shape, data })
    }

    /// A tensor from typed values.
    pub fn from_values<T: Element>(shape: Vec<u64>, values: &[T]) -> Result<Self, TensorError> {
        let mut data = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            v.write_le(&mut data);
        }
        Self::new(T::DTYPE, shape, data)
    }

    /// A rank-1 tensor of `values` (shape `[values.len()]`: it always matches, so this cannot
    /// fail; bools are written as 0/1 by [`Element`]).
    pub fn vector<T: Element>(values: &[T]) -> Self {
        let mut data = Vec::with_capacity(std::mem::size_of_val(values));
        for v in values {
            v.write_le(&mut data);
        }
        Self {
            dtype: T::DTYPE,
            shape: vec![values.len() as u64],
            data,
        }
    }

    /// A f32 tensor.
    pub fn from_f32(shape: Vec<u64>, values: &[f32]) -> Result<Self, TensorError> {
        Self::from_values(shape, values)
    }

    /// A tensor of `dtype` and `shape` with empty data: a signature template, as returned by
    /// `modelInfo`. Not a valid tensor value unless the shape has zero elements.
    pub fn template(dtype: DType, shape: Vec<u64>) -> Self {
        Self {
            dtype,
            shape,
            data: Vec::new(),
        }
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Dimensions.
    pub fn shape(&self) -> &[u64] {
        &self.shape
    }

    /// Canonical little-endian row-major bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Consumes the tensor, returning its parts.
    pub fn into_parts(self) -> (DType, Vec<u64>, Vec<u8>) {
        (self.dtype, self.shape, self.data)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// True when the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The elements as `T`, which must be the tensor's element type.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>, TensorError> {
        if T::DTYPE != self.dtype {
            return Err(TensorError::DTypeMismatch {
                requested: T::DTYPE,
                actual: self.dtype,
            });
        }
        Ok(self
            .data
            .chunks_exact(self.dtype.size())
            .map(T::read_le)
            .collect())
    }

    /// Element `i` widened to f64 (exact for every dtype but i64 beyond 2^53).
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        let sz = self.dtype.size();
        let b = self.data.get(i * sz..(i + 1) * sz)?;
        Some(match self.dtype {
            DType::F32 => f32::read_le(b) as f64,
            DType::F64 => f64::read_le(b),
            DType::I64 => i64::read_le(b) as f64,
            DType::I32 => i32::read_le(b) as f64,
            DType::I16 => i16::read_le(b) as f64,
            DType::I8 => i8::read_le(b) as f64,
            DType::U8 | DType::Bool => b[0] as f64,
        })
    }

    /// keccak256 of this tensor's canonical encoding (see [`crate::encode_tensors`]).
    pub fn hash(&self) -> B256 {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        keccak256(out)
    }

    /// Index of the first differing element between two tensors, or `None` when equal
    /// (a dtype or shape mismatch reports element 0).
    pub fn first_difference(&self, other: &Tensor) -> Option<usize> {
        if self.dtype != other.dtype || self.shape != other.shape {
            return Some(0);
        }
        let sz = self.dtype.size();
        self.data
            .chunks_exact(sz)
            .zip(other.data.chunks_exact(sz))
            .position(|(a, b)| a != b)
    }
}
