//! Errors: [`RpcError`] for starting the server, and the mapping of chain errors onto JSON-RPC
//! error objects.
//!
//! | code | when |
//! | --- | --- |
//! | `-32700` | the body is not JSON |
//! | `-32600` | not a JSON-RPC request, or a batch over [`MAX_BATCH`](crate::MAX_BATCH) |
//! | `-32601` | unknown method |
//! | `-32602` | bad parameters; an `eth_getLogs` range over [`prova_chain::MAX_LOG_RANGE`] blocks |
//! | `-32603` | internal error (storage, runtime) |
//! | `-32000` | transaction refused (the [`TxError`] message), state not available, halted call |
//! | `-32007` | request body over [`MAX_REQUEST_BYTES`](crate::MAX_REQUEST_BYTES) (HTTP 413) |
//! | `3` | `eth_call`/`eth_estimateGas` reverted: `data` is the revert bytes |

use alloy_primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;
use prova_chain::{ChainError, TxError};
use std::net::SocketAddr;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// A method name was registered twice (a bug).
    #[error("method registration: {0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
}

/// Invalid params.
pub const INVALID_PARAMS: i32 = -32602;
/// Internal error.
pub const INTERNAL: i32 = -32603;
/// Server error: transaction refused and other request-specific failures.
pub const SERVER: i32 = -32000;
/// Execution reverted.
pub const REVERTED: i32 = 3;

pub(crate) fn invalid_params(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS, msg.into(), None::<()>)
}

pub(crate) fn internal(msg: impl std::fmt::Display) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INTERNAL, format!("internal error: {msg}"), None::<()>)
}

pub(crate) fn server(msg: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(SERVER, msg.into(), None::<()>)
}

pub(crate) fn reverted(output: &Bytes) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(REVERTED, "execution reverted", Some(output.to_string()))
}

/// The JSON-RPC error for a refused transaction.
pub fn tx_error(e: &TxError) -> ErrorObjectOwned {
    let msg = match e {
        TxError::WrongChainId { expected, got } => {
            format!("invalid chain id: expected {expected}, got {got}")
        }
        other => other.to_string(),
    };
    server(msg)
}

/// The JSON-RPC error for a chain error.
pub fn chain_error(e: ChainError) -> ErrorObjectOwned {
    match e {
        ChainError::Tx(e) => tx_error(&e),
        ChainError::Reverted { output } => reverted(&output),
        e @ ChainError::LogRange { .. } => invalid_params(e.to_string()),
        e @ (ChainError::Halted(_)
        | ChainError::StateUnavailable(_)
        | ChainError::Rule(_)
        | ChainError::DevEditsDisabled
        | ChainError::DevEdit(_)) => server(e.to_string()),
        e => internal(e),
    }
}
