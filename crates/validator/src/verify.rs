//! [`Validator`]: checks one block against its parent and its re-execution, and imports it
//! into its own chain only when everything agrees.
//!
//! Per block, in this order (the first disagreement is the verdict):
//! 1. **before execution**: the claimed hash is the header's hash; the header follows the head
//!    by the chain's rules ([`prova_chain::validate_child`]: parent hash, number, later
//!    timestamp, gas limit, EIP-1559 base fee); every transaction decodes (signature, chain id) and the transactions root covers them;
//! 2. **execution**: every transaction is valid where the block puts it, and the witness
//!    equals the re-executed inference records, record by record (tx and call index, model,
//!    input hash, gas, success, output bytes);
//! 3. **after execution**: every header field equals the re-executed header (gas used,
//!    receipts root, logs bloom, state root, inferences root, …).
//!
//! In [`Check::Full`] the validator runs every model itself. In [`Check::DeferOutputs`] INFER
//! takes the witness's outputs (when they name the model and inputs execution asks for) and
//! the block is imported at once; the claims come back as [`OutputClaim`]s to be checked
//! afterwards (on a thread pool, [`crate::parallel`]), and a claim that fails is the same
//! verdict sequential replay gives.

use crate::divergence::{Divergence, DivergenceKind, InferenceDivergence, first_difference};
use alloy_consensus::{Header, proofs::calculate_transaction_root};
use alloy_primitives::{B256, Bytes};
use prova_chain::{
    BlockWithWitness, Chain, ChainError, ExecutedBlock, Head, InferenceRecord, SignedTx,
};
use prova_precompile::{MODEL_REGISTRY_ADDRESS, REGISTERED, model_slot};
use serde_json::Value;
use std::sync::Arc;

/// How much of a block the validator checks by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Re-run every inference inline.
    Full,
    /// Execute on the witness's outputs; return the claims to check later.
    DeferOutputs,
}

/// A claimed inference output, with where it sits: the record re-execution made, whose
/// output is the witness's claim and whose inputs are what execution gave the model
/// ([`InferenceRecord::inputs`]), to check independently.
#[derive(Debug, Clone)]
pub struct OutputClaim {
    /// Where the claim sits (for the report), and the order of verdicts.
    pub at: Position,
    /// The record: model, inputs, claimed output and success flag.
    pub record: InferenceRecord,
}

/// A record's place: block, its position in the witness, its transaction and call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// Block number.
    pub block: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Position in the witness.
    pub position: usize,
    /// Transaction index.
    pub tx_index: u64,
    /// Transaction hash.
    pub tx_hash: Option<B256>,
    /// Call index within the transaction.
    pub call_index: u64,
}

/// Why a block was not imported: it diverges, or the validator itself failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The block disagrees with its re-execution.
    #[error("{0}")]
    Diverged(Box<Divergence>),
    /// A local fault (storage, a missing model file): nothing is known about the block.
    #[error("validator fault: {0}")]
    Fault(#[from] ChainError),
}

/// The order in which sequential checking meets divergences: block, then stage (before
/// execution, during execution, after), then transaction and call.
pub(crate) fn order(d: &Divergence) -> (u64, u8, u64, u64) {
    match &d.kind {
        DivergenceKind::Header { field, .. } if PRE_FIELDS.contains(&field.as_str()) => {
            (d.block, 0, 0, 0)
        }
        DivergenceKind::Header { .. } => (d.block, 2, 0, 0),
        DivergenceKind::Transaction { reason, .. } if reason.starts_with(DECODE) => {
            (d.block, 0, 0, 0)
        }
        DivergenceKind::Transaction { tx_index, .. } => (d.block, 1, *tx_index, 0),
        DivergenceKind::Inference(i) => (d.block, 1, i.tx_index, i.call_index + 1),
    }
}

const PRE_FIELDS: [&str; 7] = [
    "hash",
    "parentHash",
    "number",
    "timestamp",
    "gasLimit",
    "baseFeePerGas",
    "transactionsRoot",
];
const DECODE: &str = "does not decode";

/// What one verified block contained.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockStats {
    /// Transactions.
    pub txs: u64,
    /// Inference records.
    pub inferences: u64,
    /// Gas used.
    pub gas_used: u64,
}

/// Checks `block` (the child of `chain`'s head) as the module docs say and imports it into
/// `chain` if it verifies; a block that does not verify leaves `chain` as it was. With
/// [`Check::DeferOutputs`], also returns the output claims still to check.
pub fn import(
    chain: &Chain,
    block: &BlockWithWitness,
    check: Check,
) -> Result<(BlockStats, Vec<OutputClaim>), VerifyError> {
    Importer { chain }.import(block, check)
}

/// Checks `block` against `parent` (any block held in memory, not only the chain's head) as
/// the module docs say, without committing anything: what a consensus validator does before it
/// votes. Returns the executed block and the state after it (to commit once finalized, with
/// [`Chain::commit_child`], or to verify a child on), and with [`Check::DeferOutputs`] the output
/// claims still to check ([`crate::check_claim`]).
pub fn verify_child(
    chain: &Chain,
    parent: &Head,
    block: &BlockWithWitness,
    check: Check,
) -> Result<(ExecutedBlock, Arc<Head>, Vec<OutputClaim>), VerifyError> {
    let diverged = |kind| diverged(block, kind);
    let txs = pre_execution(chain, parent, block).map_err(diverged)?;
    let hashes: Vec<B256> = txs.iter().map(SignedTx::hash).collect();
    let claimed = (check == Check::DeferOutputs).then_some(block.witness.as_slice());
    let (executed, head) = chain.execute_child(parent, &block.header, txs, claimed)?;
    compare(block, &executed, &hashes).map_err(diverged)?;
    let claims = match check {
        Check::Full => Vec::new(),
        Check::DeferOutputs => claims(block, &executed, &hashes),
    };
    Ok((executed, head, claims))
}

/// The records whose outputs came from the witness, as claims to check.
fn claims(block: &BlockWithWitness, executed: &ExecutedBlock, hashes: &[B256]) -> Vec<OutputClaim> {
    executed
        .witness
        .iter()
        .enumerate()
        // Records not fed ran the model here already (the claim did not match and the
        // record was compared in full).
        .filter(|(_, r)| r.fed)
        .map(|(position, record)| OutputClaim {
            at: Position {
                block: block.header.number,
                block_hash: block.hash,
                position,
                tx_index: record.tx_index,
                tx_hash: hashes.get(record.tx_index as usize).copied(),
                call_index: record.call_index,
            },
            record: record.clone(),
        })
        .collect()
}

/// `block`'s divergence of kind `kind`.
fn diverged(block: &BlockWithWitness, kind: DivergenceKind) -> VerifyError {
    VerifyError::Diverged(Box::new(Divergence {
        block: block.header.number,
        block_hash: block.hash,
        kind,
    }))
}

/// Stage 1: hash, header linkage to `parent`, transactions (decoded, and covered by the
/// transactions root).
fn pre_execution(
    chain: &Chain,
    parent: &Head,
    block: &BlockWithWitness,
) -> Result<Vec<SignedTx>, DivergenceKind> {
    let header = &block.header;
    let computed = header.hash_slow();
    if computed != block.hash {
        return Err(header_field("hash", computed, block.hash));
    }
    prova_chain::validate_child(&parent.header, parent.hash, header).map_err(|e| {
        DivergenceKind::Header {
            field: e.field().into(),
            expected: e.expected(),
            actual: e.actual(),
        }
    })?;
    let txs = decode_txs(&block.transactions, chain.chain_id())?;
    let envelopes: Vec<_> = txs.iter().map(|t| t.envelope.clone()).collect();
    let root = calculate_transaction_root(&envelopes);
    if root != block.header.transactions_root {
        return Err(header_field(
            "transactionsRoot",
            root,
            block.header.transactions_root,
        ));
    }
    Ok(txs)
}

struct Importer<'a> {
    chain: &'a Chain,
}

impl Importer<'_> {
    fn import(
        &mut self,
        block: &BlockWithWitness,
        check: Check,
    ) -> Result<(BlockStats, Vec<OutputClaim>), VerifyError> {
        let diverged = |kind| diverged(block, kind);
        let txs = pre_execution(self.chain, &self.chain.head(), block).map_err(diverged)?;
        let hashes: Vec<B256> = txs.iter().map(SignedTx::hash).collect();
        let claimed = (check == Check::DeferOutputs).then_some(block.witness.as_slice());
        let imported = self
            .chain
            .import_block(&block.header, txs, claimed, |executed| {
                compare(block, executed, &hashes)
            })?;
        let executed = match imported {
            Ok(executed) => executed,
            Err(mut kind) => {
                self.explain(&mut kind);
                return Err(diverged(kind));
            }
        };
        let stats = BlockStats {
            txs: executed.txs.len() as u64,
            inferences: executed.witness.len() as u64,
            gas_used: executed.header.gas_used,
        };
        let claims = match check {
            Check::Full => Vec::new(),
            Check::DeferOutputs => claims(block, &executed, &hashes),
        };
        Ok((stats, claims))
    }

    /// Adds what the head state tells about an extra record's model.
    fn explain(&self, kind: &mut DivergenceKind) {
        if let DivergenceKind::Inference(d) = kind
            && d.field == "extra"
            && let Some(model) = d.actual_model
        {
            let registered = self
                .chain
                .state()
                .storage(&MODEL_REGISTRY_ADDRESS, model_slot(&model))
                == REGISTERED;
            if !registered {
                d.detail = Some(format!(
                    "model {} is not deployed before this block",
                    model.0
                ));
            }
        }
    }
}

/// Decodes raw transactions (recovering senders) and checks their chain id, in parallel
/// for large blocks (sender recovery dominates witness-only replay).
fn decode_txs(raw: &[Bytes], chain_id: u64) -> Result<Vec<SignedTx>, DivergenceKind> {
    let one = |(i, r): (usize, &Bytes)| {
        SignedTx::decode(r)
            .and_then(|t| t.check_chain_id(chain_id).map(|()| t))
            .map_err(|e| DivergenceKind::Transaction {
                tx_index: i as u64,
                tx_hash: Some(alloy_primitives::keccak256(r)),
                reason: format!("{DECODE}: {e}"),
            })
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if raw.len() < 32 || threads == 1 {
        return raw.iter().enumerate().map(one).collect();
    }
    let chunk = raw.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = raw
            .chunks(chunk)
            .enumerate()
            .map(|(c, part)| {
                s.spawn(move || {
                    part.iter()
                        .enumerate()
                        .map(|(i, r)| one((c * chunk + i, r)))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(raw.len());
        for p in parts {
            match p.join() {
                Ok(part) => out.extend(part?),
                Err(_) => {
                    return Err(DivergenceKind::Transaction {
                        tx_index: 0,
                        tx_hash: None,
                        reason: format!("{DECODE}: decoder panicked"),
                    });
                }
            }
        }
        Ok(out)
    })
}

fn header_field(field: &str, expected: impl ToString, actual: impl ToString) -> DivergenceKind {
    DivergenceKind::Header {
        field: field.into(),
        expected: expected.to_string(),
        actual: actual.to_string(),
    }
}

/// Stages 2 and 3: validity, witness, header.
fn compare(
    block: &BlockWithWitness,
    executed: &ExecutedBlock,
    hashes: &[B256],
) -> Result<(), DivergenceKind> {
    if let Some((hash, e)) = executed.rejected.first() {
        let tx_index = hashes.iter().position(|h| h == hash).unwrap_or_default() as u64;
        return Err(DivergenceKind::Transaction {
            tx_index,
            tx_hash: Some(*hash),
            reason: format!("invalid: {e}"),
        });
    }
    let n = executed.witness.len().max(block.witness.len());
    for position in 0..n {
        let expected = executed.witness.get(position);
        let actual = block.witness.get(position);
        if let Some(field) = record_difference(expected, actual) {
            let tx_index = expected.or(actual).map_or(0, |r| r.tx_index);
            let tx_hash = hashes.get(tx_index as usize).copied();
            return Err(inference_divergence(
                position, field, expected, actual, tx_hash,
            ));
        }
    }
    header_difference(&executed.header, &block.header)
}

/// Which part of two records differs first, `None` when equal.
pub(crate) fn record_difference(
    expected: Option<&InferenceRecord>,
    actual: Option<&InferenceRecord>,
) -> Option<&'static str> {
    match (expected, actual) {
        (None, None) => None,
        (Some(_), None) => Some("missing"),
        (None, Some(_)) => Some("extra"),
        (Some(e), Some(a)) => {
            if (e.tx_index, e.call_index) != (a.tx_index, a.call_index) {
                Some("index")
            } else if e.model != a.model {
                Some("model")
            } else if e.input_hash() != a.input_hash() {
                Some("input")
            } else if e.gas != a.gas {
                Some("gas")
            } else if e.success != a.success {
                Some("success")
            } else if e.output != a.output {
                Some("output")
            } else {
                None
            }
        }
    }
}

pub(crate) fn inference_divergence(
    position: usize,
    field: &'static str,
    expected: Option<&InferenceRecord>,
    actual: Option<&InferenceRecord>,
    tx_hash: Option<B256>,
) -> DivergenceKind {
    let at = expected.or(actual);
    let tx_index = at.map_or(0, |r| r.tx_index);
    let (eo, ao) = (expected.map(|r| &r.output), actual.map(|r| &r.output));
    DivergenceKind::Inference(Box::new(InferenceDivergence {
        position,
        tx_index,
        tx_hash,
        call_index: at.map_or(0, |r| r.call_index),
        field,
        expected_model: expected.map(|r| r.model),
        actual_model: actual.map(|r| r.model),
        expected_output_hash: eo.map(alloy_primitives::keccak256),
        actual_output_hash: ao.map(alloy_primitives::keccak256),
        first_difference: match (eo, ao) {
            (Some(e), Some(a)) => first_difference(e, a),
            _ => None,
        },
        detail: match (field, expected, actual) {
            ("index", Some(e), Some(a)) => Some(format!(
                "the witness record is transaction {} call {}, re-execution made transaction {} call {}",
                a.tx_index, a.call_index, e.tx_index, e.call_index
            )),
            ("input", Some(e), Some(a)) => Some(format!(
                "input hash {}, re-execution hashed {}",
                a.input_hash(),
                e.input_hash()
            )),
            ("gas", Some(e), Some(a)) => {
                Some(format!("gas {}, re-execution charged {}", a.gas, e.gas))
            }
            _ => None,
        },
    }))
}

/// The first header field that differs (in the JSON header's field order), then the hash.
fn header_difference(expected: &Header, actual: &Header) -> Result<(), DivergenceKind> {
    if expected == actual {
        return Ok(());
    }
    let (e, a) = (
        serde_json::to_value(expected).unwrap_or_default(),
        serde_json::to_value(actual).unwrap_or_default(),
    );
    // Roots first: they say most about what went wrong.
    const FIRST: [&str; 6] = [
        "gasUsed",
        "receiptsRoot",
        "logsBloom",
        "stateRoot",
        "extraData",
        "transactionsRoot",
    ];
    let fields = e
        .as_object()
        .into_iter()
        .flat_map(|o| o.keys().cloned())
        .chain(a.as_object().into_iter().flat_map(|o| o.keys().cloned()));
    let order: Vec<String> = FIRST.iter().map(|s| s.to_string()).chain(fields).collect();
    for field in order {
        let (x, y) = (e.get(&field), a.get(&field));
        if x != y {
            let show = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "absent".into(),
            };
            let name = if field == "extraData" {
                "inferencesRoot (extraData)".to_string()
            } else {
                field
            };
            return Err(DivergenceKind::Header {
                field: name,
                expected: show(x),
                actual: show(y),
            });
        }
    }
    Err(header_field(
        "hash",
        expected.hash_slow(),
        actual.hash_slow(),
    ))
}
