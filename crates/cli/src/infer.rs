//! `prova infer`.

use crate::util;
use anyhow::Result;
use clap::Args;
use prova_runtime::{Profile, Runtime};
use prova_tensor::hash_tensors;
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct InferArgs {
    /// ONNX model file.
    model: PathBuf,
    /// Input document `{"inputs":[TENSOR,...]}`, or `-` for stdin.
    #[arg(long)]
    input: String,
    /// `exact` (consensus, bit-identical on every x86-64 CPU) or `native` (faster, off-chain).
    #[arg(long, default_value = "exact")]
    profile: Profile,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: InferArgs) -> Result<()> {
    let bytes = util::read_model(&args.model)?;
    let inputs = util::read_inputs(&args.input)?;
    let runtime = Runtime::new(args.profile)?;
    let model = runtime.load(&bytes)?;
    let outputs = runtime.run(&model, &inputs)?;
    let hash = hash_tensors(&outputs);
    let gas = model.info.gas_cold_call;
    if args.json {
        let doc = json!({
            "model": model.info.id,
            "profile": args.profile.name(),
            "outputs": outputs,
            "output_hash": hash.to_string(),
            "gas": gas,
        });
        println!("{doc}");
    } else {
        println!("model        {}", model.info.id);
        println!(
            "profile      {}{}",
            args.profile,
            if args.profile == Profile::Native {
                " (not for consensus)"
            } else {
                ""
            }
        );
        for (t, spec) in outputs.iter().zip(&model.info.outputs) {
            println!(
                "output       {} {} {:?} = {}",
                spec.name,
                t.dtype(),
                t.shape(),
                util::preview(t, 16)
            );
        }
        println!("output_hash  {hash}");
        println!("gas          {gas}");
    }
    Ok(())
}
