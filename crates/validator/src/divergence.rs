//! [`Divergence`]: where a block and its re-execution part ways, for people (one line,
//! [`Display`](std::fmt::Display)) and for programs ([`Divergence::to_json`]).
//!
//! "Expected" is always what the validator computed by re-execution (what an honest block
//! must carry); "actual" is what the block carries.

use alloy_primitives::B256;
use prova_model::ModelId;
use prova_tensor::{Tensor, decode_tensors};
use serde_json::{Value, json};
use std::fmt;

/// The first point where a block disagrees with its re-execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// Block number.
    pub block: u64,
    /// The block's hash as given (the header's hash when no hash was given).
    pub block_hash: B256,
    /// What differs.
    pub kind: DivergenceKind,
}

/// What differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DivergenceKind {
    /// A header field (or the block hash) disagrees with what the parent and the
    /// re-execution give.
    Header {
        /// The field, as named in the JSON header (`stateRoot`, `parentHash`, …).
        field: String,
        /// What re-execution gives.
        expected: String,
        /// What the block says.
        actual: String,
    },
    /// A transaction cannot be decoded or is not valid where the block puts it.
    Transaction {
        /// Index in the block.
        tx_index: u64,
        /// Its hash (when it decodes).
        tx_hash: Option<B256>,
        /// Why.
        reason: String,
    },
    /// An inference record differs from the re-executed one.
    Inference(Box<InferenceDivergence>),
}

/// An inference record that differs from re-execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InferenceDivergence {
    /// Position of the record in the block's witness.
    pub position: usize,
    /// Index of the transaction that made the call.
    pub tx_index: u64,
    /// Hash of that transaction.
    pub tx_hash: Option<B256>,
    /// Index of the INFER call within the transaction.
    pub call_index: u64,
    /// Which part differs: `output`, `success`, `model`, `input`, `gas`, `index`
    /// (tx or call index), `missing` (re-execution made a record the block lacks) or `extra`
    /// (the block has a record re-execution did not make).
    pub field: &'static str,
    /// The model re-execution ran.
    pub expected_model: Option<ModelId>,
    /// The model the block's record names.
    pub actual_model: Option<ModelId>,
    /// keccak256 of the output bytes re-execution produced.
    pub expected_output_hash: Option<B256>,
    /// keccak256 of the output bytes the block's record carries.
    pub actual_output_hash: Option<B256>,
    /// The first differing element (or byte), when the outputs differ.
    pub first_difference: Option<String>,
    /// Anything else worth saying (e.g. that the model is not deployed at that point).
    pub detail: Option<String>,
}

impl Divergence {
    /// The JSON form: `{"block":N,"blockHash":…,"kind":"header|transaction|inference",…}`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({ "block": self.block, "blockHash": self.block_hash });
        match &self.kind {
            DivergenceKind::Header {
                field,
                expected,
                actual,
            } => {
                v["kind"] = json!("header");
                v["field"] = json!(field);
                v["expected"] = json!(expected);
                v["actual"] = json!(actual);
            }
            DivergenceKind::Transaction {
                tx_index,
                tx_hash,
                reason,
            } => {
                v["kind"] = json!("transaction");
                v["txIndex"] = json!(tx_index);
                v["txHash"] = json!(tx_hash);
                v["reason"] = json!(reason);
            }
            DivergenceKind::Inference(d) => {
                v["kind"] = json!("inference");
                v["position"] = json!(d.position);
                v["txIndex"] = json!(d.tx_index);
                v["txHash"] = json!(d.tx_hash);
                v["callIndex"] = json!(d.call_index);
                v["field"] = json!(d.field);
                v["expectedModel"] = json!(d.expected_model.map(|m| m.0));
                v["actualModel"] = json!(d.actual_model.map(|m| m.0));
                v["expectedOutputHash"] = json!(d.expected_output_hash);
                v["actualOutputHash"] = json!(d.actual_output_hash);
                v["firstDifference"] = json!(d.first_difference);
                v["detail"] = json!(d.detail);
            }
        }
        v
    }
}

fn short(h: &B256) -> String {
    let s = h.to_string();
    format!("{}…{}", &s[..10], &s[s.len() - 4..])
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "block {} ({}): ", self.block, self.block_hash)?;
        match &self.kind {
            DivergenceKind::Header {
                field,
                expected,
                actual,
            } => write!(f, "{field} is {actual}, re-execution gives {expected}"),
            DivergenceKind::Transaction {
                tx_index,
                tx_hash,
                reason,
            } => {
                write!(f, "transaction {tx_index}")?;
                if let Some(h) = tx_hash {
                    write!(f, " ({h})")?;
                }
                write!(f, ": {reason}")
            }
            DivergenceKind::Inference(d) => {
                write!(f, "inference {} (transaction {}", d.position, d.tx_index)?;
                if let Some(h) = &d.tx_hash {
                    write!(f, " {}", short(h))?;
                }
                write!(f, ", call {}", d.call_index)?;
                if let Some(m) = d.expected_model.or(d.actual_model) {
                    write!(f, ", model {}", short(&m.0))?;
                }
                write!(f, "): ")?;
                match d.field {
                    "missing" => write!(f, "the witness lacks a record re-execution made")?,
                    "extra" => write!(f, "the witness has a record re-execution did not make")?,
                    "model" => write!(
                        f,
                        "model is {}, re-execution ran {}",
                        d.actual_model.map(|m| m.0.to_string()).unwrap_or_default(),
                        d.expected_model
                            .map(|m| m.0.to_string())
                            .unwrap_or_default()
                    )?,
                    field => write!(f, "{field} differs")?,
                }
                if let (Some(e), Some(a)) = (&d.expected_output_hash, &d.actual_output_hash)
                    && e != a
                {
                    write!(f, "; output hash {a}, expected {e}")?;
                }
                if let Some(diff) = &d.first_difference {
                    write!(f, "; first difference: {diff}")?;
                }
                if let Some(detail) = &d.detail {
                    write!(f, "; {detail}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for Divergence {}

/// Where two record outputs first differ: the first differing element of the first differing
/// tensor when both decode as tensors, else the first differing byte.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    if let (Ok(e), Ok(a)) = (decode_tensors(expected), decode_tensors(actual)) {
        if e.len() != a.len() {
            return Some(format!("{} output tensors, expected {}", a.len(), e.len()));
        }
        for (k, (e, a)) in e.iter().zip(&a).enumerate() {
            if let Some(d) = tensor_difference(e, a) {
                return Some(format!("output {k} {d}"));
            }
        }
    }
    let at = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or(expected.len().min(actual.len()));
    let byte = |b: &[u8]| {
        b.get(at)
            .map_or("end".to_string(), |x| format!("0x{x:02x}"))
    };
    Some(format!(
        "byte {at}: {}, expected {}",
        byte(actual),
        byte(expected)
    ))
}

fn tensor_difference(e: &Tensor, a: &Tensor) -> Option<String> {
    if e.dtype() != a.dtype() {
        return Some(format!("dtype {}, expected {}", a.dtype(), e.dtype()));
    }
    if e.shape() != a.shape() {
        return Some(format!("shape {:?}, expected {:?}", a.shape(), e.shape()));
    }
    let i = e.first_difference(a)?;
    let width = e.dtype().size();
    let show = |t: &Tensor| {
        let bits: String = t.data()[i * width..(i + 1) * width]
            .iter()
            .rev()
            .map(|b| format!("{b:02x}"))
            .collect();
        let value = t.get_f64(i).map_or("?".into(), |v| v.to_string());
        format!("{value} (0x{bits})")
    };
    Some(format!("element {i}: {}, expected {}", show(a), show(e)))
}
