//! The server over real HTTP: every kind of bad input gets its JSON-RPC error, and the node
//! keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers panic on setup failure

mod common;

use alloy_consensus::{TxEip1559, TxLegacy};
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use prova_chain::{Chain, DEV_ACCOUNTS, Genesis};
use prova_rpc::RpcConfig;
use prova_validator::client;
use serde_json::{Value, json};
use std::time::Duration;

struct Harness(common::Served);

impl std::ops::Deref for Harness {
    type Target = common::Served;
    fn deref(&self) -> &common::Served {
        &self.0
    }
}

impl Harness {
    fn new() -> Self {
        Self(common::Served::start())
    }

    fn raw(&self, body: &[u8]) -> (u16, Value) {
        let r = client::post(&self.url, body, Duration::from_secs(30)).unwrap();
        let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, v)
    }

    fn call(&self, method: &str, params: Value) -> Result<Value, (i64, String, Option<Value>)> {
        client::call(&self.url, method, params).map_err(|e| match e {
            client::ClientError::Rpc {
                code,
                message,
                data,
            } => (code, message, data),
            other => panic!("{other}"),
        })
    }

    fn code(&self, method: &str, params: Value) -> (i64, String) {
        let (code, msg, _) = self.call(method, params).unwrap_err();
        (code, msg)
    }

    fn block_number(&self) -> Value {
        self.call("eth_blockNumber", json!([])).unwrap()
    }
}

fn transfer(chain_id: u64, nonce: u64, key: &B256, value: U256) -> Bytes {
    let tx = TxEip1559 {
        chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(DEV_ACCOUNTS[1].0),
        value,
        ..Default::default()
    };
    prova_chain::sign_tx(tx, key).unwrap().encoded_2718().into()
}

#[test]
fn protocol_errors_have_their_codes() {
    let h = Harness::new();
    // Parse error.
    let (_, v) = h.raw(b"{not json");
    assert_eq!(v["error"]["code"], -32700, "{v}");
    // Invalid request.
    let (_, v) = h.raw(br#"{"jsonrpc":"2.0","id":1,"params":[]}"#);
    assert_eq!(v["error"]["code"], -32600, "{v}");
    // Unknown method.
    assert_eq!(h.code("eth_mine_gold", json!([])).0, -32601);
    // Invalid params.
    assert_eq!(h.code("eth_getBalance", json!(["0xzz"])).0, -32602);
    assert_eq!(h.code("eth_getTransactionReceipt", json!([])).0, -32602);
    // Oversized body: refused, and the server keeps serving.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x{}"]}}"#,
        "00".repeat(3 * 1024 * 1024)
    );
    let (status, v) = h.raw(big.as_bytes());
    assert!(
        status == 413 || v["error"]["code"] == -32007,
        "{status} {v}"
    );
    // A batch over the limit is refused; one within it is answered.
    let batch: Vec<Value> = (0..101)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"eth_chainId","params":[]}))
        .collect();
    let (_, v) = h.raw(json!(batch).to_string().as_bytes());
    assert!(v.get("error").is_some(), "{v}");
    let (_, v) = h.raw(json!(batch[..3]).to_string().as_bytes());
    assert_eq!(v.as_array().map(Vec::len), Some(3), "{v}");
    // Still serving.
    assert_eq!(h.call("eth_chainId", json!([])).unwrap(), "0x7a69");
    assert_eq!(h.call("net_version", json!([])).unwrap(), "31337");
}

#[test]
fn refused_transactions_are_minus_32000() {
    let h = Harness::new();
    let key = DEV_ACCOUNTS[0].1;
    // Malformed.
    let (code, msg) = h.code("eth_sendRawTransaction", json!(["0x1234"]));
    assert_eq!(code, -32000);
    assert!(msg.starts_with("malformed transaction"), "{msg}");
    // Wrong chain id.
    let (code, msg) = h.code(
        "eth_sendRawTransaction",
        json!([transfer(1, 0, &key, U256::from(1))]),
    );
    assert_eq!(code, -32000);
    assert!(msg.starts_with("invalid chain id"), "{msg}");
    // A nonce gap queues, as anvil does (no block); far ahead is refused.
    let gap = h.call(
        "eth_sendRawTransaction",
        json!([transfer(31337, 5, &key, U256::from(1))]),
    );
    assert!(gap.unwrap().is_string());
    let (code, msg) = h.code(
        "eth_sendRawTransaction",
        json!([transfer(31337, 5_000, &key, U256::from(1))]),
    );
    assert_eq!(code, -32000);
    assert!(msg.starts_with("nonce too high"), "{msg}");
    assert_eq!(h.block_number(), "0x0");
    // A good one, mined at once.
    let raw = transfer(31337, 0, &key, U256::from(1));
    let hash = h.call("eth_sendRawTransaction", json!([raw])).unwrap();
    assert_eq!(h.block_number(), "0x1");
    let receipt = h.call("eth_getTransactionReceipt", json!([hash])).unwrap();
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(receipt["blockNumber"], "0x1");
    // Reuse: the same transaction, then another with the same nonce.
    let (code, msg) = h.code("eth_sendRawTransaction", json!([raw]));
    assert_eq!(code, -32000);
    assert!(msg.starts_with("nonce too low"), "{msg}");
    let (code, msg) = h.code(
        "eth_sendRawTransaction",
        json!([transfer(31337, 0, &key, U256::from(2))]),
    );
    assert_eq!(code, -32000);
    assert!(msg.starts_with("nonce too low"), "{msg}");
    // Insufficient funds: an unfunded key, and a funded one sending more than it has.
    let poor = B256::repeat_byte(0x42);
    let (code, msg) = h.code(
        "eth_sendRawTransaction",
        json!([transfer(31337, 0, &poor, U256::from(1))]),
    );
    assert_eq!(code, -32000);
    assert!(msg.starts_with("insufficient funds"), "{msg}");
    let (code, msg) = h.code(
        "eth_sendRawTransaction",
        json!([transfer(31337, 1, &key, U256::MAX >> 1)]),
    );
    assert_eq!(code, -32000);
    assert!(msg.starts_with("insufficient funds"), "{msg}");
    // Legacy transactions are accepted too.
    let legacy = TxLegacy {
        chain_id: Some(31337),
        nonce: 1,
        gas_price: 10_000_000_000,
        gas_limit: 21_000,
        to: TxKind::Call(Address::repeat_byte(7)),
        value: U256::from(5),
        ..Default::default()
    };
    let raw: Bytes = prova_chain::sign_tx(legacy, &key)
        .unwrap()
        .encoded_2718()
        .into();
    h.call("eth_sendRawTransaction", json!([raw])).unwrap();
    assert_eq!(h.block_number(), "0x2");
    assert_eq!(
        h.call("eth_getBalance", json!([Address::repeat_byte(7), "latest"]))
            .unwrap(),
        "0x5"
    );
    // Readers.
    let block = h
        .call("eth_getBlockByNumber", json!(["latest", true]))
        .unwrap();
    assert_eq!(block["number"], "0x2");
    assert_eq!(block["transactions"][0]["nonce"], "0x1");
    let by_hash = h
        .call("eth_getBlockByHash", json!([block["hash"], false]))
        .unwrap();
    assert_eq!(by_hash["transactions"][0], block["transactions"][0]["hash"]);
    let tx = h.call("eth_getTransactionByHash", json!([hash])).unwrap();
    assert_eq!(tx["blockNumber"], "0x1");
    assert_eq!(
        h.call(
            "eth_getTransactionCount",
            json!([DEV_ACCOUNTS[0].0, "pending"])
        )
        .unwrap(),
        "0x2"
    );
    let fees = h
        .call("eth_feeHistory", json!(["0x2", "latest", [50.0]]))
        .unwrap();
    assert_eq!(fees["oldestBlock"], "0x1", "{fees}");
    assert_eq!(fees["baseFeePerGas"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        h.call("eth_getLogs", json!([{"fromBlock": "0x0"}]))
            .unwrap(),
        json!([])
    );
    assert_eq!(
        h.call("prova_getInferences", json!(["0x1"])).unwrap(),
        json!([])
    );
    let w = h.call("prova_getBlockWithWitness", json!(["0x1"])).unwrap();
    assert_eq!(
        w["transactions"][0],
        json!(transfer(31337, 0, &key, U256::from(1)))
    );
    // State at a past block: kept for the last blocks; a block that does not exist (or whose
    // state is no longer kept) is a clear error.
    assert_eq!(
        h.call("eth_getBalance", json!([Address::repeat_byte(7), "0x1"]))
            .unwrap(),
        "0x0"
    );
    let (code, msg) = h.code("eth_getBalance", json!([DEV_ACCOUNTS[0].0, "0x9"]));
    assert_eq!(code, -32000);
    assert!(msg.contains("not available"), "{msg}");
    assert_eq!(
        h.call("eth_accounts", json!([])).unwrap()[0]
            .as_str()
            .unwrap()
            .to_lowercase(),
        DEV_ACCOUNTS[0].0.to_string().to_lowercase()
    );
}

#[test]
fn reverted_calls_are_code_3_with_data() {
    let h = Harness::new();
    let unknown = B256::repeat_byte(0xab);
    let input = prova_precompile::abi::IProvaInference::inferCall {
        modelId: unknown,
        inputs: vec![],
    }
    .abi_encode();
    let req = json!({"to": prova_precompile::INFER_ADDRESS, "input": Bytes::from(input)});
    let selector = format!(
        "0x{}",
        alloy_primitives::hex::encode(
            <prova_precompile::abi::UnknownModel as alloy_sol_types::SolError>::SELECTOR
        )
    );
    for method in ["eth_call", "eth_estimateGas"] {
        let (code, msg, data) = h.call(method, json!([req, "latest"])).unwrap_err();
        assert_eq!(code, 3, "{method}");
        assert_eq!(msg, "execution reverted");
        let data = data.unwrap();
        let data = data.as_str().unwrap();
        assert!(data.starts_with(&selector), "{data}");
        assert!(data.ends_with(&unknown.to_string()[2..]), "{data}");
    }
    assert_eq!(
        h.call("prova_getModel", json!([unknown])).unwrap(),
        Value::Null
    );
    assert_eq!(h.block_number(), "0x0");
}

#[test]
fn interval_mining_pools_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Chain::open(dir.path(), Genesis::dev(31337)).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let config = RpcConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        mining: prova_rpc::Mining::Interval(Duration::from_millis(300)),
        relay: None,
    };
    let server = rt
        .block_on(prova_rpc::start(std::sync::Arc::new(chain), config))
        .unwrap();
    let url = server.url();
    let key = DEV_ACCOUNTS[0].1;
    let send = |raw: Bytes| client::call(&url, "eth_sendRawTransaction", json!([raw]));
    let a = send(transfer(31337, 0, &key, U256::from(1))).unwrap();
    let b = send(transfer(31337, 1, &key, U256::from(2))).unwrap();
    // Reuse is refused at once, against the pool too.
    assert!(send(transfer(31337, 0, &key, U256::from(3))).is_err());
    assert_eq!(
        client::call(
            &url,
            "eth_getTransactionCount",
            json!([DEV_ACCOUNTS[0].0, "pending"])
        )
        .unwrap(),
        "0x2"
    );
    let mut receipts = Value::Null;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        receipts = json!([
            client::call(&url, "eth_getTransactionReceipt", json!([a])).unwrap(),
            client::call(&url, "eth_getTransactionReceipt", json!([b])).unwrap(),
        ]);
        if !receipts[1].is_null() {
            break;
        }
    }
    assert_eq!(receipts[0]["status"], "0x1", "{receipts}");
    assert_eq!(receipts[1]["status"], "0x1", "{receipts}");
    rt.block_on(server.stop());
}
