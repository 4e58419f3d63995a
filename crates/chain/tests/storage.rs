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
