//! INFER and MODEL_REGISTRY as alloy-evm [`DynPrecompile`]s, for clients built on alloy-evm's
//! [`PrecompilesMap`] (as reth-based chains are). Behind the `alloy-evm` cargo feature.
//!
//! [`install`] puts both precompiles into a map, at the addresses of the
//! [`ProvaPrecompiles`]' configuration, over the **same state** as that provider: the same
//! runtime (and plan cache), the same model bytes and facts, the same inference journal, so
//! a model deployed through either is known to both and records from both land in
//! [`ProvaPrecompiles::records`]. The configuration and the recording switch are copied at
//! install time (install from a provider with recording off for `eth_call`-style EVMs).
//!
//! Both are marked stateful ([`DynPrecompile::new_stateful`]): alloy-evm never caches their
//! results, since the output depends on registry state, warmth and the journal, not only on
//! the calldata.
//!
//! The semantics are those of [`ProvaPrecompiles`] (same code), with two differences forced by
//! alloy-evm's [`PrecompileInput`], which exposes neither the call depth nor the call scheme:
//!
//! - [`InferenceRecord::depth`](crate::InferenceRecord::depth) is `0` (unknown);
//! - "carries value" is read as: non-zero value and either a direct call or a CALLCODE
//!   (`caller == target`). A DELEGATECALL sees its parent's value and is not refused, as with
//!   revm, except in the corner case of a contract that called itself with value and then
//!   DELEGATECALLs a Prova precompile (indistinguishable from CALLCODE here): refused.
//!
//! A top-level halt keeps no error context (alloy-evm's own precompiles do not either).

use crate::{
    ProvaError, ProvaPrecompiles,
    host::{Call, Host, db},
    infer,
    provider::Core,
    registry,
};
use alloy_evm::{
    EvmInternals,
    precompiles::{DynPrecompile, PrecompileInput, PrecompilesMap},
};
use revm::{
    precompile::{PrecompileError, PrecompileId, PrecompileResult},
    primitives::{Address, U256},
};

/// Identifier of INFER in a [`PrecompilesMap`].
pub const INFER_ID: &str = "prova-infer";
/// Identifier of MODEL_REGISTRY in a [`PrecompilesMap`].
pub const MODEL_REGISTRY_ID: &str = "prova-model-registry";

/// Installs INFER and MODEL_REGISTRY into `map` (replacing whatever is at their addresses),
/// sharing `prova`'s runtime, model bytes and inference journal. `map` keeps the Ethereum
/// precompiles it already has (e.g. `PrecompilesMap::from(EthPrecompiles::new(spec))`).
pub fn install(map: &mut PrecompilesMap, prova: &ProvaPrecompiles) {
    map.extend_precompiles(precompiles(prova));
}

/// INFER and MODEL_REGISTRY as stateful [`DynPrecompile`]s at their configured addresses,
/// sharing `prova`'s state (see [`install`]).
pub fn precompiles(prova: &ProvaPrecompiles) -> [(Address, DynPrecompile); 2] {
    let config = &prova.core.config;
    [
        (
            config.infer_address,
            dyn_precompile(prova.core.clone(), Which::Infer),
        ),
        (
            config.registry_address,
            dyn_precompile(prova.core.clone(), Which::Registry),
        ),
    ]
}

#[derive(Clone, Copy)]
enum Which {
    Infer,
    Registry,
}

fn dyn_precompile(core: Core, which: Which) -> DynPrecompile {
    let id = match which {
        Which::Infer => INFER_ID,
        Which::Registry => MODEL_REGISTRY_ID,
    };
    DynPrecompile::new_stateful(
        PrecompileId::Custom(id.into()),
        move |mut input: PrecompileInput<'_>| -> PrecompileResult {
            let value = !input.value.is_zero();
            let call = Call {
                input: input.data,
                gas_limit: input.gas,
                caller: input.caller,
                uploader: if input.is_direct_call() {
                    input.caller
                } else {
                    input.target_address
                },
                transfers_value: value
                    && (input.is_direct_call() || input.caller == input.target_address),
                is_static: input.is_static,
            };
            // A local fault aborts execution, as with `ProvaPrecompiles` (never a revert).
            let mut host = AlloyHost(&mut input.internals);
            let exit = match which {
                Which::Infer => infer::run(&core, &mut host, &call),
                Which::Registry => registry::run(&core, &mut host, &call),
            };
            let exit = exit.map_err(|e| PrecompileError::Fatal(e.to_string()))?;
            Ok(exit.into_output(input.reservoir))
        },
    )
}

/// alloy-evm's [`EvmInternals`] as a [`Host`].
struct AlloyHost<'a, 'b>(&'a mut EvmInternals<'b>);

impl Host for AlloyHost<'_, '_> {
    fn depth(&self) -> usize {
        0
    }

    fn tload(&mut self, address: Address, key: U256) -> U256 {
        self.0.tload(address, key)
    }

    fn tstore(&mut self, address: Address, key: U256, value: U256) {
        self.0.tstore(address, key, value);
    }

    fn sload(&mut self, address: Address, key: U256) -> Result<U256, ProvaError> {
        Ok(self.0.sload(address, key).map_err(db)?.data)
    }

    fn sstore(&mut self, address: Address, key: U256, value: U256) -> Result<(), ProvaError> {
        self.0.sstore(address, key, value).map_err(db)?;
        Ok(())
    }

    fn ensure_nonce(&mut self, address: Address) -> Result<(), ProvaError> {
        let mut account = self.0.load_account_mut(address).map_err(db)?;
        if account.data.nonce() == 0 {
            account.data.bump_nonce();
        }
        Ok(())
    }
}
