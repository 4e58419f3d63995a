//! One chain, many threads: read-only calls with inference while blocks with inference are
//! produced and imported, and a block at the end of time that wedges nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_precompile::abi::IProvaInference;
use revm::context::result::ExecutionResult;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn infer_request(model: ModelId, inputs: &[Tensor]) -> CallRequest {
    let data = IProvaInference::inferCall {
        modelId: model.0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode();
    CallRequest {
        to: Some(INFER_ADDRESS),
        input: data.into(),
        ..CallRequest::default()
    }
}

#[test]
fn calls_with_inference_run_while_blocks_are_made_and_imported() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let producer = Arc::new(open(a.path()));
    let follower = Arc::new(open(b.path()));
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);
    let inputs = fixture_inputs("digits_mlp");
    let rt = runtime();
    let expected = encode_tensors(&rt.run(&rt.load(&bytes).unwrap(), &inputs).unwrap());
    let call = infer_request(id, &inputs);
    let done = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    let blocks = 12u64;
    std::thread::scope(|s| {
        // Readers: eth_call with inference on both chains, the whole time.
        for chain in [&producer, &follower, &producer, &follower] {
            let (call, expected, done, calls) = (&call, &expected, &done, &calls);
            s.spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    let r = chain.call(call, None).unwrap();
                    let ExecutionResult::Success { output, .. } = r else {
                        panic!("{r:?}");
                    };
                    let out =
                        IProvaInference::inferCall::abi_decode_returns(output.data()).unwrap();
                    let got: Vec<Tensor> = out
                        .iter()
                        .map(|t| prova_precompile::abi::from_abi(t).unwrap())
                        .collect();
                    assert_eq!(&encode_tensors(&got), expected, "same bits as the runtime");
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The producer makes blocks with an inference transaction each; the follower imports
        // them (re-running every inference) while the readers run.
        let (producer, follower, call, done) = (&producer, &follower, &call, &done);
        s.spawn(move || {
            for nonce in 0..blocks {
                let data = call.input.to_vec();
                let raw = tx1559(
                    0,
                    nonce,
                    TxKind::Call(INFER_ADDRESS),
                    U256::ZERO,
                    data,
                    1_000_000,
                );
                let (_, block) = producer.submit(&raw).unwrap();
                let n = block.unwrap();
                let b = producer.block_with_witness(n).unwrap().unwrap();
                assert_eq!(b.witness.len(), 1);
                let txs = b
                    .transactions
                    .iter()
                    .map(|r| SignedTx::decode(r).unwrap())
                    .collect();
                let imported = follower
                    .import_block(&b.header, txs, None, |e| {
                        if e.hash == b.hash && e.witness == b.witness {
                            Ok(())
                        } else {
                            Err("diverged")
                        }
                    })
                    .unwrap();
                assert!(imported.is_ok());
            }
            done.store(true, Ordering::Relaxed);
        });
    });
    assert_eq!(producer.head().hash, follower.head().hash);
    assert_eq!(follower.block_number(), blocks);
    assert!(calls.load(Ordering::Relaxed) > 0);
    // Read-only calls record nothing: every witness holds its block's one transaction's call.
    for n in 1..=blocks {
        assert_eq!(follower.witness(n).unwrap().unwrap().len(), 1);
    }
}

#[test]
fn a_block_at_the_end_of_time_wedges_nothing() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let producer = open(a.path());
    let follower = open(b.path());
    // A producer may date a block u64::MAX: it follows its parent by the consensus rules.
    let (block, _) = producer.build_block_at(&[], u64::MAX).unwrap();
    assert_eq!(block.header.timestamp, u64::MAX);
    follower.validate_child(&block.header).unwrap();
    // The local rule refuses it: it is far ahead of this node's clock.
    let early = rules::check_clock(&block.header, rules::now()).unwrap_err();
    assert_eq!(early.field(), "timestamp");
    // Even imported, nothing overflows or panics: reads and calls go on...
    let imported = follower
        .import_block(&block.header, vec![], None, |_| Ok::<(), ()>(()))
        .unwrap();
    assert!(imported.is_ok());
    let inputs = fixture_inputs("digits_mlp");
    let call = infer_request(ModelId::of(&model_bytes("digits_mlp")), &inputs);
    for chain in [&producer, &follower] {
        assert!(chain.call(&call, None).unwrap().is_success());
        assert!(chain.estimate_gas(&call, None).unwrap() > 21_000);
        // ...and a next block is refused with the reason, not a panic.
        let e = chain.mine(true).unwrap_err();
        assert!(
            matches!(
                &e,
                ChainError::Rule(RuleError::Exhausted {
                    field: "timestamp",
                    ..
                })
            ),
            "{e}"
        );
        let raw = tx1559(0, 0, TxKind::Call(addr(1)), U256::from(1), vec![], 21_000);
        assert!(matches!(chain.submit(&raw), Err(ChainError::Rule(_))));
        assert_eq!(chain.block_number(), 1);
        assert_eq!(
            chain.balance(&addr(1), None).unwrap(),
            chain.state().balance(&addr(1))
        );
    }
    // A child claiming a later time than u64::MAX cannot exist; one at the same time is no child.
    let mut next = block.header.clone();
    next.parent_hash = block.hash;
    next.number = 2;
    assert!(follower.validate_child(&next).is_err());
}
