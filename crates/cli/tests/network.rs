//! The validator network as processes on loopback: four `prova node --validator` processes
//! (real TCP, authenticated p2p, tokio runtime, redb). Inference transactions are sent to
//! every validator in turn; one validator is killed with SIGKILL under load and restarted from
//! its data dir: it rejoins, catches up, and nothing finalized is lost — every validator ends
//! with the same blocks, and every acknowledged transaction has the same receipt everywhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use prova_chain::{DEV_ACCOUNTS, sign_tx};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

const MODEL: &[u8] = include_bytes!("../../../fixtures/models/iris_logreg.onnx");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

struct Validator {
    dir: PathBuf,
    rpc_port: u16,
    child: Option<Child>,
}

impl Validator {
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.rpc_port)
    }

    fn start(&mut self, peers: &Path) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_prova"))
            .args(["node", "--validator", "--json", "--key"])
            .arg(self.dir.join("key.json"))
            .arg("--peers")
            .arg(peers)
            .arg("--datadir")
            .arg(&self.dir)
            .arg("--port")
            .arg(self.rpc_port.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = lines.next().expect("the validator exited").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["rpc"], self.url());
        std::thread::spawn(move || for _ in lines {});
        self.child = Some(child);
    }

    fn kill(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    fn head(&self) -> u64 {
        quantity(&client::call(&self.url(), "eth_blockNumber", json!([])).unwrap())
    }

    fn block_hash(&self, n: u64) -> String {
        let b = client::call(
            &self.url(),
            "eth_getBlockByNumber",
            json!([format!("0x{n:x}"), false]),
        )
        .unwrap();
        b["hash"].as_str().unwrap().to_string()
    }
}

impl Drop for Validator {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Inference transaction `j` (dev account `j % 10`, nonce `j / 10`), on an input of its own.
fn infer_tx(j: u64) -> Bytes {
    let x = j as f32 * 0.05;
    let input = prova_tensor::Tensor::from_f32(vec![1, 4], &[5.0 + x, 3.0, 1.5 + x, 0.3]).unwrap();
    let data = IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(MODEL).0,
        inputs: vec![prova_precompile::abi::to_abi(&input)],
    }
    .abi_encode();
    let tx = TxEip1559 {
        chain_id: prova_chain::DEV_CHAIN_ID,
        nonce: j / 10,
        gas_limit: 1_000_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(INFER_ADDRESS),
        value: U256::ZERO,
        input: data.into(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[(j % 10) as usize].1)
        .unwrap()
        .encoded_2718()
        .into()
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn four_validator_processes_one_killed_under_load_rejoins_and_nothing_finalized_is_lost() {
    let root = tempfile::tempdir().unwrap();
    let mut validators = Vec::new();
    let mut peers = Vec::new();
    for i in 0..4 {
        let dir = root.path().join(format!("v{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_prova"))
            .args(["keygen", "--json", "--out"])
            .arg(dir.join("key.json"))
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        peers.push(json!({
            "publicKey": v["publicKey"],
            "address": format!("127.0.0.1:{}", free_port()),
        }));
        validators.push(Validator {
            dir,
            rpc_port: free_port(),
            child: None,
        });
    }
    let peers_path = root.path().join("peers.json");
    std::fs::write(&peers_path, json!({ "validators": peers }).to_string()).unwrap();
    for v in &mut validators {
        v.start(&peers_path);
    }
    wait_until(
        "the first finalized blocks",
        Duration::from_secs(60),
        || validators.iter().all(|v| v.head() >= 2),
    );

    // Load: transactions to every validator in turn; validator 3 is killed midway.
    let total = 60u64;
    let mut hashes = Vec::new();
    let mut killed_head = None;
    for j in 0..total {
        if j == total / 2 {
            killed_head = Some((validators[3].head(), validators[3].block_hash(1)));
            validators[3].kill();
        }
        let to = if validators[3].child.is_some() {
            (j % 4) as usize
        } else {
            (j % 3) as usize
        };
        let raw = infer_tx(j);
        let hash = client::call(
            &validators[to].url(),
            "eth_sendRawTransaction",
            json!([raw]),
        )
        .unwrap();
        hashes.push(hash.as_str().unwrap().to_string());
        std::thread::sleep(Duration::from_millis(100));
    }
    // The three others go on finalizing without it (3 of 4 is a quorum).
    let before = validators[0].head();
    wait_until(
        "finalization without the killed validator",
        Duration::from_secs(60),
        || validators[0].head() >= before + 3,
    );
    validators[3].start(&peers_path);

    // Every transaction is finalized, on every validator, the restarted one included.
    wait_until(
        "every receipt on every validator",
        Duration::from_secs(180),
        || {
            validators.iter().all(|v| {
                hashes.iter().all(|h| {
                    client::call(&v.url(), "eth_getTransactionReceipt", json!([h]))
                        .is_ok_and(|r| !r.is_null())
                })
            })
        },
    );
    let target = validators.iter().map(Validator::head).min().unwrap();
    let (killed_at, first_hash) = killed_head.unwrap();
    assert!(
        target > killed_at,
        "the restarted validator caught up past where it died"
    );
    assert_eq!(
        validators[3].block_hash(1),
        first_hash,
        "nothing finalized was lost"
    );
    for n in 1..=target {
        let hash = validators[0].block_hash(n);
        for v in &validators[1..] {
            assert_eq!(v.block_hash(n), hash, "block {n} differs");
        }
    }
    for h in &hashes {
        let receipts: Vec<Value> = validators
            .iter()
            .map(|v| client::call(&v.url(), "eth_getTransactionReceipt", json!([h])).unwrap())
            .collect();
        assert_eq!(
            receipts[0]["status"], "0x1",
            "inference transaction {h} succeeded"
        );
        for r in &receipts[1..] {
            assert_eq!(r["blockHash"], receipts[0]["blockHash"]);
            assert_eq!(r["logs"], receipts[0]["logs"]);
        }
    }
    // The inference witness agrees too.
    for n in 1..=target {
        let at = json!([format!("0x{n:x}")]);
        let w0 = client::call(&validators[0].url(), "prova_getInferences", at.clone()).unwrap();
        let w3 = client::call(&validators[3].url(), "prova_getInferences", at).unwrap();
        assert_eq!(w0, w3, "block {n}'s inferences differ");
    }
}
