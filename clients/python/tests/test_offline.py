"""Offline tests of prova_client (no node): tensors for every dtype, the canonical encoding,
fixed point, the ABI copies, errors.

Run: ``python clients/python/tests/test_offline.py`` (prints ``ok - ...``/``not ok - ...`` lines,
exits non-zero on failure), or with pytest. Puts ``clients/python/src`` on ``sys.path`` itself.
"""

from __future__ import annotations

import json
import math
import pathlib
import struct
import sys
from decimal import Decimal
from fractions import Fraction

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "src"))

import numpy as np  # noqa: E402
from eth_abi import encode as abi_encode  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.exceptions import ContractCustomError, ContractLogicError  # noqa: E402

import prova_client as pc  # noqa: E402
from prova_client import (  # noqa: E402
    BadInput,
    InferenceFailed,
    ModelRejected,
    ProvaError,
    UnknownModel,
    decode_canonical,
    decode_prova_error,
    decode_tensor,
    encode_canonical,
    encode_tensor,
    from_fixed,
    tensor_from_json,
    tensors_hash,
    to_fixed,
    with_prova_errors,
)


def raises(fn, exc=ValueError, match: str | None = None):
    """Asserts fn() raises `exc` whose message contains `match`; returns the exception."""
    try:
        fn()
    except exc as e:
        if match is not None and match not in str(e):
            raise AssertionError(f"message {str(e)!r} lacks {match!r}") from e
        return e
    raise AssertionError(f"no {exc.__name__} raised")


def bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


# --- tensors ---------------------------------------------------------------------------------

# (dtype name, code, struct format, values): edge values of every dtype.
CASES = [
    ("f32", 0, "<f", [0.0, -0.0, 1.5, -2.25, 3.4028234663852886e38, 1e-45, math.inf, -math.inf]),
    ("f64", 1, "<d", [0.0, -0.0, 0.1, -1e308, 5e-324, 1.7976931348623157e308, math.inf, -math.inf]),
    ("i64", 2, "<q", [0, -1, 2**63 - 1, -(2**63), 123456789012345]),
    ("i32", 3, "<i", [0, -1, 2**31 - 1, -(2**31), 7]),
    ("i16", 4, "<h", [0, -1, 32767, -32768, 300]),
    ("i8", 5, "<b", [0, -1, 127, -128, 5]),
    ("u8", 6, "<B", [0, 1, 255, 128, 16]),
    ("bool", 7, "<?", [True, False, True]),
]


def test_encode_every_dtype_matches_struct():
    for name, code, fmt, values in CASES:
        arr = np.array(values, dtype=pc.resolve_dtype(name).numpy)
        enc = encode_tensor(arr)
        want = b"".join(struct.pack(fmt, v) for v in values)
        assert enc == (code, [len(values)], want), (name, enc, want)
        # Explicit dtype by code, by name and by numpy type give the same tuple.
        assert encode_tensor(arr, code) == enc and encode_tensor(arr, name) == enc, name
        back = decode_tensor(enc)
        assert back.dtype == arr.dtype.newbyteorder("=") and back.shape == (len(values),), name
        assert bits(back) == bits(arr), name
        assert back.flags.writeable, name


def test_float_bits_survive():
    nan_payload = np.array([0x7FC00001, 0xFFC00000, 0x80000000, 0x00000001], dtype=np.uint32).view(np.float32)
    enc = encode_tensor(nan_payload)
    assert enc[2] == struct.pack("<4I", 0x7FC00001, 0xFFC00000, 0x80000000, 0x00000001)
    assert bits(decode_tensor(enc)) == bits(nan_payload)
    f64 = np.array([0x7FF8000000000001], dtype=np.uint64).view(np.float64)
    assert decode_tensor(encode_tensor(f64))[0:1].view(np.uint64)[0] == 0x7FF8000000000001


def test_shapes_scalars_and_empty():
    assert encode_tensor(np.float32(2.0)) == (0, [], struct.pack("<f", 2.0))
    s = decode_tensor((0, [], struct.pack("<f", 2.0)))
    assert s.shape == () and s[()] == 2.0
    assert encode_tensor(np.zeros((2, 0, 3), np.int8)) == (5, [2, 0, 3], b"")
    assert decode_tensor((5, [2, 0, 3], b"")).shape == (2, 0, 3)
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    code, shape, data = encode_tensor(a)
    assert (code, shape) == (4, [2, 3, 4]) and data == struct.pack("<24h", *range(24))
    assert (decode_tensor((code, shape, data)) == a).all()
    raises(lambda: encode_tensor(np.zeros([1] * 17, np.float32)), match="rank 17")
    raises(lambda: decode_tensor((0, [1] * 17, b"\0" * 4)), match="rank 17")


def test_nested_lists_default_dtypes():
    assert encode_tensor([[1.0, 2.0]])[0:2] == (1, [1, 2])  # floats: f64
    assert encode_tensor([[1, 2], [3, 4]])[0:2] == (2, [2, 2])  # ints: i64
    assert encode_tensor([True, False]) == (7, [2], b"\x01\x00")
    assert encode_tensor([[0.5, 1]], "f32") == (0, [1, 2], struct.pack("<2f", 0.5, 1.0))
    raises(lambda: encode_tensor([[1, 2], [3]]), match="rectangular")
    raises(lambda: encode_tensor([2**70]), match="64 bits")
    raises(lambda: encode_tensor(["a", "b"]), match="unsupported dtype")
    raises(lambda: encode_tensor(b"abc"), match="cannot make a tensor")


def test_checked_conversions():
    raises(lambda: encode_tensor([1.5], "i32"), match="element [0] is 1.5: not an integer")
    raises(lambda: encode_tensor([[1, 300]], "u8"), match="element [0, 1] is 300: out of range for u8 (0..255)")
    raises(lambda: encode_tensor([-1], "u8"), match="out of range for u8")
    raises(lambda: encode_tensor([0, 2], "bool"), match="bool elements must be 0 or 1")
    raises(lambda: encode_tensor([math.nan], "i64"), match="not a valid i64")
    raises(lambda: encode_tensor([1e300], "f32"), match="beyond the range of f32")
    raises(lambda: encode_tensor([2.0**63], "i64"), match="out of range for i64")
    assert encode_tensor([-(2.0**63)], "i64")[2] == struct.pack("<q", -(2**63))
    assert encode_tensor(np.array([2**64 - 1], np.uint64), "f64")[2] == struct.pack("<d", 2.0**64)
    raises(lambda: encode_tensor(np.array([2**63], np.uint64), "i64"), match="out of range for i64")
    assert encode_tensor([0, 1], "bool") == (7, [2], b"\x00\x01")
    assert encode_tensor([1, 255], "u8") == (6, [2], b"\x01\xff")
    assert encode_tensor([0.1], "f32")[2] == struct.pack("<f", 0.1)  # rounded to nearest f32
    assert encode_tensor(np.array([1.0, 2.0], np.float16), "f32")[2] == struct.pack("<2f", 1, 2)
    assert encode_tensor(np.array([7], np.uint16), "i16")[2] == struct.pack("<h", 7)


def test_unsupported_dtypes():
    raises(lambda: encode_tensor(np.zeros(2, np.float16)), match="unsupported dtype float16")
    raises(lambda: encode_tensor(np.zeros(2, np.complex64)), match="unsupported dtype complex64")
    raises(lambda: encode_tensor(np.zeros(2, np.complex128), "f64"), match="unsupported dtype complex128")
    raises(lambda: encode_tensor(np.array([1, "x"], dtype=object)), match="unsupported dtype object")
    raises(lambda: encode_tensor(np.zeros(2, np.uint16)), match="pass dtype= to convert")
    raises(lambda: encode_tensor(np.zeros(2, np.uint32)), match="unsupported dtype uint32")
    raises(lambda: encode_tensor([1.0], "float16"), match="unsupported dtype float16")
    raises(lambda: encode_tensor([1.0], 9), match="unknown dtype code 9")


def test_non_contiguous_and_big_endian_are_copied():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for view in (a.T, a[:, ::2], a[::-1], np.asfortranarray(a)):
        assert not view.flags.c_contiguous or view is not a
        enc = encode_tensor(view)
        assert enc == encode_tensor(np.ascontiguousarray(view)), view.strides
        assert (decode_tensor(enc) == view).all()
    be = np.array([1.5, -2.0], dtype=">f4")
    assert encode_tensor(be) == (0, [2], struct.pack("<2f", 1.5, -2.0))
    assert encode_tensor(np.array([1, -2], ">i8")) == (2, [2], struct.pack("<2q", 1, -2))


def test_decode_errors():
    raises(lambda: decode_tensor((0, [1, 4], b"\0" * 12)), match="tensor data is 12 bytes; shape [1, 4] of f32 needs 4 x 4 = 16")
    raises(lambda: decode_tensor((8, [1], b"\0")), match="unknown dtype code 8")
    raises(lambda: decode_tensor((7, [2], b"\x01\x02")), match="byte 1 is 2, not 0 or 1")
    raises(lambda: decode_tensor((0, [1], b"\0" * 4, 9)), match="(dtype, shape, data)")
    raises(lambda: decode_tensor({"dtype": 0, "shape": [1]}), match="no 'data'")
    raises(lambda: decode_tensor((0, [-1], b"")), match="dimensions must be integers")
    d = decode_tensor({"dtype": 3, "shape": [2], "data": "0x" + struct.pack("<2i", 5, -6).hex()})
    assert d.dtype == np.int32 and d.tolist() == [5, -6]


def test_canonical_encoding_is_pinned():
    # The same vector as crates/tensor/tests/props.rs canonical_encoding_is_pinned.
    t = np.array([1, -2], dtype=np.int16)
    want = bytes([1, 0, 0, 0, 4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xFE, 0xFF])
    assert encode_canonical([t]) == want
    assert encode_canonical([encode_tensor(t)]) == want  # ABI tuples are accepted too
    assert tensors_hash([t]) == "0x" + keccak(want).hex()
    back = decode_canonical(want)
    assert len(back) == 1 and back[0].dtype == np.int16 and back[0].tolist() == [1, -2]
    raises(lambda: decode_canonical(bytes([1, 0, 0, 0, 4, 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xFE])), match="needs 4 data bytes")
    raises(lambda: decode_canonical(bytes([0, 0, 0, 0, 9])), match="trailing")
    raises(lambda: decode_canonical(bytes([255, 255, 255, 255])), match="count")
    mixed = [np.array([[0.5]], np.float32), np.array(True), np.zeros((0,), np.uint8)]
    assert [a.tolist() for a in decode_canonical(encode_canonical(mixed))] == [[[0.5]], True, []]
    assert decode_canonical("0x" + encode_canonical(mixed).hex())[1].dtype == np.bool_


def test_json_tensors():
    t = tensor_from_json({"dtype": "f32", "shape": [3], "data": ["NaN", "Infinity", "-Infinity"]})
    assert t.dtype == np.float32 and math.isnan(t[0]) and t[1] == math.inf and t[2] == -math.inf
    raises(lambda: tensor_from_json({"dtype": "i8", "shape": [1], "data": [300]}), match="data[0]: 300 is not a valid i8 value")
    raises(lambda: tensor_from_json({"dtype": "i64", "shape": [1], "data": [1.5]}), match="not a valid i64")
    raises(lambda: tensor_from_json({"dtype": "bool", "shape": [1], "data": [2]}), match="not a valid bool")
    raises(lambda: tensor_from_json({"dtype": "f32", "shape": [2], "data": [1]}), match="1 elements for shape [2]")
    # 1 + 2^-24 + 2^-60 as text: straight to f32 it rounds up; through f64 it would be a tie
    # rounding down (the vector of crates/tensor/src/fixed.rs).
    text = '{"dtype":"f32","shape":[1],"data":[1.000000059604644776666398376226425170898437500]}'
    assert tensor_from_json(json.loads(text, parse_float=Decimal))[0] == np.float32(1.0000001)
    assert tensor_from_json(json.loads(text))[0] == np.float32(1.0)  # the f64 double rounding
    # Every fixture input survives JSON -> tensor -> ABI -> tensor -> JSON.
    for path in sorted((ROOT / "fixtures/inputs").glob("*.json")):
        for obj in json.loads(path.read_text())["inputs"]:
            arr = tensor_from_json(obj)
            assert pc.tensor_to_json(decode_tensor(encode_tensor(arr))) == obj, path.name


# --- fixed point -----------------------------------------------------------------------------


def test_to_fixed_rounding():
    assert to_fixed(0.1, 6) == ([100000], [], 6)
    # The vectors of crates/tensor/src/fixed.rs rounds_half_to_even.
    for x, d, v in [(0.5, 0, 0), (1.5, 0, 2), (2.5, 0, 2), (-2.5, 0, -2), (-3.5, 0, -4),
                    (0.125, 2, 12), (0.375, 2, 38), (0.1, 1, 1), (np.float32(0.7), 4, 7000),
                    (-0.0, 18, 0), (5e-324, 77, 0)]:
        assert to_fixed(x, d).elements == [v], (x, d, to_fixed(x, d))
    # Floats at their binary value, strings/Decimals at their decimal value.
    assert to_fixed([2.675, "2.675", Decimal("2.665"), "-0.0000005", "-0.0000015"], 2).elements[:3] == [267, 268, 266]
    assert to_fixed(["-0.0000005", "-0.0000015", "-0.0000025"], 6).elements == [0, -2, -2]
    assert to_fixed(Fraction(1, 3), 4).elements == [3333]
    assert to_fixed(Fraction(5, 2), 0).elements == [2]
    assert to_fixed([True, False, 7, np.int8(-3)], 1).elements == [10, 0, 70, -30]


def test_to_fixed_shapes():
    ft = to_fixed([[1, 2, 3], [4, 5, 6]], 2)
    assert ft.shape == [2, 3] and ft.elements == [100, 200, 300, 400, 500, 600] and ft.decimals == 2
    arr = np.arange(6, dtype=np.float32).reshape(3, 2).T  # non-contiguous: row-major order
    assert to_fixed(arr, 0) == ([0, 2, 4, 1, 3, 5], [2, 3], 0)
    assert to_fixed([], 3) == ([], [0], 3)
    assert to_fixed(np.array(2.5), 1) == ([25], [], 1)
    raises(lambda: to_fixed([[1, 2], [3]], 0), match="ragged")


def test_to_fixed_too_many_digits_and_errors():
    raises(lambda: to_fixed("0.1234567", 6, exact=True), match="more than 6 decimal digits")
    assert to_fixed("0.123456", 6, exact=True).elements == [123456]
    assert to_fixed("0.1234565", 6).elements == [123456]  # half to even
    assert to_fixed("0.1234575", 6).elements == [123458]
    raises(lambda: to_fixed(0.1, 6, exact=True), match="more than 6")  # binary 0.1 is not 1/10
    raises(lambda: to_fixed(math.nan, 2), match="NaN and infinities")
    raises(lambda: to_fixed([1, math.inf], 2), match="element 1")
    raises(lambda: to_fixed("abc", 2), match="not a number")
    raises(lambda: to_fixed(None, 2), match="not a number")
    raises(lambda: to_fixed(1, 78), match="decimals 78 is out of range")
    raises(lambda: to_fixed(1, -1), match="out of range")
    raises(lambda: to_fixed(1, True), match="decimals must be an integer")


def test_to_fixed_huge_values():
    m = 2**255 - 1
    assert to_fixed(m, 0).elements == [m] and to_fixed(-(2**255), 0).elements == [-(2**255)]
    raises(lambda: to_fixed(2**255, 0), match="beyond int256")
    raises(lambda: to_fixed(-(2**255) - 1, 0), match="beyond int256")
    raises(lambda: to_fixed("1e77", 0), match="beyond int256")
    assert to_fixed("5e76", 0).elements == [5 * 10**76]
    raises(lambda: to_fixed(1e300, 0), match="beyond int256")
    raises(lambda: to_fixed("1e9999999999", 0), match="beyond int256")  # no 10**9999999999 made
    raises(lambda: to_fixed(0.58, 77), match="beyond int256")
    assert to_fixed(0.57, 77).elements[0] < 2**255
    assert to_fixed("1e-9999999999", 77).elements == [0]
    assert to_fixed(1e-80, 77).elements == [0]


def test_from_fixed():
    assert from_fixed(([1], [], 1)).tolist() == 0.1
    assert from_fixed({"elements": [1, -15, 25], "shape": [3], "decimals": 1}).tolist() == [0.1, -1.5, 2.5]
    ex = from_fixed(([1, -15, 2**255 - 1], [3], 77), exact=True)
    assert ex.dtype == object and ex[0] == Decimal("1E-77") and ex[1] == Decimal("-1.5E-76")
    assert ex[2] == Decimal(f"{2**255 - 1}E-77") and str(ex[2]).startswith("0.578960446186580977117854925043439539266349923328202820197287920039565648199")
    f = from_fixed(([2**255 - 1, -(2**255)], [2], 0))
    assert f.dtype == np.float64 and f[0] == float(2**255) and f[1] == -float(2**255)
    # f32: straight from the rational (crates/tensor/src/fixed.rs fixed_to_float_is_correctly_rounded).
    f32 = from_fixed(([1, -15, 16777217], [3], 0), dtype=np.float32)
    assert f32.dtype == np.float32 and f32[2] == np.float32(16777216.0)
    v = from_fixed(([1000000059604644776666398376226425170898437500], [1], 45), dtype=np.float32)
    assert v[0] == np.float32(1.0000001), v
    raises(lambda: from_fixed(([2**255 - 1], [1], 0), dtype=np.float32), match="beyond f32")
    raises(lambda: from_fixed({"values": [1], "shape": [1], "decimals": 0}), match="was called 'values'")
    raises(lambda: from_fixed(([1, 2], [3], 0)), match="2 elements, its shape [3] needs 3")
    raises(lambda: from_fixed(([1], [1], 78)), match="decimals 78")
    raises(lambda: from_fixed(([2**255], [1], 0)), match="beyond int256")
    raises(lambda: from_fixed(([1.5], [1], 0)), match="not an integer")
    g = from_fixed(([1, 2, 3, 4, 5, 6], [2, 3], 0))
    assert g.shape == (2, 3) and g[1, 0] == 4.0


def test_fixed_round_trip():
    rng = np.random.default_rng(7)
    x = rng.standard_normal(200) * 10.0 ** rng.integers(-6, 6, 200)
    for d in (0, 6, 18, 40):
        back = from_fixed(to_fixed(x, d))
        assert np.all(np.abs(back - x) <= 0.5 * 10.0**-d + np.abs(x) * 2**-52), d
        ex = from_fixed(to_fixed(x, d), exact=True)
        assert all(abs(Fraction(e) - Fraction(float(v))) <= Fraction(1, 2 * 10**d) for e, v in zip(ex, x))


# --- ABIs and errors -------------------------------------------------------------------------


def test_abi_copies_match_contracts_out():
    pkg = HERE.parent / "src/prova_client/data"
    for name in ("IProvaInference", "IModelRegistry"):
        artifact = ROOT / "contracts/out" / f"{name}.json"
        assert artifact.exists(), f"{artifact} missing"
        want = json.loads(artifact.read_text())["abi"]
        got = json.loads((pkg / f"{name}.abi.json").read_text())
        assert got == want, f"{name}: the packaged ABI differs from contracts/out (run clients/python/sync_abi.py)"
    assert pc.PROVA_INFERENCE_ABI == json.loads((ROOT / "contracts/out/IProvaInference.json").read_text())["abi"]
    assert pc.MODEL_REGISTRY_ABI == json.loads((ROOT / "contracts/out/IModelRegistry.json").read_text())["abi"]
    fixed = [e for e in pc.PROVA_INFERENCE_ABI if e["name"] == "inferFixed"][0]
    assert fixed["outputs"][0]["components"][0]["name"] == "elements"


def test_addresses():
    assert pc.PROVA_INFERENCE == Web3.to_checksum_address("0x" + "0" * 36 + "0f00")
    assert pc.MODEL_REGISTRY == Web3.to_checksum_address("0x" + "0" * 36 + "0f01")


def test_with_prova_errors():
    art = json.loads((ROOT / "contracts/out/DigitClassifier.json").read_text())
    abi = art["abi"]
    before = json.dumps(abi)
    merged = with_prova_errors(abi)
    assert json.dumps(abi) == before, "input modified"
    names = [e["name"] for e in merged if e["type"] == "error"]
    for n in ("UnknownModel", "BadInput", "InferenceFailed", "ModelRejected"):
        assert names.count(n) == 1, (n, names)
    assert len(merged) == len(abi) + 4
    assert with_prova_errors(merged) == merged  # no duplicates
    assert with_prova_errors(art) == merged and with_prova_errors(json.dumps(abi)) == merged
    assert len(with_prova_errors(pc.PROVA_INFERENCE_ABI)) == len(pc.PROVA_INFERENCE_ABI) + 1
    raises(lambda: with_prova_errors({"x": 1}), match="'abi' key")
    # web3 accepts the merged ABI.
    Web3().eth.contract(address="0x" + "11" * 20, abi=merged)


def _revert(sig: str, types: list[str], values: list) -> str:
    return "0x" + (keccak(sig.encode())[:4] + abi_encode(types, values)).hex()


def test_selectors_match_the_abi():
    sigs = {f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in pc.PROVA_ERRORS_ABI}
    assert sigs == {"UnknownModel(bytes32)", "BadInput(uint256,string)", "InferenceFailed(string)", "ModelRejected(string)"}
    assert {c.signature for c in pc.errors.PROVA_ERROR_SELECTORS.values()} == sigs
    for sel, cls in pc.errors.PROVA_ERROR_SELECTORS.items():
        assert sel == "0x" + keccak(cls.signature.encode())[:4].hex()


def test_decode_prova_error():
    mid = bytes(range(32))
    data = _revert("UnknownModel(bytes32)", ["bytes32"], [mid])
    for form in (data, data[2:], bytes.fromhex(data[2:]), ContractCustomError(data, data=data),
                 {"code": 3, "message": "execution reverted", "data": data},
                 {"jsonrpc": "2.0", "id": 1, "error": {"code": 3, "message": "execution reverted", "data": data}}):
        e = decode_prova_error(form)
        assert isinstance(e, UnknownModel) and e.model_id == "0x" + mid.hex() and e.data == data, form
    assert isinstance(e, ProvaError) and isinstance(e, ContractLogicError)
    assert e.selector == data[:10] and str(e) == f"UnknownModel('0x{mid.hex()}')"
    b = decode_prova_error(_revert("BadInput(uint256,string)", ["uint256", "string"], [2, "input 2 (c) must be bool, got f32"]))
    assert isinstance(b, BadInput) and b.index == 2 and b.reason == "input 2 (c) must be bool, got f32"
    f = decode_prova_error(_revert("InferenceFailed(string)", ["string"], ["boom"]))
    assert isinstance(f, InferenceFailed) and f.reason == "boom"
    r = decode_prova_error(_revert("ModelRejected(string)", ["string"], ["unsupported operator Foo"]))
    assert isinstance(r, ModelRejected) and r.reason == "unsupported operator Foo"
    assert decode_prova_error(_revert("Error(string)", ["string"], ["plain"])) is None
    assert decode_prova_error(_revert("NotADigit(int256)", ["int256"], [11])) is None
    assert decode_prova_error(data[:-2]) is None  # truncated arguments
    assert decode_prova_error("0x") is None and decode_prova_error(None) is None
    assert decode_prova_error(ValueError("nothing")) is None
    assert decode_prova_error(b) is b and b == BadInput(2, "input 2 (c) must be bool, got f32")


def test_model_id_of():
    onnx = (ROOT / "fixtures/models/digits_mlp.onnx").read_bytes()
    want = "0x" + keccak(onnx).hex()
    assert pc.model_id_of(onnx) == want == pc.model_id_of(ROOT / "fixtures/models/digits_mlp.onnx")
    conformance = json.loads((ROOT / "fixtures/conformance.json").read_text())
    assert conformance["digits_mlp"]["model"] == want


def test_accounts():
    from eth_account import Account

    from prova_client.client import _resolve_account

    key = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    addr = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    w3 = Web3()
    assert _resolve_account(w3, key)[0] == addr and _resolve_account(w3, key)[1] is not None
    assert _resolve_account(w3, bytes.fromhex(key[2:]))[0] == addr
    assert _resolve_account(w3, Account.from_key(key))[0] == addr
    assert _resolve_account(w3, addr.lower()) == (addr, None)  # the node signs
    raises(lambda: _resolve_account(w3, None), match="no account")
    raises(lambda: _resolve_account(w3, "0x1234"), match="account must be")
    w3.eth.default_account = addr
    assert _resolve_account(w3, None) == (addr, None)


TESTS = [(name, fn) for name, fn in sorted(globals().items()) if name.startswith("test_") and callable(fn)]


def run(prefix: str = "offline") -> int:
    """Runs every test, one ``ok``/``not ok`` line each; returns the number failed."""
    failed = 0
    for name, fn in TESTS:
        try:
            fn()
            print(f"ok - {prefix}: {name[5:]}")
        except Exception as e:  # noqa: BLE001 - reported, then counted
            failed += 1
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"not ok - {prefix}: {name[5:]}: {type(e).__name__}: {msg}")
    return failed


if __name__ == "__main__":
    sys.exit(1 if run() else 0)
