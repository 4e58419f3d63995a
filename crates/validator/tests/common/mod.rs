//! Shared by the validator tests: an honest chain with inference-heavy blocks, built by the
//! real node code, and a verifier over it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use prova_chain::{BlockWithWitness, Chain, DEV_ACCOUNTS, Genesis, sign_tx};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_runtime::{Profile, Runtime};
use prova_tensor::{InputDocument, Tensor};
use prova_validator::{Mode, Summary};
use std::{
    path::PathBuf,
    sync::{Arc, OnceLock},
};

pub const CHAIN_ID: u64 = 31337;

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

pub fn genesis() -> Genesis {
    Genesis::dev(CHAIN_ID)
        .with_model(model_bytes("digits_mlp"))
        .with_model(model_bytes("iris_logreg"))
}

/// A signed EIP-1559 transaction from dev account `from`.
pub fn tx(from: usize, nonce: u64, to: TxKind, value: u64, input: Vec<u8>, gas: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to,
        value: U256::from(value),
        input: input.into(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[from].1)
        .unwrap()
        .encoded_2718()
        .into()
}

/// Calldata of `infer(model, inputs)`.
pub fn infer_call(model: &str, inputs: &[Tensor]) -> Vec<u8> {
    IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(&model_bytes(model)).0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode()
}

/// An inference transaction (an account calling INFER directly) with `model`'s fixture input,
/// scaled by `k` so that outputs differ between calls.
pub fn infer_tx(from: usize, nonce: u64, model: &str, k: f32) -> Bytes {
    let inputs: Vec<Tensor> = fixture_inputs(model)
        .iter()
        .map(|t| {
            let v: Vec<f32> = t.to_vec::<f32>().unwrap().iter().map(|x| x * k).collect();
            Tensor::from_f32(t.shape().to_vec(), &v).unwrap()
        })
        .collect();
    tx(
        from,
        nonce,
        TxKind::Call(INFER_ADDRESS),
        0,
        infer_call(model, &inputs),
        1_000_000,
    )
}

/// Blocks 1..=4 of an honest chain: transfers; two inferences; three inferences from two
/// senders; a transfer.
pub fn honest_blocks() -> Vec<BlockWithWitness> {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open_with_runtime(dir.path(), genesis(), runtime()).unwrap();
    let bob = TxKind::Call(DEV_ACCOUNTS[5].0);
    let blocks: Vec<Vec<Bytes>> = vec![
        vec![
            tx(0, 0, bob, 1, vec![], 21_000),
            tx(1, 0, bob, 2, vec![], 21_000),
        ],
        vec![
            infer_tx(0, 1, "digits_mlp", 1.0),
            infer_tx(0, 2, "iris_logreg", 1.0),
        ],
        vec![
            infer_tx(1, 1, "digits_mlp", 0.5),
            infer_tx(2, 0, "digits_mlp", 0.25),
            infer_tx(1, 2, "iris_logreg", 1.5),
        ],
        vec![tx(3, 0, bob, 3, vec![], 21_000)],
    ];
    for txs in &blocks {
        let (block, errors) = chain.build_block(txs).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
        assert!(block.txs.iter().all(|t| t.receipt.status()));
    }
    (1..=4)
        .map(|n| chain.block_with_witness(n).unwrap().unwrap())
        .collect()
}

/// Verifies `blocks` from genesis in `mode`.
pub fn verify(genesis: &Genesis, blocks: &[BlockWithWitness], mode: Mode) -> Summary {
    let chain = Chain::open_in_memory(genesis.clone(), runtime()).unwrap();
    prova_validator::run(&chain, blocks.iter().cloned().map(Ok), mode, 1, &mut |_| {}).unwrap()
}

/// Re-seals a tampered header: the claimed hash follows the header (a careful liar).
pub fn reseal(b: &mut BlockWithWitness) {
    b.hash = b.header.hash_slow();
}

pub fn hash_of(b: &BlockWithWitness) -> B256 {
    b.hash
}
