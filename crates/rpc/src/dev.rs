//! What clients expect of a dev node beyond the core `eth_*` methods, behaving as anvil does:
//!
//! - **Dev accounts sign**: `eth_sendTransaction` (nonce, gas and fees filled in as anvil does),
//!   `personal_sign`, `eth_sign`, `eth_signTypedData_v4` (EIP-712), for the ten accounts of
//!   `eth_accounts`; any other sender is refused ("no signer for …").
//! - **Filters** polled over HTTP: `eth_newFilter`, `eth_newBlockFilter`,
//!   `eth_newPendingTransactionFilter`, `eth_getFilterChanges`, `eth_getFilterLogs`,
//!   `eth_uninstallFilter`. A filter not polled for [`FILTER_TTL`] is dropped, as geth does.
//! - **Mining control**: `evm_mine`, `anvil_mine`, `evm_setAutomine` / `anvil_setAutomine`,
//!   `anvil_getAutomine`, `evm_increaseTime` / `anvil_increaseTime`,
//!   `evm_setNextBlockTimestamp` / `anvil_setNextBlockTimestamp`.
//! - **Tracing**: `debug_traceTransaction` (on the state before the transaction's block, while
//!   it is kept) and `debug_traceCall`, with geth's tracers (struct logger by default,
//!   `callTracer`, `prestateTracer`, `4byteTracer`, …) from revm-inspectors.
//! - **Access lists and proofs**: `eth_createAccessList` (revm-inspectors' access-list
//!   inspector), `eth_getProof` (EIP-1186, at any kept block).
//! - **Snapshots**: `evm_snapshot` / `anvil_snapshot` and `evm_revert` / `anvil_revert`
//!   (which drops that snapshot and every later one), over the states the chain keeps for its
//!   last blocks (`prova node --history`).
//! - **Readers**: `eth_getBlockReceipts`, `eth_getTransactionByBlockNumberAndIndex`,
//!   `eth_getTransactionByBlockHashAndIndex`, `eth_getBlockTransactionCountByNumber` / `ByHash`,
//!   `eth_getUncleCountByBlockNumber` / `ByHash`, `eth_coinbase`, `eth_mining`, `eth_hashrate`,
//!   `net_listening`, `web3_sha3`, and the pool: `txpool_status`, `txpool_content`,
//!   `txpool_inspect`.

use crate::{
    Node, convert, error,
    eth::{RpcResult, call_request, method, quantity, to_json},
};
use alloy_consensus::{Transaction as _, TxEip1559, TxEnvelope, TxLegacy};
use alloy_dyn_abi::TypedData;
use alloy_eips::{BlockNumberOrTag, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, eip191_hash_message, keccak256};
use alloy_rpc_types_eth::{Filter, TransactionRequest};
use jsonrpsee::{RpcModule, core::RegisterMethodError, types::Params};
use prova_chain::{
    Chain, DEV_ACCOUNTS, LogFilter, SignedTx, TxError,
    dev_edits::IDevEdits::{self, IDevEditsCalls},
    geth::GethDebugTracingOptions,
    sign_hash, sign_tx,
};
use serde_json::{Map, Value, json};
use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

/// How long a filter lives without being polled.
pub const FILTER_TTL: Duration = Duration::from_secs(300);
/// Most filters installed at once.
pub const MAX_FILTERS: usize = 1024;
/// Most blocks one `anvil_mine` call makes.
pub const MAX_MINE: u64 = 10_000;

#[derive(Debug)]
enum Kind {
    /// Logs matching the filter, from `next` on.
    Logs { filter: LogFilter, next: u64 },
    /// Hashes of blocks from `next` on.
    Blocks { next: u64 },
    /// Hashes of transactions that entered the pool, not yet reported.
    Pending { seen: HashSet<B256> },
}

#[derive(Debug)]
struct Installed {
    kind: Kind,
    polled: Instant,
}

/// The installed filters of a node.
#[derive(Debug, Default)]
pub struct Filters {
    next_id: u64,
    by_id: BTreeMap<u64, Installed>,
}

impl Filters {
    /// The filter `id`, marked as polled now.
    fn poll(&mut self, id: u64) -> RpcResult<&mut Kind> {
        let f = self
            .by_id
            .get_mut(&id)
            .ok_or_else(|| error::server("filter not found"))?;
        f.polled = Instant::now();
        Ok(&mut f.kind)
    }

    fn install(&mut self, kind: Kind) -> RpcResult<Value> {
        let now = Instant::now();
        self.by_id
            .retain(|_, f| now.duration_since(f.polled) < FILTER_TTL);
        if self.by_id.len() >= MAX_FILTERS {
            return Err(error::server(format!(
                "too many filters installed ({MAX_FILTERS}): uninstall some"
            )));
        }
        self.next_id += 1;
        self.by_id
            .insert(self.next_id, Installed { kind, polled: now });
        Ok(quantity(self.next_id))
    }
}

fn filter_id(p: &Params<'_>) -> RpcResult<u64> {
    let id: U256 = p.one()?;
    u64::try_from(id).map_err(|_| error::server("filter not found"))
}

fn dev_key(from: &Address) -> RpcResult<B256> {
    DEV_ACCOUNTS
        .iter()
        .find(|(a, _)| a == from)
        .map(|(_, k)| *k)
        .ok_or_else(|| {
            error::server(format!(
                "no signer for {from}: this node signs for the dev accounts of eth_accounts only"
            ))
        })
}

fn signature_hex(hash: &B256, key: &B256) -> RpcResult<Value> {
    let sig = sign_hash(hash, key).map_err(|e| error::tx_error(&e))?;
    to_json(Bytes::from(sig.as_bytes().to_vec()))
}

/// The bytes of a `personal_sign` / `eth_sign` message: hex is decoded, anything else is taken
/// as UTF-8 text (as anvil and geth's clients do).
fn message_bytes(v: &Value) -> RpcResult<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| error::invalid_params("message: expected a string"))?;
    Ok(match s.strip_prefix("0x") {
        Some(hex) => alloy_primitives::hex::decode(hex)
            .map_err(|e| error::invalid_params(format!("message: {e}")))?,
        None => s.as_bytes().to_vec(),
    })
}

/// An impersonated account's transaction request, as an impersonation edit
/// ([`prova_chain::dev_edits`]): the gas is estimated from `from` if not given; `from` pays it.
fn impersonated_request(node: &Node, req: TransactionRequest) -> RpcResult<Bytes> {
    node.produces()?;
    let chain = node.chain();
    let from = req.from.unwrap_or_default();
    let gas = match req.gas {
        Some(g) => g,
        None => chain
            .estimate_gas(&call_request(req.clone()), None)
            .map_err(error::chain_error)?,
    };
    let to = req.to.unwrap_or(TxKind::Create);
    let call = prova_chain::dev_edits::IDevEdits::impersonateCall {
        from,
        to: to.to().copied().unwrap_or_default(),
        create: to.is_create(),
        value: req.value.unwrap_or_default(),
        data: req.input.input().cloned().unwrap_or_default(),
        gasLimit: gas,
        nonce: req
            .nonce
            .unwrap_or_else(|| chain.next_impersonated_nonce(&from)),
    };
    chain.impersonated_tx(call).map_err(error::chain_error)
}

/// Applies a state edit; answers `null`, as anvil does.
fn dev_edit(node: &Node, edit: IDevEditsCalls) -> RpcResult<Value> {
    node.produces()?;
    node.chain().dev_edit(edit).map_err(error::chain_error)?;
    Ok(Value::Null)
}

/// Fills in and signs a dev account's transaction request, as anvil's `eth_sendTransaction`.
fn sign_request(node: &Node, req: TransactionRequest) -> RpcResult<Bytes> {
    let chain = node.chain();
    let from = req
        .from
        .ok_or_else(|| error::invalid_params("from: the sending dev account is required"))?;
    let key = dev_key(&from)?;
    let nonce = match req.nonce {
        Some(n) => n,
        None => chain.pending_nonce(&from),
    };
    let gas = match req.gas {
        Some(g) => g,
        None => chain
            .estimate_gas(&call_request(req.clone()), None)
            .map_err(error::chain_error)?,
    };
    let to = req.to.unwrap_or(TxKind::Create);
    let value = req.value.unwrap_or_default();
    let input = req.input.input().cloned().unwrap_or_default();
    let chain_id = chain.chain_id();
    let signed: Result<TxEnvelope, TxError> = match (req.gas_price, req.max_fee_per_gas) {
        (Some(gas_price), None) => sign_tx(
            TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price,
                gas_limit: gas,
                to,
                value,
                input,
            },
            &key,
        ),
        _ => {
            let tip = req
                .max_priority_fee_per_gas
                .unwrap_or(crate::eth::SUGGESTED_TIP);
            let base = u128::from(chain.next_base_fee());
            sign_tx(
                TxEip1559 {
                    chain_id,
                    nonce,
                    gas_limit: gas,
                    max_fee_per_gas: req
                        .max_fee_per_gas
                        .unwrap_or(base.saturating_mul(2).saturating_add(tip)),
                    max_priority_fee_per_gas: tip,
                    to,
                    value,
                    access_list: req.access_list.unwrap_or_default(),
                    input,
                },
                &key,
            )
        }
    };
    let signed = signed.map_err(|e| error::tx_error(&e))?;
    Ok(signed.encoded_2718().into())
}

fn block_of(chain: &Chain, id: &Value) -> RpcResult<Option<prova_chain::Block>> {
    let block = match id.as_str() {
        Some(s) if s.len() == 66 => {
            let hash: B256 = s
                .parse()
                .map_err(|e| error::invalid_params(format!("block hash: {e}")))?;
            chain.block_by_hash(&hash)
        }
        _ => {
            let tag: BlockNumberOrTag = serde_json::from_value(id.clone())
                .map_err(|e| error::invalid_params(format!("block: {e}")))?;
            chain.block_by_number(convert::tag_number(chain, tag))
        }
    };
    block.map_err(error::chain_error)
}

fn pool_json(chain: &Chain, entry: impl Fn(&SignedTx) -> Value) -> Value {
    let (ready, queued) = chain.pool_content();
    let group = |txs: Vec<SignedTx>| {
        let mut by: BTreeMap<String, Map<String, Value>> = BTreeMap::new();
        for tx in &txs {
            by.entry(tx.sender.to_string())
                .or_default()
                .insert(tx.envelope.nonce().to_string(), entry(tx));
        }
        json!(by)
    };
    json!({"pending": group(ready), "queued": group(queued)})
}

fn pending_tx(tx: &SignedTx) -> Value {
    let mut v = serde_json::to_value(alloy_rpc_types_eth::Transaction {
        inner: alloy_consensus::transaction::Recovered::new_unchecked(
            tx.envelope.clone(),
            tx.sender,
        ),
        block_hash: None,
        block_number: None,
        transaction_index: None,
        effective_gas_price: None,
        block_timestamp: None,
    })
    .unwrap_or_default();
    v["blockHash"] = Value::Null;
    v
}

fn mine(node: &Node, blocks: u64, interval: u64) -> RpcResult<()> {
    node.produces()?;
    let chain = node.chain();
    for i in 0..blocks {
        if i > 0 && interval > 0 {
            chain.increase_time(interval);
        }
        node.mine_pending().map_err(error::chain_error)?;
    }
    Ok(())
}

pub(crate) fn register(m: &mut RpcModule<Node>) -> Result<(), RegisterMethodError> {
    // Dev accounts sign.
    method(m, "eth_sendTransaction", |n, p| {
        let req: TransactionRequest = p.one()?;
        let raw = match req.from {
            Some(from) if n.is_impersonated(&from) && dev_key(&from).is_err() => {
                impersonated_request(n, req)?
            }
            _ => sign_request(n, req)?,
        };
        to_json(n.send_raw(&raw)?)
    })?;
    method(m, "eth_signTransaction", |n, p| {
        let req: TransactionRequest = p.one()?;
        to_json(sign_request(n, req)?)
    })?;
    method(m, "personal_sign", |_, p| {
        let mut seq = p.sequence();
        let message: Value = seq.next()?;
        let from: Address = seq.next()?;
        signature_hex(
            &eip191_hash_message(message_bytes(&message)?),
            &dev_key(&from)?,
        )
    })?;
    method(m, "eth_sign", |_, p| {
        let mut seq = p.sequence();
        let from: Address = seq.next()?;
        let message: Value = seq.next()?;
        signature_hex(
            &eip191_hash_message(message_bytes(&message)?),
            &dev_key(&from)?,
        )
    })?;
    method(m, "eth_signTypedData_v4", |_, p| {
        let mut seq = p.sequence();
        let from: Address = seq.next()?;
        let data: Value = seq.next()?;
        // Clients send the typed data as an object or as its JSON text.
        let data = match data {
            Value::String(s) => serde_json::from_str(&s)
                .map_err(|e| error::invalid_params(format!("typed data: {e}")))?,
            v => v,
        };
        let typed: TypedData = serde_json::from_value(data)
            .map_err(|e| error::invalid_params(format!("typed data: {e}")))?;
        let hash = typed
            .eip712_signing_hash()
            .map_err(|e| error::invalid_params(format!("typed data: {e}")))?;
        signature_hex(&hash, &dev_key(&from)?)
    })?;

    // Filters.
    method(m, "eth_newFilter", |n, p| {
        let raw: Filter = p.one()?;
        let chain = n.chain();
        let mut filter = convert::log_filter(chain, &raw)?;
        // An explicit block number (or a block hash) reports that range's logs first; a tag or
        // no `fromBlock` means new blocks only, as geth does. A `toBlock` tag (`latest`) follows
        // the chain instead of stopping at today's head.
        let fixed = |t: Option<BlockNumberOrTag>| {
            matches!(
                t,
                Some(BlockNumberOrTag::Number(_) | BlockNumberOrTag::Earliest)
            )
        };
        let historic = match raw.block_option {
            alloy_rpc_types_eth::FilterBlockOption::Range {
                from_block,
                to_block,
            } => {
                if !fixed(to_block) {
                    filter.to_block = None;
                }
                fixed(from_block)
            }
            alloy_rpc_types_eth::FilterBlockOption::AtBlockHash(_) => true,
        };
        let next = match filter.from_block {
            Some(from) if historic => from,
            _ => chain.block_number().saturating_add(1),
        };
        let mut filters = n.filters();
        filters.install(Kind::Logs { filter, next })
    })?;
    method(m, "eth_newBlockFilter", |n, _| {
        let next = n.chain().block_number().saturating_add(1);
        let mut filters = n.filters();
        filters.install(Kind::Blocks { next })
    })?;
    method(m, "eth_newPendingTransactionFilter", |n, _| {
        let (ready, queued) = n.chain().pool_content();
        let seen = ready.iter().chain(&queued).map(SignedTx::hash).collect();
        let mut filters = n.filters();
        filters.install(Kind::Pending { seen })
    })?;
    method(m, "eth_uninstallFilter", |n, p| {
        let id = filter_id(&p)?;
        let mut filters = n.filters();
        Ok(json!(filters.by_id.remove(&id).is_some()))
    })?;
    method(m, "eth_getFilterChanges", |n, p| {
        let id = filter_id(&p)?;
        let chain = n.chain();
        let head = chain.block_number();
        let mut filters = n.filters();
        match filters.poll(id)? {
            Kind::Logs { filter, next } => {
                *next = (*next).min(head.saturating_add(1));
                let to = filter.to_block.unwrap_or(head).min(head);
                if *next > to {
                    return Ok(json!([]));
                }
                // At most one log query's range per poll; the rest comes next time.
                let to = to.min(next.saturating_add(prova_chain::MAX_LOG_RANGE - 1));
                let window = LogFilter {
                    from_block: Some(*next),
                    to_block: Some(to),
                    ..filter.clone()
                };
                let logs = chain.logs(&window).map_err(error::chain_error)?;
                *next = to.saturating_add(1);
                to_json(logs.into_iter().map(convert::log).collect::<Vec<_>>())
            }
            Kind::Blocks { next } => {
                // After evm_revert the chain is shorter: the blocks that replace it are new.
                *next = (*next).min(head.saturating_add(1));
                let mut hashes = Vec::new();
                while *next <= head && hashes.len() < prova_chain::MAX_LOG_RANGE as usize {
                    match chain.store().header(*next).map_err(error::chain_error)? {
                        Some(h) => hashes.push(h.hash_slow()),
                        None => break,
                    }
                    *next += 1;
                }
                to_json(hashes)
            }
            Kind::Pending { seen } => {
                let (ready, queued) = chain.pool_content();
                let new: Vec<B256> = ready
                    .iter()
                    .chain(&queued)
                    .map(SignedTx::hash)
                    .filter(|h| seen.insert(*h))
                    .collect();
                to_json(new)
            }
        }
    })?;
    method(m, "eth_getFilterLogs", |n, p| {
        let id = filter_id(&p)?;
        let filter = {
            let mut filters = n.filters();
            match filters.poll(id)? {
                Kind::Logs { filter, .. } => filter.clone(),
                _ => return Err(error::server("filter not found: not a log filter")),
            }
        };
        let logs = n.chain().logs(&filter).map_err(error::chain_error)?;
        to_json(logs.into_iter().map(convert::log).collect::<Vec<_>>())
    })?;

    // Mining control.
    method(m, "evm_mine", |n, p| {
        // evm_mine(timestamp) or evm_mine({timestamp, blocks}).
        let arg: Option<Value> = p.sequence().optional_next()?;
        let (timestamp, blocks) = match &arg {
            Some(Value::Object(o)) => (
                o.get("timestamp").and_then(quantity_of),
                o.get("blocks").and_then(quantity_of).unwrap_or(1),
            ),
            Some(v) => (quantity_of(v), 1),
            None => (None, 1),
        };
        n.produces()?;
        if let Some(t) = timestamp {
            n.chain()
                .set_next_timestamp(t)
                .map_err(error::chain_error)?;
        }
        mine(n, blocks.clamp(1, MAX_MINE), 0)?;
        Ok(json!("0x0"))
    })?;
    method(m, "anvil_mine", |n, p| {
        let mut seq = p.sequence();
        let blocks: Option<Value> = seq.optional_next()?;
        let interval: Option<Value> = seq.optional_next()?;
        let blocks = blocks.as_ref().and_then(quantity_of).unwrap_or(1);
        if blocks > MAX_MINE {
            return Err(error::invalid_params(format!(
                "at most {MAX_MINE} blocks per anvil_mine"
            )));
        }
        let interval = interval.as_ref().and_then(quantity_of).unwrap_or(0);
        mine(n, blocks, interval)?;
        Ok(Value::Null)
    })?;
    // State edits (prova_chain::dev_edits): each is a transaction of the chain's edit
    // authority, mined at once in a block of its own, so replays and validators verify it.
    for [
        set_balance,
        set_nonce,
        set_code,
        set_storage,
        impersonate,
        stop,
    ] in [
        [
            "anvil_setBalance",
            "anvil_setNonce",
            "anvil_setCode",
            "anvil_setStorageAt",
            "anvil_impersonateAccount",
            "anvil_stopImpersonatingAccount",
        ],
        [
            "hardhat_setBalance",
            "hardhat_setNonce",
            "hardhat_setCode",
            "hardhat_setStorageAt",
            "hardhat_impersonateAccount",
            "hardhat_stopImpersonatingAccount",
        ],
    ] {
        method(m, set_balance, |n, p| {
            let mut seq = p.sequence();
            let account: Address = seq.next()?;
            let balance: U256 = seq.next()?;
            dev_edit(
                n,
                IDevEditsCalls::setBalance(IDevEdits::setBalanceCall { account, balance }),
            )
        })?;
        method(m, set_nonce, |n, p| {
            let mut seq = p.sequence();
            let account: Address = seq.next()?;
            let nonce: Value = seq.next()?;
            let nonce = quantity_of(&nonce)
                .ok_or_else(|| error::invalid_params("nonce: expected a quantity"))?;
            dev_edit(
                n,
                IDevEditsCalls::setNonce(IDevEdits::setNonceCall { account, nonce }),
            )
        })?;
        method(m, set_code, |n, p| {
            let mut seq = p.sequence();
            let account: Address = seq.next()?;
            let code: Bytes = seq.next()?;
            dev_edit(
                n,
                IDevEditsCalls::setCode(IDevEdits::setCodeCall { account, code }),
            )
        })?;
        method(m, set_storage, |n, p| {
            let mut seq = p.sequence();
            let account: Address = seq.next()?;
            let slot: U256 = seq.next()?;
            let value: U256 = seq.next()?;
            dev_edit(
                n,
                IDevEditsCalls::setStorageAt(IDevEdits::setStorageAtCall {
                    account,
                    slot: slot.into(),
                    value: value.into(),
                }),
            )
        })?;
        method(m, impersonate, |n, p| {
            n.impersonate(p.one()?, true);
            Ok(Value::Null)
        })?;
        method(m, stop, |n, p| {
            n.impersonate(p.one()?, false);
            Ok(Value::Null)
        })?;
    }
    method(m, "anvil_autoImpersonateAccount", |n, p| {
        n.set_auto_impersonate(p.one()?);
        Ok(Value::Null)
    })?;
    for name in ["evm_setAutomine", "anvil_setAutomine"] {
        method(m, name, |n, p| {
            let on: bool = p.one()?;
            n.set_automine(on)?;
            if on {
                // Anvil mines what waited when automine comes back on.
                n.chain().mine(false).map_err(error::chain_error)?;
            }
            Ok(Value::Null)
        })?;
    }
    method(m, "anvil_getAutomine", |n, _| Ok(json!(n.automine())))?;
    method(m, "eth_mining", |n, _| Ok(json!(n.automine())))?;
    method(m, "eth_hashrate", |_, _| Ok(quantity(0u8)))?;
    for name in ["evm_increaseTime", "anvil_increaseTime"] {
        method(m, name, |n, p| {
            let secs: Value = p.one()?;
            let secs = quantity_of(&secs)
                .ok_or_else(|| error::invalid_params("seconds: expected a number"))?;
            n.produces()?;
            Ok(quantity(n.chain().increase_time(secs)))
        })?;
    }
    for name in ["evm_setNextBlockTimestamp", "anvil_setNextBlockTimestamp"] {
        method(m, name, |n, p| {
            let t: Value = p.one()?;
            let t = quantity_of(&t)
                .ok_or_else(|| error::invalid_params("timestamp: expected a number"))?;
            n.produces()?;
            n.chain()
                .set_next_timestamp(t)
                .map_err(error::chain_error)?;
            Ok(Value::Null)
        })?;
    }

    // Tracing (revm-inspectors' geth tracers).
    method(m, "debug_traceTransaction", |n, p| {
        let mut seq = p.sequence();
        let hash: B256 = seq.next()?;
        let opts: Option<GethDebugTracingOptions> = seq.optional_next()?;
        match n
            .chain()
            .trace_transaction(&hash, opts.unwrap_or_default())
            .map_err(error::chain_error)?
        {
            Some(trace) => to_json(trace),
            None => Err(error::server(format!("transaction {hash} not found"))),
        }
    })?;
    method(m, "debug_traceCall", |n, p| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let block: Option<alloy_eips::BlockId> = seq.optional_next()?;
        let opts: Option<GethDebugTracingOptions> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let trace = chain
            .trace_call(&call_request(req), at, opts.unwrap_or_default())
            .map_err(error::chain_error)?;
        to_json(trace)
    })?;

    method(m, "eth_getProof", |n, p| {
        let mut seq = p.sequence();
        let address: Address = seq.next()?;
        let slots: Vec<U256> = seq.next()?;
        let block: Option<alloy_eips::BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let slots: Vec<B256> = slots.into_iter().map(B256::from).collect();
        let proof = chain
            .proof(address, &slots, at)
            .map_err(error::chain_error)?;
        Ok(json!({
            "address": proof.address,
            "balance": proof.balance,
            "codeHash": proof.code_hash,
            "nonce": quantity(proof.nonce),
            "storageHash": proof.storage_hash,
            "accountProof": proof.account_proof,
            "storageProof": proof
                .storage_proof
                .into_iter()
                .map(|(key, value, proof)| json!({"key": key, "value": value, "proof": proof}))
                .collect::<Vec<_>>(),
        }))
    })?;
    method(m, "eth_createAccessList", |n, p| {
        let mut seq = p.sequence();
        let req: TransactionRequest = seq.next()?;
        let block: Option<alloy_eips::BlockId> = seq.optional_next()?;
        let chain = n.chain();
        let at = convert::state_block(chain, block)?;
        let (list, gas) = chain
            .create_access_list(&call_request(req), at)
            .map_err(error::chain_error)?;
        Ok(json!({"accessList": list, "gasUsed": quantity(gas)}))
    })?;

    // Snapshots.
    for name in ["evm_snapshot", "anvil_snapshot"] {
        method(m, name, |n, _| {
            n.produces()?;
            let head = n.chain().head();
            let mut snapshots = crate::node::lock(&n.snapshots);
            let id = snapshots.last_key_value().map_or(0, |(k, _)| k + 1);
            snapshots.insert(id, (head.header.number, head.hash));
            Ok(quantity(id))
        })?;
    }
    for name in ["evm_revert", "anvil_revert"] {
        method(m, name, |n, p| {
            n.produces()?;
            let id: Value = p.one()?;
            let id = quantity_of(&id)
                .ok_or_else(|| error::invalid_params("snapshot id: expected a number"))?;
            let mut snapshots = crate::node::lock(&n.snapshots);
            let Some((number, hash)) = snapshots.get(&id).copied() else {
                return Ok(json!(false));
            };
            // That snapshot and every later one are used up.
            snapshots.retain(|k, _| *k < id);
            let chain = n.chain();
            let current = chain
                .store()
                .header(number)
                .map_err(error::chain_error)?
                .map(|h| h.hash_slow());
            if current != Some(hash) {
                return Ok(json!(false));
            }
            chain.rewind(number).map_err(error::chain_error)?;
            Ok(json!(true))
        })?;
    }

    // Readers.
    method(m, "net_listening", |_, _| Ok(json!(true)))?;
    method(m, "web3_sha3", |_, p| {
        let data: Bytes = p.one()?;
        to_json(keccak256(&data))
    })?;
    method(m, "eth_coinbase", |n, _| {
        to_json(n.chain().head().header.beneficiary)
    })?;
    method(m, "eth_getBlockReceipts", |n, p| {
        let id: Value = p.one()?;
        let chain = n.chain();
        let Some(block) = block_of(chain, &id)? else {
            return Ok(Value::Null);
        };
        let receipts = chain
            .block_receipts(block.header.number)
            .map_err(error::chain_error)?
            .unwrap_or_default();
        to_json(
            receipts
                .into_iter()
                .map(convert::receipt)
                .collect::<Vec<_>>(),
        )
    })?;
    for name in [
        "eth_getTransactionByBlockNumberAndIndex",
        "eth_getTransactionByBlockHashAndIndex",
    ] {
        method(m, name, |n, p| {
            let mut seq = p.sequence();
            let id: Value = seq.next()?;
            let index: U256 = seq.next()?;
            let chain = n.chain();
            let Some(block) = block_of(chain, &id)? else {
                return Ok(Value::Null);
            };
            let Some(tx) = usize::try_from(index)
                .ok()
                .and_then(|i| block.transactions.get(i))
            else {
                return Ok(Value::Null);
            };
            to_json(convert::transaction(
                tx,
                block.hash,
                block.header.number,
                index.to(),
                block.header.base_fee_per_gas.unwrap_or_default(),
            ))
        })?;
    }
    for name in [
        "eth_getBlockTransactionCountByNumber",
        "eth_getBlockTransactionCountByHash",
    ] {
        method(m, name, |n, p| {
            let id: Value = p.one()?;
            Ok(match block_of(n.chain(), &id)? {
                Some(b) => quantity(b.transactions.len() as u64),
                None => Value::Null,
            })
        })?;
    }
    for name in [
        "eth_getUncleCountByBlockNumber",
        "eth_getUncleCountByBlockHash",
    ] {
        method(m, name, |n, p| {
            let id: Value = p.one()?;
            Ok(match block_of(n.chain(), &id)? {
                Some(_) => quantity(0u8),
                None => Value::Null,
            })
        })?;
    }
    for name in [
        "eth_getUncleByBlockNumberAndIndex",
        "eth_getUncleByBlockHashAndIndex",
    ] {
        method(m, name, |_, _| Ok(Value::Null))?;
    }
    method(m, "txpool_status", |n, _| {
        let (ready, queued) = n.chain().pool_content();
        Ok(
            json!({"pending": quantity(ready.len() as u64), "queued": quantity(queued.len() as u64)}),
        )
    })?;
    method(m, "txpool_content", |n, _| {
        Ok(pool_json(n.chain(), pending_tx))
    })?;
    method(m, "txpool_inspect", |n, _| {
        Ok(pool_json(n.chain(), |tx| {
            let e = &tx.envelope;
            let to = match e.to() {
                Some(a) => a.to_string(),
                None => "contract creation".into(),
            };
            json!(format!(
                "{to}: {} wei + {} gas × {} wei",
                e.value(),
                e.gas_limit(),
                e.max_fee_per_gas()
            ))
        }))
    })?;
    Ok(())
}

/// A number given as a JSON number or a hex/decimal string.
fn quantity_of(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        },
        _ => None,
    }
}

/// A pooled transaction by hash, as `eth_getTransactionByHash` shows a pending one.
pub(crate) fn pooled_json(chain: &Chain, hash: &B256) -> Option<Value> {
    chain.pooled(hash).map(|tx| pending_tx(&tx))
}
