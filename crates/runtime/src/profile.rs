//! Determinism profiles and the process-wide instruction-set pin.
//!
//! tract picks its kernels from the instruction set it probes once per process. The `exact`
//! profile removes FMA and every extension above AVX2 through tract's `TRACT_CPU_ISA` knob
//! *before* tract first probes, and pins the four AVX routines whose arithmetic is not the
//! portable kernels' to tract's portable ones (`crate::kernels`). What remains (SSE2, AVX and
//! AVX2 matrix, depthwise and multiply-by-scalar kernels) computes each output with the same
//! multiplies and adds in the same order at any vector width, so every x86-64 CPU computes the
//! same bits (measured in docs/determinism.md). The `native` profile leaves tract's own
//! choice: faster, and different bits on different CPUs — never consensus.

use crate::RuntimeError;
use std::{fmt, str::FromStr, sync::OnceLock};
use tract_onnx::tract_core::knobs;
use tract_onnx::tract_core::tract_linalg::{
    isa::{self, Isa},
    knobs::TRACT_CPU_ISA,
};

/// How inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Consensus: bit-identical on every x86-64 CPU. Kernels whose bits do not depend on the
    /// vector width (no FMA, four routines pinned to the portable ones), one thread.
    Exact,
    /// tract's native SIMD kernels. Off-chain previews only.
    Native,
}

impl Profile {
    /// `exact` or `native`.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Exact => "exact",
            Profile::Native => "native",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "exact" => Ok(Profile::Exact),
            "native" => Ok(Profile::Native),
            _ => Err(format!("unknown profile {s:?} (expected exact or native)")),
        }
    }
}

/// The `TRACT_CPU_ISA` edit of the exact profile: FMA (one rounding where the portable kernels
/// round twice), F16C, and every extension above AVX2 tract has kernels for. AVX and AVX2 stay:
/// their kernels are the portable arithmetic, vectorised, except that the AVX matrix kernels
/// read subnormal inputs as zero (so the exact profile needs AVX), and the four routines of
/// `crate::kernels`, which Prova pins.
pub const EXACT_ISA_EDIT: &str =
    "-fma,-f16c,-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16";

/// Environment variable that restricts the exact profile to the AVX tier (value `avx`: AVX2 is
/// removed too, and with it Prova's AVX-512 matrix kernel), so that one machine can compute
/// what a CPU with AVX but not AVX2 (IvyBridge) computes. The claim is that both give the same
/// bits; `kernel_tiers.rs` checks it with this.
pub const EXACT_TIER_ENV: &str = "PROVA_EXACT_TIER";

/// x86-64 features that must be absent under the exact profile.
const EXACT_FORBIDDEN: [Isa; 8] = [
    Isa::X86_64Fma,
    Isa::X86_64F16c,
    Isa::X86_64Avx512f,
    Isa::X86_64Avx512Vnni,
    Isa::X86_64Avx512Fp16,
    Isa::X86_64AvxVnni,
    Isa::X86_64AmxInt8,
    Isa::X86_64AmxBf16,
];

/// tract knobs the exact profile cannot pin, because their default is "unset" (an override
/// can only set a value), with why leaving them to the environment cannot change exact-profile
/// bits on x86-64. Every other tract knob is pinned to its compiled-in default (a test checks
/// both lists against tract's knob inventory, so a tract upgrade that adds a knob is reviewed).
pub const EXACT_UNPINNED_KNOBS: &[(&str, &str)] = &[
    (
        "TRACT_AUTOBATCH_LANES",
        "laned (batched-session) runtimes only; Prova runs plain plans",
    ),
    (
        "TRACT_AVX512_FMA_UNITS",
        "chooses between AVX-512 kernels, which the exact profile removes",
    ),
    ("TRACT_CPU_AARCH64_KIND", "aarch64 only"),
    ("TRACT_CPU_AARCH64_OVERRIDE_CPU_PART", "aarch64 only"),
    ("TRACT_CPU_ARM32_NEON", "armv7 only"),
    (
        "TRACT_MMM_CHUNKS_PER_THREAD",
        "multithreaded matmul only; tract is built without it",
    ),
    (
        "TRACT_MMM_CHUNK_SLACK_BYTES",
        "multithreaded matmul only; tract is built without it",
    ),
    ("TRACT_RISCV64_TLB_REFRESH_FMAS", "riscv64 only"),
];

static PINNED: OnceLock<Profile> = OnceLock::new();

/// Overrides every tract knob with its compiled-in default (the instruction-set knob with
/// [`EXACT_ISA_EDIT`]). A programmatic override outranks the environment, tract's per-model
/// knob scopes and deployment configs, so `TRACT_AVGPOOL_SEPARABLE=1` (which reassociates
/// average-pool sums) or a convolution-strategy knob in the environment cannot change a bit.
fn pin_exact_knobs() {
    for info in knobs::all() {
        if info.name == TRACT_CPU_ISA.name
            || EXACT_UNPINNED_KNOBS.iter().any(|(n, _)| *n == info.name)
        {
            continue;
        }
        knobs::set_str(info.name, &(info.default)());
    }
    let edit = match std::env::var(EXACT_TIER_ENV).as_deref() {
        Ok("avx") => format!("{EXACT_ISA_EDIT},-avx2"),
        _ => EXACT_ISA_EDIT.to_string(),
    };
    TRACT_CPU_ISA.set(Some(edit));
}

/// The profile this process is pinned to, if any.
pub fn pinned() -> Option<Profile> {
    PINNED.get().copied()
}

/// Pins this process to `profile`. Must run before tract first runs; the first call wins, a
/// later call with another profile fails, and so does the exact profile if tract had already
/// probed the instruction set with SIMD features present, and on a CPU without AVX (whose
/// portable matrix kernels do not read subnormals as zero, as the AVX ones do). The exact
/// profile also pins every tract knob (see [`EXACT_UNPINNED_KNOBS`] for the few it cannot), and
/// refuses a CPU that is not x86-64.
pub fn pin(profile: Profile) -> Result<(), RuntimeError> {
    // Consensus is x86-64's arithmetic (docs/determinism.md); refused before anything is pinned.
    if profile == Profile::Exact && !cfg!(target_arch = "x86_64") {
        return Err(RuntimeError::ExactNeedsX86);
    }
    let got = *PINNED.get_or_init(|| {
        if profile == Profile::Exact {
            pin_exact_knobs();
        } else {
            TRACT_CPU_ISA.clear();
        }
        profile
    });
    if got != profile {
        return Err(RuntimeError::ProfileConflict {
            pinned: got,
            requested: profile,
        });
    }
    if profile == Profile::Exact {
        let set = isa::native();
        if let Some(f) = EXACT_FORBIDDEN.iter().find(|f| set.has(**f)) {
            return Err(RuntimeError::IsaAlreadyInitialised(format!(
                "tract was initialised with {f:?} enabled before the exact profile was pinned"
            )));
        }
        // Consensus is the AVX kernels' arithmetic, subnormal inputs read as zero included
        // (docs/determinism.md): a CPU without AVX cannot compute it (nor one that is not
        // x86-64, refused above).
        if !set.has(Isa::X86_64Avx) {
            return Err(RuntimeError::ExactNeedsAvx);
        }
    }
    Ok(())
}

/// A description of the instruction set tract is using, for reports.
pub fn isa_report() -> String {
    let set = isa::native();
    let names: Vec<String> = set.iter().map(|i| format!("{i:?}")).collect();
    names.join(",")
}

#[cfg(all(test, not(target_arch = "x86_64")))]
mod tests {
    use super::*;

    /// Off x86-64 the exact profile is refused, before anything is pinned, and the native
    /// profile (off-chain) still runs.
    #[test]
    fn exact_is_refused_off_x86_64() {
        let err = pin(Profile::Exact).unwrap_err();
        assert!(matches!(err, RuntimeError::ExactNeedsX86), "{err}");
        assert!(err.to_string().contains("not an x86-64 CPU"), "{err}");
        assert_eq!(pinned(), None);
        pin(Profile::Native).unwrap();
        assert_eq!(pinned(), Some(Profile::Native));
    }
}
