//! MODEL_REGISTRY: `deploy(bytes)`, `exists(bytes32)`, and the staged upload of large models
//! ([`upload`](crate::upload): `beginUpload`, `appendChunk`, `commitUpload`, `cancelUpload`,
//! `uploadStatus`).
//!
//! Which models exist is chain state: one storage slot per model in the registry account
//! ([`model_slot`] = the model id, value [`REGISTERED`]), written through the journal so that
//! it reverts with its frame. The bytes live outside state, in the provider's [`ModelBytes`].
//! `deploy` and `commitUpload` register through one path, [`admit_and_register`].
//!
//! [`ModelBytes`]: crate::ModelBytes

use crate::{
    ProvaError,
    abi::{self, IModelRegistry, IModelRegistryCalls},
    host::{Call, Host},
    provider::{Core, Exit},
    upload,
};
use alloy_sol_types::SolCall;
use prova_model::ModelId;
use prova_runtime::RuntimeError;
use revm::primitives::{Address, U256};

/// Storage slot of the registry account that flags model `id` as deployed.
pub fn model_slot(id: &ModelId) -> U256 {
    U256::from_be_bytes(id.0.0)
}

/// Value of a model's slot once it is deployed (an unset slot reads zero).
pub const REGISTERED: U256 = U256::from_limbs([1, 0, 0, 0]);

/// Why a registry call stopped early: a deterministic exit, or a local fault.
pub(crate) enum Stop {
    Exit(Exit),
    Fatal(ProvaError),
}

impl From<ProvaError> for Stop {
    fn from(e: ProvaError) -> Self {
        Self::Fatal(e)
    }
}

/// A `ModelRejected(reason)` revert that charged `gas`.
pub(crate) fn rejected(gas: u64, reason: impl Into<String>) -> Stop {
    Stop::Exit(Exit::Revert(gas, abi::model_rejected(reason)))
}

/// `charge` if the call can pay it, out of gas otherwise.
pub(crate) fn pay(call: &Call<'_>, charge: u64) -> Result<u64, Stop> {
    if charge > call.gas_limit {
        return Err(Stop::Exit(Exit::OutOfGas));
    }
    Ok(charge)
}

/// Whether `id` is registered in the current (journaled) state.
pub(crate) fn is_registered<H: Host>(
    host: &mut H,
    registry: Address,
    id: &ModelId,
) -> Result<bool, ProvaError> {
    Ok(!host.sload(registry, model_slot(id))?.is_zero())
}

/// Flags `id` as registered. The account gets nonce 1 first, so that EIP-161 never clears it
/// as an empty account (which would drop its storage).
fn register<H: Host>(host: &mut H, registry: Address, id: &ModelId) -> Result<(), ProvaError> {
    host.ensure_nonce(registry)?;
    host.sstore(registry, model_slot(id), REGISTERED)
}

/// Registers `bytes` (whose id is `id`, not registered yet), as `deploy` and `commitUpload`
/// both do: charged per graph node on top of `charge` (counted from the protobuf, before
/// admission), admitted and compiled (unless this node has already), kept in the model bytes,
/// flagged registered. Returns the whole charge.
pub(crate) fn admit_and_register<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    id: &ModelId,
    bytes: &[u8],
    charge: u64,
) -> Result<u64, Stop> {
    let nodes =
        prova_model::graph_node_count(bytes).map_err(|e| rejected(charge, e.to_string()))?;
    let charge = pay(
        call,
        charge.saturating_add(p.config.registry_gas.admission(nodes)),
    )?;
    if !p.knows(id) {
        match p.runtime.load(bytes) {
            Ok(model) => {
                p.admit(bytes, &model.info)?;
            }
            Err(RuntimeError::Admission(e)) => return Err(rejected(charge, e.to_string())),
            Err(RuntimeError::Compile { reason, .. }) => {
                return Err(rejected(charge, format!("does not compile: {reason}")));
            }
            Err(source) => return Err(Stop::Fatal(ProvaError::Runtime { model: *id, source })),
        }
    }
    register(host, p.config.registry_address, id)?;
    Ok(charge)
}

/// What a registry function costs before any work (by selector and calldata length), and the
/// halt reason if it writes state (it cannot run under STATICCALL).
fn first_step(p: &Core, input: &[u8]) -> (u64, Option<&'static str>) {
    use IModelRegistry::{
        appendChunkCall, beginUploadCall, cancelUploadCall, commitUploadCall, deployCall,
    };
    let gas = p.config.registry_gas;
    let upload =
        Some("MODEL_REGISTRY's upload functions change state: not allowed in a static call");
    match input.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()) {
        Some(deployCall::SELECTOR) => (
            gas.deploy(input.len()),
            Some("MODEL_REGISTRY.deploy changes state: not allowed in a static call"),
        ),
        Some(appendChunkCall::SELECTOR) => (gas.append(input.len()), upload),
        Some(
            beginUploadCall::SELECTOR | commitUploadCall::SELECTOR | cancelUploadCall::SELECTOR,
        ) => (gas.upload_base, upload),
        _ => (gas.exists, None),
    }
}

pub(crate) fn run<H: Host>(p: &Core, host: &mut H, call: &Call<'_>) -> Result<Exit, ProvaError> {
    // Price before work.
    let (charge, writes) = first_step(p, call.input);
    if charge > call.gas_limit {
        return Ok(Exit::OutOfGas);
    }
    if let Some(why) = writes
        && call.is_static
    {
        return Ok(Exit::Halt(why));
    }
    if call.transfers_value {
        return Ok(Exit::Revert(
            charge,
            abi::model_rejected("MODEL_REGISTRY does not accept value"),
        ));
    }
    let decoded = match abi::decode_strict::<IModelRegistryCalls>(call.input) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Exit::Revert(
                charge,
                abi::model_rejected(format!("malformed calldata: {e}")),
            ));
        }
    };
    let registry = p.config.registry_address;
    let done = match decoded {
        IModelRegistryCalls::deploy(c) => deploy(p, host, call, &c.onnx, charge),
        IModelRegistryCalls::exists(c) => is_registered(host, registry, &ModelId(c.modelId))
            .map(|yes| {
                let out = IModelRegistry::existsCall::abi_encode_returns(&yes);
                Exit::Return(charge, out.into())
            })
            .map_err(Stop::Fatal),
        IModelRegistryCalls::beginUpload(c) => upload::begin(p, host, call, &c, charge),
        IModelRegistryCalls::appendChunk(c) => upload::append(p, host, call, &c, charge),
        IModelRegistryCalls::commitUpload(c) => upload::commit(p, host, call, &c, charge),
        IModelRegistryCalls::cancelUpload(c) => upload::cancel(p, host, call, &c, charge),
        IModelRegistryCalls::uploadStatus(c) => upload::status(p, host, &c, charge),
    };
    match done {
        Ok(exit) | Err(Stop::Exit(exit)) => Ok(exit),
        Err(Stop::Fatal(e)) => Err(e),
    }
}

/// `deploy(onnx)`: idempotent; the bytes travel in the calldata.
fn deploy<H: Host>(
    p: &Core,
    host: &mut H,
    call: &Call<'_>,
    onnx: &[u8],
    charge: u64,
) -> Result<Exit, Stop> {
    let id = ModelId::of(onnx);
    let charge = if is_registered(host, p.config.registry_address, &id)? {
        charge
    } else {
        admit_and_register(p, host, call, &id, onnx, charge)?
    };
    let out = IModelRegistry::deployCall::abi_encode_returns(&id.0);
    Ok(Exit::Return(charge, out.into()))
}
