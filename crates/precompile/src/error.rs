use prova_model::{ModelId, StoreError};
use prova_runtime::RuntimeError;

/// Local faults of the precompiles: never part of consensus, never turned into a revert. The
/// provider returns them to revm as fatal errors, which abort the transaction (and the block).
#[derive(Debug, thiserror::Error)]
pub enum ProvaError {
    /// A model registered on chain whose bytes this node does not have.
    #[error("model {0} is registered on chain but its bytes are not in the local model store")]
    MissingBytes(ModelId),
    /// A chunk recorded on chain by a staged upload whose bytes this node does not have.
    #[error("upload chunk {0} is recorded on chain but its bytes are not in the local model store")]
    MissingChunk(revm::primitives::B256),
    /// The model store failed (I/O, corruption).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The runtime failed on a model that passed admission when it was deployed (profile
    /// conflict, different limits, a plan that no longer compiles).
    #[error("runtime fault on model {model}: {source}")]
    Runtime {
        /// The model.
        model: ModelId,
        /// What the runtime said.
        source: RuntimeError,
    },
    /// A standalone call addressed to neither INFER nor MODEL_REGISTRY.
    #[error("{0} is not a Prova precompile")]
    NotAPrecompile(revm::primitives::Address),
    /// The state database failed.
    #[error("state database error: {0}")]
    Database(String),
}
