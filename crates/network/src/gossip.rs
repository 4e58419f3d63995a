//! Transaction gossip: a transaction sent to any validator reaches every validator's pool, so
//! whichever validator leads the next view includes it.
//!
//! [`TxRelay::submit`] admits a raw transaction to the local pool (with the pool's checks:
//! signature, chain id, nonce, balance, fee) and queues it for the gossip task, which sends it
//! to every peer on the transactions channel. A received transaction is admitted to the local
//! pool and not forwarded again (every validator is connected to every other). Transactions a
//! pool refuses are dropped silently on receipt (a peer's pool may be ahead or behind).
//!
//! p2p drops a message to a peer that is not connected (starting, restarting, behind a lossy
//! link), so the validator a transaction was submitted to sends it again every
//! [`RESEND_EVERY`] while it is still in its pool (not yet in a finalized block).

use alloy_primitives::Bytes;
use commonware_p2p::{Receiver, Recipients, Sender};
use commonware_runtime::{Clock, Handle, IoBuf, Spawner};
use futures::{StreamExt, channel::mpsc};
use prova_chain::{Chain, ChainError, Submitted};
use std::{collections::VecDeque, sync::Arc, time::Duration};
use tracing::{debug, warn};

/// How often a validator sends again the transactions submitted to it that are still pooled.
pub const RESEND_EVERY: Duration = Duration::from_secs(2);
/// Most transactions sent again per round (the oldest first).
const RESEND_MAX: usize = 4096;

/// Largest transaction relayed: far above what gas allows (a 30M-gas block carries under
/// 1.9 MB of calldata, so a `deploy` tops out near 1.15 MB and larger models are uploaded in
/// chunks of ~100 KiB, docs/abi.md).
pub const MAX_TX_BYTES: usize = 16 * 1024 * 1024;

/// Admits transactions locally and relays them to the other validators (cheap to clone).
#[derive(Clone, Debug)]
pub struct TxRelay {
    chain: Arc<Chain>,
    outgoing: mpsc::UnboundedSender<Bytes>,
}

impl TxRelay {
    /// Admits `raw` to the local pool and queues it for every peer.
    pub fn submit(&self, raw: &[u8]) -> Result<Submitted, ChainError> {
        let submitted = self.chain.add_transaction(raw)?;
        // The gossip task ends only with the node.
        let _ = self.outgoing.unbounded_send(Bytes::copy_from_slice(raw));
        Ok(submitted)
    }

    /// The chain whose pool this relay feeds.
    pub fn chain(&self) -> &Arc<Chain> {
        &self.chain
    }
}

/// Starts relaying transactions over `channel`; returns the relay to submit through.
pub fn start<E, S, R>(context: E, chain: Arc<Chain>, channel: (S, R)) -> (TxRelay, Handle<()>)
where
    E: Spawner + Clock,
    S: Sender,
    R: Receiver,
{
    let (outgoing, mut queue) = mpsc::unbounded::<Bytes>();
    let relay = TxRelay {
        chain: chain.clone(),
        outgoing,
    };
    let (mut sender, mut receiver) = channel;
    let handle = context.spawn(move |context| async move {
        // Submitted here and still pooled, oldest first.
        let mut own: VecDeque<(alloy_primitives::B256, Bytes)> = VecDeque::new();
        let mut resend = Box::pin(futures::FutureExt::fuse(context.sleep(RESEND_EVERY)));
        loop {
            futures::select! {
                raw = queue.next() => {
                    let Some(raw) = raw else { return };
                    send(&mut sender, &raw).await;
                    own.push_back((alloy_primitives::keccak256(&raw), raw));
                }
                message = futures::FutureExt::fuse(receiver.recv()) => {
                    let Ok((_peer, raw)) = message else { return };
                    let raw = raw.as_ref();
                    if raw.len() > MAX_TX_BYTES {
                        continue;
                    }
                    if let Err(e) = chain.add_transaction(raw) {
                        debug!("relayed transaction not pooled: {e}");
                    }
                }
                () = resend => {
                    own.retain(|(hash, _)| chain.pooled(hash).is_some());
                    for (_, raw) in own.iter().take(RESEND_MAX) {
                        send(&mut sender, raw).await;
                    }
                    resend = Box::pin(futures::FutureExt::fuse(context.sleep(RESEND_EVERY)));
                }
            }
        }
    });
    (relay, handle)
}

async fn send<S: Sender>(sender: &mut S, raw: &Bytes) {
    if let Err(e) = sender
        .send(Recipients::All, IoBuf::from(raw.to_vec()), false)
        .await
    {
        warn!("cannot relay a transaction: {e:?}");
    }
}
