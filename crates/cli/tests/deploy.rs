//! `prova model deploy` of a model too large for one block, against `prova node --dev`: the
//! staged upload (begin, chunks, commit) resumes an upload left half done, the model is
//! unknown until committed, and then it runs on chain exactly as it runs locally.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Bytes, TxKind, U256, hex};
use alloy_sol_types::{SolCall, SolError};
use prost::Message;
use prova_chain::{DEFAULT_GAS_LIMIT, DEV_ACCOUNTS, sign_tx};
use prova_model::ModelId;
use prova_precompile::{
    INFER_ADDRESS, MODEL_REGISTRY_ADDRESS, RegistryGas,
    abi::{self, IModelRegistry, IProvaInference, UnknownModel},
};
use prova_runtime::{Profile, Runtime};
use prova_tensor::Tensor;
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
};
use tract_onnx::pb;

const K: i64 = 256;
const N: i64 = 2304;

/// `y = x · w` with `x: f32[1, K]` and a deterministic pseudo-random `w: f32[K, N]`: 2.36 MB,
/// more calldata than a 30M-gas block can carry.
fn large_model() -> Vec<u8> {
    use pb::tensor_shape_proto::{Dimension, dimension::Value as Dim};
    let tensor = |name: &str, dims: &[i64]| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: 1,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|&d| Dimension {
                            value: Some(Dim::DimValue(d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let raw_data = (0..K * N)
        .flat_map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5).to_le_bytes()
        })
        .collect();
    pb::ModelProto {
        ir_version: 8,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            name: "large_matmul".into(),
            node: vec![pb::NodeProto {
                op_type: "MatMul".into(),
                name: "mm".into(),
                input: vec!["x".into(), "w".into()],
                output: vec!["y".into()],
                ..Default::default()
            }],
            initializer: vec![pb::TensorProto {
                name: "w".into(),
                data_type: 1,
                dims: vec![K, N],
                raw_data,
                ..Default::default()
            }],
            input: vec![tensor("x", &[1, K])],
            output: vec![tensor("y", &[1, N])],
            ..Default::default()
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

/// `prova node --dev --tmp` on a free port: the child and its URL.
fn start_node() -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["node", "--dev", "--tmp", "--port", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the node exited").unwrap();
        if let Some(url) = line.strip_prefix("Listening on ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rpc(url: &str, method: &str, params: Value) -> Value {
    client::call(url, method, params).unwrap_or_else(|e| panic!("{method}: {e}"))
}

/// A signed registry call from dev account 0, sent and mined; its receipt status.
fn send(url: &str, nonce: u64, input: Vec<u8>) -> bool {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: 5_000_000,
        max_fee_per_gas: 100_000_000_000,
        max_priority_fee_per_gas: 0,
        to: TxKind::Call(MODEL_REGISTRY_ADDRESS),
        value: U256::ZERO,
        input: input.into(),
        ..Default::default()
    };
    let raw: Bytes = sign_tx(tx, &DEV_ACCOUNTS[0].1)
        .unwrap()
        .encoded_2718()
        .into();
    let hash = rpc(url, "eth_sendRawTransaction", json!([raw]));
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash]));
    receipt["status"] == "0x1"
}

fn eth_call(url: &str, to: alloy_primitives::Address, input: Vec<u8>) -> Result<Vec<u8>, String> {
    let req = json!({"to": to, "input": Bytes::from(input)});
    match client::call(url, "eth_call", json!([req, "latest"])) {
        Ok(v) => Ok(hex::decode(v.as_str().unwrap()).unwrap()),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[test]
fn a_model_larger_than_a_block_deploys_in_chunks_and_runs() {
    let bytes = large_model();
    let id = ModelId::of(&bytes);
    // One `deploy` transaction could not carry it: its calldata alone passes the block limit.
    let deploy = IModelRegistry::deployCall {
        onnx: bytes.clone().into(),
    }
    .abi_encode();
    let calldata_gas: u64 = deploy.iter().map(|&b| if b == 0 { 4 } else { 16 }).sum();
    let single = 21_000 + calldata_gas + RegistryGas::DEFAULT.deploy_total(&bytes, deploy.len());
    assert!(single > DEFAULT_GAS_LIMIT, "{single} gas fits a block");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("large.onnx");
    std::fs::write(&path, &bytes).unwrap();
    let (child, url) = start_node();
    let _node = Node(child);

    // An earlier run that stopped after two chunks of 64 KiB.
    let chunk = 64 * 1024;
    assert!(send(
        &url,
        0,
        IModelRegistry::beginUploadCall {
            modelId: id.0,
            size: bytes.len() as u64
        }
        .abi_encode()
    ));
    for k in 0..2 {
        assert!(send(
            &url,
            k as u64 + 1,
            IModelRegistry::appendChunkCall {
                modelId: id.0,
                offset: (k * chunk) as u64,
                chunk: bytes[k * chunk..(k + 1) * chunk].to_vec().into(),
            }
            .abi_encode()
        ));
    }

    // Half uploaded, the model is not callable.
    let input = Tensor::from_f32(
        vec![1, K as u64],
        &(0..K)
            .map(|i| (i % 17) as f32 / 8.0 - 1.0)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let infer = IProvaInference::inferCall {
        modelId: id.0,
        inputs: vec![abi::to_abi(&input)],
    }
    .abi_encode();
    let err = eth_call(&url, INFER_ADDRESS, infer.clone()).unwrap_err();
    let unknown = hex::encode(UnknownModel { modelId: id.0 }.abi_encode());
    assert!(err.contains(&unknown), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["model", "deploy"])
        .arg(&path)
        .args(["--rpc-url", &url, "--json", "--private-key"])
        .arg(DEV_ACCOUNTS[0].1.to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "resuming the upload at byte {} of {}",
            2 * chunk,
            bytes.len()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("receipt: "), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["modelId"], id.to_string());
    assert_eq!(v["mode"], "upload");
    let remaining = (bytes.len() - 2 * chunk).div_ceil(96 * 1024);
    assert_eq!(
        v["transactions"].as_array().unwrap().len(),
        remaining + 1,
        "the missing chunks and the commit"
    );
    assert!(v["gasUsed"].as_u64().unwrap() > DEFAULT_GAS_LIMIT, "{v}");

    // Registered; it runs on chain bit for bit as it runs here.
    let exists = IModelRegistry::existsCall { modelId: id.0 }.abi_encode();
    let out = eth_call(&url, MODEL_REGISTRY_ADDRESS, exists).unwrap();
    assert!(IModelRegistry::existsCall::abi_decode_returns(&out).unwrap());
    let out = eth_call(&url, INFER_ADDRESS, infer).unwrap();
    let got: Vec<Tensor> = IProvaInference::inferCall::abi_decode_returns(&out)
        .unwrap()
        .iter()
        .map(|t| abi::from_abi(t).unwrap())
        .collect();
    let rt = Runtime::new(Profile::Exact).unwrap();
    let want = rt.run(&rt.load(&bytes).unwrap(), &[input]).unwrap();
    assert_eq!(got, want);
    assert_eq!(got[0].shape(), &[1, N as u64]);

    // Deploying again is a no-op.
    let out = Command::new(env!("CARGO_BIN_EXE_prova"))
        .args(["model", "deploy"])
        .arg(&path)
        .args(["--rpc-url", &url, "--private-key"])
        .arg(DEV_ACCOUNTS[0].1.to_string())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), id.to_string());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already registered"));
}
