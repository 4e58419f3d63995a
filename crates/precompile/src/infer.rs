//! INFER: `infer`, `inferFixed` and `modelInfo`.
//!
//! Order of work, so that gas is charged before anything costly: decode the calldata (charged
//! the schedule's base on failure), check that the model is registered (base on failure),
//! compute the gas from the model's static facts and whether it is cold in this transaction,
//! halt out-of-gas if the call cannot pay it, then convert and check the inputs (`BadInput`
//! charges the full gas), run, record.

use crate::{
    CallSite, InferenceRecord, ProvaError,
    abi::{self, IProvaInference, IProvaInferenceCalls},
    host::{Call, Host},
    provider::{Core, Exit},
    registry,
};
use alloy_sol_types::SolCall;
use prova_model::{ModelId, ModelInfo};
use prova_runtime::{CompiledModel, GenerateRequest, Runtime, RuntimeError, tokens_tensor};
use prova_tensor::{Tensor, decode_tensors, encode_tensors, hash_tensors};
use revm::primitives::{B256, Bytes, U256};
use std::sync::Arc;

/// Why a call stopped early: a deterministic exit, or a local fault.
enum Stop {
    Exit(Exit),
    Fatal(ProvaError),
}

impl From<ProvaError> for Stop {
    fn from(e: ProvaError) -> Self {
        Self::Fatal(e)
    }
}

/// A model that is registered and paid for.
struct Paid {
    id: ModelId,
    info: Arc<ModelInfo>,
    gas: u64,
}

impl Paid {
    fn bad(&self, index: usize, reason: impl Into<String>) -> Stop {
        Stop::Exit(Exit::Revert(self.gas, abi::bad_input(index, reason)))
    }
}

/// Transient-storage key (at the INFER address) marking a model warm for the transaction.
pub(crate) fn warm_key(id: &ModelId) -> U256 {
    U256::from_be_bytes(id.0.0)
}

pub(crate) fn run<H: Host>(p: &Core, host: &mut H, call: &Call<'_>) -> Result<Exit, ProvaError> {
    match dispatch(p, host, call) {
        Ok(exit) | Err(Stop::Exit(exit)) => Ok(exit),
        Err(Stop::Fatal(e)) => Err(e),
    }
}

fn dispatch<H: Host>(p: &Core, host: &mut H, call: &Call<'_>) -> Result<Exit, Stop> {
    let base = p.config.schedule.base;
    if call.gas_limit < base {
        return Ok(Exit::OutOfGas);
    }
    if call.transfers_value {
        return Ok(Exit::Revert(
            base,
            abi::bad_input(0, "INFER does not accept value"),
        ));
    }
    let decoded = match abi::decode_strict::<IProvaInferenceCalls>(call.input) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Exit::Revert(
                base,
                abi::bad_input(0, format!("malformed calldata: {e}")),
            ));
        }
    };
    match decoded {
        IProvaInferenceCalls::infer(c) => {
            let paid = pay(p, host, call, c.modelId)?;
            let mut inputs = Vec::with_capacity(c.inputs.len());
            for (i, t) in c.inputs.iter().enumerate() {
                inputs.push(abi::from_abi(t).map_err(|e| paid.bad(i, e.to_string()))?);
            }
            let (outputs, _) = execute(p, host, call, &paid, inputs, |_| paid.gas)?;
            let ret: Vec<_> = outputs.iter().map(abi::to_abi).collect();
            let out = IProvaInference::inferCall::abi_encode_returns(&ret);
            Ok(Exit::Return(paid.gas, out.into()))
        }
        IProvaInferenceCalls::inferFixed(c) => {
            let paid = pay(p, host, call, c.modelId)?;
            let spec = match paid.info.inputs.as_slice() {
                [one] => one,
                many => {
                    let n = many.len();
                    return Err(paid.bad(
                        0,
                        format!("inferFixed feeds single-input models; this one takes {n}"),
                    ));
                }
            };
            let input = abi::fixed_input(spec.dtype, &c.elements, c.shape.clone(), c.decimals)
                .map_err(|r| paid.bad(0, r))?;
            let (outputs, _) = execute(p, host, call, &paid, vec![input], |_| paid.gas)?;
            let fixed = outputs
                .iter()
                .enumerate()
                .map(|(k, t)| {
                    abi::fixed_output(t, c.decimals).map_err(|e| {
                        let reason = format!("output {k} has no fixed-point form: {e}");
                        Stop::Exit(Exit::Revert(paid.gas, abi::inference_failed(reason)))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = IProvaInference::inferFixedCall::abi_encode_returns(&fixed);
            Ok(Exit::Return(paid.gas, out.into()))
        }
        IProvaInferenceCalls::generate(c) => generate(p, host, call, c),
        IProvaInferenceCalls::decoderInfo(c) => {
            let id = ModelId(c.modelId);
            if !registry::is_registered(host, p.config.registry_address, &id)? {
                return Ok(Exit::Revert(base, abi::unknown_model(c.modelId)));
            }
            let info = p.info(&id)?;
            let Some(decoder) = &info.decoder else {
                let reason = RuntimeError::NotDecoder { model: id }.to_string();
                return Ok(Exit::Revert(base, abi::bad_input(0, reason)));
            };
            let ret = IProvaInference::decoderInfoReturn {
                vocabSize: decoder.vocab,
                maxContext: decoder.max_context,
                eosToken: decoder.eos.unwrap_or(u32::MAX),
                gasPerToken: decoder.gas_per_token,
                baseGas: base,
            };
            let out = IProvaInference::decoderInfoCall::abi_encode_returns(&ret);
            Ok(Exit::Return(base, out.into()))
        }
        IProvaInferenceCalls::modelInfo(c) => {
            let id = ModelId(c.modelId);
            if !registry::is_registered(host, p.config.registry_address, &id)? {
                return Ok(Exit::Revert(base, abi::unknown_model(c.modelId)));
            }
            let info = p.info(&id)?;
            let templates = |specs: &[prova_model::TensorSpec]| -> Vec<abi::AbiTensor> {
                specs.iter().map(|s| abi::to_abi(&s.template())).collect()
            };
            let ret = IProvaInference::modelInfoReturn {
                sizeBytes: info.size_bytes,
                macs: info.cost.macs,
                gasPerCall: info.gas(&p.config.schedule, false),
                inputTemplates: templates(&info.inputs),
                outputTemplates: templates(&info.outputs),
            };
            let out = IProvaInference::modelInfoCall::abi_encode_returns(&ret);
            Ok(Exit::Return(base, out.into()))
        }
    }
}

/// Checks that `model_id` is registered and that the call can pay for it; no work before.
fn pay<H: Host>(p: &Core, host: &mut H, call: &Call<'_>, model_id: B256) -> Result<Paid, Stop> {
    let base = p.config.schedule.base;
    let id = ModelId(model_id);
    if !registry::is_registered(host, p.config.registry_address, &id)? {
        return Err(Stop::Exit(Exit::Revert(base, abi::unknown_model(model_id))));
    }
    let info = p.info(&id)?;
    let cold = host.tload(p.config.infer_address, warm_key(&id)).is_zero();
    if info.decoder.is_some() {
        let reason = RuntimeError::IsDecoder { model: id }.to_string();
        return Err(Stop::Exit(Exit::Revert(base, abi::bad_input(0, reason))));
    }
    let gas = info.gas(&p.config.schedule, cold);
    if gas > call.gas_limit {
        return Err(Stop::Exit(Exit::OutOfGas));
    }
    Ok(Paid { id, info, gas })
}

/// `generate`: checks that `c.modelId` is a registered decoder, that the request fits it and
/// that the call can pay for every token it may run; then generates (or takes the fed
/// witness's claim) and charges the tokens run.
fn generate<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    c: IProvaInference::generateCall,
) -> Result<Exit, Stop> {
    let schedule = &p.config.schedule;
    let base = schedule.base;
    let id = ModelId(c.modelId);
    if !registry::is_registered(host, p.config.registry_address, &id)? {
        return Err(Stop::Exit(Exit::Revert(
            base,
            abi::unknown_model(c.modelId),
        )));
    }
    let info = p.info(&id)?;
    let Some(decoder) = info.decoder.clone() else {
        let reason = RuntimeError::NotDecoder { model: id }.to_string();
        return Err(Stop::Exit(Exit::Revert(base, abi::bad_input(0, reason))));
    };
    let cold = host.tload(p.config.infer_address, warm_key(&id)).is_zero();
    let request = GenerateRequest {
        prompt: c.prompt,
        max_new_tokens: c.maxNewTokens,
        seed: c.seed,
        temperature_milli: c.temperatureMilli,
        top_k: c.topK,
    };
    let checked = schedule.generation_gas(0, 0, cold);
    if let Err(reason) = request.check(&decoder) {
        if checked > call.gas_limit {
            return Err(Stop::Exit(Exit::OutOfGas));
        }
        let index = if request.prompt.is_empty() || reason.starts_with("prompt token") {
            0
        } else {
            1
        };
        return Err(Stop::Exit(Exit::Revert(
            checked,
            abi::bad_input(index, reason),
        )));
    }
    let most = schedule.generation_gas(decoder.gas_per_token, request.max_tokens(), cold);
    if most > call.gas_limit {
        return Err(Stop::Exit(Exit::OutOfGas));
    }
    let prompt_len = request.prompt.len() as u64;
    let paid = Paid {
        id,
        info,
        gas: most,
    };
    let charge = |outputs: Option<&[Tensor]>| match outputs.and_then(|o| o.first()) {
        Some(tokens) => schedule.generation_gas(
            decoder.gas_per_token,
            prompt_len + tokens.shape().first().copied().unwrap_or(0),
            cold,
        ),
        None => most,
    };
    let (outputs, gas) = execute(p, host, call, &paid, request.to_tensors(), charge)?;
    let tokens = outputs
        .first()
        .and_then(|t| t.to_vec::<i64>().ok())
        .and_then(|v| {
            v.into_iter()
                .map(|t| u32::try_from(t).ok())
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| {
            let reason = "the generation record does not hold a list of token ids";
            Stop::Exit(Exit::Revert(gas, abi::inference_failed(reason)))
        })?;
    let out = IProvaInference::generateCall::abi_encode_returns(&tokens);
    Ok(Exit::Return(gas, out.into()))
}

/// Maps the runtime's input checks to `BadInput`.
fn input_error(paid: &Paid, e: RuntimeError) -> Stop {
    match e {
        RuntimeError::InputCount { .. } => paid.bad(0, e.to_string()),
        RuntimeError::InputDType { index, .. } | RuntimeError::InputShape { index, .. } => {
            paid.bad(index, e.to_string())
        }
        source => Stop::Fatal(ProvaError::Runtime {
            model: paid.id,
            source,
        }),
    }
}

/// What INFER makes of `model` on checked `inputs`: the outputs (on success), the record's
/// output bytes (canonical encoding, or `InferenceFailed` data) and the success flag.
pub(crate) fn reference(
    p: &Core,
    model: &CompiledModel,
    inputs: &[Tensor],
) -> Result<(Option<Vec<Tensor>>, Bytes, bool), RuntimeError> {
    let result = if model.info.decoder.is_some() {
        let request = GenerateRequest::from_tensors(inputs).map_err(RuntimeError::BadRequest)?;
        p.runtime
            .generate(model, &request, |_, _| {})
            .map(|tokens| vec![tokens_tensor(&tokens)])
    } else {
        p.runtime.run(model, inputs)
    };
    match result {
        Ok(outputs) => {
            let bytes = encode_tensors(&outputs).into();
            Ok((Some(outputs), bytes, true))
        }
        Err(RuntimeError::Execution(reason)) => Ok((None, abi::inference_failed(reason), false)),
        Err(e) => Err(e),
    }
}

/// Runs the model on checked inputs (or takes the fed witness's claim for this execution, if
/// it names the same model and inputs) and appends the record, which keeps the inputs.
/// `charge` is the gas of the call given its outputs (`None` when the runtime failed): the
/// paid gas for `infer`, the tokens run for `generate`. Returns the outputs and that gas.
fn execute<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    paid: &Paid,
    inputs: Vec<Tensor>,
    charge: impl Fn(Option<&[Tensor]>) -> u64,
) -> Result<(Vec<Tensor>, u64), Stop> {
    if paid.info.decoder.is_none() {
        Runtime::check_inputs(&paid.info, &inputs).map_err(|e| input_error(paid, e))?;
    }
    // Warm for the rest of the transaction (transient storage: journaled, cleared per tx).
    host.tstore(p.config.infer_address, warm_key(&paid.id), U256::from(1));
    // Only a witness feed needs the input hash now; otherwise it waits for the block's sealing.
    let fed = p.next_witness();
    let input_hash = fed.is_some().then(|| hash_tensors(&inputs));
    let claimed = fed
        .as_ref()
        .and_then(Option::as_ref)
        .filter(|w| input_hash.is_some_and(|h| w.claims_for(&paid.id, &h)))
        .and_then(|w| match w.success {
            true => decode_tensors(&w.output)
                .ok()
                .map(|t| (Some(t), w.output.clone(), true)),
            false => Some((None, w.output.clone(), false)),
        });
    let (outputs, output, success) = match claimed {
        Some(claim) => claim,
        None => {
            let model = p.compiled(&paid.id)?;
            reference(p, &model, &inputs).map_err(|e| input_error(paid, e))?
        }
    };
    let gas = charge(outputs.as_deref());
    let result = match outputs {
        Some(outputs) => Ok((outputs, gas)),
        None => Err(Stop::Exit(Exit::Revert(gas, output.clone()))),
    };
    let site = CallSite {
        caller: call.caller,
        depth: host.depth(),
        is_static: call.is_static,
    };
    p.record(InferenceRecord::executed(
        site,
        paid.id,
        Arc::from(inputs),
        input_hash,
        output,
        success,
        gas,
        fed.is_some(),
    ));
    result
}
