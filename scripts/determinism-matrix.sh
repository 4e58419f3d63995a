#!/usr/bin/env bash
# The determinism matrix: every fixture model, exact and native profiles, on this CPU and under
# `qemu-x86_64 -cpu MODEL` for several CPU models (CPUID, and with it tract's kernel choice and
# glibc's ifunc choice, follow the emulated model). Fails unless each model has exactly one
# exact-profile output_hash across all CPUs; prints, without failing, how many distinct hashes
# the native profile gives. See docs/determinism.md.
#
#   scripts/determinism-matrix.sh            # table
#   scripts/determinism-matrix.sh --json     # one JSON object on stdout (table on stderr)
#
# Environment:
#   MATRIX_CPUS    space-separated qemu CPU models (default below; `host` means no emulation)
#   MATRIX_MODELS  space-separated fixture names (default: every $MATRIX_DIR/*.onnx)
#   MATRIX_DIR     where the models are (default fixtures/models)
#   MATRIX_INPUTS  where their inputs are, <name>.json (default fixtures/inputs); a model with
#                  a <name>.tokenizer.json beside it is a language model, run by `prova generate`
#                  (MATRIX_PROMPT, MATRIX_NEW_TOKENS; sampled, hashed over every step's logits)
#   MATRIX_PROFILES  profiles to run (default "exact native")
#   MATRIX_JOBS    parallel runs (default: number of CPUs)
#   MATRIX_CANDIDATE_ISA  also run the native profile with this TRACT_CPU_ISA edit (a candidate
#                  for a faster exact profile), reported like native, never failing
#   PROVA_BIN      the prova binary (default: ${CARGO_TARGET_DIR:-target}/debug/prova, built
#                  with `cargo build -p prova --locked` if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

json=0
for arg in "$@"; do
  case "$arg" in
    --json) json=1 ;;
    -h | --help)
      sed -n '2,23p' "$0"
      exit 0
      ;;
    *)
      echo "error: unknown argument $arg" >&2
      exit 2
      ;;
  esac
done

# Tables go to stdout, or to stderr when stdout is the JSON object.
say() { if [ "$json" = 1 ]; then printf '%s\n' "$*" >&2; else printf '%s\n' "$*"; fi; }

# Nehalem: SSE4.2, no AVX (tract's generic kernels even in the native profile); the exact
# profile refuses it (its matrix kernels would not read subnormals as zero as the AVX ones do),
# and the matrix checks that it does.
# IvyBridge: AVX without AVX2/FMA. Haswell-v4, Skylake-Client, EPYC-Rome: AVX2+FMA, Intel and
# AMD (tract's cost models differ by vendor). AVX-512 cannot be emulated by qemu's TCG.
cpus=(${MATRIX_CPUS:-host Nehalem IvyBridge Haswell-v4 Skylake-Client EPYC-Rome})
jobs=${MATRIX_JOBS:-$(nproc 2>/dev/null || echo 2)}

target=${CARGO_TARGET_DIR:-target}
bin=${PROVA_BIN:-$target/debug/prova}
if [ ! -x "$bin" ]; then
  say "==> building prova (cargo build -p prova --locked)"
  cargo build -q -p prova --locked >&2
fi
# Reports which instruction set tract probed under each CPU model (built by `cargo test
# --workspace`, else here: a small link on top of prova-runtime).
isa_bin=$target/debug/examples/isa
if [ ! -x "$isa_bin" ]; then
  cargo build -q -p prova-runtime --example isa --locked >&2 || isa_bin=
fi

emulated=0
for c in "${cpus[@]}"; do [ "$c" != host ] && emulated=1; done
if [ "$emulated" = 1 ] && ! command -v qemu-x86_64 >/dev/null; then
  say "==> installing qemu-user (apt-get)"
  if ! command -v apt-get >/dev/null; then
    echo "error: qemu-x86_64 not found and no apt-get to install qemu-user" >&2
    exit 1
  fi
  sudo=
  [ "$(id -u)" != 0 ] && sudo=sudo
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends qemu-user >&2
fi

model_dir=${MATRIX_DIR:-fixtures/models}
input_dir=${MATRIX_INPUTS:-fixtures/inputs}
if [ -n "${MATRIX_MODELS:-}" ]; then
  models=(${MATRIX_MODELS})
else
  models=()
  for f in "$model_dir"/*.onnx; do models+=("$(basename "$f" .onnx)"); done
fi
[ "${#models[@]}" -gt 0 ] || { echo "error: no fixture models" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One run: writes the output_hash (or ERROR) to $work/<model>.<cpu>.<profile>.
run_one() {
  local model=$1 cpu=$2 profile=$3 out=$work/$1.$2.$3 run_profile=$3
  local env=(env)
  if [ "$profile" = candidate ]; then
    run_profile=native
    env=(env "TRACT_CPU_ISA=$MATRIX_CANDIDATE_ISA")
  fi
  local cmd=("$bin" infer "$model_dir/$model.onnx" --input "$input_dir/$model.json"
    --profile "$run_profile" --json)
  # A language model (a tokenizer beside it): a sampled generation, hashed over every step's
  # logits and token.
  if [ -f "$model_dir/$model.tokenizer.json" ]; then
    cmd=("$bin" generate "$model_dir/$model.onnx" --prompt "${MATRIX_PROMPT:-The }"
      --max-new-tokens "${MATRIX_NEW_TOKENS:-40}" --temperature 0.8 --top-k 20 --seed 7
      --profile "$run_profile" --json)
  fi
  [ "$cpu" != host ] && cmd=(qemu-x86_64 -cpu "$cpu" "${cmd[@]}")
  cmd=("${env[@]}" "${cmd[@]}")
  local stdout
  if stdout=$("${cmd[@]}" 2>"$out.err") &&
    hash=$(printf '%s' "$stdout" | grep -o '"output_hash":"0x[0-9a-f]*"' | cut -d'"' -f4) &&
    [ -n "$hash" ]; then
    printf '%s\n' "$hash" >"$out"
  elif grep -q 'this CPU has no AVX' "$out.err"; then
    echo NOAVX >"$out" # the exact profile refuses CPUs without AVX (docs/determinism.md)
  else
    echo ERROR >"$out"
  fi
}
isa_one() {
  local cpu=$1 profile=$2 out=$work/isa.$1.$2 run_profile=$2
  local env=(env)
  if [ "$profile" = candidate ]; then
    run_profile=native
    env=(env "TRACT_CPU_ISA=$MATRIX_CANDIDATE_ISA")
  fi
  local cmd=("$isa_bin" "$run_profile")
  [ "$cpu" != host ] && cmd=(qemu-x86_64 -cpu "$cpu" "${cmd[@]}")
  cmd=("${env[@]}" "${cmd[@]}")
  "${cmd[@]}" >"$out" 2>/dev/null || echo "?" >"$out"
}
export -f run_one isa_one
export work bin isa_bin root model_dir input_dir
export MATRIX_CANDIDATE_ISA=${MATRIX_CANDIDATE_ISA:-}
profiles=(${MATRIX_PROFILES:-exact native})
[ -n "$MATRIX_CANDIDATE_ISA" ] && profiles+=(candidate)

{
  for model in "${models[@]}"; do
    for cpu in "${cpus[@]}"; do
      for profile in "${profiles[@]}"; do echo "run_one $model $cpu $profile"; done
    done
  done
  if [ -n "$isa_bin" ]; then
    for cpu in "${cpus[@]}"; do
      for profile in "${profiles[@]}"; do echo "isa_one $cpu $profile"; done
    done
  fi
} | xargs -P "$jobs" -I{} bash -c '{}'

result() { cat "$work/$1.$2.$3"; }
distinct() { # model profile -> number of distinct hashes (errors excluded), errors
  local model=$1 profile=$2 cpu
  for cpu in "${cpus[@]}"; do result "$model" "$cpu" "$profile"; done | grep -v '^ERROR$\|^NOAVX$' | sort -u | wc -l
}
errors() {
  local model=$1 profile=$2 cpu n=0
  for cpu in "${cpus[@]}"; do [ "$(result "$model" "$cpu" "$profile")" = ERROR ] && n=$((n + 1)); done
  echo "$n"
}

# Per model and profile, each hash becomes a letter (A = the host's), so the table shows at a
# glance which CPUs agree; the hashes themselves are in the legend and the JSON.
letters=(A B C D E F G H I J K L M N O P Q R S T U V W X Y Z)
label() { # model profile cpu
  local model=$1 profile=$2 cpu=$3 want i=0 seen=() h c
  want=$(result "$model" "$cpu" "$profile")
  [ "$want" = ERROR ] && { echo ERR; return; }
  [ "$want" = NOAVX ] && { echo "refused(AVX)"; return; }
  for c in "${cpus[@]}"; do
    h=$(result "$model" "$c" "$profile")
    { [ "$h" = ERROR ] || [ "$h" = NOAVX ]; } && continue
    local known=0 s
    for s in "${seen[@]+"${seen[@]}"}"; do [ "$s" = "$h" ] && known=1; done
    if [ "$known" = 0 ]; then
      [ "$h" = "$want" ] && { echo "${letters[$i]}"; return; }
      seen+=("$h")
      i=$((i + 1))
    fi
  done
}

failed=0
header=$(printf '%-22s' model)
for c in "${cpus[@]}"; do header+=$(printf ' %-15s' "$c"); done
for profile in "${profiles[@]}"; do
  say ""
  case "$profile" in
    exact) say "exact profile (consensus): one letter per distinct output_hash; must be one per model" ;;
    native) say "native profile (off-chain previews): distinct hashes are expected and not a failure" ;;
    candidate) say "candidate: native profile with TRACT_CPU_ISA=$MATRIX_CANDIDATE_ISA (not a failure)" ;;
  esac
  say "$header distinct"
  for model in "${models[@]}"; do
    line=$(printf '%-22s' "$model")
    for cpu in "${cpus[@]}"; do line+=$(printf ' %-15s' "$(label "$model" "$profile" "$cpu")"); done
    n=$(distinct "$model" "$profile")
    e=$(errors "$model" "$profile")
    line+=" $n"
    [ "$e" != 0 ] && line+=" ($e errors)"
    if [ "$profile" = exact ] && { [ "$n" != 1 ] || [ "$e" != 0 ]; }; then
      line+="  <-- FAIL"
      failed=1
    fi
    say "$line"
  done
done

if [ -n "$isa_bin" ]; then
  say ""
  say "instruction set tract probed ($(IFS=/; echo "${profiles[*]}")):"
  for cpu in "${cpus[@]}"; do
    line=$(printf '  %-15s' "$cpu")
    sep=" "
    for profile in "${profiles[@]}"; do
      line+="$sep$(cat "$work/isa.$cpu.$profile")"
      sep=" / "
    done
    say "$line"
  done
fi

say ""
say "exact hashes:"
for model in "${models[@]}"; do
  say "  $(printf '%-22s' "$model") $(for c in "${cpus[@]}"; do result "$model" "$c" exact; done | grep -v '^NOAVX$' | sort -u | tr '\n' ' ')"
done

# Error output of failed runs, so a failure explains itself.
for f in "$work"/*.exact "$work"/*.native "$work"/*.candidate; do
  if [ -f "$f" ] && [ "$(cat "$f")" = ERROR ]; then
    say "error in $(basename "$f"): $(head -c 400 "$f.err")"
  fi
done

seconds=$(($(date +%s) - start))
say ""
if [ "$failed" = 1 ]; then
  say "determinism matrix FAILED: an exact-profile output differs between CPUs (or a run failed) (${seconds}s)"
else
  say "determinism matrix ok: ${#models[@]} models x ${#cpus[@]} CPUs, one exact hash per model (${seconds}s)"
fi

if [ "$json" = 1 ]; then
  q() { printf '"%s"' "$1"; }
  join() { local IFS=,; printf '%s' "$*"; }
  cpu_list=()
  for c in "${cpus[@]}"; do cpu_list+=("$(q "$c")"); done
  model_objs=()
  for model in "${models[@]}"; do
    profs=()
    for profile in "${profiles[@]}"; do
      kv=()
      for c in "${cpus[@]}"; do
        h=$(result "$model" "$c" "$profile")
        if [ "$h" = ERROR ] || [ "$h" = NOAVX ]; then kv+=("$(q "$c"):null"); else kv+=("$(q "$c"):$(q "$h")"); fi
      done
      profs+=("$(q "$profile"):{\"hashes\":{$(join "${kv[@]}")},\"distinct\":$(distinct "$model" "$profile"),\"errors\":$(errors "$model" "$profile")}")
    done
    model_objs+=("$(q "$model"):{$(join "${profs[@]}")}")
  done
  isa_objs=()
  if [ -n "$isa_bin" ]; then
    for c in "${cpus[@]}"; do
      kv=()
      for profile in "${profiles[@]}"; do kv+=("$(q "$profile"):$(q "$(cat "$work/isa.$c.$profile")")"); done
      isa_objs+=("$(q "$c"):{$(join "${kv[@]}")}")
    done
  fi
  ok=true
  [ "$failed" = 1 ] && ok=false
  printf '{"ok":%s,"seconds":%s,"cpus":[%s],"isa":{%s},"models":{%s}}\n' \
    "$ok" "$seconds" "$(join "${cpu_list[@]}")" "$(join "${isa_objs[@]+"${isa_objs[@]}"}")" \
    "$(join "${model_objs[@]}")"
fi

exit "$failed"
