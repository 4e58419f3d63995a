//! World state in memory: accounts, storage and code in `BTreeMap`s (deterministic order),
//! revm's [`DatabaseRef`] over it, the application of a transaction's changes, and the
//! Ethereum state root.
//!
//! The node keeps the state of its head block only; [`ChainStore`](crate::ChainStore) persists
//! it and [`WorldState::apply`] reports what changed, so a block writes only its diff.

use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, U256, keccak256};
use alloy_trie::TrieAccount;
use revm::{
    bytecode::Bytecode,
    database::DatabaseRef,
    state::{AccountInfo, EvmState},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    convert::Infallible,
};

/// One account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountState {
    /// Nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the code ([`KECCAK256_EMPTY`] for none).
    pub code_hash: B256,
    /// Non-zero storage slots.
    pub storage: BTreeMap<U256, U256>,
}

impl AccountState {
    /// An externally owned account holding `balance`.
    pub fn with_balance(balance: U256) -> Self {
        Self {
            balance,
            code_hash: KECCAK256_EMPTY,
            ..Self::default()
        }
    }

    /// Storage root of this account.
    pub fn storage_root(&self) -> B256 {
        alloy_trie::root::storage_root_unhashed(
            self.storage.iter().map(|(k, v)| (B256::from(*k), *v)),
        )
    }
}

/// What one or more transactions changed, for the store.
#[derive(Debug, Clone, Default)]
pub struct StateDiff {
    /// Accounts written (nonce, balance, code hash; `storage` left empty) or deleted (`None`).
    pub accounts: BTreeMap<Address, Option<AccountState>>,
    /// Accounts whose whole storage was wiped (self-destructed, deleted or re-created).
    pub wiped: BTreeSet<Address>,
    /// Slots written (zero means deleted).
    pub slots: BTreeMap<(Address, U256), U256>,
    /// New code by hash.
    pub codes: BTreeMap<B256, Bytes>,
}

/// Accounts, storage and code of the head block.
#[derive(Debug, Clone, Default)]
pub struct WorldState {
    /// Accounts by address.
    pub accounts: BTreeMap<Address, AccountState>,
    /// Code by hash.
    pub codes: BTreeMap<B256, Bytes>,
    /// Hashes of recent blocks by number (for `BLOCKHASH`).
    pub block_hashes: BTreeMap<u64, B256>,
}

impl WorldState {
    /// The Ethereum state root: the secure trie of `keccak(address) -> rlp(account)`.
    pub fn state_root(&self) -> B256 {
        alloy_trie::root::state_root_unhashed(self.accounts.iter().map(|(address, a)| {
            (
                *address,
                TrieAccount {
                    nonce: a.nonce,
                    balance: a.balance,
                    storage_root: a.storage_root(),
                    code_hash: a.code_hash,
                },
            )
        }))
    }

    /// Applies a transaction's changes (revm's [`EvmState`]) with Ethereum's rules: untouched
    /// accounts are skipped, self-destructed ones removed, touched empty ones removed
    /// (EIP-161), created ones start from empty storage. Records what changed in `diff`.
    pub fn apply(&mut self, changes: EvmState, diff: &mut StateDiff) {
        // Sorted, so that the diff (and anything derived from it) is deterministic.
        let changes: BTreeMap<_, _> = changes.into_iter().collect();
        for (address, account) in changes {
            if !account.is_touched() {
                continue;
            }
            if account.is_selfdestructed() || account.info.is_empty() {
                if self.accounts.remove(&address).is_some() || account.is_selfdestructed() {
                    diff.accounts.insert(address, None);
                    diff.wiped.insert(address);
                    diff.slots.retain(|(a, _), _| *a != address);
                }
                continue;
            }
            let entry = self.accounts.entry(address).or_default();
            if account.is_created() {
                if !entry.storage.is_empty() {
                    diff.wiped.insert(address);
                    diff.slots.retain(|(a, _), _| *a != address);
                }
                entry.storage.clear();
            }
            entry.nonce = account.info.nonce;
            entry.balance = account.info.balance;
            entry.code_hash = account.info.code_hash;
            if let Some(code) = &account.info.code
                && account.info.code_hash != KECCAK256_EMPTY
                && !self.codes.contains_key(&account.info.code_hash)
            {
                let bytes = code.original_bytes();
                self.codes.insert(account.info.code_hash, bytes.clone());
                diff.codes.insert(account.info.code_hash, bytes);
            }
            for (slot, value) in account.storage {
                if !value.is_changed() {
                    continue;
                }
                let v = value.present_value();
                if v.is_zero() {
                    entry.storage.remove(&slot);
                } else {
                    entry.storage.insert(slot, v);
                }
                diff.slots.insert((address, slot), v);
            }
            diff.accounts.insert(
                address,
                Some(AccountState {
                    nonce: entry.nonce,
                    balance: entry.balance,
                    code_hash: entry.code_hash,
                    storage: BTreeMap::new(),
                }),
            );
        }
    }

    /// Balance of `address` (zero if absent).
    pub fn balance(&self, address: &Address) -> U256 {
        self.accounts
            .get(address)
            .map(|a| a.balance)
            .unwrap_or_default()
    }

    /// Nonce of `address` (zero if absent).
    pub fn nonce(&self, address: &Address) -> u64 {
        self.accounts.get(address).map(|a| a.nonce).unwrap_or(0)
    }

    /// Code of `address` (empty if none).
    pub fn code(&self, address: &Address) -> Bytes {
        self.accounts
            .get(address)
            .and_then(|a| self.codes.get(&a.code_hash))
            .cloned()
            .unwrap_or_default()
    }

    /// Storage slot `slot` of `address`.
    pub fn storage(&self, address: &Address, slot: U256) -> U256 {
        self.accounts
            .get(address)
            .and_then(|a| a.storage.get(&slot))
            .copied()
            .unwrap_or_default()
    }
}

impl DatabaseRef for WorldState {
    type Error = Infallible;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.accounts.get(&address).map(|a| {
            let code = self
                .codes
                .get(&a.code_hash)
                .map(|c| Bytecode::new_raw(c.clone()));
            AccountInfo::new(a.balance, a.nonce, a.code_hash, code.unwrap_or_default())
        }))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        Ok(self
            .codes
            .get(&code_hash)
            .map(|c| Bytecode::new_raw(c.clone()))
            .unwrap_or_default())
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        Ok(self.storage(&address, index))
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        Ok(self.block_hashes.get(&number).copied().unwrap_or_default())
    }
}

/// keccak256 of `code`, [`KECCAK256_EMPTY`] for empty code.
pub fn code_hash(code: &[u8]) -> B256 {
    if code.is_empty() {
        KECCAK256_EMPTY
    } else {
        keccak256(code)
    }
}

/// An account with EIP-1186 Merkle proofs of it and of some of its storage slots, against the
/// state root ([`WorldState::proof`], `eth_getProof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountProof {
    /// The account.
    pub address: Address,
    /// Its balance (zero if absent).
    pub balance: U256,
    /// Its nonce.
    pub nonce: u64,
    /// Its code hash ([`KECCAK256_EMPTY`] if absent or without code).
    pub code_hash: B256,
    /// Its storage root.
    pub storage_hash: B256,
    /// The state trie's nodes on the path to the account, root first.
    pub account_proof: Vec<Bytes>,
    /// Per slot asked for: the slot, its value, and the storage trie's nodes on its path.
    pub storage_proof: Vec<(B256, U256, Vec<Bytes>)>,
}

/// The root of a secure trie of `leaves` (hashed key, RLP value) and the nodes on the path to
/// `target` (a hashed key), root first.
fn trie_proof(leaves: impl Iterator<Item = (B256, Vec<u8>)>, target: B256) -> (B256, Vec<Bytes>) {
    use alloy_trie::{HashBuilder, Nibbles, proof::ProofRetainer};
    let mut leaves: Vec<(Nibbles, Vec<u8>)> =
        leaves.map(|(k, v)| (Nibbles::unpack(k), v)).collect();
    leaves.sort_unstable_by_key(|(k, _)| *k);
    let target = Nibbles::unpack(target);
    let mut builder = HashBuilder::default().with_proof_retainer(ProofRetainer::new(vec![target]));
    for (key, value) in &leaves {
        builder.add_leaf(*key, value);
    }
    let root = builder.root();
    let proof = builder
        .take_proof_nodes()
        .matching_nodes_sorted(&target)
        .into_iter()
        .map(|(_, node)| node)
        .collect();
    (root, proof)
}

impl WorldState {
    /// EIP-1186 proofs of `address` and of its `slots` against [`Self::state_root`].
    pub fn proof(&self, address: Address, slots: &[B256]) -> AccountProof {
        let account = self.accounts.get(&address);
        let leaves = self.accounts.iter().map(|(a, acc)| {
            let trie = TrieAccount {
                nonce: acc.nonce,
                balance: acc.balance,
                storage_root: acc.storage_root(),
                code_hash: acc.code_hash,
            };
            (keccak256(a), alloy_rlp::encode(trie))
        });
        let (_, account_proof) = trie_proof(leaves, keccak256(address));
        let storage = account.map(|a| &a.storage);
        let storage_proof = slots
            .iter()
            .map(|slot| {
                let key = U256::from_be_bytes(slot.0);
                let value = storage
                    .and_then(|s| s.get(&key))
                    .copied()
                    .unwrap_or_default();
                let leaves = storage.into_iter().flatten().map(|(k, v)| {
                    (
                        keccak256(B256::from(*k)),
                        alloy_rlp::encode_fixed_size(v).to_vec(),
                    )
                });
                let (_, proof) = trie_proof(leaves, keccak256(slot));
                (*slot, value, proof)
            })
            .collect();
        AccountProof {
            address,
            balance: account.map(|a| a.balance).unwrap_or_default(),
            nonce: account.map(|a| a.nonce).unwrap_or_default(),
            code_hash: account.map_or(KECCAK256_EMPTY, |a| a.code_hash),
            storage_hash: account.map_or(alloy_trie::EMPTY_ROOT_HASH, AccountState::storage_root),
            account_proof,
            storage_proof,
        }
    }
}
