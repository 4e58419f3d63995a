//! What the bit-for-bit kernel tests share: reproducible values full of edge cases, and the
//! bits of an output with NaNs canonical.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use tract_onnx::prelude::*;
use tract_onnx::tract_core::ops::change_axes::wire_with_rank_broadcast;
use tract_onnx::tract_core::ops::math;

/// Pins the exact profile, which needs AVX; on a CPU without it (Nehalem in the matrix) the
/// native one, whose kernels are then the portable ones the exact profile would run, so
/// Prova's ops and tract's are compared there too.
pub fn pin_exact_or_native() {
    let profile = if std::arch::is_x86_feature_detected!("avx") {
        prova_runtime::Profile::Exact
    } else {
        prova_runtime::Profile::Native
    };
    prova_runtime::pin(profile).unwrap();
}

/// splitmix64: reproducible values without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Mostly ordinary values in (-2, 2), with one in `edge_every` an edge value: signed zeros,
    /// infinities, NaN, subnormals (which DAZ reads as zero), and magnitudes whose products
    /// overflow or, beside a subnormal, would not.
    pub fn value(&mut self, edge_every: u64) -> f32 {
        const EDGES: [f32; 12] = [
            0.0,
            -0.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1e-40,
            -1e-40,
            3e38,
            -3e38,
            f32::MIN_POSITIVE,
            1e30,
            -1e-39,
        ];
        let r = self.next();
        if edge_every > 0 && r.is_multiple_of(edge_every) {
            EDGES[(r >> 32) as usize % EDGES.len()]
        } else {
            ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 4.0
        }
    }

    pub fn values(&mut self, n: usize, edge_every: u64) -> Vec<f32> {
        (0..n).map(|_| self.value(edge_every)).collect()
    }

    pub fn tensor(&mut self, shape: &[usize], edge_every: u64) -> Tensor {
        let v = self.values(shape.iter().product(), edge_every);
        tract_ndarray::ArrayD::from_shape_vec(shape.to_vec(), v)
            .unwrap()
            .into_tensor()
    }
}

/// The bits of an f32 tensor's values, every NaN as the canonical one.
pub fn bits(t: &Tensor) -> Vec<u32> {
    t.try_as_plain_ram()
        .unwrap()
        .as_slice::<f32>()
        .unwrap()
        .iter()
        // A NaN's sign and payload are not part of the arithmetic (x86 hands out the first
        // operand's NaN, and compilers may swap an add's operands); Prova canonicalises NaNs
        // in outputs (docs/determinism.md, "NaN").
        .map(|v| if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() })
        .collect()
}

/// Element-wise operations after a convolution, with constant operands (which Prova fuses
/// into its op where tract would run them as by-scalar kernels).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Chain {
    None,
    /// A BatchNorm and a Clip: `* slope[c]`, `+ shift[c]`, `max(·, 0)`, `min(·, 6)`.
    BatchNormClip,
    /// Every step kind, operands on either side: `max(m[c], ·)`, `· - a[c]`, `min(·, s)`,
    /// `b[c] - ·`, `t * ·`, `d[c] + ·`, edge values as operands.
    Mixed,
    /// Signed zeros against signed zeros: `· * z[c]` (mostly ±0), `max(·, -0)`, `min(·, 0)`,
    /// `max(·, z'[c])`, `min(·, z''[c])`.
    Zeros,
}

/// Wires `chain` after `y`, a convolution's output of rank `rank` with `c` channels third
/// from last; operands one per channel (`[1, C, 1, 1]` or `[C, 1, 1]`) or one for all, drawn
/// from `rng` (one in `edge_every` an edge value). Returns the chain's output.
pub fn wire_chain(
    model: &mut TypedModel,
    mut y: OutletId,
    chain: Chain,
    c: usize,
    rank: usize,
    rng: &mut Rng,
    edge_every: u64,
) -> TractResult<OutletId> {
    let mut per_channel = vec![1; rank];
    per_channel[rank - 3] = c;
    let operand = |model: &mut TypedModel, values: Vec<f32>| {
        let dims = if values.len() == 1 {
            vec![1; rank]
        } else {
            per_channel.clone()
        };
        let t = tract_ndarray::ArrayD::from_shape_vec(dims, values)
            .unwrap()
            .into_tensor();
        let name = format!("operand{}", model.nodes.len());
        model.add_const(name, t)
    };
    let zeros = |rng: &mut Rng, n: usize| -> Vec<f32> {
        (0..n)
            .map(|_| match rng.next() % 4 {
                0 => 0.0,
                1 => -0.0,
                2 => f32::NAN,
                _ => rng.value(3),
            })
            .collect()
    };
    let edges = edge_every.max(3);
    use math::{add, max, min, mul, sub};
    // (operation, operand values, the operand is the left input)
    let steps: Vec<(Box<dyn TypedOp>, Vec<f32>, bool)> = match chain {
        Chain::None => vec![],
        Chain::BatchNormClip => vec![
            (Box::new(mul()), rng.values(c, edge_every), false),
            (Box::new(add()), rng.values(c, edge_every), false),
            (Box::new(max()), vec![0.0], false),
            (Box::new(min()), vec![6.0], false),
        ],
        Chain::Mixed => vec![
            (Box::new(max()), rng.values(c, edges), true),
            (Box::new(sub()), rng.values(c, edges), false),
            (Box::new(min()), rng.values(1, 2), false),
            (Box::new(sub()), rng.values(c, edges), true),
            // An ordinary factor: tract folds a product by zero away.
            (Box::new(mul()), rng.values(1, 0), true),
            (Box::new(add()), rng.values(c, edges), true),
        ],
        Chain::Zeros => vec![
            // One ordinary factor: tract folds a product by all zeros away (into zeros).
            (
                Box::new(mul()),
                [vec![0.75], zeros(rng, c - 1)].concat(),
                false,
            ),
            (Box::new(max()), vec![-0.0], false),
            (Box::new(min()), vec![0.0], false),
            (Box::new(max()), zeros(rng, c), false),
            (Box::new(min()), zeros(rng, c), true),
        ],
    };
    for (i, (op, values, left)) in steps.into_iter().enumerate() {
        let v = operand(model, values)?;
        let inputs = if left { [v, y] } else { [y, v] };
        y = wire_with_rank_broadcast(format!("step{}.{i}", y.node), model, op, &inputs)?[0];
    }
    Ok(y)
}

/// The first output of `plan` run on `input`: its shape and [`bits`].
pub fn run_bits(plan: &TypedModel, input: &Tensor) -> (Vec<usize>, Vec<u32>) {
    let out = plan
        .clone()
        .into_runnable()
        .unwrap()
        .run(tvec!(input.clone().into_tvalue()))
        .unwrap();
    let t = out[0].clone().into_tensor();
    (t.shape().to_vec(), bits(&t))
}

/// Panics, naming `what` and the first output that differs, unless `got` has `expected`'s
/// shape and bits.
pub fn assert_same_bits(
    what: &str,
    got: &(Vec<usize>, Vec<u32>),
    expected: &(Vec<usize>, Vec<u32>),
) {
    assert_eq!(got.0, expected.0, "{what}: output shape");
    if let Some(i) = (0..got.1.len()).find(|&i| got.1[i] != expected.1[i]) {
        panic!(
            "{what}: output {i} is {:?} ({:#x}), tract gives {:?} ({:#x})",
            f32::from_bits(got.1[i]),
            got.1[i],
            f32::from_bits(expected.1[i]),
            expected.1[i]
        );
    }
}

/// Runs `ours` on `input` with the test flag `forced` off (a kernel's own path) and then on
/// (the path it forces: baseline, scalar) and checks both against `expected`; failures name
/// `what` and `flag`'s state. Leaves the flag off.
pub fn assert_same_bits_both_paths(
    what: &str,
    flag: &str,
    forced: &std::sync::atomic::AtomicBool,
    ours: &TypedModel,
    input: &Tensor,
    expected: &(Vec<usize>, Vec<u32>),
) {
    use std::sync::atomic::Ordering;
    for on in [false, true] {
        forced.store(on, Ordering::Relaxed);
        let what = format!("{what} {flag} {on}");
        assert_same_bits(&what, &run_bits(ours, input), expected);
    }
    forced.store(false, Ordering::Relaxed);
}
