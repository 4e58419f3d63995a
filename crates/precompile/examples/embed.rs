//! Embedding Prova's precompiles in a revm EVM: deploy a model by transaction, run it, read
//! the inference journal.
//!
//! `cargo run -p prova-precompile --example embed`

use alloy_sol_types::{SolCall, SolValue};
use prova_precompile::{
    INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, ProvaPrecompiles,
    abi::{self, IModelRegistry, IProvaInference},
};
use prova_runtime::{Profile, Runtime};
use prova_tensor::Tensor;
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    primitives::{Address, B256, Bytes, TxKind, U256, address, hardfork::SpecId},
    state::AccountInfo,
};
use std::{error::Error, sync::Arc};

const ME: Address = address!("00000000000000000000000000000000000c0ffe");

fn main() -> Result<(), Box<dyn Error>> {
    // 1. A runtime in the consensus profile, and the provider wrapping Ethereum's precompiles.
    let runtime = Arc::new(Runtime::new(Profile::Exact)?);
    let precompiles = ProvaPrecompiles::new(SpecId::CANCUN, runtime);

    // 2. Any revm EVM: swap the precompile provider in.
    let mut db = CacheDB::<EmptyDB>::default();
    let balance = U256::from(10).pow(U256::from(21));
    db.insert_account_info(
        ME,
        AccountInfo {
            balance,
            ..Default::default()
        },
    );
    let mut evm = Context::mainnet()
        .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SpecId::CANCUN))
        .with_db(db)
        .build_mainnet()
        .with_precompiles(precompiles);

    let mut nonce = 0;
    let mut send = |to: Address, data: Vec<u8>| -> Result<Bytes, Box<dyn Error>> {
        let tx = TxEnv::builder()
            .caller(ME)
            .kind(TxKind::Call(to))
            .data(data.into())
            .gas_limit(30_000_000)
            .nonce(nonce)
            .build()
            .map_err(|e| format!("{e:?}"))?;
        nonce += 1;
        match evm.transact_commit(tx)? {
            ExecutionResult::Success { output, gas, .. } => {
                println!("  ok, {} gas", gas.tx_gas_used());
                Ok(output.into_data())
            }
            other => Err(format!("call failed: {other:?}").into()),
        }
    };

    // 3. Deploy a model: its bytes travel in the transaction.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models");
    let onnx = std::fs::read(format!("{dir}/iris_logreg.onnx"))?;
    println!("deploy iris_logreg ({} bytes)", onnx.len());
    let out = send(
        MODEL_REGISTRY_ADDRESS,
        IModelRegistry::deployCall { onnx: onnx.into() }.abi_encode(),
    )?;
    let model_id = B256::abi_decode(&out)?;
    println!("  model id {model_id}");

    // 4. Run it, as a contract would.
    let input = Tensor::from_f32(vec![1, 4], &[5.1, 3.5, 1.4, 0.2])?;
    println!("infer");
    let out = send(
        INFER_ADDRESS,
        IProvaInference::inferCall {
            modelId: model_id,
            inputs: vec![abi::to_abi(&input)],
        }
        .abi_encode(),
    )?;
    for t in IProvaInference::inferCall::abi_decode_returns(&out)? {
        println!("  output {}", abi::from_abi(&t)?.to_json());
    }

    // 5. What the block's inference witness gets.
    for r in evm.precompiles.take_records() {
        println!(
            "record: caller {} model {} gas {} input {}",
            r.call.map(|c| c.caller).unwrap_or_default(),
            r.model,
            r.gas,
            r.input_hash()
        );
    }
    Ok(())
}
