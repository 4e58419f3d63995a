//! Warm inference per fixture: Prova's `Runtime::run` against tract's bare `plan.run` on the
//! same plan and inputs (the baseline), in one profile per process:
//!
//! ```sh
//! cargo bench -p prova-runtime --bench infer                          # exact
//! PROVA_BENCH_PROFILE=native cargo bench -p prova-runtime --bench infer
//! ```
//! The profile is a process-wide pin, so exact and native are two runs; scripts/bench-infer.sh
//! puts them side by side with onnxruntime.
//!
//! The fixtures are small enough that per-op dispatch, not the kernels, decides their time; the
//! dense single-operator models of fixtures/gas in [`DENSE`] (generated inputs) show what the
//! exact profile costs against native on large products (`<profile>/dense/<model>/tract` is
//! the kernels alone; `prova` adds the conversion of megabyte tensors in and out). Filter with
//! criterion's usual argument, e.g. `-- dense`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, criterion_group, criterion_main};
use prova_runtime::{CompiledModel, Profile, Runtime};
use prova_tensor::InputDocument;
use std::{hint::black_box, path::PathBuf};

/// Dense single-operator models (fixtures/gas): float and integer products and convolutions.
const DENSE: &[&str] = &[
    "matmul_square",
    "gemm_skinny",
    "conv_3x3",
    "conv_1x1",
    "conv_depthwise3x3",
    "matmulinteger_square",
    "qlinearmatmul_square",
    "qlinearconv_3x3",
];

fn bench(c: &mut Criterion) {
    let profile: Profile = std::env::var("PROVA_BENCH_PROFILE")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(Profile::Exact);
    let runtime = Runtime::new(profile).expect("pin profile");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
    let mut names: Vec<String> = std::fs::read_dir(dir.join("models"))
        .expect("fixtures")
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".onnx")
                .map(String::from)
        })
        .collect();
    names.sort();
    for name in names {
        let bytes = std::fs::read(dir.join(format!("models/{name}.onnx"))).expect("model");
        let text =
            std::fs::read_to_string(dir.join(format!("inputs/{name}.json"))).expect("inputs");
        let inputs = InputDocument::from_json(&text)
            .expect("input document")
            .inputs;
        let Ok(model) = runtime.load(&bytes) else {
            eprintln!("skipping {name}: not admitted");
            continue;
        };
        let mut group = c.benchmark_group(format!("{profile}/{name}"));
        group.bench_function("prova", |b| {
            b.iter(|| runtime.run(&model, black_box(&inputs)).expect("run"))
        });
        let plan = model.plan().clone();
        let values = CompiledModel::tract_inputs(&inputs).expect("inputs");
        group.bench_function("tract", |b| {
            b.iter(|| plan.run(black_box(values.clone())).expect("run"))
        });
        group.bench_function("compile", |b| {
            b.iter(|| {
                runtime
                    .compile(prova_model::admit(&bytes, runtime.limits()).expect("admit"))
                    .expect("compile")
            })
        });
        group.finish();
    }
    for name in DENSE {
        let bytes = std::fs::read(dir.join(format!("gas/{name}.onnx"))).expect("model");
        let model = runtime.load(&bytes).expect("dense model admitted");
        let inputs = prova_runtime::sample_inputs(&model.info, 1).expect("inputs");
        let mut group = c.benchmark_group(format!("{profile}/dense/{name}"));
        group.sample_size(10);
        group.bench_function("prova", |b| {
            b.iter(|| runtime.run(&model, black_box(&inputs)).expect("run"))
        });
        let plan = model.plan().clone();
        let values = CompiledModel::tract_inputs(&inputs).expect("inputs");
        group.bench_function("tract", |b| {
            b.iter(|| plan.run(black_box(values.clone())).expect("run"))
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).warm_up_time(std::time::Duration::from_millis(300)).measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
