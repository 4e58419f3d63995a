//! Shared by the chain tests: a dev chain in a temp dir, signing, fixtures and artifacts.
#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

pub use alloy_consensus::{Transaction, TxEip1559, TxEip2930, TxLegacy, TxReceipt};
pub use alloy_eips::Encodable2718;
pub use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
pub use alloy_sol_types::{SolCall, SolEvent, SolValue, sol};
pub use prova_chain::*;
pub use prova_model::ModelId;
pub use prova_precompile::{INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, abi::IModelRegistry};
pub use prova_runtime::{Profile, Runtime};
pub use prova_tensor::{InputDocument, Tensor, encode_tensors, hash_tensors};
pub use std::{
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

sol! {
    function classify(uint8[64] pixels) external returns (uint256 digit);
    function predict(uint8[64] pixels) external view returns (uint256 digit);
    event Classified(address indexed who, uint256 indexed digit, bytes32 inputHash);
}

pub const CHAIN_ID: u64 = 31337;
pub const GWEI: u128 = 1_000_000_000;

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
pub fn artifact(name: &str) -> Vec<u8> {
    let json = std::fs::read_to_string(root().join(format!("contracts/out/{name}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let b: Bytes = v["bytecode"].as_str().unwrap().parse().unwrap();
    b.to_vec()
}

pub fn digit_pixels(input: &Tensor) -> [u8; 64] {
    let px = input.to_vec::<f32>().unwrap();
    std::array::from_fn(|i| (px[i] * 16.0) as u8)
}

pub fn genesis() -> Genesis {
    Genesis::dev(CHAIN_ID).with_model(model_bytes("digits_mlp"))
}

pub fn open(dir: &Path) -> Chain {
    Chain::open_with_runtime(dir, genesis(), runtime()).unwrap()
}

pub fn key(i: usize) -> B256 {
    DEV_ACCOUNTS[i].1
}

pub fn addr(i: usize) -> Address {
    DEV_ACCOUNTS[i].0
}

/// An EIP-1559 transaction from dev account `from`, signed, as raw bytes.
pub fn tx1559(
    from: usize,
    nonce: u64,
    to: TxKind,
    value: U256,
    input: Vec<u8>,
    gas: u64,
) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to,
        value,
        input: input.into(),
        ..Default::default()
    };
    sign_tx(tx, &key(from)).unwrap().encoded_2718()
}

/// Sends a transaction from `from` with its next nonce; panics if refused.
pub fn send(chain: &Chain, from: usize, to: TxKind, input: Vec<u8>, gas: u64) -> TxReceiptInfo {
    let nonce = chain.nonce(&addr(from), None).unwrap();
    let raw = tx1559(from, nonce, to, U256::ZERO, input, gas);
    let (hash, _) = chain.submit(&raw).unwrap();
    chain.receipt(&hash).unwrap().unwrap()
}

pub fn deploy_classifier(chain: &Chain, model: ModelId) -> Address {
    let mut code = artifact("DigitClassifier");
    code.extend_from_slice(&model.0.abi_encode());
    let r = send(chain, 0, TxKind::Create, code, 5_000_000);
    assert!(r.receipt.status(), "deploy failed");
    r.contract_address.unwrap()
}
