use crate::DType;

/// Everything that can be wrong with a tensor, its encoding or a fixed-point conversion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorError {
    /// A dtype code outside 0..=7.
    #[error(
        "unknown dtype code {0} (expected 0 f32, 1 f64, 2 i64, 3 i32, 4 i16, 5 i8, 6 u8, 7 bool)"
    )]
    UnknownDTypeCode(u8),
    /// A dtype name that is not one of the eight.
    #[error("unknown dtype {0:?} (expected one of f32, f64, i64, i32, i16, i8, u8, bool)")]
    UnknownDTypeName(String),
    /// More dimensions than [`crate::MAX_RANK`].
    #[error("rank {rank} exceeds the maximum of {max}")]
    RankTooLarge {
        /// The rank given.
        rank: usize,
        /// The limit.
        max: usize,
    },
    /// The element count or byte size of a shape overflows.
    #[error("shape {0:?} is too large: its element count overflows")]
    ShapeOverflow(Vec<u64>),
    /// Data length does not match shape and dtype.
    #[error("data has {got} bytes but a {dtype} tensor of shape {shape:?} needs {expected}")]
    DataLength {
        /// dtype of the tensor.
        dtype: DType,
        /// shape of the tensor.
        shape: Vec<u64>,
        /// bytes needed.
        expected: u64,
        /// bytes given.
        got: u64,
    },
    /// A `bool` element that is neither 0 nor 1.
    #[error("bool element {index} has byte value {value}; only 0 and 1 are allowed")]
    BadBool {
        /// flat element index.
        index: usize,
        /// the byte found.
        value: u8,
    },
    /// A requested element type does not match the tensor's dtype.
    #[error("tensor has dtype {actual}, not {requested}")]
    DTypeMismatch {
        /// dtype asked for.
        requested: DType,
        /// dtype of the tensor.
        actual: DType,
    },
    /// Canonical byte encoding is truncated or has trailing bytes.
    #[error("malformed tensor encoding: {0}")]
    Encoding(String),
    /// JSON form is malformed.
    #[error("malformed tensor JSON: {0}")]
    Json(String),
    /// A fixed-point conversion overflowed or met a non-finite value.
    #[error("fixed-point conversion: {0}")]
    Fixed(String),
}
