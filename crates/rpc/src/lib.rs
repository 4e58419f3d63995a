//! # prova-rpc
//!
//! Prova's Ethereum JSON-RPC server: what real clients (cast, viem, ethers, web3.py) call,
//! over HTTP with [`jsonrpsee`], in [`alloy_rpc_types_eth`] wire types, plus the `prova_*`
//! extensions for models and the inference witness. It sits above `prova-chain` and below the
//! CLI (`prova node`).
//!
//! - **`eth_*`, `net_version`, `web3_clientVersion`**: chain id, blocks, transactions,
//!   receipts, logs, balances, code, storage, nonces, fees, `eth_call` and `eth_estimateGas`
//!   (latest state only: other blocks are a clear `-32000` error), `eth_sendRawTransaction`.
//! - **`prova_getInferences(blockNumberOrTxHash)`**, **`prova_getModel(modelId)`**,
//!   **`prova_getBlockWithWitness(number)`** (the block as validators take it:
//!   [`prova_chain::BlockWithWitness`]), **`prova_getGenesis()`** (the chain's genesis, so a
//!   validator can start from nothing).
//! - **Errors** ([`error`]): the standard JSON-RPC codes; refused transactions are `-32000`
//!   with the [`TxError`](prova_chain::TxError) message; a reverted call is code `3`,
//!   message `execution reverted`, `data` the revert bytes, so clients decode custom errors.
//! - **Mining** ([`Mining`]): automine (a block per transaction) or interval blocks from the
//!   chain's pool of pending transactions.
//! - **Dev methods** ([`dev`]): dev accounts that sign, polling filters, mining and clock
//!   control, the pool, and the readers anvil answers that the core does not.
//!
//! ```
//! # let rt = tokio::runtime::Runtime::new().unwrap();
//! # rt.block_on(async {
//! use prova_chain::{Chain, Genesis};
//! use prova_rpc::{RpcConfig, start};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let chain = std::sync::Arc::new(Chain::open(dir.path(), Genesis::dev(31337)).unwrap());
//! let config = RpcConfig { addr: "127.0.0.1:0".parse().unwrap(), ..RpcConfig::default() };
//! let server = start(chain, config).await.unwrap();
//! let url = server.url();
//! let id = tokio::task::spawn_blocking(move || prova_validator::client::call(&url, "eth_chainId", serde_json::json!([])))
//!     .await.unwrap().unwrap();
//! assert_eq!(id, "0x7a69");
//! server.stop().await;
//! # });
//! ```
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod convert;
pub mod dev;
pub mod error;
mod eth;
mod node;
mod prova;
mod ws;

pub use error::RpcError;
pub use node::Node;

use jsonrpsee::server::{
    BatchRequestConfig, HttpBody, HttpRequest, HttpResponse, Server, ServerConfig, ServerHandle,
    http,
};
use prova_chain::Chain;
use std::{net::SocketAddr, sync::Arc, time::Duration};

/// Largest request body accepted: a 1 MB model deploy is ~2.2 MB of hex.
pub const MAX_REQUEST_BYTES: u32 = 4 * 1024 * 1024;
/// Largest response body.
pub const MAX_RESPONSE_BYTES: u32 = 64 * 1024 * 1024;
/// Most calls in one batch.
pub const MAX_BATCH: u32 = 100;
/// Longest one HTTP request may take, body upload and execution included: a client that
/// stalls mid-request gets HTTP 408 and its connection is freed (docs/security.md).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Most open connections at once (further ones are refused until one closes).
pub const MAX_CONNECTIONS: u32 = 100;

/// HTTP guard in front of jsonrpsee: refuses a declared `Content-Length` over
/// [`MAX_REQUEST_BYTES`] at once (jsonrpsee reads a length past `u32::MAX` as "unknown" and
/// would wait for the body) and bounds each request by [`REQUEST_TIMEOUT`].
#[derive(Debug, Clone, Copy)]
struct HttpGuard;

impl<S> tower::Layer<S> for HttpGuard {
    type Service = Guarded<S>;
    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded(inner)
    }
}

#[derive(Debug, Clone)]
struct Guarded<S>(S);

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S> tower::Service<HttpRequest> for Guarded<S>
where
    S: tower::Service<HttpRequest, Response = HttpResponse, Error = BoxError>,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future =
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: HttpRequest) -> Self::Future {
        let declared = req
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().parse::<u64>().unwrap_or(u64::MAX));
        if declared.is_some_and(|n| n > u64::from(MAX_REQUEST_BYTES)) {
            return Box::pin(async { Ok(http::response::too_large(MAX_REQUEST_BYTES)) });
        }
        let call = self.0.call(req);
        Box::pin(async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
                Ok(r) => r,
                Err(_) => Ok(HttpResponse::builder()
                    .status(408)
                    .header("connection", "close")
                    .body(HttpBody::from("request timed out\n"))
                    .unwrap_or_else(|_| http::response::internal_error())),
            }
        })
    }
}

/// How blocks are produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mining {
    /// A block per transaction, at once (anvil's default).
    #[default]
    Auto,
    /// A block every interval from the pending transactions (empty blocks too).
    Interval(Duration),
    /// No block production and no transactions accepted: a validator serving the chain it
    /// imports.
    ReadOnly,
    /// Blocks come from the validator network's consensus; transactions are handed to
    /// [`RpcConfig::relay`] (the local pool and every other validator's). Dev controls that
    /// would change the chain outside consensus (mining, state edits, clock, snapshots) are
    /// refused.
    Consensus,
}

/// What a [`Relay`] does with a raw transaction: admit it to the local pool and pass it on.
pub type RelayFn =
    dyn Fn(&[u8]) -> Result<prova_chain::Submitted, prova_chain::ChainError> + Send + Sync;

/// Where a [`Mining::Consensus`] node sends the raw transactions it accepts.
#[derive(Clone)]
pub struct Relay(pub Arc<RelayFn>);

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Relay")
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct RpcConfig {
    /// Address to listen on (port 0 picks a free one).
    pub addr: SocketAddr,
    /// Block production.
    pub mining: Mining,
    /// With [`Mining::Consensus`]: where accepted transactions go.
    pub relay: Option<Relay>,
}

impl Default for RpcConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8545)),
            mining: Mining::Auto,
            relay: None,
        }
    }
}

/// A running server: its address, and how to stop it.
#[derive(Debug)]
pub struct RpcServer {
    addr: SocketAddr,
    handle: ServerHandle,
    miner: Option<tokio::task::JoinHandle<()>>,
    watcher: tokio::task::JoinHandle<()>,
    node: Arc<Node>,
}

impl RpcServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared node state.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Stops accepting requests, waits for the server to finish, then stops the miner (a
    /// block being built is finished: every commit is atomic).
    pub async fn stop(self) {
        let _ = self.handle.stop();
        self.handle.stopped().await;
        if let Some(miner) = self.miner {
            miner.abort();
            let _ = miner.await;
        }
        self.watcher.abort();
        let _ = self.watcher.await;
    }
}

/// Starts serving `chain` as `config` says. The chain stays shared: a validator imports blocks
/// into it while the server reads it.
pub async fn start(chain: Arc<Chain>, config: RpcConfig) -> Result<RpcServer, RpcError> {
    let node = Arc::new(Node::new(chain, config.mining).with_relay(config.relay));
    let mut module = jsonrpsee::RpcModule::from_arc(node.clone());
    eth::register(&mut module)?;
    prova::register(&mut module)?;
    dev::register(&mut module)?;
    ws::register(&mut module)?;
    let server_config = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(MAX_RESPONSE_BYTES)
        .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH))
        .max_connections(MAX_CONNECTIONS)
        .set_id_provider(ws::HexIds::default())
        .build();
    let server = Server::builder()
        .set_config(server_config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(HttpGuard))
        .build(config.addr)
        .await
        .map_err(|e| RpcError::Bind(config.addr, e))?;
    let addr = server
        .local_addr()
        .map_err(|e| RpcError::Bind(config.addr, e))?;
    let handle = server.start(module);
    let watcher = tokio::spawn(ws::watch_heads(node.clone(), node.heads.clone()));
    let miner = match config.mining {
        Mining::Auto | Mining::ReadOnly | Mining::Consensus => None,
        Mining::Interval(every) => {
            let node = node.clone();
            Some(tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.tick().await;
                loop {
                    tick.tick().await;
                    let node = node.clone();
                    match tokio::task::spawn_blocking(move || node.mine_pending()).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::error!("block production failed: {e}"),
                        Err(e) => tracing::error!("block production panicked: {e}"),
                    }
                }
            }))
        }
    };
    Ok(RpcServer {
        addr,
        handle,
        miner,
        watcher,
        node,
    })
}
