//! [`TxPool`]: transactions waiting for a block, as anvil and geth keep them.
//!
//! - **Ready and queued.** A sender's transactions are kept by nonce. Those that continue the
//!   sender's account nonce without a gap are *ready* (a block can take them); those after a
//!   gap are *queued* until the missing nonces arrive, then promoted.
//! - **Replacement.** A transaction with the nonce of one already pooled replaces it if it
//!   raises both the fee cap and the tip by at least [`PoolConfig::price_bump`] percent
//!   (geth's and anvil's 10%); otherwise it is refused as underpriced.
//! - **Order.** A block takes ready transactions best-paying first (effective tip at the
//!   block's base fee, then arrival), each sender's in nonce order.
//! - **Limits.** At most [`PoolConfig::max_txs`] transactions in all, and
//!   [`PoolConfig::max_per_sender`] per sender; a queued transaction may be at most
//!   [`PoolConfig::max_nonce_gap`] ahead of the account nonce.
//!
//! The pool checks what it can without executing (chain id, nonce, the sender's funds for
//! `gas_limit * max_fee + value`, the block gas limit); execution has the last word, and a
//! transaction a block refuses is dropped from the pool.

use crate::{SignedTx, TxError, WorldState};
use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, U256};
use std::collections::{BTreeMap, BinaryHeap, HashMap};

/// Pool limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Transactions in the pool at most.
    pub max_txs: usize,
    /// Transactions of one sender at most.
    pub max_per_sender: usize,
    /// How far ahead of the account nonce a queued transaction may be.
    pub max_nonce_gap: u64,
    /// Fee increase a replacement needs, in percent.
    pub price_bump: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_txs: 10_000,
            max_per_sender: 256,
            max_nonce_gap: 256,
            price_bump: 10,
        }
    }
}

/// Where an accepted transaction went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolStatus {
    /// A block can take it now.
    Ready,
    /// It waits for lower nonces of its sender.
    Queued,
}

#[derive(Debug, Clone)]
struct Pooled {
    tx: SignedTx,
    /// Arrival order (ties in the block order go to the earlier).
    seq: u64,
}

/// Pending transactions by sender and nonce. See the module docs.
#[derive(Debug, Default)]
pub struct TxPool {
    config: PoolConfig,
    by_sender: BTreeMap<Address, BTreeMap<u64, Pooled>>,
    by_hash: HashMap<B256, (Address, u64)>,
    seq: u64,
}

fn fees(tx: &SignedTx) -> (u128, u128) {
    let e = &tx.envelope;
    (
        e.max_fee_per_gas(),
        e.max_priority_fee_per_gas().unwrap_or(e.max_fee_per_gas()),
    )
}

impl TxPool {
    /// An empty pool with `config`'s limits.
    pub fn new(config: PoolConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// Transactions in the pool.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// The pooled transaction with hash `hash`.
    pub fn get(&self, hash: &B256) -> Option<&SignedTx> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        self.by_sender.get(sender)?.get(nonce).map(|p| &p.tx)
    }

    /// Adds `tx` (decoded, chain id checked) against the head `state` with the next block's
    /// `base_fee` and `gas_limit`. Returns whether it is ready or queued, or why it is refused.
    pub fn add(
        &mut self,
        tx: SignedTx,
        state: &WorldState,
        base_fee: u64,
        gas_limit: u64,
    ) -> Result<PoolStatus, TxError> {
        let hash = tx.hash();
        if self.by_hash.contains_key(&hash) {
            return Err(TxError::AlreadyKnown);
        }
        let account = state.nonce(&tx.sender);
        let nonce = tx.envelope.nonce();
        if nonce < account {
            return Err(TxError::NonceTooLow {
                expected: account,
                got: nonce,
            });
        }
        if nonce - account > self.config.max_nonce_gap {
            return Err(TxError::NonceTooHigh {
                expected: account,
                got: nonce,
            });
        }
        let tx_gas = tx.envelope.gas_limit();
        if tx_gas > gas_limit {
            return Err(TxError::GasLimitExceedsBlock {
                gas_limit: tx_gas,
                available: gas_limit,
            });
        }
        let (max_fee, tip) = fees(&tx);
        if tip > max_fee {
            return Err(TxError::TipAboveFeeCap);
        }
        if max_fee < u128::from(base_fee) {
            return Err(TxError::FeeCapTooLow { max_fee, base_fee });
        }
        let required = U256::from(tx_gas)
            .checked_mul(U256::from(max_fee))
            .and_then(|g| g.checked_add(tx.envelope.value()))
            .unwrap_or(U256::MAX);
        let balance = state.balance(&tx.sender);
        if required > balance {
            return Err(TxError::InsufficientFunds { required, balance });
        }

        let sender = tx.sender;
        let own = self.by_sender.get(&sender);
        let replaced = own.and_then(|m| m.get(&nonce)).map(|p| p.tx.clone());
        if let Some(old) = &replaced {
            let (old_fee, old_tip) = fees(old);
            let bump = |old: u128| old.saturating_mul(100 + self.config.price_bump) / 100;
            if max_fee < bump(old_fee) || tip < bump(old_tip) {
                return Err(TxError::ReplacementUnderpriced {
                    bump: self.config.price_bump as u64,
                });
            }
        } else {
            if own.map_or(0, BTreeMap::len) >= self.config.max_per_sender {
                return Err(TxError::PoolFull(format!(
                    "sender {sender} has {} transactions pending",
                    self.config.max_per_sender
                )));
            }
            if self.len() >= self.config.max_txs {
                return Err(TxError::PoolFull(format!(
                    "{} transactions pending",
                    self.config.max_txs
                )));
            }
        }
        if let Some(old) = replaced {
            self.by_hash.remove(&old.hash());
        }
        self.seq += 1;
        let pooled = Pooled { tx, seq: self.seq };
        self.by_hash.insert(hash, (sender, nonce));
        let own = self.by_sender.entry(sender).or_default();
        own.insert(nonce, pooled);
        let ready = (account..nonce).all(|n| own.contains_key(&n));
        Ok(if ready {
            PoolStatus::Ready
        } else {
            PoolStatus::Queued
        })
    }

    /// The next nonce `sender` can use: the account nonce in `state` after its ready
    /// transactions (what `eth_getTransactionCount(…, "pending")` answers).
    pub fn pending_nonce(&self, sender: &Address, state: &WorldState) -> u64 {
        let mut next = state.nonce(sender);
        if let Some(own) = self.by_sender.get(sender) {
            while own.contains_key(&next) {
                match next.checked_add(1) {
                    Some(n) => next = n,
                    None => break,
                }
            }
        }
        next
    }

    /// The ready transactions against `state`, best-paying first at `base_fee` (each sender's
    /// in nonce order), as many as fit in `gas_limit`.
    pub fn best(&self, state: &WorldState, base_fee: u64, gas_limit: u64) -> Vec<SignedTx> {
        #[derive(PartialEq, Eq, PartialOrd, Ord)]
        struct Head {
            tip: u128,
            earlier: std::cmp::Reverse<u64>,
            sender: Address,
            nonce: u64,
        }
        let head = |sender: &Address, nonce: u64| -> Option<Head> {
            let p = self.by_sender.get(sender)?.get(&nonce)?;
            Some(Head {
                tip: p.tx.envelope.effective_tip_per_gas(base_fee).unwrap_or(0),
                earlier: std::cmp::Reverse(p.seq),
                sender: *sender,
                nonce,
            })
        };
        let mut heap: BinaryHeap<Head> = self
            .by_sender
            .keys()
            .filter_map(|s| head(s, state.nonce(s)))
            .collect();
        let mut out = Vec::new();
        let mut left = gas_limit;
        while let Some(h) = heap.pop() {
            let Some(p) = self.by_sender.get(&h.sender).and_then(|m| m.get(&h.nonce)) else {
                continue;
            };
            let gas = p.tx.envelope.gas_limit();
            if gas > left {
                // This sender's later nonces wait too; others may still fit.
                continue;
            }
            left -= gas;
            out.push(p.tx.clone());
            if let Some(next) = h.nonce.checked_add(1).and_then(|n| head(&h.sender, n)) {
                heap.push(next);
            }
        }
        out
    }

    /// Removes the transaction `hash` (refused by a block); later nonces of its sender stay,
    /// queued until the gap is filled again.
    pub fn remove(&mut self, hash: &B256) -> Option<SignedTx> {
        let (sender, nonce) = self.by_hash.remove(hash)?;
        let own = self.by_sender.get_mut(&sender)?;
        let p = own.remove(&nonce);
        if own.is_empty() {
            self.by_sender.remove(&sender);
        }
        p.map(|p| p.tx)
    }

    /// Drops every transaction whose nonce `state` has passed (mined, or made stale by another
    /// transaction with the same nonce).
    pub fn prune(&mut self, state: &WorldState) {
        let by_hash = &mut self.by_hash;
        self.by_sender.retain(|sender, own| {
            let account = state.nonce(sender);
            while let Some(entry) = own.first_entry() {
                if *entry.key() >= account {
                    break;
                }
                by_hash.remove(&entry.remove().tx.hash());
            }
            !own.is_empty()
        });
    }

    /// Ready and queued transactions by sender and nonce (for `txpool_*`).
    pub fn content(&self, state: &WorldState) -> (Vec<&SignedTx>, Vec<&SignedTx>) {
        let (mut ready, mut queued) = (Vec::new(), Vec::new());
        for (sender, own) in &self.by_sender {
            let mut next = Some(state.nonce(sender));
            for (nonce, p) in own {
                if Some(*nonce) == next {
                    ready.push(&p.tx);
                    next = nonce.checked_add(1);
                } else {
                    queued.push(&p.tx);
                }
            }
        }
        (ready, queued)
    }
}
