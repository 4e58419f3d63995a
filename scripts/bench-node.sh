#!/usr/bin/env bash
# Dev-node benchmark: transfers/s and inference transactions/s through eth_sendRawTransaction
# (automine: one block per transaction), eth_call latency of an inference, and the same
# transfer workload against anvil (npm @foundry-rs/anvil-linux-amd64) in the same run.
#   scripts/bench-node.sh [N]    (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300}
ROOT=$(pwd)
cargo build --release -q -p prova
( cd tests/e2e && { [ -d node_modules/viem ] || npm ci --no-audit --no-fund --loglevel=error; } )
mkdir -p target/bench-node
[ -x target/bench-node/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ] ||
  npm install --no-audit --no-fund --loglevel=error --prefix target/bench-node @foundry-rs/anvil-linux-amd64@1.7.1 >/dev/null
ANVIL=$(ls target/bench-node/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil* 2>/dev/null | head -1 || true)
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_rpc() { for _ in $(seq 100); do curl -s -o /dev/null -X POST -H 'content-type: application/json' --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' "$1" && return 0; sleep 0.1; done; return 1; }

MODEL=$(target/release/prova model inspect fixtures/models/digits_mlp.onnx --json | python3 -c 'import json,sys;print(json.load(sys.stdin)["id"])')
target/release/prova node --dev --tmp --port 18545 >target/bench-node/prova.log 2>&1 & PIDS+=($!)
wait_rpc http://127.0.0.1:18545
node tests/e2e/bench.mjs http://127.0.0.1:18545 prova "$N" inference "$MODEL"
if [ -n "$ANVIL" ] && "$ANVIL" --version >/dev/null 2>&1; then
  "$ANVIL" --port 18546 --silent >target/bench-node/anvil.log 2>&1 & PIDS+=($!)
  wait_rpc http://127.0.0.1:18546
  node tests/e2e/bench.mjs http://127.0.0.1:18546 anvil "$N"
else
  echo '{"label":"anvil","error":"anvil binary not available"}'
fi
