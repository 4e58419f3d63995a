//! WebSocket subscriptions on the same port as HTTP: `eth_subscribe` with `newHeads`, `logs`
//! (with a filter) and `newPendingTransactions`, notifications as `eth_subscription`,
//! `eth_unsubscribe`; subscription ids are hex strings, as geth's.
//!
//! New blocks reach subscribers through one watcher task ([`watch_heads`]) that notices a new
//! head (within [`HEAD_POLL`]) and broadcasts the numbers of the blocks it has not announced;
//! each subscription reads what it needs from the chain.

use crate::{Node, convert, error};
use alloy_primitives::B256;
use alloy_rpc_types_eth::Filter;
use jsonrpsee::{
    PendingSubscriptionSink, RpcModule, SubscriptionSink,
    core::RegisterMethodError,
    server::IdProvider,
    types::{Params, SubscriptionId},
};
use prova_chain::LogFilter;
use serde_json::Value;
use std::{
    collections::HashSet,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};
use tokio::sync::broadcast;

/// How often the watcher looks for a new head (and a pending-transactions subscription at
/// the pool).
pub const HEAD_POLL: Duration = Duration::from_millis(50);

/// Subscription ids as geth writes them: `0x` and hex digits.
#[derive(Debug, Default)]
pub(crate) struct HexIds(AtomicU64);

impl IdProvider for HexIds {
    fn next_id(&self) -> SubscriptionId<'static> {
        // A counter, spread so ids do not look sequential.
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        let spread = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5851_f42d_4c95_7f2d;
        SubscriptionId::Str(format!("{spread:#x}").into())
    }
}

/// Broadcasts the number of every new block of `node`'s chain, in order.
pub(crate) async fn watch_heads(node: Arc<Node>, heads: broadcast::Sender<u64>) {
    let mut announced = node.chain().block_number();
    let mut tick = tokio::time::interval(HEAD_POLL);
    loop {
        tick.tick().await;
        let head = node.chain().block_number();
        // After evm_revert the chain is shorter: the blocks that replace it are new again.
        announced = announced.min(head);
        while announced < head {
            announced += 1;
            // No subscriber is not an error.
            let _ = heads.send(announced);
        }
    }
}

enum Topic {
    Heads,
    Logs(LogFilter),
    Pending,
}

fn topic(node: &Node, params: &Params<'_>) -> Result<Topic, jsonrpsee::types::ErrorObjectOwned> {
    let mut seq = params.sequence();
    let kind: String = seq.next()?;
    match kind.as_str() {
        "newHeads" => Ok(Topic::Heads),
        "newPendingTransactions" => Ok(Topic::Pending),
        "logs" => {
            let filter: Option<Filter> = seq.optional_next()?;
            let filter = filter.unwrap_or_default();
            // New logs only, as geth: a block range does not apply to a subscription.
            let mut filter = convert::log_filter(node.chain(), &filter)?;
            (filter.from_block, filter.to_block) = (None, None);
            Ok(Topic::Logs(filter))
        }
        other => Err(error::invalid_params(format!(
            "unknown subscription {other:?}: newHeads, logs or newPendingTransactions"
        ))),
    }
}

async fn send(sink: &SubscriptionSink, v: &impl serde::Serialize) -> Result<(), ()> {
    let raw = serde_json::value::to_raw_value(v).map_err(drop)?;
    sink.send(raw).await.map_err(drop)
}

/// What block `number` tells subscribers of `topic`.
fn messages(node: &Node, topic: &Topic, number: u64) -> Vec<Value> {
    let chain = node.chain();
    match topic {
        Topic::Heads => chain
            .block_by_number(number)
            .ok()
            .flatten()
            .and_then(|b| serde_json::to_value(convert::block(b, false).header).ok())
            .into_iter()
            .collect(),
        Topic::Logs(filter) => {
            let one = LogFilter {
                from_block: Some(number),
                to_block: Some(number),
                ..filter.clone()
            };
            chain
                .logs(&one)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|l| serde_json::to_value(convert::log(l)).ok())
                .collect()
        }
        Topic::Pending => Vec::new(),
    }
}

async fn serve(node: Arc<Node>, topic: Topic, sink: SubscriptionSink) {
    let mut heads = node.heads.subscribe();
    // Pending transactions: only those that arrive from now on.
    let (ready, queued) = node.chain().pool_content();
    let mut seen: HashSet<B256> = ready.iter().chain(&queued).map(|t| t.hash()).collect();
    let mut tick = tokio::time::interval(HEAD_POLL);
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            n = heads.recv() => match n {
                Ok(number) => {
                    for msg in messages(&node, &topic, number) {
                        if send(&sink, &msg).await.is_err() {
                            return;
                        }
                    }
                }
                // A slow subscriber missed blocks: it goes on with the next.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = tick.tick(), if matches!(topic, Topic::Pending) => {
                let (ready, queued) = node.chain().pool_content();
                for tx in ready.iter().chain(&queued) {
                    let hash = tx.hash();
                    if seen.insert(hash) && send(&sink, &hash).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

pub(crate) fn register(m: &mut RpcModule<Node>) -> Result<(), RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params: Params<'static>, pending: PendingSubscriptionSink, node: Arc<Node>, _| async move {
            let topic = match topic(&node, &params) {
                Ok(t) => t,
                Err(e) => {
                    pending.reject(e).await;
                    return;
                }
            };
            if let Ok(sink) = pending.accept().await {
                serve(node, topic, sink).await;
            }
        },
    )?;
    Ok(())
}
