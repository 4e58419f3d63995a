// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ProvaTest} from "prova/test/ProvaTest.sol";
import {DigitClassifier} from "prova/examples/DigitClassifier.sol";
import {IModelRegistry, MODEL_REGISTRY} from "prova/IModelRegistry.sol";
import {IProvaInference, PROVA_INFERENCE} from "prova/IProvaInference.sol";

interface Cheats {
    function readFileBinary(string calldata path) external view returns (bytes memory);
    function envBytes(string calldata name) external view returns (bytes memory);
    function envUint(string calldata name) external view returns (uint256);
}

/// `forge test` of a contract that calls INFER, unchanged, through ProvaTest's shim. The
/// expected values come from onnxruntime (fixtures/expected/digits_mlp.json) and, for the
/// bytes, from the dev node itself (tests/e2e/run.sh passes what the chain answered).
contract DigitClassifierTest is ProvaTest {
    Cheats constant VM = Cheats(address(uint160(uint256(keccak256("hevm cheat code")))));

    // The first sample of fixtures/expected/digits_mlp.json, in 0..16 pixel units; onnxruntime
    // says 2.
    uint8[64] PIXELS = [
        0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0, 0, 16, 5, 0,
        0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1, 0, 0, 8, 16, 14, 10, 13, 3
    ];

    bytes32 modelId;
    DigitClassifier classifier;

    function setUp() public {
        installProva();
        modelId = IModelRegistry(MODEL_REGISTRY).deploy(VM.readFileBinary("../../fixtures/models/digits_mlp.onnx"));
        classifier = new DigitClassifier(modelId);
    }

    function test_DeployReturnsTheContentAddress() public view {
        require(modelId == keccak256(VM.readFileBinary("../../fixtures/models/digits_mlp.onnx")), "model id");
        require(IModelRegistry(MODEL_REGISTRY).exists(modelId), "exists");
        require(!IModelRegistry(MODEL_REGISTRY).exists(keccak256("no such model")), "exists(unknown)");
    }

    function test_PredictGivesOnnxruntimesClass() public view {
        require(classifier.predict(PIXELS) == 2, "predict");
    }

    function test_ClassifyRecordsThePrediction() public {
        uint256 digit = classifier.classify(PIXELS);
        require(digit == 2, "classify");
        (uint8 last,,) = classifier.lastPrediction(address(this));
        require(last == 2, "lastPrediction");
    }

    /// The shim's answer is the chain's, byte for byte: the dev node answered this same call
    /// (eth_call to 0x0F00) with PROVA_EXPECTED_INFER_FIXED.
    function test_InferFixedGivesTheChainsBytes() public view {
        (bool ok, bytes memory ret) = PROVA_INFERENCE.staticcall(_inferFixedCall());
        require(ok, "inferFixed reverted");
        require(keccak256(ret) == keccak256(VM.envBytes("PROVA_EXPECTED_INFER_FIXED")), "not the chain's bytes");
    }

    /// The same call's gas on chain (eth_estimateGas of a transaction to 0x0F00 minus the
    /// intrinsic gas) is burnt here too: at least it, and at most the ffi round trip more.
    function test_InferChargesTheChainsGas() public view {
        (,, uint64 gasPerCall,,) = IProvaInference(PROVA_INFERENCE).modelInfo(modelId);
        bytes memory call = _inferFixedCall();
        uint256 before = gasleft();
        (bool ok,) = PROVA_INFERENCE.staticcall(call);
        uint256 used = before - gasleft();
        require(ok, "inferFixed reverted");
        require(used >= gasPerCall, "burnt less than the model's gas");
        require(used >= VM.envUint("PROVA_EXPECTED_INFER_GAS"), "burnt less than the chain");
        require(used < VM.envUint("PROVA_EXPECTED_INFER_GAS") + 50_000, "burnt far more than the chain");
    }

    function test_TooLittleGasHaltsAsOnChain() public view {
        (,, uint64 gasPerCall,,) = IProvaInference(PROVA_INFERENCE).modelInfo(modelId);
        (bool ok, bytes memory ret) = PROVA_INFERENCE.staticcall{gas: gasPerCall / 2}(_inferFixedCall());
        require(!ok && ret.length == 0, "expected an out-of-gas halt");
    }

    function test_UnknownModelRevertsWithTheCustomError() public view {
        bytes32 unknown = keccak256("no such model");
        (bool ok, bytes memory ret) = PROVA_INFERENCE.staticcall(
            abi.encodeCall(IProvaInference.inferFixed, (unknown, new int256[](64), _shape(), 0))
        );
        require(!ok, "expected a revert");
        require(keccak256(ret) == keccak256(abi.encodeWithSelector(IProvaInference.UnknownModel.selector, unknown)));
    }

    function test_WrongShapeIsBadInput() public view {
        uint64[] memory shape = new uint64[](2);
        shape[0] = 1;
        shape[1] = 63;
        (bool ok, bytes memory ret) = PROVA_INFERENCE.staticcall(
            abi.encodeCall(IProvaInference.inferFixed, (modelId, new int256[](63), shape, 0))
        );
        require(!ok, "expected a revert");
        require(bytes4(ret) == IProvaInference.BadInput.selector, "BadInput");
    }

    function test_DeployRefusesANonModel() public {
        (bool ok, bytes memory ret) =
            MODEL_REGISTRY.call(abi.encodeCall(IModelRegistry.deploy, (bytes("not an onnx model"))));
        require(!ok, "expected a refusal");
        require(bytes4(ret) == IModelRegistry.ModelRejected.selector, "ModelRejected");
    }

    function _shape() private pure returns (uint64[] memory shape) {
        shape = new uint64[](2);
        shape[0] = 1;
        shape[1] = 64;
    }

    function _inferFixedCall() private view returns (bytes memory) {
        int256[] memory values = new int256[](64);
        for (uint256 i = 0; i < 64; i++) {
            values[i] = int256(uint256(PIXELS[i])) * 625; // pixel / 16, at 4 decimals
        }
        return abi.encodeCall(IProvaInference.inferFixed, (modelId, values, _shape(), 4));
    }
}
