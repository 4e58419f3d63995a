//! Where model bytes live: outside EVM state, content-addressed by [`ModelId`]; and the chunks
//! of staged uploads, content-addressed by their keccak256.

use crate::ProvaError;
use prova_model::{ModelId, ModelStore, StoreError};
use revm::primitives::{B256, keccak256};
use std::{collections::BTreeMap, sync::Arc};

/// The node-local home of deployed model bytes and of upload chunks. Which models *exist* is
/// chain state (the registry account's storage); this only holds the bytes, so a model present
/// here but not registered on chain is still unknown to INFER. Likewise a chunk is part of an
/// upload only once the registry's storage records its hash.
#[derive(Debug)]
pub enum ModelBytes {
    /// In memory (tests, `eth_call` sandboxes, dev chains).
    Memory {
        /// Models by id.
        models: BTreeMap<ModelId, Arc<[u8]>>,
        /// Upload chunks by keccak256.
        chunks: BTreeMap<B256, Arc<[u8]>>,
    },
    /// On disk.
    Store(ModelStore),
}

impl Default for ModelBytes {
    fn default() -> Self {
        Self::Memory {
            models: BTreeMap::new(),
            chunks: BTreeMap::new(),
        }
    }
}

impl ModelBytes {
    /// Keeps `bytes`, returning their id.
    pub fn put(&mut self, bytes: &[u8]) -> Result<ModelId, ProvaError> {
        match self {
            Self::Memory { models, .. } => {
                let id = ModelId::of(bytes);
                models.entry(id).or_insert_with(|| Arc::from(bytes));
                Ok(id)
            }
            Self::Store(store) => Ok(store.put(bytes)?),
        }
    }

    /// Keeps `bytes` under `id`, which the caller has just computed as their keccak256
    /// (admission does), without hashing them again.
    pub fn put_as(&mut self, id: &ModelId, bytes: &[u8]) -> Result<(), ProvaError> {
        match self {
            Self::Memory { models, .. } => {
                models.entry(*id).or_insert_with(|| Arc::from(bytes));
                Ok(())
            }
            Self::Store(store) => Ok(store.put_as(id, bytes)?),
        }
    }

    /// The bytes of `id`. A missing model is a local fault ([`ProvaError::MissingBytes`]).
    pub fn get(&self, id: &ModelId) -> Result<Arc<[u8]>, ProvaError> {
        match self {
            Self::Memory { models, .. } => {
                models.get(id).cloned().ok_or(ProvaError::MissingBytes(*id))
            }
            Self::Store(store) => match store.get(id) {
                Ok(b) => Ok(Arc::from(b)),
                Err(StoreError::NotFound(id)) => Err(ProvaError::MissingBytes(id)),
                Err(e) => Err(e.into()),
            },
        }
    }

    /// Keeps an upload chunk, returning its keccak256 (written durably before it returns).
    pub fn put_chunk(&mut self, bytes: &[u8]) -> Result<B256, ProvaError> {
        match self {
            Self::Memory { chunks, .. } => {
                let hash = keccak256(bytes);
                chunks.entry(hash).or_insert_with(|| Arc::from(bytes));
                Ok(hash)
            }
            Self::Store(store) => Ok(store.put_chunk(bytes)?),
        }
    }

    /// The upload chunk whose keccak256 is `hash`, verified (a corrupt file is
    /// [`StoreError::CorruptChunk`]). A missing chunk is a local fault
    /// ([`ProvaError::MissingChunk`]).
    pub fn get_chunk(&self, hash: &B256) -> Result<Arc<[u8]>, ProvaError> {
        self.chunk(hash, true)
    }

    /// The upload chunk stored as `hash`, **not** verified: for a caller that checks the hash
    /// of what it builds from the chunks, and calls [`get_chunk`](Self::get_chunk) on each to
    /// find a corrupt one when that check fails.
    pub fn read_chunk(&self, hash: &B256) -> Result<Arc<[u8]>, ProvaError> {
        self.chunk(hash, false)
    }

    fn chunk(&self, hash: &B256, verify: bool) -> Result<Arc<[u8]>, ProvaError> {
        match self {
            Self::Memory { chunks, .. } => chunks
                .get(hash)
                .cloned()
                .ok_or(ProvaError::MissingChunk(*hash)),
            Self::Store(store) => {
                let read = if verify {
                    store.get_chunk(hash)
                } else {
                    store.read_chunk(hash)
                };
                match read {
                    Ok(b) => Ok(Arc::from(b)),
                    Err(StoreError::ChunkNotFound(hash)) => Err(ProvaError::MissingChunk(hash)),
                    Err(e) => Err(e.into()),
                }
            }
        }
    }
}
