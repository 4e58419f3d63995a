"""prova_client against a live dev node (``prova node --dev``), then the offline tests.

Usage: ``tests/e2e/.venv/bin/python clients/python/tests/live_check.py RPC_URL``

Prints one ``ok - <what>`` or ``not ok - <what>: <detail>`` line per check (the protocol
tests/e2e/run.sh counts) and exits 1 if any failed. Needs a fresh-enough dev node: the fixture
models preloaded, dev account 0 funded. Imports the package from clients/python/src itself (no
install needed). Sends a few transactions (deploys three op-fixture models and one built here,
two DigitClassifier contracts, one classify).

How outputs are compared with onnxruntime (fixtures/expected, fixtures/ops): as the Rust tests
do -- integer outputs exactly; float outputs of fixtures/expected within
``1e-5 + 1e-5 * |expected|`` (crates/runtime/tests/fixtures.rs; 0.02 for digits_mlp_dyn, whose
reference is itself CPU-dependent), fixtures/ops bit for bit where crates/model/tests/ops.rs
asks for 0.0. They are not bit-identical to onnxruntime (another summation order); the node's
own bits are checked exactly instead against fixtures/conformance.json, the exact profile's
output hash of every fixture model.
"""

from __future__ import annotations

import json
import pathlib
import sys
import traceback

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402
from eth_account import Account  # noqa: E402
from eth_hash.auto import keccak  # noqa: E402
from web3 import Web3  # noqa: E402
from web3.exceptions import ContractCustomError, ContractLogicError  # noqa: E402

import test_offline  # noqa: E402
from prova_client import (  # noqa: E402
    BadInput,
    FixedTensor,
    ModelRejected,
    Prova,
    ProvaError,
    ProvaRpcError,
    UnknownModel,
    decode_custom_error,
    decode_prova_error,
    from_fixed,
    model_id_of,
    tensor_from_json,
    tensors_hash,
    to_fixed,
    transact,
    with_prova_errors,
)

KEY0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
PIXELS = [0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0,
          0, 16, 5, 0, 0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1,
          0, 0, 8, 16, 14, 10, 13, 3]
MODELS = sorted(p.stem for p in (ROOT / "fixtures/models").glob("*.onnx"))
CONFORMANCE = json.loads((ROOT / "fixtures/conformance.json").read_text())
# fixtures/ops models with other input dtypes (i64, f64, u8, i8), compared bit for bit.
OP_FIXTURES = ["scaler_i64", "scaler_f64", "qsoftmax_u8_last", "qgemm_s8_transb_bias"]

failed = 0
S: dict = {}  # state shared between checks


def check(what: str, fn) -> None:
    """Runs fn(); it returns None or a detail string for the ok line."""
    global failed
    try:
        detail = fn()
        print(f"ok - prova-client: {what}" + (f" ({detail})" if detail else ""))
    except Exception as e:  # noqa: BLE001 - every failure is reported, then counted
        failed += 1
        msg = str(e).splitlines()[0] if str(e) else ""
        where = traceback.extract_tb(e.__traceback__)[-1]
        print(f"not ok - prova-client: {what}: {type(e).__name__}: {msg} [line {where.lineno}]")


def expect(exc_type, fn):
    """fn() must raise exc_type; returns the exception."""
    try:
        fn()
    except exc_type as e:
        return e
    except Exception as e:  # noqa: BLE001
        raise AssertionError(f"expected {exc_type.__name__}, got {type(e).__name__}: {e}") from e
    raise AssertionError(f"expected {exc_type.__name__}, nothing raised")


def load_json(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# --- a multi-input model, built here ---------------------------------------------------------
# No fixture model has several inputs (fixtures/expected/*.json: all one f32 input), so this
# writes a tiny ONNX protobuf by hand: Where(c: bool[2,3], a: f32[2,3], b: f32[1,3]) -> y f32,
# Not(c) -> nc bool, Add(k, k) -> k2 i32 for k: i32[3]. Every output is exact in numpy.


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _pb(field: int, value) -> bytes:
    if isinstance(value, int):
        return _varint(field << 3) + _varint(value)
    value = value.encode() if isinstance(value, str) else value
    return _varint(field << 3 | 2) + _varint(len(value)) + value


_ELEM = {"f32": 1, "u8": 2, "i8": 3, "i16": 5, "i32": 6, "i64": 7, "bool": 9, "f64": 11}


def _value_info(name: str, dtype: str, shape: list[int]) -> bytes:
    dims = b"".join(_pb(1, _pb(1, d)) for d in shape)
    return _pb(1, name) + _pb(2, _pb(1, _pb(1, _ELEM[dtype]) + _pb(2, dims)))


def multi_input_onnx() -> bytes:
    nodes = [("Where", ["c", "a", "b"], ["y"]), ("Not", ["c"], ["nc"]), ("Add", ["k", "k"], ["k2"])]
    ins = [("c", "bool", [2, 3]), ("a", "f32", [2, 3]), ("b", "f32", [1, 3]), ("k", "i32", [3])]
    outs = [("y", "f32", [2, 3]), ("nc", "bool", [2, 3]), ("k2", "i32", [3])]
    graph = b"".join(
        _pb(1, b"".join(_pb(1, i) for i in n_in) + b"".join(_pb(2, o) for o in n_out) + _pb(3, op.lower()) + _pb(4, op))
        for op, n_in, n_out in nodes
    )
    graph += _pb(2, "prova_client_multi_input")
    graph += b"".join(_pb(11, _value_info(*i)) for i in ins) + b"".join(_pb(12, _value_info(*o)) for o in outs)
    return _pb(1, 8) + _pb(2, "prova-client live_check") + _pb(7, graph) + _pb(8, _pb(2, 17))


# --- checks ----------------------------------------------------------------------------------


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: live_check.py RPC_URL", file=sys.stderr)
        return 2
    w3 = Web3(Web3.HTTPProvider(sys.argv[1], request_kwargs={"timeout": 60}))
    p = Prova(w3)
    acct = Account.from_key(KEY0)
    mlp = model_id_of(ROOT / "fixtures/models/digits_mlp.onnx")
    iris = model_id_of(ROOT / "fixtures/models/iris_logreg.onnx")
    bogus = "0x" + keccak(b"no such model").hex()

    def node_up():
        assert w3.eth.chain_id == 31337, w3.eth.chain_id
        return f"chain 31337, block {w3.eth.block_number}"

    check("node answers (eth_chainId)", node_up)

    def ids():
        for name in MODELS:
            mid = model_id_of((ROOT / f"fixtures/models/{name}.onnx").read_bytes())
            assert mid == CONFORMANCE[name]["model"], name
            assert p.exists(mid), f"{name} {mid} not preloaded"
        assert not p.exists(bogus)
        return f"{len(MODELS)} fixture models, id = keccak256(onnx) = conformance.json"

    check("model_id_of + registry exists() for every preloaded fixture model", ids)

    def genesis():
        g = p.get_genesis()
        assert g["chainId"] == 31337, g["chainId"]
        got = sorted("0x" + keccak(bytes.fromhex(m.removeprefix("0x"))).hex() for m in g["models"])
        # The fixture models plus the language model of fixtures/lm (docs/generation.md).
        lm = model_id_of(ROOT / "fixtures/lm/char_lm.onnx")
        assert got == sorted([CONFORMANCE[n]["model"] for n in MODELS] + [lm]), got
        return f"{len(g['models'])} models, {len(g['alloc'])} accounts"

    check("get_genesis: chain id and the preloaded models' bytes", genesis)

    # The language model: greedy = onnxruntime, sampled = the reference sampler.
    def generation():
        lm = model_id_of(ROOT / "fixtures/lm/char_lm.onnx")
        info = p.decoder_info(lm)
        assert info["vocab_size"] == 94 and info["max_context"] == 128, info
        exp = load_json(ROOT / "fixtures/lm/char_lm.expected.json")
        for case in exp["cases"]:
            got = p.generate(lm, case["prompt_ids"], case["max_new_tokens"])
            assert got == case["tokens"], f"{case['prompt']!r}: {got} != onnxruntime {case['tokens']}"
        for case in exp["sampled"]:  # the Python reference sampler of fixtures/make_char_lm.py
            got = p.generate(
                lm,
                case["prompt_ids"],
                case["max_new_tokens"],
                temperature=case["temperature_milli"] / 1000,
                top_k=case["top_k"],
                seed=case["seed"],
            )
            assert got == case["tokens"], f"sampled {case['prompt']!r}: {got} != {case['tokens']}"
        try:
            p.generate(lm, [1, 2], info["max_context"])
        except BadInput as e:
            assert e.index == 1, e
        else:
            raise AssertionError("a request over the context was not refused")
        return (
            f"{len(exp['cases'])} greedy cases = onnxruntime, {len(exp['sampled'])} sampled = the reference"
            f" sampler, {info['gas_per_token']} gas/token"
        )

    check("decoder_info + generate (char_lm): greedy = onnxruntime, sampled = reference; over-context BadInput", generation)

    # digits_mlp against onnxruntime, every sample.
    def mlp_vs_ort():
        exp = load_json(ROOT / "fixtures/expected/digits_mlp.json")
        worst, exact, total = 0.0, 0, 0
        for s, sample in enumerate(exp["samples"]):
            inputs = [tensor_from_json(t) for t in sample["inputs"]]
            got = p.infer(mlp, inputs)
            want = [tensor_from_json(t) for t in sample["outputs"]]
            assert len(got) == 2, len(got)
            label, probs = got
            assert label.dtype == np.int64 and label.shape == (1,), (label.dtype, label.shape)
            assert label.tolist() == want[0].tolist(), f"sample {s}: class {label} != onnxruntime {want[0]}"
            assert probs.dtype == np.float32 and probs.shape == (1, 10)
            err = np.abs(probs.astype(np.float64) - want[1].astype(np.float64))
            tol = 1e-5 + 1e-5 * np.abs(want[1].astype(np.float64))
            assert (err <= tol).all(), f"sample {s}: probabilities {probs} vs {want[1]}"
            assert int(np.argmax(probs)) == int(label[0])
            worst = max(worst, float(err.max()))
            exact += int((probs == want[1]).sum())
            total += probs.size
        return (f"{len(exp['samples'])} samples: classes exact, probabilities within 1e-5+1e-5|p| "
                f"(max error {worst:.1e}; {exact}/{total} bit-identical to onnxruntime)")

    check("infer digits_mlp on every fixtures/expected sample = onnxruntime's class and probabilities", mlp_vs_ort)

    def all_vs_ort():
        n = 0
        for name in MODELS:
            exp = load_json(ROOT / f"fixtures/expected/{name}.json")
            for s, sample in enumerate(exp["samples"]):
                got = p.infer(CONFORMANCE[name]["model"], [tensor_from_json(t) for t in sample["inputs"]])
                want = [tensor_from_json(t) for t in sample["outputs"]]
                assert len(got) == len(want), name
                for o, (g, w) in enumerate(zip(got, want)):
                    assert g.dtype == w.dtype and g.shape == w.shape, (name, s, o, g.dtype, g.shape)
                    if w.dtype.kind != "f":
                        assert (g == w).all(), f"{name} sample {s} output {o}: {g} != {w}"
                    else:
                        tol = 0.02 if name == "digits_mlp_dyn" else 1e-5 + 1e-5 * np.abs(w.astype(np.float64))
                        err = np.abs(g.astype(np.float64) - w.astype(np.float64))
                        assert (err <= tol).all(), f"{name} sample {s} output {o}: max error {err.max():.2e}"
                n += 1
        return f"{len(MODELS)} models, {n} samples"

    check("infer every fixture model on every sample = onnxruntime (ints exact, floats in tolerance)", all_vs_ort)

    def conformance():
        for name in MODELS:
            inputs = [tensor_from_json(t) for t in load_json(ROOT / f"fixtures/inputs/{name}.json")["inputs"]]
            h = tensors_hash(p.infer(CONFORMANCE[name]["model"], inputs))
            assert h == CONFORMANCE[name]["output_hash"], f"{name}: output hash {h} != {CONFORMANCE[name]['output_hash']}"
        return f"{len(MODELS)} models"

    check("infer outputs are bit-exact: keccak(canonical outputs) = fixtures/conformance.json", conformance)

    # model_info against prova_getModel and the files.
    def info():
        i = p.model_info(mlp)
        assert i["inputs"] == [{"dtype": "f32", "dtype_code": 0, "shape": [1, 64]}], i["inputs"]
        assert i["outputs"] == [{"dtype": "i64", "dtype_code": 2, "shape": [1]},
                                {"dtype": "f32", "dtype_code": 0, "shape": [1, 10]}], i["outputs"]
        for name in MODELS:
            mid = CONFORMANCE[name]["model"]
            a, b = p.model_info(mid), p.get_model(mid)
            assert b is not None and b["id"] == mid, name
            assert a["size_bytes"] == b["size_bytes"] == (ROOT / f"fixtures/models/{name}.onnx").stat().st_size, name
            assert a["gas_per_call"] == b["gas_per_call"] and a["macs"] == b["cost"]["macs"], name
            assert [(t["dtype"], t["shape"]) for t in a["inputs"]] == [(t["dtype"], t["shape"]) for t in b["inputs"]], name
            assert [(t["dtype"], t["shape"]) for t in a["outputs"]] == [(t["dtype"], t["shape"]) for t in b["outputs"]], name
        return f"digits_mlp f32[1,64] -> i64[1], f32[1,10]; {i['gas_per_call']} gas warm; all {len(MODELS)} agree with prova_getModel"

    check("model_info shapes and dtypes (and = prova_getModel for every fixture)", info)

    def get_model_unknown():
        assert p.get_model(bogus) is None
        e = expect(ProvaRpcError, lambda: p._rpc("prova_getModel", ["0x12"]))
        assert e.code == -32602, e.code
        e = expect(ValueError, lambda: p.get_model("0x12"))
        return "unknown id -> None; malformed id -> ProvaRpcError -32602"

    check("get_model: None for an unknown model, typed RPC errors", get_model_unknown)

    # Typed errors.
    def unknown_model():
        x = np.zeros((1, 64), np.float32)
        e = expect(UnknownModel, lambda: p.infer(bogus, [x], cast=False))
        assert e.model_id == bogus and isinstance(e, ContractCustomError), e
        assert e.data.startswith(e.selector) and decode_prova_error(e.data) == e
        assert expect(UnknownModel, lambda: p.model_info(bogus)).model_id == bogus
        assert expect(UnknownModel, lambda: p.infer_fixed(bogus, [[0] * 64], 0)).model_id == bogus
        assert expect(UnknownModel, lambda: p.infer(bogus, [x])).model_id == bogus  # cast asks modelInfo
        return f"UnknownModel(model_id={bogus[:10]}…) from infer, infer_fixed, model_info"

    check("UnknownModel raised as a typed exception with its model_id", unknown_model)

    def bad_input():
        x = np.zeros((1, 64), np.float32)
        e = expect(BadInput, lambda: p.infer(mlp, [x[:, :63]]))
        assert e.index == 0 and e.reason == "input 0 (X) must have shape [1, 64], got [1, 63]", e
        e = expect(BadInput, lambda: p.infer(mlp, [x.astype(np.float64)], cast=False))
        assert e.index == 0 and e.reason == "input 0 (X) must be f32, got f64", e
        e = expect(BadInput, lambda: p.infer(mlp, [x, x]))
        assert e.index == 0 and "takes 1 inputs, got 2" in e.reason, e
        assert isinstance(e, ProvaError) and isinstance(e, ContractLogicError)
        # cast=True converts f64 to the model's f32 and so succeeds.
        assert p.infer(mlp, [x.astype(np.float64)])[0].shape == (1,)
        return "shape, dtype (cast=False) and count, with index and reason"

    check("BadInput raised as a typed exception with index and reason", bad_input)

    def rejected():
        before = w3.eth.block_number
        nonce = w3.eth.get_transaction_count(acct.address)
        e = expect(ModelRejected, lambda: p.deploy_model((ROOT / "README.md").read_bytes(), account=acct))
        assert e.reason, e
        e2 = expect(ModelRejected, lambda: p.deploy_model(ROOT / "fixtures/reject/zipmap.onnx", account=acct))
        assert w3.eth.block_number == before and w3.eth.get_transaction_count(acct.address) == nonce, "a tx was sent"
        return f"README.md: {e.reason[:60]!r}; zipmap: {e2.reason[:60]!r}; no tx"

    check("deploy_model of a non-model raises ModelRejected(reason), sends nothing", rejected)

    def idempotent():
        before = w3.eth.block_number
        nonce = w3.eth.get_transaction_count(acct.address)
        assert p.deploy_model(ROOT / "fixtures/models/iris_logreg.onnx", account=acct) == iris
        assert p.deploy_model((ROOT / "fixtures/models/digits_mlp.onnx").read_bytes(), account=acct.address) == mlp
        assert w3.eth.block_number == before and w3.eth.get_transaction_count(acct.address) == nonce, "a tx was sent"
        return "same ids, no transaction, block number and nonce unchanged"

    check("deploy_model of a preloaded model is idempotent (same id, no tx)", idempotent)

    # Other dtypes: op fixtures deployed for real, compared bit for bit with onnxruntime.
    def op_fixtures():
        done = []
        for name in OP_FIXTURES:
            onnx = (ROOT / f"fixtures/ops/{name}.onnx").read_bytes()
            mid = model_id_of(onnx)
            fresh = not p.exists(mid)
            block = w3.eth.block_number
            assert p.deploy_model(onnx, account=acct) == mid
            assert p.exists(mid)
            if fresh:
                assert w3.eth.block_number == block + 1, "deploy did not mine one block"
            block = w3.eth.block_number
            assert p.deploy_model(onnx, account=acct) == mid and w3.eth.block_number == block
            exp = load_json(ROOT / f"fixtures/ops/{name}.json")
            for s, sample in enumerate(exp["samples"]):
                inputs = [tensor_from_json(t) for t in sample["inputs"]]
                got = p.infer(mid, inputs, cast=False)
                want = [tensor_from_json(t) for t in sample["outputs"]]
                assert len(got) == len(want)
                for o, (g, w) in enumerate(zip(got, want)):
                    assert same_bits(g, w), f"{name} sample {s} output {o}: {g} != onnxruntime {w}"
            dts = ",".join(t["dtype"] for t in p.model_info(mid)["inputs"])
            done.append(f"{name}[{dts}]" + (" deployed" if fresh else ""))
        return "; ".join(done)

    check("deploy_model + infer on i64, f64, u8 and i8 inputs (fixtures/ops) = onnxruntime bit for bit", op_fixtures)

    def multi_input():
        onnx = multi_input_onnx()
        mid = p.deploy_model(onnx, account=acct.address)  # the node signs (eth_sendTransaction)
        assert mid == model_id_of(onnx) and p.exists(mid)
        info = p.model_info(mid)
        assert [(t["dtype"], t["shape"]) for t in info["inputs"]] == [("bool", [2, 3]), ("f32", [2, 3]), ("f32", [1, 3]), ("i32", [3])], info
        rng = np.random.default_rng(1)
        c = rng.integers(0, 2, (2, 3)).astype(bool)
        a = rng.standard_normal((2, 3)).astype(np.float32)
        b = np.array([[np.nan, -0.0, np.inf]], np.float32)
        k = np.array([-7, 2**30 - 1, 12], np.int32)
        y, nc, k2 = p.infer(mid, [c, a, b, k])
        want_y = np.where(c, a, b)
        assert same_bits(y, want_y), (y, want_y)
        assert same_bits(nc, ~c) and same_bits(k2, k + k), (nc, k2)
        e = expect(BadInput, lambda: p.infer(mid, [c, a, b.astype(np.float64), k], cast=False))
        assert e.index == 2 and e.reason == "input 2 (b) must be f32, got f64", e
        e = expect(BadInput, lambda: p.infer(mid, [c, a, b, k[:2]]))
        assert e.index == 3 and "input 3 (k) must have shape [3], got [2]" == e.reason, e
        e = expect(BadInput, lambda: p.infer(mid, [c, a, b]))
        assert e.index == 0 and "takes 4 inputs, got 3" in e.reason, e
        e = expect(ValueError, lambda: p.infer(mid, [c, a, b, np.array([2**40, 0, 0])]))  # cast checks range
        assert "input 3" in str(e) and "out of range for i32" in str(e), e
        return "Where/Not/Add on bool, f32, f32, i32 inputs: outputs exact; BadInput(2, dtype), BadInput(3, shape)"

    check("infer on a model with several inputs of several dtypes (built, deployed)", multi_input)

    # Fixed point.
    def fixed_round_trip():
        exp = load_json(ROOT / "fixtures/expected/digits_mlp.json")
        for s, sample in enumerate(exp["samples"]):
            x = tensor_from_json(sample["inputs"][0])
            ft = to_fixed(x, 4, exact=True)  # pixels are multiples of 1/16: exact at 4 decimals
            assert ft.shape == [1, 64] and ft.decimals == 4
            label, probs = p.infer(mlp, [x])
            out = p.infer_fixed(mlp, x, 4)
            assert len(out) == 2
            assert out[0] == FixedTensor([int(label[0])], [1], 0), out[0]  # integer output: unscaled, decimals 0
            # Float output: round_half_even(p * 10^4) of the very f32 bits infer returned.
            assert out[1] == to_fixed(probs, 4), (out[1], to_fixed(probs, 4))
            assert np.all(np.abs(from_fixed(out[1]) - probs) <= 0.5e-4 + 1e-12)
            assert p.infer_fixed(mlp, ft) == out  # a ready FixedTensor
        hi = p.infer_fixed(mlp, x, 18)[1]
        assert hi == to_fixed(probs, 18), "18 decimals"
        assert from_fixed(hi, dtype=np.float32).tobytes() == probs.tobytes()  # 18 digits give f32 back
        return f"{len(exp['samples'])} samples at 4 decimals, labels unscaled, and at 18 decimals back to the f32 bits"

    check("infer_fixed round trip (digits_mlp): to_fixed -> inferFixed -> from_fixed = infer", fixed_round_trip)

    def fixed_int_input():
        mid = model_id_of((ROOT / "fixtures/ops/scaler_i64.onnx").read_bytes())
        sample = load_json(ROOT / "fixtures/ops/scaler_i64.json")["samples"][0]
        x = tensor_from_json(sample["inputs"][0])
        want = p.infer(mid, [x])[0]
        out = p.infer_fixed(mid, x.tolist(), 0)
        assert out == [to_fixed(want, 0)], (out, to_fixed(want, 0))
        e = expect(BadInput, lambda: p.infer_fixed(mid, x.tolist(), 2))
        assert e.index == 0 and "decimals" in e.reason, e
        multi = model_id_of(multi_input_onnx())
        e2 = expect(BadInput, lambda: p.infer_fixed(multi, [[1, 0, 1], [0, 1, 0]], 0))
        assert e2.index == 0, e2
        return f"i64 input unscaled; decimals 2: {e.reason!r}; 4-input model: {e2.reason!r}"

    check("infer_fixed on an integer-input model; BadInput for decimals and for several inputs", fixed_int_input)

    # DigitClassifier: deploy, classify, the witness.
    art = load_json(ROOT / "contracts/out/DigitClassifier.json")
    abi = with_prova_errors(art["abi"])

    def deploy_classifier():
        factory = w3.eth.contract(abi=abi, bytecode=art["bytecode"])
        r = transact(w3, factory.constructor(bytes.fromhex(mlp[2:])), KEY0)
        S["classifier"] = w3.eth.contract(address=r["contractAddress"], abi=abi)
        assert "0x" + S["classifier"].functions.modelId().call().hex() == mlp
        return f"at {r['contractAddress']}, block {r['blockNumber']}"

    check("deploy DigitClassifier(modelId) signed with the dev key", deploy_classifier)

    def classify():
        c = S["classifier"]
        x = (np.array(PIXELS, np.float32) / 16).reshape(1, 64)
        label, probs = p.infer(mlp, [x])
        assert c.functions.predict(PIXELS).call() == int(label[0])
        r = transact(w3, c.functions.classify(PIXELS), acct)
        ev = c.events.Classified().process_receipt(r)
        assert len(ev) == 1 and ev[0]["args"]["digit"] == int(label[0]), ev
        S.update(receipt=r, x=x, outputs=[label, probs])
        return f"digit {int(label[0])}, tx {r['transactionHash'].hex()[:10]}…"

    check("classify(uint8[64]) transaction: the Classified digit = infer's class", classify)

    def inferences():
        r, outputs = S["receipt"], S["outputs"]
        tx = "0x" + r["transactionHash"].hex()
        recs = p.get_inferences(tx)
        assert recs is not None and len(recs) == 1, recs
        rec = recs[0]
        assert rec["txHash"] == tx and rec["modelId"] == mlp and rec["success"] is True, rec
        assert rec["blockNumber"] == r["blockNumber"] and rec["txIndex"] == r["transactionIndex"], rec
        assert rec["callIndex"] == 0
        assert rec["inputHash"] == tensors_hash([S["x"]]), "inputHash != keccak(canonical input)"
        assert rec["outputHash"] == tensors_hash(outputs), "outputHash != keccak(canonical infer outputs)"
        assert len(rec["outputs"]) == 2 and all(same_bits(a, b) for a, b in zip(rec["outputs"], outputs)), rec["outputs"]
        assert rec["gas"] == p.get_model(mlp)["gas_cold_call"], (rec["gas"], p.get_model(mlp)["gas_cold_call"])
        by_block = p.get_inferences(r["blockNumber"])
        assert [x["txHash"] for x in by_block] == [tx], by_block
        raw = p.get_inferences(tx, raw=True)
        assert raw[0]["blockNumber"] == hex(r["blockNumber"]) and raw[0]["outputs"][0]["dtype"] == "i64", raw
        assert p.get_inferences("0x" + "00" * 32) is None
        return f"1 record: model, input/output hashes, outputs bit-equal to infer, gas {rec['gas']} (cold)"

    check("get_inferences(tx) has the classify record", inferences)

    def witness():
        r, outputs = S["receipt"], S["outputs"]
        b = p.get_block_with_witness(r["blockNumber"])
        assert b["number"] == r["blockNumber"] and b["hash"] == "0x" + r["blockHash"].hex(), (b["number"], b["hash"])
        assert b["hash"] == "0x" + keccak(bytes.fromhex(b["headerRlp"][2:])).hex(), "hash != keccak(headerRlp)"
        txs = ["0x" + keccak(bytes.fromhex(t[2:])).hex() for t in b["transactions"]]
        assert txs[r["transactionIndex"]] == "0x" + r["transactionHash"].hex(), txs
        recs = [w for w in b["witness"] if w["txIndex"] == r["transactionIndex"]]
        assert len(recs) == 1, b["witness"]
        w = recs[0]
        assert w["modelId"] == mlp and w["success"] is True and w["inputHash"] == tensors_hash([S["x"]]), w
        assert "0x" + keccak(bytes.fromhex(w["output"][2:])).hex() == tensors_hash(outputs)
        assert all(same_bits(a, c) for a, c in zip(w["outputs"], outputs)), w["outputs"]
        assert b["inferencesRoot"] is not None
        assert p.get_block_with_witness(10**9) is None
        latest = p.get_block_with_witness()
        assert latest["number"] >= r["blockNumber"]
        return f"block {b['number']}: record for tx {r['transactionIndex']}, output bytes decode to infer's outputs"

    check("get_block_with_witness(block) has the record", witness)

    def bubbled_errors():
        assert [e["name"] for e in abi if e["type"] == "error"].count("UnknownModel") == 1
        factory = w3.eth.contract(abi=abi, bytecode=art["bytecode"])
        bad = w3.eth.contract(address=transact(w3, factory.constructor(bytes.fromhex(bogus[2:])), acct)["contractAddress"], abi=abi)
        e = expect(ContractCustomError, lambda: bad.functions.predict(PIXELS).call())
        typed = decode_prova_error(e)
        assert isinstance(typed, UnknownModel) and typed.model_id == bogus, typed
        assert decode_custom_error(abi, e) == ("UnknownModel", {"modelId": bytes.fromhex(bogus[2:])})
        assert decode_custom_error(art["abi"], e) is None  # the plain ABI does not know it
        # A transaction that would revert: gas estimation fails, transact raises the typed error.
        t = expect(UnknownModel, lambda: transact(w3, bad.functions.classify(PIXELS), acct))
        assert t.model_id == bogus
        iris_cls = w3.eth.contract(address=transact(w3, factory.constructor(bytes.fromhex(iris[2:])), acct)["contractAddress"], abi=abi)
        e = expect(ContractCustomError, lambda: iris_cls.functions.predict(PIXELS).call())
        bi = decode_prova_error(e)
        assert isinstance(bi, BadInput) and bi.index == 0 and bi.reason == "input 0 (X) must have shape [1, 4], got [1, 64]", bi
        assert decode_custom_error(abi, e)[0] == "BadInput"
        # The contract's own errors are still decoded, and are not Prova errors.
        e = expect(ContractCustomError, lambda: S["classifier"].functions.predict([17] + PIXELS[1:]).call())
        assert decode_prova_error(e) is None
        assert decode_custom_error(abi, e) == ("PixelOutOfRange", {"index": 0, "value": 17})
        return "UnknownModel and BadInput bubbling up from DigitClassifier decoded; PixelOutOfRange stays the contract's"

    check("with_prova_errors(DigitClassifier ABI): precompile errors through a contract", bubbled_errors)

    def rpc_errors():
        e = expect(ProvaRpcError, lambda: p._rpc("prova_noSuchMethod", []))
        assert e.code == -32601, e.code
        e = expect(ProvaRpcError, lambda: p._rpc("prova_getBlockWithWitness", ["notablock"]))
        assert e.code == -32602, e.code
        return "-32601 unknown method, -32602 bad params"

    check("JSON-RPC errors raise ProvaRpcError with the code", rpc_errors)

    # Offline tests too (same protocol).
    global failed
    failed += test_offline.run("prova-client offline")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
