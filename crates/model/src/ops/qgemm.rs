//! `com.microsoft` `QGemm`: `Y = alpha * A' * B' + C` on quantized A and B, as onnxruntime's
//! CPU kernel computes it.
//!
//! Inputs: `A, a_scale, a_zero_point, B, b_scale, b_zero_point, [C], [y_scale], [y_zero_point]`;
//! attributes `alpha`, `transA`, `transB`. onnxruntime accumulates `(A - a_zp) (B - b_zp)` in
//! i32, adds the i32 bias `C`, then either scales to f32 (no `y_scale`: `f32(acc) * m`) or
//! requantizes (`round_half_even(clamp(f32(acc) * m)) + y_zp`), with the f32 multiplier
//! `m = alpha * a_scale * b_scale[n] / y_scale` computed in that order.
//!
//! The integer product is wired onto tract-core's quantized `EinSum` (its integer kernels, with
//! zero-point compensation), all scales set to one so that it yields the exact i32
//! accumulator; bias and requantization follow as separate exact steps. `b_scale` and
//! `b_zero_point` may be per column (`[N]`); scales and zero points must be constants.

use super::{Floats, konst, konst_scalar};
use tract_onnx::model::{ParsingContext, optional_inputs};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::{einsum::EinSum, math};
use tract_onnx::tract_hir::internal::*;

pub(crate) fn qgemm(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let slots: Vec<Option<usize>> = optional_inputs(node).take(9).collect();
    for (i, name) in [(0, "A"), (1, "a_scale"), (3, "B"), (4, "b_scale")] {
        ensure!(
            slots[i].is_some(),
            "QGemm {:?}: input {name} is required",
            node.name
        );
    }
    let op = QGemm {
        slots,
        inputs: node.input.iter().filter(|s| !s.is_empty()).count(),
        alpha: node.get_attr_opt("alpha")?.unwrap_or(1.0),
        trans_a: node.get_attr_opt("transA")?.unwrap_or(false),
        trans_b: node.get_attr_opt("transB")?.unwrap_or(false),
    };
    Ok((expand(op), vec![]))
}

/// The `QGemm` expansion. `slots[i]` is the position among the node's actual inputs of ONNX
/// input `i` (`None` when omitted).
#[derive(Debug, Clone)]
struct QGemm {
    slots: Vec<Option<usize>>,
    inputs: usize,
    alpha: f32,
    trans_a: bool,
    trans_b: bool,
}

const A: usize = 0;
const A_SCALE: usize = 1;
const A_ZP: usize = 2;
const B: usize = 3;
const B_SCALE: usize = 4;
const B_ZP: usize = 5;
const C: usize = 6;
const Y_SCALE: usize = 7;
const Y_ZP: usize = 8;

impl QGemm {
    fn slot(&self, i: usize) -> Option<usize> {
        self.slots.get(i).copied().flatten()
    }

    fn required(&self, i: usize) -> TractResult<usize> {
        self.slot(i)
            .ok_or_else(|| format_err!("QGemm input {i} is missing"))
    }

    /// `(rows, cols)` of `A'` or `B'` from its shape.
    fn dims(shape: &[TDim], transposed: bool) -> TractResult<(TDim, TDim)> {
        ensure!(
            shape.len() == 2,
            "QGemm operands must be of rank 2, got {shape:?}"
        );
        Ok(if transposed {
            (shape[1].clone(), shape[0].clone())
        } else {
            (shape[0].clone(), shape[1].clone())
        })
    }

    /// A zero point as an i32 constant: scalar, or `[n]` when `per_column` allows it.
    fn zero_point(
        &self,
        model: &TypedModel,
        slot: Option<usize>,
        inputs: &[OutletId],
        operand: DatumType,
        what: &str,
    ) -> TractResult<Tensor> {
        let Some(slot) = slot else {
            return Ok(tensor0(0i32));
        };
        let zp = konst(model, inputs[slot], what)?;
        ensure!(
            zp.datum_type().unquantized() == operand.unquantized(),
            "{what} is {:?}, its operand {:?}",
            zp.datum_type(),
            operand
        );
        let zp = zp.cast_to::<i32>()?.into_owned();
        let len = zp.len();
        Ok(if len == 1 {
            zp.into_shape(&[])?
        } else {
            zp.into_shape(&[len])?
        })
    }
}

impl Expansion for QGemm {
    fn name(&self) -> StaticName {
        "QGemm".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, self.inputs)?;
        check_output_arity(outputs, 1)?;
        let (a, b) = (self.required(A)?, self.required(B)?);
        if let Some(zp) = self.slot(A_ZP) {
            s.equals(&inputs[zp].datum_type, &inputs[a].datum_type)?;
        }
        if let Some(zp) = self.slot(B_ZP) {
            s.equals(&inputs[zp].datum_type, &inputs[b].datum_type)?;
        }
        match self.slot(Y_ZP) {
            Some(zp) => s.equals(&outputs[0].datum_type, &inputs[zp].datum_type)?,
            None => s.equals(&outputs[0].datum_type, f32::datum_type())?,
        }
        s.equals(&inputs[a].rank, 2)?;
        s.equals(&inputs[b].rank, 2)?;
        s.equals(&outputs[0].rank, 2)?;
        let (ta, tb) = (self.trans_a, self.trans_b);
        s.given_2(
            &inputs[a].shape,
            &inputs[b].shape,
            move |s, ashape, bshape| {
                let (m, _) = Self::dims(&ashape, ta)?;
                let (_, n) = Self::dims(&bshape, tb)?;
                s.equals(&outputs[0].shape[0], m)?;
                s.equals(&outputs[0].shape[1], n)
            },
        )?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let (a, b) = (inputs[self.required(A)?], inputs[self.required(B)?]);
        let (a_fact, b_fact) = (model.outlet_fact(a)?.clone(), model.outlet_fact(b)?.clone());
        let (_, k) = Self::dims(&a_fact.shape, self.trans_a)?;
        let (k2, n) = Self::dims(&b_fact.shape, self.trans_b)?;
        ensure!(k == k2, "{prefix}: inner dimensions differ ({k} vs {k2})");
        for (fact, what) in [(&a_fact, "A"), (&b_fact, "B")] {
            ensure!(
                matches!(fact.datum_type.unquantized(), DatumType::I8 | DatumType::U8),
                "{prefix}: {what} must be int8 or uint8, is {:?}",
                fact.datum_type
            );
        }

        // Multipliers, in onnxruntime's order: (alpha * a_scale) * b_scale[n], then / y_scale.
        let a_scale: f32 = konst_scalar(model, inputs[self.required(A_SCALE)?], "a_scale")?;
        let b_scale = konst(model, inputs[self.required(B_SCALE)?], "b_scale")?;
        ensure!(
            b_scale.datum_type() == f32::datum_type(),
            "{prefix}: b_scale must be f32"
        );
        let b_scale = b_scale.try_as_plain_ram()?.as_slice::<f32>()?.to_vec();
        let columns = n.to_usize().ok();
        ensure!(
            b_scale.len() == 1 || Some(b_scale.len()) == columns,
            "{prefix}: b_scale has {} values for {n} columns",
            b_scale.len()
        );
        let y_scale = match self.slot(Y_SCALE) {
            Some(s) => Some(konst_scalar::<f32>(model, inputs[s], "y_scale")?),
            None => None,
        };
        let multipliers: Vec<f32> = b_scale
            .iter()
            .map(|bs| {
                let m = self.alpha * a_scale * bs;
                y_scale.map_or(m, |ys| m / ys)
            })
            .collect();
        ensure!(
            multipliers.iter().all(|m| m.is_finite()),
            "{prefix}: scales give a non-finite multiplier {multipliers:?}"
        );
        let output = match (y_scale, self.slot(Y_ZP)) {
            (Some(_), Some(zp)) => {
                let zp = konst(model, inputs[zp], "y_zero_point")?;
                ensure!(zp.len() == 1, "{prefix}: y_zero_point must hold one value");
                let dt = zp.datum_type().unquantized();
                ensure!(
                    matches!(dt, DatumType::I8 | DatumType::U8),
                    "{prefix}: y_zero_point must be int8 or uint8, is {dt:?}"
                );
                Output::Quantized {
                    dt,
                    zero_point: zp.cast_to_scalar::<i32>()?,
                }
            }
            (None, None) => Output::Float,
            _ => bail!("{prefix}: y_scale and y_zero_point must be given together"),
        };

        // Exact i32 accumulator: quantized EinSum with unit scales and zero output offset.
        let a0 = self.zero_point(
            model,
            self.slot(A_ZP),
            inputs,
            a_fact.datum_type,
            "a_zero_point",
        )?;
        ensure!(a0.rank() == 0, "{prefix}: a_zero_point must hold one value");
        let b0 = self.zero_point(
            model,
            self.slot(B_ZP),
            inputs,
            b_fact.datum_type,
            "b_zero_point",
        )?;
        ensure!(
            b0.rank() == 0 || Some(b0.len()) == columns,
            "{prefix}: b_zero_point has {} values for {n} columns",
            b0.len()
        );
        let expr = format!(
            "{},{},,,,{},,,->mn",
            if self.trans_a { "km" } else { "mk" },
            if self.trans_b { "nk" } else { "kn" },
            if b0.rank() == 1 { "n" } else { "" }
        );
        let mut wires = tvec![a, b];
        for (name, t) in [
            ("bias", tensor0(0i32)),
            ("a0", a0),
            ("a_scale", tensor0(1f32)),
            ("b0", b0),
            ("b_scale", tensor0(1f32)),
            ("c0", tensor0(0i32)),
            ("c_scale", tensor0(1f32)),
        ] {
            wires.push(model.add_const(format!("{prefix}.{name}"), t)?);
        }
        let einsum = EinSum {
            axes: expr.parse()?,
            operating_dt: i32::datum_type(),
            q_params: Some(i32::datum_type()),
        };
        let mut acc = model.wire_node(format!("{prefix}.matmul"), einsum, &wires)?[0];
        if let Some(c) = self.slot(C) {
            let c = inputs[c];
            let dt = model.outlet_fact(c)?.datum_type;
            ensure!(
                dt == i32::datum_type(),
                "{prefix}: C must be int32, is {dt:?}"
            );
            acc =
                wire_with_rank_broadcast(format!("{prefix}.add_c"), model, math::add(), &[acc, c])?
                    [0];
        }
        let requant = Requantize {
            multipliers: Floats(multipliers),
            output,
        };
        model.wire_node(format!("{prefix}.requantize"), requant, &[acc])
    }
}

/// What [`Requantize`] produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Output {
    /// `f32(acc) * m`.
    Float,
    /// `round_half_even(clamp(f32(acc) * m, lo - zp, hi - zp)) + zp` in `dt` (i8 or u8).
    Quantized { dt: DatumType, zero_point: i32 },
}

/// onnxruntime's (MLAS's) requantization of an i32 accumulator: the multiplier is one value or
/// one per column (the last axis).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Requantize {
    pub multipliers: Floats,
    pub output: Output,
}

impl Requantize {
    fn run<T: Datum + Copy + Default>(
        &self,
        acc: &[i32],
        columns: usize,
        f: impl Fn(i32, f32) -> T,
    ) -> Tensor {
        let m = &self.multipliers.0;
        let per_column = m.len() > 1;
        let mut out = vec![T::default(); acc.len()];
        for (i, (o, &a)) in out.iter_mut().zip(acc).enumerate() {
            let mult = if per_column { m[i % columns] } else { m[0] };
            *o = f(a, mult);
        }
        tensor1(&out)
    }
}

/// MLAS's requantization to a `lo..=hi` integer range.
fn requantize(acc: i32, mult: f32, zero_point: i32, lo: i32, hi: i32) -> i32 {
    let v = (acc as f32 * mult)
        .max((lo - zero_point) as f32)
        .min((hi - zero_point) as f32);
    v.round_ties_even() as i32 + zero_point
}

impl Op for Requantize {
    fn name(&self) -> StaticName {
        "Requantize".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{:?}, {} multiplier(s)",
            self.output,
            self.multipliers.0.len()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Requantize {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let acc = args_1!(inputs);
        let columns = acc.shape().last().copied().unwrap_or(1).max(1);
        if self.multipliers.0.len() > 1 {
            ensure!(
                columns == self.multipliers.0.len(),
                "Requantize: {columns} columns"
            );
        }
        let data = acc.try_as_plain_ram()?;
        let data = data.as_slice::<i32>()?;
        let out = match self.output {
            Output::Float => self.run(data, columns, |a, m| a as f32 * m),
            Output::Quantized {
                dt: DatumType::I8,
                zero_point: zp,
            } => self.run(data, columns, |a, m| requantize(a, m, zp, -128, 127) as i8),
            Output::Quantized {
                dt: DatumType::U8,
                zero_point: zp,
            } => self.run(data, columns, |a, m| requantize(a, m, zp, 0, 255) as u8),
            Output::Quantized { dt, .. } => bail!("Requantize cannot produce {dt:?}"),
        };
        Ok(tvec!(out.into_shape(acc.shape())?.into_tvalue()))
    }
}

impl TypedOp for Requantize {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].datum_type == i32::datum_type(),
            "Requantize takes i32"
        );
        let dt = match self.output {
            Output::Float => f32::datum_type(),
            Output::Quantized { dt, .. } => dt,
        };
        Ok(tvec!(dt.fact(inputs[0].shape.clone())))
    }

    as_op!();
}

#[cfg(test)]
mod tests {
    use super::requantize;

    #[test]
    fn requantize_rounds_half_to_even_then_offsets() {
        assert_eq!(requantize(5, 0.5, 0, -128, 127), 2); // 2.5 -> 2
        assert_eq!(requantize(7, 0.5, 0, -128, 127), 4); // 3.5 -> 4
        assert_eq!(requantize(-5, 0.5, 0, -128, 127), -2); // -2.5 -> -2
        assert_eq!(requantize(5, 0.5, 10, -128, 127), 12);
    }

    #[test]
    fn requantize_saturates_around_the_zero_point() {
        assert_eq!(requantize(i32::MAX, 1.0, -128, -128, 127), 127);
        assert_eq!(requantize(i32::MIN, 1.0, 5, -128, 127), -128);
        assert_eq!(requantize(1000, 1.0, 128, 0, 255), 255);
        assert_eq!(requantize(-1000, 1.0, 128, 0, 255), 0);
    }
}
