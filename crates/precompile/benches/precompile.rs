//! INFER precompile call vs `prova_runtime::Runtime::run` directly, per fixture model.
//!
//! For every model in `fixtures/models` (inputs from `fixtures/inputs/<name>.json`) and the
//! larger single-op models of `fixtures/gas` with a committed input (`fixtures/gas/inputs`), three
//! benchmarks in one group named after the model, same process, same `Runtime` (exact
//! profile, compiled plan cached):
//!
//! - `precompile`: [`PrecompileProvider::run`] of [`ProvaPrecompiles`] on a revm mainnet
//!   context, with the `CallInputs` of a direct CALL to INFER carrying ABI-encoded `infer`
//!   calldata, returning the ABI-encoded outputs. The model was deployed through a real
//!   MODEL_REGISTRY transaction beforehand, so every call does the full path: calldata decode,
//!   registry `SLOAD` through the journal, gas from the model's facts, warmth `TLOAD`/`TSTORE`,
//!   input conversion and checks, the run, output encoding, the inference record (the inputs
//!   and canonical output bytes; drained each iteration so the journal does not grow). What it
//!   leaves out is what every call pays whatever it calls (transaction validation, intrinsic
//!   gas, frame set-up, state finalisation): not the precompile's own overhead.
//! - `precompile_sealed`: the same call, then the record's input hash, which a block producer
//!   computes when it seals the block (off the call's path, in parallel across records).
//! - `runtime`: `Runtime::run(&model, &inputs)` on the same model and inputs (the baseline).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use alloy_sol_types::{SolCall, SolValue};
use criterion::Criterion;
use prova_precompile::{
    INFER_ADDRESS, InferenceRecord, MODEL_REGISTRY_ADDRESS, ProvaPrecompiles,
    abi::{self, IModelRegistry, IProvaInference},
};
use prova_runtime::{CompiledModel, Profile, Runtime};
use prova_tensor::{InputDocument, Tensor};
use revm::{
    Context, ExecuteCommitEvm, MainBuilder, MainContext,
    bytecode::Bytecode,
    context::{TxEnv, result::ExecutionResult},
    database::{CacheDB, EmptyDB},
    handler::{EthFrame, PrecompileProvider, instructions::EthInstructions},
    interpreter::{
        CallInput, CallInputs, CallScheme, CallValue, InstructionResult,
        interpreter::EthInterpreter,
    },
    primitives::{Address, B256, Bytes, KECCAK_EMPTY, TxKind, U256, address, hardfork::SpecId},
    state::AccountInfo,
};
use std::{
    hint::black_box,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

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

/// One model ready to call both ways, checked to agree.
struct Case {
    name: String,
    evm: Evm,
    call: CallInputs,
    runtime: Arc<Runtime>,
    model: Arc<CompiledModel>,
    inputs: Vec<Tensor>,
}

type Ctx = revm::handler::MainnetContext<CacheDB<EmptyDB>>;
type Evm = revm::context::Evm<
    Ctx,
    (),
    EthInstructions<EthInterpreter, Ctx>,
    ProvaPrecompiles,
    EthFrame<EthInterpreter>,
>;

impl Case {
    fn new(runtime: &Arc<Runtime>, model: PathBuf, input: PathBuf, name: String) -> Self {
        let runtime = runtime.clone();
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

        Self {
            name,
            evm,
            call,
            runtime,
            model,
            inputs,
        }
    }

    /// One INFER call through the precompile provider: its output and its records, drained.
    fn call(&mut self) -> (Bytes, Vec<InferenceRecord>) {
        let out = self
            .evm
            .precompiles
            .run(&mut self.evm.ctx, black_box(&self.call))
            .unwrap()
            .unwrap();
        (out.output, self.evm.precompiles.take_records())
    }

    /// One INFER call, its record drained (the journal does not grow).
    fn precompile(&mut self) -> Bytes {
        self.call().0
    }

    /// The same call, then the record's input hash (what sealing the block adds).
    fn precompile_sealed(&mut self) -> (Bytes, B256) {
        let (out, records) = self.call();
        prova_precompile::hash_inputs(&records, 1);
        (out, records[0].input_hash())
    }

    /// The baseline: the runtime called directly.
    fn runtime(&self) -> Vec<Tensor> {
        self.runtime
            .run(&self.model, black_box(&self.inputs))
            .unwrap()
    }
}

fn cases() -> Vec<Case> {
    let runtime = Arc::new(Runtime::new(Profile::Exact).unwrap());
    let filter = filter();
    models()
        .into_iter()
        .filter(|(_, _, name)| filter.as_ref().is_none_or(|f| name.contains(f)))
        .map(|(model, input, name)| Case::new(&runtime, model, input, name))
        .collect()
}

/// The name filter given on the command line (`cargo bench ... -- skinny`), if any: the
/// first argument that is neither an option nor an option's value, up to its first `/`.
fn filter() -> Option<String> {
    const VALUED: &[&str] = &[
        "--profile-time",
        "--save-baseline",
        "-s",
        "--baseline",
        "-b",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--plotting-backend",
        "--color",
        "-c",
        "--format",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if VALUED.contains(&a.as_str()) {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return Some(a.split('/').next().unwrap_or(a).to_string());
        }
    }
    None
}

fn bench(c: &mut Criterion, cases: &mut [Case]) {
    for case in cases {
        let mut group = c.benchmark_group(&case.name);
        group.bench_function("precompile", |b| b.iter(|| case.precompile()));
        group.bench_function("precompile_sealed", |b| b.iter(|| case.precompile_sealed()));
        group.bench_function("runtime", |b| b.iter(|| case.runtime()));
        group.finish();
    }
}

/// Paired measurement: the three paths alternate in short batches for `ROUNDS` rounds, and
/// each round gives a ratio to the runtime measured right next to it, so that the drift of a
/// shared machine (±20–40% between criterion's separate runs) cancels out. Prints a markdown
/// table of medians (µs per call) and median overheads (docs/performance.md).
fn paired(cases: &mut [Case]) {
    const ROUNDS: usize = 31;
    let arg = |name: &str| std::env::args().any(|a| a == name);
    if arg("--list") || arg("--profile-time") {
        return;
    }
    let quick = arg("--test");
    println!("\npaired, {ROUNDS} rounds of ~10 ms batches; medians");
    println!(
        "| model | precompile µs | +sealing µs | runtime µs | overhead µs | overhead % | with sealing % |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for case in cases {
        // Calls per batch: ~10 ms of runtime calls.
        let t = Instant::now();
        case.runtime();
        let once = t.elapsed().as_secs_f64().max(1e-7);
        let n = if quick {
            1
        } else {
            ((0.01 / once) as usize).clamp(1, 100_000)
        };
        let rounds = if quick { 1 } else { ROUNDS };
        let time = |f: &mut dyn FnMut()| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        };
        let (mut p, mut ps, mut r, mut over, mut over_sealed) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..rounds {
            let a = time(&mut || {
                black_box(case.precompile());
            });
            let b = time(&mut || {
                black_box(case.runtime());
            });
            let c = time(&mut || {
                black_box(case.precompile_sealed());
            });
            let d = time(&mut || {
                black_box(case.runtime());
            });
            let base = (b + d) / 2.0;
            over.push(a / base - 1.0);
            over_sealed.push(c / base - 1.0);
            p.push(a);
            ps.push(c);
            r.push(base);
        }
        let (p, ps, r) = (median(&mut p), median(&mut ps), median(&mut r));
        println!(
            "| {} | {p:.2} | {:.2} | {r:.2} | {:.2} | {:.1}% | {:.1}% |",
            case.name,
            ps - p,
            p - r,
            100.0 * median(&mut over),
            100.0 * median(&mut over_sealed),
        );
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    // Every model deployed once, for both measurements.
    let mut cases = cases();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c, &mut cases);
    c.final_summary();
    paired(&mut cases);
}
