// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ProvaTest} from "prova/test/ProvaTest.sol";
import {DigitClassifier} from "prova/examples/DigitClassifier.sol";

interface ScriptCheats {
    function envBytes32(string calldata name) external view returns (bytes32);
    function startBroadcast() external;
    function stopBroadcast() external;
}

/// `forge script script/ClassifyOnChain.s.sol --rpc-url URL --broadcast --private-key KEY`
/// with MODEL_ID set: deploys a DigitClassifier and classifies one image, on the chain at URL.
/// Forge simulates first, in its own EVM: `installProva()` puts the shim there, so the
/// simulation meets INFER (cheatcodes are never broadcast; the chain runs its own precompile).
contract ClassifyOnChain is ProvaTest {
    ScriptCheats constant VM = ScriptCheats(address(uint160(uint256(keccak256("hevm cheat code")))));

    function run() external returns (DigitClassifier classifier, uint256 digit) {
        installProva();
        uint8[64] memory pixels = [
            0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0, 0, 16, 5, 0,
            0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1, 0, 0, 8, 16, 14, 10, 13,
            3
        ];
        VM.startBroadcast();
        classifier = new DigitClassifier(VM.envBytes32("MODEL_ID"));
        digit = classifier.classify(pixels);
        VM.stopBroadcast();
    }
}
