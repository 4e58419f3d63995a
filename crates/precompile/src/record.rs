//! The inference journal: one [`InferenceRecord`] per INFER execution, in execution order.

use prova_model::ModelId;
use prova_tensor::Tensor;
use revm::primitives::{Address, B256, Bytes};
use std::sync::Arc;

/// What one INFER execution consumed and produced, for the block's inference witness.
///
/// Records are kept by the provider, outside EVM state: they survive the revert of any
/// enclosing frame (replay needs every result that execution consumed) and are written under
/// STATICCALL too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceRecord {
    /// `msg.sender` of the call into INFER.
    pub caller: Address,
    /// The model run.
    pub model: ModelId,
    /// [`prova_tensor::hash_tensors`] of the model inputs (after `inferFixed`'s conversion).
    pub input_hash: B256,
    /// What came out: the canonical encoding ([`prova_tensor::encode_tensors`]) of the outputs
    /// on success, or the ABI-encoded `InferenceFailed` revert data when the runtime failed.
    pub output: Bytes,
    /// Whether the runtime succeeded.
    pub success: bool,
    /// Gas charged for the call.
    pub gas: u64,
    /// Call depth of the INFER frame (1 = called directly by the transaction); 0 when it ran
    /// as an alloy-evm `DynPrecompile`, which is not told the depth.
    pub depth: usize,
    /// Whether the call ran under STATICCALL.
    pub is_static: bool,
    /// The model inputs, kept only when the output came from a witness feed
    /// ([`crate::ProvaPrecompiles::feed_witness`]), so the inference can be re-run later.
    pub inputs: Option<Arc<[Tensor]>>,
}

/// An output a block's witness claims for one INFER execution, fed to the precompile so that
/// replay can execute transactions without running models ([`crate::ProvaPrecompiles::feed_witness`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessOutput {
    /// The model the witness says was run.
    pub model: ModelId,
    /// The hash of the inputs the witness says it was run on.
    pub input_hash: B256,
    /// The claimed output bytes (as [`InferenceRecord::output`]).
    pub output: Bytes,
    /// The claimed success flag.
    pub success: bool,
}
