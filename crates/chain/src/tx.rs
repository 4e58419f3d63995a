//! Transactions: EIP-2718 envelopes (legacy, EIP-2930, EIP-1559) decoded from raw bytes, sender
//! recovery, the chain-id check, conversion into revm's [`TxEnv`], and signing for dev tools.

use crate::TxError;
use alloy_consensus::{
    SignableTransaction, Signed, Transaction, TxEnvelope, crypto::RecoveryError,
    transaction::SignerRecoverable,
};
use alloy_eips::{Decodable2718, Encodable2718, Typed2718};
use alloy_primitives::{Address, B256, Bytes, Signature, TxKind};
use revm::context::TxEnv;

/// A decoded transaction with its recovered sender and its raw EIP-2718 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// The envelope.
    pub envelope: TxEnvelope,
    /// Recovered sender.
    pub sender: Address,
}

impl SignedTx {
    /// Decodes raw EIP-2718 bytes (a legacy RLP list, or a type byte and payload), refuses
    /// trailing bytes and unsupported types, and recovers the sender.
    pub fn decode(raw: &[u8]) -> Result<Self, TxError> {
        let mut buf = raw;
        let envelope =
            TxEnvelope::decode_2718(&mut buf).map_err(|e| TxError::Decode(e.to_string()))?;
        if !buf.is_empty() {
            return Err(TxError::Decode(format!("{} trailing bytes", buf.len())));
        }
        Self::recover(envelope)
    }

    /// Recovers the sender of `envelope`, refusing unsupported types.
    pub fn recover(envelope: TxEnvelope) -> Result<Self, TxError> {
        match envelope {
            TxEnvelope::Legacy(_) | TxEnvelope::Eip2930(_) | TxEnvelope::Eip1559(_) => {}
            other => return Err(TxError::UnsupportedType(other.ty())),
        }
        let sender = envelope
            .recover_signer()
            .map_err(|_: RecoveryError| TxError::InvalidSignature)?;
        Ok(Self { envelope, sender })
    }

    /// The transaction hash (keccak256 of the EIP-2718 encoding).
    pub fn hash(&self) -> B256 {
        *self.envelope.tx_hash()
    }

    /// The EIP-2718 encoding.
    pub fn raw(&self) -> Bytes {
        self.envelope.encoded_2718().into()
    }

    /// Refuses a transaction signed for another chain. Legacy transactions without a chain id
    /// (pre-EIP-155) are accepted, as anvil and geth's dev mode do.
    pub fn check_chain_id(&self, chain_id: u64) -> Result<(), TxError> {
        match self.envelope.chain_id() {
            Some(got) if got != chain_id => Err(TxError::WrongChainId {
                expected: chain_id,
                got,
            }),
            _ => Ok(()),
        }
    }

    /// Price per gas actually paid under `base_fee` (EIP-1559 effective gas price).
    pub fn effective_gas_price(&self, base_fee: u64) -> u128 {
        self.envelope.effective_gas_price(Some(base_fee))
    }

    /// The contract address a creation transaction deploys to.
    pub fn created_address(&self) -> Option<Address> {
        match self.envelope.kind() {
            TxKind::Create => Some(self.sender.create(self.envelope.nonce())),
            TxKind::Call(_) => None,
        }
    }

    /// revm's view of the transaction.
    pub fn tx_env(&self) -> TxEnv {
        let tx = &self.envelope;
        TxEnv {
            tx_type: tx.ty(),
            caller: self.sender,
            gas_limit: tx.gas_limit(),
            gas_price: tx.max_fee_per_gas(),
            kind: tx.kind(),
            value: tx.value(),
            data: tx.input().clone(),
            nonce: tx.nonce(),
            chain_id: tx.chain_id(),
            access_list: tx.access_list().cloned().unwrap_or_default(),
            gas_priority_fee: tx.max_priority_fee_per_gas(),
            ..TxEnv::default()
        }
    }
}

/// Signs `tx` with the secp256k1 secret `key` (dev tools and tests; nodes never hold keys).
pub fn sign_tx<T>(tx: T, key: &B256) -> Result<TxEnvelope, TxError>
where
    T: SignableTransaction<Signature>,
    Signed<T>: Into<TxEnvelope>,
{
    let signature = sign_hash(&tx.signature_hash(), key)?;
    Ok(tx.into_signed(signature).into())
}

/// Signs the 32-byte `hash` with the secp256k1 secret `key` (recoverable; for dev accounts'
/// `personal_sign`, `eth_sign` and EIP-712 signatures).
pub fn sign_hash(hash: &B256, key: &B256) -> Result<Signature, TxError> {
    let signing_key = k256::ecdsa::SigningKey::from_slice(key.as_slice())
        .map_err(|_| TxError::InvalidSignature)?;
    let (sig, recid) = signing_key
        .sign_prehash_recoverable(hash.as_slice())
        .map_err(|_| TxError::InvalidSignature)?;
    Ok(Signature::from_signature_and_parity(sig, recid.is_y_odd()))
}

/// The address of the secp256k1 secret `key`, or `None` if it is not a valid secret.
pub fn address_of_key(key: &B256) -> Option<Address> {
    k256::ecdsa::SigningKey::from_slice(key.as_slice())
        .ok()
        .map(|k| Address::from_private_key(&k))
}
