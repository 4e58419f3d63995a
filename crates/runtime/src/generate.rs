//! Token generation with a decoder with past (docs/generation.md).
//!
//! One token per step: the prompt is fed token by token from an empty cache, then each chosen
//! token is fed back, with `position_ids` the token's position and each step's `present`
//! outputs moved (not copied) into the next step's `past` inputs: the KV cache, so a token
//! costs one step over the cache instead of a pass over the whole sequence.

use crate::{CompiledModel, Runtime, RuntimeError, sampler};
use prova_model::{DecoderInfo, StepInput, contain_tract};
use prova_tensor::Tensor;
use tract_onnx::prelude::{
    IntoTValue, TValue, TVec, Tensor as TractTensor, TractResult, tensor2, tvec,
};
use tract_onnx::tract_core::internal::bail;

/// What a `generate` call asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateRequest {
    /// The prompt's token ids (at least one).
    pub prompt: Vec<u32>,
    /// Most tokens to generate (at least one); fewer if the model's end-of-sequence token
    /// comes first.
    pub max_new_tokens: u32,
    /// Seed of the sampler's draws.
    pub seed: u64,
    /// Temperature in thousandths; 0 is greedy.
    pub temperature_milli: u32,
    /// Sample among the `top_k` most likely tokens; 0 for all.
    pub top_k: u32,
}

impl GenerateRequest {
    /// Checks the request against the decoder: a non-empty prompt of tokens in the
    /// vocabulary, at least one new token, and prompt plus new tokens within the context.
    pub fn check(&self, decoder: &DecoderInfo) -> Result<(), String> {
        if self.prompt.is_empty() {
            return Err("the prompt is empty: give at least one token".into());
        }
        if let Some((i, t)) = self
            .prompt
            .iter()
            .enumerate()
            .find(|(_, t)| **t >= decoder.vocab)
        {
            return Err(format!(
                "prompt token {i} is {t}, outside the vocabulary of {} tokens",
                decoder.vocab
            ));
        }
        if self.max_new_tokens == 0 {
            return Err("maxNewTokens is 0: ask for at least one token".into());
        }
        let total = self.prompt.len() as u64 + u64::from(self.max_new_tokens);
        if total > u64::from(decoder.max_context) {
            return Err(format!(
                "prompt ({} tokens) plus maxNewTokens ({}) is {total}, over the model's \
                 context of {} tokens",
                self.prompt.len(),
                self.max_new_tokens,
                decoder.max_context
            ));
        }
        Ok(())
    }

    /// Most steps the request can run (prompt plus new tokens): what it is priced at.
    pub fn max_tokens(&self) -> u64 {
        self.prompt.len() as u64 + u64::from(self.max_new_tokens)
    }

    /// The request as the inference record keeps it: the prompt (i64 `[n]`) and the
    /// parameters (i64 `[4]`: maxNewTokens, seed as its two's-complement bits,
    /// temperatureMilli, topK).
    pub fn to_tensors(&self) -> Vec<Tensor> {
        let prompt: Vec<i64> = self.prompt.iter().map(|&t| i64::from(t)).collect();
        let params = [
            i64::from(self.max_new_tokens),
            self.seed as i64,
            i64::from(self.temperature_milli),
            i64::from(self.top_k),
        ];
        vec![Tensor::vector(&prompt), Tensor::vector(&params)]
    }

    /// The request [`Self::to_tensors`] encoded.
    pub fn from_tensors(tensors: &[Tensor]) -> Result<Self, String> {
        let [prompt, params] = tensors else {
            return Err(format!(
                "a generation record holds 2 tensors, not {}",
                tensors.len()
            ));
        };
        let prompt = prompt.to_vec::<i64>().map_err(|e| e.to_string())?;
        let params = params.to_vec::<i64>().map_err(|e| e.to_string())?;
        let u32_of = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| format!("{what} {v} is not a uint32"))
        };
        let [max_new, seed, temperature, top_k] = params[..] else {
            return Err("generation parameters must be 4 integers".into());
        };
        Ok(Self {
            prompt: prompt
                .into_iter()
                .map(|t| u32_of(t, "prompt token"))
                .collect::<Result<_, _>>()?,
            max_new_tokens: u32_of(max_new, "maxNewTokens")?,
            seed: seed as u64,
            temperature_milli: u32_of(temperature, "temperatureMilli")?,
            top_k: u32_of(top_k, "topK")?,
        })
    }
}

/// The generated tokens as the inference record's output: one i64 tensor `[n]`.
pub fn tokens_tensor(tokens: &[u32]) -> Tensor {
    let v: Vec<i64> = tokens.iter().map(|&t| i64::from(t)).collect();
    Tensor::vector(&v)
}

impl Runtime {
    /// Generates tokens with decoder `model` as `request` asks, calling `on_token` with each
    /// token as it is chosen and the logits it was chosen from. Returns the generated tokens (the end-of-sequence token, if the
    /// model has one and chose it, included and last).
    pub fn generate(
        &self,
        model: &CompiledModel,
        request: &GenerateRequest,
        mut on_token: impl FnMut(u32, &[f32]),
    ) -> Result<Vec<u32>, RuntimeError> {
        let decoder = model
            .info
            .decoder
            .as_ref()
            .ok_or(RuntimeError::NotDecoder {
                model: model.info.id,
            })?;
        request.check(decoder).map_err(RuntimeError::BadRequest)?;
        contain_tract(|| {
            let mut state = model.plan.spawn()?;
            let mut past: Vec<Option<TValue>> = decoder
                .inputs
                .iter()
                .map(|input| match *input {
                    StepInput::Past {
                        heads, head_dim, ..
                    } => Some(
                        TractTensor::zero::<f32>(&[1, heads as usize, 0, head_dim as usize])
                            .map(IntoTValue::into_tvalue),
                    )
                    .transpose(),
                    _ => Ok(None),
                })
                .collect::<TractResult<_>>()?;
            let mut generated = Vec::with_capacity(request.max_new_tokens as usize);
            let mut token = request.prompt[0];
            for position in 0usize.. {
                let mut inputs: TVec<TValue> = tvec!();
                for (k, input) in decoder.inputs.iter().enumerate() {
                    inputs.push(match input {
                        StepInput::InputIds => tensor2(&[[i64::from(token)]]).into_tvalue(),
                        StepInput::PositionIds => tensor2(&[[position as i64]]).into_tvalue(),
                        StepInput::AttentionMask => {
                            TractTensor::from_shape(&[1, position + 1], &vec![1i64; position + 1])?
                                .into_tvalue()
                        }
                        StepInput::Past { .. } => match past[k].take() {
                            Some(v) => v,
                            None => bail!("step {position}: past input {k} missing"),
                        },
                    });
                }
                let outputs = state.run_plan_with_eval(inputs, crate::eval_node)?;
                let mut logits = None;
                for (value, to) in outputs.into_iter().zip(&decoder.outputs) {
                    match to {
                        None => logits = Some(value),
                        Some(k) => past[*k as usize] = Some(value),
                    }
                }
                if let Some(next) = request.prompt.get(position + 1) {
                    token = *next;
                    continue;
                }
                let Some(logits) = logits else {
                    bail!("step {position} returned no logits");
                };
                let view = logits.to_plain_array_view::<f32>()?;
                let row: Vec<f32> = view.iter().copied().collect();
                if row.len() != decoder.vocab as usize {
                    bail!(
                        "step {position} returned {} logits, the vocabulary has {}",
                        row.len(),
                        decoder.vocab
                    );
                }
                let next = sampler::choose(
                    &row,
                    request.temperature_milli,
                    request.top_k,
                    request.seed,
                    generated.len() as u64,
                )
                .map_err(|e| tract_onnx::tract_core::internal::anyhow!("step {position}: {e}"))?;
                generated.push(next);
                on_token(next, &row);
                if generated.len() == request.max_new_tokens as usize || decoder.eos == Some(next) {
                    break;
                }
                token = next;
            }
            Ok(generated)
        })
        .map_err(RuntimeError::Execution)
    }
}
