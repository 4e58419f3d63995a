//! Addresses and gas constants of the two precompiles.

use prova_model::GasSchedule;
use revm::primitives::{Address, address};

/// Default address of INFER (`PROVA_INFERENCE` in `contracts/src/IProvaInference.sol`).
pub const INFER_ADDRESS: Address = address!("0000000000000000000000000000000000000F00");
/// Default address of MODEL_REGISTRY (`MODEL_REGISTRY` in `contracts/src/IModelRegistry.sol`).
pub const MODEL_REGISTRY_ADDRESS: Address = address!("0000000000000000000000000000000000000F01");

/// Gas constants of MODEL_REGISTRY. Part of consensus.
///
/// `deploy` is charged in two steps, each before the work it pays for: base plus per calldata
/// byte before anything (hashing, protobuf parsing), then per graph node, counted from the
/// protobuf, before admission and compilation (whose time grows with the node count: tract's
/// optimisation passes). Calibrated in docs/gas.md.
///
/// A staged upload is charged likewise, each step before its work: `appendChunk` by its
/// calldata length before anything; `beginUpload`, `commitUpload` and `cancelUpload` a base
/// before reading the upload's header, then, once the header says how many chunks and bytes
/// there are, per chunk slot read or cleared and (commit) per word of the declared size, then
/// per graph node exactly as `deploy`. Storage writes are priced inside these constants (the
/// precompile's storage writes are not charged by the EVM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryGas {
    /// Charged on every `deploy`.
    pub deploy_base: u64,
    /// Charged per byte of `deploy` calldata (covers hashing, parsing, admission, compiling).
    pub deploy_per_byte: u64,
    /// Charged per ONNX graph node of a model not yet registered (admission and compilation),
    /// by `deploy` and `commitUpload`.
    pub deploy_per_node: u64,
    /// Charged for `exists` and `uploadStatus`, and for calldata that does not decode.
    pub exists: u64,
    /// Charged on every `beginUpload`, `commitUpload` and `cancelUpload`: the registration
    /// check and the upload's header slot, read and written.
    pub upload_base: u64,
    /// Charged on every `appendChunk`: the header read and rewritten, a new slot for the
    /// chunk's hash, the chunk's file written durably (an fsync).
    pub append_base: u64,
    /// Charged per 32-byte word of `appendChunk` calldata: hashing and writing the chunk.
    pub append_per_word: u64,
    /// Charged per 32-byte word of the declared size by `commitUpload` (a complete upload of a
    /// model not yet registered): reading the chunks back, joining and hashing them, decoding
    /// the protobuf to count its nodes.
    pub commit_per_word: u64,
    /// Charged per chunk slot read or cleared (`commitUpload`, `cancelUpload`, a restarting
    /// `beginUpload`): a storage read and reset, and at commit a chunk file opened.
    pub per_chunk: u64,
}

/// 32-byte words in `bytes` bytes, rounded up (as the EVM counts memory and hashing).
fn words(bytes: u64) -> u64 {
    bytes.div_ceil(32)
}

impl RegistryGas {
    /// The schedule in force.
    pub const DEFAULT: RegistryGas = RegistryGas {
        deploy_base: 32_000,
        deploy_per_byte: 10,
        deploy_per_node: 25_000,
        exists: 2_100,
        upload_base: 25_000,
        append_base: 60_000,
        append_per_word: 12,
        commit_per_word: 20,
        per_chunk: 5_000,
    };

    /// First step of a `deploy`: `calldata_len` bytes of calldata (saturating).
    pub fn deploy(&self, calldata_len: usize) -> u64 {
        self.deploy_base
            .saturating_add(self.deploy_per_byte.saturating_mul(calldata_len as u64))
    }

    /// Second step of a `deploy` (or last step of a `commitUpload`) of a model not yet
    /// registered: `nodes` graph nodes.
    pub fn admission(&self, nodes: u64) -> u64 {
        self.deploy_per_node.saturating_mul(nodes)
    }

    /// Whole gas of deploying `onnx` (not yet registered) with `calldata_len` bytes of
    /// calldata; bytes that do not parse as ONNX pay the first step only.
    pub fn deploy_total(&self, onnx: &[u8], calldata_len: usize) -> u64 {
        let nodes = prova_model::graph_node_count(onnx).unwrap_or(0);
        self.deploy(calldata_len)
            .saturating_add(self.admission(nodes))
    }

    /// Gas of an `appendChunk` with `calldata_len` bytes of calldata (saturating).
    pub fn append(&self, calldata_len: usize) -> u64 {
        self.append_base.saturating_add(
            self.append_per_word
                .saturating_mul(words(calldata_len as u64)),
        )
    }

    /// Reading or clearing `chunks` chunk slots.
    pub fn chunks(&self, chunks: u64) -> u64 {
        self.per_chunk.saturating_mul(chunks)
    }

    /// Second step of a `commitUpload` of a complete upload of a model not yet registered:
    /// `size` bytes in `chunks` chunks read back, joined and hashed (admission follows, priced
    /// by [`admission`](Self::admission)).
    pub fn commit(&self, size: u64, chunks: u64) -> u64 {
        self.commit_per_word
            .saturating_mul(words(size))
            .saturating_add(self.chunks(chunks))
    }

    /// Whole gas of committing a complete upload of `onnx` (not yet registered) in `chunks`
    /// chunks; bytes that do not parse as ONNX pay the first two steps only.
    pub fn commit_total(&self, onnx: &[u8], chunks: u64) -> u64 {
        let nodes = prova_model::graph_node_count(onnx).unwrap_or(0);
        self.upload_base
            .saturating_add(self.commit(onnx.len() as u64, chunks))
            .saturating_add(self.admission(nodes))
    }
}

impl Default for RegistryGas {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Where the precompiles live and what they charge. Every node of a chain must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProvaConfig {
    /// Address of INFER.
    pub infer_address: Address,
    /// Address of MODEL_REGISTRY (its account's storage holds the registered-model flags).
    pub registry_address: Address,
    /// Inference gas.
    pub schedule: GasSchedule,
    /// Registry gas.
    pub registry_gas: RegistryGas,
}

impl ProvaConfig {
    /// The defaults: `0x…0F00`, `0x…0F01`, [`GasSchedule::DEFAULT`], [`RegistryGas::DEFAULT`].
    pub const DEFAULT: ProvaConfig = ProvaConfig {
        infer_address: INFER_ADDRESS,
        registry_address: MODEL_REGISTRY_ADDRESS,
        schedule: GasSchedule::DEFAULT,
        registry_gas: RegistryGas::DEFAULT,
    };
}

impl Default for ProvaConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}
