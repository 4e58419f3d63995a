//! # prova-tensor
//!
//! The tensor value type shared by every Prova layer: the eight dtypes the precompile ABI knows,
//! shapes, the canonical little-endian row-major byte encoding, its keccak256 content hash, the
//! JSON form used by the CLI and JSON-RPC, and the exact fixed-point conversions behind
//! `inferFixed`.
//!
//! It sits at the bottom of the crate layering: it knows nothing of ONNX, tract or the EVM.
//!
//! ```
//! use prova_tensor::{DType, Tensor};
//!
//! let t = Tensor::from_f32(vec![1, 2], &[0.5, -1.0]).unwrap();
//! assert_eq!(t.dtype(), DType::F32);
//! let json = t.to_json();
//! assert_eq!(json, r#"{"dtype":"f32","shape":[1,2],"data":[0.5,-1.0]}"#);
//! assert_eq!(Tensor::from_json(&json).unwrap(), t);
//! // The content hash covers dtype, shape and data.
//! assert_ne!(t.hash(), Tensor::from_f32(vec![2, 1], &[0.5, -1.0]).unwrap().hash());
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod dtype;
mod encoding;
mod error;
pub mod fixed;
mod json;
mod tensor;

pub use alloy_primitives::{B256, I256, U256, keccak256};
pub use dtype::{DType, Element};
pub use encoding::{decode_tensors, encode_tensors, hash_tensors};
pub use error::TensorError;
pub use json::{InputDocument, OutputDocument};
pub use tensor::{MAX_RANK, Tensor};
