//! Crash safety: the dev node is killed with SIGKILL at random moments while it produces
//! blocks, many times. After each restart the data dir opens, every transaction the node
//! acknowledged is there, the head block is whole, and at the end `prova replay` verifies the
//! whole chain.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use prova_chain::{DEV_ACCOUNTS, sign_tx};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Starts `prova node --dev` on a free port; returns the child and its URL.
fn start(datadir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["node", "--dev", "--port", "0", "--datadir"])
        .arg(datadir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the node exited before listening")
            .unwrap();
        if let Some(url) = line.strip_prefix("Listening on ") {
            break url.to_string();
        }
    };
    // Keep draining stdout so the node never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn quantity(v: &Value) -> u64 {
    u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
}

fn digits_call() -> Vec<u8> {
    let model = std::fs::read(root().join("fixtures/models/digits_mlp.onnx")).unwrap();
    let json = std::fs::read_to_string(root().join("fixtures/inputs/digits_mlp.json")).unwrap();
    let inputs = prova_tensor::InputDocument::from_json(&json)
        .unwrap()
        .inputs;
    IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(&model).0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode()
}

fn signed(from: usize, nonce: u64, to: TxKind, value: u64, input: &[u8]) -> Bytes {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 1_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 0,
        to,
        value: U256::from(value),
        input: input.to_vec().into(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[from].1)
        .unwrap()
        .encoded_2718()
        .into()
}

/// A small deterministic generator (the seed is printed, so a failure can be replayed).
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[test]
fn sigkill_during_block_production_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let datadir = dir.path().join("chain");
    let seed = std::env::var("PROVA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test seed {seed} (PROVA_CRASH_SEED={seed} replays it)");
    let mut rng = Lcg(seed);
    let kills = 20;
    let infer = digits_call();
    let bob = TxKind::Call(Address::repeat_byte(0xb0));
    let mut acknowledged: Vec<String> = Vec::new();
    for round in 0..kills {
        let (mut child, url) = start(&datadir);
        // Everything acknowledged before the last kill is there, in a whole block.
        let head = quantity(&client::call(&url, "eth_blockNumber", json!([])).unwrap());
        for hash in &acknowledged {
            let r = client::call(&url, "eth_getTransactionReceipt", json!([hash])).unwrap();
            assert!(!r.is_null(), "round {round}: acknowledged {hash} lost");
            assert_eq!(r["status"], "0x1");
        }
        let block = client::call(
            &url,
            "prova_getBlockWithWitness",
            json!([format!("0x{head:x}")]),
        )
        .unwrap();
        assert_eq!(quantity(&block["number"]), head);
        for raw in block["transactions"].as_array().unwrap() {
            let raw: Bytes = serde_json::from_value(raw.clone()).unwrap();
            let hash = alloy_primitives::keccak256(&raw);
            let r = client::call(&url, "eth_getTransactionReceipt", json!([hash])).unwrap();
            assert!(
                !r.is_null(),
                "round {round}: head block {head} is half-written"
            );
        }
        // Send transactions until the kill lands at a random moment.
        let kill_after = Duration::from_millis(50 + rng.below(400));
        let started = Instant::now();
        let from = (round % 10) as usize;
        let sender = format!("{}", DEV_ACCOUNTS[from].0);
        let mut nonce = quantity(
            &client::call(&url, "eth_getTransactionCount", json!([sender, "latest"])).unwrap(),
        );
        let mut sent = 0;
        while started.elapsed() < kill_after || sent == 0 {
            let raw = if rng.below(2) == 0 {
                signed(from, nonce, TxKind::Call(INFER_ADDRESS), 0, &infer)
            } else {
                signed(from, nonce, bob, 1, &[])
            };
            match client::call(&url, "eth_sendRawTransaction", json!([raw])) {
                Ok(hash) => acknowledged.push(hash.as_str().unwrap().to_string()),
                Err(e) => panic!("round {round}: {e}"),
            }
            nonce += 1;
            sent += 1;
        }
        // A request in flight while the node dies is never acknowledged, so it may or may
        // not be there; the others must be.
        let url2 = url.clone();
        let raw = signed(from, nonce, bob, 1, &[]);
        let in_flight = std::thread::spawn(move || {
            client::call(&url2, "eth_sendRawTransaction", json!([raw])).ok()
        });
        std::thread::sleep(Duration::from_millis(rng.below(3)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if let Some(hash) = in_flight.join().unwrap() {
            acknowledged.push(hash.as_str().unwrap().to_string());
        }
    }
    // The whole chain verifies.
    let out = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["replay", "--json", "--datadir"])
        .arg(&datadir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["verified"], true);
    assert!(summary["transactions"].as_u64().unwrap() >= acknowledged.len() as u64);
    eprintln!(
        "{kills} kills survived: {} acknowledged transactions in {} blocks, all verified",
        acknowledged.len(),
        summary["blocks"]
    );
}
