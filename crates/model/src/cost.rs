//! Prova's own static cost model, computed from the typed graph once the inputs are fixed.
//!
//! tract's `cost()` is a hint that most ops leave empty, so the counts here are Prova's, op by
//! op: matrix products (`EinSum`) count one MAC per point of their iteration space,
//! convolutions one per output element, input channel of its group and kernel tap, tree
//! ensembles one per tree node, and every other op one per element it reads or writes.
//! Bytes moved counts every intermediate written plus every constant (weight) read.

use crate::{AdmissionError, Limits};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::{cnn::Conv, einsum::EinSum, konst::Const};

/// Static per-inference cost of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Multiply-accumulates (and comparable element operations).
    pub macs: u64,
    /// Bytes of intermediates written and weights read.
    pub bytes: u64,
    /// Largest single intermediate tensor, in bytes.
    pub max_tensor_bytes: u64,
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
    tree_nodes: u64,
    limits: &Limits,
) -> Result<Cost, AdmissionError> {
    let mut cost = Cost {
        macs: tree_nodes.saturating_mul(limits.batch),
        ..Cost::default()
    };
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
        let mut shapes = Vec::with_capacity(inputs.len());
        for f in &inputs {
            shapes.push(concrete(f, &node.name)?);
            if f.konst.is_some() {
                let b =
                    volume(concrete(f, &node.name)?).saturating_mul(f.datum_type.size_of() as u64);
                cost.bytes = cost.bytes.saturating_add(b);
            }
        }
        let macs = if let Some(op) = node.op_as::<EinSum>() {
            let shapes = &shapes;
            op.axes.iter_all_axes().fold(1u64, |acc, axis| {
                let size = axis
                    .inputs
                    .iter()
                    .enumerate()
                    .flat_map(|(ix, pos)| pos.iter().filter_map(move |p| shapes.get(ix)?.get(*p)))
                    .copied()
                    .max()
                    .unwrap_or(1);
                acc.saturating_mul(size as u64)
            })
        } else if let Some(op) = node.op_as::<Conv>() {
            let per_output = (op.input_channels() / op.group.max(1)) as u64;
            out_elements
                .saturating_mul(per_output)
                .saturating_mul(volume(&op.pool_spec.kernel_shape))
        } else {
            let read = inputs
                .iter()
                .zip(&shapes)
                .filter(|(f, _)| f.konst.is_none())
                .fold(0u64, |a, (_, s)| a.saturating_add(volume(s)));
            read.saturating_add(out_elements)
        };
        cost.macs = cost.macs.saturating_add(macs);
    }
    if cost.macs > limits.max_macs {
        return Err(AdmissionError::LimitExceeded {
            what: "multiply-accumulates per inference".into(),
            value: cost.macs,
            max: limits.max_macs,
        });
    }
    Ok(cost)
}
