//! Inference through the chain: the example contract by transaction, the witness and its
//! root, a model deployed by transaction, and everything surviving a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_precompile::abi::IProvaInference;

#[test]
fn digit_classifier_by_transaction_records_the_witness_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = model_bytes("digits_mlp");
    let id = ModelId::of(&bytes);
    let inputs = fixture_inputs("digits_mlp");
    let rt = runtime();
    let direct = rt.run(&rt.load(&bytes).unwrap(), &inputs).unwrap();
    let label = direct[0].to_vec::<i64>().unwrap()[0];

    let (head, head_hash, receipt, witness, balance, classifier);
    {
        let chain = open(dir.path());
        assert_eq!(genesis().model_ids(), vec![id]);
        classifier = deploy_classifier(&chain, id);
        let data = classifyCall {
            pixels: digit_pixels(&inputs[0]),
        }
        .abi_encode();
        let r = send(&chain, 1, TxKind::Call(classifier), data, 2_000_000);
        assert!(r.receipt.status());
        let logs = r.receipt.logs();
        assert_eq!(logs.len(), 1);
        let event = Classified::decode_log(&logs[0]).unwrap();
        assert_eq!(event.address, classifier);
        assert_eq!(event.who, addr(1));
        assert_eq!(event.digit, U256::from(label));

        let filter = LogFilter {
            addresses: vec![classifier],
            topics: vec![Some(vec![Classified::SIGNATURE_HASH])],
            ..Default::default()
        };
        let found = chain.logs(&filter).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].tx_hash, found[0].log_index), (r.tx_hash, 0));
        let none = LogFilter {
            topics: vec![None, Some(vec![B256::ZERO])],
            ..filter.clone()
        };
        assert!(chain.logs(&none).unwrap().is_empty());

        // One witness record, with the runtime's own output bits.
        let n = r.block_number;
        let w = chain.witness(n).unwrap().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!((w[0].tx_index, w[0].call_index), (0, 0));
        assert_eq!(w[0].model, id);
        assert!(w[0].success);
        assert_eq!(w[0].input_hash(), hash_tensors(&inputs));
        assert_eq!(w[0].output.as_ref(), encode_tensors(&direct).as_slice());
        let header = chain.head().header.clone();
        assert_eq!(header_inferences_root(&header), Some(inferences_root(&w)));
        assert_ne!(inferences_root(&w), inferences_root(&[]));
        // Blocks without inference commit to the empty witness.
        let deploy_block = chain.block_by_number(n - 1).unwrap().unwrap();
        assert_eq!(
            header_inferences_root(&deploy_block.header),
            Some(inferences_root(&[]))
        );
        assert!(chain.witness(n - 1).unwrap().unwrap().is_empty());

        // A read-only call infers without recording anything or mining.
        let req = CallRequest {
            to: Some(classifier),
            input: predictCall {
                pixels: digit_pixels(&inputs[0]),
            }
            .abi_encode()
            .into(),
            ..Default::default()
        };
        let out = chain.call(&req, None).unwrap();
        let digit = predictCall::abi_decode_returns(out.output().unwrap()).unwrap();
        assert_eq!(digit, U256::from(label));
        assert_eq!(chain.block_number(), n);
        let gas = chain.estimate_gas(&req, None).unwrap();
        assert!(gas > 21_000, "{gas}");

        (head, head_hash, receipt, witness, balance) = (
            header,
            chain.head_hash(),
            r,
            w,
            chain.balance(&addr(1), None).unwrap(),
        );
    }

    // Close and reopen: same head, balances, receipts, witness, models.
    let chain = open(dir.path());
    assert_eq!(chain.head().header, head);
    assert_eq!(chain.head_hash(), head_hash);
    assert_eq!(chain.state().state_root(), head.state_root);
    assert_eq!(chain.balance(&addr(1), None).unwrap(), balance);
    assert_eq!(chain.receipt(&receipt.tx_hash).unwrap().unwrap(), receipt);
    assert_eq!(chain.witness(head.number).unwrap().unwrap(), witness);
    let data = classifyCall {
        pixels: digit_pixels(&inputs[0]),
    }
    .abi_encode();
    let r = send(&chain, 2, TxKind::Call(classifier), data, 2_000_000);
    assert!(
        r.receipt.status(),
        "the preloaded model still runs after a restart"
    );
    let w = chain.witness(r.block_number).unwrap().unwrap();
    assert_eq!(w[0].output, witness[0].output);
    drop(chain);

    // Another genesis does not open this data dir.
    let other = Chain::open_with_runtime(dir.path(), Genesis::dev(7), runtime());
    assert!(matches!(other, Err(ChainError::GenesisMismatch { .. })));
}

#[test]
fn model_deployed_by_transaction_is_usable_in_a_later_block_and_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = model_bytes("iris_logreg");
    let id = ModelId::of(&bytes);
    let inputs = fixture_inputs("iris_logreg");
    let infer = IProvaInference::inferCall {
        modelId: id.0,
        inputs: inputs.iter().map(prova_precompile::abi::to_abi).collect(),
    }
    .abi_encode();
    {
        let chain = open(dir.path());
        // Unknown before the deploy: the call is included and reverts.
        let r = send(
            &chain,
            0,
            TxKind::Call(INFER_ADDRESS),
            infer.clone(),
            1_000_000,
        );
        assert!(!r.receipt.status());
        assert!(chain.witness(r.block_number).unwrap().unwrap().is_empty());

        let data = IModelRegistry::deployCall {
            onnx: bytes.clone().into(),
        }
        .abi_encode();
        let r = send(
            &chain,
            0,
            TxKind::Call(MODEL_REGISTRY_ADDRESS),
            data,
            5_000_000,
        );
        assert!(r.receipt.status());
        let deployed_in = r.block_number;

        let r = send(
            &chain,
            0,
            TxKind::Call(INFER_ADDRESS),
            infer.clone(),
            1_000_000,
        );
        assert!(r.receipt.status());
        assert!(r.block_number > deployed_in);
        let w = chain.witness(r.block_number).unwrap().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].model, id);
    }
    // After a restart, the model's bytes come back from the data dir's model store.
    let fresh = Arc::new(Runtime::new(Profile::Exact).unwrap());
    let chain = Chain::open_with_runtime(dir.path(), genesis(), fresh).unwrap();
    let r = send(&chain, 0, TxKind::Call(INFER_ADDRESS), infer, 1_000_000);
    assert!(r.receipt.status());
    assert_eq!(chain.witness(r.block_number).unwrap().unwrap().len(), 1);
}

#[test]
fn witness_records_carry_their_transaction_index() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let id = ModelId::of(&model_bytes("digits_mlp"));
    let classifier = deploy_classifier(&chain, id);
    let pixels = digit_pixels(&fixture_inputs("digits_mlp")[0]);
    let data = classifyCall { pixels }.abi_encode();
    let bob = TxKind::Call(addr(1));
    let txs: Vec<Bytes> = vec![
        tx1559(
            1,
            0,
            TxKind::Call(classifier),
            U256::ZERO,
            data.clone(),
            2_000_000,
        )
        .into(),
        tx1559(2, 0, bob, U256::from(1), vec![], 21_000).into(),
        tx1559(3, 0, TxKind::Call(classifier), U256::ZERO, data, 2_000_000).into(),
    ];
    let (block, errors) = chain.build_block(&txs).unwrap();
    assert!(errors.is_empty());
    let at: Vec<(u64, u64)> = block
        .witness
        .iter()
        .map(|w| (w.tx_index, w.call_index))
        .collect();
    assert_eq!(at, vec![(0, 0), (2, 0)]);
    assert_eq!(block.witness[0].output, block.witness[1].output);
    assert_eq!(
        chain.witness(block.header.number).unwrap().unwrap(),
        block.witness
    );
    assert_eq!(
        header_inferences_root(&chain.head().header),
        Some(inferences_root(&block.witness))
    );
}
