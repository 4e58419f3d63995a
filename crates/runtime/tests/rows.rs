//! Prova's row sums and RMS normalisation (`rows::RowSum`, `rows::RowRmsNorm`) against tract's
//! `Reduce<Sum>` and `RmsNorm` under the exact profile, bit for bit: plans of each op alone
//! and of a LayerNorm as ONNX's is decluttered (mean, difference, RMS normalisation), rows of
//! lengths on and off groups of four and of eight, row counts on and off groups of eight,
//! inputs with signed zeros, subnormals, values that cancel, infinities and NaN; the eight-row
//! AVX code and the one-row code.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::rows;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, RmsNorm};

mod common;
use common::{Rng, assert_same_bits_both_paths, run_bits};

fn count(plan: &TypedModel, name: &str) -> usize {
    plan.nodes.iter().filter(|n| n.op.name() == name).count()
}

fn sum_model(shape: &[usize]) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape)).unwrap();
    let y = model
        .wire_node(
            "sum",
            Reduce::new(tvec!(shape.len() - 1), Reducer::Sum),
            &[x],
        )
        .unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model
}

fn rms_model(shape: &[usize], eps: f32) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape)).unwrap();
    let op = RmsNorm {
        axis: shape.len() - 1,
        eps: rctensor0(eps),
    };
    let y = model.wire_node("rms", op, &[x]).unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model
}

fn check(model: TypedModel, shape: &[usize], op: &str, seed: u64) {
    let theirs = model.into_optimized().unwrap();
    let mut ours = theirs.clone();
    assert_eq!(rows::use_row_ops(&mut ours).unwrap(), 1, "{op} {shape:?}");
    assert_eq!(count(&ours, op), 1, "{op} {shape:?}");
    let mut rng = Rng(seed);
    for edge_every in [0, 13] {
        let input = rng.tensor(shape, edge_every);
        let expected = run_bits(&theirs, &input);
        let what = format!("{op} {shape:?} seed {seed} edges {edge_every}");
        assert_same_bits_both_paths(
            &what,
            "scalar",
            &rows::FORCE_SCALAR,
            &ours,
            &input,
            &expected,
        );
    }
}

#[test]
fn same_bits_as_tracts_ops() {
    common::pin_exact_or_native();
    let shapes: [&[usize]; 8] = [
        &[1, 128, 256],
        &[17, 256],
        &[8, 4],
        &[9, 12],
        &[5, 7],
        &[3, 11, 36],
        &[2, 1000],
        &[24, 130],
    ];
    for (i, shape) in shapes.iter().enumerate() {
        check(sum_model(shape), shape, "ProvaRowSum", i as u64);
        for eps in [1e-5, 0.0] {
            check(rms_model(shape, eps), shape, "ProvaRmsNorm", 100 + i as u64);
        }
    }
}

/// A sum over a row shorter than four is tract's plain sum, which Prova leaves alone.
#[test]
fn short_rows_stay_with_tract() {
    common::pin_exact_or_native();
    let mut plan = sum_model(&[10, 3]).into_optimized().unwrap();
    assert_eq!(rows::use_row_ops(&mut plan).unwrap(), 0);
}
