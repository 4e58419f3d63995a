//! Resource bounds on the graph, enforced *before* tract allocates what a model declares.
//!
//! The protobuf checks (`proto.rs`) bound what a file states directly: initializers, input
//! shapes, node counts. A model can also *compute* a huge shape: `ConstantOfShape`, `Expand`,
//! `Tile` or `Pad` fed a constant shape, a broadcast of two long vectors, a `Concat` of a value
//! with itself, repeated. tract's type analysis evaluates every node whose inputs are all
//! constant ("constant folding") and checks the result's size only *after* allocating and
//! filling it, so a model of a few hundred bytes could make a node allocate gigabytes: an
//! out-of-memory abort that no `catch_unwind` catches.
//!
//! [`analyse`] therefore runs tract's analysis itself, node by node, in the same order as
//! tract's own analyser, and before each node's step asks the operator for the facts it would
//! produce *without evaluating it* (`infer_facts`). Every output whose shape is known is held
//! to [`Limits::max_tensor_bytes`] and [`Limits::max_rank`]; when the step would evaluate the
//! node (all inputs constant), each output's shape must be known and the bytes so computed
//! count against [`Limits::max_fold_bytes`], a bound on all constant folding of one
//! admission. A folded product or convolution also counts its multiply-accumulates (an upper
//! bound from its input shapes) against [`Limits::max_fold_macs`]: folding two 4 MiB
//! constant matrices is one node and 4 MiB of output, but a billion MACs (0.1 s). Only then
//! does the step run. tract's own analysis afterwards (`into_typed`)
//! finds the facts already settled and re-computes nothing larger.
//!
//! [`check_typed`] then bounds a whole inference: every tensor of the typed graph (weights
//! and intermediates together) must fit in [`Limits::max_run_bytes`].

use crate::{AdmissionError, Limits, proto::limit};
use std::collections::{BTreeSet, HashMap};
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::{Factoid, GenericFactoid};

/// tract's const-folding allowance (`tract_core::optim::CONST_FOLD_MEM_BUDGET`): an input
/// larger than this is never folded during analysis.
const FOLD_INPUT_BUDGET: u64 = 4 << 20;

/// Byte size assumed for a tensor whose element type is not known yet (the widest Prova or
/// ONNX numeric type a model may hold inside).
const UNKNOWN_ELEMENT_BYTES: u64 = 8;

/// Node visits allowed per node: tract's analyser revisits a node when a neighbour's facts
/// change; a few passes settle any sane graph.
const VISITS_PER_NODE: u64 = 16;

/// Bytes of a tensor of `dims` elements of `element` bytes, saturating.
fn bytes_of(dims: impl IntoIterator<Item = u64>, element: u64) -> u64 {
    dims.into_iter()
        .try_fold(element, |a, d| a.checked_mul(d))
        .unwrap_or(u64::MAX)
}

/// The concrete dimensions of `fact`, if every one is a known integer. A negative dimension
/// is an error (tract would turn it into an enormous `usize`).
fn concrete_dims(fact: &InferenceFact, node: &str) -> Result<Option<Vec<u64>>, AdmissionError> {
    let Some(dims) = fact.shape.concretize() else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(dims.len());
    for d in dims.iter() {
        match d.to_i64() {
            Ok(v) => out.push(u64::try_from(v).map_err(|_| {
                AdmissionError::Typing(format!("node {node:?} computes a negative dimension {v}"))
            })?),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(out))
}

fn element_bytes(fact: &InferenceFact) -> u64 {
    fact.datum_type
        .concretize()
        .map_or(UNKNOWN_ELEMENT_BYTES, |dt| dt.size_of() as u64)
}

/// Checks the facts a node would produce; returns their bytes when all are known.
fn check_outputs(
    facts: &[InferenceFact],
    node: &str,
    limits: &Limits,
) -> Result<Option<u64>, AdmissionError> {
    let mut total = Some(0u64);
    for (slot, f) in facts.iter().enumerate() {
        if let GenericFactoid::Only(rank) = f.shape.rank() {
            limit(
                format!("rank of tensor at node {node:?} output {slot}"),
                rank.max(0) as u64,
                limits.max_rank,
            )?;
        }
        match concrete_dims(f, node)? {
            Some(dims) => {
                let bytes = bytes_of(dims, element_bytes(f));
                limit(
                    format!("size of tensor at node {node:?} output {slot} in bytes"),
                    bytes,
                    limits.max_tensor_bytes,
                )?;
                total = total.map(|t| t.saturating_add(bytes));
            }
            None => total = None,
        }
    }
    Ok(total)
}

/// The first input that is a shape, repeat count or padding for tract's inference op `op`.
fn shape_arguments_from(op: &str) -> Option<usize> {
    match op {
        "ConstantOfShape" => Some(0),
        "MultiBroadcastTo" | "Expand" | "Tile" | "Pad" | "Reshape" => Some(1),
        _ => None,
    }
}

/// Shape arguments must be integers a bounded tensor could have: no dimension, repeat count
/// or padding past [`Limits::max_tensor_bytes`]. tract's analysis narrows shape values to 32
/// bits (an `Expand` to `[2^32]` becomes `[0]`), so an out-of-range value would otherwise
/// silently change the model's meaning.
fn check_shape_arguments(
    op: &str,
    inputs: &[InferenceFact],
    node: &str,
    limits: &Limits,
) -> Result<(), AdmissionError> {
    let Some(from) = shape_arguments_from(op) else {
        return Ok(());
    };
    let max_len = usize::try_from(limits.max_rank.max(64)).unwrap_or(usize::MAX);
    for fact in inputs.iter().skip(from) {
        let Some(values) = crate::attributes::const_ints(fact, max_len) else {
            continue;
        };
        for v in &values {
            limit(
                format!("shape argument of node {node:?} ({op})"),
                v.unsigned_abs(),
                limits.max_tensor_bytes,
            )?;
        }
    }
    Ok(())
}

/// tract ops read a scalar input (a ratio, a bound, a zero point, a flag) with
/// `Tensor::to_scalar`, which checks the type but not that there is an element: an empty
/// tensor there is an out-of-bounds read, and a segmentation fault no `catch_unwind` stops
/// (found by the admit_graph fuzz target: `Dropout` with an empty `training_mode`). So an
/// input with no elements is refused everywhere except as the shape argument of the ops
/// where an empty shape means a scalar.
fn check_empty_inputs(
    op: &str,
    inputs: &[InferenceFact],
    node: &str,
) -> Result<(), AdmissionError> {
    for (ix, fact) in inputs.iter().enumerate() {
        let empty = match concrete_dims(fact, node)? {
            Some(dims) => dims.contains(&0),
            None => fact.value.concretize().is_some_and(|t| t.volume() == 0),
        };
        let shape_argument = ix >= 1 && matches!(op, "Reshape" | "MultiBroadcastTo" | "Expand")
            || ix == 0 && op == "ConstantOfShape";
        if empty && !shape_argument && op != "Shape" {
            return Err(AdmissionError::Typing(format!(
                "node {node:?} ({op}) has an empty input {ix}: tensors with no elements are not supported"
            )));
        }
    }
    Ok(())
}

/// Whether tract's `InferenceOp::infer` will evaluate a node with these input facts: every
/// input a known, in-memory value within tract's folding allowance.
fn will_fold(inputs: &[InferenceFact]) -> bool {
    !inputs.is_empty()
        && inputs.iter().all(|i| {
            i.value.concretize().is_some_and(|t| {
                t.is_plain_ram()
                    && bytes_of([t.volume() as u64], t.datum_type().size_of() as u64)
                        <= FOLD_INPUT_BUDGET
            })
        })
}

/// Whether tract's inference op `op` is a product or a convolution: its evaluation costs
/// more than its output's size (tract's `MatMulInference`, `Gemm`, `EinSum`, `ConvHir`,
/// `ConvTranspose`, the quantized forms, and Prova's `QGemm`, `LinearClassifier`, …).
fn is_product(op: &str) -> bool {
    ["MatMul", "Gemm", "Conv", "EinSum", "Einsum", "Linear"]
        .iter()
        .any(|p| op.contains(p))
}

/// An upper bound on the multiply-accumulates of evaluating a product with these (constant)
/// inputs into `outputs` elements: each output sums at most as many terms as the largest of
/// any input's dimensions and any input's elements per leading index (a weight's slice per
/// output channel, `C_in / group · kernel`).
fn product_macs(inputs: &[InferenceFact], outputs: u64) -> u64 {
    let terms = inputs
        .iter()
        .filter_map(|i| i.value.concretize())
        .map(|t| {
            let dims = t.shape();
            let largest = dims.iter().copied().max().unwrap_or(1) as u64;
            let per_lead = (t.volume() / dims.first().copied().unwrap_or(1).max(1)) as u64;
            largest.max(per_lead)
        })
        .max()
        .unwrap_or(1);
    outputs.saturating_mul(terms)
}

fn refs(v: &[InferenceFact]) -> TVec<&InferenceFact> {
    v.iter().collect()
}

/// The main graph's ONNX nodes by the name tract gives the node it builds from each (the
/// node's name, or its first output's when it has none).
pub(crate) fn onnx_nodes(
    proto: &tract_onnx::pb::ModelProto,
) -> HashMap<String, &tract_onnx::pb::NodeProto> {
    let mut out = HashMap::new();
    for n in proto.graph.iter().flat_map(|g| &g.node) {
        let name = if !n.name.is_empty() {
            n.name.clone()
        } else if let Some(o) = n.output.first().filter(|o| !o.is_empty()) {
            o.clone()
        } else {
            continue;
        };
        out.insert(name, n);
    }
    out
}

/// tract's work on node `name` (`op` in the model), its refusal or panic said in the model's
/// terms: the node, its operator and its input shapes.
fn at_node<T>(
    name: &str,
    op: &str,
    inputs: &[InferenceFact],
    f: impl FnOnce() -> TractResult<T>,
) -> Result<T, AdmissionError> {
    crate::contain_tract(f).map_err(|m| {
        let shapes: Vec<String> = inputs.iter().map(crate::attributes::shape_text).collect();
        AdmissionError::Typing(format!(
            "node {name:?} ({op}) with inputs of shapes {}: {}",
            shapes.join(", "),
            crate::engine_failure(m)
        ))
    })
}

/// Runs tract's type analysis on `model` with every size bounded before anything is
/// allocated (see the module documentation), and each ONNX node of `onnx` checked in the
/// model's terms first ([`crate::attributes::check`]).
pub(crate) fn analyse(
    model: &mut InferenceModel,
    limits: &Limits,
    onnx: &HashMap<String, &tract_onnx::pb::NodeProto>,
) -> Result<(), AdmissionError> {
    let typing = |e: TractError| AdmissionError::Typing(format!("{e:#}"));
    let count = model.nodes().len();
    let mut observers: HashMap<OutletId, Vec<usize>> = HashMap::new();
    for node in model.nodes() {
        for outlet in node.op.observe_outlets(model, node).map_err(typing)? {
            observers.entry(outlet).or_default().push(node.id);
        }
    }
    let mut to_visit: BTreeSet<usize> = (0..count).collect();
    let max_visits = (count as u64).saturating_mul(VISITS_PER_NODE);
    let (mut visits, mut held) = (0u64, 0u64);
    let mut folded: HashMap<usize, u64> = HashMap::new();
    let mut fold_macs = 0u64;
    while let Some(id) = to_visit.pop_first() {
        visits += 1;
        limit(
            "node visits of type analysis",
            visits,
            max_visits.max(VISITS_PER_NODE),
        )?;
        let name = model.node(id).name.clone();
        let (inputs, outputs) = model.node_facts(id).map_err(typing)?;
        let inputs: TVec<InferenceFact> = inputs.into_iter().cloned().collect();
        let outputs: TVec<InferenceFact> = outputs.into_iter().cloned().collect();
        let observed_outlets = {
            let node = model.node(id);
            node.op.observe_outlets(model, node).map_err(typing)?
        };
        let observed: TVec<InferenceFact> = observed_outlets
            .iter()
            .map(|o| model.outlet_fact(*o).cloned())
            .collect::<TractResult<_>>()
            .map_err(typing)?;

        let tract_op = model.node(id).op.name().to_string();
        check_shape_arguments(&tract_op, &inputs, &name, limits)?;
        check_empty_inputs(&tract_op, &inputs, &name)?;
        let onnx_node = onnx.get(&name);
        if let Some(n) = onnx_node {
            crate::attributes::check(n, &name, &inputs)?;
        }
        let op_type = onnx_node.map_or(tract_op, |n| n.op_type.clone());
        // The facts this step would produce, computed without evaluating the node.
        let (pre_inputs, pre_outputs, _) = at_node(&name, &op_type, &inputs, || {
            model
                .node_mut(id)
                .op
                .infer_facts(refs(&inputs), refs(&outputs), refs(&observed))
        })?;
        let bytes = check_outputs(&pre_outputs, &name, limits)?;
        if will_fold(&pre_inputs) {
            let Some(bytes) = bytes else {
                return Err(AdmissionError::Typing(format!(
                    "node {name:?} ({}) computes a constant whose size is not known before it is computed",
                    model.node(id).op.name()
                )));
            };
            // A node evaluated again replaces its constant: count what is held.
            let previous = folded.insert(id, bytes).unwrap_or(0);
            held = held.saturating_sub(previous).saturating_add(bytes);
            limit(
                "bytes of constants computed while typing",
                held,
                limits.max_fold_bytes,
            )?;
            let op = model.node(id).op.name();
            if is_product(&op) {
                let mut elements = 0u64;
                for f in &pre_outputs {
                    let dims = concrete_dims(f, &name)?.unwrap_or_default();
                    elements = elements.saturating_add(dims.iter().product::<u64>());
                }
                fold_macs = fold_macs.saturating_add(product_macs(&pre_inputs, elements));
                limit(
                    "multiply-accumulates of products computed while typing",
                    fold_macs,
                    limits.max_fold_macs,
                )?;
            }
        }

        // The step itself, as tract's analyser takes it.
        let (new_inputs, new_outputs, new_observed) = at_node(&name, &op_type, &inputs, || {
            model
                .node_mut(id)
                .op
                .infer(refs(&inputs), refs(&outputs), refs(&observed))
        })?;
        check_outputs(&new_outputs, &name, limits)?;
        let node = model.node(id);
        let mut changed: Vec<(OutletId, InferenceFact)> = Vec::new();
        for (&outlet, fact) in node.inputs.iter().zip(&new_inputs) {
            let old = model.outlet_fact(outlet).map_err(typing)?;
            let unified = fact.unify(old).map_err(typing)?;
            if &unified != old {
                changed.push((outlet, unified));
            }
        }
        for (slot, fact) in new_outputs.iter().enumerate() {
            let outlet = OutletId::new(id, slot);
            let old = model.outlet_fact(outlet).map_err(typing)?;
            let unified = old.unify(fact).map_err(typing)?;
            if &unified != old {
                changed.push((outlet, unified));
            }
        }
        for (&outlet, fact) in observed_outlets.iter().zip(&new_observed) {
            let old = model.outlet_fact(outlet).map_err(typing)?;
            let unified = old.unify(fact).map_err(typing)?;
            if &unified != old {
                changed.push((outlet, unified));
            }
        }
        for (outlet, fact) in changed {
            for succ in &model.node(outlet.node).outputs[outlet.slot].successors {
                if succ.node != outlet.node {
                    to_visit.insert(succ.node);
                }
            }
            if outlet.node != id {
                to_visit.insert(outlet.node);
            }
            if let Some(obs) = observers.get(&outlet) {
                to_visit.extend(obs.iter().copied());
            }
            model.set_outlet_fact(outlet, fact).map_err(typing)?;
        }
    }
    Ok(())
}

/// Bytes of every tensor of one inference of the typed graph, weights and intermediates
/// together, checked against [`Limits::max_run_bytes`] (and each against
/// [`Limits::max_tensor_bytes`]).
pub(crate) fn check_typed(model: &TypedModel, limits: &Limits) -> Result<u64, AdmissionError> {
    let mut total = 0u64;
    for node in model.nodes() {
        for (slot, o) in node.outputs.iter().enumerate() {
            let dims = o.fact.shape.as_concrete().ok_or_else(|| {
                AdmissionError::Typing(format!(
                    "node {:?} has a symbolic shape {:?}",
                    node.name, o.fact.shape
                ))
            })?;
            let bytes = bytes_of(
                dims.iter().map(|&d| d as u64),
                o.fact.datum_type.size_of() as u64,
            );
            limit(
                format!(
                    "size of tensor at node {:?} output {slot} in bytes",
                    node.name
                ),
                bytes,
                limits.max_tensor_bytes,
            )?;
            total = total.saturating_add(bytes);
        }
    }
    limit(
        "bytes of all tensors of one inference",
        total,
        limits.max_run_bytes,
    )?;
    Ok(total)
}
