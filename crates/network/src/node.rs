//! A validator process (`prova node --validator`): the [`Engine`] on commonware's tokio runtime
//! over authenticated p2p (commonware's `lookup` network: every validator's key and address
//! are known from the peers file, connections are encrypted and authenticated with the
//! validators' ed25519 keys, and only validators of the set may connect), the chain in redb,
//! transaction gossip, and JSON-RPC on top.
//!
//! Files:
//! - **key file** (`prova keygen`): `{"publicKey": "0x…", "privateKey": "0x…"}` (ed25519,
//!   written with mode 0600);
//! - **peers file**: `{"validators": [{"publicKey": "0x…", "address": "127.0.0.1:30300"}, …]}`,
//!   the same on every validator: the validator set and where each listens for p2p.
//!
//! Data dir: `chain/` (the chain's redb store and model files) and `consensus/` (commonware's
//! journals and archives: votes, certificates, finalized blocks).

use crate::{
    Application, Channels, Engine, EngineConfig, Fault, PublicKey, channel, engine::NAMESPACE,
    gossip,
};
use alloy_primitives::{Address, hex, keccak256};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::{Signer, ed25519};
use commonware_p2p::{Address as PeerAddress, AddressableManager, authenticated::lookup};
use commonware_runtime::{Metrics, Quota, Runner as _, tokio as cw_tokio};
use commonware_utils::{NZU32, ordered::Map};
use prova_chain::{Chain, Genesis};
use serde::{Deserialize, Serialize};
use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

/// Largest p2p message: a block of the largest encoded size, with room for framing.
const MAX_MESSAGE: u32 = (crate::MAX_BLOCK_BYTES + 1024 * 1024) as u32;

/// A validator's key file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyFile {
    /// The ed25519 public key, hex.
    pub public_key: String,
    /// The ed25519 private key, hex.
    pub private_key: String,
}

/// One entry of the peers file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeerEntry {
    /// The validator's ed25519 public key, hex.
    pub public_key: String,
    /// Where it listens for p2p.
    pub address: SocketAddr,
}

/// The peers file: the validator set.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeersFile {
    /// Every validator, with its p2p address.
    pub validators: Vec<PeerEntry>,
}

/// A new random validator key.
pub fn keygen() -> KeyFile {
    use commonware_math::algebra::Random;
    let key = ed25519::PrivateKey::random(&mut rand::rngs::OsRng);
    key_file(&key)
}

/// The key file of `key`.
pub fn key_file(key: &ed25519::PrivateKey) -> KeyFile {
    KeyFile {
        public_key: hex::encode_prefixed(key.public_key().encode()),
        private_key: hex::encode_prefixed(key.encode()),
    }
}

fn unhex(what: &str, s: &str) -> Result<Vec<u8>, String> {
    hex::decode(s.trim()).map_err(|e| format!("{what}: not hex ({e})"))
}

/// Parses a public key written as hex.
pub fn parse_public_key(s: &str) -> Result<PublicKey, String> {
    let bytes = unhex("public key", s)?;
    PublicKey::decode(bytes.as_slice())
        .map_err(|e| format!("public key {s}: not an ed25519 public key ({e})"))
}

impl KeyFile {
    /// Reads a key file, checking that the public key is the private key's.
    pub fn read(path: &Path) -> Result<ed25519::PrivateKey, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the key file {}: {e}", path.display()))?;
        let file: KeyFile =
            serde_json::from_str(&text).map_err(|e| format!("key file {}: {e}", path.display()))?;
        let bytes = unhex("private key", &file.private_key)?;
        let key = ed25519::PrivateKey::decode(bytes.as_slice()).map_err(|e| {
            format!(
                "key file {}: not an ed25519 private key ({e})",
                path.display()
            )
        })?;
        if parse_public_key(&file.public_key)? != key.public_key() {
            return Err(format!(
                "key file {}: the public key is not the private key's",
                path.display()
            ));
        }
        Ok(key)
    }

    /// Writes the key file (mode 0600 on Unix), refusing to overwrite one.
    pub fn write(&self, path: &Path) -> Result<(), String> {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options
            .open(path)
            .map_err(|e| format!("cannot create the key file {}: {e}", path.display()))?;
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        writeln!(f, "{text}").map_err(|e| format!("cannot write {}: {e}", path.display()))
    }
}

impl PeersFile {
    /// Reads and checks a peers file: every key parses, no key or address twice.
    pub fn read(path: &Path) -> Result<Vec<(PublicKey, SocketAddr)>, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the peers file {}: {e}", path.display()))?;
        let file: PeersFile = serde_json::from_str(&text)
            .map_err(|e| format!("peers file {}: {e}", path.display()))?;
        let mut out: Vec<(PublicKey, SocketAddr)> = Vec::new();
        for (i, p) in file.validators.iter().enumerate() {
            let key = parse_public_key(&p.public_key)
                .map_err(|e| format!("peers file {}: validator {i}: {e}", path.display()))?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(format!(
                    "peers file {}: validator {i}: key {} is listed twice",
                    path.display(),
                    p.public_key
                ));
            }
            if out.iter().any(|(_, a)| *a == p.address) {
                return Err(format!(
                    "peers file {}: validator {i}: address {} is listed twice",
                    path.display(),
                    p.address
                ));
            }
            out.push((key, p.address));
        }
        if out.is_empty() {
            return Err(format!("peers file {}: no validators", path.display()));
        }
        Ok(out)
    }
}

/// The fee recipient of a validator's blocks: the last 20 bytes of the keccak of its public
/// key (an address nobody holds a secp256k1 key for; it only accumulates fees).
pub fn beneficiary(key: &PublicKey) -> Address {
    Address::from_slice(&keccak256(key.encode())[12..])
}

/// How to run one validator process.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This validator's key.
    pub key: ed25519::PrivateKey,
    /// The validator set with p2p addresses (this validator's entry gives its listen port).
    pub peers: Vec<(PublicKey, SocketAddr)>,
    /// The data dir.
    pub datadir: PathBuf,
    /// The genesis (the same on every validator).
    pub genesis: Genesis,
    /// Where JSON-RPC listens.
    pub rpc: SocketAddr,
    /// Async worker threads.
    pub worker_threads: usize,
    /// A lie this validator tells when it proposes (a Byzantine validator, for tests).
    pub fault: Option<Fault>,
}

/// What a started validator tells its caller.
#[derive(Debug, Clone)]
pub struct Ready {
    /// Its public key.
    pub public_key: PublicKey,
    /// Its p2p address.
    pub p2p: SocketAddr,
    /// Its JSON-RPC URL.
    pub rpc_url: String,
    /// Its chain's head at start.
    pub head: u64,
    /// The chain id.
    pub chain_id: u64,
}

/// Runs a validator until `stop` resolves (or the engine fails), calling `ready` once it
/// serves JSON-RPC.
pub fn run<F>(
    cfg: NodeConfig,
    ready: impl FnOnce(&Ready) + Send + 'static,
    stop: impl FnOnce() -> F + Send + 'static,
) -> Result<(), String>
where
    F: std::future::Future<Output = ()> + Send,
{
    let me = cfg.key.public_key();
    let p2p = cfg
        .peers
        .iter()
        .find(|(k, _)| *k == me)
        .map(|(_, a)| *a)
        .ok_or_else(|| {
            format!(
                "this validator's key {} is not in the peers file",
                hex::encode_prefixed(me.encode())
            )
        })?;
    std::fs::create_dir_all(&cfg.datadir)
        .map_err(|e| format!("cannot create {}: {e}", cfg.datadir.display()))?;
    let chain_dir = cfg.datadir.join("chain");
    let chain = Chain::open(&chain_dir, cfg.genesis.clone())
        .map_err(|e| format!("cannot open the chain in {}: {e}", chain_dir.display()))?;
    let chain = Arc::new(chain);
    let runtime = cw_tokio::Config::new()
        .with_worker_threads(cfg.worker_threads.max(2))
        .with_tcp_nodelay(Some(true))
        .with_storage_directory(cfg.datadir.join("consensus"))
        .with_catch_panics(false);
    let runner = cw_tokio::Runner::new(runtime);
    runner.start(|context| async move {
        let mut p2p_cfg = lookup::Config::local(
            cfg.key.clone(),
            &[NAMESPACE, b"_P2P"].concat(),
            SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), p2p.port()),
            MAX_MESSAGE,
        );
        p2p_cfg.mailbox_size = 1024;
        let (mut network, mut oracle) = lookup::Network::new(context.with_label("p2p"), p2p_cfg);
        let peers: Map<PublicKey, PeerAddress> = Map::from_iter_dedup(
            cfg.peers
                .iter()
                .map(|(k, a)| (k.clone(), PeerAddress::Symmetric(*a))),
        );
        oracle.track(0, peers).await;
        let quota = Quota::per_second(NZU32!(1024));
        let mut reg = |ch| network.register(ch, quota, 1024);
        let channels = Channels {
            votes: reg(channel::VOTES),
            certificates: reg(channel::CERTIFICATES),
            resolver: reg(channel::RESOLVER),
            broadcast: reg(channel::BROADCAST),
            backfill: reg(channel::BACKFILL),
        };
        let txs = reg(channel::TRANSACTIONS);
        let p2p_handle = network.start();

        let app = match Application::new(chain.clone(), beneficiary(&me)) {
            Ok(app) => app.with_fault(cfg.fault),
            Err(e) => return Err(format!("cannot start the application: {e}")),
        };
        let validators = cfg.peers.iter().map(|(k, _)| k.clone()).collect();
        let engine_cfg = EngineConfig::new(
            cfg.key.clone(),
            validators,
            oracle.clone(),
            oracle.clone(),
            "prova".into(),
        );
        let engine = Engine::new(context.with_label("engine"), app, engine_cfg)
            .await
            .map_err(|e| e.to_string())?;
        let engine_handle = engine.start(channels);
        let (relay, gossip_handle) = gossip::start(context.with_label("gossip"), chain.clone(), txs);
        let relay = prova_rpc::Relay(Arc::new(move |raw: &[u8]| relay.submit(raw)));
        let server = prova_rpc::start(
            chain.clone(),
            prova_rpc::RpcConfig {
                addr: cfg.rpc,
                mining: prova_rpc::Mining::Consensus,
                relay: Some(relay),
            },
        )
        .await
        .map_err(|e| format!("cannot serve JSON-RPC on {}: {e}", cfg.rpc))?;
        ready(&Ready {
            public_key: me.clone(),
            p2p,
            rpc_url: server.url(),
            head: chain.block_number(),
            chain_id: chain.chain_id(),
        });
        let stopped = stop();
        let result = futures::select! {
            () = futures::FutureExt::fuse(stopped) => Ok(()),
            r = futures::FutureExt::fuse(engine_handle) => Err(format!("the consensus engine stopped: {r:?}")),
            r = futures::FutureExt::fuse(p2p_handle) => Err(format!("the p2p network stopped: {r:?}")),
            r = futures::FutureExt::fuse(gossip_handle) => Err(format!("transaction gossip stopped: {r:?}")),
        };
        server.stop().await;
        result
    })
}
