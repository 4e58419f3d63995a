//! The validator's commands: `prova replay`, `prova export`, `prova verify`, `prova import`
//! and `prova validator --follow`.
//!
//! Exit codes: 0 when everything verifies, 2 when a block diverges (the report is on stdout),
//! 1 for any other failure (one line on stderr).

use crate::util::Exit;
use anyhow::{Context, Result, bail};
use clap::Args;
use prova_chain::{Chain, Genesis};
use prova_runtime::{Profile, Runtime};
use prova_validator::{
    DataDir, Divergence, FollowEnd, FollowEvent, Jsonl, Mode, Progress, Summary,
};
use serde_json::json;
use std::{
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, atomic::AtomicBool},
    time::{Duration, Instant},
};

/// How to verify.
#[derive(Args, Debug, Clone)]
pub struct ModeArgs {
    /// Re-run each inference inline on one thread (default: executes on the witness and
    /// re-runs the inferences on a thread pool; same verdicts).
    #[arg(long, conflicts_with_all = ["witness_only", "threads"])]
    sequential: bool,
    /// Check everything but the inference outputs, which are taken from the witness (fast
    /// sync: no inference at all).
    #[arg(long, conflicts_with = "threads")]
    witness_only: bool,
    /// Worker threads for parallel verification (default: every core).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Print progress and the summary as JSON (one object per line).
    #[arg(long)]
    json: bool,
}

impl ModeArgs {
    fn mode(&self) -> Result<Mode> {
        Ok(match (self.sequential, self.witness_only, self.threads) {
            (true, _, _) => Mode::Sequential,
            (_, true, _) => Mode::WitnessOnly,
            (_, _, Some(0)) => bail!("--threads must be at least 1"),
            (_, _, Some(threads)) => Mode::Parallel { threads },
            _ => Mode::parallel(),
        })
    }
}

#[derive(Args)]
pub struct ReplayArgs {
    /// The node's data dir (the node must be stopped).
    #[arg(long)]
    datadir: PathBuf,
    /// First block to verify (earlier blocks are replayed from the witness alone).
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// Last block to verify (default: the head).
    #[arg(long)]
    to: Option<u64>,
    #[command(flatten)]
    mode: ModeArgs,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The node's data dir (the node must be stopped).
    #[arg(long)]
    datadir: PathBuf,
    /// Output file (JSON lines: the genesis, then one block per line).
    #[arg(long)]
    out: PathBuf,
    /// Last block to export (default: the head).
    #[arg(long)]
    to: Option<u64>,
}

#[derive(Args)]
pub struct VerifyArgs {
    /// An export made by `prova export`.
    #[arg(long)]
    input: PathBuf,
    #[command(flatten)]
    mode: ModeArgs,
}

#[derive(Args)]
pub struct ImportArgs {
    /// An export made by `prova export`.
    #[arg(long)]
    input: PathBuf,
    /// Data dir to import into (created if missing; an existing one must hold the same chain).
    #[arg(long)]
    datadir: PathBuf,
    /// Print progress and the summary as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ValidatorArgs {
    /// JSON-RPC URL of the node to follow.
    #[arg(long, value_name = "URL")]
    follow: String,
    /// Data dir of the validator's own verified chain (default: a temporary one).
    #[arg(long)]
    datadir: Option<PathBuf>,
    /// Address to serve read-only JSON-RPC on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Port to serve read-only JSON-RPC on (0 picks a free one).
    #[arg(long, default_value_t = 8546)]
    port: u16,
    /// How often to ask for new blocks, in milliseconds.
    #[arg(long, default_value_t = 250)]
    poll_ms: u64,
    /// Print events as JSON (one object per line).
    #[arg(long)]
    json: bool,
}

fn exact_runtime() -> Result<Arc<Runtime>> {
    Ok(Arc::new(
        Runtime::new(Profile::Exact).context("cannot start the exact runtime")?,
    ))
}

/// Prints progress on stderr at most once a second.
struct Reporter {
    json: bool,
    what: &'static str,
    last: Instant,
    target: Option<u64>,
}

impl Reporter {
    fn new(what: &'static str, json: bool, target: Option<u64>) -> Self {
        Self {
            json,
            what,
            last: Instant::now(),
            target,
        }
    }

    fn progress(&mut self, p: &Progress) {
        if self.last.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last = Instant::now();
        let mut err = std::io::stderr().lock();
        if self.json {
            let _ = writeln!(
                err,
                "{}",
                json!({
                    "event": "progress", "block": p.block, "blocks": p.blocks, "txs": p.txs,
                    "inferences": p.inferences, "checked": p.checked,
                    "blocksPerSec": p.blocks_per_sec(), "txsPerSec": p.txs_per_sec(),
                    "inferencesPerSec": p.inferences_per_sec(),
                })
            );
        } else {
            let of = self.target.map(|t| format!("/{t}")).unwrap_or_default();
            let _ = writeln!(
                err,
                "{}: block {}{of}  {:.0} blocks/s  {:.0} tx/s  {:.0} inferences/s checked",
                self.what,
                p.block,
                p.blocks_per_sec(),
                p.txs_per_sec(),
                p.inferences_per_sec()
            );
        }
    }
}

fn summary_json(s: &Summary, from: u64) -> serde_json::Value {
    let p = &s.progress;
    json!({
        "verified": s.verified(),
        "mode": s.mode.name(),
        "threads": match s.mode { Mode::Parallel { threads } => threads, _ => 1 },
        "from": from,
        "to": p.block,
        "blocks": p.blocks,
        "transactions": p.txs,
        "inferences": p.inferences,
        "checked": p.checked,
        "gasUsed": p.gas_used,
        "seconds": p.elapsed.as_secs_f64(),
        "blocksPerSec": p.blocks_per_sec(),
        "txsPerSec": p.txs_per_sec(),
        "inferencesPerSec": p.inferences_per_sec(),
        "divergence": s.divergence.as_ref().map(Divergence::to_json),
    })
}

/// Prints the summary (stdout) and turns a divergence into exit code 2.
fn finish(s: &Summary, from: u64, json: bool) -> Result<()> {
    if json {
        println!("{}", summary_json(s, from));
    } else {
        let p = &s.progress;
        let threads = match s.mode {
            Mode::Parallel { threads } => format!(", {threads} threads"),
            _ => String::new(),
        };
        match &s.divergence {
            None => println!(
                "verified {} blocks ({} transactions, {} inferences, {} re-run) in {:.2}s, {}{threads}: {:.0} blocks/s, {:.0} tx/s, {:.0} inferences/s",
                p.blocks,
                p.txs,
                p.inferences,
                p.checked,
                p.elapsed.as_secs_f64(),
                s.mode.name(),
                p.blocks_per_sec(),
                p.txs_per_sec(),
                p.inferences_per_sec()
            ),
            Some(d) => println!("DIVERGENCE {d}"),
        }
    }
    match s.divergence {
        Some(_) => Err(Exit(2).into()),
        None => Ok(()),
    }
}

pub fn replay(args: ReplayArgs) -> Result<()> {
    let mode = args.mode.mode()?;
    let dir = DataDir::open(&args.datadir).map_err(anyhow::Error::msg)?;
    let to = args.to.unwrap_or(dir.head());
    if to > dir.head() {
        bail!("--to {to} is past the head block {}", dir.head());
    }
    if args.from == 0 || args.from > to {
        bail!("--from must be between 1 and {to}");
    }
    let chain = Chain::open_in_memory(dir.genesis().clone(), exact_runtime()?)?;
    let mut reporter = Reporter::new("replay", args.mode.json, Some(to));
    let summary = prova_validator::run(&chain, dir.blocks(1, to), mode, args.from, &mut |p| {
        reporter.progress(p)
    })?;
    finish(&summary, args.from, args.mode.json)
}

pub fn verify(args: VerifyArgs) -> Result<()> {
    let mode = args.mode.mode()?;
    let file = Jsonl::open(&args.input).map_err(anyhow::Error::msg)?;
    let chain = Chain::open_in_memory(file.genesis().clone(), exact_runtime()?)?;
    let mut reporter = Reporter::new("verify", args.mode.json, None);
    let summary = prova_validator::run(&chain, file, mode, 1, &mut |p| reporter.progress(p))?;
    finish(&summary, 1, args.mode.json)
}

pub fn export(args: ExportArgs) -> Result<()> {
    let dir = DataDir::open(&args.datadir).map_err(anyhow::Error::msg)?;
    let to = args.to.unwrap_or(dir.head()).min(dir.head());
    let tmp = args.out.with_extension("jsonl.partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut out = std::io::BufWriter::new(file);
    let mut last = Instant::now();
    let n = prova_validator::export(&dir, to, &mut out, &mut |b| {
        if last.elapsed() >= Duration::from_secs(1) {
            last = Instant::now();
            eprintln!("export: block {b}/{to}");
        }
    })
    .map_err(anyhow::Error::msg)?;
    drop(out);
    std::fs::rename(&tmp, &args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!("exported genesis and {n} blocks to {}", args.out.display());
    Ok(())
}

pub fn import(args: ImportArgs) -> Result<()> {
    let file = Jsonl::open(&args.input).map_err(anyhow::Error::msg)?;
    let genesis: Genesis = file.genesis().clone();
    let chain = Chain::open_with_runtime(&args.datadir, genesis, exact_runtime()?)
        .with_context(|| format!("cannot open the chain in {}", args.datadir.display()))?;
    // Resume: blocks already held must be the same blocks.
    let held = chain.block_number();
    let mut skipped = 0u64;
    let mut blocks = file.peekable();
    while let Some(Ok(b)) = blocks.peek() {
        if b.header.number > held {
            break;
        }
        let ours = chain
            .store()
            .header(b.header.number)?
            .map(|h| h.hash_slow());
        if ours != Some(b.hash) {
            bail!(
                "{} already holds a different block {}: import into a new data dir",
                args.datadir.display(),
                b.header.number
            );
        }
        skipped += 1;
        blocks.next();
    }
    let mut reporter = Reporter::new("import", args.json, None);
    let summary = prova_validator::run(&chain, blocks, Mode::Sequential, 1, &mut |p| {
        reporter.progress(p)
    })?;
    if !args.json && skipped > 0 {
        println!("{skipped} blocks were already imported");
    }
    let head = chain.block_number();
    if !args.json {
        println!("{} now holds blocks 0..={head}", args.datadir.display());
    }
    finish(&summary, held + 1, args.json)
}

pub fn validator(args: ValidatorArgs) -> Result<()> {
    let genesis = prova_validator::fetch_genesis(&args.follow)
        .map_err(|e| anyhow::anyhow!("cannot get the genesis from {}: {e}", args.follow))?;
    let (datadir, _tmp) = crate::util::dir_or_temp(args.datadir, "prova-validator-")?;
    let chain = Chain::open_with_runtime(&datadir, genesis, exact_runtime()?)
        .with_context(|| format!("cannot open the chain in {}", datadir.display()))?;
    let chain = Arc::new(chain);
    let addr = SocketAddr::new(args.host, args.port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let json = args.json;
    let say = move |v: serde_json::Value, text: String| {
        if json {
            println!("{v}");
        } else {
            println!("{text}");
        }
    };
    let diverged = runtime.block_on(async move {
        let config = prova_rpc::RpcConfig {
            addr,
            mining: prova_rpc::Mining::ReadOnly,
            relay: None,
        };
        let server = prova_rpc::start(chain.clone(), config).await?;
        say(
            json!({"event": "serving", "url": server.url(), "following": args.follow, "datadir": datadir}),
            format!(
                "prova validator: following {}, serving its verified chain read-only on {} (data dir {})",
                args.follow,
                server.url(),
                datadir.display()
            ),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let (url, poll) = (args.follow.clone(), Duration::from_millis(args.poll_ms));
        let stop_follow = stop.clone();
        let mut follower = tokio::task::spawn_blocking(move || {
            prova_validator::follow(&chain, &url, poll, &stop_follow, &mut |e| match e {
                FollowEvent::Imported { number, hash, stats } => say(
                    json!({"event": "imported", "number": number, "hash": hash,
                           "txs": stats.txs, "inferences": stats.inferences}),
                    format!(
                        "block {number} {hash} verified and imported ({} transactions, {} inferences re-run)",
                        stats.txs, stats.inferences
                    ),
                ),
                FollowEvent::Retrying(why) => say(
                    json!({"event": "retrying", "reason": why}),
                    format!("cannot fetch the next block ({why}); retrying"),
                ),
                FollowEvent::Early { number, reason } => say(
                    json!({"event": "early", "number": number, "reason": reason}),
                    format!("block {number} is not due yet ({reason}); waiting"),
                ),
            })
        });
        let mut diverged = false;
        tokio::select! {
            r = crate::node::wait_for_signal() => { r?; }
            end = &mut follower => {
                match end.context("the follower panicked")?.map_err(anyhow::Error::msg)? {
                    FollowEnd::Stopped => {}
                    FollowEnd::Diverged(d) => {
                        diverged = true;
                        say(json!({"event": "diverged", "divergence": d.to_json()}),
                            format!("DIVERGENCE {d}"));
                        say(json!({"event": "halted"}),
                            "stopped importing; still serving the verified chain (Ctrl-C to quit)".into());
                    }
                    FollowEnd::Malformed { number, reason } => {
                        diverged = true;
                        say(json!({"event": "malformed", "number": number, "reason": reason}),
                            format!("block {number} from the node is malformed: {reason}; stopped importing"));
                    }
                }
                if diverged {
                    crate::node::wait_for_signal().await?;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        server.stop().await;
        anyhow::Ok(diverged)
    })?;
    // The follower notices the stop flag within one poll interval.
    runtime.shutdown_timeout(Duration::from_secs(5));
    if diverged {
        return Err(Exit(2).into());
    }
    Ok(())
}
