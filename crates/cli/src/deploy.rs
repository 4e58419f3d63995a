//! `prova model deploy`: admits a model locally, then registers it on a node through the
//! MODEL_REGISTRY precompile with a signed EIP-1559 transaction.

use crate::util;
use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, TxKind, U256};
use alloy_sol_types::SolCall;
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use prova_model::{Limits, ModelId, admit};
use prova_precompile::{MODEL_REGISTRY_ADDRESS, abi::IModelRegistry};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

/// Models above this size report progress on stderr.
const LARGE: usize = 256 * 1024;
/// How long to wait for the receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Args)]
pub struct DeployArgs {
    /// ONNX model file.
    model: PathBuf,
    /// JSON-RPC endpoint of the node.
    #[arg(long, default_value = "http://127.0.0.1:8545")]
    rpc_url: String,
    /// Secret key of the sending account (hex).
    #[arg(long, env = "PROVA_PRIVATE_KEY", hide_env_values = true)]
    private_key: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn rpc(url: &str, method: &str, params: Value) -> Result<Value> {
    client::call(url, method, params).map_err(|e| anyhow!("{method}: {e}"))
}

fn quantity(v: &Value, what: &str) -> Result<u128> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .with_context(|| format!("{what}: expected a hex quantity, got {v}"))
}

pub fn run(args: DeployArgs) -> Result<()> {
    let bytes = util::read_model(&args.model)?;
    let large = bytes.len() > LARGE;
    let progress = |msg: &str| {
        if large {
            eprintln!("{msg}");
        }
    };
    let id = ModelId::of(&bytes);
    progress(&format!("admitting {} ({} bytes)…", id, bytes.len()));
    admit(&bytes, &Limits::DEFAULT).map_err(|e| anyhow!("model {id} refused: {e}"))?;

    let key: B256 = args
        .private_key
        .trim()
        .parse()
        .map_err(|_| anyhow!("--private-key: expected 32 bytes of hex"))?;
    let from: Address =
        prova_chain::address_of_key(&key).context("--private-key: not a valid secp256k1 key")?;
    let url = args.rpc_url.trim_end_matches('/');
    let chain_id = quantity(&rpc(url, "eth_chainId", json!([]))?, "eth_chainId")? as u64;
    let nonce = quantity(
        &rpc(url, "eth_getTransactionCount", json!([from, "pending"]))?,
        "eth_getTransactionCount",
    )? as u64;
    let gas_price = quantity(&rpc(url, "eth_gasPrice", json!([]))?, "eth_gasPrice")?;
    let tip = quantity(
        &rpc(url, "eth_maxPriorityFeePerGas", json!([]))?,
        "eth_maxPriorityFeePerGas",
    )?;
    let input = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    progress("estimating gas…");
    let gas = quantity(
        &rpc(
            url,
            "eth_estimateGas",
            json!([{"from": from, "to": MODEL_REGISTRY_ADDRESS, "input": alloy_primitives::Bytes::from(input.clone())}]),
        )?,
        "eth_estimateGas",
    )? as u64;
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: gas_price.saturating_mul(2),
        max_priority_fee_per_gas: tip.min(gas_price.saturating_mul(2)),
        to: TxKind::Call(MODEL_REGISTRY_ADDRESS),
        value: U256::ZERO,
        input: input.into(),
        ..Default::default()
    };
    let raw = prova_chain::sign_tx(tx, &key)
        .map_err(|e| anyhow!("cannot sign: {e}"))?
        .encoded_2718();
    progress(&format!("sending {} bytes…", raw.len()));
    let hash = rpc(
        url,
        "eth_sendRawTransaction",
        json!([alloy_primitives::Bytes::from(raw)]),
    )?;
    let hash = hash
        .as_str()
        .context("eth_sendRawTransaction: expected a hash")?
        .to_string();
    progress(&format!("sent {hash}, waiting for the receipt…"));
    let start = Instant::now();
    let receipt = loop {
        let r = rpc(url, "eth_getTransactionReceipt", json!([hash]))?;
        if !r.is_null() {
            break r;
        }
        if start.elapsed() > RECEIPT_TIMEOUT {
            bail!("no receipt for {hash} after {}s", RECEIPT_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = receipt.get("status").and_then(Value::as_str);
    if status != Some("0x1") {
        bail!("deploy transaction {hash} failed (receipt status {status:?})");
    }
    let block = receipt
        .get("blockNumber")
        .and_then(Value::as_str)
        .unwrap_or("?");
    if args.json {
        println!(
            "{}",
            json!({"modelId": id.to_string(), "transactionHash": hash, "blockNumber": block, "gasUsed": receipt.get("gasUsed")})
        );
    } else {
        println!("{id}");
        eprintln!("registered in block {block} by transaction {hash}");
    }
    Ok(())
}
