"""web3.py against the dev node: a dev account's transaction (eth_sendTransaction) and a
contract event filter (eth_newFilter / eth_getFilterChanges). One TAP-style line per check.

Usage: python web3_check.py RPC_URL CLASSIFIER
"""

import json
import pathlib
import sys

from web3 import Web3

rpc, classifier = sys.argv[1], sys.argv[2]
root = pathlib.Path(__file__).resolve().parents[2]
abi = json.loads((root / "contracts/out/DigitClassifier.json").read_text())["abi"]
PIXELS = [0, 0, 7, 16, 14, 3, 0, 0, 0, 0, 9, 14, 11, 15, 0, 0, 0, 0, 1, 5, 0, 15, 5, 0, 0, 0, 0, 0,
          0, 16, 5, 0, 0, 0, 0, 0, 3, 16, 4, 0, 0, 0, 0, 1, 12, 14, 1, 0, 0, 0, 5, 12, 16, 16, 14, 1,
          0, 0, 8, 16, 14, 10, 13, 3]
failed = 0


def check(name, fn):
    global failed
    try:
        fn()
        print(f"ok - web3.py: {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported, then the run fails
        failed += 1
        print(f"not ok - web3.py: {name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")


w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
account = w3.eth.accounts[0]
contract = w3.eth.contract(address=Web3.to_checksum_address(classifier), abi=abi)


def send_transaction():
    tx = w3.eth.send_transaction({"from": account, "to": "0x000000000000000000000000000000000000bEEF", "value": 1})
    assert w3.eth.wait_for_transaction_receipt(tx, timeout=30).status == 1


def event_filter():
    f = contract.events.Classified.create_filter(from_block="latest")
    assert f.get_new_entries() == []
    tx = contract.functions.classify(PIXELS).transact({"from": account})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30)
    entries = f.get_new_entries()
    assert len(entries) == 1, entries
    assert entries[0]["transactionHash"] == tx, (entries[0]["transactionHash"], tx)
    assert entries[0]["args"]["who"] == account
    assert f.get_new_entries() == []
    assert w3.eth.uninstall_filter(f.filter_id)


check("send_transaction from a dev account", send_transaction)
check("contract event filter: create_filter().get_new_entries()", event_filter)
sys.exit(1 if failed else 0)
