//! `prova model ...`.

use crate::util;
use anyhow::Result;
use clap::{Args, Subcommand};
use prova_model::{Limits, admit};
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
    let bytes = util::read_model(&args.model)?;
    let id = prova_model::ModelId::of(&bytes);
    let admitted =
        admit(&bytes, &Limits::DEFAULT).map_err(|e| anyhow::anyhow!("model {id} refused: {e}"))?;
    let info = admitted.info;
    if args.json {
        println!("{}", json!(info));
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
        "cost      {} MACs, {} bytes moved, largest tensor {} bytes",
        info.cost.macs, info.cost.bytes, info.cost.max_tensor_bytes
    );
    println!(
        "gas       {} per call ({} when cold)",
        info.gas_per_call, info.gas_cold_call
    );
    Ok(())
}
