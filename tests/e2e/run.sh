#!/usr/bin/env bash
# End-to-end test of `prova node --dev` with real clients: Foundry's cast and forge, viem and
# ethers (npm), web3.py (PyPI).
# Installs them into tests/e2e/node_modules (pinned by package-lock.json), builds or uses
# target/debug/prova, starts a node on a free loopback port and drives it as users do; then
# restarts it on the same data dir and checks that everything persisted.
# Prints one `ok`/`not ok` line per check and a final `N passed, M failed` line.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$HERE"

PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
not_ok() { FAILED=$((FAILED + 1)); echo "not ok - $*"; }
# check NAME EXPECTED ACTUAL
check() {
  if [[ "$2" == "$3" ]]; then ok "$1"; else not_ok "$1: expected '$2', got '$3'"; fi
}
finish() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

echo "==> npm ci (cast, forge, solc-js, viem, ethers)"
timeout 600 npm ci --no-audit --no-fund --loglevel=error >/dev/null
CAST="$HERE/node_modules/@foundry-rs/cast-linux-amd64/bin/cast"
[[ -x "$CAST" ]] || { echo "error: cast not installed at $CAST" >&2; exit 1; }

# web3.py (PyPI, pinned in requirements.txt) in a venv beside the tests, reused while the pins hold.
echo "==> pip install web3 (tests/e2e/.venv)"
PY="$HERE/.venv/bin/python"
if ! cmp -s "$HERE/requirements.txt" "$HERE/.venv/.prova-stamp" 2>/dev/null; then
  rm -rf "$HERE/.venv"
  python3 -m venv "$HERE/.venv"
  timeout 600 "$PY" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$HERE/.venv/.prova-stamp"
fi

# PROVA=path/to/prova uses that binary; otherwise target/debug/prova is built (a no-op when fresh).
if [[ -z "${PROVA:-}" ]]; then
  echo "==> cargo build -p prova"
  (cd "$ROOT" && cargo build -p prova --bin prova --locked --quiet)
  PROVA="${CARGO_TARGET_DIR:-$ROOT/target}/debug/prova"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/prova-e2e.XXXXXX")"
DATADIR="$WORK/data"
NODE_PID=""
VAL_PID=""
NET_PID=""
cleanup() {
  if [[ -n "$NET_PID" ]] && kill -0 "$NET_PID" 2>/dev/null; then
    kill -TERM "$NET_PID" 2>/dev/null || true
    wait "$NET_PID" 2>/dev/null || true
  fi
  if [[ -n "$VAL_PID" ]] && kill -0 "$VAL_PID" 2>/dev/null; then
    kill -TERM "$VAL_PID" 2>/dev/null || true
    wait "$VAL_PID" 2>/dev/null || true
  fi
  if [[ -n "$NODE_PID" ]] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# free_ports_below_ephemeral N: the first of N consecutive ports in 20000-31999 that are free now.
free_ports_below_ephemeral() {
  node -e 'const net = require("net"); const n = Number(process.argv[1]);
    const free = (p) => new Promise((ok) => { const s = net.createServer();
      s.once("error", () => ok(false)); s.listen(p, "127.0.0.1", () => s.close(() => ok(true))); });
    (async () => { for (;;) { const b = 20000 + Math.floor(Math.random() * (12000 - n)); let all = true;
      for (let i = 0; i < n && all; i++) all = await free(b + i);
      if (all) { console.log(b); return; } } })();' "$1"
}

# start_node LOG ARGS...: starts the node, waits (60 s at most) until it answers.
start_node() {
  local log="$1"
  shift
  PORT="$(free_port)"
  RPC="http://127.0.0.1:$PORT"
  "$PROVA" node --dev --port "$PORT" "$@" >"$log" 2>&1 &
  NODE_PID=$!
  for _ in $(seq 1 600); do
    if timeout 5 "$CAST" chain-id --rpc-url "$RPC" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$NODE_PID" 2>/dev/null; then
      echo "error: the node exited:" >&2
      cat "$log" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "error: the node did not answer within 60 s" >&2
  cat "$log" >&2
  return 1
}

# stop_node: SIGTERM, wait (30 s at most); the exit code must be 0.
stop_node() {
  kill -TERM "$NODE_PID"
  local code=0
  for _ in $(seq 1 300); do
    kill -0 "$NODE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$NODE_PID" 2>/dev/null; then
    kill -KILL "$NODE_PID"
    not_ok "node stops on SIGTERM within 30 s"
  fi
  wait "$NODE_PID" || code=$?
  NODE_PID=""
  check "node exits 0 on SIGTERM" 0 "$code"
}

c() { timeout 60 "$CAST" "$1" --rpc-url "$RPC" "${@:2}"; }

K0=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
K1=0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d
DEAD=0x000000000000000000000000000000000000dEaD
PIXELS='[0,0,7,16,14,3,0,0,0,0,9,14,11,15,0,0,0,0,1,5,0,15,5,0,0,0,0,0,0,16,5,0,0,0,0,0,3,16,4,0,0,0,0,1,12,14,1,0,0,0,5,12,16,16,14,1,0,0,8,16,14,10,13,3]'

echo "==> --tmp node"
start_node "$WORK/tmp.log" --tmp
check "cast chain-id" 31337 "$(c chain-id)"
check "cast block-number (fresh --tmp chain)" 0 "$(c block-number)"
stop_node

echo "==> node on $DATADIR"
start_node "$WORK/node1.log" --datadir "$DATADIR"
# The server answers before the banner is printed (it is printed once the server is up, the
# "Listening on" line last), so wait for that line rather than race it.
listening=0
for _ in $(seq 1 100); do
  if grep -q "Listening on $RPC" "$WORK/node1.log"; then listening=1; break; fi
  sleep 0.1
done
[ "$listening" = 1 ] && ok "node prints its RPC URL" || not_ok "node prints its RPC URL"
MLP_ID="$(awk '$1 == "digits_mlp" {print $2}' "$WORK/node1.log")"
IRIS_ID="$(awk '$1 == "iris_logreg" {print $2}' "$WORK/node1.log")"
check "node prints the digits_mlp model id" 66 "${#MLP_ID}"

# Transfer.
c send --private-key "$K0" "$DEAD" --value 1ether --json >"$WORK/transfer.json"
TRANSFER_TX="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).transactionHash' "$WORK/transfer.json")"
check "cast send transfer status" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/transfer.json")"
check "cast balance after transfer" 1000000000000000000 "$(c balance "$DEAD")"
# The node signs for its dev accounts (eth_sendTransaction), as anvil does.
BEEF=0x000000000000000000000000000000000000bEEF
c send --unlocked --from 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 "$BEEF" --value 1 --json >"$WORK/unlocked.json"
check "cast send --unlocked status" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/unlocked.json")"
check "cast balance after the unlocked transfer" 1 "$(c balance "$BEEF")"

# Deploy DigitClassifier with the digits_mlp model id.
BYTECODE="$(node -p 'require(process.argv[1]).bytecode' "$ROOT/contracts/out/DigitClassifier.json")"
c send --private-key "$K0" --create "$BYTECODE" "constructor(bytes32)" "$MLP_ID" --json >"$WORK/deploy.json"
CLASSIFIER="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).contractAddress' "$WORK/deploy.json")"
check "DigitClassifier deployed" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/deploy.json")"
check "DigitClassifier.modelId()" "$MLP_ID" "$(c call "$CLASSIFIER" "modelId()(bytes32)")"

# Inference through the contract: a call, then a transaction.
DIGIT="$(c call "$CLASSIFIER" "predict(uint8[64])(uint256)" "$PIXELS")"
[[ "$DIGIT" =~ ^[0-9]$ ]] && ok "cast call predict -> $DIGIT" || not_ok "cast call predict: got '$DIGIT'"
c send --private-key "$K0" "$CLASSIFIER" "classify(uint8[64])" "$PIXELS" --json >"$WORK/classify.json"
CLASSIFY_TX="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).transactionHash' "$WORK/classify.json")"
check "cast send classify status" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/classify.json")"
TOPIC0="$("$CAST" keccak "Classified(address,uint256,bytes32)")"
check "Classified log topic" "$TOPIC0" "$(c receipt "$CLASSIFY_TX" --json | node -p 'JSON.parse(require("fs").readFileSync(0)).logs[0].topics[0]')"
check "Classified log digit" "$DIGIT" "$(c receipt "$CLASSIFY_TX" --json | node -p 'BigInt(JSON.parse(require("fs").readFileSync(0)).logs[0].topics[2]).toString()')"
check "lastPrediction recorded" "$DIGIT" "$(c call "$CLASSIFIER" "lastPrediction(address)(uint8,uint64,bytes32)" 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 | head -1)"

# Language model (docs/generation.md): generate through cast, then TextGenerator writes text.
LM_ID="$(awk '$1 == "char_lm" {print $2}' "$WORK/node1.log")"
check "node preloads the language model char_lm" 66 "${#LM_ID}"
LM_JSON="$ROOT/fixtures/lm/char_lm.expected.json"
lm() { node -p "const c = JSON.parse(require('fs').readFileSync(process.argv[1])).cases[${2:-0}]; $1" "$LM_JSON"; }
GENERATE="generate(bytes32,uint32[],uint32,uint64,uint32,uint32)(uint32[])"
check "cast call generate (greedy) = onnxruntime's tokens" "$(lm 'JSON.stringify(c.tokens)')" \
  "$(c call 0x0000000000000000000000000000000000000F00 "$GENERATE" "$LM_ID" "$(lm 'JSON.stringify(c.prompt_ids)')" "$(lm 'c.max_new_tokens')" 0 0 0 | tr -d ' ')"
# cast prints a custom error as its raw data: decode it as BadInput(index, reason).
OVER="$(c call 0x0000000000000000000000000000000000000F00 "$GENERATE" "$LM_ID" "[1,2]" 127 0 0 0 2>&1 | grep -o '0x0ec90677[0-9a-f]*' | head -1 || true)"
check "cast call generate over the context reverts BadInput(1, ...)" \
  '1 "prompt (2 tokens) plus maxNewTokens (127) is 129, over the model'"'"'s context of 128 tokens"' \
  "$("$CAST" decode-error --sig "BadInput(uint256,string)" "${OVER:-0x}" 2>&1 | tr '\n' ' ' | sed 's/ $//' || true)"
VOCAB="0x$(node -p 'Buffer.from(JSON.parse(require("fs").readFileSync(process.argv[1])).tokens.join(""), "latin1").toString("hex")' "$ROOT/fixtures/lm/char_lm.tokenizer.json")"
BYTECODE="$(node -p 'require(process.argv[1]).bytecode' "$ROOT/contracts/out/TextGenerator.json")"
c send --private-key "$K0" --create "$BYTECODE" "constructor(bytes32,bytes)" "$LM_ID" "$VOCAB" --json >"$WORK/deploy-lm.json"
GENERATOR="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).contractAddress' "$WORK/deploy-lm.json")"
check "TextGenerator deployed" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/deploy-lm.json")"
# cast trims a string argument's trailing space ("def " arrives as "def"): the last case's
# prompt, "In Python", has none.
c send --private-key "$K0" "$GENERATOR" "complete(string,uint32,uint32,uint32)" "$(lm 'c.prompt' 5)" "$(lm 'c.max_new_tokens' 5)" 0 0 --json >"$WORK/complete.json"
COMPLETE_TX="$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).transactionHash' "$WORK/complete.json")"
check "cast send complete status" 0x1 "$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1])).status' "$WORK/complete.json")"
# completion(0) as raw ABI (a dynamic tuple): its text is the fifth field.
STORED_TEXT="$(node -e '
const b = Buffer.from(process.argv[1].slice(2), "hex");
const w = (i) => Number(BigInt("0x" + b.subarray(i, i + 32).toString("hex")));
const t = w(0), off = t + w(t + 128), n = w(off);
process.stdout.write(JSON.stringify(b.subarray(off + 32, off + 32 + n).toString("latin1")));
' "$(c call "$GENERATOR" "completion(uint256)" 0)")"
check "TextGenerator stored the generated text (= onnxruntime's greedy text)" "$(lm 'JSON.stringify(c.text)' 5)" "$STORED_TEXT"
check "generate's record is in the witness (prova_getInferences)" 1 \
  "$(c rpc prova_getInferences "$COMPLETE_TX" | node -p 'JSON.parse(require("fs").readFileSync(0)).length')"

# viem: prova_* extensions, a read, a custom error from a revert.
if timeout 120 node viem.mjs "$RPC" "$CLASSIFIER" "$CLASSIFY_TX" "$MLP_ID" >"$WORK/viem.out" 2>&1; then :; fi
cat "$WORK/viem.out"
PASSED=$((PASSED + $(grep -c '^ok ' "$WORK/viem.out" || true)))
FAILED=$((FAILED + $(grep -c '^not ok ' "$WORK/viem.out" || true)))
grep -q '^ok ' "$WORK/viem.out" || not_ok "viem script ran"

# ethers v6 and web3.py: dev-account signers, and events through filters and subscriptions.
for client in "node ethers.mjs" "$PY web3_check.py"; do
  out="$WORK/$(echo "$client" | tr ' /' '__').out"
  if timeout 180 $client "$RPC" "$CLASSIFIER" >"$out" 2>&1; then :; fi
  cat "$out"
  PASSED=$((PASSED + $(grep -c '^ok ' "$out" || true)))
  FAILED=$((FAILED + $(grep -c '^not ok ' "$out" || true)))
  grep -q '^ok ' "$out" || not_ok "$client ran: $(tail -3 "$out")"
done

# prova-client (clients/python): the web3.py helpers against this node, then their offline tests.
rc=0
timeout 300 "$PY" "$ROOT/clients/python/tests/live_check.py" "$RPC" >"$WORK/prova_client.out" 2>&1 || rc=$?
cat "$WORK/prova_client.out"
PASSED=$((PASSED + $(grep -c '^ok ' "$WORK/prova_client.out" || true)))
FAILED=$((FAILED + $(grep -c '^not ok ' "$WORK/prova_client.out" || true)))
[[ $rc -eq 0 ]] || grep -q '^not ok ' "$WORK/prova_client.out" \
  || not_ok "prova-client live_check.py exited $rc: $(tail -3 "$WORK/prova_client.out")"

# @prova/client (clients/ts): build, type tests, live checks of the TypeScript helpers.
rc=0
PROVA="$PROVA" timeout 600 "$ROOT/clients/ts/check.sh" "$RPC" >"$WORK/client-ts.out" 2>"$WORK/client-ts.err" || rc=$?
cat "$WORK/client-ts.out"
PASSED=$((PASSED + $(grep -c '^ok ' "$WORK/client-ts.out" || true)))
FAILED=$((FAILED + $(grep -c '^not ok ' "$WORK/client-ts.out" || true)))
if [[ $rc -ne 0 ]] && ! grep -q '^not ok ' "$WORK/client-ts.out"; then
  not_ok "clients/ts/check.sh exited $rc: $(tail -3 "$WORK/client-ts.err" | tr '\n' ' ')"
fi

# cast run replays a mined transaction in cast's own EVM (which has no INFER: see docs/foundry.md).
rc=0
timeout 120 "$CAST" run "$TRANSFER_TX" --rpc-url "$RPC" >"$WORK/cast-run.out" 2>&1 || rc=$?
if [[ $rc -eq 0 ]] && grep -q "Transaction successfully executed" "$WORK/cast-run.out"; then
  ok "cast run of a transfer"
else
  not_ok "cast run of a transfer: $(tail -3 "$WORK/cast-run.out")"
fi

# forge test: the example contract, unchanged, against ProvaTest's shim (prova shim via vm.ffi).
# What the shim must answer is what this node answers: the raw bytes of an inferFixed call, and
# its gas (estimate minus the intrinsic gas).
FORGE="$HERE/node_modules/@foundry-rs/forge-linux-amd64/bin/forge"
FORGE_DIR="$ROOT/tests/forge"
export FOUNDRY_SOLC="$FORGE_DIR/solc" PROVA_BIN="$PROVA" PROVA_SHIM_CACHE="$WORK/shim-cache"
FIXED_VALUES="$(node -e 'console.log("[" + JSON.parse(process.argv[1]).map((p) => p * 625).join(",") + "]")' "$PIXELS")"
INFER_CALL="$("$CAST" calldata "inferFixed(bytes32,int256[],uint64[],uint8)" "$MLP_ID" "$FIXED_VALUES" "[1,64]" 4)"
INFER_REQ="{\"to\":\"0x0000000000000000000000000000000000000F00\",\"data\":\"$INFER_CALL\"}"
export PROVA_EXPECTED_INFER_FIXED="$(c rpc eth_call "$INFER_REQ" latest | tr -d '"')"
export PROVA_EXPECTED_INFER_GAS="$(node -e '
  const [est, data] = process.argv.slice(1);
  const bytes = Buffer.from(data.slice(2), "hex");
  let intrinsic = 21000;
  for (const b of bytes) intrinsic += b === 0 ? 4 : 16;
  console.log(Number(BigInt(JSON.parse(est))) - intrinsic);' "$(c rpc eth_estimateGas "$INFER_REQ")" "$INFER_CALL")"
rc=0
(cd "$FORGE_DIR" && timeout 600 "$FORGE" test) >"$WORK/forge-test.out" 2>&1 || rc=$?
while read -r line; do
  case "$line" in
    "[PASS]"*) ok "forge test: ${line#\[PASS\] }" ;;
    "[FAIL"*) not_ok "forge test: $line" ;;
  esac
done < <(grep -E '^\[(PASS|FAIL)' "$WORK/forge-test.out" | sort -u)
grep -q '^\[PASS\]' "$WORK/forge-test.out" || not_ok "forge test ran: $(tail -5 "$WORK/forge-test.out")"
check "forge test exit code" 0 "$rc"

# forge script: simulated with the shim, broadcast to this node (--skip-simulation: forge's
# second, on-chain simulation runs without the shim).
rc=0
(cd "$FORGE_DIR" && MODEL_ID="$MLP_ID" timeout 600 "$FORGE" script script/ClassifyOnChain.s.sol \
  --rpc-url "$RPC" --broadcast --skip-simulation --private-key "$K1") \
  >"$WORK/forge-script.out" 2>&1 || rc=$?
check "forge script --broadcast exit code" 0 "$rc"
BROADCAST="$FORGE_DIR/broadcast/ClassifyOnChain.s.sol/31337/run-latest.json"
SCRIPT_CLASSIFIER="$(node -p 'require(process.argv[1]).receipts[0].contractAddress' "$BROADCAST" 2>/dev/null || true)"
check "forge script: classification recorded on chain" "$DIGIT" \
  "$(c call "$SCRIPT_CLASSIFIER" "lastPrediction(address)(uint8,uint64,bytes32)" 0x70997970C51812dc3A010C7d01b50e0d17dc79C8 2>/dev/null | head -1)"
rm -rf "$FORGE_DIR/broadcast" "$FORGE_DIR/cache/ClassifyOnChain.s.sol"

# anvil's state edits and impersonation: transactions of the dev chain's edit authority, so the
# validator, replay and verify below re-execute them like any other block.
WHALE=0x00000000000000000000000000000000000a11ce
CAFE=0x000000000000000000000000000000000000cafe
c rpc anvil_setBalance "$WHALE" 0x56bc75e2d63100000 >/dev/null
check "anvil_setBalance" 100000000000000000000 "$(c balance "$WHALE")"
MULTICALL3=0xcA11bde05977b3631167028862bE2a173976CA11
c rpc anvil_setStorageAt "$MULTICALL3" 0x1234 0x000000000000000000000000000000000000000000000000000000000000002a >/dev/null
check "anvil_setStorageAt" 42 "$(c storage "$MULTICALL3" 0x1234 | node -p 'BigInt(require("fs").readFileSync(0, "utf8").trim()).toString()')"
c rpc anvil_impersonateAccount "$WHALE" >/dev/null
c send --unlocked --from "$WHALE" "$CAFE" --value 1ether --json >"$WORK/impersonated.json"
check "cast send --unlocked from an impersonated account" "0x1 $WHALE" \
  "$(node -p 'const r = JSON.parse(require("fs").readFileSync(process.argv[1])); r.status + " " + r.from.toLowerCase()' "$WORK/impersonated.json")"
check "impersonated transfer arrived" 1000000000000000000 "$(c balance "$CAFE")"

# prova model deploy (idempotent for a preloaded model: same id).
check "prova model deploy prints the model id" "$IRIS_ID" \
  "$(timeout 120 "$PROVA" model deploy "$ROOT/fixtures/models/iris_logreg.onnx" --rpc-url "$RPC" --private-key "$K1" 2>/dev/null)"
if timeout 60 "$PROVA" model deploy "$ROOT/README.md" --rpc-url "$RPC" --private-key "$K1" 2>"$WORK/refused.err"; then
  not_ok "prova model deploy refuses a non-model"
else
  grep -q "refused" "$WORK/refused.err" && ok "prova model deploy refuses a non-model locally" \
    || not_ok "prova model deploy refuses a non-model: $(cat "$WORK/refused.err")"
fi

# Staged upload with cast: iris_logreg with a doc_string appended (a valid model, another id),
# in two chunks; unknown until committed; then it answers exactly as the preloaded iris_logreg.
REG=0x0000000000000000000000000000000000000F01
A1=0x70997970C51812dc3A010C7d01b50e0d17dc79C8
STAGED_HEX="$(node -e '
  const b = require("fs").readFileSync(process.argv[1]);
  const note = Buffer.from("prova e2e: staged upload");
  console.log("0x" + Buffer.concat([b, Buffer.from([0x32, note.length]), note]).toString("hex"));' \
  "$ROOT/fixtures/models/iris_logreg.onnx")"
STAGED_ID="$("$CAST" keccak "$STAGED_HEX")"
STAGED_LEN=$(( (${#STAGED_HEX} - 2) / 2 ))
HALF=$(( STAGED_LEN / 2 ))
PART1="0x${STAGED_HEX:2:$((2 * HALF))}"
PART2="0x${STAGED_HEX:$((2 + 2 * HALF))}"
status_of() { node -p 'JSON.parse(require("fs").readFileSync(0)).status'; }
check "cast send beginUpload" 0x1 "$(c send --private-key "$K1" "$REG" "beginUpload(bytes32,uint64)" "$STAGED_ID" "$STAGED_LEN" --json | status_of)"
check "cast send appendChunk (first half)" 0x1 "$(c send --private-key "$K1" "$REG" "appendChunk(bytes32,uint64,bytes)" "$STAGED_ID" 0 "$PART1" --json | status_of)"
check "cast call uploadStatus" "$STAGED_LEN $HALF 1" "$(c call "$REG" "uploadStatus(address,bytes32)(uint64,uint64,uint32)" "$A1" "$STAGED_ID" | tr '\n' ' ' | sed 's/ $//')"
check "half uploaded: exists is false" false "$(c call "$REG" "exists(bytes32)(bool)" "$STAGED_ID")"
if c send --private-key "$K1" "$REG" "appendChunk(bytes32,uint64,bytes)" "$STAGED_ID" 1 "$PART2" >"$WORK/offset.out" 2>&1; then
  not_ok "appendChunk at the wrong offset is refused"
else
  grep -qi "$("$CAST" sig "ModelRejected(string)" | cut -c3-)" "$WORK/offset.out" && ok "appendChunk at the wrong offset is refused" \
    || not_ok "appendChunk at the wrong offset is refused: $(tail -2 "$WORK/offset.out")"
fi
check "cast send appendChunk (second half)" 0x1 "$(c send --private-key "$K1" "$REG" "appendChunk(bytes32,uint64,bytes)" "$STAGED_ID" "$HALF" "$PART2" --json | status_of)"
check "cast send commitUpload" 0x1 "$(c send --private-key "$K1" "$REG" "commitUpload(bytes32)" "$STAGED_ID" --json | status_of)"
check "committed: exists is true" true "$(c call "$REG" "exists(bytes32)(bool)" "$STAGED_ID")"
IRIS_FIXED="inferFixed(bytes32,int256[],uint64[],uint8)((int256[],uint64[],uint8)[])"
check "the staged model answers as iris_logreg" \
  "$(c call 0x0000000000000000000000000000000000000F00 "$IRIS_FIXED" "$IRIS_ID" "[51,35,14,2]" "[1,4]" 1)" \
  "$(c call 0x0000000000000000000000000000000000000F00 "$IRIS_FIXED" "$STAGED_ID" "[51,35,14,2]" "[1,4]" 1)"

# Restart on the same data dir: everything persisted.
BLOCK="$(c block-number)"
BAL0="$(c balance 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266)"
stop_node
start_node "$WORK/node2.log" --datadir "$DATADIR"
check "restart: block number" "$BLOCK" "$(c block-number)"
check "restart: transfer recipient balance" 1000000000000000000 "$(c balance "$DEAD")"
check "restart: sender balance" "$BAL0" "$(c balance 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266)"
check "restart: transfer receipt" true "$(c receipt "$TRANSFER_TX" status)"
check "restart: classify receipt" true "$(c receipt "$CLASSIFY_TX" status)"
check "restart: contract state" "$DIGIT" "$(c call "$CLASSIFIER" "lastPrediction(address)(uint8,uint64,bytes32)" 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 | head -1)"
check "restart: model still runs" "$DIGIT" "$(c call "$CLASSIFIER" "predict(uint8[64])(uint256)" "$PIXELS")"
check "restart: prova_getModel" "[1,64]" \
  "$(c rpc prova_getModel "$MLP_ID" | node -p 'JSON.stringify(JSON.parse(require("fs").readFileSync(0)).inputs[0].shape)')"
check "restart: prova_getInferences" 1 \
  "$(c rpc prova_getInferences "$CLASSIFY_TX" | node -p 'JSON.parse(require("fs").readFileSync(0)).length')"
CLASSIFY_BLOCK_HASH="$(c receipt "$CLASSIFY_TX" blockHash)"
check "prova_getInferences by block hash" "$CLASSIFY_TX" \
  "$(c rpc prova_getInferences "$CLASSIFY_BLOCK_HASH" | node -p 'JSON.parse(require("fs").readFileSync(0))[0].txHash')"
c send --private-key "$K0" "$DEAD" --value 1ether --json >/dev/null
check "restart: new transfer" 2000000000000000000 "$(c balance "$DEAD")"

# A validator follows the node, verifies every block, and serves the same chain read-only.
VPORT="$(free_port)"
VRPC="http://127.0.0.1:$VPORT"
"$PROVA" validator --follow "$RPC" --port "$VPORT" >"$WORK/validator.log" 2>&1 &
VAL_PID=$!
HEAD="$(c block-number)"
v() { timeout 10 "$CAST" "$1" --rpc-url "$VRPC" "${@:2}" 2>/dev/null; }
for _ in $(seq 1 600); do
  [[ "$(v block-number)" == "$HEAD" ]] && break
  kill -0 "$VAL_PID" 2>/dev/null || break
  sleep 0.1
done
check "validator: caught up with the node" "$HEAD" "$(v block-number)"
check "validator: same head block hash" "$(c block latest --field hash)" "$(v block latest --field hash)"
check "validator: same contract state" "$DIGIT" "$(v call "$CLASSIFIER" "lastPrediction(address)(uint8,uint64,bytes32)" 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266 | head -1)"
c send --private-key "$K1" "$DEAD" --value 1ether --json >/dev/null
HEAD="$(c block-number)"
for _ in $(seq 1 300); do [[ "$(v block-number)" == "$HEAD" ]] && break; sleep 0.1; done
check "validator: follows a new block" "$HEAD" "$(v block-number)"
grep -q "verified and imported" "$WORK/validator.log" && ok "validator: reports verified blocks" \
  || not_ok "validator: reports verified blocks: $(cat "$WORK/validator.log")"
kill -TERM "$VAL_PID"
vcode=0
wait "$VAL_PID" || vcode=$?
VAL_PID=""
check "validator exits 0 on SIGTERM" 0 "$vcode"
stop_node

# The stopped node's chain replays, exports and verifies from the file.
rc=0
"$PROVA" replay --datadir "$DATADIR" --json >"$WORK/replay.json" 2>"$WORK/replay.err" || rc=$?
check "prova replay: exit code" 0 "$rc"
check "prova replay: verified, every inference re-run" true \
  "$(node -p 'const s=JSON.parse(require("fs").readFileSync(process.argv[1])); s.verified && s.checked >= 1 && s.checked === s.inferences' "$WORK/replay.json")"
rc=0
"$PROVA" export --datadir "$DATADIR" --out "$WORK/chain.jsonl" >/dev/null || rc=$?
"$PROVA" verify --input "$WORK/chain.jsonl" --sequential >"$WORK/verify.out" || rc=$?
check "prova export + verify: exit code" 0 "$rc"

# A validator network on loopback: four processes, BFT consensus, JSON-RPC on each.
echo "==> devnet"
# p2p ports: four consecutive free ones below Linux's ephemeral range (32768+), where a client
# socket of this run could take one between this check and the validator's bind. RPC ports: each
# validator binds a free one (--port 0) and prints it.
PPORT="$(free_ports_below_ephemeral 4)"
"$PROVA" devnet --validators 4 --datadir "$WORK/devnet" --port 0 --p2p-port "$PPORT" --json \
  >"$WORK/devnet.out" 2>"$WORK/devnet.err" &
NET_PID=$!
for _ in $(seq 1 600); do
  grep -q '"ready":true' "$WORK/devnet.out" 2>/dev/null && break
  kill -0 "$NET_PID" 2>/dev/null || break
  sleep 0.1
done
grep -q '"ready":true' "$WORK/devnet.out" && ok "devnet: four validators up" \
  || not_ok "devnet: four validators up: $(cat "$WORK/devnet.out" "$WORK/devnet.err")"
mapfile -t DRPC < <(node -e 'for (const l of require("fs").readFileSync(process.argv[1], "utf8").split("\n"))
  { if (!l) continue; const v = JSON.parse(l); if (v.rpc) console.log(v.rpc) }' "$WORK/devnet.out")
d() { local i="$1"; shift; timeout 60 "$CAST" "$1" --rpc-url "${DRPC[$i]:-http://127.0.0.1:1}" "${@:2}"; }
for _ in $(seq 1 300); do [[ "$(d 3 block-number 2>/dev/null || echo 0)" -ge 2 ]] && break; sleep 0.1; done
check "devnet: validator 3 finalizes blocks" true "$([[ "$(d 3 block-number)" -ge 2 ]] && echo true || echo false)"
TX="$(d 1 send --private-key "$K0" 0x0000000000000000000000000000000000000F00 "$INFER_CALL" --json 2>/dev/null | node -p 'JSON.parse(require("fs").readFileSync(0)).transactionHash' 2>/dev/null)"
check "devnet: an inference sent to validator 1 succeeds" true "$(d 1 receipt "$TX" status 2>/dev/null)"
for _ in $(seq 1 100); do [[ -n "$(d 3 receipt "$TX" blockHash 2>/dev/null)" ]] && break; sleep 0.1; done
check "devnet: validator 3 has the same receipt" "$(d 1 receipt "$TX" blockHash)" "$(d 3 receipt "$TX" blockHash 2>/dev/null)"
check "devnet: eth_call of INFER on validator 2 equals the dev node's" "$PROVA_EXPECTED_INFER_FIXED" \
  "$(d 2 rpc eth_call "$INFER_REQ" latest | tr -d '"')"
check "devnet: the inference is on record at validator 0" 1 \
  "$(d 0 rpc prova_getInferences "$TX" | node -p 'JSON.parse(require("fs").readFileSync(0)).length')"
if d 0 rpc anvil_setBalance "$DEAD" 0x1 >/dev/null 2>"$WORK/devnet-edit.err"; then
  not_ok "devnet: anvil_setBalance refused on a validator"
else
  grep -q "decided by consensus" "$WORK/devnet-edit.err" && ok "devnet: anvil_setBalance refused on a validator" \
    || not_ok "devnet: anvil_setBalance refused on a validator: $(cat "$WORK/devnet-edit.err")"
fi
kill -TERM "$NET_PID"
ncode=0
wait "$NET_PID" || ncode=$?
NET_PID=""
check "devnet exits 0 on SIGTERM" 0 "$ncode"

finish
