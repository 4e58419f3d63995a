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

    // Staged deployment, for models too large for one transaction: beginUpload, then
    // appendChunk until every byte is received, then commitUpload. An upload belongs to the
    // account that makes the calls (msg.sender; the calling contract under DELEGATECALL or
    // CALLCODE) and to the model id, so nobody else can write to it. The chunks' bytes travel
    // in the transactions and are kept by every node outside EVM state; the registry's storage
    // records the upload's progress and each chunk's keccak256. A model is not callable until
    // commitUpload registers it. All four are state-changing: they cannot be made from a view
    // function or STATICCALL.

    /// @notice Opens an upload of `size` bytes of the model `modelId` for the caller.
    /// @dev A no-op if the caller's upload of `modelId` is already open with the same `size`
    ///      (so a client can always begin, then resume from `uploadStatus`), and if the model
    ///      is already registered. An open upload with another size is discarded and restarted.
    ///      Refused (`ModelRejected`) for `size` 0 or above the registry's model size limit.
    /// @param modelId keccak256 of the whole model, checked at `commitUpload`.
    /// @param size The model's length in bytes.
    function beginUpload(bytes32 modelId, uint64 size) external;

    /// @notice Appends `chunk` to the caller's upload of `modelId`, at byte `offset`.
    /// @dev `offset` must equal the bytes received so far: a chunk sent after one that failed
    ///      is refused instead of landing in the wrong place, and a chunk sent twice is refused
    ///      the second time. Refused (`ModelRejected`) if no upload is open, if `chunk` is empty,
    ///      or if it would pass the declared size. Gas is charged per byte of calldata.
    /// @return received The bytes received once `chunk` is appended.
    function appendChunk(bytes32 modelId, uint64 offset, bytes calldata chunk)
        external
        returns (uint64 received);

    /// @notice Registers the caller's completed upload of `modelId`, exactly as `deploy` would
    ///         register the same bytes, and closes the upload.
    /// @dev Refused (`ModelRejected`) if the upload is incomplete, if the uploaded bytes do not
    ///      hash to `modelId` (cancel and upload again), or if admission refuses the model.
    ///      If the model is already registered (by anyone), closes the upload and succeeds.
    /// @return modelId The registered model's id.
    function commitUpload(bytes32 modelId) external returns (bytes32);

    /// @notice Discards the caller's upload of `modelId` (a no-op if none is open).
    function cancelUpload(bytes32 modelId) external;

    /// @notice Progress of `uploader`'s upload of `modelId`; all zero if none is open.
    /// @return size The declared size in bytes.
    /// @return received The bytes received so far: the offset of the next chunk.
    /// @return chunks The number of chunks received.
    function uploadStatus(address uploader, bytes32 modelId)
        external
        view
        returns (uint64 size, uint64 received, uint32 chunks);
}
