//! Prova's direct convolution against tract's im2col and matrix product, bit for bit.
//!
//! Each case is one group-1 `Conv` built directly as a tract model, optionally followed by
//! element-wise steps with constant operands, compiled twice under the exact profile: as tract
//! compiles it (im2col and a matrix product in the pinned kernels) and with
//! `use_prova_direct_conv` before codegen. Both run on inputs full of edge values (signed
//! zeros, subnormals, which the matrix kernels' DAZ reads as zero, infinities, NaN, values
//! whose products overflow); every output must have the same bits (NaNs canonical), for the
//! AVX loop and the portable one. Geometries cover RGB stems, every padding side, strides 1,
//! 2 and 3, dilations, non-square kernels, output channels that are not a multiple of the
//! block, rows narrower than a vector, batches and the three kinds of bias.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, direct_conv};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

mod common;
use common::{Chain, Rng, assert_same_bits_both_paths, run_bits, wire_chain};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bias {
    /// A constant of zeros: tract adds nothing.
    Zero,
    /// One value for every channel.
    Scalar,
    /// One value per output channel.
    PerChannel,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    batch: Option<usize>,
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilations: [usize; 2],
    pads: [usize; 4],
    bias: Bias,
    chain: Chain,
}

fn case(
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
) -> Case {
    Case {
        batch: Some(1),
        c_in,
        c_out,
        hw,
        kernel,
        strides,
        dilations: [1, 1],
        pads: [1, 1, 1, 1],
        bias: Bias::PerChannel,
        chain: Chain::None,
    }
}

/// The case's convolution op.
fn conv(case: &Case) -> Conv {
    let [kh, kw] = case.kernel;
    let [pt, pl, pb, pr] = case.pads;
    Conv {
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
            input_channels: case.c_in,
            output_channels: case.c_out,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    }
}

fn model(case: &Case, rng: &mut Rng, edge_every: u64) -> TractResult<TypedModel> {
    let mut shape = vec![case.c_in, case.hw[0], case.hw[1]];
    if let Some(n) = case.batch {
        shape.insert(0, n);
    }
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(&shape))?;
    let [kh, kw] = case.kernel;
    let kernel = rng.tensor(&[case.c_out, case.c_in, kh, kw], edge_every);
    let bias = match case.bias {
        Bias::Zero => tensor1(&vec![0.0f32; case.c_out]),
        Bias::Scalar => tensor0(rng.value(edge_every)),
        Bias::PerChannel => tensor1(&rng.values(case.c_out, edge_every)),
    };
    let k = model.add_const("kernel", kernel)?;
    let b = model.add_const("bias", bias)?;
    let mut y = model.wire_node("conv", conv(case), &[x, k, b])?[0];
    y = wire_chain(
        &mut model,
        y,
        case.chain,
        case.c_out,
        shape.len(),
        rng,
        edge_every,
    )?;
    model.select_output_outlets(&[y])?;
    Ok(model)
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
    // One seed in four: an input of signed zeros (a few ordinary values among them), so that
    // whole sums of signed zeros show where a sum starts and how the bias is added.
    let input = if seed % 4 == 3 {
        let v: Vec<f32> = (0..input_shape.iter().product())
            .map(|_| match rng.next() % 5 {
                0 => rng.value(0),
                1 | 2 => -0.0,
                _ => 0.0,
            })
            .collect();
        tract_ndarray::ArrayD::from_shape_vec(input_shape.clone(), v)
            .unwrap()
            .into_tensor()
    } else {
        rng.tensor(&input_shape, edge_every)
    };

    let theirs = m.clone().into_optimized().unwrap();
    assert!(
        op_names(&theirs).iter().any(|n| n == "OptMatMul"),
        "{case:?}: tract did not run a matrix product: {:?}",
        op_names(&theirs)
    );
    let mut ours = m;
    ours.declutter().unwrap();
    assert_eq!(
        direct_conv::use_prova_direct_conv(&mut ours).unwrap(),
        1,
        "{case:?}"
    );
    ours.optimize().unwrap();
    let names = op_names(&ours);
    assert!(names.iter().any(|n| n == "ProvaDirectConv"), "{case:?}");
    assert!(
        !names.iter().any(|n| n.contains("MatMul")),
        "{case:?}: {names:?}"
    );

    let expected = run_bits(&theirs, &input);
    let what = format!("{case:?} seed {seed}");
    assert_same_bits_both_paths(
        &what,
        "baseline",
        &direct_conv::FORCE_BASELINE,
        &ours,
        &input,
        &expected,
    );
}

#[test]
fn same_bits_as_tracts_matrix_product() {
    // The comparison is with the exact profile's kernels, which need AVX; without it Prova
    // leaves the convolution to tract.
    if !std::arch::is_x86_feature_detected!("avx") {
        return;
    }
    prova_runtime::pin(Profile::Exact).unwrap();
    let mut cases = vec![
        // RGB stems: 3x3 stride 2 (MobileNet), 3x3 stride 1, 5x5 stride 2; grey 7x7.
        case(3, 16, [32, 32], [3, 3], [2, 2]),
        case(3, 8, [16, 20], [3, 3], [1, 1]),
        // The MobileNet's stem (rows of 32), and rows of 40 (the last pass of a row overlaps
        // the one before) with a channel count past one block.
        case(3, 16, [64, 64], [3, 3], [2, 2]),
        case(3, 11, [12, 40], [3, 3], [1, 1]),
        Case {
            pads: [2, 2, 2, 2],
            ..case(2, 13, [19, 23], [5, 5], [2, 2])
        },
        Case {
            pads: [3, 3, 3, 3],
            ..case(1, 9, [20, 20], [7, 7], [2, 2])
        },
        // Output channels below, at and past the block; non-square kernels, asymmetric pads.
        case(4, 1, [9, 17], [3, 3], [1, 1]),
        case(3, 3, [12, 12], [2, 2], [1, 1]),
        Case {
            pads: [0, 2, 1, 0],
            ..case(2, 10, [11, 14], [2, 5], [1, 2])
        },
        Case {
            pads: [0, 0, 0, 0],
            ..case(5, 12, [10, 12], [3, 1], [1, 1])
        },
        // Two taps per output: whole sums of signed zeros are common.
        Case {
            pads: [0, 0, 0, 1],
            ..case(1, 4, [9, 16], [1, 2], [1, 1])
        },
        Case {
            pads: [0, 0, 0, 1],
            ..case(1, 3, [5, 5], [1, 2], [1, 1])
        },
        // Stride 3 and rows narrower than a vector: the one-at-a-time loop.
        case(3, 6, [14, 14], [3, 3], [3, 3]),
        case(2, 5, [6, 6], [3, 3], [1, 1]),
        // Dilations.
        Case {
            dilations: [2, 2],
            pads: [2, 2, 2, 2],
            ..case(3, 7, [16, 16], [3, 3], [1, 1])
        },
        Case {
            dilations: [1, 2],
            ..case(2, 8, [12, 18], [3, 3], [2, 2])
        },
        // Batches, channel-first without a batch axis.
        Case {
            batch: Some(3),
            ..case(3, 4, [10, 16], [3, 3], [2, 2])
        },
        Case {
            batch: None,
            ..case(3, 8, [12, 16], [3, 3], [1, 1])
        },
    ];
    // Every geometry with each kind of bias, and with the element-wise steps after it.
    let more: Vec<Case> = cases
        .iter()
        .flat_map(|c| {
            [
                Case {
                    bias: Bias::Zero,
                    ..*c
                },
                Case {
                    bias: Bias::Scalar,
                    chain: Chain::BatchNormClip,
                    ..*c
                },
                Case {
                    chain: Chain::Mixed,
                    ..*c
                },
            ]
        })
        .collect();
    cases.extend(more);
    for (i, c) in cases.into_iter().enumerate() {
        for seed in 0..4 {
            check(c, 1000 * i as u64 + seed);
        }
    }
}

/// Longer sums (more than `MAX_TAPS` per output) and run-time weights stay with tract.
#[test]
fn leaves_long_sums_to_the_matrix_kernels() {
    if !std::arch::is_x86_feature_detected!("avx") {
        return;
    }
    // Before anything touches tract: the other test of this binary, which may run after this
    // one starts, pins the exact profile, and pinning fails once tract has probed the CPU.
    prova_runtime::pin(Profile::Exact).unwrap();
    let mut rng = Rng(7);
    let long = case(8, 16, [16, 16], [3, 3], [1, 1]);
    const { assert!(8 * 9 > direct_conv::MAX_TAPS) };
    let mut m = model(&long, &mut rng, 0).unwrap();
    m.declutter().unwrap();
    assert_eq!(direct_conv::use_prova_direct_conv(&mut m).unwrap(), 0);

    // Weights that are an input of the model, not a constant.
    let stem = case(3, 8, [16, 16], [3, 3], [1, 1]);
    let mut m = TypedModel::default();
    let x = m.add_source("x", f32::fact([1, 3, 16, 16])).unwrap();
    let k = m.add_source("k", f32::fact([8, 3, 3, 3])).unwrap();
    let b = m.add_const("b", tensor1(&[0.5f32; 8])).unwrap();
    let y = m.wire_node("conv", conv(&stem), &[x, k, b]).unwrap();
    m.select_output_outlets(&y).unwrap();
    m.declutter().unwrap();
    assert_eq!(direct_conv::use_prova_direct_conv(&mut m).unwrap(), 0);
}
