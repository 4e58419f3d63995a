//! Verifying a range of blocks: sequentially, in parallel, or from the witness alone, with
//! progress and a summary.
//!
//! **Parallel** verification executes the transactions on the witness's outputs
//! ([`Check::DeferOutputs`]: no inference on the executing thread) and streams every
//! inference claim to a pool of worker threads that re-run the models. The verdict is the
//! first divergence in the order sequential verification meets them (block, then stage,
//! then transaction and call), so both modes report the same thing. Blocks are imported into
//! the validator's chain before their outputs are confirmed: use [`Mode::Sequential`] when
//! the chain is kept (`prova import`, `prova validator`).

use crate::{
    Divergence,
    verify::{self, BlockStats, Check, OutputClaim, VerifyError, order},
};
use prova_chain::{BlockWithWitness, Chain, ChainError};
use prova_precompile::Reference;
use std::{
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

/// How blocks are verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One thread: execute and re-run every inference inline.
    Sequential,
    /// Execute on the witness's outputs; re-run the inferences on `threads` workers.
    Parallel {
        /// Worker threads.
        threads: usize,
    },
    /// Execute on the witness's outputs and check everything but the outputs themselves
    /// (fast sync: trusts the recorded inference results).
    WitnessOnly,
}

impl Mode {
    /// Parallel on every core the machine has.
    pub fn parallel() -> Self {
        Self::Parallel {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// The mode's name in reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sequential => "sequential",
            Self::Parallel { .. } => "parallel",
            Self::WitnessOnly => "witness-only",
        }
    }
}

/// Counters, reported while verifying and at the end.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Progress {
    /// Last block executed.
    pub block: u64,
    /// Blocks executed.
    pub blocks: u64,
    /// Transactions executed.
    pub txs: u64,
    /// Inference records met.
    pub inferences: u64,
    /// Inferences re-run and compared.
    pub checked: u64,
    /// Gas used by the executed blocks.
    pub gas_used: u64,
    /// Time since the start.
    pub elapsed: Duration,
}

impl Progress {
    fn add(&mut self, number: u64, s: &BlockStats) {
        self.block = number;
        self.blocks += 1;
        self.txs += s.txs;
        self.inferences += s.inferences;
        self.gas_used += s.gas_used;
    }

    fn rate(&self, n: u64) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 { n as f64 / secs } else { 0.0 }
    }

    /// Blocks per second.
    pub fn blocks_per_sec(&self) -> f64 {
        self.rate(self.blocks)
    }

    /// Transactions per second.
    pub fn txs_per_sec(&self) -> f64 {
        self.rate(self.txs)
    }

    /// Inferences checked per second.
    pub fn inferences_per_sec(&self) -> f64 {
        self.rate(self.checked)
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The mode used.
    pub mode: Mode,
    /// Counters at the end.
    pub progress: Progress,
    /// The first divergence, if any (nothing after it is imported in sequential mode).
    pub divergence: Option<Divergence>,
}

impl Summary {
    /// Whether everything verified.
    pub fn verified(&self) -> bool {
        self.divergence.is_none()
    }
}

/// Why a run stopped without a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The validator failed locally (storage, a missing model file).
    #[error("validator fault: {0}")]
    Fault(#[from] ChainError),
    /// The block source failed (unreadable or malformed input).
    #[error("{0}")]
    Source(String),
}

/// Verifies `blocks` (children of `chain`'s head, in order) in `mode`, importing them into
/// `chain`. Blocks numbered below `verify_from` are replayed from the witness alone (their
/// outputs trusted). Calls `on_progress` after every block. Stops at the first divergence.
pub fn run(
    chain: &Chain,
    blocks: impl IntoIterator<Item = Result<BlockWithWitness, String>>,
    mode: Mode,
    verify_from: u64,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, RunError> {
    let start = Instant::now();
    match mode {
        // At least one worker: a pool of none would leave the outputs unchecked.
        Mode::Parallel { threads } => run_parallel(
            chain,
            blocks,
            threads.max(1),
            verify_from,
            start,
            on_progress,
        ),
        _ => {
            let mut progress = Progress::default();
            let mut divergence = None;
            for block in blocks {
                let block = block.map_err(RunError::Source)?;
                let check = match mode {
                    Mode::Sequential if block.header.number >= verify_from => Check::Full,
                    _ => Check::DeferOutputs,
                };
                match verify::import(chain, &block, check) {
                    Ok((stats, _)) => {
                        progress.add(block.header.number, &stats);
                        if check == Check::Full {
                            progress.checked += stats.inferences;
                        }
                    }
                    Err(VerifyError::Diverged(d)) => {
                        divergence = Some(*d);
                        break;
                    }
                    Err(VerifyError::Fault(e)) => return Err(e.into()),
                }
                progress.elapsed = start.elapsed();
                on_progress(&progress);
            }
            progress.elapsed = start.elapsed();
            Ok(Summary {
                mode,
                progress,
                divergence,
            })
        }
    }
}

/// Re-runs one claim: `None` when it holds.
pub fn check_claim(
    reference: &Reference,
    claim: &OutputClaim,
) -> Result<Option<Divergence>, ChainError> {
    let actual = &claim.record;
    let inputs = actual
        .inputs()
        .ok_or_else(|| ChainError::Execution("an output claim without its inputs".into()))?;
    let (output, success) = reference.run(&actual.model, inputs)?;
    if output == actual.output && success == actual.success {
        return Ok(None);
    }
    let mut expected = actual.clone();
    (expected.output, expected.success) = (output, success);
    let field = verify::record_difference(Some(&expected), Some(actual)).unwrap_or("output");
    Ok(Some(Divergence {
        block: claim.at.block,
        block_hash: claim.at.block_hash,
        kind: verify::inference_divergence(
            claim.at.position,
            field,
            Some(&expected),
            Some(actual),
            claim.at.tx_hash,
        ),
    }))
}

type Verdict = Result<Option<Divergence>, ChainError>;

fn earliest(a: Option<Divergence>, b: Divergence) -> Option<Divergence> {
    match a {
        Some(a) if order(&a) <= order(&b) => Some(a),
        _ => Some(b),
    }
}

fn run_parallel(
    chain: &Chain,
    blocks: impl IntoIterator<Item = Result<BlockWithWitness, String>>,
    threads: usize,
    verify_from: u64,
    start: Instant,
    on_progress: &mut dyn FnMut(&Progress),
) -> Result<Summary, RunError> {
    let reference = chain.reference();
    let mut progress = Progress::default();
    let mut divergence: Option<Divergence> = None;
    let mut fault: Option<ChainError> = None;
    std::thread::scope(|s| -> Result<(), RunError> {
        let (claims_tx, claims_rx) = mpsc::sync_channel::<OutputClaim>(4 * 1024);
        let claims_rx = Arc::new(Mutex::new(claims_rx));
        let (verdict_tx, verdict_rx) = mpsc::channel::<Verdict>();
        for _ in 0..threads {
            let rx = claims_rx.clone();
            let tx = verdict_tx.clone();
            let reference = reference.clone();
            s.spawn(move || {
                loop {
                    let claim = match rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => break,
                    };
                    let Ok(claim) = claim else { break };
                    if tx.send(check_claim(&reference, &claim)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(verdict_tx);
        let take = |v: Verdict,
                    progress: &mut Progress,
                    divergence: &mut Option<Divergence>,
                    fault: &mut Option<ChainError>| {
            progress.checked += 1;
            match v {
                Ok(None) => {}
                Ok(Some(d)) => *divergence = earliest(divergence.take(), d),
                Err(e) => {
                    fault.get_or_insert(e);
                }
            }
        };
        let mut source_error = None;
        for block in blocks {
            while let Ok(v) = verdict_rx.try_recv() {
                take(v, &mut progress, &mut divergence, &mut fault);
            }
            let block = match block {
                Ok(b) => b,
                Err(e) => {
                    source_error = Some(RunError::Source(e));
                    break;
                }
            };
            // A divergence already found in an earlier block is the verdict.
            if divergence
                .as_ref()
                .is_some_and(|d| d.block < block.header.number)
            {
                break;
            }
            // A block that diverges on the witness's outputs is checked again in full, so
            // that its verdict is the one sequential verification gives (an output earlier
            // in the block may be what is wrong).
            let result = match verify::import(chain, &block, Check::DeferOutputs) {
                Err(VerifyError::Diverged(_)) => verify::import(chain, &block, Check::Full)
                    .inspect(|(stats, _)| progress.checked += stats.inferences),
                other => other,
            };
            match result {
                Ok((stats, claims)) => {
                    progress.add(block.header.number, &stats);
                    if block.header.number >= verify_from {
                        for claim in claims {
                            if claims_tx.send(claim).is_err() {
                                break;
                            }
                        }
                    }
                }
                Err(VerifyError::Diverged(d)) => {
                    divergence = earliest(divergence.take(), *d);
                    break;
                }
                Err(VerifyError::Fault(e)) => {
                    fault = Some(e);
                    break;
                }
            }
            progress.elapsed = start.elapsed();
            on_progress(&progress);
        }
        drop(claims_tx);
        for v in verdict_rx {
            take(v, &mut progress, &mut divergence, &mut fault);
        }
        match source_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })?;
    if let Some(e) = fault {
        return Err(e.into());
    }
    progress.elapsed = start.elapsed();
    on_progress(&progress);
    Ok(Summary {
        mode: Mode::Parallel { threads },
        progress,
        divergence,
    })
}
