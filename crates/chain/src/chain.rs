//! [`Chain`]: the executor and the store tied together: genesis, block production (automine
//! and interval), read-only calls, gas estimation and readers.

use crate::{
    Block, BlockInput, BlockWithWitness, CallRequest, ChainError, ChainStore, ExecutedBlock,
    Executor, Genesis, LogEntry, LogFilter, SignedTx, TxError, TxInfo, TxReceiptInfo,
    WitnessRecord, WorldState,
};
use alloy_consensus::{Header, Transaction};
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use prova_model::ModelStore;
use prova_precompile::{ModelBytes, ProvaPrecompiles};
use prova_runtime::{Profile, Runtime};
use revm::context::{TxEnv, result::ExecutionResult};
use std::{path::Path, sync::Arc};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "chain.redb";
/// Directory of the model store inside the data dir.
pub const MODELS_DIR: &str = "models";

/// A Prova chain on disk: state, blocks, receipts, witnesses and models.
#[derive(Debug)]
pub struct Chain {
    store: ChainStore,
    executor: Executor,
    state: WorldState,
    head: Header,
    head_hash: B256,
    genesis_hash: B256,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl Chain {
    /// Opens the chain in `dir` (created with `genesis` if empty), with a runtime in the exact
    /// profile.
    pub fn open(dir: impl AsRef<Path>, genesis: Genesis) -> Result<Self, ChainError> {
        let runtime = Arc::new(Runtime::new(Profile::Exact)?);
        Self::open_with_runtime(dir, genesis, runtime)
    }

    /// Opens the chain in `dir` with `runtime` (which must be in the exact profile to produce
    /// blocks others can verify).
    pub fn open_with_runtime(
        dir: impl AsRef<Path>,
        genesis: Genesis,
        runtime: Arc<Runtime>,
    ) -> Result<Self, ChainError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir)?;
        let models = ModelStore::open(dir.join(MODELS_DIR))?;
        let store = ChainStore::open(dir.join(DB_FILE))?;
        Self::with_parts(store, ModelBytes::Store(models), genesis, runtime)
    }

    /// A chain held in memory only (blocks, state and models): for replaying a chain to
    /// verify it without keeping a copy.
    pub fn open_in_memory(genesis: Genesis, runtime: Arc<Runtime>) -> Result<Self, ChainError> {
        Self::with_parts(
            ChainStore::in_memory()?,
            ModelBytes::default(),
            genesis,
            runtime,
        )
    }

    fn with_parts(
        store: ChainStore,
        models: ModelBytes,
        genesis: Genesis,
        runtime: Arc<Runtime>,
    ) -> Result<Self, ChainError> {
        let precompiles = ProvaPrecompiles::new(crate::SPEC, runtime).with_models(models);
        let mut executor = Executor::new(genesis.chain_id, precompiles);

        let genesis_state = genesis.state();
        let genesis_header = genesis.header(&genesis_state);
        let genesis_hash = genesis_header.hash_slow();
        let state = match store.genesis_hash()? {
            Some(stored) if stored != genesis_hash => {
                return Err(ChainError::GenesisMismatch {
                    stored,
                    given: genesis_hash,
                });
            }
            Some(_) => {
                // Data dirs made before the genesis was recorded: record it now.
                if store.genesis()?.is_none() {
                    store.record_genesis(&genesis)?;
                }
                store.load_state()?
            }
            None => {
                let p = executor.precompiles_mut()?;
                for model in &genesis.models {
                    p.preload(model)?;
                }
                store.commit_genesis(&genesis, &genesis_header, genesis_hash, &genesis_state)?;
                let mut state = genesis_state;
                state.block_hashes.insert(0, genesis_hash);
                state
            }
        };
        let head_number = store
            .head()?
            .ok_or_else(|| ChainError::corrupt("no head block"))?;
        let head = store
            .header(head_number)?
            .ok_or_else(|| ChainError::corrupt("head header missing"))?;
        let head_hash = head.hash_slow();
        Ok(Self {
            store,
            executor,
            state,
            head,
            head_hash,
            genesis_hash,
        })
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.executor.chain_id()
    }

    /// Hash of block 0.
    pub fn genesis_hash(&self) -> B256 {
        self.genesis_hash
    }

    /// Header of the latest block.
    pub fn head(&self) -> &Header {
        &self.head
    }

    /// Hash of the latest block.
    pub fn head_hash(&self) -> B256 {
        self.head_hash
    }

    /// Number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.head.number
    }

    /// The head state (read-only).
    pub fn state(&self) -> &WorldState {
        &self.state
    }

    /// The store.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// Base fee the next block will charge.
    pub fn next_base_fee(&self) -> u64 {
        BlockInput::child_of(&self.head, self.head_hash, 0).base_fee
    }

    /// Automine: decodes `raw` (EIP-2718), validates it and mines it alone in a new block.
    /// Returns the block number and the transaction hash. A refused transaction changes
    /// nothing and mines no block.
    pub fn submit(&mut self, raw: &[u8]) -> Result<(u64, B256), ChainError> {
        let tx = SignedTx::decode(raw)?;
        tx.check_chain_id(self.chain_id())?;
        let hash = tx.hash();
        if self.store.tx_location(&hash)?.is_some() {
            return Err(TxError::NonceTooLow {
                expected: self.state.nonce(&tx.sender),
                got: tx.envelope.nonce(),
            }
            .into());
        }
        let block = self.execute(vec![tx])?;
        if let Some((_, e)) = block.rejected.first() {
            return Err(e.clone().into());
        }
        let number = block.header.number;
        self.commit(&block)?;
        Ok((number, hash))
    }

    /// Interval mode: mines one block with the transactions of `raw_txs` that are valid (in
    /// order; malformed or refused ones are left out and returned with their error, indexed by
    /// position). Mines an empty block if none is valid.
    pub fn build_block(
        &mut self,
        raw_txs: &[Bytes],
    ) -> Result<(ExecutedBlock, Vec<(usize, TxError)>), ChainError> {
        let mut errors = Vec::new();
        let mut txs = Vec::new();
        let mut positions = Vec::new();
        for (i, raw) in raw_txs.iter().enumerate() {
            match SignedTx::decode(raw) {
                Ok(tx) => {
                    positions.push((tx.hash(), i));
                    txs.push(tx);
                }
                Err(e) => errors.push((i, e)),
            }
        }
        let block = self.execute(txs)?;
        for (hash, e) in &block.rejected {
            if let Some((_, i)) = positions.iter().find(|(h, _)| h == hash) {
                errors.push((*i, e.clone()));
            }
        }
        errors.sort_by_key(|(i, _)| *i);
        self.commit(&block)?;
        Ok((block, errors))
    }

    fn execute(&mut self, txs: Vec<SignedTx>) -> Result<ExecutedBlock, ChainError> {
        let input = BlockInput::child_of(&self.head, self.head_hash, now());
        // The executor changes `state` only after every transaction ran, and only with the
        // included ones: a refused transaction or a fault leaves it as it was.
        self.executor.execute(&mut self.state, &input, txs)
    }

    /// Imports a block made elsewhere: executes `txs` on the head state as `header` says
    /// (number, timestamp, beneficiary, gas limit, base fee; its parent must be the head, which
    /// the caller checks), hands the result to `check`, and commits it only if `check` accepts
    /// it. With `claimed`, INFER takes its outputs from that witness
    /// ([`Executor::execute_with_witness`]). Returns the executed block, or `check`'s refusal
    /// with the head state untouched.
    pub fn import_block<E>(
        &mut self,
        header: &Header,
        txs: Vec<SignedTx>,
        claimed: Option<&[WitnessRecord]>,
        check: impl FnOnce(&ExecutedBlock) -> Result<(), E>,
    ) -> Result<Result<ExecutedBlock, E>, ChainError> {
        let input = BlockInput {
            parent_hash: header.parent_hash,
            number: header.number,
            timestamp: header.timestamp,
            beneficiary: header.beneficiary,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
        };
        let block = match claimed {
            Some(claimed) => {
                self.executor
                    .execute_with_witness(&mut self.state, &input, txs, claimed)?
            }
            None => self.executor.execute(&mut self.state, &input, txs)?,
        };
        if let Err(e) = check(&block) {
            self.state = self.store.load_state()?;
            return Ok(Err(e));
        }
        self.commit(&block)?;
        Ok(Ok(block))
    }

    /// A handle that runs models exactly as INFER does, from any thread.
    pub fn reference(&self) -> Result<prova_precompile::Reference, ChainError> {
        self.executor.reference()
    }

    fn commit(&mut self, block: &ExecutedBlock) -> Result<(), ChainError> {
        if let Err(e) = self.store.commit_block(block) {
            // Nothing was written: go back to the stored state.
            self.state = self.store.load_state()?;
            return Err(e);
        }
        self.state
            .block_hashes
            .insert(block.header.number, block.hash);
        if let Some(old) = block.header.number.checked_sub(256) {
            self.state.block_hashes.remove(&old);
        }
        self.head = block.header.clone();
        self.head_hash = block.hash;
        Ok(())
    }

    fn check_latest(&self, block: Option<u64>) -> Result<(), ChainError> {
        match block {
            Some(n) if n != self.head.number => Err(ChainError::StateUnavailable(n)),
            _ => Ok(()),
        }
    }

    fn call_env(&self, req: &CallRequest, gas: u64) -> TxEnv {
        TxEnv {
            caller: req.from.unwrap_or_default(),
            gas_limit: gas,
            gas_price: req.gas_price.unwrap_or_default(),
            kind: req.to.map_or(TxKind::Create, TxKind::Call),
            value: req.value.unwrap_or_default(),
            data: req.input.clone(),
            nonce: self.state.nonce(&req.from.unwrap_or_default()),
            chain_id: Some(self.chain_id()),
            ..TxEnv::default()
        }
    }

    /// Executes `req` read-only on the state of `block` (`None` = latest; only the latest
    /// state is kept), without recording inferences. The result says success, revert (with
    /// data) or halt.
    pub fn call(
        &mut self,
        req: &CallRequest,
        block: Option<u64>,
    ) -> Result<ExecutionResult, ChainError> {
        self.check_latest(block)?;
        let input = BlockInput::child_of(&self.head, self.head_hash, now());
        let gas = req.gas.unwrap_or(self.head.gas_limit);
        let env = self.call_env(req, gas);
        self.executor.call(&self.state, &input, env)
    }

    /// The smallest gas allowance with which `req` succeeds (binary search between the
    /// intrinsic gas and `req.gas` or the block gas limit). A call that fails at the highest
    /// allowance is [`ChainError::Reverted`] (with its revert data) or [`ChainError::Halted`].
    pub fn estimate_gas(
        &mut self,
        req: &CallRequest,
        block: Option<u64>,
    ) -> Result<u64, ChainError> {
        self.check_latest(block)?;
        let input = BlockInput::child_of(&self.head, self.head_hash, now());
        let cap = req.gas.unwrap_or(self.head.gas_limit);
        let run = |this: &mut Self, gas: u64| {
            let env = this.call_env(req, gas);
            this.executor.call(&this.state, &input, env)
        };
        let first = run(self, cap)?;
        let used = match &first {
            ExecutionResult::Success { .. } => first.tx_gas_used(),
            ExecutionResult::Revert { output, .. } => {
                return Err(ChainError::Reverted {
                    output: output.clone(),
                });
            }
            ExecutionResult::Halt { reason, .. } => {
                return Err(ChainError::Halted(format!("{reason:?}")));
            }
        };
        // `used` is after refunds, and the 63/64 rule can make the allowance needed higher:
        // try it, then search between it and the cap.
        let succeeds = |this: &mut Self, gas: u64| -> Result<bool, ChainError> {
            match run(this, gas) {
                Ok(r) => Ok(r.is_success()),
                Err(ChainError::Tx(_)) => Ok(false),
                Err(e) => Err(e),
            }
        };
        if succeeds(self, used)? {
            return Ok(used);
        }
        let (mut lo, mut hi) = (used, cap);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if succeeds(self, mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    /// Balance of `address` at `block` (latest only).
    pub fn balance(&self, address: &Address, block: Option<u64>) -> Result<U256, ChainError> {
        self.check_latest(block)?;
        Ok(self.state.balance(address))
    }

    /// Nonce of `address` at `block` (latest only).
    pub fn nonce(&self, address: &Address, block: Option<u64>) -> Result<u64, ChainError> {
        self.check_latest(block)?;
        Ok(self.state.nonce(address))
    }

    /// Code of `address` at `block` (latest only).
    pub fn code(&self, address: &Address, block: Option<u64>) -> Result<Bytes, ChainError> {
        self.check_latest(block)?;
        Ok(self.state.code(address))
    }

    /// Storage slot of `address` at `block` (latest only).
    pub fn storage(
        &self,
        address: &Address,
        slot: U256,
        block: Option<u64>,
    ) -> Result<U256, ChainError> {
        self.check_latest(block)?;
        Ok(self.state.storage(address, slot))
    }

    /// Block `n`.
    pub fn block_by_number(&self, n: u64) -> Result<Option<Block>, ChainError> {
        let Some(header) = self.store.header(n)? else {
            return Ok(None);
        };
        let raw = self.store.body(n)?.unwrap_or_default();
        let transactions = raw
            .iter()
            .map(|r| {
                SignedTx::decode(r).map_err(|e| ChainError::corrupt(format!("stored tx: {e}")))
            })
            .collect::<Result<_, _>>()?;
        let hash = header.hash_slow();
        Ok(Some(Block {
            header,
            hash,
            transactions,
        }))
    }

    /// The block with hash `hash`.
    pub fn block_by_hash(&self, hash: &B256) -> Result<Option<Block>, ChainError> {
        match self.store.number_of(hash)? {
            Some(n) => self.block_by_number(n),
            None => Ok(None),
        }
    }

    /// The transaction with hash `hash`.
    pub fn transaction(&self, hash: &B256) -> Result<Option<TxInfo>, ChainError> {
        let Some((n, index)) = self.store.tx_location(hash)? else {
            return Ok(None);
        };
        let block = self
            .block_by_number(n)?
            .ok_or_else(|| ChainError::corrupt("tx lookup points to a missing block"))?;
        let tx = block
            .transactions
            .get(index as usize)
            .cloned()
            .ok_or_else(|| ChainError::corrupt("tx lookup index out of range"))?;
        Ok(Some(TxInfo {
            tx,
            block_number: n,
            block_hash: block.hash,
            index,
            base_fee: block.header.base_fee_per_gas.unwrap_or_default(),
        }))
    }

    /// Receipts of block `n` with their context.
    pub fn block_receipts(&self, n: u64) -> Result<Option<Vec<TxReceiptInfo>>, ChainError> {
        let Some(block) = self.block_by_number(n)? else {
            return Ok(None);
        };
        let receipts = self.store.receipts(n)?.unwrap_or_default();
        let base_fee = block.header.base_fee_per_gas.unwrap_or_default();
        let mut out = Vec::with_capacity(receipts.len());
        let (mut previous, mut log_index) = (0u64, 0u64);
        for (i, (tx, receipt)) in block.transactions.iter().zip(receipts).enumerate() {
            let cumulative = receipt.cumulative_gas_used();
            let logs = receipt.logs().len() as u64;
            out.push(TxReceiptInfo {
                contract_address: if receipt.status() {
                    tx.created_address()
                } else {
                    None
                },
                tx_hash: tx.hash(),
                block_number: n,
                block_hash: block.hash,
                index: i as u64,
                from: tx.sender,
                to: tx.envelope.to(),
                gas_used: cumulative - previous,
                effective_gas_price: tx.effective_gas_price(base_fee),
                first_log_index: log_index,
                receipt,
            });
            previous = cumulative;
            log_index += logs;
        }
        Ok(Some(out))
    }

    /// The receipt of the transaction with hash `hash`.
    pub fn receipt(&self, hash: &B256) -> Result<Option<TxReceiptInfo>, ChainError> {
        let Some((n, index)) = self.store.tx_location(hash)? else {
            return Ok(None);
        };
        Ok(self
            .block_receipts(n)?
            .and_then(|r| r.into_iter().nth(index as usize)))
    }

    /// Logs matching `filter`.
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, ChainError> {
        let from = filter.from_block.unwrap_or(0);
        let to = filter
            .to_block
            .unwrap_or(self.head.number)
            .min(self.head.number);
        let mut out = Vec::new();
        for n in from..=to {
            match self.store.header(n)? {
                Some(h) if filter.may_match(&h.logs_bloom) => {}
                _ => continue,
            }
            let Some(receipts) = self.block_receipts(n)? else {
                continue;
            };
            for r in receipts {
                for (k, log) in r.receipt.logs().iter().enumerate() {
                    if filter.matches(log) {
                        out.push(LogEntry {
                            log: log.clone(),
                            block_number: n,
                            block_hash: r.block_hash,
                            tx_hash: r.tx_hash,
                            tx_index: r.index,
                            log_index: r.first_log_index + k as u64,
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The inference witness of block `n`.
    pub fn witness(&self, n: u64) -> Result<Option<Vec<WitnessRecord>>, ChainError> {
        self.store.witness(n)
    }

    /// Block `n` with its raw transactions and witness, as validators receive it.
    pub fn block_with_witness(&self, n: u64) -> Result<Option<BlockWithWitness>, ChainError> {
        self.store.block_with_witness(n)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn chain_can_move_between_threads() {
        fn send<T: Send + 'static>() {}
        send::<super::Chain>();
    }
}
