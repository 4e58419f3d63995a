//! The inference record: one [`InferenceRecord`] per INFER execution, in execution order.
//! The same type is the precompile's journal entry, the block's witness record (its
//! consensus fields, RLP-encoded, make the header's inferences root), the claim fed back to
//! INFER in witness replay, and the claim a validator checks.
//!
//! ## Canonical encoding
//!
//! A record is the RLP list
//! `[tx_index, call_index, model_id, input_hash, output, gas, success]`
//! (integers as RLP scalars, `model_id` and `input_hash` as 32-byte strings, `output` as a
//! byte string, `success` as `0x01` / `0x80`). Only these seven fields are consensus: the
//! call site and the inputs are what this node saw when it executed the call.

use alloy_primitives::{Address, B256, Bytes};
use alloy_rlp::{Decodable, Encodable, Header};
use prova_model::ModelId;
use prova_tensor::{Tensor, hash_tensors};
use std::sync::{Arc, OnceLock};

/// Where an INFER execution was called from, as the executing node saw it (not consensus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSite {
    /// `msg.sender` of the call into INFER.
    pub caller: Address,
    /// Call depth of the INFER frame (1 = called directly by the transaction); 0 when it ran
    /// as an alloy-evm `DynPrecompile`, which is not told the depth.
    pub depth: usize,
    /// Whether the call ran under STATICCALL.
    pub is_static: bool,
}

/// What one INFER execution consumed and produced.
///
/// Records are kept by the provider handle that ran the call, outside EVM state: they survive
/// the revert of any enclosing frame (replay needs every result that execution consumed) and
/// are written under STATICCALL too. The block executor numbers them
/// ([`Self::tx_index`], [`Self::call_index`]) when it seals the block.
///
/// A record made by execution keeps the inputs themselves ([`Self::inputs`]); their hash
/// ([`Self::input_hash`]) is computed when first asked for, normally when the block is sealed,
/// so that Keccak over the input bytes (~3 µs per KiB) is not on the call's path and the
/// producer can hash a block's records in parallel ([`hash_inputs`]). Under a witness feed the
/// hash is taken during the call, because it decides whether the claim applies. A record read
/// from a block's witness ([`Self::claimed`], RLP, JSON) has the hash and no inputs.
///
/// Equality is over the seven consensus fields.
#[derive(Debug, Clone)]
pub struct InferenceRecord {
    /// Index of the transaction in the block (set when the block is sealed).
    pub tx_index: u64,
    /// Index of the INFER execution within its transaction (0, 1, ...).
    pub call_index: u64,
    /// The model run.
    pub model: ModelId,
    /// What came out: the canonical encoding ([`prova_tensor::encode_tensors`]) of the outputs
    /// on success, or the ABI-encoded `InferenceFailed` revert data when the runtime failed.
    pub output: Bytes,
    /// Gas charged for the call.
    pub gas: u64,
    /// Whether the runtime succeeded (tells which of the two `output` holds).
    pub success: bool,
    /// Where it was called from, when this node executed it.
    pub call: Option<CallSite>,
    /// Whether the call ran under a witness feed ([`crate::ProvaPrecompiles::feed_witness`]):
    /// its output is then normally the witness's claim, not a run of the model, and is checked
    /// later by re-running the model on [`Self::inputs`].
    pub fed: bool,
    inputs: Option<Arc<[Tensor]>>,
    input_hash: OnceLock<B256>,
}

impl InferenceRecord {
    /// A record as a block's witness claims it: consensus fields only, no inputs.
    pub fn claimed(
        tx_index: u64,
        call_index: u64,
        model: ModelId,
        input_hash: B256,
        output: Bytes,
        gas: u64,
        success: bool,
    ) -> Self {
        Self {
            tx_index,
            call_index,
            model,
            output,
            gas,
            success,
            call: None,
            fed: false,
            inputs: None,
            input_hash: OnceLock::from(input_hash),
        }
    }

    /// A record of an execution on this node (indices 0 until the block is sealed).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn executed(
        call: CallSite,
        model: ModelId,
        inputs: Arc<[Tensor]>,
        input_hash: Option<B256>,
        output: Bytes,
        success: bool,
        gas: u64,
        fed: bool,
    ) -> Self {
        Self {
            tx_index: 0,
            call_index: 0,
            model,
            output,
            gas,
            success,
            call: Some(call),
            fed,
            inputs: Some(inputs),
            input_hash: input_hash.map(OnceLock::from).unwrap_or_default(),
        }
    }

    /// The model inputs as the runtime took them (after `inferFixed`'s conversion), when this
    /// node executed the call; `None` for a record read from a witness.
    pub fn inputs(&self) -> Option<&Arc<[Tensor]>> {
        self.inputs.as_ref()
    }

    /// [`prova_tensor::hash_tensors`] of the inputs, the witness's input hash; computed on
    /// first use and kept.
    pub fn input_hash(&self) -> B256 {
        *self
            .input_hash
            .get_or_init(|| hash_tensors(self.inputs.as_deref().unwrap_or_default()))
    }

    /// Replaces the input hash (a claim that names other inputs; the inputs, if any, stay).
    pub fn set_input_hash(&mut self, hash: B256) {
        self.input_hash = OnceLock::from(hash);
    }

    /// Whether `self` and `other` make the same claim about the same model and inputs (what
    /// decides whether a fed claim applies to an execution).
    pub(crate) fn claims_for(&self, model: &ModelId, input_hash: &B256) -> bool {
        self.model == *model && self.input_hash() == *input_hash
    }

    fn payload_length(&self) -> usize {
        self.tx_index.length()
            + self.call_index.length()
            + self.model.0.length()
            + self.input_hash().length()
            + self.output.length()
            + self.gas.length()
            + self.success.length()
    }
}

/// Equal when the consensus fields are (the input hash is computed if it was not yet).
impl PartialEq for InferenceRecord {
    fn eq(&self, other: &Self) -> bool {
        self.tx_index == other.tx_index
            && self.call_index == other.call_index
            && self.model == other.model
            && self.gas == other.gas
            && self.success == other.success
            && self.output == other.output
            && self.input_hash() == other.input_hash()
    }
}

impl Eq for InferenceRecord {}

impl Encodable for InferenceRecord {
    fn encode(&self, out: &mut dyn alloy_rlp::BufMut) {
        Header {
            list: true,
            payload_length: self.payload_length(),
        }
        .encode(out);
        self.tx_index.encode(out);
        self.call_index.encode(out);
        self.model.0.encode(out);
        self.input_hash().encode(out);
        self.output.encode(out);
        self.gas.encode(out);
        self.success.encode(out);
    }

    fn length(&self) -> usize {
        let payload_length = self.payload_length();
        payload_length + alloy_rlp::length_of_length(payload_length)
    }
}

impl Decodable for InferenceRecord {
    fn decode(buf: &mut &[u8]) -> alloy_rlp::Result<Self> {
        let header = Header::decode(buf)?;
        if !header.list {
            return Err(alloy_rlp::Error::UnexpectedString);
        }
        let started = buf.len();
        let tx_index = Decodable::decode(buf)?;
        let call_index = Decodable::decode(buf)?;
        let model = ModelId(Decodable::decode(buf)?);
        let input_hash = Decodable::decode(buf)?;
        let output = Decodable::decode(buf)?;
        let gas = Decodable::decode(buf)?;
        let success = Decodable::decode(buf)?;
        if started - buf.len() != header.payload_length {
            return Err(alloy_rlp::Error::ListLengthMismatch {
                expected: header.payload_length,
                got: started - buf.len(),
            });
        }
        Ok(Self::claimed(
            tx_index, call_index, model, input_hash, output, gas, success,
        ))
    }
}

/// Computes [`InferenceRecord::input_hash`] for every record not hashed yet, on up to
/// `threads` threads (0 or 1: on this one), splitting the work by input bytes. What a block
/// producer calls when it seals a block; each record's hash is then read for free.
pub fn hash_inputs(records: &[InferenceRecord], threads: usize) {
    let bytes = |r: &InferenceRecord| -> usize {
        r.inputs
            .iter()
            .flat_map(|i| i.iter())
            .map(|t| t.data().len())
            .sum()
    };
    let pending: Vec<&InferenceRecord> = records
        .iter()
        .filter(|r| r.input_hash.get().is_none())
        .collect();
    let total: usize = pending.iter().map(|r| bytes(r)).sum();
    // Below ~64 KiB (~200 µs of Keccak) a thread costs more than it saves.
    let threads = threads.min(total / (64 << 10)).max(1);
    if threads == 1 {
        pending.iter().for_each(|r| {
            r.input_hash();
        });
        return;
    }
    let share = total.div_ceil(threads);
    let mut chunks: Vec<Vec<&InferenceRecord>> = vec![Vec::new()];
    let mut filled = 0;
    for r in pending {
        if filled >= share {
            chunks.push(Vec::new());
            filled = 0;
        }
        filled += bytes(r);
        if let Some(c) = chunks.last_mut() {
            c.push(r);
        }
    }
    std::thread::scope(|s| {
        for chunk in chunks {
            s.spawn(move || {
                chunk.iter().for_each(|r| {
                    r.input_hash();
                })
            });
        }
    });
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloy_rlp::Decodable;
    use prova_tensor::DType;

    fn record(seed: u8, len: usize) -> InferenceRecord {
        let data = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let t = Tensor::new(DType::U8, vec![len as u64], data).unwrap();
        let fed = seed.is_multiple_of(3);
        let call = CallSite {
            caller: Address::ZERO,
            depth: 1,
            is_static: false,
        };
        let model = ModelId(B256::repeat_byte(seed));
        InferenceRecord::executed(
            call,
            model,
            Arc::from(vec![t]),
            None,
            Bytes::new(),
            true,
            0,
            fed,
        )
    }

    #[test]
    fn hashing_inputs_at_sealing_gives_each_records_own_hash_on_any_thread_count() {
        // 40 records, ~1.2 MiB in all: enough for hash_inputs to split the work.
        let make = || -> Vec<_> { (1..=40).map(|s| record(s, 1000 * s as usize)).collect() };
        let expected: Vec<B256> = make()
            .iter()
            .map(|r| hash_tensors(r.inputs().unwrap()))
            .collect();
        for threads in [0, 1, 2, 7] {
            let records = make();
            hash_inputs(&records, threads);
            assert!(records.iter().all(|r| r.input_hash.get().is_some()));
            let got: Vec<B256> = records.iter().map(InferenceRecord::input_hash).collect();
            assert_eq!(got, expected, "{threads} threads");
        }
        // A hash known at the call (a witness feed) is kept, not recomputed.
        let known = B256::repeat_byte(7);
        let mut r = record(5, 10);
        r.set_input_hash(known);
        hash_inputs(std::slice::from_ref(&r), 2);
        assert_eq!(r.input_hash(), known);
        // Equality follows the fields, not whether the hash was computed yet.
        let (a, b) = (record(9, 100), record(9, 100));
        a.input_hash();
        assert_eq!(a, b);
        // A claim read from a witness equals the execution it describes.
        let claim = InferenceRecord::claimed(0, 0, a.model, a.input_hash(), Bytes::new(), 0, true);
        assert_eq!(claim, b);
        assert!(claim.inputs().is_none() && claim.call.is_none());
    }

    fn claim() -> InferenceRecord {
        InferenceRecord::claimed(
            1,
            0,
            ModelId(B256::repeat_byte(0xaa)),
            B256::repeat_byte(0xbb),
            Bytes::from_static(&[1, 2, 3]),
            30_000,
            true,
        )
    }

    #[test]
    fn encoding_is_pinned() {
        let r = claim();
        let enc = alloy_rlp::encode(&r);
        let expected = alloy_primitives::hex!(
            "f84c" "01" "80"
            "a0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "a0bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
            "83010203" "827530" "01"
        );
        assert_eq!(enc, expected);
        assert_eq!(r.length(), enc.len());
        assert_eq!(InferenceRecord::decode(&mut enc.as_slice()).unwrap(), r);
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
            let r = InferenceRecord::claimed(
                tx_index,
                call_index,
                ModelId(B256::from(model)),
                B256::from(input_hash),
                output.into(),
                gas,
                success,
            );
            let enc = alloy_rlp::encode(&r);
            proptest::prop_assert_eq!(enc.len(), r.length());
            proptest::prop_assert_eq!(InferenceRecord::decode(&mut enc.as_slice()).unwrap(), r);
        }
    }

    #[test]
    fn decoding_refuses_a_bad_list_length() {
        let mut enc = alloy_rlp::encode(claim());
        enc[1] += 1; // claims one more payload byte than the fields use
        enc.push(0x80);
        assert!(InferenceRecord::decode(&mut enc.as_slice()).is_err());
    }
}
