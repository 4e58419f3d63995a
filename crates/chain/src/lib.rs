//! # prova-chain
//!
//! Prova's chain: Ethereum transactions and blocks whose headers also commit to the block's
//! **inference witness**, executed on revm with Prova's precompiles
//! ([`prova_precompile::ProvaPrecompiles`]) and stored in redb. It sits above
//! `prova-precompile` and below `prova-rpc`, `prova-validator` and the CLI.
//!
//! - **Transactions** ([`SignedTx`]): alloy-consensus [`TxEnvelope`](alloy_consensus::TxEnvelope)s,
//!   decoded from EIP-2718 bytes (legacy, EIP-2930, EIP-1559; blob and EIP-7702 transactions
//!   are refused), sender recovered, chain id checked. Refusals are typed ([`TxError`]).
//! - **Blocks**: the header is alloy-consensus' Ethereum [`Header`](alloy_consensus::Header)
//!   (Cancun shape) with Ethereum's transactions, receipts and state roots, logs bloom, gas
//!   used and EIP-1559 base fee. The **inferences root** ([`inferences_root`] over the block's
//!   [`InferenceRecord`]s) is the header's 32-byte `extra_data`: the block hash commits to it,
//!   and every Ethereum client still parses the header (32 bytes is `extra_data`'s
//!   consensus maximum on mainnet). [`header_inferences_root`] reads it back.
//! - **Execution** ([`Executor`]): validates, runs, builds receipts, drains the precompile's
//!   inference journal into the witness (with transaction and call indices), applies the
//!   state changes and computes the roots. The state root is recomputed from the whole state
//!   ([`WorldState::state_root`]): right for a dev chain, linear in the state size.
//! - **Rules** ([`rules`]): what a header must be against its parent, one
//!   [`validate_child`] (checked arithmetic throughout) used by block building, import, the
//!   commit of every block and the validator.
//! - **Pool** ([`TxPool`]): pending transactions by sender and nonce, ready and queued
//!   (nonce gaps wait and fill), replacement by fee bump, best-paying first, with limits.
//! - **Storage** ([`ChainStore`]): one redb write transaction per block; model bytes in a
//!   content-addressed `ModelStore` beside the database.
//! - **[`Chain`]**: genesis ([`Genesis`], the ten dev accounts in [`DEV_ACCOUNTS`]), the pool
//!   ([`Chain::add_transaction`]), automine ([`Chain::submit`]), blocks from the pool
//!   ([`Chain::mine`]) or from a list ([`Chain::build_block`]), import, read-only calls, gas
//!   estimation and readers, all from `&self` on many threads at once (see [`Chain`]'s module
//!   docs). The states of the last blocks are kept in memory ([`Chain::set_history`]), for
//!   reads at a past block and [`Chain::rewind`]; only the head's is on disk.
//!
//! ```
//! use prova_chain::{Chain, Genesis, DEV_ACCOUNTS, sign_tx};
//! use alloy_consensus::TxEip1559;
//! use alloy_eips::Encodable2718;
//! use alloy_primitives::{TxKind, U256};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let chain = Chain::open(dir.path(), Genesis::dev(31337)).unwrap();
//! let (alice, key) = DEV_ACCOUNTS[0];
//! let bob = DEV_ACCOUNTS[1].0;
//! let tx = TxEip1559 {
//!     chain_id: 31337,
//!     nonce: 0,
//!     gas_limit: 21_000,
//!     max_fee_per_gas: 2_000_000_000,
//!     max_priority_fee_per_gas: 0,
//!     to: TxKind::Call(bob),
//!     value: U256::from(1),
//!     ..Default::default()
//! };
//! let raw = sign_tx(tx, &key).unwrap().encoded_2718();
//! let (hash, block) = chain.submit(&raw).unwrap();
//! assert_eq!(block, Some(1));
//! assert!(chain.receipt(&hash).unwrap().unwrap().receipt.is_success());
//! assert_eq!(chain.nonce(&alice, None).unwrap(), 1);
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

/// Geth's tracing options and results, as [`Chain::trace_transaction`] takes and gives them.
pub use alloy_rpc_types_trace::geth;

mod chain;
pub mod dev_edits;
mod error;
mod executor;
mod genesis;
mod pool;
pub mod rules;
mod state;
mod store;
mod trace;
mod tx;
mod views;
mod wire;
mod witness;

pub use chain::{
    Chain, DB_FILE, DEFAULT_HISTORY, Head, MAX_LOG_RANGE, MODELS_DIR, Mined, Submitted,
};
pub use error::{ChainError, TxError};
pub use executor::{BlockInput, ExecutedBlock, ExecutedTx, Executor, SPEC, header_inferences_root};
pub use genesis::{
    CREATE2_DEPLOYER, CREATE2_DEPLOYER_CODE, DEFAULT_BASE_FEE, DEFAULT_GAS_LIMIT, DEV_ACCOUNTS,
    DEV_CHAIN_ID, Genesis, GenesisAccount, MULTICALL3, multicall3_code,
};
pub use pool::{PoolConfig, PoolStatus, TxPool};
pub use prova_precompile::InferenceRecord;
pub use rules::{RuleError, validate_child};
pub use state::{AccountProof, AccountState, StateDiff, WorldState, code_hash};
pub use store::ChainStore;
pub use tx::{SignedTx, address_of_key, sign_hash, sign_tx};
pub use views::{Block, CallRequest, LogEntry, LogFilter, TxInfo, TxReceiptInfo};
pub use wire::BlockWithWitness;
pub use witness::inferences_root;
