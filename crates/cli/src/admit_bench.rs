//! `prova bench admit`: how long admission takes per model, accepted or refused.
//!
//! Admission runs on every node for every deployment, so its worst case is a denial-of-service
//! bound (docs/security.md: under 100 ms and 64 MiB). The baseline, measured in the same run, is
//! decoding the protobuf alone: the part of the work any node must do to look at the bytes.

use crate::bench::{percentiles, time};
use crate::util;
use anyhow::{Result, bail};
use clap::Args;
use prova_model::{Limits, admit, graph_node_count};
use serde_json::json;
use std::path::PathBuf;

#[derive(Args)]
pub struct BenchAdmitArgs {
    /// Models to admit (default: fixtures/models/*.onnx and fixtures/hostile/*.onnx, from the
    /// repository root).
    models: Vec<PathBuf>,
    /// Timed admissions per model (after 10% warm-up).
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn run(args: BenchAdmitArgs) -> Result<()> {
    if args.iters == 0 {
        bail!("--iters must be at least 1");
    }
    let models = if args.models.is_empty() {
        util::fixture_models(&["fixtures/models", "fixtures/hostile"])?
    } else {
        args.models.clone()
    };
    let limits = Limits::DEFAULT;
    let mut rows = Vec::new();
    for (i, path) in models.iter().enumerate() {
        let name = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into(),
        );
        eprint!("\r[{}/{}] {name:<40}", i + 1, models.len());
        let bytes = util::read_model(path)?;
        let outcome = match admit(&bytes, &limits) {
            Ok(_) => "admitted".to_string(),
            Err(e) => format!("refused: {e}"),
        };
        let mut admission = time(args.iters, || {
            let _ = std::hint::black_box(admit(&bytes, &limits));
            Ok(())
        })?;
        let mut decode = time(args.iters, || {
            let _ = std::hint::black_box(graph_node_count(&bytes));
            Ok(())
        })?;
        let (_, median, p90) = percentiles(&mut admission);
        let (_, decode_median, _) = percentiles(&mut decode);
        rows.push(json!({
            "model": name,
            "bytes": bytes.len(),
            "outcome": outcome,
            "median_ns": median,
            "p90_ns": p90,
            "decode_median_ns": decode_median,
            "ratio_to_decode": median as f64 / decode_median.max(1) as f64,
        }));
    }
    eprintln!();
    let slowest = rows
        .iter()
        .max_by_key(|r| r["median_ns"].as_u64().unwrap_or(0))
        .cloned();
    if args.json {
        println!(
            "{}",
            json!({ "iters": args.iters, "models": rows, "slowest": slowest })
        );
        return Ok(());
    }
    println!(
        "{:<28} {:>10} {:>11} {:>11} {:>11} {:>8}  outcome",
        "model", "bytes", "median ms", "p90 ms", "decode ms", "ratio"
    );
    for r in &rows {
        let ms = |k: &str| r[k].as_u64().unwrap_or(0) as f64 / 1e6;
        let outcome: String = r["outcome"]
            .as_str()
            .unwrap_or("")
            .chars()
            .take(70)
            .collect();
        println!(
            "{:<28} {:>10} {:>11.3} {:>11.3} {:>11.3} {:>8.1}  {outcome}",
            r["model"].as_str().unwrap_or(""),
            r["bytes"].as_u64().unwrap_or(0),
            ms("median_ns"),
            ms("p90_ns"),
            ms("decode_median_ns"),
            r["ratio_to_decode"].as_f64().unwrap_or(0.0),
        );
    }
    if let Some(s) = slowest {
        println!(
            "slowest: {} at {:.1} ms (median of {})",
            s["model"].as_str().unwrap_or(""),
            s["median_ns"].as_u64().unwrap_or(0) as f64 / 1e6,
            args.iters
        );
    }
    Ok(())
}
