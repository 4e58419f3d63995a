// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IProvaInference, PROVA_INFERENCE} from "../IProvaInference.sol";
import {TensorLib} from "../TensorLib.sol";

/// @title RiskGatedVault
/// @notice A small ETH lending vault: users deposit ETH as collateral and borrow against it up
///         to a loan-to-value limit, but each borrow must also pass a default-risk model run by
///         the Prova precompile on features the borrower supplies.
/// @dev The model is generic: one input of shape `featureShape` (float inputs take the
///      fixed-point features with `decimals` decimals, via `inferFixed`); the risk score is
///      element `scoreIndex` (row-major) of output `scoreOutput`, as a fixed-point number with
///      `decimals` decimals (an integer output such as a 0/1 label is scaled up to `decimals`).
///      A borrow passes when `score <= maxScore`.
///
///      Outcomes of `borrow`:
///        - score passes: the debt is recorded, `Borrowed` is emitted, ETH is sent; returns true.
///        - score too high: `ScoreRejected` is emitted, nothing else changes; returns false.
///        - the precompile reverts with `BadInput`: the borrower's features are wrong, so the
///          call reverts with `InvalidFeatures(index, reason)`.
///        - the precompile fails otherwise (`UnknownModel`, `InferenceFailed`, or anything else):
///          the vault fails closed: `ModelError(borrower, selector, revertData)` is emitted and
///          the borrow is refused; returns false.
///      This is a demo: no interest, no liquidations, and borrowers draw on the pooled collateral.
contract RiskGatedVault {
    using TensorLib for IProvaInference.FixedTensor;

    uint256 internal constant BPS = 10_000;

    // ------------------------------------------------------------------ configuration

    address public owner;
    /// @notice keccak256 of the ONNX bytes of the risk model.
    bytes32 public riskModelId;
    /// @notice Highest score (fixed-point, `decimals` decimals) a borrow may have.
    int256 public maxScore;
    /// @notice Decimals of the features and of the score.
    uint8 public immutable decimals;
    /// @notice Which model output holds the score.
    uint256 public immutable scoreOutput;
    /// @notice Which element (row-major) of that output is the score.
    uint256 public immutable scoreIndex;
    /// @notice Loan-to-value limit, in basis points of the collateral.
    uint256 public immutable maxLtvBps;
    /// @notice Number of features: the product of `featureShape`.
    uint256 public immutable featureCount;
    uint64[] internal _featureShape;

    // ------------------------------------------------------------------ accounts

    mapping(address => uint256) public collateralOf;
    mapping(address => uint256) public debtOf;
    /// @notice Score of each account's latest scored borrow attempt.
    mapping(address => int256) public lastScoreOf;
    uint256 public totalDebt;

    // ------------------------------------------------------------------ events

    event Deposited(address indexed user, uint256 amount);
    event Withdrawn(address indexed user, uint256 amount);
    event Borrowed(address indexed user, uint256 amount, int256 score);
    event Repaid(address indexed user, uint256 amount);
    /// @notice A borrow was refused because the risk score is above `maxScore`.
    event ScoreRejected(address indexed user, uint256 amount, int256 score, int256 maxScore);
    /// @notice A borrow was refused because the model could not be run. `selector` is the
    ///         precompile error (`IProvaInference.UnknownModel.selector`,
    ///         `IProvaInference.InferenceFailed.selector`, or 0 if the revert data had none);
    ///         `revertData` is the full revert data.
    event ModelError(address indexed user, bytes4 indexed selector, bytes revertData);
    event RiskPolicyUpdated(bytes32 riskModelId, int256 maxScore);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    // ------------------------------------------------------------------ errors

    error Unauthorized();
    error ZeroAmount();
    error InvalidConfig();
    /// @notice `featureCount` features were expected, `given` were given.
    error FeatureCountMismatch(uint256 expected, uint256 given);
    /// @notice The precompile refused feature `index` (its `BadInput`).
    error InvalidFeatures(uint256 index, string reason);
    /// @notice Debt would be `debt` where the collateral allows `limit`.
    error InsufficientCollateral(uint256 debt, uint256 limit);
    error InsufficientLiquidity(uint256 requested, uint256 available);
    error RepayExceedsDebt(uint256 amount, uint256 debt);
    /// @notice The model has no output `output` / element `index` (it has `available`).
    error MissingScore(uint256 output, uint256 index, uint256 available);
    error TransferFailed();

    modifier onlyOwner() {
        if (msg.sender != owner) revert Unauthorized();
        _;
    }

    /// @param riskModelId_ keccak256 of the risk model's ONNX bytes.
    /// @param featureShape_ Shape of the model's single input, e.g. [1, 30].
    /// @param decimals_ Decimals of the fixed-point features and score.
    /// @param scoreOutput_ Index of the model output holding the score.
    /// @param scoreIndex_ Row-major index of the score within that output.
    /// @param maxScore_ Highest passing score, fixed-point with `decimals_` decimals.
    /// @param maxLtvBps_ Loan-to-value limit in basis points (1..10000).
    constructor(
        bytes32 riskModelId_,
        uint64[] memory featureShape_,
        uint8 decimals_,
        uint256 scoreOutput_,
        uint256 scoreIndex_,
        int256 maxScore_,
        uint256 maxLtvBps_
    ) {
        if (maxLtvBps_ == 0 || maxLtvBps_ > BPS || decimals_ > 38) revert InvalidConfig();
        uint256 n = TensorLib.numElements(featureShape_);
        if (n == 0) revert InvalidConfig();
        owner = msg.sender;
        riskModelId = riskModelId_;
        maxScore = maxScore_;
        decimals = decimals_;
        scoreOutput = scoreOutput_;
        scoreIndex = scoreIndex_;
        maxLtvBps = maxLtvBps_;
        featureCount = n;
        _featureShape = featureShape_;
        emit OwnershipTransferred(address(0), msg.sender);
        emit RiskPolicyUpdated(riskModelId_, maxScore_);
    }

    // ------------------------------------------------------------------ views

    /// @notice Shape of the model input the features are sent as.
    function featureShape() external view returns (uint64[] memory) {
        return _featureShape;
    }

    /// @notice Most `user` may borrow now under the loan-to-value limit, ignoring the risk check.
    function borrowLimit(address user) public view returns (uint256) {
        uint256 limit = collateralOf[user] * maxLtvBps / BPS;
        uint256 debt = debtOf[user];
        return limit > debt ? limit - debt : 0;
    }

    /// @notice The risk score of `features` (fixed-point, `decimals` decimals). Precompile
    ///         errors (`UnknownModel`, `BadInput`, `InferenceFailed`) propagate as they are.
    function riskScore(int256[] calldata features) external view returns (int256) {
        _checkFeatureCount(features);
        return _extractScore(
            IProvaInference(PROVA_INFERENCE).inferFixed(riskModelId, features, _featureShape, decimals)
        );
    }

    // ------------------------------------------------------------------ collateral

    function deposit() external payable {
        if (msg.value == 0) revert ZeroAmount();
        collateralOf[msg.sender] += msg.value;
        emit Deposited(msg.sender, msg.value);
    }

    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 collateral = collateralOf[msg.sender];
        if (amount > collateral) revert InsufficientCollateral(amount, collateral);
        uint256 remaining = collateral - amount;
        uint256 debt = debtOf[msg.sender];
        uint256 limit = remaining * maxLtvBps / BPS;
        if (debt > limit) revert InsufficientCollateral(debt, limit);
        collateralOf[msg.sender] = remaining;
        emit Withdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ loans

    /// @notice Borrows `amount` wei if the collateral allows it and the risk model scores
    ///         `features` at most `maxScore`.
    /// @param features The borrower's features, fixed-point with `decimals` decimals, row-major
    ///        for `featureShape`.
    /// @return approved True if the loan was paid out; false if it was refused by the score
    ///         (`ScoreRejected`) or because the model could not be run (`ModelError`).
    function borrow(uint256 amount, int256[] calldata features) external returns (bool approved) {
        if (amount == 0) revert ZeroAmount();
        _checkFeatureCount(features);
        uint256 debt = debtOf[msg.sender] + amount;
        uint256 limit = collateralOf[msg.sender] * maxLtvBps / BPS;
        if (debt > limit) revert InsufficientCollateral(debt, limit);
        if (amount > address(this).balance) revert InsufficientLiquidity(amount, address(this).balance);

        (bool scored, int256 score) = _score(features);
        if (!scored) return false;
        lastScoreOf[msg.sender] = score;
        int256 threshold = maxScore;
        if (score > threshold) {
            emit ScoreRejected(msg.sender, amount, score, threshold);
            return false;
        }

        debtOf[msg.sender] = debt;
        totalDebt += amount;
        emit Borrowed(msg.sender, amount, score);
        _send(msg.sender, amount);
        return true;
    }

    /// @notice Repays `msg.value` of the caller's debt.
    function repay() external payable {
        if (msg.value == 0) revert ZeroAmount();
        uint256 debt = debtOf[msg.sender];
        if (msg.value > debt) revert RepayExceedsDebt(msg.value, debt);
        debtOf[msg.sender] = debt - msg.value;
        totalDebt -= msg.value;
        emit Repaid(msg.sender, msg.value);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Points the vault at another model (same input shape and outputs) and/or threshold.
    function setRiskPolicy(bytes32 riskModelId_, int256 maxScore_) external onlyOwner {
        riskModelId = riskModelId_;
        maxScore = maxScore_;
        emit RiskPolicyUpdated(riskModelId_, maxScore_);
    }

    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ internals

    /// @dev Runs the model. Returns (true, score), or (false, 0) after emitting `ModelError`
    ///      when the model cannot be run; reverts with `InvalidFeatures` on `BadInput`.
    function _score(int256[] calldata features) internal returns (bool, int256) {
        try IProvaInference(PROVA_INFERENCE).inferFixed(riskModelId, features, _featureShape, decimals) returns (
            IProvaInference.FixedTensor[] memory outputs
        ) {
            return (true, _extractScore(outputs));
        } catch (bytes memory revertData) {
            bytes4 selector = revertData.length >= 4 ? bytes4(revertData) : bytes4(0);
            if (selector == IProvaInference.BadInput.selector) {
                (uint256 index, string memory reason) = abi.decode(_errorArgs(revertData), (uint256, string));
                revert InvalidFeatures(index, reason);
            }
            // UnknownModel(bytes32), InferenceFailed(string), or a failure without an error
            // (e.g. the precompile ran out of gas): fail closed, and tell monitoring why.
            emit ModelError(msg.sender, selector, revertData);
            return (false, 0);
        }
    }

    /// @dev The score, normalized to `decimals` decimals.
    function _extractScore(IProvaInference.FixedTensor[] memory outputs) internal view returns (int256 score) {
        if (scoreOutput >= outputs.length) revert MissingScore(scoreOutput, scoreIndex, outputs.length);
        IProvaInference.FixedTensor memory out = outputs[scoreOutput];
        if (scoreIndex >= out.elements.length) revert MissingScore(scoreOutput, scoreIndex, out.elements.length);
        score = out.valueAt(scoreIndex);
        // Float outputs come back with our decimals; integer outputs (e.g. a class label) with 0.
        if (out.decimals < decimals) score *= int256(10 ** uint256(decimals - out.decimals));
        else if (out.decimals > decimals) score /= int256(10 ** uint256(out.decimals - decimals));
    }

    function _checkFeatureCount(int256[] calldata features) internal view {
        if (features.length != featureCount) revert FeatureCountMismatch(featureCount, features.length);
    }

    /// @dev The ABI-encoded arguments of a custom error: `revertData` (at least 4 bytes long)
    ///      without its selector, copied so `revertData` itself is left intact.
    function _errorArgs(bytes memory revertData) internal pure returns (bytes memory args) {
        uint256 n = revertData.length - 4;
        args = new bytes(n);
        assembly ("memory-safe") {
            let src := add(revertData, 0x24)
            let dst := add(args, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 0x20) } {
                mstore(add(dst, i), mload(add(src, i)))
            }
            // zero what the last word copied past the end (padding, then free memory)
            mstore(add(dst, n), 0)
        }
    }

    function _send(address to, uint256 amount) internal {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed();
    }
}
