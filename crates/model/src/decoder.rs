//! Decoder-only language models: the step structure of a "decoder with past" export, checked
//! at deployment (docs/generation.md).
//!
//! A decoder is an ONNX graph in the layout Hugging Face's optimum exports: inputs
//! `input_ids` (int64 `[batch, sequence]`), optionally `position_ids` and `attention_mask`
//! (int64), and one `past_key_values.{i}.key` / `past_key_values.{i}.value` pair per layer
//! (float `[batch, heads, past, head_dim]`, `past` symbolic); outputs `logits` (float
//! `[batch, sequence, vocab]`) and one `present.{i}.key` / `present.{i}.value` pair per layer
//! (`[batch, heads, past + sequence, head_dim]`). Prova runs it one token per step (batch 1,
//! sequence 1), feeding each step's presents back as the next step's past: the KV cache.
//!
//! Admission checks that layout by name, dtype and rank, reads the context length from the
//! model's `max_position_embeddings` metadata, and then admits the model twice over:
//! - concretely at the longest context (past = context − 1), through the same checks as every
//!   model (limits, every computed shape bounded, the static cost): that cost, the most a step
//!   can cost, is what each token is charged;
//! - symbolically in `past`, the graph the runtime compiles, whose outputs must be
//!   `logits [1, 1, vocab]` and each `present` the past's shape with `past + 1`.

use crate::{AdmissionError, Limits};
use serde::{Deserialize, Serialize};
use tract_onnx::pb::{
    ModelProto, ValueInfoProto, tensor_shape_proto::dimension::Value, type_proto,
};
use tract_onnx::prelude::*;

/// Prefix of the past key/value inputs.
pub const PAST_PREFIX: &str = "past_key_values.";
/// Prefix of the present key/value outputs.
pub const PRESENT_PREFIX: &str = "present.";
/// Metadata key holding the context length.
pub const CONTEXT_KEY: &str = "max_position_embeddings";
/// Metadata key holding the end-of-sequence token, if the model has one.
pub const EOS_KEY: &str = "eos_token_id";

/// What one step of a decoder takes, in the model's input order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepInput {
    /// `input_ids` `[1, 1]`: the token.
    InputIds,
    /// `position_ids` `[1, 1]`: the token's position (0 for the first).
    PositionIds,
    /// `attention_mask` `[1, past + 1]`: all ones.
    AttentionMask,
    /// `past_key_values.{layer}.key` (`value: false`) or `.value`: `[1, heads, past, head_dim]`.
    Past {
        /// Layer index.
        layer: u32,
        /// Whether this is the value (else the key).
        value: bool,
        /// Heads of the cache.
        heads: u64,
        /// Width of a head.
        head_dim: u64,
    },
}

/// The step structure of an admitted decoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecoderInfo {
    /// Tokens the model scores (the last dimension of `logits`).
    pub vocab: u32,
    /// Longest sequence (prompt plus generated tokens), from `max_position_embeddings`.
    pub max_context: u32,
    /// Layers (past key/value pairs).
    pub layers: u32,
    /// The end-of-sequence token (`eos_token_id` metadata): generation stops after it.
    pub eos: Option<u32>,
    /// The step's inputs in the model's order.
    pub inputs: Vec<StepInput>,
    /// For each model output in order: `None` for `logits`, `Some(k)` for the present that
    /// becomes the next step's input `k`.
    pub outputs: Vec<Option<u32>>,
    /// Gas of one token: one step at the longest context ([`crate::GasSchedule::token_gas`]).
    pub gas_per_token: u64,
}

fn tensor_type(v: &ValueInfoProto) -> Option<&type_proto::Tensor> {
    match v.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(t) => Some(t),
    }
}

/// Whether `proto` is laid out as a decoder with past (any graph input named
/// `past_key_values.*`): such models are admitted by [`admit`], not as fixed-shape models.
pub(crate) fn is_decoder(proto: &ModelProto) -> bool {
    proto
        .graph
        .as_ref()
        .is_some_and(|g| g.input.iter().any(|v| v.name.starts_with(PAST_PREFIX)))
}

fn refuse(what: impl Into<String>) -> AdmissionError {
    AdmissionError::Decoder(what.into())
}

/// A dimension as declared: `Some(n)` fixed, `None` symbolic or absent.
fn dims(
    v: &ValueInfoProto,
    elem_type: i32,
    dtype: &str,
    rank: usize,
) -> Result<Vec<Option<u64>>, AdmissionError> {
    let t =
        tensor_type(v).ok_or_else(|| refuse(format!("input {:?} has no tensor type", v.name)))?;
    if t.elem_type != elem_type {
        return Err(refuse(format!(
            "input {:?} must be {dtype} (ONNX element type {elem_type}), not element type {}",
            v.name, t.elem_type
        )));
    }
    let shape = t
        .shape
        .as_ref()
        .ok_or_else(|| refuse(format!("input {:?} has no shape", v.name)))?;
    if shape.dim.len() != rank {
        return Err(refuse(format!(
            "input {:?} must have rank {rank}, not {}",
            v.name,
            shape.dim.len()
        )));
    }
    Ok(shape
        .dim
        .iter()
        .map(|d| match d.value {
            Some(Value::DimValue(n)) if n >= 0 => Some(n as u64),
            _ => None,
        })
        .collect())
}

/// Parses `past_key_values.{i}.key|value` / `present.{i}.key|value` after `prefix`.
fn layer_of(name: &str, prefix: &str) -> Option<(u32, bool)> {
    let rest = name.strip_prefix(prefix)?;
    let (layer, kind) = rest.split_once('.')?;
    if layer.is_empty() || (layer.len() > 1 && layer.starts_with('0')) {
        return None;
    }
    let layer: u32 = layer.parse().ok()?;
    match kind {
        "key" => Some((layer, false)),
        "value" => Some((layer, true)),
        _ => None,
    }
}

/// The decoder layout of `proto`, checked by name, dtype and rank (no tract yet).
pub(crate) struct Layout {
    pub info: DecoderInfo,
    /// The graph's output names, in order.
    output_names: Vec<String>,
}

fn metadata<'a>(proto: &'a ModelProto, key: &str) -> Option<&'a str> {
    proto
        .metadata_props
        .iter()
        .find(|p| p.key == key)
        .map(|p| p.value.as_str())
}

pub(crate) fn layout(proto: &ModelProto, limits: &Limits) -> Result<Layout, AdmissionError> {
    let graph = proto.graph.as_ref().ok_or(AdmissionError::MissingGraph)?;
    let initializers: std::collections::BTreeSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = Vec::new();
    let mut pasts = std::collections::BTreeMap::new();
    for v in graph
        .input
        .iter()
        .filter(|v| !initializers.contains(v.name.as_str()))
    {
        let input = match v.name.as_str() {
            "input_ids" | "position_ids" | "attention_mask" => {
                let d = dims(v, 7, "int64", 2)?;
                if d[0].is_some_and(|b| b != 1) {
                    return Err(refuse(format!(
                        "input {:?} has batch {}; a decoder runs one sequence (batch 1 or symbolic)",
                        v.name,
                        d[0].unwrap_or(0)
                    )));
                }
                match v.name.as_str() {
                    "input_ids" => StepInput::InputIds,
                    "position_ids" => StepInput::PositionIds,
                    _ => StepInput::AttentionMask,
                }
            }
            name => {
                let (layer, value) = layer_of(name, PAST_PREFIX).ok_or_else(|| {
                    refuse(format!(
                        "input {name:?} is not one a decoder step takes (input_ids, position_ids, \
                         attention_mask, past_key_values.N.key, past_key_values.N.value)"
                    ))
                })?;
                let d = dims(v, 1, "float32", 4)?;
                let (heads, head_dim) = match (d[1], d[3]) {
                    (Some(h), Some(w)) if h > 0 && w > 0 => (h, w),
                    _ => {
                        return Err(refuse(format!(
                            "input {name:?} must declare its heads and head width \
                             ([batch, heads, past_sequence_length, head_dim], heads and head_dim fixed)"
                        )));
                    }
                };
                if d[2].is_some() {
                    return Err(refuse(format!(
                        "input {name:?} has a fixed past length; it must be symbolic \
                         (past_sequence_length): the cache grows by one token per step"
                    )));
                }
                if pasts.insert((layer, value), inputs.len()).is_some() {
                    return Err(refuse(format!("input {name:?} appears twice")));
                }
                StepInput::Past {
                    layer,
                    value,
                    heads,
                    head_dim,
                }
            }
        };
        if inputs.contains(&input) && !matches!(input, StepInput::Past { .. }) {
            return Err(refuse(format!("input {:?} appears twice", v.name)));
        }
        inputs.push(input);
    }
    if !inputs.contains(&StepInput::InputIds) {
        return Err(refuse("a decoder needs an input named \"input_ids\""));
    }
    let layers = pasts.len() as u64 / 2;
    crate::proto::limit("decoder inputs", inputs.len() as u64, limits.max_io)?;
    for layer in 0..layers as u32 {
        for value in [false, true] {
            if !pasts.contains_key(&(layer, value)) {
                let kind = if value { "value" } else { "key" };
                return Err(refuse(format!(
                    "input \"{PAST_PREFIX}{layer}.{kind}\" is missing: layers must be numbered \
                     0..{layers} with a key and a value each"
                )));
            }
        }
    }
    if pasts.len() as u64 != layers * 2 {
        return Err(refuse(
            "past_key_values inputs must come in key/value pairs numbered from 0",
        ));
    }

    let mut outputs = Vec::new();
    let mut logits = false;
    let mut presents = std::collections::BTreeSet::new();
    for v in &graph.output {
        if v.name == "logits" {
            if logits {
                return Err(refuse("output \"logits\" appears twice"));
            }
            logits = true;
            outputs.push(None);
            continue;
        }
        let (layer, value) = layer_of(&v.name, PRESENT_PREFIX).ok_or_else(|| {
            refuse(format!(
                "output {:?} is not one a decoder step returns (logits, present.N.key, \
                 present.N.value)",
                v.name
            ))
        })?;
        let k = pasts.get(&(layer, value)).ok_or_else(|| {
            refuse(format!(
                "output {:?} has no matching past_key_values input",
                v.name
            ))
        })?;
        if !presents.insert((layer, value)) {
            return Err(refuse(format!("output {:?} appears twice", v.name)));
        }
        outputs.push(Some(*k as u32));
    }
    if !logits {
        return Err(refuse("a decoder needs an output named \"logits\""));
    }
    if presents.len() != pasts.len() {
        return Err(refuse(
            "every past_key_values input needs its present output (present.N.key, present.N.value)",
        ));
    }

    let context = metadata(proto, CONTEXT_KEY).ok_or_else(|| {
        refuse(format!(
            "a decoder must declare its context length in the model metadata \
             ({CONTEXT_KEY}, as in the Hugging Face config)"
        ))
    })?;
    let max_context: u32 = context
        .trim()
        .parse()
        .ok()
        .filter(|&c| c >= 1)
        .ok_or_else(|| {
            refuse(format!(
                "metadata {CONTEXT_KEY} is {context:?}, not a positive integer"
            ))
        })?;
    crate::proto::limit(
        "decoder context length",
        max_context.into(),
        limits.max_context,
    )?;
    let eos = match metadata(proto, EOS_KEY) {
        None => None,
        Some(e) => Some(
            e.trim()
                .parse::<u32>()
                .map_err(|_| refuse(format!("metadata {EOS_KEY} is {e:?}, not a token id")))?,
        ),
    };
    Ok(Layout {
        info: DecoderInfo {
            vocab: 0,
            max_context,
            layers: layers as u32,
            eos,
            inputs,
            outputs,
            gas_per_token: 0,
        },
        output_names: graph.output.iter().map(|v| v.name.clone()).collect(),
    })
}

impl Layout {
    /// `proto` with every input fixed to its shape at past length `past`: the concrete model
    /// admission checks and prices (past = context − 1 is the most a step can cost).
    pub(crate) fn concrete(&self, proto: &ModelProto, past: u64) -> ModelProto {
        let mut proto = proto.clone();
        let Some(graph) = proto.graph.as_mut() else {
            return proto; // no graph: admission refuses it as such
        };
        let initializers: std::collections::BTreeSet<String> =
            graph.initializer.iter().map(|t| t.name.clone()).collect();
        let inputs = graph
            .input
            .iter_mut()
            .filter(|v| !initializers.contains(&v.name));
        for (v, input) in inputs.zip(&self.info.inputs) {
            let shape = self.shape(*input, past);
            if let Some(type_proto::Value::TensorType(t)) =
                v.r#type.as_mut().and_then(|t| t.value.as_mut())
                && let Some(s) = t.shape.as_mut()
            {
                for (d, n) in s.dim.iter_mut().zip(shape) {
                    d.value = Some(Value::DimValue(n as i64));
                }
            }
        }
        proto
    }

    /// The shape of `input` at past length `past`.
    pub(crate) fn shape(&self, input: StepInput, past: u64) -> Vec<u64> {
        match input {
            StepInput::InputIds | StepInput::PositionIds => vec![1, 1],
            StepInput::AttentionMask => vec![1, past + 1],
            StepInput::Past {
                heads, head_dim, ..
            } => vec![1, heads, past, head_dim],
        }
    }

    /// Sets the symbolic facts of the step (past length `p`) on tract's model of the graph.
    pub(crate) fn set_symbolic_facts(
        &self,
        model: &mut InferenceModel,
        p: &Symbol,
    ) -> TractResult<()> {
        for (ix, input) in self.info.inputs.iter().enumerate() {
            let fact = match *input {
                StepInput::InputIds | StepInput::PositionIds => {
                    InferenceFact::dt_shape(i64::datum_type(), tvec!(1, 1))
                }
                StepInput::AttentionMask => {
                    let shape: TVec<TDim> = tvec!(1.into(), TDim::from(p.clone()) + 1);
                    InferenceFact::dt_shape(i64::datum_type(), shape)
                }
                StepInput::Past {
                    heads, head_dim, ..
                } => {
                    let shape: TVec<TDim> = tvec!(
                        1.into(),
                        (heads as usize).into(),
                        p.clone().into(),
                        (head_dim as usize).into()
                    );
                    InferenceFact::dt_shape(f32::datum_type(), shape)
                }
            };
            model.set_input_fact(ix, fact)?;
        }
        Ok(())
    }

    /// Checks the symbolic step's outputs: `logits [1, 1, vocab]`, each present its past with
    /// one more position.
    pub(crate) fn check_symbolic_outputs(
        &self,
        typed: &TypedModel,
        p: &Symbol,
        vocab: u64,
    ) -> Result<(), AdmissionError> {
        let outlets = typed
            .output_outlets()
            .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
        let names = &self.output_names;
        for ((outlet, output), name) in outlets.iter().zip(&self.info.outputs).zip(names) {
            let fact = typed
                .outlet_fact(*outlet)
                .map_err(|e| AdmissionError::Typing(format!("{e:#}")))?;
            let expected: TVec<TDim> = match output {
                None => tvec!(1.into(), 1.into(), (vocab as usize).into()),
                Some(k) => match self.info.inputs[*k as usize] {
                    StepInput::Past {
                        heads, head_dim, ..
                    } => tvec!(
                        1.into(),
                        (heads as usize).into(),
                        TDim::from(p.clone()) + 1,
                        (head_dim as usize).into()
                    ),
                    _ => unreachable!("outputs map to past inputs"),
                },
            };
            if fact.datum_type != f32::datum_type() || fact.shape.to_tvec() != expected {
                return Err(refuse(format!(
                    "output {name:?} of one step (one token, past length P) is {:?} {}, \
                     expected F32 {}: a present must be its past with the new position appended",
                    fact.datum_type,
                    fmt_shape(&fact.shape.to_tvec()),
                    fmt_shape(&expected),
                )));
            }
        }
        Ok(())
    }
}

fn fmt_shape(s: &[TDim]) -> String {
    let parts: Vec<String> = s.iter().map(|d| d.to_string()).collect();
    format!("[{}]", parts.join(", "))
}
