#!/usr/bin/env bash
# Real-size networks (issue 18): the exact and native profiles against onnxruntime in one run,
# one thread each, on a MobileNet-style CNN, dense MLPs of 1-7M parameters and a transformer
# encoder block at sequence 128 (fixtures/bench_real.py builds them with seeded weights).
# Prints a Markdown table (docs/performance.md, "Real-size networks") with the ratios, the
# achieved GMAC/s next to this core's peak without FMA (measured in the same run by
# `prova bench peak`: multiply-then-add chains at the CPU's widest vectors, at the clock the core
# really runs), and the peak resident set of a process that loads a model and runs one
# inference; writes target/bench-real.json.
#
# A shared VM's neighbours can slow every call of a run by a third for a minute, so each model
# is measured in ROUNDS rounds, exact, native and onnxruntime one after another in each; the
# table takes each one's best round (lowest median) and also gives the ratio of the p10s.
#
#   scripts/bench-real.sh [ITERS] [ROUNDS]   (defaults 200 and 3; median of ITERS warm calls)
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${1:-200}
rounds=${2:-3}
if ! [ "$rounds" -ge 1 ] 2>/dev/null; then
  echo "error: ROUNDS must be a whole number of at least 1, got '$rounds'" >&2
  exit 2
fi

. scripts/bench-setup.sh
py="$venv/bin/python"
dir=target/bench-real
mkdir -p "$dir"
"$py" fixtures/bench_real.py make "$dir" >"$dir/models.txt"

out=target/bench-real.json
{
  printf '{"peak":%s,"models":{' "$("$prova" bench peak --json)"
  first=1
  while read -r name macs params; do
    [ $first = 1 ] || printf ','
    first=0
    echo "$name ($params parameters, $macs MACs)" >&2
    printf '"%s":{"macs":%s,"params":%s,"rounds":[' "$name" "$macs" "$params"
    ort=(fixtures/bench_ort.py --models "$dir" --inputs "$dir" --only "$name")
    for round in $(seq "$rounds"); do
      [ "$round" = 1 ] || printf ','
      echo "  round $round/$rounds" >&2
      printf '{'
      for profile in exact native; do
        printf '"%s":' "$profile"
        "$prova" bench infer "$dir/$name.onnx" --input "$dir/$name.json" --profile "$profile" --iters "$iters" --json
        printf ','
      done
      printf '"onnxruntime":'
      "$py" "${ort[@]}" --iters "$iters" --warmup $((iters / 10 > 10 ? iters / 10 : 10)) | "$py" -c \
        'import json, sys; d = json.load(sys.stdin); print(json.dumps({"onnxruntime": d["onnxruntime"], **d["models"][sys.argv[1]]}))' "$name"
      printf '}'
    done
    printf ']'
    for profile in exact native; do
      printf ',"%s_rss_kib":%s' "$profile" \
        "$("$py" fixtures/bench_real.py rss -- "$prova" infer "$dir/$name.onnx" --input "$dir/$name.json" --profile "$profile")"
    done
    printf ',"onnxruntime_rss_kib":%s' \
      "$("$py" fixtures/bench_real.py rss -- "$py" "${ort[@]}" --iters 1 --warmup 0)"
    printf '}'
  done <"$dir/models.txt"
  echo '}}'
} >"$out"

python3 - "$out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
peak = d["peak"]["peak_no_fma_gmacs"]
fma = max((l["gmacs"] for l in d["peak"]["loops"] if l["kind"] == "fma"), default=0)
print(f"One thread each; this core's measured f32 peak: {peak:.1f} GMAC/s without FMA "
      f"(multiply, then add), {fma:.1f} with FMA.\n")
print(f"Best of {len(next(iter(d['models'].values()))['rounds'])} rounds (the round with the "
      "lowest median, for each of exact, native and onnxruntime apart); p10 ratio from the "
      "lowest p10s.\n")
print("| model | params | MMACs | exact µs | native µs | onnxruntime µs | exact / ORT | native / ORT "
      "| exact / ORT (p10) | exact GMAC/s (% of peak) | ORT GMAC/s | peak RSS MiB exact / ORT |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, r in d["models"].items():
    best = lambda key, stat: min(x[key][stat] for x in r["rounds"])
    e, n, o = (best(k, "median_ns") for k in ("exact", "native", "onnxruntime"))
    ep, op = best("exact", "p10_ns"), best("onnxruntime", "p10_ns")
    gm = lambda ns: r["macs"] / ns
    print(f"| {name} | {r['params'] / 1e6:.2f}M | {r['macs'] / 1e6:.1f} | {e / 1e3:.0f} | {n / 1e3:.0f} | "
          f"{o / 1e3:.0f} | {e / o:.2f} | {n / o:.2f} | {ep / op:.2f} | "
          f"{gm(e):.1f} ({100 * gm(e) / peak:.0f}%) | "
          f"{gm(o):.1f} | {r['exact_rss_kib'] / 1024:.0f} / {r['onnxruntime_rss_kib'] / 1024:.0f} |")
PY
