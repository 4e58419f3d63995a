//! Dev edits: anvil's `anvil_setBalance`, `anvil_setCode`, `anvil_setStorageAt`,
//! `anvil_setNonce` and `anvil_impersonateAccount`, in a form every node can replay.
//!
//! anvil changes its state in place. A Prova chain cannot: a validator re-executes every block,
//! so a change made outside a block would make the next block's state root unverifiable. Here
//! an edit is an ordinary signed transaction from the chain's **edit authority** to
//! [`DEV_EDITS_ADDRESS`], whose calldata is one of [`IDevEdits`]'s functions. The executor
//! applies it after the transaction's own (plain) execution: it sets the balance, nonce, code
//! or storage slot, or runs the impersonated call with the impersonated sender. So an edit is
//! in a block, in the transactions root, in the state root and in every export, and replays
//! verify.
//!
//! The authorities are chain state: slots 0 (edits) and 1 (impersonations) of the
//! [`DEV_EDITS_ADDRESS`] account. A genesis without that account (every non-dev genesis) has no
//! authority, and transactions to the address are plain calls to an empty account there.
//! [`Genesis::dev`](crate::Genesis::dev) sets them to the addresses of [`DEV_EDITS_KEY`] and
//! [`DEV_IMPERSONATION_KEY`], public keys: dev chains only.

use alloy_primitives::{Address, B256, Bytes, U256, address, b256};
use alloy_sol_types::sol;

/// Where dev edits are sent.
pub const DEV_EDITS_ADDRESS: Address = address!("0000000000000000000000000000000000000FDE");

/// The key that signs dev edits on dev chains. It is public, like the dev accounts' keys:
/// anyone may edit a dev chain's state, which is the point of a dev chain.
/// (keccak256("prova dev edits").)
pub const DEV_EDITS_KEY: B256 =
    b256!("c16b5fcbe309e9fbfc8bc8d31ec78614bc3eb806f1b352e4cb39e2b13296739f");

/// The key that signs impersonated transactions on dev chains (public, as [`DEV_EDITS_KEY`]).
/// Separate from the edit key so that impersonated transactions can wait in the pool for a
/// block while state edits are mined at once, each with its own nonces.
/// (keccak256("prova dev impersonation").)
pub const DEV_IMPERSONATION_KEY: B256 =
    b256!("923ce6a9b9e5285bd502041b9c1a0b5d6d27f2402de08b3ea80583a87aeeb48f");

/// The address of [`DEV_EDITS_KEY`].
pub const DEV_EDITS_AUTHORITY: Address = address!("ac15BeAD501412ca0eFACA31c8bd615C96a61D33");

/// The address of [`DEV_IMPERSONATION_KEY`].
pub const DEV_IMPERSONATION_AUTHORITY: Address =
    address!("A25f52054ebc6eE77205Eb949883Fd24F463CE4E");

/// The storage slot of [`DEV_EDITS_ADDRESS`] holding the edit authority's address (balance,
/// nonce, code and storage edits).
pub const AUTHORITY_SLOT: U256 = U256::ZERO;

/// The storage slot of [`DEV_EDITS_ADDRESS`] holding the impersonation authority's address.
pub const IMPERSONATOR_SLOT: U256 = U256::from_limbs([1, 0, 0, 0]);

sol! {
    /// What an edit transaction's calldata may say (the executor's, not a contract's, ABI).
    interface IDevEdits {
        function setBalance(address account, uint256 balance);
        function setNonce(address account, uint64 nonce);
        function setCode(address account, bytes code);
        function setStorageAt(address account, bytes32 slot, bytes32 value);
        /// A transaction from `from` at nonce `nonce`, unsigned: `to` is ignored when `create` is
        /// set.
        function impersonate(address from, address to, bool create, uint256 value, bytes data, uint64 gasLimit, uint64 nonce);
    }
}

/// The authority an account's slot-0 value names, if any.
pub(crate) fn authority_of(slot0: U256) -> Option<Address> {
    (!slot0.is_zero()).then(|| Address::from_word(B256::from(slot0)))
}

/// Slot-0 value naming `authority`.
pub fn authority_slot_value(authority: Address) -> U256 {
    U256::from_be_bytes(authority.into_word().0)
}

/// An edit's calldata.
pub fn edit_calldata(edit: &IDevEdits::IDevEditsCalls) -> Bytes {
    use alloy_sol_types::SolInterface;
    edit.abi_encode().into()
}

/// The edit `tx` makes, if it is one: sent to [`DEV_EDITS_ADDRESS`] by the authority that
/// `db` names, with calldata that decodes as an [`IDevEdits`] call.
pub(crate) fn edit_of<DB: revm::Database<Error = core::convert::Infallible>>(
    db: &mut DB,
    tx: &crate::SignedTx,
) -> Option<IDevEdits::IDevEditsCalls> {
    use alloy_consensus::Transaction;
    use alloy_sol_types::SolInterface;
    if tx.envelope.to() != Some(DEV_EDITS_ADDRESS) {
        return None;
    }
    let edit = IDevEdits::IDevEditsCalls::abi_decode(tx.envelope.input()).ok()?;
    let slot = match edit {
        IDevEdits::IDevEditsCalls::impersonate(_) => IMPERSONATOR_SLOT,
        _ => AUTHORITY_SLOT,
    };
    let Ok(value) = db.storage(DEV_EDITS_ADDRESS, slot);
    (authority_of(value) == Some(tx.sender)).then_some(edit)
}

/// The state change a balance, nonce, code or storage edit makes, on top of `db`; `None` for an
/// impersonation.
pub(crate) fn state_change<DB: revm::Database<Error = core::convert::Infallible>>(
    db: &mut DB,
    edit: &IDevEdits::IDevEditsCalls,
) -> Option<revm::state::EvmState> {
    use IDevEdits::IDevEditsCalls as E;
    use revm::{
        bytecode::Bytecode,
        primitives::KECCAK_EMPTY,
        state::{Account, EvmStorageSlot, TransactionId},
    };
    let address = match edit {
        E::setBalance(c) => c.account,
        E::setNonce(c) => c.account,
        E::setCode(c) => c.account,
        E::setStorageAt(c) => c.account,
        E::impersonate(_) => return None,
    };
    let Ok(info) = db.basic(address);
    let mut account = Account::from(info.unwrap_or_default());
    match edit {
        E::setBalance(c) => account.info.balance = c.balance,
        E::setNonce(c) => account.info.nonce = c.nonce,
        E::setCode(c) => {
            if c.code.is_empty() {
                account.info.code_hash = KECCAK_EMPTY;
                account.info.code = None;
            } else {
                let code = Bytecode::new_raw(c.code.clone());
                account.info.code_hash = code.hash_slow();
                account.info.code = Some(code);
            }
        }
        E::setStorageAt(c) => {
            let slot = U256::from_be_bytes(c.slot.0);
            let Ok(original) = db.storage(address, slot);
            let value = U256::from_be_bytes(c.value.0);
            account.storage.insert(
                slot,
                EvmStorageSlot::new_changed(original, value, TransactionId::ZERO),
            );
        }
        E::impersonate(_) => return None,
    }
    account.mark_touch();
    Some([(address, account)].into_iter().collect())
}

/// The transaction an impersonation runs: `from` as the caller at the nonce it names, at the
/// edit transaction's fee terms.
pub(crate) fn impersonated_env(
    outer: &revm::context::TxEnv,
    call: &IDevEdits::impersonateCall,
) -> revm::context::TxEnv {
    use revm::primitives::TxKind;
    revm::context::TxEnv {
        caller: call.from,
        kind: if call.create {
            TxKind::Create
        } else {
            TxKind::Call(call.to)
        },
        value: call.value,
        data: call.data.clone(),
        gas_limit: call.gasLimit,
        nonce: call.nonce,
        access_list: Default::default(),
        ..outer.clone()
    }
}

/// The impersonated call `tx` carries, if it is an impersonation edit of `authority` (for
/// receipts, which describe what ran).
pub(crate) fn impersonation(
    tx: &crate::SignedTx,
    authority: Option<Address>,
) -> Option<IDevEdits::impersonateCall> {
    use alloy_consensus::Transaction;
    use alloy_sol_types::SolCall;
    if tx.envelope.to() != Some(DEV_EDITS_ADDRESS) || Some(tx.sender) != authority {
        return None;
    }
    IDevEdits::impersonateCall::abi_decode(tx.envelope.input()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_are_the_keys_addresses() {
        assert_eq!(
            crate::address_of_key(&DEV_EDITS_KEY),
            Some(DEV_EDITS_AUTHORITY)
        );
        assert_eq!(
            crate::address_of_key(&DEV_IMPERSONATION_KEY),
            Some(DEV_IMPERSONATION_AUTHORITY)
        );
        assert_eq!(
            DEV_EDITS_KEY,
            alloy_primitives::keccak256("prova dev edits")
        );
        assert_eq!(
            DEV_IMPERSONATION_KEY,
            alloy_primitives::keccak256("prova dev impersonation")
        );
    }
}
