//! The dev genesis' predeploys, as anvil has them: the CREATE2 deployer (Foundry's salted
//! `new`) and Multicall3 (viem's and ethers' batching), with inference inside a batch.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use revm::context::result::ExecutionResult;

sol! {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }
    struct Result3 {
        bool success;
        bytes returnData;
    }
    function aggregate3(Call3[] calls) external payable returns (Result3[] returnData);
    function getChainId() external view returns (uint256);
}

/// Init code of a contract whose every call emits one LOG0 (runtime `60006000a000`).
const LOGGER_INIT: [u8; 15] = [
    0x65, 0x60, 0x00, 0x60, 0x00, 0xa0, 0x00, 0x60, 0x00, 0x52, 0x60, 0x06, 0x60, 0x1a, 0xf3,
];

#[test]
fn the_create2_deployer_deploys_at_the_salted_address() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let salt = B256::repeat_byte(0x5a);
    let mut data = salt.to_vec();
    data.extend_from_slice(&LOGGER_INIT);
    let r = send(&chain, 0, TxKind::Call(CREATE2_DEPLOYER), data, 200_000);
    assert!(r.receipt.status());
    let expected = CREATE2_DEPLOYER.create2(salt, keccak256(LOGGER_INIT));
    assert_eq!(
        chain.code(&expected, None).unwrap().as_ref(),
        &[0x60, 0x00, 0x60, 0x00, 0xa0, 0x00]
    );
    // The deployer returns the new address (what forge reads).
    let call = CallRequest {
        to: Some(CREATE2_DEPLOYER),
        input: [B256::repeat_byte(0x5b).as_slice(), &LOGGER_INIT]
            .concat()
            .into(),
        ..CallRequest::default()
    };
    let ExecutionResult::Success { output, .. } = chain.call(&call, None).unwrap() else {
        panic!("the deployer failed");
    };
    let other = CREATE2_DEPLOYER.create2(B256::repeat_byte(0x5b), keccak256(LOGGER_INIT));
    assert_eq!(output.data().as_ref(), other.as_slice());
}

#[test]
fn multicall3_batches_calls_including_inference() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let inputs = fixture_inputs("digits_mlp");
    let infer = prova_precompile::abi::IProvaInference::inferCall {
        modelId: ModelId::of(&model_bytes("digits_mlp")).0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode();
    let unknown = prova_precompile::abi::IProvaInference::inferCall {
        modelId: B256::repeat_byte(0xab),
        inputs: vec![],
    }
    .abi_encode();
    let batch = aggregate3Call {
        calls: vec![
            Call3 {
                target: MULTICALL3,
                allowFailure: false,
                callData: getChainIdCall {}.abi_encode().into(),
            },
            Call3 {
                target: INFER_ADDRESS,
                allowFailure: false,
                callData: infer.into(),
            },
            Call3 {
                target: INFER_ADDRESS,
                allowFailure: true,
                callData: unknown.into(),
            },
        ],
    };
    let call = CallRequest {
        to: Some(MULTICALL3),
        input: batch.abi_encode().into(),
        ..CallRequest::default()
    };
    let ExecutionResult::Success { output, .. } = chain.call(&call, None).unwrap() else {
        panic!("aggregate3 failed");
    };
    let results = aggregate3Call::abi_decode_returns(output.data()).unwrap();
    assert_eq!(results.len(), 3);
    assert!(results[0].success && results[1].success && !results[2].success);
    assert_eq!(
        U256::abi_decode(&results[0].returnData).unwrap(),
        U256::from(CHAIN_ID)
    );
    // The inference inside the batch is INFER's own answer, bit for bit.
    let direct = CallRequest {
        to: Some(INFER_ADDRESS),
        input: prova_precompile::abi::IProvaInference::inferCall {
            modelId: ModelId::of(&model_bytes("digits_mlp")).0,
            inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
        }
        .abi_encode()
        .into(),
        ..CallRequest::default()
    };
    let ExecutionResult::Success { output, .. } = chain.call(&direct, None).unwrap() else {
        panic!("infer failed");
    };
    assert_eq!(results[1].returnData, *output.data());
    // The failed call's revert data is the precompile's custom error.
    assert_eq!(
        &results[2].returnData[..4],
        <prova_precompile::abi::UnknownModel as alloy_sol_types::SolError>::SELECTOR.as_slice()
    );
}
