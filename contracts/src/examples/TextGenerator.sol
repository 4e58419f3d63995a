// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IProvaInference, PROVA_INFERENCE} from "../IProvaInference.sol";

/// @title TextGenerator
/// @notice Writes text on chain with a character-level language model run by the Prova
///         precompile's `generate`: the prompt is encoded, the continuation generated and
///         decoded in the same transaction, stored and announced. Every validator re-ran the
///         model to accept the block, so the text is what the model says, checkably.
/// @dev Tokenizer: a character model whose token `i` is the single byte `vocab[i]` (the
///      `tokens` of fixtures/lm/char_lm.tokenizer.json, concatenated). The seed of a sampled
///      completion is derived from the block's randomness, the caller and the completion's
///      index, so nobody picks it alone; greedy completions (temperature 0) ignore it.
contract TextGenerator {
    struct Completion {
        address author;
        uint64 blockNumber;
        uint64 seed;
        string prompt;
        string text;
    }

    /// @notice keccak256 of the decoder's ONNX bytes.
    bytes32 public immutable modelId;

    /// @notice Token `i` of the model is the byte `vocab[i]`.
    bytes public vocab;

    /// @dev Byte value -> token id + 1 (0: not in the vocabulary).
    uint16[256] private tokenOf;

    Completion[] private completions;

    /// @notice `author` completed `prompt` with `text` (completion number `id`).
    event Generated(uint256 indexed id, address indexed author, string prompt, string text);

    /// @notice The prompt's byte at `index` is not in the model's vocabulary.
    error NotInVocabulary(uint256 index, bytes1 char);
    /// @notice The vocabulary is empty, longer than 256 bytes, or repeats a byte.
    error BadVocabulary();

    constructor(bytes32 modelId_, bytes memory vocab_) {
        if (vocab_.length == 0 || vocab_.length > 256) revert BadVocabulary();
        for (uint256 i = 0; i < vocab_.length; i++) {
            uint8 b = uint8(vocab_[i]);
            if (tokenOf[b] != 0) revert BadVocabulary();
            tokenOf[b] = uint16(i + 1);
        }
        modelId = modelId_;
        vocab = vocab_;
    }

    /// @notice Token ids of `text` (one per byte).
    function encode(string memory text) public view returns (uint32[] memory ids) {
        bytes memory b = bytes(text);
        ids = new uint32[](b.length);
        for (uint256 i = 0; i < b.length; i++) {
            uint16 t = tokenOf[uint8(b[i])];
            if (t == 0) revert NotInVocabulary(i, b[i]);
            ids[i] = t - 1;
        }
    }

    /// @notice The text of token ids `ids`.
    function decode(uint32[] memory ids) public view returns (string memory) {
        bytes memory v = vocab;
        bytes memory out = new bytes(ids.length);
        for (uint256 i = 0; i < ids.length; i++) {
            out[i] = ids[i] < v.length ? v[ids[i]] : bytes1("?");
        }
        return string(out);
    }

    /// @notice Generates up to `maxNewTokens` characters after `prompt` and stores them.
    /// @param temperatureMilli 0 for greedy decoding, else the temperature in thousandths.
    /// @param topK Sample among the topK most likely characters (0: all).
    /// @return id The completion's number. @return text The generated characters.
    function complete(string calldata prompt, uint32 maxNewTokens, uint32 temperatureMilli, uint32 topK)
        external
        returns (uint256 id, string memory text)
    {
        id = completions.length;
        uint64 seed = uint64(uint256(keccak256(abi.encode(block.prevrandao, msg.sender, id))));
        uint32[] memory tokens = IProvaInference(PROVA_INFERENCE).generate(
            modelId, encode(prompt), maxNewTokens, seed, temperatureMilli, topK
        );
        text = decode(tokens);
        completions.push(Completion(msg.sender, uint64(block.number), seed, prompt, text));
        emit Generated(id, msg.sender, prompt, text);
    }

    /// @notice What `complete` would generate now, without storing it (greedy or with `seed`).
    function preview(string calldata prompt, uint32 maxNewTokens, uint64 seed, uint32 temperatureMilli, uint32 topK)
        external
        view
        returns (string memory)
    {
        uint32[] memory tokens = IProvaInference(PROVA_INFERENCE).generate(
            modelId, encode(prompt), maxNewTokens, seed, temperatureMilli, topK
        );
        return decode(tokens);
    }

    /// @notice Number of stored completions.
    function count() external view returns (uint256) {
        return completions.length;
    }

    /// @notice Completion number `id`.
    function completion(uint256 id) external view returns (Completion memory) {
        return completions[id];
    }
}
