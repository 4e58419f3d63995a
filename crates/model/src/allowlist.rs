//! The operator allowlist: what a model may contain. Documented in docs/operators.md.
//!
//! An operator is listed only when tract (or Prova's own registration in [`crate::ops`])
//! implements it and it is deterministic given its inputs. Listing is not a promise that
//! every attribute combination is supported: tract still refuses what it cannot type.

/// Operators of the default ONNX domain (`""` / `ai.onnx`).
pub const ONNX: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvInteger",
    "ConvTranspose",
    "CumSum",
    "DequantizeLinear",
    "Div",
    "Dropout",
    "DynamicQuantizeLinear",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "Gather",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "GroupNormalization",
    "GRU",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "LSTM",
    "MatMul",
    "MatMulInteger",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pad",
    "Pow",
    "PRelu",
    "QLinearConv",
    "QLinearMatMul",
    "QuantizeLinear",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSum",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "RNN",
    "Round",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Softplus",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "TopK",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Where",
    "Xor",
];

/// Operators of `ai.onnx.ml`, as skl2onnx emits them for common scikit-learn pipelines.
pub const ONNX_ML: &[&str] = &[
    "ArrayFeatureExtractor",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "Scaler",
    "TreeEnsembleClassifier",
    "TreeEnsembleRegressor",
];

/// Operators of `com.microsoft`, as onnxruntime's default static quantization emits them.
pub const MICROSOFT: &[&str] = &[
    "BiasGelu",
    "FastGelu",
    "QGemm",
    "QLinearSoftmax",
    "SkipLayerNormalization",
];

/// Operators refused because their output is random.
pub const NON_DETERMINISTIC: &[&str] = &[
    "Bernoulli",
    "Multinomial",
    "RandomNormal",
    "RandomNormalLike",
    "RandomUniform",
    "RandomUniformLike",
];

/// Verdict on one `(domain, op_type)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// On the allowlist.
    Allowed,
    /// Random output.
    NonDeterministic,
    /// `ai.onnx.ml.ZipMap`.
    ZipMap,
    /// Anything else.
    Unsupported,
}

/// Looks up `(domain, op_type)`.
pub fn verdict(domain: &str, op_type: &str) -> Verdict {
    let list: &[&str] = match domain {
        "" | "ai.onnx" => {
            if NON_DETERMINISTIC.contains(&op_type) {
                return Verdict::NonDeterministic;
            }
            ONNX
        }
        "ai.onnx.ml" => {
            if op_type == "ZipMap" {
                return Verdict::ZipMap;
            }
            ONNX_ML
        }
        "com.microsoft" => MICROSOFT,
        _ => &[],
    };
    if list.contains(&op_type) {
        Verdict::Allowed
    } else {
        Verdict::Unsupported
    }
}

/// `op_type` qualified with its domain when that is not the default one.
pub fn qualified(domain: &str, op_type: &str) -> String {
    match domain {
        "" | "ai.onnx" => op_type.to_string(),
        d => format!("{d}.{op_type}"),
    }
}
