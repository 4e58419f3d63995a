//! [`BlockWithWitness`]: a block as it travels between nodes and validators (JSON-RPC's
//! `prova_getBlockWithWitness`, one line of `prova export`): header, raw transactions and the
//! inference witness, in one JSON object.
//!
//! ```json
//! {"number":"0x1","hash":"0x…","header":{…Ethereum header fields…},"headerRlp":"0x…",
//!  "inferencesRoot":"0x…","transactions":["0x02f8…"],
//!  "witness":[{"txIndex":"0x0","callIndex":"0x0","modelId":"0x…","inputHash":"0x…",
//!              "output":"0x…","gas":"0x…","success":true}]}
//! ```
//!
//! The witness records are [`InferenceRecord`]s' consensus fields in JSON: this is one of the
//! record's two wire forms (the other is `prova_getInferences`, which adds the block and
//! transaction and decodes the outputs); its canonical form is RLP.
//!
//! The header fields are authoritative; `headerRlp`, `number` and `inferencesRoot` are
//! conveniences that must agree with them when present. `hash` is the hash the sender
//! claims: the receiver checks it against the header.

use crate::header_inferences_root;
use alloy_consensus::Header;
use alloy_primitives::{B256, Bytes, U64};
use prova_model::ModelId;
use prova_precompile::InferenceRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A block with its witness, as exchanged between nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockWithWitness {
    /// The header.
    pub header: Header,
    /// The hash the sender gives for it.
    pub hash: B256,
    /// Raw (EIP-2718) transactions, in order.
    pub transactions: Vec<Bytes>,
    /// The inference witness.
    pub witness: Vec<InferenceRecord>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecordJson {
    tx_index: U64,
    call_index: U64,
    model_id: B256,
    input_hash: B256,
    output: Bytes,
    gas: U64,
    success: bool,
}

impl BlockWithWitness {
    /// A block whose `hash` is computed from `header`.
    pub fn new(header: Header, transactions: Vec<Bytes>, witness: Vec<InferenceRecord>) -> Self {
        let hash = header.hash_slow();
        Self {
            header,
            hash,
            transactions,
            witness,
        }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let witness: Vec<Value> = self
            .witness
            .iter()
            .map(|r| {
                serde_json::to_value(RecordJson {
                    tx_index: U64::from(r.tx_index),
                    call_index: U64::from(r.call_index),
                    model_id: r.model.0,
                    input_hash: r.input_hash(),
                    output: r.output.clone(),
                    gas: U64::from(r.gas),
                    success: r.success,
                })
                .unwrap_or_default()
            })
            .collect();
        json!({
            "number": U64::from(self.header.number),
            "hash": self.hash,
            "header": serde_json::to_value(&self.header).unwrap_or_default(),
            "headerRlp": Bytes::from(alloy_rlp::encode(&self.header)),
            "inferencesRoot": header_inferences_root(&self.header),
            "transactions": self.transactions,
            "witness": witness,
        })
    }

    /// Parses the JSON form, refusing anything malformed or inconsistent with a precise
    /// message.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let obj = v.as_object().ok_or("a block must be a JSON object")?;
        let field = |name: &str| obj.get(name).ok_or(format!("block: missing \"{name}\""));
        let header = Header::deserialize(field("header")?).map_err(|e| format!("header: {e}"))?;
        let hash = B256::deserialize(field("hash")?).map_err(|e| format!("hash: {e}"))?;
        let transactions = Vec::<Bytes>::deserialize(field("transactions")?)
            .map_err(|e| format!("transactions: {e}"))?;
        let witness = match field("witness")?.as_array() {
            None => return Err("witness: expected an array".into()),
            Some(records) => records
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let r = RecordJson::deserialize(r).map_err(|e| format!("witness[{i}]: {e}"))?;
                    Ok(InferenceRecord::claimed(
                        r.tx_index.to(),
                        r.call_index.to(),
                        ModelId(r.model_id),
                        r.input_hash,
                        r.output,
                        r.gas.to(),
                        r.success,
                    ))
                })
                .collect::<Result<Vec<_>, String>>()?,
        };
        if let Some(n) = obj.get("number") {
            let n = U64::deserialize(n).map_err(|e| format!("number: {e}"))?;
            if n.to::<u64>() != header.number {
                return Err(format!(
                    "number {n} disagrees with the header's {}",
                    header.number
                ));
            }
        }
        if let Some(rlp) = obj.get("headerRlp") {
            let rlp = Bytes::deserialize(rlp).map_err(|e| format!("headerRlp: {e}"))?;
            if rlp.as_ref() != alloy_rlp::encode(&header).as_slice() {
                return Err("headerRlp does not encode the header fields".into());
            }
        }
        if let Some(root) = obj.get("inferencesRoot") {
            let root =
                Option::<B256>::deserialize(root).map_err(|e| format!("inferencesRoot: {e}"))?;
            if root != header_inferences_root(&header) {
                return Err("inferencesRoot disagrees with the header's extraData".into());
            }
        }
        Ok(Self {
            header,
            hash,
            transactions,
            witness,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> BlockWithWitness {
        let header = Header {
            number: 3,
            gas_limit: 30_000_000,
            extra_data: B256::repeat_byte(7).0.to_vec().into(),
            base_fee_per_gas: Some(7),
            ..Header::default()
        };
        BlockWithWitness::new(
            header,
            vec![Bytes::from_static(&[2, 1])],
            vec![InferenceRecord::claimed(
                0,
                1,
                ModelId(B256::repeat_byte(1)),
                B256::repeat_byte(2),
                Bytes::from_static(&[9, 9]),
                1234,
                true,
            )],
        )
    }

    #[test]
    fn json_round_trips() {
        let b = block();
        let v = b.to_json();
        assert_eq!(v["witness"][0]["callIndex"], "0x1");
        assert_eq!(v["number"], "0x3");
        let text = serde_json::to_string(&v).unwrap();
        let back = BlockWithWitness::from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, b);
    }

    type Edit = Box<dyn Fn(&mut Value)>;

    #[test]
    fn inconsistent_or_malformed_blocks_are_refused() {
        let v = block().to_json();
        let cases: Vec<(Edit, &str)> = vec![
            (Box::new(|v| v["number"] = json!("0x4")), "disagrees"),
            (
                Box::new(|v| v["header"]["gasUsed"] = json!("0x1")),
                "headerRlp does not encode",
            ),
            (
                Box::new(|v| v["inferencesRoot"] = json!(B256::ZERO)),
                "inferencesRoot",
            ),
            (
                Box::new(|v| v["witness"][0]["gas"] = json!(-1)),
                "witness[0]",
            ),
            (
                Box::new(|v| v["witness"][0]["extra"] = json!(1)),
                "witness[0]",
            ),
            (
                Box::new(|v| v["transactions"] = json!("0x")),
                "transactions",
            ),
            (
                Box::new(|v| {
                    v.as_object_mut().unwrap().remove("hash");
                }),
                "missing \"hash\"",
            ),
        ];
        for (edit, expected) in cases {
            let mut bad = v.clone();
            edit(&mut bad);
            let err = BlockWithWitness::from_json(&bad).unwrap_err();
            assert!(err.contains(expected), "{err} should mention {expected}");
        }
        assert!(BlockWithWitness::from_json(&json!([1])).is_err());
    }
}
