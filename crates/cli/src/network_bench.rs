//! `prova bench network`: finalization latency and finalized inference transactions per
//! second of a validator network on loopback (N `prova node --validator` processes), against a
//! single dev node making a block every second from its pool (`prova node --dev --block-time 1`:
//! the same block cadence without consensus), measured in the same run under the same load.

use crate::network::{await_ready, first_line, layout, spawn_validator, terminate};
use alloy_consensus::TxEip1559;
use alloy_eips::Encodable2718;
use alloy_primitives::{Bytes, TxKind, U256};
use alloy_sol_types::SolCall;
use anyhow::{Context, Result, bail};
use clap::Args;
use prova_chain::{DEV_ACCOUNTS, DEV_CHAIN_ID, sign_tx};
use prova_precompile::{INFER_ADDRESS, abi::IProvaInference};
use prova_validator::client;
use serde_json::{Value, json};
use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

#[derive(Args)]
pub struct BenchNetworkArgs {
    /// Validators.
    #[arg(long, default_value_t = 4)]
    validators: usize,
    /// Inference transactions (digits_mlp, a 64-pixel image each), sent as fast as the nodes
    /// accept them, to every validator in turn.
    #[arg(long, default_value_t = 300)]
    txs: u64,
    /// Keep the network's data dirs and logs (`validator-N/node.log`) here instead of a
    /// temporary dir.
    #[arg(long)]
    datadir: Option<std::path::PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Inference transaction `j`: dev account `j % 10`, nonce `j / 10`.
fn infer_tx(j: u64) -> Result<Bytes> {
    let model = crate::node::FIXTURE_MODELS
        .iter()
        .find(|(n, _)| *n == "digits_mlp")
        .context("digits_mlp is a fixture")?
        .1;
    let pixels: Vec<f32> = (0..64)
        .map(|i| ((i * 7 + j as usize * 13) % 17) as f32 / 16.0)
        .collect();
    let input = prova_tensor::Tensor::from_f32(vec![1, 64], &pixels)?;
    let data = IProvaInference::inferCall {
        modelId: prova_model::ModelId::of(model).0,
        inputs: vec![prova_precompile::abi::to_abi(&input)],
    }
    .abi_encode();
    let tx = TxEip1559 {
        chain_id: DEV_CHAIN_ID,
        nonce: j / 10,
        gas_limit: 150_000,
        max_fee_per_gas: 50_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: TxKind::Call(INFER_ADDRESS),
        value: U256::ZERO,
        input: data.into(),
        ..Default::default()
    };
    Ok(sign_tx(tx, &DEV_ACCOUNTS[(j % 10) as usize].1)?
        .encoded_2718()
        .into())
}

/// Single-transaction latency: `n` transactions from `from` on, each sent once the previous
/// one's receipt is in; (median, p90) seconds.
fn probe(urls: &[String], from: u64, n: u64, label: &str) -> Result<(f64, f64)> {
    let mut samples = Vec::new();
    for k in 0..n {
        let one = &urls[(k as usize) % urls.len()..][..1];
        samples.push(load(one, from + k..from + k + 1, label)?.p50);
        eprint!("\r{label}: {}/{n} probes", k + 1);
    }
    eprintln!();
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Ok((at(0.5), at(0.9)))
}

/// What one load run measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    /// Finalized (or mined) transactions per second, first send to last receipt.
    tps: f64,
    /// Send-to-receipt latency percentiles, seconds.
    p50: f64,
    p90: f64,
    /// Blocks the transactions took.
    blocks: u64,
}

fn quantity(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_default()
}

/// Sends inference transactions `range` to `urls` in turn, from four client threads, then
/// waits for every receipt (polled at the node each was sent to).
fn load(urls: &[String], range: std::ops::Range<u64>, label: &str) -> Result<Load> {
    const CLIENTS: u64 = 4;
    let txs = range.end - range.start;
    let raws: Vec<(u64, Bytes)> = range
        .map(|j| Ok((j, infer_tx(j)?)))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let sent: Vec<Result<Vec<(String, String, Instant)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let raws = &raws;
                s.spawn(move || -> Result<Vec<(String, String, Instant)>> {
                    let mut out = Vec::new();
                    for (j, raw) in raws.iter().filter(|(j, _)| j % CLIENTS == c) {
                        let url = &urls[(*j as usize) % urls.len()];
                        let hash = client::call(url, "eth_sendRawTransaction", json!([raw]))
                            .with_context(|| format!("{label}: sending transaction {j}"))?;
                        out.push((
                            url.clone(),
                            hash.as_str().unwrap_or_default().to_string(),
                            Instant::now(),
                        ));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| bail!("a client thread panicked"))
            })
            .collect()
    });
    let mut pending = Vec::new();
    for part in sent {
        pending.extend(part?);
    }
    let mut latencies = Vec::new();
    let mut blocks = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !pending.is_empty() {
        if Instant::now() > deadline {
            bail!(
                "{label}: {} transactions not finalized in 10 minutes",
                pending.len()
            );
        }
        let mut still = Vec::new();
        for (url, hash, sent) in pending {
            let r = client::call(&url, "eth_getTransactionReceipt", json!([hash]))?;
            if r.is_null() {
                still.push((url, hash, sent));
            } else {
                if r["status"] != "0x1" {
                    bail!("{label}: transaction {hash} failed");
                }
                latencies.push(sent.elapsed().as_secs_f64());
                blocks.insert(quantity(&r["blockNumber"]));
            }
        }
        pending = still;
        if txs > 1 {
            eprint!("\r{label}: {}/{} finalized", latencies.len(), txs);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    if txs > 1 {
        eprintln!();
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok(Load {
        tps: txs as f64 / elapsed,
        p50: at(0.5),
        p90: at(0.9),
        blocks: blocks.len() as u64,
    })
}

struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            terminate(c);
        }
    }
}

/// Single-transaction latency samples.
const PROBES: u64 = 10;

pub fn run(args: BenchNetworkArgs) -> Result<()> {
    if args.validators == 0 || args.txs == 0 {
        bail!("--validators and --txs must be at least 1");
    }
    let exe = std::env::current_exe().context("cannot find the prova binary")?;
    let (root, _tmp) = crate::util::dir_or_temp(args.datadir.clone(), "prova-bench-net-")?;
    let root = root.as_path();

    // Baseline: one dev node, a block a second, no consensus.
    let dev_port = free_port()?;
    let mut dev = Children(vec![
        Command::new(&exe)
            .args(["node", "--dev", "--block-time", "1", "--tmp", "--port"])
            .arg(dev_port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("cannot start the dev node")?,
    ]);
    let dev_url = format!("http://127.0.0.1:{dev_port}");
    first_line(&mut dev.0[0], Duration::from_secs(60)).context("the dev node did not start")?;
    let dev_urls = [dev_url];
    let base_idle = probe(&dev_urls, 0, PROBES, "dev node (baseline)")?;
    let baseline = load(&dev_urls, PROBES..PROBES + args.txs, "dev node (baseline)")?;
    drop(dev);

    let p2p = free_port()?;
    let peers = layout(root, args.validators, p2p)?;
    let mut nodes = Children(Vec::new());
    let mut urls = Vec::new();
    for i in 0..args.validators {
        // Port 0: each validator binds a free RPC port and prints it when it is up.
        nodes
            .0
            .push(spawn_validator(&exe, root, i, &peers, DEV_CHAIN_ID, 0)?);
    }
    for (i, child) in nodes.0.iter_mut().enumerate() {
        let (_, ready) = await_ready(child, root, i)?;
        urls.push(ready["rpc"].as_str().unwrap_or_default().to_string());
    }
    // Measured once the validators are connected and finalizing.
    let start = Instant::now();
    while !urls
        .iter()
        .all(|u| client::call(u, "eth_blockNumber", json!([])).is_ok_and(|b| quantity(&b) >= 2))
    {
        if start.elapsed() > Duration::from_secs(60) {
            bail!("the network did not finalize two blocks in a minute");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let net_idle = probe(&urls, 0, PROBES, "network")?;
    let network = load(&urls, PROBES..PROBES + args.txs, "network")?;
    drop(nodes);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if args.json {
        let j = |l: &Load, idle: (f64, f64)| {
            json!({
                "txsPerSec": l.tps,
                "loadedLatencyP50": l.p50,
                "loadedLatencyP90": l.p90,
                "blocks": l.blocks,
                "latencyP50": idle.0,
                "latencyP90": idle.1,
            })
        };
        println!(
            "{}",
            json!({
                "validators": args.validators,
                "txs": args.txs,
                "cores": cores,
                "devNode": j(&baseline, base_idle),
                "network": j(&network, net_idle),
                "latencyRatio": net_idle.0 / base_idle.0,
                "throughputRatio": network.tps / baseline.tps,
            })
        );
    } else {
        println!(
            "digits_mlp inference transactions, {} validators on loopback, {cores} cores",
            args.validators
        );
        println!(
            "                        one tx: latency p50   p90 | {} txs: txs/s  latency p50   p90  blocks",
            args.txs
        );
        for (name, l, idle) in [
            ("dev node (1 s blocks)", &baseline, base_idle),
            ("network (finalized)", &network, net_idle),
        ] {
            println!(
                "{name:<23} {:>14.2} s {:>5.2} s | {:>12.1} {:>10.2} s {:>5.2} s {:>6}",
                idle.0, idle.1, l.tps, l.p50, l.p90, l.blocks
            );
        }
        println!(
            "network / dev node: latency x{:.2}, throughput x{:.2}",
            net_idle.0 / base_idle.0,
            network.tps / baseline.tps
        );
    }
    Ok(())
}
