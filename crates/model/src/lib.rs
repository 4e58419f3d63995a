//! # prova-model
//!
//! Model admission: ONNX bytes in, an [`AdmittedModel`] or a precise [`AdmissionError`] out.
//!
//! Admission is part of consensus. It checks, in order: the byte size; that the bytes parse as
//! ONNX; every operator against the [allowlist] (non-deterministic ops and `ZipMap`
//! get their own errors); that no tensor uses external data; input dtypes and shapes (a
//! symbolic leading batch dimension is fixed to [`Limits::batch`], any other symbolic dimension
//! is refused); parameter, node and tensor-size limits, with checked arithmetic before tract
//! sees the model; then tract types the graph with the inputs fixed, every shape it computes
//! (constant folding included) bounded before it is allocated and all tensors of one inference
//! held under a ceiling (docs/security.md), and Prova computes the static [`Cost`] (MACs,
//! bytes moved) and the gas of a call from it.
//!
//! `ModelId = keccak256(onnx bytes)`; [`ModelStore`] keeps models on disk by id.
//!
//! ```
//! let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/models/iris_logreg.onnx")).unwrap();
//! let model = prova_model::admit(&bytes, &prova_model::Limits::DEFAULT).unwrap();
//! assert_eq!(model.info.inputs[0].shape, vec![1, 4]);
//! assert_eq!(model.info.id, prova_model::ModelId::of(&bytes));
//!
//! let err = prova_model::admit(b"not a model", &prova_model::Limits::DEFAULT).unwrap_err();
//! assert!(err.to_string().starts_with("not an ONNX model"));
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

pub mod allowlist;
mod attributes;
mod cost;
pub mod decoder;
mod error;
pub mod gas;
mod info;
mod limits;
mod limits_graph;
pub mod ops;
mod proto;
mod store;

pub use cost::{Cost, NodeWork};
pub use decoder::{DecoderInfo, StepInput};
pub use error::{AdmissionError, StoreError};
pub use gas::GasSchedule;
pub use info::{ModelInfo, TensorSpec};
pub use limits::Limits;
pub use store::ModelStore;

use alloy_primitives::{B256, keccak256};
use prost::Message;
use prova_tensor::DType;
use std::{fmt, panic::AssertUnwindSafe, str::FromStr};
use tract_onnx::prelude::*;

/// A model's identity: keccak256 of its ONNX bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ModelId(pub B256);

impl ModelId {
    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(keccak256(bytes))
    }

    /// Lower-case hex without `0x`.
    pub fn hex(&self) -> String {
        alloy_primitives::hex::encode(self.0)
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", self.hex())
    }
}

impl fmt::Debug for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ModelId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        B256::from_str(s)
            .map(Self)
            .map_err(|e| format!("invalid model id {s:?}: {e}"))
    }
}

impl serde::Serialize for ModelId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ModelId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// tract's datum type for a Prova dtype.
pub fn datum_type(dtype: DType) -> DatumType {
    match dtype {
        DType::F32 => DatumType::F32,
        DType::F64 => DatumType::F64,
        DType::I64 => DatumType::I64,
        DType::I32 => DatumType::I32,
        DType::I16 => DatumType::I16,
        DType::I8 => DatumType::I8,
        DType::U8 => DatumType::U8,
        DType::Bool => DatumType::Bool,
    }
}

/// The Prova dtype a tract datum type is returned as (`TDim` becomes i64; quantized types
/// their storage type), or `None`.
pub fn dtype_of_datum(dt: DatumType) -> Option<DType> {
    Some(match dt.unquantized() {
        DatumType::F32 => DType::F32,
        DatumType::F64 => DType::F64,
        DatumType::I64 | DatumType::TDim => DType::I64,
        DatumType::I32 => DType::I32,
        DatumType::I16 => DType::I16,
        DatumType::I8 => DType::I8,
        DatumType::U8 => DType::U8,
        DatumType::Bool => DType::Bool,
        _ => return None,
    })
}

/// A model that passed admission: its facts and its typed, decluttered tract graph (inputs
/// fixed), ready for the runtime to optimise into a plan.
#[derive(Debug, Clone)]
pub struct AdmittedModel {
    /// What is known about it.
    pub info: ModelInfo,
    /// The typed graph.
    pub typed: TypedModel,
    /// The work each operator is charged, in graph order (what [`ModelInfo::cost`] sums).
    pub work: Vec<NodeWork>,
}

thread_local! {
    static CONTAINING: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Runs `f` with this thread marked as containing panics ([`panic_is_contained`]).
fn containing<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    CONTAINING.with(|c| c.set(c.get() + 1));
    let r = std::panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(c.get().saturating_sub(1)));
    r
}

/// The message a panic carried (`&str` or `String` payloads; "unknown panic" otherwise).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Whether a panic now would be one of tract's that admission or the runtime contains and
/// reports as an error (for a process-wide panic hook: such panics need no report; every
/// other panic is a bug worth logging).
pub fn panic_is_contained() -> bool {
    CONTAINING.with(|c| c.get() > 0)
}

/// Runs tract work `f`, turning its error or a panic inside it into a one-line message
/// (`tract panicked: …` for a panic). Shared by admission and the runtime.
pub fn contain_tract<T>(f: impl FnOnce() -> TractResult<T>) -> Result<T, String> {
    match containing(f) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(p) => Err(format!("tract panicked: {}", panic_message(&*p))),
    }
}

/// [`contain_tract`] for admission: the message becomes a typing error about `what`.
fn contained<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T, AdmissionError> {
    contain_tract(f).map_err(|m| AdmissionError::Typing(format!("{what}: {}", engine_failure(m))))
}

/// A [`contain_tract`] message as admission says it: a contained panic is the inference
/// engine's failed check, quoted.
fn engine_failure(m: String) -> String {
    match m.strip_prefix("tract panicked: ") {
        Some(check) => format!("the inference engine failed its check \"{check}\""),
        None => m,
    }
}

/// Nodes of the ONNX graph in `bytes` (subgraphs included), from the protobuf alone: a cheap
/// pre-count, so that deployment can be priced per node before the expensive admission work.
pub fn graph_node_count(bytes: &[u8]) -> Result<u64, AdmissionError> {
    fn count(g: &tract_onnx::pb::GraphProto) -> u64 {
        g.node.iter().fold(0u64, |acc, n| {
            let sub: u64 = n
                .attribute
                .iter()
                .map(|a| a.g.iter().chain(&a.graphs).map(count).sum::<u64>())
                .sum();
            acc.saturating_add(1).saturating_add(sub)
        })
    }
    let proto = tract_onnx::pb::ModelProto::decode(bytes)
        .map_err(|e| AdmissionError::Parse(e.to_string()))?;
    Ok(proto.graph.as_ref().map(count).unwrap_or(0))
}

/// Admits `bytes` under `limits`.
pub fn admit(bytes: &[u8], limits: &Limits) -> Result<AdmittedModel, AdmissionError> {
    let size = bytes.len() as u64;
    if size > limits.max_model_bytes {
        return Err(AdmissionError::TooLarge {
            bytes: size,
            max: limits.max_model_bytes,
        });
    }
    let proto = tract_onnx::pb::ModelProto::decode(bytes)
        .map_err(|e| AdmissionError::Parse(e.to_string()))?;
    if decoder::is_decoder(&proto) {
        return admit_decoder(bytes, &proto, limits);
    }
    admit_proto(bytes, &proto, limits)
}

/// Admits a decoder with past (module [`decoder`]): its layout, then the step at the longest
/// context through [`admit_proto`] (limits and the cost a token is charged), then the step
/// symbolic in the past length, which is what the runtime compiles.
fn admit_decoder(
    bytes: &[u8],
    proto: &tract_onnx::pb::ModelProto,
    limits: &Limits,
) -> Result<AdmittedModel, AdmissionError> {
    let layout = decoder::layout(proto, limits)?;
    let past = u64::from(layout.info.max_context) - 1;
    let mut admitted = admit_proto(bytes, &layout.concrete(proto, past), limits)?;
    let logits = layout
        .info
        .outputs
        .iter()
        .position(Option::is_none)
        .and_then(|ix| admitted.info.outputs.get(ix))
        .ok_or_else(|| AdmissionError::Decoder("the graph has no logits output".into()))?;
    let vocab = match (logits.dtype, logits.shape.as_slice()) {
        (DType::F32, &[1, 1, v]) if v >= 1 && v <= u64::from(u32::MAX) => v,
        (dtype, shape) => {
            return Err(AdmissionError::Decoder(format!(
                "output \"logits\" of one step is {dtype} {shape:?}, expected f32 [1, 1, vocab]"
            )));
        }
    };
    let (typed, p) = contained("building the decoder step", || {
        let mut model = ops::onnx().model_for_proto_model(proto)?;
        let p = model.symbols.sym("prova_past");
        layout.set_symbolic_facts(&mut model, &p)?;
        let typed = model.into_typed()?.into_decluttered()?;
        Ok((typed, p))
    })?;
    layout.check_symbolic_outputs(&typed, &p, vocab)?;
    let mut info = layout.info;
    info.vocab = vocab as u32;
    info.gas_per_token = GasSchedule::DEFAULT.token_gas(&admitted.info.cost, vocab * 4);
    admitted.info.decoder = Some(info);
    admitted.typed = typed;
    Ok(admitted)
}

/// Admits a parsed model whose inputs are all fixed (or a leading batch dimension).
fn admit_proto(
    bytes: &[u8],
    proto: &tract_onnx::pb::ModelProto,
    limits: &Limits,
) -> Result<AdmittedModel, AdmissionError> {
    let size = bytes.len() as u64;
    let facts = proto::check(proto, limits)?;
    let opset = proto
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .unwrap_or(0);

    let mut model = contained("building the graph", || {
        let mut model = ops::onnx().model_for_proto_model(proto)?;
        for (ix, spec) in facts.inputs.iter().enumerate() {
            let shape: TVec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
            model.set_input_fact(ix, InferenceFact::dt_shape(datum_type(spec.dtype), shape))?;
        }
        Ok(model)
    })?;
    // Every computed shape bounded before tract allocates it (limits_graph); a panic in the
    // tract code it drives is contained like any other.
    let bounded = |f: &mut dyn FnMut() -> Result<(), AdmissionError>| {
        containing(f).unwrap_or_else(|_| {
            Err(AdmissionError::Typing(
                "type analysis: the inference engine failed an internal check".into(),
            ))
        })
    };
    let onnx_nodes = limits_graph::onnx_nodes(proto);
    bounded(&mut || limits_graph::analyse(&mut model, limits, &onnx_nodes))?;
    let typed = contained("building the graph", || model.into_typed())?;
    bounded(&mut || limits_graph::check_typed(&typed, limits).map(drop))?;
    let typed = contained("building the graph", || typed.into_decluttered())?;
    bounded(&mut || limits_graph::check_typed(&typed, limits).map(drop))?;

    let mut outputs = Vec::with_capacity(facts.outputs.len());
    let outlets = typed
        .output_outlets()
        .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
    if outlets.len() != facts.outputs.len() {
        return Err(AdmissionError::Typing(format!(
            "model declares {} outputs, graph has {}",
            facts.outputs.len(),
            outlets.len()
        )));
    }
    for (outlet, (name, declared)) in outlets.iter().zip(&facts.outputs) {
        let fact = typed
            .outlet_fact(*outlet)
            .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
        let dtype = match declared.or_else(|| dtype_of_datum(fact.datum_type)) {
            Some(d) => d,
            None => {
                return Err(AdmissionError::Typing(format!(
                    "output {name:?} has type {:?}, which Prova cannot return",
                    fact.datum_type
                )));
            }
        };
        let shape = fact.shape.as_concrete().ok_or_else(|| {
            AdmissionError::Typing(format!(
                "output {name:?} has a symbolic shape {:?}",
                fact.shape
            ))
        })?;
        outputs.push(TensorSpec {
            name: name.clone(),
            dtype,
            shape: shape.iter().map(|&d| d as u64).collect(),
        });
    }

    let (cost, work) = cost::static_cost(&typed, facts.tree_steps, limits)?;
    let mut info = ModelInfo {
        id: ModelId::of(bytes),
        size_bytes: size,
        opset,
        inputs: facts.inputs,
        outputs,
        ops: facts.ops,
        params: facts.params,
        cost,
        gas_per_call: 0,
        gas_cold_call: 0,
        decoder: None,
    };
    info.gas_per_call = info.gas(&GasSchedule::DEFAULT, false);
    info.gas_cold_call = info.gas(&GasSchedule::DEFAULT, true);
    Ok(AdmittedModel { info, typed, work })
}
