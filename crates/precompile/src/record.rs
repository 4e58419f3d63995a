//! The inference journal: one [`InferenceRecord`] per INFER execution, in execution order.

use prova_model::ModelId;
use prova_tensor::{Tensor, hash_tensors};
use revm::primitives::{Address, B256, Bytes};
use std::sync::{Arc, OnceLock};

/// What one INFER execution consumed and produced, for the block's inference witness.
///
/// Records are kept by the provider, outside EVM state: they survive the revert of any
/// enclosing frame (replay needs every result that execution consumed) and are written under
/// STATICCALL too.
///
/// The record keeps the inputs themselves; their hash ([`Self::input_hash`]) is computed when
/// first asked for, normally when the block is sealed, so that Keccak over the input bytes
/// (~3 µs per KiB) is not on the call's path and the producer can hash a block's records in
/// parallel ([`hash_inputs`]). Under a witness feed the hash is taken during the call, because
/// it decides whether the claim applies.
#[derive(Debug, Clone)]
pub struct InferenceRecord {
    /// `msg.sender` of the call into INFER.
    pub caller: Address,
    /// The model run.
    pub model: ModelId,
    /// What came out: the canonical encoding ([`prova_tensor::encode_tensors`]) of the outputs
    /// on success, or the ABI-encoded `InferenceFailed` revert data when the runtime failed.
    pub output: Bytes,
    /// Whether the runtime succeeded.
    pub success: bool,
    /// Gas charged for the call.
    pub gas: u64,
    /// Call depth of the INFER frame (1 = called directly by the transaction); 0 when it ran
    /// as an alloy-evm `DynPrecompile`, which is not told the depth.
    pub depth: usize,
    /// Whether the call ran under STATICCALL.
    pub is_static: bool,
    /// The model inputs as the runtime took them (after `inferFixed`'s conversion).
    pub inputs: Arc<[Tensor]>,
    /// Whether the call ran under a witness feed ([`crate::ProvaPrecompiles::feed_witness`]):
    /// its output is then normally the witness's claim, not a run of the model, and is checked
    /// later by re-running the model on [`Self::inputs`].
    pub fed: bool,
    input_hash: OnceLock<B256>,
}

impl InferenceRecord {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        caller: Address,
        model: ModelId,
        inputs: Arc<[Tensor]>,
        input_hash: Option<B256>,
        output: Bytes,
        success: bool,
        gas: u64,
        depth: usize,
        is_static: bool,
        fed: bool,
    ) -> Self {
        Self {
            caller,
            model,
            output,
            success,
            gas,
            depth,
            is_static,
            inputs,
            fed,
            input_hash: input_hash.map(OnceLock::from).unwrap_or_default(),
        }
    }

    /// [`prova_tensor::hash_tensors`] of [`Self::inputs`], the witness's input hash; computed
    /// on first use and kept.
    pub fn input_hash(&self) -> B256 {
        *self.input_hash.get_or_init(|| hash_tensors(&self.inputs))
    }
}

/// Equal when every field is: the cached hash follows from the inputs.
impl PartialEq for InferenceRecord {
    fn eq(&self, other: &Self) -> bool {
        self.caller == other.caller
            && self.model == other.model
            && self.output == other.output
            && self.success == other.success
            && self.gas == other.gas
            && self.depth == other.depth
            && self.is_static == other.is_static
            && self.fed == other.fed
            && self.inputs == other.inputs
    }
}

impl Eq for InferenceRecord {}

/// Computes [`InferenceRecord::input_hash`] for every record not hashed yet, on up to
/// `threads` threads (0 or 1: on this one), splitting the work by input bytes. What a block
/// producer calls when it seals a block; each record's hash is then read for free.
pub fn hash_inputs(records: &[InferenceRecord], threads: usize) {
    let bytes = |r: &InferenceRecord| -> usize { r.inputs.iter().map(|t| t.data().len()).sum() };
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

/// An output a block's witness claims for one INFER execution, fed to the precompile so that
/// replay can execute transactions without running models ([`crate::ProvaPrecompiles::feed_witness`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessOutput {
    /// The model the witness says was run.
    pub model: ModelId,
    /// The hash of the inputs the witness says it was run on.
    pub input_hash: B256,
    /// The claimed output bytes (as [`InferenceRecord::output`]).
    pub output: Bytes,
    /// The claimed success flag.
    pub success: bool,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use prova_tensor::DType;

    fn record(seed: u8, len: usize) -> InferenceRecord {
        let data = (0..len).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let t = Tensor::new(DType::U8, vec![len as u64], data).unwrap();
        let fed = seed.is_multiple_of(3);
        InferenceRecord::new(
            Address::ZERO,
            ModelId(B256::repeat_byte(seed)),
            Arc::from(vec![t]),
            None,
            Bytes::new(),
            true,
            0,
            1,
            false,
            fed,
        )
    }

    #[test]
    fn hashing_inputs_at_sealing_gives_each_records_own_hash_on_any_thread_count() {
        // 40 records, ~1.2 MiB in all: enough for hash_inputs to split the work.
        let make = || -> Vec<_> { (1..=40).map(|s| record(s, 1000 * s as usize)).collect() };
        let expected: Vec<B256> = make().iter().map(|r| hash_tensors(&r.inputs)).collect();
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
        r.input_hash = OnceLock::from(known);
        hash_inputs(std::slice::from_ref(&r), 2);
        assert_eq!(r.input_hash(), known);
        // Equality follows the fields, not whether the hash was computed yet.
        let (a, b) = (record(9, 100), record(9, 100));
        a.input_hash();
        assert_eq!(a, b);
    }
}
