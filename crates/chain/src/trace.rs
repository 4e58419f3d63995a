//! Geth-style tracing of a mined transaction or of a call (`debug_traceTransaction`,
//! `debug_traceCall`) with revm-inspectors' `DebugInspector`: the struct logger by default,
//! `callTracer`, `prestateTracer`, `4byteTracer`, `flatCallTracer`, `muxTracer` and the no-op
//! tracer as geth names them. INFER runs as in the block (its records are not kept).
//!
//! A mined transaction is traced on the state before its block (one of the states the chain
//! keeps, [`Chain::set_history`]) after re-running the transactions ahead of it in its block.

use crate::{BlockInput, CallRequest, Chain, ChainError, Executor, WorldState, rules};
use alloy_primitives::B256;
use alloy_rpc_types_trace::geth::{GethDebugTracingOptions, GethTrace};
use revm::{
    Context, ExecuteEvm, InspectEvm, MainBuilder, MainContext,
    context::{TxEnv, result::EVMError},
    database::{CacheDB, DatabaseCommit},
};
use revm_inspectors::tracing::{DebugInspector, TransactionContext};

fn fault(e: impl std::fmt::Display) -> ChainError {
    ChainError::Execution(format!("tracing: {e}"))
}

impl Executor {
    /// Runs `before` on `state` in block `input`, then traces `tx` as `opts` say: the mined
    /// transaction `context` names, or without one a call, run as `eth_call` runs it (no nonce
    /// check, base fee 0).
    pub(crate) fn trace(
        &self,
        state: &WorldState,
        input: &BlockInput,
        before: Vec<TxEnv>,
        tx: TxEnv,
        opts: GethDebugTracingOptions,
        context: Option<TransactionContext>,
    ) -> Result<GethTrace, ChainError> {
        let call = context.is_none();
        let inspector = DebugInspector::new(opts).map_err(fault)?;
        let mut block = input.block_env();
        if call {
            block.basefee = 0;
        }
        let mut evm = Context::mainnet()
            .with_db(CacheDB::new(state))
            .with_block(block.clone())
            .with_cfg(self.cfg(call))
            .build_mainnet_with_inspector(inspector)
            .with_precompiles(self.quiet_precompiles());
        for earlier in before {
            let outcome = evm.transact(earlier).map_err(fault)?;
            evm.ctx.journaled_state.database.commit(outcome.state);
        }
        let traced = tx.clone();
        let result = match evm.inspect_tx(tx) {
            Ok(r) => r,
            Err(EVMError::Transaction(e)) => {
                return Err(crate::TxError::Invalid(e.to_string()).into());
            }
            Err(e) => return Err(fault(e)),
        };
        let mut inspector = std::mem::replace(
            &mut evm.inspector,
            DebugInspector::new(GethDebugTracingOptions::default()).map_err(fault)?,
        );
        inspector
            .get_result(
                context,
                &traced,
                &block,
                &result,
                &mut evm.ctx.journaled_state.database,
            )
            .map_err(fault)
    }
}

impl Chain {
    /// The trace of the mined transaction `hash` (`None` if there is none), on the state before
    /// its block, which must still be kept.
    pub fn trace_transaction(
        &self,
        hash: &B256,
        opts: GethDebugTracingOptions,
    ) -> Result<Option<GethTrace>, ChainError> {
        let Some((n, index)) = self.store().tx_location(hash)? else {
            return Ok(None);
        };
        let block = self
            .block_by_number(n)?
            .ok_or_else(|| ChainError::corrupt("tx lookup points to a missing block"))?;
        let parent = self.at(Some(n.saturating_sub(1)))?;
        let header = &block.header;
        let input = BlockInput::of(header);
        let index = index as usize;
        let before = block.transactions[..index]
            .iter()
            .map(|t| t.tx_env())
            .collect();
        let tx = block
            .transactions
            .get(index)
            .ok_or_else(|| ChainError::corrupt("tx lookup index out of range"))?
            .tx_env();
        let context = TransactionContext {
            block_hash: Some(block.hash),
            tx_index: Some(index),
            tx_hash: Some(*hash),
        };
        self.executor()
            .trace(&parent.state, &input, before, tx, opts, Some(context))
            .map(Some)
    }

    /// The trace of `req` run as `eth_call` on the state of `block` (`None` = latest).
    pub fn trace_call(
        &self,
        req: &CallRequest,
        block: Option<u64>,
        opts: GethDebugTracingOptions,
    ) -> Result<GethTrace, ChainError> {
        let head = self.at(block)?;
        let input = BlockInput::pending(&head.header, head.hash, self.now().max(rules::now()));
        let gas = req.gas.unwrap_or(head.header.gas_limit);
        let env = self.call_env(&head.state, req, gas);
        self.executor()
            .trace(&head.state, &input, Vec::new(), env, opts, None)
    }
}

impl Chain {
    /// `eth_createAccessList`: the accounts and slots `req` touches run as `eth_call` on the
    /// state of `block` (sender, recipient and precompiles left out, as geth does), and the gas
    /// it uses with that list. A call that fails is an error, as [`Self::estimate_gas`] says it.
    pub fn create_access_list(
        &self,
        req: &CallRequest,
        block: Option<u64>,
    ) -> Result<(alloy_eips::eip2930::AccessList, u64), ChainError> {
        let head = self.at(block)?;
        let input = BlockInput::pending(&head.header, head.hash, self.now().max(rules::now()));
        let gas = req.gas.unwrap_or(head.header.gas_limit);
        let env = self.call_env(&head.state, req, gas);
        let mut block_env = input.block_env();
        block_env.basefee = 0;
        let executor = self.executor();
        let mut evm = Context::mainnet()
            .with_db(CacheDB::new(&*head.state))
            .with_block(block_env)
            .with_cfg(executor.cfg(true))
            .build_mainnet_with_inspector(
                revm_inspectors::access_list::AccessListInspector::default(),
            )
            .with_precompiles(executor.quiet_precompiles());
        match evm.inspect_tx(env.clone()) {
            Ok(_) => {}
            Err(EVMError::Transaction(e)) => {
                return Err(crate::TxError::Invalid(e.to_string()).into());
            }
            Err(e) => return Err(fault(e)),
        }
        let list = std::mem::take(&mut evm.inspector).into_access_list();
        // The gas with the list in the transaction.
        let with_list = TxEnv {
            tx_type: 1, // EIP-2930: the list is applied
            access_list: list.clone(),
            ..env
        };
        let result = executor.call(&head.state, &input, with_list)?;
        match result {
            revm::context::result::ExecutionResult::Success { .. } => {
                Ok((list, result.tx_gas_used()))
            }
            revm::context::result::ExecutionResult::Revert { output, .. } => {
                Err(ChainError::Reverted { output })
            }
            revm::context::result::ExecutionResult::Halt { reason, .. } => {
                Err(ChainError::Halted(format!("{reason:?}")))
            }
        }
    }
}
