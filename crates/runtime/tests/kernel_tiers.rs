//! The exact profile runs tract's AVX/AVX2 kernels (no FMA) and four routines pinned to the
//! portable ones (`prova_runtime::pinned_kernels`), and refuses CPUs without AVX: tract's AVX
//! matrix kernels read subnormal inputs as zero (they set MXCSR.DAZ), its portable ones do not
//! (found by this test on `fixtures/ops/einsum_batched_matmul`: `1e30 x 1e-39` is `1e-9`
//! portably and `0` on AVX). Its claim is that a CPU with AVX and one with AVX2 compute the same
//! bits. This test checks the claim on this CPU for the models the repository ships (the
//! fixture models, the operator conformance models of fixtures/ops, and the worst-case
//! single-operator models of fixtures/gas whose operator reaches an instruction-set kernel),
//! each on ordinary inputs and on inputs full of edge values (signed zeros, subnormals, NaN,
//! infinities, the extremes of f32, values at tract's tanh/sigmoid clamps): one child process
//! runs the exact profile, another the exact profile restricted to the AVX tier
//! (`PROVA_EXACT_TIER=avx`, which removes AVX2 too), and every output hash must agree.
//!
//! On a CPU without AVX2 both children run the AVX tier and the test proves nothing new; it
//! says so. Across CPUs, `scripts/determinism-matrix.sh` runs the same claim under qemu.

// Compares x86-64 kernels and tiers; the exact profile refuses other architectures.
#![cfg(target_arch = "x86_64")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{Profile, Runtime, sample_inputs};
use prova_tensor::{DType, Tensor, hash_tensors};
use std::{collections::BTreeMap, path::PathBuf, process::Command};
use tract_onnx::tract_core::knobs;

const CHILD: &str = "PROVA_KERNEL_TIERS_CHILD";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn models() -> Vec<PathBuf> {
    let mut all = Vec::new();
    for dir in ["models", "gas", "ops"] {
        for entry in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "onnx") {
                all.push(path);
            }
        }
    }
    all.sort();
    all
}

/// f32 values where vector and scalar code most often part ways.
const EDGE_F32: [f32; 24] = [
    0.0,
    -0.0,
    1e-45,
    -1e-45,
    1.1754942e-38,
    -1.1754942e-38,
    f32::NAN,
    -f32::NAN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::MAX,
    f32::MIN,
    1.0,
    -1.0,
    7.5,
    -7.5,
    8.2,
    -8.2,
    18.5,
    -18.5,
    0.5,
    -3.0e-4,
    65504.0,
    -1.0e30,
];

/// The sample inputs with every float element replaced, cyclically, by an edge value (integer
/// inputs keep their sample values: they are mostly indices).
fn edge_inputs(sample: &[Tensor]) -> Vec<Tensor> {
    sample
        .iter()
        .map(|t| match t.dtype() {
            DType::F32 => {
                let n = t.to_vec::<f32>().unwrap().len();
                let v: Vec<f32> = (0..n).map(|i| EDGE_F32[(i * 7 + i / 24) % 24]).collect();
                Tensor::from_values(t.shape().to_vec(), &v).unwrap()
            }
            DType::F64 => {
                let n = t.to_vec::<f64>().unwrap().len();
                let v: Vec<f64> = (0..n)
                    .map(|i| f64::from(EDGE_F32[(i * 7 + i / 24) % 24]))
                    .collect();
                Tensor::from_values(t.shape().to_vec(), &v).unwrap()
            }
            _ => t.clone(),
        })
        .collect()
}

/// ONNX operators whose tract implementation reaches a kernel tract chooses by instruction set:
/// matrix products and convolutions (matrix and depthwise kernels), activations, reductions,
/// softmax and scalings (element-wise and reduction kernels), and `Exp`, `Log` and `Erf`, whose
/// x86 kernels need FMA (this checks that the edit removes them). The large single-operator
/// models of fixtures/gas run only when they use one of these: the others (element-wise
/// arithmetic, comparisons, data movement) run the same plain Rust on every CPU, and running
/// them twice would only slow the test.
const KERNEL_OPS: [&str; 43] = [
    "MatMul",
    "Gemm",
    "Conv",
    "ConvTranspose",
    "MatMulInteger",
    "QLinearMatMul",
    "QGemm",
    "QLinearConv",
    "ConvInteger",
    "Einsum",
    "LinearClassifier",
    "LinearRegressor",
    "Softmax",
    "LogSoftmax",
    "QLinearSoftmax",
    "ReduceMax",
    "ReduceMin",
    "Tanh",
    "Sigmoid",
    "Mul",
    "Div",
    "BatchNormalization",
    "Scaler",
    "Normalizer",
    "MaxPool",
    "AveragePool",
    "GlobalMaxPool",
    "GlobalAveragePool",
    "GRU",
    "LSTM",
    "Exp",
    "Log",
    "Erf",
    "RNN",
    "Gelu",
    "BiasGelu",
    "FastGelu",
    "LayerNormalization",
    "SkipLayerNormalization",
    "GroupNormalization",
    "InstanceNormalization",
    "ReduceLogSumExp",
    "ReduceLogSum",
];

/// Runs every model on both input sets; one line per run: `name kind outcome`.
fn hashes(runtime: &Runtime) -> Vec<String> {
    let mut lines = Vec::new();
    for path in models() {
        let dir = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy();
        let name = format!("{dir}/{}", path.file_stem().unwrap().to_string_lossy());
        let bytes = std::fs::read(&path).unwrap();
        let model = match runtime.load(&bytes) {
            Ok(m) => m,
            Err(e) => {
                lines.push(format!("{name} load refused: {e}"));
                continue;
            }
        };
        let uses_kernels = model.info.ops.keys().any(|op| {
            let op = op.rsplit('.').next().unwrap_or(op);
            KERNEL_OPS.contains(&op)
        });
        if dir == "gas" && !uses_kernels {
            continue;
        }
        for kernel in model.matrix_kernels() {
            lines.push(format!("{name} mmm:{kernel} {kernel}"));
        }
        let sample = sample_inputs(&model.info, 1).unwrap();
        let edge = edge_inputs(&sample);
        for (kind, inputs) in [("sample", sample), ("edge", edge)] {
            let outcome = match runtime.run(&model, &inputs) {
                Ok(out) => format!("{}", hash_tensors(&out)),
                Err(e) => format!("error: {e}"),
            };
            lines.push(format!("{name} {kind} {outcome}"));
        }
    }
    lines
}

/// The child: prints `KT name kind outcome` for every run, in the profile `PROVA_KT_PROFILE`.
#[test]
#[ignore = "run in a fresh process by exact_profile_gives_the_avx_tiers_bits"]
fn kernel_tiers_child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let profile: Profile = std::env::var("PROVA_KT_PROFILE").unwrap().parse().unwrap();
    let runtime = Runtime::new(profile).unwrap();
    println!("\nKT-ISA {}", prova_runtime::isa_report());
    for (func, kernel) in prova_runtime::pinned_kernels() {
        println!("KT-PINNED {func} {kernel}");
    }
    for line in hashes(&runtime) {
        println!("KT {line}");
    }
}

fn run_child(profile: &str, avx_tier: bool) -> (String, BTreeMap<String, String>) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "kernel_tiers_child",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1")
    .env("PROVA_KT_PROFILE", profile);
    for info in knobs::all() {
        cmd.env_remove(info.name);
    }
    cmd.env_remove(prova_runtime::EXACT_TIER_ENV);
    if avx_tier {
        cmd.env(prova_runtime::EXACT_TIER_ENV, "avx");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "child {profile} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let isa = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KT-ISA "))
        .unwrap_or("")
        .to_string();
    let runs = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("KT "))
        .map(|l| {
            let (name_kind, outcome) = l
                .match_indices(' ')
                .nth(1)
                .map(|(i, _)| (l[..i].to_string(), l[i + 1..].to_string()))
                .unwrap();
            (name_kind, outcome)
        })
        .collect();
    (isa, runs)
}

#[test]
fn exact_profile_gives_the_avx_tiers_bits() {
    // The two children run at once: each is single-threaded.
    let avx = std::thread::spawn(|| run_child("exact", true));
    let (exact_isa, exact) = run_child("exact", false);
    let (avx_isa, avx) = avx.join().unwrap();
    assert!(
        avx_isa.contains("Avx") && !avx_isa.contains("Avx2"),
        "the AVX-tier child runs {avx_isa}"
    );
    assert!(
        exact.len() >= 2 * 90,
        "too few runs: {} (fixtures missing?)",
        exact.len()
    );
    // Which runs used Prova's AVX-512 matrix kernel: on a CPU with AVX-512F, the exact child
    // (never the AVX-tier one), so that this comparison covers it against tract's AVX kernels.
    // The in-place products' 256-bit tile (`prova_avx_mmm_f32_16x16`) runs wherever tract's
    // AVX kernels would: in the AVX-tier child, and in the exact one without AVX-512F.
    let count = |runs: &BTreeMap<String, String>, prefix: &str| {
        runs.iter()
            .filter(|(k, v)| k.contains(" mmm:") && v.starts_with(prefix))
            .count()
    };
    let prova_mmm = |runs: &BTreeMap<String, String>| count(runs, "prova_avx512_");
    let (ours_exact, ours_avx) = (prova_mmm(&exact), prova_mmm(&avx));
    println!("models running Prova's matrix kernel: {ours_exact} (AVX-tier child: {ours_avx})");
    println!(
        "models running the in-place products' AVX tile: {} (AVX-tier child: {})",
        count(&exact, "prova_avx_mmm_f32_16x16"),
        count(&avx, "prova_avx_mmm_f32_16x16")
    );
    // Matrix-vector products run Prova's prefetching AVX kernel in the exact child on a CPU with
    // AVX2 and without AVX-512F, tract's `avx_mmm_f32_64x1` in the AVX-tier child.
    let (mmv_exact, mmv_avx) = (
        count(&exact, "prova_avx_mmm_f32_64x1"),
        count(&avx, "prova_avx_mmm_f32_64x1"),
    );
    println!(
        "models running Prova's AVX matrix-vector kernel: {mmv_exact} (AVX-tier child: {mmv_avx})"
    );
    assert_eq!(mmv_avx, 0);
    assert_eq!(
        mmv_exact > 0,
        exact_isa.contains("Avx2") && !prova_runtime::matrix_kernels::available(),
        "Prova's AVX matrix-vector kernel runs in the exact child iff the CPU has AVX2, not AVX-512F"
    );
    assert_eq!(ours_avx, 0);
    // Every integer product runs Prova's AVX2 kernel in the exact child on a CPU with AVX2, and
    // tract's 128-bit `avx_mmm_i32_8x4` in the AVX-tier child: the comparison below covers it.
    let (int_exact, int_avx) = (
        count(&exact, "prova_avx2_mmm_i32_"),
        count(&avx, "prova_avx2_mmm_i32_"),
    );
    println!("models running Prova's AVX2 integer kernel: {int_exact} (AVX-tier child: {int_avx})");
    assert_eq!(int_avx, 0);
    assert_eq!(
        int_exact > 0,
        exact_isa.contains("Avx2"),
        "Prova's integer kernel runs in the exact child iff the CPU has AVX2"
    );
    assert_eq!(
        count(&exact, "avx2_mmm_i32_"),
        0,
        "tract's AVX2 integer kernel no longer runs"
    );
    assert_eq!(
        ours_exact > 0,
        prova_runtime::matrix_kernels::available(),
        "Prova's matrix kernel runs in the exact child iff the CPU has AVX-512F"
    );
    let exact: BTreeMap<String, String> = exact
        .into_iter()
        .filter(|(k, _)| !k.contains(" mmm:"))
        .collect();
    let avx: BTreeMap<String, String> = avx
        .into_iter()
        .filter(|(k, _)| !k.contains(" mmm:"))
        .collect();
    assert_eq!(exact.len(), avx.len());
    let mut differ = Vec::new();
    for (key, outcome) in &exact {
        let other = &avx[key];
        if outcome != other {
            differ.push(format!("{key}: exact {outcome}, AVX tier {other}"));
        }
    }
    let edge_ok = exact
        .iter()
        .filter(|(k, v)| k.ends_with(" edge") && !v.starts_with("error"))
        .count();
    println!(
        "exact profile ISA {exact_isa:?}: {} runs ({edge_ok} edge-value runs with outputs) \
         identical to the AVX tier ({avx_isa:?})",
        exact.len() - differ.len()
    );
    if !exact_isa.contains("Avx2") {
        println!("this CPU has no AVX2: both children ran the AVX tier");
    }
    assert!(
        differ.is_empty(),
        "{} runs differ:\n{}",
        differ.len(),
        differ.join("\n")
    );
}
