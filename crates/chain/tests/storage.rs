//! Contract storage through blocks and restarts: slots written, cleared, persisted, and the
//! state root recomputed from what was reloaded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

/// Creation code of a contract whose runtime code (`calldataload(0)` into slot 0) is
/// `60 00 35 5f 55 00`.
const STORE_SLOT0: [u8; 16] = [
    0x60, 0x06, 0x60, 0x0a, 0x5f, 0x39, 0x60, 0x06, 0x5f, 0xf3, // copy and return the runtime
    0x60, 0x00, 0x35, 0x5f, 0x55, 0x00,
];

#[test]
fn storage_slots_persist_clear_and_match_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let contract;
    let root_with_value;
    {
        let chain = open(dir.path());
        let r = send(&chain, 4, TxKind::Create, STORE_SLOT0.to_vec(), 100_000);
        assert!(r.receipt.status());
        contract = r.contract_address.unwrap();
        assert_eq!(contract, addr(4).create(0));
        assert_eq!(
            chain.code(&contract, None).unwrap().as_ref(),
            &STORE_SLOT0[10..]
        );
        let empty_root = chain.head().header.state_root;

        let five = U256::from(5).to_be_bytes::<32>().to_vec();
        assert!(
            send(&chain, 4, TxKind::Call(contract), five, 100_000)
                .receipt
                .status()
        );
        assert_eq!(
            chain.storage(&contract, U256::ZERO, None).unwrap(),
            U256::from(5)
        );
        root_with_value = chain.head().header.state_root;
        assert_ne!(root_with_value, empty_root);
    }
    {
        let chain = open(dir.path());
        assert_eq!(
            chain.storage(&contract, U256::ZERO, None).unwrap(),
            U256::from(5)
        );
        assert_eq!(chain.state().state_root(), root_with_value);
        assert_eq!(chain.state().accounts[&contract].storage.len(), 1);
        // Writing zero deletes the slot.
        let zero = vec![0u8; 32];
        assert!(
            send(&chain, 4, TxKind::Call(contract), zero, 100_000)
                .receipt
                .status()
        );
        assert!(chain.state().accounts[&contract].storage.is_empty());
        assert_eq!(chain.state().state_root(), chain.head().header.state_root);
    }
    let chain = open(dir.path());
    assert!(chain.state().accounts[&contract].storage.is_empty());
    assert_eq!(
        chain.storage(&contract, U256::ZERO, None).unwrap(),
        U256::ZERO
    );
    assert_eq!(chain.state().state_root(), chain.head().header.state_root);
    assert_eq!(chain.nonce(&addr(4), None).unwrap(), 3);
}

#[test]
fn eip1186_proofs_verify_against_the_state_root() {
    use alloy_trie::{Nibbles, TrieAccount, proof::verify_proof};
    let dir = tempfile::tempdir().unwrap();
    let chain = open(dir.path());
    chain
        .submit(&tx1559(
            0,
            0,
            TxKind::Call(addr(1)),
            U256::from(1),
            vec![],
            21_000,
        ))
        .unwrap();
    let root = chain.head().header.state_root;
    let registry = MODEL_REGISTRY_ADDRESS;
    let slot = B256::from(prova_precompile::model_slot(&ModelId::of(&model_bytes(
        "digits_mlp",
    ))));
    let empty_slot = B256::repeat_byte(0x11);
    let nobody = Address::repeat_byte(0x77);
    for (address, slots) in [
        (addr(0), vec![]),
        (registry, vec![slot, empty_slot]),
        (nobody, vec![slot]),
    ] {
        let p = chain.proof(address, &slots, None).unwrap();
        let account = chain.state().accounts.get(&address).cloned();
        let expected = account.as_ref().map(|a| {
            alloy_rlp::encode(TrieAccount {
                nonce: a.nonce,
                balance: a.balance,
                storage_root: a.storage_root(),
                code_hash: a.code_hash,
            })
        });
        verify_proof(
            root,
            Nibbles::unpack(keccak256(address)),
            expected,
            &p.account_proof,
        )
        .unwrap_or_else(|e| panic!("account {address}: {e}"));
        for (key, value, proof) in &p.storage_proof {
            let expected = (!value.is_zero()).then(|| alloy_rlp::encode_fixed_size(value).to_vec());
            verify_proof(
                p.storage_hash,
                Nibbles::unpack(keccak256(key)),
                expected,
                proof,
            )
            .unwrap_or_else(|e| panic!("slot {key} of {address}: {e}"));
        }
    }
    // The registry's slot for a preloaded model holds REGISTERED.
    let p = chain.proof(registry, &[slot], None).unwrap();
    assert_eq!(p.storage_proof[0].1, prova_precompile::REGISTERED);
    // A past block's proof is against that block's root.
    let old = chain.proof(addr(1), &[], Some(0)).unwrap();
    assert_eq!(
        old.balance + U256::from(1),
        chain.balance(&addr(1), None).unwrap()
    );
}
