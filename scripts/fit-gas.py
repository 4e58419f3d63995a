#!/usr/bin/env python3
"""Suggest per-operator gas weight factors from a `prova bench gas --json` run.

Usage (from the repository root, after a release build):

    target/release/prova bench gas --min-ms 150 --rounds 3 --json > /tmp/gas.json
    python3 scripts/fit-gas.py /tmp/gas.json [--in-milligas 12] [--out-milligas 13] [--band 90 200]

For every model it measured, the script asks `prova model inspect --json` for the model's
charged work per operator, groups the models by their heaviest operator, and prints the factor
range by which that operator's weight(s) in crates/model/src/cost.rs could be multiplied so that
every model of the group lands inside the band (Mgas/s), holding the rest of its gas (base,
nodes, input/output bytes, other operators) fixed. "CONFLICT" means no single factor fits the
whole group: the operator needs a second weight (by shape, broadcast, group...), not a scale.
This only suggests: the weights are consensus constants, edited and reviewed by hand
(docs/gas.md, "Calibration").
"""
import argparse
import collections
import json
import math
import subprocess

SIZES = {"f32": 4, "f64": 8, "i64": 8, "i32": 4, "i16": 2, "i8": 1, "u8": 1, "bool": 1}


def tensor_bytes(specs):
    return sum(SIZES[s["dtype"]] * math.prod(s["shape"]) for s in specs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_json")
    ap.add_argument("--prova", default="target/release/prova")
    ap.add_argument("--in-milligas", type=float, default=12)
    ap.add_argument("--out-milligas", type=float, default=13)
    ap.add_argument("--band", type=float, nargs=2, default=[90, 200])
    args = ap.parse_args()
    lo, hi = args.band
    bench = json.load(open(args.bench_json))["models"]
    groups = collections.defaultdict(list)
    for row in bench:
        path = row.get("path") or (
            f"fixtures/{'models' if row['kind'] == 'fixture' else 'gas'}/{row['name']}.onnx"
        )
        info = json.loads(
            subprocess.run(
                [args.prova, "model", "inspect", "--json", path],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        t = row["median_ns"] * 1e-9
        fixed = (
            120
            + 60 * info["cost"]["nodes"]
            + (tensor_bytes(info["inputs"]) * args.in_milligas
               + tensor_bytes(info["outputs"]) * args.out_milligas) / 1000
        )
        work = {w["op"]: w["macs"] * 0.125 for w in info["work"]}
        top = max(work, key=work.get) if work else "-"
        mine = work.get(top, 0)
        rest = sum(work.values()) - mine
        rate = row["mgas_per_s"]
        if mine:
            f_lo = (lo * 1e6 * t - fixed - rest) / mine
            f_hi = (hi * 1e6 * t - fixed - rest) / mine
        else:
            f_lo = f_hi = None
        groups[top].append((row["name"], round(rate), f_lo, f_hi))
    for op in sorted(groups):
        rows = groups[op]
        names = ", ".join(f"{n} {r}" for n, r, _, _ in rows)
        los = [r[2] for r in rows if r[2] is not None]
        if not los:
            print(f"{op:28s} no work charged: {names}")
            continue
        need_lo, need_hi = max(los), min(r[3] for r in rows if r[3] is not None)
        if need_lo > need_hi:
            verdict = "CONFLICT"
        elif need_lo <= 0:
            verdict = f"suggest {max(need_hi / 2, 0.05):.2f}"
        else:
            verdict = f"suggest {math.sqrt(need_lo * need_hi):.2f}"
        print(f"{op:28s} factor in [{need_lo:.2f}, {need_hi:.2f}] {verdict}: {names}")


if __name__ == "__main__":
    main()
