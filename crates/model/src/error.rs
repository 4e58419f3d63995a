use crate::ModelId;
use alloy_primitives::B256;

/// Why a model was refused at admission. Every variant says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdmissionError {
    /// The model is larger than the byte limit.
    #[error("model is {bytes} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// Size of the model.
        bytes: u64,
        /// The limit.
        max: u64,
    },
    /// The bytes are not an ONNX protobuf.
    #[error("not an ONNX model: {0}")]
    Parse(String),
    /// The model has no graph.
    #[error("ONNX model has no graph")]
    MissingGraph,
    /// A tensor refers to data outside the model file.
    #[error(
        "tensor {tensor:?} uses external data; embed all weights in the model file (onnx.save with save_as_external_data=False)"
    )]
    ExternalData {
        /// Name of the tensor.
        tensor: String,
    },
    /// An operator whose result is random.
    #[error("operator {op} (node {node}) is non-deterministic and cannot run in consensus")]
    NonDeterministicOp {
        /// Operator, with its domain when not the default one.
        op: String,
        /// Node name.
        node: String,
    },
    /// `ZipMap` returns maps, not tensors.
    #[error(
        "operator ai.onnx.ml.ZipMap (node {node}) returns maps, not tensors; export the classifier with zipmap disabled (skl2onnx: options={{id(model): {{'zipmap': False}}}})"
    )]
    ZipMap {
        /// Node name.
        node: String,
    },
    /// An operator outside the allowlist.
    #[error("operator {op} (node {node}) is not on the allowlist (see docs/operators.md)")]
    UnsupportedOp {
        /// Operator, with its domain when not the default one.
        op: String,
        /// Node name.
        node: String,
    },
    /// An input, output or initializer of a type Prova tensors cannot carry.
    #[error(
        "{what} {name:?} has ONNX element type {elem_type}, which is not supported (f32, f64, i64, i32, i16, i8, u8, bool)"
    )]
    UnsupportedDType {
        /// input, output or initializer.
        what: &'static str,
        /// Its name.
        name: String,
        /// ONNX `TensorProto.DataType` code.
        elem_type: i32,
    },
    /// An input without a tensor type or shape.
    #[error("input {input:?} has no static tensor shape")]
    MissingShape {
        /// Input name.
        input: String,
    },
    /// A symbolic dimension other than the leading batch dimension.
    #[error(
        "input {input:?} dimension {axis} is symbolic ({dim:?}); only the leading batch dimension may be symbolic"
    )]
    SymbolicDim {
        /// Input name.
        input: String,
        /// Axis index.
        axis: usize,
        /// The symbol, or `?` for an unnamed dimension.
        dim: String,
    },
    /// A limit on size, parameters or work was exceeded.
    #[error("{what} is {value}, over the limit of {max}")]
    LimitExceeded {
        /// Which limit.
        what: String,
        /// The model's value.
        value: u64,
        /// The limit.
        max: u64,
    },
    /// A graph laid out as a decoder with past (inputs `past_key_values.*`) whose step
    /// structure Prova cannot run (docs/generation.md).
    #[error("not a decoder step Prova can run: {0}")]
    Decoder(String),
    /// tract could not build or type the graph.
    #[error("model does not type-check: {0}")]
    Typing(String),
}

/// Errors of the on-disk model store. These are local faults, never consensus outcomes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No model with that id in the store.
    #[error("model {0} is not in the store")]
    NotFound(ModelId),
    /// A stored file whose hash is not its name.
    #[error("stored model {id} is corrupt: its bytes hash to {actual}")]
    Corrupt {
        /// The id asked for.
        id: ModelId,
        /// What the bytes on disk hash to.
        actual: ModelId,
    },
    /// No upload chunk with that hash in the store.
    #[error("upload chunk {0} is not in the store")]
    ChunkNotFound(B256),
    /// A stored chunk whose hash is not its name.
    #[error("stored upload chunk {hash} is corrupt: its bytes hash to {actual}")]
    CorruptChunk {
        /// The hash asked for.
        hash: B256,
        /// What the bytes on disk hash to.
        actual: B256,
    },
    /// Filesystem error.
    #[error("model store I/O error at {path}: {source}")]
    Io {
        /// Path involved.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
