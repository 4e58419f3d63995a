//! Dev edits (anvil_setBalance & co., impersonation) are transactions in blocks: they change
//! the state as asked, and a second node that re-executes the chain from genesis arrives at the
//! same blocks. A chain whose genesis names no authority refuses them and ignores look-alikes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;
use prova_chain::dev_edits::{
    DEV_EDITS_ADDRESS, DEV_EDITS_KEY,
    IDevEdits::{self, IDevEditsCalls},
};

/// Re-executes `producer`'s blocks 1..=head on a fresh chain from the same genesis; every
/// block must come out with the same hash and witness.
fn replay(producer: &Chain, genesis: Genesis) -> Chain {
    let follower = Chain::open_in_memory(genesis, runtime()).unwrap();
    for n in 1..=producer.block_number() {
        let b = producer.block_with_witness(n).unwrap().unwrap();
        let txs = b
            .transactions
            .iter()
            .map(|r| SignedTx::decode(r).unwrap())
            .collect();
        follower
            .import_block(&b.header, txs, None, |e| {
                if e.hash == b.hash && e.witness == b.witness {
                    Ok(())
                } else {
                    Err(format!("block {n} diverged"))
                }
            })
            .unwrap()
            .unwrap();
    }
    follower
}

#[test]
fn edits_change_the_state_in_blocks_that_replay() {
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    let who = Address::repeat_byte(0x42);
    let edits = [
        IDevEditsCalls::setBalance(IDevEdits::setBalanceCall {
            account: who,
            balance: U256::from(10).pow(U256::from(21)),
        }),
        IDevEditsCalls::setNonce(IDevEdits::setNonceCall {
            account: who,
            nonce: 7,
        }),
        // A contract that returns its slot 5: PUSH1 5 SLOAD PUSH1 0 MSTORE PUSH1 32 PUSH1 0 RETURN
        IDevEditsCalls::setCode(IDevEdits::setCodeCall {
            account: Address::repeat_byte(0x43),
            code: Bytes::from_static(&[0x60, 5, 0x54, 0x60, 0, 0x52, 0x60, 32, 0x60, 0, 0xf3]),
        }),
        IDevEditsCalls::setStorageAt(IDevEdits::setStorageAtCall {
            account: Address::repeat_byte(0x43),
            slot: B256::from(U256::from(5)),
            value: B256::from(U256::from(99)),
        }),
    ];
    for (i, edit) in edits.into_iter().enumerate() {
        let (hash, number) = chain.dev_edit(edit).unwrap();
        assert_eq!(number, i as u64 + 1, "each edit is a block of its own");
        let r = chain.receipt(&hash).unwrap().unwrap();
        assert!(r.receipt.status());
        assert_eq!(r.to, Some(DEV_EDITS_ADDRESS));
    }
    assert_eq!(
        chain.balance(&who, None).unwrap(),
        U256::from(10).pow(U256::from(21))
    );
    assert_eq!(chain.nonce(&who, None).unwrap(), 7);
    let out = chain
        .call(
            &CallRequest {
                to: Some(Address::repeat_byte(0x43)),
                ..Default::default()
            },
            None,
        )
        .unwrap();
    let out = out.output().unwrap().to_vec();
    assert_eq!(U256::from_be_slice(&out), U256::from(99));

    // Impersonation: `who` (no key) sends value and deploys a contract; it pays the gas.
    let send = |to: Option<Address>, value: u64, data: Vec<u8>| {
        let raw = chain
            .impersonated_tx(IDevEdits::impersonateCall {
                from: who,
                to: to.unwrap_or_default(),
                create: to.is_none(),
                value: U256::from(value),
                data: data.into(),
                gasLimit: 200_000,
                nonce: chain.next_impersonated_nonce(&who),
            })
            .unwrap();
        let (hash, block) = chain.submit(&raw).unwrap();
        assert!(block.is_some());
        chain.receipt(&hash).unwrap().unwrap()
    };
    let before = chain.balance(&who, None).unwrap();
    let r = send(Some(addr(3)), 12345, vec![]);
    assert!(r.receipt.status());
    assert_eq!(
        chain.nonce(&who, None).unwrap(),
        8,
        "the impersonated nonce is used"
    );
    let spent = before - chain.balance(&who, None).unwrap();
    assert!(
        spent > U256::from(12345),
        "value and gas are paid by the impersonated account"
    );
    // LOG0 on every call: the contract's creation is attributed to `who`.
    let r = send(
        None,
        0,
        vec![
            0x65, 0x60, 0, 0x60, 0, 0xa0, 0, 0x60, 0, 0x52, 0x60, 6, 0x60, 0x1a, 0xf3,
        ],
    );
    assert!(r.receipt.status());
    let created = r.contract_address.unwrap();
    assert_eq!(created, who.create(8));
    let r = send(Some(created), 0, vec![]);
    assert_eq!(
        r.receipt.logs().len(),
        1,
        "the impersonated call's logs are the receipt's"
    );
    // An impersonated transaction the chain refuses (funds) is mined with status 0, changing
    // nothing but the authority's nonce.
    let poor = Address::repeat_byte(0x44);
    let raw = chain
        .impersonated_tx(IDevEdits::impersonateCall {
            from: poor,
            to: addr(1),
            create: false,
            value: U256::from(1),
            data: Bytes::new(),
            gasLimit: 21_000,
            nonce: 0,
        })
        .unwrap();
    let (hash, _) = chain.submit(&raw).unwrap();
    assert!(!chain.receipt(&hash).unwrap().unwrap().receipt.status());
    assert_eq!(chain.nonce(&poor, None).unwrap(), 0);

    // Every block replays to the same hash on a second node.
    let follower = replay(&chain, genesis());
    assert_eq!(follower.head().hash, chain.head().hash);
    assert_eq!(follower.nonce(&who, None).unwrap(), 10);
}

#[test]
fn without_an_authority_in_genesis_there_are_no_edits() {
    let mut g = genesis();
    g.alloc.remove(&DEV_EDITS_ADDRESS);
    let chain = Chain::open_in_memory(g.clone(), runtime()).unwrap();
    let edit = IDevEditsCalls::setBalance(IDevEdits::setBalanceCall {
        account: addr(1),
        balance: U256::ZERO,
    });
    assert!(matches!(
        chain.dev_edit(edit.clone()),
        Err(ChainError::DevEditsDisabled)
    ));
    // The same transaction, signed with the (public) edit key and sent anyway: a plain call.
    let authority = address_of_key(&DEV_EDITS_KEY).unwrap();
    assert!(chain.balance(&authority, None).unwrap() > U256::ZERO);
    let tx = TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: 100_000,
        max_fee_per_gas: 10 * GWEI,
        max_priority_fee_per_gas: GWEI,
        to: TxKind::Call(DEV_EDITS_ADDRESS),
        input: prova_chain::dev_edits::edit_calldata(&edit),
        ..Default::default()
    };
    let raw = sign_tx(tx, &DEV_EDITS_KEY).unwrap().encoded_2718();
    let (hash, _) = chain.submit(&raw).unwrap();
    assert!(chain.receipt(&hash).unwrap().unwrap().receipt.status());
    assert!(
        chain.balance(&addr(1), None).unwrap() > U256::ZERO,
        "no edit was applied"
    );
}
