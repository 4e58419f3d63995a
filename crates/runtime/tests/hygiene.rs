//! Exact-profile hygiene: the same bits whatever the environment (tract's knobs, thread-count
//! variables, glibc's CPU tunables), from many threads at once, and a refusal to start when tract
//! was initialised with another instruction-set setting.
//!
//! Scenarios that need a fresh process (environment variables are read by tract at run time,
//! and a profile is pinned once per process) re-run this test binary on one `#[ignore]`d child
//! test with `PROVA_HYGIENE_CHILD=1`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prova_runtime::{EXACT_ISA_EDIT, EXACT_UNPINNED_KNOBS, Profile, Runtime, RuntimeError};
use prova_tensor::{Tensor, hash_tensors};
use serde::Deserialize;
use std::{collections::BTreeMap, path::PathBuf, process::Command, sync::Barrier};
use tract_onnx::tract_core::knobs;
use tract_onnx::tract_core::tract_linalg::{isa, knobs::TRACT_CPU_ISA};

const CHILD: &str = "PROVA_HYGIENE_CHILD";

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[derive(Deserialize)]
struct Sample {
    inputs: Vec<Tensor>,
}

#[derive(Deserialize)]
struct Expected {
    samples: Vec<Sample>,
}

/// Single-operator models (fixtures/gas) whose tract implementation reads a knob (pooling and
/// convolution strategies), calls a transcendental, or is a plain matrix product; run on
/// generated inputs. Shapes are the gas worst cases, so this list is kept short.
const OP_MODELS: &[&str] = &[
    "averagepool_3x3s1",
    "globalaveragepool_big",
    "conv_3x3",
    "conv_depthwise3x3",
    "matmul_square",
    "exp_big",
    "log_big",
    "pow_big",
    "logsoftmax_last",
    "softmax_mid",
    "tanh_big",
    "erf_big",
    "sigmoid_big",
];

/// `(case, model bytes, input sets)`: every fixture model on its held-out samples, then
/// [`OP_MODELS`] on generated inputs.
fn cases(runtime: &Runtime) -> Vec<(String, Vec<u8>, Vec<Vec<Tensor>>)> {
    let mut out = Vec::new();
    let mut names: Vec<String> = std::fs::read_dir(fixtures().join("models"))
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
    assert!(names.len() >= 10, "fixtures missing: {names:?}");
    for name in names {
        let bytes = std::fs::read(fixtures().join(format!("models/{name}.onnx"))).unwrap();
        let expected: Expected = serde_json::from_str(
            &std::fs::read_to_string(fixtures().join(format!("expected/{name}.json"))).unwrap(),
        )
        .unwrap();
        let samples = expected.samples.into_iter().map(|s| s.inputs).collect();
        out.push((name, bytes, samples));
    }
    for name in OP_MODELS {
        let bytes = std::fs::read(fixtures().join(format!("gas/{name}.onnx"))).unwrap();
        let info = runtime.load(&bytes).unwrap().info.clone();
        let inputs = prova_runtime::sample_inputs(&info, 1).unwrap();
        out.push((name.to_string(), bytes, vec![inputs]));
    }
    out
}

/// Output hash of every case and input set, keyed `case/sample`.
fn hashes(runtime: &Runtime) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, bytes, samples) in cases(runtime) {
        let model = runtime
            .load(&bytes)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for (i, inputs) in samples.iter().enumerate() {
            let outputs = runtime
                .run(&model, inputs)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            out.insert(format!("{name}/{i}"), hash_tensors(&outputs).to_string());
        }
    }
    out
}

/// Runs the `#[ignore]`d child test `test` of this binary in a fresh process with `env` on top
/// of an environment scrubbed of every variable any scenario sets. Returns (success, stdout).
fn child(test: &str, env: &[(&str, &str)]) -> (bool, String) {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    for set in ENVIRONMENTS {
        for (k, _) in *set {
            cmd.env_remove(k);
        }
    }
    for info in knobs::all() {
        cmd.env_remove(info.name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    if !out.status.success() {
        eprintln!(
            "child {test} with {env:?} failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (out.status.success(), stdout)
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// Environments the exact profile must ignore. The first is the baseline (scrubbed).
const ENVIRONMENTS: &[&[(&str, &str)]] = &[
    &[],
    // tract's instruction-set knob asking for SIMD; thread-count variables.
    &[
        ("TRACT_CPU_ISA", "+avx2,+fma,+f16c,+avx512f"),
        ("RAYON_NUM_THREADS", "1"),
        ("OMP_NUM_THREADS", "1"),
        ("TRACT_X86_KIND", "intel"),
    ],
    // Every numerics-relevant tract knob away from its default: the separable average pool
    // (reassociates sums), convolution strategies, cache sizes, AMX bf16, the AMD cost model.
    &[
        ("TRACT_AVGPOOL_SEPARABLE", "1"),
        ("TRACT_DISABLE_DIRECT_SPATIAL", "1"),
        ("TRACT_ENABLE_BLOCKED_CONV", "1"),
        ("TRACT_LAZY_IM2COL_MIN_KERNEL", "1"),
        ("TRACT_LAZY_IM2COL_MAX_EAGER_BYTES", "0"),
        ("TRACT_LLC_BYTES", "64K"),
        ("TRACT_LLC_CONTENDED", "1"),
        ("TRACT_MMM_CHUNKS_PER_THREAD", "7"),
        ("TRACT_AMX_BF16", "1"),
        ("TRACT_X86_KIND", "amd"),
        ("RAYON_NUM_THREADS", "16"),
        ("OMP_NUM_THREADS", "16"),
    ],
    // glibc's CPU dispatch (its libm picks FMA or non-FMA code by CPU), locale, a tract
    // deployment config that must not be read.
    &[
        (
            "GLIBC_TUNABLES",
            "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX,-AVX512F,-AVX2_Usable,-FMA_Usable,-AVX_Usable",
        ),
        ("LC_ALL", "C"),
        ("TRACT_CONFIG", "/nonexistent/tract.toml"),
        ("TRACT_DISABLE_BLOCKED_CONV", "1"),
    ],
];

#[test]
fn exact_bits_ignore_the_environment() {
    let runs: Vec<BTreeMap<String, String>> = ENVIRONMENTS
        .iter()
        .map(|env| {
            let (ok, stdout) = child("child_hashes", env);
            assert!(ok, "child with {env:?} failed");
            let hashes: BTreeMap<String, String> = stdout
                .lines()
                .filter_map(|l| l.strip_prefix("hash "))
                .map(|l| {
                    let (k, v) = l.split_once(' ').unwrap();
                    (k.to_string(), v.to_string())
                })
                .collect();
            assert!(
                hashes.len() >= 10 * 8 + OP_MODELS.len(),
                "child printed {} hashes",
                hashes.len()
            );
            hashes
        })
        .collect();
    for (env, run) in ENVIRONMENTS.iter().zip(&runs).skip(1) {
        let differing: Vec<&String> = runs[0]
            .iter()
            .filter(|(k, v)| run.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        assert!(
            differing.is_empty() && run.len() == runs[0].len(),
            "environment {env:?} changed exact outputs of {differing:?}"
        );
    }
}

/// Child of [`exact_bits_ignore_the_environment`]: checks that the exact pin overrode every
/// tract knob, then prints `hash case/sample 0x…` for every case.
#[test]
#[ignore = "run in a fresh process by exact_bits_ignore_the_environment"]
fn child_hashes() {
    if !is_child() {
        return;
    }
    let runtime = Runtime::new(Profile::Exact).unwrap();
    let all = knobs::all();
    for (name, _) in EXACT_UNPINNED_KNOBS {
        let info = all
            .iter()
            .find(|k| k.name == *name)
            .unwrap_or_else(|| panic!("{name} is no tract knob"));
        assert_eq!((info.default)(), "(unset)", "{name} has a default: pin it");
    }
    for info in &all {
        // A knob without a default cannot be pinned: a new one must be reviewed and listed.
        if (info.default)() == "(unset)" && info.name != TRACT_CPU_ISA.name {
            assert!(
                EXACT_UNPINNED_KNOBS.iter().any(|(n, _)| *n == info.name),
                "tract knob {} has no default and is not in EXACT_UNPINNED_KNOBS",
                info.name
            );
        }
        if info.name == TRACT_CPU_ISA.name {
            assert_eq!((info.current)(), EXACT_ISA_EDIT);
        } else if !EXACT_UNPINNED_KNOBS.iter().any(|(n, _)| *n == info.name) {
            assert_eq!(
                (info.current)(),
                (info.default)(),
                "knob {} escaped the exact pin",
                info.name
            );
        }
    }
    // A line of its own: the test harness prints `test child_hashes ... ` without a newline.
    println!();
    for (k, v) in hashes(&runtime) {
        println!("hash {k} {v}");
    }
}

#[test]
fn exact_bits_do_not_depend_on_threads() {
    let runtime = Runtime::new(Profile::Exact).unwrap();
    // The fixtures (many samples, small models); the large single-operator models are covered
    // by the environment test and would only make this one slow.
    let cases: Vec<_> = cases(&runtime)
        .into_iter()
        .filter(|(name, _, _)| !OP_MODELS.contains(&name.as_str()))
        .collect();
    let reference: BTreeMap<String, String> = hashes(&runtime)
        .into_iter()
        .filter(|(k, _)| {
            cases
                .iter()
                .any(|(name, _, _)| k.starts_with(&format!("{name}/")))
        })
        .collect();
    assert_eq!(reference.len(), cases.len() * 8);
    let threads = 6;
    let barrier = Barrier::new(threads);
    let results: Vec<BTreeMap<String, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (runtime, cases, barrier) = (&runtime, &cases, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut out = BTreeMap::new();
                    // Each thread walks the cases in a different order, so different models
                    // run at the same time.
                    for c in 0..cases.len() {
                        let (name, bytes, samples) = &cases[(c + t * 3) % cases.len()];
                        let model = runtime.load(bytes).unwrap();
                        for (i, inputs) in samples.iter().enumerate() {
                            let h = hash_tensors(&runtime.run(&model, inputs).unwrap());
                            out.insert(format!("{name}/{i}"), h.to_string());
                        }
                    }
                    out
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, r) in results.iter().enumerate() {
        assert_eq!(r, &reference, "thread {t} computed other bits");
    }
}

#[test]
fn exact_profile_refuses_a_tract_probed_with_simd() {
    let (ok, stdout) = child("child_probe_then_pin", &[]);
    assert!(ok, "{stdout}");
    assert!(
        stdout.contains("refused: exact profile refused"),
        "{stdout}"
    );
}

/// Child: tract probes the instruction set (with AVX2 and FMA forced in, as an environment
/// variable or another library in the process could) before the exact profile is asked for.
#[test]
#[ignore = "run in a fresh process by exact_profile_refuses_a_tract_probed_with_simd"]
fn child_probe_then_pin() {
    if !is_child() {
        return;
    }
    TRACT_CPU_ISA.set(Some("+avx2,+fma".to_string()));
    assert!(isa::native().has(isa::Isa::X86_64Avx2));
    let err = Runtime::new(Profile::Exact).unwrap_err();
    assert!(
        matches!(err, RuntimeError::IsaAlreadyInitialised(_)),
        "{err:?}"
    );
    assert!(err.to_string().contains("X86_64"), "{err}");
    // Still refused on a second attempt: the process stays unusable for consensus.
    assert!(Runtime::new(Profile::Exact).is_err());
    println!("\nrefused: {err}");
}

#[test]
fn exact_profile_refuses_a_process_pinned_native() {
    let (ok, stdout) = child("child_native_then_exact", &[]);
    assert!(ok, "{stdout}");
    assert!(stdout.contains("refused: this process is pinned to the native profile"));
}

/// Child: the native profile first, then the exact one.
#[test]
#[ignore = "run in a fresh process by exact_profile_refuses_a_process_pinned_native"]
fn child_native_then_exact() {
    if !is_child() {
        return;
    }
    Runtime::new(Profile::Native).unwrap();
    let err = Runtime::new(Profile::Exact).unwrap_err();
    assert!(
        matches!(err, RuntimeError::ProfileConflict { .. }),
        "{err:?}"
    );
    println!("\nrefused: {err}");
}
