//! Padded channel planes between Prova's convolutions.
//!
//! In NCHW a channel's pixels are one plane apart from the next channel's: on a 32 × 32 image,
//! 4 KiB. A pointwise product reads its activation sixteen pixels at a time from each of its k
//! channels, and writes each 16 × 16 tile as sixteen 64-byte lines, all one plane apart: with
//! a plane of a multiple of 4 KiB they share one set of the level-1 cache, which has fewer ways
//! than the tile has lines, and the loads and stores wait on each other's evictions. On a
//! MobileNet-style network the k = 16 pointwise layer (32 × 32 planes) was the largest gap to
//! onnxruntime (docs/performance.md).
//!
//! Between Prova's own convolution ops a tensor of C channels × P pixels (one image) can
//! instead have planes [`PAD`] values longer than its pixels: shape `[C, P + PAD]`, each
//! channel's pixels first in its plane, the padding zero. Consecutive planes then start one
//! cache line further along the sets. The depthwise convolution reads and writes each plane
//! as before, from its place; the pointwise product reads its activation with a k step of one
//! padded plane and writes its output tiles with a padded plane between channels.
//!
//! Only where values are read and written changes: every output is computed by the same
//! operations on the same values, so the bits are the NCHW plan's (`tests/plane_pad.rs` runs
//! both plans on edge values and compares every output bit for bit).
//!
//! [`use_padded_planes`] switches an edge between two such ops where its producer can write
//! padded planes, every consumer can read them (reshapes of the same channels × pixels in
//! between are dropped: the padded tensor is the same for both shapes), and it is not a model
//! output. Under the exact profile only (the pointwise product is Prova's in-place product).

use crate::depthwise::DepthwiseConv;
use crate::direct_conv::DirectConv;
#[cfg(target_arch = "x86_64")]
use crate::in_place::InPlaceMatMul;
use tract_onnx::tract_core::internal::*;
use tract_onnx::tract_core::ops::change_axes::IntoShape;

/// Values after each plane's pixels: one cache line.
pub const PAD: usize = 16;

/// The shape of a tensor of `channels` × `pixels` in padded planes.
pub(crate) fn shape(channels: usize, pixels: usize) -> TVec<usize> {
    tvec![channels, stride(pixels)]
}

/// Values from one padded plane of `pixels` to the next.
pub(crate) fn stride(pixels: usize) -> usize {
    pixels + PAD
}

/// Values from one plane of `pixels` to the next: padded or not.
pub(crate) fn plane(padded: bool, pixels: usize) -> usize {
    if padded { stride(pixels) } else { pixels }
}

/// Zeroes the padding of every plane of `values` (planes of `pixels`), so that a padded
/// tensor's every value is defined.
pub(crate) fn clear(values: &mut [f32], pixels: usize) {
    for plane in values.chunks_exact_mut(stride(pixels)) {
        plane[pixels..].fill(0.0);
    }
}

/// The words an op's `info` line ends with for its layouts.
pub(crate) fn describe(input: bool, output: bool) -> &'static str {
    match (input, output) {
        (false, false) => "",
        (true, false) => ", input in padded planes",
        (false, true) => ", output in padded planes",
        (true, true) => ", input and output in padded planes",
    }
}

/// The channels and pixels node `node`'s output has where its op can write padded planes.
fn producer(node: &TypedNode) -> Option<(usize, usize)> {
    if let Some(op) = node.op_as::<DepthwiseConv>() {
        let (c, _, p) = op.planes();
        return op.can_pad(true).then_some((c, p));
    }
    if let Some(op) = node.op_as::<DirectConv>() {
        return op.paddable_out();
    }
    #[cfg(target_arch = "x86_64")]
    return node.op_as::<InPlaceMatMul>()?.paddable_out();
    #[cfg(not(target_arch = "x86_64"))]
    None
}

/// Whether input `slot` of `node` can read padded planes of `channels` × `pixels`.
fn consumer(node: &TypedNode, slot: usize, channels: usize, pixels: usize) -> bool {
    if let Some(op) = node.op_as::<DepthwiseConv>() {
        let (c, p, _) = op.planes();
        return slot == 0 && op.can_pad(false) && (c, p) == (channels, pixels);
    }
    #[cfg(target_arch = "x86_64")]
    return node
        .op_as::<InPlaceMatMul>()
        .and_then(InPlaceMatMul::paddable_act)
        .is_some_and(|(s, c, p)| (s, c, p) == (slot, channels, pixels));
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// `node`'s op with its input (`output` false) or output in padded planes.
fn padded_op(node: &TypedNode, output: bool) -> TractResult<Box<dyn TypedOp>> {
    if let Some(op) = node.op_as::<DepthwiseConv>() {
        return Ok(Box::new(op.with_padded(output)));
    }
    #[cfg(target_arch = "x86_64")]
    if let Some(op) = node.op_as::<InPlaceMatMul>() {
        return Ok(Box::new(op.with_padded(output)));
    }
    if let Some(op) = node.op_as::<DirectConv>()
        && output
    {
        return Ok(Box::new(op.with_padded_out()));
    }
    bail!("{} cannot take padded planes", node.name)
}

/// Switches every edge of `model` (optimised, under the exact profile) between Prova
/// convolution ops that can take it to padded planes; see the module docs. Returns how many
/// edges were switched.
pub fn use_padded_planes(model: &mut TypedModel) -> TractResult<usize> {
    let mut switched = 0;
    let outputs = model.output_outlets()?.to_vec();
    for id in 0..model.nodes.len() {
        let Some((channels, pixels)) = producer(&model.nodes[id]) else {
            continue;
        };
        let out = OutletId::new(id, 0);
        // Through reshapes, each the only use of the one before, to the consumers.
        let mut end = out;
        while !outputs.contains(&end) {
            let [succ] = model.outlet_successors(end) else {
                break;
            };
            let next = model.node(succ.node);
            if !next.op_is::<IntoShape>() || next.outputs.len() != 1 {
                break;
            }
            end = OutletId::new(next.id, 0);
        }
        let consumers: Vec<InletId> = model.outlet_successors(end).to_vec();
        if outputs.contains(&end)
            || consumers.is_empty()
            || !consumers
                .iter()
                .all(|i| consumer(model.node(i.node), i.slot, channels, pixels))
        {
            continue;
        }
        let op = padded_op(&model.nodes[id], true)?;
        // The op's own output fact (`[C, P + PAD]`, or with the product's leading axes of
        // length one).
        let fact = op.output_facts(&model.node_input_facts(id)?)?.remove(0);
        model.nodes[id].op = op;
        model.set_outlet_fact(out, fact)?;
        for inlet in consumers {
            model.add_edge(out, inlet)?;
            model.nodes[inlet.node].op = padded_op(model.node(inlet.node), false)?;
        }
        switched += 1;
    }
    if switched > 0 {
        // The reshapes in between have no use left.
        model.compact()?;
    }
    Ok(switched)
}
