//! Softmax's `exp(x - max)`-and-sum with tract's portable arithmetic, vectorised with FMA.
//!
//! tract's portable kernel (`SSoftMaxL2Accurate`) computes, per element, a Cody-Waite
//! reduction and a degree-6 polynomial with `f32::mul_add` (eight fused multiply-adds), and
//! sums four interleaved accumulators. On x86-64 without `-C target-feature=+fma` every
//! `mul_add` is a call into the C-ABI `fmaf`, which is most of the exact profile's softmax
//! time (attention scores: a fifth of a transformer encoder block, docs/performance.md).
//!
//! A fused multiply-add is one correctly rounded operation: `fmaf`, in hardware or in
//! software, and `vfmadd` on eight lanes give the same bits. [`ExpSum`] therefore runs the
//! portable kernel's exact sequence of operations eight lanes at a time with FMA where the CPU
//! has FMA and AVX2, and tract's portable kernel itself everywhere else: the same bits on
//! every CPU (checked against the portable kernel on edge values in this module's tests and,
//! through the operator fixtures, by the determinism matrix). The only integer step,
//! `kf as i32`, differs from `cvttps2dq` for NaN and out-of-range `kf`, where the result is a
//! NaN or is selected to zero either way.

use tract_onnx::tract_core::tract_linalg::{
    generic::reduce::softmax_l2::SSoftMaxL2Accurate, reduce::MapReduceKer,
};

/// The kernel: tract's frame (`MapReduceImpl`) splits rows and pads them exactly as for the
/// portable kernel, whose blocking, alignment and neutral elements this one shares.
#[derive(Debug, Clone, Copy)]
pub struct ExpSum;

type Portable = SSoftMaxL2Accurate;

impl MapReduceKer<f32, f32> for ExpSum {
    fn name() -> &'static str {
        "prova_exp_sum_f32"
    }

    fn alignment_items() -> usize {
        <Portable as MapReduceKer<f32, f32>>::alignment_items()
    }

    fn nr() -> usize {
        <Portable as MapReduceKer<f32, f32>>::nr()
    }

    fn map_neutral() -> f32 {
        <Portable as MapReduceKer<f32, f32>>::map_neutral()
    }

    fn reduce_neutral() -> f32 {
        <Portable as MapReduceKer<f32, f32>>::reduce_neutral()
    }

    fn reduce_two(a: f32, b: f32) -> f32 {
        <Portable as MapReduceKer<f32, f32>>::reduce_two(a, b)
    }

    fn run(x: &mut [f32], max: f32) -> f32 {
        if fma() {
            // SAFETY: the CPU has AVX2 and FMA.
            unsafe { fma_avx2::exp_sum(x, max) }
        } else {
            <Portable as MapReduceKer<f32, f32>>::run(x, max)
        }
    }
}

/// What tract's frame (`MapReduceImpl`) returns for [`ExpSum`] on `row` with `max`, and the
/// `exp(x - max)` it leaves in `row`, where the frame hands the whole row to the kernel in one
/// part (`row` starts on the kernel's alignment and has a multiple of its `nr` values) and the
/// CPU runs the vectorised kernel: the kernel's sum folded into the frame's neutral value.
/// `None` (and `row` untouched) otherwise.
pub(crate) fn exp_sum_one_part(row: &mut [f32], max: f32) -> Option<f32> {
    type K = ExpSum;
    let one_part = row.as_ptr().align_offset(K::alignment_bytes()) == 0
        && row.len().is_multiple_of(K::nr())
        && !row.is_empty();
    if !one_part || !fma() {
        return None;
    }
    // SAFETY: the CPU has AVX2 and FMA.
    let sum = unsafe { fma_avx2::exp_sum(row, max) };
    Some(K::reduce_two(K::reduce_neutral(), sum))
}

/// Whether this CPU runs the vectorised kernel.
fn fma() -> bool {
    std::arch::is_x86_feature_detected!("fma") && std::arch::is_x86_feature_detected!("avx2")
}

mod fma_avx2 {
    use std::arch::x86_64::*;

    // The portable kernel's constants: its Cody-Waite reduction (`ln 2` split in two, the
    // rounding constant) and degree-6 polynomial, highest power first (tract writes them out
    // again in the softmax kernel; the tests compare against that kernel).
    use tract_onnx::tract_core::tract_linalg::generic::exp::{LN2_HI, LN2_LO, LOG2E, MAGIC, POLY};

    /// One element, as the portable kernel computes it (`mul_add` is `vfmadd` here).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp1(x: f32) -> f32 {
        let kf = (x * LOG2E + MAGIC) - MAGIC;
        let rr = kf.mul_add(-LN2_LO, kf.mul_add(-LN2_HI, x));
        let mut q = POLY[0];
        for c in &POLY[1..] {
            q = q.mul_add(rr, *c);
        }
        let k = kf as i32;
        let scale = f32::from_bits(((k.wrapping_add(127)).clamp(1, 254) as u32) << 23);
        #[allow(clippy::manual_range_contains)]
        if x < -103.0 || x > 0.0 {
            0.0
        } else {
            q * scale
        }
    }

    /// Eight elements: the same operations per lane.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn exp8(x: __m256) -> __m256 {
        let kf = _mm256_sub_ps(
            _mm256_add_ps(
                _mm256_mul_ps(x, _mm256_set1_ps(LOG2E)),
                _mm256_set1_ps(MAGIC),
            ),
            _mm256_set1_ps(MAGIC),
        );
        let r = _mm256_fmadd_ps(kf, _mm256_set1_ps(-LN2_HI), x);
        let rr = _mm256_fmadd_ps(kf, _mm256_set1_ps(-LN2_LO), r);
        let mut q = _mm256_set1_ps(POLY[0]);
        for c in &POLY[1..] {
            q = _mm256_fmadd_ps(q, rr, _mm256_set1_ps(*c));
        }
        let k = _mm256_cvttps_epi32(kf);
        let biased = _mm256_min_epi32(
            _mm256_max_epi32(
                _mm256_add_epi32(k, _mm256_set1_epi32(127)),
                _mm256_set1_epi32(1),
            ),
            _mm256_set1_epi32(254),
        );
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(biased));
        let out = _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(-103.0)),
            _mm256_cmp_ps::<_CMP_GT_OQ>(x, _mm256_set1_ps(0.0)),
        );
        _mm256_blendv_ps(_mm256_mul_ps(q, scale), _mm256_setzero_ps(), out)
    }

    /// The portable kernel's loop: four accumulators, element `i` into accumulator `i % 4`
    /// in order, then `(a0 + a1) + (a2 + a3)`, then the tail one by one.
    ///
    /// # Safety
    /// AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn exp_sum(x: &mut [f32], max: f32) -> f32 {
        let vmax = _mm256_set1_ps(max);
        let mut acc = _mm_setzero_ps();
        let mut eights = x.chunks_exact_mut(8);
        for chunk in &mut eights {
            // SAFETY: `chunk` holds eight floats.
            let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
            let y = exp8(_mm256_sub_ps(v, vmax));
            // SAFETY: as above.
            unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), y) };
            acc = _mm_add_ps(acc, _mm256_castps256_ps128(y));
            acc = _mm_add_ps(acc, _mm256_extractf128_ps::<1>(y));
        }
        let mut lanes = [0f32; 4];
        // SAFETY: `lanes` holds four floats.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), acc) };
        let rest = eights.into_remainder();
        let mut fours = rest.chunks_exact_mut(4);
        for chunk in &mut fours {
            for (v, a) in chunk.iter_mut().zip(lanes.iter_mut()) {
                let y = exp1(*v - max);
                *v = y;
                *a += y;
            }
        }
        let mut sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        for v in fours.into_remainder() {
            let y = exp1(*v - max);
            *v = y;
            sum += y;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Through tract's frame, which aligns and pads rows for both kernels alike.
    fn run(x: &[f32], max: f32, portable: bool) -> (Vec<u32>, u32) {
        use tract_onnx::tract_core::tract_linalg::reduce::{MapReduce, MapReduceImpl};
        let mut v = x.to_vec();
        let sum = if portable {
            MapReduceImpl::<Portable, f32, f32>::new().run_with_params(&mut v, max)
        } else {
            assert!(fma(), "this test needs a CPU with FMA and AVX2");
            MapReduceImpl::<ExpSum, f32, f32>::new().run_with_params(&mut v, max)
        }
        .unwrap();
        let canon = |f: f32| if f.is_nan() { 0x7fc0_0000 } else { f.to_bits() };
        (v.into_iter().map(canon).collect(), canon(sum))
    }

    /// The vectorised kernel gives the portable kernel's bits on every length and on edge
    /// values: the whole range of `exp` (underflow to subnormals and zero, the `-103` and `0`
    /// cut-offs), infinities, NaN and signed zeros.
    #[test]
    fn same_bits_as_the_portable_kernel() {
        if !fma() {
            eprintln!("skipped: no FMA/AVX2 on this CPU");
            return;
        }
        let mut next = crate::kernels::xorshift(0x9e37_79b9_7f4a_7c15);
        let edges = [
            0.0,
            -0.0,
            -1e-45,
            -87.3,
            -87.4,
            -88.0,
            -102.9,
            -103.0,
            -103.1,
            -104.0,
            -150.0,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NAN,
            1e-3,
            5.0,
            f32::MIN,
            f32::MAX,
        ];
        let mut checked = 0;
        for len in (0..40).chain([61, 64, 128, 1000]) {
            for round in 0..20 {
                let x: Vec<f32> = (0..len)
                    .map(|_| {
                        let r = next();
                        if round % 2 == 1 && r.is_multiple_of(5) {
                            edges[(r >> 32) as usize % edges.len()]
                        } else {
                            -(((r >> 40) as f32) / (1u64 << 24) as f32) * 120.0
                        }
                    })
                    .collect();
                // tract passes the row's maximum (so no argument is positive but NaN); also
                // a larger one, as after a masked row.
                let row_max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let max = row_max + [0.0, 0.0, 3.5, 20.0][round % 4];
                assert_eq!(
                    run(&x, max, false),
                    run(&x, max, true),
                    "len {len} max {max}: {x:?}"
                );
                checked += 1;
            }
        }
        // [-110, 1] in steps of 5.55e-4, across both cut-offs.
        let sweep: Vec<f32> = (0..200_000)
            .map(|i| -110.0 + i as f32 * 0.000_555)
            .collect();
        assert_eq!(run(&sweep, 0.0, false), run(&sweep, 0.0, true));
        assert!(checked > 800);
    }
}
