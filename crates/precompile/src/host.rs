//! What the precompiles need from the EVM that runs them, so that one implementation serves
//! revm's [`PrecompileProvider`](revm::handler::PrecompileProvider) ([`RevmHost`]) and, with
//! the `alloy-evm` feature, alloy-evm's `PrecompilesMap`.

use crate::ProvaError;
use revm::{
    context_interface::{JournalTr, journaled_state::account::JournaledAccountTr},
    primitives::{Address, U256},
};

/// One call into a Prova precompile, as the EVM frames it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// Calldata.
    pub(crate) input: &'a [u8],
    /// Gas available to the call.
    pub(crate) gas_limit: u64,
    /// `msg.sender`.
    pub(crate) caller: Address,
    /// The account a staged upload belongs to: `msg.sender` of a CALL or STATICCALL, the
    /// calling contract (whose context runs) under DELEGATECALL or CALLCODE, so that a
    /// contract never acts on its caller's upload.
    pub(crate) uploader: Address,
    /// Whether the call moves value (CALL or CALLCODE with a non-zero value).
    pub(crate) transfers_value: bool,
    /// Whether the call runs under STATICCALL.
    pub(crate) is_static: bool,
}

/// The journaled state a Prova precompile reads and writes.
pub(crate) trait Host {
    /// Call depth of the precompile's frame (1 = called by the transaction), 0 if unknown.
    fn depth(&self) -> usize;
    /// Transient storage of `address`.
    fn tload(&mut self, address: Address, key: U256) -> U256;
    /// Writes transient storage of `address` (journaled).
    fn tstore(&mut self, address: Address, key: U256, value: U256);
    /// Storage of `address` (loading the account first).
    fn sload(&mut self, address: Address, key: U256) -> Result<U256, ProvaError>;
    /// Writes storage of `address` (journaled).
    fn sstore(&mut self, address: Address, key: U256, value: U256) -> Result<(), ProvaError>;
    /// Gives `address` nonce 1 if it has nonce 0 (journaled), so EIP-161 never clears it.
    fn ensure_nonce(&mut self, address: Address) -> Result<(), ProvaError>;
}

/// A state database failure, as a local fault.
pub(crate) fn db<E: std::fmt::Display>(e: E) -> ProvaError {
    ProvaError::Database(e.to_string())
}

/// A revm journal as a [`Host`].
pub(crate) struct RevmHost<'a, J>(pub(crate) &'a mut J);

impl<J: JournalTr> Host for RevmHost<'_, J> {
    fn depth(&self) -> usize {
        self.0.depth()
    }

    fn tload(&mut self, address: Address, key: U256) -> U256 {
        self.0.tload(address, key)
    }

    fn tstore(&mut self, address: Address, key: U256, value: U256) {
        self.0.tstore(address, key, value);
    }

    fn sload(&mut self, address: Address, key: U256) -> Result<U256, ProvaError> {
        // revm's `Journal::sload` assumes the account is loaded, and panics if it is not.
        self.0.load_account(address).map_err(db)?;
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
