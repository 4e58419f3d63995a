//! `prova bench ...`: whole-system measurements.

use crate::util;
use anyhow::{Result, bail};
use clap::{Args, Subcommand};
use prova_runtime::{CompiledModel, Profile, Runtime};
use serde_json::json;
use std::{path::PathBuf, time::Instant};

#[derive(Subcommand)]
pub enum BenchCommand {
    /// Time warm inference of a compiled plan, and tract's own run as the baseline (the two
    /// alternating call by call).
    Infer(BenchInferArgs),
    /// Measure gas per second of exact-profile inference for every fixture and op model.
    Gas(crate::gas_bench::BenchGasArgs),
    /// Measure block verification: sequential, parallel and witness-only, in one run.
    Replay(crate::replay_bench::BenchReplayArgs),
    /// Time model admission (accepted or refused) against decoding the protobuf alone.
    Admit(crate::admit_bench::BenchAdmitArgs),
    /// Read-only calls with inference answered while blocks are made: the chain shared from
    /// every thread vs one global lock (the design it replaced), in one run.
    Calls(crate::calls_bench::BenchCallsArgs),
    /// Finalization latency and finalized inference transactions per second of a validator
    /// network on loopback, against a dev node with the same block time, in one run.
    Network(crate::network_bench::BenchNetworkArgs),
    /// This core's f32 multiply-add peak, without FMA (the exact profile's ceiling) and with,
    /// at each vector width it has: the GMAC/s that real-size benchmarks are compared against.
    Peak(crate::peak_bench::BenchPeakArgs),
}

#[derive(Args)]
pub struct BenchInferArgs {
    /// ONNX model file.
    model: PathBuf,
    /// Input document.
    #[arg(long)]
    input: String,
    /// Profile to measure.
    #[arg(long, default_value = "exact")]
    profile: Profile,
    /// Timed iterations (after 10% warm-up).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Also time every node of the plan (after the other runs, its own iterations) and list
    /// the ones taking the most time: where an inference's time goes.
    #[arg(long)]
    nodes: bool,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Infer(args) => infer(args),
        BenchCommand::Gas(args) => crate::gas_bench::run(args),
        BenchCommand::Replay(args) => crate::replay_bench::run(args),
        BenchCommand::Admit(args) => crate::admit_bench::run(args),
        BenchCommand::Calls(args) => crate::calls_bench::run(args),
        BenchCommand::Network(args) => crate::network_bench::run(args),
        BenchCommand::Peak(args) => crate::peak_bench::run(args),
    }
}

/// (p10, median, p90) of `samples`, nanoseconds.
pub fn percentiles(samples: &mut [u64]) -> (u64, u64, u64) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.1), at(0.5), at(0.9))
}

/// Times `f` and `g` alternately, `iters` calls each after a tenth as many of each to warm
/// up: the two samples come from the same moments of the machine.
pub fn time_pairs(
    iters: usize,
    mut f: impl FnMut() -> Result<()>,
    mut g: impl FnMut() -> Result<()>,
) -> Result<(Vec<u64>, Vec<u64>)> {
    for _ in 0..iters.div_ceil(10) {
        f()?;
        g()?;
    }
    let (mut fs, mut gs) = (Vec::with_capacity(iters), Vec::with_capacity(iters));
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        fs.push(t.elapsed().as_nanos() as u64);
        let t = Instant::now();
        g()?;
        gs.push(t.elapsed().as_nanos() as u64);
    }
    Ok((fs, gs))
}

pub fn time<F: FnMut() -> Result<()>>(iters: usize, mut f: F) -> Result<Vec<u64>> {
    for _ in 0..iters.div_ceil(10) {
        f()?;
    }
    let mut out = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        f()?;
        out.push(t.elapsed().as_nanos() as u64);
    }
    Ok(out)
}

fn infer(args: BenchInferArgs) -> Result<()> {
    if args.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let bytes = util::read_model(&args.model)?;
    let inputs = util::read_inputs(&args.input)?;
    let runtime = Runtime::new(args.profile)?;
    let start = Instant::now();
    let model = runtime.load(&bytes)?;
    let load_ns = start.elapsed().as_nanos() as u64;
    // Baseline: tract's own plan.run on inputs already converted (what Prova adds is the
    // signature check and the conversions in and out). The two alternate, call by call, so
    // that a phase of a shared machine slows both alike: Prova's overhead is the median of
    // the differences of each pair, not a difference of two runs minutes apart.
    let plan = model.plan().clone();
    let values = CompiledModel::tract_inputs(&inputs)?;
    let (mut prova, mut tract) = time_pairs(
        args.iters,
        || {
            runtime.run(&model, &inputs)?;
            Ok(())
        },
        || {
            plan.run(values.clone())
                .map_err(|e| anyhow::anyhow!("{e:#}"))?;
            Ok(())
        },
    )?;
    let mut differences: Vec<i64> = prova
        .iter()
        .zip(&tract)
        .map(|(&p, &t)| p as i64 - t as i64)
        .collect();
    differences.sort_unstable();
    let overhead = differences[differences.len() / 2];
    let (p10, median, p90) = percentiles(&mut prova);
    let (_, tract_median, _) = percentiles(&mut tract);
    let nodes = if args.nodes {
        Some(node_times(&model, &values, args.iters)?)
    } else {
        None
    };
    let mut doc = json!({
        "model": model.info.id,
        "profile": args.profile.name(),
        "iters": args.iters,
        "median_ns": median,
        "p10_ns": p10,
        "p90_ns": p90,
        "compile_ns": model.compile_ns,
        "load_ns": load_ns,
        "tract_median_ns": tract_median,
        "overhead_ns": overhead,
    });
    if let Some(nodes) = &nodes {
        doc["nodes"] = json!(nodes
            .iter()
            .map(|n| json!({"id": n.id, "name": n.name, "op": n.op, "ns": n.ns, "share": n.share}))
            .collect::<Vec<_>>());
    }
    if args.json {
        println!("{doc}");
    } else {
        println!("model      {} ({})", model.info.id, args.model.display());
        println!("profile    {}", args.profile);
        println!(
            "warm call  median {} ns (p10 {p10}, p90 {p90}) over {} iterations",
            median, args.iters
        );
        println!(
            "tract run  median {tract_median} ns, alternating call by call; Prova overhead \
             {overhead} ns (median of the pairs' differences)"
        );
        println!(
            "compile    {} ns (admission + plan: {load_ns} ns)",
            model.compile_ns
        );
        if let Some(nodes) = &nodes {
            let total: u64 = nodes.iter().map(|n| n.ns).sum();
            println!("nodes      {total} ns per run in the ops themselves, the slowest first:");
            for n in nodes.iter().take_while(|n| n.share >= 0.005) {
                println!(
                    "  {:>9} ns {:>5.1}%  #{:<4} {} {}",
                    n.ns,
                    n.share * 100.0,
                    n.id,
                    n.op,
                    n.name
                );
            }
        }
    }
    Ok(())
}

/// One node's mean time per run.
struct NodeTime {
    id: usize,
    name: String,
    op: String,
    ns: u64,
    share: f64,
}

/// Every node of `model`'s plan with its mean time per run, the slowest first.
fn node_times(
    model: &CompiledModel,
    values: &prova_runtime::TractValues,
    iters: usize,
) -> Result<Vec<NodeTime>> {
    let times = model.node_times(values, iters)?;
    let sum = times.iter().sum::<u64>().max(1) as f64;
    let mut nodes: Vec<NodeTime> = model
        .plan_nodes()
        .into_iter()
        .zip(times)
        .enumerate()
        .map(|(id, (node, ns))| NodeTime {
            id,
            name: node.name,
            op: node.op,
            ns,
            share: ns as f64 / sum,
        })
        .collect();
    nodes.sort_by(|a, b| b.ns.cmp(&a.ns).then(a.id.cmp(&b.id)));
    Ok(nodes)
}
