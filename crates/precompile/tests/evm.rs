//! INFER and MODEL_REGISTRY inside a real revm EVM (Cancun, in-memory database): deployment by
//! transaction, the example contracts, gas, STATICCALL, DELEGATECALL, reverts and the journal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn digit_classifier_matches_runtime_bit_for_bit() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let (id, _) = chain.deploy_model(&bytes);
    assert_eq!(id, ModelId::of(&bytes));
    assert!(chain.exists(id));

    let classifier = chain.deploy_contract("DigitClassifier", &id.0.abi_encode());
    let inputs = fixture_inputs("digits_mlp");
    let rt = runtime();
    let direct = rt.run(&rt.load(&bytes).unwrap(), &inputs).unwrap();
    let label = direct[0].to_vec::<i64>().unwrap()[0];

    let data = classifyCall {
        pixels: digit_pixels(&inputs[0]),
    }
    .abi_encode();
    let out = ok(&chain.call(classifier, data));
    let digit = classifyCall::abi_decode_returns(&out).unwrap();
    assert_eq!(digit, U256::from(label));

    // The contract's inference, as recorded: same inputs, same output bits as the runtime.
    let records = chain.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    let site = record.call.unwrap();
    assert_eq!(site.caller, classifier);
    assert_eq!(record.model, id);
    assert!(
        record.success && site.is_static,
        "Solidity calls a view with STATICCALL"
    );
    assert_eq!(site.depth, 2);
    assert_eq!(
        **record.inputs().unwrap(),
        *inputs,
        "the record keeps the inputs it ran on"
    );
    assert!(!record.fed);
    assert_eq!(record.input_hash(), hash_tensors(&inputs));
    assert_eq!(record.output.as_ref(), encode_tensors(&direct).as_slice());

    // The ABI return of INFER itself decodes to the runtime's tensors, bit for bit.
    let out = ok(&chain.call(INFER_ADDRESS, infer_data(id, &inputs)));
    let tensors: Vec<Tensor> = IProvaInference::inferCall::abi_decode_returns(&out)
        .unwrap()
        .iter()
        .map(|t| abi::from_abi(t).unwrap())
        .collect();
    assert_eq!(tensors, direct);
}

#[test]
fn gas_charged_equals_the_schedule() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let info = runtime().load(&bytes).unwrap().info.clone();

    // deploy: base + per calldata byte
    let data = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    let result = chain.call(MODEL_REGISTRY_ADDRESS, data.clone());
    assert_eq!(
        result.tx_gas_used(),
        intrinsic(&data) + RegistryGas::DEFAULT.deploy_total(&bytes, data.len())
    );
    assert!(
        RegistryGas::DEFAULT.deploy_total(&bytes, data.len())
            > RegistryGas::DEFAULT.deploy(data.len())
    );
    let id = ModelId::of(&bytes);

    // a direct call is the first use in its transaction: cold
    let inputs = fixture_inputs("digits_mlp");
    let data = infer_data(id, &inputs);
    let cold = info.gas(&GasSchedule::DEFAULT, true);
    assert_eq!(cold, info.gas_cold_call);
    let result = chain.call(INFER_ADDRESS, data.clone());
    assert_eq!(result.tx_gas_used(), intrinsic(&data) + cold);
    assert_eq!(chain.records()[0].gas, cold);

    // three uses in one transaction: cold, warm, warm; the next transaction is cold again
    chain.set_proxy(proxy_code(Op::StaticCall, INFER_ADDRESS, 3, false));
    ok(&chain.call(PROXY, data.clone()));
    ok(&chain.call(PROXY, data));
    let gas: Vec<u64> = chain.records()[1..].iter().map(|r| r.gas).collect();
    let warm = info.gas_per_call;
    assert_eq!(warm, info.gas(&GasSchedule::DEFAULT, false));
    assert_eq!(gas, vec![cold, warm, warm, cold, warm, warm]);
}

#[test]
fn out_of_gas_halts_before_any_work() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let (id, _) = chain.deploy_model(&bytes);
    let info = runtime().load(&bytes).unwrap().info.clone();
    let data = infer_data(id, &fixture_inputs("digits_mlp"));

    let limit = intrinsic(&data) + info.gas_cold_call - 1;
    let result = chain.tx(TxKind::Call(INFER_ADDRESS), data.clone(), limit);
    assert!(
        matches!(
            result,
            ExecutionResult::Halt {
                reason: HaltReason::OutOfGas(OutOfGasError::Precompile),
                ..
            }
        ),
        "{result:?}"
    );
    assert_eq!(result.tx_gas_used(), limit);
    assert!(chain.records().is_empty(), "nothing ran");

    // exactly enough gas succeeds
    let limit = intrinsic(&data) + info.gas_cold_call;
    ok(&chain.tx(TxKind::Call(INFER_ADDRESS), data, limit));

    // deploy under its price
    let data = IModelRegistry::deployCall {
        onnx: model_bytes("iris_logreg").into(),
    }
    .abi_encode();
    let limit = intrinsic(&data) + RegistryGas::DEFAULT.deploy(data.len()) - 1;
    let result = chain.tx(TxKind::Call(MODEL_REGISTRY_ADDRESS), data, limit);
    assert!(matches!(result, ExecutionResult::Halt { .. }), "{result:?}");
    assert!(!chain.exists(ModelId::of(&model_bytes("iris_logreg"))));
}

#[test]
fn unknown_model_until_deployed_and_deploys_revert_with_their_frame() {
    let mut chain = Chain::new();
    let bytes = model_bytes("iris_logreg");
    let id = ModelId::of(&bytes);
    let inputs = fixture_inputs("iris_logreg");
    let data = infer_data(id, &inputs);

    let expected = UnknownModel { modelId: id.0 }.abi_encode();
    assert_eq!(reverted(&chain.call(INFER_ADDRESS, data.clone())), expected);
    let info = IProvaInference::modelInfoCall { modelId: id.0 }.abi_encode();
    assert_eq!(reverted(&chain.call(INFER_ADDRESS, info.clone())), expected);

    // a deploy inside a frame that reverts leaves no model behind
    chain.set_proxy(proxy_code(Op::Call, MODEL_REGISTRY_ADDRESS, 1, true));
    let deploy = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    let out = reverted(&chain.call(PROXY, deploy));
    assert_eq!(
        B256::abi_decode(&out).unwrap(),
        id.0,
        "the inner deploy succeeded"
    );
    assert!(!chain.exists(id));
    assert_eq!(reverted(&chain.call(INFER_ADDRESS, data.clone())), expected);

    // deployed in a later transaction: known from then on; deploying again is idempotent
    chain.deploy_model(&bytes);
    assert!(chain.exists(id));
    ok(&chain.call(INFER_ADDRESS, data));
    let (again, _) = chain.deploy_model(&bytes);
    assert_eq!(again, id);

    let out = ok(&chain.call(INFER_ADDRESS, info));
    let ret = IProvaInference::modelInfoCall::abi_decode_returns(&out).unwrap();
    let facts = runtime().load(&bytes).unwrap().info.clone();
    assert_eq!(ret.sizeBytes, bytes.len() as u64);
    assert_eq!(ret.macs, facts.cost.macs);
    assert_eq!(ret.gasPerCall, facts.gas_per_call);
    assert_eq!(
        ret.inputTemplates,
        vec![AbiTensor {
            dtype: 0,
            shape: vec![1, 4],
            data: Bytes::new()
        }]
    );
    assert_eq!(ret.outputTemplates.len(), 2);
}

#[test]
fn record_survives_an_enclosing_revert() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let (id, _) = chain.deploy_model(&bytes);
    let inputs = fixture_inputs("digits_mlp");
    chain.set_proxy(proxy_code(Op::Call, INFER_ADDRESS, 1, true));

    let out = reverted(&chain.call(PROXY, infer_data(id, &inputs)));
    let rt = runtime();
    let direct = rt.run(&rt.load(&bytes).unwrap(), &inputs).unwrap();
    let returned = IProvaInference::inferCall::abi_decode_returns(&out).unwrap();
    assert_eq!(abi::from_abi(&returned[1]).unwrap(), direct[1]);

    let records = chain.records();
    assert_eq!(records.len(), 1);
    let site = records[0].call.unwrap();
    assert_eq!(site.caller, PROXY);
    assert!(!site.is_static);
    assert_eq!(
        records[0].output.as_ref(),
        encode_tensors(&direct).as_slice()
    );
}

#[test]
fn staticcall_path_and_recording_off() {
    let mut chain = Chain::new();
    let bytes = model_bytes("digits_mlp");
    let (id, _) = chain.deploy_model(&bytes);
    let classifier = chain.deploy_contract("DigitClassifier", &id.0.abi_encode());
    let inputs = fixture_inputs("digits_mlp");
    let pixels = digit_pixels(&inputs[0]);

    // `predict` is a view: eth_call with recording off leaves no record
    chain.evm.precompiles.set_recording(false);
    let out = ok(&chain.eth_call(classifier, predictCall { pixels }.abi_encode()));
    let digit = predictCall::abi_decode_returns(&out).unwrap();
    assert!(chain.records().is_empty());

    chain.evm.precompiles.set_recording(true);
    let out = ok(&chain.eth_call(classifier, predictCall { pixels }.abi_encode()));
    assert_eq!(predictCall::abi_decode_returns(&out).unwrap(), digit);
    assert!(chain.records()[0].call.unwrap().is_static);

    // deploy under STATICCALL halts, as SSTORE would
    chain.set_proxy(proxy_code(Op::StaticCall, MODEL_REGISTRY_ADDRESS, 1, false));
    let deploy = IModelRegistry::deployCall {
        onnx: model_bytes("iris_logreg").into(),
    }
    .abi_encode();
    let out = reverted(&chain.call(PROXY, deploy));
    assert!(out.is_empty());
    assert!(!chain.exists(ModelId::of(&model_bytes("iris_logreg"))));
}

#[test]
fn delegatecall_and_callcode_run_like_a_call() {
    let mut chain = Chain::new();
    let (id, _) = chain.deploy_model(&model_bytes("iris_logreg"));
    let data = infer_data(id, &fixture_inputs("iris_logreg"));
    let direct = ok(&chain.call(INFER_ADDRESS, data.clone()));
    for op in [Op::DelegateCall, Op::CallCode] {
        chain.set_proxy(proxy_code(op, INFER_ADDRESS, 1, false));
        assert_eq!(ok(&chain.call(PROXY, data.clone())), direct);
    }
}

#[test]
fn infer_fixed_converts_exactly() {
    let mut chain = Chain::new();
    let bytes = model_bytes("iris_logreg");
    let (id, _) = chain.deploy_model(&bytes);
    let values: Vec<i64> = vec![51, 34, 15, 2]; // 5.1, 3.4, 1.5, 0.2
    let data = IProvaInference::inferFixedCall {
        modelId: id.0,
        elements: values.iter().map(|&v| v.try_into().unwrap()).collect(),
        shape: vec![1, 4],
        decimals: 1,
    }
    .abi_encode();
    let out = ok(&chain.call(INFER_ADDRESS, data));
    let fixed = IProvaInference::inferFixedCall::abi_decode_returns(&out).unwrap();

    let floats: Vec<f32> = values
        .iter()
        .map(|&v| prova_tensor::fixed::fixed_to_f32(v.try_into().unwrap(), 1).unwrap())
        .collect();
    let input = Tensor::from_f32(vec![1, 4], &floats).unwrap();
    let rt = runtime();
    let direct = rt.run(&rt.load(&bytes).unwrap(), &[input]).unwrap();
    assert_eq!(fixed.len(), 2);
    assert_eq!(fixed[0].decimals, 0);
    assert_eq!(
        fixed[0].elements,
        vec![direct[0].to_vec::<i64>().unwrap()[0].try_into().unwrap()]
    );
    assert_eq!(fixed[1].decimals, 1);
    let probs: Vec<_> = direct[1]
        .to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|x| prova_tensor::fixed::f32_to_fixed(x, 1).unwrap())
        .collect();
    assert_eq!(fixed[1].elements, probs);
    assert_eq!(fixed[1].shape, vec![1, 3]);
}

/// RiskGatedVault's `try/catch` sees each precompile error as Solidity decodes it.
#[test]
fn risk_gated_vault_catches_the_custom_errors() {
    use alloy_sol_types::SolEvent;
    let mut chain = Chain::new();
    let bytes = model_bytes("iris_logreg");
    let id = ModelId::of(&bytes);
    let ether = U256::from(10).pow(U256::from(18));
    let vault = |chain: &mut Chain, shape: Vec<u64>| {
        let args = (
            id.0,
            shape,
            U256::from(2),               // decimals (uint8 encodes as one word)
            U256::from(1),               // score: output 1 (probabilities)
            U256::ZERO,                  // element 0: P(setosa)
            I256::try_from(50).unwrap(), // at most 0.50
            U256::from(5_000),           // 50% loan-to-value
        )
            .abi_encode_params();
        let vault = chain.deploy_contract("RiskGatedVault", &args);
        ok(&chain.send(vault, depositCall {}.abi_encode(), ether));
        vault
    };
    let features =
        |xs: [i64; 4]| -> Vec<I256> { xs.iter().map(|&x| I256::try_from(x).unwrap()).collect() };
    let borrow = |xs: [i64; 4]| {
        borrowCall {
            amount: ether / U256::from(10),
            features: features(xs),
        }
        .abi_encode()
    };
    let setosa = [510, 350, 140, 20];
    let virginica = [670, 300, 520, 230];

    // UnknownModel: the vault fails closed and reports the error
    let a = vault(&mut chain, vec![1, 4]);
    let result = chain.call(a, borrow(setosa));
    let ExecutionResult::Success { output, logs, .. } = &result else {
        panic!("{result:?}")
    };
    assert!(!borrowCall::abi_decode_returns(output.data()).unwrap());
    let event = ModelError::decode_log_data(&logs[0].data).unwrap();
    assert_eq!(event.selector, UnknownModel::SELECTOR);
    assert_eq!(
        event.revertData,
        Bytes::from(UnknownModel { modelId: id.0 }.abi_encode())
    );

    // deployed: a setosa is too risky, a virginica passes with the runtime's exact score
    chain.deploy_model(&bytes);
    let result = chain.call(a, borrow(setosa));
    let ExecutionResult::Success { output, logs, .. } = &result else {
        panic!("{result:?}")
    };
    assert!(!borrowCall::abi_decode_returns(output.data()).unwrap());
    ScoreRejected::decode_log_data(&logs[0].data).unwrap();

    let result = chain.call(a, borrow(virginica));
    let ExecutionResult::Success { output, logs, .. } = &result else {
        panic!("{result:?}")
    };
    assert!(borrowCall::abi_decode_returns(output.data()).unwrap());
    let borrowed = Borrowed::decode_log_data(&logs[0].data).unwrap();
    let floats: Vec<f32> = features(virginica)
        .into_iter()
        .map(|v| prova_tensor::fixed::fixed_to_f32(v, 2).unwrap())
        .collect();
    let rt = runtime();
    let direct = rt
        .run(
            &rt.load(&bytes).unwrap(),
            &[Tensor::from_f32(vec![1, 4], &floats).unwrap()],
        )
        .unwrap();
    let p_setosa = direct[1].to_vec::<f32>().unwrap()[0];
    assert_eq!(
        borrowed.score,
        prova_tensor::fixed::f32_to_fixed(p_setosa, 2).unwrap()
    );

    // BadInput: a vault built with the wrong feature shape reverts with InvalidFeatures
    let b = vault(&mut chain, vec![4, 1]);
    let out = reverted(&chain.call(b, borrow(virginica)));
    let err = InvalidFeatures::abi_decode(&out).unwrap();
    assert_eq!(err.index, U256::ZERO);
    assert!(err.reason.contains("shape"), "{}", err.reason);
}
