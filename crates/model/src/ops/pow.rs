//! ONNX `Pow` with the pinned pure-Rust libm: tract's own `Pow` calls `f32::powf` /
//! `f64::powf`, which is the platform C library's `powf` / `pow` (glibc picks an FMA or a
//! non-FMA implementation by CPU). Same typing and broadcasting as tract-onnx's `Pow`
//! (an integer exponent on a float base, or the reverse, computes in f64 and casts back).

use super::math::{pow_f32, pow_f64};
use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::binary::{wire_cast, wire_rank_broadcast};

/// The typed operator, named `Pow` like tract's so that costs and reports treat it the same.
mod typed {
    use super::{pow_f32, pow_f64};
    use tract_onnx::tract_hir::internal::*;

    tract_onnx::tract_core::bin_to_super_type!(libm_pow, Pow,
        is_commutative: false,
        neutral_element: 1,
        [f32] => |c, a, b| *c = pow_f32(*a, *b),
        [f64] => |c, a, b| *c = pow_f64(*a, *b),
        [i32] => |c, a, b| *c = a.wrapping_pow(*b as u32),
        [i64] => |c, a, b| *c = a.wrapping_pow(*b as u32));
}
pub(crate) use typed::libm_pow;

pub(crate) fn pow(
    _ctx: &ParsingContext,
    _node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(PowExpansion), vec![]))
}

#[derive(Debug, Clone, Hash, PartialEq, Eq)]
struct PowExpansion;

impl Expansion for PowExpansion {
    fn name(&self) -> StaticName {
        "Pow".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 2)?;
        check_output_arity(outputs, 1)?;
        s.equals(&inputs[0].datum_type, &outputs[0].datum_type)?;
        s.with(&inputs[0].shape, move |s, a_shape| {
            s.with(&inputs[1].shape, move |s, b_shape| {
                if let Ok(Some(c_shape)) =
                    tract_onnx::tract_hir::infer::helpers::infer_shape_broadcasting(&[
                        &a_shape, &b_shape,
                    ])
                {
                    s.equals(&outputs[0].shape, c_shape)?;
                }
                Ok(())
            })
        })?;
        Ok(())
    }

    fn wire(
        &self,
        name: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let dta = model.outlet_fact(inputs[0])?.datum_type;
        let dtb = model.outlet_fact(inputs[1])?.datum_type;
        let mut wires = wire_rank_broadcast(name, model, inputs)?;
        if dta.is_integer() != dtb.is_integer() {
            wires = wire_cast(name, model, &wires, DatumType::F64)?;
            wires = model.wire_node(format!("{name}.pow"), libm_pow(), &wires)?;
            model.wire_node(name, tract_onnx::tract_hir::ops::cast::cast(dta), &wires)
        } else {
            let dt = dta
                .common_super_type(dtb)
                .ok_or_else(|| format_err!("Pow: no common type for {dta:?} and {dtb:?}"))?;
            wires = wire_cast(name, model, &wires, dt)?;
            model.wire_node(name, libm_pow(), &wires)
        }
    }
}
