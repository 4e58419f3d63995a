"""Typed exceptions for the precompiles' custom errors, and JSON-RPC errors of the node.

::

    ProvaError (a web3 ContractCustomError, so existing ``except ContractLogicError`` still works)
    ├── UnknownModel(model_id)          INFER: no model with this id is deployed
    ├── BadInput(index, reason)         INFER: input `index` does not match the model
    ├── InferenceFailed(reason)         INFER: the runtime failed
    └── ModelRejected(reason)           MODEL_REGISTRY.deploy: admission refused the bytes

    ProvaRpcError(method, code, message, data)   a prova_* call answered with a JSON-RPC error
    TransactionFailed(receipt)                   a transaction sent by the client was mined with status 0
"""

from __future__ import annotations

from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from web3.exceptions import ContractCustomError, Web3Exception, Web3RPCError

__all__ = [
    "ProvaError",
    "UnknownModel",
    "BadInput",
    "InferenceFailed",
    "ModelRejected",
    "ProvaRpcError",
    "TransactionFailed",
    "decode_prova_error",
    "PROVA_ERROR_SELECTORS",
]


class ProvaError(ContractCustomError):
    """A revert of a Prova precompile with one of its custom errors. ``data`` is the revert
    data (``0x`` hex), ``selector`` its first four bytes; ``args`` the decoded arguments."""

    signature = ""
    types: tuple[str, ...] = ()

    def __init__(self, *values: Any, data: str | None = None) -> None:
        self.values = values
        text = f"{type(self).__name__}({', '.join(repr(v) for v in values)})"
        super().__init__(text, data=data)
        self.message = text

    @property
    def selector(self) -> str:
        return "0x" + keccak(self.signature.encode()).hex()[:8]

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return self.message

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.values == other.values  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self.values))


class UnknownModel(ProvaError):
    """``UnknownModel(bytes32 modelId)``: no model with this id has been deployed."""

    signature = "UnknownModel(bytes32)"
    types = ("bytes32",)

    def __init__(self, model_id: str, *, data: str | None = None) -> None:
        self.model_id = model_id
        """The id asked for, ``0x`` hex."""
        super().__init__(model_id, data=data)


class BadInput(ProvaError):
    """``BadInput(uint256 index, string reason)``: input `index` does not match the model
    (count, dtype, shape, value out of range, malformed calldata...)."""

    signature = "BadInput(uint256,string)"
    types = ("uint256", "string")

    def __init__(self, index: int, reason: str, *, data: str | None = None) -> None:
        self.index = index
        self.reason = reason
        super().__init__(index, reason, data=data)


class InferenceFailed(ProvaError):
    """``InferenceFailed(string reason)``: the runtime failed, or the output has no
    fixed-point form."""

    signature = "InferenceFailed(string)"
    types = ("string",)

    def __init__(self, reason: str, *, data: str | None = None) -> None:
        self.reason = reason
        super().__init__(reason, data=data)


class ModelRejected(ProvaError):
    """``ModelRejected(string reason)``: MODEL_REGISTRY refused the ONNX bytes at admission."""

    signature = "ModelRejected(string)"
    types = ("string",)

    def __init__(self, reason: str, *, data: str | None = None) -> None:
        self.reason = reason
        super().__init__(reason, data=data)


_CLASSES = (UnknownModel, BadInput, InferenceFailed, ModelRejected)
#: ``{"0x…selector": class}`` for the four errors.
PROVA_ERROR_SELECTORS = {
    "0x" + keccak(c.signature.encode()).hex()[:8]: c for c in _CLASSES
}


class ProvaRpcError(Web3RPCError):
    """A ``prova_*`` (or other) JSON-RPC call answered with an error object."""

    def __init__(self, method: str, code: Any, message: str, data: Any = None, response: Any = None):
        self.method = method
        self.code = code
        self.data = data
        text = f"{method}: JSON-RPC error {code}: {message}"
        if data is not None:
            text += f" (data: {data})"
        super().__init__(text, rpc_response=response)


class TransactionFailed(Web3Exception):
    """A transaction was mined with status 0. ``receipt`` is its receipt."""

    def __init__(self, what: str, receipt: Any) -> None:
        self.receipt = receipt
        h = receipt.get("transactionHash") if hasattr(receipt, "get") else None
        hx = h.hex() if isinstance(h, (bytes, bytearray)) else h
        super().__init__(f"{what}: transaction {hx} reverted (status 0)")


def _revert_bytes(x: Any) -> bytes | None:
    """The revert data carried by `x`, or None."""
    if isinstance(x, (bytes, bytearray, memoryview)):
        return bytes(x)
    if isinstance(x, str):
        s = x.strip()
        if s.startswith("Reverted "):
            s = s[len("Reverted ") :]
        if s[:2] in ("0x", "0X"):
            s = s[2:]
        try:
            return bytes.fromhex(s)
        except ValueError:
            return None
    if isinstance(x, dict):
        if "error" in x and isinstance(x["error"], dict):  # a whole JSON-RPC response
            return _revert_bytes(x["error"])
        return _revert_bytes(x.get("data")) if "data" in x else None
    if isinstance(x, BaseException):
        if isinstance(x, Web3RPCError) and not isinstance(x, ProvaRpcError):
            resp = getattr(x, "rpc_response", None)
            if isinstance(resp, dict):
                found = _revert_bytes(resp)
                if found is not None:
                    return found
        data = getattr(x, "data", None)
        if data is not None:
            return _revert_bytes(data)
        for a in x.args:
            if isinstance(a, (str, bytes, dict)):
                found = _revert_bytes(a)
                if found:
                    return found
    return None


def decode_prova_error(exc_or_revert_data: Any) -> ProvaError | None:
    """The :class:`ProvaError` (UnknownModel, BadInput, InferenceFailed or ModelRejected) that
    `exc_or_revert_data` carries, or None if it carries none of them.

    Accepts web3.py's ``ContractCustomError``/``ContractLogicError`` (its ``data``), a
    ``Web3RPCError`` (the response's ``error.data``), a JSON-RPC error object or response dict,
    revert bytes, or a ``0x`` hex string. Revert data with a Prova selector whose arguments do
    not decode strictly is not taken for a Prova error (None)."""
    if isinstance(exc_or_revert_data, ProvaError):
        return exc_or_revert_data
    raw = _revert_bytes(exc_or_revert_data)
    if raw is None or len(raw) < 4:
        return None
    cls = PROVA_ERROR_SELECTORS.get("0x" + raw[:4].hex())
    if cls is None:
        return None
    try:
        values = abi_decode(list(cls.types), raw[4:], strict=True)
    except (DecodingError, ValueError, TypeError, OverflowError):
        return None
    data = "0x" + raw.hex()
    if cls is UnknownModel:
        return UnknownModel("0x" + values[0].hex(), data=data)
    if cls is BadInput:
        return BadInput(int(values[0]), values[1], data=data)
    return cls(values[0], data=data)
