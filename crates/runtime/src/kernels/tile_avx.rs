//! The in-place product's 16 × 16 tile on CPUs with AVX but not AVX-512F: tract's AVX matrix
//! arithmetic, eight lanes wide, in passes of a few rows.
//!
//! Without AVX-512F the exact profile runs every product through tract's 256-bit AVX kernels
//! (`avx_mmm_f32_16x6` and siblings) behind a pack of the activation and tract's per-tile frame;
//! on a MobileNet-style network the packs and the frame cost as much as they did on AVX-512
//! before Prova's in-place product (`crate::in_place`), which only ran Prova's AVX-512 kernel.
//! This tile lets that product run on AVX: the same tile programs (a product over k, then
//! scalar, per-row and per-column operations and leaky ReLU, then one store), the same 16 × 16
//! tiles, computed with sixteen registers.
//!
//! Sixteen 256-bit registers do not hold a 16 × 16 tile (32 vectors), so the tile runs in
//! passes: the vectors lie along the axis whose outputs are contiguous in memory (the pixels of
//! a convolution's channel planes, sixteen values in two vectors), and each pass runs the whole
//! program for a few values of the other axis ([`PASSES`]), re-reading the sixteen-wide panel
//! from the level-1 cache. Every output still gets exactly what tract's AVX kernel gives it:
//! per k step in order `acc + a * b` (one multiply, `a` the left operand, then one add),
//! then each fused operation as `v op acc`, under the kernels' MXCSR
//! ([`super::mmm::with_kernel_mxcsr`]). Which pass or lane computes an output changes nothing
//! in its bits: `tests/in_place.rs` compares the in-place plan with tract's AVX kernels bit for
//! bit on edge values, on every CPU with AVX (on one with AVX-512F by forcing tract's kernels;
//! `scripts/test` also runs it under qemu on the matrix's CPUs with AVX).

use std::arch::x86_64::*;
use tract_onnx::tract_core::tract_linalg::mmm::FusedKerSpec;

/// The tile's name, as the in-place products' plan lines show it.
pub const KERNEL_NAME: &str = "prova_avx_mmm_f32_16x16";

/// The tile's side.
const R: usize = 16;

/// The rows (values of the axis across the vectors) of each pass: twelve accumulators, two
/// vectors loaded and one broadcast in flight, of the sixteen registers.
const PASSES: [usize; 3] = [6, 6, 4];
const _: () = assert!(PASSES[0] + PASSES[1] + PASSES[2] == R);
// `tile_lanes` has a pass for six rows and one for four.
const _: () = assert!(PASSES[0] == 6 && PASSES[1] == 6 && PASSES[2] == 4);

/// Runs one 16 × 16 tile program whose vectors lie along n (`LANES_N`: the store's columns are
/// contiguous) or along m (its rows are), the left and right panels sixteen floats per k step,
/// `a_step` and `b_step` bytes apart. Returns 0, or 1 for a program this tile does not take
/// (an operation other than those above, a packing or item size other than f32's, a store
/// whose vector axis is not contiguous), before anything is stored.
///
/// # Safety
/// AVX; `op` a tile program ending with `Done`, its panels readable at those steps, its
/// per-row and per-column vectors sixteen values, its store a whole tile.
#[inline(never)]
#[target_feature(enable = "avx")]
pub(crate) unsafe fn tile_lanes<const LANES_N: bool>(
    (op, a_step, b_step): (*const FusedKerSpec<f32>, isize, isize),
) -> isize {
    // SAFETY: the caller's (the program ends with `Done`).
    if !unsafe { supported::<LANES_N>(op) } {
        return 1;
    }
    let mut first = 0;
    for rows in PASSES {
        // SAFETY: the caller's; `first + rows <= R`.
        unsafe {
            match rows {
                6 => pass::<6, LANES_N>(op, first, a_step, b_step),
                // 4, the only other size (asserted above).
                _ => pass::<4, LANES_N>(op, first, a_step, b_step),
            }
        }
        first += rows;
    }
    0
}

/// Whether every operation of the program is one [`pass`] runs.
///
/// # Safety
/// `op` a program ending with `Done`.
unsafe fn supported<const LANES_N: bool>(mut op: *const FusedKerSpec<f32>) -> bool {
    loop {
        // SAFETY: the caller's.
        match unsafe { &*op } {
            FusedKerSpec::Done => return true,
            FusedKerSpec::Clear
            | FusedKerSpec::ScalarMin(_)
            | FusedKerSpec::ScalarMax(_)
            | FusedKerSpec::ScalarAdd(_)
            | FusedKerSpec::ScalarMul(_)
            | FusedKerSpec::ScalarSub(_)
            | FusedKerSpec::ScalarSubF(_)
            | FusedKerSpec::LeakyRelu(_)
            | FusedKerSpec::PerRowMin(_)
            | FusedKerSpec::PerRowMax(_)
            | FusedKerSpec::PerRowAdd(_)
            | FusedKerSpec::PerRowMul(_)
            | FusedKerSpec::PerRowSub(_)
            | FusedKerSpec::PerRowSubF(_)
            | FusedKerSpec::PerColMin(_)
            | FusedKerSpec::PerColMax(_)
            | FusedKerSpec::PerColAdd(_)
            | FusedKerSpec::PerColMul(_)
            | FusedKerSpec::PerColSub(_)
            | FusedKerSpec::PerColSubF(_) => {}
            FusedKerSpec::AddMatMul { packing: 0, .. } => {}
            FusedKerSpec::Store(t) => {
                let lane_stride = if LANES_N {
                    t.col_byte_stride
                } else {
                    t.row_byte_stride
                };
                if t.item_size != 4 || lane_stride != 4 {
                    return false;
                }
            }
            _ => return false,
        }
        // SAFETY: not past `Done`.
        op = unsafe { op.add(1) };
    }
}

/// The program for `N` rows of the tile across the vectors, from row `first`: accumulator
/// `i` holds that row's sixteen outputs along the vectors' axis in two registers.
///
/// # Safety
/// As [`tile_lanes`], the program [`supported`]; `first + N <= R`.
#[inline]
#[target_feature(enable = "avx")]
unsafe fn pass<const N: usize, const LANES_N: bool>(
    mut op: *const FusedKerSpec<f32>,
    first: usize,
    a_step: isize,
    b_step: isize,
) {
    // SAFETY (whole body): AVX (the caller's); tract's pointers for this tile's geometry.
    unsafe {
        let mut acc = [[_mm256_setzero_ps(); 2]; N];
        loop {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [[_mm256_setzero_ps(); 2]; N],
                // tract's AVX kernel: `op acc, broadcast(m), acc`, i.e. `m op acc`; the
                // flipped ones `acc op m`.
                FusedKerSpec::ScalarMin(m) => scalar(&mut acc, m, |m, a| _mm256_min_ps(m, a)),
                FusedKerSpec::ScalarMax(m) => scalar(&mut acc, m, |m, a| _mm256_max_ps(m, a)),
                FusedKerSpec::ScalarAdd(m) => scalar(&mut acc, m, |m, a| _mm256_add_ps(m, a)),
                FusedKerSpec::ScalarMul(m) => scalar(&mut acc, m, |m, a| _mm256_mul_ps(m, a)),
                FusedKerSpec::ScalarSub(m) => scalar(&mut acc, m, |m, a| _mm256_sub_ps(m, a)),
                FusedKerSpec::ScalarSubF(m) => scalar(&mut acc, m, |m, a| _mm256_sub_ps(a, m)),
                FusedKerSpec::LeakyRelu(alpha) => {
                    let alpha = _mm256_set1_ps(alpha);
                    // Nested loops, not `flatten()`: through the flattening iterator the
                    // accumulators stayed in memory for the whole pass, k loop included
                    // (MobileNet 145 -> 159 µs on the AVX2 EPYC).
                    for row in acc.iter_mut() {
                        for a in row.iter_mut() {
                            *a = leaky_relu(*a, alpha);
                        }
                    }
                }
                // Per row (m): one value per lane where the vectors lie along m, one per
                // accumulator where they lie along n; per column the other way round.
                FusedKerSpec::PerRowMin(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_min_ps(v, a))
                }
                FusedKerSpec::PerRowMax(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_max_ps(v, a))
                }
                FusedKerSpec::PerRowAdd(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_add_ps(v, a))
                }
                FusedKerSpec::PerRowMul(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_mul_ps(v, a))
                }
                FusedKerSpec::PerRowSub(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_sub_ps(v, a))
                }
                FusedKerSpec::PerRowSubF(p) => {
                    per::<N>(&mut acc, p, first, !LANES_N, |v, a| _mm256_sub_ps(a, v))
                }
                FusedKerSpec::PerColMin(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_min_ps(v, a))
                }
                FusedKerSpec::PerColMax(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_max_ps(v, a))
                }
                FusedKerSpec::PerColAdd(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_add_ps(v, a))
                }
                FusedKerSpec::PerColMul(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_mul_ps(v, a))
                }
                FusedKerSpec::PerColSub(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_sub_ps(v, a))
                }
                FusedKerSpec::PerColSubF(p) => {
                    per::<N>(&mut acc, p, first, LANES_N, |v, a| _mm256_sub_ps(a, v))
                }
                FusedKerSpec::AddMatMul { k, pa, pb, .. } => {
                    let (pa, pb) = (pa as *const f32, pb as *const f32);
                    acc = add_mat_mul::<N, LANES_N>(acc, k, pa, pb, first, a_step, b_step);
                }
                FusedKerSpec::Store(t) => {
                    let across = if LANES_N {
                        t.row_byte_stride
                    } else {
                        t.col_byte_stride
                    };
                    for (i, row) in acc.iter().enumerate() {
                        let at = t.ptr.offset(across * (first + i) as isize) as *mut f32;
                        _mm256_storeu_ps(at, row[0]);
                        _mm256_storeu_ps(at.add(8), row[1]);
                    }
                }
                // Refused by `supported` before any pass.
                _ => {}
            }
            op = op.add(1);
        }
    }
}

/// The 8 × 8 transpose of eight vectors (vector `i`, lane `j` to vector `j`, lane `i`):
/// pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped. Inlined
/// into its callers (the row ops' eight-row sums, the fast pack), whose AVX it runs under.
///
/// # Safety
/// AVX.
#[inline(always)]
pub(crate) unsafe fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    // SAFETY: AVX (the caller's).
    unsafe {
        let t0 = _mm256_unpacklo_ps(r[0], r[1]);
        let t1 = _mm256_unpackhi_ps(r[0], r[1]);
        let t2 = _mm256_unpacklo_ps(r[2], r[3]);
        let t3 = _mm256_unpackhi_ps(r[2], r[3]);
        let t4 = _mm256_unpacklo_ps(r[4], r[5]);
        let t5 = _mm256_unpackhi_ps(r[4], r[5]);
        let t6 = _mm256_unpacklo_ps(r[6], r[7]);
        let t7 = _mm256_unpackhi_ps(r[6], r[7]);
        let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
        let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
        let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
        let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
        let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
        let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
        let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
        let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
        [
            _mm256_permute2f128_ps::<0x20>(u0, u4),
            _mm256_permute2f128_ps::<0x20>(u1, u5),
            _mm256_permute2f128_ps::<0x20>(u2, u6),
            _mm256_permute2f128_ps::<0x20>(u3, u7),
            _mm256_permute2f128_ps::<0x31>(u0, u4),
            _mm256_permute2f128_ps::<0x31>(u1, u5),
            _mm256_permute2f128_ps::<0x31>(u2, u6),
            _mm256_permute2f128_ps::<0x31>(u3, u7),
        ]
    }
}

/// Leaky ReLU as tract's AVX kernels compute it: `0 < x ? x : alpha * x` by a compare and a
/// blend (so a NaN or a negative zero takes the `alpha * x` side).
#[inline]
#[target_feature(enable = "avx")]
pub(super) fn leaky_relu(x: __m256, alpha: __m256) -> __m256 {
    let positive = _mm256_cmp_ps::<_CMP_LT_OS>(_mm256_setzero_ps(), x);
    _mm256_blendv_ps(_mm256_mul_ps(x, alpha), x, positive)
}

/// `acc += a * b` for each k in order, one multiply (the left operand `a` first), then one
/// add, per output: the vectors' panel loaded (sixteen floats), the other's value for each
/// accumulator broadcast.
#[inline]
#[target_feature(enable = "avx")]
unsafe fn add_mat_mul<const N: usize, const LANES_N: bool>(
    mut acc: [[__m256; 2]; N],
    k: usize,
    mut pa: *const f32,
    mut pb: *const f32,
    first: usize,
    a_step: isize,
    b_step: isize,
) -> [[__m256; 2]; N] {
    // SAFETY: AVX (the caller's); the panels hold k steps at these strides.
    unsafe {
        for _ in 0..k {
            let lanes = if LANES_N { pb } else { pa };
            let (v0, v1) = (_mm256_loadu_ps(lanes), _mm256_loadu_ps(lanes.add(8)));
            let other = if LANES_N { pa } else { pb }.add(first);
            for (i, row) in acc.iter_mut().enumerate() {
                let s = _mm256_broadcast_ss(&*other.add(i));
                let (p0, p1) = if LANES_N {
                    (_mm256_mul_ps(s, v0), _mm256_mul_ps(s, v1))
                } else {
                    (_mm256_mul_ps(v0, s), _mm256_mul_ps(v1, s))
                };
                row[0] = _mm256_add_ps(row[0], p0);
                row[1] = _mm256_add_ps(row[1], p1);
            }
            pa = pa.byte_offset(a_step);
            pb = pb.byte_offset(b_step);
        }
    }
    acc
}

#[inline]
#[target_feature(enable = "avx")]
unsafe fn scalar<const N: usize>(
    acc: &mut [[__m256; 2]; N],
    m: f32,
    f: impl Fn(__m256, __m256) -> __m256,
) {
    let m = _mm256_set1_ps(m);
    for row in acc.iter_mut() {
        for a in row.iter_mut() {
            *a = f(m, *a);
        }
    }
}

/// `acc = f(v, acc)` for the tile's sixteen values `v` at `p`: one per lane (`by_lane`), or
/// one per accumulator (rows `first..first + N`).
#[inline]
#[target_feature(enable = "avx")]
unsafe fn per<const N: usize>(
    acc: &mut [[__m256; 2]; N],
    p: *const f32,
    first: usize,
    by_lane: bool,
    f: impl Fn(__m256, __m256) -> __m256,
) {
    // SAFETY: sixteen values at `p`; AVX (every caller is an AVX function).
    unsafe {
        if by_lane {
            let v = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
            for row in acc.iter_mut() {
                for (a, v) in row.iter_mut().zip(v) {
                    *a = f(v, *a);
                }
            }
        } else {
            for (i, row) in acc.iter_mut().enumerate() {
                let v = _mm256_set1_ps(*p.add(first + i));
                for a in row.iter_mut() {
                    *a = f(v, *a);
                }
            }
        }
    }
}
