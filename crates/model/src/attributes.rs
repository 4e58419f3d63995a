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

fn string_attribute(node: &pb::NodeProto, name: &str) -> Option<String> {
    let a = node.attribute.iter().find(|a| a.name == name)?;
    Some(String::from_utf8_lossy(&a.s).into_owned())
}

/// The fact of ONNX input `position` of `node`: tract's node leaves out the optional inputs
/// the model skips (empty names), so positions past one are shifted.
fn onnx_input<'a>(
    node: &pb::NodeProto,
    inputs: &'a [InferenceFact],
    position: usize,
) -> Option<&'a InferenceFact> {
    if node.input.get(position)?.is_empty() {
        return None;
    }
    let skipped = node.input[..position]
        .iter()
        .filter(|i| i.is_empty())
        .count();
    inputs.get(position - skipped)
}

/// The activations ONNX gives a recurrent operator by default (one direction): the only ones
/// tract computes, whatever the `activations` attribute says.
fn recurrent_activations(op: &str) -> Option<&'static [&'static str]> {
    match op {
        "LSTM" => Some(&["Sigmoid", "Tanh", "Tanh"]),
        "GRU" => Some(&["Sigmoid", "Tanh"]),
        "RNN" => Some(&["Tanh"]),
        _ => None,
    }
}

/// `LSTM`, `GRU`, `RNN`: tract 0.23 computes the ONNX default activations without clipping,
/// takes the number of directions from `W`'s shape (Prova's wrapper, `crate::ops`, adds
/// `direction="reverse"`), and ignores every attribute that would change that. Refuse those
/// attributes instead of computing something else than the model says.
fn recurrent(node: &pb::NodeProto, ctx: &Ctx<'_>, defaults: &[&str]) -> Result<(), AdmissionError> {
    let direction = string_attribute(node, "direction").unwrap_or_else(|| "forward".into());
    let directions: i64 = match direction.as_str() {
        "forward" | "reverse" => 1,
        "bidirectional" => 2,
        other => {
            return Err(ctx.refuse(format!(
                "direction {other:?}: ONNX allows \"forward\", \"reverse\" or \"bidirectional\""
            )));
        }
    };
    if let Some(w) = onnx_input(node, ctx.inputs, 1)
        && let Some(d) = dim_of(w, 0)
        && d != directions
    {
        return Err(ctx.refuse(format!(
            "direction {direction:?} takes {directions} set{} of weights, but W (input 1) has \
             shape {} ({d} on its first axis)",
            if directions == 1 { "" } else { "s" },
            shape_text(w)
        )));
    }
    if let Some(a) = node.attribute.iter().find(|a| a.name == "activations") {
        let given: Vec<String> = a
            .strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect();
        let expected: Vec<&str> = (0..directions)
            .flat_map(|_| defaults.iter().copied())
            .collect();
        if given != expected {
            return Err(ctx.refuse(format!(
                "activations {given:?} are not supported: only the ONNX defaults {expected:?} \
                 (one set per direction)"
            )));
        }
    }
    for name in ["clip", "activation_alpha", "activation_beta"] {
        if node.attribute.iter().any(|a| a.name == name) {
            return Err(ctx.refuse(format!(
                "attribute {name} is not supported (no clipping, default activations only)"
            )));
        }
    }
    if let Some(v) = int_attribute(node, "input_forget")
        && v != 0
    {
        return Err(ctx.refuse(format!(
            "input_forget {v} is not supported (only 0: separate input and forget gates)"
        )));
    }
    if let Some(h) = int_attribute(node, "hidden_size")
        && let Some(r) = onnx_input(node, ctx.inputs, 2)
        && let Some(d) = dim_of(r, 2)
        && d != h
    {
        return Err(ctx.refuse(format!(
            "hidden_size {h} does not match R (input 2) of shape {}",
            shape_text(r)
        )));
    }
    if let Some(lens) = onnx_input(node, ctx.inputs, 4) {
        let layout = int_attribute(node, "layout").unwrap_or(0);
        let steps = ctx
            .inputs
            .first()
            .and_then(|x| dim_of(x, usize::from(layout == 1)));
        let uniform = const_ints(lens, 1 << 16)
            .zip(steps)
            .is_some_and(|(v, t)| v.iter().all(|&l| l == t));
        if !uniform {
            return Err(ctx.refuse(format!(
                "sequence_lens (input 4) must be a constant equal to the sequence length for \
                 every batch entry (variable lengths are not supported); it is {}",
                shape_text(lens)
            )));
        }
    }
    Ok(())
}

/// `Gelu`'s `approximate` (tract computes the erf form for anything but "tanh") and
/// `GroupNormalization`'s `num_groups` (a divisor of the channels).
fn gelu_and_groups(node: &pb::NodeProto, ctx: &Ctx<'_>) -> Result<(), AdmissionError> {
    if let Some(a) = string_attribute(node, "approximate")
        && a != "none"
        && a != "tanh"
    {
        return Err(ctx.refuse(format!(
            "approximate {a:?}: ONNX allows \"none\" or \"tanh\""
        )));
    }
    if node.op_type == "GroupNormalization"
        && let Some(groups) = int_attribute(node, "num_groups")
    {
        let channels = ctx.inputs.first().and_then(|x| dim_of(x, 1));
        if groups < 1 || channels.is_some_and(|c| c % groups != 0) {
            let shape = ctx.inputs.first().map_or_else(|| "[?]".into(), shape_text);
            return Err(ctx.refuse(format!(
                "num_groups {groups} does not divide the {} channels of input 0 of shape {shape}",
                channels.map_or_else(|| "?".into(), |c| c.to_string())
            )));
        }
    }
    Ok(())
}

/// `Einsum`: one term per input, each with as many letters as its input has axes (unless it
/// has an ellipsis), and an output whose letters all come from the inputs, none twice.
fn einsum(node: &pb::NodeProto, ctx: &Ctx<'_>) -> Result<(), AdmissionError> {
    let Some(equation) = string_attribute(node, "equation") else {
        return Err(ctx.refuse("has no equation attribute".into()));
    };
    let equation: String = equation.chars().filter(|c| !c.is_whitespace()).collect();
    let (lhs, rhs) = match equation.split_once("->") {
        Some((l, r)) => (l, Some(r)),
        None => (equation.as_str(), None),
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    let given = node.input.iter().filter(|i| !i.is_empty()).count();
    if terms.len() != given {
        return Err(ctx.refuse(format!(
            "equation {equation:?} has {} input term{}, the node has {given} input{}",
            terms.len(),
            if terms.len() == 1 { "" } else { "s" },
            if given == 1 { "" } else { "s" },
        )));
    }
    for (ix, term) in terms.iter().enumerate() {
        if term.contains("...") {
            continue;
        }
        if let Some(r) = ctx.inputs.get(ix).and_then(rank_of)
            && term.chars().count() as i64 != r
        {
            return Err(ctx.refuse(format!(
                "equation {equation:?}: term {term:?} names {} axes but input {ix} has shape {} (rank {r})",
                term.chars().count(),
                shape_text(&ctx.inputs[ix])
            )));
        }
    }
    if let Some(rhs) = rhs {
        let mut seen = Vec::new();
        for c in rhs.chars().filter(|c| c.is_alphabetic()) {
            if !lhs.contains(c) {
                return Err(ctx.refuse(format!(
                    "equation {equation:?}: output axis {c:?} is in no input"
                )));
            }
            if seen.contains(&c) {
                return Err(ctx.refuse(format!(
                    "equation {equation:?}: output axis {c:?} appears twice"
                )));
            }
            seen.push(c);
        }
    }
    Ok(())
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
    if let Some(defaults) = recurrent_activations(op) {
        recurrent(node, &ctx, defaults)?;
    }
    if op == "Gelu" || op == "GroupNormalization" {
        gelu_and_groups(node, &ctx)?;
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
        "LayerNormalization" => {
            ctx.axes_within("axis", &[axis(-1)], rank, rank)?;
        }
        "Trilu" if rank < 2 => {
            return Err(ctx.refuse(format!(
                "{} has rank {rank}: Trilu takes matrices (rank 2 or more)",
                ctx.input_desc(0, rank)
            )));
        }
        "CumSum" => {
            if let Some(values) = inputs.get(1).and_then(|f| const_ints(f, 1)) {
                ctx.axes_within("axis", &values, rank, rank)?;
            }
        }
        "TopK" => {
            let [a] = ctx.axes_within("axis", &[axis(-1)], rank, rank)?[..] else {
                return Ok(());
            };
            let Some(k) = inputs.get(1).and_then(|f| const_ints(f, 1)) else {
                return Err(ctx.refuse(
                    "K (input 1) must be a constant: the output's shape depends on it".into(),
                ));
            };
            if let (Some(&k), Some(d)) = (k.first(), dim_of(&inputs[0], a as usize))
                && !(0..=d).contains(&k)
            {
                return Err(ctx.refuse(format!(
                    "K {k} out of range for axis {a} of {}: it must be in [0, {d}]",
                    ctx.input_desc(0, rank)
                )));
            }
        }
        "Einsum" => einsum(node, &ctx)?,
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

    fn strings(name: &str, v: &[&str]) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }

    fn string(name: &str, v: &str) -> pb::AttributeProto {
        pb::AttributeProto {
            name: name.into(),
            s: v.as_bytes().to_vec(),
            ..Default::default()
        }
    }

    #[test]
    fn recurrent_attributes_tract_would_ignore_are_refused() {
        // X [seq 5, batch 1, input 3], W [1, 4*2, 3], R [1, 4*2, 2]: an LSTM of hidden size 2.
        let lstm = [fact(&[5, 1, 3]), fact(&[1, 8, 3]), fact(&[1, 8, 2])];
        let e = refusal(
            "LSTM",
            vec![strings("activations", &["Relu", "Tanh", "Tanh"])],
            &lstm,
        );
        assert!(
            e.contains("node \"n\" (LSTM): activations [\"Relu\""),
            "{e}"
        );
        assert!(e.contains("only the ONNX defaults"), "{e}");
        let e = refusal("RNN", vec![strings("activations", &["Relu"])], &lstm);
        assert!(e.contains("[\"Tanh\"]"), "{e}");
        for attr in ["clip", "activation_alpha"] {
            let e = refusal("GRU", vec![int(attr, 1)], &lstm);
            assert!(
                e.contains(&format!("attribute {attr} is not supported")),
                "{e}"
            );
        }
        let e = refusal("LSTM", vec![int("input_forget", 1)], &lstm);
        assert!(e.contains("input_forget 1"), "{e}");
        let e = refusal("LSTM", vec![string("direction", "bidirectional")], &lstm);
        assert!(
            e.contains("takes 2 sets of weights, but W (input 1) has shape [1,8,3]"),
            "{e}"
        );
        let e = refusal("LSTM", vec![string("direction", "sideways")], &lstm);
        assert!(e.contains("direction \"sideways\""), "{e}");
        let e = refusal("LSTM", vec![int("hidden_size", 3)], &lstm);
        assert!(e.contains("hidden_size 3 does not match R"), "{e}");
        // sequence_lens (input 4) computed at run time.
        let mut n = with_inputs(node("GRU", vec![]), 5);
        n.input[3] = String::new();
        let inputs = [
            lstm[0].clone(),
            lstm[1].clone(),
            lstm[2].clone(),
            fact(&[1]),
        ];
        let e = check(&n, "n", &inputs).unwrap_err().to_string();
        assert!(
            e.contains("sequence_lens (input 4) must be a constant"),
            "{e}"
        );
    }

    #[test]
    fn recurrent_defaults_pass() {
        let lstm = [fact(&[5, 1, 3]), fact(&[1, 8, 3]), fact(&[1, 8, 2])];
        let ok = |op: &str, attrs| {
            check(&with_inputs(node(op, attrs), 3), "n", &lstm).unwrap();
        };
        ok("LSTM", vec![]);
        ok(
            "LSTM",
            vec![
                strings("activations", &["Sigmoid", "Tanh", "Tanh"]),
                string("direction", "reverse"),
                int("hidden_size", 2),
                int("input_forget", 0),
            ],
        );
        ok("GRU", vec![strings("activations", &["Sigmoid", "Tanh"])]);
        ok("RNN", vec![strings("activations", &["Tanh"])]);
        let two = [fact(&[5, 1, 3]), fact(&[2, 8, 3]), fact(&[2, 8, 2])];
        check(
            &with_inputs(node("LSTM", vec![string("direction", "bidirectional")]), 3),
            "n",
            &two,
        )
        .unwrap();
    }

    #[test]
    fn family_attributes_are_checked() {
        let e = refusal(
            "LayerNormalization",
            vec![int("axis", 5)],
            &[fact(&[2, 3, 4])],
        );
        assert!(e.contains("axis [5] out of range"), "{e}");
        let e = refusal("Trilu", vec![], &[fact(&[4])]);
        assert!(e.contains("rank 2 or more"), "{e}");
        let k = |v: i64| InferenceFact::from(tensor1(&[v]));
        let e = refusal("TopK", vec![], &[fact(&[2, 4]), k(9)]);
        assert!(e.contains("K 9 out of range for axis 1"), "{e}");
        assert!(e.contains("[0, 4]"), "{e}");
        let e = refusal("TopK", vec![], &[fact(&[2, 4]), fact(&[1])]);
        assert!(e.contains("must be a constant"), "{e}");
        let e = refusal(
            "CumSum",
            vec![],
            &[fact(&[2, 4]), InferenceFact::from(tensor0(7i64))],
        );
        assert!(e.contains("axis [7] out of range"), "{e}");
        let eq = |q: &str| string("equation", q);
        let e = refusal(
            "Einsum",
            vec![eq("ij,jk->ikq")],
            &[fact(&[2, 3]), fact(&[3, 4])],
        );
        assert!(e.contains("output axis 'q' is in no input"), "{e}");
        let e = refusal(
            "Einsum",
            vec![eq("ijk,jk->ik")],
            &[fact(&[2, 3]), fact(&[3, 4])],
        );
        assert!(
            e.contains("term \"ijk\" names 3 axes but input 0 has shape [2,3]"),
            "{e}"
        );
        let e = refusal("Einsum", vec![eq("ij->ii")], &[fact(&[2, 2])]);
        assert!(e.contains("appears twice"), "{e}");
        let e = refusal("Gelu", vec![string("approximate", "fast")], &[fact(&[2])]);
        assert!(e.contains("approximate \"fast\""), "{e}");
        let e = refusal(
            "GroupNormalization",
            vec![int("num_groups", 4)],
            &[fact(&[1, 6, 2, 2])],
        );
        assert!(
            e.contains("num_groups 4 does not divide the 6 channels"),
            "{e}"
        );
        let ok = |op: &str, attrs, inputs: &[InferenceFact]| {
            check(&with_inputs(node(op, attrs), inputs.len()), "n", inputs).unwrap();
        };
        ok("TopK", vec![], &[fact(&[2, 4]), k(4)]);
        ok(
            "Einsum",
            vec![eq("bij,bjk->bik")],
            &[fact(&[1, 2, 3]), fact(&[1, 3, 4])],
        );
        ok("Einsum", vec![eq("...ij->...ji")], &[fact(&[1, 2, 3])]);
        ok(
            "GroupNormalization",
            vec![int("num_groups", 3)],
            &[fact(&[1, 6, 2, 2])],
        );
    }
}
