//! Shared by the RPC tests: a dev node on a free loopback port, stopped when dropped.
#![allow(dead_code, clippy::unwrap_used)]

use prova_chain::{Chain, Genesis};
use prova_rpc::{RpcConfig, RpcServer};
use std::net::SocketAddr;

/// A dev chain (chain id 31337, no models) in a temp dir, served with automine.
pub struct Served {
    rt: tokio::runtime::Runtime,
    server: Option<RpcServer>,
    /// `http://ADDR`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Served {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let chain = Chain::open(dir.path(), Genesis::dev(31337)).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let config = RpcConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            ..RpcConfig::default()
        };
        let server = rt
            .block_on(prova_rpc::start(std::sync::Arc::new(chain), config))
            .unwrap();
        Self {
            url: server.url(),
            addr: server.local_addr(),
            rt,
            server: Some(server),
            _dir: dir,
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.stop());
        }
    }
}
