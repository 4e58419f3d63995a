//! `ai.onnx.ml` `Scaler`: `y = (x - offset) * scale`, as f32.
//!
//! onnxruntime computes `static_cast<float>((x - offset[i % C]) * scale[i % C])` with float
//! `offset` and `scale`: in f32 for f32 inputs, in f64 for f64 inputs (then rounded once to f32),
//! and in f32 after an int-to-float conversion for integer inputs. Wired onto tract-core's
//! element-wise `Sub` and `Mul`, which round exactly like that.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_core::ops::{cast::cast, math};
use tract_onnx::tract_hir::internal::*;

pub(crate) fn scaler(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let offset: Option<Vec<f32>> = node.get_attr_opt_vec("offset")?;
    let scale: Option<Vec<f32>> = node.get_attr_opt_vec("scale")?;
    let (offset, scale) = match (offset, scale) {
        (Some(o), Some(s)) => (o, s),
        (Some(o), None) => {
            let ones = vec![1.0; o.len()];
            (o, ones)
        }
        (None, Some(s)) => (vec![0.0; s.len()], s),
        (None, None) => bail!("Scaler {}: neither offset nor scale is set", node.name),
    };
    ensure!(!scale.is_empty(), "Scaler {}: empty scale", node.name);
    ensure!(
        offset.len() == scale.len(),
        "Scaler {}: offset has {} values, scale {}",
        node.name,
        offset.len(),
        scale.len()
    );
    Ok((expand(Scaler { offset, scale }), vec![]))
}

/// The `Scaler` expansion: per-feature (last axis) or single `offset` and `scale`.
#[derive(Debug, Clone)]
struct Scaler {
    offset: Vec<f32>,
    scale: Vec<f32>,
}

impl Expansion for Scaler {
    fn name(&self) -> StaticName {
        "Scaler".into()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, 1)?;
        s.equals(&outputs[0].datum_type, f32::datum_type())?;
        s.equals(&inputs[0].shape, &outputs[0].shape)?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let fact = model.outlet_fact(inputs[0])?.clone();
        let rank = fact.rank();
        ensure!(
            rank >= 1,
            "{prefix}: Scaler needs an input of rank 1 or more"
        );
        let mut shape = tvec![1usize; rank];
        if self.scale.len() > 1 {
            // onnxruntime indexes the flat data modulo dim 1 (dim 0 for rank 1): per feature
            // along the last axis for the ranks it documents.
            ensure!(
                rank <= 2,
                "{prefix}: per-feature Scaler needs an input of rank 1 or 2"
            );
            let features = fact.shape[rank - 1].to_usize().ok();
            ensure!(
                features == Some(self.scale.len()),
                "{prefix}: Scaler has {} values for {} features",
                self.scale.len(),
                fact.shape[rank - 1]
            );
            shape[rank - 1] = self.scale.len();
        }
        let dt = fact.datum_type;
        let (work_dt, offset, scale) = match dt {
            DatumType::F64 => {
                let o: Vec<f64> = self.offset.iter().map(|&v| v as f64).collect();
                let s: Vec<f64> = self.scale.iter().map(|&v| v as f64).collect();
                (dt, tensor1(&o), tensor1(&s))
            }
            DatumType::F32 | DatumType::I64 | DatumType::I32 => {
                (DatumType::F32, tensor1(&self.offset), tensor1(&self.scale))
            }
            other => bail!("{prefix}: Scaler does not take {other:?} inputs"),
        };
        let mut x = inputs[0];
        if dt != work_dt {
            x = model.wire_node(format!("{prefix}.cast"), cast(work_dt), &[x])?[0];
        }
        let offset = model.add_const(format!("{prefix}.offset"), offset.into_shape(&shape)?)?;
        let scale = model.add_const(format!("{prefix}.scale"), scale.into_shape(&shape)?)?;
        let y = model.wire_node(format!("{prefix}.sub"), math::sub(), &[x, offset])?[0];
        let mut y = model.wire_node(format!("{prefix}.mul"), math::mul(), &[y, scale])?[0];
        if work_dt != DatumType::F32 {
            y = model.wire_node(format!("{prefix}.to_f32"), cast(f32::datum_type()), &[y])?[0];
        }
        Ok(tvec!(y))
    }
}
