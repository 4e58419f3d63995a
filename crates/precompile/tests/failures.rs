//! How INFER and MODEL_REGISTRY fail: custom errors for everything deterministic (malformed
//! calldata of any kind, rejected models, outputs with no fixed-point form), fatal errors for
//! local faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

#[test]
fn rejected_model_reverts_with_model_rejected() {
    let mut chain = Chain::new();
    let data = IModelRegistry::deployCall {
        onnx: Bytes::from_static(b"not a model"),
    }
    .abi_encode();
    let out = reverted(&chain.call(MODEL_REGISTRY_ADDRESS, data));
    let err = ModelRejected::abi_decode(&out).unwrap();
    assert!(
        err.reason.starts_with("not an ONNX model"),
        "{}",
        err.reason
    );
    // malformed registry calldata
    let out = reverted(&chain.call(MODEL_REGISTRY_ADDRESS, vec![1, 2, 3]));
    ModelRejected::abi_decode(&out).unwrap();
}

#[test]
fn malformed_abi_is_bad_input_never_a_panic() {
    let mut chain = Chain::new();
    let bytes = model_bytes("iris_logreg");
    let (id, _) = chain.deploy_model(&bytes);
    let good = fixture_inputs("iris_logreg");
    let good_data = infer_data(id, &good);
    let raw = |dtype: u8, shape: Vec<u64>, data: Vec<u8>| AbiTensor {
        dtype,
        shape,
        data: data.into(),
    };
    let call = |inputs: Vec<AbiTensor>| {
        IProvaInference::inferCall {
            modelId: id.0,
            inputs,
        }
        .abi_encode()
    };
    let mut huge_offset = good_data.clone();
    huge_offset[36 + 31] = 0xff; // offset of the inputs array far beyond the calldata
    huge_offset[36] = 0xff;

    let cases: Vec<(&str, Vec<u8>, u64)> = vec![
        ("empty calldata", vec![], 0),
        ("short selector", vec![0x12, 0x34], 0),
        (
            "unknown selector",
            vec![0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0],
            0,
        ),
        ("truncated", good_data[..good_data.len() - 7].to_vec(), 0),
        ("selector only", good_data[..4].to_vec(), 0),
        ("huge offset", huge_offset, 0),
        ("bad dtype", call(vec![raw(9, vec![1, 4], vec![0; 16])]), 0),
        ("short data", call(vec![raw(0, vec![1, 4], vec![0; 15])]), 0),
        (
            "wrong dtype",
            call(vec![raw(1, vec![1, 4], vec![0; 32])]),
            0,
        ),
        (
            "wrong shape",
            call(vec![raw(0, vec![4, 1], vec![0; 16])]),
            0,
        ),
        ("no inputs", call(vec![]), 0),
        (
            "too many inputs",
            call(vec![abi::to_abi(&good[0]), abi::to_abi(&good[0])]),
            0,
        ),
        (
            "second input bad",
            call(vec![abi::to_abi(&good[0]), raw(200, vec![], vec![])]),
            1,
        ),
        (
            "fixed: wrong count",
            IProvaInference::inferFixedCall {
                modelId: id.0,
                elements: vec![Default::default(); 3],
                shape: vec![1, 4],
                decimals: 0,
            }
            .abi_encode(),
            0,
        ),
        (
            "fixed: too many decimals",
            IProvaInference::inferFixedCall {
                modelId: id.0,
                elements: vec![Default::default(); 4],
                shape: vec![1, 4],
                decimals: 200,
            }
            .abi_encode(),
            0,
        ),
    ];
    for (what, data, index) in cases {
        let result = chain.call(INFER_ADDRESS, data);
        let ExecutionResult::Revert { output: out, .. } = &result else {
            panic!("{what}: expected a revert, got {result:?}");
        };
        let err = BadInput::abi_decode(out).unwrap_or_else(|e| panic!("{what}: {e} {out}"));
        assert_eq!(err.index, U256::from(index), "{what}: {}", err.reason);
        assert!(result.tx_gas_used() > 21_000, "{what}: consumes gas");
    }
    assert!(chain.records().is_empty());
    // still working after all that
    ok(&chain.call(INFER_ADDRESS, good_data));
}

/// An output with no fixed-point form is `InferenceFailed`; the run it came from is recorded.
#[test]
fn inference_failed_reverts_and_is_recorded() {
    let mut chain = Chain::new();
    let (id, _) = chain.deploy_model(&model_bytes("diabetes_linear"));
    // zero features at 77 decimals: the prediction (~150) times 10^77 overflows int256
    let data = IProvaInference::inferFixedCall {
        modelId: id.0,
        elements: vec![I256::ZERO; 10],
        shape: vec![1, 10],
        decimals: 77,
    }
    .abi_encode();
    let result = chain.call(INFER_ADDRESS, data);
    let out = reverted(&result);
    let err = abi::InferenceFailed::abi_decode(&out).unwrap();
    assert!(err.reason.starts_with("output 0"), "{}", err.reason);
    assert_eq!(chain.records().len(), 1);
    assert!(result.tx_gas_used() > 21_000 + chain.records()[0].gas);
}

/// A genesis-style preload works; a model registered on chain whose bytes this node lacks is a
/// local fault: execution aborts with an error, it is never turned into a revert.
#[test]
fn genesis_preload_and_missing_bytes_is_fatal() {
    use prova_precompile::{REGISTERED, model_slot};
    // A runtime of its own: the shared one may have the model's plan cached from other tests.
    let mut chain = Chain::with_runtime(Arc::new(Runtime::new(Profile::Exact).unwrap()));
    let iris = model_bytes("iris_logreg");
    let digits = model_bytes("digits_mlp");
    let iris_id = chain.evm.precompiles.preload(&iris).unwrap();
    let digits_id = ModelId::of(&digits);
    let db = &mut chain.evm.ctx.journaled_state.database;
    db.insert_account_info(
        MODEL_REGISTRY_ADDRESS,
        AccountInfo {
            nonce: 1,
            ..Default::default()
        },
    );
    for id in [iris_id, digits_id] {
        db.insert_account_storage(MODEL_REGISTRY_ADDRESS, model_slot(&id), REGISTERED)
            .unwrap();
    }
    assert!(chain.exists(iris_id) && chain.exists(digits_id));
    ok(&chain.call(
        INFER_ADDRESS,
        infer_data(iris_id, &fixture_inputs("iris_logreg")),
    ));

    let tx = chain.tx_env(
        TxKind::Call(INFER_ADDRESS),
        infer_data(digits_id, &fixture_inputs("digits_mlp")),
        GAS,
    );
    let err = chain.evm.transact(tx).unwrap_err().to_string();
    assert!(err.contains("not in the local model store"), "{err}");
}

/// Valid calldata with bytes flipped, cut or appended: every outcome is a success or a
/// decodable custom error, never a panic, a halt or a fatal error.
#[test]
fn mutated_calldata_is_a_result_or_a_custom_error() {
    let mut chain = Chain::new();
    let (id, _) = chain.deploy_model(&model_bytes("iris_logreg"));
    let good = infer_data(id, &fixture_inputs("iris_logreg"));
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..300 {
        let mut data = good.clone();
        match round % 3 {
            0 => {
                let at = next() as usize % data.len();
                data[at] = next() as u8;
            }
            1 => data.truncate(next() as usize % data.len()),
            _ => data.extend((0..next() % 64).map(|_| next() as u8)),
        }
        match chain.call(INFER_ADDRESS, data) {
            ExecutionResult::Success { .. } => {}
            ExecutionResult::Revert { output, .. } => {
                assert!(
                    BadInput::abi_decode(&output).is_ok()
                        || UnknownModel::abi_decode(&output).is_ok()
                        || abi::InferenceFailed::abi_decode(&output).is_ok(),
                    "round {round}: {output}"
                );
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}
