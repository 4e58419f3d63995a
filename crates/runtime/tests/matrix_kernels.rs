//! Prova's AVX-512 matrix kernels against tract's AVX kernels, bit for bit.
//!
//! Each case is a matrix product (an `EinSum`) with an epilogue tract fuses into the kernel
//! (bias per row or per column, scalar multiply, clip, subtractions, a residual add), compiled
//! twice under the exact profile: with Prova's kernel tier (`prova_avx512_mmm_f32_16x16`, and
//! `prova_avx512_mmm_f32_64x1` for matrix-vector products) and
//! with it switched off (`FORCE_TRACT`: tract's `avx_mmm_f32_*`, which the conformance hashes
//! were computed with). Both run on the same inputs, full of edge values (signed zeros,
//! subnormals beside large factors, which the kernels' DAZ reads as zero, infinities, NaN,
//! products that overflow); every output must have the same bits (any NaN counting as the
//! canonical NaN). Shapes cover border tiles in m and n, short and long k, both output layouts
//! (n contiguous, as a convolution writes, and m contiguous), constant and run-time operands,
//! and batches. On a CPU without AVX-512F the tier must not pick Prova's AVX-512 kernels; with
//! AVX2, matrix-vector products run Prova's prefetching AVX kernel (`prova_avx_mmm_f32_64x1`),
//! compared here with tract's `avx_mmm_f32_64x1`.

#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, matrix_kernels};
use std::sync::atomic::Ordering;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::{change_axes::wire_with_rank_broadcast, einsum::EinSum, math};

mod common;
use common::{Rng, bits};

/// What follows the product, fused into the kernel by tract.
#[derive(Debug, Clone, Copy)]
enum Epilogue {
    None,
    /// `+ bias[m]` then `max(·, 0)` then `min(·, 6)` (a convolution's bias and Clip).
    RowBiasClip,
    /// `+ bias[n]`, `* 0.125`.
    ColBiasScale,
    /// `bias[m] - c`, then `c - bias[n]`.
    Subtractions,
    /// `+ residual[m, n]` (a run-time input).
    Residual,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    batch: Option<usize>,
    m: usize,
    k: usize,
    n: usize,
    /// The output is `n × m` (m contiguous) rather than `m × n`.
    transposed_output: bool,
    /// The left operand is a constant (weights, packed once) rather than an input.
    const_a: bool,
    epilogue: Epilogue,
}

fn model(case: &Case, rng: &mut Rng, edge_every: u64) -> TractResult<TypedModel> {
    let Case { m, k, n, .. } = *case;
    let b = case.batch.map(|b| vec![b]).unwrap_or_default();
    let shape = |dims: &[usize]| [b.as_slice(), dims].concat();
    let pre = if case.batch.is_some() { "b" } else { "" };
    let out = if case.transposed_output { "nm" } else { "mn" };
    let expr = format!("{pre}mk,{pre}kn->{pre}{out}");
    let mut model = TypedModel::default();
    let a = if case.const_a {
        model.add_const("a", rng.tensor(&shape(&[m, k]), edge_every))?
    } else {
        model.add_source("a", f32::fact(shape(&[m, k])))?
    };
    let x = model.add_source("x", f32::fact(shape(&[k, n])))?;
    let mut y = model.wire_node(
        "matmul",
        EinSum::new(expr.parse()?, f32::datum_type()),
        &[a, x],
    )?[0];
    // Shapes of a per-m and a per-n operand in the output's layout.
    let (per_m, per_n) = if case.transposed_output {
        (vec![1, m], vec![n, 1])
    } else {
        (vec![m, 1], vec![1, n])
    };
    let konst = |model: &mut TypedModel, name: &str, t: Tensor| model.add_const(name, t);
    let binary = |model: &mut TypedModel, name: &str, op: Box<dyn TypedOp>, l, r| {
        wire_with_rank_broadcast(name, model, op, &[l, r]).map(|w| w[0])
    };
    match case.epilogue {
        Epilogue::None => {}
        Epilogue::RowBiasClip => {
            let bias = konst(&mut model, "bias", rng.tensor(&per_m, edge_every))?;
            y = binary(&mut model, "add", Box::new(math::add()), y, bias)?;
            let zero = konst(&mut model, "zero", tensor0(0f32))?;
            y = binary(&mut model, "relu", Box::new(math::max()), y, zero)?;
            let six = konst(&mut model, "six", tensor0(6f32))?;
            y = binary(&mut model, "clip", Box::new(math::min()), y, six)?;
        }
        Epilogue::ColBiasScale => {
            let bias = konst(&mut model, "bias", rng.tensor(&per_n, edge_every))?;
            y = binary(&mut model, "add", Box::new(math::add()), y, bias)?;
            let s = konst(&mut model, "factor", tensor0(0.125f32))?;
            y = binary(&mut model, "scale", Box::new(math::mul()), y, s)?;
        }
        Epilogue::Subtractions => {
            let bm = konst(&mut model, "bm", rng.tensor(&per_m, edge_every))?;
            y = binary(&mut model, "sub1", Box::new(math::sub()), bm, y)?;
            let bn = konst(&mut model, "bn", rng.tensor(&per_n, edge_every))?;
            y = binary(&mut model, "sub2", Box::new(math::sub()), y, bn)?;
        }
        Epilogue::Residual => {
            let fact = model.outlet_fact(y)?.clone();
            let r = model.add_source("residual", fact.without_value())?;
            y = binary(&mut model, "add_residual", Box::new(math::add()), y, r)?;
        }
    }
    model.select_output_outlets(&[y])?;
    Ok(model)
}

/// The matrix kernels a plan runs (from tract's description of its matmul ops).
fn kernels_in(plan: &TypedModel) -> Vec<String> {
    plan.nodes
        .iter()
        .flat_map(|n| n.op.info().unwrap_or_default())
        .filter(|line| line.starts_with("Mult:"))
        .collect()
}

fn compile(model: &TypedModel, force_tract: bool) -> TypedModel {
    matrix_kernels::FORCE_TRACT.store(force_tract, Ordering::Relaxed);
    let plan = model.clone().into_optimized().unwrap();
    matrix_kernels::FORCE_TRACT.store(false, Ordering::Relaxed);
    plan
}

fn check(case: Case, seed: u64) {
    let edge_every = if seed.is_multiple_of(2) { 0 } else { 5 };
    let mut rng = Rng(seed);
    let m = model(&case, &mut rng, edge_every).unwrap();
    let inputs: TVec<TValue> = m
        .input_outlets()
        .unwrap()
        .iter()
        .map(|o| {
            let shape = m
                .outlet_fact(*o)
                .unwrap()
                .shape
                .as_concrete()
                .unwrap()
                .to_vec();
            rng.tensor(&shape, edge_every).into_tvalue()
        })
        .collect();

    let theirs = compile(&m, true);
    let ours = compile(&m, false);
    let (their_kernels, our_kernels) = (kernels_in(&theirs), kernels_in(&ours));
    let prova = |ks: &[String]| ks.iter().any(|k| k.contains("prova_avx512"));
    assert!(!prova(&their_kernels), "{case:?}: {their_kernels:?}");
    assert_eq!(
        prova(&our_kernels),
        matrix_kernels::available(),
        "{case:?}: Prova's kernel chosen iff the CPU has AVX-512F: {our_kernels:?}"
    );
    if case.n == 1 && !matrix_kernels::available() && std::arch::is_x86_feature_detected!("avx2") {
        assert!(
            our_kernels
                .iter()
                .any(|k| k.contains("prova_avx_mmm_f32_64x1")),
            "{case:?}: without AVX-512F a matrix-vector product runs Prova's AVX 64 × 1 kernel: \
             {our_kernels:?}"
        );
    }
    if case.n == 1 && matrix_kernels::available() {
        assert!(
            our_kernels
                .iter()
                .any(|k| k.contains("prova_avx512_mmm_f32_64x1")),
            "{case:?}: a matrix-vector product runs Prova's 64 × 1 kernel: {our_kernels:?}"
        );
    }

    let run = |plan: &TypedModel| {
        let out = plan
            .clone()
            .into_runnable()
            .unwrap()
            .run(inputs.clone())
            .unwrap();
        out[0].clone().into_tensor()
    };
    let (expected, got) = (run(&theirs), run(&ours));
    assert_eq!(got.shape(), expected.shape(), "{case:?}");
    let (e, g) = (bits(&expected), bits(&got));
    if let Some(i) = (0..g.len()).find(|&i| g[i] != e[i]) {
        panic!(
            "{case:?} seed {seed}: output {i} is {:?} ({:#x}), tract's AVX kernel gives {:?} ({:#x})",
            f32::from_bits(g[i]),
            g[i],
            f32::from_bits(e[i]),
            e[i]
        );
    }
}

#[test]
fn same_bits_as_tracts_avx_kernels() {
    if !std::arch::is_x86_feature_detected!("avx") {
        return; // the exact profile refuses to start (and Prova's kernel needs AVX-512F)
    }
    prova_runtime::pin(Profile::Exact).unwrap();
    let base = Case {
        batch: None,
        m: 64,
        k: 64,
        n: 64,
        transposed_output: false,
        const_a: true,
        epilogue: Epilogue::None,
    };
    let mut cases = vec![];
    // The encoder's and the MobileNet's products, then border tiles and long k.
    for (m, k, n) in [
        (256, 256, 128),
        (1024, 256, 128),
        (128, 64, 64),
        (16, 27, 1024),
        (16, 16, 16),
        (17, 16, 16),
        (33, 100, 47),
        (48, 1030, 20),
        (100, 17, 31),
        // Matrix-vector products (Prova's 64 × 1 kernel): an MLP's layers, border tiles.
        (2048, 1024, 1),
        (1000, 77, 1),
        (64, 16, 1),
        (10, 300, 1),
        (130, 3, 1),
    ] {
        for epilogue in [
            Epilogue::None,
            Epilogue::RowBiasClip,
            Epilogue::ColBiasScale,
            Epilogue::Subtractions,
            Epilogue::Residual,
        ] {
            for transposed_output in [false, true] {
                cases.push(Case {
                    m,
                    k,
                    n,
                    transposed_output,
                    epilogue,
                    ..base
                });
            }
        }
    }
    // Both operands at run time (attention), batched.
    for (m, k, n) in [(128, 64, 128), (128, 128, 64), (19, 33, 21), (70, 100, 1)] {
        for transposed_output in [false, true] {
            cases.push(Case {
                batch: Some(3),
                m,
                k,
                n,
                transposed_output,
                const_a: false,
                epilogue: Epilogue::Residual,
            });
        }
    }
    for (i, case) in cases.into_iter().enumerate() {
        for seed in [2 * i as u64, 2 * i as u64 + 1] {
            check(case, seed);
        }
    }
}
