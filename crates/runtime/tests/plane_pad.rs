//! Padded channel planes between Prova's convolutions (`plane_pad::use_padded_planes`)
//! against the same plan in NCHW, bit for bit.
//!
//! Each case is a MobileNet-style chain built as a tract model (a stem convolution, then
//! depthwise and pointwise convolutions, each followed by element-wise steps with constant
//! operands), planned as the exact profile plans it (Prova's direct, depthwise and in-place
//! ops), then the same plan with its edges switched to padded planes. Both run on inputs full of
//! edge values (signed zeros, subnormals, infinities, NaN); every output must have the same
//! bits. Geometries have planes that are and are not whole tiles, strides 1 and 2, and channel
//! counts that are not whole tiles; one case makes an inner tensor a model output too (that
//! edge must stay NCHW), one gives a tensor a second use by a tract op (likewise).
//!
//! On a CPU without AVX-512F the in-place products are never planned: the depthwise and
//! direct convolutions then have no pointwise product to pair with and only the edges
//! between Prova's own convolutions switch.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, depthwise, direct_conv, in_place, plane_pad};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::math;
use tract_onnx::tract_core::ops::nn::DataFormat;

mod common;
use common::{Chain, Rng, assert_same_bits, run_bits, wire_chain};

/// One layer after the stem: a depthwise 3×3 convolution of `stride` (output channels = input
/// channels) or a pointwise one to `c_out` channels.
#[derive(Debug, Clone, Copy)]
enum Layer {
    Depthwise { stride: usize },
    Pointwise { c_out: usize },
}

#[derive(Debug, Clone)]
struct Case {
    /// Input channels and image height and width.
    c_in: usize,
    hw: [usize; 2],
    /// The stem's output channels (3×3, stride 2, padding 1).
    stem: usize,
    layers: Vec<Layer>,
    chain: Chain,
    /// Layers (by index) whose output is also a model output.
    also_output: Option<usize>,
    /// A layer (by index) whose output also feeds a tract op (a negation, made an output).
    also_negated: Option<usize>,
}

fn conv(
    model: &mut TypedModel,
    rng: &mut Rng,
    edge_every: u64,
    x: OutletId,
    [c_in, c_out, group]: [usize; 3],
    [k, stride]: [usize; 2],
) -> TractResult<OutletId> {
    let pad = k / 2;
    let op = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(k, k),
            padding: PaddingSpec::Explicit(tvec!(pad, pad), tvec!(pad, pad)),
            dilations: None,
            strides: Some(tvec!(stride, stride)),
            input_channels: c_in,
            output_channels: c_out,
        },
        kernel_fmt: KernelFormat::OIHW,
        group,
        q_params: None,
    };
    let n = model.nodes.len();
    let kernel = rng.tensor(&[c_out, c_in / group, k, k], edge_every);
    let kernel = model.add_const(format!("kernel{n}"), kernel)?;
    let bias = model.add_const(format!("bias{n}"), tensor1(&rng.values(c_out, edge_every)))?;
    Ok(model.wire_node(format!("conv{n}"), op, &[x, kernel, bias])?[0])
}

fn model(case: &Case, rng: &mut Rng, edge_every: u64) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let shape = [1, case.c_in, case.hw[0], case.hw[1]];
    let x = model.add_source("x", f32::fact(shape))?;
    let mut c = case.stem;
    let mut y = conv(&mut model, rng, edge_every, x, [case.c_in, c, 1], [3, 2])?;
    y = wire_chain(&mut model, y, case.chain, c, 4, rng, edge_every)?;
    let mut outputs = vec![];
    for (i, layer) in case.layers.iter().enumerate() {
        y = match *layer {
            Layer::Depthwise { stride } => {
                conv(&mut model, rng, edge_every, y, [c, c, c], [3, stride])?
            }
            Layer::Pointwise { c_out } => {
                let y = conv(&mut model, rng, edge_every, y, [c, c_out, 1], [1, 1])?;
                c = c_out;
                y
            }
        };
        y = wire_chain(&mut model, y, case.chain, c, 4, rng, edge_every)?;
        if case.also_output == Some(i) {
            outputs.push(y);
        }
        if case.also_negated == Some(i) {
            outputs.push(model.wire_node(format!("neg{i}"), math::neg(), &[y])?[0]);
        }
    }
    outputs.insert(0, y);
    model.select_output_outlets(&outputs)?;
    Ok(model)
}

/// `model` planned as the exact profile plans it, before the padded planes.
fn plan(model: TypedModel) -> TypedModel {
    let mut plan = model.into_decluttered().unwrap();
    depthwise::use_prova_depthwise(&mut plan).unwrap();
    direct_conv::use_prova_direct_conv(&mut plan).unwrap();
    plan.optimize().unwrap();
    in_place::use_in_place_products(&mut plan).unwrap();
    plan
}

/// Every output of `plan` on `input`, as bits (NaNs canonical), with its shape.
fn outputs(plan: &TypedModel, input: &Tensor) -> Vec<(Vec<usize>, Vec<u32>)> {
    let n = plan.output_outlets().unwrap().len();
    (0..n)
        .map(|i| {
            let mut plan = plan.clone();
            let outlet = plan.output_outlets().unwrap()[i];
            plan.select_output_outlets(&[outlet]).unwrap();
            run_bits(&plan, input)
        })
        .collect()
}

/// Nodes of `plan` whose op line says it reads or writes padded planes.
fn padded_nodes(plan: &TypedModel) -> usize {
    plan.nodes
        .iter()
        .filter(|n| {
            n.op.info()
                .unwrap_or_default()
                .iter()
                .any(|l| l.contains("padded planes"))
        })
        .count()
}

fn check(case: &Case, seed: u64) {
    let edge_every = if seed.is_multiple_of(2) { 0 } else { 5 };
    let mut rng = Rng(seed);
    let m = model(case, &mut rng, edge_every).unwrap();
    let input = rng.tensor(&[1, case.c_in, case.hw[0], case.hw[1]], edge_every);
    let theirs = plan(m);
    let mut ours = theirs.clone();
    let switched = plane_pad::use_padded_planes(&mut ours).unwrap();
    let what = format!("{case:?} seed {seed}");
    // Without AVX the direct convolution and the in-place products are not planned and the
    // depthwise one has its portable loop; the edges between depthwise layers can still
    // switch.
    if std::arch::is_x86_feature_detected!("avx") {
        assert!(switched > 0, "{what}: no edge switched");
        assert!(
            padded_nodes(&ours) >= 2,
            "{what}: no op reads padded planes"
        );
    }
    let (got, expected) = (outputs(&ours, &input), outputs(&theirs, &input));
    assert_eq!(got.len(), expected.len());
    for (i, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_same_bits(&format!("{what}, output {i}"), got, expected);
    }
}

fn case(c_in: usize, hw: [usize; 2], stem: usize, layers: &[Layer], chain: Chain) -> Case {
    Case {
        c_in,
        hw,
        stem,
        layers: layers.to_vec(),
        chain,
        also_output: None,
        also_negated: None,
    }
}

#[test]
fn same_bits_as_nchw() {
    use Layer::{Depthwise as D, Pointwise as P};
    prova_runtime::pin(Profile::Exact).unwrap();
    let mobilenet = [
        D { stride: 1 },
        P { c_out: 32 },
        D { stride: 2 },
        P { c_out: 64 },
        D { stride: 2 },
        P { c_out: 128 },
        D { stride: 1 },
        P { c_out: 128 },
    ];
    let mut cases = vec![
        // The MobileNet of the benchmarks, at its size and smaller.
        case(3, [64, 64], 16, &mobilenet, Chain::BatchNormClip),
        case(3, [32, 32], 16, &mobilenet, Chain::Mixed),
        // Planes that are not whole tiles (7×7, 14×14, 5×7), channels that are not either.
        case(
            3,
            [28, 28],
            24,
            &[
                D { stride: 1 },
                P { c_out: 40 },
                D { stride: 2 },
                P { c_out: 17 },
            ],
            Chain::BatchNormClip,
        ),
        case(
            2,
            [10, 14],
            33,
            &[D { stride: 1 }, P { c_out: 20 }, D { stride: 1 }],
            Chain::Zeros,
        ),
        // Depthwise after depthwise, pointwise after pointwise.
        case(
            3,
            [32, 32],
            16,
            &[
                D { stride: 1 },
                D { stride: 2 },
                P { c_out: 32 },
                P { c_out: 16 },
            ],
            Chain::None,
        ),
    ];
    cases.push(Case {
        also_output: Some(1),
        ..case(3, [32, 32], 16, &mobilenet[..4], Chain::BatchNormClip)
    });
    cases.push(Case {
        also_negated: Some(2),
        ..case(3, [32, 32], 16, &mobilenet[..4], Chain::Mixed)
    });
    for (i, case) in cases.iter().enumerate() {
        for seed in 0..2 {
            check(case, 1000 * i as u64 + seed);
        }
    }
}
