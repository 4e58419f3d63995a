//! [`ChainStore`]: the chain in redb. Every block (header, body, receipts, witness, tx lookup,
//! state diff and the head pointer) is written in **one write transaction**, so a crash leaves
//! the last committed block intact and nothing half-written. Model bytes live beside the
//! database in a content-addressed [`prova_model::ModelStore`] (written, fsynced and renamed
//! before the block that registers them commits; a model file whose block never committed is
//! harmless, since only the registry's storage makes a model exist).

use crate::{
    BlockWithWitness, ChainError, ExecutedBlock, Genesis, InferenceRecord, StateDiff, WorldState,
    state::AccountState,
};
use alloy_consensus::{Header, ReceiptEnvelope};
use alloy_eips::{Decodable2718, Encodable2718};
use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_rlp::Decodable;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use std::path::Path;

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const NUMBERS: TableDefinition<&[u8], u64> = TableDefinition::new("numbers_by_hash");
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
const TX_LOOKUP: TableDefinition<&[u8], (u64, u64)> = TableDefinition::new("tx_lookup");
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
const WITNESS: TableDefinition<u64, &[u8]> = TableDefinition::new("witness");

const HEAD: &str = "head";
const GENESIS: &str = "genesis";
const GENESIS_SPEC: &str = "genesis_spec";

fn db(e: impl Into<redb::Error>) -> ChainError {
    ChainError::db(e)
}

fn rlp<T: Decodable>(mut bytes: &[u8], what: &str) -> Result<T, ChainError> {
    T::decode(&mut bytes).map_err(|e| ChainError::corrupt(format!("{what}: {e}")))
}

fn list<T: alloy_rlp::Encodable>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    alloy_rlp::encode_list(items, &mut out);
    out
}

fn encode_account(a: &AccountState) -> [u8; 72] {
    let mut out = [0u8; 72];
    out[..8].copy_from_slice(&a.nonce.to_be_bytes());
    out[8..40].copy_from_slice(&a.balance.to_be_bytes::<32>());
    out[40..].copy_from_slice(a.code_hash.as_slice());
    out
}

fn decode_account(b: &[u8]) -> Result<AccountState, ChainError> {
    if b.len() != 72 {
        return Err(ChainError::corrupt("account record length"));
    }
    let mut nonce = [0u8; 8];
    nonce.copy_from_slice(&b[..8]);
    Ok(AccountState {
        nonce: u64::from_be_bytes(nonce),
        balance: U256::from_be_slice(&b[8..40]),
        code_hash: B256::from_slice(&b[40..]),
        storage: Default::default(),
    })
}

fn slot_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(address.as_slice());
    k[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    k
}

/// The persistent chain: blocks, receipts, witnesses, tx lookup and the head state.
#[derive(Debug)]
pub struct ChainStore {
    db: Database,
}

impl ChainStore {
    /// Opens (or creates) the database file `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ChainError> {
        let path = path.as_ref();
        let database = Database::create(path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => ChainError::InUse(path.to_path_buf()),
            e => db(e),
        })?;
        Self::with_database(database)
    }

    /// A database in memory (replay into a throwaway chain).
    pub fn in_memory() -> Result<Self, ChainError> {
        let database = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(db)?;
        Self::with_database(database)
    }

    fn with_database(database: Database) -> Result<Self, ChainError> {
        let tx = database.begin_write().map_err(db)?;
        {
            // Create every table so readers never see a missing one.
            tx.open_table(META).map_err(db)?;
            tx.open_table(HEADERS).map_err(db)?;
            tx.open_table(NUMBERS).map_err(db)?;
            tx.open_table(BODIES).map_err(db)?;
            tx.open_table(RECEIPTS).map_err(db)?;
            tx.open_table(TX_LOOKUP).map_err(db)?;
            tx.open_table(ACCOUNTS).map_err(db)?;
            tx.open_table(STORAGE).map_err(db)?;
            tx.open_table(CODE).map_err(db)?;
            tx.open_table(WITNESS).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(Self { db: database })
    }

    /// Number of the last committed block, `None` for an empty database.
    pub fn head(&self) -> Result<Option<u64>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        match meta.get(HEAD).map_err(db)? {
            None => Ok(None),
            Some(v) => {
                let bytes: [u8; 8] = v
                    .value()
                    .try_into()
                    .map_err(|_| ChainError::corrupt("head pointer"))?;
                Ok(Some(u64::from_be_bytes(bytes)))
            }
        }
    }

    /// Hash of the genesis block this database was created with.
    pub fn genesis_hash(&self) -> Result<Option<B256>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        Ok(meta
            .get(GENESIS)
            .map_err(db)?
            .map(|v| B256::from_slice(v.value())))
    }

    /// The genesis this database was created with (its JSON form, kept at creation).
    pub fn genesis(&self) -> Result<Option<Genesis>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let meta = tx.open_table(META).map_err(db)?;
        let Some(v) = meta.get(GENESIS_SPEC).map_err(db)? else {
            return Ok(None);
        };
        let json: serde_json::Value = serde_json::from_slice(v.value())
            .map_err(|e| ChainError::corrupt(format!("stored genesis: {e}")))?;
        Genesis::from_json(&json)
            .map(Some)
            .map_err(|e| ChainError::corrupt(format!("stored {e}")))
    }

    /// Records `genesis` (whose hash the caller checked against block 0).
    pub(crate) fn record_genesis(&self, genesis: &Genesis) -> Result<(), ChainError> {
        let tx = self.db.begin_write().map_err(db)?;
        Self::write_genesis_spec(&tx, genesis)?;
        tx.commit().map_err(db)
    }

    fn write_genesis_spec(tx: &WriteTransaction, genesis: &Genesis) -> Result<(), ChainError> {
        let spec = serde_json::to_vec(&genesis.to_json())
            .map_err(|e| ChainError::Execution(format!("genesis JSON: {e}")))?;
        tx.open_table(META)
            .map_err(db)?
            .insert(GENESIS_SPEC, spec.as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// Commits block 0 of `genesis` (whose header is `header`, hash `hash`, state `state`).
    pub fn commit_genesis(
        &self,
        genesis: &Genesis,
        header: &Header,
        hash: B256,
        state: &WorldState,
    ) -> Result<(), ChainError> {
        let mut diff = StateDiff::default();
        for (address, account) in &state.accounts {
            diff.accounts.insert(*address, Some(account.clone()));
            for (slot, value) in &account.storage {
                diff.slots.insert((*address, *slot), *value);
            }
        }
        diff.codes = state.codes.clone();
        let tx = self.db.begin_write().map_err(db)?;
        tx.open_table(META)
            .map_err(db)?
            .insert(GENESIS, hash.as_slice())
            .map_err(db)?;
        Self::write_genesis_spec(&tx, genesis)?;
        Self::write_block(&tx, header, hash, &[], &[], &[], &[], &diff)?;
        tx.commit().map_err(db)
    }

    /// Commits an executed block in one write transaction.
    pub fn commit_block(&self, block: &ExecutedBlock) -> Result<(), ChainError> {
        let raw: Vec<Bytes> = block.txs.iter().map(|t| t.tx.raw()).collect();
        let hashes: Vec<B256> = block.txs.iter().map(|t| t.tx.hash()).collect();
        let receipts: Vec<Bytes> = block
            .txs
            .iter()
            .map(|t| t.receipt.encoded_2718().into())
            .collect();
        let tx = self.db.begin_write().map_err(db)?;
        Self::write_block(
            &tx,
            &block.header,
            block.hash,
            &raw,
            &hashes,
            &receipts,
            &block.witness,
            &block.diff,
        )?;
        tx.commit().map_err(db)
    }

    #[allow(clippy::too_many_arguments)]
    fn write_block(
        tx: &WriteTransaction,
        header: &Header,
        hash: B256,
        raw_txs: &[Bytes],
        tx_hashes: &[B256],
        receipts: &[Bytes],
        witness: &[InferenceRecord],
        diff: &StateDiff,
    ) -> Result<(), ChainError> {
        let n = header.number;
        tx.open_table(HEADERS)
            .map_err(db)?
            .insert(n, alloy_rlp::encode(header).as_slice())
            .map_err(db)?;
        tx.open_table(NUMBERS)
            .map_err(db)?
            .insert(hash.as_slice(), n)
            .map_err(db)?;
        tx.open_table(BODIES)
            .map_err(db)?
            .insert(n, list(raw_txs).as_slice())
            .map_err(db)?;
        tx.open_table(RECEIPTS)
            .map_err(db)?
            .insert(n, list(receipts).as_slice())
            .map_err(db)?;
        tx.open_table(WITNESS)
            .map_err(db)?
            .insert(n, list(witness).as_slice())
            .map_err(db)?;
        {
            let mut lookup = tx.open_table(TX_LOOKUP).map_err(db)?;
            for (i, h) in tx_hashes.iter().enumerate() {
                lookup.insert(h.as_slice(), (n, i as u64)).map_err(db)?;
            }
        }
        {
            let mut storage = tx.open_table(STORAGE).map_err(db)?;
            for address in &diff.wiped {
                let lo = slot_key(address, &U256::ZERO);
                let hi = slot_key(address, &U256::MAX);
                storage
                    .retain_in(lo.as_slice()..=hi.as_slice(), |_, _| false)
                    .map_err(db)?;
            }
            for ((address, slot), value) in &diff.slots {
                let key = slot_key(address, slot);
                if value.is_zero() {
                    storage.remove(key.as_slice()).map_err(db)?;
                } else {
                    storage
                        .insert(key.as_slice(), value.to_be_bytes::<32>().as_slice())
                        .map_err(db)?;
                }
            }
        }
        {
            let mut accounts = tx.open_table(ACCOUNTS).map_err(db)?;
            for (address, account) in &diff.accounts {
                match account {
                    Some(a) => {
                        accounts
                            .insert(address.as_slice(), encode_account(a).as_slice())
                            .map_err(db)?;
                    }
                    None => {
                        accounts.remove(address.as_slice()).map_err(db)?;
                    }
                }
            }
        }
        {
            let mut code = tx.open_table(CODE).map_err(db)?;
            for (h, c) in &diff.codes {
                code.insert(h.as_slice(), c.as_ref()).map_err(db)?;
            }
        }
        tx.open_table(META)
            .map_err(db)?
            .insert(HEAD, n.to_be_bytes().as_slice())
            .map_err(db)?;
        Ok(())
    }

    /// Rewinds the chain to block `number` (dev chains: `evm_revert`), whose whole state is
    /// `state`: every later block (header, body, receipts, witness, transaction lookups) is
    /// removed and the state tables rewritten, in one write transaction.
    pub fn rewind(&self, number: u64, state: &WorldState) -> Result<(), ChainError> {
        let head = self.head()?.unwrap_or_default();
        let tx = self.db.begin_write().map_err(db)?;
        for n in number.saturating_add(1)..=head {
            let Some(header) = tx
                .open_table(HEADERS)
                .map_err(db)?
                .remove(n)
                .map_err(db)?
                .map(|v| v.value().to_vec())
            else {
                continue;
            };
            let header: Header = rlp(&header, "header")?;
            tx.open_table(NUMBERS)
                .map_err(db)?
                .remove(header.hash_slow().as_slice())
                .map_err(db)?;
            let body = tx
                .open_table(BODIES)
                .map_err(db)?
                .remove(n)
                .map_err(db)?
                .map(|v| v.value().to_vec());
            if let Some(body) = body {
                let raw: Vec<Bytes> = rlp(&body, "body")?;
                let mut lookup = tx.open_table(TX_LOOKUP).map_err(db)?;
                for r in raw {
                    lookup
                        .remove(alloy_primitives::keccak256(&r).as_slice())
                        .map_err(db)?;
                }
            }
            tx.open_table(RECEIPTS).map_err(db)?.remove(n).map_err(db)?;
            tx.open_table(WITNESS).map_err(db)?.remove(n).map_err(db)?;
        }
        tx.open_table(ACCOUNTS)
            .map_err(db)?
            .retain(|_, _| false)
            .map_err(db)?;
        tx.open_table(STORAGE)
            .map_err(db)?
            .retain(|_, _| false)
            .map_err(db)?;
        {
            let mut accounts = tx.open_table(ACCOUNTS).map_err(db)?;
            for (address, a) in &state.accounts {
                accounts
                    .insert(address.as_slice(), encode_account(a).as_slice())
                    .map_err(db)?;
            }
            let mut storage = tx.open_table(STORAGE).map_err(db)?;
            for (address, a) in &state.accounts {
                for (slot, value) in &a.storage {
                    storage
                        .insert(
                            slot_key(address, slot).as_slice(),
                            value.to_be_bytes::<32>().as_slice(),
                        )
                        .map_err(db)?;
                }
            }
        }
        // Code is content-addressed: what later blocks added is harmless and stays.
        tx.open_table(META)
            .map_err(db)?
            .insert(HEAD, number.to_be_bytes().as_slice())
            .map_err(db)?;
        tx.commit().map_err(db)
    }

    /// The whole head state, with the hashes of the last 256 blocks.
    pub fn load_state(&self) -> Result<WorldState, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let mut state = WorldState::default();
        for row in tx.open_table(ACCOUNTS).map_err(db)?.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            state
                .accounts
                .insert(Address::from_slice(k.value()), decode_account(v.value())?);
        }
        for row in tx.open_table(STORAGE).map_err(db)?.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            let k = k.value();
            let address = Address::from_slice(&k[..20]);
            let account = state
                .accounts
                .get_mut(&address)
                .ok_or_else(|| ChainError::corrupt("storage of a missing account"))?;
            account.storage.insert(
                U256::from_be_slice(&k[20..]),
                U256::from_be_slice(v.value()),
            );
        }
        for row in tx.open_table(CODE).map_err(db)?.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            state.codes.insert(
                B256::from_slice(k.value()),
                Bytes::copy_from_slice(v.value()),
            );
        }
        if let Some(head) = self.head()? {
            for n in head.saturating_sub(255)..=head {
                if let Some(h) = self.header(n)? {
                    state.block_hashes.insert(n, h.hash_slow());
                }
            }
        }
        Ok(state)
    }

    /// Block `n` with its raw transactions and witness.
    pub fn block_with_witness(&self, n: u64) -> Result<Option<BlockWithWitness>, ChainError> {
        let Some(header) = self.header(n)? else {
            return Ok(None);
        };
        let transactions = self.body(n)?.unwrap_or_default();
        let witness = self.witness(n)?.unwrap_or_default();
        Ok(Some(BlockWithWitness::new(header, transactions, witness)))
    }

    /// Header of block `n`.
    pub fn header(&self, n: u64) -> Result<Option<Header>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(HEADERS).map_err(db)?;
        t.get(n)
            .map_err(db)?
            .map(|v| rlp(v.value(), "header"))
            .transpose()
    }

    /// Number of the block with hash `hash`.
    pub fn number_of(&self, hash: &B256) -> Result<Option<u64>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(NUMBERS).map_err(db)?;
        Ok(t.get(hash.as_slice()).map_err(db)?.map(|v| v.value()))
    }

    /// Raw (EIP-2718) transactions of block `n`.
    pub fn body(&self, n: u64) -> Result<Option<Vec<Bytes>>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(BODIES).map_err(db)?;
        t.get(n)
            .map_err(db)?
            .map(|v| rlp(v.value(), "body"))
            .transpose()
    }

    /// Receipts of block `n`.
    pub fn receipts(&self, n: u64) -> Result<Option<Vec<ReceiptEnvelope>>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(RECEIPTS).map_err(db)?;
        let Some(v) = t.get(n).map_err(db)? else {
            return Ok(None);
        };
        let raw: Vec<Bytes> = rlp(v.value(), "receipts")?;
        raw.iter()
            .map(|r| {
                ReceiptEnvelope::decode_2718(&mut r.as_ref())
                    .map_err(|e| ChainError::corrupt(format!("receipt: {e}")))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// Inference witness of block `n`.
    pub fn witness(&self, n: u64) -> Result<Option<Vec<InferenceRecord>>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(WITNESS).map_err(db)?;
        t.get(n)
            .map_err(db)?
            .map(|v| rlp(v.value(), "witness"))
            .transpose()
    }

    /// `(block number, index)` of the transaction with hash `hash`.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<(u64, u64)>, ChainError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = tx.open_table(TX_LOOKUP).map_err(db)?;
        Ok(t.get(hash.as_slice()).map_err(db)?.map(|v| v.value()))
    }
}
