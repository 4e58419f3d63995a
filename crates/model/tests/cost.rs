//! Prova's cost model against what tract actually runs: element-wise chains.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_model::{Limits, admit};
use std::{collections::BTreeSet, path::PathBuf};
use tract_onnx::{pb, tract_core::ops::binary::OptBinChain};

mod common;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// `x: f32[1, 4096]`, scalar float constants `a`, `b`, `c`, output `y`.
fn model(nodes: Vec<pb::NodeProto>) -> Vec<u8> {
    let scalar = |name: &str, v: f32| pb::TensorProto {
        name: name.into(),
        data_type: 1,
        float_data: vec![v],
        ..Default::default()
    };
    let constants = vec![scalar("a", 0.5), scalar("b", 1.5), scalar("c", 0.0)];
    common::graph(&[1, 4096], nodes, constants)
}

/// A node named after its output.
fn node(op: &str, inputs: &[&str], output: &str) -> pb::NodeProto {
    common::node(op, output, inputs, output)
}

/// (node, chained) for every operator the cost model charged.
fn charged(bytes: &[u8]) -> Vec<(String, bool)> {
    admit(bytes, &Limits::DEFAULT)
        .unwrap()
        .work
        .into_iter()
        // tract may suffix a node's name (`y.0`) when it expands an operator.
        .map(|w| {
            (
                w.node.split('.').next().unwrap_or("").to_string(),
                w.chained,
            )
        })
        .collect()
}

#[test]
fn later_steps_of_an_element_wise_chain_are_charged_as_chained() {
    // y = max(x * a + b, c): one pass in tract; the Add and Max ride on the Mul.
    let chain = model(vec![
        node("Mul", &["x", "a"], "m"),
        node("Add", &["m", "b"], "p"),
        node("Max", &["p", "c"], "y"),
    ]);
    let work = charged(&chain);
    assert_eq!(
        work,
        vec![("m".into(), false), ("p".into(), true), ("y".into(), true)]
    );
    // `m` feeds two nodes: it ends its own chain; `p` starts one that `y` continues, `q` is
    // on its own (it is `y`'s operand, not its accumulator).
    let fork = model(vec![
        node("Mul", &["x", "a"], "m"),
        node("Add", &["m", "b"], "p"),
        node("Add", &["m", "a"], "q"),
        node("Add", &["p", "q"], "y"),
    ]);
    let work: BTreeSet<_> = charged(&fork).into_iter().collect();
    let expected: BTreeSet<_> = [("m", false), ("p", false), ("q", false), ("y", true)]
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    assert_eq!(work, expected);
    // The discount is real: the chain costs less than the fork's heads.
    let info = |b: &[u8]| admit(b, &Limits::DEFAULT).unwrap().info.cost.macs;
    assert!(info(&chain) < info(&fork));
}

/// Every step Prova prices as a later step of a fused chain is fused by tract's optimiser:
/// either it is the last step (tract names the fused node after it) of an `OptBinChain`, or it
/// is gone from the optimised graph. Prova may miss a chain (overpricing), never invent one.
#[test]
fn every_step_charged_as_chained_is_fused_by_tract() {
    let mut checked = 0;
    let mut models = Vec::new();
    for dir in [fixtures().join("models"), fixtures().join("gas")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "onnx") {
                models.push(std::fs::read(&p).unwrap());
            }
        }
    }
    models.push(model(vec![
        node("Mul", &["x", "a"], "m"),
        node("Add", &["m", "b"], "p"),
        node("Max", &["p", "c"], "y"),
    ]));
    for bytes in models {
        let admitted = admit(&bytes, &Limits::DEFAULT).unwrap();
        let chained: Vec<&str> = admitted
            .work
            .iter()
            .filter(|w| w.chained)
            .map(|w| w.node.as_str())
            .collect();
        if chained.is_empty() {
            continue;
        }
        let optimised = admitted.typed.clone().into_optimized().unwrap();
        for name in chained {
            let fused = match optimised.nodes().iter().find(|n| n.name == name) {
                None => true,
                Some(n) => n.op_is::<OptBinChain>(),
            };
            assert!(
                fused,
                "{name} is charged as chained but tract runs it alone"
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} chained steps checked");
}

/// `y = x · w` with `x: f32[1, k]` and a constant `w: f32[k, n]`.
fn product(k: usize, n: usize) -> Vec<u8> {
    let w = pb::TensorProto {
        name: "w".into(),
        data_type: 1,
        dims: vec![k as i64, n as i64],
        float_data: vec![0.25; k * n],
        ..Default::default()
    };
    common::graph(
        &[1, k as i64],
        vec![node("MatMul", &["x", "w"], "y")],
        vec![w],
    )
}

/// The milli-MAC-equivalents charged for product weights beyond the caches, if any.
fn streamed(bytes: &[u8]) -> Option<u64> {
    let admitted = admit(bytes, &Limits::DEFAULT).unwrap();
    let rows: Vec<_> = admitted
        .work
        .iter()
        .filter(|w| w.op == "StreamedWeights")
        .collect();
    assert!(rows.len() <= 1, "one model-wide row at most");
    rows.first().map(|w| w.milli_macs)
}

#[test]
fn product_weights_beyond_the_caches_are_charged_per_byte() {
    // 1024 × 1024 f32 weights: exactly the 4 MiB the caches are assumed to hold, no charge.
    assert_eq!(streamed(&product(1024, 1024)), None);
    // 1024 × 1536: 2 MiB beyond, 16 milli-MAC-equivalents per byte.
    let more = product(1024, 1536);
    assert_eq!(streamed(&more), Some(2 * 1024 * 1024 * 16));
    // And it is in the cost (so in the gas), on top of the product's own work.
    let macs = |b: &[u8]| admit(b, &Limits::DEFAULT).unwrap().info.cost.macs;
    assert!(macs(&more) > macs(&product(1024, 1024)) * 3 / 2 + 2 * 1024 * 16);
}

/// `y = x · w` with `x: f32[x_batch, 16, 16]` and a constant `w: f32[w_batch, 16, 16]`: a
/// batch of products (one operand broadcast over it where its batch is 1).
fn batched(x_batch: usize, w_batch: usize) -> Vec<u8> {
    let w = pb::TensorProto {
        name: "w".into(),
        data_type: 1,
        dims: vec![w_batch as i64, 16, 16],
        float_data: vec![0.25; w_batch * 256],
        ..Default::default()
    };
    common::graph(
        &[x_batch as i64, 16, 16],
        vec![node("MatMul", &["x", "w"], "y")],
        vec![w],
    )
}

/// The milli-MAC-equivalents charged for the model's products.
fn product_charge(bytes: &[u8]) -> u64 {
    let admitted = admit(bytes, &Limits::DEFAULT).unwrap();
    let rows: Vec<_> = admitted.work.iter().filter(|w| w.op == "EinSum").collect();
    assert_eq!(rows.len(), 1, "{:?}", admitted.work);
    rows[0].milli_macs
}

#[test]
fn every_product_of_a_batch_after_the_first_is_charged() {
    // Everything else a product is charged for grows with the batch: eight products cost
    // eight times one, plus seven products' fixed part (tract packs and frames each apart).
    let one = product_charge(&batched(1, 1));
    assert_eq!(product_charge(&batched(8, 8)), 8 * one + 7 * 800_000);
}

#[test]
fn a_broadcast_operand_does_not_hide_the_batch() {
    // The batch is the longer operand's: eight products, whichever side has them.
    let single = product_charge(&batched(1, 1));
    let eight = product_charge(&batched(1, 8));
    assert!(
        eight >= 7 * 800_000 + single,
        "eight broadcast products charged {eight}, one {single}"
    );
}
