#!/usr/bin/env bash
# Compiles contracts/src with the pinned solc-js into contracts/out/<Name>.json.
#
#   contracts/build.sh           install deps if needed (npm ci), rebuild contracts/out
#   contracts/build.sh --check   rebuild into a temp dir; exit 1, listing the stale files,
#                                if contracts/out differs (CI runs this)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool not found (Node.js 18+ is needed)" >&2; exit 1; }
done

# npm ci only when node_modules does not match package-lock.json (the stamp is written after
# a successful install), so repeated builds stay offline and fast.
stamp=node_modules/.prova-lock-stamp
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  npm ci --no-audit --no-fund --loglevel=error
  cp package-lock.json "$stamp"
fi

exec node build.js "$@"
