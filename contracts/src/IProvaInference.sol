// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

// NOTE: this file is also parsed by Rust's `alloy_sol_types::sol!` macro
// (`sol!("../../contracts/src/IProvaInference.sol")`). Keep it to plain
// declarations: no imports, no function bodies, nothing alloy cannot parse.

/// @dev Address of the Prova ONNX-inference precompile.
address constant PROVA_INFERENCE = 0x0000000000000000000000000000000000000F00;

/// @title IProvaInference
/// @notice Interface of the Prova ONNX-inference precompile deployed at `PROVA_INFERENCE`
///         (0x0000000000000000000000000000000000000F00).
/// @dev All functions are `view`: Solidity reaches the precompile with STATICCALL, so it can be
///      used from view functions as well as from transactions. A model is addressed by its
///      `modelId`, the keccak256 of its ONNX bytes, as returned by `IModelRegistry.deploy`.
///      Failures revert with one of the custom errors below, ABI-encoded with their selector.
///      Tensor encoding (`Tensor`):
///      - `dtype`: 0 f32, 1 f64, 2 i64, 3 i32, 4 i16, 5 i8, 6 u8, 7 bool.
///      - `shape`: dimension sizes; an empty shape is a scalar (one element).
///      - `data`: the elements packed back to back, little-endian, row-major (C order);
///        floats are their raw IEEE-754 bits, bool is one byte (0 or 1).
///        `data.length` must equal product(shape) * elementSize(dtype).
interface IProvaInference {
    /// @notice A raw tensor, exactly as the ONNX runtime sees it.
    /// @dev dtype: 0 f32, 1 f64, 2 i64, 3 i32, 4 i16, 5 i8, 6 u8, 7 bool; data little-endian, row-major.
    struct Tensor {
        uint8 dtype;
        uint64[] shape;
        bytes data;
    }

    /// @notice A tensor in fixed-point form: element k is `elements[k] / 10**decimals` (row-major).
    /// @dev The field is `elements`, not `values`: ethers v6 decodes structs into a `Result`, an
    ///      Array whose built-in `values()` method would hide a field of that name.
    struct FixedTensor {
        int256[] elements;
        uint64[] shape;
        uint8 decimals;
    }

    /// @notice No model with this id has been deployed through `IModelRegistry`.
    error UnknownModel(bytes32 modelId);

    /// @notice Input number `index` does not match the model (count, dtype, shape, data length,
    ///         value out of range for the dtype, decimals not allowed, ...). `reason` says which.
    error BadInput(uint256 index, string reason);

    /// @notice The runtime failed while evaluating the model, or gas ran out for it.
    error InferenceFailed(string reason);

    /// @notice Runs model `modelId` on raw tensors.
    /// @param modelId keccak256 of the model's ONNX bytes.
    /// @param inputs One tensor per model input, in the model's input order, each with the
    ///        dtype and a shape compatible with the matching `inputTemplates` entry.
    /// @return outputs One tensor per model output, in the model's output order.
    function infer(bytes32 modelId, Tensor[] calldata inputs) external view returns (Tensor[] memory outputs);

    /// @notice Runs a single-input model on fixed-point numbers.
    /// @dev Input conversion, by the dtype of the model's only input:
    ///        - float input (f32, f64): element k is `elements[k] / 10**decimals`;
    ///        - integer or bool input: element k is `elements[k]` as it is, and `decimals` must be 0
    ///          (otherwise `BadInput(0, ...)`); a value out of range for the dtype is `BadInput`.
    ///      Output conversion, per output:
    ///        - float output: `elements[k] = round_half_even(x * 10**decimals)`, with the same
    ///          `decimals` as the input;
    ///        - integer or bool output: `elements[k] = x` unscaled, with `decimals` 0.
    ///      Reverts with `BadInput(0, ...)` if the model has more than one input.
    /// @param modelId keccak256 of the model's ONNX bytes.
    /// @param elements The input elements, row-major; `elements.length` must equal product(shape).
    /// @param shape The input shape.
    /// @param decimals Number of decimal places of `elements` (and of float outputs).
    /// @return outputs One fixed-point tensor per model output, in the model's output order.
    function inferFixed(bytes32 modelId, int256[] calldata elements, uint64[] calldata shape, uint8 decimals)
        external
        view
        returns (FixedTensor[] memory outputs);

    /// @notice Generates tokens with a language model: a decoder with past key/values
    ///         (docs/generation.md), one token per step over its KV cache.
    /// @dev The prompt is fed token by token from an empty cache; each new token is the largest
    ///      logit when `temperatureMilli` is 0 (lowest id on ties), otherwise a draw among the
    ///      `topK` most likely tokens (all when 0) with weights exp((logit - max) * 1000 /
    ///      temperatureMilli) and randomness from `seed` and the token's index only, so every
    ///      validator draws the same tokens. Generation stops after `maxNewTokens` tokens or
    ///      after the model's end-of-sequence token (`decoderInfo`).
    ///      Gas: the call must be able to pay `baseGas + (prompt.length + maxNewTokens) *
    ///      gasPerToken` (from `decoderInfo`, plus the cold-model surcharge on first use in the
    ///      transaction) before any work; it is charged for the tokens actually run,
    ///      `prompt.length + tokens.length`.
    ///      Reverts `BadInput(0, ...)` for an empty prompt or a token outside the vocabulary,
    ///      `BadInput(1, ...)` when prompt plus `maxNewTokens` exceeds the context or
    ///      `maxNewTokens` is 0, `BadInput(0, ...)` if the model is not a decoder.
    /// @param modelId keccak256 of the decoder's ONNX bytes.
    /// @param prompt Token ids of the prompt (the model's tokenizer), at least one.
    /// @param maxNewTokens Most tokens to generate, at least one.
    /// @param seed Seed of the sampler (ignored when greedy).
    /// @param temperatureMilli Temperature in thousandths (1000 = 1.0); 0 for greedy decoding.
    /// @param topK Sample among the topK most likely tokens; 0 for the whole vocabulary.
    /// @return tokens The generated token ids (the end-of-sequence token included, if reached).
    function generate(
        bytes32 modelId,
        uint32[] calldata prompt,
        uint32 maxNewTokens,
        uint64 seed,
        uint32 temperatureMilli,
        uint32 topK
    ) external view returns (uint32[] memory tokens);

    /// @notice Describes a deployed language model (a decoder with past), for `generate`.
    /// @return vocabSize Tokens the model scores; prompt ids must be below it.
    /// @return maxContext Most tokens of prompt plus generation.
    /// @return eosToken The end-of-sequence token, or type(uint32).max if the model has none.
    /// @return gasPerToken Gas of one token (one step at the longest context).
    /// @return baseGas Gas of a call on top of its tokens (warm model).
    function decoderInfo(bytes32 modelId)
        external
        view
        returns (uint32 vocabSize, uint32 maxContext, uint32 eosToken, uint64 gasPerToken, uint64 baseGas);

    /// @notice Describes a deployed model.
    /// @return sizeBytes Size of the model's ONNX bytes.
    /// @return macs Work of one inference in Prova's MAC-equivalents, the unit gas prices
    ///         (docs/gas.md): a weighted count, not the number of multiply-accumulates.
    /// @return gasPerCall Gas charged by the precompile for one inference of this model.
    /// @return inputTemplates One template per input: dtype and shape, with empty `data`.
    /// @return outputTemplates One template per output: dtype and shape, with empty `data`.
    function modelInfo(bytes32 modelId)
        external
        view
        returns (
            uint64 sizeBytes,
            uint64 macs,
            uint64 gasPerCall,
            Tensor[] memory inputTemplates,
            Tensor[] memory outputTemplates
        );
}
