//! An honest chain verifies in every mode; each kind of tampering is caught with the right
//! report, and sequential and parallel verification give the same verdict.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use alloy_primitives::{B256, Bytes, TxKind};
use common::*;
use prova_chain::{BlockWithWitness, DEV_ACCOUNTS, Executor, inferences_root};
use prova_model::ModelId;
use prova_precompile::{MODEL_REGISTRY_ADDRESS, ProvaPrecompiles, REGISTERED, model_slot};
use prova_validator::{Divergence, DivergenceKind, InferenceDivergence, Mode};

/// `threads: 0` is a pool of one worker (it once skipped the output checks altogether).
const MODES: [Mode; 3] = [
    Mode::Sequential,
    Mode::Parallel { threads: 2 },
    Mode::Parallel { threads: 0 },
];

fn blocks() -> &'static Vec<BlockWithWitness> {
    static BLOCKS: std::sync::OnceLock<Vec<BlockWithWitness>> = std::sync::OnceLock::new();
    BLOCKS.get_or_init(honest_blocks)
}

/// The verdict on `blocks`, the same in sequential and parallel mode.
fn verdict(blocks: &[BlockWithWitness]) -> Divergence {
    let g = genesis();
    let mut verdicts = MODES.map(|m| {
        let s = verify(&g, blocks, m);
        s.divergence
            .unwrap_or_else(|| panic!("{} verification accepted a tampered chain", m.name()))
    });
    let [seq, par, par0] = &mut verdicts;
    assert_eq!(seq, par, "sequential and parallel verdicts differ");
    assert_eq!(
        seq, par0,
        "sequential and zero-thread parallel verdicts differ"
    );
    verdicts[0].clone()
}

fn inference(d: &Divergence) -> &InferenceDivergence {
    match &d.kind {
        DivergenceKind::Inference(i) => i,
        other => panic!("expected an inference divergence, got {other:?}"),
    }
}

fn header_field(d: &Divergence) -> &str {
    match &d.kind {
        DivergenceKind::Header { field, .. } => field,
        other => panic!("expected a header divergence, got {other:?}"),
    }
}

#[test]
fn an_honest_chain_verifies_in_every_mode() {
    let g = genesis();
    for mode in [
        Mode::Sequential,
        Mode::Parallel { threads: 2 },
        Mode::WitnessOnly,
    ] {
        let s = verify(&g, blocks(), mode);
        assert!(s.verified(), "{}: {:?}", mode.name(), s.divergence);
        assert_eq!(s.progress.blocks, 4);
        assert_eq!(s.progress.txs, 8);
        assert_eq!(s.progress.inferences, 5);
        let checked = if mode == Mode::WitnessOnly { 0 } else { 5 };
        assert_eq!(s.progress.checked, checked, "{}", mode.name());
    }
}

#[test]
fn a_changed_output_byte_is_caught_with_the_element() {
    let mut chain = blocks().clone();
    let record = &mut chain[2].witness[1];
    let mut out = record.output.to_vec();
    let last = out.len() - 1;
    out[last] ^= 0x01; // the last logit's most significant byte
    record.output = out.into();
    let d = verdict(&chain);
    assert_eq!(d.block, 3);
    assert_eq!(d.block_hash, chain[2].hash);
    let i = inference(&d);
    assert_eq!(i.field, "output");
    assert_eq!((i.position, i.tx_index, i.call_index), (1, 1, 0));
    assert_eq!(
        i.tx_hash,
        Some(alloy_primitives::keccak256(&chain[2].transactions[1]))
    );
    assert_eq!(
        i.expected_model,
        Some(ModelId::of(&model_bytes("digits_mlp")))
    );
    assert_ne!(i.expected_output_hash, i.actual_output_hash);
    assert_eq!(
        i.actual_output_hash,
        Some(alloy_primitives::keccak256(&chain[2].witness[1].output))
    );
    let first = i.first_difference.as_deref().unwrap();
    assert!(first.starts_with("output 1 element 9:"), "{first}");
    let line = d.to_string();
    assert!(line.starts_with("block 3 (0x"), "{line}");
    assert!(
        line.contains("first difference: output 1 element 9"),
        "{line}"
    );
    let json = d.to_json();
    assert_eq!(json["kind"], "inference");
    assert_eq!(json["field"], "output");
    assert_eq!(json["callIndex"], 0);
}

#[test]
fn a_changed_model_id_is_caught() {
    let mut chain = blocks().clone();
    chain[1].witness[0].model = ModelId::of(&model_bytes("iris_logreg"));
    let d = verdict(&chain);
    assert_eq!(d.block, 2);
    let i = inference(&d);
    assert_eq!(i.field, "model");
    assert_eq!(
        i.expected_model,
        Some(ModelId::of(&model_bytes("digits_mlp")))
    );
    assert_eq!(
        i.actual_model,
        Some(ModelId::of(&model_bytes("iris_logreg")))
    );
}

#[test]
fn swapped_records_are_caught() {
    let mut chain = blocks().clone();
    chain[2].witness.swap(0, 2);
    let d = verdict(&chain);
    assert_eq!(d.block, 3);
    let i = inference(&d);
    assert_eq!((i.field, i.position), ("index", 0));
    assert!(
        i.detail
            .as_deref()
            .unwrap()
            .contains("transaction 2 call 0")
    );
}

#[test]
fn dropped_and_added_records_are_caught() {
    let mut dropped = blocks().clone();
    dropped[2].witness.remove(2);
    let d = verdict(&dropped);
    let i = inference(&d);
    assert_eq!(
        (d.block, i.field, i.position, i.tx_index),
        (3, "missing", 2, 2)
    );

    let mut added = blocks().clone();
    let mut extra = added[1].witness[1].clone();
    (extra.tx_index, extra.call_index) = (1, 1);
    added[1].witness.push(extra);
    let d = verdict(&added);
    let i = inference(&d);
    assert_eq!((d.block, i.field, i.position), (2, "extra", 2));
}

#[test]
fn a_changed_transaction_is_caught() {
    let mut chain = blocks().clone();
    // Another valid transaction from the same sender and nonce, with a different input.
    chain[1].transactions[0] = infer_tx(0, 1, "digits_mlp", 2.0);
    let d = verdict(&chain);
    assert_eq!(d.block, 2);
    assert_eq!(header_field(&d), "transactionsRoot");

    // A transaction that does not decode.
    let mut chain = blocks().clone();
    chain[0].transactions[1] = Bytes::from_static(&[0x02, 0xc0]);
    let d = verdict(&chain);
    match &d.kind {
        DivergenceKind::Transaction {
            tx_index, reason, ..
        } => {
            assert_eq!(*tx_index, 1);
            assert!(reason.contains("does not decode"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_changed_state_root_is_caught_even_when_resealed() {
    let mut chain = blocks().clone();
    chain[1].header.state_root = B256::repeat_byte(0x42);
    let unsealed = verdict(&chain);
    assert_eq!(header_field(&unsealed), "hash");
    reseal(&mut chain[1]);
    let d = verdict(&chain);
    assert_eq!(d.block, 2);
    assert_eq!(header_field(&d), "stateRoot");
    match &d.kind {
        DivergenceKind::Header { actual, .. } => {
            assert_eq!(actual, &B256::repeat_byte(0x42).to_string())
        }
        _ => unreachable!(),
    }
    // The next block no longer links to it.
    let mut later = blocks().clone();
    later[1].header.gas_used += 1;
    reseal(&mut later[1]);
    let d = verdict(&later);
    assert_eq!((d.block, header_field(&d)), (2, "gasUsed"));
}

#[test]
fn a_tampered_witness_with_a_consistent_inferences_root_is_still_caught() {
    // A careful liar also rewrites the header's inferences root and reseals.
    let mut chain = blocks().clone();
    let mut out = chain[1].witness[1].output.to_vec();
    let last = out.len() - 1;
    out[last] ^= 0x80;
    chain[1].witness[1].output = out.into();
    chain[1].header.extra_data = inferences_root(&chain[1].witness).0.to_vec().into();
    reseal(&mut chain[1]);
    let d = verdict(&chain);
    assert_eq!(d.block, 2);
    assert_eq!(inference(&d).field, "output");
}

#[test]
fn a_model_used_before_its_deployment_is_caught() {
    // A lying producer runs a model that is not on chain yet (it has the bytes and pretends
    // the registry holds it), then deploys it a block later.
    let g = genesis();
    let cnn = model_bytes("digits_cnn");
    let cnn_id = ModelId::of(&cnn);
    let mut state = g.state();
    let genesis_header = g.header(&state);
    let genesis_hash = genesis_header.hash_slow();
    state.block_hashes.insert(0, genesis_hash);
    let mut precompiles = ProvaPrecompiles::new(prova_chain::SPEC, runtime());
    for m in &g.models {
        precompiles.preload(m).unwrap();
    }
    precompiles.preload(&cnn).unwrap();
    let producer = Executor::new(CHAIN_ID, precompiles);
    state
        .accounts
        .get_mut(&MODEL_REGISTRY_ADDRESS)
        .unwrap()
        .storage
        .insert(model_slot(&cnn_id), REGISTERED);
    let use_it = infer_tx(0, 0, "digits_cnn", 1.0);
    let input = prova_chain::rules::child_input(&genesis_header, genesis_hash, 1).unwrap();
    let txs = vec![prova_chain::SignedTx::decode(&use_it).unwrap()];
    let block1 = producer.execute(&mut state, &input, txs).unwrap();
    assert_eq!(
        block1.witness.len(),
        1,
        "the liar's block records the inference"
    );
    let deploy = tx(
        0,
        1,
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        0,
        alloy_sol_types::SolCall::abi_encode(&prova_precompile::abi::IModelRegistry::deployCall {
            onnx: cnn.clone().into(),
        }),
        10_000_000,
    );
    let input = prova_chain::rules::child_input(&block1.header, block1.hash, 2).unwrap();
    let txs = vec![prova_chain::SignedTx::decode(&deploy).unwrap()];
    let block2 = producer.execute(&mut state, &input, txs).unwrap();
    let chain = vec![
        BlockWithWitness::new(block1.header, vec![use_it], block1.witness),
        BlockWithWitness::new(block2.header, vec![deploy], block2.witness),
    ];
    let d = verdict(&chain);
    assert_eq!(d.block, 1);
    let i = inference(&d);
    assert_eq!((i.field, i.actual_model), ("extra", Some(cnn_id)));
    let detail = i.detail.as_deref().unwrap();
    assert!(
        detail.contains("not deployed before this block"),
        "{detail}"
    );
    let _ = DEV_ACCOUNTS;
}

#[test]
fn nothing_after_a_divergence_is_imported_and_the_chain_is_left_at_its_parent() {
    let mut chain = blocks().clone();
    chain[2].witness[0].gas += 1;
    let g = genesis();
    let ours = prova_chain::Chain::open_in_memory(g, runtime()).unwrap();
    let s = prova_validator::run(
        &ours,
        chain.iter().cloned().map(Ok),
        Mode::Sequential,
        1,
        &mut |_| {},
    )
    .unwrap();
    let d = s.divergence.unwrap();
    assert_eq!((d.block, inference(&d).field), (3, "gas"));
    assert_eq!(ours.block_number(), 2);
    assert_eq!(ours.head_hash(), chain[1].hash);
    assert_eq!(ours.state().state_root(), chain[1].header.state_root);
}
