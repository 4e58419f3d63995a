//! ONNX operators Prova adds to tract's ONNX frontend, registered through its op register.
//!
//! tract 0.23 lacks some operators real exporters emit, and computes others differently from
//! onnxruntime, the reference users compare against:
//!
//! | operator | domain | why |
//! |---|---|---|
//! | `Scaler` | `ai.onnx.ml` | missing (scikit-learn `StandardScaler` via skl2onnx) |
//! | `TreeEnsembleRegressor` | `ai.onnx.ml` | missing (gradient boosting, forests) |
//! | `TreeEnsembleClassifier` | `ai.onnx.ml` | replaces tract's, which mislabels binary forests |
//! | `QGemm` | `com.microsoft` | missing (onnxruntime static quantization) |
//! | `QLinearSoftmax` | `com.microsoft` | missing (onnxruntime static quantization) |
//! | `Pow` | default | replaces tract's, which calls the platform libm's `powf` / `pow` |
//! | `Softmax`, `LogSoftmax` | default | replaces tract's where it would call the platform libm's `expf` / `exp` (f64, non-trailing axes) |
//! | `LSTM`, `GRU`, `RNN` | default | wraps tract's: `direction="reverse"` (tract runs it forwards) and explicit zero initial states (tract's own fail on batches of more than one) |
//!
//! Each follows onnxruntime's CPU kernel operation by operation (accumulation order, rounding,
//! quirks included), so that outputs match it bit for bit where onnxruntime is itself
//! deterministic. The register is keyed by `op_type` only: the domain is not checked.

mod libm_audit;
mod math;
mod pow;
mod qgemm;
mod qlinear_softmax;
mod recurrent;
mod scaler;
mod softmax;
mod tree;
mod tree_classifier;
mod tree_regressor;

pub use libm_audit::platform_libm_nodes;
use tract_onnx::model::OnnxOpRegister;
use tract_onnx::tract_hir::internal::*;

/// Adds Prova's operators to a tract ONNX op register, replacing tract's own where Prova has
/// one (`TreeEnsembleClassifier`; `Pow`, `Softmax`, `LogSoftmax` for the pinned libm; `LSTM`,
/// `GRU`, `RNN` for the reverse direction and zero initial states).
pub fn register(reg: &mut OnnxOpRegister) {
    reg.insert("Scaler", scaler::scaler);
    reg.insert(
        "TreeEnsembleRegressor",
        tree_regressor::tree_ensemble_regressor,
    );
    reg.insert(
        "TreeEnsembleClassifier",
        tree_classifier::tree_ensemble_classifier,
    );
    reg.insert("QGemm", qgemm::qgemm);
    reg.insert("QLinearSoftmax", qlinear_softmax::qlinear_softmax);
    reg.insert("Pow", pow::pow);
    reg.insert("Softmax", softmax::softmax);
    reg.insert("LogSoftmax", softmax::log_softmax);
    reg.insert("LSTM", recurrent::lstm);
    reg.insert("GRU", recurrent::gru);
    reg.insert("RNN", recurrent::rnn);
}

/// tract's ONNX frontend with Prova's operators registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    register(&mut onnx.op_register);
    onnx
}

/// f32 values compared and hashed by their bits, so that ops holding them can be `Eq`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Floats(pub Vec<f32>);

impl PartialEq for Floats {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self
                .0
                .iter()
                .zip(&other.0)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for Floats {}

impl std::hash::Hash for Floats {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.len().hash(state);
        for f in &self.0 {
            f.to_bits().hash(state);
        }
    }
}

/// The constant value wired at `outlet`, or an error naming `what` when it is computed at run
/// time (Prova's quantized operators fold their parameters when the model is built).
pub(crate) fn konst(model: &TypedModel, outlet: OutletId, what: &str) -> TractResult<Arc<Tensor>> {
    model
        .outlet_fact(outlet)?
        .konst
        .clone()
        .ok_or_else(|| format_err!("{what} must be a constant (an initializer)"))
}

/// A constant with exactly one element (a scalar or a 1-element tensor), as `T`.
pub(crate) fn konst_scalar<T: Datum + Copy>(
    model: &TypedModel,
    outlet: OutletId,
    what: &str,
) -> TractResult<T> {
    let t = konst(model, outlet, what)?;
    ensure!(
        t.len() == 1,
        "{what} must hold one value, has shape {:?}",
        t.shape()
    );
    ensure!(
        t.datum_type().unquantized() == T::datum_type(),
        "{what} must be {:?}, is {:?}",
        T::datum_type(),
        t.datum_type()
    );
    t.cast_to_scalar::<T>()
}
