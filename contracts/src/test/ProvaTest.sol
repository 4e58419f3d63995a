// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PROVA_INFERENCE} from "../IProvaInference.sol";
import {IModelRegistry, MODEL_REGISTRY} from "../IModelRegistry.sol";

/// @dev The Foundry cheatcodes the shim uses: a subset of forge-std's `Vm`, declared here so
///      that this file needs nothing but itself (and works beside forge-std's `Test`).
interface ProvaVm {
    function ffi(string[] calldata commandInput) external returns (bytes memory result);
    function etch(address target, bytes calldata newRuntimeBytecode) external;
    function load(address target, bytes32 slot) external view returns (bytes32 data);
    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory value);
    function projectRoot() external view returns (string memory path);
    function toString(bytes calldata value) external pure returns (string memory stringifiedValue);
    function toString(bytes32 value) external pure returns (string memory stringifiedValue);
    function toString(address value) external pure returns (string memory stringifiedValue);
    function toString(uint256 value) external pure returns (string memory stringifiedValue);
    function label(address account, string calldata newLabel) external;
    function allowCheatcodes(address account) external;
}

/// @title ProvaShim
/// @notice Stands in for INFER (0x…0F00) and MODEL_REGISTRY (0x…0F01) inside Foundry's EVM,
///         which has no Prova precompiles. Each call is handed to `prova shim` through
///         `vm.ffi`; `prova` runs it through the chain's own precompile code and the shim
///         replays the answer: the same return data, the same revert data (custom errors), the
///         same gas (burnt here), the same out-of-gas halts. Installed by `ProvaTest`.
/// @dev Registered models and staged uploads are this contract's storage at MODEL_REGISTRY, in
///      the chain's layout (slot = model id, value 1; an upload's header and chunk hashes at
///      keccak256("prova.upload" ‖ uploader ‖ id) + 0, 1, 2, …), so a forked chain's models are
///      seen too. Model bytes and upload chunks are kept by `prova` in a content-addressed cache
///      (`PROVA_SHIM_CACHE`, default `<project>/cache/prova-shim`). Environment: `PROVA_BIN` (default `prova`),
///      `PROVA_SHIM_MODELS` (a directory of .onnx files for registered models the cache lacks).
///      Differences from the chain (docs/foundry.md): a model's cold surcharge is charged again
///      after a STATICCALL (warmth cannot be written in a static context), and the burnt gas
///      is at least the chain's (the ffi round trip itself costs a few thousand more).
contract ProvaShim {
    ProvaVm private constant VM = ProvaVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev Selector of the static-context probe (a call to self that writes transient storage).
    bytes4 private constant PROBE = bytes4(keccak256("prova.shim.probe()"));
    /// @dev hex chunk size for ffi arguments (Linux caps one argument at 128 KiB).
    uint256 private constant CHUNK = 48 * 1024;

    fallback(bytes calldata input) external payable returns (bytes memory) {
        if (msg.sender == address(this) && input.length == 4 && bytes4(input) == PROBE) {
            assembly {
                tstore(0, 0)
            }
            return "";
        }
        uint256 start = gasleft();
        bool isStatic = _isStatic();
        bool isInfer = address(this) == PROVA_INFERENCE;
        (bool hasKey, bytes32 key) = isInfer ? _inferKey(input) : _registryKey(input);

        string[] memory cmd = _command(input, start, isInfer, isStatic, hasKey, key);
        (uint8 status, uint64 gasUsed, bytes memory data, bytes32[] memory stored, bytes32[] memory warm) =
            abi.decode(VM.ffi(cmd), (uint8, uint64, bytes, bytes32[], bytes32[]));

        if (status == 2) {
            // An exceptional halt consumes all the call's gas, as the precompile's does.
            assembly {
                invalid()
            }
        }
        if (status == 0) {
            if (!isInfer) {
                // The registry's storage as the call left it, as (slot, value) pairs:
                // registrations and uploads (only state-changing calls change it, and never
                // under STATICCALL, where they halt).
                for (uint256 i = 0; i + 1 < stored.length; i += 2) {
                    bytes32 slot = stored[i];
                    bytes32 value = stored[i + 1];
                    assembly {
                        if iszero(eq(sload(slot), value)) { sstore(slot, value) }
                    }
                }
            } else if (!isStatic) {
                for (uint256 i = 0; i < warm.length; i++) {
                    bytes32 id = warm[i];
                    assembly {
                        tstore(id, 1)
                    }
                }
            }
        }
        // Burn what the precompile charges, measured from the start of the call.
        if (gasUsed < start) {
            uint256 until = start - gasUsed;
            while (gasleft() > until) {}
        }
        if (status == 1) {
            assembly {
                revert(add(data, 32), mload(data))
            }
        }
        return data;
    }

    function _command(bytes calldata input, uint256 gas, bool isInfer, bool isStatic, bool hasKey, bytes32 key)
        private
        view
        returns (string[] memory cmd)
    {
        (bytes32 upload, uint256 slots) = isInfer ? (bytes32(0), 0) : _uploadSlots(input);
        cmd = new string[](20 + 2 * slots + input.length / CHUNK);
        cmd[0] = VM.envOr("PROVA_BIN", string("prova"));
        cmd[1] = "shim";
        cmd[2] = isInfer ? "infer" : "registry";
        cmd[3] = "--gas";
        cmd[4] = VM.toString(gas);
        cmd[5] = "--cache";
        cmd[6] = VM.envOr("PROVA_SHIM_CACHE", string.concat(VM.projectRoot(), "/cache/prova-shim"));
        cmd[7] = "--caller";
        cmd[8] = VM.toString(msg.sender);
        uint256 k = _flags(cmd, 9, isInfer, isStatic, hasKey, key);
        for (uint256 i = 0; i < slots; i++) {
            bytes32 slot = bytes32(uint256(upload) + i);
            cmd[k++] = "--slot";
            cmd[k++] = string.concat(VM.toString(slot), "=", VM.toString(VM.load(MODEL_REGISTRY, slot)));
        }
        cmd[k++] = "--";
        k = _chunks(cmd, k, input);
        assembly {
            mstore(cmd, k) // the array's length: the arguments written
        }
    }

    function _flags(string[] memory cmd, uint256 k, bool isInfer, bool isStatic, bool hasKey, bytes32 key)
        private
        view
        returns (uint256)
    {
        if (hasKey && VM.load(MODEL_REGISTRY, key) != bytes32(0)) {
            cmd[k++] = "--registered";
            cmd[k++] = VM.toString(key);
        }
        bool warm;
        if (hasKey && isInfer) {
            assembly {
                warm := iszero(iszero(tload(key)))
            }
        }
        if (warm) {
            cmd[k++] = "--warm";
            cmd[k++] = VM.toString(key);
        }
        string memory models = VM.envOr("PROVA_SHIM_MODELS", string(""));
        if (bytes(models).length > 0) {
            cmd[k++] = "--models";
            cmd[k++] = models;
        }
        if (msg.value > 0) cmd[k++] = "--value";
        if (isStatic) cmd[k++] = "--static";
        return k;
    }

    /// @dev The calldata as hex, in arguments of at most `CHUNK` bytes each.
    function _chunks(string[] memory cmd, uint256 k, bytes calldata input) private pure returns (uint256) {
        if (input.length == 0) {
            cmd[k++] = "0x";
            return k;
        }
        for (uint256 at = 0; at < input.length; at += CHUNK) {
            uint256 end = at + CHUNK < input.length ? at + CHUNK : input.length;
            cmd[k++] = VM.toString(input[at:end]);
        }
        return k;
    }

    /// @dev INFER's model id: the first argument of every function, when the calldata has one.
    function _inferKey(bytes calldata input) private pure returns (bool, bytes32) {
        if (input.length < 36) return (false, bytes32(0));
        return (true, bytes32(input[4:36]));
    }

    /// @dev MODEL_REGISTRY's model id: `exists(id)`'s argument, or the keccak256 of `deploy`'s
    ///      bytes when the calldata holds them (malformed calldata is `prova`'s to refuse).
    function _registryKey(bytes calldata input) private pure returns (bool, bytes32) {
        if (input.length < 36) return (false, bytes32(0));
        if (bytes4(input) != IModelRegistry.deploy.selector) return (true, bytes32(input[4:36]));
        uint256 offset = uint256(bytes32(input[4:36]));
        if (offset > input.length || input.length - 4 - 32 < offset) return (false, bytes32(0));
        uint256 at = 4 + offset;
        uint256 len = uint256(bytes32(input[at:at + 32]));
        if (len > input.length - at - 32) return (false, bytes32(0));
        return (true, keccak256(input[at + 32:at + 32 + len]));
    }

    /// @dev The staged upload a registry call reads: its header slot and how many slots from
    ///      there to pass (the header; for `commitUpload`, every chunk hash too), or (0, 0).
    function _uploadSlots(bytes calldata input) private view returns (bytes32 header, uint256 slots) {
        if (input.length < 36) return (bytes32(0), 0);
        bytes4 selector = bytes4(input);
        address uploader = msg.sender;
        bytes32 id = bytes32(input[4:36]);
        if (selector == IModelRegistry.uploadStatus.selector) {
            if (input.length < 68) return (bytes32(0), 0);
            uploader = address(uint160(uint256(id)));
            id = bytes32(input[36:68]);
        } else if (
            selector != IModelRegistry.beginUpload.selector && selector != IModelRegistry.appendChunk.selector
                && selector != IModelRegistry.commitUpload.selector && selector != IModelRegistry.cancelUpload.selector
        ) {
            return (bytes32(0), 0);
        }
        header = keccak256(abi.encodePacked(bytes12("prova.upload"), uploader, id));
        uint256 word = uint256(VM.load(MODEL_REGISTRY, header));
        if (word == 0) return (header, 0);
        slots = selector == IModelRegistry.commitUpload.selector ? 1 + uint32(word >> 128) : 1;
    }

    /// @dev Whether this frame runs under STATICCALL: a call to self that writes transient
    ///      storage fails there.
    function _isStatic() private returns (bool) {
        (bool ok,) = address(this).call{gas: 10_000}(abi.encodePacked(PROBE));
        return !ok;
    }
}

/// @title ProvaTest
/// @notice Base for Foundry tests (and scripts) of contracts that call Prova: inherit it and
///         call `installProva()` in `setUp()`; INFER and MODEL_REGISTRY then answer as on
///         chain. Needs `ffi = true` in foundry.toml and the `prova` binary (`PROVA_BIN`).
/// @dev Works beside forge-std's `Test` (`contract MyTest is Test, ProvaTest`): it declares no
///      `vm` of its own.
abstract contract ProvaTest {
    ProvaVm private constant PROVA_VM = ProvaVm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Puts the shim at INFER's and MODEL_REGISTRY's addresses (storage is kept, so a
    ///         forked chain's registered models stay registered).
    function installProva() internal {
        bytes memory code = type(ProvaShim).runtimeCode;
        PROVA_VM.etch(PROVA_INFERENCE, code);
        PROVA_VM.etch(MODEL_REGISTRY, code);
        // On a fork, accounts that exist on the forked chain may use cheatcodes only when allowed.
        PROVA_VM.allowCheatcodes(PROVA_INFERENCE);
        PROVA_VM.allowCheatcodes(MODEL_REGISTRY);
        PROVA_VM.label(PROVA_INFERENCE, "ProvaInference");
        PROVA_VM.label(MODEL_REGISTRY, "ModelRegistry");
    }
}
