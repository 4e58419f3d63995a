//! `prova replay`, `export`, `verify` and `import` as users run them: exit codes, reports and
//! the JSON summary, on a chain built by the real node code.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use prova_chain::{Chain, DEV_ACCOUNTS, Genesis, sign_tx};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_tensor::{InputDocument, Tensor};
use serde_json::Value;
use std::{
    path::{Path, PathBuf},
    process::Command,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn prova(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prova"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn model(name: &str) -> Vec<u8> {
    std::fs::read(root().join(format!("fixtures/models/{name}.onnx"))).unwrap()
}

fn tx(from: usize, nonce: u64, to: TxKind, value: u64, input: Vec<u8>, gas: u64) -> Bytes {
    let tx = TxEip1559 {
        chain_id: 31337,
        nonce,
        gas_limit: gas,
        max_fee_per_gas: 10_000_000_000,
        max_priority_fee_per_gas: 0,
        to,
        value: U256::from(value),
        input: input.into(),
        ..Default::default()
    };
    sign_tx(tx, &DEV_ACCOUNTS[from].1)
        .unwrap()
        .encoded_2718()
        .into()
}

fn infer(from: usize, nonce: u64, name: &str, k: f32) -> Bytes {
    let json =
        std::fs::read_to_string(root().join(format!("fixtures/inputs/{name}.json"))).unwrap();
    let inputs: Vec<Tensor> = InputDocument::from_json(&json)
        .unwrap()
        .inputs
        .iter()
        .map(|t| {
            let v: Vec<f32> = t.to_vec::<f32>().unwrap().iter().map(|x| x * k).collect();
            Tensor::from_f32(t.shape().to_vec(), &v).unwrap()
        })
        .collect();
    let data = IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(&model(name)).0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode();
    tx(from, nonce, TxKind::Call(INFER_ADDRESS), 0, data, 1_000_000)
}

/// A data dir with three blocks: two inferences; a transfer; one inference.
fn chain(dir: &Path) {
    let genesis = Genesis::dev(31337)
        .with_model(model("digits_mlp"))
        .with_model(model("iris_logreg"));
    let chain = Chain::open(dir, genesis).unwrap();
    let bob = TxKind::Call(DEV_ACCOUNTS[4].0);
    for txs in [
        vec![
            infer(0, 0, "digits_mlp", 1.0),
            infer(1, 0, "iris_logreg", 1.0),
        ],
        vec![tx(2, 0, bob, 7, vec![], 21_000)],
        vec![infer(0, 1, "digits_mlp", 0.5)],
    ] {
        let (_, errors) = chain.build_block(&txs).unwrap();
        assert!(errors.is_empty(), "{errors:?}");
    }
}

fn summary(stdout: &str) -> Value {
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

#[test]
fn replay_verifies_a_chain_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path());
    let d = dir.path().to_str().unwrap();
    for mode in [
        &[][..],
        &["--sequential"],
        &["--witness-only"],
        &["--threads", "3"],
    ] {
        let mut args = vec!["replay", "--datadir", d, "--json"];
        args.extend_from_slice(mode);
        let (code, out, err) = prova(&args);
        assert_eq!(code, 0, "{mode:?}: {err}");
        let s = summary(&out);
        assert_eq!(s["verified"], true);
        assert_eq!(s["blocks"], 3);
        assert_eq!(s["transactions"], 4);
        assert_eq!(s["inferences"], 3);
        let checked = if mode == ["--witness-only"] { 0 } else { 3 };
        assert_eq!(s["checked"], checked, "{mode:?}");
    }
    let (code, out, _) = prova(&["replay", "--datadir", d, "--from", "3"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("verified 3 blocks (4 transactions, 3 inferences, 1 re-run)"),
        "{out}"
    );
    let (code, _, err) = prova(&["replay", "--datadir", d, "--to", "9"]);
    assert_eq!(
        (code, err.trim()),
        (1, "error: --to 9 is past the head block 3")
    );
}

#[test]
fn replay_refuses_a_data_dir_in_use_or_missing() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path());
    let open = Chain::open(
        dir.path(),
        Genesis::dev(31337)
            .with_model(model("digits_mlp"))
            .with_model(model("iris_logreg")),
    )
    .unwrap();
    let (code, _, err) = prova(&["replay", "--datadir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("is in use by another process"), "{err}");
    drop(open);
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = prova(&["replay", "--datadir", empty.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("holds no chain"), "{err}");
}

#[test]
fn export_verify_and_import_only_what_verifies() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path());
    let file = dir.path().join("chain.jsonl");
    let f = file.to_str().unwrap();
    let (code, out, err) = prova(&[
        "export",
        "--datadir",
        dir.path().to_str().unwrap(),
        "--out",
        f,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("3 blocks"), "{out}");
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("{\"genesis\":"));

    let (code, out, err) = prova(&["verify", "--input", f, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary(&out)["verified"], true);

    // Tamper with block 3's output: verify reports it, import keeps blocks 1 and 2.
    let mut block: Value = serde_json::from_str(lines[3]).unwrap();
    let out_hex = block["witness"][0]["output"].as_str().unwrap().to_string();
    let flipped = format!(
        "{}{}",
        &out_hex[..out_hex.len() - 1],
        if out_hex.ends_with('0') { "1" } else { "0" }
    );
    block["witness"][0]["output"] = Value::String(flipped);
    let tampered = dir.path().join("tampered.jsonl");
    std::fs::write(
        &tampered,
        format!("{}\n{}\n{}\n{}\n", lines[0], lines[1], lines[2], block),
    )
    .unwrap();
    let t = tampered.to_str().unwrap();
    for mode in [&[][..], &["--sequential"]] {
        let mut args = vec!["verify", "--input", t, "--json"];
        args.extend_from_slice(mode);
        let (code, out, _) = prova(&args);
        assert_eq!(code, 2, "{mode:?}");
        let s = summary(&out);
        assert_eq!(s["verified"], false);
        let d = &s["divergence"];
        assert_eq!(d["block"], 3);
        assert_eq!(d["kind"], "inference");
        assert_eq!(d["field"], "output");
        assert_eq!(d["txIndex"], 0);
        assert_eq!(d["callIndex"], 0);
        assert!(
            d["firstDifference"]
                .as_str()
                .unwrap()
                .starts_with("output 1 element 9"),
            "{d}"
        );
    }
    let (code, out, _) = prova(&["verify", "--input", t]);
    assert_eq!(code, 2);
    assert!(out.starts_with("DIVERGENCE block 3 (0x"), "{out}");

    let copy = dir.path().join("copy");
    let c = copy.to_str().unwrap();
    let (code, out, _) = prova(&["import", "--input", t, "--datadir", c]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("holds blocks 0..=2"), "{out}");
    let (code, out, _) = prova(&["replay", "--datadir", c, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(summary(&out)["to"], 2);
    // Resuming with the honest file imports the rest.
    let (code, out, err) = prova(&["import", "--input", f, "--datadir", c, "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(summary(&out)["blocks"], 1);
    let (code, out, _) = prova(&["replay", "--datadir", c, "--json"]);
    assert_eq!(code, 0);
    assert_eq!(summary(&out)["to"], 3);

    // A malformed line is refused with its place.
    std::fs::write(
        &tampered,
        format!("{}\n{}\n{{\"number\":1}}\n", lines[0], lines[1]),
    )
    .unwrap();
    let (code, _, err) = prova(&["verify", "--input", t]);
    assert_eq!(code, 1);
    assert!(
        err.contains("tampered.jsonl:3: block: missing \"header\""),
        "{err}"
    );
}
