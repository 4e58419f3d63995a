//! Block data as the chain store and `prova verify` read it: RLP of witness records (one, and
//! a list), and of Ethereum block headers (`alloy_consensus::Header`). Raw bytes, and
//! well-formed values built from the fuzz bytes then corrupted. What decodes must re-encode
//! to the bytes it consumed.
#![no_main]

use alloy_consensus::Header;
use alloy_primitives::{Address, B64, B256, Bloom, Bytes, U256};
use alloy_rlp::{Decodable, Encodable};
use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};
use prova_chain::{InferenceRecord, inferences_root};
use prova_model::ModelId;

fn record(u: &mut Unstructured<'_>) -> Result<InferenceRecord> {
    let tx_index = u.arbitrary()?;
    let call_index = u.arbitrary()?;
    let model = ModelId(B256::from(u.arbitrary::<[u8; 32]>()?));
    let input_hash = B256::from(u.arbitrary::<[u8; 32]>()?);
    let n = u.int_in_range(0..=80)?;
    let output = Bytes::from(u.bytes(n)?.to_vec());
    Ok(InferenceRecord::claimed(
        tx_index,
        call_index,
        model,
        input_hash,
        output,
        u.arbitrary()?,
        u.arbitrary()?,
    ))
}

fn header(u: &mut Unstructured<'_>) -> Result<Header> {
    let b =
        |u: &mut Unstructured<'_>| -> Result<B256> { Ok(B256::from(u.arbitrary::<[u8; 32]>()?)) };
    Ok(Header {
        parent_hash: b(u)?,
        ommers_hash: b(u)?,
        beneficiary: Address::from(u.arbitrary::<[u8; 20]>()?),
        state_root: b(u)?,
        transactions_root: b(u)?,
        receipts_root: b(u)?,
        logs_bloom: Bloom::default(),
        difficulty: U256::from(u.arbitrary::<u64>()?),
        number: u.arbitrary()?,
        gas_limit: u.arbitrary()?,
        gas_used: u.arbitrary()?,
        timestamp: u.arbitrary()?,
        extra_data: {
            let n = u.int_in_range(0..=32)?;
            Bytes::from(u.bytes(n)?.to_vec())
        },
        mix_hash: b(u)?,
        nonce: B64::from(u.arbitrary::<[u8; 8]>()?),
        base_fee_per_gas: if u.arbitrary()? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        withdrawals_root: if u.arbitrary()? { Some(b(u)?) } else { None },
        blob_gas_used: if u.arbitrary()? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        excess_blob_gas: if u.arbitrary()? {
            Some(u.arbitrary()?)
        } else {
            None
        },
        parent_beacon_block_root: if u.arbitrary()? { Some(b(u)?) } else { None },
        requests_hash: None,
        ..Default::default()
    })
}

fn corrupt(u: &mut Unstructured<'_>, mut bytes: Vec<u8>) -> Result<Vec<u8>> {
    for _ in 0..u.int_in_range(0..=2)? {
        if bytes.is_empty() {
            break;
        }
        let at = u.int_in_range(0..=bytes.len() - 1)?;
        bytes[at] = u.arbitrary()?;
    }
    Ok(bytes)
}

fn built(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let bytes = match u.int_in_range(0..=2)? {
        0 => alloy_rlp::encode(record(u)?),
        1 => {
            let mut rs = Vec::new();
            for _ in 0..u.int_in_range(0..=4)? {
                rs.push(record(u)?);
            }
            alloy_rlp::encode(&rs)
        }
        _ => alloy_rlp::encode(header(u)?),
    };
    corrupt(u, bytes)
}

/// Decodes `T` from the front of `data`; if it decodes, the consumed bytes are its encoding.
fn round_trip<T: Decodable + Encodable>(data: &[u8]) -> Option<T> {
    let mut buf = data;
    let value = T::decode(&mut buf).ok()?;
    let used = data.len() - buf.len();
    let mut out = Vec::new();
    value.encode(&mut out);
    assert_eq!(out, &data[..used]);
    assert_eq!(value.length(), used);
    Some(value)
}

fn check(data: &[u8]) {
    round_trip::<InferenceRecord>(data);
    if let Some(rs) = round_trip::<Vec<InferenceRecord>>(data) {
        let _ = inferences_root(&rs);
    }
    if let Some(h) = round_trip::<Header>(data) {
        let _ = h.hash_slow();
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            if let Ok(bytes) = built(&mut Unstructured::new(rest)) {
                check(&bytes);
            }
        }
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
