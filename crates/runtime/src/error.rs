use crate::Profile;
use prova_model::{AdmissionError, ModelId};
use prova_tensor::DType;

/// Errors of the runtime. Input errors name the input; nothing here is a panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The process is pinned to another profile.
    #[error("this process is pinned to the {pinned} profile; {requested} needs a new process")]
    ProfileConflict {
        /// The profile in force.
        pinned: Profile,
        /// The profile asked for.
        requested: Profile,
    },
    /// tract probed the instruction set before the exact profile could pin it.
    #[error("exact profile refused: {0}")]
    IsaAlreadyInitialised(String),
    /// The CPU lacks AVX, which the exact profile's matrix kernels need.
    #[error(
        "exact profile refused: this CPU has no AVX. The exact profile runs tract's AVX matrix \
         kernels, which read subnormal floats as zero (MXCSR.DAZ); the portable kernels a CPU \
         without AVX would run do not, so its results could differ from every other validator's"
    )]
    ExactNeedsAvx,
    /// The CPU is not x86-64: the exact profile's bits are those of tract's x86-64 kernels.
    #[error(
        "exact profile refused: this is not an x86-64 CPU. The exact profile's results are those \
         of tract's x86-64 AVX kernels (multiply, then add); tract's kernels on other \
         architectures fuse multiply-adds, so their results could differ from every x86-64 \
         validator's (docs/determinism.md). The native profile runs here, off-chain only"
    )]
    ExactNeedsX86,
    /// The model failed admission.
    #[error(transparent)]
    Admission(#[from] AdmissionError),
    /// Wrong number of inputs.
    #[error("model {model} takes {expected} inputs, got {got}")]
    InputCount {
        /// Model.
        model: ModelId,
        /// Inputs the model takes.
        expected: usize,
        /// Inputs given.
        got: usize,
    },
    /// An input of the wrong dtype.
    #[error("input {index} ({name}) must be {expected}, got {got}")]
    InputDType {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// dtype the model takes.
        expected: DType,
        /// dtype given.
        got: DType,
    },
    /// An input of the wrong shape.
    #[error("input {index} ({name}) must have shape {expected:?}, got {got:?}")]
    InputShape {
        /// Input index.
        index: usize,
        /// Input name.
        name: String,
        /// Shape the model takes.
        expected: Vec<u64>,
        /// Shape given.
        got: Vec<u64>,
    },
    /// tract failed while compiling the plan.
    #[error("compiling model {model}: {reason}")]
    Compile {
        /// Model.
        model: ModelId,
        /// What went wrong.
        reason: String,
    },
    /// `infer` on a decoder with past, which only `generate` runs.
    #[error(
        "model {model} is a decoder with past (a language model): run it with generate, not infer"
    )]
    IsDecoder {
        /// Model.
        model: ModelId,
    },
    /// `generate` on a model that is not a decoder with past.
    #[error("model {model} is not a decoder with past (docs/generation.md): run it with infer")]
    NotDecoder {
        /// Model.
        model: ModelId,
    },
    /// A generation request the model cannot serve (prompt, lengths, sampling parameters).
    #[error("{0}")]
    BadRequest(String),
    /// tract failed (or panicked) while running.
    #[error("inference failed: {0}")]
    Execution(String),
}
