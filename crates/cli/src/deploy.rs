//! `prova model deploy`: admits a model locally, then registers it on a node through the
//! MODEL_REGISTRY precompile with signed EIP-1559 transactions: one `deploy(bytes)` for a
//! small model, or a staged upload for a large one (`beginUpload`, `appendChunk` per chunk,
//! `commitUpload`; docs/abi.md). A staged upload resumes where an earlier, interrupted run left
//! it: the registry's `uploadStatus` says how many bytes are already on chain.

use crate::util;
use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::{SolCall, SolError};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use prova_model::{Limits, ModelId, admit};
use prova_precompile::{
    MODEL_REGISTRY_ADDRESS, RegistryGas,
    abi::{IModelRegistry, ModelRejected},
};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    collections::VecDeque,
    path::PathBuf,
    time::{Duration, Instant},
};

/// Models above this size report progress on stderr.
const LARGE: usize = 256 * 1024;
/// Models above this size are uploaded in chunks unless `--chunk-size` says otherwise: a
/// `deploy` of 512 KiB already takes ~14M gas, half of a 30M block.
const CHUNKED_ABOVE: usize = 512 * 1024;
/// Default chunk size: ~1.6M gas of calldata per `appendChunk`, so that a chunk fits a block
/// comfortably beside other transactions (docs/abi.md).
const DEFAULT_CHUNK: usize = 96 * 1024;
/// How long to wait for a receipt.
const RECEIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// How many times a staged upload re-reads its status and resumes after a failed chunk.
const RESUMES: usize = 3;

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
    /// Upload in chunks of this many bytes (a staged upload, several transactions). Default:
    /// 96 KiB chunks for models above 512 KiB; smaller models go in one `deploy` transaction.
    #[arg(long, value_name = "BYTES")]
    chunk_size: Option<usize>,
    /// Chunk transactions sent before waiting for the first one's receipt.
    #[arg(long, value_name = "N", default_value_t = 8)]
    in_flight: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// A JSON-RPC call; a revert with the registry's `ModelRejected` says its reason.
fn rpc(url: &str, method: &str, params: Value) -> Result<Value> {
    client::call(url, method, params).map_err(|e| {
        if let client::ClientError::Rpc {
            data: Some(data), ..
        } = &e
            && let Some(reason) = data
                .as_str()
                .and_then(|h| h.parse::<Bytes>().ok())
                .and_then(|b| ModelRejected::abi_decode(&b).ok())
        {
            return anyhow!("{method}: the registry refused: {}", reason.reason);
        }
        anyhow!("{method}: {e}")
    })
}

fn quantity(v: &Value, what: &str) -> Result<u128> {
    v.as_str()
        .and_then(|s| s.strip_prefix("0x"))
        .and_then(|h| u128::from_str_radix(h, 16).ok())
        .with_context(|| format!("{what}: expected a hex quantity, got {v}"))
}

/// The signing account and what every transaction it sends needs.
struct Sender {
    url: String,
    key: B256,
    from: Address,
    chain_id: u64,
    nonce: u64,
    max_fee: u128,
    tip: u128,
}

impl Sender {
    fn connect(url: &str, private_key: &str) -> Result<Self> {
        let key: B256 = private_key
            .trim()
            .parse()
            .map_err(|_| anyhow!("--private-key: expected 32 bytes of hex"))?;
        let from = prova_chain::address_of_key(&key)
            .context("--private-key: not a valid secp256k1 key")?;
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
        let max_fee = gas_price.saturating_mul(2);
        Ok(Self {
            url: url.to_string(),
            key,
            from,
            chain_id,
            nonce,
            max_fee,
            tip: tip.min(max_fee),
        })
    }

    fn request(&self, input: &[u8]) -> Value {
        json!({"from": self.from, "to": MODEL_REGISTRY_ADDRESS, "input": Bytes::copy_from_slice(input)})
    }

    /// `eth_call` of the registry; its return data.
    fn call(&self, input: &[u8]) -> Result<Vec<u8>> {
        let out = rpc(
            &self.url,
            "eth_call",
            json!([self.request(input), "latest"]),
        )?;
        let out: Bytes = serde_json::from_value(out).context("eth_call: expected hex bytes")?;
        Ok(out.to_vec())
    }

    fn estimate(&self, input: &[u8]) -> Result<u64> {
        let gas = rpc(&self.url, "eth_estimateGas", json!([self.request(input)]))?;
        Ok(quantity(&gas, "eth_estimateGas")? as u64)
    }

    /// Signs and sends a registry call with the next nonce; its hash.
    fn send(&mut self, input: Vec<u8>, gas_limit: u64) -> Result<String> {
        let tx = TxEip1559 {
            chain_id: self.chain_id,
            nonce: self.nonce,
            gas_limit,
            max_fee_per_gas: self.max_fee,
            max_priority_fee_per_gas: self.tip,
            to: TxKind::Call(MODEL_REGISTRY_ADDRESS),
            value: U256::ZERO,
            input: input.into(),
            ..Default::default()
        };
        let raw = prova_chain::sign_tx(tx, &self.key)
            .map_err(|e| anyhow!("cannot sign: {e}"))?
            .encoded_2718();
        let hash = rpc(
            &self.url,
            "eth_sendRawTransaction",
            json!([Bytes::from(raw)]),
        )?;
        self.nonce += 1;
        Ok(hash
            .as_str()
            .context("eth_sendRawTransaction: expected a hash")?
            .to_string())
    }

    /// Waits for the receipt of `hash`.
    fn receipt(&self, hash: &str) -> Result<Receipt> {
        let start = Instant::now();
        loop {
            let r = rpc(&self.url, "eth_getTransactionReceipt", json!([hash]))?;
            if !r.is_null() {
                return Ok(Receipt {
                    hash: hash.to_string(),
                    ok: r.get("status").and_then(Value::as_str) == Some("0x1"),
                    gas: r.get("gasUsed").map_or(Ok(0), |g| quantity(g, "gasUsed"))? as u64,
                    block: r
                        .get("blockNumber")
                        .map_or(Ok(0), |b| quantity(b, "blockNumber"))?
                        as u64,
                });
            }
            if start.elapsed() > RECEIPT_TIMEOUT {
                bail!("no receipt for {hash} after {}s", RECEIPT_TIMEOUT.as_secs());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

struct Receipt {
    hash: String,
    ok: bool,
    gas: u64,
    block: u64,
}

/// The transactions a deployment sent, in order.
#[derive(Default)]
struct Sent {
    receipts: Vec<Receipt>,
}

impl Sent {
    fn push(&mut self, r: Receipt) -> &Receipt {
        self.receipts.push(r);
        &self.receipts[self.receipts.len() - 1]
    }

    fn gas(&self) -> u64 {
        self.receipts.iter().map(|r| r.gas).sum()
    }
}

pub fn run(args: DeployArgs) -> Result<()> {
    let bytes = util::read_model(&args.model)?;
    let chunk = match args.chunk_size {
        Some(0) => bail!("--chunk-size must be at least 1 byte"),
        Some(n) => Some(n),
        None if bytes.len() > CHUNKED_ABOVE => Some(DEFAULT_CHUNK),
        None => None,
    };
    if args.in_flight == 0 {
        bail!("--in-flight must be at least 1");
    }
    let verbose = bytes.len() > LARGE || chunk.is_some();
    let progress = |msg: &str| {
        if verbose {
            eprintln!("{msg}");
        }
    };
    let id = ModelId::of(&bytes);
    progress(&format!("admitting {} ({} bytes)…", id, bytes.len()));
    admit(&bytes, &Limits::DEFAULT).map_err(|e| anyhow!("model {id} refused: {e}"))?;

    let mut sender = Sender::connect(args.rpc_url.trim_end_matches('/'), &args.private_key)?;
    let mut sent = Sent::default();
    let mode = match chunk {
        None => {
            deploy_one(&mut sender, &bytes, &mut sent, &progress)?;
            "deploy"
        }
        Some(size) => {
            upload(
                &mut sender,
                &bytes,
                id,
                size,
                args.in_flight,
                &mut sent,
                &progress,
            )?;
            "upload"
        }
    };
    let last = sent.receipts.last();
    if args.json {
        let hashes: Vec<&str> = sent.receipts.iter().map(|r| r.hash.as_str()).collect();
        println!(
            "{}",
            json!({
                "modelId": id.to_string(),
                "mode": mode,
                "bytes": bytes.len(),
                "chunkSize": chunk,
                "transactionHash": last.map(|r| &r.hash),
                "blockNumber": last.map(|r| r.block),
                "transactions": hashes,
                "gasUsed": sent.gas(),
            })
        );
    } else {
        println!("{id}");
        match last {
            Some(r) => eprintln!(
                "registered in block {} by transaction {} ({} transaction(s), {} gas in all)",
                r.block,
                r.hash,
                sent.receipts.len(),
                sent.gas()
            ),
            None => eprintln!("already registered: nothing sent"),
        }
    }
    Ok(())
}

/// One `deploy(bytes)` transaction.
fn deploy_one(
    sender: &mut Sender,
    bytes: &[u8],
    sent: &mut Sent,
    progress: &dyn Fn(&str),
) -> Result<()> {
    let input = IModelRegistry::deployCall {
        onnx: bytes.to_vec().into(),
    }
    .abi_encode();
    progress("estimating gas…");
    let gas = sender.estimate(&input)?;
    progress(&format!("sending {} bytes of calldata…", input.len()));
    let hash = sender.send(input, gas)?;
    progress(&format!("sent {hash}, waiting for the receipt…"));
    let r = sent.push(sender.receipt(&hash)?);
    if !r.ok {
        bail!("deploy transaction {hash} failed");
    }
    Ok(())
}

/// Gas limit of an `appendChunk` with `calldata` (an upper bound: every byte priced as
/// non-zero calldata); the sender pays only what is used.
fn append_gas(calldata: &[u8]) -> u64 {
    21_000 + 16 * calldata.len() as u64 + RegistryGas::DEFAULT.append(calldata.len())
}

/// The staged upload: begin (unless already open with this size), the chunks still missing,
/// commit. A chunk that fails stops the stream; the ones already in flight fail cheaply on
/// their offsets; the upload's status is read again and the upload resumes from there.
fn upload(
    sender: &mut Sender,
    bytes: &[u8],
    id: ModelId,
    chunk: usize,
    in_flight: usize,
    sent: &mut Sent,
    progress: &dyn Fn(&str),
) -> Result<()> {
    let exists = IModelRegistry::existsCall { modelId: id.0 }.abi_encode();
    if IModelRegistry::existsCall::abi_decode_returns(&sender.call(&exists)?)? {
        progress(&format!("model {id} is already registered"));
        return Ok(());
    }
    let len = bytes.len();
    let status = IModelRegistry::uploadStatusCall {
        uploader: sender.from,
        modelId: id.0,
    }
    .abi_encode();
    let mut resumes = 0;
    loop {
        let st = IModelRegistry::uploadStatusCall::abi_decode_returns(&sender.call(&status)?)?;
        let mut received = st.received as usize;
        if st.size != len as u64 {
            progress(&if st.size == 0 {
                format!("opening an upload of {len} bytes in chunks of {chunk} bytes")
            } else {
                format!(
                    "restarting the upload (it was declared as {} bytes)",
                    st.size
                )
            });
            let input = IModelRegistry::beginUploadCall {
                modelId: id.0,
                size: len as u64,
            }
            .abi_encode();
            let gas = sender.estimate(&input)?;
            let hash = sender.send(input, gas)?;
            let r = sent.push(sender.receipt(&hash)?);
            if !r.ok {
                bail!("beginUpload transaction {hash} failed");
            }
            received = 0;
        } else if received > 0 {
            progress(&format!(
                "resuming the upload at byte {received} of {len} ({} chunks on chain)",
                st.chunks
            ));
        }
        if send_chunks(
            sender, bytes, id, received, chunk, in_flight, sent, progress,
        )? {
            break;
        }
        resumes += 1;
        if resumes > RESUMES {
            bail!("chunks of model {id} kept failing; rerun to resume the upload");
        }
    }
    let input = IModelRegistry::commitUploadCall { modelId: id.0 }.abi_encode();
    progress("committing: the node joins the chunks, checks the hash and admits the model…");
    let gas = sender.estimate(&input)?;
    let hash = sender.send(input, gas)?;
    let r = sent.push(sender.receipt(&hash)?);
    if !r.ok {
        bail!("commitUpload transaction {hash} failed");
    }
    progress(&format!("committed in block {} ({} gas)", r.block, r.gas));
    Ok(())
}

/// Sends the chunks of `bytes` from `start`, keeping up to `in_flight` unconfirmed. True once
/// every chunk is confirmed; false if one failed (after waiting for those still in flight).
#[allow(clippy::too_many_arguments)]
fn send_chunks(
    sender: &mut Sender,
    bytes: &[u8],
    id: ModelId,
    start: usize,
    chunk: usize,
    in_flight: usize,
    sent: &mut Sent,
    progress: &dyn Fn(&str),
) -> Result<bool> {
    let len = bytes.len();
    let total = len.div_ceil(chunk);
    let mut pending: VecDeque<(String, usize)> = VecDeque::new();
    let mut offset = start;
    loop {
        while pending.len() < in_flight && offset < len {
            let end = (offset + chunk).min(len);
            let input = IModelRegistry::appendChunkCall {
                modelId: id.0,
                offset: offset as u64,
                chunk: bytes[offset..end].to_vec().into(),
            }
            .abi_encode();
            let gas = append_gas(&input);
            let hash = sender.send(input, gas)?;
            progress(&format!(
                "chunk {}/{total} sent: bytes {offset}..{end} of {len} ({hash})",
                offset.div_ceil(chunk) + 1
            ));
            pending.push_back((hash, end));
            offset = end;
        }
        let Some((hash, end)) = pending.pop_front() else {
            return Ok(true);
        };
        let r = sent.push(sender.receipt(&hash)?);
        if r.ok {
            progress(&format!(
                "receipt: {end}/{len} bytes on chain (block {}, {} gas)",
                r.block, r.gas
            ));
            continue;
        }
        progress(&format!(
            "chunk ending at byte {end} failed ({hash}); waiting for {} in flight, then resuming",
            pending.len()
        ));
        for (hash, _) in pending.drain(..) {
            sent.push(sender.receipt(&hash)?);
        }
        return Ok(false);
    }
}
