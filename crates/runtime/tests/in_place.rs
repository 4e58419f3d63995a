//! Products that read their activation in place (`in_place::InPlaceMatMul`) against tract's
//! packed product, bit for bit.
//!
//! Each case is a pointwise (1×1) convolution built as a tract model, optionally followed by
//! element-wise steps with constant operands (which tract fuses into the product), optimised
//! by tract under the exact profile (its pack, then the product in Prova's AVX-512 kernel in
//! tract's frame), then the same plan with `use_in_place_products`. Both run on inputs full of
//! edge values (signed zeros, subnormals, which the kernel's DAZ reads as zero, infinities,
//! NaN, values whose products overflow); every output must have the same bits (NaNs
//! canonical). Geometries put the activation on either side of the product (tract packs the
//! larger one as the left operand), with pixel counts and channel counts that are and are not
//! whole tiles (the padded panel copy and the scratch tile), k from 1 to 130.
//!
//! On a CPU with AVX-512F every case runs twice: against Prova's kernel in tract's frame (the
//! in-place product then runs the same kernel's tile), and with tract's AVX kernels
//! (`FORCE_TRACT`, what a CPU without AVX-512F plans: the in-place product then runs its
//! 256-bit tile, `kernels::tile_avx`). Elsewhere the AVX tile runs once against tract's AVX
//! kernels.
//! On a CPU without AVX nothing is replaced; the test says so and checks only that.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, in_place, matrix_kernels};
use std::sync::atomic::Ordering;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::cnn::{Conv, KernelFormat, PaddingSpec, PoolSpec};
use tract_onnx::tract_core::ops::nn::DataFormat;

mod common;
use common::{Chain, Rng, assert_same_bits, run_bits, wire_chain};

#[derive(Debug, Clone, Copy)]
struct Case {
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    /// Whether the convolution has a bias (one value per output channel).
    bias: bool,
    chain: Chain,
}

fn case(c_in: usize, c_out: usize, hw: [usize; 2], chain: Chain) -> Case {
    Case {
        c_in,
        c_out,
        hw,
        bias: true,
        chain,
    }
}

fn model(case: &Case, rng: &mut Rng, edge_every: u64) -> TractResult<TypedModel> {
    let shape = [1, case.c_in, case.hw[0], case.hw[1]];
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape))?;
    let conv = Conv {
        pool_spec: PoolSpec {
            data_format: DataFormat::NCHW,
            kernel_shape: tvec!(1, 1),
            padding: PaddingSpec::Valid,
            dilations: None,
            strides: None,
            input_channels: case.c_in,
            output_channels: case.c_out,
        },
        kernel_fmt: KernelFormat::OIHW,
        group: 1,
        q_params: None,
    };
    let kernel = rng.tensor(&[case.c_out, case.c_in, 1, 1], edge_every);
    let bias = if case.bias {
        tensor1(&rng.values(case.c_out, edge_every))
    } else {
        tensor1(&vec![0.0f32; case.c_out])
    };
    let k = model.add_const("kernel", kernel)?;
    let b = model.add_const("bias", bias)?;
    let mut y = model.wire_node("conv", conv, &[x, k, b])?[0];
    y = wire_chain(&mut model, y, case.chain, case.c_out, 4, rng, edge_every)?;
    model.select_output_outlets(&[y])?;
    Ok(model)
}

fn count(plan: &TypedModel, name: &str) -> usize {
    plan.nodes.iter().filter(|n| n.op.name() == name).count()
}

/// Checks `case` with Prova's AVX-512 kernel (where the CPU has it and `force_tract` is
/// false) or tract's AVX kernels in the packed plan, so the AVX-512 tile or the AVX tile in
/// the in-place one.
fn check(case: Case, seed: u64, force_tract: bool) {
    let edge_every = if seed.is_multiple_of(2) { 0 } else { 5 };
    let mut rng = Rng(seed);
    let m = model(&case, &mut rng, edge_every).unwrap();
    let input = rng.tensor(&[1, case.c_in, case.hw[0], case.hw[1]], edge_every);
    matrix_kernels::FORCE_TRACT.store(force_tract, Ordering::Relaxed);
    let theirs = m.into_optimized().unwrap();
    matrix_kernels::FORCE_TRACT.store(false, Ordering::Relaxed);
    let mut ours = theirs.clone();
    let replaced = in_place::use_in_place_products(&mut ours).unwrap();
    let pixels = case.hw[0] * case.hw[1];
    // Either tile takes products whose m, k and n are all at least 16, on a CPU with AVX.
    let expected = usize::from(
        std::arch::is_x86_feature_detected!("avx") && case.c_in.min(case.c_out).min(pixels) >= 16,
    );
    let tile = if matrix_kernels::available() && !force_tract {
        "AVX-512"
    } else {
        "AVX"
    };
    let case_tile = format!("{case:?}, {tile} tile");
    assert_eq!(replaced, expected, "{case_tile}");
    assert_eq!(count(&ours, "ProvaInPlaceMatMul"), expected, "{case_tile}");
    if expected == 1 {
        assert_eq!(
            count(&ours, "OptMatMulPack"),
            0,
            "{case_tile}: the pack is gone"
        );
    }
    let what = format!("{case_tile} seed {seed}");
    assert_same_bits(&what, &run_bits(&ours, &input), &run_bits(&theirs, &input));
}

#[test]
fn same_bits_as_the_packed_product() {
    prova_runtime::pin(Profile::Exact).unwrap();
    if !std::arch::is_x86_feature_detected!("avx") {
        println!("no AVX: tract's portable kernels run, so no product is replaced");
    }
    let mut cases = vec![
        // A MobileNet's four: the activation on the left (m = pixels), then on the right.
        case(16, 32, [32, 32], Chain::BatchNormClip),
        case(32, 64, [16, 16], Chain::BatchNormClip),
        case(64, 128, [8, 8], Chain::BatchNormClip),
        case(128, 128, [8, 8], Chain::BatchNormClip),
        // Pixel counts that are not whole tiles (7×7, 14×14, 5×7), on either side.
        case(24, 40, [7, 7], Chain::BatchNormClip),
        case(96, 24, [14, 14], Chain::Mixed),
        case(16, 200, [5, 7], Chain::Mixed),
        case(20, 17, [5, 7], Chain::Zeros),
        // Channels that are not whole tiles; long and odd k.
        case(33, 48, [3, 11], Chain::Mixed),
        case(130, 18, [6, 6], Chain::Zeros),
        case(17, 31, [4, 4], Chain::None),
        // Too small for Prova's kernel (k, m or n below 16): left to tract.
        case(1, 32, [8, 8], Chain::BatchNormClip),
        case(16, 5, [8, 8], Chain::None),
        case(16, 32, [3, 3], Chain::None),
    ];
    cases.push(Case {
        bias: false,
        ..case(32, 32, [9, 9], Chain::None)
    });
    cases.push(Case {
        bias: false,
        ..case(48, 16, [16, 16], Chain::Mixed)
    });
    // On a CPU with AVX-512F, both tiles: Prova's kernel, then tract's AVX kernels (what a
    // CPU without AVX-512F plans). Elsewhere tract's AVX kernels run either way: once.
    let forced: &[bool] = if matrix_kernels::available() {
        &[false, true]
    } else {
        &[false]
    };
    for &force_tract in forced {
        for (i, case) in cases.iter().enumerate() {
            for seed in 0..4 {
                check(*case, 1000 * i as u64 + seed, force_tract);
            }
        }
    }
}
