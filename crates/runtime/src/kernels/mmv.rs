//! Prova's f32 matrix-vector kernel for the exact profile on CPUs with AVX-512F: tract's
//! `avx_mmm_f32_64x1` arithmetic on 512-bit registers.
//!
//! A product with one column (`n = 1`: a dense layer on one input, a classifier) reads each
//! weight once, so it runs at the speed its packed weights stream from memory. tract's AVX
//! kernel loads them 32 bytes at a time into eight accumulators of eight rows; this kernel does
//! the same arithmetic per output (one accumulator per row, from `+0`, `acc + a * b` in k
//! order, `vmulps` then `vaddps`, under the kernels' MXCSR with DAZ) with four accumulators of
//! sixteen rows, one 64-byte load per cache line. On a Zen 4 core this is faster where the
//! weights come from the last-level cache (a 1M-parameter MLP 59 → 53 µs) and the same where
//! they stream from memory (~60 GB/s either way: a 4M-parameter MLP's 8 MB layers); software
//! prefetch made it slower at every distance tried (docs/performance.md). Every fused
//! operation keeps the AVX kernels' operand order (see [`super::mmm`]), so every output has the
//! same bits as tract's kernel gives it (`tests/matrix_kernels.rs`).
//!
//! Selection: Prova's kernel tier ([`super::mmm`]) names it for every f32 product with `n = 1`
//! known, under the exact profile on a CPU with AVX-512F.

use std::arch::x86_64::*;
use std::sync::LazyLock;

use tract_onnx::tract_core::tract_linalg::{
    isa::{Arch, Isa, IsaReq},
    mmm::{DynKernel, FusedKerSpec, OutputStoreKer},
    mmm_routines::MmmRoutine,
    pack::Packing,
};

use super::mmm::{available, with_kernel_mxcsr};

/// The kernel's name, as tract's plans show it.
pub const KERNEL_NAME: &str = "prova_avx512_mmm_f32_64x1";

/// Rows per tile: four registers of sixteen.
const MR: usize = 64;

/// The kernel entry tract calls with one tile's fused operations.
unsafe fn prova_avx512_mmm_f32_64x1(ops: &[FusedKerSpec<f32>]) -> isize {
    if !available() {
        return 1;
    }
    // SAFETY: AVX-512F is present; `ops` is the tile program tract built for this kernel's
    // geometry (a packed panel of 64 × k, one of 1 × k, a tile of 64 × 1).
    unsafe { with_kernel_mxcsr(tile, ops.as_ptr()) }
}

static PROVA_AVX512_MMM_F32_64X1: LazyLock<DynKernel<MR, 1, f32>> = LazyLock::new(|| {
    let mut k = DynKernel::<MR, 1, f32>::new(
        KERNEL_NAME,
        prova_avx512_mmm_f32_64x1,
        f32::packing(MR).align(64),
        f32::packing(1).align(4),
    )
    .with_isa(IsaReq::ANY.needing(&[Isa::X86_64Avx]))
    // Below tract's AVX kernels of the same level: only Prova's tier names it.
    .with_boost(|| -1);
    k.arch = Some(Arch::X86_64);
    k.built = available();
    k
});

inventory::submit! { MmmRoutine { make: || PROVA_AVX512_MMM_F32_64X1.mmm() } }

/// A tile's accumulators: register `r` holds rows `16 r .. 16 r + 16`.
type Acc = [__m512; 4];

/// `$body` once per register `$r` = 0..4, written out (constant indices keep the accumulators
/// in registers, as in [`super::mmm`]).
macro_rules! each_reg {
    ($r:ident => $body:expr) => {
        each_reg!(@ $r => $body; 0 1 2 3)
    };
    (@ $r:ident => $body:expr; $($n:literal)*) => {
        $({
            const $r: usize = $n;
            $body;
        })*
    };
}

/// One tile program on a 64 × 1 tile. Returns 0, or 1 for an operation tract's AVX f32
/// kernels do not support either (quantisation steps, a packing or store type other than f32).
#[inline(never)]
#[target_feature(enable = "avx512f")]
unsafe fn tile(mut op: *const FusedKerSpec<f32>) -> isize {
    let mut acc: Acc = [_mm512_setzero_ps(); 4];
    // SAFETY (whole body): tract hands pointers to panels, tiles and vectors of this geometry.
    unsafe {
        loop {
            match *op {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => acc = [_mm512_setzero_ps(); 4],
                FusedKerSpec::LoadTile(col_major, _) => {
                    each_reg!(R => acc[R] = _mm512_loadu_ps(col_major.add(16 * R)));
                }
                // As the AVX kernels: `m op acc`; the flipped ones `acc op m`.
                FusedKerSpec::ScalarMin(m) => all(&mut acc, m, |m, a| _mm512_min_ps(m, a)),
                FusedKerSpec::ScalarMax(m) => all(&mut acc, m, |m, a| _mm512_max_ps(m, a)),
                FusedKerSpec::ScalarAdd(m) => all(&mut acc, m, |m, a| _mm512_add_ps(m, a)),
                FusedKerSpec::ScalarMul(m) => all(&mut acc, m, |m, a| _mm512_mul_ps(m, a)),
                FusedKerSpec::ScalarSub(m) => all(&mut acc, m, |m, a| _mm512_sub_ps(m, a)),
                FusedKerSpec::ScalarSubF(m) => all(&mut acc, m, |m, a| _mm512_sub_ps(a, m)),
                FusedKerSpec::LeakyRelu(alpha) => {
                    // `0 < x ? x : alpha * x`, as the AVX kernel's compare and blend.
                    let alpha = _mm512_set1_ps(alpha);
                    let zero = _mm512_setzero_ps();
                    each_reg!(R => {
                        let scaled = _mm512_mul_ps(acc[R], alpha);
                        let positive = _mm512_cmp_ps_mask::<_CMP_LT_OS>(zero, acc[R]);
                        acc[R] = _mm512_mask_blend_ps(positive, scaled, acc[R]);
                    });
                }
                FusedKerSpec::PerRowMin(p) => rows(&mut acc, p, |r, a| _mm512_min_ps(r, a)),
                FusedKerSpec::PerRowMax(p) => rows(&mut acc, p, |r, a| _mm512_max_ps(r, a)),
                FusedKerSpec::PerRowAdd(p) => rows(&mut acc, p, |r, a| _mm512_add_ps(r, a)),
                FusedKerSpec::PerRowMul(p) => rows(&mut acc, p, |r, a| _mm512_mul_ps(r, a)),
                FusedKerSpec::PerRowSub(p) => rows(&mut acc, p, |r, a| _mm512_sub_ps(r, a)),
                FusedKerSpec::PerRowSubF(p) => rows(&mut acc, p, |r, a| _mm512_sub_ps(a, r)),
                // One column: its value for every row.
                FusedKerSpec::PerColMin(p) => all(&mut acc, *p, |c, a| _mm512_min_ps(c, a)),
                FusedKerSpec::PerColMax(p) => all(&mut acc, *p, |c, a| _mm512_max_ps(c, a)),
                FusedKerSpec::PerColAdd(p) => all(&mut acc, *p, |c, a| _mm512_add_ps(c, a)),
                FusedKerSpec::PerColMul(p) => all(&mut acc, *p, |c, a| _mm512_mul_ps(c, a)),
                FusedKerSpec::PerColSub(p) => all(&mut acc, *p, |c, a| _mm512_sub_ps(c, a)),
                FusedKerSpec::PerColSubF(p) => all(&mut acc, *p, |c, a| _mm512_sub_ps(a, c)),
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let c = _mm512_set1_ps(*cols);
                    each_reg!(R => {
                        let r = _mm512_loadu_ps(rows.add(16 * R));
                        acc[R] = _mm512_add_ps(acc[R], _mm512_mul_ps(r, c));
                    });
                }
                FusedKerSpec::AddUnicast(other) => {
                    if other.item_size != 4 {
                        return 1;
                    }
                    let mut column = [0f32; MR];
                    read_column(&other, &mut column);
                    each_reg!(R => {
                        let v = _mm512_loadu_ps(column.as_ptr().add(16 * R));
                        acc[R] = _mm512_add_ps(acc[R], v);
                    });
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing } => {
                    if packing != 0 {
                        return 1;
                    }
                    let (mut pa, mut pb) = (pa as *const f32, pb as *const f32);
                    for _ in 0..k {
                        let b = _mm512_set1_ps(*pb);
                        each_reg!(R => {
                            let a = _mm512_loadu_ps(pa.add(16 * R));
                            acc[R] = _mm512_add_ps(acc[R], _mm512_mul_ps(a, b));
                        });
                        pa = pa.add(MR);
                        pb = pb.add(1);
                    }
                }
                FusedKerSpec::Store(tile) => {
                    if tile.item_size != 4 {
                        return 1;
                    }
                    if tile.row_byte_stride == 4 {
                        each_reg!(R => _mm512_storeu_ps((tile.ptr as *mut f32).add(16 * R), acc[R]));
                    } else {
                        let mut column = [0f32; MR];
                        each_reg!(R => _mm512_storeu_ps(column.as_mut_ptr().add(16 * R), acc[R]));
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

#[inline(always)]
unsafe fn all(acc: &mut Acc, m: f32, f: impl Fn(__m512, __m512) -> __m512) {
    // SAFETY: AVX-512F (every caller is an AVX-512F function).
    let m = unsafe { _mm512_set1_ps(m) };
    each_reg!(R => acc[R] = f(m, acc[R]));
}

#[inline(always)]
unsafe fn rows(acc: &mut Acc, p: *const f32, f: impl Fn(__m512, __m512) -> __m512) {
    // SAFETY: sixty-four rows' values; AVX-512F.
    each_reg!(R => acc[R] = f(unsafe { _mm512_loadu_ps(p.add(16 * R)) }, acc[R]));
}

/// The tile's sixty-four values, rows `row_byte_stride` bytes apart.
///
/// # Safety
/// `t` points to a 64 × 1 tile of f32.
pub(super) unsafe fn read_column(t: &OutputStoreKer, column: &mut [f32; MR]) {
    for (i, v) in column.iter_mut().enumerate() {
        // SAFETY: row `i` of the tile.
        *v = unsafe { *(t.ptr.offset(t.row_byte_stride * i as isize) as *const f32) };
    }
}

/// Writes the tile's sixty-four values, rows `row_byte_stride` bytes apart.
///
/// # Safety
/// `t` points to a 64 × 1 tile of f32.
pub(super) unsafe fn write_column(t: &OutputStoreKer, column: &[f32; MR]) {
    for (i, v) in column.iter().enumerate() {
        // SAFETY: row `i` of the tile.
        unsafe { *(t.ptr.offset(t.row_byte_stride * i as isize) as *mut f32) = *v };
    }
}
