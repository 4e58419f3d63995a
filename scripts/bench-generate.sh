#!/usr/bin/env bash
# Generation benchmark: tokens/s of `prova generate` in the exact and native profiles against
# onnxruntime (one thread, the same step loop in Python), all in the same run, with the gas of
# a token and how many tokens one 30M-gas block buys. Models: the fixture character model and
# GPT-style decoders of growing size with seeded random weights (fixtures/bench_lm.py make);
# each generates TOKENS greedy tokens after a one-token prompt. Prints a Markdown table (for
# docs/performance.md, "Generation") and writes target/bench-generate.json.
#
#   scripts/bench-generate.sh [TOKENS] [RUNS]     (defaults 100 and 5; median of RUNS)
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-100}
runs=${2:-5}

. scripts/bench-setup.sh
dir=target/bench-lm
mkdir -p "$dir"
"$venv/bin/python" fixtures/bench_lm.py make "$dir" >"$dir/params.txt"
cp fixtures/lm/char_lm.onnx "$dir/char_lm.onnx"
echo "char_lm $("$venv/bin/python" -c 'import onnx,numpy as np,sys; m=onnx.load(sys.argv[1]); print(sum(int(np.prod(t.dims)) for t in m.graph.initializer))' fixtures/lm/char_lm.onnx)" >>"$dir/params.txt"

out=target/bench-generate.json
{
  echo '{'
  first=1
  while read -r name params; do
    [ $first = 1 ] || echo ','
    first=0
    printf '"%s":{"params":%s' "$name" "$params"
    for profile in exact native; do
      printf ',"%s":[' "$profile"
      for r in $(seq "$runs"); do
        [ "$r" = 1 ] || printf ','
        "$prova" generate "$dir/$name.onnx" --prompt-ids 1 --max-new-tokens "$tokens" --profile "$profile" --json
      done
      printf ']'
    done
    printf ',"onnxruntime":'
    "$venv/bin/python" fixtures/bench_lm.py ort "$dir/$name.onnx" "$runs" "$tokens"
    printf '}'
  done <"$dir/params.txt"
  echo '}'
} >"$out"

python3 - "$out" "$tokens" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
tokens = int(sys.argv[2])
print(f"{tokens} greedy tokens after a one-token prompt, median of runs, one thread each.\n")
print("| model | parameters | gas/token | tokens per 30M block | exact tok/s | native tok/s | onnxruntime tok/s | exact / onnxruntime time | exact Mgas/s |")
print("|---|---|---|---|---|---|---|---|---|")
for name, r in d.items():
    ex = statistics.median(x["tokens_per_second"] for x in r["exact"])
    na = statistics.median(x["tokens_per_second"] for x in r["native"])
    ort = r["onnxruntime"]["tokens_per_second"]
    g = r["exact"][0]["gas_per_token"]
    hashes = {x["output_hash"] for x in r["exact"]}
    assert len(hashes) == 1, f"{name}: exact runs disagree"
    mgas = g * ex / 1e6
    print(f"| {name} | {r['params']:,} | {g:,} | {(30_000_000 - 2720) // g:,} | {ex:,.0f} | {na:,.0f} | {ort:,.0f} | {ort / ex:.2f}x | {mgas:.0f} |")
PY
