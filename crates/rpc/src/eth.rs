//! The `eth_*`, `net_*` and `web3_*` methods.

use crate::{Node, convert, error};
use alloy_consensus::Transaction as _;
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_rpc_types_eth::{Filter, SyncStatus, TransactionRequest};
use jsonrpsee::{
    RpcModule,
    core::RegisterMethodError,
    types::{ErrorObjectOwned, Params},
};
use prova_chain::{CallRequest, DEV_ACCOUNTS};
use revm::context::result::ExecutionResult;
use serde::Serialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(crate) type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Priority fee suggested to clients (anvil's: 1 gwei).
pub(crate) const SUGGESTED_TIP: u128 = 1_000_000_000;
/// Most blocks one `eth_feeHistory` covers.
const MAX_FEE_HISTORY: u64 = 1024;

pub(crate) fn quantity(n: impl Into<u128>) -> Value {
    json!(format!("{:#x}", n.into()))
}

pub(crate) fn to_json<T: Serialize>(v: T) -> RpcResult<Value> {
    serde_json::to_value(v).map_err(error::internal)
}

/// Registers `f` as `name`, run on tokio's blocking pool (calls can run models). A panic in
/// `f` is caught: it is logged, and the request gets an internal error; the node serves on
/// (nothing `f` reaches is left half-changed by a panic: see `prova_chain::Chain`).
pub(crate) fn method(
    m: &mut RpcModule<Node>,
    name: &'static str,
    f: fn(&Node, Params<'_>) -> RpcResult<Value>,
) -> Result<(), RegisterMethodError> {
    m.register_blocking_method(name, move |params, node: Arc<Node>, _| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&node, params))).unwrap_or_else(
            |p| {
                let msg = prova_model::panic_message(&*p);
                tracing::error!("{name} panicked: {msg}");
                Err(error::internal(format!("{name} panicked: {msg}")))
            },
        )
    })?;
    Ok(())
}

pub(crate) fn register(m: &mut RpcModule<Node>) -> Result<(), RegisterMethodError> {
    method(m, "eth_chainId", |n, _| Ok(quantity(n.chain().chain_id())))?;
    method(m, "net_version", |n, _| {
        Ok(json!(n.chain().chain_id().to_string()))
    })?;
    method(m, "web3_clientVersion", |_, _| {
        Ok(json!(concat!("prova/v", env!("CARGO_PKG_VERSION"))))
    })?;
    method(m, "eth_blockNumber", |n, _| {
        Ok(quantity(n.chain().block_number()))
    })?;
    method(m, "eth_syncing", |_, _| to_json(SyncStatus::None))?;
    method(m, "eth_accounts", |_, _| {
        to_json(DEV_ACCOUNTS.iter().map(|(a, _)| *a).collect::<Vec<_>>())
    })?;
    method(m, "eth_gasPrice", |n, _| {
        Ok(quantity(
            u128::from(n.chain().next_base_fee()) + SUGGESTED_TIP,
        ))
    })?;
    method(m, "eth_maxPriorityFeePerGas", |_, _| {
        Ok(quantity(SUGGESTED_TIP))
    })?;
    method(m, "eth_getBalance", |n, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        to_json(chain.balance(&addr, at).map_err(error::chain_error)?)
    })?;
    method(m, "eth_getCode", |n, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        to_json(chain.code(&addr, at).map_err(error::chain_error)?)
    })?;
    method(m, "eth_getStorageAt", |n, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let slot: U256 = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let v = chain.storage(&addr, slot, at).map_err(error::chain_error)?;
        to_json(B256::from(v))
    })?;
    method(m, "eth_getTransactionCount", |n, p| {
        let mut seq = p.sequence();
        let addr: Address = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        if matches!(block, Some(BlockId::Number(BlockNumberOrTag::Pending))) {
            return Ok(quantity(n.pending_nonce(&addr)));
        }
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        Ok(quantity(
            chain.nonce(&addr, at).map_err(error::chain_error)?,
        ))
    })?;
    method(m, "eth_call", |n, p| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let result = chain
            .call(&call_request(req), at)
            .map_err(error::chain_error)?;
        match result {
            ExecutionResult::Success { output, .. } => to_json(output.into_data()),
            ExecutionResult::Revert { output, .. } => Err(error::reverted(&output)),
            ExecutionResult::Halt { reason, .. } => {
                Err(error::server(format!("execution halted: {reason:?}")))
            }
        }
    })?;
    method(m, "eth_estimateGas", |n, p| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let block: Option<BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let gas = chain
            .estimate_gas(&call_request(req), at)
            .map_err(error::chain_error)?;
        Ok(quantity(gas))
    })?;
    method(m, "eth_sendRawTransaction", |n, p| {
        let raw: Bytes = p.one()?;
        to_json(n.send_raw(&raw)?)
    })?;
    method(m, "eth_getTransactionByHash", |n, p| {
        let hash: B256 = p.one()?;
        let chain = n.chain();
        match chain.transaction(&hash).map_err(error::chain_error)? {
            Some(tx) => to_json(convert::tx_info(&tx)),
            // Waiting in the pool: no block yet.
            None => Ok(crate::dev::pooled_json(chain, &hash).unwrap_or(Value::Null)),
        }
    })?;
    method(m, "eth_getTransactionReceipt", |n, p| {
        let hash: B256 = p.one()?;
        let chain = n.chain();
        let r = chain.receipt(&hash).map_err(error::chain_error)?;
        to_json(r.map(convert::receipt))
    })?;
    method(m, "eth_getBlockByNumber", |n, p| {
        let mut seq = p.sequence();
        let tag: BlockNumberOrTag = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        let chain = n.chain();
        let number = convert::tag_number(chain, tag);
        let block = chain.block_by_number(number).map_err(error::chain_error)?;
        to_json(block.map(|b| convert::block(b, full.unwrap_or(false))))
    })?;
    method(m, "eth_getBlockByHash", |n, p| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let full: Option<bool> = seq.optional_next()?;
        let chain = n.chain();
        let block = chain.block_by_hash(&hash).map_err(error::chain_error)?;
        to_json(block.map(|b| convert::block(b, full.unwrap_or(false))))
    })?;
    method(m, "eth_getLogs", |n, p| {
        let filter: Filter = p.one()?;
        let chain = n.chain();
        let log_filter = convert::log_filter(chain, &filter)?;
        let logs = chain.logs(&log_filter).map_err(error::chain_error)?;
        to_json(logs.into_iter().map(convert::log).collect::<Vec<_>>())
    })?;
    method(m, "eth_feeHistory", fee_history)?;
    Ok(())
}

pub(crate) fn call_request(req: TransactionRequest) -> CallRequest {
    CallRequest {
        from: req.from,
        to: match req.to {
            Some(TxKind::Call(a)) => Some(a),
            _ => None,
        },
        gas: req.gas,
        gas_price: req.gas_price,
        value: req.value,
        input: req.input.input().cloned().unwrap_or_default(),
    }
}

fn fee_history(n: &Node, p: Params<'_>) -> RpcResult<Value> {
    let mut seq = p.sequence();
    let count: Value = seq.next()?;
    let count = match &count {
        Value::Number(x) => x.as_u64(),
        Value::String(s) => s
            .strip_prefix("0x")
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .or_else(|| s.parse().ok()),
        _ => None,
    }
    .ok_or_else(|| error::invalid_params("blockCount: expected a quantity"))?;
    let newest: BlockNumberOrTag = seq.next()?;
    let percentiles: Option<Vec<f64>> = seq.optional_next()?;
    let chain = n.chain();
    let newest = convert::tag_number(chain, newest).min(chain.block_number());
    let count = count.clamp(1, MAX_FEE_HISTORY).min(newest + 1);
    let oldest = newest + 1 - count;
    let mut base_fees = Vec::new();
    let mut ratios = Vec::new();
    let mut rewards = Vec::new();
    for number in oldest..=newest {
        let Some(block) = chain.block_by_number(number).map_err(error::chain_error)? else {
            return Err(error::internal(format!("block {number} missing")));
        };
        let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
        base_fees.push(u128::from(base_fee));
        ratios.push(block.header.gas_used as f64 / block.header.gas_limit.max(1) as f64);
        if let Some(ps) = &percentiles {
            let mut tips: Vec<u128> = block
                .transactions
                .iter()
                .map(|t| {
                    t.envelope
                        .effective_tip_per_gas(base_fee)
                        .unwrap_or_default()
                })
                .collect();
            tips.sort_unstable();
            rewards.push(
                ps.iter()
                    .map(|p| {
                        if tips.is_empty() {
                            return 0;
                        }
                        let i = ((p / 100.0) * tips.len() as f64).ceil() as usize;
                        tips[i.saturating_sub(1).min(tips.len() - 1)]
                    })
                    .collect::<Vec<_>>(),
            );
        }
    }
    let next = if newest == chain.block_number() {
        chain.next_base_fee()
    } else {
        chain
            .block_by_number(newest + 1)
            .map_err(error::chain_error)?
            .and_then(|b| b.header.base_fee_per_gas)
            .unwrap_or_default()
    };
    base_fees.push(u128::from(next));
    to_json(alloy_rpc_types_eth::FeeHistory {
        base_fee_per_gas: base_fees,
        gas_used_ratio: ratios,
        base_fee_per_blob_gas: Vec::new(),
        blob_gas_used_ratio: Vec::new(),
        oldest_block: oldest,
        reward: percentiles.map(|_| rewards),
    })
}
