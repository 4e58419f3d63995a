//! ONNX `Softmax` and `LogSoftmax` without the platform libm.
//!
//! tract computes an f32 softmax over the trailing axes of a tensor with its own `exp`
//! kernels (deterministic once the exact profile pins the instruction set), but falls back to
//! `f32::exp` — the platform C library's `expf` — over any other axis, and to `f64::exp` for
//! f64. Prova keeps tract's operator where tract stays on its kernels (f32 over trailing axes,
//! and the fixed-point quantized softmax), spells an f32 softmax over other axes out of tract's
//! max, subtract, `Exp` kernel, sum and divide, and wires [`LibmSoftmax`] (the pinned pure-Rust
//! libm) for f64. `LogSoftmax` is `Ln(Softmax)`, as tract defines it. [`super::platform_libm_nodes`] refuses a plan in which tract's softmax ended up
//! on its fallback anyway (after the optimiser moved axes).

use super::math::{exp_f32, exp_f64, ln_f32, ln_f64};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::tract_core::ops::nn::{Softmax, SoftmaxKind};

pub(crate) fn softmax(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(ctx, node, false)
}

pub(crate) fn log_softmax(
    ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    parse(ctx, node, true)
}

fn parse(
    ctx: &ParsingContext,
    node: &NodeProto,
    log: bool,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let axis: Option<i64> = node.get_attr_opt("axis")?;
    let op = if ctx.onnx_operator_set_version < 13 {
        SoftmaxExpansion {
            axis: axis.unwrap_or(1),
            coerce_to_2d: true,
            log,
        }
    } else {
        SoftmaxExpansion {
            axis: axis.unwrap_or(-1),
            coerce_to_2d: false,
            log,
        }
    };
    Ok((expand(op), vec![]))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct SoftmaxExpansion {
    axis: i64,
    /// Opset < 13: softmax over all axes from `axis` on.
    coerce_to_2d: bool,
    log: bool,
}

impl Expansion for SoftmaxExpansion {
    fn name(&self) -> StaticName {
        if self.log { "LogSoftmax" } else { "Softmax" }.into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, &inputs[0].datum_type)?;
        s.equals(&outputs[0].rank, &inputs[0].rank)?;
        s.equals(&outputs[0].shape, &inputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let rank = fact.rank();
        let dt = fact.datum_type;
        let axis = if self.axis < 0 {
            self.axis + rank as i64
        } else {
            self.axis
        };
        ensure!(
            (0..rank as i64).contains(&axis),
            "{name}: axis {} out of range for rank {rank}",
            self.axis
        );
        let axis = axis as usize;
        let axes: TVec<usize> = if self.coerce_to_2d {
            (axis..rank).collect()
        } else {
            tvec!(axis)
        };
        let trailing = axes
            .iter()
            .enumerate()
            .all(|(i, &a)| a == rank - axes.len() + i);
        let softmax = if dt == DatumType::F32 && !trailing {
            // tract's fused softmax would call `f32::exp` here (and tract's optimiser undoes
            // any transpose that moved the axis last): the same formula from tract operators
            // that stay on their kernels, each priced as such.
            use tract_onnx::tract_hir::tract_core::ops::{
                math,
                nn::{Reduce, Reducer},
            };
            let x = inputs[0];
            let max = Reduce::new(axes.clone(), Reducer::Max);
            let max = model.wire_node(format!("{name}.max"), max, &[x])?;
            let shifted = model.wire_node(format!("{name}.sub"), math::sub(), &[x, max[0]])?;
            let e = model.wire_node(format!("{name}.exp"), math::exp(), &shifted)?;
            let sum = Reduce::new(axes, Reducer::Sum);
            let sum = model.wire_node(format!("{name}.sum"), sum, &e)?;
            model.wire_node(name, math::div(), &[e[0], sum[0]])?
        } else if dt.is_quantized() || (dt == DatumType::F32 && trailing) {
            let quant_output_dt = if dt.is_float() { None } else { Some(dt) };
            let op = Softmax {
                axes,
                quant_output_dt,
                kind: SoftmaxKind::Softmax,
            };
            model.wire_node(name, op, inputs)?
        } else {
            ensure!(
                matches!(dt, DatumType::F32 | DatumType::F64),
                "{name}: softmax of {dt:?} is not supported"
            );
            let op = LibmSoftmax {
                axes,
                log: self.log,
            };
            return model.wire_node(name, op, inputs);
        };
        if self.log {
            let ln = tract_onnx::tract_hir::tract_core::ops::math::ln();
            model.wire_node(format!("{name}.ln"), ln, &softmax)
        } else {
            Ok(softmax)
        }
    }
}

/// Softmax (or its logarithm) over `axes`, with the pinned libm (Prova wires it for f64): per
/// region, the maximum, then `e^(x - max)` and their sum in region order, then each value over
/// the sum (and its `ln`).
#[derive(Debug, Clone, Hash, PartialEq, Eq)]
pub(crate) struct LibmSoftmax {
    axes: TVec<usize>,
    log: bool,
}

trait LibmFloat: Datum + Copy + PartialOrd + std::ops::Sub<Output = Self> {
    const ZERO: Self;
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    fn add(self, other: Self) -> Self;
    fn div(self, other: Self) -> Self;
}

impl LibmFloat for f32 {
    const ZERO: Self = 0.0;
    fn exp(self) -> Self {
        exp_f32(self)
    }
    fn ln(self) -> Self {
        ln_f32(self)
    }
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn div(self, other: Self) -> Self {
        self / other
    }
}

impl LibmFloat for f64 {
    const ZERO: Self = 0.0;
    fn exp(self) -> Self {
        exp_f64(self)
    }
    fn ln(self) -> Self {
        ln_f64(self)
    }
    fn add(self, other: Self) -> Self {
        self + other
    }
    fn div(self, other: Self) -> Self {
        self / other
    }
}

impl LibmSoftmax {
    fn eval_t<T: LibmFloat>(&self, input: TValue) -> TractResult<Tensor> {
        let mut output = input.into_tensor();
        self.eval_in_place::<T>(&mut output)?;
        Ok(output)
    }

    fn eval_in_place<T: LibmFloat>(&self, output: &mut Tensor) -> TractResult<()> {
        let shape: TVec<usize> = output.shape().into();
        let mut outer = shape.clone();
        for &a in &self.axes {
            outer[a] = 1;
        }
        let mut plain = output.try_as_plain_ram_mut()?;
        let mut view = plain.to_array_view_mut::<T>()?;
        for coords in tract_ndarray::indices(&*outer) {
            let mut region = view.view_mut();
            for (ix, &c) in tract_ndarray::Dimension::slice(&coords).iter().enumerate() {
                if !self.axes.contains(&ix) {
                    region.collapse_axis(tract_ndarray::Axis(ix), c);
                }
            }
            // Logical (row-major) order whatever the memory layout.
            let mut max: Option<T> = None;
            for &x in region.iter() {
                max = Some(match max {
                    // Keeps the first of equal values and skips NaN, as a `>` scan does.
                    Some(m) if x.partial_cmp(&m) != Some(std::cmp::Ordering::Greater) => m,
                    _ => x,
                });
            }
            let Some(max) = max else { continue };
            let mut sum = T::ZERO;
            region.map_inplace(|x| {
                *x = (*x - max).exp();
                sum = sum.add(*x);
            });
            region.map_inplace(|x| {
                let p = x.div(sum);
                *x = if self.log { p.ln() } else { p };
            });
        }
        Ok(())
    }
}

impl Op for LibmSoftmax {
    fn name(&self) -> StaticName {
        if self.log {
            "LibmLogSoftmax"
        } else {
            "LibmSoftmax"
        }
        .into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!("axes {:?}", self.axes)])
    }

    op_as_typed_op!();
}

impl EvalOp for LibmSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let out = match input.datum_type() {
            DatumType::F32 => self.eval_t::<f32>(input)?,
            DatumType::F64 => self.eval_t::<f64>(input)?,
            dt => bail!("LibmSoftmax of {dt:?}"),
        };
        Ok(tvec!(out.into_tvalue()))
    }
}

impl TypedOp for LibmSoftmax {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_non_trailing_softmax_follows_the_pinned_libm() {
        // Softmax over axis 0 of a [2, 3] tensor: columns, which tract leaves to `f32::exp`.
        let x = [0.5f32, -1.0, 3.0, 2.0, 0.25, -7.5];
        let op = LibmSoftmax {
            axes: tvec!(0),
            log: false,
        };
        let input = tensor1(&x).into_shape(&[2, 3]).unwrap().into_tvalue();
        let out = op.eval_t::<f32>(input).unwrap();
        let got = out
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        for col in 0..3 {
            let (a, b) = (x[col], x[col + 3]);
            let max = if b > a { b } else { a };
            let (ea, eb) = (libm::expf(a - max), libm::expf(b - max));
            let sum = ea + eb;
            assert_eq!(got[col].to_bits(), (ea / sum).to_bits());
            assert_eq!(got[col + 3].to_bits(), (eb / sum).to_bits());
        }
        let log = LibmSoftmax {
            axes: tvec!(0),
            log: true,
        };
        let input = tensor1(&x).into_shape(&[2, 3]).unwrap().into_tvalue();
        let out = log.eval_t::<f32>(input).unwrap();
        let logs = out
            .try_as_plain_ram()
            .unwrap()
            .as_slice::<f32>()
            .unwrap()
            .to_vec();
        for (l, p) in logs.iter().zip(&got) {
            assert_eq!(l.to_bits(), libm::logf(*p).to_bits());
        }
    }
}
