//! `prova bench replay`: builds an inference-heavy chain and a transfer-heavy chain with the
//! real node code in a temporary data dir, then measures verification of each in every mode
//! in the same run: sequential (the baseline), parallel, and witness-only.

use crate::node::FIXTURE_MODELS;
use anyhow::{Context, Result, bail};
use clap::Args;
use prova_chain::{Chain, DEV_ACCOUNTS, Genesis, sign_tx};
use prova_runtime::{Profile, Runtime};
use prova_validator::{DataDir, Mode, Summary};
use serde_json::json;
use std::{path::Path, sync::Arc};

/// Input documents of the fixture models, embedded like the models.
const FIXTURE_INPUTS: [(&str, &str); 10] = [
    (
        "cancer_forest",
        include_str!("../../../fixtures/inputs/cancer_forest.json"),
    ),
    (
        "cancer_scaled_logreg",
        include_str!("../../../fixtures/inputs/cancer_scaled_logreg.json"),
    ),
    (
        "diabetes_gbr",
        include_str!("../../../fixtures/inputs/diabetes_gbr.json"),
    ),
    (
        "diabetes_linear",
        include_str!("../../../fixtures/inputs/diabetes_linear.json"),
    ),
    (
        "digits_cnn",
        include_str!("../../../fixtures/inputs/digits_cnn.json"),
    ),
    (
        "digits_cnn_int8",
        include_str!("../../../fixtures/inputs/digits_cnn_int8.json"),
    ),
    (
        "digits_mlp",
        include_str!("../../../fixtures/inputs/digits_mlp.json"),
    ),
    (
        "digits_mlp_dyn",
        include_str!("../../../fixtures/inputs/digits_mlp_dyn.json"),
    ),
    (
        "digits_mlp_int8",
        include_str!("../../../fixtures/inputs/digits_mlp_int8.json"),
    ),
    (
        "iris_logreg",
        include_str!("../../../fixtures/inputs/iris_logreg.json"),
    ),
];

#[derive(Args)]
pub struct BenchReplayArgs {
    /// Fixture model the inference chain calls (see fixtures/models).
    #[arg(long, default_value = "digits_cnn", conflicts_with = "model_file")]
    model: String,
    /// Another ONNX model for the inference chain (preloaded at genesis), with `--input`.
    #[arg(long, requires = "input")]
    model_file: Option<std::path::PathBuf>,
    /// Input document for `--model-file`.
    #[arg(long, requires = "model_file")]
    input: Option<std::path::PathBuf>,
    /// Blocks of the inference chain.
    #[arg(long, default_value_t = 20)]
    blocks: u64,
    /// Inference transactions per block.
    #[arg(long, default_value_t = 25)]
    per_block: u64,
    /// Blocks of the transfer chain.
    #[arg(long, default_value_t = 20)]
    transfer_blocks: u64,
    /// Plain transfers per block of the transfer chain.
    #[arg(long, default_value_t = 250)]
    transfers_per_block: u64,
    /// Worker threads for parallel verification (default: every core).
    #[arg(long)]
    threads: Option<usize>,
    /// Keep the generated chains in DIR/inference and DIR/transfers (to replay them again
    /// with `prova replay --datadir`); default: a temporary directory.
    #[arg(long, value_name = "DIR")]
    keep: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn genesis(extra: &[u8]) -> Genesis {
    let g = crate::node::dev_genesis(prova_chain::DEV_CHAIN_ID);
    if g.models.iter().any(|m| m.as_ref() == extra) {
        g
    } else {
        g.with_model(extra.to_vec())
    }
}

fn signed(
    from: usize,
    nonce: u64,
    to: alloy_primitives::TxKind,
    value: u64,
    input: Vec<u8>,
    gas: u64,
) -> Result<alloy_primitives::Bytes> {
    use alloy_eips::Encodable2718;
    let tx = alloy_consensus::TxEip1559 {
        chain_id: prova_chain::DEV_CHAIN_ID,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 0,
        to,
        value: alloy_primitives::U256::from(value),
        input: input.into(),
        ..Default::default()
    };
    Ok(sign_tx(tx, &DEV_ACCOUNTS[from].1)?.encoded_2718().into())
}

/// Builds `blocks` blocks of `per_block` transactions made by `make(sender, nonce, i)`.
fn build(
    dir: &Path,
    genesis: Genesis,
    blocks: u64,
    per_block: u64,
    runtime: &Arc<Runtime>,
    make: &dyn Fn(usize, u64, u64) -> Result<alloy_primitives::Bytes>,
) -> Result<()> {
    let chain = Chain::open_with_runtime(dir, genesis, runtime.clone())?;
    let mut nonces = [0u64; 10];
    let mut i = 0u64;
    for b in 0..blocks {
        let mut txs = Vec::with_capacity(per_block as usize);
        for _ in 0..per_block {
            let sender = (i % 10) as usize;
            txs.push(make(sender, nonces[sender], i)?);
            nonces[sender] += 1;
            i += 1;
        }
        let (_, errors) = chain.build_block(&txs)?;
        if let Some((k, e)) = errors.first() {
            bail!("building block {}: transaction {k} refused: {e}", b + 1);
        }
    }
    Ok(())
}

fn measure(dir: &Path, mode: Mode, runtime: &Arc<Runtime>) -> Result<Summary> {
    let source = DataDir::open(dir).map_err(anyhow::Error::msg)?;
    let chain = Chain::open_in_memory(source.genesis().clone(), runtime.clone())?;
    let summary = prova_validator::run(
        &chain,
        source.blocks(1, source.head()),
        mode,
        1,
        &mut |_| {},
    )?;
    if let Some(d) = &summary.divergence {
        bail!("the benchmark chain does not verify: {d}");
    }
    Ok(summary)
}

pub fn run(args: BenchReplayArgs) -> Result<()> {
    let (name, model, inputs) = match (&args.model_file, &args.input) {
        (Some(file), Some(input)) => {
            let model = crate::util::read_model(file)?;
            let inputs = crate::util::read_inputs(&input.to_string_lossy())?;
            (file.display().to_string(), model, inputs)
        }
        _ => {
            let Some((_, input)) = FIXTURE_INPUTS.iter().find(|(n, _)| *n == args.model) else {
                bail!("unknown fixture model {} (see fixtures/models)", args.model);
            };
            let Some((_, model)) = FIXTURE_MODELS.iter().find(|(n, _)| *n == args.model) else {
                bail!("unknown fixture model {}", args.model);
            };
            let inputs = prova_tensor::InputDocument::from_json(input)?.inputs;
            (args.model.clone(), model.to_vec(), inputs)
        }
    };
    let genesis = genesis(&model);
    let calldata =
        alloy_sol_types::SolCall::abi_encode(&prova_precompile::abi::IProvaInference::inferCall {
            modelId: prova_model::ModelId::of(&model).0,
            inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
        });
    let runtime = Arc::new(Runtime::new(Profile::Exact)?);
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let tmp = tempfile::tempdir().context("cannot create a temporary data dir")?;
    let base = args.keep.as_deref().unwrap_or(tmp.path());
    let (infer_dir, transfer_dir) = (base.join("inference"), base.join("transfers"));
    for dir in [&infer_dir, &transfer_dir] {
        if dir.exists() {
            bail!("{} exists: --keep wants a new directory", dir.display());
        }
    }
    eprintln!(
        "building {} blocks x {} {} inferences and {} blocks x {} transfers...",
        args.blocks, args.per_block, name, args.transfer_blocks, args.transfers_per_block
    );
    let infer = alloy_primitives::TxKind::Call(prova_precompile::INFER_ADDRESS);
    if args.per_block == 0 || args.transfers_per_block == 0 {
        bail!("blocks need at least one transaction");
    }
    let gas = prova_chain::DEFAULT_GAS_LIMIT / args.per_block;
    build(
        &infer_dir,
        genesis.clone(),
        args.blocks,
        args.per_block,
        &runtime,
        &|s, n, _| signed(s, n, infer, 0, calldata.clone(), gas),
    )?;
    let to = alloy_primitives::TxKind::Call(alloy_primitives::Address::repeat_byte(0xbb));
    build(
        &transfer_dir,
        genesis,
        args.transfer_blocks,
        args.transfers_per_block,
        &runtime,
        &|s, n, i| signed(s, n, to, 1 + i, Vec::new(), 21_000),
    )?;

    eprintln!("verifying...");
    let seq = measure(&infer_dir, Mode::Sequential, &runtime)?;
    let par = measure(&infer_dir, Mode::Parallel { threads }, &runtime)?;
    let wit = measure(&infer_dir, Mode::WitnessOnly, &runtime)?;
    let t_seq = measure(&transfer_dir, Mode::Sequential, &runtime)?;
    let t_wit = measure(&transfer_dir, Mode::WitnessOnly, &runtime)?;
    let speedup = par.progress.inferences_per_sec() / seq.progress.inferences_per_sec();
    let row = |s: &Summary| {
        json!({
            "mode": s.mode.name(), "blocks": s.progress.blocks, "txs": s.progress.txs,
            "inferences": s.progress.checked, "seconds": s.progress.elapsed.as_secs_f64(),
            "txsPerSec": s.progress.txs_per_sec(), "inferencesPerSec": s.progress.inferences_per_sec(),
        })
    };
    if args.json {
        println!(
            "{}",
            json!({
                "model": name, "threads": threads,
                "inferenceChain": {"sequential": row(&seq), "parallel": row(&par), "witnessOnly": row(&wit)},
                "transferChain": {"sequential": row(&t_seq), "witnessOnly": row(&t_wit)},
                "parallelSpeedup": speedup,
                "witnessOnlyTransfersPerSec": t_wit.progress.txs_per_sec(),
            })
        );
    } else {
        println!(
            "inference chain: {} blocks, {} {} inferences",
            seq.progress.blocks, seq.progress.inferences, name
        );
        for s in [&seq, &par, &wit] {
            println!(
                "  {:<13} {:>8.3}s  {:>8.0} tx/s  {:>8.0} inferences/s checked",
                s.mode.name(),
                s.progress.elapsed.as_secs_f64(),
                s.progress.txs_per_sec(),
                s.progress.inferences_per_sec()
            );
        }
        println!(
            "  parallel / sequential inferences per second: {speedup:.2}x ({threads} threads)"
        );
        println!(
            "transfer chain: {} blocks, {} transfers",
            t_seq.progress.blocks, t_seq.progress.txs
        );
        for s in [&t_seq, &t_wit] {
            println!(
                "  {:<13} {:>8.3}s  {:>8.0} transfers/s",
                s.mode.name(),
                s.progress.elapsed.as_secs_f64(),
                s.progress.txs_per_sec()
            );
        }
    }
    Ok(())
}
