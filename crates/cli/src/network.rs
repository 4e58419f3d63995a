//! The validator network on the command line: `prova keygen`, `prova node --validator` and
//! `prova devnet` (docs/network.md).

use crate::node::{NodeArgs, wait_for_signal};
use anyhow::{Context, Result, bail};
use clap::Args;
use commonware_cryptography::{Signer, ed25519};
use commonware_runtime::{Metrics, Runner as _, tokio as cw_tokio};
use prova_chain::Chain;
use prova_chain::Genesis;
use prova_network::{
    Application, Engine, EngineConfig, PublicKey, gossip,
    node::{self as vnode, KeyFile, PeerEntry, PeersFile},
};
use std::sync::Arc;
use std::{
    net::{IpAddr, SocketAddr},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct KeygenArgs {
    /// Write the key file here (mode 0600; an existing file is never overwritten). Without it,
    /// the key file is printed.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Print `{"publicKey": …, "keyFile": …}` as JSON.
    #[arg(long)]
    json: bool,
}

pub fn keygen(args: KeygenArgs) -> Result<()> {
    let key = vnode::keygen();
    match &args.out {
        Some(path) => {
            key.write(path).map_err(anyhow::Error::msg)?;
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"publicKey": key.public_key, "keyFile": path})
                );
            } else {
                println!("public key {}", key.public_key);
                println!("key file   {}", path.display());
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&key)?),
    }
    Ok(())
}

/// The genesis every validator of a network built with these arguments shares: `--genesis
/// FILE`, or the dev genesis (dev accounts and fixture models) for `--chain-id`.
fn genesis(file: Option<&Path>, chain_id: u64) -> Result<Genesis> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the genesis file {}", path.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("genesis file {}", path.display()))?;
            Genesis::from_json(&v)
                .map_err(|e| anyhow::anyhow!("genesis file {}: {e}", path.display()))
        }
        None => Ok(crate::node::dev_genesis(chain_id)),
    }
}

/// `prova node --validator`.
pub fn validator_node(args: &NodeArgs) -> Result<()> {
    let key_path = args
        .key
        .as_deref()
        .context("--validator needs --key FILE")?;
    let peers_path = args
        .peers
        .as_deref()
        .context("--validator needs --peers FILE")?;
    let key = KeyFile::read(key_path).map_err(anyhow::Error::msg)?;
    let peers = PeersFile::read(peers_path).map_err(anyhow::Error::msg)?;
    let datadir = match &args.datadir {
        Some(d) => d.clone(),
        None => bail!("--validator needs --datadir DIR"),
    };
    crate::util::init_logs();
    let cfg = NodeConfig {
        key,
        peers,
        datadir: datadir.clone(),
        genesis: genesis(args.genesis.as_deref(), args.chain_id)?,
        rpc: SocketAddr::new(args.host, args.port),
    };
    let json = args.json;
    run_validator(cfg, move |r: &Ready| print_ready(r, &datadir, json))
}

/// How to run one validator process.
struct NodeConfig {
    key: ed25519::PrivateKey,
    peers: Vec<(PublicKey, SocketAddr)>,
    datadir: PathBuf,
    genesis: Genesis,
    rpc: SocketAddr,
}

/// What a started validator tells.
struct Ready {
    public_key: PublicKey,
    p2p: SocketAddr,
    rpc_url: String,
    head: u64,
    chain_id: u64,
}

/// Runs a validator (docs/network.md) on commonware's tokio runtime until SIGINT/SIGTERM or
/// until the engine fails; calls `ready` once it serves JSON-RPC.
fn run_validator(cfg: NodeConfig, ready: impl FnOnce(&Ready) + Send + 'static) -> Result<()> {
    use commonware_codec::Encode;
    let me = cfg.key.public_key();
    let p2p = cfg
        .peers
        .iter()
        .find(|(k, _)| *k == me)
        .map(|(_, a)| *a)
        .with_context(|| {
            format!(
                "this validator's key {} is not in the peers file",
                alloy_primitives::hex::encode_prefixed(me.encode())
            )
        })?;
    std::fs::create_dir_all(&cfg.datadir)
        .with_context(|| format!("cannot create {}", cfg.datadir.display()))?;
    let chain_dir = cfg.datadir.join("chain");
    let chain = Chain::open(&chain_dir, cfg.genesis.clone())
        .with_context(|| format!("cannot open the chain in {}", chain_dir.display()))?;
    let chain = Arc::new(chain);
    // The p2p listener binds inside the network's task, where a taken port is a panic; a port
    // another process holds is a configuration error, said before anything starts.
    std::net::TcpListener::bind((std::net::Ipv4Addr::UNSPECIFIED, p2p.port()))
        .with_context(|| format!("cannot listen for p2p on port {}", p2p.port()))?;
    let runtime = cw_tokio::Config::new()
        .with_worker_threads(4)
        .with_tcp_nodelay(Some(true))
        .with_storage_directory(cfg.datadir.join("consensus"))
        .with_catch_panics(false);
    cw_tokio::Runner::new(runtime).start(|context| async move {
        let (channels, txs, oracle, p2p_handle) =
            vnode::channels(&context, &cfg.key, &cfg.peers, p2p).await;
        let app = Application::new(chain.clone(), vnode::beneficiary(&me))?;
        let validators = cfg.peers.iter().map(|(k, _)| k.clone()).collect();
        let engine_cfg = EngineConfig::new(
            cfg.key.clone(),
            validators,
            oracle.clone(),
            oracle,
            "prova".into(),
        );
        let engine = Engine::new(context.with_label("engine"), app, engine_cfg).await?;
        let engine_handle = engine.start(channels);
        let (relay, gossip_handle) =
            gossip::start(context.with_label("gossip"), chain.clone(), txs);
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
        .with_context(|| format!("cannot serve JSON-RPC on {}", cfg.rpc))?;
        ready(&Ready {
            public_key: me.clone(),
            p2p,
            rpc_url: server.url(),
            head: chain.block_number(),
            chain_id: chain.chain_id(),
        });
        use futures::FutureExt;
        let result = futures::select! {
            r = wait_for_signal().fuse() => r,
            r = engine_handle.fuse() => Err(anyhow::anyhow!("the consensus engine stopped: {r:?}")),
            r = p2p_handle.fuse() => Err(anyhow::anyhow!("the p2p network stopped: {r:?}")),
            r = gossip_handle.fuse() => Err(anyhow::anyhow!("transaction gossip stopped: {r:?}")),
        };
        eprintln!("shutting down");
        server.stop().await;
        result
    })
}

fn print_ready(r: &Ready, datadir: &Path, json: bool) {
    use commonware_codec::Encode;
    let key = alloy_primitives::hex::encode_prefixed(r.public_key.encode());
    if json {
        println!(
            "{}",
            serde_json::json!({
                "publicKey": key,
                "p2p": r.p2p.to_string(),
                "rpc": r.rpc_url,
                "head": r.head,
                "chainId": r.chain_id,
                "datadir": datadir,
            })
        );
    } else {
        println!("prova validator {key}");
        println!("chain id   {} (head block {})", r.chain_id, r.head);
        println!("data dir   {}", datadir.display());
        println!("p2p        {}", r.p2p);
        println!("Listening on {}", r.rpc_url);
    }
}

#[derive(Args)]
pub struct DevnetArgs {
    /// Number of validators (4 tolerates one faulty: 3f+1).
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Data dir of the network (keys, peers file, one data dir per validator); an existing one
    /// is restarted with its keys and chains. Default: a fresh temporary dir, deleted on exit.
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// JSON-RPC port of the first validator; the others take the next ones. 0: each validator
    /// takes a free port (printed when it is up).
    #[arg(long, default_value_t = 8545)]
    port: u16,
    /// p2p port of the first validator; the others take the next ones.
    #[arg(long, default_value_t = 30300)]
    p2p_port: u16,
    /// Chain id.
    #[arg(long, default_value_t = prova_chain::DEV_CHAIN_ID)]
    chain_id: u64,
    /// Print one JSON object per validator when it is up, then `{"ready": true}`.
    #[arg(long)]
    json: bool,
}

/// `prova devnet`: a network of validator processes on loopback (this binary, `node
/// --validator`), until Ctrl-C.
pub fn devnet(args: DevnetArgs) -> Result<()> {
    if args.validators == 0 || args.validators > 100 {
        bail!("--validators must be between 1 and 100");
    }
    let (root, _tmp) = crate::util::dir_or_temp(args.datadir.clone(), "prova-devnet-")?;
    let peers_path = layout(&root, args.validators, args.p2p_port)?;
    let exe = std::env::current_exe().context("cannot find the prova binary")?;
    let mut children: Vec<Child> = Vec::new();
    let result = (|| -> Result<()> {
        for i in 0..args.validators {
            let port = if args.port == 0 {
                0
            } else {
                args.port
                    .checked_add(i as u16)
                    .context("RPC port out of range")?
            };
            let child = spawn_validator(&exe, &root, i, &peers_path, args.chain_id, port)?;
            children.push(child);
        }
        let mut urls = Vec::new();
        for (i, child) in children.iter_mut().enumerate() {
            let (line, v) = await_ready(child, &root, i)?;
            urls.push(v["rpc"].as_str().unwrap_or_default().to_string());
            if args.json {
                println!("{line}");
            } else {
                println!(
                    "validator {i}  rpc {}  p2p {}  key {}",
                    v["rpc"].as_str().unwrap_or_default(),
                    v["p2p"].as_str().unwrap_or_default(),
                    v["publicKey"].as_str().unwrap_or_default()
                );
            }
        }
        if args.json {
            println!("{}", serde_json::json!({"ready": true, "datadir": root}));
        } else {
            println!();
            println!(
                "prova devnet: {} validators, chain id {}, data dir {}",
                args.validators,
                args.chain_id,
                root.display()
            );
            println!("Logs in {}/validator-N/node.log", root.display());
            println!(
                "Send transactions to any validator, e.g. {}; the dev accounts of \
                 `prova node --dev` are funded. Ctrl-C stops the network.",
                urls.first().map_or("", String::as_str)
            );
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(wait_for_signal())?;
        Ok(())
    })();
    for child in &mut children {
        terminate(child);
    }
    result
}

/// The data dir of validator `i` of the network laid out in `root`.
fn validator_dir(root: &Path, i: usize) -> PathBuf {
    root.join(format!("validator-{i}"))
}

/// Waits (60 s at most) for validator `i` of the network in `root`, started by
/// [`spawn_validator`], to print its ready line: the line and its JSON, or why not with the end
/// of the validator's log.
pub(crate) fn await_ready(
    child: &mut Child,
    root: &Path,
    i: usize,
) -> Result<(String, serde_json::Value)> {
    let line = first_line(child, Duration::from_secs(60)).with_context(|| {
        let log = validator_dir(root, i).join("node.log");
        format!(
            "validator {i} did not start; the end of {}: {}",
            log.display(),
            log_tail(&log, 20)
        )
    })?;
    let ready =
        serde_json::from_str(&line).with_context(|| format!("validator {i} said: {line}"))?;
    Ok((line, ready))
}

/// Starts validator `i` of the network laid out in `root` (`node --validator --json`, its log
/// in `validator-i/node.log`).
pub(crate) fn spawn_validator(
    exe: &Path,
    root: &Path,
    i: usize,
    peers: &Path,
    chain_id: u64,
    rpc_port: u16,
) -> Result<Child> {
    let dir = validator_dir(root, i);
    Command::new(exe)
        .args(["node", "--validator", "--json", "--chain-id"])
        .arg(chain_id.to_string())
        .arg("--key")
        .arg(dir.join("key.json"))
        .arg("--peers")
        .arg(peers)
        .arg("--datadir")
        .arg(&dir)
        .arg("--port")
        .arg(rpc_port.to_string())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("node.log"))
                .context("cannot create the validator's log")?,
        )
        .spawn()
        .context("cannot start a validator")
}

/// Creates (or reuses) the keys and the peers file of a devnet in `root`; returns the peers
/// file's path.
pub(crate) fn layout(root: &Path, n: usize, p2p_port: u16) -> Result<PathBuf> {
    let peers_path = root.join("peers.json");
    let mut validators = Vec::new();
    for i in 0..n {
        let dir = validator_dir(root, i);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let key_path = dir.join("key.json");
        if !key_path.exists() {
            vnode::keygen()
                .write(&key_path)
                .map_err(anyhow::Error::msg)?;
        }
        let key = KeyFile::read(&key_path).map_err(anyhow::Error::msg)?;
        use commonware_codec::Encode;
        use commonware_cryptography::Signer;
        let port = p2p_port
            .checked_add(i as u16)
            .context("p2p port out of range")?;
        validators.push(PeerEntry {
            public_key: alloy_primitives::hex::encode_prefixed(key.public_key().encode()),
            address: SocketAddr::new(IpAddr::from([127, 0, 0, 1]), port),
        });
    }
    let file = PeersFile { validators };
    std::fs::write(&peers_path, serde_json::to_string_pretty(&file)?)
        .with_context(|| format!("cannot write {}", peers_path.display()))?;
    Ok(peers_path)
}

/// The first line a child prints on stdout, within `timeout`.
pub(crate) fn first_line(child: &mut Child, timeout: Duration) -> Result<String> {
    use std::io::BufRead;
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never blocks on a full pipe.
        let mut sink = String::new();
        while reader.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    let start = Instant::now();
    let line = rx
        .recv_timeout(timeout.saturating_sub(start.elapsed()))
        .context("timed out")?;
    if line.trim().is_empty() {
        bail!("it exited");
    }
    Ok(line.trim().to_string())
}

/// The last `n` lines of a log file (or why it cannot be read), for an error message.
fn log_tail(path: &Path, n: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join(" | ")
        }
        Err(e) => format!("(cannot read it: {e})"),
    }
}

/// Stops a child with SIGTERM (it shuts down cleanly), then SIGKILL after 10 s.
pub(crate) fn terminate(child: &mut Child) {
    #[cfg(unix)]
    {
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
