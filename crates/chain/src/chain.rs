//! [`Chain`]: the executor, the store and the transaction pool tied together: genesis,
//! block production (automine and interval), import, read-only calls, gas estimation and
//! readers.
//!
//! ## Concurrency
//!
//! Every method takes `&self`; a node shares one `Chain` between all its threads. The head
//! (header, hash and state) is an immutable snapshot behind an `Arc`: a reader clones the
//! pointer and works on that snapshot for as long as it needs (an `eth_call` runs its model
//! without holding any lock), and a new block replaces the pointer when it commits. Writers
//! (building, importing a block) take one writer lock, so blocks are made one at a time on a
//! copy of the head state; reads never wait for them. No lock is held across user work that
//! can panic, and a poisoned lock is taken as is (what it guards is replaced whole, never
//! left half-changed), so a panic in one request never wedges the chain.

use crate::{
    Block, BlockInput, BlockWithWitness, CallRequest, ChainError, ChainStore, ExecutedBlock,
    Executor, Genesis, InferenceRecord, LogEntry, LogFilter, PoolConfig, PoolStatus, SignedTx,
    TxError, TxInfo, TxPool, TxReceiptInfo, WorldState,
    rules::{self, RuleError},
};
use alloy_consensus::{Header, Transaction};
use alloy_primitives::{Address, B256, Bytes, KECCAK256_EMPTY, TxKind, U256};
use prova_model::{ModelId, ModelInfo, ModelStore};
use prova_precompile::{ModelBytes, ProvaPrecompiles};
use prova_runtime::{Profile, Runtime};
use revm::context::{TxEnv, result::ExecutionResult};
use std::{
    collections::VecDeque,
    path::Path,
    sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock},
};

/// File name of the database inside the data dir.
pub const DB_FILE: &str = "chain.redb";
/// Directory of the model store inside the data dir.
pub const MODELS_DIR: &str = "models";
/// Most blocks one log query ([`Chain::logs`]) may cover.
pub const MAX_LOG_RANGE: u64 = 10_000;
/// How many recent blocks' states a chain keeps by default (for calls and reads at a past
/// block, tracing, `evm_revert`); see [`Chain::set_history`].
pub const DEFAULT_HISTORY: usize = 64;
/// How many refused pool transactions the chain remembers the reason of.
const DROPPED_KEPT: usize = 1024;

/// The latest block and the state after it: one immutable snapshot.
#[derive(Debug)]
pub struct Head {
    /// The header.
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// The state after the block.
    pub state: Arc<WorldState>,
}

/// What [`Chain::add_transaction`] did with a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submitted {
    /// The transaction hash.
    pub hash: B256,
    /// Ready for the next block, or queued behind a nonce gap.
    pub status: PoolStatus,
}

/// A block made from the pool, and the pooled transactions it refused (dropped from the pool).
#[derive(Debug, Clone)]
pub struct Mined {
    /// The block.
    pub block: ExecutedBlock,
    /// Transactions the block could not include, with the reason.
    pub dropped: Vec<(B256, TxError)>,
}

/// Dev-chain control of block timestamps (anvil's `evm_increaseTime`,
/// `evm_setNextBlockTimestamp`): an offset added to this node's clock, and a one-off timestamp
/// for the next block.
#[derive(Debug, Default)]
struct Clock {
    offset: u64,
    next: Option<u64>,
}

#[derive(Debug)]
struct Pool {
    txs: TxPool,
    /// Why recently refused transactions were dropped, oldest first.
    dropped: VecDeque<(B256, TxError)>,
}

/// A Prova chain on disk: state, blocks, receipts, witnesses, models and the pool.
#[derive(Debug)]
pub struct Chain {
    store: ChainStore,
    executor: Executor,
    head: RwLock<Arc<Head>>,
    /// The heads of the last blocks, oldest first, the current head last.
    history: Mutex<VecDeque<Arc<Head>>>,
    history_limit: std::sync::atomic::AtomicUsize,
    writer: Mutex<()>,
    /// Held while a dev edit is signed and mined, so that edits take their nonces in order.
    edits: Mutex<()>,
    pool: Mutex<Pool>,
    clock: Mutex<Clock>,
    genesis_hash: B256,
}

/// The head after `block`, executed to `state`: the state learns the block's hash (BLOCKHASH).
fn child_head(block: &ExecutedBlock, mut state: WorldState) -> Arc<Head> {
    state.block_hashes.insert(block.header.number, block.hash);
    if let Some(old) = block.header.number.checked_sub(256) {
        state.block_hashes.remove(&old);
    }
    Arc::new(Head {
        header: block.header.clone(),
        hash: block.hash,
        state: Arc::new(state),
    })
}

/// Takes a lock whether or not an earlier holder panicked: every value behind the chain's
/// locks is replaced whole, so a panic cannot leave it half-changed.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
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
        let executor = Executor::new(genesis.chain_id, precompiles);

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
                let mut p = executor.precompiles().handle();
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
        let header = store
            .header(head_number)?
            .ok_or_else(|| ChainError::corrupt("head header missing"))?;
        let hash = header.hash_slow();
        let head = Head {
            header,
            hash,
            state: Arc::new(state),
        };
        let head = Arc::new(head);
        Ok(Self {
            store,
            executor,
            history: Mutex::new(VecDeque::from([head.clone()])),
            history_limit: DEFAULT_HISTORY.into(),
            head: RwLock::new(head),
            writer: Mutex::new(()),
            edits: Mutex::new(()),
            pool: Mutex::new(Pool {
                txs: TxPool::new(PoolConfig::default()),
                dropped: VecDeque::new(),
            }),
            clock: Mutex::default(),
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

    /// The latest block and its state: a snapshot that later blocks do not change.
    pub fn head(&self) -> Arc<Head> {
        self.head
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Hash of the latest block.
    pub fn head_hash(&self) -> B256 {
        self.head().hash
    }

    /// Number of the latest block.
    pub fn block_number(&self) -> u64 {
        self.head().header.number
    }

    /// The head state (a snapshot).
    pub fn state(&self) -> Arc<WorldState> {
        self.head().state.clone()
    }

    /// The store.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// The block a transaction sent now would be executed in, as far as it is known before it
    /// is built (number, base fee, gas limit, timestamp from this node's clock).
    pub fn pending_block(&self) -> BlockInput {
        let head = self.head();
        BlockInput::pending(&head.header, head.hash, self.now())
    }

    /// This node's clock for block timestamps: the system clock plus the offset of
    /// [`Self::increase_time`].
    pub fn now(&self) -> u64 {
        rules::now().saturating_add(lock(&self.clock).offset)
    }

    /// The timestamp of the next block this node makes: the one set with
    /// [`Self::set_next_timestamp`] (until a block uses it), or [`Self::now`].
    fn next_timestamp(&self) -> u64 {
        let clock = lock(&self.clock);
        clock
            .next
            .unwrap_or_else(|| rules::now().saturating_add(clock.offset))
    }

    /// Moves this node's block clock `secs` ahead (dev chains; anvil's `evm_increaseTime`).
    /// Returns the total offset.
    pub fn increase_time(&self, secs: u64) -> u64 {
        let mut clock = lock(&self.clock);
        clock.offset = clock.offset.saturating_add(secs);
        clock.offset
    }

    /// Dates the next block this node makes `timestamp` (dev chains; anvil's
    /// `evm_setNextBlockTimestamp`), which must be later than the head's; later blocks follow
    /// on from it.
    pub fn set_next_timestamp(&self, timestamp: u64) -> Result<(), ChainError> {
        let head = self.head();
        if timestamp <= head.header.timestamp {
            return Err(RuleError::Timestamp {
                parent: head.header.timestamp,
                got: timestamp,
            }
            .into());
        }
        let mut clock = lock(&self.clock);
        // Later blocks keep the jump, as on anvil.
        let current = rules::now().saturating_add(clock.offset);
        clock.offset = clock
            .offset
            .saturating_add(timestamp.saturating_sub(current));
        clock.next = Some(timestamp);
        Ok(())
    }

    /// Base fee the next block will charge.
    pub fn next_base_fee(&self) -> u64 {
        self.pending_block().base_fee
    }

    /// Checks that `header` can follow the head ([`rules::validate_child`]).
    pub fn validate_child(&self, header: &Header) -> Result<(), RuleError> {
        let head = self.head();
        rules::validate_child(&head.header, head.hash, header)
    }

    /// Adds the raw (EIP-2718) transaction `raw` to the pool after the checks that need no
    /// execution ([`TxPool::add`]). A refused transaction changes nothing.
    pub fn add_transaction(&self, raw: &[u8]) -> Result<Submitted, ChainError> {
        let tx = SignedTx::decode(raw)?;
        tx.check_chain_id(self.chain_id())?;
        let hash = tx.hash();
        let mut pool = lock(&self.pool);
        // Read under the pool lock: a block that commits meanwhile prunes after this.
        let head = self.head();
        let next = BlockInput::pending(&head.header, head.hash, self.now());
        let status = pool
            .txs
            .add(tx, &head.state, next.base_fee, next.gas_limit)?;
        Ok(Submitted { hash, status })
    }

    /// Automine: adds `raw` to the pool and, if it is ready, mines a block with the pool's
    /// ready transactions at once. Returns the transaction hash and the block it went into
    /// (`None` while it waits behind a nonce gap). A refused transaction is an error and
    /// changes nothing; one the block refused is dropped from the pool and its error returned.
    pub fn submit(&self, raw: &[u8]) -> Result<(B256, Option<u64>), ChainError> {
        let submitted = self.add_transaction(raw)?;
        let hash = submitted.hash;
        if submitted.status == PoolStatus::Queued {
            return Ok((hash, None));
        }
        self.mine(false)?;
        if let Some((n, _)) = self.store.tx_location(&hash)? {
            return Ok((hash, Some(n)));
        }
        let pool = lock(&self.pool);
        if let Some((_, e)) = pool.dropped.iter().rev().find(|(h, _)| *h == hash) {
            return Err(e.clone().into());
        }
        // Still pooled: a block built concurrently ran out of gas before it.
        Ok((hash, None))
    }

    /// Mines one block from the pool's ready transactions, best-paying first. With
    /// `allow_empty` false, mines nothing (`None`) when no transaction is ready.
    pub fn mine(&self, allow_empty: bool) -> Result<Option<Mined>, ChainError> {
        let _writer = lock(&self.writer);
        let head = self.head();
        let input = rules::child_input(&head.header, head.hash, self.next_timestamp())?;
        let txs = lock(&self.pool)
            .txs
            .best(&head.state, input.base_fee, input.gas_limit);
        if txs.is_empty() && !allow_empty {
            return Ok(None);
        }
        let mut state = WorldState::clone(&head.state);
        let block = self.executor.execute(&mut state, &input, txs)?;
        let dropped = block.rejected.clone();
        if block.txs.is_empty() && !allow_empty {
            // Every ready transaction was refused: drop them, mine nothing.
            self.drop_rejected(&mut lock(&self.pool), &block.rejected);
            return Ok(None);
        }
        self.seal(&head, &block, child_head(&block, state))?;
        Ok(Some(Mined { block, dropped }))
    }

    /// Mines one block with the transactions of `raw_txs` that are valid (in order; malformed
    /// or refused ones are left out and returned with their error, indexed by position),
    /// bypassing the pool. Mines an empty block if none is valid.
    pub fn build_block(
        &self,
        raw_txs: &[Bytes],
    ) -> Result<(ExecutedBlock, Vec<(usize, TxError)>), ChainError> {
        self.build_block_at(raw_txs, self.next_timestamp())
    }

    /// [`Self::build_block`] with the block's timestamp `timestamp` (raised to the parent's
    /// + 1 if it is not later).
    pub fn build_block_at(
        &self,
        raw_txs: &[Bytes],
        timestamp: u64,
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
        let _writer = lock(&self.writer);
        let head = self.head();
        let input = rules::child_input(&head.header, head.hash, timestamp)?;
        let mut state = WorldState::clone(&head.state);
        let block = self.executor.execute(&mut state, &input, txs)?;
        for (hash, e) in &block.rejected {
            if let Some((_, i)) = positions.iter().find(|(h, _)| h == hash) {
                errors.push((*i, e.clone()));
            }
        }
        errors.sort_by_key(|(i, _)| *i);
        self.seal(&head, &block, child_head(&block, state))?;
        Ok((block, errors))
    }

    /// Applies a dev edit (balance, nonce, code or storage; [`crate::dev_edits`]) at once: signs
    /// it with [`DEV_EDITS_KEY`](crate::dev_edits::DEV_EDITS_KEY) and mines it in a block of
    /// its own, whatever the mining mode, so that reads see it immediately and replays verify
    /// it. Returns the edit transaction's hash and block number.
    pub fn dev_edit(
        &self,
        edit: crate::dev_edits::IDevEdits::IDevEditsCalls,
    ) -> Result<(B256, u64), ChainError> {
        use crate::dev_edits::{
            AUTHORITY_SLOT, DEV_EDITS_AUTHORITY, DEV_EDITS_KEY, IDevEdits::IDevEditsCalls,
        };
        if matches!(edit, IDevEditsCalls::impersonate(_)) {
            return Err(ChainError::DevEdit(
                "an impersonated transaction goes through the pool: use impersonated_tx".into(),
            ));
        }
        let _edits = lock(&self.edits);
        let authority = self
            .dev_authority(AUTHORITY_SLOT, DEV_EDITS_AUTHORITY)
            .ok_or(ChainError::DevEditsDisabled)?;
        let head = self.head();
        if let IDevEditsCalls::setStorageAt(c) = &edit {
            let empty = head.state.accounts.get(&c.account).is_none_or(|a| {
                a.nonce == 0 && a.balance.is_zero() && a.code_hash == KECCAK256_EMPTY
            });
            if empty {
                return Err(ChainError::DevEdit(format!(
                    "{} is an empty account (no code, nonce or balance): EIP-161 removes it with \
                     its storage; give it code or a balance first",
                    c.account
                )));
            }
        }
        let raw = self.sign_edit(&DEV_EDITS_KEY, head.state.nonce(&authority), &edit)?;
        let (block, errors) = self.build_block(&[raw])?;
        if let Some((_, e)) = errors.first() {
            return Err(ChainError::DevEdit(e.to_string()));
        }
        let tx = block
            .txs
            .first()
            .ok_or_else(|| ChainError::DevEdit("the edit was not mined".into()))?;
        Ok((tx.tx.hash(), block.header.number))
    }

    /// A transaction from `call.from` that nobody signed (anvil_impersonateAccount): wrapped in
    /// an impersonation edit signed by
    /// [`DEV_IMPERSONATION_KEY`](crate::dev_edits::DEV_IMPERSONATION_KEY) at its next nonce,
    /// encoded for [`Self::submit`] or [`Self::add_transaction`]. Its receipt has the
    /// impersonated call's status, logs and contract address; `call.from` pays the call's gas.
    pub fn impersonated_tx(
        &self,
        call: crate::dev_edits::IDevEdits::impersonateCall,
    ) -> Result<Bytes, ChainError> {
        use crate::dev_edits::{DEV_IMPERSONATION_KEY, IDevEdits::IDevEditsCalls};
        let authority = self.impersonator().ok_or(ChainError::DevEditsDisabled)?;
        let nonce = self.pending_nonce(&authority);
        self.sign_edit(
            &DEV_IMPERSONATION_KEY,
            nonce,
            &IDevEditsCalls::impersonate(call),
        )
    }

    /// The nonce `from`'s next impersonated transaction takes: after its mined and pooled
    /// transactions, counting the impersonations of it waiting in the pool.
    pub fn next_impersonated_nonce(&self, from: &Address) -> u64 {
        let impersonator = self.impersonator();
        let (pending, queued) = self.pool_content();
        pending
            .iter()
            .chain(&queued)
            .filter_map(|tx| crate::dev_edits::impersonation(tx, impersonator))
            .filter(|c| c.from == *from)
            .map(|c| c.nonce.saturating_add(1))
            .fold(self.pending_nonce(from), u64::max)
    }

    /// `authority`, if the head state names it in `slot` of the edits account.
    fn dev_authority(&self, slot: U256, authority: Address) -> Option<Address> {
        let named = self
            .head()
            .state
            .storage(&crate::dev_edits::DEV_EDITS_ADDRESS, slot);
        (named == crate::dev_edits::authority_slot_value(authority)).then_some(authority)
    }

    /// The impersonation authority, if this chain has one.
    fn impersonator(&self) -> Option<Address> {
        self.dev_authority(
            crate::dev_edits::IMPERSONATOR_SLOT,
            crate::dev_edits::DEV_IMPERSONATION_AUTHORITY,
        )
    }

    /// An edit transaction to the edits address: EIP-1559, gas limit its intrinsic gas plus
    /// the impersonated call's gas, fee cap twice the next base fee.
    fn sign_edit(
        &self,
        key: &B256,
        nonce: u64,
        edit: &crate::dev_edits::IDevEdits::IDevEditsCalls,
    ) -> Result<Bytes, ChainError> {
        use alloy_consensus::TxEip1559;
        use alloy_eips::eip2718::Encodable2718;
        let input = crate::dev_edits::edit_calldata(edit);
        let intrinsic: u64 = 21_000
            + input
                .iter()
                .map(|b| if *b == 0 { 4u64 } else { 16 })
                .sum::<u64>();
        let inner = match edit {
            crate::dev_edits::IDevEdits::IDevEditsCalls::impersonate(c) => c.gasLimit,
            _ => 0,
        };
        let tx = TxEip1559 {
            chain_id: self.chain_id(),
            nonce,
            gas_limit: intrinsic.saturating_add(inner),
            max_fee_per_gas: u128::from(self.next_base_fee()).saturating_mul(2),
            max_priority_fee_per_gas: 0,
            to: TxKind::Call(crate::dev_edits::DEV_EDITS_ADDRESS),
            value: U256::ZERO,
            access_list: Default::default(),
            input,
        };
        let signed = crate::sign_tx(tx, key)?;
        Ok(signed.encoded_2718().into())
    }

    /// Imports a block made elsewhere: checks that `header` follows the head
    /// ([`rules::validate_child`]), executes `txs` on the head state as `header` says (number,
    /// timestamp, beneficiary, gas limit, base fee), hands the result to `check`, and commits
    /// it only if `check` accepts it. With `claimed`, INFER takes its outputs from that
    /// witness ([`Executor::execute_with_witness`]). Returns the executed block, or `check`'s
    /// refusal with the chain untouched.
    pub fn import_block<E>(
        &self,
        header: &Header,
        txs: Vec<SignedTx>,
        claimed: Option<&[InferenceRecord]>,
        check: impl FnOnce(&ExecutedBlock) -> Result<(), E>,
    ) -> Result<Result<ExecutedBlock, E>, ChainError> {
        let _writer = lock(&self.writer);
        let head = self.head();
        let (block, child) = self.execute_child(&head, header, txs, claimed)?;
        if let Err(e) = check(&block) {
            return Ok(Err(e));
        }
        self.seal(&head, &block, child)?;
        Ok(Ok(block))
    }

    /// Executes a block on `parent` (the chain's head or any block a consensus engine holds
    /// in memory, not yet committed) without committing anything: checks that `header` follows
    /// `parent` ([`rules::validate_child`]), runs `txs` as `header` says (with `claimed`, INFER
    /// takes its outputs from that witness) and returns the executed block with the state after
    /// it, as a [`Head`] a further child can be executed on.
    pub fn execute_child(
        &self,
        parent: &Head,
        header: &Header,
        txs: Vec<SignedTx>,
        claimed: Option<&[InferenceRecord]>,
    ) -> Result<(ExecutedBlock, Arc<Head>), ChainError> {
        rules::validate_child(&parent.header, parent.hash, header)?;
        let input = BlockInput::of(header);
        let mut state = WorldState::clone(&parent.state);
        let block = match claimed {
            Some(claimed) => self
                .executor
                .execute_with_witness(&mut state, &input, txs, claimed)?,
            None => self.executor.execute(&mut state, &input, txs)?,
        };
        let head = child_head(&block, state);
        Ok((block, head))
    }

    /// Builds a block on `parent` from the pool's best transactions (as they stand against
    /// `parent`'s state), with `timestamp` (raised to the parent's + 1) and `beneficiary`,
    /// without committing it: what a consensus proposer offers. Transactions the block refuses
    /// stay in the pool (another parent may take them).
    pub fn build_child(
        &self,
        parent: &Head,
        timestamp: u64,
        beneficiary: Address,
    ) -> Result<(ExecutedBlock, Arc<Head>), ChainError> {
        let mut input = rules::child_input(&parent.header, parent.hash, timestamp)?;
        input.beneficiary = beneficiary;
        let txs = lock(&self.pool)
            .txs
            .best(&parent.state, input.base_fee, input.gas_limit);
        let mut state = WorldState::clone(&parent.state);
        let block = self.executor.execute(&mut state, &input, txs)?;
        let head = child_head(&block, state);
        Ok((block, head))
    }

    /// Commits a block executed by [`Self::execute_child`] or [`Self::build_child`] (`head`
    /// is what they returned with it) when it is the child of the chain's head; committing the
    /// head itself again is a no-op (a consensus engine may deliver a finalized block twice
    /// across a restart). Anything else is refused with the chain untouched.
    pub fn commit_child(&self, block: &ExecutedBlock, head: &Arc<Head>) -> Result<(), ChainError> {
        if head.hash != block.hash {
            return Err(ChainError::Execution(format!(
                "the state given for block {} is block {}'s",
                block.hash, head.hash
            )));
        }
        let _writer = lock(&self.writer);
        let current = self.head();
        if current.hash == block.hash {
            return Ok(());
        }
        if block.header.parent_hash != current.hash {
            return Err(ChainError::Execution(format!(
                "block {} ({}) does not extend the head {} ({})",
                block.header.number, block.hash, current.header.number, current.hash
            )));
        }
        self.seal(&current, block, head.clone())
    }

    /// A handle that runs models exactly as INFER does, from any thread.
    pub fn reference(&self) -> prova_precompile::Reference {
        self.executor.reference()
    }

    /// Commits `block` (executed on `parent`; `head` is the head after it, from
    /// [`child_head`]) and makes it the head: the one place every block passes through, so every
    /// committed header follows the rules. Called with the writer lock held.
    fn seal(
        &self,
        parent: &Head,
        block: &ExecutedBlock,
        head: Arc<Head>,
    ) -> Result<(), ChainError> {
        rules::validate_child(&parent.header, parent.hash, &block.header)?;
        // Nothing is written unless all of it is (one redb transaction).
        self.store.commit_block(block)?;
        // A timestamp set for the next block is used up.
        let mut clock = lock(&self.clock);
        if clock.next.is_some_and(|t| t <= block.header.timestamp) {
            clock.next = None;
        }
        drop(clock);
        let mut pool = lock(&self.pool);
        *self.head.write().unwrap_or_else(PoisonError::into_inner) = head.clone();
        let mut history = lock(&self.history);
        history.push_back(head.clone());
        let keep = self
            .history_limit
            .load(std::sync::atomic::Ordering::Relaxed)
            .max(1);
        while history.len() > keep {
            history.pop_front();
        }
        drop(history);
        self.drop_rejected(&mut pool, &block.rejected);
        pool.txs.prune(&head.state);
        Ok(())
    }

    /// Drops from the pool the transactions a block refused, remembering why.
    fn drop_rejected(&self, pool: &mut Pool, rejected: &[(B256, TxError)]) {
        for (hash, e) in rejected {
            // A later nonce refused after its sender's earlier one failed waits in the queue.
            if matches!(e, TxError::NonceTooHigh { .. }) {
                continue;
            }
            if pool.txs.remove(hash).is_some() {
                if pool.dropped.len() == DROPPED_KEPT {
                    pool.dropped.pop_front();
                }
                pool.dropped.push_back((*hash, e.clone()));
            }
        }
    }

    /// The pooled transaction with hash `hash`.
    pub fn pooled(&self, hash: &B256) -> Option<SignedTx> {
        lock(&self.pool).txs.get(hash).cloned()
    }

    /// The nonce `address` would use next, counting its ready pooled transactions.
    pub fn pending_nonce(&self, address: &Address) -> u64 {
        let pool = lock(&self.pool);
        pool.txs.pending_nonce(address, &self.head().state)
    }

    /// Ready and queued pooled transactions (for `txpool_*`).
    pub fn pool_content(&self) -> (Vec<SignedTx>, Vec<SignedTx>) {
        let pool = lock(&self.pool);
        let (ready, queued) = pool.txs.content(&self.head().state);
        (
            ready.into_iter().cloned().collect(),
            queued.into_iter().cloned().collect(),
        )
    }

    /// The facts of model `id` if it is registered at the head, from the chain's one model
    /// store (compiled once, then cached with the runtime's plans).
    pub fn model_info(&self, id: &ModelId) -> Result<Option<Arc<ModelInfo>>, ChainError> {
        let registered = self.state().storage(
            &prova_precompile::MODEL_REGISTRY_ADDRESS,
            prova_precompile::model_slot(id),
        ) == prova_precompile::REGISTERED;
        if !registered {
            return Ok(None);
        }
        Ok(Some(self.executor.precompiles().model_info(id)?))
    }

    /// The head of block `block` (`None` = latest), if its state is still kept.
    pub fn at(&self, block: Option<u64>) -> Result<Arc<Head>, ChainError> {
        let head = self.head();
        match block {
            None => Ok(head),
            Some(n) if n == head.header.number => Ok(head),
            Some(n) => lock(&self.history)
                .iter()
                .find(|h| h.header.number == n)
                .cloned()
                .ok_or(ChainError::StateUnavailable(n)),
        }
    }

    /// Keeps the states of the last `blocks` blocks (at least 1: the head) for reads at a past
    /// block and [`Self::rewind`]. Each costs a copy of the state in memory.
    pub fn set_history(&self, blocks: usize) {
        let blocks = blocks.max(1);
        self.history_limit
            .store(blocks, std::sync::atomic::Ordering::Relaxed);
        let mut history = lock(&self.history);
        while history.len() > blocks {
            history.pop_front();
        }
    }

    /// Rewinds the chain to block `number`, whose state must still be kept (dev chains:
    /// `evm_revert`): later blocks are removed from the store in one write transaction and
    /// `number` becomes the head. Pooled transactions stay (those the removed blocks had mined
    /// are gone with them, as on anvil).
    pub fn rewind(&self, number: u64) -> Result<(), ChainError> {
        let _writer = lock(&self.writer);
        let target = self.at(Some(number))?;
        if target.header.number == self.block_number() {
            return Ok(());
        }
        self.store.rewind(number, &target.state)?;
        let mut pool = lock(&self.pool);
        *self.head.write().unwrap_or_else(PoisonError::into_inner) = target.clone();
        lock(&self.history).retain(|h| h.header.number <= number);
        pool.txs.prune(&target.state);
        Ok(())
    }

    /// The executor.
    pub(crate) fn executor(&self) -> &Executor {
        &self.executor
    }

    pub(crate) fn call_env(&self, state: &WorldState, req: &CallRequest, gas: u64) -> TxEnv {
        TxEnv {
            caller: req.from.unwrap_or_default(),
            gas_limit: gas,
            gas_price: req.gas_price.unwrap_or_default(),
            kind: req.to.map_or(TxKind::Create, TxKind::Call),
            value: req.value.unwrap_or_default(),
            data: req.input.clone(),
            nonce: state.nonce(&req.from.unwrap_or_default()),
            chain_id: Some(self.chain_id()),
            ..TxEnv::default()
        }
    }

    /// Executes `req` read-only on the state of `block` (`None` = latest; a past block while
    /// its state is kept), without recording inferences. The result says success, revert (with
    /// data) or halt.
    pub fn call(
        &self,
        req: &CallRequest,
        block: Option<u64>,
    ) -> Result<ExecutionResult, ChainError> {
        let head = self.at(block)?;
        let input = BlockInput::pending(&head.header, head.hash, self.now());
        let gas = req.gas.unwrap_or(head.header.gas_limit);
        let env = self.call_env(&head.state, req, gas);
        self.executor.call(&head.state, &input, env)
    }

    /// The smallest gas allowance with which `req` succeeds (binary search between the
    /// intrinsic gas and `req.gas` or the block gas limit), every try on the same state. A call
    /// that fails at the highest allowance is [`ChainError::Reverted`] (with its revert data)
    /// or [`ChainError::Halted`].
    pub fn estimate_gas(&self, req: &CallRequest, block: Option<u64>) -> Result<u64, ChainError> {
        let head = self.at(block)?;
        let input = BlockInput::pending(&head.header, head.hash, self.now());
        let cap = req.gas.unwrap_or(head.header.gas_limit);
        let run = |gas: u64| {
            let env = self.call_env(&head.state, req, gas);
            self.executor.call(&head.state, &input, env)
        };
        let first = run(cap)?;
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
        let succeeds = |gas: u64| -> Result<bool, ChainError> {
            match run(gas) {
                Ok(r) => Ok(r.is_success()),
                Err(ChainError::Tx(_)) => Ok(false),
                Err(e) => Err(e),
            }
        };
        if succeeds(used)? {
            return Ok(used);
        }
        let (mut lo, mut hi) = (used, cap);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if succeeds(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Ok(hi)
    }

    /// Balance of `address` at `block` (`None` = latest; a past block while its state is kept).
    pub fn balance(&self, address: &Address, block: Option<u64>) -> Result<U256, ChainError> {
        Ok(self.at(block)?.state.balance(address))
    }

    /// Nonce of `address` at `block` (`None` = latest; a past block while its state is kept).
    pub fn nonce(&self, address: &Address, block: Option<u64>) -> Result<u64, ChainError> {
        Ok(self.at(block)?.state.nonce(address))
    }

    /// Code of `address` at `block` (`None` = latest; a past block while its state is kept).
    pub fn code(&self, address: &Address, block: Option<u64>) -> Result<Bytes, ChainError> {
        Ok(self.at(block)?.state.code(address))
    }

    /// EIP-1186 proofs of `address` and its `slots` at `block` (`eth_getProof`), against that
    /// block's state root.
    pub fn proof(
        &self,
        address: Address,
        slots: &[B256],
        block: Option<u64>,
    ) -> Result<crate::AccountProof, ChainError> {
        Ok(self.at(block)?.state.proof(address, slots))
    }

    /// Storage slot of `address` at `block` (`None` = latest; a past block while its state is kept).
    pub fn storage(
        &self,
        address: &Address,
        slot: U256,
        block: Option<u64>,
    ) -> Result<U256, ChainError> {
        Ok(self.at(block)?.state.storage(address, slot))
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
        let impersonator = self.impersonator();
        for (i, (tx, receipt)) in block.transactions.iter().zip(receipts).enumerate() {
            let cumulative = receipt.cumulative_gas_used();
            let logs = receipt.logs().len() as u64;
            // An impersonated transaction's receipt describes the call that ran.
            let (from, to, created) = match crate::dev_edits::impersonation(tx, impersonator) {
                Some(c) if c.create => (c.from, None, Some(c.from.create(c.nonce))),
                Some(c) => (c.from, Some(c.to), None),
                None => (tx.sender, tx.envelope.to(), tx.created_address()),
            };
            out.push(TxReceiptInfo {
                contract_address: if receipt.status() { created } else { None },
                tx_hash: tx.hash(),
                block_number: n,
                block_hash: block.hash,
                index: i as u64,
                from,
                to,
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

    /// Logs matching `filter`, over at most [`MAX_LOG_RANGE`] blocks (a wider range is
    /// [`ChainError::LogRange`]: split the query).
    pub fn logs(&self, filter: &LogFilter) -> Result<Vec<LogEntry>, ChainError> {
        let head = self.block_number();
        let from = filter.from_block.unwrap_or(0);
        let to = filter.to_block.unwrap_or(head).min(head);
        if from > to {
            return Ok(Vec::new());
        }
        if to - from >= MAX_LOG_RANGE {
            return Err(ChainError::LogRange {
                from,
                to,
                max: MAX_LOG_RANGE,
            });
        }
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
    pub fn witness(&self, n: u64) -> Result<Option<Vec<InferenceRecord>>, ChainError> {
        self.store.witness(n)
    }

    /// Block `n` with its raw transactions and witness, as validators receive it.
    pub fn block_with_witness(&self, n: u64) -> Result<Option<BlockWithWitness>, ChainError> {
        self.store.block_with_witness(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{DEV_ACCOUNTS, DEV_CHAIN_ID};
    use std::{sync::mpsc, time::Duration};

    #[test]
    fn chain_is_shared_between_threads() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<Chain>();
    }

    fn chain() -> Arc<Chain> {
        let runtime = Arc::new(Runtime::new(Profile::Exact).unwrap());
        Arc::new(Chain::open_in_memory(Genesis::dev(DEV_CHAIN_ID), runtime).unwrap())
    }

    /// Runs `f` on another thread and waits at most a minute for it.
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || tx.send(f()));
        rx.recv_timeout(Duration::from_secs(60))
            .expect("blocked behind the writer")
    }

    #[test]
    fn reads_do_not_wait_for_a_block_being_made() {
        let chain = chain();
        let alice = DEV_ACCOUNTS[0].0;
        // A block is being built or imported: the writer lock is held.
        let writer = lock(&chain.writer);
        let c = chain.clone();
        let (balance, block, logs) = within_a_minute(move || {
            let call = CallRequest {
                from: Some(alice),
                to: Some(DEV_ACCOUNTS[1].0),
                value: Some(U256::from(1)),
                ..CallRequest::default()
            };
            let ok = c.call(&call, None).unwrap().is_success();
            let gas = c.estimate_gas(&call, None).unwrap();
            assert!(ok && gas == 21_000);
            (
                c.balance(&alice, None).unwrap(),
                c.block_by_number(0).unwrap().is_some(),
                c.logs(&LogFilter::default()).unwrap().len(),
            )
        });
        assert!(balance > U256::ZERO && block && logs == 0);
        drop(writer);
    }

    #[test]
    fn a_panic_while_a_lock_is_held_wedges_nothing() {
        let chain = chain();
        for which in 0..3 {
            let c = chain.clone();
            let panicked = std::thread::spawn(move || match which {
                0 => {
                    let _held = lock(&c.writer);
                    panic!("a request failed while making a block");
                }
                1 => {
                    let _held = lock(&c.pool);
                    panic!("a request failed while adding to the pool");
                }
                _ => {
                    let _held = c.head.write().unwrap_or_else(PoisonError::into_inner);
                    panic!("a request failed while replacing the head");
                }
            })
            .join();
            assert!(panicked.is_err());
        }
        assert!(chain.writer.is_poisoned() && chain.pool.is_poisoned());
        // Every path still works.
        let mined = chain.mine(true).unwrap().unwrap();
        assert_eq!(mined.block.header.number, 1);
        assert_eq!(chain.block_number(), 1);
        assert_eq!(chain.pending_nonce(&DEV_ACCOUNTS[0].0), 0);
    }
}
