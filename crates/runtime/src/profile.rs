//! Determinism profiles and the process-wide instruction-set pin.
//!
//! tract picks its kernels from the instruction set it probes once per process. The `exact`
//! profile removes every SIMD extension beyond x86-64's SSE2 baseline through tract's
//! `TRACT_CPU_ISA` knob *before* tract first probes, so every x86-64 CPU runs the same portable
//! kernels and computes the same bits (measured in docs/determinism.md). The `native` profile
//! leaves tract's own choice: faster, and different bits on different CPUs — never consensus.

use crate::RuntimeError;
use std::{fmt, str::FromStr, sync::OnceLock};
use tract_onnx::tract_core::tract_linalg::{
    isa::{self, Isa},
    knobs::TRACT_CPU_ISA,
};

/// How inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Consensus: bit-identical on every x86-64 CPU. Portable kernels, one thread.
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

/// The `TRACT_CPU_ISA` edit of the exact profile: every x86-64 extension tract has kernels for.
pub const EXACT_ISA_EDIT: &str =
    "-avx,-avx2,-fma,-f16c,-avx512f,-avx512vnni,-avx512fp16,-avxvnni,-amx-int8,-amx-bf16";

/// x86-64 features that must be absent under the exact profile.
const EXACT_FORBIDDEN: [Isa; 10] = [
    Isa::X86_64Avx,
    Isa::X86_64Avx2,
    Isa::X86_64Fma,
    Isa::X86_64F16c,
    Isa::X86_64Avx512f,
    Isa::X86_64Avx512Vnni,
    Isa::X86_64Avx512Fp16,
    Isa::X86_64AvxVnni,
    Isa::X86_64AmxInt8,
    Isa::X86_64AmxBf16,
];

static PINNED: OnceLock<Profile> = OnceLock::new();

/// The profile this process is pinned to, if any.
pub fn pinned() -> Option<Profile> {
    PINNED.get().copied()
}

/// Pins this process to `profile`. Must run before tract first runs; the first call wins, a
/// later call with another profile fails, and so does the exact profile if tract had already
/// probed the instruction set with SIMD features present.
pub fn pin(profile: Profile) -> Result<(), RuntimeError> {
    let got = *PINNED.get_or_init(|| {
        if profile == Profile::Exact {
            TRACT_CPU_ISA.set(Some(EXACT_ISA_EDIT.to_string()));
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
    }
    Ok(())
}

/// A description of the instruction set tract is using, for reports.
pub fn isa_report() -> String {
    let set = isa::native();
    let names: Vec<String> = set.iter().map(|i| format!("{i:?}")).collect();
    names.join(",")
}
