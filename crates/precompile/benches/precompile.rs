//! INFER precompile call vs `prova_runtime::Runtime::run` directly, per fixture model.
//!
//! For every model in `fixtures/models` (inputs from `fixtures/inputs/<name>.json`) and the
//! larger single-op models of `fixtures/gas` with a committed input (`fixtures/gas/inputs`), two
//! benchmarks in one group named after the model, same process, same `Runtime` (exact
//! profile, compiled plan cached):
//!
//! - `precompile`: [`PrecompileProvider::run`] of [`ProvaPrecompiles`] on a revm mainnet
//!   context, with the `CallInputs` of a direct CALL to INFER carrying ABI-encoded `infer`
//!   calldata, returning the ABI-encoded outputs. The model was deployed through a real
//!   MODEL_REGISTRY transaction beforehand, so every call does the full path: calldata decode,
//!   registry `SLOAD` through the journal, gas from the model's facts, warmth `TLOAD`/`TSTORE`,
//!   input conversion and checks, the run, output encoding, the inference record (input hash,
//!   canonical output bytes; drained each iteration so the journal does not grow). What it
//!   leaves out is what every call pays whatever it calls (transaction validation, intrinsic
//!   gas, frame set-up, state finalisation): not the precompile's own overhead.
//! - `runtime`: `Runtime::run(&model, &inputs)` on the same model and inputs (the baseline).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy_sol_types::{SolCall, SolValue};
use criterion::{Criterion, criterion_group, criterion_main};
use prova_precompile::{
    INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, ProvaPrecompiles,
    abi::{self, IModelRegistry, IProvaInference},
};
use prova_runtime::{Profile, Runtime};
use prova_tensor::InputDocument;
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    handler::PrecompileProvider,
    interpreter::{CallInput, CallInputs, CallScheme, CallValue, InstructionResult},
    primitives::{Address, B256, KECCAK_EMPTY, TxKind, U256, address, hardfork::SpecId},
    state::AccountInfo,
};
use std::{hint::black_box, path::PathBuf, sync::Arc, time::Duration};

const CALLER: Address = address!("00000000000000000000000000000000000c0ffe");
const GAS: u64 = 30_000_000;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// (model path, input path, name): every fixture, plus the larger single-op models of
/// fixtures/gas that have a committed input (fixtures/gas/inputs), so that models over 50 µs
/// are measured too.
fn models() -> Vec<(PathBuf, PathBuf, String)> {
    let mut out = Vec::new();
    for (models, inputs) in [("models", "inputs"), ("gas", "gas/inputs")] {
        let mut names: Vec<String> = std::fs::read_dir(fixtures().join(inputs))
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                (path.extension()? == "json")
                    .then(|| path.file_stem().unwrap().to_string_lossy().into())
            })
            .collect();
        names.sort();
        for name in names {
            let model = fixtures().join(format!("{models}/{name}.onnx"));
            if model.is_file() {
                out.push((
                    model,
                    fixtures().join(format!("{inputs}/{name}.json")),
                    name,
                ));
            }
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let runtime = Arc::new(Runtime::new(Profile::Exact).unwrap());
    for (model, input, name) in models() {
        let bytes = std::fs::read(model).unwrap();
        let json = std::fs::read_to_string(input).unwrap();
        let inputs = InputDocument::from_json(&json).unwrap().inputs;

        // A Cancun EVM with Prova's precompiles; the model deployed by a real transaction.
        let mut db = CacheDB::<EmptyDB>::default();
        db.insert_account_info(
            CALLER,
            AccountInfo {
                balance: U256::from(10).pow(U256::from(24)),
                ..Default::default()
            },
        );
        let mut evm = Context::mainnet()
            .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SpecId::CANCUN))
            .with_db(db)
            .build_mainnet()
            .with_precompiles(ProvaPrecompiles::new(SpecId::CANCUN, runtime.clone()));
        let deploy = IModelRegistry::deployCall {
            onnx: bytes.clone().into(),
        }
        .abi_encode();
        let tx = TxEnv::builder()
            .caller(CALLER)
            .kind(TxKind::Call(MODEL_REGISTRY_ADDRESS))
            .data(deploy.into())
            .gas_limit(GAS)
            .build()
            .unwrap();
        let id = match evm.transact_commit(tx).unwrap() {
            ExecutionResult::Success { output, .. } => B256::abi_decode(output.data()).unwrap(),
            other => panic!("deploying {name}: {other:?}"),
        };

        // A direct CALL to INFER, as the interpreter frames it.
        let data = IProvaInference::inferCall {
            modelId: id,
            inputs: inputs.iter().map(abi::to_abi).collect(),
        }
        .abi_encode();
        let call = CallInputs {
            input: CallInput::Bytes(data.into()),
            return_memory_offset: 0..0,
            gas_limit: GAS,
            reservoir: 0,
            bytecode_address: INFER_ADDRESS,
            known_bytecode: (KECCAK_EMPTY, Bytecode::default()),
            target_address: INFER_ADDRESS,
            caller: CALLER,
            value: CallValue::Transfer(U256::ZERO),
            scheme: CallScheme::Call,
            is_static: false,
            charged_new_account_state_gas: false,
        };

        // Both paths agree before anything is timed.
        let model = runtime.load(&bytes).unwrap();
        let expected = runtime.run(&model, &inputs).unwrap();
        let result = evm.precompiles.run(&mut evm.ctx, &call).unwrap().unwrap();
        assert_eq!(result.result, InstructionResult::Return, "{name}");
        let ret: Vec<_> = expected.iter().map(abi::to_abi).collect();
        assert_eq!(
            result.output.as_ref(),
            IProvaInference::inferCall::abi_encode_returns(&ret).as_slice(),
            "{name}"
        );
        assert_eq!(evm.precompiles.take_records().len(), 1);

        let mut group = c.benchmark_group(&name);
        group.bench_function("precompile", |b| {
            b.iter(|| {
                let out = evm
                    .precompiles
                    .run(&mut evm.ctx, black_box(&call))
                    .unwrap()
                    .unwrap();
                evm.precompiles.take_records();
                out
            })
        });
        group.bench_function("runtime", |b| {
            b.iter(|| runtime.run(&model, black_box(&inputs)).unwrap())
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
