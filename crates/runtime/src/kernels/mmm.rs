//! Prova's f32 matrix kernel for the exact profile on CPUs with AVX-512F: tract's AVX matrix
//! arithmetic, sixteen lanes wide, on a 16 × 16 tile.
//!
//! tract's AVX kernels (`avx_mmm_f32_16x6` and siblings), which the exact profile runs, keep
//! one accumulator per output and add the products in k order, `vmulps` then `vaddps`, under an
//! MXCSR with DAZ set (subnormal inputs read as zero) and FTZ clear. This kernel does exactly
//! that per output with 512-bit registers: the same multiplies and adds in the same order, so
//! every output has the same bits whichever kernel, tile or vector width computed it
//! (`tests/matrix_kernels.rs` checks it against tract's AVX kernels on edge values). Every
//! fused operation keeps the AVX kernel's operand order (`vminps acc, m, acc` computes
//! `m < acc ? m : acc`), so NaNs and signed zeros come out the same.
//!
//! Why: tract's AVX-512 kernels fuse (FMA), so the exact profile removes them and runs the
//! 256-bit AVX kernels, 32 instructions per 96 multiply-adds. On a core with two multiply and two
//! add pipes (AMD Zen 4, 58 GMAC/s measured without FMA) they reach ~42 GMAC/s; this tile, one
//! load and sixteen broadcast multiplies and adds per k step (256 multiply-adds), ~51 in the
//! encoder (docs/performance.md). Wider tiles (32 × 8, 48 × 8) measured slower: their packed
//! panel of the left operand no longer fits the level-1 cache at k = 256.
//!
//! Selection: a kernel tier ranked above tract's (`MmmTier`; applies only under the exact
//! profile on a CPU with AVX-512F) names this kernel for an f32 product whose `m`, `k` and `n`
//! are known and at least 16, and Prova's matrix-vector kernel (`kernels::mmv`) for `n = 1`;
//! every other product (narrow, symbolic shapes) stays with tract's AVX tier. The kernel ranks
//! below tract's AVX kernels otherwise, so tract's own fallbacks never pick it. On a CPU without AVX-512F it is not built and the tier does not
//! apply; whichever kernel runs, the bits are the same.

use std::arch::{asm, x86_64::*};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg::{
    isa::{Arch, Isa, IsaReq, IsaSet},
    mmm::{DynKernel, FusedKerSpec, OutputStoreKer, Query, Suitable},
    mmm_routines::MmmRoutine,
    mmm_tiers::MmmTier,
    pack::Packing,
};

/// MXCSR inside tract's matrix kernels: every exception masked, round to nearest, DAZ set
/// (subnormal inputs read as zero), FTZ clear (subnormal results kept).
const KERNEL_MXCSR: u32 = 0x1FC0;

/// Set by tests to leave every product to tract's kernels (the baseline the bits are compared
/// against). Read once per product at planning time, never per call.
pub static FORCE_TRACT: AtomicBool = AtomicBool::new(false);

/// Whether this CPU runs the kernels (AVX-512F, whatever tract's instruction-set view says:
/// the exact profile hides AVX-512 from tract).
pub fn available() -> bool {
    static AVX512: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx512f"));
    *AVX512
}

/// The kernel entry tract calls with one tile's fused operations.
unsafe fn prova_avx512_mmm_f32_16x16(ops: &[FusedKerSpec<f32>]) -> isize {
    if !available() {
        return 1;
    }
    // SAFETY: AVX-512F is present; `ops` is the tile program tract built for this kernel's
    // geometry (packed panels of 16 × k and 16 × k, tiles of 16 × 16).
    unsafe { with_kernel_mxcsr(tile, ops.as_ptr()) }
}

/// The kernel's name, as tract's plans show it.
pub const KERNEL_NAME: &str = "prova_avx512_mmm_f32_16x16";

static PROVA_AVX512_MMM_F32_16X16: LazyLock<DynKernel<16, 16, f32>> = LazyLock::new(|| {
    let mut k = DynKernel::<16, 16, f32>::new(
        KERNEL_NAME,
        prova_avx512_mmm_f32_16x16,
        f32::packing(16).align(64),
        f32::packing(16).align(4),
    )
    .with_isa(IsaReq::ANY.needing(&[Isa::X86_64Avx]))
    // Below tract's AVX kernels of the same level: only the tier below names it.
    .with_boost(|| -1);
    k.arch = Some(Arch::X86_64);
    k.built = available();
    k
});

inventory::submit! { MmmRoutine { make: || PROVA_AVX512_MMM_F32_16X16.mmm() } }

/// Which of Prova's kernels runs this f32 product: the matrix-vector one
/// (`kernels::mmv`) for `n = 1`; the 16×16 one for `m`, `k` and `n` known and at least 16 (a
/// narrower product is tract's 16×6 tile or one of its narrow kernels; below `k = 16` the
/// product is all tile overhead).
fn preferred(_isa: &IsaSet, dt: DatumType, query: &Query, _: &[Suitable]) -> Option<&'static str> {
    if dt != DatumType::F32 || FORCE_TRACT.load(Ordering::Relaxed) {
        return None;
    }
    if query.n == Some(1) {
        return Some(super::mmv::KERNEL_NAME);
    }
    let (m, k, n) = (query.m?, query.k?, query.n?);
    (m >= 16 && k >= 16 && n >= 16).then(|| PROVA_AVX512_MMM_F32_16X16.name.as_str())
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::X86_64),
        precedence: 40,
        name: "prova-exact-avx512",
        // Read from the instruction set the profile pinned: `PROVA_EXACT_TIER=avx` removes
        // AVX2 from it to compute what an IvyBridge computes (tract's AVX kernels), and every
        // CPU with AVX-512F has AVX2.
        applies: |isa| {
            crate::pinned() != Some(crate::Profile::Native)
                && available()
                && isa.has(Isa::X86_64Avx2)
        },
        preferred,
    }
}

/// Runs the tile program under [`KERNEL_MXCSR`], restoring the caller's MXCSR after. The
/// compiler does not model MXCSR, so the floating-point work sits in `tile`, a function that
/// is never inlined (and, built for AVX-512, could not be inlined here), behind a call the
/// `asm!` blocks (memory clobbers) keep in place.
/// Prova's direct convolution (`crate::direct_conv`) runs its sums here too, to compute what
/// a matrix kernel computes.
#[inline(never)]
pub(crate) unsafe fn with_kernel_mxcsr<T>(tile: unsafe fn(T) -> isize, ops: T) -> isize {
    let mut saved: u32 = 0;
    let kernel = KERNEL_MXCSR;
    // SAFETY: stmxcsr/ldmxcsr read and write 4 bytes at valid addresses; the caller's MXCSR is
    // restored before returning.
    unsafe {
        asm!("stmxcsr [{}]", in(reg) &mut saved, options(nostack, preserves_flags));
        asm!("ldmxcsr [{}]", in(reg) &kernel, options(nostack, preserves_flags, readonly));
    }
    // SAFETY: the caller's contract (see `tile`).
    let r = unsafe { tile(ops) };
    unsafe {
        asm!("ldmxcsr [{}]", in(reg) &saved, options(nostack, preserves_flags, readonly));
    }
    r
}

/// A tile's accumulators: register `j` holds column `j` (sixteen rows, one per lane).
type Acc = [__m512; 16];

/// `$body` once per column `$j` = 0..16, written out: every index into the accumulators is
/// a constant, so they stay in sixteen registers across the whole tile program (a loop over
/// them, even a short one, left them in memory, loaded and stored around every operation).
macro_rules! each_col {
    ($j:ident => $body:expr) => {
        each_col!(@ $j => $body; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    };
    (@ $j:ident => $body:expr; $($n:literal)*) => {
        $({
            const $j: usize = $n;
            $body;
        })*
    };
}

/// One tile program on a 16 × 16 tile. Returns 0, or 1 for an operation tract's AVX f32
/// kernels do not support either (quantisation steps, a packing or store type other than f32).
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn tile(op: *const FusedKerSpec<f32>) -> isize {
    // SAFETY: the caller's (packed panels: sixteen floats per k step on both sides).
    unsafe { tile_body::<false>(op, PACKED_K_STEP, PACKED_K_STEP) }
}

/// Bytes from one k step to the next in a packed panel of sixteen floats.
pub(crate) const PACKED_K_STEP: isize = 64;

/// [`tile`] with the left and right panels' k steps given in bytes (`AddMatMul`'s `pa` and
/// `pb`): sixteen consecutive floats per k step, the next k step `a_step` (`b_step`) bytes
/// on. Prova's products that read an activation in place (`crate::in_place`) pass a channel
/// plane's size; the arithmetic is the same.
///
/// # Safety
/// AVX-512F; `op` a tile program as [`tile`] takes, its panels readable at those steps.
#[inline(never)]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile_strided(
    (op, a_step, b_step): (*const FusedKerSpec<f32>, isize, isize),
) -> isize {
    // SAFETY: the caller's.
    unsafe { tile_body::<false>(op, a_step, b_step) }
}

/// [`tile_strided`] with the accumulators held by row: register `i` holds row `i` (sixteen
/// columns, one per lane), for a tile stored row-major (a convolution's channel × pixel
/// output), which it then stores with sixteen plain row stores instead of a 16 × 16 transpose.
/// Takes the programs [`crate::in_place`] builds (products, scalar, per-row and per-column
/// operations, a row-major store; returns 1 for anything else).
/// Every output gets the same operations on the same operands in the same order as in
/// [`tile_strided`] (per k step `acc + a * b`, `a` the left operand; a fused operation
/// `v op acc`), so the same bits: only which lane holds which output changes.
///
/// # Safety
/// As [`tile_strided`].
#[inline(never)]
#[target_feature(enable = "avx512f")]
pub(crate) unsafe fn tile_strided_rows(
    (op, a_step, b_step): (*const FusedKerSpec<f32>, isize, isize),
) -> isize {
    // SAFETY: the caller's.
    unsafe { tile_body::<true>(op, a_step, b_step) }
}

/// The tile program on accumulators held by column (`ROWS` false: register `j` is column `j`,
/// see [`Acc`]) or by row (`ROWS` true: register `i` is row `i`).
#[inline(always)]
unsafe fn tile_body<const ROWS: bool>(
    mut op: *const FusedKerSpec<f32>,
    a_step: isize,
    b_step: isize,
) -> isize {
    // SAFETY: AVX-512F (every caller is an AVX-512F function).
    let mut acc: Acc = [unsafe { _mm512_setzero_ps() }; 16];
    // SAFETY (whole body): tract hands pointers to tiles and vectors of this geometry.
    unsafe {
        loop {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [_mm512_setzero_ps(); 16],
                // Held by row, only what a product reading its activation in place runs
                // (`crate::in_place`: products, scalar, per-row and per-column operations,
                // row-major stores).
                FusedKerSpec::LoadTile(..)
                | FusedKerSpec::AddRowColProducts(..)
                | FusedKerSpec::AddUnicast(..)
                    if ROWS =>
                {
                    return 1;
                }
                FusedKerSpec::LoadTile(col_major, _) => {
                    each_col!(J => acc[J] = _mm512_loadu_ps(col_major.add(16 * J)));
                }
                // tract's AVX kernel: `op acc, broadcast(m), acc`, i.e. `m op acc`; the
                // flipped ones `acc op m`.
                FusedKerSpec::ScalarMin(m) => scalar(&mut acc, m, |m, a| _mm512_min_ps(m, a)),
                FusedKerSpec::ScalarMax(m) => scalar(&mut acc, m, |m, a| _mm512_max_ps(m, a)),
                FusedKerSpec::ScalarAdd(m) => scalar(&mut acc, m, |m, a| _mm512_add_ps(m, a)),
                FusedKerSpec::ScalarMul(m) => scalar(&mut acc, m, |m, a| _mm512_mul_ps(m, a)),
                FusedKerSpec::ScalarSub(m) => scalar(&mut acc, m, |m, a| _mm512_sub_ps(m, a)),
                FusedKerSpec::ScalarSubF(m) => scalar(&mut acc, m, |m, a| _mm512_sub_ps(a, m)),
                FusedKerSpec::LeakyRelu(alpha) => {
                    // `0 < x ? x : alpha * x`, as the AVX kernel's compare and blend.
                    let alpha = _mm512_set1_ps(alpha);
                    let zero = _mm512_setzero_ps();
                    each_col!(J => {
                        let scaled = _mm512_mul_ps(acc[J], alpha);
                        let positive = _mm512_cmp_ps_mask::<_CMP_LT_OS>(zero, acc[J]);
                        acc[J] = _mm512_mask_blend_ps(positive, scaled, acc[J]);
                    });
                }
                FusedKerSpec::PerRowMin(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_min_ps(v, a)),
                FusedKerSpec::PerRowMax(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_max_ps(v, a)),
                FusedKerSpec::PerRowAdd(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_add_ps(v, a)),
                FusedKerSpec::PerRowMul(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_mul_ps(v, a)),
                FusedKerSpec::PerRowSub(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_sub_ps(v, a)),
                FusedKerSpec::PerRowSubF(p) => per(&mut acc, p, !ROWS, |v, a| _mm512_sub_ps(a, v)),
                FusedKerSpec::PerColMin(p) => per(&mut acc, p, ROWS, |v, a| _mm512_min_ps(v, a)),
                FusedKerSpec::PerColMax(p) => per(&mut acc, p, ROWS, |v, a| _mm512_max_ps(v, a)),
                FusedKerSpec::PerColAdd(p) => per(&mut acc, p, ROWS, |v, a| _mm512_add_ps(v, a)),
                FusedKerSpec::PerColMul(p) => per(&mut acc, p, ROWS, |v, a| _mm512_mul_ps(v, a)),
                FusedKerSpec::PerColSub(p) => per(&mut acc, p, ROWS, |v, a| _mm512_sub_ps(v, a)),
                FusedKerSpec::PerColSubF(p) => per(&mut acc, p, ROWS, |v, a| _mm512_sub_ps(a, v)),
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let r = _mm512_loadu_ps(rows);
                    each_col!(J => {
                        let c = _mm512_set1_ps(*cols.add(J));
                        acc[J] = _mm512_add_ps(acc[J], _mm512_mul_ps(r, c));
                    });
                }
                FusedKerSpec::AddUnicast(other) => {
                    if other.item_size != 4 {
                        return 1;
                    }
                    if other.row_byte_stride == 4 {
                        each_col!(J => {
                            let at = other.ptr.offset(other.col_byte_stride * J as isize);
                            acc[J] = _mm512_add_ps(acc[J], _mm512_loadu_ps(at as *const f32));
                        });
                    } else if other.col_byte_stride == 4 {
                        acc = add_unicast_rows(acc, &other);
                    } else {
                        acc = add_unicast_strided(acc, &other);
                    }
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => {
                    if packing != 0 {
                        return 1;
                    }
                    let (pa, pb) = (pa as *const f32, pb as *const f32);
                    acc = add_mat_mul::<ROWS>(acc, k, pa, pb, a_step, b_step);
                }
                FusedKerSpec::Store(tile) => {
                    if tile.item_size != 4 {
                        return 1;
                    }
                    if ROWS {
                        if tile.col_byte_stride != 4 {
                            return 1;
                        }
                        each_col!(I => {
                            let at = tile.ptr.offset(tile.row_byte_stride * I as isize);
                            _mm512_storeu_ps(at as *mut f32, acc[I]);
                        });
                    } else if tile.row_byte_stride == 4 {
                        each_col!(J => {
                            let at = tile.ptr.offset(tile.col_byte_stride * J as isize);
                            _mm512_storeu_ps(at as *mut f32, acc[J]);
                        });
                    } else if tile.col_byte_stride == 4 {
                        store_rows(acc, &tile);
                    } else {
                        store_strided(acc, &tile);
                    }
                }
                FusedKerSpec::QScale(..)
                | FusedKerSpec::RoundingShiftRight(..)
                | FusedKerSpec::ShiftLeft(_) => return 1,
            }
            op = op.add(1);
        }
    }
    0
}

/// `acc += a[i] * b[j]` for each k in order: one multiply, then one add, per output (`a`
/// the left operand); the panels' k steps `a_step` and `b_step` bytes apart. Accumulators
/// held by column (`acc[j]` lane `i`: `a` loaded, `b` broadcast) or by row (`ROWS`: `acc[i]`
/// lane `j`, `b` loaded, `a` broadcast): the same operands in the same order either way.
#[inline(always)]
unsafe fn add_mat_mul<const ROWS: bool>(
    mut acc: Acc,
    k: usize,
    mut pa: *const f32,
    mut pb: *const f32,
    a_step: isize,
    b_step: isize,
) -> Acc {
    unsafe {
        for _ in 0..k {
            if ROWS {
                let b = _mm512_loadu_ps(pb);
                each_col!(I => acc[I] = _mm512_add_ps(acc[I], _mm512_mul_ps(_mm512_set1_ps(*pa.add(I)), b)));
            } else {
                let a = _mm512_loadu_ps(pa);
                each_col!(J => acc[J] = _mm512_add_ps(acc[J], _mm512_mul_ps(a, _mm512_set1_ps(*pb.add(J)))));
            }
            pa = pa.byte_offset(a_step);
            pb = pb.byte_offset(b_step);
        }
    }
    acc
}

#[inline(always)]
unsafe fn scalar(acc: &mut Acc, m: f32, f: impl Fn(__m512, __m512) -> __m512) {
    // SAFETY: AVX-512F (every caller is an AVX-512F function).
    let m = unsafe { _mm512_set1_ps(m) };
    each_col!(J => acc[J] = f(m, acc[J]));
}

/// `acc = f(v, acc)` for sixteen values `v` at `p`: one per lane of every register
/// (`by_lane`: per row of accumulators held by column, per column of accumulators held by
/// row), or one per register (the other two).
#[inline(always)]
unsafe fn per(acc: &mut Acc, p: *const f32, by_lane: bool, f: impl Fn(__m512, __m512) -> __m512) {
    // SAFETY: sixteen values; AVX-512F (every caller is an AVX-512F function).
    unsafe {
        if by_lane {
            let v = _mm512_loadu_ps(p);
            each_col!(J => acc[J] = f(v, acc[J]));
        } else {
            each_col!(J => acc[J] = f(_mm512_set1_ps(*p.add(J)), acc[J]));
        }
    }
}

/// The transpose of a 16 × 16 block held as sixteen registers (register `j`, lane `i` to
/// register `i`, lane `j`): pairs of lanes, then pairs of pairs, then 128-bit quarters twice.
/// Moves bits only.
#[inline(always)]
pub(crate) unsafe fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    unsafe {
        // Interleave lanes of registers 2p and 2p + 1.
        let mut t = [_mm512_setzero_ps(); 16];
        for p in 0..8 {
            t[2 * p] = _mm512_unpacklo_ps(r[2 * p], r[2 * p + 1]);
            t[2 * p + 1] = _mm512_unpackhi_ps(r[2 * p], r[2 * p + 1]);
        }
        // Interleave lane pairs of registers 4q + {0, 2} and 4q + {1, 3}.
        let mut u = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            for h in 0..2 {
                let a = _mm512_castps_pd(t[4 * q + h]);
                let b = _mm512_castps_pd(t[4 * q + 2 + h]);
                u[4 * q + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                u[4 * q + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
            }
        }
        // Gather 128-bit quarters: even and odd quarters of registers x and x + 4.
        let mut w = [_mm512_setzero_ps(); 16];
        for g in 0..2 {
            for x in 0..4 {
                let (a, b) = (u[8 * g + x], u[8 * g + x + 4]);
                w[8 * g + x] = _mm512_shuffle_f32x4::<0x88>(a, b);
                w[8 * g + x + 4] = _mm512_shuffle_f32x4::<0xDD>(a, b);
            }
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for x in 0..8 {
            out[x] = _mm512_shuffle_f32x4::<0x88>(w[x], w[x + 8]);
            out[x + 8] = _mm512_shuffle_f32x4::<0xDD>(w[x], w[x + 8]);
        }
        out
    }
}

/// `acc + other` for a row-major tile (n contiguous, as a convolution's channel × pixel
/// output): sixteen rows of sixteen, transposed in registers. Out of line, as the other
/// layouts, so that the transpose's registers do not crowd the accumulators out of theirs in
/// `tile`.
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn add_unicast_rows(mut acc: Acc, t: &OutputStoreKer) -> Acc {
    unsafe {
        let rows: [__m512; 16] = std::array::from_fn(|i| {
            let at = t.ptr.offset(t.row_byte_stride * i as isize);
            _mm512_loadu_ps(at as *const f32)
        });
        let cols = transpose16(rows);
        for (a, c) in acc.iter_mut().zip(cols) {
            *a = _mm512_add_ps(*a, c);
        }
    }
    acc
}

/// Stores a row-major tile (see [`add_unicast_rows`]).
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn store_rows(acc: Acc, t: &OutputStoreKer) {
    unsafe {
        let rows = transpose16(acc);
        for (i, row) in rows.iter().enumerate() {
            let at = t.ptr.offset(t.row_byte_stride * i as isize);
            _mm512_storeu_ps(at as *mut f32, *row);
        }
    }
}

/// `acc + other` for a tile whose rows and columns are both strided. Rare (border tiles go
/// through a contiguous scratch), so out of line and by value.
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn add_unicast_strided(mut acc: Acc, t: &OutputStoreKer) -> Acc {
    unsafe {
        for (j, a) in acc.iter_mut().enumerate() {
            let base = t.ptr.offset(t.col_byte_stride * j as isize);
            let mut lanes = [0f32; 16];
            for (i, lane) in lanes.iter_mut().enumerate() {
                *lane = *(base.offset(t.row_byte_stride * i as isize) as *const f32);
            }
            *a = _mm512_add_ps(*a, _mm512_loadu_ps(lanes.as_ptr()));
        }
    }
    acc
}

/// Stores the tile where its rows and columns are both strided (see
/// [`add_unicast_strided`]).
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn store_strided(acc: Acc, t: &OutputStoreKer) {
    unsafe {
        for (j, a) in acc.iter().enumerate() {
            let base = t.ptr.offset(t.col_byte_stride * j as isize);
            let mut lanes = [0f32; 16];
            _mm512_storeu_ps(lanes.as_mut_ptr(), *a);
            for (i, lane) in lanes.iter().enumerate() {
                *(base.offset(t.row_byte_stride * i as isize) as *mut f32) = *lane;
            }
        }
    }
}

/// [`transpose16`] on a row-major 16 × 16 block, for tests.
#[cfg(test)]
fn transpose16_for_tests(block: &[f32; 256]) -> Option<[f32; 256]> {
    if !available() {
        return None;
    }
    #[target_feature(enable = "avx512f")]
    unsafe fn run(block: &[f32; 256]) -> [f32; 256] {
        unsafe {
            let r = std::array::from_fn(|i| _mm512_loadu_ps(block.as_ptr().add(16 * i)));
            let t = transpose16(r);
            let mut out = [0f32; 256];
            for (i, v) in t.iter().enumerate() {
                _mm512_storeu_ps(out.as_mut_ptr().add(16 * i), *v);
            }
            out
        }
    }
    // SAFETY: AVX-512F is present.
    Some(unsafe { run(block) })
}

#[cfg(test)]
mod tests {
    #[test]
    fn transpose16_transposes() {
        let block: [f32; 256] = std::array::from_fn(|i| i as f32);
        let Some(t) = super::transpose16_for_tests(&block) else {
            return;
        };
        for i in 0..16 {
            for j in 0..16 {
                assert_eq!(t[16 * i + j], block[16 * j + i], "({i}, {j})");
            }
        }
    }
}
