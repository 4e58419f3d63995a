//! The `prova_*` methods: inference witness records, models, blocks with their witness.

use crate::{
    Node, convert,
    error::{self},
    eth::{RpcResult, method, quantity, to_json},
};
use alloy_eips::BlockNumberOrTag;
use alloy_primitives::B256;
use jsonrpsee::{RpcModule, core::RegisterMethodError};
use prova_chain::{Chain, InferenceRecord};
use prova_model::ModelId;
use serde_json::{Value, json};

pub(crate) fn register(m: &mut RpcModule<Node>) -> Result<(), RegisterMethodError> {
    method(m, "prova_getInferences", |n, p| {
        let target: Value = p.one()?;
        let chain = n.chain();
        let (number, only_tx) = match target.as_str() {
            Some(s) if s.len() == 66 => {
                let hash: B256 = s.parse().map_err(|e| {
                    error::invalid_params(format!("transaction or block hash: {e}"))
                })?;
                // A transaction hash, or else a block hash.
                match chain.transaction(&hash).map_err(error::chain_error)? {
                    Some(info) => (info.block_number, Some(info.index)),
                    None => match chain.block_by_hash(&hash).map_err(error::chain_error)? {
                        Some(block) => (block.header.number, None),
                        None => return Ok(Value::Null),
                    },
                }
            }
            _ => {
                let tag: BlockNumberOrTag = serde_json::from_value(target).map_err(|e| {
                    error::invalid_params(format!(
                        "expected a block number, tag, block hash or transaction hash: {e}"
                    ))
                })?;
                (convert::tag_number(chain, tag), None)
            }
        };
        let Some(records) = chain.witness(number).map_err(error::chain_error)? else {
            return Ok(Value::Null);
        };
        let hashes = tx_hashes(chain, number)?;
        let out: Vec<Value> = records
            .iter()
            .filter(|r| only_tx.is_none_or(|i| i == r.tx_index))
            .map(|r| record_json(r, number, &hashes))
            .collect();
        Ok(Value::Array(out))
    })?;
    method(m, "prova_getModel", |n, p| {
        let id: B256 = p.one()?;
        match n.model_info(&ModelId(id))? {
            Some(info) => to_json(&*info),
            None => Ok(Value::Null),
        }
    })?;
    method(m, "prova_getGenesis", |n, _| {
        let chain = n.chain();
        match chain.store().genesis().map_err(error::chain_error)? {
            Some(genesis) => Ok(genesis.to_json()),
            None => Err(error::internal(
                "this node's data dir does not record its genesis",
            )),
        }
    })?;
    method(m, "prova_getBlockWithWitness", |n, p| {
        let tag: BlockNumberOrTag = p.one()?;
        let chain = n.chain();
        let number = convert::tag_number(chain, tag);
        match chain
            .block_with_witness(number)
            .map_err(error::chain_error)?
        {
            Some(block) => Ok(block.to_json()),
            None => Ok(Value::Null),
        }
    })?;
    Ok(())
}

fn tx_hashes(chain: &Chain, number: u64) -> RpcResult<Vec<B256>> {
    Ok(chain
        .block_by_number(number)
        .map_err(error::chain_error)?
        .map(|b| b.transactions.iter().map(|t| t.hash()).collect())
        .unwrap_or_default())
}

/// A witness record as `prova_getInferences` returns it: outputs decoded to the tensor JSON
/// form on success, the revert data otherwise. One of the record's two JSON wire forms (the
/// other is the witness of `prova_getBlockWithWitness`, [`prova_chain::BlockWithWitness`]).
fn record_json(r: &InferenceRecord, number: u64, hashes: &[B256]) -> Value {
    let tx_hash = usize::try_from(r.tx_index)
        .ok()
        .and_then(|i| hashes.get(i))
        .copied();
    let mut v = json!({
        "blockNumber": quantity(number),
        "txHash": tx_hash,
        "txIndex": quantity(r.tx_index),
        "callIndex": quantity(r.call_index),
        "modelId": r.model.0,
        "inputHash": r.input_hash(),
        "gas": quantity(r.gas),
        "success": r.success,
    });
    if r.success {
        v["outputHash"] = json!(alloy_primitives::keccak256(&r.output));
        v["outputs"] = match prova_tensor::decode_tensors(&r.output) {
            Ok(t) => serde_json::to_value(t).unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
    } else {
        v["error"] = json!(r.output);
    }
    v
}
