//! The block executor: runs a block's transactions on revm with [`ProvaPrecompiles`], builds
//! receipts and the inference witness, applies the state changes and computes the header.

use crate::{
    SignedTx, StateDiff, TxError, WorldState, dev_edits, error::ChainError,
    witness::inferences_root,
};
use alloy_consensus::{
    EMPTY_OMMER_ROOT_HASH, Eip658Value, Header, Receipt, ReceiptEnvelope, TxReceipt,
    proofs::{calculate_receipt_root, calculate_transaction_root},
};
use alloy_primitives::{Address, B256, Bloom, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use prova_precompile::{InferenceRecord, ProvaPrecompiles, Reference};
use revm::{
    Context, ExecuteEvm, MainBuilder, MainContext,
    context::{
        BlockEnv, CfgEnv, TxEnv,
        result::{EVMError, ExecutionResult, InvalidTransaction},
    },
    context_interface::block::BlobExcessGasAndPrice,
    database::{CacheDB, DatabaseCommit},
    handler::{EthFrame, instructions::EthInstructions},
    interpreter::interpreter::EthInterpreter,
    primitives::{eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN, hardfork::SpecId},
    state::EvmState,
};

/// The EVM revision Prova runs (Cancun; blob and EIP-7702 transactions are not accepted).
pub const SPEC: SpecId = SpecId::CANCUN;

type Db<'a> = CacheDB<&'a WorldState>;
type Ctx<'a> = revm::handler::MainnetContext<Db<'a>>;
type ProvaEvm<'a> = revm::context::Evm<
    Ctx<'a>,
    (),
    EthInstructions<EthInterpreter, Ctx<'a>>,
    ProvaPrecompiles,
    EthFrame<EthInterpreter>,
>;

/// What the producer chooses for a block before executing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInput {
    /// Parent hash.
    pub parent_hash: B256,
    /// Block number.
    pub number: u64,
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// Gas limit.
    pub gas_limit: u64,
    /// Base fee.
    pub base_fee: u64,
}

impl BlockInput {
    /// The block a read-only call (`eth_call`, `eth_estimateGas`) runs in: the child of
    /// `parent` as [`crate::rules::child_input`] makes it, except that it never fails: at the
    /// end of a field's range it stays at the maximum (no such block can be sealed).
    pub fn pending(parent: &Header, parent_hash: B256, timestamp: u64) -> Self {
        crate::rules::child_input(parent, parent_hash, timestamp).unwrap_or(Self {
            parent_hash,
            number: parent.number.saturating_add(1),
            timestamp: timestamp.max(parent.timestamp.saturating_add(1)),
            beneficiary: parent.beneficiary,
            gas_limit: parent.gas_limit,
            base_fee: parent.base_fee_per_gas.unwrap_or_default(),
        })
    }

    /// The block `header` says (to execute a block made elsewhere as it was made).
    pub fn of(header: &Header) -> Self {
        Self {
            parent_hash: header.parent_hash,
            number: header.number,
            timestamp: header.timestamp,
            beneficiary: header.beneficiary,
            gas_limit: header.gas_limit,
            base_fee: header.base_fee_per_gas.unwrap_or_default(),
        }
    }

    /// revm's block environment. `prevrandao` is the parent hash (a dev chain has no beacon).
    pub fn block_env(&self) -> BlockEnv {
        BlockEnv {
            number: U256::from(self.number),
            beneficiary: self.beneficiary,
            timestamp: U256::from(self.timestamp),
            gas_limit: self.gas_limit,
            basefee: self.base_fee,
            difficulty: U256::ZERO,
            prevrandao: Some(self.parent_hash),
            blob_excess_gas_and_price: Some(BlobExcessGasAndPrice::new(
                0,
                BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN,
            )),
            ..BlockEnv::default()
        }
    }
}

/// One executed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutedTx {
    /// The transaction.
    pub tx: SignedTx,
    /// Its receipt (typed like the transaction).
    pub receipt: ReceiptEnvelope,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Address of the contract it created, if any (and it succeeded).
    pub contract_address: Option<Address>,
}

/// A block after execution: header, transactions, receipts, witness, and the state diff.
#[derive(Debug, Clone)]
pub struct ExecutedBlock {
    /// The header (roots filled in).
    pub header: Header,
    /// Its hash.
    pub hash: B256,
    /// Transactions included, in order.
    pub txs: Vec<ExecutedTx>,
    /// The inference witness: this execution's records, numbered, with their inputs (see
    /// [`InferenceRecord::fed`] for the records that took a claimed output).
    pub witness: Vec<InferenceRecord>,
    /// Transactions refused (not included), with the reason.
    pub rejected: Vec<(B256, TxError)>,
    /// What the block changed.
    pub diff: StateDiff,
}

/// Maps revm's validation failures to [`TxError`].
fn tx_error(e: InvalidTransaction, tx: &SignedTx, base_fee: u64, chain_id: u64) -> TxError {
    match e {
        InvalidTransaction::NonceTooLow { tx, state } => TxError::NonceTooLow {
            expected: state,
            got: tx,
        },
        InvalidTransaction::NonceTooHigh { tx, state } => TxError::NonceTooHigh {
            expected: state,
            got: tx,
        },
        InvalidTransaction::LackOfFundForMaxFee { fee, balance } => TxError::InsufficientFunds {
            required: *fee,
            balance: *balance,
        },
        InvalidTransaction::CallGasCostMoreThanGasLimit {
            initial_gas,
            gas_limit,
        } => TxError::IntrinsicGasTooLow {
            intrinsic: initial_gas,
            gas_limit,
        },
        InvalidTransaction::GasFloorMoreThanGasLimit {
            gas_floor,
            gas_limit,
        } => TxError::IntrinsicGasTooLow {
            intrinsic: gas_floor,
            gas_limit,
        },
        InvalidTransaction::GasPriceLessThanBasefee => TxError::FeeCapTooLow {
            max_fee: tx.tx_env().gas_price,
            base_fee,
        },
        InvalidTransaction::PriorityFeeGreaterThanMaxFee => TxError::TipAboveFeeCap,
        InvalidTransaction::InvalidChainId | InvalidTransaction::MissingChainId => {
            TxError::WrongChainId {
                expected: chain_id,
                got: tx.tx_env().chain_id.unwrap_or_default(),
            }
        }
        other => TxError::Invalid(other.to_string()),
    }
}

/// Executes blocks and calls. Holds the precompile provider every EVM gets a handle of
/// ([`ProvaPrecompiles::handle`]: the same runtime and models, its own inference journal), so
/// any number of executions run at once from `&self`.
#[derive(Debug)]
pub struct Executor {
    chain_id: u64,
    precompiles: ProvaPrecompiles,
}

impl Executor {
    /// An executor for `chain_id` over `precompiles`.
    pub fn new(chain_id: u64, precompiles: ProvaPrecompiles) -> Self {
        Self {
            chain_id,
            precompiles,
        }
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The precompile provider the executor makes its handles from (e.g. to preload genesis
    /// models, or read a model's facts).
    pub fn precompiles(&self) -> &ProvaPrecompiles {
        &self.precompiles
    }

    pub(crate) fn cfg(&self, call: bool) -> CfgEnv {
        let mut cfg = CfgEnv::new_with_spec(SPEC);
        cfg.chain_id = self.chain_id;
        cfg.disable_nonce_check = call;
        cfg
    }

    fn evm<'a>(&self, state: &'a WorldState, block: BlockEnv, call: bool) -> ProvaEvm<'a> {
        let mut precompiles = self.precompiles.handle();
        precompiles.set_recording(!call);
        Context::mainnet()
            .with_db(CacheDB::new(state))
            .with_block(block)
            .with_cfg(self.cfg(call))
            .build_mainnet()
            .with_precompiles(precompiles)
    }

    /// A precompile handle for one EVM: recording off (tracing, calls).
    pub(crate) fn quiet_precompiles(&self) -> ProvaPrecompiles {
        let mut p = self.precompiles.handle();
        p.set_recording(false);
        p
    }

    /// A handle that runs models exactly as INFER does, from any thread.
    pub fn reference(&self) -> Reference {
        self.precompiles.reference()
    }

    /// Executes `txs` as block `input` on top of `state` and applies the changes to `state`.
    ///
    /// A transaction that fails validation (chain id, nonce, funds, intrinsic gas, block gas
    /// left, fee cap) is left out and listed in [`ExecutedBlock::rejected`]; one that reverts
    /// or halts is included with status 0. A local fault aborts the whole block, leaving
    /// `state` untouched.
    pub fn execute(
        &self,
        state: &mut WorldState,
        input: &BlockInput,
        txs: Vec<SignedTx>,
    ) -> Result<ExecutedBlock, ChainError> {
        self.run_block(state, input, txs, None)
    }

    /// [`Self::execute`], with INFER taking its outputs from `claimed` (a block's witness) where
    /// a claim names the model and inputs the execution asks for, instead of running the model
    /// ([`ProvaPrecompiles::feed_witness`]). The result's [`ExecutedBlock::witness`] keeps the
    /// inputs of every record so that [`Reference`] can check the claimed outputs later: this
    /// is replay without inference.
    pub fn execute_with_witness(
        &self,
        state: &mut WorldState,
        input: &BlockInput,
        txs: Vec<SignedTx>,
        claimed: &[InferenceRecord],
    ) -> Result<ExecutedBlock, ChainError> {
        self.run_block(state, input, txs, Some(claimed))
    }

    fn run_block(
        &self,
        state: &mut WorldState,
        input: &BlockInput,
        txs: Vec<SignedTx>,
        claimed: Option<&[InferenceRecord]>,
    ) -> Result<ExecutedBlock, ChainError> {
        let chain_id = self.chain_id;
        let mut evm = self.evm(state, input.block_env(), false);
        if let Some(claimed) = claimed {
            evm.precompiles.feed_witness(claimed.iter().cloned());
        }
        let mut changes: Vec<EvmState> = Vec::new();
        let mut executed = Vec::new();
        let mut rejected = Vec::new();
        // Every INFER record, numbered by transaction and call.
        let mut records = Vec::new();
        let mut cumulative = 0u64;
        let mut fault = None;
        for tx in txs {
            if let Err(e) = tx.check_chain_id(chain_id) {
                rejected.push((tx.hash(), e));
                continue;
            }
            let available = input.gas_limit.saturating_sub(cumulative);
            let gas_limit = tx.tx_env().gas_limit;
            if gas_limit > available {
                rejected.push((
                    tx.hash(),
                    TxError::GasLimitExceedsBlock {
                        gas_limit,
                        available,
                    },
                ));
                continue;
            }
            let outcome = match evm.transact(tx.tx_env()) {
                Ok(outcome) => outcome,
                Err(EVMError::Transaction(e)) => {
                    rejected.push((tx.hash(), tx_error(e, &tx, input.base_fee, chain_id)));
                    evm.precompiles.take_records();
                    continue;
                }
                Err(e) => {
                    fault = Some(ChainError::Execution(e.to_string()));
                    break;
                }
            };
            evm.ctx
                .journaled_state
                .database
                .commit(outcome.state.clone());
            changes.push(outcome.state);
            let mut result = outcome.result;
            let mut gas_used = result.tx_gas_used();
            let mut refused = false;
            // A dev edit (dev chains only, see `dev_edits`): applied after its own execution.
            let edit = if result.is_success() {
                dev_edits::edit_of(&mut evm.ctx.journaled_state.database, &tx)
            } else {
                None
            };
            if let Some(edit) = edit {
                let db = &mut evm.ctx.journaled_state.database;
                if let Some(change) = dev_edits::state_change(db, &edit) {
                    db.commit(change.clone());
                    changes.push(change);
                } else if let dev_edits::IDevEdits::IDevEditsCalls::impersonate(call) = &edit {
                    let env = dev_edits::impersonated_env(&tx.tx_env(), call);
                    let left = available - gas_used;
                    let inner = if env.gas_limit > left {
                        None
                    } else {
                        match evm.transact(env) {
                            Ok(inner) => Some(inner),
                            Err(EVMError::Transaction(_)) => None,
                            Err(e) => {
                                fault = Some(ChainError::Execution(e.to_string()));
                                break;
                            }
                        }
                    };
                    match inner {
                        Some(inner) => {
                            evm.ctx.journaled_state.database.commit(inner.state.clone());
                            changes.push(inner.state);
                            gas_used += inner.result.tx_gas_used();
                            result = inner.result;
                        }
                        // Refused (nonce, funds, gas): the edit is mined and did nothing.
                        None => refused = true,
                    }
                }
            }
            let tx_index = executed.len() as u64;
            for (i, mut r) in evm.precompiles.take_records().into_iter().enumerate() {
                (r.tx_index, r.call_index) = (tx_index, i as u64);
                records.push(r);
            }
            cumulative += gas_used;
            let contract_address = match &result {
                ExecutionResult::Success { .. } if !refused => result.created_address(),
                _ => None,
            };
            let receipt = Receipt {
                status: Eip658Value::Eip658(result.is_success() && !refused),
                cumulative_gas_used: cumulative,
                logs: result.into_logs(),
            };
            let receipt = ReceiptEnvelope::from_typed(tx.envelope.tx_type(), receipt.with_bloom());
            executed.push(ExecutedTx {
                tx,
                receipt,
                gas_used,
                contract_address,
            });
        }
        drop(evm);
        if let Some(fault) = fault {
            return Err(fault);
        }
        // The records' input hashes were left for sealing: take them on every core.
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        prova_precompile::hash_inputs(&records, threads);
        let witness = records;

        let mut diff = StateDiff::default();
        for change in changes {
            state.apply(change, &mut diff);
        }
        let envelopes: Vec<_> = executed.iter().map(|t| t.tx.envelope.clone()).collect();
        let receipts: Vec<_> = executed.iter().map(|t| t.receipt.clone()).collect();
        let mut logs_bloom = Bloom::ZERO;
        for r in &receipts {
            logs_bloom.accrue_bloom(&r.bloom());
        }
        let header = Header {
            parent_hash: input.parent_hash,
            ommers_hash: EMPTY_OMMER_ROOT_HASH,
            beneficiary: input.beneficiary,
            state_root: state.state_root(),
            transactions_root: calculate_transaction_root(&envelopes),
            receipts_root: calculate_receipt_root(&receipts),
            logs_bloom,
            number: input.number,
            gas_limit: input.gas_limit,
            gas_used: cumulative,
            timestamp: input.timestamp,
            extra_data: inferences_root(&witness).0.to_vec().into(),
            mix_hash: input.parent_hash,
            base_fee_per_gas: Some(input.base_fee),
            withdrawals_root: Some(EMPTY_ROOT_HASH),
            blob_gas_used: Some(0),
            excess_blob_gas: Some(0),
            parent_beacon_block_root: Some(B256::ZERO),
            ..Header::default()
        };
        let hash = header.hash_slow();
        Ok(ExecutedBlock {
            header,
            hash,
            txs: executed,
            witness,
            rejected,
            diff,
        })
    }

    /// Executes `tx` on `state` without committing anything and without recording inferences
    /// (`eth_call`): nonce checks are off and the base fee is zero, so a call from any
    /// address with gas price 0 runs.
    pub fn call(
        &self,
        state: &WorldState,
        input: &BlockInput,
        tx: TxEnv,
    ) -> Result<ExecutionResult, ChainError> {
        let mut block = input.block_env();
        block.basefee = 0;
        let mut evm = self.evm(state, block, true);
        match evm.transact(tx) {
            Ok(outcome) => Ok(outcome.result),
            Err(EVMError::Transaction(e)) => Err(TxError::Invalid(e.to_string()).into()),
            Err(e) => Err(ChainError::Execution(e.to_string())),
        }
    }
}

/// The inferences root a header commits to (its `extra_data`), if it is 32 bytes long.
pub fn header_inferences_root(header: &Header) -> Option<B256> {
    (header.extra_data.len() == 32).then(|| B256::from_slice(&header.extra_data))
}
