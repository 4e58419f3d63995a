""":class:`Prova`: the precompiles and the node's ``prova_*`` methods through a web3.py ``Web3``."""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
from eth_hash.auto import keccak
from web3.exceptions import ContractLogicError

from .abi import MODEL_REGISTRY, MODEL_REGISTRY_ABI, PROVA_INFERENCE, PROVA_INFERENCE_ABI
from .errors import ProvaRpcError, TransactionFailed, decode_prova_error
from .fixed import FixedTensor, to_fixed
from .tensors import DTYPES, decode_canonical, decode_tensor, encode_tensor, tensor_from_json

__all__ = ["Prova", "model_id_of", "transact"]

_TAGS = ("latest", "earliest", "pending", "safe", "finalized")


def model_id_of(onnx: Any) -> str:
    """``keccak256(onnx bytes)`` as ``0x`` hex: the id MODEL_REGISTRY gives the model. `onnx` is
    bytes (or bytearray/memoryview) or a path (``os.PathLike``; a ``str`` is taken for a path
    too)."""
    return "0x" + keccak(_onnx_bytes(onnx)).hex()


def _onnx_bytes(onnx: Any) -> bytes:
    if isinstance(onnx, (bytes, bytearray, memoryview)):
        return bytes(onnx)
    if isinstance(onnx, (str, os.PathLike)):
        with open(onnx, "rb") as f:
            return f.read()
    raise TypeError(f"ONNX model must be bytes or a path, got {type(onnx).__name__}")


def _b32(value: Any, what: str) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
    elif isinstance(value, str):
        s = value[2:] if value[:2] in ("0x", "0X") else value
        try:
            raw = bytes.fromhex(s)
        except ValueError:
            raise ValueError(f"{what} must be 32 bytes (0x + 64 hex digits), got {value!r}") from None
    else:
        raise ValueError(f"{what} must be 32 bytes or a hex string, got {type(value).__name__}")
    if len(raw) != 32:
        raise ValueError(f"{what} must be 32 bytes (0x + 64 hex digits), got {len(raw)} bytes")
    return raw


def _hex(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def _int(q: Any) -> Any:
    """A JSON-RPC quantity as an int (None stays None)."""
    if q is None or isinstance(q, int):
        return q
    return int(q, 16)


def _raise_typed(e: BaseException) -> None:
    typed = decode_prova_error(e)
    if typed is not None:
        raise typed from e


def _resolve_account(w3: Any, account: Any) -> tuple[str, Any]:
    """(sender address, local signer or None)."""
    if account is None:
        account = w3.eth.default_account
        if not account or not isinstance(account, str) and not hasattr(account, "address"):
            raise ValueError("no account: pass account= (an address, a private key or a LocalAccount) "
                             "or set w3.eth.default_account")
    if hasattr(account, "address") and hasattr(account, "sign_transaction"):
        return account.address, account
    if isinstance(account, (bytes, bytearray)) and len(account) == 32 or (
        isinstance(account, str) and len(account.removeprefix("0x")) == 64
    ):
        from eth_account import Account

        acct = Account.from_key(account)
        return acct.address, acct
    if isinstance(account, str) and len(account.removeprefix("0x")) == 40:
        from web3 import Web3

        return Web3.to_checksum_address(account), None
    raise ValueError(
        "account must be an address (the node signs: eth_sendTransaction), a 32-byte private key "
        "or a LocalAccount"
    )


def transact(w3: Any, call: Any, account: Any = None, *, timeout: float = 120, tx: dict | None = None) -> Any:
    """Sends a contract function call or constructor (``contract.functions.f(...)``,
    ``contract.constructor(...)``) as a transaction from `account` and waits for its receipt.

    `account` is an address the node signs for (its dev accounts: ``eth_sendTransaction``), a
    private key or an ``eth_account`` ``LocalAccount`` (signed here, ``eth_sendRawTransaction``);
    None means ``w3.eth.default_account``. Gas is estimated by the node: a revert there raises the
    typed :class:`~prova_client.errors.ProvaError` when it is a Prova error (else web3.py's
    exception). A receipt with status 0 raises :class:`~prova_client.errors.TransactionFailed`.
    """
    sender, signer = _resolve_account(w3, account)
    params = dict(tx or {})
    params["from"] = sender
    try:
        if signer is None:
            tx_hash = call.transact(params)
        else:
            if "nonce" not in params:
                params["nonce"] = w3.eth.get_transaction_count(sender, "pending")
            built = call.build_transaction(params)
            signed = signer.sign_transaction(built)
            tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    except ContractLogicError as e:
        _raise_typed(e)
        raise
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        raise TransactionFailed("transaction", receipt)
    return receipt


class Prova:
    """Prova's precompiles and ``prova_*`` methods over a web3.py ``Web3`` (sync provider).

    Model ids are given as ``0x`` hex strings or 32 bytes and returned as ``0x`` hex strings.
    Reverts of the precompiles raise :class:`~prova_client.errors.UnknownModel`,
    :class:`~prova_client.errors.BadInput`, :class:`~prova_client.errors.InferenceFailed` or
    :class:`~prova_client.errors.ModelRejected`; JSON-RPC errors of ``prova_*`` methods raise
    :class:`~prova_client.errors.ProvaRpcError`.
    """

    def __init__(self, w3: Any, *, inference_address: str = PROVA_INFERENCE, registry_address: str = MODEL_REGISTRY):
        self.w3 = w3
        self.inference = w3.eth.contract(address=inference_address, abi=PROVA_INFERENCE_ABI)
        self.registry = w3.eth.contract(address=registry_address, abi=MODEL_REGISTRY_ABI)
        self._info: dict[bytes, dict[str, Any]] = {}

    # --- precompiles ---------------------------------------------------------------------------

    def _call(self, fn: Any, tx: dict | None = None) -> Any:
        try:
            return fn.call(tx) if tx else fn.call()
        except ContractLogicError as e:
            _raise_typed(e)
            raise

    def model_info(self, model_id: Any) -> dict[str, Any]:
        """``modelInfo`` of a deployed model::

            {"model_id": "0x…", "size_bytes": int, "macs": int, "gas_per_call": int,
             "inputs": [{"dtype": "f32", "dtype_code": 0, "shape": [1, 64]}, …],
             "outputs": [...]}

        (``gas_per_call`` is the warm price). Raises UnknownModel for an unknown id. Cached per
        id (a model's signature never changes: the id is the hash of its bytes)."""
        mid = _b32(model_id, "model id")
        if mid not in self._info:
            size, macs, gas, ins, outs = self._call(self.inference.functions.modelInfo(mid))

            def tpl(t: Any) -> dict[str, Any]:
                dt = DTYPES[t[0]] if 0 <= t[0] < len(DTYPES) else None
                return {
                    "dtype": dt.name if dt else None,
                    "dtype_code": int(t[0]),
                    "shape": [int(d) for d in t[1]],
                }

            self._info[mid] = {
                "model_id": _hex(mid),
                "size_bytes": int(size),
                "macs": int(macs),
                "gas_per_call": int(gas),
                "inputs": [tpl(t) for t in ins],
                "outputs": [tpl(t) for t in outs],
            }
        info = self._info[mid]
        return {**info, "inputs": [dict(t) for t in info["inputs"]], "outputs": [dict(t) for t in info["outputs"]]}

    def _encode_inputs(self, mid: bytes, inputs: Any, cast: bool) -> list[Any]:
        if isinstance(inputs, np.ndarray):
            inputs = [inputs]
        if not isinstance(inputs, (list, tuple)):
            raise ValueError("inputs must be a list of arrays, one per model input")
        templates = None
        out = []
        for i, x in enumerate(inputs):
            if isinstance(x, (tuple, list)) and len(x) == 3 and isinstance(x[2], (bytes, bytearray)):
                out.append((int(x[0]), [int(d) for d in x[1]], bytes(x[2])))  # already encoded
                continue
            dtype = None
            if cast:
                if templates is None:
                    templates = self.model_info(mid)["inputs"]
                if i < len(templates) and templates[i]["dtype"] is not None:
                    dtype = templates[i]["dtype"]
            try:
                out.append(encode_tensor(x, dtype))
            except ValueError as e:
                raise ValueError(f"input {i}: {e}") from None
        return out

    def infer(self, model_id: Any, inputs: Sequence[Any], *, cast: bool = True) -> list[np.ndarray]:
        """Runs the model on `inputs` with an ``eth_call`` to INFER (0x…0F00) and returns its
        outputs as numpy arrays, in the model's output order and dtypes.

        `inputs` is a list with one array per model input (a single ndarray is taken as a
        one-input list); nested lists and ABI tuples ``(dtype, shape, data)`` are accepted too.
        With ``cast=True`` (default) each input is converted to the dtype of the model's
        input (from :meth:`model_info`, cached): float64 data for an f32 input is rounded to
        f32, integer inputs are range-checked (ValueError). With ``cast=False`` arrays are sent
        in their own dtype and the node checks them (BadInput). Shapes are never changed.
        """
        mid = _b32(model_id, "model id")
        tensors = self._encode_inputs(mid, inputs, cast)
        outs = self._call(self.inference.functions.infer(mid, tensors))
        return [decode_tensor(t) for t in outs]

    def infer_fixed(self, model_id: Any, values: Any, decimals: int | None = None) -> list[FixedTensor]:
        """``inferFixed`` on a single-input model: `values` (anything :func:`to_fixed` takes, or
        a ready :class:`FixedTensor` with ``decimals=None``) with `decimals` places. Float
        inputs are ``elements / 10**decimals``; integer inputs take the values as they are
        (``decimals`` must be 0). Returns one :class:`FixedTensor` per output: float outputs
        ``round_half_even(x * 10**decimals)``, integer outputs unscaled with decimals 0. Use
        :func:`from_fixed` for floats or Decimals."""
        mid = _b32(model_id, "model id")
        if decimals is None:
            if isinstance(values, dict):
                values = FixedTensor(values["elements"], values["shape"], values["decimals"])
            if not (isinstance(values, tuple) and len(values) == 3):
                raise ValueError("decimals is required unless values is a FixedTensor")
            ft = FixedTensor(list(values[0]), list(values[1]), int(values[2]))
        else:
            ft = to_fixed(values, decimals)
        outs = self._call(self.inference.functions.inferFixed(mid, ft.elements, ft.shape, ft.decimals))
        return [FixedTensor(list(e), [int(d) for d in s], int(dec)) for e, s, dec in outs]

    def decoder_info(self, model_id: Any) -> dict[str, Any]:
        """``decoderInfo`` of a deployed language model (a decoder with past)::

            {"vocab_size": int, "max_context": int, "eos_token": int | None,
             "gas_per_token": int, "base_gas": int}

        Raises BadInput for a model that is not a decoder, UnknownModel for an unknown id."""
        vocab, context, eos, per_token, base = self._call(
            self.inference.functions.decoderInfo(_b32(model_id, "model id"))
        )
        return {
            "vocab_size": int(vocab),
            "max_context": int(context),
            "eos_token": None if int(eos) == 0xFFFFFFFF else int(eos),
            "gas_per_token": int(per_token),
            "base_gas": int(base),
        }

    def generate(
        self,
        model_id: Any,
        prompt: Sequence[int],
        max_new_tokens: int,
        *,
        temperature: float = 0.0,
        top_k: int = 0,
        seed: int = 0,
    ) -> list[int]:
        """``generate`` with an ``eth_call``: the token ids a language model generates after
        `prompt` (token ids of its tokenizer). Greedy when `temperature` is 0, else sampled
        among the `top_k` most likely tokens (all when 0) with the given `seed`: the same
        tokens on every node (docs/generation.md). `temperature` is sent in thousandths."""
        milli = round(float(temperature) * 1000)
        if not 0 <= milli <= 0xFFFFFFFF:
            raise ValueError(f"temperature {temperature} is out of range")
        fn = self.inference.functions.generate(
            _b32(model_id, "model id"),
            [int(t) for t in prompt],
            int(max_new_tokens),
            int(seed) & 0xFFFFFFFFFFFFFFFF,
            milli,
            int(top_k),
        )
        return [int(t) for t in self._call(fn)]

    def exists(self, model_id: Any) -> bool:
        """MODEL_REGISTRY ``exists(modelId)``."""
        return bool(self._call(self.registry.functions.exists(_b32(model_id, "model id"))))

    model_id_of = staticmethod(model_id_of)

    def deploy_model(self, onnx: Any, account: Any = None, *, timeout: float = 120) -> str:
        """Deploys an ONNX model (bytes or a path) through MODEL_REGISTRY and returns its id.

        Idempotent: if ``exists(id)`` already, nothing is sent. Otherwise ``deploy(bytes)`` is
        first simulated with ``eth_call`` (a refusal raises
        :class:`~prova_client.errors.ModelRejected` with the admission error, and no
        transaction is sent), then sent from `account` (see :func:`transact`) and its receipt
        awaited."""
        data = _onnx_bytes(onnx)
        mid = model_id_of(data)
        if self.exists(mid):
            return mid
        sender, _ = _resolve_account(self.w3, account)
        fn = self.registry.functions.deploy(data)
        returned = self._call(fn, {"from": sender})
        if _hex(returned) != mid:
            raise RuntimeError(f"MODEL_REGISTRY.deploy returns {_hex(returned)}, expected keccak256 {mid}")
        receipt = transact(self.w3, fn, account, timeout=timeout)
        if not self.exists(mid):
            raise RuntimeError(
                f"deploy transaction {_hex(receipt['transactionHash'])} succeeded but model {mid} does not exist"
            )
        return mid

    # --- prova_* methods ---------------------------------------------------------------------

    def _rpc(self, method: str, params: list[Any]) -> Any:
        resp = self.w3.provider.make_request(method, params)
        if not isinstance(resp, dict):
            raise ProvaRpcError(method, None, f"unexpected response {resp!r}")
        err = resp.get("error")
        if err is not None:
            if isinstance(err, dict):
                raise ProvaRpcError(method, err.get("code"), str(err.get("message")), err.get("data"), resp)
            raise ProvaRpcError(method, None, str(err), None, resp)
        if "result" not in resp:
            raise ProvaRpcError(method, None, "response has neither result nor error", None, resp)
        return resp["result"]

    @staticmethod
    def _block_param(block: Any) -> str:
        if isinstance(block, bool):
            raise ValueError("block must be a number, a tag or a 0x quantity")
        if isinstance(block, (int, np.integer)):
            if block < 0:
                raise ValueError(f"block number must not be negative: {block}")
            return hex(int(block))
        if isinstance(block, str) and (block in _TAGS or block.startswith("0x")):
            return block
        raise ValueError(f"block must be a number, one of {_TAGS} or a 0x quantity, got {block!r}")

    def get_model(self, model_id: Any) -> dict[str, Any] | None:
        """``prova_getModel(modelId)``: the node's full model info (id, size_bytes, opset,
        inputs/outputs with names, ops, params, cost, gas_per_call, gas_cold_call), or None if
        the node has no such model."""
        return self._rpc("prova_getModel", [_hex(_b32(model_id, "model id"))])

    @staticmethod
    def _record(r: dict[str, Any]) -> dict[str, Any]:
        out = dict(r)
        for k in ("blockNumber", "txIndex", "callIndex", "gas"):
            if k in out:
                out[k] = _int(out[k])
        if isinstance(out.get("outputs"), list):
            out["outputs"] = [tensor_from_json(t) for t in out["outputs"]]
        return out

    def get_inferences(self, target: Any, *, raw: bool = False) -> list[dict[str, Any]] | None:
        """``prova_getInferences``: the inference records of a transaction (`target` a 32-byte
        hash) or of a block (a number or tag), in execution order; None if the node does not
        know the transaction or block.

        Each record: ``blockNumber``, ``txHash``, ``txIndex``, ``callIndex``, ``modelId``,
        ``inputHash``, ``gas``, ``success``, and ``outputHash`` and ``outputs`` (numpy arrays)
        on success or ``error`` (the revert data, hex; see :func:`decode_prova_error`) on
        failure. Quantities are ints; ``raw=True`` returns the node's JSON untouched."""
        if isinstance(target, (bytes, bytearray)) or (isinstance(target, str) and len(target) == 66):
            param: Any = _hex(_b32(target, "transaction hash"))
        else:
            param = self._block_param(target)
        result = self._rpc("prova_getInferences", [param])
        if result is None or raw:
            return result
        return [self._record(r) for r in result]

    def get_block_with_witness(self, block: Any = "latest", *, raw: bool = False) -> dict[str, Any] | None:
        """``prova_getBlockWithWitness``: the block as validators take it -- ``number``, ``hash``,
        ``header`` (the node's JSON header), ``headerRlp``, ``inferencesRoot``, ``transactions``
        (raw EIP-2718, hex) and ``witness`` (records: ``txIndex``, ``callIndex``, ``modelId``,
        ``inputHash``, ``output`` (canonical tensors on success, revert data otherwise), ``gas``,
        ``success``). None if there is no such block. Unless ``raw=True``, quantities are ints
        and each successful record also has ``outputs``, its ``output`` decoded to numpy
        arrays."""
        result = self._rpc("prova_getBlockWithWitness", [self._block_param(block)])
        if result is None or raw:
            return result
        out = dict(result)
        if "number" in out:
            out["number"] = _int(out["number"])
        witness = []
        for r in out.get("witness") or []:
            rec = self._record(r)
            if rec.get("success") and isinstance(rec.get("output"), str):
                rec["outputs"] = decode_canonical(rec["output"])
            witness.append(rec)
        out["witness"] = witness
        return out

    def get_genesis(self) -> dict[str, Any]:
        """``prova_getGenesis``: the chain's genesis (chainId, gasLimit, baseFee, timestamp,
        beneficiary, alloc, models as hex ONNX bytes), as the node returns it."""
        return self._rpc("prova_getGenesis", [])
