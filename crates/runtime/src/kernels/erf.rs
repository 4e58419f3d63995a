//! `erf` (exact Gelu's inner function) with tract's portable arithmetic, vectorised with AVX.
//!
//! tract's portable kernel (`generic_erf_f32_4n`) is a degree-6 polynomial in `|x|` with
//! separate multiplies and adds, then `1 - 1 / (y + 1)^16` (four squarings) and `x`'s sign:
//! IEEE operations, each rounded once, on each element alone. Under the exact profile (no FMA
//! for tract) tract has no vectorised kernel for it, and the portable loop was an eighth of a
//! transformer encoder block's time (docs/performance.md). [`Erf`] runs the same operations
//! eight lanes at a time with AVX, which gives the same bits on every CPU, and tract's portable
//! kernel on a CPU without AVX (checked against it on edge values in this module's tests).

use tract_onnx::tract_core::tract_linalg::{
    element_wise::ElementWiseKer, generic::erf::generic_erf_f32_4n,
};

/// The kernel; tract's frame (`ElementWiseImpl`) hands it the same blocks as the portable one.
#[derive(Debug, Clone, Copy)]
pub struct Erf;

type Portable = generic_erf_f32_4n;

impl ElementWiseKer<f32> for Erf {
    fn name() -> &'static str {
        "prova_erf_f32"
    }

    fn alignment_items() -> usize {
        <Portable as ElementWiseKer<f32>>::alignment_items()
    }

    fn nr() -> usize {
        <Portable as ElementWiseKer<f32>>::nr()
    }

    fn run(x: &mut [f32], _: ()) {
        if avx() {
            // SAFETY: the CPU has AVX.
            unsafe { avx::erf(x) }
        } else {
            <Portable as ElementWiseKer<f32>>::run(x, ())
        }
    }
}

/// Whether this CPU runs the vectorised kernel.
fn avx() -> bool {
    std::arch::is_x86_feature_detected!("avx")
}

mod avx {
    use std::arch::x86_64::*;

    /// The portable kernel's coefficients, `a1` to `a6`.
    #[allow(clippy::excessive_precision)]
    const A: [f32; 6] = [
        0.0705230784,
        0.0422820123,
        0.0092705272,
        0.0001520143,
        0.0002765672,
        0.0000430638,
    ];

    /// # Safety
    /// AVX.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn erf(x: &mut [f32]) {
        let mut eights = x.chunks_exact_mut(8);
        for chunk in &mut eights {
            // SAFETY: `chunk` holds eight floats.
            let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), erf8(v)) };
        }
        let rest = eights.into_remainder();
        if !rest.is_empty() {
            <super::Portable as super::ElementWiseKer<f32>>::run(rest, ());
        }
    }

    /// Eight elements, each as the portable kernel computes it.
    #[inline]
    #[target_feature(enable = "avx")]
    pub(crate) fn erf8(v: __m256) -> __m256 {
        let sign = _mm256_set1_ps(-0.0);
        let one = _mm256_set1_ps(1.0);
        let abs = _mm256_andnot_ps(sign, v);
        let mut y = _mm256_mul_ps(_mm256_set1_ps(A[5]), abs);
        for a in A[..5].iter().rev() {
            y = _mm256_mul_ps(_mm256_add_ps(_mm256_set1_ps(*a), y), abs);
        }
        // (y + 1)^16 by four squarings, as `powi(16)` computes it.
        let mut p = _mm256_add_ps(y, one);
        for _ in 0..4 {
            p = _mm256_mul_ps(p, p);
        }
        let y = _mm256_sub_ps(one, _mm256_div_ps(one, p));
        // `copysign(y, signum(x))`: x's sign bit (a NaN's result is NaN either way).
        _mm256_or_ps(_mm256_andnot_ps(sign, y), _mm256_and_ps(sign, v))
    }
}

/// Exact Gelu (tract's `GeluExact` on f32) on `x` in place where the CPU has AVX: per value
/// `(x * 0.5) * (erf(x * c) + 1)`, `c` tract's `1 / sqrt(2)`, each operation rounded as tract's
/// op rounds it (its chunked loop: the scaled copy, the erf kernel, the combination), eight
/// values at a time, the last few through a zero-padded vector. Returns `false` (and leaves
/// `x` alone) without AVX.
pub(crate) fn gelu_exact(x: &mut [f32], c: f32) -> bool {
    if !avx() {
        return false;
    }
    // SAFETY: the CPU has AVX.
    unsafe { gelu_avx(x, c) };
    true
}

#[target_feature(enable = "avx")]
fn gelu_avx(x: &mut [f32], c: f32) {
    use std::arch::x86_64::*;
    let (vc, half, one) = (_mm256_set1_ps(c), _mm256_set1_ps(0.5), _mm256_set1_ps(1.0));
    #[inline]
    #[target_feature(enable = "avx")]
    fn gelu8(v: __m256, c: __m256, half: __m256, one: __m256) -> __m256 {
        let e = avx::erf8(_mm256_mul_ps(v, c));
        _mm256_mul_ps(_mm256_mul_ps(v, half), _mm256_add_ps(e, one))
    }
    let mut eights = x.chunks_exact_mut(8);
    for chunk in &mut eights {
        // SAFETY: `chunk` holds eight floats.
        let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        // SAFETY: as above.
        unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), gelu8(v, vc, half, one)) };
    }
    let rest = eights.into_remainder();
    if !rest.is_empty() {
        let mut padded = [0f32; 8];
        padded[..rest.len()].copy_from_slice(rest);
        // SAFETY: eight floats.
        unsafe {
            let v = _mm256_loadu_ps(padded.as_ptr());
            _mm256_storeu_ps(padded.as_mut_ptr(), gelu8(v, vc, half, one));
        }
        rest.copy_from_slice(&padded[..rest.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through tract's frame, which aligns and pads blocks for both kernels alike.
    fn run(x: &[f32], portable: bool) -> Vec<u32> {
        let mut v = x.to_vec();
        if portable {
            Portable::ew().run(&mut v)
        } else {
            assert!(avx(), "this test needs a CPU with AVX");
            Erf::ew().run(&mut v)
        }
        .unwrap();
        v.into_iter()
            .map(|f| if f.is_nan() { 0x7fc0_0000 } else { f.to_bits() })
            .collect()
    }

    /// The vectorised kernel gives the portable kernel's bits on every length, on a sweep
    /// across erf's range and on edge values (signed zeros, subnormals, infinities, NaN,
    /// the largest values, where `(y + 1)^16` overflows).
    #[test]
    fn same_bits_as_the_portable_kernel() {
        if !avx() {
            eprintln!("skipped: no AVX on this CPU");
            return;
        }
        let edges = [
            0.0,
            -0.0,
            1e-45,
            -1e-45,
            1e-38,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            1e10,
            -1e10,
            3.9,
            -3.9,
        ];
        for len in 0..40 {
            let x: Vec<f32> = (0..len)
                .map(|i| edges[i % edges.len()] * if i % 3 == 0 { 1.0 } else { -1.0 })
                .collect();
            assert_eq!(run(&x, false), run(&x, true), "{x:?}");
        }
        let sweep: Vec<f32> = (0..400_000).map(|i| -12.0 + i as f32 * 0.000_06).collect();
        assert_eq!(run(&sweep, false), run(&sweep, true));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let random: Vec<f32> = (0..100_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                f32::from_bits((state >> 32) as u32)
            })
            .collect();
        assert_eq!(run(&random, false), run(&random, true));
    }
}
