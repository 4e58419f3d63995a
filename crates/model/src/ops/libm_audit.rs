//! Which nodes of a tract plan would call the platform's C math library.
//!
//! tract-core 0.23.9 computes f32 `exp`, `ln`, `tanh`, `sigmoid`, `erf` and the trailing-axis
//! softmax with its own kernels (whose choice the exact profile pins), but calls `std`'s
//! `f32`/`f64` methods — the platform libm, which differs between C libraries and, in glibc,
//! between CPUs — in the cases listed here. Prova routes `Pow`, `Softmax` and `LogSoftmax`
//! through the pinned `libm` crate ([`super::register`]); whatever still reaches the platform
//! libm is refused by the exact profile. The audit behind this list is in docs/determinism.md.

use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::binary::TypedBinOp;
use tract_onnx::tract_hir::tract_core::ops::einsum::prefix_matmul::PrefixMatMul;
use tract_onnx::tract_hir::tract_core::ops::element_wise::ElementWiseOp;
use tract_onnx::tract_hir::tract_core::ops::gru_seq::GruSeq;
use tract_onnx::tract_hir::tract_core::ops::math::Pow as TractPow;
use tract_onnx::tract_hir::tract_core::ops::nn::{GeluApproximate, Softmax, SoftmaxKind};
use tract_onnx::tract_hir::tract_core::ops::scan::{OptScan, Scan};

/// Element-wise tract operators that call `std` for every datum type but f32 (f16 and f64 in
/// place, quantized types through f32 dequantisation).
const STD_UNLESS_F32: &[&str] = &["Exp", "Ln", "Tanh", "Sigmoid"];

/// tract operators that call `std`'s transcendental functions for every float type (tract's
/// binary `Pow` is recognised by type: Prova's own is also named `Pow`).
const STD_ALWAYS: &[&str] = &[
    "PowConst", "Cos", "Sin", "Tan", "Acos", "Asin", "Atan", "Cosh", "Sinh", "Acosh", "Asinh",
    "Atanh",
];

/// One line per node of `model` that would call the platform libm (`name (op on dtype)`), or
/// whose matrix product is not tract's pinned kernels but ndarray's (matrixmultiply, which
/// chooses FMA kernels from the CPU it runs on). Loop bodies (`Scan`, as tract lowers `LSTM`, `GRU` and `RNN`) are searched too, their nodes
/// named `loop/body node`.
pub fn platform_libm_nodes(model: &TypedModel) -> Vec<String> {
    let mut found = Vec::new();
    audit(model, "", &mut found);
    found
}

/// The body a loop node runs, before or after tract's optimiser.
pub(crate) fn loop_body(node: &TypedNode) -> Option<&TypedModel> {
    if let Some(scan) = node.op_as::<Scan>() {
        Some(&scan.body)
    } else {
        node.op_as::<OptScan>().map(|scan| scan.plan.model())
    }
}

fn audit(model: &TypedModel, prefix: &str, found: &mut Vec<String>) {
    for node in model.nodes() {
        if let Some(body) = loop_body(node) {
            audit(body, &format!("{prefix}{}/", node.name), found);
        }
        if let Some(op) = node.op_as::<GruSeq>()
            && !op.projected
        {
            found.push(format!(
                "{prefix}{} (GruSeq: its input product is ndarray's, which picks FMA by CPU)",
                node.name
            ));
            continue;
        }
        if node.op_is::<PrefixMatMul>() {
            found.push(format!(
                "{prefix}{} (PrefixMatMul: ndarray's matrix product, which picks FMA by CPU)",
                node.name
            ));
            continue;
        }
        if let Some(gelu) = node.op_as::<ElementWiseOp>()
            && let Some(op) = gelu.0.downcast_ref::<GeluApproximate>()
        {
            // f32 without `fast_impl`: tract-linalg's gelu kernel (the generic one under the
            // exact profile), built on its rational tanh; otherwise `f32::tanh`.
            let dt = node
                .inputs
                .first()
                .and_then(|i| model.outlet_fact(*i).ok())
                .map(|f| f.datum_type);
            if op.fast_impl || dt != Some(DatumType::F32) {
                found.push(format!("{prefix}{} (GeluApproximate on {dt:?})", node.name));
            }
            continue;
        }
        let op = node.op().name();
        let dt = node
            .inputs
            .first()
            .and_then(|i| model.outlet_fact(*i).ok())
            .map(|f| f.datum_type);
        let Some(dt) = dt else { continue };
        let float_like = dt.is_float() || dt.is_quantized();
        let hit = if STD_UNLESS_F32.contains(&&*op) {
            dt != DatumType::F32 && float_like
        } else if STD_ALWAYS.contains(&&*op) {
            float_like
        } else if let Some(bin) = node.op_as::<TypedBinOp>() {
            bin.0.downcast_ref::<TractPow>().is_some() && float_like
        } else if let Some(softmax) = node.op_as::<Softmax>() {
            softmax_reaches_std(model, node, softmax, dt)
        } else {
            false
        };
        if hit {
            found.push(format!("{prefix}{} ({op} on {dt:?})", node.name));
        }
    }
}

/// tract's softmax stays on its kernels for f32 over trailing axes and on fixed point for
/// quantized inputs; f16/f64, other axes and the log-softmax kind call `std`'s `exp`/`ln`.
fn softmax_reaches_std(
    model: &TypedModel,
    node: &TypedNode,
    softmax: &Softmax,
    dt: DatumType,
) -> bool {
    if dt.is_quantized() {
        return false;
    }
    if dt != DatumType::F32 || softmax.kind == SoftmaxKind::LogSoftmax {
        return true;
    }
    let Ok(fact) = model.outlet_fact(node.inputs[0]) else {
        return true;
    };
    let rank = fact.rank();
    let mut axes: Vec<usize> = softmax.axes.to_vec();
    axes.sort_unstable();
    let trailing = !axes.is_empty()
        && axes
            .iter()
            .enumerate()
            .all(|(i, &a)| a + axes.len() == rank + i);
    !trailing
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tract_onnx::tract_hir::tract_core::ops::math;

    fn flagged(dt: DatumType, shape: &[usize], op: impl Into<Box<dyn TypedOp>>) -> usize {
        let mut model = TypedModel::default();
        let x = model
            .add_source("x", dt.fact(shape.iter().copied().collect::<TVec<_>>()))
            .unwrap();
        let y = model.wire_node("op", op, &[x]).unwrap();
        model.select_output_outlets(&y).unwrap();
        platform_libm_nodes(&model).len()
    }

    #[test]
    fn transcendentals_are_flagged_off_tracts_f32_kernels() {
        assert_eq!(flagged(DatumType::F32, &[4], math::exp()), 0);
        assert_eq!(flagged(DatumType::F64, &[4], math::exp()), 1);
        assert_eq!(flagged(DatumType::F64, &[4], math::ln()), 1);
        assert_eq!(flagged(DatumType::F64, &[4], math::tanh()), 1);
        assert_eq!(flagged(DatumType::F32, &[4], math::sqrt()), 0);
        let softmax = |axes: TVec<usize>| Softmax {
            axes,
            quant_output_dt: None,
            kind: SoftmaxKind::Softmax,
        };
        assert_eq!(flagged(DatumType::F32, &[2, 3], softmax(tvec!(1))), 0);
        assert_eq!(flagged(DatumType::F32, &[2, 3], softmax(tvec!(0))), 1);
        assert_eq!(flagged(DatumType::F64, &[2, 3], softmax(tvec!(1))), 1);
    }

    #[test]
    fn tracts_pow_is_flagged_and_provas_is_not() {
        for (op, expected) in [(math::pow(), 1), (super::super::pow::libm_pow(), 0)] {
            let mut model = TypedModel::default();
            let a = model.add_source("a", f32::fact([4])).unwrap();
            let b = model.add_source("b", f32::fact([4])).unwrap();
            let y = model.wire_node("pow", op, &[a, b]).unwrap();
            model.select_output_outlets(&y).unwrap();
            assert_eq!(platform_libm_nodes(&model).len(), expected);
        }
    }
}
