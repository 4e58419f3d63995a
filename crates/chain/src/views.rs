//! What [`Chain`](crate::Chain)'s readers return and its calls take: stored blocks,
//! transactions and receipts with their context, logs and log filters, call requests.

use crate::SignedTx;
use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_primitives::{Address, B256, Bloom, BloomInput, Bytes, Log, U256};

/// A block as stored: header, hash and transactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Header.
    pub header: Header,
    /// Hash of the header.
    pub hash: B256,
    /// Transactions, senders recovered.
    pub transactions: Vec<SignedTx>,
}

/// A transaction with where it was included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxInfo {
    /// The transaction.
    pub tx: SignedTx,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Index in the block.
    pub index: u64,
    /// Base fee of the block (for the effective gas price).
    pub base_fee: u64,
}

/// A receipt with the context RPC clients expect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxReceiptInfo {
    /// The consensus receipt.
    pub receipt: ReceiptEnvelope,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Index in the block.
    pub index: u64,
    /// Sender.
    pub from: Address,
    /// Recipient (`None` for a creation).
    pub to: Option<Address>,
    /// Created contract (for a successful creation).
    pub contract_address: Option<Address>,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Price per gas paid.
    pub effective_gas_price: u128,
    /// Block-wide index of this receipt's first log.
    pub first_log_index: u64,
}

/// A log with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The log.
    pub log: Log,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the transaction in the block.
    pub tx_index: u64,
    /// Index of the log in the block.
    pub log_index: u64,
}

/// Which logs [`Chain::logs`](crate::Chain::logs) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// First block (default 0).
    pub from_block: Option<u64>,
    /// Last block (default head).
    pub to_block: Option<u64>,
    /// Emitting addresses (empty = any).
    pub addresses: Vec<Address>,
    /// Per topic position, the accepted values (`None` or empty = any).
    pub topics: Vec<Option<Vec<B256>>>,
}

impl LogFilter {
    /// Whether a block with `bloom` can hold a matching log (no false negatives).
    pub(crate) fn may_match(&self, bloom: &Bloom) -> bool {
        let has = |bytes: &[u8]| bloom.contains_input(BloomInput::Raw(bytes));
        (self.addresses.is_empty() || self.addresses.iter().any(|a| has(a.as_slice())))
            && self.topics.iter().all(|want| match want {
                None => true,
                Some(v) => v.is_empty() || v.iter().any(|t| has(t.as_slice())),
            })
    }

    pub(crate) fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        self.topics.iter().enumerate().all(|(i, want)| match want {
            None => true,
            Some(v) if v.is_empty() => true,
            Some(v) => log.topics().get(i).is_some_and(|t| v.contains(t)),
        })
    }
}

/// A read-only call (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallRequest {
    /// Sender (default zero address).
    pub from: Option<Address>,
    /// Recipient (`None` = contract creation).
    pub to: Option<Address>,
    /// Gas allowance (default: the block gas limit).
    pub gas: Option<u64>,
    /// Gas price (default 0).
    pub gas_price: Option<u128>,
    /// Value.
    pub value: Option<U256>,
    /// Calldata.
    pub input: Bytes,
}
