//! Following a live node over JSON-RPC: fetch each new block with its witness
//! (`prova_getBlockWithWitness`), verify it, import it; stop importing at the first
//! divergence. A block dated more than
//! [`MAX_FUTURE_SECS`](prova_chain::rules::MAX_FUTURE_SECS) ahead of this node's clock is
//! not imported until its time has come (the local rule of [`rules::check_clock`]).

use crate::client;
use crate::{
    Divergence,
    verify::{self, BlockStats, Check, VerifyError},
};
use prova_chain::{BlockWithWitness, Chain, Genesis, rules};
use serde_json::{Value, json};
use std::{
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

/// What the follower did, for progress output.
#[derive(Debug)]
pub enum FollowEvent {
    /// A block verified and was imported.
    Imported {
        /// Its number.
        number: u64,
        /// Its hash.
        hash: alloy_primitives::B256,
        /// What it contained.
        stats: BlockStats,
    },
    /// The source could not be reached or answered wrongly; retrying.
    Retrying(String),
    /// The next block is dated too far ahead of this node's clock
    /// ([`rules::check_clock`]): not imported until its time has come (a producer cannot
    /// push the follower's chain to the end of time).
    Early {
        /// Its number.
        number: u64,
        /// The rule's message.
        reason: String,
    },
}

/// How following ended.
#[derive(Debug)]
pub enum FollowEnd {
    /// Asked to stop.
    Stopped,
    /// A block did not verify: nothing from it on was imported.
    Diverged(Box<Divergence>),
    /// The source sent a block that is not well-formed: nothing from it on was imported.
    Malformed {
        /// The block number asked for.
        number: u64,
        /// What is wrong.
        reason: String,
    },
}

/// The genesis of the chain `url` serves (`prova_getGenesis`).
pub fn fetch_genesis(url: &str) -> Result<Genesis, String> {
    let v = client::call(url, "prova_getGenesis", json!([])).map_err(|e| e.to_string())?;
    Genesis::from_json(&v)
}

fn fetch(url: &str, number: u64) -> Result<Option<Value>, String> {
    let v = client::call(
        url,
        "prova_getBlockWithWitness",
        json!([format!("0x{number:x}")]),
    )
    .map_err(|e| e.to_string())?;
    Ok((!v.is_null()).then_some(v))
}

/// Follows `url`, importing into `chain` every block after its head that verifies
/// (in full: every inference re-run), polling every `poll` for new blocks, until `stop` is set
/// or a block does not verify. Local faults end it with an error.
pub fn follow(
    chain: &Chain,
    url: &str,
    poll: Duration,
    stop: &AtomicBool,
    on_event: &mut dyn FnMut(&FollowEvent),
) -> Result<FollowEnd, String> {
    while !stop.load(Ordering::Relaxed) {
        let Some(next) = chain.block_number().checked_add(1) else {
            return Ok(FollowEnd::Malformed {
                number: u64::MAX,
                reason: "the chain is at the last possible block number".into(),
            });
        };
        let value = match fetch(url, next) {
            Ok(Some(v)) => v,
            Ok(None) => {
                std::thread::sleep(poll);
                continue;
            }
            Err(e) => {
                on_event(&FollowEvent::Retrying(e));
                std::thread::sleep(poll);
                continue;
            }
        };
        let block = match BlockWithWitness::from_json(&value) {
            Ok(b) if b.header.number == next => b,
            Ok(b) => {
                return Ok(FollowEnd::Malformed {
                    number: next,
                    reason: format!("asked for block {next}, got block {}", b.header.number),
                });
            }
            Err(reason) => {
                return Ok(FollowEnd::Malformed {
                    number: next,
                    reason,
                });
            }
        };
        if let Err(e) = rules::check_clock(&block.header, rules::now()) {
            on_event(&FollowEvent::Early {
                number: next,
                reason: e.to_string(),
            });
            std::thread::sleep(poll);
            continue;
        }
        match verify::import(chain, &block, Check::Full) {
            Ok((stats, _)) => on_event(&FollowEvent::Imported {
                number: block.header.number,
                hash: block.hash,
                stats,
            }),
            Err(VerifyError::Diverged(d)) => return Ok(FollowEnd::Diverged(d)),
            Err(VerifyError::Fault(e)) => return Err(format!("validator fault: {e}")),
        }
    }
    Ok(FollowEnd::Stopped)
}
