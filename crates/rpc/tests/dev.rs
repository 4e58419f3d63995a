//! The dev-node methods over real HTTP, as anvil answers them: dev accounts that sign,
//! filters, mining control, the pool and the extra readers.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on setup failure

mod common;

use alloy_dyn_abi::TypedData;
use alloy_primitives::{Address, Bytes, Signature, keccak256};
use prova_chain::DEV_ACCOUNTS;
use prova_validator::client;
use serde_json::{Value, json};

struct Node(common::Served);

impl std::ops::Deref for Node {
    type Target = common::Served;
    fn deref(&self) -> &common::Served {
        &self.0
    }
}

impl Node {
    fn new() -> Self {
        Self(common::Served::start())
    }

    fn call(&self, method: &str, params: Value) -> Value {
        client::call(&self.url, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    fn error(&self, method: &str, params: Value) -> String {
        client::call(&self.url, method, params)
            .unwrap_err()
            .to_string()
    }

    fn number(&self, method: &str, params: Value) -> u64 {
        let v = self.call(method, params);
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }

    fn head(&self) -> u64 {
        self.number("eth_blockNumber", json!([]))
    }

    fn receipt(&self, hash: &Value) -> Value {
        self.call("eth_getTransactionReceipt", json!([hash]))
    }
}

fn alice() -> Address {
    DEV_ACCOUNTS[0].0
}

/// Init code of a contract whose every call emits one LOG0 with no data.
const LOGGER: &str = "0x6560006000a0006000526006601af3";

#[test]
fn dev_accounts_send_and_sign() {
    let n = Node::new();
    // Nonce, gas and fees filled in; mined at once.
    let hash = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": DEV_ACCOUNTS[1].0, "value": "0x1"}]),
    );
    let r = n.receipt(&hash);
    assert_eq!(
        (r["status"].as_str(), r["gasUsed"].as_str()),
        (Some("0x1"), Some("0x5208"))
    );
    // A legacy one when only gasPrice is given, and a contract creation.
    let hash = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "data": LOGGER, "gasPrice": "0x3b9aca00"}]),
    );
    let r = n.receipt(&hash);
    assert_eq!(r["type"], "0x0");
    assert!(r["contractAddress"].is_string(), "{r}");
    // Not a dev account: refused, with the reason.
    let e = n.error(
        "eth_sendTransaction",
        json!([{"from": Address::repeat_byte(7), "to": alice()}]),
    );
    assert!(e.contains("no signer for"), "{e}");

    // personal_sign and eth_sign: EIP-191, recoverable to the account.
    for (method, params) in [
        ("personal_sign", json!(["0x68656c6c6f", alice()])),
        ("personal_sign", json!(["hello", alice()])),
        ("eth_sign", json!([alice(), "0x68656c6c6f"])),
    ] {
        let sig: Bytes = serde_json::from_value(n.call(method, params)).unwrap();
        let sig = Signature::try_from(sig.as_ref()).unwrap();
        assert_eq!(
            sig.recover_address_from_msg(b"hello").unwrap(),
            alice(),
            "{method}"
        );
    }

    // EIP-712 typed data, as an object and as JSON text.
    let typed = json!({
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
            "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}]
        },
        "primaryType": "Mail",
        "domain": {"name": "Prova", "chainId": 31337},
        "message": {"to": DEV_ACCOUNTS[1].0, "contents": "infer"}
    });
    let hash = serde_json::from_value::<TypedData>(typed.clone())
        .unwrap()
        .eip712_signing_hash()
        .unwrap();
    for data in [typed.clone(), json!(typed.to_string())] {
        let sig: Bytes =
            serde_json::from_value(n.call("eth_signTypedData_v4", json!([alice(), data]))).unwrap();
        let sig = Signature::try_from(sig.as_ref()).unwrap();
        assert_eq!(sig.recover_address_from_prehash(&hash).unwrap(), alice());
    }
}

#[test]
fn filters_deliver_new_blocks_logs_and_pending_transactions() {
    let n = Node::new();
    let blocks = n.call("eth_newBlockFilter", json!([]));
    let logs = n.call("eth_newFilter", json!([{}]));
    // Tags follow the chain: `toBlock: latest` does not stop at today's head.
    let tagged = n.call(
        "eth_newFilter",
        json!([{"fromBlock": "latest", "toBlock": "latest"}]),
    );
    let pending = n.call("eth_newPendingTransactionFilter", json!([]));
    assert_eq!(n.call("eth_getFilterChanges", json!([blocks])), json!([]));

    let deploy = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "data": LOGGER}]),
    );
    let logger = n.receipt(&deploy)["contractAddress"].clone();
    let call = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": logger}]),
    );
    let changes = n.call("eth_getFilterChanges", json!([blocks]));
    assert_eq!(changes.as_array().unwrap().len(), 2, "{changes}");
    assert_eq!(
        changes[1],
        n.call("eth_getBlockByNumber", json!(["latest", false]))["hash"]
    );
    assert_eq!(n.call("eth_getFilterChanges", json!([blocks])), json!([]));
    let got = n.call("eth_getFilterChanges", json!([logs]));
    assert_eq!(got.as_array().unwrap().len(), 1, "{got}");
    assert_eq!(got[0]["address"], logger);
    assert_eq!(got[0]["transactionHash"], call);
    assert_eq!(n.call("eth_getFilterChanges", json!([logs])), json!([]));
    assert_eq!(n.call("eth_getFilterChanges", json!([tagged])), got);
    assert_eq!(
        n.call("eth_getFilterLogs", json!([logs]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Automine: the pool was empty at every poll.
    assert_eq!(n.call("eth_getFilterChanges", json!([pending])), json!([]));

    assert_eq!(n.call("eth_uninstallFilter", json!([logs])), json!(true));
    assert_eq!(n.call("eth_uninstallFilter", json!([logs])), json!(false));
    let e = n.error("eth_getFilterChanges", json!([logs]));
    assert!(e.contains("filter not found"), "{e}");
}

#[test]
fn mining_control_and_the_pool_behave_as_on_anvil() {
    let n = Node::new();
    let pending = n.call("eth_newPendingTransactionFilter", json!([]));
    assert_eq!(n.call("anvil_getAutomine", json!([])), json!(true));
    n.call("evm_setAutomine", json!([false]));
    assert_eq!(n.call("eth_mining", json!([])), json!(false));
    let hash = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": DEV_ACCOUNTS[1].0, "value": "0x1"}]),
    );
    // Waiting in the pool: no block, a pending transaction.
    assert_eq!(n.head(), 0);
    assert!(n.receipt(&hash).is_null());
    let tx = n.call("eth_getTransactionByHash", json!([hash]));
    assert_eq!(
        (tx["hash"].clone(), tx["blockHash"].clone()),
        (hash.clone(), Value::Null)
    );
    assert_eq!(
        n.call("eth_getFilterChanges", json!([pending])),
        json!([hash])
    );
    let status = n.call("txpool_status", json!([]));
    assert_eq!(status, json!({"pending": "0x1", "queued": "0x0"}));
    let content = n.call("txpool_content", json!([]));
    assert_eq!(content["pending"][alice().to_string()]["0"]["hash"], hash);
    let inspect = n.call("txpool_inspect", json!([]));
    let line = inspect["pending"][alice().to_string()]["0"]
        .as_str()
        .unwrap();
    assert!(line.contains("1 wei + 21000 gas"), "{line}");
    assert_eq!(
        n.number("eth_getTransactionCount", json!([alice(), "pending"])),
        1
    );

    // evm_mine with a timestamp: one block, dated as asked, with the pooled transaction.
    let genesis = n.call("eth_getBlockByNumber", json!(["latest", false]));
    let t0 = u64::from_str_radix(
        genesis["timestamp"]
            .as_str()
            .unwrap()
            .trim_start_matches("0x"),
        16,
    )
    .unwrap();
    let at = t0 + 1_000_000;
    assert_eq!(n.call("evm_mine", json!([at])), json!("0x0"));
    assert_eq!(n.head(), 1);
    let block = n.call("eth_getBlockByNumber", json!(["0x1", false]));
    assert_eq!(block["timestamp"], json!(format!("{at:#x}")));
    assert_eq!(n.receipt(&hash)["blockNumber"], "0x1");
    // A timestamp not after the head's is refused.
    let e = n.error("evm_setNextBlockTimestamp", json!([at]));
    assert!(e.contains("is not after the parent's"), "{e}");
    // Time moves on from there; evm_increaseTime adds to it.
    let offset = n.number("evm_increaseTime", json!([3600]));
    assert!(offset >= 3600);
    n.call("anvil_mine", json!(["0x3", "0x0"]));
    assert_eq!(n.head(), 4);
    let last = n.call("eth_getBlockByNumber", json!(["latest", false]));
    let t4 = u64::from_str_radix(
        last["timestamp"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(t4 > at + 3600 - 1, "{t4} after {at} + 1 h");

    // Automine back on mines what waited.
    n.call("evm_setAutomine", json!([false]));
    let waiting = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": DEV_ACCOUNTS[1].0, "value": "0x2"}]),
    );
    n.call("evm_setAutomine", json!([true]));
    assert_eq!(n.receipt(&waiting)["blockNumber"], "0x5");
}

#[test]
fn readers_of_blocks_and_hashes() {
    let n = Node::new();
    n.call("evm_setAutomine", json!([false]));
    let hashes: Vec<Value> = (1..3)
        .map(|i| {
            n.call(
                "eth_sendTransaction",
                json!([{"from": DEV_ACCOUNTS[i].0, "to": alice(), "value": "0x1"}]),
            )
        })
        .collect();
    n.call("evm_mine", json!([]));
    let block = n.call("eth_getBlockByNumber", json!(["0x1", false]));
    let receipts = n.call("eth_getBlockReceipts", json!(["0x1"]));
    assert_eq!(receipts.as_array().unwrap().len(), 2);
    assert_eq!(
        n.call("eth_getBlockReceipts", json!([block["hash"]])),
        receipts
    );
    for (by, id) in [
        ("eth_getTransactionByBlockNumberAndIndex", json!("0x1")),
        (
            "eth_getTransactionByBlockHashAndIndex",
            block["hash"].clone(),
        ),
    ] {
        let tx = n.call(by, json!([id, "0x1"]));
        assert!(hashes.contains(&tx["hash"]), "{tx}");
        assert_eq!(tx["transactionIndex"], "0x1");
        assert!(n.call(by, json!([id, "0x2"])).is_null());
    }
    assert_eq!(
        n.call("eth_getBlockTransactionCountByNumber", json!(["0x1"])),
        "0x2"
    );
    assert_eq!(
        n.call("eth_getBlockTransactionCountByHash", json!([block["hash"]])),
        "0x2"
    );
    assert!(
        n.call("eth_getBlockTransactionCountByNumber", json!(["0x9"]))
            .is_null()
    );
    assert_eq!(
        n.call("eth_getUncleCountByBlockNumber", json!(["0x1"])),
        "0x0"
    );
    assert_eq!(n.call("net_listening", json!([])), json!(true));
    assert_eq!(
        n.call("web3_sha3", json!(["0x68656c6c6f"])),
        json!(keccak256(b"hello"))
    );
}

#[test]
fn snapshots_revert_the_chain_and_past_blocks_can_be_read() {
    let n = Node::new();
    let bob = DEV_ACCOUNTS[1].0;
    let send = |value: &str| {
        n.call(
            "eth_sendTransaction",
            json!([{"from": alice(), "to": bob, "value": value}]),
        )
    };
    send("0x1");
    let snap = n.call("evm_snapshot", json!([]));
    let after_one = n.call("eth_getBalance", json!([bob, "latest"]));
    let later = send("0x2");
    send("0x3");
    assert_eq!(n.head(), 3);
    // Reads at a past block see that block's state.
    assert_eq!(n.call("eth_getBalance", json!([bob, "0x1"])), after_one);
    assert_eq!(
        n.number("eth_getTransactionCount", json!([alice(), "0x2"])),
        2
    );
    // Revert: back to block 1; the snapshot is used up.
    assert_eq!(n.call("evm_revert", json!([snap])), json!(true));
    assert_eq!(n.head(), 1);
    assert!(n.receipt(&later).is_null());
    assert_eq!(n.call("eth_getBalance", json!([bob, "latest"])), after_one);
    assert_eq!(n.call("evm_revert", json!([snap])), json!(false));
    // The chain goes on from block 1.
    let again = send("0x4");
    assert_eq!(n.receipt(&again)["blockNumber"], "0x2");
    // Nested snapshots: reverting to the first drops the second.
    let first = n.call("anvil_snapshot", json!([]));
    send("0x5");
    let second = n.call("evm_snapshot", json!([]));
    assert_eq!(n.call("evm_revert", json!([first])), json!(true));
    assert_eq!(n.call("evm_revert", json!([second])), json!(false));
    assert_eq!(n.head(), 2);
}

#[test]
fn transactions_and_calls_are_traced_with_geths_tracers() {
    let n = Node::new();
    let deploy = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "data": LOGGER}]),
    );
    let logger = n.receipt(&deploy)["contractAddress"].clone();
    let call = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": logger, "gas": "0x186a0"}]),
    );
    // The struct logger (the default): every opcode, LOG0 among them.
    let trace = n.call("debug_traceTransaction", json!([call]));
    assert_eq!(trace["failed"], json!(false), "{trace}");
    let ops: Vec<&str> = trace["structLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["op"].as_str().unwrap())
        .collect();
    assert!(ops.contains(&"LOG0"), "{ops:?}");
    let used = n.receipt(&call)["gasUsed"].as_str().unwrap().to_string();
    assert_eq!(
        json!(format!("{:#x}", trace["gas"].as_u64().unwrap())),
        json!(used)
    );
    // callTracer on a mined transaction and on a call into INFER with an unknown model.
    let calls = n.call(
        "debug_traceTransaction",
        json!([call, {"tracer": "callTracer"}]),
    );
    assert_eq!(calls["type"], "CALL");
    assert_eq!(calls["to"], logger);
    // infer(bytes32,(uint8,uint64[],bytes)[]) of an unknown model with no inputs.
    let selector =
        alloy_primitives::hex::encode(&keccak256(b"infer(bytes32,(uint8,uint64[],bytes)[])")[..4]);
    let data = format!("0x{selector}{}{:064x}{:064x}", "ab".repeat(32), 0x40, 0);
    let traced = n.call(
        "debug_traceCall",
        json!([{"to": "0x0000000000000000000000000000000000000f00", "data": data}, "latest", {"tracer": "callTracer"}]),
    );
    assert_eq!(traced["error"], "execution reverted", "{traced}");
    let selector = alloy_primitives::hex::encode(&keccak256(b"UnknownModel(bytes32)")[..4]);
    assert!(
        traced["output"]
            .as_str()
            .unwrap()
            .starts_with(&format!("0x{selector}")),
        "{traced}"
    );
    let e = n.error(
        "debug_traceTransaction",
        json!([format!("0x{}", "00".repeat(32))]),
    );
    assert!(e.contains("not found"), "{e}");
}

alloy_sol_types::sol! {
    struct Call3 {
        address target;
        bool allowFailure;
        bytes callData;
    }
    function aggregate3(Call3[] calls) external payable returns (bytes[] returnData);
}

#[test]
fn access_lists_name_what_a_call_touches() {
    use alloy_sol_types::SolCall;
    let n = Node::new();
    // A contract whose every call reads storage slot 7: SLOAD(7), STOP.
    // Init code: PUSH4 0x60075400 PUSH1 0 MSTORE PUSH1 4 PUSH1 28 RETURN (0x1c).
    let deploy = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "data": "0x63600754006000526004601cf3"}]),
    );
    let reader: Address =
        serde_json::from_value(n.receipt(&deploy)["contractAddress"].clone()).unwrap();
    // Called through the Multicall3 predeploy: the reader is not the call's own target (which,
    // with the sender and the precompiles, is left out as geth does).
    let data = aggregate3Call {
        calls: vec![Call3 {
            target: reader,
            allowFailure: false,
            callData: Bytes::new(),
        }],
    }
    .abi_encode();
    let got = n.call(
        "eth_createAccessList",
        json!([{"from": alice(), "to": prova_chain::MULTICALL3, "data": Bytes::from(data.clone())}, "latest"]),
    );
    assert_eq!(
        got["accessList"],
        json!([{"address": reader, "storageKeys": [format!("0x{:064x}", 7)]}]),
        "{got}"
    );
    // Its gas counts the list itself: 2,400 for the address, 1,900 for the slot.
    let with_list = u64::from_str_radix(
        got["gasUsed"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap();
    assert!(with_list > 21_000 + 2_400 + 1_900, "{with_list}");
}

#[test]
fn eth_get_proof_answers_as_eip_1186_says() {
    let n = Node::new();
    let p = n.call(
        "eth_getProof",
        json!([alice(), [format!("0x{:064x}", 1)], "latest"]),
    );
    assert_eq!(
        p["address"].as_str().unwrap().to_lowercase(),
        alice().to_string().to_lowercase()
    );
    assert_eq!(p["nonce"], "0x0");
    assert_eq!(
        p["balance"],
        n.call("eth_getBalance", json!([alice(), "latest"]))
    );
    assert!(!p["accountProof"].as_array().unwrap().is_empty());
    assert_eq!(p["storageProof"][0]["value"], "0x0");
    // The root node of the account proof hashes to the block's state root.
    let first: Bytes = serde_json::from_value(p["accountProof"][0].clone()).unwrap();
    let block = n.call("eth_getBlockByNumber", json!(["latest", false]));
    assert_eq!(json!(keccak256(&first)), block["stateRoot"]);
}

#[test]
fn state_edits_and_impersonation_as_on_anvil_recorded_in_blocks() {
    let n = Node::new();
    let who = "0x00000000000000000000000000000000000a11ce";
    let start = n.head();
    // Balance, nonce, code and storage: visible at once, each in a block of its own.
    assert_eq!(
        n.call("anvil_setBalance", json!([who, "0xde0b6b3a7640000"])),
        Value::Null
    );
    assert_eq!(
        n.call("eth_getBalance", json!([who, "latest"])),
        "0xde0b6b3a7640000"
    );
    n.call("hardhat_setNonce", json!([who, "0x5"]));
    assert_eq!(
        n.call("eth_getTransactionCount", json!([who, "latest"])),
        "0x5"
    );
    let box_ = "0x0000000000000000000000000000000000000b0c";
    // Returns slot 5: PUSH1 5 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
    n.call(
        "anvil_setCode",
        json!([box_, "0x600554600052602060 00f3".replace(' ', "")]),
    );
    n.call(
        "anvil_setStorageAt",
        json!([box_, "0x5", format!("0x{:064x}", 77)]),
    );
    assert_eq!(
        n.call("eth_getStorageAt", json!([box_, "0x5", "latest"])),
        format!("0x{:064x}", 77)
    );
    assert_eq!(
        n.call("eth_call", json!([{"to": box_}, "latest"])),
        format!("0x{:064x}", 77)
    );
    assert_eq!(n.head(), start + 4, "one block per edit");
    // Edits also work with automine off, and mine only themselves.
    n.call("evm_setAutomine", json!([false]));
    let pending = n.call(
        "eth_sendTransaction",
        json!([{"from": alice(), "to": DEV_ACCOUNTS[1].0, "value": "0x1"}]),
    );
    n.call("anvil_setBalance", json!([who, "0xde0b6b3a7640001"]));
    assert_eq!(
        n.call("eth_getBalance", json!([who, "latest"])),
        "0xde0b6b3a7640001"
    );
    assert_eq!(
        n.receipt(&pending),
        Value::Null,
        "the pooled transaction still waits"
    );
    n.call("evm_setAutomine", json!([true]));
    assert_eq!(n.receipt(&pending)["status"], "0x1");

    // Not a dev account and not impersonated: refused. Impersonated: sent, from pays.
    let err = n.error(
        "eth_sendTransaction",
        json!([{"from": who, "to": DEV_ACCOUNTS[1].0, "value": "0x7"}]),
    );
    assert!(err.contains("no signer"), "{err}");
    n.call("anvil_impersonateAccount", json!([who]));
    let hash = n.call(
        "eth_sendTransaction",
        json!([{"from": who, "to": DEV_ACCOUNTS[1].0, "value": "0x7"}]),
    );
    let r = n.receipt(&hash);
    assert_eq!(r["status"], "0x1", "{r}");
    assert_eq!(r["from"], who, "the receipt names the impersonated sender");
    assert_eq!(
        n.call("eth_getTransactionCount", json!([who, "latest"])),
        "0x6"
    );
    // A creation from the impersonated account, with its address in the receipt.
    let hash = n.call(
        "eth_sendTransaction",
        json!([{"from": who, "data": LOGGER}]),
    );
    let r = n.receipt(&hash);
    let created: Address = serde_json::from_value(r["contractAddress"].clone()).unwrap();
    assert_eq!(created, who.parse::<Address>().unwrap().create(6));
    assert!(
        n.call("eth_getCode", json!([created, "latest"]))
            .as_str()
            .unwrap()
            .len()
            > 2
    );
    n.call("anvil_stopImpersonatingAccount", json!([who]));
    let err = n.error("eth_sendTransaction", json!([{"from": who, "to": created}]));
    assert!(err.contains("no signer"), "{err}");
    n.call("anvil_autoImpersonateAccount", json!([true]));
    let r = n.receipt(&n.call("eth_sendTransaction", json!([{"from": who, "to": created}])));
    assert_eq!(
        (r["status"].as_str(), r["logs"].as_array().map(Vec::len)),
        (Some("0x1"), Some(1))
    );
    // Storage of an empty account would vanish (EIP-161): refused, with the reason.
    let err = n.error(
        "anvil_setStorageAt",
        json!([
            "0x00000000000000000000000000000000000e0e0e",
            "0x1",
            format!("0x{:064x}", 1)
        ]),
    );
    assert!(err.contains("empty account"), "{err}");
    // Bad parameters are refused with -32602.
    let err = n.error("anvil_setBalance", json!(["0x1234", "0x1"]));
    assert!(err.contains("-32602"), "{err}");
}
