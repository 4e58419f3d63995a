//! MODEL_REGISTRY: `deploy(bytes)` and `exists(bytes32)`.
//!
//! Which models exist is chain state: one storage slot per model in the registry account
//! ([`model_slot`] = the model id, value [`REGISTERED`]), written through the journal so that
//! it reverts with its frame. The bytes live outside state, in the provider's [`ModelBytes`].
//!
//! [`ModelBytes`]: crate::ModelBytes

use crate::{
    ProvaError,
    abi::{self, IModelRegistry, IModelRegistryCalls},
    host::{Call, Host},
    provider::{Core, Exit},
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

pub(crate) fn run<H: Host>(p: &Core, host: &mut H, call: &Call<'_>) -> Result<Exit, ProvaError> {
    let gas = p.config.registry_gas;
    let input = call.input;
    // Price before work: `deploy` by calldata length, everything else at the flat rate.
    let is_deploy = input.get(..4) == Some(&IModelRegistry::deployCall::SELECTOR[..]);
    let charge = if is_deploy {
        gas.deploy(input.len())
    } else {
        gas.exists
    };
    if charge > call.gas_limit {
        return Ok(Exit::OutOfGas);
    }
    if is_deploy && call.is_static {
        return Ok(Exit::Halt(
            "MODEL_REGISTRY.deploy changes state: not allowed in a static call",
        ));
    }
    if call.transfers_value {
        return Ok(Exit::Revert(
            charge,
            abi::model_rejected("MODEL_REGISTRY does not accept value"),
        ));
    }
    let decoded = match abi::decode_strict::<IModelRegistryCalls>(input) {
        Ok(c) => c,
        Err(e) => {
            return Ok(Exit::Revert(
                charge,
                abi::model_rejected(format!("malformed calldata: {e}")),
            ));
        }
    };
    let registry = p.config.registry_address;
    match decoded {
        IModelRegistryCalls::deploy(c) => {
            let id = ModelId::of(&c.onnx);
            let mut charge = charge;
            if !is_registered(host, registry, &id)? {
                // Second step, before admission: per graph node, from the protobuf alone.
                let nodes = match prova_model::graph_node_count(&c.onnx) {
                    Ok(n) => n,
                    Err(e) => return Ok(Exit::Revert(charge, abi::model_rejected(e.to_string()))),
                };
                charge = charge.saturating_add(gas.admission(nodes));
                if charge > call.gas_limit {
                    return Ok(Exit::OutOfGas);
                }
                if !p.knows(&id) {
                    match p.runtime.load(&c.onnx) {
                        Ok(model) => {
                            p.admit(&c.onnx, &model.info)?;
                        }
                        Err(RuntimeError::Admission(e)) => {
                            return Ok(Exit::Revert(charge, abi::model_rejected(e.to_string())));
                        }
                        Err(RuntimeError::Compile { reason, .. }) => {
                            return Ok(Exit::Revert(
                                charge,
                                abi::model_rejected(format!("does not compile: {reason}")),
                            ));
                        }
                        Err(source) => return Err(ProvaError::Runtime { model: id, source }),
                    }
                }
                register(host, registry, &id)?;
            }
            let out = IModelRegistry::deployCall::abi_encode_returns(&id.0);
            Ok(Exit::Return(charge, out.into()))
        }
        IModelRegistryCalls::exists(c) => {
            let yes = is_registered(host, registry, &ModelId(c.modelId))?;
            let out = IModelRegistry::existsCall::abi_encode_returns(&yes);
            Ok(Exit::Return(charge, out.into()))
        }
    }
}
