//! The transcendental functions Prova's operators use, in one place.
//!
//! Consensus needs the same bits on every node. `f32::exp` and friends call the platform C
//! library, whose results may differ between libc versions (and glibc picks FMA or non-FMA
//! code paths by CPU). These wrappers route through the pinned, pure-Rust `libm` crate
//! (a port of musl's libm), whose results depend only on its version.

/// e^x in f64 (onnxruntime calls C `exp` here).
pub(crate) fn exp_f64(x: f64) -> f64 {
    libm::exp(x)
}

/// Natural logarithm in f64 (onnxruntime calls C `log` here).
pub(crate) fn ln_f64(x: f64) -> f64 {
    libm::log(x)
}

/// e^x in f32 (onnxruntime calls C `expf` here).
pub(crate) fn exp_f32(x: f32) -> f32 {
    libm::expf(x)
}

/// Natural logarithm in f32 (tract's LogSoftmax calls C `logf` here).
pub(crate) fn ln_f32(x: f32) -> f32 {
    libm::logf(x)
}

/// x^y in f32 (tract's Pow calls C `powf` here).
pub(crate) fn pow_f32(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// x^y in f64 (tract's Pow calls C `pow` here).
pub(crate) fn pow_f64(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}
