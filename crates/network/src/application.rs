//! [`Application`]: what a validator does with blocks, under commonware's marshal (which orders,
//! disseminates and backfills them) and simplex (which votes on them).
//!
//! - **propose**: the leader builds a block on the parent consensus gives it, from its pool's
//!   best transactions (every inference runs here, in the exact profile), at least one second
//!   after the parent (Ethereum timestamps are seconds and strictly increase).
//! - **verify**: before it votes, a validator re-executes the block on its parent's state: the
//!   header must follow the parent by the chain's rules, and transactions, witness and every
//!   header field must equal the re-execution
//!   ([`prova_validator::verify_child`]). Execution takes INFER's outputs from the witness and
//!   the claimed outputs are then re-run on a thread per core (parallel witness verification);
//!   one output that differs, and the answer is `false`. A block that does not verify is never
//!   notarized by an honest validator, so never finalized.
//! - **report** (finalized blocks, in height order, from marshal): the block is committed to
//!   the chain's redb store in one transaction, then acknowledged; marshal delivers a block again
//!   after a crash until it is acknowledged, and committing the head again is a no-op.
//!
//! Blocks verified or built but not yet finalized are kept in memory with the state after them
//! (a child is executed on it), and dropped once a block at their height is finalized.

use crate::block::{Block, hash_of};
use alloy_primitives::{Address, B256, Bytes};
use commonware_consensus::{
    Block as _, Heightable, Reporter,
    marshal::{
        Update,
        ancestry::{AncestorStream, BlockProvider},
    },
    simplex::types::Context,
};
use commonware_cryptography::{ed25519, sha256::Digest};
use commonware_runtime::{Clock, Metrics, Spawner};
use commonware_utils::Acknowledgement;
use futures::StreamExt;
use prova_chain::{BlockWithWitness, Chain, ExecutedBlock, Head};
use prova_validator::{Check, OutputClaim, VerifyError};
use rand::Rng;
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, SystemTime, UNIX_EPOCH},
};
use tracing::{error, info, warn};

/// The signing scheme of votes and certificates: one ed25519 key per validator.
pub type Scheme = commonware_consensus::simplex::scheme::ed25519::Scheme;
/// A validator's identity.
pub type PublicKey = ed25519::PublicKey;

/// A lie a Byzantine proposer tells, for tests of the fault model (and `prova devnet
/// --byzantine`): honest validators must never finalize such a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The first inference record's output is altered, and the inferences root recomputed
    /// over the altered witness (a consistent lie: only re-running the model exposes it).
    WrongOutput,
    /// The header's inferences root is altered (the witness no longer matches it).
    WrongInferencesRoot,
}

/// A block executed here (built or verified) and not yet finalized.
#[derive(Debug)]
struct Executed {
    block: ExecutedBlock,
    head: Arc<Head>,
}

/// Statistics a validator keeps about finalization, for `prova devnet` and the docs' figures.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Finalized {
    /// Blocks finalized (and committed) since start.
    pub blocks: u64,
    /// Transactions in them.
    pub txs: u64,
    /// Inference records in them.
    pub inferences: u64,
    /// Blocks this validator refused to vote for (they diverged from re-execution).
    pub refused: u64,
}

/// The Prova application of one validator (cheap to clone: all clones share state).
#[derive(Clone)]
pub struct Application {
    chain: Arc<Chain>,
    genesis: Arc<Block>,
    beneficiary: Address,
    executed: Arc<Mutex<BTreeMap<B256, Arc<Executed>>>>,
    stats: Arc<Mutex<Finalized>>,
    fault: Option<Fault>,
    verify_threads: usize,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs `f` (EVM and inference work) where the runtime keeps blocking work, so consensus' and
/// p2p's tasks keep being polled while a block executes.
async fn off_the_executor<E: Spawner, T: Send + 'static>(
    runtime: &E,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    runtime
        .clone()
        .shared(true)
        .spawn(move |_| async move { f() })
        .await
        .ok()
}

fn seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Application {
    /// The application of a validator over `chain` (whose genesis is the network's), paying
    /// fees of the blocks it proposes to `beneficiary`.
    pub fn new(chain: Arc<Chain>, beneficiary: Address) -> Result<Self, prova_chain::ChainError> {
        let genesis = chain
            .block_with_witness(0)?
            .ok_or_else(|| prova_chain::ChainError::Execution("no genesis block".into()))?;
        Ok(Self {
            chain,
            genesis: Arc::new(Block::new(genesis)),
            beneficiary,
            executed: Arc::default(),
            stats: Arc::default(),
            fault: None,
            verify_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        })
    }

    /// Makes this validator a Byzantine proposer telling `fault` (tests of the fault model).
    pub fn with_fault(mut self, fault: Option<Fault>) -> Self {
        self.fault = fault;
        self
    }

    /// Threads used to re-run claimed inference outputs (1: inline).
    pub fn with_verify_threads(mut self, threads: usize) -> Self {
        self.verify_threads = threads.max(1);
        self
    }

    /// The chain this validator commits finalized blocks to.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }

    /// What this validator finalized and refused so far.
    pub fn finalized(&self) -> Finalized {
        *lock(&self.stats)
    }

    /// The state after the block with hash `hash`, if this validator holds it: an executed
    /// block not yet finalized, or a committed one among the chain's recent heads.
    fn head_of(&self, hash: B256, number: u64) -> Option<Arc<Head>> {
        if let Some(e) = lock(&self.executed).get(&hash) {
            return Some(e.head.clone());
        }
        let head = self.chain.head();
        if head.hash == hash {
            return Some(head);
        }
        self.chain.at(Some(number)).ok().filter(|h| h.hash == hash)
    }

    /// The state after `block`, executing (and verifying) the ancestors this validator does not
    /// hold yet, oldest first (after a restart, notarized blocks are no longer in memory).
    async fn state_after<A: BlockProvider<Block = Block>>(
        &self,
        block: &Block,
        ancestry: &mut AncestorStream<A, Block>,
    ) -> Option<Arc<Head>> {
        if let Some(head) = self.head_of(block.hash(), block.number()) {
            return Some(head);
        }
        let mut missing = vec![block.clone()];
        let base = loop {
            let oldest = missing.last()?;
            let parent_number = oldest.number().checked_sub(1)?;
            if let Some(head) = self.head_of(oldest.header().parent_hash, parent_number) {
                break head;
            }
            if parent_number < self.chain.block_number() {
                // Below the finalized head, on another branch: not ours to build on.
                return None;
            }
            missing.push(ancestry.next().await?);
        };
        let mut parent = base;
        for b in missing.into_iter().rev() {
            parent = self.verify_on(&parent, &b)?;
        }
        Some(parent)
    }

    /// Verifies `block` on `parent` (see the module docs), remembering it when it holds.
    fn verify_on(&self, parent: &Head, block: &Block) -> Option<Arc<Head>> {
        let verdict = self.verify_block(parent, block.inner());
        match verdict {
            Ok((executed, head)) => {
                let head_out = head.clone();
                lock(&self.executed).insert(
                    block.hash(),
                    Arc::new(Executed {
                        block: executed,
                        head,
                    }),
                );
                Some(head_out)
            }
            Err(e) => {
                lock(&self.stats).refused += 1;
                warn!(
                    number = block.number(),
                    hash = %block.hash(),
                    "refusing block: {e}"
                );
                None
            }
        }
    }

    fn verify_block(
        &self,
        parent: &Head,
        block: &BlockWithWitness,
    ) -> Result<(ExecutedBlock, Arc<Head>), VerifyError> {
        let (executed, head, claims) =
            prova_validator::verify_child(&self.chain, parent, block, Check::DeferOutputs)?;
        if let Some(d) = self.check_claims(&claims)? {
            return Err(VerifyError::Diverged(Box::new(d)));
        }
        Ok((executed, head))
    }

    /// Re-runs the claimed outputs, on up to `verify_threads` threads; the first divergence
    /// in witness order.
    fn check_claims(
        &self,
        claims: &[OutputClaim],
    ) -> Result<Option<prova_validator::Divergence>, prova_chain::ChainError> {
        let reference = self.chain.reference();
        let threads = self.verify_threads.min(claims.len());
        if threads <= 1 {
            for c in claims {
                if let Some(d) = prova_validator::check_claim(&reference, c)? {
                    return Ok(Some(d));
                }
            }
            return Ok(None);
        }
        let chunk = claims.len().div_ceil(threads);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = claims
                .chunks(chunk)
                .map(|part| {
                    let reference = reference.clone();
                    s.spawn(move || {
                        for c in part {
                            if let Some(d) = prova_validator::check_claim(&reference, c)? {
                                return Ok(Some(d));
                            }
                        }
                        Ok(None)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(prova_chain::ChainError::Execution(
                            "a witness check panicked".into(),
                        ))
                    })
                })
                .collect()
        });
        for r in results {
            if let Some(d) = r? {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// Tells this proposer's lie, if it has one.
    fn tamper(&self, block: BlockWithWitness) -> BlockWithWitness {
        let Some(fault) = self.fault else {
            return block;
        };
        let BlockWithWitness {
            mut header,
            transactions,
            mut witness,
            ..
        } = block;
        match fault {
            Fault::WrongOutput => {
                let Some(first) = witness.first_mut() else {
                    return BlockWithWitness::new(header, transactions, witness);
                };
                let mut out = first.output.to_vec();
                match out.last_mut() {
                    Some(b) => *b ^= 1,
                    None => out.push(1),
                }
                first.output = Bytes::from(out);
                header.extra_data = prova_chain::inferences_root(&witness).0.to_vec().into();
            }
            Fault::WrongInferencesRoot => {
                let mut root = header.extra_data.to_vec();
                match root.first_mut() {
                    Some(b) => *b ^= 1,
                    None => root = vec![1; 32],
                }
                header.extra_data = root.into();
            }
        }
        warn!(number = header.number, ?fault, "proposing a tampered block");
        BlockWithWitness::new(header, transactions, witness)
    }

    /// Commits a finalized block (see the module docs). `false` when it cannot be committed:
    /// the validator then stops acknowledging (it must not go on from a state the network did
    /// not finalize).
    fn commit(&self, block: &Block) -> bool {
        let number = block.number();
        if number <= self.chain.block_number() {
            // Delivered again after a restart: it must be the block we committed.
            return match self.chain.block_by_number(number) {
                Ok(Some(b)) if b.hash == block.hash() => true,
                other => {
                    error!(
                        number,
                        hash = %block.hash(),
                        "finalized block differs from the committed one: {other:?}"
                    );
                    false
                }
            };
        }
        let known = lock(&self.executed).get(&block.hash()).cloned();
        let executed = match known {
            Some(e) => e,
            None => {
                // Finalized without our vote (we were behind): verify it now, on the head.
                let head = self.chain.head();
                match self.verify_block(&head, block.inner()) {
                    Ok((block, head)) => Arc::new(Executed { block, head }),
                    Err(e) => {
                        error!(number, hash = %block.hash(), "finalized block does not verify here: {e}");
                        return false;
                    }
                }
            }
        };
        if let Err(e) = self.chain.commit_child(&executed.block, &executed.head) {
            error!(number, hash = %block.hash(), "cannot commit finalized block: {e}");
            return false;
        }
        let mut stats = lock(&self.stats);
        stats.blocks += 1;
        stats.txs += executed.block.txs.len() as u64;
        stats.inferences += executed.block.witness.len() as u64;
        drop(stats);
        lock(&self.executed).retain(|_, e| e.block.header.number > number);
        info!(
            number,
            hash = %block.hash(),
            txs = executed.block.txs.len(),
            inferences = executed.block.witness.len(),
            "finalized"
        );
        true
    }
}

impl<E> commonware_consensus::Application<E> for Application
where
    E: Rng + Spawner + Metrics + Clock,
{
    type SigningScheme = Scheme;
    type Context = Context<Digest, PublicKey>;
    type Block = Block;

    async fn genesis(&mut self) -> Block {
        self.genesis.as_ref().clone()
    }

    async fn propose<A: BlockProvider<Block = Block>>(
        &mut self,
        (runtime, _context): (E, Self::Context),
        mut ancestry: AncestorStream<A, Block>,
    ) -> Option<Block> {
        let parent = ancestry.next().await?;
        let parent_head = self.state_after(&parent, &mut ancestry).await?;
        // Timestamps are whole seconds and strictly increase: wait for the next second.
        let earliest = parent.header().timestamp.checked_add(1)?;
        let now = seconds(runtime.current());
        if now < earliest {
            runtime
                .sleep_until(UNIX_EPOCH + Duration::from_secs(earliest))
                .await;
        }
        let timestamp = seconds(runtime.current()).max(earliest);
        let (chain, beneficiary) = (self.chain.clone(), self.beneficiary);
        let built = off_the_executor(&runtime, move || {
            chain.build_child(&parent_head, timestamp, beneficiary)
        })
        .await?;
        let (executed, head) = match built {
            Ok(built) => built,
            Err(e) => {
                error!(parent = %parent.hash(), "cannot build a block: {e}");
                return None;
            }
        };
        let inner = BlockWithWitness::new(
            executed.header.clone(),
            executed.txs.iter().map(|t| t.tx.raw()).collect(),
            executed.witness.clone(),
        );
        let inner = self.tamper(inner);
        let block = Block::new(inner);
        if block.hash() == executed.hash {
            lock(&self.executed).insert(
                block.hash(),
                Arc::new(Executed {
                    block: executed,
                    head,
                }),
            );
        }
        Some(block)
    }
}

impl<E> commonware_consensus::VerifyingApplication<E> for Application
where
    E: Rng + Spawner + Metrics + Clock,
{
    async fn verify<A: BlockProvider<Block = Block>>(
        &mut self,
        (runtime, _context): (E, Self::Context),
        mut ancestry: AncestorStream<A, Block>,
    ) -> bool {
        let Some(block) = ancestry.next().await else {
            return false;
        };
        if let Err(e) = prova_chain::rules::check_clock(block.header(), seconds(runtime.current()))
        {
            warn!(number = block.number(), "refusing block: {e}");
            return false;
        }
        let Some(parent) = ancestry.next().await else {
            return false;
        };
        if hash_of(&block.parent()) != parent.hash() {
            return false;
        }
        let Some(parent_head) = self.state_after(&parent, &mut ancestry).await else {
            return false;
        };
        if self.head_of(block.hash(), block.number()).is_some() {
            return true;
        }
        let app = self.clone();
        off_the_executor(&runtime, move || {
            app.verify_on(&parent_head, &block).is_some()
        })
        .await
        .unwrap_or(false)
    }
}

impl Reporter for Application {
    type Activity = Update<Block>;

    async fn report(&mut self, activity: Self::Activity) {
        if let Update::Block(block, ack) = activity {
            if block.height().is_zero() || self.commit(&block) {
                ack.acknowledge();
            } else {
                // Not acknowledged: marshal delivers it again; the node operator is told why.
                error!(number = block.number(), "finalized block not committed");
            }
        }
    }
}
