//! Checks on the ONNX protobuf itself, before tract sees the model: allowlist, external data,
//! dtypes, symbolic dimensions, and every declared size against the limits with checked
//! arithmetic (nothing here allocates what a model declares).

use crate::{
    AdmissionError, Limits, TensorSpec,
    allowlist::{self, Verdict},
};
use prova_tensor::DType;
use std::collections::BTreeMap;
use tract_onnx::pb::{
    GraphProto, ModelProto, TensorProto, ValueInfoProto, tensor_shape_proto::dimension::Value,
    type_proto,
};

/// What admission learns from the protobuf.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProtoFacts {
    /// Inputs (graph inputs that are not initializers), shapes with the batch dim fixed.
    pub inputs: Vec<TensorSpec>,
    /// Output names and declared dtypes (None when undeclared).
    pub outputs: Vec<(String, Option<DType>)>,
    /// Operator histogram, domain-qualified names.
    pub ops: BTreeMap<String, u64>,
    /// Elements in all initializers and constant attributes.
    pub params: u64,
    /// Levels a row walks through all trees of all tree-ensemble operators (the sum of the
    /// trees' depths): their per-row work.
    pub tree_steps: u64,
}

/// ONNX `TensorProto.DataType` code to a Prova dtype.
pub(crate) fn dtype_of(elem_type: i32) -> Option<DType> {
    Some(match elem_type {
        1 => DType::F32,
        2 => DType::U8,
        3 => DType::I8,
        5 => DType::I16,
        6 => DType::I32,
        7 => DType::I64,
        9 => DType::Bool,
        11 => DType::F64,
        _ => return None,
    })
}

/// Byte size of an ONNX element type (including types Prova does not carry at its boundary,
/// which may still appear inside a model).
fn elem_size(elem_type: i32) -> u64 {
    match elem_type {
        2 | 3 | 9 => 1,
        4 | 5 | 10 | 16 => 2,
        1 | 6 | 12 => 4,
        7 | 11 | 13 | 14 => 8,
        15 => 16,
        _ => 1,
    }
}

/// `LimitExceeded` when `value` is over `max`.
pub(crate) fn limit(what: impl Into<String>, value: u64, max: u64) -> Result<(), AdmissionError> {
    if value > max {
        return Err(AdmissionError::LimitExceeded {
            what: what.into(),
            value,
            max,
        });
    }
    Ok(())
}

fn check_tensor(
    t: &TensorProto,
    limits: &Limits,
    facts: &mut ProtoFacts,
) -> Result<(), AdmissionError> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err(AdmissionError::ExternalData {
            tensor: t.name.clone(),
        });
    }
    limit(
        format!("rank of tensor {:?}", t.name),
        t.dims.len() as u64,
        limits.max_rank,
    )?;
    let mut elements: u64 = 1;
    for &d in &t.dims {
        let d = u64::try_from(d).map_err(|_| {
            AdmissionError::Parse(format!("tensor {:?} has negative dimension {d}", t.name))
        })?;
        elements = elements.saturating_mul(d);
    }
    let bytes = elements.saturating_mul(elem_size(t.data_type));
    limit(
        format!("size of tensor {:?} in bytes", t.name),
        bytes,
        limits.max_tensor_bytes,
    )?;
    facts.params = facts.params.saturating_add(elements);
    limit("parameter count", facts.params, limits.max_params)
}

fn walk_graph(
    g: &GraphProto,
    limits: &Limits,
    facts: &mut ProtoFacts,
    nodes: &mut u64,
) -> Result<(), AdmissionError> {
    if !g.sparse_initializer.is_empty() {
        return Err(AdmissionError::Typing(
            "sparse initializers are not supported".into(),
        ));
    }
    for t in &g.initializer {
        check_tensor(t, limits, facts)?;
    }
    for (ix, n) in g.node.iter().enumerate() {
        *nodes += 1;
        let node = if n.name.is_empty() {
            format!("#{ix}")
        } else {
            n.name.clone()
        };
        limit("node count", *nodes, limits.max_nodes)?;
        limit(
            format!("inputs plus outputs of node {node:?}"),
            (n.input.len() as u64).saturating_add(n.output.len() as u64),
            limits.max_node_io,
        )?;
        let op = allowlist::qualified(&n.domain, &n.op_type);
        match allowlist::verdict(&n.domain, &n.op_type) {
            Verdict::Allowed => {}
            Verdict::NonDeterministic => {
                return Err(AdmissionError::NonDeterministicOp { op, node });
            }
            Verdict::ZipMap => return Err(AdmissionError::ZipMap { node }),
            Verdict::Unsupported => {
                return Err(AdmissionError::UnsupportedOp { op, node });
            }
        }
        *facts.ops.entry(op).or_default() += 1;
        if n.op_type.starts_with("TreeEnsemble") {
            facts.tree_steps = facts.tree_steps.saturating_add(tree_steps(n)?);
        }
        for a in &n.attribute {
            if let Some(t) = &a.t {
                check_tensor(t, limits, facts)?;
            }
            for t in &a.tensors {
                check_tensor(t, limits, facts)?;
            }
            // Attribute arrays are parameters too (tree nodes, linear coefficients).
            let attr_elements = (a.floats.len() + a.ints.len() + a.strings.len()) as u64;
            facts.params = facts.params.saturating_add(attr_elements);
            limit("parameter count", facts.params, limits.max_params)?;
            if let Some(sub) = &a.g {
                walk_graph(sub, limits, facts, nodes)?;
            }
            for sub in &a.graphs {
                walk_graph(sub, limits, facts, nodes)?;
            }
        }
    }
    Ok(())
}

/// Sum over the trees of a tree-ensemble node of their depth (nodes on the longest path from a
/// root to a leaf): the levels one row walks. Linear in the node count; a cycle is refused.
fn tree_steps(n: &tract_onnx::pb::NodeProto) -> Result<u64, AdmissionError> {
    use std::collections::BTreeMap;
    let ints = |name: &str| {
        n.attribute
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.ints.as_slice())
            .unwrap_or(&[])
    };
    let (trees, ids) = (ints("nodes_treeids"), ints("nodes_nodeids"));
    let (t, f) = (ints("nodes_truenodeids"), ints("nodes_falsenodeids"));
    let leaf: Vec<bool> = n
        .attribute
        .iter()
        .find(|a| a.name == "nodes_modes")
        .map(|a| a.strings.iter().map(|s| s.as_slice() == b"LEAF").collect())
        .unwrap_or_default();
    let count = trees.len().min(ids.len());
    let index: BTreeMap<(i64, i64), usize> = (0..count).map(|i| ((trees[i], ids[i]), i)).collect();
    let kids = |i: usize| -> Vec<usize> {
        if leaf.get(i).copied().unwrap_or(false) {
            return vec![];
        }
        [t.get(i), f.get(i)]
            .into_iter()
            .flatten()
            .filter_map(|c| index.get(&(trees[i], *c)).copied())
            .collect()
    };
    // Iterative depth-first search with colours: 0 new, 1 on the stack, 2 done.
    let mut depth = vec![0u64; count];
    let mut colour = vec![0u8; count];
    let mut per_tree: BTreeMap<i64, u64> = BTreeMap::new();
    for root in 0..count {
        if colour[root] != 0 {
            continue;
        }
        let mut stack = vec![(root, false)];
        while let Some((i, expanded)) = stack.pop() {
            if expanded {
                depth[i] = 1 + kids(i).iter().map(|&c| depth[c]).max().unwrap_or(0);
                colour[i] = 2;
                continue;
            }
            match colour[i] {
                2 => continue,
                1 => {
                    return Err(AdmissionError::Typing(format!(
                        "tree {} of node {:?} has a cycle",
                        trees[i], n.name
                    )));
                }
                _ => {}
            }
            colour[i] = 1;
            stack.push((i, true));
            for c in kids(i) {
                if colour[c] == 1 {
                    return Err(AdmissionError::Typing(format!(
                        "tree {} of node {:?} has a cycle",
                        trees[i], n.name
                    )));
                }
                if colour[c] == 0 {
                    stack.push((c, false));
                }
            }
        }
        let d = per_tree.entry(trees[root]).or_default();
        *d = (*d).max(depth[root]);
    }
    Ok(per_tree.values().fold(0u64, |a, d| a.saturating_add(*d)))
}

fn tensor_type(v: &ValueInfoProto) -> Option<&type_proto::Tensor> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t),
    }
}

fn input_spec(v: &ValueInfoProto, limits: &Limits) -> Result<TensorSpec, AdmissionError> {
    let missing = || AdmissionError::MissingShape {
        input: v.name.clone(),
    };
    let t = tensor_type(v).ok_or_else(missing)?;
    let dtype = dtype_of(t.elem_type).ok_or_else(|| AdmissionError::UnsupportedDType {
        what: "input",
        name: v.name.clone(),
        elem_type: t.elem_type,
    })?;
    let dims = &t.shape.as_ref().ok_or_else(missing)?.dim;
    limit(
        format!("rank of input {:?}", v.name),
        dims.len() as u64,
        limits.max_rank,
    )?;
    let mut shape = Vec::with_capacity(dims.len());
    for (axis, d) in dims.iter().enumerate() {
        let value = match &d.value {
            Some(Value::DimValue(n)) if *n >= 0 => Some(*n as u64),
            Some(Value::DimValue(n)) => {
                return Err(AdmissionError::Parse(format!(
                    "input {:?} has negative dimension {n}",
                    v.name
                )));
            }
            Some(Value::DimParam(_)) | None => None,
        };
        match value {
            Some(n) => shape.push(n),
            None if axis == 0 => shape.push(limits.batch),
            None => {
                let dim = match &d.value {
                    Some(Value::DimParam(p)) => p.clone(),
                    _ => "?".into(),
                };
                return Err(AdmissionError::SymbolicDim {
                    input: v.name.clone(),
                    axis,
                    dim,
                });
            }
        }
    }
    let bytes = shape
        .iter()
        .try_fold(dtype.size() as u64, |acc, &d| acc.checked_mul(d))
        .unwrap_or(u64::MAX);
    limit(
        format!("size of input {:?} in bytes", v.name),
        bytes,
        limits.max_tensor_bytes,
    )?;
    Ok(TensorSpec {
        name: v.name.clone(),
        dtype,
        shape,
    })
}

/// Runs every protobuf-level check and collects the facts admission needs.
pub(crate) fn check(proto: &ModelProto, limits: &Limits) -> Result<ProtoFacts, AdmissionError> {
    let graph = proto.graph.as_ref().ok_or(AdmissionError::MissingGraph)?;
    let mut facts = ProtoFacts::default();
    let mut nodes = 0;
    walk_graph(graph, limits, &mut facts, &mut nodes)?;
    let initializers: std::collections::BTreeSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    for v in graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_str()))
    {
        facts.inputs.push(input_spec(v, limits)?);
    }
    limit("input count", facts.inputs.len() as u64, limits.max_io)?;
    if facts.inputs.is_empty() {
        return Err(AdmissionError::Typing("model has no inputs".into()));
    }
    for v in &graph.output {
        let declared = match tensor_type(v) {
            Some(t) if t.elem_type != 0 => {
                Some(
                    dtype_of(t.elem_type).ok_or_else(|| AdmissionError::UnsupportedDType {
                        what: "output",
                        name: v.name.clone(),
                        elem_type: t.elem_type,
                    })?,
                )
            }
            _ => None,
        };
        facts.outputs.push((v.name.clone(), declared));
    }
    limit("output count", facts.outputs.len() as u64, limits.max_io)?;
    if facts.outputs.is_empty() {
        return Err(AdmissionError::Typing("model has no outputs".into()));
    }
    Ok(facts)
}
