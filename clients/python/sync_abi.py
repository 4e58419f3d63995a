"""Refreshes the ABIs shipped in prova_client (src/prova_client/data/*.abi.json) from the
compiled artifacts in contracts/out. Run after the Solidity interfaces change:

    python clients/python/sync_abi.py

tests/test_offline.py (and so tests/live_check.py) fails while the copies differ.
"""

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]

for name in ("IProvaInference", "IModelRegistry"):
    abi = json.loads((ROOT / "contracts/out" / f"{name}.json").read_text())["abi"]
    out = HERE / "src/prova_client/data" / f"{name}.abi.json"
    text = json.dumps(abi, indent=2) + "\n"
    changed = not out.exists() or out.read_text() != text
    out.write_text(text)
    print(f"{out.relative_to(ROOT)}: {'updated' if changed else 'unchanged'}")
