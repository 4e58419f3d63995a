"""Tensors as the precompile sees them (docs/abi.md).

- The ABI form, the Solidity struct ``Tensor {uint8 dtype; uint64[] shape; bytes data;}``, as the
  Python tuple ``(dtype_code, shape, data_bytes)``: :func:`encode_tensor`, :func:`decode_tensor`.
- The canonical encoding the chain hashes (``inputHash``/``outputHash`` of an inference and the
  ``output`` bytes of a witness record): :func:`encode_canonical`, :func:`decode_canonical`,
  :func:`tensors_hash`.
- The JSON form the node prints (``{"dtype":"f32","shape":[1,4],"data":[...]}``):
  :func:`tensor_from_json`, :func:`tensor_to_json`.

Data is little-endian and row-major (C order); floats are their raw IEEE-754 bits; bool is one
byte, 0 or 1; rank is at most 16.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable, NamedTuple

import numpy as np
from eth_hash.auto import keccak

__all__ = [
    "DType",
    "DTYPES",
    "MAX_RANK",
    "resolve_dtype",
    "dtype_of",
    "encode_tensor",
    "decode_tensor",
    "encode_canonical",
    "decode_canonical",
    "tensors_hash",
    "tensor_from_json",
    "tensor_to_json",
]

#: Largest rank a Prova tensor may have.
MAX_RANK = 16


class DType(NamedTuple):
    """One Prova element type."""

    code: int
    """The ``uint8 dtype`` of the Solidity struct."""
    name: str
    """Prova's name (``f32``, ``i64``, ``bool``...), as in the JSON form."""
    numpy: np.dtype
    """The little-endian numpy dtype of the data bytes."""

    @property
    def size(self) -> int:
        """Bytes per element."""
        return self.numpy.itemsize

    @property
    def is_float(self) -> bool:
        return self.numpy.kind == "f"


#: Every dtype, indexed by its code.
DTYPES: tuple[DType, ...] = (
    DType(0, "f32", np.dtype("<f4")),
    DType(1, "f64", np.dtype("<f8")),
    DType(2, "i64", np.dtype("<i8")),
    DType(3, "i32", np.dtype("<i4")),
    DType(4, "i16", np.dtype("<i2")),
    DType(5, "i8", np.dtype("i1")),
    DType(6, "u8", np.dtype("u1")),
    DType(7, "bool", np.dtype("?")),
)

_BY_NAME = {d.name: d for d in DTYPES}
_ALIASES = {
    "float32": "f32", "float": "f32", "float64": "f64", "double": "f64",
    "int64": "i64", "int32": "i32", "int16": "i16", "int8": "i8", "uint8": "u8",
    "bool_": "bool", "b1": "bool",
}
_BY_KIND_SIZE = {(d.numpy.kind, d.numpy.itemsize): d for d in DTYPES}
_SUPPORTED = ", ".join(d.name for d in DTYPES)


def _unsupported(what: Any) -> ValueError:
    return ValueError(
        f"unsupported dtype {what}: Prova tensors are {_SUPPORTED} "
        "(codes 0..7; see docs/abi.md)"
    )


def resolve_dtype(spec: Any) -> DType:
    """The :class:`DType` for a code (``0``), a name (``"f32"``, ``"float32"``), a numpy dtype
    or scalar type (``np.float32``), or a :class:`DType`. Raises ValueError for anything else."""
    if isinstance(spec, DType):
        return spec
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, (bool, np.bool_)):
        code = int(spec)
        if 0 <= code < len(DTYPES):
            return DTYPES[code]
        raise ValueError(f"unknown dtype code {code}: Prova's codes are 0..7 ({_SUPPORTED})")
    if isinstance(spec, str):
        name = _ALIASES.get(spec.lower(), spec.lower())
        if name in _BY_NAME:
            return _BY_NAME[name]
    try:
        dt = np.dtype(spec)
    except TypeError:
        raise _unsupported(repr(spec)) from None
    return dtype_of(dt)


def dtype_of(dt: Any) -> DType:
    """The :class:`DType` of a numpy dtype (any byte order). float16, complex, object, string,
    unsigned 16/32/64-bit and other dtypes Prova has no code for raise ValueError."""
    dt = np.dtype(dt)
    found = _BY_KIND_SIZE.get((dt.kind, dt.itemsize))
    if found is None or dt.fields is not None or dt.subdtype is not None:
        hint = ""
        if dt.kind in "fiub":
            hint = "; pass dtype= to convert it (values are checked)"
        raise ValueError(
            f"unsupported dtype {dt.name}: Prova tensors are {_SUPPORTED}{hint}"
        )
    return found


def _as_array(array: Any) -> np.ndarray:
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, (bytes, bytearray, memoryview, str)):
        raise ValueError(
            f"cannot make a tensor of {type(array).__name__}: give a numpy array, a number or "
            "nested lists of numbers (use decode_tensor for an ABI tuple)"
        )
    try:
        arr = np.asarray(array)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(
            f"cannot make a tensor of this {type(array).__name__}: {e} "
            "(nested lists must be rectangular and hold numbers or bools)"
        ) from None
    if arr.dtype.kind == "O":
        raise ValueError(
            "cannot make a tensor of these values: numpy made an object array of them "
            "(nested lists must be rectangular and hold numbers or bools that fit in 64 bits)"
        )
    return arr


def _where(arr: np.ndarray, bad: np.ndarray) -> tuple[Any, Any]:
    """Index and value of the first True of `bad`."""
    flat = int(np.flatnonzero(bad.reshape(-1))[0])
    if arr.ndim == 0:
        return "()", arr[()]
    idx = np.unravel_index(flat, arr.shape)
    return list(int(i) for i in idx), arr[idx]


def _convert(arr: np.ndarray, target: DType) -> np.ndarray:
    """`arr` as `target`, refusing conversions that change a value (floats round to nearest)."""
    src = arr.dtype
    if src.kind not in "biuf" or src.fields is not None:
        raise _unsupported(src.name)
    if src.kind == "f" and target.numpy.kind != "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            i, v = _where(arr, bad)
            raise ValueError(f"element {i} is {v}: not a valid {target.name} value")
        bad = arr != np.trunc(arr)
        if bad.any():
            i, v = _where(arr, bad)
            raise ValueError(f"element {i} is {v}: not an integer, cannot convert to {target.name}")
    if target.name == "bool":
        if src.kind != "b":
            bad = (arr != 0) & (arr != 1)
            if bad.any():
                i, v = _where(arr, bad)
                raise ValueError(f"element {i} is {v}: bool elements must be 0 or 1")
        return arr.astype(target.numpy)
    if target.numpy.kind in "iu":
        info = np.iinfo(target.numpy)
        if src.kind == "f":
            # Integral floats: compare in f64 against exact powers of two.
            wide = arr.astype(np.float64)
            bad = (wide < float(info.min)) | (wide >= float(info.max + 1))
        elif arr.size and (int(arr.min()) < info.min or int(arr.max()) > info.max):
            bad = np.array(
                [int(x) < info.min or int(x) > info.max for x in arr.reshape(-1).tolist()]
            ).reshape(arr.shape)
        else:
            bad = np.zeros(arr.shape, dtype=bool)
        if bad.any():
            i, v = _where(arr, bad)
            raise ValueError(
                f"element {i} is {v}: out of range for {target.name} ({info.min}..{info.max})"
            )
        return arr.astype(target.numpy)
    # Float target: round to nearest; a finite value must stay finite.
    with np.errstate(over="ignore", invalid="ignore"):
        out = arr.astype(target.numpy)
    if src.kind == "f":
        bad = np.isfinite(arr) & ~np.isfinite(out)
    else:
        bad = ~np.isfinite(out)
    if bad.any():
        i, v = _where(arr, bad)
        raise ValueError(f"element {i} is {v}: beyond the range of {target.name}")
    return out


def encode_tensor(array: Any, dtype: Any = None) -> tuple[int, list[int], bytes]:
    """A numpy array (or a number, or nested lists) as the ABI tuple
    ``(dtype_code, shape, data_bytes)`` that web3.py encodes as a ``Tensor`` struct.

    Without `dtype` the array's own dtype is used (nested lists of floats are f64, of ints i64,
    of bools bool); with one (a code, a name such as ``"f32"`` or a numpy dtype) the values are
    converted: to an integer or bool dtype only if every value is exactly representable, to a
    float dtype rounded to nearest (a finite value that overflows is an error). Non-contiguous
    and big-endian arrays are copied. Raises ValueError for dtypes Prova has no code for
    (float16, complex, object, strings, uint16/32/64 unless `dtype` is given) and ranks over 16.
    """
    arr = _as_array(array)
    if dtype is None:
        target = dtype_of(arr.dtype)
    else:
        target = resolve_dtype(dtype)
        if arr.dtype.kind not in "biuf" or arr.dtype.fields is not None:
            raise _unsupported(arr.dtype.name)
        if (arr.dtype.kind, arr.dtype.itemsize) != (target.numpy.kind, target.numpy.itemsize):
            arr = _convert(arr, target)
    if arr.ndim > MAX_RANK:
        raise ValueError(f"rank {arr.ndim} is over Prova's maximum of {MAX_RANK}")
    data = np.ascontiguousarray(arr, dtype=target.numpy).tobytes()
    return (target.code, [int(d) for d in arr.shape], data)


def _field(t: Any, name: str, pos: int) -> Any:
    if isinstance(t, dict):
        if name not in t:
            raise ValueError(f"tensor has no '{name}' field: {sorted(t)}")
        return t[name]
    if isinstance(t, (tuple, list)):
        if len(t) != 3:
            raise ValueError(f"a tensor tuple is (dtype, shape, data), got {len(t)} fields")
        return t[pos]
    if hasattr(t, name):
        return getattr(t, name)
    raise ValueError(f"not a tensor: {type(t).__name__} (expected (dtype, shape, data) or a dict)")


def _to_bytes(data: Any, what: str = "data") -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        s = data[2:] if data[:2] in ("0x", "0X") else data
        try:
            return bytes.fromhex(s)
        except ValueError:
            raise ValueError(f"{what} is not hex: {data[:20]!r}...") from None
    raise ValueError(f"{what} must be bytes or a hex string, got {type(data).__name__}")


def _check_shape(shape: Any) -> list[int]:
    if not isinstance(shape, (list, tuple)):
        raise ValueError(f"shape must be a list of integers, got {type(shape).__name__}")
    out = []
    for d in shape:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 or d >= 2**64:
            raise ValueError(f"shape {list(shape)}: dimensions must be integers in 0..2**64-1")
        out.append(int(d))
    if len(out) > MAX_RANK:
        raise ValueError(f"rank {len(out)} is over Prova's maximum of {MAX_RANK}")
    return out


def decode_tensor(tensor: Any) -> np.ndarray:
    """A ``Tensor`` struct as web3.py returns it -- ``(dtype, shape, data)`` or a dict with those
    keys -- as a numpy array of that dtype (native byte order) and shape. Raises ValueError if
    the dtype code is unknown, the data length is not ``product(shape) * element size`` or a
    bool byte is not 0 or 1."""
    dt = resolve_dtype(_field(tensor, "dtype", 0))
    shape = _check_shape(_field(tensor, "shape", 1))
    data = _to_bytes(_field(tensor, "data", 2))
    n = math.prod(shape)
    if n * dt.size != len(data):
        raise ValueError(
            f"tensor data is {len(data)} bytes; shape {shape} of {dt.name} needs "
            f"{n} x {dt.size} = {n * dt.size}"
        )
    if dt.name == "bool":
        raw = np.frombuffer(data, dtype=np.uint8)
        if (raw > 1).any():
            k = int(np.flatnonzero(raw > 1)[0])
            raise ValueError(f"bool tensor: byte {k} is {int(raw[k])}, not 0 or 1")
        return raw.astype(np.bool_).reshape(shape)
    return np.frombuffer(data, dtype=dt.numpy).astype(dt.numpy.newbyteorder("=")).reshape(shape)


def _encoded(t: Any) -> tuple[int, list[int], bytes]:
    """An input of the canonical encoders: an ABI tuple/dict or anything encode_tensor takes."""
    if isinstance(t, dict) or (
        isinstance(t, (tuple, list))
        and len(t) == 3
        and isinstance(t[2], (bytes, bytearray, memoryview))
    ):
        arr = decode_tensor(t)
        return encode_tensor(arr)
    return encode_tensor(t)


def encode_canonical(tensors: Iterable[Any]) -> bytes:
    """The canonical encoding of a list of tensors (numpy arrays or ABI tuples):
    ``count:u32le`` then per tensor ``dtype:u8 rank:u8 dim:u64le*rank data``."""
    items = [_encoded(t) for t in tensors]
    out = bytearray(struct.pack("<I", len(items)))
    for code, shape, data in items:
        out += struct.pack("<BB", code, len(shape))
        out += b"".join(struct.pack("<Q", d) for d in shape)
        out += data
    return bytes(out)


def decode_canonical(data: Any) -> list[np.ndarray]:
    """Inverse of :func:`encode_canonical`, strict as the chain's decoder: no trailing bytes,
    lengths implied by dtype and shape, bool bytes 0 or 1. Accepts bytes or a hex string."""
    buf = _to_bytes(data, "canonical tensors")
    if len(buf) < 4:
        raise ValueError(f"canonical tensors: {len(buf)} bytes, the count alone takes 4")
    (count,) = struct.unpack_from("<I", buf, 0)
    pos = 4
    if count > len(buf) - pos:  # every tensor takes at least 2 bytes
        raise ValueError(f"canonical tensors: count {count} is more than the bytes present allow")
    out = []
    for i in range(count):
        if pos + 2 > len(buf):
            raise ValueError(f"canonical tensors: tensor {i} truncated at byte {pos}")
        code, rank = struct.unpack_from("<BB", buf, pos)
        pos += 2
        if code >= len(DTYPES):
            raise ValueError(f"canonical tensors: tensor {i} has unknown dtype code {code}")
        if rank > MAX_RANK:
            raise ValueError(f"canonical tensors: tensor {i} has rank {rank} > {MAX_RANK}")
        if pos + 8 * rank > len(buf):
            raise ValueError(f"canonical tensors: tensor {i} shape truncated")
        shape = list(struct.unpack_from(f"<{rank}Q", buf, pos))
        pos += 8 * rank
        size = math.prod(shape) * DTYPES[code].size
        if size > len(buf) - pos:
            raise ValueError(
                f"canonical tensors: tensor {i} ({DTYPES[code].name} {shape}) needs {size} "
                f"data bytes, {len(buf) - pos} left"
            )
        out.append(decode_tensor((code, shape, buf[pos : pos + size])))
        pos += size
    if pos != len(buf):
        raise ValueError(f"canonical tensors: {len(buf) - pos} trailing bytes")
    return out


def tensors_hash(tensors: Iterable[Any]) -> str:
    """keccak256 of :func:`encode_canonical` as ``0x`` hex: the ``inputHash``/``outputHash`` the
    chain records for an inference."""
    return "0x" + keccak(encode_canonical(tensors)).hex()


# --- JSON form ------------------------------------------------------------------------------

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _nearest_f32(q: Fraction) -> np.float32:
    """The f32 nearest to the exact rational `q`, ties to even (no double rounding)."""
    with np.errstate(over="ignore"):
        guess = np.float32(float(q))  # correctly rounded to f64, then rounded again: check it
    if not np.isfinite(guess):
        return guess
    best = None
    for c in (np.nextafter(guess, np.float32(-np.inf)), guess, np.nextafter(guess, np.float32(np.inf))):
        if not np.isfinite(c):
            continue
        err = abs(Fraction(float(c)) - q)
        key = (err, int(np.array(c).view(np.uint32)) & 1)
        if best is None or key < best[0]:
            best = (key, c)
    return best[1]


def _json_float(v: Any, dt: DType, where: str) -> Any:
    if isinstance(v, str):
        if v in _SPECIAL:
            return _SPECIAL[v]
        try:
            v = Decimal(v)
        except Exception:
            raise ValueError(f"{where}: {v!r} is not a number") from None
    if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
        raise ValueError(f"{where}: {v!r} is not a valid {dt.name} value")
    if isinstance(v, Decimal):
        if not v.is_finite():
            return float(v)
        q = Fraction(v)
        return _nearest_f32(q) if dt.name == "f32" else float(q)
    if isinstance(v, int):
        return _nearest_f32(Fraction(v)) if dt.name == "f32" else float(Fraction(v))
    return v


def tensor_from_json(obj: dict) -> np.ndarray:
    """The node's JSON tensor ``{"dtype":"f32","shape":[1,4],"data":[0.5,1,2,3]}`` as a numpy
    array. NaN and infinities are the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.
    Integers must be in range for the dtype; bools are ``true``/``false``. For exactness with
    f32, parse the JSON with ``parse_float=decimal.Decimal``: a Decimal (or a string) is rounded
    once, straight to f32."""
    if not isinstance(obj, dict):
        raise ValueError(f"a JSON tensor is an object with dtype, shape, data; got {type(obj).__name__}")
    for k in ("dtype", "shape", "data"):
        if k not in obj:
            raise ValueError(f"JSON tensor has no '{k}'")
    dt = resolve_dtype(obj["dtype"]) if obj["dtype"] in _BY_NAME else None
    if dt is None:
        raise ValueError(f"JSON tensor: unknown dtype {obj['dtype']!r} (one of {_SUPPORTED})")
    shape = _check_shape(obj["shape"])
    data = obj["data"]
    if not isinstance(data, list):
        raise ValueError("JSON tensor: data must be a flat list")
    if len(data) != math.prod(shape):
        raise ValueError(f"JSON tensor: {len(data)} elements for shape {shape}")
    if dt.is_float:
        vals = [_json_float(v, dt, f"data[{i}]") for i, v in enumerate(data)]
        return np.array(vals, dtype=dt.numpy.newbyteorder("=")).reshape(shape)
    if dt.name == "bool":
        for i, v in enumerate(data):
            if not isinstance(v, bool):
                raise ValueError(f"data[{i}]: {v!r} is not a valid bool value")
        return np.array(data, dtype=np.bool_).reshape(shape)
    info = np.iinfo(dt.numpy)
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int) or not info.min <= v <= info.max:
            raise ValueError(f"data[{i}]: {v!r} is not a valid {dt.name} value")
    return np.array(data, dtype=dt.numpy.newbyteorder("=")).reshape(shape)


def tensor_to_json(array: Any, dtype: Any = None) -> dict:
    """A tensor in the node's JSON form (the input of ``prova infer --input``). Floats are
    written so that they read back to the same bits; NaN and infinities as strings."""
    code, shape, data = encode_tensor(array, dtype)
    arr = decode_tensor((code, shape, data))
    dt = DTYPES[code]
    flat = arr.reshape(-1)
    if dt.is_float:
        vals: list[Any] = []
        for x in flat.tolist():
            if math.isnan(x):
                vals.append("NaN")
            elif math.isinf(x):
                vals.append("Infinity" if x > 0 else "-Infinity")
            else:
                vals.append(x)
    else:
        vals = flat.tolist()
    return {"dtype": dt.name, "shape": shape, "data": vals}

