//! Attribute checks in the model's own terms, before tract's shape rules see a node.
//!
//! tract checks attributes against shapes with assertions, and a model that breaks them (a
//! `Squeeze` axis past the input's rank) used to be refused with "tract panicked: assertion
//! failed: index < len": contained, but not a reason a user can act on. [`check`] runs during
//! admission's type analysis ([`crate::limits_graph::analyse`]), node by node, once the rank of
//! the node's first input is known, and refuses what breaks ONNX's rules with the node, the
//! operator, the attribute, its value and the shapes: e.g.
//! `node "squeeze" (Squeeze): axes [2] out of range for input 0 of shape [1,4] (rank 2): each
//! axis must be in [-2, 1]`.
//!
//! Checked: the axis attributes (or constant axis inputs) of `Squeeze`, `Unsqueeze`, `Concat`,
//! `Gather`, `Softmax`, `LogSoftmax`, `Flatten`, `Split`, `ArgMax`, `ArgMin`, the `Reduce*`
//! family and `Slice`; `Transpose`'s `perm`; `Concat`'s input ranks; `Squeeze` of a dimension
//! that is not 1. Anything tract still cannot type is refused naming the node, its operator
//! and its input shapes (`crate::limits_graph`).

use crate::AdmissionError;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

/// The shape of `fact` as text: `[1,4]`, `?` for an unknown dimension, `[?]` for an unknown
/// rank.
pub(crate) fn shape_text(fact: &InferenceFact) -> String {
    match fact.shape.rank() {
        GenericFactoid::Only(_) => {
            let dims: Vec<String> = fact
                .shape
                .dims()
                .map(|d| match d {
                    GenericFactoid::Only(d) => d.to_string(),
                    GenericFactoid::Any => "?".into(),
                })
                .collect();
            format!("[{}]", dims.join(","))
        }
        GenericFactoid::Any => "[?]".into(),
    }
}

fn rank_of(fact: &InferenceFact) -> Option<i64> {
    match fact.shape.rank() {
        GenericFactoid::Only(r) => Some(r),
        GenericFactoid::Any => None,
    }
}

fn dim_of(fact: &InferenceFact, axis: usize) -> Option<i64> {
    match fact.shape.dims().nth(axis)? {
        GenericFactoid::Only(d) => d.to_i64().ok(),
        GenericFactoid::Any => None,
    }
}

fn ints_attribute(node: &pb::NodeProto, name: &str) -> Option<Vec<i64>> {
    let a = node.attribute.iter().find(|a| a.name == name)?;
    if !a.ints.is_empty() {
        Some(a.ints.clone())
    } else {
        Some(vec![a.i])
    }
}

fn int_attribute(node: &pb::NodeProto, name: &str) -> Option<i64> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.i)
}

/// The integers of a constant integer input of at most `max_len` elements, if it is one.
pub(crate) fn const_ints(fact: &InferenceFact, max_len: usize) -> Option<Vec<i64>> {
    let t = fact.value.concretize()?;
    if !t.datum_type().is_integer() || t.volume() > max_len {
        return None;
    }
    let t = t.cast_to::<i64>().ok()?;
    let view = t.try_as_plain_ram().ok()?;
    view.as_slice::<i64>().ok().map(<[i64]>::to_vec)
}

/// Most axes read from a constant input (more than any rank admission allows).
const MAX_AXES: usize = 64;

/// The axes of a node: its `axes` attribute, or its constant input `input`.
fn axes(node: &pb::NodeProto, inputs: &[InferenceFact], input: usize) -> Option<Vec<i64>> {
    ints_attribute(node, "axes")
        .or_else(|| inputs.get(input).and_then(|f| const_ints(f, MAX_AXES)))
        .filter(|a| !a.is_empty())
}

struct Ctx<'a> {
    node: &'a str,
    op: &'a str,
    inputs: &'a [InferenceFact],
}

impl Ctx<'_> {
    fn refuse(&self, what: String) -> AdmissionError {
        AdmissionError::Typing(format!("node {:?} ({}): {what}", self.node, self.op))
    }

    fn input_desc(&self, ix: usize, rank: i64) -> String {
        let shape = self.inputs.get(ix).map_or_else(|| "[?]".into(), shape_text);
        format!("input {ix} of shape {shape} (rank {rank})")
    }

    /// Every value of `values` (attribute `what`) is an axis in `[-bound, bound - 1]`, none
    /// twice; returns them normalized.
    fn axes_within(
        &self,
        what: &str,
        values: &[i64],
        bound: i64,
        rank: i64,
    ) -> Result<Vec<i64>, AdmissionError> {
        let mut seen = Vec::with_capacity(values.len());
        for &a in values {
            if a < -bound || a >= bound {
                return Err(self.refuse(format!(
                    "{what} {values:?} out of range for {}: each axis must be in [{}, {}]",
                    self.input_desc(0, rank),
                    -bound,
                    bound - 1
                )));
            }
            let n = if a < 0 { a + bound } else { a };
            if seen.contains(&n) {
                return Err(self.refuse(format!("{what} {values:?} names axis {n} twice")));
            }
            seen.push(n);
        }
        Ok(seen)
    }
}

/// The fewest inputs ONNX gives operator `op` (the ops Prova lists; `None`: not checked).
fn min_inputs(op: &str) -> Option<usize> {
    Some(match op {
        "Where" | "Slice" | "QLinearMatMul" => 3,
        "BatchNormalization" => 5,
        "QLinearConv" => 8,
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Equal" | "Greater" | "GreaterOrEqual" | "Less"
        | "LessOrEqual" | "And" | "Or" | "Xor" | "MatMul" | "Gemm" | "Conv" | "Gather"
        | "Reshape" | "Expand" | "Tile" | "PRelu" | "MatMulInteger" | "ConvInteger"
        | "DequantizeLinear" | "QuantizeLinear" => 2,
        "Constant" => 0,
        _ if op.starts_with("Reduce") => 1,
        "Abs"
        | "Ceil"
        | "Cast"
        | "Elu"
        | "Erf"
        | "Exp"
        | "Flatten"
        | "Floor"
        | "Identity"
        | "LeakyRelu"
        | "Log"
        | "LogSoftmax"
        | "Neg"
        | "Not"
        | "Reciprocal"
        | "Relu"
        | "Round"
        | "Shape"
        | "Sigmoid"
        | "Sign"
        | "Softmax"
        | "Softplus"
        | "Sqrt"
        | "Squeeze"
        | "Unsqueeze"
        | "Tanh"
        | "Transpose"
        | "ArgMax"
        | "ArgMin"
        | "GlobalAveragePool"
        | "GlobalMaxPool"
        | "MaxPool"
        | "AveragePool"
        | "HardSigmoid"
        | "HardSwish"
        | "Dropout"
        | "Split"
        | "Clip"
        | "Concat"
        | "ConstantOfShape"
        | "Pad"
        | "Min"
        | "Max"
        | "Mean"
        | "Sum"
        | "DynamicQuantizeLinear" => 1,
        _ => return None,
    })
}

/// Checks ONNX node `node` (tract's node `name`) with `inputs` as the analysis knows them.
pub(crate) fn check(
    node: &pb::NodeProto,
    name: &str,
    inputs: &[InferenceFact],
) -> Result<(), AdmissionError> {
    let op = node.op_type.as_str();
    let ctx = Ctx {
        node: name,
        op,
        inputs,
    };
    let given = node.input.iter().filter(|i| !i.is_empty()).count();
    if let Some(min) = min_inputs(op)
        && given < min
    {
        return Err(ctx.refuse(format!(
            "takes at least {min} input{}, the model gives it {given}",
            if min == 1 { "" } else { "s" }
        )));
    }
    let Some(rank) = inputs.first().and_then(rank_of) else {
        return Ok(());
    };
    let axis = |default: i64| int_attribute(node, "axis").unwrap_or(default);
    match op {
        "Squeeze" => {
            if let Some(values) = axes(node, inputs, 1) {
                for a in ctx.axes_within("axes", &values, rank, rank)? {
                    if let Some(d) = dim_of(&inputs[0], a as usize)
                        && d != 1
                    {
                        return Err(ctx.refuse(format!(
                            "axes {values:?}: axis {a} of {} has size {d}, and only a \
                             dimension of size 1 can be squeezed",
                            ctx.input_desc(0, rank)
                        )));
                    }
                }
            }
        }
        "Unsqueeze" => {
            if let Some(values) = axes(node, inputs, 1) {
                let out = rank + values.len() as i64;
                ctx.axes_within("axes", &values, out, rank)?;
            }
        }
        "Concat" => {
            ctx.axes_within("axis", &[axis(0)], rank, rank)?;
            for (ix, f) in inputs.iter().enumerate().skip(1) {
                if let Some(r) = rank_of(f)
                    && r != rank
                {
                    return Err(ctx.refuse(format!(
                        "inputs must have one rank: {} but input {ix} has shape {}",
                        ctx.input_desc(0, rank),
                        shape_text(f)
                    )));
                }
            }
        }
        "Gather" | "Split" | "ArgMax" | "ArgMin" => {
            ctx.axes_within("axis", &[axis(0)], rank, rank)?;
        }
        "Softmax" | "LogSoftmax" | "Hardmax" => {
            ctx.axes_within("axis", &[axis(-1)], rank, rank)?;
        }
        "Flatten" => {
            let a = axis(1);
            if a < -rank || a > rank {
                return Err(ctx.refuse(format!(
                    "axis {a} out of range for {}: it must be in [{}, {rank}]",
                    ctx.input_desc(0, rank),
                    -rank
                )));
            }
        }
        "Slice" => {
            if let Some(values) = inputs.get(3).and_then(|f| const_ints(f, MAX_AXES)) {
                ctx.axes_within("axes", &values, rank, rank)?;
            }
        }
        "Transpose" => {
            if let Some(perm) = ints_attribute(node, "perm") {
                let mut sorted = perm.clone();
                sorted.sort_unstable();
                if sorted != (0..rank).collect::<Vec<_>>() {
                    return Err(ctx.refuse(format!(
                        "perm {perm:?} is not a permutation of the {rank} axes of {}",
                        ctx.input_desc(0, rank)
                    )));
                }
            }
        }
        op if op.starts_with("Reduce") => {
            if let Some(values) = axes(node, inputs, 1) {
                ctx.axes_within("axes", &values, rank, rank)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fact(dims: &[usize]) -> InferenceFact {
        InferenceFact::dt_shape(f32::datum_type(), dims.to_vec())
    }

    fn node(op: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto {
            op_type: op.into(),
            name: "n".into(),
            attribute: attrs,
            ..Default::default()
        }
    }

    fn ints(name: &str, v: &[i64]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            ints: v.to_vec(),
            ..Default::default()
        }
    }

    fn int(name: &str, v: i64) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            i: v,
            ..Default::default()
        }
    }

    fn with_inputs(mut n: pb::NodeProto, count: usize) -> pb::NodeProto {
        n.input = (0..count).map(|i| format!("i{i}")).collect();
        n
    }

    fn refusal(op: &str, attrs: Vec<pb::AttributeProto>, inputs: &[InferenceFact]) -> String {
        check(&with_inputs(node(op, attrs), inputs.len()), "n", inputs)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn axes_out_of_range_name_the_node_the_attribute_and_the_shape() {
        let e = refusal("Squeeze", vec![ints("axes", &[2])], &[fact(&[1, 4])]);
        assert!(e.contains("node \"n\" (Squeeze)"), "{e}");
        assert!(
            e.contains("axes [2] out of range for input 0 of shape [1,4] (rank 2)"),
            "{e}"
        );
        assert!(e.contains("[-2, 1]"), "{e}");
        let e = refusal("Squeeze", vec![ints("axes", &[1])], &[fact(&[1, 4])]);
        assert!(e.contains("has size 4"), "{e}");
        let e = refusal("Softmax", vec![int("axis", 3)], &[fact(&[1, 4])]);
        assert!(e.contains("axis [3] out of range"), "{e}");
        let e = refusal("Transpose", vec![ints("perm", &[0, 0])], &[fact(&[1, 4])]);
        assert!(e.contains("not a permutation"), "{e}");
        let e = refusal("Unsqueeze", vec![ints("axes", &[0, 0])], &[fact(&[4])]);
        assert!(e.contains("twice"), "{e}");
        let e = refusal("Concat", vec![int("axis", 0)], &[fact(&[1, 4]), fact(&[4])]);
        assert!(e.contains("one rank"), "{e}");
        let e = refusal("Flatten", vec![int("axis", 3)], &[fact(&[1, 4])]);
        assert!(e.contains("[-2, 2]"), "{e}");
        let e = refusal("ReduceSum", vec![ints("axes", &[-3])], &[fact(&[1, 4])]);
        assert!(e.contains("axes [-3]"), "{e}");
    }

    #[test]
    fn valid_attributes_pass() {
        let ok = |op: &str, attrs, inputs: &[InferenceFact]| {
            check(&with_inputs(node(op, attrs), inputs.len()), "n", inputs).unwrap();
        };
        ok("Squeeze", vec![ints("axes", &[0])], &[fact(&[1, 4])]);
        ok("Squeeze", vec![ints("axes", &[-2])], &[fact(&[1, 4])]);
        ok("Unsqueeze", vec![ints("axes", &[2])], &[fact(&[1, 4])]);
        ok("Softmax", vec![int("axis", -1)], &[fact(&[1, 4])]);
        ok("Flatten", vec![int("axis", 2)], &[fact(&[1, 4])]);
        ok("Transpose", vec![ints("perm", &[1, 0])], &[fact(&[1, 4])]);
        ok(
            "Concat",
            vec![int("axis", 1)],
            &[fact(&[1, 4]), fact(&[1, 2])],
        );
        // Unknown rank: nothing to check yet.
        ok(
            "Squeeze",
            vec![ints("axes", &[9])],
            &[InferenceFact::default()],
        );
    }

    #[test]
    fn a_node_short_of_inputs_is_refused() {
        let e = check(&node("MatMul", vec![]), "n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("(MatMul): takes at least 2 inputs, the model gives it 0"),
            "{e}"
        );
    }
}
