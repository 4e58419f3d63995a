//! `com.microsoft` `QLinearSoftmax` on int8 / uint8, as onnxruntime's CPU kernel computes it.
//!
//! Inputs `X, X_scale, [x_zero_point], Y_scale, [y_zero_point]`; attributes `axis` and `opset`
//! (below 13: softmax over all axes from `axis` on, flattened; from 13: over `axis` alone).
//! onnxruntime builds a 256-entry table once, `t[i] = f32(exp((i - 255 + s) * x_scale))` in
//! f64 with `s = max(0, ln(f32::MAX / D) - 5) / x_scale` (`D` the reduced length), then per
//! reduced row: `sum = Σ t[255 - (max - x)]` in f32, in row order, and
//! `y = min(nearbyint(t[..] * floor(1 / y_scale) / sum) + y_zp, 255 or 127)` (all f32; the
//! sum cannot go below the zero point). Checked against onnxruntime 1.32 on random inputs;
//! older releases wrapped int8 results above 127 (a probability of 1 came out as -128). The
//! table uses [`super::math`]'s `exp` and `ln`.

use super::math::{exp_f64, ln_f64};
use super::{Floats, konst_scalar};
use tract_onnx::model::{ParsingContext, optional_inputs};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

pub(crate) fn qlinear_softmax(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let slots: Vec<Option<usize>> = optional_inputs(node).take(5).collect();
    for (i, name) in [(0, "X"), (1, "X_scale"), (3, "Y_scale")] {
        ensure!(
            slots[i].is_some(),
            "QLinearSoftmax {:?}: input {name} is required",
            node.name
        );
    }
    let opset: i64 = node.get_attr_opt("opset")?.ok_or_else(|| {
        format_err!(
            "QLinearSoftmax {:?}: attribute opset is required",
            node.name
        )
    })?;
    let axis = node
        .get_attr_opt("axis")?
        .unwrap_or(if opset < 13 { 1 } else { -1 });
    let op = QLinearSoftmaxExpansion {
        slots,
        inputs: node.input.iter().filter(|s| !s.is_empty()).count(),
        axis,
        flatten: opset < 13,
    };
    Ok((expand(op), vec![]))
}

#[derive(Debug, Clone)]
struct QLinearSoftmaxExpansion {
    slots: Vec<Option<usize>>,
    inputs: usize,
    axis: i64,
    flatten: bool,
}

impl QLinearSoftmaxExpansion {
    fn slot(&self, i: usize) -> TractResult<usize> {
        self.slots
            .get(i)
            .copied()
            .flatten()
            .ok_or_else(|| format_err!("QLinearSoftmax input {i} is missing"))
    }
}

impl Expansion for QLinearSoftmaxExpansion {
    fn name(&self) -> StaticName {
        "QLinearSoftmax".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.inputs)?;
        check_output_arity(outputs, 1)?;
        let x = self.slot(0)?;
        s.equals(&outputs[0].datum_type, &inputs[x].datum_type)?;
        s.equals(&outputs[0].shape, &inputs[x].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let x = inputs[self.slot(0)?];
        let fact = model.outlet_fact(x)?.clone();
        let signed = match fact.datum_type.unquantized() {
            DatumType::I8 => true,
            DatumType::U8 => false,
            other => bail!("{prefix}: QLinearSoftmax takes int8 or uint8, not {other:?}"),
        };
        let rank = fact.rank() as i64;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        ensure!(
            (0..rank).contains(&axis),
            "{prefix}: axis {} out of range",
            self.axis
        );
        let axis = axis as usize;
        let shape = fact
            .shape
            .as_concrete()
            .ok_or_else(|| format_err!("{prefix}: QLinearSoftmax needs a concrete input shape"))?;
        let reduce_len: usize = if self.flatten {
            shape[axis..].iter().product()
        } else {
            shape[axis]
        };
        ensure!(reduce_len > 0, "{prefix}: empty softmax axis");

        let x_scale: f32 = konst_scalar(model, inputs[self.slot(1)?], "X_scale")?;
        let y_scale: f32 = konst_scalar(model, inputs[self.slot(3)?], "Y_scale")?;
        ensure!(
            x_scale.is_finite() && x_scale > 0.0 && y_scale.is_finite() && y_scale > 0.0,
            "{prefix}: scales must be positive and finite (X_scale {x_scale}, Y_scale {y_scale})"
        );
        let y_zero_point = match self.slots.get(4).copied().flatten() {
            Some(s) => {
                let zp: i32 = if signed {
                    konst_scalar::<i8>(model, inputs[s], "y_zero_point")? as i32
                } else {
                    konst_scalar::<u8>(model, inputs[s], "y_zero_point")? as i32
                };
                zp
            }
            None => 0,
        };
        let op = QLinearSoftmax {
            axis,
            flatten: self.flatten,
            signed,
            table: Floats(table(x_scale, reduce_len)),
            y_scale: (1.0f32 / y_scale).floor().to_bits(),
            y_zero_point,
        };
        model.wire_node(prefix, op, &[x])
    }
}

/// onnxruntime's `QlinearBuildLookupTableUint32`, indexed by `255 - (max - x)`.
fn table(x_scale: f32, reduce_len: usize) -> Vec<f32> {
    let bit_shift = ln_f64((f32::MAX / reduce_len as f32) as f64);
    let bit_shift = (bit_shift - 5.0).max(0.0) / x_scale as f64;
    (0..256)
        .map(|i| exp_f64((i as f64 - 255.0 + bit_shift) * x_scale as f64) as f32)
        .collect()
}

/// The typed operator, with its lookup table built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct QLinearSoftmax {
    axis: usize,
    flatten: bool,
    signed: bool,
    table: Floats,
    /// `floor(1 / Y_scale)` bits.
    y_scale: u32,
    y_zero_point: i32,
}

impl QLinearSoftmax {
    /// Softmax of one reduced row (`xs` as ints, in row order) into `ys`.
    fn row(&self, xs: &[i32], ys: &mut [i32]) {
        let max = xs.iter().copied().max().unwrap_or(0);
        let t = &self.table.0;
        let value = |x: i32| t[(255 - (max - x)) as usize];
        let mut sum = 0f32;
        for &x in xs {
            sum += value(x);
        }
        let y_scale = f32::from_bits(self.y_scale);
        for (&x, y) in xs.iter().zip(ys.iter_mut()) {
            let q = (value(x) * y_scale / sum).round_ties_even();
            // `q >= 0` and the zero point is in range, so only the upper bound can be hit.
            let upper = if self.signed { 127 } else { 255 };
            *y = (q as i32).saturating_add(self.y_zero_point).min(upper);
        }
    }
}

impl Op for QLinearSoftmax {
    fn name(&self) -> StaticName {
        "QLinearSoftmax".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "axis {}{}, y_scale' {}, y_zero_point {}",
            self.axis,
            if self.flatten { " (flattened)" } else { "" },
            f32::from_bits(self.y_scale),
            self.y_zero_point
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for QLinearSoftmax {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let shape = input.shape().to_vec();
        let xs: Vec<i32> = if self.signed {
            input
                .try_as_plain_ram()?
                .as_slice::<i8>()?
                .iter()
                .map(|&v| v as i32)
                .collect()
        } else {
            input
                .try_as_plain_ram()?
                .as_slice::<u8>()?
                .iter()
                .map(|&v| v as i32)
                .collect()
        };
        let mut ys = vec![0i32; xs.len()];
        // Rows of `len` elements `stride` apart, `inner` of them per block of `len * inner`.
        let (len, inner) = if self.flatten {
            (shape[self.axis..].iter().product::<usize>(), 1)
        } else {
            (
                shape[self.axis],
                shape[self.axis + 1..].iter().product::<usize>(),
            )
        };
        if len > 0 && inner > 0 {
            let mut row_x = vec![0i32; len];
            let mut row_y = vec![0i32; len];
            for block in 0..xs.len() / (len * inner) {
                for j in 0..inner {
                    let at = |k: usize| block * len * inner + k * inner + j;
                    for (k, r) in row_x.iter_mut().enumerate() {
                        *r = xs[at(k)];
                    }
                    self.row(&row_x, &mut row_y);
                    for (k, r) in row_y.iter().enumerate() {
                        ys[at(k)] = *r;
                    }
                }
            }
        }
        let out = if self.signed {
            tensor1(&ys.iter().map(|&v| v as i8).collect::<Vec<_>>())
        } else {
            tensor1(&ys.iter().map(|&v| v as u8).collect::<Vec<_>>())
        };
        Ok(tvec!(out.into_shape(&shape)?.into_tvalue()))
    }
}

impl TypedOp for QLinearSoftmax {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(inputs[0].without_value()))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(signed: bool, y_zero_point: i32) -> QLinearSoftmax {
        QLinearSoftmax {
            axis: 0,
            flatten: false,
            signed,
            table: Floats(table(0.1, 4)),
            y_scale: 256f32.to_bits(),
            y_zero_point,
        }
    }

    #[test]
    fn table_peaks_at_the_maximum() {
        let t = table(0.1, 4);
        assert!(t.windows(2).all(|w| w[0] < w[1]));
        // e^(ln(f32::MAX / 4) - 5), the headroom onnxruntime keeps for the sum
        let top = ((f32::MAX / 4.0) as f64).ln() - 5.0;
        assert_eq!(t[255], top.exp() as f32);
    }

    #[test]
    fn equal_inputs_share_the_probability() {
        let mut y = [0; 4];
        op(false, 0).row(&[7, 7, 7, 7], &mut y);
        assert_eq!(y, [64; 4]);
    }

    #[test]
    fn a_certain_class_saturates_at_the_top_of_the_range() {
        let mut y = [0; 2];
        op(false, 0).row(&[255, 0], &mut y);
        assert_eq!(y, [255, 0]);
        op(true, -128).row(&[127, -128], &mut y);
        assert_eq!(y, [127, -128]);
    }
}
