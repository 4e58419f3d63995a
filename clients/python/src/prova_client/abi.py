"""The precompiles' addresses and ABIs, and :func:`with_prova_errors`.

The ABIs are copies of the ``abi`` field of ``contracts/out/IProvaInference.json`` and
``contracts/out/IModelRegistry.json``, shipped as package data
(``prova_client/data/*.abi.json``); ``clients/python/tests/test_offline.py`` fails if they
drift from ``contracts/out`` and ``clients/python/sync_abi.py`` refreshes them.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from typing import Any

__all__ = [
    "PROVA_INFERENCE",
    "MODEL_REGISTRY",
    "PROVA_INFERENCE_ABI",
    "MODEL_REGISTRY_ABI",
    "PROVA_ERRORS_ABI",
    "with_prova_errors",
    "decode_custom_error",
]

#: Address of the INFER precompile.
PROVA_INFERENCE = "0x0000000000000000000000000000000000000F00"
#: Address of the MODEL_REGISTRY precompile.
MODEL_REGISTRY = "0x0000000000000000000000000000000000000F01"


def _load(name: str) -> list[dict[str, Any]]:
    text = resources.files("prova_client").joinpath("data", name).read_text(encoding="utf-8")
    return json.loads(text)


#: ABI of ``IProvaInference`` (``infer``, ``inferFixed``, ``modelInfo`` and its errors).
PROVA_INFERENCE_ABI: list[dict[str, Any]] = _load("IProvaInference.abi.json")
#: ABI of ``IModelRegistry`` (``deploy``, ``exists``, the staged upload, ``ModelRejected``).
MODEL_REGISTRY_ABI: list[dict[str, Any]] = _load("IModelRegistry.abi.json")
#: The custom errors either precompile reverts with: UnknownModel, BadInput, InferenceFailed,
#: ModelRejected.
PROVA_ERRORS_ABI: list[dict[str, Any]] = [
    e for e in PROVA_INFERENCE_ABI + MODEL_REGISTRY_ABI if e.get("type") == "error"
]


def _signature(entry: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    def typ(p: dict[str, Any]) -> str:
        t = p["type"]
        if t.startswith("tuple"):
            return "(" + ",".join(typ(c) for c in p.get("components", [])) + ")" + t[5:]
        return t

    return entry.get("name", ""), tuple(typ(p) for p in entry.get("inputs", []))


def with_prova_errors(abi: Any) -> list[dict[str, Any]]:
    """A copy of a contract's `abi` with the precompiles' custom errors added, so that errors
    a contract lets bubble up from INFER or MODEL_REGISTRY are part of its interface. `abi` may
    be a list, its JSON text, or a compiler artifact with an ``"abi"`` key. An error already
    present with the same signature (name and input types) is not added again; the input is
    not modified."""
    if isinstance(abi, (str, bytes)):
        abi = json.loads(abi)
    if isinstance(abi, dict):
        if "abi" not in abi:
            raise ValueError("expected an ABI list or an artifact with an 'abi' key")
        abi = abi["abi"]
    if not isinstance(abi, list) or not all(isinstance(e, dict) for e in abi):
        raise ValueError("an ABI is a list of JSON objects")
    out = copy.deepcopy(abi)
    have = {_signature(e) for e in out if e.get("type") == "error"}
    for e in PROVA_ERRORS_ABI:
        if _signature(e) not in have:
            out.append(copy.deepcopy(e))
            have.add(_signature(e))
    return out


def decode_custom_error(abi: Any, exc_or_revert_data: Any) -> tuple[str, dict[str, Any]] | None:
    """``(name, {argument: value})`` of the custom error in `abi` (a list, JSON text or an
    artifact) that the revert data carries, or None if no error of `abi` matches. web3.py raises
    ``ContractCustomError`` with the raw data only: this decodes it with a contract's ABI, for
    instance one extended by :func:`with_prova_errors`. Accepts the same inputs as
    :func:`~prova_client.errors.decode_prova_error`."""
    from eth_abi import decode as abi_decode
    from eth_hash.auto import keccak

    from .errors import _revert_bytes

    if isinstance(abi, (str, bytes)):
        abi = json.loads(abi)
    if isinstance(abi, dict):
        abi = abi.get("abi", [])
    raw = _revert_bytes(exc_or_revert_data)
    if raw is None or len(raw) < 4:
        return None
    for entry in abi:
        if entry.get("type") != "error":
            continue
        name, types = _signature(entry)
        if keccak(f"{name}({','.join(types)})".encode())[:4] != raw[:4]:
            continue
        try:
            values = abi_decode(list(types), raw[4:], strict=True)
        except Exception:  # noqa: BLE001 - a selector clash with undecodable arguments
            continue
        names = [p.get("name") or f"arg{i}" for i, p in enumerate(entry.get("inputs", []))]
        return name, dict(zip(names, values))
    return None
