//! # prova-precompile
//!
//! The revm side of Prova: ONNX inference as an EVM precompile.
//!
//! [`ProvaPrecompiles`] is a revm [`PrecompileProvider`](revm::handler::PrecompileProvider)
//! that wraps Ethereum's own precompiles for the active spec and adds two more, usable by any
//! revm-based client:
//!
//! - **INFER** at [`INFER_ADDRESS`] (`0x…0F00`): `infer`, `inferFixed`, `modelInfo` of
//!   `contracts/src/IProvaInference.sol`;
//! - **MODEL_REGISTRY** at [`MODEL_REGISTRY_ADDRESS`] (`0x…0F01`): `deploy`, `exists` and
//!   the staged upload (`beginUpload`, `appendChunk`, `commitUpload`, `cancelUpload`,
//!   `uploadStatus`) of `contracts/src/IModelRegistry.sol`.
//!
//! The ABI comes from those files through `alloy-sol-types`' `sol!` ([`abi`]).
//!
//! With the `alloy-evm` cargo feature (off by default), `alloy_evm::install` also offers both
//! as stateful alloy-evm `DynPrecompile`s in a `PrecompilesMap` (reth-style clients), over the
//! same runtime, model bytes and inference journal as a [`ProvaPrecompiles`].
//!
//! ## Semantics
//!
//! - **Model existence is chain state.** `deploy` admits and compiles the model (a refusal is
//!   `ModelRejected`), keeps the bytes in the provider's [`ModelBytes`] (outside state,
//!   content-addressed) and sets the slot [`model_slot`]`(id)` of the registry account to
//!   [`REGISTERED`] through the journal, so the flag reverts with its frame. The registry
//!   account is given nonce 1 on first deploy, so EIP-161 never clears it; a genesis that
//!   preloads models must set both the nonce and the slots (and call
//!   [`ProvaPrecompiles::preload`]). `deploy` is idempotent and charged
//!   [`RegistryGas::deploy`] (per calldata byte) before any work; under STATICCALL it halts,
//!   as `SSTORE` would.
//! - **Staged upload** of models too large for one transaction: `beginUpload(id, size)`,
//!   `appendChunk(id, offset, chunk)` until every byte is there, `commitUpload(id)`. Keyed by
//!   (uploader, model id); progress and each chunk's keccak256 are registry storage at
//!   [`upload_slot`] / [`chunk_slot`] (journaled), the chunks' bytes are kept in
//!   [`ModelBytes`] like models. Commit joins the chunks, checks their hash against the id and
//!   registers through `deploy`'s own path; until then the model is unknown to INFER.
//!   Priced per calldata word, per chunk slot and per graph node ([`RegistryGas`]).
//! - **Gas before work.** INFER charges [`GasSchedule`](prova_model::GasSchedule)'s base for
//!   calldata that does not decode and for `UnknownModel`; otherwise the model's static gas,
//!   with the cold surcharge on its first use in the transaction. Warmth is kept in the
//!   transient storage of the INFER address: cleared at the end of every transaction and
//!   reverted with its frame, as EIP-2929's access list is. A call that cannot pay halts
//!   out-of-gas before any input is converted or any model run.
//! - **Two tiers of failure.** Deterministic failures revert with ABI-encoded custom errors
//!   and consume the gas charged: `UnknownModel(id)`, `BadInput(index, reason)` (malformed
//!   calldata of any kind is `BadInput(0, ..)`, never a panic), `InferenceFailed(reason)`,
//!   `ModelRejected(reason)`. Local faults (store I/O, bytes missing for a registered model,
//!   a database error) are [`ProvaError`]s, returned to revm as fatal errors that abort
//!   execution; they are never turned into a revert.
//! - **Inference journal.** Every INFER execution that reaches the runtime appends an
//!   [`InferenceRecord`] (call site, model, inputs, output bytes, gas; the input hash is
//!   computed on first use, [`hash_inputs`] does a block's records in parallel), under STATICCALL
//!   too and even if an enclosing frame later reverts. [`ProvaPrecompiles::set_recording`]
//!   turns recording off for `eth_call`; [`ProvaPrecompiles::take_records`] drains it. The
//!   journal belongs to one provider handle: [`ProvaPrecompiles::handle`] makes another over
//!   the same runtime and models, one per EVM, so EVMs on many threads never share records
//!   or wait on each other. The [`InferenceRecord`] is also the block witness's record (its
//!   RLP encoding is consensus).
//! - **STATICCALL** works for INFER, `modelInfo` and `exists`: they write no logs and no
//!   state (only the transient warmth marker, like an access list entry).
//! - **DELEGATECALL / CALLCODE** are allowed, as for every Ethereum precompile: INFER's result
//!   is a function of its input and the registry state only, and the registry always reads
//!   and writes its own account ([`ProvaConfig::registry_address`]), never the caller's.
//!   Calls carrying value are refused (`BadInput(0, ..)` / `ModelRejected`).
//!
//! ```
//! use prova_precompile::ProvaPrecompiles;
//! use prova_runtime::{Profile, Runtime};
//! use revm::{
//!     Context, MainBuilder, MainContext,
//!     database::{CacheDB, EmptyDB},
//!     primitives::hardfork::SpecId,
//! };
//! use std::sync::Arc;
//!
//! let runtime = Arc::new(Runtime::new(Profile::Exact).unwrap());
//! let precompiles = ProvaPrecompiles::new(SpecId::PRAGUE, runtime);
//! let evm = Context::mainnet()
//!     .modify_cfg_chained(|cfg| cfg.set_spec_and_mainnet_gas_params(SpecId::PRAGUE))
//!     .with_db(CacheDB::<EmptyDB>::default())
//!     .build_mainnet()
//!     .with_precompiles(precompiles);
//! assert!(evm.precompiles.records().is_empty());
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod abi;
#[cfg(feature = "alloy-evm")]
pub mod alloy_evm;
mod config;
mod error;
mod host;
mod infer;
mod models;
mod provider;
mod record;
mod registry;
mod standalone;
mod upload;

pub use config::{INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, ProvaConfig, RegistryGas};
pub use error::ProvaError;
pub use models::ModelBytes;
pub use provider::{ProvaPrecompiles, Reference};
pub use record::{CallSite, InferenceRecord, hash_inputs};
pub use registry::{REGISTERED, model_slot};
pub use standalone::{Outcome, StandaloneCall, StandaloneState};
pub use upload::{UPLOAD_TAG, UploadHeader, chunk_slot, upload_slot};
