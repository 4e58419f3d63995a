//! tract routines the exact profile pins: to tract's own portable kernels, or to Prova's
//! kernels that compute the portable arithmetic faster.
//!
//! The exact profile keeps tract's AVX and AVX2 kernels (see [`crate::EXACT_ISA_EDIT`]) because
//! their arithmetic is the portable kernels' arithmetic vectorised across independent outputs:
//! the matrix kernels multiply, then add, one accumulator per output in k order; the
//! multiply-by-scalar kernel does the same basic operations per element (tract's depthwise
//! convolution is replaced by Prova's op, `crate::depthwise`). Four
//! AVX routines are *not* the portable arithmetic, and would make a CPU with AVX disagree
//! with one without it:
//!
//! - `Tanh` and `Sigmoid` (`avx_tanh_f32`, `avx_sigmoid_f32`): the same rational fit, but
//!   the assembly flushes subnormal inputs (`tanh(1e-45)` is `0` there, `1.4e-45` portably);
//! - `ReduceMax` and `ReduceMin` (`vmaxps`/`vminps` over eight lanes): x86's max returns its
//!   second operand when either is NaN and for `max(-0, +0)`, so which NaN or which zero comes
//!   out depends on the lane a value lands in, where the portable kernel orders by
//!   `f32::total_cmp`.
//!
//! tract picks a routine per function from its inventory: an architecture kernel over a generic
//! one, then the highest preference. Prova adds one x86-64 routine per pinned function, ranked
//! above every other, whose factory hands out tract's own generic kernel under the exact
//! profile and tract's usual choice otherwise (so the native profile keeps tract's kernels).
//! Every caller inside tract (the `Tanh` and `Sigmoid` ops, GRU/LSTM cells, reductions,
//! softmax) goes through that lookup, so the pin covers them all. The two reductions are
//! also made NaN-propagating in both profiles (`NanPropagating`): the sign of a NaN, which
//! the AVX and portable matrix kernels do not agree on, must not decide a maximum. Under the
//! exact profile their portable result is computed eight lanes at a time (`extreme`: the
//! greatest element of a total order does not depend on the order it is looked for in).
//!
//! Two functions have no vectorised kernel left under the exact profile (tract's need FMA),
//! and their portable loops were a third of a transformer block's time; they are pinned to
//! Prova's kernels, which run the portable kernel's operations lane for lane: softmax's
//! exp-and-sum ([`exp_sum`], FMA where the CPU has it: a fused multiply-add is correctly
//! rounded, so it equals the portable kernel's `fmaf`) and erf ([`erf`], AVX).

#[cfg(target_arch = "x86_64")]
pub mod erf;
#[cfg(target_arch = "x86_64")]
pub mod exp_sum;
#[cfg(target_arch = "x86_64")]
pub mod mmm;
#[cfg(target_arch = "x86_64")]
pub mod mmm_i32;
#[cfg(target_arch = "x86_64")]
pub mod mmv;
#[cfg(target_arch = "x86_64")]
pub mod mmv_avx;
#[cfg(target_arch = "x86_64")]
pub mod tile_avx;

/// A xorshift64 generator from `seed` (not zero): reproducible values for the kernels' tests.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use crate::Profile;
    use std::sync::OnceLock;

    use tract_onnx::prelude::{DatumType, TractResult};
    use tract_onnx::tract_core::tract_linalg::{
        Func,
        element_wise::{ElementWise, ElementWiseKer},
        isa::{self, Arch, IsaReq, LEVEL_BOOST},
        reduce::{MapReduce, MapReduceImpl, Reduce},
        routines::{self, Routine, RoutineFactory},
    };

    /// Ranks Prova's routines above any kernel tract declares (levels are single digits).
    const PINNED_BOOST: isize = 1000 * LEVEL_BOOST;

    /// Whether this process runs the exact profile (or has pinned nothing yet: the exact
    /// profile is the default, and tract is only run after a pin).
    fn exact() -> bool {
        crate::pinned() != Some(Profile::Native)
    }

    fn ours(r: &Routine) -> bool {
        r.boost == PINNED_BOOST
    }

    /// The routine tract would run for `func` on f32 without Prova's: its portable one under
    /// the exact profile, its best for this CPU otherwise (tract's own ranking).
    fn delegate(func: Func) -> &'static Routine {
        let native = isa::native();
        let candidates =
            routines::declared().filter(|r| !ours(r) && r.func == func && r.dt() == DatumType::F32);
        let chosen = if exact() {
            candidates
                .filter(|r| r.arch.is_none())
                .max_by_key(|r| r.name())
        } else {
            candidates
                .filter(|r| r.runnable_on(&native))
                .max_by_key(|r| {
                    (
                        r.arch.is_some(),
                        r.isa.level() as isize * LEVEL_BOOST + r.boost,
                        r.name(),
                    )
                })
        };
        match chosen {
            Some(r) => r,
            // tract 0.23.9 declares a generic kernel for each of these functions; a test
            // (`fixtures.rs`, `exact_profile_pins_the_instruction_set`) checks it on every build.
            None => panic!("tract declares no f32 kernel for {}", func.name()),
        }
    }

    fn element_wise(
        func: Func,
        slot: &'static OnceLock<&'static Routine>,
    ) -> Box<dyn ElementWise<f32>> {
        match slot.get_or_init(|| delegate(func)).factory {
            RoutineFactory::F32(f) => f(),
            _ => panic!("tract's {} kernel is not element-wise", func.name()),
        }
    }

    fn reduce(func: Func, slot: &'static OnceLock<&'static Routine>) -> Box<dyn Reduce<f32>> {
        match slot.get_or_init(|| delegate(func)).factory {
            RoutineFactory::F32Reduce(f) => Box::new(NanPropagating {
                inner: f(),
                // Under the exact profile the inner kernel is tract's portable one, which
                // `extreme::portable` computes without its per-element loop.
                fast: exact().then_some(func == Func::ReduceMax),
            }),
            _ => panic!("tract's {} kernel is not a reduction", func.name()),
        }
    }

    /// A max or min that is NaN when any element is NaN, whatever the NaN's sign.
    ///
    /// tract's portable kernels order by `f32::total_cmp`, where a NaN with the sign bit set is
    /// the smallest value and one without it the largest: `max(-NaN, 1)` is `1`, `max(NaN, 1)`
    /// is NaN. The sign of a NaN is not part of the arithmetic: the AVX and portable matrix
    /// kernels agree on every number but can hand out a NaN of either sign (x86 keeps the
    /// first operand's NaN, and the kernels add in different operand orders). Propagating
    /// every NaN keeps that sign from reaching a number.
    #[derive(Debug, Clone)]
    struct NanPropagating {
        inner: Box<dyn Reduce<f32>>,
        /// `Some(max)` where `inner` is tract's portable maximum (`true`) or minimum, which
        /// [`super::extreme::portable`] computes with the same result for every input.
        fast: Option<bool>,
    }

    impl Reduce<f32> for NanPropagating {
        fn name(&self) -> &'static str {
            self.inner.name()
        }

        fn run_with_params(&self, vec: &[f32], params: ()) -> TractResult<f32> {
            if self.fast == Some(true) {
                // The same result, the NaN test and the maximum in one pass where it can.
                Ok(super::extreme::max_propagating_nan(vec, true))
            } else if super::extreme::has_nan(vec) {
                Ok(f32::NAN)
            } else if let Some(max) = self.fast {
                Ok(super::extreme::portable(vec, max))
            } else {
                self.inner.run_with_params(vec, params)
            }
        }
    }

    fn tanh() -> Box<dyn ElementWise<f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        element_wise(Func::Tanh, &SLOT)
    }

    fn sigmoid() -> Box<dyn ElementWise<f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        element_wise(Func::Sigmoid, &SLOT)
    }

    fn reduce_max() -> Box<dyn Reduce<f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        reduce(Func::ReduceMax, &SLOT)
    }

    fn reduce_min() -> Box<dyn Reduce<f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        reduce(Func::ReduceMin, &SLOT)
    }

    macro_rules! pin {
        ($func:ident, $factory:expr) => {
            inventory::submit! {
                Routine {
                    func: Func::$func,
                    arch: Some(Arch::X86_64),
                    isa: IsaReq::ANY,
                    boost: PINNED_BOOST,
                    round_trip: false,
                    factory: $factory,
                }
            }
        };
    }

    /// tract's softmax exp-and-sum (`Func::Softmax2`): under the exact profile the portable
    /// kernel's arithmetic, vectorised with FMA where the CPU has FMA and AVX2 (see
    /// [`crate::kernels::exp_sum`]); tract's usual choice otherwise.
    fn softmax2() -> Box<dyn MapReduce<f32, f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        if exact() {
            return Box::new(MapReduceImpl::<super::exp_sum::ExpSum, f32, f32>::new());
        }
        match SLOT.get_or_init(|| delegate(Func::Softmax2)).factory {
            RoutineFactory::F32MapReduce(f) => f(),
            _ => panic!("tract's softmax2 kernel is not a map-reduce"),
        }
    }

    /// `erf` (exact Gelu): under the exact profile the portable kernel's arithmetic,
    /// vectorised with AVX (see `erf`); tract's usual choice otherwise.
    fn erf() -> Box<dyn ElementWise<f32>> {
        static SLOT: OnceLock<&'static Routine> = OnceLock::new();
        if exact() {
            return super::erf::Erf::ew();
        }
        element_wise(Func::Erf, &SLOT)
    }

    pin!(Softmax2, RoutineFactory::F32MapReduce(softmax2));
    pin!(Erf, RoutineFactory::F32(erf));
    pin!(Tanh, RoutineFactory::F32(tanh));
    pin!(Sigmoid, RoutineFactory::F32(sigmoid));
    pin!(ReduceMax, RoutineFactory::F32Reduce(reduce_max));
    pin!(ReduceMin, RoutineFactory::F32Reduce(reduce_min));

    /// The functions pinned, with the kernel tract now runs for each in this process.
    pub fn report() -> Vec<(&'static str, &'static str)> {
        [
            Func::Softmax2,
            Func::Erf,
            Func::Tanh,
            Func::Sigmoid,
            Func::ReduceMax,
            Func::ReduceMin,
        ]
        .into_iter()
        .map(|func| {
            let kernel = routines::best_for(func, DatumType::F32, &isa::native())
                .map_or("none", |r| r.name());
            (func.name(), kernel)
        })
        .collect()
    }
}

/// tract's portable maximum and minimum reductions (`SMax4`, `SMin4` in its alignment frame),
/// computed eight lanes at a time.
///
/// The portable kernel takes the greatest (least) element in `f32::total_cmp`'s order of each
/// part of the slice its frame cuts (up to three elements before the first 16-byte boundary,
/// then whole groups of four, then the rest, each short part padded with `f32::MIN`
/// (`f32::MAX`)), and folds the parts' results into `f32::MIN` (`f32::MAX`) with `f32::max`
/// (`f32::min`). The greatest element of a total order does not depend on the order the
/// elements are visited in (two elements are equal in it only when their bits are), so each
/// part's result is computed on integer keys that order as `total_cmp` does, eight at a time;
/// the parts and the folding are tract's, step for step. Called only on slices without NaN
/// (the caller returns NaN first), where the keys are exact.
#[cfg(target_arch = "x86_64")]
pub(crate) mod extreme {
    /// The portable kernel's result for `vec` (no NaN in it): its maximum with `max`, else its
    /// minimum.
    pub fn portable(vec: &[f32], max: bool) -> f32 {
        let neutral = if max { f32::MIN } else { f32::MAX };
        let fold = |a: f32, b: f32| if max { a.max(b) } else { a.min(b) };
        if vec.is_empty() {
            return neutral;
        }
        // A short part padded with the neutral value to the kernel's four elements.
        let padded = |part: &[f32]| pick(extreme(part, max), neutral, max);
        let mut red = neutral;
        let prefix = vec.as_ptr().align_offset(16).min(vec.len());
        if prefix > 0 {
            red = fold(red, padded(&vec[..prefix]));
        }
        let aligned = (vec.len() - prefix) / 4 * 4;
        if aligned > 0 {
            red = fold(red, extreme(&vec[prefix..][..aligned], max));
        }
        if prefix + aligned < vec.len() {
            red = fold(red, padded(&vec[prefix + aligned..]));
        }
        red
    }

    /// The exact profile's `ReduceMax` (`NanPropagating` over tract's portable maximum, which
    /// calls this, as does the softmax row op): NaN if `vec` holds one, else [`portable`]'s
    /// maximum. A row that starts on a 16-byte boundary and has a multiple of four values (one
    /// part in tract's frame) is read once, for the NaN test and the maximum together, unless
    /// `fused` is off.
    pub fn max_propagating_nan(vec: &[f32], fused: bool) -> f32 {
        let one_part = vec.as_ptr().align_offset(16) == 0 && vec.len().is_multiple_of(4);
        if fused && one_part && vec.len() >= 8 && std::arch::is_x86_feature_detected!("avx2") {
            let whole = vec.len() / 8 * 8;
            // SAFETY: the CPU has AVX2; `whole` is a non-zero multiple of eight within `vec`.
            let (nan, lanes) = unsafe { eight_at_a_time(&vec[..whole], true) };
            let rest = &vec[whole..];
            if nan || rest.iter().any(|x| x.is_nan()) {
                return f32::NAN;
            }
            let best = rest
                .iter()
                .map(|x| key(x.to_bits()))
                .fold(lanes.into_iter().fold(i32::MIN, i32::max), i32::max);
            // `portable`'s one part, folded into its neutral value as it folds it.
            return f32::MIN.max(f32::from_bits(key(best as u32) as u32));
        }
        if has_nan(vec) {
            f32::NAN
        } else {
            portable(vec, true)
        }
    }

    /// Whether `vec` holds a NaN.
    pub fn has_nan(vec: &[f32]) -> bool {
        // An exponent of all ones and a non-zero mantissa: `bits & 0x7fff_ffff > 0x7f80_0000`,
        // ORed over eight-element groups so that the loop vectorises.
        let mut chunks = vec.chunks_exact(8);
        let found = chunks.any(|c| {
            c.iter().fold(false, |nan, x| {
                nan | ((x.to_bits() & 0x7fff_ffff) > 0x7f80_0000)
            })
        });
        found || chunks.remainder().iter().any(|x| x.is_nan())
    }

    /// The greater (lesser) of `a` and `b` in `total_cmp`'s order.
    fn pick(a: f32, b: f32, max: bool) -> f32 {
        let a_wins = if max {
            a.total_cmp(&b).is_ge()
        } else {
            a.total_cmp(&b).is_le()
        };
        if a_wins { a } else { b }
    }

    /// `total_cmp`'s integer key of `x` (and its own inverse): the bits as a signed integer,
    /// the other 31 bits flipped when the sign is set.
    fn key(bits: u32) -> i32 {
        let i = bits as i32;
        i ^ ((((i >> 31) as u32) >> 1) as i32)
    }

    /// The greatest (least) element of a non-empty `part` in `total_cmp`'s order.
    fn extreme(part: &[f32], max: bool) -> f32 {
        let pick = |a: i32, b: i32| if max { a.max(b) } else { a.min(b) };
        let whole = part.len() / 8 * 8;
        let mut best = key(part[0].to_bits());
        let mut done = 0;
        if whole > 0 && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2; `whole` is a non-zero multiple of eight within `part`.
            let (_, lanes) = unsafe { eight_at_a_time(&part[..whole], max) };
            best = lanes.into_iter().fold(best, pick);
            done = whole;
        }
        for x in &part[done..] {
            best = pick(best, key(x.to_bits()));
        }
        f32::from_bits(key(best as u32) as u32)
    }

    /// Whether `part` (a non-zero multiple of eight elements) holds a NaN, and per lane its
    /// greatest (least) key (exact where it holds none).
    ///
    /// # Safety
    /// AVX2.
    #[target_feature(enable = "avx2")]
    unsafe fn eight_at_a_time(part: &[f32], max: bool) -> (bool, [i32; 8]) {
        use std::arch::x86_64::*;
        let keys =
            |v: __m256i| _mm256_xor_si256(v, _mm256_srli_epi32::<1>(_mm256_srai_epi32::<31>(v)));
        let mut chunks = part.chunks_exact(8);
        // SAFETY (loads): each chunk holds eight floats.
        let load = |c: &[f32]| unsafe { _mm256_loadu_ps(c.as_ptr()) };
        let unordered = |v: __m256| _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v);
        let (mut acc, mut nan) = match chunks.next() {
            Some(c) => (keys(_mm256_castps_si256(load(c))), unordered(load(c))),
            None => return (false, [key(0); 8]),
        };
        for c in chunks {
            let v = load(c);
            nan = _mm256_or_ps(nan, unordered(v));
            let k = keys(_mm256_castps_si256(v));
            acc = if max {
                _mm256_max_epi32(acc, k)
            } else {
                _mm256_min_epi32(acc, k)
            };
        }
        let mut lanes = [0i32; 8];
        // SAFETY: eight i32 of room.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc) };
        (_mm256_movemask_ps(nan) != 0, lanes)
    }

    #[cfg(test)]
    mod tests {
        use tract_onnx::tract_core::tract_linalg::{
            generic::reduce::{max::SMax4, min::SMin4},
            reduce::ReduceKer,
        };

        /// Against tract's portable kernels in their frame, bit for bit: every length to 40
        /// at every offset from a 16-byte boundary, values full of ties between signed zeros,
        /// infinities, `f32::MIN`/`MAX` (the padding), subnormals; and the NaN check.
        #[test]
        fn same_bits_as_tracts_portable_max_and_min() {
            const EDGES: [f32; 12] = [
                0.0,
                -0.0,
                f32::INFINITY,
                f32::NEG_INFINITY,
                f32::MIN,
                f32::MAX,
                1e-40,
                -1e-40,
                1.0,
                -1.0,
                3.5,
                -2.25,
            ];
            let (max, min) = (SMax4::red(), SMin4::red());
            let mut next = crate::kernels::xorshift(0x9e37_79b9_7f4a_7c15);
            // Slices cut at each offset from a 16-byte boundary.
            let mut floats = vec![0f32; 64];
            let base = floats.as_ptr().align_offset(16);
            for len in 0..=40 {
                for offset in 0..4 {
                    for round in 0..40 {
                        for x in floats[base + offset..][..len].iter_mut() {
                            let r = next();
                            *x = match round % 4 {
                                // Only edge values, mostly signed zeros and infinities.
                                0 => EDGES[(r % 4) as usize],
                                1 => EDGES[(r % EDGES.len() as u64) as usize],
                                _ => ((r >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 8.0,
                            };
                        }
                        let v = &floats[base + offset..][..len];
                        let want = max.run_with_params(v, ()).unwrap();
                        let got = super::portable(v, true);
                        assert_eq!(got.to_bits(), want.to_bits(), "max {v:?}");
                        for fused in [true, false] {
                            let got = super::max_propagating_nan(v, fused);
                            assert_eq!(got.to_bits(), want.to_bits(), "max {v:?} {fused}");
                        }
                        let want = min.run_with_params(v, ()).unwrap();
                        let got = super::portable(v, false);
                        assert_eq!(got.to_bits(), want.to_bits(), "min {v:?}");
                        assert!(!super::has_nan(v));
                        if len > 0 {
                            let mut with_nan = v.to_vec();
                            with_nan[(next() % len as u64) as usize] = if next().is_multiple_of(2) {
                                f32::NAN
                            } else {
                                -f32::NAN
                            };
                            assert!(super::has_nan(&with_nan));
                            // Copied to the same offset from a 16-byte boundary.
                            let mut nan_floats = floats.clone();
                            let at = nan_floats.as_ptr().align_offset(16) + offset;
                            nan_floats[at..][..len].copy_from_slice(&with_nan);
                            for fused in [true, false] {
                                let got =
                                    super::max_propagating_nan(&nan_floats[at..][..len], fused);
                                assert!(got.is_nan(), "max {with_nan:?} {fused}");
                            }
                        }
                    }
                }
            }
            // Rows of only -inf, whose maximum the frame folds into `f32::MIN`.
            for len in [1, 4, 8, 12, 16, 17] {
                let v = &mut floats[base..][..len];
                v.fill(f32::NEG_INFINITY);
                let want = max.run_with_params(v, ()).unwrap();
                for fused in [true, false] {
                    let got = super::max_propagating_nan(v, fused);
                    assert_eq!(got.to_bits(), want.to_bits(), "max of {len} -inf {fused}");
                }
            }
        }
    }
}

/// The functions whose tract kernel Prova pins, each with the kernel tract runs for it in this
/// process (under the exact profile, Prova's `prova_exp_sum_f32` and `prova_erf_f32`, and
/// tract's portable kernel for the others). Empty off x86-64.
pub fn pinned_kernels() -> Vec<(&'static str, &'static str)> {
    #[cfg(target_arch = "x86_64")]
    {
        x86_64::report()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}
