//! [`Node`]: the chain behind a mutex, the pool of pending transactions (interval mining) and
//! the model store, shared by every request.

use crate::{Mining, RpcError, error};
use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, Bytes};
use jsonrpsee::types::ErrorObjectOwned;
use prova_chain::{Chain, MODELS_DIR, SignedTx};
use prova_model::{ModelId, ModelInfo, ModelStore};
use std::{
    collections::BTreeMap,
    path::Path,
    sync::{Mutex, MutexGuard},
};

/// Shared node state.
#[derive(Debug)]
pub struct Node {
    chain: Mutex<Chain>,
    pending: Mutex<Vec<SignedTx>>,
    models: ModelStore,
    infos: Mutex<BTreeMap<ModelId, ModelInfo>>,
    mining: Mining,
}

type RpcResult<T> = Result<T, ErrorObjectOwned>;

fn lock<T>(m: &Mutex<T>) -> RpcResult<MutexGuard<'_, T>> {
    m.lock().map_err(|_| error::internal("a request panicked"))
}

impl Node {
    pub(crate) fn new(chain: Chain, datadir: &Path, mining: Mining) -> Result<Self, RpcError> {
        Ok(Self {
            chain: Mutex::new(chain),
            pending: Mutex::new(Vec::new()),
            models: ModelStore::open(datadir.join(MODELS_DIR))?,
            infos: Mutex::new(BTreeMap::new()),
            mining,
        })
    }

    /// The chain, locked.
    pub fn chain(&self) -> RpcResult<MutexGuard<'_, Chain>> {
        lock(&self.chain)
    }

    /// Accepts a raw transaction: mined at once (automine) or pooled (interval mining).
    pub fn send_raw(&self, raw: &Bytes) -> RpcResult<B256> {
        match self.mining {
            Mining::ReadOnly => Err(error::server(
                "this node is a read-only validator: send transactions to the block producer",
            )),
            Mining::Auto => {
                let mut chain = self.chain()?;
                let (block, hash) = chain.submit(raw).map_err(error::chain_error)?;
                tracing::info!("block {block}: transaction {hash}");
                Ok(hash)
            }
            Mining::Interval(_) => {
                let tx = SignedTx::decode(raw).map_err(|e| error::tx_error(&e))?;
                let chain = self.chain()?;
                tx.check_chain_id(chain.chain_id())
                    .map_err(|e| error::tx_error(&e))?;
                let hash = tx.hash();
                let mut pending = lock(&self.pending)?;
                let known = chain
                    .transaction(&hash)
                    .map_err(error::chain_error)?
                    .is_some()
                    || pending.iter().any(|p| p.hash() == hash);
                if known {
                    return Err(error::server("already known"));
                }
                let expected = chain.state().nonce(&tx.sender)
                    + pending.iter().filter(|p| p.sender == tx.sender).count() as u64;
                let got = tx.envelope.nonce();
                if got < expected {
                    return Err(error::tx_error(&prova_chain::TxError::NonceTooLow {
                        expected,
                        got,
                    }));
                }
                pending.push(tx);
                Ok(hash)
            }
        }
    }

    /// Interval mining: builds one block from the pending transactions.
    pub fn mine_pending(&self) -> Result<(), prova_chain::ChainError> {
        let txs: Vec<Bytes> = match self.pending.lock() {
            Ok(mut p) => std::mem::take(&mut *p).iter().map(SignedTx::raw).collect(),
            Err(_) => return Err(prova_chain::ChainError::Execution("pool poisoned".into())),
        };
        let mut chain = self
            .chain
            .lock()
            .map_err(|_| prova_chain::ChainError::Execution("chain lock poisoned".into()))?;
        let (block, errors) = chain.build_block(&txs)?;
        tracing::info!(
            "block {}: {} transactions",
            block.header.number,
            txs.len() - errors.len()
        );
        for (i, e) in errors {
            tracing::warn!(
                "block {}: transaction {i} dropped: {e}",
                block.header.number
            );
        }
        Ok(())
    }

    /// Pending transactions sent by `sender`.
    pub fn pending_count(&self, sender: &Address) -> RpcResult<u64> {
        Ok(lock(&self.pending)?
            .iter()
            .filter(|p| &p.sender == sender)
            .count() as u64)
    }

    /// The facts of a registered model, `None` if `id` is not registered.
    pub fn model_info(&self, id: &ModelId) -> RpcResult<Option<ModelInfo>> {
        if let Some(info) = lock(&self.infos)?.get(id) {
            return Ok(Some(info.clone()));
        }
        let registered = {
            let chain = self.chain()?;
            chain.state().storage(
                &prova_precompile::MODEL_REGISTRY_ADDRESS,
                prova_precompile::model_slot(id),
            ) == prova_precompile::REGISTERED
        };
        if !registered {
            return Ok(None);
        }
        let bytes = self.models.get(id).map_err(error::internal)?;
        let model = prova_model::admit(&bytes, &prova_model::Limits::DEFAULT)
            .map_err(|e| error::internal(format!("stored model {id} no longer admits: {e}")))?;
        lock(&self.infos)?.insert(*id, model.info.clone());
        Ok(Some(model.info))
    }
}
