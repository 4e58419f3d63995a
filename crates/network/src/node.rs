//! A validator's files and p2p wiring (`prova node --validator` runs them on commonware's tokio
//! runtime, with JSON-RPC on top):
//!
//! - [`channels`]: commonware's authenticated `lookup` network: every validator's key and
//!   address are known from the peers file, connections are encrypted and authenticated with the
//!   validators' ed25519 keys, and only validators of the set may connect;
//! - **key file** (`prova keygen`): `{"publicKey": "0x…", "privateKey": "0x…"}` (ed25519,
//!   written with mode 0600);
//! - **peers file**: `{"validators": [{"publicKey": "0x…", "address": "127.0.0.1:30300"}, …]}`,
//!   the same on every validator: the validator set and where each listens for p2p.
//!
//!
//! Data dir: `chain/` (the chain's redb store and model files) and `consensus/` (commonware's
//! journals and archives: votes, certificates, finalized blocks).

use crate::{Channels, PublicKey, channel, engine::NAMESPACE};
use alloy_primitives::{Address, hex, keccak256};
use commonware_codec::{DecodeExt, Encode};
use commonware_cryptography::{Signer, ed25519};
use commonware_p2p::{Address as PeerAddress, AddressableManager, authenticated::lookup};
use commonware_runtime::{Handle, Metrics, Quota, tokio as cw_tokio};
use commonware_utils::{NZU32, ordered::Map};
use serde::{Deserialize, Serialize};
use std::{net::SocketAddr, path::Path};

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

type Sender = lookup::Sender<PublicKey, cw_tokio::Context>;
type Receiver = lookup::Receiver<PublicKey>;

/// A validator's p2p network on loopback or beyond: listens on `listen`'s port (all
/// interfaces), connects to the validators of `peers` only, and registers the engine's channels
/// and the transactions channel. Returns the channels, the transactions channel, the oracle (to
/// give the engine as blocker and peer provider) and the network's handle.
#[allow(clippy::type_complexity)]
pub async fn channels(
    context: &cw_tokio::Context,
    key: &ed25519::PrivateKey,
    peers: &[(PublicKey, SocketAddr)],
    listen: SocketAddr,
) -> (
    Channels<Sender, Receiver>,
    (Sender, Receiver),
    lookup::Oracle<PublicKey>,
    Handle<()>,
) {
    let mut cfg = lookup::Config::local(
        key.clone(),
        &[NAMESPACE, b"_P2P"].concat(),
        SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), listen.port()),
        MAX_MESSAGE,
    );
    cfg.mailbox_size = 1024;
    let (mut network, mut oracle) = lookup::Network::new(context.with_label("p2p"), cfg);
    let set: Map<PublicKey, PeerAddress> = Map::from_iter_dedup(
        peers
            .iter()
            .map(|(k, a)| (k.clone(), PeerAddress::Symmetric(*a))),
    );
    oracle.track(0, set).await;
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
    (channels, txs, oracle, network.start())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_key_file_round_trips_and_a_mismatched_public_key_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let file = keygen();
        file.write(&path).unwrap();
        let key = KeyFile::read(&path).unwrap();
        assert_eq!(key_file(&key).public_key, file.public_key);
        assert!(file.write(&path).unwrap_err().contains("cannot create"));
        let other = keygen();
        let lying = KeyFile {
            public_key: other.public_key,
            private_key: file.private_key,
        };
        let path2 = dir.path().join("lying.json");
        lying.write(&path2).unwrap();
        assert!(
            KeyFile::read(&path2)
                .unwrap_err()
                .contains("not the private key's")
        );
    }

    #[test]
    fn a_peers_file_lists_each_key_and_address_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("peers.json");
        let a = keygen().public_key;
        let b = keygen().public_key;
        let write = |v: serde_json::Value| std::fs::write(&path, v.to_string()).unwrap();
        write(serde_json::json!({"validators": [
            {"publicKey": a, "address": "127.0.0.1:1"},
            {"publicKey": b, "address": "127.0.0.1:2"}]}));
        assert_eq!(PeersFile::read(&path).unwrap().len(), 2);
        write(serde_json::json!({"validators": [
            {"publicKey": a, "address": "127.0.0.1:1"},
            {"publicKey": a, "address": "127.0.0.1:2"}]}));
        assert!(PeersFile::read(&path).unwrap_err().contains("listed twice"));
        write(serde_json::json!({"validators": [
            {"publicKey": a, "address": "127.0.0.1:1"},
            {"publicKey": b, "address": "127.0.0.1:1"}]}));
        assert!(PeersFile::read(&path).unwrap_err().contains("listed twice"));
        write(
            serde_json::json!({"validators": [{"publicKey": "0x1234", "address": "127.0.0.1:1"}]}),
        );
        assert!(
            PeersFile::read(&path)
                .unwrap_err()
                .contains("not an ed25519")
        );
    }
}
