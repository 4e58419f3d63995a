//! [`Node`]: the chain (shared, every method `&self`) and how blocks are produced, shared by
//! every request. No request holds a lock across its work: reads run on a snapshot of the
//! head, so `eth_call`s with inference run in parallel with each other and with block
//! production.

use crate::{Mining, error};
use alloy_primitives::{Address, B256, Bytes};
use jsonrpsee::types::ErrorObjectOwned;
use prova_chain::{Chain, ChainError, PoolStatus};
use prova_model::{ModelId, ModelInfo};
use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, Ordering},
};

/// Shared node state.
#[derive(Debug)]
pub struct Node {
    chain: Arc<Chain>,
    mining: Mining,
    /// With [`Mining::Auto`]: whether a transaction is mined at once (`evm_setAutomine`).
    automine: AtomicBool,
    pub(crate) filters: Mutex<crate::dev::Filters>,
    /// `evm_snapshot` ids: the block each was taken at (number, hash).
    pub(crate) snapshots: Mutex<std::collections::BTreeMap<u64, (u64, B256)>>,
    /// Numbers of new blocks, for WebSocket subscriptions ([`crate::ws`]).
    pub(crate) heads: tokio::sync::broadcast::Sender<u64>,
    /// Accounts `eth_sendTransaction` sends for without a key (`anvil_impersonateAccount`).
    impersonated: Mutex<std::collections::BTreeSet<alloy_primitives::Address>>,
    /// `anvil_autoImpersonateAccount`: every account is impersonated.
    auto_impersonate: AtomicBool,
    /// With [`Mining::Consensus`]: where accepted transactions go.
    relay: Option<crate::Relay>,
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// Takes a lock whether or not a request panicked while holding it: what the node's locks
/// guard is replaced whole.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Node {
    /// A node serving `chain`, producing blocks as `mining` says.
    pub fn new(chain: Arc<Chain>, mining: Mining) -> Self {
        Self {
            chain,
            mining,
            automine: AtomicBool::new(mining == Mining::Auto),
            filters: Mutex::default(),
            snapshots: Mutex::default(),
            heads: tokio::sync::broadcast::channel(1024).0,
            impersonated: Mutex::default(),
            auto_impersonate: AtomicBool::new(false),
            relay: None,
        }
    }

    /// Hands accepted transactions to `relay` (a [`Mining::Consensus`] node).
    pub fn with_relay(mut self, relay: Option<crate::Relay>) -> Self {
        self.relay = relay;
        self
    }

    /// The installed filters (taken whether or not a request panicked while holding them: a
    /// filter's cursor is replaced whole).
    pub(crate) fn filters(&self) -> std::sync::MutexGuard<'_, crate::dev::Filters> {
        lock(&self.filters)
    }

    /// Whether transactions are mined as they arrive.
    pub fn automine(&self) -> bool {
        self.automine.load(Ordering::Relaxed)
    }

    /// Whether `eth_sendTransaction` sends for `from` without its key.
    pub(crate) fn is_impersonated(&self, from: &alloy_primitives::Address) -> bool {
        self.auto_impersonate.load(Ordering::Relaxed) || lock(&self.impersonated).contains(from)
    }

    /// `anvil_impersonateAccount` (`on`) and `anvil_stopImpersonatingAccount`.
    pub(crate) fn impersonate(&self, account: alloy_primitives::Address, on: bool) {
        let mut set = lock(&self.impersonated);
        if on {
            set.insert(account);
        } else {
            set.remove(&account);
        }
    }

    /// `anvil_autoImpersonateAccount`.
    pub(crate) fn set_auto_impersonate(&self, on: bool) {
        self.auto_impersonate.store(on, Ordering::Relaxed);
    }

    /// Turns automine on or off (a node started with [`Mining::Auto`] only).
    pub(crate) fn set_automine(&self, on: bool) -> RpcResult<()> {
        if self.mining != Mining::Auto {
            return Err(error::server(
                "automine can be switched on a node started without --block-time only",
            ));
        }
        self.automine.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// Whether this node makes blocks at all.
    pub(crate) fn produces(&self) -> RpcResult<()> {
        match self.mining {
            Mining::ReadOnly => Err(error::server(
                "this node is a read-only validator: it makes no blocks",
            )),
            Mining::Consensus => Err(error::server(
                "this node is a network validator: blocks, state and time are decided by \
                 consensus, so dev controls (mining, state edits, impersonation, clock, \
                 snapshots) are not available",
            )),
            _ => Ok(()),
        }
    }

    /// The chain.
    pub fn chain(&self) -> &Chain {
        &self.chain
    }

    /// Accepts a raw transaction into the pool; with automine, mines it at once (unless it
    /// waits behind a nonce gap, as anvil does).
    pub fn send_raw(&self, raw: &Bytes) -> RpcResult<B256> {
        match self.mining {
            Mining::ReadOnly => Err(error::server(
                "this node is a read-only validator: send transactions to the block producer",
            )),
            Mining::Consensus => {
                let relay = self
                    .relay
                    .as_ref()
                    .ok_or_else(|| error::server("this validator relays no transactions"))?;
                let s = (relay.0)(raw).map_err(error::chain_error)?;
                if s.status == PoolStatus::Queued {
                    tracing::info!("transaction {} queued (nonce gap)", s.hash);
                }
                Ok(s.hash)
            }
            Mining::Auto if self.automine() => {
                let (hash, block) = self.chain.submit(raw).map_err(error::chain_error)?;
                match block {
                    Some(n) => tracing::info!("block {n}: transaction {hash}"),
                    None => tracing::info!("transaction {hash} queued (nonce gap)"),
                }
                Ok(hash)
            }
            Mining::Auto | Mining::Interval(_) => {
                let s = self
                    .chain
                    .add_transaction(raw)
                    .map_err(error::chain_error)?;
                if s.status == PoolStatus::Queued {
                    tracing::info!("transaction {} queued (nonce gap)", s.hash);
                }
                Ok(s.hash)
            }
        }
    }

    /// Interval mining: builds one block from the pool (an empty one if nothing is ready).
    pub fn mine_pending(&self) -> Result<(), ChainError> {
        let Some(mined) = self.chain.mine(true)? else {
            return Ok(());
        };
        let number = mined.block.header.number;
        tracing::info!("block {number}: {} transactions", mined.block.txs.len());
        for (hash, e) in mined.dropped {
            tracing::warn!("block {number}: transaction {hash} dropped: {e}");
        }
        Ok(())
    }

    /// The nonce `sender` would use next, counting its ready pooled transactions.
    pub fn pending_nonce(&self, sender: &Address) -> u64 {
        self.chain.pending_nonce(sender)
    }

    /// The facts of a registered model, `None` if `id` is not registered.
    pub fn model_info(&self, id: &ModelId) -> RpcResult<Option<Arc<ModelInfo>>> {
        self.chain.model_info(id).map_err(error::chain_error)
    }
}
