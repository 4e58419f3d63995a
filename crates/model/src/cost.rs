//! Prova's own static cost model, computed from the typed graph once the inputs are fixed.
//!
//! tract's `cost()` is a hint that most ops leave empty, so the counts here are Prova's, op by
//! op, in **MAC-equivalents**: the unit gas prices, calibrated with `prova bench gas` on the
//! worst-case single-op models in fixtures/gas (docs/gas.md):
//!
//! - matrix products (`EinSum`): per MAC of their iteration space (float 0.02, integer
//!   0.06), per output element (1 / 9), per input element (0.02 / 0.5), for float, per
//!   element of a run-time (non-constant) input (1, its packing on every call), and per
//!   product of a batch after the first (800);
//! - convolutions: per MAC and per output element, by kind (float, `ConvInteger`,
//!   `QLinearConv`) and whether depthwise (`group > 1`, dominated by the per-output part);
//! - softmax, reductions and pools: per element, heavier across a non-innermost axis (lighter,
//!   for sums), plus a per-output charge for many small reductions;
//! - tree ensembles: per tree level each row walks;
//! - every other op: per element read or written, weighted by the operator ([`element_weight`]);
//!   a later step of a fused element-wise chain ([`chain_positions`]) per output element only.
//!
//! Bytes moved counts every intermediate written plus every constant (weight) read, and
//! `nodes` the operators executed (each has a fixed dispatch cost).

use crate::{AdmissionError, Limits};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::axes::Axis;
use tract_onnx::tract_core::ops::{
    array::{CumSum, Topk},
    cnn::Deconv,
    cnn::{Conv, MaxPool, SumPool},
    downsample::Downsample,
    einsum::EinSum,
    gru_cell::GruEpilogue,
    gru_seq::GruSeq,
    konst::Const,
    lstm_cell::LstmEpilogue,
    nn::{Reduce, Reducer, RmsNorm, ScaledRmsNorm, Softmax},
    scan::Scan,
};

/// Where a model's work is: one operator of the typed graph and the MAC-equivalents it is
/// charged (`prova model inspect` lists them; the sum, rounded up, is [`Cost::macs`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeWork {
    /// The node's name in the typed graph.
    pub node: String,
    /// tract's typed operator name (`Add`, `EinSum`, ...), the key of the weights.
    pub op: String,
    /// Work in milli-MAC-equivalents.
    pub milli_macs: u64,
    /// Whether it was priced as a later step of a fused element-wise chain.
    pub chained: bool,
}

/// Static per-inference cost of a model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    /// Work in MAC-equivalents, the unit gas prices (module docs, docs/gas.md): not a count
    /// of multiply-accumulates (a float MAC of a large product weighs 0.014, an `Exp` of one
    /// element 6.8).
    pub macs: u64,
    /// Bytes of intermediates written and weights read.
    pub bytes: u64,
    /// Largest single intermediate tensor, in bytes.
    pub max_tensor_bytes: u64,
    /// Operators executed per inference (constants and inputs excluded).
    pub nodes: u64,
}

/// Milli-MAC-equivalents per element read or written by operators priced per element, by
/// tract's typed op name, set so that the operator's models in fixtures/gas run at 90–200
/// Mgas/s on the calibration machine (`prova bench gas`, `scripts/fit-gas.py`, docs/gas.md):
/// inside the 60–250 target with room for noise. Input and output bytes are charged
/// separately, so memory-bound operators weigh little here.
fn element_weight(name: &str, in_dt: DatumType, out_dt: DatumType, broadcast: bool) -> u64 {
    let byte = |dt: DatumType| matches!(dt, DatumType::I8 | DatumType::U8);
    match name {
        "Cast" if matches!(out_dt, DatumType::I64 | DatumType::TDim) => 10_000,
        // To or from 8-bit integers (quantisation's casts): a vectorised conversion.
        "Cast" if byte(in_dt) || byte(out_dt) => 360,
        "Ln" => 15_000,
        "Exp" => 9_900,
        "Pow" if broadcast => 25_500,
        "Pow" => 16_700,
        "DynamicQuantizeLinearU8" | "DynamicQuantizeLinearI8" => 6_500,
        "QuantizeLinearU8" | "QuantizeLinearI8" => 4_500,
        "Floor" => 3_200,
        "Ceil" => 3_100,
        "Gather" => 520,
        "Add" => 270,
        "MoveAxis" => 850,
        "Eq" | "GT" | "GTE" | "LT" | "LTE" if broadcast => 900,
        "Eq" => 280,
        "GT" => 360,
        "GTE" => 380,
        "LT" => 400,
        "LTE" => 390,
        "Tile" => 1_000,
        "Max" => 190,
        "DequantizeLinearF32" => 540,
        "Min" => 180,
        "Sub" => 120,
        "Abs" => 100,
        "Iff" if broadcast => 850,
        "Iff" => 300,
        "Sigmoid" => 770,
        "Tanh" => 450,
        "Sqrt" => 455,
        "Mul" => 170,
        "Pad" => 610,
        "Cast" => 600,
        "Or" | "Xor" if broadcast => 1_400,
        "Or" => 900,
        "Erf" => 620,
        "GeluExact" => 700,
        "GeluApproximate" => 1_200,
        "Rsqrt" => 3_900,
        "Resize" => 10_000,
        "NearestUpsample" => 600,
        "Trilu" => 7_500,
        "Concat" => 190,
        "LeakyRelu" => 190,
        "And" => 780,
        "RoundHalfToEven" => 600,
        "HardSwish" => 260,
        "Neg" => 240,
        "Recip" => 320,
        "Sign" => 260,
        "Slice" => 52,
        "Reshape" => 100,
        "RmAxis" => 220,
        "AddAxis" => 120,
        "Xor" => 5,
        "MultiBroadcastTo" => 240,
        "Not" => 5,
        "Square" => 280,
        _ => 800,
    }
}

fn concrete<'a>(fact: &'a TypedFact, node: &str) -> Result<&'a [usize], AdmissionError> {
    fact.shape.as_concrete().ok_or_else(|| {
        AdmissionError::Typing(format!(
            "node {node:?} has a symbolic shape {:?}",
            fact.shape
        ))
    })
}

fn volume(shape: &[usize]) -> u64 {
    shape
        .iter()
        .try_fold(1u64, |a, &d| a.checked_mul(d as u64))
        .unwrap_or(u64::MAX)
}

/// Element-wise binary operators tract's optimiser fuses into one in-place pass
/// (`OptBinChain`: a run of by-scalar or unicast `Add`, `Sub`, `Mul`, `Min`, `Max` passing one
/// float tensor along).
const CHAINABLE: [&str; 5] = ["Add", "Sub", "Mul", "Min", "Max"];

/// Milli-MAC-equivalents per output element of a step that continues a fused chain: the
/// data is already in cache, no tensor is read or written (docs/gas.md).
const CHAIN_STEP: u64 = 150;

/// Whether `node` runs in place on its first input as one step of a by-scalar or unicast
/// pass, on every CPU: the first input has the output's shape and float type, the second has
/// that type, the same rank, and a shape tract's by-scalar or unicast kernels take whatever
/// the vector width (its trailing extent a multiple of 64 elements when it repeats).
fn in_place_step(model: &TypedModel, node: &TypedNode) -> bool {
    let facts = || -> Option<(&TypedFact, &TypedFact, &TypedFact)> {
        let [a, b] = node.inputs.as_slice() else {
            return None;
        };
        let a = model.outlet_fact(*a).ok()?;
        let b = model.outlet_fact(*b).ok()?;
        Some((a, b, &node.outputs.first()?.fact))
    };
    let Some((a, b, out)) = facts() else {
        return false;
    };
    if !CHAINABLE.contains(&node.op.name().as_ref())
        || node.outputs.len() != 1
        || !out.datum_type.is_float()
        || a.datum_type != out.datum_type
        || b.datum_type != out.datum_type
    {
        return false;
    }
    let (Some(a), Some(b), Some(o)) = (
        a.shape.as_concrete(),
        b.shape.as_concrete(),
        out.shape.as_concrete(),
    ) else {
        return false;
    };
    if a != o || a.len() != b.len() || volume(b) > volume(a) {
        return false;
    }
    // By scalar: after the common prefix, `b` is all ones; one scalar per block of more than
    // 32 elements.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let block = volume(&a[prefix..]);
    let by_scalar =
        b[prefix..].iter().all(|&d| d == 1) && (block > 32 || (block > 2 && volume(a) > 256));
    // Unicast: after leading ones in `b`, `b` equals `a`, over more than 32 trailing elements
    // equal in both, and (when it repeats) a multiple of 64 elements per repetition.
    let lead = b.iter().take_while(|&&d| d == 1).count();
    let repeats = volume(&a[..lead]);
    let per_repeat = volume(&b[lead..]);
    let equal_dims = a.iter().zip(b).rev().take_while(|(x, y)| x == y).count();
    let equal_tail = volume(&a[a.len() - equal_dims..]);
    let unicast = a[lead..] == b[lead..]
        && (repeats == 1 || per_repeat.is_multiple_of(64))
        && equal_tail > 32;
    by_scalar || unicast
}

/// For every node (by id), how many in-place steps run before it in its fused chain, modulo
/// tract's 16-step chains (0: it starts one, or is not fused). tract builds a chain from a
/// node whose output feeds exactly one node, as that node's first input, and is not a model
/// output. One pass: each node's position is its producer's plus one, computed once.
fn chain_positions(model: &TypedModel, outputs: &[OutletId]) -> Vec<usize> {
    // The node `node` continues a chain from, if any.
    let continues = |node: &TypedNode| -> Option<usize> {
        let prev = node.inputs.first()?;
        let producer = model.node(prev.node);
        let feeds_only_this = producer
            .outputs
            .get(prev.slot)
            .is_some_and(|o| o.successors.len() == 1)
            && producer.outputs.len() == 1
            && !outputs.contains(prev);
        (feeds_only_this && in_place_step(model, node) && in_place_step(model, producer))
            .then_some(prev.node)
    };
    let mut depth: Vec<Option<usize>> = vec![None; model.nodes().len()];
    for node in model.nodes() {
        // Walk back to a node already placed or one that starts a chain, then fill forwards.
        let (mut path, mut id) = (Vec::new(), node.id);
        let start = loop {
            if let Some(d) = depth[id] {
                break d;
            }
            match continues(model.node(id)) {
                Some(prev) => {
                    path.push(id);
                    id = prev;
                }
                None => {
                    depth[id] = Some(0);
                    break 0;
                }
            }
        };
        for (k, id) in path.into_iter().rev().enumerate() {
            depth[id] = Some(start + k + 1);
        }
    }
    depth.into_iter().map(|d| d.unwrap_or(0) % 16).collect()
}

/// Whether every consumer of `node`'s output is a reduction.
fn feeds_only_reductions(model: &TypedModel, node: &TypedNode) -> bool {
    let successors = node.outputs.iter().flat_map(|o| &o.successors);
    let mut any = false;
    for s in successors {
        if !model.node(s.node).op_is::<Reduce>() {
            return false;
        }
        any = true;
    }
    any
}

/// Milli-MAC-equivalents of one iteration of a loop, besides its body's work: the loop's
/// state copies and the dispatch of the body's plan.
const SCAN_STEP: u64 = 20_000;

/// Milli-MAC-equivalents of one recurrent gate: a sigmoid or tanh and the products around it.
const GATE: u64 = 4_500;

/// Bytes of constant product operands (weights) a model can expect to find in a validator's
/// caches from one call to the next; the rest stream from memory on every call.
const CACHED_WEIGHT_BYTES: u64 = 4 << 20;

/// Milli-MAC-equivalents per byte of product weights beyond [`CACHED_WEIGHT_BYTES`]: a
/// matrix-vector product over weights that do not fit runs at memory bandwidth (~25 GB/s on
/// the calibration VM: the 7.4M-parameter MLP at batch 1), far below what its MACs pay for
/// (docs/gas.md, "Weights beyond the caches").
const STREAMED_WEIGHT_BYTE: u64 = 16;

/// Computes the cost of `model` (typed, decluttered, inputs fixed) and checks tensor sizes.
pub(crate) fn static_cost(
    model: &TypedModel,
    tree_steps: u64,
    limits: &Limits,
) -> Result<(Cost, Vec<NodeWork>), AdmissionError> {
    let mut cost = Cost::default();
    let mut breakdown = Vec::new();
    // Work in milli-MAC-equivalents, rounded up at the end.
    let mut milli: u64 = 0;
    // Bytes of the constant operands of matrix products, read whole on every call.
    let mut product_weight_bytes: u64 = 0;
    let outputs = model
        .output_outlets()
        .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
    let positions = chain_positions(model, outputs);
    for node in model.nodes() {
        let mut inputs = Vec::with_capacity(node.inputs.len());
        for i in &node.inputs {
            let fact = model
                .outlet_fact(*i)
                .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
            inputs.push(fact);
        }
        let mut out_elements = 0u64;
        for o in &node.outputs {
            let shape = concrete(&o.fact, &node.name)?;
            let elements = volume(shape);
            let bytes = elements.saturating_mul(o.fact.datum_type.size_of() as u64);
            if bytes > limits.max_tensor_bytes {
                return Err(AdmissionError::LimitExceeded {
                    what: format!("size of tensor at node {:?} in bytes", node.name),
                    value: bytes,
                    max: limits.max_tensor_bytes,
                });
            }
            cost.max_tensor_bytes = cost.max_tensor_bytes.max(bytes);
            out_elements = out_elements.saturating_add(elements);
            if node.op_is::<Const>() || node.inputs.is_empty() {
                continue; // constants and sources are not work
            }
            cost.bytes = cost.bytes.saturating_add(bytes);
        }
        if node.op_is::<Const>() || node.inputs.is_empty() {
            continue;
        }
        cost.nodes += 1;
        let mut shapes = Vec::with_capacity(inputs.len());
        // Bytes of the node's constant inputs (weights), read on every call.
        let mut konst_bytes = 0u64;
        for f in &inputs {
            let shape = concrete(f, &node.name)?;
            shapes.push(shape);
            if f.konst.is_some() {
                let b = volume(shape).saturating_mul(f.datum_type.size_of() as u64);
                konst_bytes = konst_bytes.saturating_add(b);
            }
        }
        cost.bytes = cost.bytes.saturating_add(konst_bytes);
        let volumes: Vec<u64> = shapes.iter().map(|s| volume(s)).collect();
        let read = inputs
            .iter()
            .zip(&volumes)
            .filter(|(f, _)| f.konst.is_none())
            .fold(0u64, |a, (_, v)| a.saturating_add(*v));
        let elements = read.saturating_add(out_elements);
        let out_fact = node.outputs.first().map(|o| &o.fact);
        let out_dt = out_fact.map(|f| f.datum_type).unwrap_or(DatumType::F32);
        let out_rank = out_fact.map(|f| f.rank()).unwrap_or(0);
        let in_dt = inputs.first().map(|f| f.datum_type).unwrap_or(out_dt);
        let integer = |dt: DatumType| !dt.is_float();
        let name = node.op.name();
        let chained = positions.get(node.id).is_some_and(|&p| p > 0);
        let work = if let Some(op) = node.op_as::<EinSum>() {
            let shapes = &shapes;
            // An axis's length: its longest input's (one side may broadcast).
            let length = |axis: &Axis| {
                axis.inputs
                    .iter()
                    .enumerate()
                    .flat_map(|(ix, pos)| pos.iter().filter_map(move |p| shapes.get(ix)?.get(*p)))
                    .copied()
                    .max()
                    .unwrap_or(1) as u64
            };
            let macs = op
                .axes
                .iter_all_axes()
                .fold(1u64, |acc, axis| acc.saturating_mul(length(axis)));
            // Products in the batch: the axes of both operands and the output.
            let products = op
                .axes
                .iter_all_axes()
                .filter(|axis| {
                    axis.inputs.len() >= 2
                        && !axis.inputs[0].is_empty()
                        && !axis.inputs[1].is_empty()
                        && axis.outputs.first().is_some_and(|o| !o.is_empty())
                })
                .fold(1u64, |acc, axis| acc.saturating_mul(length(axis)));
            let int = op.q_params.is_some() || integer(op.operating_dt);
            // Measured on the exact profile's kernels (docs/gas.md): per MAC; per output
            // (stores and dispatch); per input element, constant or not (skinny products,
            // whose weight is as large as their work; integer ones also sum it for the
            // zero-point correction); and, for float products, per element of a run-time
            // input, which is packed on every call (batched products of two activations,
            // attention, are dominated by it; constant weights are packed once, at load).
            let (per_mac, per_out, per_in, per_read) = if int {
                (60, 9_000, 500, 0)
            } else {
                (20, 1_000, 20, 1_000)
            };
            // Each product of a batch after the first (which the node's own dispatch pays):
            // tract packs, boxes and frames every product apart, ~1–3 µs each whatever its
            // size (`matmul_batched_tiny`, 4096 products of 16 × 16 × 16, ran at 42–64
            // Mgas/s on an AVX2 validator without it; docs/gas.md).
            let per_product = 800_000;
            let in_elements = volumes.iter().fold(0u64, |a, v| a.saturating_add(*v));
            product_weight_bytes = product_weight_bytes.saturating_add(konst_bytes);
            macs.saturating_mul(per_mac)
                .saturating_add(out_elements.saturating_mul(per_out))
                .saturating_add(in_elements.saturating_mul(per_in))
                .saturating_add(read.saturating_mul(per_read))
                .saturating_add(products.saturating_sub(1).saturating_mul(per_product))
        } else if let Some(op) = node.op_as::<Conv>() {
            let per_output = (op.input_channels() / op.group.max(1)) as u64;
            let macs = out_elements
                .saturating_mul(per_output)
                .saturating_mul(volume(&op.pool_spec.kernel_shape));
            let int =
                op.q_params.is_some() || inputs.first().is_some_and(|f| integer(f.datum_type));
            // Depthwise and small-channel convolutions cost per output, not per MAC;
            // QLinearConv (8-bit output) also requantizes every output, ConvInteger (i32
            // output) does not.
            // A pointwise (1 × 1, stride 1) float convolution is a plain matrix product.
            let pointwise = volume(&op.pool_spec.kernel_shape) == 1
                && op.pool_spec.strides().iter().all(|s| *s == 1);
            let (per_mac, per_out) = match (int, out_dt) {
                (false, _) if op.group > 1 => (18, 2_000),
                (false, _) if pointwise => (13, 3_500),
                (false, _) => (18, 5_000),
                (true, DatumType::I32) => (30, 15_000),
                (true, _) if op.group > 1 => (40, 32_000),
                (true, _) => (70, 12_000),
            };
            macs.saturating_mul(per_mac)
                .saturating_add(out_elements.saturating_mul(per_out))
        } else if let Some(op) = node.op_as::<Softmax>() {
            let innermost = op.axes.as_slice() == [out_rank.saturating_sub(1)];
            elements.saturating_mul(if innermost { 1_000 } else { 60_000 })
        } else if let Some(op) = node.op_as::<Reduce>() {
            let innermost_only = op.axes.as_slice() == [out_rank.saturating_sub(1)];
            let row = shapes
                .first()
                .and_then(|s| s.last().copied())
                .unwrap_or(1)
                .max(1) as u64;
            let rows = read / row;
            let sum = matches!(op.reducer, Reducer::Sum | Reducer::MeanOfSquares);
            // Summing along the innermost axis is a horizontal reduction per row: eight rows
            // at a time where the rows are whole groups of four values (Prova's row sums,
            // `prova_runtime::rows`), one at a time (one chain of additions) for the rest.
            let (per_element, sequential) = match op.reducer {
                _ if sum && innermost_only && row >= 4 && row.is_multiple_of(4) => {
                    (200, (rows % 8).saturating_mul(row))
                }
                _ if sum && innermost_only => (1_200, 0),
                // Across other axes (or several) a sum adds whole vectors.
                _ if sum => (200, 0),
                // The exact profile's row maximum and minimum run eight lanes at a time
                // (`kernels::extreme`).
                Reducer::Max | Reducer::Min if op.axes.iter().any(|a| *a + 1 == out_rank) => {
                    (275, 0)
                }
                _ if op.axes.iter().any(|a| *a + 1 == out_rank) => (1_300, 0),
                _ => (4_600, 0),
            };
            // Many small reductions pay per output (one pass set-up each).
            let per_output = if sum { 6_000 } else { 120_000 };
            read.saturating_mul(per_element)
                .saturating_add(sequential.saturating_mul(1_200 - 200))
                .saturating_add(out_elements.saturating_mul(per_output))
        } else if node.op_is::<MaxPool>() {
            elements.saturating_mul(1_800)
        } else if let Some(op) = node.op_as::<SumPool>() {
            // Every output sums its window; every element is read and written once.
            let window = volume(&op.pool_spec.kernel_shape);
            out_elements
                .saturating_mul(window)
                .saturating_mul(610)
                .saturating_add(elements.saturating_mul(415))
        } else if let Some(op) = node.op_as::<Downsample>() {
            // A negative stride (reversal) walks memory backwards, ~10x slower than forwards.
            elements.saturating_mul(if op.stride < 0 { 11_500 } else { 1_000 })
        } else if name.starts_with("TreeEnsemble") {
            // One step per tree level a row walks.
            let rows = inputs
                .first()
                .and_then(|f| f.shape.as_concrete())
                .map_or(1, |s| {
                    s.iter()
                        .rev()
                        .skip(1)
                        .fold(1u64, |a, &d| a.saturating_mul(d as u64))
                });
            rows.saturating_mul(tree_steps)
                .saturating_mul(3_400)
                .saturating_add(elements.saturating_mul(2_250))
        } else if let Some(scan) = node.op_as::<Scan>() {
            // A loop (tract's lowering of LSTM, GRU, RNN): its body's cost once per
            // iteration, plus the slicing of the scanned inputs and outputs around it.
            let iterations = scan
                .iteration_count(&inputs)
                .and_then(|d| d.to_i64().ok())
                .ok_or_else(|| {
                    AdmissionError::Typing(format!(
                        "node {:?} loops a number of times not known before it runs",
                        node.name
                    ))
                })? as u64;
            let (body, _) = static_cost(&scan.body, tree_steps, limits)?;
            cost.bytes = cost
                .bytes
                .saturating_add(body.bytes.saturating_mul(iterations));
            cost.nodes = cost
                .nodes
                .saturating_add(body.nodes.saturating_mul(iterations));
            cost.max_tensor_bytes = cost.max_tensor_bytes.max(body.max_tensor_bytes);
            // The body's nodes run from one plan, without the per-node dispatch a top-level
            // graph pays: measured at ~60% of the body priced as a graph (docs/gas.md).
            body.macs
                .saturating_mul(600)
                .saturating_add(SCAN_STEP)
                .saturating_mul(iterations)
                .saturating_add(
                    elements.saturating_mul(element_weight("Slice", out_dt, out_dt, false)),
                )
        } else if let Some(op) = node.op_as::<GruSeq>() {
            // A whole GRU sequence in one op: per step, the recurrent product
            // `H x 3H` per batch row (plus the input product `I x 3H` unless declutter
            // projected it out), then the gates (sigmoid, tanh) over `3H` per row.
            let x = shapes.first().copied().unwrap_or(&[]);
            let (batch, steps, features) = match x {
                [b, t, f] => (*b as u64, *t as u64, *f as u64),
                _ => (1, 1, 0),
            };
            let h = op.hidden as u64;
            let per_row = if op.projected {
                h
            } else {
                h.saturating_add(features)
            };
            let rows = batch.saturating_mul(steps);
            let macs = rows.saturating_mul(3 * h).saturating_mul(per_row);
            let gates = rows.saturating_mul(3 * h);
            macs.saturating_mul(16)
                .saturating_add(gates.saturating_mul(GATE))
                .saturating_add(steps.saturating_mul(SCAN_STEP))
        } else if node.op_is::<LstmEpilogue>() || node.op_is::<GruEpilogue>() {
            // The cell's gates: a sigmoid or tanh (and a few products) per pre-activation.
            read.saturating_mul(GATE)
                .saturating_add(out_elements.saturating_mul(300))
        } else if let Some(op) = node.op_as::<Deconv>() {
            // A transposed convolution: every input pixel times every kernel tap and output
            // channel of its group (a product, then a scatter-add of the taps).
            let out_channels = out_fact.map_or(1, |f| {
                f.shape
                    .as_concrete()
                    .and_then(|s| s.get(1).copied())
                    .unwrap_or(1) as u64
            });
            let group = op.group.max(1) as u64;
            let macs = volumes
                .first()
                .copied()
                .unwrap_or(0)
                .saturating_mul(out_channels / group)
                .saturating_mul(volume(&op.pool_spec.kernel_shape));
            // Grouped (depthwise) ones are dominated by the per-output scatter-add.
            let (per_mac, per_out) = if group > 1 { (30, 12_000) } else { (48, 1_200) };
            macs.saturating_mul(per_mac)
                .saturating_add(out_elements.saturating_mul(per_out))
        } else if let Some(op) = node.op_as::<Topk>() {
            // A sort of each row along the axis.
            let row = shapes
                .first()
                .and_then(|s| s.get(op.axis))
                .copied()
                .unwrap_or(1)
                .max(2) as u64;
            let log = 64 - row.leading_zeros() as u64;
            read.saturating_mul(8_000)
                .saturating_mul(log)
                .saturating_add(out_elements.saturating_mul(1_000))
        } else if let Some(op) = node.op_as::<CumSum>() {
            // A running sum along one axis: sequential along the innermost axis, whole rows
            // at a time along the others.
            let innermost = op.axis + 1 == out_rank;
            elements.saturating_mul(if innermost { 2_000 } else { 400 })
        } else if let Some(axis) = node
            .op_as::<RmsNorm>()
            .map(|op| op.axis)
            .or_else(|| node.op_as::<ScaledRmsNorm>().map(|op| op.axis))
        {
            // Per element a square, a sum and a product; per row the routine's set-up. Prova
            // runs eight rows at a time (`prova_runtime::rows`); the rows left over (fewer
            // than eight) one at a time, one chain of additions each.
            let row = out_fact
                .and_then(|f| f.shape.as_concrete())
                .and_then(|s| s.get(axis).copied())
                .unwrap_or(1)
                .max(1) as u64;
            let rows = out_elements / row;
            elements
                .saturating_mul(300)
                .saturating_add((rows % 8).saturating_mul(row).saturating_mul(2 * 400))
                .saturating_add(rows.saturating_mul(100_000))
        } else if name == "QLinearSoftmax" {
            elements.saturating_mul(6_000)
        } else if name == "Square" && feeds_only_reductions(model, node) {
            // tract folds a square into the sum that reads it (the sum of squares of
            // ReduceL2, ReduceSumSquare, variances): one more operation on data in cache.
            out_elements.saturating_mul(CHAIN_STEP)
        } else if chained {
            // A later step of a fused element-wise chain: one more operation on data in cache.
            out_elements.saturating_mul(CHAIN_STEP)
        } else {
            let broadcast = shapes
                .iter()
                .any(|s| volume(s) != out_elements && volume(s) > 1);
            elements.saturating_mul(element_weight(&name, in_dt, out_dt, broadcast))
        };
        milli = milli.saturating_add(work);
        breakdown.push(NodeWork {
            node: node.name.clone(),
            op: name.to_string(),
            milli_macs: work,
            chained,
        });
    }
    let streamed = product_weight_bytes
        .saturating_sub(CACHED_WEIGHT_BYTES)
        .saturating_mul(STREAMED_WEIGHT_BYTE);
    if streamed > 0 {
        milli = milli.saturating_add(streamed);
        breakdown.push(NodeWork {
            node: "(product weights beyond the caches)".into(),
            op: "StreamedWeights".into(),
            milli_macs: streamed,
            chained: false,
        });
    }
    cost.macs = milli.div_ceil(1000);
    if cost.macs > limits.max_macs {
        return Err(AdmissionError::LimitExceeded {
            what: "multiply-accumulates per inference".into(),
            value: cost.macs,
            max: limits.max_macs,
        });
    }
    Ok((cost, breakdown))
}
