//! One line of the block stream (`prova export` JSONL, `prova_getBlockWithWitness`), as
//! `prova verify` and the validator read it: `BlockWithWitness::from_json`. Raw bytes, and
//! valid lines built from the fuzz bytes then corrupted at a few offsets. A line that decodes
//! must write back to JSON that decodes to the same block.
#![no_main]

use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes};
use libfuzzer_sys::{
    arbitrary::{Result, Unstructured},
    fuzz_target,
};
use prova_chain::{BlockWithWitness, InferenceRecord};
use prova_model::ModelId;

fn built(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    let header = Header {
        number: u.int_in_range(0..=1000)?,
        gas_limit: u.arbitrary()?,
        timestamp: u.arbitrary()?,
        ..Default::default()
    };
    let mut txs = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let n = u.int_in_range(0..=40)?;
        txs.push(Bytes::from(u.bytes(n)?.to_vec()));
    }
    let mut witness = Vec::new();
    for _ in 0..u.int_in_range(0..=2)? {
        let n = u.int_in_range(0..=40)?;
        witness.push(InferenceRecord::claimed(
            u.int_in_range(0..=3)?,
            u.int_in_range(0..=3)?,
            ModelId(B256::from(u.arbitrary::<[u8; 32]>()?)),
            B256::from(u.arbitrary::<[u8; 32]>()?),
            Bytes::from(u.bytes(n)?.to_vec()),
            u.arbitrary()?,
            u.arbitrary()?,
        ));
    }
    let mut line = BlockWithWitness::new(header, txs, witness)
        .to_json()
        .to_string()
        .into_bytes();
    for _ in 0..u.int_in_range(0..=3)? {
        if line.is_empty() {
            break;
        }
        let at = u.int_in_range(0..=line.len() - 1)?;
        line[at] = *u.choose(b"0123456789abcdefx\",:{}[]-")?;
    }
    Ok(line)
}

fn check(line: &[u8]) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else {
        return;
    };
    if let Ok(block) = BlockWithWitness::from_json(&value) {
        let again = BlockWithWitness::from_json(&block.to_json()).expect("own JSON decodes");
        assert_eq!(again, block);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((mode, rest)) if mode & 1 == 1 => {
            if let Ok(line) = built(&mut Unstructured::new(rest)) {
                check(&line);
            }
        }
        Some((_, rest)) => check(rest),
        None => check(data),
    }
});
