//! `prova model ...`.

use crate::util;
use anyhow::Result;
use clap::{Args, Subcommand};
use prova_model::{Limits, admit};
use prova_runtime::{Profile, Runtime};
use serde_json::json;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Print a model's id, signature, operators, cost and gas, or why it is refused.
    Inspect(InspectArgs),
    /// Register a model on a node (admission is checked locally first); prints its id.
    Deploy(crate::deploy::DeployArgs),
}

#[derive(Args)]
pub struct InspectArgs {
    /// ONNX model file.
    model: PathBuf,
    /// Also compile the model under this profile and print its plan: each node's operator
    /// and output, and the matrix kernel each product runs.
    #[arg(long, value_name = "PROFILE")]
    plan: Option<Profile>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Inspect(args) => inspect(args),
        ModelCommand::Deploy(args) => crate::deploy::run(args),
    }
}

fn inspect(args: InspectArgs) -> Result<()> {
    // The runtime first: a profile is pinned before anything else initialises tract.
    let runtime = args.plan.map(Runtime::new).transpose()?;
    let bytes = util::read_model(&args.model)?;
    let id = prova_model::ModelId::of(&bytes);
    let admitted =
        admit(&bytes, &Limits::DEFAULT).map_err(|e| anyhow::anyhow!("model {id} refused: {e}"))?;
    let info = admitted.info.clone();
    let work = work_by_op(&admitted.work);
    // The plan of the model just admitted (not admitted again).
    let plan = match &runtime {
        Some(rt) => Some((rt.profile(), rt.compile(admitted)?.plan_nodes())),
        None => None,
    };
    if args.json {
        let mut v = json!(info);
        v["work"] = work
            .iter()
            .map(|(op, nodes, milli)| json!({"op": op, "nodes": nodes, "macs": milli.div_ceil(1000)}))
            .collect();
        if let Some((profile, nodes)) = &plan {
            v["plan"] = json!({
                "profile": profile.name(),
                "nodes": nodes
                    .iter()
                    .map(|n| json!({"name": n.name, "op": n.op, "outputs": n.outputs, "kernels": n.kernels}))
                    .collect::<Vec<_>>(),
            });
        }
        println!("{v}");
        return Ok(());
    }
    println!("model     {}", info.id);
    println!(
        "size      {} bytes, {} parameters, opset {}",
        info.size_bytes, info.params, info.opset
    );
    for s in &info.inputs {
        println!("input     {} {} {:?}", s.name, s.dtype, s.shape);
    }
    for s in &info.outputs {
        println!("output    {} {} {:?}", s.name, s.dtype, s.shape);
    }
    let ops: Vec<String> = info.ops.iter().map(|(k, v)| format!("{k}×{v}")).collect();
    println!("ops       {}", ops.join(", "));
    println!(
        "cost      {} MAC-equivalents (docs/gas.md), {} bytes moved, largest tensor {} bytes",
        info.cost.macs, info.cost.bytes, info.cost.max_tensor_bytes
    );
    let total: u64 = work.iter().map(|w| w.2).sum::<u64>().max(1);
    for (op, nodes, milli) in work.iter().take(8) {
        println!(
            "work      {op}×{nodes}: {} MAC-equivalents ({:.1}%)",
            milli.div_ceil(1000),
            100.0 * *milli as f64 / total as f64
        );
    }
    if work.len() > 8 {
        println!("work      … {} more operators", work.len() - 8);
    }
    match &info.decoder {
        None => println!(
            "gas       {} per call ({} when cold)",
            info.gas_per_call, info.gas_cold_call
        ),
        Some(d) => {
            println!(
                "decoder   vocab {}, context {}, {} layers{} (signature and cost: one step at \
                 the longest context; run with prova generate)",
                d.vocab,
                d.max_context,
                d.layers,
                d.eos
                    .map(|e| format!(", end of sequence {e}"))
                    .unwrap_or_default()
            );
            let block = 30_000_000u64;
            let schedule = prova_model::GasSchedule::DEFAULT;
            let fits =
                block.saturating_sub(schedule.base + schedule.cold_model) / d.gas_per_token.max(1);
            println!(
                "gas       {} per token (prompt and generated), {} per call; {} tokens fit \
                 one 30M-gas block",
                d.gas_per_token, schedule.base, fits
            );
        }
    }
    if let Some((profile, nodes)) = &plan {
        println!(
            "plan      {} nodes under the {profile} profile:",
            nodes.len()
        );
        for (i, n) in nodes.iter().enumerate() {
            let kernels = match n.kernels.is_empty() {
                true => String::new(),
                false => format!("  [{}]", n.kernels.join(", ")),
            };
            println!(
                "  {i:>4} {} {} -> {}{kernels}",
                n.op,
                n.name,
                n.outputs.join(", ")
            );
        }
    }
    Ok(())
}

/// The charged work summed per typed operator (later steps of fused element-wise chains
/// apart, as `Op (chained)`), heaviest first: (operator, nodes, milli-MACs).
fn work_by_op(work: &[prova_model::NodeWork]) -> Vec<(String, u64, u64)> {
    let mut by_op = std::collections::BTreeMap::<String, (u64, u64)>::new();
    for w in work {
        let key = match w.chained {
            true => format!("{} (chained)", w.op),
            false => w.op.clone(),
        };
        let e = by_op.entry(key).or_default();
        e.0 += 1;
        e.1 = e.1.saturating_add(w.milli_macs);
    }
    let mut out: Vec<_> = by_op.into_iter().map(|(k, (n, m))| (k, n, m)).collect();
    out.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    out
}
