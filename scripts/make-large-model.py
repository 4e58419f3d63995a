#!/usr/bin/env python3
"""Writes a large admissible ONNX model for measuring admission and staged deployment.

    python3 scripts/make-large-model.py OUT.onnx [--bytes N] [--layers L] [--int8]

A chain of `L` MatMuls (f32, or int8 weights through MatMulInteger with --int8) whose
weights fill about `N` bytes (default: the consensus limit, 32 MiB, less 64 KiB for the
protobuf). With the defaults it is one `f32[1, 1024] x f32[1024, 8176]` product: 8.37M
parameters, 33.5 MB: at both the byte and the parameter limit (8M = 8 << 20). Weights are
deterministic (a fixed seed), so every run writes the same bytes.

Needs `onnx` and `numpy` (fixtures/requirements.txt).
"""

import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

LIMIT = 32 << 20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--bytes", type=int, default=LIMIT - (64 << 10))
    ap.add_argument("--layers", type=int, default=1)
    ap.add_argument("--int8", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(17)
    width = 1024
    elem = 1 if args.int8 else 4
    # Each layer maps width -> width, except the last, which takes what is left.
    per_layer = args.bytes // args.layers // elem
    nodes, inits = [], []
    x = "x"
    cols = width
    for i in range(args.layers):
        cols = per_layer // width if i == args.layers - 1 else width
        w = f"w{i}"
        y = "y" if i == args.layers - 1 else f"h{i}"
        if args.int8:
            weights = rng.integers(-127, 128, size=(width, cols), dtype=np.int8)
            inits.append(numpy_helper.from_array(weights, w))
            nodes.append(helper.make_node("MatMulInteger", [x, w], [y], name=f"mm{i}"))
            if i < args.layers - 1:
                # Back to int8 for the next layer: clip and cast.
                c = f"c{i}"
                nodes.append(helper.make_node("Clip", [y, f"lo{i}", f"hi{i}"], [c]))
                inits += [numpy_helper.from_array(np.array(-127, np.int32), f"lo{i}"),
                          numpy_helper.from_array(np.array(127, np.int32), f"hi{i}")]
                nodes.append(helper.make_node("Cast", [c], [f"q{i}"], to=TensorProto.INT8))
                y = f"q{i}"
        else:
            weights = (rng.standard_normal((width, cols)) / np.sqrt(width)).astype(np.float32)
            inits.append(numpy_helper.from_array(weights, w))
            nodes.append(helper.make_node("MatMul", [x, w], [y], name=f"mm{i}"))
        x = y
    in_type = TensorProto.INT8 if args.int8 else TensorProto.FLOAT
    out_type = TensorProto.INT32 if args.int8 else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "large",
        [helper.make_tensor_value_info("x", in_type, [1, width])],
        [helper.make_tensor_value_info("y", out_type, [1, cols])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    data = model.SerializeToString()
    with open(args.out, "wb") as f:
        f.write(data)
    params = sum(int(np.prod(t.dims)) for t in inits)
    print(f"{args.out}: {len(data)} bytes, {params} parameters, {len(nodes)} nodes")


if __name__ == "__main__":
    main()
