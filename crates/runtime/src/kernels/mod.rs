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
//! the AVX and portable matrix kernels do not agree on, must not decide a maximum.
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
            RoutineFactory::F32Reduce(f) => Box::new(NanPropagating(f())),
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
    struct NanPropagating(Box<dyn Reduce<f32>>);

    impl Reduce<f32> for NanPropagating {
        fn name(&self) -> &'static str {
            self.0.name()
        }

        fn run_with_params(&self, vec: &[f32], params: ()) -> TractResult<f32> {
            if vec.iter().any(|x| x.is_nan()) {
                Ok(f32::NAN)
            } else {
                self.0.run_with_params(vec, params)
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
    /// [`exp_sum`]); tract's usual choice otherwise.
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
