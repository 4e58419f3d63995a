#!/usr/bin/env bash
# Builds and checks @prova/client (clients/ts) against a live Prova node.
#
#   clients/ts/check.sh RPC_URL
#
# 1. npm ci, only when node_modules does not match package-lock.json (a stamp is written after
#    a successful install, as contracts/build.sh does), so repeated runs stay offline and fast;
# 2. the ABI staleness check (src/abi.generated.ts against contracts/out/*.json), `tsc` (type
#    check + build into dist/) and the compile-time type tests (test/types.ts);
# 3. test/live.mjs RPC_URL: one `ok - …` / `not ok - …: why` line per check.
# Exits non-zero if any step or check failed. PROVA=path/to/prova adds a bit-for-bit comparison
# with `prova infer --json`.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"

if [[ $# -ne 1 ]]; then
  echo "usage: $0 RPC_URL" >&2
  exit 2
fi
RPC="$1"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool not found (Node.js 18+ is needed)" >&2; exit 1; }
done

stamp=node_modules/.prova-lock-stamp
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "==> npm ci (clients/ts)" >&2
  timeout 600 npm ci --no-audit --no-fund --loglevel=error >&2
  cp package-lock.json "$stamp"
fi

status=0
if node scripts/gen-abi.mjs --check; then
  echo "ok - client-ts: src/abi.generated.ts matches contracts/out"
else
  echo "not ok - client-ts: src/abi.generated.ts is stale (run npm run gen-abi in clients/ts)"
  status=1
fi

rm -rf dist
if out="$(node_modules/.bin/tsc -p tsconfig.json 2>&1)"; then
  echo "ok - client-ts: tsc (strict) builds dist/"
else
  echo "not ok - client-ts: tsc: $(echo "$out" | head -1)"
  echo "$out" >&2
  exit 1
fi
if out="$(node_modules/.bin/tsc -p tsconfig.test.json 2>&1)"; then
  echo "ok - client-ts: compile-time type tests (viem inference through the ABIs, provaActions)"
else
  echo "not ok - client-ts: type tests: $(echo "$out" | head -1)"
  echo "$out" >&2
  status=1
fi

node test/live.mjs "$RPC" || status=1
exit "$status"
