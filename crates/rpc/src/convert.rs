//! Chain views → alloy-rpc-types-eth wire types, and block ids → block numbers.

use alloy_consensus::{Sealed, transaction::Recovered};
use alloy_eips::{BlockId, BlockNumberOrTag};
use alloy_primitives::B256;
use alloy_rpc_types_eth::{
    Block as RpcBlock, BlockTransactions, Header as RpcHeader, Log as RpcLog,
    Transaction as RpcTransaction, TransactionReceipt,
};
use jsonrpsee::types::ErrorObjectOwned;
use prova_chain::{Block, Chain, LogEntry, SignedTx, TxInfo, TxReceiptInfo};

use crate::error;

/// The block number a tag names (`latest`, `pending`, `safe`, `finalized` are the head).
pub(crate) fn tag_number(chain: &Chain, tag: BlockNumberOrTag) -> u64 {
    match tag {
        BlockNumberOrTag::Number(n) => n,
        BlockNumberOrTag::Earliest => 0,
        _ => chain.block_number(),
    }
}

/// An `eth_getLogs` / `eth_newFilter` filter as the chain takes it (tags resolved now).
pub(crate) fn log_filter(
    chain: &Chain,
    filter: &alloy_rpc_types_eth::Filter,
) -> Result<prova_chain::LogFilter, ErrorObjectOwned> {
    use alloy_rpc_types_eth::FilterBlockOption;
    let (from_block, to_block) = match filter.block_option {
        FilterBlockOption::Range {
            from_block,
            to_block,
        } => (
            from_block.map(|t| tag_number(chain, t)),
            to_block.map(|t| tag_number(chain, t)),
        ),
        FilterBlockOption::AtBlockHash(h) => {
            let Some(n) = chain.store().number_of(&h).map_err(error::chain_error)? else {
                return Err(error::server(format!("block {h} not found")));
            };
            (Some(n), Some(n))
        }
    };
    Ok(prova_chain::LogFilter {
        from_block,
        to_block,
        addresses: filter.address.iter().copied().collect(),
        topics: filter
            .topics
            .iter()
            .map(|t| (!t.is_empty()).then(|| t.iter().copied().collect()))
            .collect(),
    })
}

/// The state a block id selects for the state readers: `None` = latest.
pub(crate) fn state_block(
    chain: &Chain,
    id: Option<BlockId>,
) -> Result<Option<u64>, ErrorObjectOwned> {
    match id {
        None => Ok(None),
        Some(BlockId::Number(BlockNumberOrTag::Number(n))) => Ok(Some(n)),
        Some(BlockId::Number(BlockNumberOrTag::Earliest)) => Ok(Some(0)),
        Some(BlockId::Number(_)) => Ok(None),
        Some(BlockId::Hash(h)) => match chain
            .store()
            .number_of(&h.block_hash)
            .map_err(error::chain_error)?
        {
            Some(n) => Ok(Some(n)),
            None => Err(error::server(format!("block {} not found", h.block_hash))),
        },
    }
}

pub(crate) fn transaction(
    tx: &SignedTx,
    block_hash: B256,
    block_number: u64,
    index: u64,
    base_fee: u64,
) -> RpcTransaction {
    RpcTransaction {
        inner: Recovered::new_unchecked(tx.envelope.clone(), tx.sender),
        block_hash: Some(block_hash),
        block_number: Some(block_number),
        transaction_index: Some(index),
        effective_gas_price: Some(tx.effective_gas_price(base_fee)),
        block_timestamp: None,
    }
}

pub(crate) fn tx_info(info: &TxInfo) -> RpcTransaction {
    transaction(
        &info.tx,
        info.block_hash,
        info.block_number,
        info.index,
        info.base_fee,
    )
}

pub(crate) fn block(b: Block, full: bool) -> RpcBlock {
    let base_fee = b.header.base_fee_per_gas.unwrap_or_default();
    let transactions = if full {
        BlockTransactions::Full(
            b.transactions
                .iter()
                .enumerate()
                .map(|(i, tx)| transaction(tx, b.hash, b.header.number, i as u64, base_fee))
                .collect(),
        )
    } else {
        BlockTransactions::Hashes(b.transactions.iter().map(SignedTx::hash).collect())
    };
    RpcBlock {
        header: RpcHeader::from_consensus(Sealed::new_unchecked(b.header, b.hash), None, None),
        uncles: Vec::new(),
        transactions,
        withdrawals: None,
    }
}

pub(crate) fn receipt(r: TxReceiptInfo) -> TransactionReceipt {
    let (block_hash, block_number, tx_hash, index) =
        (r.block_hash, r.block_number, r.tx_hash, r.index);
    let mut k = r.first_log_index;
    let inner = r.receipt.map_logs(|log| {
        let out = RpcLog {
            inner: log,
            block_hash: Some(block_hash),
            block_number: Some(block_number),
            block_timestamp: None,
            transaction_hash: Some(tx_hash),
            transaction_index: Some(index),
            log_index: Some(k),
            removed: false,
        };
        k += 1;
        out
    });
    TransactionReceipt {
        inner,
        transaction_hash: tx_hash,
        transaction_index: Some(index),
        block_hash: Some(block_hash),
        block_number: Some(block_number),
        gas_used: r.gas_used,
        effective_gas_price: r.effective_gas_price,
        blob_gas_used: None,
        blob_gas_price: None,
        from: r.from,
        to: r.to,
        contract_address: r.contract_address,
    }
}

pub(crate) fn log(e: LogEntry) -> RpcLog {
    RpcLog {
        inner: e.log,
        block_hash: Some(e.block_hash),
        block_number: Some(e.block_number),
        block_timestamp: None,
        transaction_hash: Some(e.tx_hash),
        transaction_index: Some(e.tx_index),
        log_index: Some(e.log_index),
        removed: false,
    }
}
