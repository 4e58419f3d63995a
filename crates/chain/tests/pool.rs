//! The transaction pool through the chain: nonce gaps queue and fill, replacement by fee
//! bump, order by tip, limits, and refusals that keep the pool as it was.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn transfer(from: usize, nonce: u64, fee: u128, tip: u128) -> Vec<u8> {
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: fee,
        max_priority_fee_per_gas: tip,
        to: TxKind::Call(addr(9)),
        value: U256::from(1),
        ..Default::default()
    };
    sign_tx(tx, &key(from)).unwrap().encoded_2718()
}

#[test]
fn nonce_gaps_queue_and_fill() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let alice = addr(0);
    // Nonces 2 and 1 first: both wait, nothing is mined.
    for nonce in [2, 1] {
        let (_, block) = chain.submit(&transfer(0, nonce, 10 * GWEI, GWEI)).unwrap();
        assert_eq!(block, None, "nonce {nonce} waits for 0");
    }
    assert_eq!(chain.block_number(), 0);
    assert_eq!(chain.pending_nonce(&alice), 0);
    let (ready, queued) = chain.pool_content();
    assert_eq!((ready.len(), queued.len()), (0, 2));
    // Nonce 0 fills the gap: one block takes all three, in nonce order.
    let (hash, block) = chain.submit(&transfer(0, 0, 10 * GWEI, GWEI)).unwrap();
    assert_eq!(block, Some(1));
    let b = chain.block_by_number(1).unwrap().unwrap();
    let nonces: Vec<u64> = b.transactions.iter().map(|t| t.envelope.nonce()).collect();
    assert_eq!(nonces, [0, 1, 2]);
    assert_eq!(b.transactions[0].hash(), hash);
    assert_eq!(chain.nonce(&alice, None).unwrap(), 3);
    assert_eq!(chain.pool_content(), (vec![], vec![]));
    // A stale nonce is refused; the pool stays empty.
    let err = chain.submit(&transfer(0, 1, 10 * GWEI, GWEI)).unwrap_err();
    assert!(
        matches!(
            err,
            ChainError::Tx(TxError::NonceTooLow {
                expected: 3,
                got: 1
            })
        ),
        "{err:?}"
    );
}

#[test]
fn the_pool_replaces_by_fee_bump_orders_by_tip_and_refuses_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    // Interval mode: transactions wait in the pool until a block is mined.
    let first = transfer(0, 0, 10 * GWEI, GWEI);
    let s = chain.add_transaction(&first).unwrap();
    assert_eq!(s.status, PoolStatus::Ready);
    assert_eq!(chain.pending_nonce(&addr(0)), 1);
    let err = chain.add_transaction(&first).unwrap_err();
    assert!(
        matches!(err, ChainError::Tx(TxError::AlreadyKnown)),
        "{err:?}"
    );
    // +5% is not enough to replace; +10% on both the cap and the tip is.
    let cheap = transfer(0, 0, 10 * GWEI + GWEI / 2, GWEI + GWEI / 20);
    let err = chain.add_transaction(&cheap).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("replacement transaction underpriced"),
        "{err}"
    );
    let better = transfer(0, 0, 11 * GWEI, GWEI + GWEI / 10);
    let replaced = chain.add_transaction(&better).unwrap().hash;
    assert!(chain.pooled(&keccak256(&first)).is_none());
    assert!(chain.pooled(&replaced).is_some());
    // Bob pays a higher tip: his goes first in the block.
    let bob = chain
        .add_transaction(&transfer(1, 0, 10 * GWEI, 3 * GWEI))
        .unwrap()
        .hash;
    let mined = chain.mine(false).unwrap().unwrap();
    let order: Vec<B256> = mined.block.txs.iter().map(|t| t.tx.hash()).collect();
    assert_eq!(order, [bob, replaced]);
    assert!(mined.dropped.is_empty());
    // Nothing ready: no empty block unless asked for.
    assert!(chain.mine(false).unwrap().is_none());
    assert_eq!(chain.mine(true).unwrap().unwrap().block.txs.len(), 0);
    assert_eq!(chain.block_number(), 2);
}

#[test]
fn a_transaction_the_block_refuses_is_dropped_and_its_error_returned() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    // The pool cannot see that 20,000 gas is below the intrinsic gas; the block can.
    let raw = tx1559(0, 0, TxKind::Call(addr(1)), U256::from(1), vec![], 20_000);
    let err = chain.submit(&raw).unwrap_err();
    assert!(
        matches!(err, ChainError::Tx(TxError::IntrinsicGasTooLow { .. })),
        "{err:?}"
    );
    assert_eq!(
        chain.block_number(),
        0,
        "no block for a refused transaction"
    );
    assert!(chain.pooled(&keccak256(&raw)).is_none());
    // The nonce is still free.
    let ok = tx1559(0, 0, TxKind::Call(addr(1)), U256::from(1), vec![], 21_000);
    assert_eq!(chain.submit(&ok).unwrap().1, Some(1));
}

#[test]
fn pool_limits_refuse_with_a_reason() {
    let config = PoolConfig {
        max_txs: 3,
        max_per_sender: 2,
        ..PoolConfig::default()
    };
    let g = genesis();
    let state = g.state();
    let mut pool = TxPool::new(config);
    let decode = |raw: Vec<u8>| SignedTx::decode(&raw).unwrap();
    let add = |pool: &mut TxPool, from, nonce| {
        pool.add(
            decode(transfer(from, nonce, 10 * GWEI, GWEI)),
            &state,
            DEFAULT_BASE_FEE,
            DEFAULT_GAS_LIMIT,
        )
    };
    add(&mut pool, 0, 0).unwrap();
    add(&mut pool, 0, 1).unwrap();
    let e = add(&mut pool, 0, 2).unwrap_err();
    assert!(e.to_string().contains("has 2 transactions pending"), "{e}");
    add(&mut pool, 1, 0).unwrap();
    let e = add(&mut pool, 2, 0).unwrap_err();
    assert!(e.to_string().starts_with("txpool is full"), "{e}");
    assert_eq!(pool.len(), 3);
    // The fee cap must cover the base fee.
    let low = pool
        .add(
            decode(transfer(3, 0, 1, 1)),
            &state,
            DEFAULT_BASE_FEE,
            DEFAULT_GAS_LIMIT,
        )
        .unwrap_err();
    assert!(matches!(low, TxError::FeeCapTooLow { .. }), "{low:?}");
}
