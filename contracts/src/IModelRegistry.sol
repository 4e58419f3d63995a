// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

// NOTE: this file is also parsed by Rust's `alloy_sol_types::sol!` macro. Keep it to plain
// declarations: no imports, no function bodies, nothing alloy cannot parse.

/// @dev Address of the Prova model-registry precompile.
address constant MODEL_REGISTRY = 0x0000000000000000000000000000000000000F01;

/// @title IModelRegistry
/// @notice Interface of the Prova model-registry precompile deployed at `MODEL_REGISTRY`
///         (0x0000000000000000000000000000000000000F01). Models deployed here can be run
///         through `IProvaInference` at `PROVA_INFERENCE`.
interface IModelRegistry {
    /// @notice The ONNX bytes were refused at admission (not parseable, unsupported operator
    ///         or dtype, dynamic shapes that cannot be fixed, too large, too many MACs, ...).
    error ModelRejected(string reason);

    /// @notice Deploys an ONNX model.
    /// @dev `modelId = keccak256(onnx)`. Idempotent: deploying bytes that are already deployed
    ///      succeeds and returns the same id without storing anything again. Gas is charged per
    ///      byte of `onnx` plus the cost of admission (parsing, checking and costing the graph).
    ///      This is a state-changing call: it cannot be made from a view function or STATICCALL.
    /// @param onnx The model, serialized ONNX protobuf bytes.
    /// @return modelId keccak256 of `onnx`.
    function deploy(bytes calldata onnx) external returns (bytes32 modelId);

    /// @notice Tells whether a model with this id has been deployed.
    /// @param modelId keccak256 of the model's ONNX bytes.
    function exists(bytes32 modelId) external view returns (bool);
}
