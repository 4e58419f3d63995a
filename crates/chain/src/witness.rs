//! The inference witness: one [`WitnessRecord`] per INFER execution of a block, in execution
//! order, and its commitment [`inferences_root`].
//!
//! ## Canonical encoding
//!
//! A record is the RLP list
//! `[tx_index, call_index, model_id, input_hash, output, gas, success]`
//! (integers as RLP scalars, `model_id` and `input_hash` as 32-byte strings, `output` as a
//! byte string, `success` as `0x01` / `0x80`). The root is the ordered trie root of the
//! records' encodings, keyed by `rlp(position)`, exactly as Ethereum's transactions root
//! (alloy-trie's `ordered_trie_root`); an empty witness has the empty trie root.

use alloy_primitives::{B256, Bytes};
use alloy_rlp::{Decodable, Encodable, Header};
use prova_model::ModelId;

/// One inference executed in a block, as the block's witness carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessRecord {
    /// Index of the transaction in the block.
    pub tx_index: u64,
    /// Index of the INFER execution within its transaction (0, 1, ...).
    pub call_index: u64,
    /// The model run.
    pub model: ModelId,
    /// `prova_tensor::hash_tensors` of the inputs.
    pub input_hash: B256,
    /// Canonical encoding of the outputs on success; ABI-encoded `InferenceFailed` otherwise.
    pub output: Bytes,
    /// Gas charged for the call.
    pub gas: u64,
    /// Whether the runtime succeeded (tells which of the two `output` holds).
    pub success: bool,
}

impl WitnessRecord {
    /// The chain's record of a precompile journal entry.
    pub fn from_precompile(
        tx_index: u64,
        call_index: u64,
        r: prova_precompile::InferenceRecord,
    ) -> Self {
        Self {
            tx_index,
            call_index,
            model: r.model,
            input_hash: r.input_hash(),
            output: r.output,
            gas: r.gas,
            success: r.success,
        }
    }

    fn payload_length(&self) -> usize {
        self.tx_index.length()
            + self.call_index.length()
            + self.model.0.length()
            + self.input_hash.length()
            + self.output.length()
            + self.gas.length()
            + self.success.length()
    }
}

impl Encodable for WitnessRecord {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        self.tx_index.encode(out);
        self.call_index.encode(out);
        self.model.0.encode(out);
        self.input_hash.encode(out);
        self.output.encode(out);
        self.gas.encode(out);
        self.success.encode(out);
    }

    fn length(&self) -> usize {
        let payload_length = self.payload_length();
        payload_length + alloy_rlp::length_of_length(payload_length)
    }
}

impl Decodable for WitnessRecord {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let header = Header::decode(buf)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let started = buf.len();
        let this = Self {
            tx_index: Decodable::decode(buf)?,
            call_index: Decodable::decode(buf)?,
            model: ModelId(Decodable::decode(buf)?),
            input_hash: Decodable::decode(buf)?,
            output: Decodable::decode(buf)?,
            gas: Decodable::decode(buf)?,
            success: Decodable::decode(buf)?,
        };
        if started - buf.len() != header.payload_length {
            return Err(alloy_rlp::Error::ListLengthMismatch {
                expected: header.payload_length,
                got: started - buf.len(),
            });
        }
        Ok(this)
    }
}

/// The header's commitment to a block's witness: the ordered trie root of the records.
pub fn inferences_root(records: &[WitnessRecord]) -> B256 {
    alloy_trie::root::ordered_trie_root(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{b256, hex};

    fn record() -> WitnessRecord {
        WitnessRecord {
            tx_index: 1,
            call_index: 0,
            model: ModelId(B256::repeat_byte(0xaa)),
            input_hash: B256::repeat_byte(0xbb),
            output: Bytes::from_static(&[1, 2, 3]),
            gas: 30_000,
            success: true,
        }
    }

    #[test]
    fn encoding_is_pinned() {
        let r = record();
        let enc = alloy_rlp::encode(&r);
        let expected = hex!(
            "f84c" "01" "80"
            "a0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "a0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
            "83010203" "827530" "01"
        );
        assert_eq!(enc, expected);
        assert_eq!(r.length(), enc.len());
        assert_eq!(WitnessRecord::decode(&mut enc.as_slice()).unwrap(), r);
    }

    proptest::proptest! {
        #[test]
        fn encoding_round_trips(
            tx_index: u64,
            call_index: u64,
            model: [u8; 32],
            input_hash: [u8; 32],
            output: Vec<u8>,
            gas: u64,
            success: bool,
        ) {
            let r = WitnessRecord {
                tx_index,
                call_index,
                model: ModelId(B256::from(model)),
                input_hash: B256::from(input_hash),
                output: output.into(),
                gas,
                success,
            };
            let enc = alloy_rlp::encode(&r);
            proptest::prop_assert_eq!(enc.len(), r.length());
            proptest::prop_assert_eq!(WitnessRecord::decode(&mut enc.as_slice()).unwrap(), r);
        }
    }

    #[test]
    fn decoding_refuses_a_bad_list_length() {
        let mut enc = alloy_rlp::encode(record());
        enc[1] += 1; // claims one more payload byte than the fields use
        enc.push(0x80);
        assert!(WitnessRecord::decode(&mut enc.as_slice()).is_err());
    }

    #[test]
    fn root_is_pinned_and_order_sensitive() {
        assert_eq!(inferences_root(&[]), alloy_trie::EMPTY_ROOT_HASH);
        let a = record();
        let b = WitnessRecord {
            call_index: 1,
            ..record()
        };
        let root = inferences_root(&[a.clone(), b.clone()]);
        assert_ne!(root, inferences_root(&[b, a.clone()]));
        assert_eq!(
            inferences_root(&[a]),
            b256!("db1888f47607456075703b418875c97551570fd5467ae4ac531582af135af4dc"),
            "the inferences root of one record is pinned"
        );
    }
}
