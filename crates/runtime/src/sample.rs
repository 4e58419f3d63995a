//! Deterministic pseudo-random inputs for a model signature, for benchmarks and tests that run
//! models shipped without sample inputs (the single-operator models in fixtures/gas).

use prova_model::ModelInfo;
use prova_tensor::{DType, Tensor, TensorError};

/// Inputs for every input of `info`, from `seed`: floats in [0.05, 2) (positive, so `Log`,
/// `Sqrt` and `Pow` bases are defined), signed and unsigned integers in 0..4 (valid indices for
/// small gathers), bytes over their whole range, booleans alternating at random.
pub fn sample_inputs(info: &ModelInfo, seed: u64) -> Result<Vec<Tensor>, TensorError> {
    let mut state = seed ^ 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    info.inputs
        .iter()
        .map(|spec| {
            let n = spec.elements() as usize;
            let shape = spec.shape.clone();
            let float = |r: u32| 0.05 + (r % 1_000_000) as f32 * 1.95e-6;
            match spec.dtype {
                DType::F32 => {
                    let v: Vec<f32> = (0..n).map(|_| float(next())).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::F64 => {
                    let v: Vec<f64> = (0..n).map(|_| f64::from(float(next()))).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::I64 => {
                    let v: Vec<i64> = (0..n).map(|_| i64::from(next() % 4)).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::I32 => {
                    let v: Vec<i32> = (0..n).map(|_| (next() % 4) as i32).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::I16 => {
                    let v: Vec<i16> = (0..n).map(|_| (next() % 4) as i16).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::I8 => {
                    let v: Vec<i8> = (0..n).map(|_| next() as i8).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::U8 => {
                    let v: Vec<u8> = (0..n).map(|_| next() as u8).collect();
                    Tensor::from_values(shape, &v)
                }
                DType::Bool => {
                    let v: Vec<bool> = (0..n).map(|_| next() & 1 == 1).collect();
                    Tensor::from_values(shape, &v)
                }
            }
        })
        .collect()
}
