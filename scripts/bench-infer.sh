#!/usr/bin/env bash
# Per-fixture inference benchmark: Prova exact vs Prova native vs onnxruntime (single thread),
# all measured in the same run on the same inputs. Prints a Markdown table (for
# docs/performance.md) and writes the raw figures to target/bench-infer.json.
#
#   scripts/bench-infer.sh [ITERS]      (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-2000}

. scripts/bench-setup.sh

out=target/bench-infer.json
{
  echo '{"prova":{'
  first=1
  for m in fixtures/models/*.onnx; do
    name=$(basename "$m" .onnx)
    for profile in exact native; do
      [ $first = 1 ] || echo ','
      first=0
      printf '"%s/%s":' "$name" "$profile"
      "$prova" bench infer "$m" --input "fixtures/inputs/$name.json" --profile "$profile" --iters "$iters" --json
    done
  done
  echo '},"onnxruntime":'
  "$venv/bin/python" fixtures/bench_ort.py --iters "$iters"
  echo '}'
} > "$out"

python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p, ort = d["prova"], d["onnxruntime"]["models"]
names = sorted({k.split("/")[0] for k in p})
print(f"| model | exact µs | native µs | exact/native | onnxruntime µs | exact/ORT | tract µs (exact) | overhead µs | compile ms |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for n in names:
    e, nat, o = p[f"{n}/exact"], p[f"{n}/native"], ort[n]
    us = lambda ns: ns / 1000
    print(f"| {n} | {us(e['median_ns']):.1f} | {us(nat['median_ns']):.1f} | {e['median_ns']/nat['median_ns']:.2f} | "
          f"{us(o['median_ns']):.1f} | {e['median_ns']/o['median_ns']:.2f} | {us(e['tract_median_ns']):.1f} | "
          f"{us(e['overhead_ns']):.2f} | {e['compile_ns']/1e6:.2f} |")
PY
