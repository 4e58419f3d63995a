//! Prova's row sums, RMS normalisation, softmax and exact Gelu (`rows::RowSum`,
//! `rows::RowRmsNorm`, `rows::RowSoftmax`, `rows::FusedGelu`) against tract's `Reduce<Sum>`,
//! `RmsNorm`, `Softmax` and `GeluExact` under the exact profile, bit for bit: plans of each op alone, rows of lengths on and off groups of four and
//! of eight (so rows on and off 16-byte boundaries), row counts on and off groups of eight,
//! inputs with signed zeros, subnormals, values that cancel, infinities and NaN, and rows of
//! only infinities; the vectorised code and the one-row (framed) code.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::rows;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::nn::gelu_exact::gelu_exact;
use tract_onnx::tract_core::ops::nn::{Reduce, Reducer, RmsNorm, Softmax, SoftmaxKind};

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

fn softmax_model(shape: &[usize]) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape)).unwrap();
    let op = Softmax::new(tvec!(shape.len() - 1), None, SoftmaxKind::Softmax);
    let y = model.wire_node("softmax", op, &[x]).unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model
}

fn gelu_model(shape: &[usize]) -> TypedModel {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact(shape)).unwrap();
    let y = model.wire_node("gelu", gelu_exact(), &[x]).unwrap()[0];
    model.select_output_outlets(&[y]).unwrap();
    model
}

/// tract's plan of `model` and Prova's, where `op` replaced tract's one op (`what` names the
/// case in failures).
fn plans(model: TypedModel, op: &str, what: &str) -> (TypedModel, TypedModel) {
    let theirs = model.into_optimized().unwrap();
    let mut ours = theirs.clone();
    assert_eq!(rows::use_row_ops(&mut ours).unwrap(), 1, "{op} {what}");
    assert_eq!(count(&ours, op), 1, "{op} {what}");
    (theirs, ours)
}

/// Prova's plan gives tract's `expected` bits on `input`, with its vectorised code and its
/// one-row code.
fn same_bits(what: &str, ours: &TypedModel, input: &Tensor, expected: &(Vec<usize>, Vec<u32>)) {
    assert_same_bits_both_paths(what, "scalar", &rows::FORCE_SCALAR, ours, input, expected);
}

fn check(model: TypedModel, shape: &[usize], op: &str, seed: u64) {
    let (theirs, ours) = plans(model, op, &format!("{shape:?}"));
    let mut rng = Rng(seed);
    for edge_every in [0, 13] {
        let input = rng.tensor(shape, edge_every);
        let expected = run_bits(&theirs, &input);
        let what = format!("{op} {shape:?} seed {seed} edges {edge_every}");
        same_bits(&what, &ours, &input, &expected);
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
        check(softmax_model(shape), shape, "ProvaSoftmax", 200 + i as u64);
        check(gelu_model(shape), shape, "ProvaGelu", 500 + i as u64);
        check(sum_model(shape), shape, "ProvaRowSum", i as u64);
        for eps in [1e-5, 0.0] {
            check(rms_model(shape, eps), shape, "ProvaRmsNorm", 100 + i as u64);
        }
    }
}

/// Exact Gelu on a sweep across erf's range (scaled by `1 / sqrt(2)`, where the polynomial and
/// `(y + 1)^16` round differently) and on edge values, lengths on and off groups of eight.
#[test]
fn gelu_same_bits_as_tracts() {
    common::pin_exact_or_native();
    for len in [1, 7, 8, 9, 4000] {
        let (theirs, ours) = plans(gelu_model(&[len]), "ProvaGelu", &format!("{len}"));
        let mut values: Vec<f32> = (0..len).map(|i| -9.0 + i as f32 * 0.0047).collect();
        let edges = [
            0.0,
            -0.0,
            1e-45,
            -1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            5.5,
        ];
        for (v, e) in values.iter_mut().step_by(97).zip(edges.iter().cycle()) {
            *v = *e;
        }
        let input = tract_ndarray::ArrayD::from_shape_vec(vec![len], values)
            .unwrap()
            .into_tensor();
        let expected = run_bits(&theirs, &input);
        same_bits(&format!("gelu {len}"), &ours, &input, &expected);
    }
}

/// Softmax rows of short lengths (one row part or none in tract's frame), of scores on the
/// scale of attention's (where the exponentials do not all underflow), and rows holding only
/// infinities or a lone NaN.
#[test]
fn softmax_same_bits_as_tracts() {
    common::pin_exact_or_native();
    for (i, shape) in [[6, 1], [10, 3], [7, 5], [4, 8], [9, 16], [4, 128]]
        .iter()
        .enumerate()
    {
        check(softmax_model(shape), shape, "ProvaSoftmax", 300 + i as u64);
    }
    let shape = [12, 24];
    let (theirs, ours) = plans(softmax_model(&shape), "ProvaSoftmax", "edge rows");
    let mut rng = Rng(400);
    let mut values = rng.values(12 * 24, 0);
    values.iter_mut().for_each(|v| *v *= 8.0);
    values[..24].fill(f32::NEG_INFINITY);
    values[24..48].fill(f32::INFINITY);
    values[48 + 5] = f32::NAN;
    values[72 + 23] = -f32::NAN;
    values[96 + 3] = f32::INFINITY;
    let input = tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), values)
        .unwrap()
        .into_tensor();
    let expected = run_bits(&theirs, &input);
    // Most rows come out as numbers: a test of NaNs alone would not see a misplaced value.
    let finite = expected
        .1
        .iter()
        .filter(|b| f32::from_bits(**b).is_finite())
        .count();
    assert!(finite * 2 > expected.1.len(), "{finite} finite outputs");
    same_bits("softmax edge rows", &ours, &input, &expected);
}

/// A sum over a row shorter than four is tract's plain sum, which Prova leaves alone.
#[test]
fn short_rows_stay_with_tract() {
    common::pin_exact_or_native();
    let mut plan = sum_model(&[10, 3]).into_optimized().unwrap();
    assert_eq!(rows::use_row_ops(&mut plan).unwrap(), 0);
}
