//! Prova's pack of k-major operands (`pack::FastPack`) against tract's packer: the same
//! bytes in every panel (values and the zeroed lanes past mn), for k and mn on and off the
//! sixteen-row panels; and plans whose products pack run-time k-major operands (a dense
//! layer on activations, attention's queries times keys, batched over heads) giving the same
//! output bits with and without it. Pure data movement, so any difference is a layout error.
//!
//! Both packs are checked where the CPU has them: the AVX-512F one (panels of sixteen, Prova's
//! matrix kernel's) and the AVX one (any panel width up to sixteen: tract's AVX kernel packs
//! its right operand six wide).

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, matrix_kernels, pack};
use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::AxisOp;
use tract_onnx::tract_core::ops::einsum::EinSum;
use tract_onnx::tract_core::tract_linalg::mmm::{EagerPackedInput, MMMInputValue};
use tract_onnx::tract_core::tract_linalg::pack::PackedFormat;

mod common;
use common::{Rng, assert_same_bits, run_bits};

fn count(plan: &TypedModel, name: &str) -> usize {
    plan.nodes.iter().filter(|n| n.op.name() == name).count()
}

#[test]
fn same_bytes_as_tracts_packer() {
    // Before tract's packer runs: the other test of this binary pins the exact profile, which
    // fails once tract has probed the CPU (the tests run in parallel, in any order).
    prova_runtime::pin(Profile::Exact).unwrap();
    let mut rng = Rng(7);
    let mut formats = vec![];
    for r in [1, 3, 4, 6, 8, 12, 16] {
        formats.push((PackedFormat::new(f32::datum_type(), r, 32), true));
    }
    formats.push((PackedFormat::new(f32::datum_type(), 6, 4), true));
    formats.push((PackedFormat::new(f32::datum_type(), 16, 4), true));
    if matrix_kernels::available() {
        formats.push((PackedFormat::new(f32::datum_type(), 16, 64), false));
        formats.push((PackedFormat::new(f32::datum_type(), 16, 4), false));
    } else {
        println!("no AVX-512F: only the AVX pack is checked");
    }
    for (format, avx_only) in formats {
        let r = format.r;
        for k in [1, 5, 8, 9, 16, 17, 31, 64, 100] {
            for mn in [1, 5, 6, 7, 16, 20, 33, 128] {
                let t = rng.tensor(&[mn, k], 3);
                let what = format!("k {k} mn {mn} ({format:?}, AVX only: {avx_only})");
                let ours = pack::pack_tensor(&format, &t, avx_only).unwrap();
                let theirs = format.pack_tensor(&t, 1, 0).unwrap();
                let theirs = theirs.downcast_ref::<EagerPackedInput>().unwrap();
                assert_eq!(ours.panel_bytes, theirs.panel_bytes, "{what}");
                assert_eq!(ours.packed.len(), theirs.packed.len(), "{what}");
                assert_eq!((ours.k(), ours.mn()), (theirs.k(), theirs.mn()));
                // Every panel's k steps of r lanes (the values, and zeros past mn); the end
                // padding records after them are never read.
                for p in 0..mn.div_ceil(r) {
                    let span = p * ours.panel_bytes..p * ours.panel_bytes + k * r * 4;
                    assert_eq!(
                        ours.packed[span.clone()],
                        theirs.packed[span],
                        "{what} panel {p}"
                    );
                }
                let (mut a, mut b) = (vec![0f32; k], vec![0f32; k]);
                for j in 0..mn {
                    ours.extract_at_mn_f32(j, &mut a).unwrap();
                    theirs.extract_at_mn_f32(j, &mut b).unwrap();
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&a), bits(&b), "{what} row {j}");
                }
            }
        }
    }
}

/// `x · W` on activations `[seq, d]` (k-major as the right operand), then `einsum` of two
/// slices of the result batched over heads (`hsd,htd->hst`: both operands k-major).
fn model(seq: usize, d: usize, f: usize, heads: usize, rng: &mut Rng) -> TractResult<TypedModel> {
    let mut model = TypedModel::default();
    let x = model.add_source("x", f32::fact([seq, d]))?;
    let w = model.add_const("w", rng.tensor(&[d, f], 0))?;
    let y = model.wire_node(
        "dense",
        EinSum::new("sd,df->sf".parse()?, f32::datum_type()),
        &[x, w],
    )?[0];
    let y = model.wire_node(
        "heads",
        AxisOp::Reshape(
            1,
            tvec!(f.to_dim()),
            tvec!(heads.to_dim(), (f / heads).to_dim()),
        ),
        &[y],
    )?[0];
    let y = model.wire_node("hsd", AxisOp::Move(1, 0), &[y])?[0];
    let z = model.wire_node(
        "scores",
        EinSum::new("hsd,htd->hst".parse()?, f32::datum_type()),
        &[y, y],
    )?[0];
    model.select_output_outlets(&[z])?;
    Ok(model)
}

#[test]
fn same_bits_as_tracts_plan() {
    prova_runtime::pin(Profile::Exact).unwrap();
    for (seq, d, f, heads) in [(128, 64, 64, 2), (40, 33, 48, 3), (17, 16, 32, 1)] {
        let mut rng = Rng(seq as u64);
        let m = model(seq, d, f, heads, &mut rng).unwrap();
        let theirs = m.into_optimized().unwrap();
        let mut ours = theirs.clone();
        let replaced = pack::use_fast_packs(&mut ours).unwrap();
        assert!(replaced >= 2, "{seq} {d} {f}: {replaced} packs replaced");
        assert_eq!(count(&ours, "ProvaPack"), replaced);
        for seed in 0..3 {
            // Edge values (NaN, infinities, subnormals, signed zeros) sparsely in two seeds.
            let input = rng.tensor(&[seq, d], if seed == 0 { 0 } else { 211 });
            let what = format!("seq {seq} d {d} f {f} heads {heads} seed {seed}");
            let (got, expected) = (run_bits(&ours, &input), run_bits(&theirs, &input));
            // Mostly finite outputs: a test of NaNs alone would not see a misplaced value.
            let finite = expected
                .1
                .iter()
                .filter(|b| f32::from_bits(**b).is_finite())
                .count();
            assert!(
                finite * 2 > expected.1.len(),
                "{what}: {finite} finite outputs"
            );
            assert_same_bits(&what, &got, &expected);
        }
    }
}
