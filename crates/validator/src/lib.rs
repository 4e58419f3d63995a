//! # prova-validator
//!
//! Anyone can check every inference a Prova chain recorded by re-executing it. This crate
//! verifies blocks ([`import`]), ranges of blocks sequentially, in parallel or from the
//! witness alone ([`run`], [`Mode`]), reads them from a node's data dir or an export file
//! ([`DataDir`], [`Jsonl`], [`export`]), and follows a live node over JSON-RPC ([`follow`]).
//! The first disagreement is a [`Divergence`] report naming the block, transaction, call,
//! model, output hashes and the first differing element.
//!
//! [`client`] is a tiny blocking JSON-RPC client over `std::net`, for following a node (and for
//! the CLI and tests): no async runtime, no TLS, no extra dependencies.
//!
//! It sits above `prova-chain` and below the CLI (`prova replay`, `prova
//! export`, `prova verify`, `prova import`, `prova validator`). See docs/validator.md.
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod client;
mod divergence;
mod follow;
mod run;
mod source;
mod verify;

pub use divergence::{Divergence, DivergenceKind, InferenceDivergence, first_difference};
pub use follow::{FollowEnd, FollowEvent, fetch_genesis, follow};
pub use run::{Mode, Progress, RunError, Summary, check_claim, run};
pub use source::{DataDir, Jsonl, export};
pub use verify::{BlockStats, Check, OutputClaim, Position, VerifyError, import, verify_child};
