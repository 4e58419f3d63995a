//! `ProvaPrecompiles::call_standalone` (what `prova shim` and the Foundry shim run) answers
//! exactly as the precompiles do inside revm: return data, revert data, gas, halts, and the
//! registry and warmth it leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_precompile::{Outcome, ProvaPrecompiles, StandaloneCall, StandaloneState};
use revm::{context::result::ExecutionResult, primitives::hardfork::SpecId};

fn standalone(runtime: Arc<Runtime>) -> ProvaPrecompiles {
    ProvaPrecompiles::new(SpecId::CANCUN, runtime)
}

fn call<'a>(address: Address, input: &'a [u8], gas_limit: u64) -> StandaloneCall<'a> {
    StandaloneCall {
        address,
        input,
        gas_limit,
        caller: Address::repeat_byte(0x11),
        transfers_value: false,
        is_static: false,
    }
}

/// The EVM's result of a top-level call, as an `Outcome` (gas without the intrinsic part).
fn as_outcome(result: &ExecutionResult, data: &[u8]) -> Outcome {
    let gas = result.tx_gas_used() - intrinsic(data);
    match result {
        ExecutionResult::Success { output, .. } => Outcome::Return {
            gas,
            output: output.data().clone(),
        },
        ExecutionResult::Revert { output, .. } => Outcome::Revert {
            gas,
            output: output.clone(),
        },
        ExecutionResult::Halt { .. } => Outcome::Halt {
            reason: "out of gas",
        },
    }
}

#[test]
fn standalone_calls_answer_as_the_evm_does() {
    let rt = runtime();
    let mut chain = Chain::with_runtime(rt.clone());
    let bytes = model_bytes("digits_mlp");
    let p = standalone(rt);
    let mut state = StandaloneState::default();

    // deploy: the same return data and gas; the model is registered afterwards.
    let deploy = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    let got = p
        .call_standalone(
            &mut state,
            &call(MODEL_REGISTRY_ADDRESS, &deploy, 30_000_000),
        )
        .unwrap();
    let on_chain = chain.call(MODEL_REGISTRY_ADDRESS, deploy.clone());
    assert_eq!(got, as_outcome(&on_chain, &deploy));
    let id = ModelId::of(&bytes);
    assert!(state.is_registered(&p, &id));

    // infer (cold, then warm), inferFixed, modelInfo, a bad input and an unknown model.
    let inputs = fixture_inputs("digits_mlp");
    let fixed = IProvaInference::inferFixedCall {
        modelId: id.0,
        elements: (0..64)
            .map(|k| alloy_primitives::I256::try_from(k * 100).unwrap())
            .collect(),
        shape: vec![1, 64],
        decimals: 4,
    }
    .abi_encode();
    let unknown = infer_data(ModelId(B256::repeat_byte(7)), &inputs);
    let mut bad = inputs.clone();
    bad[0] = Tensor::from_values(vec![1, 63], &[0f32; 63]).unwrap();
    let calls = [
        infer_data(id, &inputs),
        fixed,
        IProvaInference::modelInfoCall { modelId: id.0 }.abi_encode(),
        infer_data(id, &bad),
        unknown,
        vec![1, 2, 3],
    ];
    for data in &calls {
        let mut fresh = StandaloneState::default();
        fresh.register(&p, &id);
        let got = p
            .call_standalone(&mut fresh, &call(INFER_ADDRESS, data, 30_000_000))
            .unwrap();
        assert_eq!(
            got,
            as_outcome(&chain.call(INFER_ADDRESS, data.clone()), data)
        );
    }

    // Warmth: after one INFER the model is warm and the next call costs the warm price.
    let data = infer_data(id, &inputs);
    let info = runtime().load(&bytes).unwrap().info.clone();
    let first = p
        .call_standalone(&mut state, &call(INFER_ADDRESS, &data, 30_000_000))
        .unwrap();
    assert!(state.is_warm(&p, &id));
    let second = p
        .call_standalone(&mut state, &call(INFER_ADDRESS, &data, 30_000_000))
        .unwrap();
    let gas = |o: &Outcome| match o {
        Outcome::Return { gas, .. } => *gas,
        other => panic!("expected a return, got {other:?}"),
    };
    assert_eq!(gas(&first), info.gas_cold_call);
    assert_eq!(gas(&second), info.gas_per_call);

    // Too little gas halts before any work, as in the EVM.
    let short = p
        .call_standalone(
            &mut state,
            &call(INFER_ADDRESS, &data, info.gas_per_call - 1),
        )
        .unwrap();
    assert_eq!(
        short,
        Outcome::Halt {
            reason: "out of gas"
        }
    );

    // Anything but the two precompiles is refused.
    assert!(
        p.call_standalone(&mut state, &call(Address::ZERO, &data, 1_000_000))
            .is_err()
    );
}

/// A staged upload through standalone calls (what the Foundry shim runs, carrying the upload's
/// storage slots in and out) answers as the EVM does, and leaves the same storage.
#[test]
fn standalone_uploads_answer_as_the_evm_does() {
    use prova_precompile::{chunk_slot, upload_slot};
    use revm::database::DatabaseRef;
    let rt = runtime();
    let mut chain = Chain::with_runtime(rt.clone());
    let p = standalone(rt);
    let mut state = StandaloneState::default();
    let uploader = Address::repeat_byte(0x11);
    let bytes = model_bytes("digits_cnn");
    let id = ModelId::of(&bytes);
    let half = bytes.len() / 2;
    let calls = [
        IModelRegistry::beginUploadCall {
            modelId: id.0,
            size: bytes.len() as u64,
        }
        .abi_encode(),
        IModelRegistry::appendChunkCall {
            modelId: id.0,
            offset: 0,
            chunk: bytes[..half].to_vec().into(),
        }
        .abi_encode(),
        // refused: the wrong offset
        IModelRegistry::appendChunkCall {
            modelId: id.0,
            offset: 1,
            chunk: bytes[half..].to_vec().into(),
        }
        .abi_encode(),
        IModelRegistry::appendChunkCall {
            modelId: id.0,
            offset: half as u64,
            chunk: bytes[half..].to_vec().into(),
        }
        .abi_encode(),
        IModelRegistry::uploadStatusCall {
            uploader,
            modelId: id.0,
        }
        .abi_encode(),
        IModelRegistry::commitUploadCall { modelId: id.0 }.abi_encode(),
    ];
    let header = upload_slot(&uploader, &id);
    for data in &calls {
        // As the shim does: a revert leaves the state as it was.
        let mut next = state.clone();
        let got = p
            .call_standalone(&mut next, &call(MODEL_REGISTRY_ADDRESS, data, 30_000_000))
            .unwrap();
        let evm = chain.call_from(uploader, MODEL_REGISTRY_ADDRESS, data.clone(), 30_000_000);
        assert_eq!(got, as_outcome(&evm, data));
        if matches!(got, Outcome::Return { .. }) {
            state = next;
        }
        for key in [header, chunk_slot(header, 0), chunk_slot(header, 1)] {
            let on_chain = chain
                .evm
                .ctx
                .journaled_state
                .database
                .storage_ref(MODEL_REGISTRY_ADDRESS, key)
                .unwrap();
            let here = state
                .storage
                .get(&(MODEL_REGISTRY_ADDRESS, key))
                .copied()
                .unwrap_or_default();
            assert_eq!(here, on_chain);
        }
    }
    assert!(state.is_registered(&p, &id));
}
