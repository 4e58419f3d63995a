//! One call into INFER or MODEL_REGISTRY outside an EVM, over a small explicit state.
//!
//! For tools that must give the chain's exact answer where the chain's EVM is not running:
//! `prova shim`, which Foundry's `forge test` reaches through `vm.ffi` (see
//! `contracts/src/test/ProvaTest.sol` and docs/foundry.md). The call goes through the same
//! code as inside revm ([`ProvaPrecompiles`] as a `PrecompileProvider`): the same decoding,
//! gas, checks, runtime and encodings, so outputs, revert data and gas are the chain's.
//!
//! The state is what the precompiles read and write: storage (the registry's model flags) and
//! transient storage (INFER's per-transaction warmth), both as plain maps that the caller
//! fills from its own EVM and reads back.

use crate::{
    ProvaError, ProvaPrecompiles, REGISTERED,
    host::{Call, Host},
    infer, model_slot,
    provider::Exit,
    registry,
};
use prova_model::ModelId;
use revm::primitives::{Address, Bytes, U256};
use std::collections::BTreeMap;

/// Storage and transient storage as the precompiles see them, keyed by (account, slot). Unset
/// slots read zero; writes are kept whatever the outcome (the caller discards them on a revert,
/// as the EVM's journal would).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StandaloneState {
    /// Persistent storage.
    pub storage: BTreeMap<(Address, U256), U256>,
    /// Transient storage (EIP-1153).
    pub transient: BTreeMap<(Address, U256), U256>,
    /// Accounts whose nonce was raised from 0 (the registry's, on its first deploy).
    pub nonced: Vec<Address>,
}

impl StandaloneState {
    /// Flags `id` as registered, as the registry's storage does on chain.
    pub fn register(&mut self, precompiles: &ProvaPrecompiles, id: &ModelId) {
        let registry = precompiles.config().registry_address;
        self.storage.insert((registry, model_slot(id)), REGISTERED);
    }

    /// Whether `id` is registered.
    pub fn is_registered(&self, precompiles: &ProvaPrecompiles, id: &ModelId) -> bool {
        let registry = precompiles.config().registry_address;
        self.storage
            .get(&(registry, model_slot(id)))
            .is_some_and(|v| !v.is_zero())
    }

    /// Marks `id` warm, as an earlier INFER of it in the same transaction does.
    pub fn warm(&mut self, precompiles: &ProvaPrecompiles, id: &ModelId) {
        let infer = precompiles.config().infer_address;
        self.transient
            .insert((infer, infer::warm_key(id)), U256::from(1));
    }

    /// Whether `id` is warm.
    pub fn is_warm(&self, precompiles: &ProvaPrecompiles, id: &ModelId) -> bool {
        let infer = precompiles.config().infer_address;
        self.transient
            .get(&(infer, infer::warm_key(id)))
            .is_some_and(|v| !v.is_zero())
    }
}

/// One call as the EVM would frame it.
#[derive(Debug, Clone, Copy)]
pub struct StandaloneCall<'a> {
    /// INFER's or MODEL_REGISTRY's address (anything else is refused).
    pub address: Address,
    /// Calldata.
    pub input: &'a [u8],
    /// Gas available to the call.
    pub gas_limit: u64,
    /// `msg.sender`.
    pub caller: Address,
    /// Whether the call carries value.
    pub transfers_value: bool,
    /// Whether it runs under STATICCALL.
    pub is_static: bool,
}

/// How a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Success: gas used, return data.
    Return {
        /// Gas used.
        gas: u64,
        /// ABI-encoded return data.
        output: Bytes,
    },
    /// A deterministic failure: gas used, ABI-encoded custom error.
    Revert {
        /// Gas used.
        gas: u64,
        /// ABI-encoded custom error.
        output: Bytes,
    },
    /// An exceptional halt: all gas of the call is consumed.
    Halt {
        /// Why (e.g. "out of gas").
        reason: &'static str,
    },
}

impl ProvaPrecompiles {
    /// Runs one call into INFER or MODEL_REGISTRY over `state`, as revm would run it with
    /// `state` as its journal (depth 1). Inference records are kept in this handle's journal if
    /// it records. A local fault (model bytes missing for a registered model, store I/O) is an
    /// error, as it is inside revm.
    pub fn call_standalone(
        &self,
        state: &mut StandaloneState,
        call: &StandaloneCall<'_>,
    ) -> Result<Outcome, ProvaError> {
        let config = self.config();
        let inner = Call {
            input: call.input,
            gas_limit: call.gas_limit,
            caller: call.caller,
            uploader: call.caller,
            transfers_value: call.transfers_value,
            is_static: call.is_static,
        };
        let exit = if call.address == config.infer_address {
            infer::run(&self.core, state, &inner)?
        } else if call.address == config.registry_address {
            registry::run(&self.core, state, &inner)?
        } else {
            return Err(ProvaError::NotAPrecompile(call.address));
        };
        Ok(match exit {
            Exit::Return(gas, output) => Outcome::Return { gas, output },
            Exit::Revert(gas, output) => Outcome::Revert { gas, output },
            Exit::OutOfGas => Outcome::Halt {
                reason: "out of gas",
            },
            Exit::Halt(reason) => Outcome::Halt { reason },
        })
    }
}

impl Host for StandaloneState {
    fn depth(&self) -> usize {
        1
    }

    fn tload(&mut self, address: Address, key: U256) -> U256 {
        self.transient
            .get(&(address, key))
            .copied()
            .unwrap_or_default()
    }

    fn tstore(&mut self, address: Address, key: U256, value: U256) {
        self.transient.insert((address, key), value);
    }

    fn sload(&mut self, address: Address, key: U256) -> Result<U256, ProvaError> {
        Ok(self
            .storage
            .get(&(address, key))
            .copied()
            .unwrap_or_default())
    }

    fn sstore(&mut self, address: Address, key: U256, value: U256) -> Result<(), ProvaError> {
        self.storage.insert((address, key), value);
        Ok(())
    }

    fn ensure_nonce(&mut self, address: Address) -> Result<(), ProvaError> {
        if !self.nonced.contains(&address) {
            self.nonced.push(address);
        }
        Ok(())
    }
}
