//! `prova bench gas`: nanoseconds per gas of exact-profile inference, per model.
//!
//! Gas is meant to bound inference time: Ethereum's repricing practice (EIP-7904) prices work
//! at 60 Mgas/s on the worst case, about 16.7 ns per gas. Every fixture model and every
//! worst-case single-op model must run at 60–250 Mgas/s here, and the fixtures' spread
//! (fastest / slowest Mgas/s) must stay ≤ 2. The report says which models miss.

use crate::util;
use anyhow::{Result, bail};
use clap::Args;
use prova_model::TensorSpec;
use prova_runtime::{Profile, Runtime};
use prova_tensor::{DType, Tensor};
use serde_json::json;
use std::{
    path::{Path, PathBuf},
    time::Instant,
};

/// Lowest acceptable Mgas/s (underpriced below).
const MIN_MGAS: f64 = 60.0;
/// Highest acceptable Mgas/s (overpriced above).
const MAX_MGAS: f64 = 250.0;
/// Largest acceptable max/min Mgas/s across the fixtures.
const MAX_SPREAD: f64 = 2.0;

#[derive(Args)]
pub struct BenchGasArgs {
    /// Models to measure (default: fixtures/models/*.onnx and fixtures/gas/*.onnx).
    models: Vec<PathBuf>,
    /// Minimum measuring time per model, in milliseconds.
    #[arg(long, default_value_t = 200)]
    min_ms: u64,
    /// Passes over all the models; each model reports its fastest median across passes
    /// (noise from other processes only ever adds time; passes spread it out).
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Deterministic pseudo-random inputs matching `spec` (xorshift64*, fixed seed).
fn synthetic(spec: &TensorSpec, seed: &mut u64) -> Result<Tensor> {
    let n = spec.elements() as usize;
    let mut next = || {
        *seed ^= *seed >> 12;
        *seed ^= *seed << 25;
        *seed ^= *seed >> 27;
        seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let shape = spec.shape.clone();
    let unit = |r: u64| (r >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0;
    Ok(match spec.dtype {
        DType::F32 => Tensor::from_values(
            shape,
            &(0..n).map(|_| unit(next()) as f32).collect::<Vec<_>>(),
        )?,
        DType::F64 => {
            Tensor::from_values(shape, &(0..n).map(|_| unit(next())).collect::<Vec<_>>())?
        }
        DType::I64 => Tensor::from_values(
            shape,
            &(0..n).map(|_| (next() % 4) as i64).collect::<Vec<_>>(),
        )?,
        DType::I32 => Tensor::from_values(
            shape,
            &(0..n).map(|_| (next() % 4) as i32).collect::<Vec<_>>(),
        )?,
        DType::I16 => Tensor::from_values(
            shape,
            &(0..n).map(|_| (next() % 4) as i16).collect::<Vec<_>>(),
        )?,
        DType::I8 => Tensor::from_values(shape, &(0..n).map(|_| next() as i8).collect::<Vec<_>>())?,
        DType::U8 => Tensor::from_values(shape, &(0..n).map(|_| next() as u8).collect::<Vec<_>>())?,
        DType::Bool => {
            Tensor::from_values(shape, &(0..n).map(|_| next() & 1 == 1).collect::<Vec<_>>())?
        }
    })
}

/// Loads `path` and times warm exact-profile runs for at least `min_ms`: one JSON row.
fn measure(runtime: &Runtime, path: &Path, min_ms: u64) -> Result<serde_json::Value> {
    let name = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("?")
        .to_string();
    let kind = if path.components().any(|c| c.as_os_str() == "gas") {
        "op"
    } else {
        "fixture"
    };
    let bytes = util::read_model(path)?;
    let model = match runtime.load(&bytes) {
        Ok(m) => m,
        Err(e) => return Ok(json!({"name": name, "kind": kind, "error": e.to_string()})),
    };
    let sample = path
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join(format!("inputs/{name}.json")));
    let inputs = match sample.filter(|p| p.is_file()) {
        Some(p) => util::read_inputs(p.to_str().unwrap_or("-"))?,
        None => {
            let mut seed = 0x9e37_79b9_7f4a_7c15u64;
            model
                .info
                .inputs
                .iter()
                .map(|s| synthetic(s, &mut seed))
                .collect::<Result<_>>()?
        }
    };
    runtime.run(&model, &inputs)?;
    let budget = std::time::Duration::from_millis(min_ms);
    let start = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < 5 || (start.elapsed() < budget && samples.len() < 100_000) {
        let t = Instant::now();
        runtime.run(&model, &inputs)?;
        samples.push(t.elapsed().as_nanos() as u64);
    }
    let (_, median, _) = crate::bench::percentiles(&mut samples);
    let gas = model.info.gas_per_call;
    let mgas = gas as f64 / median as f64 * 1000.0;
    Ok(json!({
        "name": name, "kind": kind, "path": path.display().to_string(), "gas": gas, "median_ns": median,
        "ns_per_gas": median as f64 / gas as f64, "mgas_per_s": mgas,
        "macs": model.info.cost.macs, "bytes": model.info.cost.bytes, "nodes": model.info.cost.nodes,
        "io_bytes": model.info.io_bytes(),
    }))
}

pub fn run(args: BenchGasArgs) -> Result<()> {
    let models = if args.models.is_empty() {
        util::fixture_models(&["fixtures/models", "fixtures/gas"])?
    } else {
        args.models.clone()
    };
    if args.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let runtime = Runtime::new(Profile::Exact)?;
    let total = models.len();
    let mut rows: Vec<serde_json::Value> = vec![serde_json::Value::Null; total];
    for round in 1..=args.rounds {
        for (i, path) in models.iter().enumerate() {
            if !args.json {
                let name = path.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
                eprint!(
                    "\r[round {round}/{}] [{}/{total}] {name:<40}",
                    args.rounds,
                    i + 1
                );
            }
            let row = measure(&runtime, path, args.min_ms)?;
            let faster = match (row["median_ns"].as_u64(), rows[i]["median_ns"].as_u64()) {
                (Some(new), Some(old)) => new < old,
                _ => rows[i].is_null(),
            };
            if faster {
                rows[i] = row;
            }
        }
    }
    if !args.json {
        eprintln!();
    }
    let rate = |kind: &str| -> Vec<f64> {
        rows.iter()
            .filter(|r| r["kind"] == kind)
            .filter_map(|r| r["mgas_per_s"].as_f64())
            .collect()
    };
    let (fixtures, ops) = (rate("fixture"), rate("op"));
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let all: Vec<f64> = fixtures.iter().chain(&ops).copied().collect();
    let spread = if fixtures.is_empty() {
        0.0
    } else {
        max(&fixtures) / min(&fixtures)
    };
    let outside: Vec<String> = rows
        .iter()
        .filter(|r| {
            r["mgas_per_s"]
                .as_f64()
                .is_some_and(|m| !(MIN_MGAS..=MAX_MGAS).contains(&m))
        })
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect();
    let summary = json!({
        "target_mgas_per_s": [MIN_MGAS, MAX_MGAS], "target_spread": MAX_SPREAD, "rounds": args.rounds,
        "min_mgas_per_s": min(&all), "max_mgas_per_s": max(&all), "fixture_spread": spread,
        "outside_band": outside, "ok": outside.is_empty() && spread <= MAX_SPREAD,
    });
    if args.json {
        println!("{}", json!({"models": rows, "summary": summary}));
        return Ok(());
    }
    println!("| model | kind | gas | median µs | Mgas/s | MACs | bytes | nodes |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        if let Some(e) = r["error"].as_str() {
            println!(
                "| {} | {} | refused: {} | | | | | |",
                r["name"].as_str().unwrap_or(""),
                r["kind"].as_str().unwrap_or(""),
                util::one_line(e)
            );
            continue;
        }
        println!(
            "| {} | {} | {} | {:.1} | {:.0} | {} | {} | {} |",
            r["name"].as_str().unwrap_or(""),
            r["kind"].as_str().unwrap_or(""),
            r["gas"],
            r["median_ns"].as_f64().unwrap_or(0.0) / 1000.0,
            r["mgas_per_s"].as_f64().unwrap_or(0.0),
            r["macs"],
            r["bytes"],
            r["nodes"]
        );
    }
    println!(
        "\nMgas/s: {:.0} to {:.0} (target {MIN_MGAS}-{MAX_MGAS}); fixture spread {:.2} (target <= {MAX_SPREAD}); outside the band: {}",
        min(&all),
        max(&all),
        spread,
        if outside.is_empty() {
            "none".to_string()
        } else {
            outside.join(", ")
        }
    );
    Ok(())
}
