//! Prova's integer matrix kernel for the exact profile on CPUs with AVX2: tract's
//! `avx2_mmm_i32_8x8` arithmetic, without its legacy SSE instructions.
//!
//! Every integer product the exact profile runs on an AVX2 CPU (`ConvInteger`, `MatMulInteger`,
//! `QLinearConv`, `QLinearMatMul`, and the quantised layers of int8 networks) is tract's
//! `avx2_mmm_i32_8x8`: AVX-512 VNNI is removed from the profile, and AVX2 has no other integer
//! kernel. Its inner loop reads each k step's eight left-operand bytes with `movq`, its
//! quantisation steps load their constants with `movq`/`movd`, and its store extracts every
//! output with `extractps`: legacy SSE encodings, run while the upper halves of the AVX registers
//! hold values. That costs a state transition per instruction on the CPUs where transitions cost:
//! ~110 ns per AVX-to-SSE round trip on the AMD EPYC virtual machine of docs/performance.md,
//! where `convinteger_3x3` (8.5 M multiply-adds) took 280 ms, 30 M multiply-adds a second, and
//! the integer fixtures fell 10 to 15 times under the gas band.
//!
//! This kernel computes what tract's computes, bit for bit. The products are exact:
//! eight-bit operands multiply into sixteen bits without loss and the sums wrap in 32 bits, so
//! the k order and the pairing (`vpmaddwd` adds two k steps' products before the accumulator)
//! change nothing. The fused operations reproduce tract's assembly, which is not tract's
//! portable kernel at the edges (toward ±∞ its rounding shift shifts `x + half` itself, and
//! `vpabsd` leaves the magnitude of `i32::MIN` negative); `tests` here runs random tile
//! programs through both kernels on edge values (every rounding policy, shifts, strides, both
//! packings and both stores) and compares every output. An operation it does not compute
//! (leaky ReLU, shifts out of range) hands the rest of the program to tract's kernel, the
//! accumulators loaded as a tile.
//!
//! Selection: a kernel tier ranked above tract's, applying under the exact profile where the
//! pinned instruction set has AVX2, names this kernel for every i32 product (tract runs
//! `avx2_mmm_i32_8x8` for all of them there, matrix-vector products included).

use std::arch::x86_64::*;
use std::sync::LazyLock;
use std::sync::atomic::Ordering;

use tract_onnx::prelude::DatumType;
use tract_onnx::tract_core::tract_linalg::{
    isa::{Arch, Isa, IsaReq, IsaSet},
    mmm::{DynKernel, FusedKerSpec, OutputStoreKer, Query, RoundingPolicy, Suitable},
    mmm_routines::MmmRoutine,
    mmm_tiers::MmmTier,
    pack::{PackedFormat, Packing},
    x86_64::mmm::avx2_mmm_i32_8x8,
};

/// The kernel's name, as tract's plans show it.
pub const KERNEL_NAME: &str = "prova_avx2_mmm_i32_8x8";

/// Whether this CPU runs the kernel.
pub fn available() -> bool {
    static AVX2: LazyLock<bool> = LazyLock::new(|| is_x86_feature_detected!("avx2"));
    *AVX2
}

/// The kernel entry tract calls with one tile's fused operations.
unsafe fn prova_avx2_mmm_i32_8x8(ops: &[FusedKerSpec<i32>]) -> isize {
    if !available() {
        return 1;
    }
    // SAFETY: AVX2 is present; `ops` is a tile program tract built for this kernel's geometry
    // and packings (tract's `avx2_mmm_i32_8x8`'s).
    unsafe { tile(ops) }
}

static PROVA_AVX2_MMM_I32_8X8: LazyLock<DynKernel<8, 8, i32>> = LazyLock::new(|| {
    // tract's `avx2_mmm_i32_8x8`'s declaration: i32 panels (packing 0), i8 panels (packing 1),
    // stores of i32 and i8.
    let mut k = DynKernel::<8, 8, i32>::new(
        KERNEL_NAME,
        prova_avx2_mmm_i32_8x8,
        i32::packing(8).align(256),
        i32::packing(8).align(4),
    )
    .with_packing(
        PackedFormat::new(DatumType::I8, 8, 256),
        PackedFormat::new(DatumType::I8, 8, 4),
    )
    .with_store::<i8>()
    .with_isa(IsaReq::ANY.needing(&[Isa::X86_64Avx2]))
    // Below tract's kernels: only the tier below names it.
    .with_boost(|| -1);
    k.arch = Some(Arch::X86_64);
    k.built = available();
    k
});

inventory::submit! { MmmRoutine { make: || PROVA_AVX2_MMM_I32_8X8.mmm() } }

/// This kernel for every i32 product: tract's AVX2 tier names `avx2_mmm_i32_8x8` for all but
/// `n = 1`, and its fallback picks the same kernel for those.
fn preferred(_isa: &IsaSet, dt: DatumType, _: &Query, _: &[Suitable]) -> Option<&'static str> {
    if dt != DatumType::I32 || super::mmm::FORCE_TRACT.load(Ordering::Relaxed) {
        return None;
    }
    Some(PROVA_AVX2_MMM_I32_8X8.name.as_str())
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::X86_64),
        precedence: 39,
        name: "prova-exact-avx2-i32",
        // Read from the instruction set the profile pinned: `PROVA_EXACT_TIER=avx` removes
        // AVX2, and tract's AVX tier (`avx_mmm_i32_8x4`) runs the product as an IvyBridge does.
        applies: |isa| crate::pinned() != Some(crate::Profile::Native) && isa.has(Isa::X86_64Avx2),
        preferred,
    }
}

/// A tile's accumulators: register `j` holds column `j` (eight rows, one per lane).
type Acc = [__m256i; 8];

/// Runs one tile program.
///
/// # Safety
/// AVX2 must be present, and `ops` must end with `Done` and hold pointers valid for this
/// kernel's geometry, as tract's frame builds them.
#[target_feature(enable = "avx2")]
unsafe fn tile(ops: &[FusedKerSpec<i32>]) -> isize {
    let mut acc: Acc = [_mm256_setzero_si256(); 8];
    for (ix, op) in ops.iter().enumerate() {
        // SAFETY: the pointers in `op` are valid per the caller's contract.
        unsafe {
            match *op {
                FusedKerSpec::Done => return 0,
                FusedKerSpec::Clear => acc = [_mm256_setzero_si256(); 8],
                FusedKerSpec::LoadTile(col_major, _) => {
                    for (j, a) in acc.iter_mut().enumerate() {
                        *a = _mm256_loadu_si256(col_major.add(8 * j) as *const __m256i);
                    }
                }
                FusedKerSpec::AddMatMul {
                    k,
                    pa,
                    pb,
                    packing: 1,
                } => add_mat_mul_i8(&mut acc, k, pa as *const i8, pb as *const i8),
                FusedKerSpec::AddMatMul {
                    k,
                    pa,
                    pb,
                    packing: 0,
                } => add_mat_mul_i32(&mut acc, k, pa as *const i32, pb as *const i32),
                FusedKerSpec::ScalarAdd(m) => scalar(&mut acc, m, |m, a| _mm256_add_epi32(m, a)),
                FusedKerSpec::ScalarMul(m) => scalar(&mut acc, m, |m, a| _mm256_mullo_epi32(m, a)),
                FusedKerSpec::ScalarMin(m) => scalar(&mut acc, m, |m, a| _mm256_min_epi32(m, a)),
                FusedKerSpec::ScalarMax(m) => scalar(&mut acc, m, |m, a| _mm256_max_epi32(m, a)),
                FusedKerSpec::ScalarSub(m) => scalar(&mut acc, m, |m, a| _mm256_sub_epi32(m, a)),
                FusedKerSpec::ScalarSubF(m) => scalar(&mut acc, m, |m, a| _mm256_sub_epi32(a, m)),
                FusedKerSpec::PerRowAdd(p) => per_row(&mut acc, p, |m, a| _mm256_add_epi32(m, a)),
                FusedKerSpec::PerRowMul(p) => per_row(&mut acc, p, |m, a| _mm256_mullo_epi32(m, a)),
                FusedKerSpec::PerRowMin(p) => per_row(&mut acc, p, |m, a| _mm256_min_epi32(m, a)),
                FusedKerSpec::PerRowMax(p) => per_row(&mut acc, p, |m, a| _mm256_max_epi32(m, a)),
                FusedKerSpec::PerRowSub(p) => per_row(&mut acc, p, |m, a| _mm256_sub_epi32(m, a)),
                FusedKerSpec::PerRowSubF(p) => per_row(&mut acc, p, |m, a| _mm256_sub_epi32(a, m)),
                FusedKerSpec::PerColAdd(p) => per_col(&mut acc, p, |m, a| _mm256_add_epi32(m, a)),
                FusedKerSpec::PerColMul(p) => per_col(&mut acc, p, |m, a| _mm256_mullo_epi32(m, a)),
                FusedKerSpec::PerColMin(p) => per_col(&mut acc, p, |m, a| _mm256_min_epi32(m, a)),
                FusedKerSpec::PerColMax(p) => per_col(&mut acc, p, |m, a| _mm256_max_epi32(m, a)),
                FusedKerSpec::PerColSub(p) => per_col(&mut acc, p, |m, a| _mm256_sub_epi32(m, a)),
                FusedKerSpec::PerColSubF(p) => per_col(&mut acc, p, |m, a| _mm256_sub_epi32(a, m)),
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let r = _mm256_loadu_si256(rows as *const __m256i);
                    for (j, a) in acc.iter_mut().enumerate() {
                        let c = _mm256_set1_epi32(*cols.add(j));
                        *a = _mm256_add_epi32(*a, _mm256_mullo_epi32(r, c));
                    }
                }
                FusedKerSpec::AddUnicast(t) if t.item_size == 4 || t.item_size == 1 => {
                    add_unicast(&mut acc, &t)
                }
                FusedKerSpec::QScale(shift, policy, mult) if rounds(policy) => {
                    let shift = shift + 31;
                    if !(1..63).contains(&shift) {
                        return delegate(&acc, &ops[ix..]);
                    }
                    each(&mut acc, |x| q_scale(x, shift as u32, policy, mult))
                }
                FusedKerSpec::RoundingShiftRight(shift, policy)
                    if rounds(policy) && (1..32).contains(&shift) =>
                {
                    each(&mut acc, |x| shift_right(x, shift as u32, policy))
                }
                FusedKerSpec::ShiftLeft(shift) if shift < 32 => {
                    let s = _mm_cvtsi32_si128(shift as i32);
                    for a in acc.iter_mut() {
                        *a = _mm256_sll_epi32(*a, s);
                    }
                }
                FusedKerSpec::Store(t) if t.item_size == 4 || t.item_size == 1 => store(&acc, &t),
                _ => return delegate(&acc, &ops[ix..]),
            }
        }
    }
    0
}

/// Whether Prova computes this rounding policy itself (tract's portable kernel panics on
/// `Native`, which its planner resolves before building tile programs).
fn rounds(policy: RoundingPolicy) -> bool {
    !matches!(policy, RoundingPolicy::Native)
}

/// The k loop on i8 panels: two k steps per iteration, their bytes interleaved into 16-bit
/// pairs so that `vpmaddwd` multiplies and adds both (exact: |a·b| ≤ 2¹⁴, two of them fit).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add_mat_mul_i8(acc: &mut Acc, k: usize, mut pa: *const i8, mut pb: *const i8) {
    let mut a_ = *acc;
    // SAFETY: the panels hold `k` steps of eight bytes each (the caller's contract).
    unsafe {
        for _ in 0..k / 2 {
            let a = _mm_loadu_si128(pa as *const __m128i);
            let b = _mm_loadu_si128(pb as *const __m128i);
            add_pair(
                &mut a_,
                a,
                _mm_srli_si128::<8>(a),
                b,
                _mm_srli_si128::<8>(b),
            );
            pa = pa.add(16);
            pb = pb.add(16);
        }
        if k % 2 == 1 {
            // The last step alone, paired with zeros.
            let z = _mm_setzero_si128();
            let a = _mm_loadl_epi64(pa as *const __m128i);
            let b = _mm_loadl_epi64(pb as *const __m128i);
            add_pair(&mut a_, a, z, b, z);
        }
    }
    *acc = a_;
}

/// `acc += a · b` for two k steps: each operand's eight bytes of the first step in the low half
/// of `*0`, of the second in the low half of `*1`.
#[inline]
#[target_feature(enable = "avx2")]
fn add_pair(acc: &mut Acc, a0: __m128i, a1: __m128i, b0: __m128i, b1: __m128i) {
    // Row (column) i's two bytes side by side, widened to 16 bits.
    let a = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(a0, a1));
    let b = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(b0, b1));
    let mut pairs = [0i32; 8];
    // SAFETY: `pairs` is 32 bytes.
    unsafe { _mm256_storeu_si256(pairs.as_mut_ptr() as *mut __m256i, b) };
    for (acc, pair) in acc.iter_mut().zip(pairs) {
        *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(a, _mm256_set1_epi32(pair)));
    }
}

/// The k loop on i32 panels: `acc += a · b` in 32 bits (the low half of the product, as
/// `vpmulld`).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add_mat_mul_i32(acc: &mut Acc, k: usize, mut pa: *const i32, mut pb: *const i32) {
    let mut a_ = *acc;
    // SAFETY: the panels hold `k` steps of eight values each (the caller's contract).
    unsafe {
        for _ in 0..k {
            let a = _mm256_loadu_si256(pa as *const __m256i);
            for (j, acc) in a_.iter_mut().enumerate() {
                let bj = _mm256_set1_epi32(*pb.add(j));
                *acc = _mm256_add_epi32(*acc, _mm256_mullo_epi32(a, bj));
            }
            pa = pa.add(8);
            pb = pb.add(8);
        }
    }
    *acc = a_;
}

#[inline]
#[target_feature(enable = "avx2")]
fn scalar(acc: &mut Acc, m: i32, f: impl Fn(__m256i, __m256i) -> __m256i) {
    let m = _mm256_set1_epi32(m);
    for a in acc.iter_mut() {
        *a = f(m, *a);
    }
}

/// `acc = f(m[row], acc)`: the eight values are the lanes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn per_row(acc: &mut Acc, p: *const i32, f: impl Fn(__m256i, __m256i) -> __m256i) {
    // SAFETY: `p` holds eight values (the caller's contract).
    let m = unsafe { _mm256_loadu_si256(p as *const __m256i) };
    for a in acc.iter_mut() {
        *a = f(m, *a);
    }
}

/// `acc = f(m[col], acc)`: one value per register.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn per_col(acc: &mut Acc, p: *const i32, f: impl Fn(__m256i, __m256i) -> __m256i) {
    for (j, a) in acc.iter_mut().enumerate() {
        // SAFETY: `p` holds eight values (the caller's contract).
        let m = _mm256_set1_epi32(unsafe { *p.add(j) });
        *a = f(m, *a);
    }
}

/// Applies `f` to every accumulator, lane by lane.
#[inline]
#[target_feature(enable = "avx2")]
fn each(acc: &mut Acc, f: impl Fn(i32) -> i32) {
    for a in acc.iter_mut() {
        let mut v = [0i32; 8];
        // SAFETY: `v` is 32 bytes.
        unsafe { _mm256_storeu_si256(v.as_mut_ptr() as *mut __m256i, *a) };
        for x in v.iter_mut() {
            *x = f(*x);
        }
        // SAFETY: as above.
        *a = unsafe { _mm256_loadu_si256(v.as_ptr() as *const __m256i) };
    }
}

/// `vpsignd`: `r` with `x`'s sign (`-r` wrapping for negative `x`, `0` for zero).
fn sign_of(r: i32, x: i32) -> i32 {
    match x.signum() {
        -1 => r.wrapping_neg(),
        0 => 0,
        _ => r,
    }
}

/// tract's AVX2 `QScale` of one accumulator, `x · mult / 2^shift` rounded (`shift` is the
/// operation's plus 31, in 1..63): the magnitude (`vpabsd`, so `i32::MIN` stays negative)
/// times `mult` in 64 signed bits (`vpmuldq`), the policy's nudge and half added in 64 bits,
/// a logical shift, the low 32 bits, `x`'s sign.
fn q_scale(x: i32, shift: u32, policy: RoundingPolicy, mult: i32) -> i32 {
    use RoundingPolicy::*;
    let p = (x.wrapping_abs() as i64).wrapping_mul(mult as i64) as u64;
    let half = 1u64 << (shift - 1);
    let q = match policy {
        Zero => p.wrapping_add(half).wrapping_sub(1),
        Away => p.wrapping_add(half),
        MinusInf => p.wrapping_add(half).wrapping_sub((x > 0) as u64),
        PlusInf => p.wrapping_add(half).wrapping_sub((x <= 0) as u64),
        Even => p
            .wrapping_add((p >> shift) & 1)
            .wrapping_sub(1)
            .wrapping_add(half),
        Odd => p.wrapping_sub((p >> shift) & 1).wrapping_add(half),
        Native => unreachable!("resolved by the planner"),
    };
    sign_of((q >> shift) as u32 as i32, x)
}

/// tract's AVX2 `RoundingShiftRight` of one accumulator (`shift` in 1..32), in wrapping 32-bit
/// arithmetic with arithmetic shifts: the magnitude plus nudge and half, shifted, given `x`'s
/// sign; toward the infinities, `x` itself plus half (minus one toward minus infinity).
fn shift_right(x: i32, shift: u32, policy: RoundingPolicy) -> i32 {
    use RoundingPolicy::*;
    let half = 1i32 << (shift - 1);
    let a = x.wrapping_abs();
    let magnitude = |nudge: i32| a.wrapping_add(nudge).wrapping_add(half) >> shift;
    match policy {
        Zero => sign_of(magnitude(-1), x),
        Away => sign_of(magnitude(0), x),
        MinusInf => x.wrapping_sub(1).wrapping_add(half) >> shift,
        PlusInf => x.wrapping_add(half) >> shift,
        Even => sign_of(magnitude(((a >> shift) & 1) - 1), x),
        Odd => sign_of(magnitude(-((a >> shift) & 1)), x),
        Native => unreachable!("resolved by the planner"),
    }
}

/// `acc += other[row, col]`, i32 or sign-extended i8.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn add_unicast(acc: &mut Acc, t: &OutputStoreKer) {
    for (j, a) in acc.iter_mut().enumerate() {
        let mut v = [0i32; 8];
        for (i, x) in v.iter_mut().enumerate() {
            // SAFETY: the frame's tile covers 8 × 8 items at these strides.
            unsafe {
                let p = t
                    .ptr
                    .offset(t.row_byte_stride * i as isize + t.col_byte_stride * j as isize);
                *x = if t.item_size == 4 {
                    (p as *const i32).read_unaligned()
                } else {
                    *(p as *const i8) as i32
                };
            }
        }
        // SAFETY: `v` is 32 bytes.
        *a = _mm256_add_epi32(*a, unsafe {
            _mm256_loadu_si256(v.as_ptr() as *const __m256i)
        });
    }
}

/// Stores the tile: each i32, or its low byte (tract's i8 store keeps the low byte; the
/// program clamps before it).
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn store(acc: &Acc, t: &OutputStoreKer) {
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: the frame's tile covers 8 × 8 items at these strides.
        unsafe {
            let col = t.ptr.offset(t.col_byte_stride * j as isize);
            if t.item_size == 4 && t.row_byte_stride == 4 {
                _mm256_storeu_si256(col as *mut __m256i, *a);
                continue;
            }
            let mut v = [0i32; 8];
            _mm256_storeu_si256(v.as_mut_ptr() as *mut __m256i, *a);
            for (i, x) in v.iter().enumerate() {
                let p = col.offset(t.row_byte_stride * i as isize);
                if t.item_size == 4 {
                    (p as *mut i32).write_unaligned(*x);
                } else {
                    *p = *x as u8;
                }
            }
        }
    }
}

/// Hands the rest of the program (`rest`, from an operation this kernel does not compute) to
/// tract's kernel, the accumulators loaded as a tile first.
#[target_feature(enable = "avx2")]
unsafe fn delegate(acc: &Acc, rest: &[FusedKerSpec<i32>]) -> isize {
    let mut tile = [0i32; 64];
    for (j, a) in acc.iter().enumerate() {
        // SAFETY: `tile` holds eight columns of eight.
        unsafe { _mm256_storeu_si256(tile.as_mut_ptr().add(8 * j) as *mut __m256i, *a) };
    }
    let mut program = Vec::with_capacity(rest.len() + 1);
    // tract's AVX2 kernel reads the column-major tile only.
    program.push(FusedKerSpec::LoadTile(tile.as_ptr(), tile.as_ptr()));
    program.extend_from_slice(rest);
    // SAFETY: the program is `rest`, valid per the caller's contract, after a tile load of
    // `tile`, which outlives the call.
    let r = unsafe { (avx2_mmm_i32_8x8.kernel)(&program) };
    // tract's kernel returns with the upper halves of the AVX registers set.
    _mm256_zeroupper();
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::xorshift;

    /// A 64-byte aligned buffer of `len` bytes (tract's i32 kernel loads panels aligned).
    struct Aligned(Vec<u8>, usize);
    impl Aligned {
        fn new(len: usize) -> Self {
            let v = vec![0u8; len + 64];
            let off = v.as_ptr().align_offset(64);
            Aligned(v, off)
        }
        fn ptr(&mut self) -> *mut u8 {
            self.0[self.1..].as_mut_ptr()
        }
    }

    /// Edge-heavy i32 values: extremes, zeros, small and large.
    fn value(next: &mut impl FnMut() -> u64) -> i32 {
        match next() % 8 {
            0 => i32::MIN,
            1 => i32::MAX,
            2 => 0,
            3 => (next() % 5) as i32 - 2,
            4 => (next() as i32) >> (next() % 31),
            _ => next() as i32,
        }
    }

    fn policy(next: &mut impl FnMut() -> u64) -> RoundingPolicy {
        use RoundingPolicy::*;
        [Zero, Away, MinusInf, PlusInf, Even, Odd][(next() % 6) as usize]
    }

    /// Random tile programs through tract's `avx2_mmm_i32_8x8` and this kernel: the same
    /// outputs, byte for byte.
    #[test]
    fn same_outputs_as_tracts_avx2_kernel() {
        if !available() {
            return;
        }
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        for case in 0..4000 {
            let packing = (next() % 2) as usize;
            let k = [0, 1, 2, 3, 7, 8, 33, 64, 257][(next() % 9) as usize];
            let item = if packing == 1 { 1 } else { 4 };
            let mut pa = Aligned::new(k * 8 * item + 16);
            let mut pb = Aligned::new(k * 8 * item + 16);
            for buf in [&mut pa, &mut pb] {
                let p = buf.ptr();
                for i in 0..k * 8 * item {
                    // i8 panels: full range, extremes often; i32 panels: edge values.
                    unsafe {
                        *p.add(i) = (next() as u8) | if next().is_multiple_of(4) { 0x80 } else { 0 }
                    };
                }
                if item == 4 {
                    for i in 0..k * 8 {
                        unsafe { (p as *mut i32).add(i).write(value(&mut next)) };
                    }
                }
            }
            let rows: Vec<i32> = (0..8).map(|_| value(&mut next)).collect();
            let cols: Vec<i32> = (0..8).map(|_| value(&mut next)).collect();
            let loaded: Vec<i32> = (0..64).map(|_| value(&mut next)).collect();
            let other: Vec<u8> = (0..64 * 4).map(|_| next() as u8).collect();
            let store_item = if next().is_multiple_of(2) { 4usize } else { 1 };
            let by_col = next().is_multiple_of(2);
            let (rs, cs) = if by_col {
                (store_item as isize, 8 * store_item as isize)
            } else {
                (8 * store_item as isize + 4, store_item as isize)
            };
            let out_len = (8 * rs.max(cs) + 8 * rs.min(cs)) as usize + 16;
            let (mut theirs, mut ours) = (vec![0u8; out_len], vec![0u8; out_len]);

            let mut program = |out: *mut u8| {
                let mut ops = vec![if next().is_multiple_of(5) {
                    FusedKerSpec::LoadTile(loaded.as_ptr(), loaded.as_ptr())
                } else {
                    FusedKerSpec::Clear
                }];
                ops.push(FusedKerSpec::AddMatMul {
                    k,
                    pa: pa.ptr(),
                    pb: pb.ptr(),
                    packing,
                });
                for _ in 0..next() % 5 {
                    let m = value(&mut next);
                    let (r, c) = (rows.as_ptr(), cols.as_ptr());
                    ops.push(match next() % 25 {
                        0 => FusedKerSpec::ScalarAdd(m),
                        1 => FusedKerSpec::ScalarMul(m),
                        2 => FusedKerSpec::ScalarMin(m),
                        3 => FusedKerSpec::ScalarMax(m),
                        4 => FusedKerSpec::ScalarSub(m),
                        5 => FusedKerSpec::ScalarSubF(m),
                        6 => FusedKerSpec::PerRowAdd(r),
                        7 => FusedKerSpec::PerRowMul(r),
                        8 => FusedKerSpec::PerRowMin(r),
                        9 => FusedKerSpec::PerRowMax(r),
                        10 => FusedKerSpec::PerRowSub(r),
                        11 => FusedKerSpec::PerRowSubF(r),
                        12 => FusedKerSpec::PerColAdd(c),
                        13 => FusedKerSpec::PerColMul(c),
                        14 => FusedKerSpec::PerColMin(c),
                        15 => FusedKerSpec::PerColMax(c),
                        16 => FusedKerSpec::PerColSub(c),
                        17 => FusedKerSpec::PerColSubF(c),
                        18 => FusedKerSpec::AddRowColProducts(r, c),
                        19 => {
                            let item_size = if next().is_multiple_of(2) { 4 } else { 1 };
                            FusedKerSpec::AddUnicast(OutputStoreKer {
                                ptr: other.as_ptr() as *mut u8,
                                row_byte_stride: item_size as isize,
                                col_byte_stride: 8 * item_size as isize,
                                item_size,
                            })
                        }
                        20 | 21 => FusedKerSpec::QScale(
                            (next() % 24) as isize - 4,
                            policy(&mut next),
                            if next().is_multiple_of(2) {
                                (next() as i32 >> 1).max(1 << 30)
                            } else {
                                value(&mut next)
                            },
                        ),
                        // Not computed here: the rest of the program runs in tract's kernel.
                        23 => FusedKerSpec::LeakyRelu(m),
                        22 => FusedKerSpec::RoundingShiftRight(
                            1 + (next() % 20) as usize,
                            policy(&mut next),
                        ),
                        _ => FusedKerSpec::ShiftLeft((next() % 8) as usize),
                    });
                }
                ops.push(FusedKerSpec::Store(OutputStoreKer {
                    ptr: out,
                    row_byte_stride: rs,
                    col_byte_stride: cs,
                    item_size: store_item,
                }));
                ops.push(FusedKerSpec::Done);
                ops
            };
            let ops = program(theirs.as_mut_ptr());
            let mut ours_ops = ops.clone();
            if let Some(FusedKerSpec::Store(t)) = ours_ops.iter_mut().rev().nth(1) {
                t.ptr = ours.as_mut_ptr();
            }
            let (r1, r2) = unsafe {
                (
                    (avx2_mmm_i32_8x8.kernel)(&ops),
                    prova_avx2_mmm_i32_8x8(&ours_ops),
                )
            };
            assert_eq!((r1, r2), (0, 0));
            assert!(
                theirs == ours,
                "case {case}: k {k}, packing {packing}, program {ops:?}\n theirs {theirs:?}\n ours   {ours:?}"
            );
        }
    }
}
