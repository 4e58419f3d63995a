//! Shared by the EVM tests: a Cancun revm EVM with Prova's precompiles over an in-memory
//! database, fixtures, contract artifacts and a hand-assembled forwarding proxy.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use alloy_sol_types::{SolCall, SolError, SolValue, sol};
pub use prova_model::{GasSchedule, ModelId};
pub use prova_precompile::{
    INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, ProvaPrecompiles, RegistryGas,
    abi::{
        self, AbiTensor, BadInput, IModelRegistry, IProvaInference, ModelRejected, UnknownModel,
    },
};
pub use prova_runtime::{Profile, Runtime};
pub use prova_tensor::{InputDocument, Tensor, encode_tensors, hash_tensors};
pub use revm::{
    Context, ExecuteCommitEvm, ExecuteEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{
        TxEnv,
        result::{ExecutionResult, HaltReason, OutOfGasError, Output},
    },
    database::{CacheDB, EmptyDB},
    handler::{EthFrame, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
    primitives::{Address, B256, Bytes, I256, TxKind, U256, address, hardfork::SpecId},
    state::AccountInfo,
};
pub use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
};

sol! {
    function classify(uint8[64] pixels) external returns (uint256 digit);
    function predict(uint8[64] pixels) external view returns (uint256 digit);

    function deposit() external payable;
    function borrow(uint256 amount, int256[] features) external returns (bool approved);
    event ModelError(address indexed user, bytes4 indexed selector, bytes revertData);
    event Borrowed(address indexed user, uint256 amount, int256 score);
    event ScoreRejected(address indexed user, uint256 amount, int256 score, int256 maxScore);
    error InvalidFeatures(uint256 index, string reason);
}

pub const CALLER: Address = address!("00000000000000000000000000000000000c0ffe");
pub const PROXY: Address = address!("0000000000000000000000000000000000001234");
pub const GAS: u64 = 30_000_000;

pub type Db = CacheDB<EmptyDB>;
pub type Ctx = revm::handler::MainnetContext<Db>;
pub type Evm = revm::context::Evm<
    Ctx,
    (),
    EthInstructions<EthInterpreter, Ctx>,
    ProvaPrecompiles,
    EthFrame<EthInterpreter>,
>;

pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::new(Profile::Exact).unwrap()))
        .clone()
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(root().join(format!("fixtures/models/{name}.onnx"))).unwrap()
}

pub fn fixture_inputs(name: &str) -> Vec<Tensor> {
    let json =
        std::fs::read_to_string(root().join(format!("fixtures/inputs/{name}.json"))).unwrap();
    InputDocument::from_json(&json).unwrap().inputs
}

/// Creation bytecode of a contract in contracts/out.
pub fn artifact(name: &str) -> Bytes {
    let json = std::fs::read_to_string(root().join(format!("contracts/out/{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["bytecode"].as_str().unwrap().parse().unwrap()
}

/// How the test proxy calls its target.
#[derive(Clone, Copy)]
pub enum Op {
    Call = 0xf1,
    CallCode = 0xf2,
    DelegateCall = 0xf4,
    StaticCall = 0xfa,
}

/// Runtime code that forwards its calldata to `target` with `op`, `times` times, then returns
/// the last call's return data (or reverts with it if the call failed); with `always_revert`
/// it reverts with it regardless.
pub fn proxy_code(op: Op, target: Address, times: usize, always_revert: bool) -> Bytes {
    let mut c = vec![0x36, 0x5f, 0x5f, 0x37]; // calldatacopy(0, 0, calldatasize)
    for k in 0..times {
        c.extend([0x5f, 0x5f, 0x36, 0x5f]); // retSize, retOffset, argsSize, argsOffset
        if matches!(op, Op::Call | Op::CallCode) {
            c.push(0x5f); // value
        }
        c.push(0x73); // push20 target
        c.extend_from_slice(target.as_slice());
        c.extend([0x5a, op as u8]); // gas, call
        if k + 1 < times {
            c.push(0x50); // pop success
        }
    }
    c.extend([0x3d, 0x5f, 0x5f, 0x3e]); // returndatacopy(0, 0, returndatasize)
    if always_revert {
        c.extend([0x50, 0x3d, 0x5f, 0xfd]);
    } else {
        let dest = c.len() + 7;
        c.extend([0x60, dest as u8, 0x57, 0x3d, 0x5f, 0xfd, 0x00]);
        c.extend([0x5b, 0x3d, 0x5f, 0xf3]);
        assert_eq!(c[dest], 0x5b);
    }
    c.into()
}

pub struct Chain {
    pub evm: Evm,
    pub nonce: u64,
    /// Nonces of senders other than `CALLER` ([`Chain::call_from`]).
    pub others: std::collections::BTreeMap<Address, u64>,
}

impl Chain {
    pub fn new() -> Self {
        Self::with_runtime(runtime())
    }

    pub fn with_runtime(runtime: Arc<Runtime>) -> Self {
        let mut db = Db::default();
        db.insert_account_info(
            CALLER,
            AccountInfo {
                balance: U256::from(10).pow(U256::from(24)),
                ..Default::default()
            },
        );
        let evm = Context::mainnet()
            .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SpecId::CANCUN))
            .with_db(db)
            .build_mainnet()
            .with_precompiles(ProvaPrecompiles::new(SpecId::CANCUN, runtime));
        Self {
            evm,
            nonce: 0,
            others: Default::default(),
        }
    }

    pub fn set_proxy(&mut self, code: Bytes) {
        let code = Bytecode::new_raw(code);
        self.evm.ctx.journaled_state.database.insert_account_info(
            PROXY,
            AccountInfo {
                code_hash: code.hash_slow(),
                code: Some(code),
                ..Default::default()
            },
        );
    }

    pub fn tx_env(&self, kind: TxKind, data: impl Into<Bytes>, gas: u64) -> TxEnv {
        self.tx_env_value(kind, data, gas, U256::ZERO)
    }

    pub fn tx_env_value(
        &self,
        kind: TxKind,
        data: impl Into<Bytes>,
        gas: u64,
        value: U256,
    ) -> TxEnv {
        TxEnv::builder()
            .caller(CALLER)
            .kind(kind)
            .value(value)
            .data(data.into())
            .gas_limit(gas)
            .nonce(self.nonce)
            .build()
            .unwrap()
    }

    /// A committed transaction.
    pub fn tx(&mut self, kind: TxKind, data: impl Into<Bytes>, gas: u64) -> ExecutionResult {
        let tx = self.tx_env(kind, data, gas);
        self.nonce += 1;
        self.evm.transact_commit(tx).unwrap()
    }

    /// A committed transaction carrying `value`.
    pub fn send(&mut self, to: Address, data: impl Into<Bytes>, value: U256) -> ExecutionResult {
        let tx = self.tx_env_value(TxKind::Call(to), data, GAS, value);
        self.nonce += 1;
        self.evm.transact_commit(tx).unwrap()
    }

    /// A committed call from `from` (funded on first use), with `gas`.
    pub fn call_from(
        &mut self,
        from: Address,
        to: Address,
        data: impl Into<Bytes>,
        gas: u64,
    ) -> ExecutionResult {
        if !self.others.contains_key(&from) {
            self.evm.ctx.journaled_state.database.insert_account_info(
                from,
                AccountInfo {
                    balance: U256::from(10).pow(U256::from(24)),
                    ..Default::default()
                },
            );
        }
        let nonce = self.others.entry(from).or_insert(0);
        let tx = TxEnv::builder()
            .caller(from)
            .kind(TxKind::Call(to))
            .data(data.into())
            .gas_limit(gas)
            .nonce(*nonce)
            .build()
            .unwrap();
        *nonce += 1;
        self.evm.transact_commit(tx).unwrap()
    }

    pub fn call(&mut self, to: Address, data: impl Into<Bytes>) -> ExecutionResult {
        self.tx(TxKind::Call(to), data, GAS)
    }

    /// An `eth_call`: executed, not committed.
    pub fn eth_call(&mut self, to: Address, data: impl Into<Bytes>) -> ExecutionResult {
        let tx = self.tx_env(TxKind::Call(to), data, GAS);
        self.evm.transact(tx).unwrap().result
    }

    pub fn deploy_model(&mut self, bytes: &[u8]) -> (ModelId, ExecutionResult) {
        let data = IModelRegistry::deployCall {
            onnx: bytes.to_vec().into(),
        }
        .abi_encode();
        let result = self.call(MODEL_REGISTRY_ADDRESS, data);
        let id = B256::abi_decode(&ok(&result)).unwrap();
        (ModelId(id), result)
    }

    pub fn exists(&mut self, id: ModelId) -> bool {
        let data = IModelRegistry::existsCall { modelId: id.0 }.abi_encode();
        let out = ok(&self.eth_call(MODEL_REGISTRY_ADDRESS, data));
        IModelRegistry::existsCall::abi_decode_returns(&out).unwrap()
    }

    pub fn deploy_contract(&mut self, name: &str, args: &[u8]) -> Address {
        let mut code = artifact(name).to_vec();
        code.extend_from_slice(args);
        match self.tx(TxKind::Create, code, GAS) {
            ExecutionResult::Success {
                output: Output::Create(_, Some(address)),
                ..
            } => address,
            other => panic!("deploying {name}: {other:?}"),
        }
    }

    pub fn records(&self) -> Vec<prova_precompile::InferenceRecord> {
        self.evm.precompiles.records()
    }
}

/// Return data of a successful call.
pub fn ok(result: &ExecutionResult) -> Bytes {
    match result {
        ExecutionResult::Success { output, .. } => output.data().clone(),
        other => panic!("expected success, got {other:?}"),
    }
}

/// Revert data of a reverted call.
pub fn reverted(result: &ExecutionResult) -> Bytes {
    match result {
        ExecutionResult::Revert { output, .. } => output.clone(),
        other => panic!("expected a revert, got {other:?}"),
    }
}

pub fn infer_data(id: ModelId, inputs: &[Tensor]) -> Vec<u8> {
    IProvaInference::inferCall {
        modelId: id.0,
        inputs: inputs.iter().map(abi::to_abi).collect(),
    }
    .abi_encode()
}

/// Intrinsic gas of a Cancun call transaction carrying `data`.
pub fn intrinsic(data: &[u8]) -> u64 {
    21_000
        + data
            .iter()
            .map(|&b| if b == 0 { 4 } else { 16 })
            .sum::<u64>()
}

pub fn digit_pixels(input: &Tensor) -> [u8; 64] {
    let px = input.to_vec::<f32>().unwrap();
    std::array::from_fn(|i| (px[i] * 16.0) as u8)
}
