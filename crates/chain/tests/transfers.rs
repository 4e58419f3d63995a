//! Transfers of every transaction type, refusals, roots, interval blocks and calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn ether(n: u64) -> U256 {
    U256::from(n) * U256::from(10).pow(U256::from(18))
}

#[test]
fn transfers_of_each_type_move_balances_and_nonces() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let (alice, bob) = (addr(0), addr(1));
    let start = chain.balance(&alice, None).unwrap();
    assert_eq!(start, ether(10_000));
    assert_eq!(chain.block_number(), 0);

    let legacy = TxLegacy {
        chain_id: Some(CHAIN_ID),
        nonce: 0,
        gas_price: 2 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(bob),
        value: ether(1),
        input: Bytes::new(),
    };
    let access = TxEip2930 {
        chain_id: CHAIN_ID,
        nonce: 1,
        gas_price: 2 * GWEI,
        gas_limit: 21_000,
        to: TxKind::Call(bob),
        value: ether(2),
        ..Default::default()
    };
    let raws = [
        sign_tx(legacy, &key(0)).unwrap().encoded_2718(),
        sign_tx(access, &key(0)).unwrap().encoded_2718(),
        tx1559(0, 2, TxKind::Call(bob), ether(3), vec![], 21_000),
    ];
    let mut spent = U256::ZERO;
    let mut roots = vec![chain.head().header.state_root];
    for (i, raw) in raws.iter().enumerate() {
        let (hash, number) = chain.submit(raw).unwrap();
        let number = number.unwrap();
        assert_eq!(number, i as u64 + 1);
        let r = chain.receipt(&hash).unwrap().unwrap();
        assert!(r.receipt.status());
        assert_eq!(r.gas_used, 21_000);
        assert_eq!(
            (r.from, r.to, r.block_number, r.index),
            (alice, Some(bob), number, 0)
        );
        spent += U256::from(r.gas_used) * U256::from(r.effective_gas_price);
        let info = chain.transaction(&hash).unwrap().unwrap();
        assert_eq!(info.tx.raw().as_ref(), raw.as_slice());
        assert_eq!(info.tx.sender, alice);
        let block = chain.block_by_hash(&info.block_hash).unwrap().unwrap();
        assert_eq!(block.header.number, number);
        assert_eq!(block.transactions.len(), 1);
        assert_eq!(block.header.gas_used, 21_000);
        roots.push(chain.head().header.state_root);
    }
    assert_eq!(chain.nonce(&alice, None).unwrap(), 3);
    assert_eq!(chain.nonce(&bob, None).unwrap(), 0);
    assert_eq!(chain.balance(&bob, None).unwrap(), ether(10_006));
    assert_eq!(
        chain.balance(&alice, None).unwrap(),
        start - ether(6) - spent
    );

    // The state root changes with the state and equals a fresh recomputation.
    for w in roots.windows(2) {
        assert_ne!(w[0], w[1]);
    }
    assert_eq!(chain.state().state_root(), chain.head().header.state_root);
    // Base fee follows EIP-1559 (nearly empty blocks: it falls).
    assert!(chain.head().header.base_fee_per_gas.unwrap() < DEFAULT_BASE_FEE);
    // The states of the last blocks are kept: each block's balance is the one after it.
    assert_eq!(chain.balance(&bob, Some(0)).unwrap(), ether(10_000));
    assert_eq!(chain.balance(&bob, Some(1)).unwrap(), ether(10_001));
    assert_eq!(chain.nonce(&alice, Some(2)).unwrap(), 2);
    assert!(matches!(
        chain.balance(&alice, Some(4)),
        Err(ChainError::StateUnavailable(4))
    ));
    // Fewer kept: older states are a clear error.
    chain.set_history(2);
    assert_eq!(chain.balance(&bob, Some(2)).unwrap(), ether(10_003));
    assert!(matches!(
        chain.balance(&alice, Some(1)),
        Err(ChainError::StateUnavailable(1))
    ));
}

#[test]
fn the_chain_rewinds_to_a_kept_block_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (bob, one) = (addr(1), U256::from(1));
    let (hash1, kept_root);
    {
        let chain = open(dir.path());
        hash1 = chain
            .submit(&tx1559(0, 0, TxKind::Call(bob), one, vec![], 21_000))
            .unwrap()
            .0;
        kept_root = chain.head().header.state_root;
        let later = chain
            .submit(&tx1559(0, 1, TxKind::Call(bob), one, vec![], 21_000))
            .unwrap()
            .0;
        chain
            .submit(&tx1559(0, 2, TxKind::Call(bob), one, vec![], 21_000))
            .unwrap();
        assert_eq!(chain.block_number(), 3);
        chain.rewind(1).unwrap();
        assert_eq!(chain.block_number(), 1);
        assert_eq!(chain.head().header.state_root, kept_root);
        assert_eq!(chain.state().state_root(), kept_root);
        assert!(chain.block_by_number(2).unwrap().is_none());
        assert!(chain.receipt(&later).unwrap().is_none());
        assert!(chain.receipt(&hash1).unwrap().is_some());
        assert_eq!(chain.nonce(&addr(0), None).unwrap(), 1);
        // The chain goes on from there: nonce 1 again, in a new block 2.
        let (_, block) = chain
            .submit(&tx1559(
                0,
                1,
                TxKind::Call(bob),
                U256::from(5),
                vec![],
                21_000,
            ))
            .unwrap();
        assert_eq!(block, Some(2));
        // A state that is not kept cannot be rewound to.
        chain.set_history(1);
        assert!(matches!(
            chain.rewind(0),
            Err(ChainError::StateUnavailable(0))
        ));
    }
    // What the rewind wrote is what a restart reads.
    let chain = open(dir.path());
    assert_eq!(chain.block_number(), 2);
    assert_eq!(chain.state().state_root(), chain.head().header.state_root);
    assert_eq!(
        chain.balance(&bob, None).unwrap(),
        ether(10_000) + U256::from(6)
    );
}

#[test]
fn refusals_are_typed_and_mine_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let bob = TxKind::Call(addr(1));
    let one = U256::from(1);

    let wrong_chain = TxEip1559 {
        chain_id: CHAIN_ID + 1,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        to: bob,
        ..Default::default()
    };
    let raw = sign_tx(wrong_chain, &key(0)).unwrap().encoded_2718();
    let err = chain.submit(&raw).unwrap_err();
    assert!(
        matches!(err, ChainError::Tx(TxError::WrongChainId { expected: CHAIN_ID, got }) if got == CHAIN_ID + 1),
        "{err:?}"
    );

    // A nonce gap is no refusal: the transaction waits in the pool (no block).
    let (_, block) = chain
        .submit(&tx1559(5, 1, bob, one, vec![], 21_000))
        .unwrap();
    assert_eq!(block, None);
    // Too far ahead to queue.
    let err = chain
        .submit(&tx1559(5, 1_000, bob, one, vec![], 21_000))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Tx(TxError::NonceTooHigh {
                expected: 0,
                got: 1_000
            })
        ),
        "{err:?}"
    );

    let poor = B256::repeat_byte(0x42);
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        gas_limit: 21_000,
        max_fee_per_gas: 10 * GWEI,
        to: bob,
        value: one,
        ..Default::default()
    };
    let raw = sign_tx(tx, &poor).unwrap().encoded_2718();
    let err = chain.submit(&raw).unwrap_err();
    assert!(
        matches!(err, ChainError::Tx(TxError::InsufficientFunds { .. })),
        "{err:?}"
    );

    let err = chain
        .submit(&tx1559(0, 0, bob, one, vec![], 20_000))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Tx(TxError::IntrinsicGasTooLow {
                intrinsic: 21_000,
                gas_limit: 20_000
            })
        ),
        "{err:?}"
    );

    let err = chain
        .submit(&tx1559(0, 0, bob, one, vec![], 30_000_001))
        .unwrap_err();
    assert!(
        matches!(err, ChainError::Tx(TxError::GasLimitExceedsBlock { .. })),
        "{err:?}"
    );

    let err = chain.submit(&[0x02, 0xc0, 0x01]).unwrap_err();
    assert!(matches!(err, ChainError::Tx(TxError::Decode(_))), "{err:?}");

    assert_eq!(chain.block_number(), 0, "nothing was mined");

    let raw = tx1559(0, 0, bob, one, vec![], 21_000);
    chain.submit(&raw).unwrap();
    // The same transaction again, and another one reusing nonce 0.
    let err = chain.submit(&raw).unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Tx(TxError::NonceTooLow {
                expected: 1,
                got: 0
            })
        ),
        "{err:?}"
    );
    let err = chain
        .submit(&tx1559(0, 0, bob, U256::from(2), vec![], 21_000))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Tx(TxError::NonceTooLow {
                expected: 1,
                got: 0
            })
        ),
        "{err:?}"
    );
    assert_eq!(chain.block_number(), 1);
}

#[test]
fn interval_block_keeps_valid_txs_and_reports_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let bob = TxKind::Call(addr(1));
    let one = U256::from(1);
    let txs: Vec<Bytes> = vec![
        tx1559(0, 0, bob, one, vec![], 21_000).into(),
        Bytes::from_static(&[0xde, 0xad]),
        tx1559(0, 5, bob, one, vec![], 21_000).into(),
        tx1559(0, 1, bob, one, vec![], 21_000).into(),
        tx1559(2, 0, bob, one, vec![], 21_000).into(),
    ];
    let (block, errors) = chain.build_block(&txs).unwrap();
    assert_eq!(block.txs.len(), 3);
    assert_eq!(block.header.gas_used, 63_000);
    assert_eq!(errors.len(), 2);
    assert_eq!(errors[0].0, 1);
    assert!(matches!(errors[0].1, TxError::Decode(_)));
    assert!(matches!(
        errors[1],
        (
            2,
            TxError::NonceTooHigh {
                expected: 1,
                got: 5
            }
        )
    ));
    let receipts = chain.block_receipts(1).unwrap().unwrap();
    let cumulative: Vec<u64> = receipts
        .iter()
        .map(|r| r.receipt.cumulative_gas_used())
        .collect();
    assert_eq!(cumulative, vec![21_000, 42_000, 63_000]);
    assert_eq!(chain.nonce(&addr(0), None).unwrap(), 2);

    // An empty interval block.
    let (empty, errors) = chain.build_block(&[]).unwrap();
    assert!(empty.txs.is_empty() && errors.is_empty());
    assert_eq!(chain.block_number(), 2);
    assert_eq!(empty.header.parent_hash, block.hash);
}

#[test]
fn calls_and_estimates_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let req = CallRequest {
        from: Some(addr(0)),
        to: Some(addr(1)),
        value: Some(U256::from(5)),
        ..Default::default()
    };
    let result = chain.call(&req, None).unwrap();
    assert!(result.is_success());
    assert_eq!(chain.estimate_gas(&req, None).unwrap(), 21_000);
    assert_eq!(chain.balance(&addr(1), None).unwrap(), ether(10_000));
    assert_eq!(chain.block_number(), 0);
}

#[test]
fn one_mib_model_deploy_fits_the_block_gas_limit() {
    // Worst case for calldata gas: 1 MiB with no zero byte. Admission refuses the bytes
    // (ModelRejected), but the registry charges per byte before any work, so the receipt
    // shows what a real 1 MiB deploy costs.
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let onnx = vec![0x5a_u8; 1 << 20];
    let data = IModelRegistry::deployCall { onnx: onnx.into() }.abi_encode();
    let r = send(
        &chain,
        0,
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        data.clone(),
        DEFAULT_GAS_LIMIT,
    );
    assert!(!r.receipt.status(), "garbage is not a model");
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    let intrinsic = 21_000 + 16 * (data.len() as u64 - zeros) + 4 * zeros;
    let registry = prova_precompile::RegistryGas::DEFAULT.deploy(data.len());
    assert_eq!(r.gas_used, intrinsic + registry);
    eprintln!(
        "1 MiB deploy: {} gas = intrinsic {intrinsic} + registry {registry} (block limit {DEFAULT_GAS_LIMIT})",
        r.gas_used
    );
    assert!(r.gas_used <= DEFAULT_GAS_LIMIT);
}

/// A real 1 MiB model: one MatMul with a 512x512 f32 weight matrix of pseudo-random values
/// (almost no zero bytes: the worst case for calldata gas).
fn one_mib_model() -> Vec<u8> {
    use prost::Message;
    use tract_onnx::pb::{
        GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
        TypeProto, ValueInfoProto,
        tensor_shape_proto::{Dimension, dimension::Value},
        type_proto,
    };
    let value = |name: &str, dims: &[i64]| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let raw: Vec<u8> = (0..512 * 512)
        .flat_map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ((seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5).to_le_bytes()
        })
        .collect();
    let graph = GraphProto {
        name: "one_mib".into(),
        node: vec![NodeProto {
            op_type: "MatMul".into(),
            input: vec!["x".into(), "W".into()],
            output: vec!["y".into()],
            ..Default::default()
        }],
        initializer: vec![TensorProto {
            name: "W".into(),
            dims: vec![512, 512],
            data_type: 1,
            raw_data: raw,
            ..Default::default()
        }],
        input: vec![value("x", &[1, 512])],
        output: vec![value("y", &[1, 512])],
        ..Default::default()
    };
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        graph: Some(graph),
        ..Default::default()
    }
    .encode_to_vec()
}

#[test]
fn a_real_one_mib_model_deploys_in_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let onnx = one_mib_model();
    assert!(onnx.len() >= 1 << 20, "{} bytes", onnx.len());
    let id = ModelId::of(&onnx);
    let data = IModelRegistry::deployCall {
        onnx: onnx.clone().into(),
    }
    .abi_encode();
    let r = send(
        &chain,
        0,
        TxKind::Call(MODEL_REGISTRY_ADDRESS),
        data.clone(),
        DEFAULT_GAS_LIMIT,
    );
    assert!(r.receipt.status(), "the 1 MiB model was refused");
    let zeros = data.iter().filter(|b| **b == 0).count() as u64;
    let intrinsic = 21_000 + 16 * (data.len() as u64 - zeros) + 4 * zeros;
    let registry = prova_precompile::RegistryGas::DEFAULT.deploy_total(&onnx, data.len());
    assert_eq!(r.gas_used, intrinsic + registry);
    assert!(r.gas_used < DEFAULT_GAS_LIMIT, "{} gas", r.gas_used);
    eprintln!(
        "real 1 MiB model deploy: {} gas of {DEFAULT_GAS_LIMIT}",
        r.gas_used
    );
    // And it runs.
    let exists = IModelRegistry::existsCall { modelId: id.0 }.abi_encode();
    let req = CallRequest {
        to: Some(MODEL_REGISTRY_ADDRESS),
        input: exists.into(),
        ..Default::default()
    };
    let out = chain.call(&req, None).unwrap();
    assert!(out.is_success());
    assert!(IModelRegistry::existsCall::abi_decode_returns(out.output().unwrap()).unwrap());
}
