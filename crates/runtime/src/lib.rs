//! # prova-runtime
//!
//! Deterministic execution of admitted models on tract.
//!
//! A [`Runtime`] runs in one [`Profile`], pinned for the whole process before tract first
//! runs: `exact` for consensus (kernels whose arithmetic does not depend on the vector width,
//! one thread, same bits on every x86-64 CPU),
//! `native` for off-chain previews. It compiles admitted models into tract plans, keeps them
//! in a cache bounded by count and bytes, checks inputs against the model's signature and
//! returns outputs in the dtypes the model declares. It never panics on any input: tract's
//! errors and panics come back as [`RuntimeError`].
//!
//! ```
//! use prova_runtime::{Profile, Runtime};
//! use prova_tensor::InputDocument;
//!
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures");
//! let bytes = std::fs::read(format!("{dir}/models/iris_logreg.onnx")).unwrap();
//! let doc = InputDocument::from_json(&std::fs::read_to_string(format!("{dir}/inputs/iris_logreg.json")).unwrap()).unwrap();
//!
//! let runtime = Runtime::new(Profile::Exact).unwrap();
//! let model = runtime.load(&bytes).unwrap();
//! let outputs = runtime.run(&model, &doc.inputs).unwrap();
//! assert_eq!(outputs.len(), model.info.outputs.len());
//! assert_eq!(outputs[0].to_vec::<i64>().unwrap(), vec![0]); // setosa
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]
// Off x86-64 the kernels (`kernels`, `in_place`) and the ops' vectorised paths are compiled out,
// leaving their helpers, fields and accumulators unused; the exact profile refuses to start
// there (`RuntimeError::ExactNeedsX86`).
#![cfg_attr(
    not(target_arch = "x86_64"),
    allow(dead_code, unused_mut, unused_imports, unused_variables)
)]

#[cfg(not(target_endian = "little"))]
compile_error!("Prova's tensor encoding assumes a little-endian target");

// Prova's routines and kernel tiers register with tract through `inventory` on x86-64 only.
#[cfg(not(target_arch = "x86_64"))]
use inventory as _;

mod cache;
pub mod depthwise;
pub mod direct_conv;
mod error;
mod generate;
#[cfg(target_arch = "x86_64")]
pub mod in_place;
mod kept;
mod kernels;
pub mod pack;
pub mod plane_pad;
mod profile;
pub mod rows;
mod sample;
pub mod sampler;

pub use cache::CacheStats;
pub use error::RuntimeError;
pub use generate::{GenerateRequest, tokens_tensor};
/// Prova's AVX-512 f32 matrix kernels (x86-64): the exact profile's arithmetic on wider tiles.
#[cfg(target_arch = "x86_64")]
pub use kernels::mmm as matrix_kernels;
pub use kernels::pinned_kernels;
pub use profile::{
    EXACT_ISA_EDIT, EXACT_TIER_ENV, EXACT_UNPINNED_KNOBS, Profile, isa_report, pin, pinned,
};
pub use sample::sample_inputs;

use prova_model::{AdmittedModel, Limits, ModelId, ModelInfo, contain_tract, datum_type};
use prova_tensor::{DType, Tensor};
use std::{sync::Arc, time::Instant};
use tract_onnx::prelude::{
    DatumType, IntoTValue, TValue, TVec, Tensor as TractTensor, TractResult, TypedRunnableModel,
};
use tract_onnx::tract_core::{
    internal::{anyhow, bail},
    model::IntoRunnable,
    plan::SimpleState,
};

type Plan = TypedRunnableModel;

/// A plan's inputs as tract takes them ([`CompiledModel::tract_inputs`]).
pub type TractValues = TVec<TValue>;

/// One node of a compiled plan, as `prova model inspect --plan` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanNode {
    /// The node's name (the ONNX node's, or tract's for nodes its compilation made).
    pub name: String,
    /// The operator that runs (tract's, or Prova's such as `ProvaDepthwiseConv`).
    pub op: String,
    /// Each output's element type and shape (`F32 1,16,32,32`), or `(packed)` for a
    /// matrix operand packed for a kernel.
    pub outputs: Vec<String>,
    /// The matrix kernels a product runs (empty for other operators).
    pub kernels: Vec<String>,
}

/// A model compiled into a runnable tract plan.
#[derive(Debug)]
pub struct CompiledModel {
    /// The model's facts.
    pub info: ModelInfo,
    /// Nanoseconds spent optimising and planning (wall time, for reports only).
    pub compile_ns: u64,
    plan: Arc<Plan>,
}

/// Evaluates one node of a plan as tract does, then clears the upper halves of the vector
/// registers (`vzeroupper`) where the CPU has AVX.
///
/// tract's AVX kernels written in inline assembly (its by-scalar multiply, its activation and
/// matrix kernels) leave those halves dirty: the compiler adds `vzeroupper` only around the
/// vector code it generates itself. Code compiled for the x86-64 baseline that runs after them
/// (tract's portable element-wise kernels: the exact profile's `Tanh` and `Sigmoid`, among
/// others) then ran ~3× slower on this project's Zen 4 VM (`tanh_big` 3.3 ms alone, 11 ms right
/// after a softmax; docs/gas.md, "Dirty upper registers"). The instruction only zeroes
/// bits no operation reads across a call, so the results are the same.
pub fn eval_node(
    ctx: &tract_onnx::tract_core::internal::EvalContext,
    state: Option<&mut (dyn tract_onnx::tract_core::ops::OpState + 'static)>,
    node: &tract_onnx::tract_core::internal::TypedNode,
    inputs: TVec<TValue>,
) -> TractResult<TVec<TValue>> {
    // Before (whatever ran in the process before the plan) and after (the node's own
    // assembly).
    clear_upper_vector_state();
    let out = tract_onnx::tract_core::plan::eval(ctx, state, node, inputs);
    clear_upper_vector_state();
    out
}

/// `vzeroupper` where the CPU has AVX (see [`eval_node`]); nothing elsewhere.
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: the CPU has AVX; `vzeroupper` only zeroes bits 128 and up of the vector
        // registers, which no live value holds between two nodes.
        unsafe { std::arch::x86_64::_mm256_zeroupper() };
    }
}

impl CompiledModel {
    /// The tract plan, for baselines that measure tract alone (benchmarks).
    pub fn plan(&self) -> &Arc<TypedRunnableModel> {
        &self.plan
    }

    /// The matrix kernels the plan runs, by name, sorted and without repeats (tract's
    /// `avx_mmm_f32_16x6` and siblings, Prova's `prova_avx512_mmm_f32_16x16`, ...).
    pub fn matrix_kernels(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .plan_nodes()
            .into_iter()
            .flat_map(|n| n.kernels)
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// The plan's nodes in evaluation order: what the profile's compilation made of the model
    /// (fused chains, Prova's ops, the matrix kernel each product runs).
    pub fn plan_nodes(&self) -> Vec<PlanNode> {
        let model = self.plan.model();
        model
            .nodes
            .iter()
            .map(|n| PlanNode {
                name: n.name.clone(),
                op: n.op.name().to_string(),
                outputs: n
                    .outputs
                    .iter()
                    .map(|o| match o.fact.is_exotic() {
                        true => format!("{:?} (packed)", o.fact.datum_type),
                        false if o.fact.rank() == 0 => format!("{:?} scalar", o.fact.datum_type),
                        false => format!("{:?} {:?}", o.fact.datum_type, o.fact.shape),
                    })
                    .collect(),
                kernels: n
                    .op
                    .info()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|line| {
                        let list = line.strip_prefix("Mult:")?.split_once(" with [")?.1;
                        Some(
                            list.trim_end_matches(']')
                                .split(", ")
                                .map(str::to_string)
                                .collect::<Vec<_>>(),
                        )
                    })
                    .flatten()
                    .collect(),
            })
            .collect()
    }

    /// Mean nanoseconds per run that each node of the plan (in [`Self::plan_nodes`]'s order)
    /// spends in its own evaluation, over `iters` runs on `values` after a tenth as many
    /// warm-up runs: where an inference's time goes (`prova bench infer --nodes`).
    pub fn node_times(&self, values: &TractValues, iters: usize) -> Result<Vec<u64>, RuntimeError> {
        let iters = iters.max(1);
        let warm = iters.div_ceil(10);
        let mut total = vec![0u64; self.plan.model().nodes.len()];
        contain_tract(|| {
            let mut state = SimpleState::new(&self.plan)?;
            for round in 0..warm + iters {
                state.run_plan_with_eval(values.clone(), |ctx, op_state, node, inputs| {
                    let start = std::time::Instant::now();
                    let out = eval_node(ctx, op_state, node, inputs);
                    if round >= warm {
                        total[node.id] += start.elapsed().as_nanos() as u64;
                    }
                    out
                })?;
            }
            Ok(())
        })
        .map_err(RuntimeError::Execution)?;
        Ok(total.into_iter().map(|t| t / iters as u64).collect())
    }

    /// Converts Prova tensors into tract values (what [`Runtime::run`] does before tract runs).
    pub fn tract_inputs(inputs: &[Tensor]) -> Result<TractValues, RuntimeError> {
        contain_tract(|| {
            inputs
                .iter()
                .map(|t| Ok(to_tract(t)?.into_tvalue()))
                .collect()
        })
        .map_err(RuntimeError::Execution)
    }
}

/// One copy of the bytes, into an uninitialised buffer (no zeroing pass first): Prova's
/// encoding and tract's storage are both the little-endian element bytes (the target is
/// little-endian, checked above; bool as 0/1, which `Tensor::new` enforces).
fn to_tract(t: &Tensor) -> TractResult<TractTensor> {
    let shape: Vec<usize> = t.shape().iter().map(|&d| d as usize).collect();
    // SAFETY: Prova's dtypes are plain numbers and 0/1 bools, valid for any bytes of their
    // size; `from_raw_dt` checks the length against the shape before copying.
    unsafe { TractTensor::from_raw_dt(datum_type(t.dtype()), &shape, t.data()) }
}

fn from_tract(t: &TractTensor, dtype: DType) -> TractResult<Tensor> {
    let target = datum_type(dtype);
    let dt = t.datum_type();
    // Quantized types carry their storage type's bytes; anything else is cast (TDim -> i64).
    let cast;
    let t = if dt.unquantized() == target {
        t
    } else {
        cast = t.cast_to_dt(target)?;
        &*cast
    };
    if t.datum_type() == DatumType::TDim {
        bail!("output still symbolic");
    }
    let shape = t.shape().iter().map(|&d| d as u64).collect();
    let data = canonical_bytes(dtype, t.as_bytes());
    Tensor::new(dtype, shape, data).map_err(|e| anyhow!(e))
}

/// `bytes` (little-endian elements of `dtype`) copied with every NaN replaced by the canonical
/// quiet NaN (`0x7fc00000`, `0x7ff8000000000000`), as WebAssembly engines do for determinism:
/// the sign and payload of a NaN depend on which kernel and operand order produced it, its
/// being NaN does not (docs/determinism.md, "NaN"). A copy, then the replacement in place on
/// whole words (see [`canonicalise`]).
fn canonical_bytes(dtype: DType, bytes: &[u8]) -> Vec<u8> {
    let mut data = bytes.to_vec();
    match dtype {
        DType::F32 => canonicalise::<u32>(&mut data, 0x7fff_ffff, 0x7f80_0000, 0x7fc0_0000),
        DType::F64 => canonicalise::<u64>(
            &mut data,
            0x7fff_ffff_ffff_ffff,
            0x7ff0_0000_0000_0000,
            0x7ff8_0000_0000_0000,
        ),
        _ => {}
    }
    data
}

/// The bits of an IEEE float type as an unsigned integer (`u32`, `u64`).
trait FloatBits: Copy + Ord + std::ops::BitAnd<Output = Self> {
    fn from_le(b: &[u8]) -> Self;
    fn write_le(self, b: &mut [u8]);
}

macro_rules! float_bits {
    ($($t:ty),*) => {$(
        impl FloatBits for $t {
            #[inline(always)]
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            #[inline(always)]
            fn write_le(self, b: &mut [u8]) {
                b.copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
float_bits!(u32, u64);

/// Replaces every NaN among the little-endian floats of `data` (bits `T`, its size each) by
/// `nan`: a value is NaN when its bits without the sign (`& abs`) exceed infinity's (`inf`).
/// Where the machine is little-endian and the buffer aligned for `T` (a fresh allocation is),
/// on whole `T`s, which the compiler vectorises (a copy of the encoder's 32K outputs took 23 µs
/// one float at a time); otherwise the same test float by float.
fn canonicalise<T: FloatBits>(data: &mut [u8], abs: T, inf: T, nan: T) {
    let fix = |v: T| if v & abs > inf { nan } else { v };
    #[cfg(target_endian = "little")]
    {
        // SAFETY: `T` is a plain unsigned integer, valid for any bits.
        let (head, body, tail) = unsafe { data.align_to_mut::<T>() };
        if head.is_empty() && tail.is_empty() {
            for v in body {
                *v = fix(*v);
            }
            return;
        }
    }
    for c in data.chunks_exact_mut(std::mem::size_of::<T>()) {
        fix(T::from_le(c)).write_le(c);
    }
}

/// Compiles and runs models in one profile.
#[derive(Debug)]
pub struct Runtime {
    profile: Profile,
    limits: Limits,
    cache: cache::PlanCache,
}

impl Runtime {
    /// A runtime in `profile` with default limits and cache bounds. Pins the process.
    pub fn new(profile: Profile) -> Result<Self, RuntimeError> {
        Self::with_config(
            profile,
            Limits::DEFAULT,
            cache::DEFAULT_MAX_ENTRIES,
            cache::DEFAULT_MAX_BYTES,
        )
    }

    /// A runtime with explicit admission limits and cache bounds (entries, model bytes).
    pub fn with_config(
        profile: Profile,
        limits: Limits,
        cache_entries: usize,
        cache_bytes: u64,
    ) -> Result<Self, RuntimeError> {
        pin(profile)?;
        Ok(Self {
            profile,
            limits,
            cache: cache::PlanCache::new(cache_entries, cache_bytes),
        })
    }

    /// The profile.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The admission limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Compiles an admitted model into a plan (not cached).
    pub fn compile(&self, model: AdmittedModel) -> Result<CompiledModel, RuntimeError> {
        let id = model.info.id;
        let start = Instant::now();
        let typed = model.typed;
        let exact = self.profile == Profile::Exact;
        let plan = contain_tract(|| {
            let mut libm = if exact {
                prova_model::ops::platform_libm_nodes(&typed)
            } else {
                Vec::new()
            };
            // tract's `into_optimized` is declutter then codegen; Prova's depthwise op goes in
            // between, where tract's codegen would otherwise pick its own.
            let mut optimized = typed.into_decluttered()?;
            depthwise::use_prova_depthwise(&mut optimized)?;
            if exact {
                direct_conv::use_prova_direct_conv(&mut optimized)?;
            }
            optimized.optimize()?;
            if exact {
                #[cfg(target_arch = "x86_64")]
                in_place::use_in_place_products(&mut optimized)?;
                plane_pad::use_padded_planes(&mut optimized)?;
                pack::use_fast_packs(&mut optimized)?;
                rows::use_row_ops(&mut optimized)?;
                libm.extend(prova_model::ops::platform_libm_nodes(&optimized));
            }
            if !libm.is_empty() {
                libm.dedup();
                bail!(
                    "the exact profile refuses operators whose arithmetic it does not pin \
                     (the platform's C math library, or a matrix product that picks its kernel \
                     by CPU: results differ between CPUs): {}",
                    libm.join(", ")
                );
            }
            optimized.into_runnable()
        })
        .map_err(|reason| RuntimeError::Compile { model: id, reason })?;
        let compile_ns = start.elapsed().as_nanos() as u64;
        Ok(CompiledModel {
            info: model.info,
            compile_ns,
            plan,
        })
    }

    /// The compiled model `id`, if cached.
    pub fn cached(&self, id: &ModelId) -> Option<Arc<CompiledModel>> {
        self.cache.get(id)
    }

    /// Admits, compiles and caches `bytes` (or returns the cached plan).
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<CompiledModel>, RuntimeError> {
        let id = ModelId::of(bytes);
        if let Some(m) = self.cache.get(&id) {
            return Ok(m);
        }
        let admitted = prova_model::admit(bytes, &self.limits)?;
        let compiled = Arc::new(self.compile(admitted)?);
        self.cache.insert(compiled.clone());
        Ok(compiled)
    }

    /// Cache statistics.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Checks `inputs` against `info`'s signature.
    pub fn check_inputs(info: &ModelInfo, inputs: &[Tensor]) -> Result<(), RuntimeError> {
        if inputs.len() != info.inputs.len() {
            return Err(RuntimeError::InputCount {
                model: info.id,
                expected: info.inputs.len(),
                got: inputs.len(),
            });
        }
        for (index, (t, spec)) in inputs.iter().zip(&info.inputs).enumerate() {
            if t.dtype() != spec.dtype {
                return Err(RuntimeError::InputDType {
                    index,
                    name: spec.name.clone(),
                    expected: spec.dtype,
                    got: t.dtype(),
                });
            }
            if t.shape() != spec.shape.as_slice() {
                return Err(RuntimeError::InputShape {
                    index,
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    got: t.shape().to_vec(),
                });
            }
        }
        Ok(())
    }

    /// Runs `model` on `inputs`: outputs in the model's order and declared dtypes.
    pub fn run(
        &self,
        model: &CompiledModel,
        inputs: &[Tensor],
    ) -> Result<Vec<Tensor>, RuntimeError> {
        if model.info.decoder.is_some() {
            return Err(RuntimeError::IsDecoder {
                model: model.info.id,
            });
        }
        Self::check_inputs(&model.info, inputs)?;
        let outputs = contain_tract(|| {
            let values: TVec<TValue> = inputs
                .iter()
                .map(|t| Ok(to_tract(t)?.into_tvalue()))
                .collect::<TractResult<_>>()?;
            let out = SimpleState::new(&model.plan)?.run_plan_with_eval(values, eval_node)?;
            out.iter()
                .zip(&model.info.outputs)
                .map(|(t, spec)| from_tract(t, spec.dtype))
                .collect::<TractResult<Vec<_>>>()
        })
        .map_err(RuntimeError::Execution)?;
        for (t, spec) in outputs.iter().zip(&model.info.outputs) {
            if t.shape() != spec.shape.as_slice() {
                return Err(RuntimeError::Execution(format!(
                    "output {} has shape {:?}, the model declares {:?}",
                    spec.name,
                    t.shape(),
                    spec.shape
                )));
            }
        }
        Ok(outputs)
    }
}

#[cfg(test)]
mod canonical_tests {
    use super::{DType, canonical_bytes, canonicalise};

    const F32: [u32; 12] = [
        0x0000_0000, // +0
        0x8000_0000, // -0
        0x0000_0001, // smallest subnormal
        0x7f7f_ffff, // largest finite
        0x7f80_0000, // +inf
        0xff80_0000, // -inf
        0x7f80_0001, // signalling NaN
        0x7fc0_0000, // canonical NaN
        0xffc0_0000, // negative quiet NaN
        0x7fff_ffff, // NaN, every payload bit
        0xffa0_0001, // negative signalling NaN
        0x3f80_0000, // 1.0
    ];

    fn expected_f32(v: u32) -> u32 {
        if f32::from_bits(v).is_nan() {
            0x7fc0_0000
        } else {
            v
        }
    }

    #[test]
    fn f32_nans_become_canonical_and_nothing_else_changes() {
        let bytes: Vec<u8> = F32.iter().flat_map(|v| v.to_le_bytes()).collect();
        let want: Vec<u8> = F32
            .iter()
            .flat_map(|&v| expected_f32(v).to_le_bytes())
            .collect();
        assert_eq!(canonical_bytes(DType::F32, &bytes), want);
        // The same floats one byte off alignment (the float-by-float path).
        let mut shifted = vec![0xAAu8];
        shifted.extend_from_slice(&bytes);
        canonicalise::<u32>(&mut shifted[1..], 0x7fff_ffff, 0x7f80_0000, 0x7fc0_0000);
        assert_eq!(shifted[0], 0xAA);
        assert_eq!(&shifted[1..], want.as_slice());
    }

    #[test]
    fn f64_nans_become_canonical_and_nothing_else_changes() {
        let values: [u64; 7] = [
            0,
            0x8000_0000_0000_0000,
            0x7ff0_0000_0000_0000,
            0xfff0_0000_0000_0000,
            0x7ff0_0000_0000_0001,
            0xfff8_0000_0000_0000,
            0x3ff0_0000_0000_0000,
        ];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let got = canonical_bytes(DType::F64, &bytes);
        for (v, c) in values.iter().zip(got.chunks_exact(8)) {
            let want = if f64::from_bits(*v).is_nan() {
                0x7ff8_0000_0000_0000
            } else {
                *v
            };
            assert_eq!(c, want.to_le_bytes());
        }
        // Other dtypes are copied as they are.
        assert_eq!(canonical_bytes(DType::I32, &bytes), bytes);
    }
}
