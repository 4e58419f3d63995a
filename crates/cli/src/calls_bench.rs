//! `prova bench calls`: read-only calls with inference (`eth_call` to INFER) answered while the
//! chain makes blocks with inference, with the chain shared as it is now (reads on head
//! snapshots, one writer lock) against the design it replaced, measured in the same run: every
//! call and every block behind one `Mutex<Chain>`, as the node had it.

use crate::node::FIXTURE_MODELS;
use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{TxKind, U256};
use alloy_sol_types::SolCall;
use anyhow::{Context, Result, bail};
use clap::Args;
use prova_chain::{CallRequest, Chain, DEV_ACCOUNTS, DEV_CHAIN_ID, Genesis, sign_tx};
use prova_model::ModelId;
use prova_precompile::{INFER_ADDRESS, abi};
use prova_runtime::{Profile, Runtime};
use serde_json::json;
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct BenchCallsArgs {
    /// Fixture model the calls and the block transactions run.
    #[arg(long, default_value = "digits_cnn")]
    model: String,
    /// Threads making read-only calls.
    #[arg(long, default_value_t = 2)]
    readers: usize,
    /// Seconds each design is measured.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// How the chain is shared between the request threads.
#[derive(Clone, Copy)]
enum Design {
    /// As now: `&Chain` from every thread.
    Shared,
    /// As before: one mutex around the chain, held for every request and every block.
    GlobalLock,
}

struct Figures {
    calls: u64,
    blocks: u64,
    seconds: f64,
}

fn measure(
    chain: &Chain,
    design: Design,
    call: &CallRequest,
    readers: usize,
    seconds: f64,
    nonce: &mut u64,
) -> Result<Figures> {
    let lock = Mutex::new(());
    let hold = || match design {
        Design::Shared => None,
        Design::GlobalLock => Some(lock.lock().unwrap_or_else(|p| p.into_inner())),
    };
    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    let start = Instant::now();
    let blocks = std::thread::scope(|s| -> Result<u64> {
        let mut workers = Vec::new();
        for _ in 0..readers {
            workers.push(s.spawn(|| -> Result<()> {
                while !stop.load(Ordering::Relaxed) {
                    let _held = hold();
                    if !chain.call(call, None)?.is_success() {
                        bail!("the call with inference did not succeed");
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }));
        }
        // The producer: a block with one inference transaction, again and again.
        let mut blocks = 0;
        let end = Duration::from_secs_f64(seconds);
        let mut failure = None;
        while start.elapsed() < end {
            let raw = infer_tx(*nonce, call);
            let _held = hold();
            match chain.submit(&raw) {
                Ok((_, Some(_))) => {
                    blocks += 1;
                    *nonce += 1;
                }
                Ok((hash, None)) => {
                    failure = Some(anyhow::anyhow!("transaction {hash} was not mined"));
                    break;
                }
                Err(e) => {
                    failure = Some(e.into());
                    break;
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a reader panicked"))??;
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(blocks),
        }
    })?;
    Ok(Figures {
        calls: calls.load(Ordering::Relaxed),
        blocks,
        seconds: start.elapsed().as_secs_f64(),
    })
}

fn infer_tx(nonce: u64, call: &CallRequest) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce,
        gas_limit: 5_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(INFER_ADDRESS),
        value: U256::ZERO,
        input: call.input.clone(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[0].1)
        .map(|t| t.encoded_2718())
        .unwrap_or_default()
}

pub fn run(args: BenchCallsArgs) -> Result<()> {
    if args.readers == 0 || args.seconds <= 0.0 {
        bail!("--readers and --seconds must be positive");
    }
    let bytes = FIXTURE_MODELS
        .iter()
        .find(|(name, _)| *name == args.model)
        .map(|(_, b)| b.to_vec())
        .with_context(|| format!("no fixture model {}", args.model))?;
    let inputs = crate::util::read_inputs(&format!(
        "{}/../../fixtures/inputs/{}.json",
        env!("CARGO_MANIFEST_DIR"),
        args.model
    ))?;
    let dir = tempfile::tempdir()?;
    let genesis = Genesis::dev(DEV_CHAIN_ID).with_model(bytes.clone());
    let chain =
        Chain::open_with_runtime(dir.path(), genesis, Arc::new(Runtime::new(Profile::Exact)?))?;
    let data = abi::IProvaInference::inferCall {
        modelId: ModelId::of(&bytes).0,
        inputs: inputs.iter().map(abi::to_abi).collect(),
    }
    .abi_encode();
    let call = CallRequest {
        to: Some(INFER_ADDRESS),
        input: data.into(),
        ..CallRequest::default()
    };
    let mut nonce = 0;
    // Warm the plan cache and the allocator once.
    chain.call(&call, None)?;
    let base = measure(
        &chain,
        Design::GlobalLock,
        &call,
        args.readers,
        args.seconds,
        &mut nonce,
    )?;
    let now = measure(
        &chain,
        Design::Shared,
        &call,
        args.readers,
        args.seconds,
        &mut nonce,
    )?;
    let rate = |f: &Figures| (f.calls as f64 / f.seconds, f.blocks as f64 / f.seconds);
    let ((base_calls, base_blocks), (calls, blocks)) = (rate(&base), rate(&now));
    if args.json {
        println!(
            "{}",
            json!({
                "model": args.model,
                "readers": args.readers,
                "cores": std::thread::available_parallelism().map_or(1, |n| n.get()),
                "globalLock": {"callsPerSec": base_calls, "blocksPerSec": base_blocks},
                "shared": {"callsPerSec": calls, "blocksPerSec": blocks},
                "callsRatio": calls / base_calls.max(f64::MIN_POSITIVE),
                "blocksRatio": blocks / base_blocks.max(f64::MIN_POSITIVE),
            })
        );
    } else {
        println!(
            "eth_call with inference ({}, {} reader threads) while blocks with an inference each are made, {:.0} s each:",
            args.model, args.readers, args.seconds
        );
        println!("  design              calls/s   blocks/s");
        println!("  one Mutex<Chain>  {base_calls:9.0}  {base_blocks:9.1}");
        println!("  shared &Chain     {calls:9.0}  {blocks:9.1}");
        println!(
            "  ratio             {:9.2}x {:9.2}x",
            calls / base_calls.max(f64::MIN_POSITIVE),
            blocks / base_blocks.max(f64::MIN_POSITIVE)
        );
    }
    Ok(())
}
