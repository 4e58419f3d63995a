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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryGas {
    /// Charged on every `deploy`.
    pub deploy_base: u64,
    /// Charged per byte of `deploy` calldata (covers hashing, parsing, admission, compiling).
    pub deploy_per_byte: u64,
    /// Charged per ONNX graph node of a model not yet registered (admission and compilation).
    pub deploy_per_node: u64,
    /// Charged for `exists`, and for calldata that does not decode.
    pub exists: u64,
}

impl RegistryGas {
    /// The schedule in force.
    pub const DEFAULT: RegistryGas = RegistryGas {
        deploy_base: 32_000,
        deploy_per_byte: 10,
        deploy_per_node: 25_000,
        exists: 2_100,
    };

    /// First step of a `deploy`: `calldata_len` bytes of calldata (saturating).
    pub fn deploy(&self, calldata_len: usize) -> u64 {
        self.deploy_base
            .saturating_add(self.deploy_per_byte.saturating_mul(calldata_len as u64))
    }

    /// Second step of a `deploy` of a model not yet registered: `nodes` graph nodes.
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
