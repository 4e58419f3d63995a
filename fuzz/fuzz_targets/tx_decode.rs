//! Raw transactions as `eth_sendRawTransaction` receives them (`SignedTx::decode`): raw bytes,
//! and signed legacy / EIP-2930 / EIP-1559 transactions built from the fuzz bytes, then
//! corrupted at a few offsets. What decodes must re-encode to the same bytes and keep its
//! sender.
#![no_main]

use alloy_consensus::{TxEip1559, TxEip2930, TxLegacy};
use alloy_eips::eip2930::{AccessList, AccessListItem};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};
use prova_chain::{SignedTx, sign_tx};

fn built(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let key = B256::from(U256::from(u.int_in_range(1u64..=1000)?));
    let to = if u.arbitrary()? {
        TxKind::Create
    } else {
        TxKind::Call(Address::from(u.arbitrary::<[u8; 20]>()?))
    };
    let n = u.int_in_range(0..=64)?;
    let input = Bytes::from(u.bytes(n)?.to_vec());
    let chain_id = *u.choose(&[0u64, 1, 31337, u64::MAX])?;
    let envelope = match u.int_in_range(0..=2)? {
        0 => sign_tx(
            TxLegacy {
                chain_id: if chain_id == 0 { None } else { Some(chain_id) },
                nonce: u.arbitrary()?,
                gas_price: u.arbitrary()?,
                gas_limit: u.arbitrary()?,
                to,
                value: U256::from_le_bytes(u.arbitrary::<[u8; 32]>()?),
                input,
            },
            &key,
        ),
        1 => sign_tx(
            TxEip2930 {
                chain_id,
                nonce: u.arbitrary()?,
                gas_price: u.arbitrary()?,
                gas_limit: u.arbitrary()?,
                to,
                value: U256::from_le_bytes(u.arbitrary::<[u8; 32]>()?),
                input,
                access_list: AccessList(vec![AccessListItem {
                    address: Address::from(u.arbitrary::<[u8; 20]>()?),
                    storage_keys: vec![B256::from(u.arbitrary::<[u8; 32]>()?)],
                }]),
            },
            &key,
        ),
        _ => sign_tx(
            TxEip1559 {
                chain_id,
                nonce: u.arbitrary()?,
                gas_limit: u.arbitrary()?,
                max_fee_per_gas: u.arbitrary()?,
                max_priority_fee_per_gas: u.arbitrary()?,
                to,
                value: U256::from_le_bytes(u.arbitrary::<[u8; 32]>()?),
                access_list: AccessList::default(),
                input,
            },
            &key,
        ),
    };
    let Ok(envelope) = envelope else {
        return Err(libfuzzer_sys::arbitrary::Error::IncorrectFormat);
    };
    let mut raw = SignedTx::recover(envelope)
        .map_err(|_| libfuzzer_sys::arbitrary::Error::IncorrectFormat)?
        .raw()
        .to_vec();
    for _ in 0..u.int_in_range(0..=2)? {
        if raw.is_empty() {
            break;
        }
        let at = u.int_in_range(0..=raw.len() - 1)?;
        raw[at] = u.arbitrary()?;
    }
    Ok(raw)
}

fn check(raw: &[u8]) {
    if let Ok(tx) = SignedTx::decode(raw) {
        assert_eq!(tx.raw().as_ref(), raw);
        let again = SignedTx::decode(&tx.raw()).expect("own encoding decodes");
        assert_eq!(again.sender, tx.sender);
        assert_eq!(again.hash(), tx.hash());
        let _ = tx.tx_env();
        let _ = tx.effective_gas_price(u64::MAX);
        let _ = tx.created_address();
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            if let Ok(raw) = built(&mut Unstructured::new(rest)) {
                check(&raw);
            }
        }
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
