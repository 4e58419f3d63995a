//! Prova's f32 matrix-vector kernel for the exact profile on CPUs with AVX2 but not AVX-512F:
//! tract's `avx_mmm_f32_64x1`, with the weights prefetched ahead.
//!
//! A product with one column (`n = 1`: a dense layer on one input) reads each weight once, so
//! it runs at the speed its packed weights stream from memory. tract's AVX kernel loads a
//! 64-row panel 256 bytes per k step into eight accumulators of eight rows, and relies on the
//! hardware prefetcher. This kernel does the same arithmetic per output (one accumulator per
//! row, from `+0`, `acc + a * b` in k order, `vmulps` then `vaddps`, under the kernels' MXCSR
//! with DAZ) and asks for the panel [`PREFETCH`] bytes ahead of the loads: on an AVX2 EPYC the
//! 7M-parameter MLP's call went from 1153 to 834 µs (29 MB of weights, 25 → 35 GB/s). Every fused
//! operation keeps the AVX kernels' operand order (see [`super::mmm`]), so every output has the
//! same bits as tract's kernel gives it (`tests/matrix_kernels.rs` compares them on edge values).
//!
//! Selection: a kernel tier ranked above tract's, under the exact profile on a CPU with AVX2
//! and without AVX-512F (where [`super::mmv`] runs these products), names it for every f32
//! product with `n = 1` known.

use std::arch::x86_64::*;
use std::sync::LazyLock;
use std::sync::atomic::Ordering;

use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg::{
    isa::{Arch, Isa, IsaReq, IsaSet},
    mmm::{DynKernel, FusedKerSpec, Query, Suitable},
    mmm_routines::MmmRoutine,
    mmm_tiers::MmmTier,
    pack::Packing,
};

use super::mmm::with_kernel_mxcsr;
use super::mmv::{read_column, write_column};
use super::tile_avx::leaky_relu;

/// The kernel's name, as tract's plans show it.
pub const KERNEL_NAME: &str = "prova_avx_mmm_f32_64x1";

/// Rows per tile: eight registers of eight.
const MR: usize = 64;

/// How far ahead of the loads the panel is prefetched, in bytes (48 k steps). Measured on an
/// AVX2 EPYC (docs/performance.md): 8 and 12 KiB gave the same, 4 KiB and none less.
pub const PREFETCH: usize = 12288;

/// Whether this CPU runs the kernel.
pub fn available() -> bool {
    static AVX: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx"));
    *AVX
}

/// The kernel entry tract calls with one tile's fused operations.
unsafe fn prova_avx_mmm_f32_64x1(ops: &[FusedKerSpec<f32>]) -> isize {
    if !available() {
        return 1;
    }
    // SAFETY: AVX is present; `ops` is the tile program tract built for this kernel's
    // geometry (a packed panel of 64 × k, one of 1 × k, a tile of 64 × 1).
    unsafe { with_kernel_mxcsr(tile, ops.as_ptr()) }
}

static PROVA_AVX_MMM_F32_64X1: LazyLock<DynKernel<MR, 1, f32>> = LazyLock::new(|| {
    // tract's `avx_mmm_f32_64x1`'s packing.
    let mut k = DynKernel::<MR, 1, f32>::new(
        KERNEL_NAME,
        prova_avx_mmm_f32_64x1,
        f32::packing(MR).align(256),
        f32::packing(1).align(4),
    )
    .with_isa(IsaReq::ANY.needing(&[Isa::X86_64Avx]))
    // Below tract's kernels: only the tier below names it.
    .with_boost(|| -1);
    k.arch = Some(Arch::X86_64);
    k.built = available();
    k
});

inventory::submit! { MmmRoutine { make: || PROVA_AVX_MMM_F32_64X1.mmm() } }

fn preferred(_isa: &IsaSet, dt: DatumType, query: &Query, _: &[Suitable]) -> Option<&'static str> {
    if dt != DatumType::F32 || query.n != Some(1) || super::mmm::FORCE_TRACT.load(Ordering::Relaxed)
    {
        return None;
    }
    Some(PROVA_AVX_MMM_F32_64X1.name.as_str())
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::X86_64),
        precedence: 38,
        name: "prova-exact-avx2-mmv",
        // AVX-512F hosts run `kernels::mmv` (the tier above answers first); the AVX tier
        // (`PROVA_EXACT_TIER=avx`) keeps tract's kernel, which `kernel_tiers.rs` compares with.
        applies: |isa| {
            crate::pinned() != Some(crate::Profile::Native)
                && isa.has(Isa::X86_64Avx2)
                && !super::mmm::available()
        },
        preferred,
    }
}

/// A tile's accumulators: register `r` holds rows `8 r .. 8 r + 8`.
type Acc = [__m256; 8];

/// One tile program on a 64 × 1 tile. Returns 0, or 1 for an operation tract's AVX f32
/// kernels do not support either (quantisation steps, a packing or store type other than f32).
#[inline(never)]
#[target_feature(enable = "avx")]
unsafe fn tile(mut op: *const FusedKerSpec<f32>) -> isize {
    let mut acc: Acc = [_mm256_setzero_ps(); 8];
    // SAFETY (whole body): tract hands pointers to panels, tiles and vectors of this geometry.
    unsafe {
        loop {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [_mm256_setzero_ps(); 8],
                FusedKerSpec::LoadTile(col_major, _) => {
                    for (r, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_loadu_ps(col_major.add(8 * r));
                    }
                }
                // As the AVX kernels: `m op acc`; the flipped ones `acc op m`.
                FusedKerSpec::ScalarMin(m) => all(&mut acc, m, |m, a| _mm256_min_ps(m, a)),
                FusedKerSpec::ScalarMax(m) => all(&mut acc, m, |m, a| _mm256_max_ps(m, a)),
                FusedKerSpec::ScalarAdd(m) => all(&mut acc, m, |m, a| _mm256_add_ps(m, a)),
                FusedKerSpec::ScalarMul(m) => all(&mut acc, m, |m, a| _mm256_mul_ps(m, a)),
                FusedKerSpec::ScalarSub(m) => all(&mut acc, m, |m, a| _mm256_sub_ps(m, a)),
                FusedKerSpec::ScalarSubF(m) => all(&mut acc, m, |m, a| _mm256_sub_ps(a, m)),
                FusedKerSpec::LeakyRelu(alpha) => {
                    let alpha = _mm256_set1_ps(alpha);
                    for a in acc.iter_mut() {
                        *a = leaky_relu(*a, alpha);
                    }
                }
                FusedKerSpec::PerRowMin(p) => rows(&mut acc, p, |r, a| _mm256_min_ps(r, a)),
                FusedKerSpec::PerRowMax(p) => rows(&mut acc, p, |r, a| _mm256_max_ps(r, a)),
                FusedKerSpec::PerRowAdd(p) => rows(&mut acc, p, |r, a| _mm256_add_ps(r, a)),
                FusedKerSpec::PerRowMul(p) => rows(&mut acc, p, |r, a| _mm256_mul_ps(r, a)),
                FusedKerSpec::PerRowSub(p) => rows(&mut acc, p, |r, a| _mm256_sub_ps(r, a)),
                FusedKerSpec::PerRowSubF(p) => rows(&mut acc, p, |r, a| _mm256_sub_ps(a, r)),
                // One column: its value for every row.
                FusedKerSpec::PerColMin(p) => all(&mut acc, *p, |c, a| _mm256_min_ps(c, a)),
                FusedKerSpec::PerColMax(p) => all(&mut acc, *p, |c, a| _mm256_max_ps(c, a)),
                FusedKerSpec::PerColAdd(p) => all(&mut acc, *p, |c, a| _mm256_add_ps(c, a)),
                FusedKerSpec::PerColMul(p) => all(&mut acc, *p, |c, a| _mm256_mul_ps(c, a)),
                FusedKerSpec::PerColSub(p) => all(&mut acc, *p, |c, a| _mm256_sub_ps(c, a)),
                FusedKerSpec::PerColSubF(p) => all(&mut acc, *p, |c, a| _mm256_sub_ps(a, c)),
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let c = _mm256_set1_ps(*cols);
                    for (r, a) in acc.iter_mut().enumerate() {
                        let v = _mm256_loadu_ps(rows.add(8 * r));
                        *a = _mm256_add_ps(*a, _mm256_mul_ps(v, c));
                    }
                }
                FusedKerSpec::AddUnicast(other) => {
                    if other.item_size != 4 {
                        return 1;
                    }
                    let mut column = [0f32; MR];
                    read_column(&other, &mut column);
                    for (r, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_add_ps(*a, _mm256_loadu_ps(column.as_ptr().add(8 * r)));
                    }
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => {
                    if packing != 0 {
                        return 1;
                    }
                    acc = add_mat_mul(acc, k, pa as *const f32, pb as *const f32);
                }
                FusedKerSpec::Store(tile) => {
                    if tile.item_size != 4 {
                        return 1;
                    }
                    let mut column = [0f32; MR];
                    for (r, a) in acc.iter().enumerate() {
                        _mm256_storeu_ps(column.as_mut_ptr().add(8 * r), *a);
                    }
                    if tile.row_byte_stride == 4 {
                        std::ptr::copy_nonoverlapping(column.as_ptr(), tile.ptr as *mut f32, MR);
                    } else {
                        write_column(&tile, &column);
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

/// `acc += a * b` for each k in order, multiply then add, the panel prefetched [`PREFETCH`]
/// bytes ahead (a hint: it never faults, past the panel's end included).
#[inline]
#[target_feature(enable = "avx")]
unsafe fn add_mat_mul(mut acc: Acc, k: usize, mut pa: *const f32, mut pb: *const f32) -> Acc {
    // SAFETY: tract's panels hold `k` steps of 64 and 1 values.
    unsafe {
        for _ in 0..k {
            let ahead = (pa as *const i8).wrapping_add(PREFETCH);
            for line in 0..4 {
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(64 * line));
            }
            let b = _mm256_broadcast_ss(&*pb);
            for (r, a) in acc.iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, _mm256_mul_ps(_mm256_loadu_ps(pa.add(8 * r)), b));
            }
            pa = pa.add(MR);
            pb = pb.add(1);
        }
    }
    acc
}

#[inline]
#[target_feature(enable = "avx")]
fn all(acc: &mut Acc, m: f32, f: impl Fn(__m256, __m256) -> __m256) {
    let m = _mm256_set1_ps(m);
    for a in acc.iter_mut() {
        *a = f(m, *a);
    }
}

#[inline]
#[target_feature(enable = "avx")]
unsafe fn rows(acc: &mut Acc, p: *const f32, f: impl Fn(__m256, __m256) -> __m256) {
    for (r, a) in acc.iter_mut().enumerate() {
        // SAFETY: sixty-four rows' values.
        *a = f(unsafe { _mm256_loadu_ps(p.add(8 * r)) }, *a);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::xorshift;
    use tract_onnx::tract_core::tract_linalg::{
        mmm::OutputStoreKer, x86_64::mmm::avx_mmm_f32_64x1,
    };

    /// Edge-heavy f32 values: signed zeros, subnormals (read as zero by both kernels' DAZ),
    /// infinities, NaN, extremes, ordinary values.
    fn value(next: &mut impl FnMut() -> u64) -> f32 {
        const EDGE: [f32; 10] = [
            0.0,
            -0.0,
            1e-40,
            -1e-40,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MAX,
            f32::MIN,
            1.0,
        ];
        match next() % 4 {
            0 => EDGE[(next() % 10) as usize],
            _ => (next() as i32 as f32) / 1e9,
        }
    }

    /// Bits, any NaN as the canonical one (the kernels agree on which values are NaN; the
    /// matrix tests compare the same way).
    fn bits(v: f32) -> u32 {
        if v.is_nan() { 0x7fc0_0000 } else { v.to_bits() }
    }

    /// Random tile programs through tract's `avx_mmm_f32_64x1` and this kernel, every fused
    /// operation tract's AVX kernels support, on edge values: the same bits.
    #[test]
    fn same_bits_as_tracts_avx_kernel() {
        if !available() {
            return;
        }
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for case in 0..3000 {
            let k = [0, 1, 2, 5, 64, 300][(next() % 6) as usize];
            // 32-byte aligned panels, as tract's packer makes them.
            let mut pa = vec![0f32; k * MR + 8];
            let off = pa.as_ptr().align_offset(32);
            for v in pa[off..off + k * MR].iter_mut() {
                *v = value(&mut next);
            }
            let pb: Vec<f32> = (0..k.max(1)).map(|_| value(&mut next)).collect();
            let rows: Vec<f32> = (0..MR).map(|_| value(&mut next)).collect();
            let col = [value(&mut next)];
            let loaded: Vec<f32> = (0..MR).map(|_| value(&mut next)).collect();
            let other: Vec<f32> = (0..MR * 2).map(|_| value(&mut next)).collect();
            let stride = if next().is_multiple_of(2) { 4 } else { 8 };
            let (mut theirs, mut ours) = (vec![0f32; MR * 2], vec![0f32; MR * 2]);
            let mut ops = vec![if next().is_multiple_of(5) {
                FusedKerSpec::LoadTile(loaded.as_ptr(), loaded.as_ptr())
            } else {
                FusedKerSpec::Clear
            }];
            ops.push(FusedKerSpec::AddMatMul {
                k,
                pa: pa[off..].as_ptr() as *const u8,
                pb: pb.as_ptr() as *const u8,
                packing: 0,
            });
            for _ in 0..next() % 5 {
                let m = value(&mut next);
                let (r, c) = (rows.as_ptr(), col.as_ptr());
                ops.push(match next() % 21 {
                    0 => FusedKerSpec::ScalarMin(m),
                    1 => FusedKerSpec::ScalarMax(m),
                    2 => FusedKerSpec::ScalarAdd(m),
                    3 => FusedKerSpec::ScalarMul(m),
                    4 => FusedKerSpec::ScalarSub(m),
                    5 => FusedKerSpec::ScalarSubF(m),
                    6 => FusedKerSpec::LeakyRelu(m),
                    7 => FusedKerSpec::PerRowMin(r),
                    8 => FusedKerSpec::PerRowMax(r),
                    9 => FusedKerSpec::PerRowAdd(r),
                    10 => FusedKerSpec::PerRowMul(r),
                    11 => FusedKerSpec::PerRowSub(r),
                    12 => FusedKerSpec::PerRowSubF(r),
                    13 => FusedKerSpec::PerColMin(c),
                    14 => FusedKerSpec::PerColMax(c),
                    15 => FusedKerSpec::PerColAdd(c),
                    16 => FusedKerSpec::PerColMul(c),
                    17 => FusedKerSpec::PerColSub(c),
                    18 => FusedKerSpec::PerColSubF(c),
                    19 => FusedKerSpec::AddRowColProducts(r, c),
                    _ => FusedKerSpec::AddUnicast(OutputStoreKer {
                        ptr: other.as_ptr() as *mut u8,
                        row_byte_stride: stride,
                        col_byte_stride: 4,
                        item_size: 4,
                    }),
                });
            }
            let store = |out: &mut Vec<f32>| {
                FusedKerSpec::Store(OutputStoreKer {
                    ptr: out.as_mut_ptr() as *mut u8,
                    row_byte_stride: stride,
                    col_byte_stride: 4,
                    item_size: 4,
                })
            };
            let mut their_ops = ops.clone();
            their_ops.extend([store(&mut theirs), FusedKerSpec::Done]);
            ops.extend([store(&mut ours), FusedKerSpec::Done]);
            let (r1, r2) = unsafe {
                (
                    (avx_mmm_f32_64x1.kernel)(&their_ops),
                    prova_avx_mmm_f32_64x1(&ops),
                )
            };
            assert_eq!((r1, r2), (0, 0));
            for i in 0..theirs.len() {
                assert_eq!(
                    bits(ours[i]),
                    bits(theirs[i]),
                    "case {case}: k {k}, output {i}: {} against tract's {}; program {ops:?}",
                    ours[i],
                    theirs[i]
                );
            }
        }
    }
}
