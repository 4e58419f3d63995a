//! What the bit-for-bit kernel tests share: reproducible values full of edge cases, and the
//! bits of an output with NaNs canonical.

// Each test binary uses the part it needs.
#![allow(dead_code)]

use tract_onnx::prelude::*;

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
