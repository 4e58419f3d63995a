//! # prova-network
//!
//! Prova's validator network: blocks are ordered by BFT consensus (commonware's simplex, with
//! marshal to disseminate, order and backfill them) over commonware's authenticated p2p, and a
//! validator votes for a block only after re-executing it with every inference. See
//! docs/network.md for the design and the fault model.
//!
//! - [`Block`]: a Prova block (header, transactions, inference witness) whose consensus digest
//!   is its Ethereum block hash.
//! - [`Application`]: propose (build from the pool), verify (re-execute, re-run the claimed
//!   inference outputs in parallel, refuse any divergence), and commit finalized blocks to the
//!   chain's redb store in order.
//! - [`Engine`]: simplex + marshal + block broadcast wired for one validator, on any
//!   commonware runtime (tokio for `prova node --validator`, deterministic for tests).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod application;
mod block;
mod engine;
pub mod gossip;
pub mod node;

pub use application::{Application, Fault, Finalized, PublicKey, Scheme};
pub use block::{Block, MAX_BLOCK_BYTES, digest_of, hash_of};
pub use engine::{Channels, Engine, EngineConfig, EngineError, EngineRuntime, NAMESPACE, channel};
pub use gossip::TxRelay;
