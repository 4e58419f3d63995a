// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IProvaInference, PROVA_INFERENCE} from "../IProvaInference.sol";
import {TensorLib} from "../TensorLib.sol";

/// @title DigitClassifier
/// @notice Classifies 8x8 handwritten digits (the scikit-learn "digits" layout: 64 pixels,
///         row-major, intensities 0..16) with an ONNX model run by the Prova precompile, and
///         keeps each caller's latest prediction on chain.
/// @dev Model contract:
///        - one input, f32 of shape [1, 64]; pixel p is sent as the float p / 16 (0.0 .. 1.0),
///          the scaling the fixture models (fixtures/models/digits_mlp.onnx) were trained with;
///        - the digit is read from output 0: if it is a float tensor (scores, logits or
///          probabilities, e.g. [1, 10]) the digit is its argmax; if it is an integer tensor
///          with one element (a class label, e.g. i64 [1]) the digit is that value; an integer
///          tensor with more elements is argmax-ed too.
contract DigitClassifier {
    using TensorLib for IProvaInference.Tensor;

    struct Prediction {
        uint8 digit;
        uint64 blockNumber;
        bytes32 inputHash;
    }

    /// @notice keccak256 of the ONNX bytes of the digit model.
    bytes32 public immutable modelId;

    /// @notice Number of successful `classify` calls, all callers together.
    uint256 public classifications;

    /// @notice Number of successful `classify` calls per caller.
    mapping(address => uint256) public classificationsBy;

    /// @notice The latest prediction made for each caller.
    mapping(address => Prediction) public lastPrediction;

    /// @notice `who` classified the image whose pixel bytes hash to `inputHash` as `digit`.
    event Classified(address indexed who, uint256 indexed digit, bytes32 inputHash);

    /// @notice Pixel `index` is `value`, above the 0..16 range.
    error PixelOutOfRange(uint256 index, uint8 value);
    /// @notice The model returned no outputs.
    error NoOutput();
    /// @notice The model's answer is not a digit 0..9.
    error NotADigit(int256 value);

    constructor(bytes32 modelId_) {
        modelId = modelId_;
    }

    /// @notice Classifies `pixels`, records the prediction for the caller and emits `Classified`.
    /// @return digit The predicted digit, 0..9.
    function classify(uint8[64] calldata pixels) external returns (uint256 digit) {
        digit = predict(pixels);
        bytes32 h = inputHash(pixels);
        lastPrediction[msg.sender] = Prediction({digit: uint8(digit), blockNumber: uint64(block.number), inputHash: h});
        unchecked {
            ++classifications;
            ++classificationsBy[msg.sender];
        }
        emit Classified(msg.sender, digit, h);
    }

    /// @notice Classifies `pixels` without recording anything.
    /// @return digit The predicted digit, 0..9.
    function predict(uint8[64] calldata pixels) public view returns (uint256 digit) {
        IProvaInference.Tensor[] memory outputs =
            IProvaInference(PROVA_INFERENCE).infer(modelId, TensorLib.single(encodeInput(pixels)));
        return decodeDigit(outputs);
    }

    /// @notice The model input for `pixels`: f32, shape [1, 64], pixel p as the float p / 16.
    function encodeInput(uint8[64] calldata pixels) public pure returns (IProvaInference.Tensor memory) {
        // p / 16 is exact in f32: the bit pattern of p (TensorLib.f32FromUint) with the exponent
        // lowered by 4; zero stays zero.
        uint32[] memory bits = new uint32[](64);
        for (uint256 i = 0; i < 64; ++i) {
            uint8 p = pixels[i];
            if (p > 16) revert PixelOutOfRange(i, p);
            bits[i] = p == 0 ? 0 : TensorLib.f32FromUint(p) - (4 << 23);
        }
        return TensorLib.f32Tensor(bits, TensorLib.shape2(1, 64));
    }

    /// @notice keccak256 of the 64 pixel bytes, in order (what `Classified` reports).
    function inputHash(uint8[64] calldata pixels) public pure returns (bytes32 h) {
        bytes memory raw = new bytes(64);
        for (uint256 i = 0; i < 64; ++i) {
            raw[i] = bytes1(pixels[i]);
        }
        h = keccak256(raw);
    }

    /// @notice Reads the digit out of the model's outputs (see the contract notes).
    function decodeDigit(IProvaInference.Tensor[] memory outputs) public pure returns (uint256) {
        if (outputs.length == 0) revert NoOutput();
        IProvaInference.Tensor memory out = outputs[0];
        int256 digit;
        if (!TensorLib.isFloat(out.dtype) && out.elementCount() == 1) {
            digit = out.intAt(0); // a class label
        } else {
            digit = int256(out.argmax()); // scores over the ten classes
        }
        if (digit < 0 || digit > 9) revert NotADigit(digit);
        return uint256(digit);
    }
}
