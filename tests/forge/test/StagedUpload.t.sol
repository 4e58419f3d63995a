// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ProvaTest} from "prova/test/ProvaTest.sol";
import {IModelRegistry, MODEL_REGISTRY} from "prova/IModelRegistry.sol";
import {IProvaInference, PROVA_INFERENCE} from "prova/IProvaInference.sol";

interface UploadCheats {
    function readFileBinary(string calldata path) external view returns (bytes memory);
}

/// The staged upload through ProvaTest's shim: the upload's storage travels to `prova shim`
/// and back, chunks are kept in the shim's cache, and the model is callable once committed.
contract StagedUploadTest is ProvaTest {
    UploadCheats constant VM = UploadCheats(address(uint160(uint256(keccak256("hevm cheat code")))));
    IModelRegistry constant REGISTRY = IModelRegistry(MODEL_REGISTRY);

    bytes model;
    bytes32 id;

    function setUp() public {
        installProva();
        model = VM.readFileBinary("../../fixtures/models/digits_cnn.onnx");
        id = keccak256(model);
    }

    function _slice(uint256 from, uint256 to) private view returns (bytes memory out) {
        out = new bytes(to - from);
        for (uint256 i = from; i < to; i++) {
            out[i - from] = model[i];
        }
    }

    function test_UploadInChunksThenCommit() public {
        uint256 half = model.length / 2;
        REGISTRY.beginUpload(id, uint64(model.length));
        require(REGISTRY.appendChunk(id, 0, _slice(0, half)) == half, "received after one chunk");
        (uint64 size, uint64 received, uint32 chunks) = REGISTRY.uploadStatus(address(this), id);
        require(size == model.length && received == half && chunks == 1, "status");

        // A chunk at the wrong offset is refused with the registry's reason.
        (bool ok, bytes memory ret) =
            MODEL_REGISTRY.call(abi.encodeCall(IModelRegistry.appendChunk, (id, 1, _slice(half, model.length))));
        require(!ok && bytes4(ret) == IModelRegistry.ModelRejected.selector, "wrong offset refused");

        REGISTRY.appendChunk(id, uint64(half), _slice(half, model.length));
        require(!REGISTRY.exists(id), "not registered before commit");
        (,,, IProvaInference.Tensor[] memory none,) = _info(id);
        require(none.length == 0, "UnknownModel before commit");

        require(REGISTRY.commitUpload(id) == id, "commit returns the id");
        require(REGISTRY.exists(id), "registered");
        (size, received, chunks) = REGISTRY.uploadStatus(address(this), id);
        require(size == 0 && received == 0 && chunks == 0, "upload cleared");
        (,,, IProvaInference.Tensor[] memory inputs,) = _info(id);
        require(inputs.length == 1, "modelInfo after commit");
    }

    /// modelInfo, or empty templates if INFER reverts (UnknownModel).
    function _info(bytes32 model_)
        private
        view
        returns (uint64, uint64, uint64, IProvaInference.Tensor[] memory, IProvaInference.Tensor[] memory)
    {
        try IProvaInference(PROVA_INFERENCE).modelInfo(model_) returns (
            uint64 a, uint64 b, uint64 c, IProvaInference.Tensor[] memory i, IProvaInference.Tensor[] memory o
        ) {
            return (a, b, c, i, o);
        } catch {
            return (0, 0, 0, new IProvaInference.Tensor[](0), new IProvaInference.Tensor[](0));
        }
    }
}
