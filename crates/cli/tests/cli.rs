//! The `prova` binary as users run it: outputs, the conformance manifest across processes and
//! environments, and one-line errors with exit code 1 for bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::{collections::BTreeMap, path::PathBuf, process::Command};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn prova(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prova"));
    cmd.current_dir(root()).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn models() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root().join("fixtures/models"))
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".onnx")
                .map(String::from)
        })
        .collect();
    names.sort();
    names
}

fn infer_json(name: &str, profile: &str, env: &[(&str, &str)]) -> Value {
    let model = format!("fixtures/models/{name}.onnx");
    let input = format!("fixtures/inputs/{name}.json");
    let (code, out, err) = prova(
        &[
            "infer",
            &model,
            "--input",
            &input,
            "--profile",
            profile,
            "--json",
        ],
        env,
    );
    assert_eq!(code, 0, "{name}: {err}");
    assert_eq!(out.lines().count(), 1, "exactly one JSON object: {out}");
    serde_json::from_str(&out).unwrap()
}

/// The conformance manifest: the exact profile's output hash of every fixture on its sample
/// input. Changing it is a consensus change (run with PROVA_UPDATE_CONFORMANCE=1 to rewrite,
/// and say why in the commit).
#[test]
fn exact_outputs_match_the_conformance_manifest_in_any_environment() {
    let path = root().join("fixtures/conformance.json");
    let envs: [&[(&str, &str)]; 3] = [
        &[],
        // The exact profile must override an instruction-set edit in the environment...
        &[
            ("TRACT_CPU_ISA", "+avx2,+fma,+avx512f"),
            ("RAYON_NUM_THREADS", "2"),
        ],
        // ...and nothing else in the environment may matter.
        &[
            ("OMP_NUM_THREADS", "7"),
            ("RUST_LOG", "trace"),
            ("LC_ALL", "C"),
        ],
    ];
    let mut manifest = BTreeMap::new();
    for name in models() {
        let runs: Vec<Value> = envs
            .iter()
            .map(|env| infer_json(&name, "exact", env))
            .collect();
        for r in &runs[1..] {
            assert_eq!(
                r["output_hash"], runs[0]["output_hash"],
                "{name}: environment changed the exact outputs"
            );
        }
        let v = &runs[0];
        assert_eq!(v["profile"], "exact");
        assert!(v["gas"].as_u64().unwrap() > 0);
        assert!(v["outputs"].as_array().is_some());
        manifest.insert(
            name,
            serde_json::json!({"model": v["model"], "output_hash": v["output_hash"]}),
        );
    }
    let rendered = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    if std::env::var("PROVA_UPDATE_CONFORMANCE").is_ok() {
        std::fs::write(&path, rendered).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).expect("fixtures/conformance.json missing");
    assert_eq!(
        rendered, committed,
        "exact-profile outputs differ from fixtures/conformance.json"
    );
}

#[test]
fn native_profile_runs_and_says_so() {
    let v = infer_json("digits_mlp", "native", &[]);
    assert_eq!(v["profile"], "native");
    let (code, out, _) = prova(
        &[
            "infer",
            "fixtures/models/digits_mlp.onnx",
            "--input",
            "fixtures/inputs/digits_mlp.json",
            "--profile",
            "native",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("not for consensus"), "{out}");
}

#[test]
fn inspect_prints_signature_and_cost() {
    let (code, out, err) = prova(
        &[
            "model",
            "inspect",
            "fixtures/models/digits_cnn.onnx",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["inputs"][0]["shape"], serde_json::json!([1, 1, 8, 8]));
    let macs = v["cost"]["macs"].as_u64().unwrap();
    assert!(macs > 1000, "{macs}");
    assert!(v["gas_per_call"].as_u64().unwrap() > 0);
    // The work per operator is what the cost sums (each entry rounded up).
    let work = v["work"].as_array().unwrap();
    let sum: u64 = work.iter().map(|w| w["macs"].as_u64().unwrap()).sum();
    assert!(
        sum >= macs && sum <= macs + work.len() as u64,
        "{sum} vs {macs}"
    );
    assert_eq!(
        work[0]["op"], "Conv",
        "the convolution is the heaviest: {work:?}"
    );
    let (code, out, _) = prova(
        &["model", "inspect", "fixtures/models/digits_cnn.onnx"],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("Conv×1") && out.contains("gas"), "{out}");
    assert!(out.contains("work      Conv×1: "), "{out}");

    // --plan compiles under a profile and lists the plan: the convolution (as Prova's direct
    // convolution or a matrix product with the kernel it runs), the dense layer as a
    // matrix-vector product.
    let (code, out, err) = prova(
        &[
            "model",
            "inspect",
            "fixtures/models/digits_cnn.onnx",
            "--plan",
            "exact",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["plan"]["profile"], "exact");
    let nodes = v["plan"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["op"], "Source");
    assert_eq!(nodes[0]["outputs"], serde_json::json!(["F32 1,1,8,8"]));
    // The stem-sized convolution (one input channel, 3×3) is Prova's direct convolution under
    // the exact profile on a CPU with AVX, else tract's im2col product.
    let direct = nodes.iter().any(|n| n["op"] == "ProvaDirectConv");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(direct, is_x86_feature_detected!("avx"), "{nodes:?}");
    let products: Vec<&Value> = nodes.iter().filter(|n| n["op"] == "OptMatMul").collect();
    assert_eq!(products.len(), if direct { 1 } else { 2 }, "{nodes:?}");
    for p in products {
        let kernels = p["kernels"].as_array().unwrap();
        assert!(
            !kernels.is_empty()
                && kernels
                    .iter()
                    .all(|k| k.as_str().unwrap().contains("mmm_f32")),
            "{p}"
        );
    }
    let (code, out, _) = prova(
        &[
            "model",
            "inspect",
            "fixtures/models/digits_cnn.onnx",
            "--plan",
            "native",
        ],
        &[],
    );
    assert_eq!(code, 0);
    assert!(out.contains("nodes under the native profile:"), "{out}");
    assert!(out.contains("OptMatMul logits -> F32 1,10  ["), "{out}");
}

#[test]
fn bench_reports_percentiles_and_compile_time() {
    let (code, out, err) = prova(
        &[
            "bench",
            "infer",
            "fixtures/models/iris_logreg.onnx",
            "--input",
            "fixtures/inputs/iris_logreg.json",
            "--iters",
            "20",
            "--json",
        ],
        &[],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for k in [
        "median_ns",
        "p10_ns",
        "p90_ns",
        "compile_ns",
        "tract_median_ns",
    ] {
        assert!(v[k].as_u64().is_some(), "{k} missing: {out}");
    }
    assert!(
        v["p10_ns"].as_u64() <= v["median_ns"].as_u64()
            && v["median_ns"].as_u64() <= v["p90_ns"].as_u64()
    );
    // The median of the pairs' differences (it may be negative, never absent).
    assert!(v["overhead_ns"].as_i64().is_some(), "{out}");
}

/// `--nodes` times every node of the plan: one entry per plan node, the slowest first, shares
/// that add up to the whole.
#[test]
fn bench_infer_times_every_node() {
    let v = bench_json(
        "infer",
        &["fixtures/models/digits_cnn.onnx"],
        &[
            "--input",
            "fixtures/inputs/digits_cnn.json",
            "--iters",
            "50",
            "--nodes",
        ],
    );
    let nodes = v["nodes"].as_array().unwrap();
    let (code, plan, _) = prova(
        &[
            "model",
            "inspect",
            "fixtures/models/digits_cnn.onnx",
            "--plan",
            "exact",
        ],
        &[],
    );
    assert_eq!(code, 0);
    let planned = plan.lines().filter(|l| l.starts_with("  ")).count();
    assert_eq!(nodes.len(), planned, "{v}\n{plan}");
    let ns: Vec<u64> = nodes.iter().map(|n| n["ns"].as_u64().unwrap()).collect();
    assert!(ns.windows(2).all(|w| w[0] >= w[1]), "{ns:?}");
    let share: f64 = nodes.iter().map(|n| n["share"].as_f64().unwrap()).sum();
    assert!((share - 1.0).abs() < 1e-6, "{share}");
    let mut ids: Vec<u64> = nodes.iter().map(|n| n["id"].as_u64().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (0..nodes.len() as u64).collect::<Vec<_>>());
    // The convolution's product takes time; a constant takes next to none.
    let share_of = |op: &str| {
        nodes
            .iter()
            .filter(|n| n["op"] == op)
            .map(|n| n["share"].as_f64().unwrap())
            .fold(0.0, f64::max)
    };
    assert!(share_of("OptMatMul") > share_of("Const"), "{v}");
}

/// Runs `prova bench <what> <models…> <extra…> --json` on fixtures and parses its object.
fn bench_json(what: &str, models: &[&str], extra: &[&str]) -> Value {
    let mut args = vec!["bench", what];
    args.extend(models);
    args.extend(extra);
    args.push("--json");
    let (code, out, err) = prova(&args, &[]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn gas_bench_reports_gas_per_second() {
    let v = bench_json(
        "gas",
        &[
            "fixtures/models/iris_logreg.onnx",
            "fixtures/models/digits_cnn.onnx",
        ],
        &["--min-ms", "5", "--rounds", "2"],
    );
    assert_eq!(v["summary"]["rounds"], 2);
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    for m in models {
        assert!(
            m["gas"].as_u64().unwrap() > 0 && m["mgas_per_s"].as_f64().unwrap() > 0.0,
            "{m}"
        );
    }
    assert!(v["summary"]["fixture_spread"].as_f64().unwrap() >= 1.0);
}

/// `prova bench peak` measures one multiply-then-add loop per vector width the CPU has, and an
/// FMA loop beside each where the CPU fuses; the peak without FMA is the best mul+add loop.
#[test]
fn peak_bench_measures_each_vector_width() {
    let v = bench_json("peak", &[], &["--rounds", "3"]);
    let loops = v["loops"].as_array().unwrap();
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))]
    let has = |name: &str, kind: &str| {
        loops
            .iter()
            .any(|l| l["loop"] == name && l["kind"] == kind && l["gmacs"].as_f64().unwrap() > 0.0)
    };
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            has("avx", "mul+add"),
            is_x86_feature_detected!("avx"),
            "{v}"
        );
        assert_eq!(
            has("avx+fma", "fma"),
            is_x86_feature_detected!("fma"),
            "{v}"
        );
        let avx512 = is_x86_feature_detected!("avx512f");
        assert_eq!(
            has("avx512f", "mul+add") && has("avx512f", "fma"),
            avx512,
            "{v}"
        );
        assert_eq!(
            loops.len(),
            1 + usize::from(is_x86_feature_detected!("fma")) + 2 * usize::from(avx512)
        );
    }
    let best = loops
        .iter()
        .filter(|l| l["kind"] == "mul+add")
        .map(|l| l["gmacs"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(v["peak_no_fma_gmacs"].as_f64().unwrap(), best, "{v}");
    for l in loops {
        assert!(
            l["median_gmacs"].as_f64().unwrap() <= l["gmacs"].as_f64().unwrap(),
            "{l}"
        );
    }
}

#[test]
fn admit_bench_times_admitted_and_refused_models() {
    let v = bench_json(
        "admit",
        &[
            "fixtures/models/iris_logreg.onnx",
            "fixtures/hostile/fold_chain.onnx",
        ],
        &["--iters", "2"],
    );
    let models = v["models"].as_array().unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["outcome"], "admitted");
    let refused = models[1]["outcome"].as_str().unwrap();
    assert!(
        refused.starts_with("refused: bytes of constants computed while typing"),
        "{refused}"
    );
    for m in models {
        assert!(
            m["median_ns"].as_u64().unwrap() > 0 && m["decode_median_ns"].as_u64().unwrap() > 0,
            "{m}"
        );
    }
    assert!(v["slowest"]["model"].is_string());
}

#[test]
fn bad_input_gets_one_line_and_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bad_json = write("bad.json", "{\"inputs\": [");
    let wrong_shape = write(
        "shape.json",
        r#"{"inputs":[{"dtype":"f32","shape":[1,3],"data":[1,2,3]}]}"#,
    );
    let wrong_dtype = write(
        "dtype.json",
        r#"{"inputs":[{"dtype":"i64","shape":[1,4],"data":[1,2,3,4]}]}"#,
    );
    let two = write(
        "two.json",
        r#"{"inputs":[{"dtype":"f32","shape":[1],"data":[1]},{"dtype":"f32","shape":[1],"data":[1]}]}"#,
    );
    let iris = "fixtures/models/iris_logreg.onnx";
    let good = "fixtures/inputs/iris_logreg.json";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["infer", "nope.onnx", "--input", good],
            "cannot read model nope.onnx",
        ),
        (
            vec!["infer", iris, "--input", "nope.json"],
            "cannot read inputs nope.json",
        ),
        (
            vec!["infer", iris, "--input", &bad_json],
            "malformed tensor JSON",
        ),
        (
            vec!["infer", iris, "--input", &wrong_shape],
            "must have shape [1, 4], got [1, 3]",
        ),
        (
            vec!["infer", iris, "--input", &wrong_dtype],
            "must be f32, got i64",
        ),
        (
            vec!["infer", iris, "--input", &two],
            "takes 1 inputs, got 2",
        ),
        (
            vec!["infer", "fixtures/reject/not_onnx.onnx", "--input", good],
            "not an ONNX model",
        ),
        (
            vec!["infer", "fixtures/reject/zipmap.onnx", "--input", good],
            "zipmap disabled",
        ),
        (
            vec!["infer", iris, "--input", good, "--profile", "fast"],
            "unknown profile \"fast\"",
        ),
        (
            vec!["model", "inspect", "fixtures/reject/multinomial.onnx"],
            "non-deterministic",
        ),
        (
            vec!["bench", "infer", iris, "--input", good, "--iters", "0"],
            "--iters must be at least 1",
        ),
        (
            vec!["model", "inspect", iris, "--plan", "fast"],
            "unknown profile \"fast\"",
        ),
        (
            vec!["bench", "peak", "--rounds", "0"],
            "--rounds must be at least 1",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, expect) in cases {
        let (code, out, err) = prova(&args, &[]);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed to stdout: {out}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(expect),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    // `prova infer … | head -c0`: the reader is gone before prova writes.
    let mut child = Command::new(env!("CARGO_BIN_EXE_prova"))
        .current_dir(root())
        .args([
            "infer",
            "fixtures/models/digits_mlp.onnx",
            "--input",
            "fixtures/inputs/digits_mlp.json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}
