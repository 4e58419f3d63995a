#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, one after another, and prints
# executions and time per target. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`);
# on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly flags it needs.
#
#   fuzz/run.sh SECONDS [TARGET...]
#
# Corpora grow in fuzz/corpus/TARGET (seeded from fixtures/ for the admission targets);
# crashes land in fuzz/artifacts/TARGET. Each target runs without sanitizers (-s none: tract
# is too slow under ASan on two cores), at nice 19, with a 10 s per-input timeout, and an
# RSS limit of 1 GiB (admission must never come near it: over it is a finding) inside a
# 4 GiB address-space cap, so a memory bomb fails the run instead of the machine.
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(abi_infer tensor_bytes tensor_json admit_bytes admit_graph tx_decode block_rlp block_json)
fi
export RUSTC_BOOTSTRAP=1
nice -n 19 cargo fuzz build -s none -O >&2

for t in admit_bytes; do
  mkdir -p corpus/$t
  cp -n ../fixtures/models/*.onnx ../fixtures/reject/*.onnx ../fixtures/hostile/*.onnx \
    ../fixtures/ops/*.onnx corpus/$t/ 2>/dev/null || true
done
for t in tensor_json; do
  mkdir -p corpus/$t
  cp -n ../fixtures/inputs/*.json corpus/$t/ 2>/dev/null || true
done

for t in "${targets[@]}"; do
  mkdir -p corpus/$t artifacts/$t
  log=$(mktemp)
  start=$(date +%s)
  set +e
  (ulimit -v $((4 * 1024 * 1024)); nice -n 19 cargo fuzz run -s none -O "$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=1024 -max_len=1048576 \
    -print_final_stats=1 -artifact_prefix="artifacts/$t/") >"$log" 2>&1
  rc=$?
  set -e
  end=$(date +%s)
  execs=$(grep -aE '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  rate=$(grep -aE '^stat::average_exec_per_sec' "$log" | awk '{print $2}')
  fuzzed=$([ -n "$execs" ] && [ "${rate:-0}" -gt 0 ] && echo $((execs / rate)) || echo "?")
  echo "$t: rc=$rc execs=${execs:-?} exec/s=${rate:-?} fuzz_seconds=$fuzzed wall_seconds=$((end - start)) corpus=$(ls corpus/$t | wc -l) artifacts=$(ls artifacts/$t | wc -l)"
  if [ $rc -ne 0 ]; then
    grep -E 'ERROR|panicked|deadly|out-of-memory|timeout|SUMMARY' "$log" | head -20 >&2 || true
    cp "$log" "artifacts/$t/last-run.log"
  fi
  rm -f "$log"
done
