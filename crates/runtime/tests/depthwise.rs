//! Prova's depthwise convolution against tract's `DepthWise` op, bit for bit.
//!
//! Each case is one `Conv` (group = channels) built directly as a tract model and compiled
//! twice: as tract compiles it (its `DepthWise` op, with its AVX kernel where the CPU has it)
//! and with `use_prova_depthwise` before codegen. Both run on inputs full of edge values
//! (signed zeros, subnormals, infinities, NaN, values whose products overflow); every output
//! must have the same bits (any NaN counting as the canonical NaN), for Prova's AVX build and
//! its baseline build alike. Geometries
//! cover every padding side, strides, dilations, non-square kernels, kernels larger than the
//! padded image in one axis, and batches.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::depthwise;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

mod common;
use common::{Chain, Rng, assert_same_bits_both_paths, run_bits, wire_chain};

#[derive(Debug, Clone, Copy)]
struct Case {
    batch: Option<usize>,
    channels: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    scalar_bias: bool,
    chain: Chain,
}

fn model(case: &Case, rng: &mut Rng, edge_every: u64) -> TractResult<TypedModel> {
    let c = case.channels;
    let mut shape = vec![c, case.hw[0], case.hw[1]];
    if let Some(n) = case.batch {
        shape.insert(0, n);
    }
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(&shape))?;
    let [kh, kw] = case.kernel;
    let kernel =
        tract_ndarray::Array4::from_shape_vec((c, 1, kh, kw), rng.values(c * kh * kw, edge_every))?
            .into_tensor();
    let bias = if case.scalar_bias {
        tensor1(&[rng.value(edge_every)])
    } else {
        tensor1(&rng.values(c, edge_every))
    };
    let k = model.add_const("kernel", kernel)?;
    let b = model.add_const("bias", bias)?;
    let [pt, pl, pb, pr] = case.pads;
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: if case.batch.is_some() {
                DataFormat::NCHW
            } else {
                DataFormat::CHW
            },
            kernel_shape: tvec!(kh, kw),
            padding: PaddingSpec::Explicit(tvec!(pt, pl), tvec!(pb, pr)),
            dilations: Some(tvec!(case.dilations[0], case.dilations[1])),
            strides: Some(tvec!(case.strides[0], case.strides[1])),
            input_channels: c,
            output_channels: c,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: c,
        q_params: None,
    };
    let mut y = model.wire_node("conv", conv, &[x, k, b])?[0];
    y = wire_chain(&mut model, y, case.chain, c, shape.len(), rng, edge_every)?;
    model.select_output_outlets(&[y])?;
    Ok(model)
}

/// The output's height and width.
fn output_hw(plan: &TypedModel) -> [usize; 2] {
    let fact = plan.outlet_fact(plan.output_outlets().unwrap()[0]).unwrap();
    let s = fact.shape.as_concrete().unwrap();
    [s[s.len() - 2], s[s.len() - 1]]
}

fn op_names(plan: &TypedModel) -> Vec<String> {
    plan.nodes.iter().map(|n| n.op.name().to_string()).collect()
}

fn check(case: Case, seed: u64) {
    let edge_every = if seed.is_multiple_of(2) { 0 } else { 7 };
    let mut rng = Rng(seed);
    let m = model(&case, &mut rng, edge_every).unwrap();
    let input_shape = m
        .outlet_fact(m.input_outlets().unwrap()[0])
        .unwrap()
        .shape
        .as_concrete()
        .unwrap()
        .to_vec();
    let input = tract_ndarray::ArrayD::from_shape_vec(
        input_shape.clone(),
        rng.values(input_shape.iter().product(), edge_every),
    )
    .unwrap()
    .into_tensor();

    let theirs = m.clone().into_optimized().unwrap();
    assert!(
        op_names(&theirs).iter().any(|n| n == "DepthWiseConv"),
        "{case:?}: tract did not pick its depthwise op: {:?}",
        op_names(&theirs)
    );
    let mut ours = m;
    ours.declutter().unwrap();
    assert_eq!(
        depthwise::use_prova_depthwise(&mut ours).unwrap(),
        1,
        "{case:?}"
    );
    ours.optimize().unwrap();
    assert!(
        op_names(&ours).iter().any(|n| n == "ProvaDepthwiseConv"),
        "{case:?}"
    );
    // The steps are fused where tract would run by-scalar kernels: one image, planes of at
    // least 32 outputs.
    let [oh, ow] = output_hw(&theirs);
    let fused = case.batch.unwrap_or(1) == 1 && oh * ow >= 32;
    if case.chain != Chain::None {
        let rest: Vec<String> = op_names(&ours)
            .into_iter()
            .filter(|n| !["Source", "Const", "ProvaDepthwiseConv"].contains(&n.as_str()))
            .collect();
        assert_eq!(rest.is_empty(), fused, "{case:?}: {:?}", op_names(&ours));
    }

    let expected = run_bits(&theirs, &input);
    let what = format!("{case:?} seed {seed}");
    assert_same_bits_both_paths(
        &what,
        "baseline",
        &depthwise::FORCE_BASELINE,
        &ours,
        &input,
        &expected,
    );
}

fn case(hw: [usize; 2], kernel: [usize; 2], strides: [usize; 2], pads: [usize; 4]) -> Case {
    Case {
        batch: Some(1),
        channels: 3,
        hw,
        kernel,
        strides,
        dilations: [1, 1],
        pads,
        scalar_bias: false,
        chain: Chain::None,
    }
}

#[test]
fn same_bits_as_tracts_depthwise() {
    // Without AVX (Nehalem in the matrix) both ops run their portable code, which must agree
    // as well.
    common::pin_exact_or_native();
    let mut cases = vec![
        // MobileNet's blocks: 3x3, pad 1, strides 1 and 2, maps from 32x32 down to 2x2.
        case([32, 32], [3, 3], [1, 1], [1, 1, 1, 1]),
        case([16, 16], [3, 3], [2, 2], [1, 1, 1, 1]),
        case([8, 8], [3, 3], [1, 1], [1, 1, 1, 1]),
        case([2, 2], [3, 3], [1, 1], [1, 1, 1, 1]),
        case([1, 1], [3, 3], [1, 1], [1, 1, 1, 1]),
        // No padding, 1x1, non-square kernels and maps, asymmetric and large pads.
        case([9, 11], [3, 3], [1, 1], [0, 0, 0, 0]),
        case([7, 5], [1, 1], [1, 1], [0, 0, 0, 0]),
        case([6, 13], [2, 4], [1, 1], [0, 1, 1, 2]),
        case([13, 6], [5, 1], [2, 1], [2, 0, 2, 0]),
        case([5, 5], [5, 5], [1, 1], [2, 2, 2, 2]),
        case([4, 6], [3, 3], [3, 2], [3, 0, 0, 3]),
        case([3, 3], [2, 2], [1, 1], [4, 4, 4, 4]),
        case([17, 23], [7, 7], [2, 3], [3, 3, 3, 3]),
        case([64, 64], [3, 3], [2, 2], [0, 0, 1, 1]),
        case([3, 40], [3, 3], [1, 1], [1, 1, 1, 1]),
        // Three columns wide but not three rows (the unmasked loop's kernel rows).
        case([11, 17], [5, 3], [1, 1], [2, 1, 2, 1]),
        case([9, 20], [1, 3], [1, 2], [0, 1, 0, 1]),
    ];
    // Dilations, batches, channel-first without a batch axis, one bias for all.
    cases.push(Case {
        dilations: [2, 3],
        ..case([15, 16], [3, 3], [1, 1], [2, 3, 2, 3])
    });
    cases.push(Case {
        dilations: [2, 1],
        ..case([14, 12], [3, 3], [1, 1], [2, 1, 2, 1])
    });
    cases.push(Case {
        dilations: [2, 2],
        ..case([12, 12], [3, 3], [2, 2], [1, 1, 1, 1])
    });
    cases.push(Case {
        batch: Some(3),
        channels: 5,
        ..case([10, 9], [3, 3], [1, 1], [1, 1, 1, 1])
    });
    cases.push(Case {
        batch: None,
        channels: 4,
        ..case([8, 10], [3, 3], [2, 2], [1, 1, 1, 1])
    });
    cases.push(Case {
        channels: 16,
        ..case([12, 12], [5, 5], [1, 1], [2, 2, 2, 2])
    });
    // Each geometry again with every chain of element-wise steps after it.
    let chained: Vec<Case> = cases
        .iter()
        .flat_map(|c| {
            [Chain::BatchNormClip, Chain::Mixed, Chain::Zeros].map(|chain| Case { chain, ..*c })
        })
        .collect();
    cases.extend(chained);
    for (i, c) in cases.into_iter().enumerate() {
        for seed in 0..4 {
            check(c, 1000 * i as u64 + seed);
        }
    }
}
