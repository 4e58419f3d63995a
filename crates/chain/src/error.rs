//! Errors: [`TxError`] for transactions refused before execution (the RPC maps each to its
//! JSON-RPC error), [`ChainError`] for everything else.

use alloy_primitives::{B256, Bytes, U256};

/// Why a transaction was refused. A refused transaction is not included in any block and
/// changes nothing; a transaction that executes and reverts is *not* an error (it is included,
/// with receipt status 0).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TxError {
    /// The raw bytes are not an EIP-2718 transaction envelope.
    #[error("malformed transaction: {0}")]
    Decode(String),
    /// A transaction type this chain does not accept (EIP-4844 blobs, EIP-7702).
    #[error("unsupported transaction type {0}")]
    UnsupportedType(u8),
    /// The signature does not recover to an address.
    #[error("invalid transaction signature")]
    InvalidSignature,
    /// Signed for another chain.
    #[error("wrong chain id: expected {expected}, got {got}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's.
        got: u64,
    },
    /// The nonce was already used.
    #[error("nonce too low: account nonce is {expected}, transaction has {got}")]
    NonceTooLow {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The nonce is further ahead of the account's than the pool queues.
    #[error("nonce too high: account nonce is {expected}, transaction has {got}")]
    NonceTooHigh {
        /// The sender's next nonce.
        expected: u64,
        /// The transaction's nonce.
        got: u64,
    },
    /// The sender cannot pay `gas_limit * max_fee + value`.
    #[error("insufficient funds for gas * price + value: balance {balance}, required {required}")]
    InsufficientFunds {
        /// `gas_limit * max_fee + value`.
        required: U256,
        /// The sender's balance.
        balance: U256,
    },
    /// The gas limit does not cover the intrinsic gas.
    #[error("intrinsic gas too low: needs {intrinsic}, gas limit {gas_limit}")]
    IntrinsicGasTooLow {
        /// Intrinsic gas of the transaction.
        intrinsic: u64,
        /// Its gas limit.
        gas_limit: u64,
    },
    /// The gas limit exceeds what the block has left.
    #[error("gas limit {gas_limit} exceeds the block's available gas {available}")]
    GasLimitExceedsBlock {
        /// The transaction's gas limit.
        gas_limit: u64,
        /// Gas left in the block.
        available: u64,
    },
    /// `max_fee_per_gas` (or the legacy gas price) is below the block's base fee.
    #[error("max fee per gas {max_fee} below the base fee {base_fee}")]
    FeeCapTooLow {
        /// The transaction's fee cap.
        max_fee: u128,
        /// The block's base fee.
        base_fee: u64,
    },
    /// `max_priority_fee_per_gas > max_fee_per_gas`.
    #[error("max priority fee per gas above max fee per gas")]
    TipAboveFeeCap,
    /// The pool holds this transaction already.
    #[error("already known")]
    AlreadyKnown,
    /// A transaction with the same sender and nonce is pooled, and this one does not pay
    /// enough more to replace it.
    #[error("replacement transaction underpriced: raise the fee cap and the tip by {bump}%")]
    ReplacementUnderpriced {
        /// The increase needed, in percent.
        bump: u64,
    },
    /// The pool is at one of its limits.
    #[error("txpool is full: {0}")]
    PoolFull(String),
    /// Any other validation failure reported by the EVM.
    #[error("invalid transaction: {0}")]
    Invalid(String),
}

/// Everything else that can go wrong in the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A transaction was refused.
    #[error(transparent)]
    Tx(#[from] TxError),
    /// The database file is open in another process.
    #[error("{} is in use by another process (is a node running on this data dir?)", .0.display())]
    InUse(std::path::PathBuf),
    /// The database failed (I/O, corruption, a lock).
    #[error("storage: {0}")]
    Store(#[from] redb::Error),
    /// The data dir could not be created or read.
    #[error("data dir: {0}")]
    Io(#[from] std::io::Error),
    /// A stored record does not decode: the data dir is corrupt or from another version.
    #[error("corrupt storage: {0}")]
    Corrupt(String),
    /// The model store failed.
    #[error("model store: {0}")]
    Models(#[from] prova_model::StoreError),
    /// A genesis model failed, or a precompile fault.
    #[error("precompile: {0}")]
    Precompile(#[from] prova_precompile::ProvaError),
    /// The inference runtime could not start.
    #[error("runtime: {0}")]
    Runtime(#[from] prova_runtime::RuntimeError),
    /// A dev edit on a chain whose genesis names no edit authority (not a dev chain).
    #[error("dev edits are not enabled on this chain: its genesis names no edit authority")]
    DevEditsDisabled,
    /// A dev edit the chain refused or did not apply.
    #[error("dev edit failed: {0}")]
    DevEdit(String),
    /// A local fault aborted execution (never a consensus outcome).
    #[error("execution aborted: {0}")]
    Execution(String),
    /// The data dir holds another chain.
    #[error(
        "the data dir holds another chain (genesis {stored}, not {given}): another chain id, or \
         one made by another version of prova; use another --datadir, or delete this one"
    )]
    GenesisMismatch {
        /// Genesis hash found on disk.
        stored: B256,
        /// Genesis hash of the configuration given.
        given: B256,
    },
    /// The state of that block is not kept (only the last blocks', since the node started).
    #[error(
        "state of block {0} is not available (states are kept for the last blocks since the node \
         started: --history)"
    )]
    StateUnavailable(u64),
    /// A block does not follow its parent, or the head has no possible child.
    #[error("block rule: {0}")]
    Rule(#[from] crate::RuleError),
    /// A log query covers too many blocks.
    #[error("block range {from}..={to} is more than {max} blocks: split the query")]
    LogRange {
        /// First block asked for.
        from: u64,
        /// Last block asked for (clamped to the head).
        to: u64,
        /// The most one query covers.
        max: u64,
    },
    /// A call ran out of its gas allowance or reverted at the highest gas (estimate_gas).
    #[error("execution reverted")]
    Reverted {
        /// Revert data (empty for a halt).
        output: Bytes,
    },
    /// A call halted (out of gas, invalid opcode, ...) even with the highest gas allowance.
    #[error("execution halted: {0}")]
    Halted(String),
}

impl ChainError {
    pub(crate) fn db(e: impl Into<redb::Error>) -> Self {
        Self::Store(e.into())
    }

    pub(crate) fn corrupt(what: impl std::fmt::Display) -> Self {
        Self::Corrupt(what.to_string())
    }
}
