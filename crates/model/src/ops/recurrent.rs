//! `LSTM`, `GRU`, `RNN`: tract's recurrent operators, with what they lack.
//!
//! tract 0.23 lowers each to a loop (`Scan`) over a cell, or to a fused sequence op, and Prova
//! keeps that arithmetic (f32 matrix kernels and the pinned sigmoid/tanh). Around it:
//!
//! - `direction="reverse"`: tract runs one set of weights forwards whatever the attribute
//!   says. Prova reverses `X` along the sequence, runs forwards, and reverses `Y` back (`Y_h`
//!   and `Y_c`, the states after the last step processed, are already right).
//! - an `LSTM` whose two states come from one node (tract's own zero states when the model
//!   gives none, or one tensor given as both): tract's loop rewrites move the axes of one
//!   state and not the other, and the run fails on a batch of more than one ("clashing
//!   resolution"). Prova gives each state its own node: zeros computed from `X` for a missing
//!   one, `c - 0` for a shared one.
//!
//! - a `GRU` with a constant `R`: tract fuses it into `GruSeq`, whose input product is
//!   ndarray's matrix product (matrixmultiply picks FMA kernels by CPU, outside the exact
//!   profile's pins: the CPU matrix caught `digits_gru` giving two hashes). Prova keeps the
//!   loop, whose products are tract's pinned kernels.
//!
//! The attributes tract ignores (activations other than the defaults, `clip`,
//! `input_forget`, variable `sequence_lens`) are refused at admission
//! (`crate::attributes`).

use tract_onnx::model::ParsingContext;
use tract_onnx::ops::rec::common::CommonRec;
use tract_onnx::ops::rec::{gru::GRU, lstm::LSTM, rnn::RNN};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops;
use tract_onnx::tract_hir::tract_core::ops::array::Slice;
use tract_onnx::tract_hir::tract_core::ops::binary::{BinMiniOp, TypedBinOp};
use tract_onnx::tract_hir::tract_core::ops::cast::cast;
use tract_onnx::tract_hir::tract_core::ops::downsample::Downsample;
use tract_onnx::tract_hir::tract_core::ops::logic::{comp_gt, comp_lt};
use tract_onnx::tract_hir::tract_core::ops::math::{Add, Sub};

pub(crate) fn lstm(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let body = LSTM {
        f: Box::new(ops::nn::sigmoid()),
        g: Box::new(ops::math::tanh()),
        h: Box::new(ops::math::tanh()),
    };
    recurrent(
        node,
        CommonRec::from_node_and_options(node, 3, 0, Box::new(body))?,
    )
}

pub(crate) fn gru(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let body = GRU {
        f: Box::new(ops::nn::sigmoid()),
        g: Box::new(ops::math::tanh()),
        linear_before_reset: node.get_attr("linear_before_reset").unwrap_or(false),
    };
    recurrent(
        node,
        CommonRec::from_node_and_options(node, 3, 0, Box::new(body))?,
    )
}

pub(crate) fn rnn(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let body = RNN::new(Box::new(ops::math::tanh()), Box::new(ops::math::tanh()));
    recurrent(
        node,
        CommonRec::from_node_and_options(node, 3, 0, Box::new(body))?,
    )
}

fn recurrent(
    node: &NodeProto,
    inner: CommonRec,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    let direction: Option<String> = node.get_attr_opt("direction")?;
    let reverse = direction.as_deref() == Some("reverse");
    Ok((expand(Recurrent { inner, reverse }), vec![]))
}

/// tract's recurrent expansion, fed explicit zero states and, for `direction="reverse"`, a
/// reversed sequence.
#[derive(Debug, Clone)]
struct Recurrent {
    inner: CommonRec,
    reverse: bool,
}

impl Expansion for Recurrent {
    fn name(&self) -> StaticName {
        self.inner.name()
    }

    fn validation(&self) -> Validation {
        self.inner.validation()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        self.inner.nboutputs()
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        self.inner.rules(s, inputs, outputs)
    }

    fn wire(
        &self,
        prefix: &str,
        target: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        let mut inner = self.inner.clone();
        let mut inputs: TVec<OutletId> = inputs.into();
        let batch_first = inner.batch_first;
        if batch_first {
            // Run sequence-first: tract merges the two directions of a batch-first
            // bidirectional node along the wrong axis.
            let moved = [
                Some(0),
                inner.optional_initial_h_input,
                inner.optional_initial_c_input,
            ];
            for (k, slot) in moved.into_iter().flatten().enumerate() {
                inputs[slot] = target.wire_node(
                    format!("{prefix}.sequence_first.{k}"),
                    AxisOp::Move(1, 0),
                    &[inputs[slot]],
                )?[0];
            }
            inner.batch_first = false;
        }
        let x = target.outlet_fact(inputs[0])?.clone();
        if self.reverse {
            inputs[0] = target.wire_node(
                format!("{prefix}.reverse_x"),
                Downsample::new(0, -1, 0),
                &[inputs[0]],
            )?[0];
        }
        let directions = target.outlet_fact(inputs[1])?.shape[0].to_usize()?;
        let hidden = target.outlet_fact(inputs[2])?.shape[2].to_usize()?;
        let batch = x.shape[1].to_usize()?;
        let state = [directions, batch, hidden];
        if inner.body.have_extra_c_state() {
            // tract's loop rewrites break when both states come from one node (its own two
            // constant zero states are merged into one): give each its own.
            let x0 = inputs[0];
            let mut zeros = |name: &str, comparison| {
                zero_state(target, &format!("{prefix}.{name}"), x0, &state, comparison)
            };
            match (
                inner.optional_initial_h_input,
                inner.optional_initial_c_input,
            ) {
                (Some(h), Some(c)) if inputs[h] == inputs[c] => {
                    let z = zeros("zero_c", comp_lt())?;
                    inputs[c] = target.wire_node(
                        format!("{prefix}.own_c"),
                        TypedBinOp(Box::new(Sub), None),
                        &[inputs[c], z],
                    )?[0];
                }
                (h, c) => {
                    if h.is_none() {
                        let z = zeros("zero_h", comp_gt())?;
                        inner.optional_initial_h_input = Some(inputs.len());
                        inputs.push(z);
                    }
                    if c.is_none() {
                        let z = zeros("zero_c", comp_lt())?;
                        inner.optional_initial_c_input = Some(inputs.len());
                        inputs.push(z);
                    }
                }
            }
        }
        if !inner.body.have_extra_c_state() && target.outlet_fact(inputs[2])?.konst.is_some() {
            // A constant `R` lets tract fuse a GRU into `GruSeq`, whose input product runs
            // on ndarray's `dot` (matrixmultiply, which picks FMA kernels by CPU): not the
            // exact profile's pinned kernels. `R - 0` (the identity, signed zeros included)
            // is not a constant when the choice is made, and folds back into one after.
            let zero = target.add_const(
                format!("{prefix}.r_zero"),
                tensor0(0f32)
                    .cast_to_dt(x.datum_type)?
                    .into_owned()
                    .broadcast_into_rank(3)?
                    .into_arc_tensor(),
            )?;
            inputs[2] = target.wire_node(
                format!("{prefix}.r_unfused"),
                TypedBinOp(Box::new(Sub), None),
                &[inputs[2], zero],
            )?[0];
        }
        let mut outputs = inner.wire(prefix, target, &inputs)?;
        if let Some(y) = inner.optional_y_output {
            if self.reverse {
                outputs[y] = target.wire_node(
                    format!("{prefix}.reverse_y"),
                    Downsample::new(0, -1, 0),
                    &[outputs[y]],
                )?[0];
            }
            if batch_first {
                // [seq, directions, batch, hidden] -> [batch, seq, directions, hidden]
                outputs[y] = target.wire_node(
                    format!("{prefix}.batch_first.y"),
                    AxisOp::Move(2, 0),
                    &[outputs[y]],
                )?[0];
            }
        }
        if batch_first {
            for (k, slot) in [inner.optional_y_h_output, inner.optional_y_c_output]
                .into_iter()
                .flatten()
                .enumerate()
            {
                outputs[slot] = target.wire_node(
                    format!("{prefix}.batch_first.state{k}"),
                    AxisOp::Move(1, 0),
                    &[outputs[slot]],
                )?[0];
            }
        }
        Ok(outputs)
    }
}

/// Zeros of shape `state`, computed from `x` so that they are not a constant (tract's loop
/// rewrites mishandle a constant state): `x > x` and `x < x` are false for every value, NaN
/// included; cast to `x`'s type and broadcast.
fn zero_state(
    target: &mut TypedModel,
    name: &str,
    x: OutletId,
    state: &[usize],
    comparison: Box<dyn BinMiniOp>,
) -> TractResult<OutletId> {
    let dt = target.outlet_fact(x)?.datum_type;
    let first = target.wire_node(format!("{name}.step"), Slice::new(0, 0, 1), &[x])?;
    let first = target.wire_node(format!("{name}.feature"), Slice::new(2, 0, 1), &first)?[0];
    let never = target.wire_node(
        format!("{name}.never"),
        TypedBinOp(comparison, None),
        &[first, first],
    )?;
    let zero = target.wire_node(format!("{name}.zero"), cast(dt), &never)?[0];
    let shape = tensor0(0f32)
        .cast_to_dt(dt)?
        .broadcast_scalar_to_shape(state)?;
    let shape = target.add_const(format!("{name}.shape"), shape)?;
    Ok(target.wire_node(name, TypedBinOp(Box::new(Add), None), &[zero, shape])?[0])
}
