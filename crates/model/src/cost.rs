//! Prova's own static cost model, computed from the typed graph once the inputs are fixed.
//!
//! tract's `cost()` is a hint that most ops leave empty, so the counts here are Prova's, op by
//! op, in **MAC-equivalents**: the unit gas prices, calibrated with `prova bench gas` on the
//! worst-case single-op models in fixtures/gas (docs/gas.md):
//!
//! - matrix products (`EinSum`): per MAC of their iteration space (float 0.014, integer
//!   0.06), per output element (5 / 7) and per input element (0.05 / 0.4);
//! - convolutions: per MAC (float 0.018, `ConvInteger` 0.025, `QLinearConv` 0.03) plus per
//!   output element (5 / 15 / 24: depthwise convolutions are dominated by it);
//! - softmax, reductions and pools: per element, heavier across a non-innermost axis, plus a
//!   per-output charge for many small reductions;
//! - tree ensembles: per tree level each row walks;
//! - every other op: per element read or written, weighted by the operator ([`element_weight`]).
//!
//! Bytes moved counts every intermediate written plus every constant (weight) read, and
//! `nodes` the operators executed (each has a fixed dispatch cost).

use crate::{AdmissionError, Limits};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::{
    cnn::{Conv, MaxPool, SumPool},
    downsample::Downsample,
    einsum::EinSum,
    konst::Const,
    nn::{Reduce, Reducer, Softmax},
};

/// Static per-inference cost of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Work in MAC-equivalents, the unit gas prices (module docs, docs/gas.md): not a count
    /// of multiply-accumulates (a float MAC of a large product weighs 0.014, an `Exp` of one
    /// element 6.8).
    pub macs: u64,
    /// Bytes of intermediates written and weights read.
    pub bytes: u64,
    /// Largest single intermediate tensor, in bytes.
    pub max_tensor_bytes: u64,
    /// Operators executed per inference (constants and inputs excluded).
    pub nodes: u64,
}

/// Milli-MAC-equivalents per element read or written by operators priced per element, by
/// tract's typed op name, set so that the operator's worst-case shape in fixtures/gas runs at
/// about 75 Mgas/s on the calibration machine (`prova bench gas`, docs/gas.md) and faster
/// shapes of the same operator stay under 250 Mgas/s.
fn element_weight(name: &str, out_dt: DatumType, broadcast: bool) -> u64 {
    match name {
        "Cast" if matches!(out_dt, DatumType::I64 | DatumType::TDim) => 10_000,
        "Ln" => 7_100,
        "Exp" => 6_800,
        "Pow" if broadcast => 15_000,
        "Pow" => 9_800,
        "DynamicQuantizeLinearU8" | "DynamicQuantizeLinearI8" => 3_400,
        "QuantizeLinearU8" | "QuantizeLinearI8" => 2_800,
        "Floor" => 2_000,
        "Ceil" => 2_250,
        "Gather" => 1_700,
        "Add" => 1_600,
        "MoveAxis" => 1_450,
        "Eq" | "GT" | "GTE" | "LT" | "LTE" => 1_000,
        "Tile" => 1_000,
        "Max" => 880,
        "DequantizeLinearF32" => 1_000,
        "Min" | "Sub" => 840,
        "Abs" => 1_100,
        "Iff" => 850,
        "Sigmoid" => 1_260,
        "Tanh" => 1_100,
        "Sqrt" => 1_050,
        "Mul" | "Pad" | "Cast" => 780,
        "Or" | "Xor" if broadcast => 800,
        "Or" => 650,
        "Erf" => 900,
        "Concat" | "LeakyRelu" => 600,
        "And" | "RoundHalfToEven" | "HardSwish" => 550,
        "Neg" | "Recip" | "Sign" | "Slice" | "Reshape" | "RmAxis" => 480,
        "AddAxis" => 210,
        "Xor" => 60,
        "MultiBroadcastTo" | "Not" => 45,
        _ => 800,
    }
}

fn concrete<'a>(fact: &'a TypedFact, node: &str) -> Result<&'a [usize], AdmissionError> {
    fact.shape.as_concrete().ok_or_else(|| {
        AdmissionError::Typing(format!(
            "node {node:?} has a symbolic shape {:?}",
            fact.shape
        ))
    })
}

fn volume(shape: &[usize]) -> u64 {
    shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX)
}

/// Computes the cost of `model` (typed, decluttered, inputs fixed) and checks tensor sizes.
pub(crate) fn static_cost(
    model: &TypedModel,
    tree_steps: u64,
    limits: &Limits,
) -> Result<Cost, AdmissionError> {
    let mut cost = Cost::default();
    // Work in milli-MAC-equivalents, rounded up at the end.
    let mut milli: u64 = 0;
    for node in model.nodes() {
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for i in &node.inputs {
            let fact = model
                .outlet_fact(*i)
                .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
            inputs.push(fact);
        }
        let mut out_elements = 0u64;
        for o in &node.outputs {
            let shape = concrete(&o.fact, &node.name)?;
            let elements = volume(shape);
            let bytes = elements.saturating_mul(o.fact.datum_type.size_of() as u64);
            if bytes > limits.max_tensor_bytes {
                return Err(AdmissionError::LimitExceeded {
                    what: format!("size of tensor at node {:?} in bytes", node.name),
                    value: bytes,
                    max: limits.max_tensor_bytes,
                });
            }
            cost.max_tensor_bytes = cost.max_tensor_bytes.max(bytes);
            out_elements = out_elements.saturating_add(elements);
            if node.op_is::<Const>() || node.inputs.is_empty() {
                continue; // constants and sources are not work
            }
            cost.bytes = cost.bytes.saturating_add(bytes);
        }
        if node.op_is::<Const>() || node.inputs.is_empty() {
            continue;
        }
        cost.nodes += 1;
        let mut shapes = Vec::with_capacity(inputs.len());
        for f in &inputs {
            shapes.push(concrete(f, &node.name)?);
            if f.konst.is_some() {
                let b =
                    volume(concrete(f, &node.name)?).saturating_mul(f.datum_type.size_of() as u64);
                cost.bytes = cost.bytes.saturating_add(b);
            }
        }
        let volumes: Vec<u64> = shapes.iter().map(|s| volume(s)).collect();
        let read = inputs
            .iter()
            .zip(&volumes)
            .filter(|(f, _)| f.konst.is_none())
            .fold(0u64, |a, (_, v)| a.saturating_add(*v));
        let elements = read.saturating_add(out_elements);
        let out_fact = node.outputs.first().map(|o| &o.fact);
        let out_dt = out_fact.map(|f| f.datum_type).unwrap_or(DatumType::F32);
        let out_rank = out_fact.map(|f| f.rank()).unwrap_or(0);
        let integer = |dt: DatumType| !dt.is_float();
        let name = node.op.name();
        let work = if let Some(op) = node.op_as::<EinSum>() {
            let shapes = &shapes;
            let macs = op.axes.iter_all_axes().fold(1u64, |acc, axis| {
                let size = axis
                    .inputs
                    .iter()
                    .enumerate()
                    .flat_map(|(ix, pos)| pos.iter().filter_map(move |p| shapes.get(ix)?.get(*p)))
                    .copied()
                    .max()
                    .unwrap_or(1);
                acc.saturating_mul(size as u64)
            });
            let int = op.q_params.is_some() || integer(op.operating_dt);
            // Measured on the exact profile's AVX kernels (docs/gas.md): ~0.04 ns per float
            // MAC on large products, more per integer MAC; every output pays packing and
            // dispatch (batched tiny products are dominated by it), and every input element
            // is read and packed once per call (skinny products, whose weight is as large
            // as their work; integer ones also sum it for the zero-point correction).
            let (per_mac, per_out, per_in) = if int {
                (60, 7_000, 400)
            } else {
                (14, 5_000, 50)
            };
            let in_elements = volumes.iter().fold(0u64, |a, v| a.saturating_add(*v));
            macs.saturating_mul(per_mac)
                .saturating_add(out_elements.saturating_mul(per_out))
                .saturating_add(in_elements.saturating_mul(per_in))
        } else if let Some(op) = node.op_as::<Conv>() {
            let per_output = (op.input_channels() / op.group.max(1)) as u64;
            let macs = out_elements
                .saturating_mul(per_output)
                .saturating_mul(volume(&op.pool_spec.kernel_shape));
            let int =
                op.q_params.is_some() || inputs.first().is_some_and(|f| integer(f.datum_type));
            // Depthwise and small-channel convolutions cost per output, not per MAC;
            // QLinearConv (8-bit output) also requantizes every output, ConvInteger (i32
            // output) does not.
            let (per_mac, per_out) = match (int, out_dt) {
                (false, _) => (18, 5_000),
                (true, DatumType::I32) => (25, 15_000),
                (true, _) => (30, 24_000),
            };
            macs.saturating_mul(per_mac)
                .saturating_add(out_elements.saturating_mul(per_out))
        } else if let Some(op) = node.op_as::<Softmax>() {
            let innermost = op.axes.as_slice() == [out_rank.saturating_sub(1)];
            elements.saturating_mul(if innermost { 7_700 } else { 30_000 })
        } else if let Some(op) = node.op_as::<Reduce>() {
            let per_element = match op.reducer {
                Reducer::Sum | Reducer::MeanOfSquares => 1_200,
                _ if op.axes.iter().any(|a| *a + 1 == out_rank) => 1_300,
                _ => 4_600,
            };
            // Many small reductions pay per output (one pass set-up each).
            read.saturating_mul(per_element)
                .saturating_add(out_elements.saturating_mul(100_000))
        } else if node.op_is::<MaxPool>() {
            elements.saturating_mul(1_800)
        } else if node.op_is::<SumPool>() {
            elements.saturating_mul(3_300)
        } else if let Some(op) = node.op_as::<Downsample>() {
            // A negative stride (reversal) walks memory backwards, ~10x slower than forwards.
            elements.saturating_mul(if op.stride < 0 { 9_200 } else { 1_000 })
        } else if name.starts_with("TreeEnsemble") {
            // One step per tree level a row walks.
            let rows = inputs
                .first()
                .and_then(|f| f.shape.as_concrete())
                .map_or(1, |s| {
                    s.iter()
                        .rev()
                        .skip(1)
                        .fold(1u64, |a, &d| a.saturating_mul(d as u64))
                });
            rows.saturating_mul(tree_steps)
                .saturating_mul(3_400)
                .saturating_add(elements.saturating_mul(2_250))
        } else if name == "QLinearSoftmax" {
            elements.saturating_mul(7_000)
        } else {
            let broadcast = shapes
                .iter()
                .any(|s| volume(s) != out_elements && volume(s) > 1);
            elements.saturating_mul(element_weight(&name, out_dt, broadcast))
        };
        milli = milli.saturating_add(work);
    }
    cost.macs = milli.div_ceil(1000);
    if cost.macs > limits.max_macs {
        return Err(AdmissionError::LimitExceeded {
            what: "multiply-accumulates per inference".into(),
            value: cost.macs,
            max: limits.max_macs,
        });
    }
    Ok(cost)
}
