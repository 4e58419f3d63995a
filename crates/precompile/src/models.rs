//! Where model bytes live: outside EVM state, content-addressed by [`ModelId`].

use crate::ProvaError;
use prova_model::{ModelId, ModelStore};
use std::{collections::BTreeMap, sync::Arc};

/// The node-local home of deployed model bytes. Which models *exist* is chain state (the
/// registry account's storage); this only holds the bytes, so a model present here but not
/// registered on chain is still unknown to INFER.
#[derive(Debug)]
pub enum ModelBytes {
    /// In memory (tests, `eth_call` sandboxes, dev chains).
    Memory(BTreeMap<ModelId, Arc<[u8]>>),
    /// On disk.
    Store(ModelStore),
}

impl Default for ModelBytes {
    fn default() -> Self {
        Self::Memory(BTreeMap::new())
    }
}

impl ModelBytes {
    /// Keeps `bytes`, returning their id.
    pub fn put(&mut self, bytes: &[u8]) -> Result<ModelId, ProvaError> {
        match self {
            Self::Memory(map) => {
                let id = ModelId::of(bytes);
                map.entry(id).or_insert_with(|| Arc::from(bytes));
                Ok(id)
            }
            Self::Store(store) => Ok(store.put(bytes)?),
        }
    }

    /// The bytes of `id`. A missing model is a local fault ([`ProvaError::MissingBytes`]).
    pub fn get(&self, id: &ModelId) -> Result<Arc<[u8]>, ProvaError> {
        match self {
            Self::Memory(map) => map.get(id).cloned().ok_or(ProvaError::MissingBytes(*id)),
            Self::Store(store) => match store.get(id) {
                Ok(b) => Ok(Arc::from(b)),
                Err(prova_model::StoreError::NotFound(id)) => Err(ProvaError::MissingBytes(id)),
                Err(e) => Err(e.into()),
            },
        }
    }
}
