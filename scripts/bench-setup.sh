# Sourced by the scripts/bench-*.sh benchmarks, from the repository root: builds `prova` in
# release mode (sets $prova) and makes the fixtures' Python venv (sets $venv) with onnx,
# onnxruntime and numpy from fixtures/requirements.txt.
cargo build --release -q -p prova
prova=target/release/prova
venv=fixtures/.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r fixtures/requirements.txt
fi
